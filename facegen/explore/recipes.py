"""Recipes for what the explore tools write, and the one renderer that re-makes them.

A single face is stored as kind "latent" (its final w or w+), which any facegen
reader understands. A sheet (morph strip, edit strip, direction sheet, mixing
grid) is kind "explore": the few inputs and the operation, re-run by the same
code that made it, so that `facegen reproduce` gets the identical picture
without a recipe megabytes long.
"""
from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from ..imaging import make_grid
from ..pipeline import FaceGenerator, encode_latent

CHUNK = 16
MAX_RECIPE_CHARS = 900_000  # under provenance.MAX_RECIPE_BYTES, which readers enforce


def pack(t: torch.Tensor) -> dict:
    """float32 tensor -> JSON: zlib'd, because w+ rows copied from one w compress to almost nothing."""
    a = np.ascontiguousarray(t.detach().to(torch.float32).cpu().numpy())
    return {"dtype": "float32", "shape": list(a.shape), "zlib": base64.b64encode(zlib.compress(a.tobytes(), 6)).decode()}


def unpack(d: dict) -> torch.Tensor:
    shape = [int(s) for s in d["shape"]]
    raw = zlib.decompress(base64.b64decode(d["zlib"], validate=True), bufsize=4 * max(1, int(np.prod(shape))))
    if d.get("dtype") != "float32" or len(raw) != 4 * int(np.prod(shape)):
        raise ValueError(f"packed tensor does not match its shape {shape}")
    return torch.from_numpy(np.frombuffer(raw, dtype=np.float32).reshape(shape).copy())


def synthesize_all(pipe: FaceGenerator, ws: torch.Tensor, size: int | None = None, progress: bool = False,
                   desc: str = "faces", noise_mode: str = "const") -> list[Image.Image]:
    """Images for a stack of w/w+, in fixed chunks so a re-make batches (and so rounds) identically."""
    images: list[Image.Image] = []
    with tqdm(total=len(ws), desc=desc, unit="frame", disable=not progress, leave=False) as bar:
        for start in range(0, len(ws), CHUNK):
            images += pipe.synthesize(ws[start:start + CHUNK], noise_mode=noise_mode, size=size, batch_size=CHUNK)
            bar.update(min(CHUNK, len(ws) - start))
    return images


def latent_recipe(pipe: FaceGenerator, w: torch.Tensor, size: int | None, op: str, **info) -> dict:
    """A single face's recipe: kind 'latent' with its final w (collapsed when every layer agrees)."""
    from .faces import collapse

    recipe = dict(pipe._recipe_base("const", size), kind="latent", op=op, latent=encode_latent(collapse(w)[None]))
    recipe.update(info)
    return recipe


def sheet_recipe(pipe: FaceGenerator, size: int | None, op: str, **fields) -> dict:
    return dict(pipe._recipe_base("const", size), kind="explore", op=op, **fields)


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


def render_explore(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    """Re-make an image of kind 'explore' (dispatch on its op)."""
    op = recipe.get("op")
    size = recipe.get("size")
    if op == "morph":
        from .morph import interpolate

        ws = interpolate(unpack(recipe["keys"]), recipe["frames"], recipe["loop"], recipe["space"], pipe,
                         recipe.get("truncation", 1.0))
        return make_grid(synthesize_all(pipe, ws, size), recipe["columns"])
    if op == "edit":
        from .directions import edit_sheet

        return edit_sheet(pipe, unpack(recipe["base"]), unpack(recipe["vectors"]), recipe["scales"],
                          recipe["strengths"], recipe["layers"], recipe.get("labels"), size)
    if op == "mix":
        from .breed import mixing_grid_image

        return mixing_grid_image(pipe, unpack(recipe["rows"]), unpack(recipe["cols"]), recipe["layers"], size)
    if op == "children":
        return make_grid(synthesize_all(pipe, unpack(recipe["ws"]), size), recipe["columns"])
    if op == "transform":
        from .transform import scaled_noise
        from ..pipeline import decode_latent

        if getattr(pipe, "_onnx", None) is not None:
            raise ValueError("a noise-scaled transform is re-made with the torch backend only")
        with scaled_noise(pipe.model, recipe.get("noise_scales")):
            return synthesize_all(pipe, decode_latent(recipe["latent"]), size)[0]
    if op == "invert-compare":
        raise ValueError("an inversion's side-by-side holds the photo's face, which its recipe does not "
                         "store; reproduce the reconstruction (NAME_faceK.png) instead")
    raise ValueError(f"unknown explore operation {op!r}")
