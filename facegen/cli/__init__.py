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
