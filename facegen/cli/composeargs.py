"""What `facegen swap` and `facegen remaster` share: photo options, faces to touch, output checks."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..limits import BLENDS
from .generate import _bounded

MAX_PIXELS = 50_000_000
# data.faces.DEFAULT_MIN_FACE, not imported: that would load numpy for every command's --help.
DEFAULT_MIN_FACE = 32


def add_photo_arguments(p: argparse.ArgumentParser, blend: str) -> None:
    p.add_argument("--index", help="only these faces, largest first from 0 (e.g. 0 or 0,2); default: all")
    p.add_argument("--min-face", type=_bounded(int, 16, 4096, "--min-face"), default=DEFAULT_MIN_FACE,
                   help="skip faces framed by fewer photo pixels than this: the side of the square each face "
                        f"is aligned into, about 3.7 times its eye distance (default {DEFAULT_MIN_FACE})")
    p.add_argument("--blend", choices=BLENDS, default=blend,
                   help=f"feathered mask or Poisson (gradient-domain) blending inside the mask (default {blend})")
    p.add_argument("--max-pixels", type=_bounded(int, 1, 1_000_000_000, "--max-pixels"), default=MAX_PIXELS,
                   help=f"refuse larger images before decoding them (default {MAX_PIXELS:,})")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def parse_index(text: str | None) -> list[int] | None:
    from . import CLIError

    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"--index takes face numbers like 0 or 0,2, not {text!r}") from None
    if not values or min(values) < 0 or len(set(values)) != len(values):
        raise CLIError(f"--index takes distinct face numbers from 0, not {text!r}")
    return values


def png_output(path: str | Path, overwrite: bool) -> Path:
    """An output path checked before any work: PNG only, because JPEG would re-encode every pixel
    of the photo, not just the faces."""
    from . import CLIError
    from .faceargs import output_path

    path = Path(path)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        raise CLIError(f"{path}: output is PNG only; JPEG would change every pixel of the photo, "
                       "not just the faces")
    return output_path(path, overwrite, (".png",))
