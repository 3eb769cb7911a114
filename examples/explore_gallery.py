"""A gallery of the explore tools on one model: morph, breeding, style mixing, edits, unreal faces.

    python examples/explore_gallery.py                 # default model -> examples/explore_gallery.png
    python examples/explore_gallery.py --model my.safetensors --out gallery.png

Each row is made by the same Python API the `facegen` commands use.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from facegen import FaceGenerator
from facegen.explore import breed, compute, layer_groups, mixing_grid, morph, resolve_faces, transform
from facegen.explore.directions import edit
from facegen.imaging import make_grid
from facegen.provenance import save_image

LABEL_W = 150


def labelled(title: str, image: Image.Image) -> Image.Image:
    out = Image.new("RGB", (image.width + LABEL_W, image.height + 4), (255, 255, 255))
    out.paste(image, (LABEL_W, 2))
    ImageDraw.Draw(out).multiline_text((6, 6), title, fill=(0, 0, 0), font=ImageFont.load_default())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", default=str(Path(__file__).with_name("explore_gallery.png")))
    args = ap.parse_args()
    pipe = FaceGenerator.from_pretrained(args.model, precision="fp32")
    a, b, c = resolve_faces(["1", "2", "3"], pipe, truncation=0.7)
    style = pipe.config.architecture == "style"
    rows = [(f"morph 1 -> 2\n({'lerp in W' if style else 'slerp in Z'})", morph(pipe, [a, b], frames=8).images)]
    if style:
        kids = breed(pipe, [a, b], {"coarse": "A", "middle": "B", "fine": "A"}, children=1).ws
        mutants = breed(pipe, [a, b], children=5, mutation=0.3, seed=1).ws
        images = pipe.synthesize(kids) + pipe.synthesize(mutants)
        rows.append(("breed: A, B, child\ncoarse A middle B,\n5 random + mutation", pipe(seeds=[1, 2], truncation=0.7).images + images))
    else:
        rows.append(("breed (dcgan):\nZ crossover +\nmutation 0.3", pipe.synthesize(breed(pipe, [a, b], children=8, mutation=0.3, seed=1).ws)))
    d = compute(pipe, "sefa" if style else "ganspace", top=3)
    sheet, _ = edit(pipe, a, d, [0, 1, 2], [-3, -2, -1, 0, 1, 2, 3], d.layers)
    ex = [transform(pipe, a, exaggerate=e).image for e in (-1.0, 0.0, 0.5, 1.0, 1.5, 2.5, 4.0)]
    jit = [transform(pipe, a, style_jitter=1.0, seed=s).image for s in range(3)] if style else []
    rows.append(("exaggerate -1, 0,\n0.5, 1, 1.5, 2.5, 4;\nstyle jitter x3", ex + jit))
    width = max(len(r[1]) for r in rows)
    strips = [labelled(t, make_grid(ims, width)) for t, ims in rows]
    strips.insert(2, labelled(f"{d.method} directions\n0-2, strength -3..3", sheet))
    if style:
        grid, _ = mixing_grid(pipe, [a, b, c], resolve_faces(["4", "5", "6"], pipe, 0.7), layer_groups(pipe.config)["coarse"])
        strips.insert(2, labelled("style mixing:\nrows keep their\nmiddle + fine,\ncoarse from the top", grid))
    gallery = Image.new("RGB", (max(s.width for s in strips), sum(s.height for s in strips)), (255, 255, 255))
    y = 0
    for s in strips:
        gallery.paste(s, (0, y))
        y += s.height
    recipe = dict(pipe.recipe_base("const", None), kind="gallery", made_by="examples/explore_gallery.py")
    save_image(gallery, args.out, recipe, overwrite=True)
    print(args.out)


if __name__ == "__main__":
    main()
