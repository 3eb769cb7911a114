"""invert, remaster and swap on a real photograph, as one sheet.

    python examples/photos_sheet.py              # default model -> examples/photos_sheet.png

The photo is tests/data/astronaut.jpg (NASA, public domain). CelebA's photos are not
used: its licence forbids publishing any part of the dataset. The 'old artwork' is
that photo aged here: sepia, blurred, shrunk, grainy and scratched.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from facegen import FaceGenerator
from facegen.compose import find_faces, remaster, swap_faces
from facegen.compose.align import crop_face
from facegen.data.images import read_image
from facegen.explore.faces import face_from_seed
from facegen.inversion import invert_crop
from facegen.provenance import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, save_image

PHOTO = Path(__file__).resolve().parent.parent / "tests" / "data" / "astronaut.jpg"
TILE = 200
LABEL_W = 120


def damaged(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    """An old print: sepia, soft, low resolution, film grain and a few scratches."""
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rgb).convert("L").filter(ImageFilter.GaussianBlur(1.2))
    small = im.resize((im.width // 2, im.height // 2), Image.BILINEAR).resize(im.size, Image.BILINEAR)
    lum = np.asarray(small, np.float32) / 255
    lum = np.clip(0.15 + 0.75 * lum + rng.normal(0, 0.05, lum.shape), 0, 1)
    art = Image.fromarray((lum[..., None] * np.array([255, 222, 170])).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(art)
    for _ in range(7):
        x = rng.uniform(0, art.width)
        draw.line([(x, 0), (x + rng.uniform(-30, 30), art.height)], fill=(236, 226, 205), width=1)
    return np.asarray(art)


def tile(image, caption: str) -> Image.Image:
    image = image if isinstance(image, Image.Image) else Image.fromarray(image)
    out = Image.new("RGB", (TILE, TILE + 16), (255, 255, 255))
    out.paste(image.convert("RGB").resize((TILE, TILE), Image.LANCZOS), (0, 16))
    ImageDraw.Draw(out).text((2, 2), caption, fill=(0, 0, 0), font=ImageFont.load_default())
    return out


def row(title: str, tiles: list[Image.Image], columns: int) -> Image.Image:
    out = Image.new("RGB", (LABEL_W + columns * (TILE + 6), TILE + 22), (255, 255, 255))
    ImageDraw.Draw(out).multiline_text((6, 20), title, fill=(0, 0, 0), font=ImageFont.load_default())
    for i, t in enumerate(tiles):
        out.paste(t, (LABEL_W + i * (TILE + 6), 3))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--out", default=str(Path(__file__).with_name("photos_sheet.png")))
    args = ap.parse_args()
    pipe = FaceGenerator.from_pretrained(args.model, precision="fp32")
    photo = read_image(PHOTO)
    face = find_faces(photo, PHOTO.name)[0]
    crop = crop_face(photo, face, 128)
    inv = invert_crop(pipe, crop, steps=args.steps)
    art = damaged(photo)
    plain = remaster(pipe, art, "aged", steps=args.steps)
    toned = remaster(pipe, art, "aged", steps=args.steps, palette=True, truncation=0.8)
    a, b = face_from_seed(pipe, 7, 0.7), face_from_seed(pipe, 21, 0.7)
    tilted = np.asarray(Image.fromarray(photo).rotate(12, Image.BICUBIC, fillcolor=(200, 195, 190)))
    rows = [
        ("invert\n(facegen invert)", [tile(photo, "photo"), tile(crop, "framed as the model's"),
                                      tile(inv.image, f"inverted, PSNR {inv.psnr:.1f} dB")]),
        ("remaster\n(facegen remaster)", [tile(art, "aged print (made here)"),
                                          tile(plain.image, "remastered (default)"),
                                          tile(toned.image, "--palette --truncation 0.8")]),
        ("swap\n(facegen swap)", [
            tile(swap_faces(pipe, photo, [a]).image, "--face 7 (Poisson blend)"),
            tile(swap_faces(pipe, photo, [b], blend="feather").image, "--face 21 --blend feather"),
            tile(swap_faces(pipe, tilted, [a]).image, "tilted photo, --face 7")]),
    ]
    sheet = Image.new("RGB", (LABEL_W + 3 * (TILE + 6), len(rows) * (TILE + 22)), (255, 255, 255))
    for i, (title, tiles) in enumerate(rows):
        sheet.paste(row(title, tiles, 3), (0, i * (TILE + 22)))
    recipe = dict(pipe.recipe_base("const", None), kind="example-sheet", op="photos_sheet",
                  photo=PHOTO.name, steps=args.steps, seeds=[7, 21])
    save_image(sheet, args.out, recipe, overwrite=True, source_type=COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA)
    print(args.out)


if __name__ == "__main__":
    main()
