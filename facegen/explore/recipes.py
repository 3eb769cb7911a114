"""Recipes for what the explore tools write, and the helpers that make and save them.

A single face is stored as kind "latent" (its final w or w+), which any facegen
reader understands. A sheet (morph strip, edit strip, direction sheet, mixing
grid) is kind "explore": the few inputs and the operation, re-run by the same
code that made it, so that `facegen reproduce` gets the identical picture
without a recipe megabytes long. Each explore module registers the renderer of
its own operation (`@renders("explore", op)`, facegen/recipe_schema.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from ..pipeline import FaceGenerator, decode_latent, encode_latent
from .faces import collapse

CHUNK = 16
MAX_RECIPE_CHARS = 900_000  # under provenance.MAX_RECIPE_BYTES, which readers enforce


def pack(t: torch.Tensor) -> dict:
    """A tensor for a sheet's recipe: the one latent codec, zlib'd (sheets repeat rows a lot)."""
    return encode_latent(t, compress=True)


unpack = decode_latent


def synthesize_all(pipe: FaceGenerator, ws: torch.Tensor, size: int | None = None, progress: bool = False,
                   desc: str = "faces", noise_mode: str = "const", batch: int = CHUNK) -> list[Image.Image]:
    """Images for a stack of w/w+, `batch` at a time, so a re-make batches (and so rounds) identically.

    A convolution rounds differently in a batch than alone, so images that each carry their own
    recipe (kind 'latent', which re-makes one face alone) must be made with `batch=1`.
    """
    images: list[Image.Image] = []
    with tqdm(total=len(ws), desc=desc, unit="frame", disable=not progress, leave=False) as bar:
        for start in range(0, len(ws), batch):
            images += pipe.synthesize(ws[start:start + batch], noise_mode=noise_mode, size=size, batch_size=batch)
            bar.update(min(batch, len(ws) - start))
    return images


def latent_recipe(pipe: FaceGenerator, w: torch.Tensor, size: int | None, op: str, **info) -> dict:
    """A single face's recipe: kind 'latent' with its final w (collapsed when every layer agrees)."""
    recipe = dict(pipe.recipe_base("const", size), kind="latent", op=op, latent=encode_latent(collapse(w)[None]))
    recipe.update(info)
    return recipe


def sheet_recipe(pipe: FaceGenerator, size: int | None, op: str, **fields) -> dict:
    return dict(pipe.recipe_base("const", size), kind="explore", op=op, **fields)


def labelled_rows(grid: Image.Image, labels: list[str], tile: int, padding: int = 2, width: int = 84) -> Image.Image:
    """The grid with a white margin on the left naming each row (so users can name directions)."""
    out = Image.new("RGB", (grid.width + width, grid.height), (255, 255, 255))
    out.paste(grid, (width, 0))
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default()
    for r, text in enumerate(labels):
        y = padding + r * (tile + padding) + tile // 2 - 6
        draw.text((4, y), text[:14], fill=(0, 0, 0), font=font)
    return out


def save_output(image: Image.Image, path: str | Path, recipe: dict, overwrite: bool = False) -> Path:
    """Save with provenance; refuses a recipe too large for readers rather than writing an orphan."""
    from ..provenance import save_image

    size = len(json.dumps(recipe))
    if size > MAX_RECIPE_CHARS:
        raise ValueError(f"{path}: the recipe for this sheet would be {size} bytes, over the "
                         f"{MAX_RECIPE_CHARS} readers accept; use fewer faces")
    return save_image(image, path, recipe, overwrite=overwrite)
