"""`facegen directions` (find and save them; --named: smile, age, ... with the attribute classifier),
`facegen name-direction`, and `facegen edit`."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..limits import MAX_SIZE, MIN_SIZE, TRUNCATION_MAX, TRUNCATION_MIN
from .faceargs import FACE_HELP, allow_negative_ranges, add_model_arguments, add_output_arguments, faces, load_pipe, output_path
from .generate import _bounded


OWN = "own"  # explore.directions.OWN: each direction on its own layer rows


def _directions_file(args, model: str):
    from ..explore.directions import directions_path

    return Path(args.directions) if args.directions else directions_path(model)


def add_directions_arguments(p: argparse.ArgumentParser) -> None:
    allow_negative_ranges(p)
    p.add_argument("model", nargs="?", default="default", help="model file or bundled name (default: default)")
    p.add_argument("--method", choices=("sefa", "ganspace"), help="sefa (style only; instant) or ganspace (PCA of "
                   "sampled W, or of dcgan's first layer); default sefa for style, ganspace for dcgan")
    p.add_argument("--layers", default="all", help="SeFa: factorise only these layers (coarse, middle, fine, all)")
    p.add_argument("--top", type=_bounded(int, 1, 512, "--top"), default=64, help="how many directions to keep")
    p.add_argument("--directions", metavar="FILE", help="the directions file (default: MODEL.directions.safetensors "
                   "beside the model; for bundled models in ~/.local/share/facegen)")
    p.add_argument("--sheet", nargs="?", const="directions_sheet.png", metavar="PNG",
                   help="write a sheet of the top directions: rows = directions, columns = strengths")
    p.add_argument("--sheet-top", type=_bounded(int, 1, 32, "--sheet-top"), default=8, help="rows on the sheet")
    p.add_argument("--face", default="0", help=f"the face the sheet edits (default seed 0): {FACE_HELP}")
    p.add_argument("--strength", default="-3..3", help="strengths across the sheet (default -3..3)")
    p.add_argument("--steps", type=_bounded(int, 1, 64, "--steps"), default=7, help="columns on the sheet")
    p.add_argument("--size", type=_bounded(int, MIN_SIZE, MAX_SIZE, "--size"), help="resize faces to N x N pixels")
    p.add_argument("--overwrite", action="store_true", help="recompute and replace the directions file (keeps names "
                   "when the method and layers are the same) and the sheet")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    p.add_argument("--truncation", type=_bounded(float, TRUNCATION_MIN, TRUNCATION_MAX, "--truncation"), default=1.0)
    p.add_argument("--any-model", action="store_true", help=argparse.SUPPRESS)
    g = p.add_argument_group("named directions (--named)")
    g.add_argument("--named", action="store_true", help="find named directions (smile, age, glasses, ...) with the "
                   "attribute classifier, and save them as MODEL.named.safetensors (for bundled models in "
                   "~/.local/share/facegen; --directions FILE for another place); the unlabelled ones stay")
    g.add_argument("--samples", type=_bounded(int, 200, 100_000, "--samples"), default=6000,
                   help="generated faces the classifier labels to fit the boundaries (default 6000)")
    g.add_argument("--attributes", help="comma-separated names to look for (default: all the classifier knows)")
    g.add_argument("--classifier", metavar="FILE", help="attribute classifier (default: the one shipped)")


def run_named(args) -> int:
    from ..attributes import NAMED, load_classifier
    from ..explore.directions import edit, parse_strengths, save_directions
    from ..explore.named import compute_named, named_write_path
    from ..explore.recipes import save_output
    from . import CLIError

    path = Path(args.directions) if args.directions else named_write_path(args.model)
    names = [n.strip() for n in args.attributes.split(",") if n.strip()] if args.attributes else None
    unknown = [n for n in names or [] if n not in NAMED]
    if unknown:
        raise CLIError(f"unknown attribute {unknown[0]!r}: the classifier knows {', '.join(NAMED)}")
    sheet = output_path(args.sheet, args.overwrite, (".png",)) if args.sheet else None
    if path.exists() and not args.overwrite:
        raise CLIError(f"{path}: exists; pass --overwrite to recompute it")
    pipe = load_pipe(args)
    try:
        strengths = parse_strengths(args.strength, args.steps) if sheet else None
        d = compute_named(pipe, load_classifier(args.classifier), args.samples, names=names)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_directions(d, path, overwrite=True)
        print(f"{path}: {len(d.vectors)} named directions: {', '.join(d.names.values())}")
        if sheet:
            face = faces(args, pipe, [args.face])[0]
            image, recipe = edit(pipe, face, d, list(d.names.values()), strengths, OWN, args.size, labels=True)
            save_output(image, sheet, recipe, args.overwrite)
            print(f"{sheet}  (rows: named directions; columns: strength {strengths[0]:g} to {strengths[-1]:g})")
    except (ValueError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    return 0


def run_directions(args) -> int:
    if args.named:
        return run_named(args)
    from ..explore.directions import compute, edit, load_directions, parse_strengths, save_directions
    from ..explore.layers import parse_layers
    from ..explore.recipes import save_output
    from . import CLIError

    path = _directions_file(args, args.model)
    sheet = output_path(args.sheet, args.overwrite, (".png",)) if args.sheet else None
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    pipe = load_pipe(args)
    method = args.method or ("sefa" if pipe.config.architecture == "style" else "ganspace")
    try:
        layers = parse_layers(args.layers, pipe.config)
        strengths = parse_strengths(args.strength, args.steps) if sheet else None
        old = load_directions(path, pipe) if path.exists() else None
        if old is not None and not args.overwrite:
            if (args.method and old.method != method) or (args.layers != "all" and old.layers != layers):
                raise CLIError(f"{path}: holds {old.method} directions (layers {old.layers or 'all'}); pass "
                               "--overwrite to replace them, or --directions for another file")
            d = old
            print(f"{path}: using the saved {d.method} directions ({len(d.vectors)}; --overwrite recomputes)")
        else:
            d = compute(pipe, method, layers, args.top)
            if old is not None and old.method == d.method and old.layers == d.layers:
                d.names = {k: v for k, v in old.names.items() if int(k) < len(d.vectors)}
            save_directions(d, path, overwrite=True)
            print(f"{path}: {len(d.vectors)} {d.method} directions in {d.space.upper()}"
                  f"{f' from layers {layers}' if layers else ''}")
        top = ", ".join(f"{d.label(k)} ({float(d.values[k]):.3g})" for k in range(min(8, len(d.vectors))))
        print(f"strongest: {top}")
        if sheet:
            face = faces(args, pipe, [args.face])[0]
            k = min(args.sheet_top, len(d.vectors))
            image, recipe = edit(pipe, face, d, list(range(k)), strengths, d.layers, args.size, labels=True)
            save_output(image, sheet, recipe, args.overwrite)
            print(f"{sheet}  (rows: directions 0-{k - 1}; columns: strength {strengths[0]:g} to {strengths[-1]:g}; "
                  f"name them with `facegen name-direction {args.model} N NAME`)")
    except (ValueError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    return 0


def add_name_direction_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file or bundled name")
    p.add_argument("index", type=_bounded(int, 0, 4095, "index"), help="direction number (0 = strongest)")
    p.add_argument("name", help="a name like smile, age, pose ('' removes it)")
    p.add_argument("--directions", metavar="FILE", help="the directions file (default: beside the model)")


def run_name_direction(args) -> int:
    import re

    from ..explore.directions import load_directions, save_directions
    from . import CLIError

    path = _directions_file(args, args.model)
    name = args.name.strip()
    if name and not re.fullmatch(r"[A-Za-z][\w\- ]{0,39}", name):
        raise CLIError(f"name {name!r}: use up to 40 letters, digits, spaces, - or _, starting with a letter")
    try:
        d = load_directions(path)
    except (ValueError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    if args.index >= len(d.vectors):
        raise CLIError(f"{path}: has directions 0..{len(d.vectors) - 1}, not {args.index}")
    clash = [k for k, v in d.names.items() if v.lower() == name.lower() and int(k) != args.index]
    if name and clash:
        raise CLIError(f"{path}: direction {clash[0]} is already named {name!r}")
    if name:
        d.names[str(args.index)] = name
    else:
        d.names.pop(str(args.index), None)
    save_directions(d, path, overwrite=True)
    print(f"{path}: direction {args.index} " + (f"is now {name!r}" if name else "has no name"))
    return 0


def add_edit_arguments(p: argparse.ArgumentParser) -> None:
    allow_negative_ranges(p)
    p.add_argument("face", metavar="FACE", help=FACE_HELP)
    p.add_argument("--direction", required=True, action="append",
                   help="direction number (0 = strongest) or name; repeat for a sheet with one row each")
    p.add_argument("--strength", default="-3..3", help="e.g. -4..4 (with --steps), 2, or -2,0,2; in standard "
                   "deviations of random faces along the direction, at most ±10 (default -3..3)")
    p.add_argument("--steps", type=_bounded(int, 1, 64, "--steps"), default=7, help="strengths in a range (default 7)")
    p.add_argument("--layers", help="coarse, middle, fine, all, or rows like 0-3 (default: each direction's own: "
                   "the layers it was found on)")
    p.add_argument("--directions", metavar="FILE", help="directions file (default: the model's unlabelled ones, "
                   "numbered, then its named ones)")
    add_output_arguments(p, "edit.png", "the strip (PNG)")
    add_model_arguments(p)


def run_edit(args) -> int:
    from ..explore.directions import edit, parse_strengths
    from ..explore.layers import parse_layers
    from ..explore.named import model_directions
    from ..explore.recipes import save_output
    from . import CLIError

    out = output_path(args.out, args.overwrite, (".png",))
    try:
        strengths = parse_strengths(args.strength, args.steps)
        pipe = load_pipe(args)
        d = model_directions(pipe, args.model, args.directions)
        layers = parse_layers(args.layers, pipe.config) if args.layers else OWN
        face = faces(args, pipe, [args.face])[0]
        image, recipe = edit(pipe, face, d, args.direction, strengths, layers, args.size,
                             labels=len(args.direction) > 1)
    except (ValueError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    save_output(image, out, recipe, args.overwrite)
    names = ", ".join(d.label(d.index(r)) for r in args.direction)
    print(f"{out}  ({face.label}; direction {names}; strengths {', '.join(f'{s:g}' for s in strengths)})")
    return 0
