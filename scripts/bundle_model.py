"""Copy an exported model into facegen/assets/ under a bundled name, with its data and terms stated.

    python scripts/bundle_model.py RUN_ROOT/default.safetensors default
    python scripts/bundle_model.py RUN_ROOT/default128.safetensors default --top-rgb-gain 0.7

--top-rgb-gain scales what the finest block adds to the picture (its toRGB weights and bias). A
block grown onto a trained model and trained against a D that hardly tells its faces from real
ones over-draws creases and skin texture; at 0.7 the grown default128 scored better on KID
and FID at 128 px than at 1.0, with FID within 0.5 of the 64-px model resized (1,000 samples
against 2,000 training photos; the sweep is in facegen/assets/default.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from facegen import Generator
from facegen.finetune.directions import carry_directions
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
    ap.add_argument("--top-rgb-gain", type=float, default=1.0,
                    help="scale the finest block's toRGB (style models; default 1: unchanged)")
    ap.add_argument("--named-from", metavar="MODEL",
                    help="copy this model's named directions beside the bundled one (its mapping network must be "
                         "the same, so that W, where they live, is)")
    args = ap.parse_args()
    g = Generator.from_pretrained(args.model)
    if args.top_rgb_gain != 1.0:
        if g.config.architecture != "style":
            ap.error("--top-rgb-gain needs a style model")
        with torch.no_grad():
            g.blocks[-1].to_rgb.weight.mul_(args.top_rgb_gain)
            g.blocks[-1].to_rgb.bias.mul_(args.top_rgb_gain)
    g.config.training_data = TRAINING_DATA.format(size=g.config.resolution)
    g.config.license = TERMS
    if args.description:
        g.config.description = args.description
    g.config.name = f"facegen-{args.name}-{g.config.architecture}{g.config.resolution}"
    if args.named_from:
        source = Generator.from_pretrained(args.named_from).mapping_network.state_dict()
        ours = g.mapping_network.state_dict()
        if source.keys() != ours.keys() or any(not torch.equal(source[k], ours[k].to(source[k].dtype)) for k in ours):
            ap.error(f"--named-from {args.named_from}: its mapping network differs, so its directions do not hold")
    path = g.save_pretrained(ASSETS / f"{args.name}.safetensors", dtype=args.dtype)
    print(path, path.stat().st_size, "bytes")
    if args.named_from:
        for note in carry_directions(args.named_from, path, mapping_frozen=True):
            print(note)


if __name__ == "__main__":
    main()
