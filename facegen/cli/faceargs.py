"""What the explore commands share: the model options, face references, and safe output paths."""
from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path

from ..limits import MAX_SIZE, MIN_SIZE, TRUNCATION_MAX, TRUNCATION_MIN
from ..models.file import BUNDLED_NAMES
from .generate import _bounded

FACE_HELP = "a seed (42 or seed:42), 'avg', a latent file (.npz/.npy; z:FILE or w:FILE) or an image facegen made"


def allow_negative_ranges(p: argparse.ArgumentParser) -> None:
    """Let `--strength -4..4` parse: argparse takes anything starting with '-' for an option
    unless it looks like a negative number, and '-4..4' does not."""
    p._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-[\d.]+\.\.-?[\d.]+$|^-[\d.]+(,-?[\d.]+)+$")


def add_model_arguments(p: argparse.ArgumentParser, truncation: bool = True) -> None:
    p.add_argument("--model", default="default", help=f"model file or bundled name ({BUNDLED_NAMES})")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    if truncation:
        p.add_argument("--truncation", type=_bounded(float, TRUNCATION_MIN, TRUNCATION_MAX, "--truncation"), default=1.0,
                       help="truncation for faces given as seeds (default 1)")
    p.add_argument("--any-model", action="store_true",
                   help="use latents and images made with another model anyway (they mean other faces here)")


def add_output_arguments(p: argparse.ArgumentParser, default: str | None, what: str) -> None:
    p.add_argument("--out", default=default, required=default is None, help=f"{what} (default: {default})")
    p.add_argument("--size", type=_bounded(int, MIN_SIZE, MAX_SIZE, "--size"), help="resize faces to N x N pixels")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")


def load_pipe(args):
    from ..pipeline import FaceGenerator

    return FaceGenerator.from_pretrained(args.model, precision=args.precision)


def faces(args, pipe, refs: list[str], truncation: float | None = None):
    """Face references -> Face objects; a bad one is a one-line CLI error naming it."""
    from ..explore.faces import FaceRefError, expand_refs, resolve_face
    from . import CLIError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if truncation is None:
                truncation = getattr(args, "truncation", 1.0)
            out = [resolve_face(r, pipe, truncation, args.any_model) for r in expand_refs(refs)]
        for w in caught:
            print(f"warning: {w.message}")
        return out
    except FaceRefError as e:
        raise CLIError(str(e)) from None


def output_path(path: str | Path, overwrite: bool, suffixes: tuple[str, ...] | None = None) -> Path:
    """Check an output file before any work is done: its folder exists, it is free, its type is known."""
    from . import CLIError

    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise CLIError(f"{path}: output must end in {', '.join(suffixes)}")
    if not path.parent.is_dir():
        raise CLIError(f"{path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise CLIError(f"{path}: is a folder; give a file name")
    if path.exists() and not overwrite:
        raise CLIError(f"{path}: already exists (use --overwrite)")
    return path


def print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"note: {note}")
