"""`facegen export` and `facegen import`: models out to ONNX / Keras .h5, other GANs' generators in."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..limits import TRUNCATION_MAX, TRUNCATION_MIN
from ..models.file import BUNDLED_NAMES

FORMATS = ("onnx", "keras-h5")


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=f"model file or bundled name ({BUNDLED_NAMES})")
    p.add_argument("--format", choices=FORMATS, required=True,
                   help="onnx: z and truncation in, NCHW image out; keras-h5: dcgan models, for the classic script")
    p.add_argument("--out", required=True, help="file to write (.onnx, or .h5 for keras-h5)")
    p.add_argument("--truncation", type=float,
                   help="keras-h5 only: bake this truncation into the model (default 1; ONNX takes it as an input)")
    p.add_argument("--no-check", action="store_true", help="skip running the export against PyTorch")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")


def run_export(args) -> int:
    from ..models.base import Generator
    from . import CLIError

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise CLIError(f"{out}: already exists (use --overwrite)")
    if not out.parent.is_dir():
        raise CLIError(f"{out.parent}: no such folder")
    if args.truncation is not None and args.format != "keras-h5":
        raise CLIError("--truncation applies to keras-h5; an ONNX file takes truncation as an input when run")
    truncation = 1.0 if args.truncation is None else args.truncation
    if not TRUNCATION_MIN <= truncation <= TRUNCATION_MAX:
        raise CLIError(f"--truncation must be between {TRUNCATION_MIN:g} and {TRUNCATION_MAX:g}, got {truncation}")
    model = Generator.from_pretrained(args.model)
    try:
        if args.format == "onnx":
            from ..interop.onnx_export import export_onnx
            report = export_onnx(model, out, overwrite=args.overwrite, check=not args.no_check)
        else:
            from ..interop.keras_export import export_keras_h5
            report = export_keras_h5(model, out, truncation=truncation, overwrite=args.overwrite,
                                     check=not args.no_check)
    except ImportError as e:
        raise CLIError(f"--format {args.format}: {e}") from None
    print(json.dumps(report, indent=2))
    if "max_abs_diff" in report and not report["max_abs_diff"] < 1e-3:
        raise CLIError(f"{out}: the export differs from PyTorch by {report['max_abs_diff']:.3g} (written anyway)")
    return 0


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    from ..interop.importers import SOURCES

    p.add_argument("checkpoint", help="the generator checkpoint to convert")
    p.add_argument("--from", dest="source", choices=list(SOURCES), required=True,
                   help="; ".join(f"{k}: {v}" for k, v in SOURCES.items()))
    p.add_argument("--out", required=True, help="facegen model file to write (.safetensors)")
    p.add_argument("--name", help="model name stored in its config (default: the checkpoint's file name)")
    p.add_argument("--latent-distribution", choices=("normal", "uniform01"),
                   help="the noise the source was trained on (default: normal for PyTorch, uniform01 for "
                        "Keras, as the classic script feeds np.random.rand)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")


def run_import(args) -> int:
    from ..interop.importers import import_checkpoint
    from . import CLIError

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise CLIError(f"{out}: a facegen model file ends in .safetensors")
    if out.exists() and not args.overwrite:
        raise CLIError(f"{out}: already exists (use --overwrite)")
    try:
        report = import_checkpoint(args.checkpoint, args.source, out, overwrite=args.overwrite,
                                   name=args.name, latent_distribution=args.latent_distribution)
    except ImportError as e:
        raise CLIError(f"--from {args.source}: {e}") from None
    print(json.dumps(report, indent=2))
    return 0
