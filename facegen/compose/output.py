"""What swap and remaster write: composites labelled as such, with a recipe to re-make them."""
from __future__ import annotations

import contextlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..atomic import atomic_path
from ..data.images import file_sha256
from ..provenance import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, encode_image


def source_record(path: str | Path | None, shape) -> dict:
    """The input photo as a recipe names it: file name, SHA-256 and the decoded size."""
    record = {"width": int(shape[1]), "height": int(shape[0])}
    if path is not None:
        record.update(file=Path(path).name, sha256=file_sha256(path))
    return record


def save_composites(items: list[tuple[Image.Image, Path, dict]], overwrite: bool = False) -> list[Path]:
    """Write every (image, path, recipe) as PNG labelled compositeWithTrainedAlgorithmicMedia,
    all or none: each goes to a temporary file first and all are renamed at the end."""
    data = [(p, encode_image(im, dict(r, format="png", quality=None), "png",
                             source_type=COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA)) for im, p, r in items]
    with contextlib.ExitStack() as stack:
        for path, blob in data:
            stack.enter_context(atomic_path(path, overwrite=overwrite)).write_bytes(blob)
    return [p for p, _ in data]


def before_after(before: Image.Image, after: Image.Image, height: int = 512) -> Image.Image:
    """The two side by side at one height (at most the original's), labelled."""
    h = min(height, before.height)
    w = max(1, round(before.width * h / before.height))
    pad, label = 6, 16
    sheet = Image.new("RGB", (2 * w + 3 * pad, h + label + 2 * pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, (im, text) in enumerate(((before, "before"), (after, "after (AI-regenerated faces)"))):
        x = pad + i * (w + pad)
        sheet.paste(im.convert("RGB").resize((w, h), Image.LANCZOS), (x, pad + label))
        draw.text((x, pad), text, fill=(0, 0, 0), font=font)
    return sheet
