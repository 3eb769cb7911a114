"""`facegen generate`: seeds -> image files (and a contact sheet)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..limits import MAX_FACES, MAX_SEED, MAX_SIZE, MIN_SIZE, TRUNCATION_MAX, TRUNCATION_MIN
from ..models.file import BUNDLED_NAMES


def parse_seeds(text: str) -> list[int]:
    """'1,2,10-13' -> [1, 2, 10, 11, 12, 13]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must look like 1,2,10-13, got {text!r}") from None
    if not seeds or len(seeds) > MAX_FACES or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"give 1 to {MAX_FACES} non-negative seeds")
    return seeds


def _bounded(kind, lo, hi, name):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{name} must be between {lo} and {hi}, got {text}")
        return value
    return parse


def add_generate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", type=_bounded(int, 1, MAX_FACES, "-n"), default=1, help="how many faces (default 1)")
    p.add_argument("--seed", type=_bounded(int, 0, MAX_SEED, "--seed"), help="first seed (default: random)")
    p.add_argument("--seeds", type=parse_seeds, help="explicit seeds, e.g. 1,2,10-13 (overrides -n/--seed)")
    p.add_argument("--truncation", type=_bounded(float, TRUNCATION_MIN, TRUNCATION_MAX, "--truncation"), default=1.0,
                   help="pull toward the average face: 0.5-0.8 safer faces, 1 full variety, >1 stranger")
    p.add_argument("--out", default="faces", help="output folder (default: faces/)")
    p.add_argument("--grid", action="store_true", help="also write a contact sheet of all faces")
    p.add_argument("--format", choices=("png", "jpg"), default="png")
    p.add_argument("--quality", type=_bounded(int, 1, 100, "--quality"), default=95, help="JPEG quality")
    p.add_argument("--size", type=_bounded(int, MIN_SIZE, MAX_SIZE, "--size"), help="resize faces to N x N pixels")
    p.add_argument("--model", default="default", help=f"model file or bundled name ({BUNDLED_NAMES})")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto",
                   help="onnx: ONNX Runtime without torch (pip install 'facegen[onnx]'; fp32), making the "
                        "model's ONNX twin on first use; torch: PyTorch; auto (default): onnx when the "
                        "model has a twin and ONNX Runtime is installed, else torch")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")


def check_output_dir(out: Path):
    from . import CLIError

    if out.exists() and not out.is_dir():
        raise CLIError(f"{out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"{out}: cannot create the output folder ({e.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise CLIError(f"{out}: the output folder is not writable")


def face_maker(model: str, precision: str, backend: str):
    """What turns seeds into faces for these options: the torch-free ONNX path when it can, else
    the PyTorch pipeline (imported only then: it alone costs more than the whole ONNX path)."""
    from . import CLIError

    if backend == "onnx" and precision == "bf16":
        raise CLIError("--backend onnx runs in fp32; drop --precision bf16")
    if backend == "onnx" or (backend == "auto" and precision != "bf16"):
        from ..onnx_faces import NoTwin, OnnxFaces

        try:
            return OnnxFaces.from_pretrained(model, make_twin=backend == "onnx")
        except ImportError as e:
            if backend == "onnx":
                raise CLIError(f"--backend onnx: {e}") from None
        except NoTwin:
            pass  # auto: no twin yet; onnx: latents only torch draws, so torch maps them
    from ..pipeline import FaceGenerator

    try:
        return FaceGenerator.from_pretrained(model, precision=precision, backend="torch" if backend == "auto" else backend)
    except ImportError as e:
        raise CLIError(f"--backend {backend}: {e}") from None


def run_generate(args) -> int:
    from ..provenance import save_image
    from . import CLIError

    out = Path(args.out)
    check_output_dir(out)
    pipe = face_maker(args.model, args.precision, getattr(args, "backend", "auto"))
    result = pipe(n=args.n, seed=args.seed, seeds=args.seeds, truncation=args.truncation, size=args.size)
    ext = args.format
    paths = [out / f"seed{s:06d}.{ext}" for s in result.seeds]
    grid_path = out / f"grid_seeds{result.seeds[0]}-{result.seeds[-1]}.{ext}" if args.grid else None
    targets = paths + ([grid_path] if grid_path else [])
    existing = [str(p) for p in targets if p.exists()]
    if existing and not args.overwrite:
        raise CLIError(f"would overwrite {len(existing)} file(s), e.g. {existing[0]} (use --overwrite)")
    for image, recipe, path in zip(result.images, result.recipes, paths):
        save_image(image, path, recipe, ext, args.quality, overwrite=args.overwrite)
        print(path)
    if grid_path:
        from ..imaging import make_grid

        grid = make_grid(result.images)
        recipe = dict(result.recipes[0], kind="grid", seeds=result.seeds, columns=None)
        recipe.pop("seed")
        save_image(grid, grid_path, recipe, ext, args.quality, overwrite=args.overwrite)
        print(grid_path)
    return 0
