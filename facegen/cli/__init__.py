"""The `facegen` command: one subcommand per task, each a thin shell over the Python API.

Subcommand modules import torch only inside `run`, so `facegen --help` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

# Each command: its module under facegen.cli, the function that adds its arguments, the one that
# runs it, and its help. Written out whole so that a search for a handler finds its command; the
# modules are imported by name because they import CLIError from this package.
COMMANDS = {
    "generate": ("generate", "add_generate_arguments", "run_generate",
                 "make faces from seeds"),
    "info": ("inspect", "add_info_arguments", "run_info",
             "print the metadata of an image or the config of a model"),
    "prepare": ("prepare", "add_prepare_arguments", "run_prepare",
                "turn a folder of photos into a dataset of aligned face crops"),
    "reproduce": ("inspect", "add_reproduce_arguments", "run_reproduce",
                  "re-make an image from its metadata and check it is identical"),
    "latent": ("transform", "add_latent_arguments", "run_latent",
               "save a face's latent (from a seed, latent file or image) to .npz/.npy"),
    "morph": ("morph", "add_morph_arguments", "run_morph",
              "a smooth video (GIF/MP4) through two or more faces"),
    "breed": ("breed", "add_breed_arguments", "run_breed",
              "children of faces, choosing which layers come from which parent"),
    "mix": ("breed", "add_mix_arguments", "run_mix",
            "a style-mixing grid: row faces with layers from column faces"),
    "directions": ("directions", "add_directions_arguments", "run_directions",
                   "find edit directions (SeFa, GANSpace) for a model and save them beside it"),
    "name-direction": ("directions", "add_name_direction_arguments", "run_name_direction",
                       "give an edit direction a name (smile, age, pose)"),
    "edit": ("directions", "add_edit_arguments", "run_edit",
             "a strip of edits of a face along a direction"),
    "transform": ("transform", "add_transform_arguments", "run_transform",
                  "make a face unreal: exaggerate, truncation above 1, style jitter, noise"),
    "invert": ("invert", "add_invert_arguments", "run_invert",
               "find the latent of each face in a photo or painting, to explore it like any other"),
    "export": ("interop", "add_export_arguments", "run_export",
               "write a model as ONNX or as a Keras .h5 for the classic script"),
    "import": ("interop", "add_import_arguments", "run_import",
               "convert another GAN's generator checkpoint into a facegen model file"),
    "train": ("train", "add_train_arguments", "run_train",
              "train a GAN on a prepared dataset (resumable; multi-process with torchrun)"),
    "finetune": ("finetune", "add_finetune_arguments", "run_finetune",
                 "fine-tune a model on a folder of your portraits, in a time budget, keeping the best snapshot"),
    "export-model": ("train", "add_export_model_arguments", "run_export_model",
                     "write a training run's EMA generator as a model file"),
    "metrics": ("metrics", "add_metrics_arguments", "run_metrics",
                "measure a model: FID, KID, precision/recall, face share, memorisation"),
    "swap": ("swap", "add_swap_arguments", "run_swap",
             "replace the faces in a photo with faces that do not exist (labelled as a composite)"),
    "remaster": ("remaster", "add_remaster_arguments", "run_remaster",
                 "regenerate the faces of an old photo or painting clean and blend them back"),
    "serve": ("serve", "add_serve_arguments", "run_serve",
              "the web studio and HTTP API (binds 127.0.0.1; other addresses need --token)"),
}


class CLIError(Exception):
    """A user error: printed as one clear line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facegen", description="Make faces that do not exist, on your CPU.")
    parser.add_argument("--version", action="version", version=f"facegen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, add_arguments, run, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(f"facegen.cli.{module}")
        getattr(mod, add_arguments)(p)
        p.set_defaults(_run=getattr(mod, run))
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
