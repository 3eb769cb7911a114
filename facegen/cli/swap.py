"""`facegen swap`: the faces in a photo replaced with faces that do not exist."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..limits import SWAP_BLEND
from .composeargs import add_photo_arguments, parse_index, png_output
from .faceargs import FACE_HELP, add_model_arguments


def add_swap_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("photo", metavar="PHOTO", help="the photo (JPEG, PNG, WebP, BMP, TIFF)")
    p.add_argument("--face", nargs="+", required=True, metavar="FACE",
                   help=f"the new face, or one per replaced face in order: {FACE_HELP}. Never a latent "
                        "inverted from a real person's photo (see the README's swap rule)")
    p.add_argument("--colour", choices=("lab", "lightness", "none"), default="lab",
                   help="match the new face to the old one's colour and light (lab, default), "
                        "its light only, or not at all")
    p.add_argument("--out", help="output PNG (default: PHOTO's name + _swapped.png, in the current folder)")
    add_photo_arguments(p, blend=SWAP_BLEND)
    add_model_arguments(p)


def run_swap(args) -> int:
    from ..compose import ComposeError, swap_faces
    from ..compose.output import save_composites, source_record
    from ..data.images import read_photo
    from ..explore.faces import expand_refs
    from . import CLIError
    from .faceargs import faces, load_pipe, print_notes

    out = png_output(args.out or f"{Path(args.photo).stem}_swapped.png", args.overwrite)
    index = parse_index(args.index)
    photo, read_notes = read_photo(args.photo, args.max_pixels)
    pipe = load_pipe(args)
    refs = expand_refs(args.face)
    sources = faces(args, pipe, refs)
    try:
        result = swap_faces(pipe, photo, sources, source_name=args.photo, index=index, min_face=args.min_face,
                            blend=args.blend, colour=args.colour, refs=refs, progress=True)
    except ComposeError as e:
        raise CLIError(str(e)) from None
    recipe = dict(result.recipe, photo=source_record(args.photo, photo.shape), sources=refs)
    print_notes(read_notes + result.notes)
    save_composites([(result.image, out, recipe)], args.overwrite)
    print(f"{out}  ({len(result.faces)} face{'s' if len(result.faces) != 1 else ''} replaced; labelled as a "
          "composite with AI-generated content)")
    return 0
