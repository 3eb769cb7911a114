"""Per-face latency of the generator network: PyTorch vs ONNX Runtime, and vs gan-face-generate.

    python bench/export.py                                # writes bench/results/export.{json,md}
    python bench/export.py --gan-face-generate DIR        # DIR holds the gan_face_generate package

gan-face-generate pulls torchvision and wandb, so rather than installing it, unpack its wheel:
    pip download --no-deps gan-face-generate==1.1.1 -d /tmp/gfg && unzip -q /tmp/gfg/*.whl -d /tmp/gfg/x
    python bench/export.py --gan-face-generate /tmp/gfg/x

Both backends run the same synthesis network (z or w -> NCHW image) on the same
threads in the same run; turning tensors into PIL images costs the same either way
and is left out. gan-face-generate's own generation is its netG forward under
torch.no_grad(), as its `gan_face_generate` command runs it; facegen runs the same
weights imported with `facegen import --from gan-face-generate`.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, time_per_call, write_results  # noqa: E402


def speeds(fn, w) -> dict:
    one = time_per_call(lambda: fn(w[:1]))
    batch = time_per_call(lambda: fn(w))
    return {"ms_per_face_batch1": one * 1000, "faces_per_s_batch1": 1 / one,
            "ms_per_face_batch64": batch / 64 * 1000, "faces_per_s_batch64": 64 / batch}


def torch_vs_onnx(pipe) -> dict:
    import torch

    from facegen.interop.onnx_export import OnnxSynthesis, export_bytes

    t = time.perf_counter()
    onnx_file = export_bytes(pipe.model)
    export_s = time.perf_counter() - t
    t = time.perf_counter()
    onnx = OnnxSynthesis(pipe.model)
    backend_start_s = time.perf_counter() - t
    w = pipe.mapping(pipe.model.sample_z(list(range(64))))

    @torch.inference_mode()
    def torch_net(x):
        return pipe.model.synthesis(x, "const")

    diff = float((torch_net(w[:8]) - onnx(w[:8])).abs().max())
    return {"torch": speeds(torch_net, w), "onnx": speeds(onnx, w), "max_abs_diff": diff,
            "onnx_export_s": export_s, "onnx_file_bytes": len(onnx_file), "onnx_backend_start_s": backend_start_s}


def versus_gan_face_generate(package_dir: str | None) -> dict | None:
    import torch

    from facegen import FaceGenerator
    from facegen.interop.importers import read_checkpoint
    from facegen.interop.onnx_export import OnnxSynthesis

    if package_dir:
        sys.path.insert(0, package_dir)
    spec = importlib.util.find_spec("gan_face_generate")
    if spec is None:
        return None
    from gan_face_generate.models import Generator as TheirGenerator

    weights = Path(spec.origin).parent / "weights.tar"
    net = TheirGenerator(0, 3, 100, 64).eval()
    net.load_state_dict(torch.load(weights, weights_only=True, map_location="cpu")["netG_state_dict"])
    pipe = FaceGenerator(read_checkpoint(weights, "gan-face-generate"), precision="fp32")
    onnx = OnnxSynthesis(pipe.model)
    z = torch.randn(64, 100, generator=torch.Generator().manual_seed(0))

    def theirs(x):
        with torch.no_grad():
            return net(x[:, :, None, None])

    @torch.inference_mode()
    def ours(x):
        return pipe.model.synthesis(x, "const")

    result = {"gan_face_generate": speeds(theirs, z), "facegen_torch": speeds(ours, z),
              "facegen_onnx": speeds(onnx, z),
              "max_abs_diff_facegen_vs_theirs": float((ours(z[:8]) - theirs(z[:8])).abs().max())}
    for key in ("facegen_torch", "facegen_onnx"):
        result[f"{key}_speedup"] = {
            b: result[key][f"faces_per_s_{b}"] / result["gan_face_generate"][f"faces_per_s_{b}"]
            for b in ("batch1", "batch64")}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan-face-generate", metavar="DIR", help="folder holding the gan_face_generate package")
    parser.add_argument("--threads", type=int, help="threads for both backends (default: PyTorch's)")
    args = parser.parse_args()
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)  # ONNX Runtime sessions take torch's count

    from facegen import FaceGenerator, GeneratorConfig, build_generator

    reference = build_generator(GeneratorConfig(architecture="dcgan", resolution=64, latent_dim=100,
                                                channels=[512, 256, 128, 64], name="dcgan64-ngf64"))
    pipes = {"classic (dcgan64)": FaceGenerator.from_pretrained("classic", precision="fp32"),
             "dcgan64 ngf64 (gan-face-generate's shape)": FaceGenerator(reference, precision="fp32"),
             "default (style64)": FaceGenerator.from_pretrained("default", precision="fp32")}
    results = {"machine": machine(), "models": {}}
    if results["machine"]["load_average_at_start"][0] > 1.0:
        print("warning: the machine is busy (load average above 1); timings will be noisy", file=sys.stderr)
    for name, pipe in pipes.items():
        results["models"][name] = entry = torch_vs_onnx(pipe)
        print(name, {k: {m: round(v, 3) for m, v in entry[k].items()} for k in ("torch", "onnx")}, flush=True)
    results["vs_gan_face_generate"] = versus_gan_face_generate(args.gan_face_generate)
    print("vs gan-face-generate", results["vs_gan_face_generate"], flush=True)

    lines = ["# Export: PyTorch vs ONNX Runtime (network only, fp32)", "",
             f"Machine: {results['machine']}", "",
             "| model | backend | ms/face batch 1 | ms/face batch 64 | faces/s batch 64 |", "|---|---|---|---|---|"]
    for name, entry in results["models"].items():
        for backend in ("torch", "onnx"):
            e = entry[backend]
            lines.append(f"| {name} | {backend} | {e['ms_per_face_batch1']:.2f} | {e['ms_per_face_batch64']:.2f} "
                         f"| {e['faces_per_s_batch64']:.0f} |")
    vs = results["vs_gan_face_generate"]
    if vs:
        lines += ["", "## vs gan-face-generate (same weights)", "",
                  "| runner | ms/face batch 1 | faces/s batch 1 | ms/face batch 64 | faces/s batch 64 |",
                  "|---|---|---|---|---|"]
        for key in ("gan_face_generate", "facegen_torch", "facegen_onnx"):
            e = vs[key]
            lines.append(f"| {key} | {e['ms_per_face_batch1']:.2f} | {e['faces_per_s_batch1']:.0f} | "
                         f"{e['ms_per_face_batch64']:.2f} | {e['faces_per_s_batch64']:.0f} |")
        lines += ["", "Speed-up over gan-face-generate (faces/s ratio): "
                  + ", ".join(f"{k} {b} x{v:.2f}" for k in ("facegen_torch", "facegen_onnx")
                              for b, v in vs[f"{k}_speedup"].items())]
    else:
        lines += ["", "gan-face-generate not found: pass --gan-face-generate DIR to compare."]
    path = write_results("export", results, "\n".join(lines) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
