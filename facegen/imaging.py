"""Tensors to pictures: PIL conversion and contact-sheet grids."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image


def to_pil(x, size: int | None = None) -> list[Image.Image]:
    """[-1, 1] NCHW tensor -> uint8 RGB PIL images, resized to `size` when given."""
    return arrays_to_pil(x.detach().float().cpu().numpy(), size)


def arrays_to_pil(x: np.ndarray, size: int | None = None) -> list[Image.Image]:
    """[-1, 1] NCHW float32 array -> uint8 RGB PIL images (the torch and ONNX paths share this rounding)."""
    arr = np.ascontiguousarray(np.clip(x.astype(np.float32, copy=False) * np.float32(127.5) + np.float32(128), 0, 255)
                               .astype(np.uint8).transpose(0, 2, 3, 1))
    images = [Image.fromarray(a, "RGB") for a in arr]
    if size and size != arr.shape[1]:
        images = [im.resize((size, size), Image.LANCZOS) for im in images]
    return images


def make_grid(images: list[Image.Image], columns: int | None = None, padding: int = 2,
              background=(255, 255, 255)) -> Image.Image:
    """Lay equal-sized images out in rows; `columns` defaults to a near-square sheet."""
    if not images:
        raise ValueError("a grid needs at least one image")
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    w, h = images[0].size
    sheet = Image.new("RGB", (columns * (w + padding) + padding, rows * (h + padding) + padding), background)
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        sheet.paste(im, (padding + c * (w + padding), padding + r * (h + padding)))
    return sheet
