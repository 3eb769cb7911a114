"""`facegen info` and `facegen reproduce`: read what a file says about itself."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..models.file import BUNDLED_NAMES


def add_info_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help=f"an image made by facegen, or a .safetensors model (or a bundled name: {BUNDLED_NAMES})")


def run_info(args) -> int:
    from ..models.file import BUNDLED, _sniff, read_header, resolve

    path = Path(args.path)
    if args.path in BUNDLED or path.suffix == ".safetensors":
        path = resolve(args.path)
        table, config = read_header(path)
        params = sum(_numel(e["shape"]) for e in table.values())
        info = {"file": str(path), "bytes": path.stat().st_size, "tensors": len(table),
                "parameters": params, "config": config.to_dict()}
        if info["config"]["w_avg"] is not None:
            info["config"]["w_avg"] = f"[{len(config.w_avg)} values]"
        print(json.dumps(info, indent=2))
        return 0
    from ..provenance import is_ai_labelled, read_recipe

    recipe = read_recipe(path)
    recipe = dict(recipe, ai_label_in_xmp=is_ai_labelled(path))
    if isinstance(recipe.get("latent"), dict):
        recipe["latent"] = {"shape": recipe["latent"].get("shape"), "data": "..."}
    print(json.dumps(recipe, indent=2))
    return 0


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def add_reproduce_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="an image written by facegen")
    p.add_argument("--model", help="model file, when the recipe names one that is not bundled or has moved")
    p.add_argument("--out", help="also write the re-made image here")


def run_reproduce(args) -> int:
    import numpy as np
    from PIL import Image

    from ..pipeline import FaceGenerator
    from ..models.file import BUNDLED
    from ..provenance import encode_image, read_recipe, save_image
    from ..recipes import render
    from . import CLIError

    recipe = read_recipe(args.image)
    model_meta = recipe.get("model", {})
    source = args.model or model_meta.get("source")
    if not source or not (source in BUNDLED or Path(source).exists()):
        raise CLIError(f"{args.image}: made with model {model_meta.get('name')!r}; pass --model FILE to re-make it")
    pipe = FaceGenerator.from_pretrained(source, precision=recipe.get("precision", "auto"),
                                         backend=recipe.get("backend", "torch"))
    if model_meta.get("sha256") and pipe.model.sha256 != model_meta["sha256"]:
        raise CLIError(f"{source}: is not the model that made {args.image} "
                       f"(sha256 {pipe.model.sha256[:12]}, the image names {model_meta['sha256'][:12]})")
    image = render(recipe, pipe)
    # Compare through the same encoder, so a JPEG's loss counts the same on both sides.
    fmt = recipe.get("format", "png")
    quality = recipe.get("quality") or 95
    remade = np.asarray(Image.open(__import__("io").BytesIO(encode_image(image, recipe, fmt, quality))).convert("RGB"))
    with Image.open(args.image) as im:
        original = np.asarray(im.convert("RGB"))
    if args.out:
        save_image(image, args.out, recipe, fmt, quality, overwrite=False)
    if remade.shape == original.shape and np.array_equal(remade, original):
        print(f"{args.image}: identical (re-made from seed/latent with {source}, sha256 {pipe.model.sha256[:12]})")
        return 0
    diff = "different size" if remade.shape != original.shape else \
        f"max pixel difference {int(np.abs(remade.astype(int) - original.astype(int)).max())}"
    print(f"{args.image}: NOT identical ({diff})")
    return 1
