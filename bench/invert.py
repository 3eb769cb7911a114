"""Inversion quality and speed: PSNR / SSIM / seconds per face on CelebA test faces the model never saw.

    OMP_NUM_THREADS=1 python bench/invert.py            # 100 faces; writes bench/results/invert.{json,md}
    python bench/invert.py -n 10 --set SSIM_WEIGHT=0.1  # while tuning (writes invert_dev.*)
    python bench/invert.py --detect                     # through face detection + alignment instead
    python bench/invert.py --generated -n 20 --steps 100  # faces the model made (seeds 0..n-1): exact latents exist
    python bench/invert.py --measure-template           # where the eyes sit in the models' framing

Targets are the first N photos (sorted by name) of ../shared/data/celeba/test framed as the
bundled models were trained: the centred square of 0.8 x the shorter side, at 64x64
(`prepare --aligned --crop 0.8`). Scores compare the reconstruction with that crop.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine, write_results  # noqa: E402

TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba" / "test"
CROP = 0.8
SHEET_PAIRS = 24


def photos(folder: Path, n: int) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    if not files:
        sys.exit(f"{folder}: no test photos (pass --data)")
    return files[:n]


def measure_template(folder: Path, n: int) -> None:
    """Medians of the eye cascade's eye centres, mapped into the centre 0.8 crop."""
    from facegen.data.faces import FaceFinder
    from facegen.data.images import read_image

    finder = FaceFinder(min_face=40)
    rows = []
    for path in photos(folder, n):
        rgb = read_image(path)
        h, w = rgb.shape[:2]
        side = round(min(h, w) * CROP)
        y0, x0 = (h - side) // 2, (w - side) // 2
        faces = [f for f in finder.find(rgb) if f.eyes_found]
        if len(faces) == 1:
            (lx, ly), (rx, ry) = faces[0].left_eye, faces[0].right_eye
            rows.append([np.hypot(rx - lx, ry - ly) / side, ((ly + ry) / 2 - y0) / side, ((lx + rx) / 2 - x0) / side])
    a = np.array(rows)
    print(f"{len(a)} of {n} photos with one face and both eyes found")
    for name, col in zip(("eye_distance", "eye_y", "eye_mid_x"), a.T):
        q1, q3 = np.percentile(col, [25, 75])
        print(f"  {name}: median {np.median(col):.3f} (IQR {q3 - q1:.3f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100, help="faces (default 100)")
    ap.add_argument("--steps", type=int, default=None, help="at most this many steps per face (default: the library's)")
    ap.add_argument("--data", type=Path, default=TEST, help="CelebA test photos")
    ap.add_argument("--model", default="default")
    ap.add_argument("--detect", action="store_true", help="find and align the face instead of the centre crop")
    ap.add_argument("--generated", action="store_true",
                    help="invert the model's own faces (seeds 0..n-1, truncation 1) instead of photos")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a facegen.inversion constant (tuning; results go to invert_dev.*)")
    ap.add_argument("--measure-template", action="store_true")
    args = ap.parse_args()
    if args.measure_template:
        return measure_template(args.data, max(args.n, 600))

    import torch

    from facegen import FaceGenerator
    from facegen import inversion
    from facegen.data.faces import centre_crop
    from facegen.data.images import read_image
    from facegen.explore.recipes import save_output
    from facegen.imaging import make_grid

    for item in args.set:
        name, _, value = item.partition("=")
        if not hasattr(inversion, name):
            sys.exit(f"facegen.inversion has no {name}")
        setattr(inversion, name, type(getattr(inversion, name))(value))
    steps = args.steps or inversion.DEFAULT_STEPS
    pipe = FaceGenerator.from_pretrained(args.model)
    if args.generated:
        targets = [(f"seed {s}", np.asarray(pipe(seeds=[s]).images[0])) for s in range(args.n)]
    else:
        targets = [(path.name, read_image(path)) for path in photos(args.data, args.n)]
    rows, pairs = [], []
    start = time.perf_counter()
    for i, (label, rgb) in enumerate(targets):
        target = rgb if args.generated else centre_crop(rgb, pipe.config.resolution, CROP)
        if args.detect:
            try:
                (loc, inv), = inversion.invert_photo(pipe, rgb, index=0, steps=steps)
            except inversion.InversionError as e:
                print(f"{label}: {e}")
                rows.append({"file": label, "error": str(e)})
                continue
        else:
            inv = inversion.invert_crop(pipe, target, steps=steps)
        psnr, ssim = inversion.image_scores(np.asarray(inv.image), np.asarray(inv.target))
        rows.append({"file": label, "psnr": round(psnr, 3), "ssim": round(ssim, 4),
                     "seconds": round(inv.seconds, 3), "steps": inv.steps})
        if len(pairs) < 2 * SHEET_PAIRS:
            pairs += [inv.target, inv.image]
        print(f"{i + 1:4d} {label}  PSNR {psnr:6.2f} dB  SSIM {ssim:.3f}  {inv.seconds:5.2f} s  "
              f"{inv.steps} steps", flush=True)
    done = [r for r in rows if "psnr" in r]
    if not done:
        sys.exit("no face was inverted")
    summary = {key: {"mean": round(statistics.fmean(r[key] for r in done), 4),
                     "median": round(statistics.median(r[key] for r in done), 4)}
               for key in ("psnr", "ssim", "seconds", "steps")}
    dev = bool(args.set) or (not args.generated and (args.n < 100 or args.steps is not None))
    kind = "invert_generated" if args.generated else "invert_detect" if args.detect else "invert"
    name = kind + ("_dev" if dev else "")
    results = {"machine": machine(), "torch_threads": torch.get_num_threads(), "model": pipe.model_info(),
               "faces": len(rows), "inverted": len(done), "max_steps": steps, "detect": args.detect,
               "framing": (f"the model's own faces, seeds 0-{args.n - 1}, truncation 1" if args.generated else
                           f"centre {CROP} crop of {args.data.name}/ photos (sorted, first {args.n})"),
               "settings": {k: getattr(inversion, k)
                            for k in ("LR", "SSIM_WEIGHT", "W_PHASE", "RAMP", "CONVERGED", "WINDOW")},
               "summary": summary, "wall_s": round(time.perf_counter() - start, 1), "faces_detail": rows}
    s = summary
    what = "of its own generated faces" if args.generated else "CelebA test faces"
    md = [f"# Inversion ({pipe.config.name}, {len(done)} of {len(rows)} {what}"
          f"{', detected and aligned' if args.detect else ''})", "",
          "| | mean | median |", "|---|---|---|",
          f"| PSNR dB | {s['psnr']['mean']:.2f} | {s['psnr']['median']:.2f} |",
          f"| SSIM | {s['ssim']['mean']:.3f} | {s['ssim']['median']:.3f} |",
          f"| seconds / face | {s['seconds']['mean']:.2f} | {s['seconds']['median']:.2f} |",
          f"| steps | {s['steps']['mean']:.0f} | {s['steps']['median']:.0f} |", "",
          f"Goals: PSNR >= 22 dB, SSIM >= 0.70, <= 30 s per face. Torch threads: {torch.get_num_threads()}; "
          f"machine: {results['machine']['processor']}, {results['machine']['cpus']} CPUs, load average at start "
          f"{results['machine']['load_average_at_start'][0]:.2f}.", "",
          f"Examples (target | reconstruction): {name}_examples.png"]
    print("\n".join(md))
    print("wrote", write_results(name, results, "\n".join(md) + "\n"))
    recipe = dict(pipe.recipe_base("const", None), kind="explore", op="invert-compare",
                  note=("left of each pair: a generated face; right: its inversion" if args.generated else
                        "left of each pair: a real CelebA test photo crop; right: its inversion (AI-generated)"))
    save_output(make_grid(pairs, 8), RESULTS / f"{name}_examples.png", recipe, overwrite=True)


if __name__ == "__main__":
    main()
