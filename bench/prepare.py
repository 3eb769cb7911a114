"""Dataset preparation speed: `facegen prepare` against a plain one-process PIL loop.

    python bench/prepare.py [PHOTOS] [--num N] [--detect-num 400]
        # PHOTOS default ../shared/data/celeba/train; writes bench/results/prepare.{json,md}

Aligned photos (CelebA's): `prepare --aligned --crop 0.8` with 1 and 2 workers, against
the loop a script would write (open, centre crop, resize, stack, save), on the same N
files; `prepare` also checks each file, hashes it and drops near-duplicates.
With detection: `prepare` without --aligned on the first --detect-num files, and the share
in which it found a face. Each timing is the whole command, wall clock.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, write_results  # noqa: E402

SIZE, CROP = 64, 0.8


def plain_loop(files: list[Path], out: Path) -> None:
    crops = []
    for f in files:
        with Image.open(f) as im:
            im = im.convert("RGB")
            side = CROP * min(im.size)
            left, top = (im.width - side) / 2, (im.height - side) / 2
            crops.append(np.asarray(im.resize((SIZE, SIZE), Image.LANCZOS, box=(left, top, left + side, top + side))))
    np.save(out, np.stack(crops))


def run_prepare(src: Path, out: Path, *extra: str) -> tuple[float, dict]:
    exe = shutil.which("facegen") or str(Path(sys.executable).parent / "facegen")
    t = time.perf_counter()
    subprocess.run([exe, "prepare", str(src), str(out), "--size", str(SIZE), *extra],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t, json.loads((out / "report.json").read_text())


def linked_subset(files: list[Path], folder: Path) -> Path:
    folder.mkdir()
    for f in files:
        (folder / f.name).symlink_to(f.resolve())
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photos", nargs="?", type=Path, default=Path(__file__).parents[2] / "shared/data/celeba/train")
    ap.add_argument("--num", type=int, default=None, help="aligned photos to time (default: all)")
    ap.add_argument("--detect-num", type=int, default=400)
    a = ap.parse_args()
    files = sorted(p for p in a.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise SystemExit(f"{a.photos}: no photos")
    files = files[:a.num] if a.num else files
    res = {"photos": str(a.photos), "files": len(files), "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = a.photos if len(files) == sum(1 for _ in a.photos.iterdir()) else linked_subset(files, tmp / "src")
        t = time.perf_counter()
        plain_loop(files, tmp / "plain.npy")
        res["plain_loop_s"] = time.perf_counter() - t
        for workers in (1, 2):
            s, report = run_prepare(src, tmp / f"aligned{workers}", "--aligned", "--crop", str(CROP),
                                    "--workers", str(workers))
            res[f"aligned_workers{workers}_s"] = s
            res[f"aligned_workers{workers}_kept"] = report["images"]
        det = linked_subset(files[:a.detect_num], tmp / "detect_src")
        s, report = run_prepare(det, tmp / "detect", "--workers", "2")
        res.update(detect_files=min(a.detect_num, len(files)), detect_s=s, detect_found=report["files_with_faces"])
    n, nd = res["files"], res["detect_files"]
    rate = {k: n / res[k] for k in ("plain_loop_s", "aligned_workers1_s", "aligned_workers2_s")}
    res["files_per_s"] = rate
    res["speedup_2_workers_vs_plain"] = rate["aligned_workers2_s"] / rate["plain_loop_s"]
    md = (f"# prepare: {n} aligned photos ({a.photos.name}), {SIZE}x{SIZE}, crop {CROP}\n\n"
          f"| what | seconds | files/s |\n|---|---|---|\n"
          f"| plain PIL loop, one process | {res['plain_loop_s']:.1f} | {rate['plain_loop_s']:.0f} |\n"
          f"| `prepare --aligned --workers 1` | {res['aligned_workers1_s']:.1f} | {rate['aligned_workers1_s']:.0f} |\n"
          f"| `prepare --aligned --workers 2` | {res['aligned_workers2_s']:.1f} | {rate['aligned_workers2_s']:.0f} |\n"
          f"| `prepare` with detection, {nd} photos, 2 workers | {res['detect_s']:.1f} | {nd / res['detect_s']:.1f} |\n\n"
          f"2 workers vs the plain loop: {res['speedup_2_workers_vs_plain']:.2f}x. "
          f"`prepare --aligned` kept {res['aligned_workers2_kept']} of {n} (duplicates dropped); "
          f"detection found a face in {res['detect_found']} of {nd} ({100 * res['detect_found'] / nd:.0f}%).\n\n"
          f"Load average at start: {res['machine']['load_average_at_start'][0]:.1f} on {res['machine']['cpus']} cpus.\n")
    print(md)
    print(write_results("prepare", res, md))


if __name__ == "__main__":
    main()
