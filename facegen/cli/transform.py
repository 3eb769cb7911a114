"""`facegen transform` (faces made unreal) and `facegen latent` (a face's latent, saved to a file)."""
from __future__ import annotations

import argparse

from ..limits import MAX_EDIT_STRENGTH, MAX_SEED, TRANSFORM_LIMITS
from .faceargs import (FACE_HELP, add_model_arguments, add_output_arguments, faces, load_pipe, output_path,
                       print_notes)
from .generate import _bounded


def limit(name: str, flag: str, low: float | None = None):
    """A parser for TRANSFORM_LIMITS[name]: ±the limit, or from `low` to it."""
    top = TRANSFORM_LIMITS[name]
    return _bounded(float, -top if low is None else low, top, flag)


def add_transform_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("face", metavar="FACE", help=FACE_HELP)
    p.add_argument("--exaggerate", type=limit("exaggerate", "--exaggerate"), default=1.0,
                   help="push the face away from the average face: 1 unchanged, 2.5 a caricature, "
                        f"negative the anti-face (±{TRANSFORM_LIMITS['exaggerate']:g})")
    p.add_argument("--truncation", type=limit("truncation", "--truncation"), default=None,
                   help="re-map a seed face with this truncation; above 1 is beyond the training range "
                        f"(±{TRANSFORM_LIMITS['truncation']:g})")
    p.add_argument("--direction", help="also move along this edit direction (number, or name: smile, age, ...)")
    p.add_argument("--strength", type=limit("strength", "--strength"), default=0.0,
                   help="how far along --direction, in standard deviations "
                        f"(±{TRANSFORM_LIMITS['strength']:g}; edit stops at ±{MAX_EDIT_STRENGTH:g})")
    p.add_argument("--directions", metavar="FILE", help="directions file (default: the model's)")
    p.add_argument("--style-jitter", type=limit("style_jitter", "--style-jitter", 0.0), default=0.0,
                   help="random per-layer style noise, in standard deviations of W "
                        f"(0-{TRANSFORM_LIMITS['style_jitter']:g})")
    p.add_argument("--noise-scale", type=limit("noise_scale", "--noise-scale", 0.0), default=1.0,
                   help="multiply the per-pixel noise inputs (texture, hair, skin) by this "
                        f"(0-{TRANSFORM_LIMITS['noise_scale']:g}; style only)")
    p.add_argument("--layers", help="apply only to coarse, middle, fine (comma-separated) or rows like 0-3")
    p.add_argument("--seed", type=_bounded(int, 0, MAX_SEED, "--seed"), default=0, help="seed for --style-jitter")
    add_output_arguments(p, "transformed.png", "the image (PNG)")
    add_model_arguments(p, truncation=False)


def run_transform(args) -> int:
    from ..explore.layers import parse_layers
    from ..explore.named import model_directions
    from ..explore.recipes import save_output
    from ..explore.transform import transform
    from . import CLIError

    out = output_path(args.out, args.overwrite, (".png",))
    pipe = load_pipe(args)
    try:
        layers = parse_layers(args.layers, pipe.config) if args.layers else None
        direction = None
        if args.direction is not None:
            d = model_directions(pipe, args.model, args.directions)
            k = d.index(args.direction)
            # Without --layers, a named direction makes its own move (a w+ step on its rows).
            vector = d.vectors[k] if layers is not None else d.row_vector(k, pipe.config.num_ws)
            direction = (vector, float(d.scales[k]))
        elif args.strength:
            raise CLIError("--strength needs --direction")
        # Seeds resolve untruncated here: --truncation is the transform's own.
        face = faces(args, pipe, [args.face], truncation=1.0)[0]
        result = transform(pipe, face, args.exaggerate, args.truncation, direction, args.strength,
                           args.style_jitter, args.noise_scale, layers, args.seed, args.size)
    except (ValueError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    print_notes(result.notes)
    save_output(result.image, out, result.recipe, args.overwrite)
    print(f"{out}  ({face.label})")
    return 0


def add_latent_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("face", metavar="FACE", help=FACE_HELP)
    p.add_argument("--out", required=True, help="the latent file: .npz (w, z and metadata) or .npy (w, with a .json beside it)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    add_model_arguments(p)


def run_latent(args) -> int:
    from ..explore.faces import save_latent
    from . import CLIError

    out = output_path(args.out, args.overwrite, (".npz", ".npy"))
    pipe = load_pipe(args)
    face = faces(args, pipe, [args.face])[0]
    try:
        save_latent(out, face, pipe, args.overwrite)
    except ValueError as e:
        raise CLIError(str(e)) from None
    shape = "x".join(str(s) for s in face.w.shape)
    print(f"{out}  ({face.label}: w {shape}{', z' if face.z is not None else ''})")
    return 0
