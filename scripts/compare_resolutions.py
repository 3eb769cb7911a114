"""docs/default128_vs_64.png: the same seeds from `default64` (64 px, resized to 128 with Lanczos) and
`default` (128 px): the 128-px model is the 64-px one with a block grown on top, so a seed gives
the same face in both and only the finest detail differs.

    python scripts/compare_resolutions.py [--seeds 0-7] [--truncation 0.7]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from facegen import FaceGenerator
from facegen.cli.generate import parse_seeds
from facegen.imaging import make_grid
from facegen.provenance import save_image

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-7"))
    ap.add_argument("--truncation", type=float, default=0.7)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "default128_vs_64.png")
    a = ap.parse_args()
    rows, models = [], []
    for name in ("default64", "default"):
        pipe = FaceGenerator.from_pretrained(name, precision="fp32")
        rows += pipe(seeds=a.seeds, truncation=a.truncation, size=128).images
        models.append(pipe.model_info())
    recipe = dict(pipe.recipe_base("const", None), kind="comparison", models=models, seeds=a.seeds,
                  truncation=a.truncation, made_by="scripts/compare_resolutions.py",
                  rows="default64 (64 px, Lanczos to 128) above default (128 px)")
    save_image(make_grid(rows, columns=len(a.seeds)), a.out, recipe, overwrite=True)
    print(a.out)


if __name__ == "__main__":
    main()
