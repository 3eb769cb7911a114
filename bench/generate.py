"""Generation speed: faces/s at batch 1 and 64 (PyTorch fp32 and bf16, ONNX Runtime), and the CLI's cold start.

    python bench/generate.py            # writes bench/results/generate.{json,md}

References in the same run: the classic DCGAN-64 (ngf=64) at random weights, and the bare
`python -c "import torch"` start-up that bounds the torch path's cold start. Goals (issue 22):
cold start <= 0.5 s on the ONNX path, <= 1.3x `import torch` on the torch path; the default's
batch-1 latency <= 1 ms on the ONNX path.
"""
from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, time_per_call, write_results  # noqa: E402


def generation_speed(pipe, precision: str) -> dict:
    import torch
    pipe.precision = precision
    z = pipe.model.sample_z(list(range(64)))
    w = pipe.mapping(z)
    one = time_per_call(lambda: pipe.synthesize(w[:1]))
    batch = time_per_call(lambda: pipe.synthesize(w, batch_size=64))
    torch.set_num_threads(torch.get_num_threads())
    return {"ms_per_face_batch1": one * 1000, "faces_per_s_batch1": 1 / one,
            "faces_per_s_batch64": 64 / batch, "ms_per_face_batch64": batch / 64 * 1000}


def onnx_speed(name: str) -> dict:
    import numpy as np

    from facegen.onnx_faces import OnnxFaces
    from facegen.seeds import draw_latents

    faces = OnnxFaces.from_pretrained(name, make_twin=True)
    z = draw_latents(list(range(64)), faces.config.latent_dim, faces.config.latent_distribution)
    psi = np.array(1.0, dtype=np.float32)
    one = time_per_call(lambda: faces.session.run(["image"], {"z": z[:1], "truncation": psi}))
    batch = time_per_call(lambda: faces.session.run(["image"], {"z": z, "truncation": psi}))
    return {"ms_per_face_batch1": one * 1000, "faces_per_s_batch1": 1 / one,
            "faces_per_s_batch64": 64 / batch, "ms_per_face_batch64": batch / 64 * 1000}


def cold_start(runs: int = 5) -> dict:
    exe = shutil.which("facegen") or str(Path(sys.executable).parent / "facegen")
    out = tempfile.mkdtemp()
    def timed(cmd):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t
    generate = [exe, "generate", "-n", "1", "--seed", "1", "--out", out, "--overwrite", "--backend"]
    timed(generate + ["onnx"])  # makes the default's ONNX twin if it has none yet
    torch_path = [timed(generate + ["torch"]) for _ in range(runs)]
    onnx_path = [timed(generate + ["auto"]) for _ in range(runs)]
    imp = [timed([sys.executable, "-c", "import torch"]) for _ in range(runs)]
    return {"facegen_generate_n1_s": statistics.median(torch_path), "onnx_generate_n1_s": statistics.median(onnx_path),
            "import_torch_s": statistics.median(imp), "runs": runs, "all_torch_s": torch_path, "all_onnx_s": onnx_path}


def main() -> None:
    from facegen import FaceGenerator, GeneratorConfig, build_generator

    reference = build_generator(GeneratorConfig(architecture="dcgan", resolution=64, latent_dim=100,
                                                channels=[512, 256, 128, 64], name="dcgan64-ngf64-reference"))
    models = {"default (style)": FaceGenerator.from_pretrained("default"),
              "default64 (style)": FaceGenerator.from_pretrained("default64"),
              "classic (dcgan)": FaceGenerator.from_pretrained("classic"),
              "dcgan64 ngf64 (reference shape)": FaceGenerator(reference)}
    onnx_names = {"default (style)": "default", "default64 (style)": "default64", "classic (dcgan)": "classic"}
    results = {"machine": machine(), "models": {}}
    for name, pipe in models.items():
        c = pipe.config
        entry = {"architecture": c.architecture, "resolution": c.resolution, "channels": c.channels}
        for precision in ("fp32", "bf16"):
            entry[precision] = generation_speed(pipe, precision)
            print(name, precision, {k: round(v, 2) for k, v in entry[precision].items()}, flush=True)
        if name in onnx_names:
            entry["onnx"] = onnx_speed(onnx_names[name])
            print(name, "onnx", {k: round(v, 2) for k, v in entry["onnx"].items()}, flush=True)
        results["models"][name] = entry
    results["cold_start"] = cold_start()
    print("cold start", results["cold_start"], flush=True)
    lines = ["# Generation speed", "", f"Machine: {results['machine']}", "",
             "| model | backend, precision | faces/s batch 64 | ms/face batch 1 |", "|---|---|---|---|"]
    for name, entry in results["models"].items():
        for kind, label in (("fp32", "torch fp32"), ("bf16", "torch bf16"), ("onnx", "ONNX Runtime fp32")):
            if kind in entry:
                e = entry[kind]
                lines.append(f"| {name}, {entry['resolution']} px | {label} | {e['faces_per_s_batch64']:.0f} | {e['ms_per_face_batch1']:.2f} |")
    cs = results["cold_start"]
    ratio = cs["facegen_generate_n1_s"] / cs["import_torch_s"]
    batch1 = results["models"]["default (style)"]["onnx"]["ms_per_face_batch1"]
    lines += ["", "Cold start of `facegen generate -n 1` (median of "
              f"{cs['runs']}): ONNX path {cs['onnx_generate_n1_s']:.2f} s (goal <= 0.5: "
              f"{'met' if cs['onnx_generate_n1_s'] <= 0.5 else 'NOT met'}); torch path {cs['facegen_generate_n1_s']:.2f} s, "
              f"bare `import torch` {cs['import_torch_s']:.2f} s, ratio {ratio:.2f} (goal <= 1.3: "
              f"{'met' if ratio <= 1.3 else 'NOT met'}).",
              f"Default on the ONNX path at batch 1: {batch1:.2f} ms/face (goal <= 1 ms: {'met' if batch1 <= 1 else 'NOT met'})."]
    path = write_results("generate", results, "\n".join(lines) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
