"""`facegen metrics MODEL --real DIR`: FID, KID, precision/recall, face share, memorisation; JSON + PNG report."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..limits import TRUNCATION_MAX, TRUNCATION_MIN
from ..models.file import BUNDLED_NAMES
from .generate import _bounded, check_output_dir


def add_metrics_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=f"model file or bundled name ({BUNDLED_NAMES})")
    p.add_argument("--real", required=True, metavar="DIR",
                   help="real photos: a folder of images (searched recursively) or a prepared dataset")
    p.add_argument("--num", type=_bounded(int, 4, 50_000, "--num"), default=5000,
                   help="how many faces to generate (default 5000)")
    p.add_argument("--train", metavar="DIR", help="the training photos (folder or dataset): checks for memorised copies")
    p.add_argument("--out", default="metrics", help="report folder for metrics.json and report.png (default: metrics/)")
    p.add_argument("--truncation", type=_bounded(float, TRUNCATION_MIN, TRUNCATION_MAX, "--truncation"), default=1.0)
    p.add_argument("--seed", type=_bounded(int, 0, 2**62, "--seed"), default=0,
                   help="first seed; samples use seeds SEED..SEED+NUM-1 (default 0)")
    p.add_argument("--real-num", type=_bounded(int, 4, 10**7, "--real-num"),
                   help="use a seeded random subset of this many real images (default: all)")
    p.add_argument("--train-num", type=_bounded(int, 1, 10**7, "--train-num"),
                   help="search a seeded random subset of this many training images (default: all)")
    p.add_argument("--cache", metavar="DIR", help="feature cache folder (default: ~/.cache/facegen/metrics)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write cached real-image features")
    p.add_argument("--threads", type=_bounded(int, 1, 256, "--threads"), help="CPU threads (default: all cores)")
    p.add_argument("--batch-size", type=_bounded(int, 1, 1024, "--batch-size"), default=32)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="generator precision (the feature extractor always runs in fp32)")
    p.add_argument("--resolution", type=int, choices=(32, 64, 128, 256),
                   help="compare at this size: the model's faces are resized with Lanczos when it differs, "
                        "and the report says they were (default: the model's)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report in --out")


def run_metrics(args) -> int:
    from ..atomic import write_bytes
    from ..metrics.evaluate import evaluate
    from ..metrics.real import default_cache_dir
    from ..metrics.report import render
    from ..provenance import save_image
    from . import CLIError

    out = Path(args.out)
    json_path, png_path = out / "metrics.json", out / "report.png"
    check_output_dir(out)
    existing = [str(p) for p in (json_path, png_path) if p.exists()]
    if existing and not args.overwrite:
        raise CLIError(f"{existing[0]} already exists (use --overwrite or another --out)")
    cache = None if args.no_cache else Path(args.cache) if args.cache else default_cache_dir()
    try:
        ev = evaluate(args.model, args.real, num=args.num, seed=args.seed, truncation=args.truncation,
                      train=args.train, real_num=args.real_num, train_num=args.train_num, cache_dir=cache,
                      threads=args.threads, batch_size=args.batch_size, precision=args.precision, resolution=args.resolution)
    except ImportError as e:
        raise CLIError(str(e)) from None
    text = json.dumps(ev.report, indent=2)
    write_bytes(json_path, (text + "\n").encode())
    title = f"facegen metrics: {ev.report['model']['name']} vs {Path(args.real).name}"
    recipe = {"facegen": ev.report["facegen"], "ai_generated": True, "kind": "metrics-report",
              "model": {k: ev.report["model"][k] for k in ("name", "source", "sha256", "architecture", "resolution")},
              "seeds": ev.report["settings"]["seeds"], "truncation": args.truncation}
    save_image(render(ev, title), png_path, recipe, "png", overwrite=True)
    print(text)
    print(f"wrote {json_path} and {png_path}")
    return 0
