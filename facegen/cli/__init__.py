"""The `facegen` command: one subcommand per task, each a thin shell over the Python API.

Subcommand modules import torch only inside `run`, so `facegen --help` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

# name -> module under facegen.cli; each defines add_arguments(parser) and run(args).
COMMANDS = {
    "generate": ("generate", "make faces from seeds"),
    "info": ("inspect", "print the metadata of an image or the config of a model"),
    "prepare": ("prepare", "turn a folder of photos into a dataset of aligned face crops"),
    "reproduce": ("inspect", "re-make an image from its metadata and check it is identical"),
    "latent": ("transform", "save a face's latent (from a seed, latent file or image) to .npz/.npy"),
    "morph": ("morph", "a smooth video (GIF/MP4) through two or more faces"),
    "breed": ("breed", "children of faces, choosing which layers come from which parent"),
    "mix": ("breed", "a style-mixing grid: row faces with layers from column faces"),
    "directions": ("directions", "find edit directions (SeFa, GANSpace) for a model and save them beside it"),
    "name-direction": ("directions", "give an edit direction a name (smile, age, pose)"),
    "edit": ("directions", "a strip of edits of a face along a direction"),
    "transform": ("transform", "make a face unreal: exaggerate, truncation above 1, style jitter, noise"),
    "invert": ("invert", "find the latent of each face in a photo or painting, to explore it like any other"),
    "export": ("interop", "write a model as ONNX or as a Keras .h5 for the classic script"),
    "import": ("interop", "convert another GAN's generator checkpoint into a facegen model file"),
    "train": ("train", "train a GAN on a prepared dataset (resumable; multi-process with torchrun)"),
    "export-model": ("train", "write a training run's EMA generator as a model file"),
    "metrics": ("metrics", "measure a model: FID, KID, precision/recall, face share, memorisation"),
    "swap": ("swap", "replace the faces in a photo with faces that do not exist (labelled as a composite)"),
    "remaster": ("remaster", "regenerate the faces of an old photo or painting clean and blend them back"),
    "serve": ("serve", "the web studio and HTTP API (binds 127.0.0.1; other addresses need --token)"),
}


class CLIError(Exception):
    """A user error: printed as one clear line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facegen", description="Make faces that do not exist, on your CPU.")
    parser.add_argument("--version", action="version", version=f"facegen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(f"facegen.cli.{module}")
        getattr(mod, f"add_{name.replace('-', '_')}_arguments")(p)
        p.set_defaults(_run=getattr(mod, f"run_{name.replace('-', '_')}"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except CLIError as e:
        print(f"facegen {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"facegen {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileExistsError, FileNotFoundError, PermissionError, IsADirectoryError) as e:
        # Library errors already name the file and the problem.
        print(f"facegen {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
