"""`facegen remaster`: the faces of an old photo or painting regenerated clean."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..limits import REMASTER_BLEND
from .composeargs import add_photo_arguments, parse_index, png_output
from .faceargs import add_model_arguments
from .generate import _bounded


def add_remaster_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artwork", metavar="ARTWORK", help="the photo or painting (JPEG, PNG, WebP, BMP, TIFF)")
    p.add_argument("--steps", type=_bounded(int, 1, 5000, "--steps"), default=200,
                   help="inversion steps per face (default 200, a few seconds a face)")
    p.add_argument("--truncation", type=_bounded(float, 0.0, 1.0, "--truncation"), default=1.0,
                   help="pull each face toward the model's average face: 1 keeps it (default), 0.7 cleaner")
    p.add_argument("--edit", metavar="DIRECTION:AMOUNT",
                   help="move each face along an edit direction (number or name), AMOUNT standard deviations")
    p.add_argument("--directions", metavar="FILE", help="directions file for --edit (default: the model's)")
    p.add_argument("--palette", action="store_true",
                   help="map the new faces to the artwork's colours (sepia stays sepia); default: light only")
    p.add_argument("--colour", action="store_true", help="keep the new faces in colour on a greyscale artwork")
    p.add_argument("--seed", type=_bounded(int, 0, 2**31 - 1, "--seed"), default=0, help="inversion seed")
    p.add_argument("--out-dir", default=".",
                   help="where NAME_remastered.png and NAME_before_after.png go (made, with its parents, if missing)")
    add_photo_arguments(p, blend=REMASTER_BLEND)
    add_model_arguments(p, truncation=False)


def parse_edit(text: str, args, pipe):
    from ..explore.named import model_directions
    from . import CLIError

    name, sep, amount = text.rpartition(":")
    try:
        strength = float(amount)
    except ValueError:
        strength = None
    if not sep or not name or strength is None:
        raise CLIError(f"--edit takes DIRECTION:AMOUNT, like smile:1.5 or 0:-2, not {text!r}")
    try:
        d = model_directions(pipe, args.model, args.directions)
        k = d.index(name)
    except (ValueError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    num_ws = pipe.config.num_ws if pipe.config.architecture == "style" else 0
    return d.row_vector(k, num_ws), float(d.scales[k]), strength, None  # its own move: rows, or one per row


def check_new_folder(out_dir: Path) -> None:
    """--out-dir is a folder, or can be made one (with its parents): checked before any work, made
    only once there is something to write, so a refused photo leaves no empty folder behind."""
    import os

    from . import CLIError

    if out_dir.exists() and not out_dir.is_dir():
        raise CLIError(f"{out_dir}: exists and is not a folder")
    base = out_dir.absolute()
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise CLIError(f"{out_dir}: cannot create the output folder ({base} is not a folder)")
    if not os.access(base, os.W_OK | os.X_OK):
        raise CLIError(f"{out_dir}: cannot write in {base}")


def run_remaster(args) -> int:
    from ..compose import ComposeError, remaster
    from ..compose.output import save_composites, source_record
    from ..data.images import read_photo
    from . import CLIError
    from .faceargs import load_pipe, print_notes

    out_dir = Path(args.out_dir)
    check_new_folder(out_dir)
    stem = Path(args.artwork).stem
    out, sheet = out_dir / f"{stem}_remastered.png", out_dir / f"{stem}_before_after.png"
    if out_dir.is_dir():  # a folder made below holds nothing yet
        out, sheet = png_output(out, args.overwrite), png_output(sheet, args.overwrite)
    index = parse_index(args.index)
    rgb, read_notes = read_photo(args.artwork, args.max_pixels)
    pipe = load_pipe(args)
    edit = parse_edit(args.edit, args, pipe) if args.edit else None
    try:
        result = remaster(pipe, rgb, source_name=args.artwork, steps=args.steps, truncation=args.truncation,
                          edit=edit, palette=args.palette, colour=args.colour, blend=args.blend,
                          min_face=args.min_face, index=index, seed=args.seed, progress=True)
    except ComposeError as e:
        raise CLIError(str(e)) from None
    recipe = dict(result.recipe, photo=source_record(args.artwork, rgb.shape), edit_spec=args.edit)
    print_notes(read_notes + result.notes)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"{out_dir}: cannot create the output folder ({e.strerror})") from None
    save_composites([(result.image, out, recipe),
                     (result.before_after, sheet, dict(recipe, sheet="before_after"))], args.overwrite)
    print(f"{out}  ({len(result.faces)} face{'s' if len(result.faces) != 1 else ''} remastered)\n{sheet}")
    return 0
