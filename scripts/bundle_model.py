"""Copy an exported model into facegen/assets/ under a bundled name, with its data and terms stated.

    python scripts/bundle_model.py RUN_ROOT/default.safetensors default
"""
from __future__ import annotations

import argparse
from pathlib import Path

from facegen import Generator
from facegen.models.file import BUNDLED

ASSETS = Path(__file__).resolve().parents[1] / "facegen" / "assets"
TRAINING_DATA = ("CelebA (img_align_celeba), the 24,000-photo training split of ../shared/data/celeba "
                 "(4,800 identities; 23,919 kept after de-duplication), centre 0.8 crop, {size}x{size}")
TERMS = "CelebA terms: non-commercial research purposes only (the model inherits the data's terms)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("name", choices=BUNDLED)
    ap.add_argument("--description", help="replace the description the training run wrote")
    ap.add_argument("--dtype", default="float16", help="storage precision (float16 halves the size)")
    args = ap.parse_args()
    g = Generator.from_pretrained(args.model)
    g.config.training_data = TRAINING_DATA.format(size=g.config.resolution)
    g.config.license = TERMS
    if args.description:
        g.config.description = args.description
    g.config.name = f"facegen-{args.name}-{g.config.architecture}{g.config.resolution}"
    path = g.save_pretrained(ASSETS / f"{args.name}.safetensors", dtype=args.dtype)
    print(path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
