"""Morph speed: a 64x64 morph of 120 frames with the default model (target: under 2 s).

    python bench/morph.py            # writes bench/results/morph.{json,md}

Timed in-process (the morph itself: path, synthesis, encoding) for fp32 and bf16,
and as the whole `facegen morph` command from a cold start, which adds Python and
torch start-up.
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

FRAMES = 120


def in_process(precision: str, out: Path) -> dict:
    from facegen import FaceGenerator
    from facegen.explore import morph, resolve_faces, write_gif, write_mp4

    pipe = FaceGenerator.from_pretrained("default", precision=precision)
    faces = resolve_faces(["1", "2"], pipe)
    result = {}
    result["morph_frames_s"] = time_per_call(lambda: morph(pipe, faces, FRAMES), min_seconds=2, min_calls=3)
    frames = morph(pipe, faces, FRAMES).images
    result["gif_encode_s"] = time_per_call(lambda: write_gif(frames, out / "m.gif", overwrite=True), min_calls=3)
    try:
        result["mp4_encode_s"] = time_per_call(lambda: write_mp4(frames, out / "m.mp4", overwrite=True), min_calls=3)
    except ValueError:
        result["mp4_encode_s"] = None
    result["gif_total_s"] = result["morph_frames_s"] + result["gif_encode_s"]
    if result["mp4_encode_s"] is not None:
        result["mp4_total_s"] = result["morph_frames_s"] + result["mp4_encode_s"]
    return result


def cli(out: Path, runs: int = 3) -> dict:
    exe = shutil.which("facegen") or str(Path(sys.executable).parent / "facegen")
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([exe, "morph", "1", "2", "--frames", str(FRAMES), "--out", str(out / "cli.gif"),
                        "--overwrite"], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return {"facegen_morph_gif_s": statistics.median(times), "all_s": times}


def main() -> None:
    import torch

    from facegen import FaceGenerator

    out = Path(tempfile.mkdtemp())
    res = FaceGenerator.from_pretrained("default").config.resolution
    # Without bf16 kernels (an AVX2-only CPU) bf16 is emulated, tens of times slower: not worth timing.
    precisions = ("fp32", "bf16") if torch.ops.mkldnn._is_mkldnn_bf16_supported() else ("fp32",)
    results = {"machine": machine(), "frames": FRAMES, "resolution": res}
    for precision in precisions:
        results[precision] = in_process(precision, out)
        print(precision, {k: v and round(v, 3) for k, v in results[precision].items()}, flush=True)
    results["cli"] = cli(out)
    print("cli", results["cli"], flush=True)
    lines = [f"# Morph speed (default model, {res}x{res}, {FRAMES} frames)", "", f"Machine: {results['machine']}", "",
             "| precision | frames (path + synthesis) s | + GIF s | + MP4 s | total GIF s | total MP4 s |",
             "|---|---|---|---|---|---|"]
    for p in precisions:
        r = results[p]
        mp4 = f"{r['mp4_encode_s']:.3f}" if r["mp4_encode_s"] is not None else "n/a"
        lines.append(f"| {p} | {r['morph_frames_s']:.3f} | {r['gif_encode_s']:.3f} | {mp4} | {r['gif_total_s']:.3f} | "
                     f"{r.get('mp4_total_s', float('nan')):.3f} |")
    if len(precisions) == 1:
        lines += ["", "bf16 not timed: this CPU has no bf16 kernels (torch.ops.mkldnn._is_mkldnn_bf16_supported())."]
    lines += ["", f"Whole command from a cold start, `facegen morph 1 2 --frames 120 --out m.gif`: "
              f"{results['cli']['facegen_morph_gif_s']:.2f} s (median of {len(results['cli']['all_s'])})"]
    print("wrote", write_results("morph", results, "\n".join(lines) + "\n"))


if __name__ == "__main__":
    main()
