"""`facegen prepare`: a folder of photos -> a dataset of aligned face crops for training."""
from __future__ import annotations

import argparse
import sys

from .generate import _bounded

SIZES = (32, 64, 128, 256)


def add_prepare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", metavar="SRC", help="folder of photos (searched recursively; never modified)")
    p.add_argument("out", metavar="OUT", help="dataset folder to create")
    p.add_argument("--size", type=int, choices=SIZES, default=64, help="side of the square crops (default 64)")
    p.add_argument("--aligned", action="store_true",
                   help="the photos are already aligned face crops (e.g. CelebA): centre-crop and resize, no detection")
    p.add_argument("--crop", type=_bounded(float, 0.2, 1.0, "--crop"), default=1.0,
                   help="with --aligned: keep this share of the shorter side, centred (e.g. 0.8 frames "
                        "CelebA faces tighter; default 1)")
    p.add_argument("--min-face", type=_bounded(int, 8, 100_000, "--min-face"),
                   help="smallest face to keep, in source pixels (with --aligned: smallest image side); "
                        "default half of --size")
    p.add_argument("--max-pixels", type=_bounded(int, 1, 2**40, "--max-pixels"), default=100_000_000,
                   help="refuse images whose header claims more pixels than this (default 100,000,000)")
    p.add_argument("--near-duplicates", type=_bounded(int, -1, 256, "--near-duplicates"), default=None,
                   metavar="BITS", help="crops whose 256-bit perceptual hashes differ in at most BITS bits are "
                                        "one picture (default 24; -1 keeps near duplicates)")
    p.add_argument("--workers", type=_bounded(int, 1, 256, "--workers"), default=2,
                   help="processes decoding and detecting (default 2)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_prepare(args) -> int:
    from . import CLIError
    from ..data.dedupe import DEFAULT_THRESHOLD
    from ..data.prepare import Options, prepare

    if args.crop != 1.0 and not args.aligned:
        raise CLIError("--crop applies to --aligned photos; detected faces are framed by their eyes")
    options = Options(size=args.size, aligned=args.aligned, min_face=args.min_face, max_pixels=args.max_pixels,
                      crop=args.crop)
    threshold = DEFAULT_THRESHOLD if args.near_duplicates is None else args.near_duplicates
    report = prepare(args.src, args.out, options, overwrite=args.overwrite, workers=args.workers,
                     progress=not args.quiet and sys.stderr.isatty(), near_threshold=threshold)
    print(summary(report))
    return 0 if report["images"] else 1


def summary(report: dict) -> str:
    lines = [f"{report['output']}: {report['images']} faces at {report['size']}x{report['size']} from "
             f"{report['files_with_faces']} of {report['files']} files "
             f"({report['seconds']:.1f} s, {report['files_per_second']} files/s)"]
    if report.get("eyes_estimated"):
        lines.append(f"  {report['eyes_estimated']} faces aligned from the face box (eyes not found)")
    for reason, n in report["skipped"].items():
        examples = [s for s in report["skipped_files"] if s["reason"] == reason][:3]
        shown = "; ".join(f"{s['file']}" + (f" ({s['detail']})" if s["detail"] else "") for s in examples)
        lines.append(f"  skipped {n} {reason}: {shown}{' ...' if n > len(examples) else ''}")
    if report["ignored_files"]:
        lines.append(f"  ignored {len(report['ignored_files'])} files that are not images by name, "
                     f"e.g. {report['ignored_files'][0]}")
    lines.append(f"  report: {report['output']}/report.json, preview: {report['output']}/preview.png")
    if not report["images"]:
        lines.append("  no faces were kept: nothing to train on")
    return "\n".join(lines)
