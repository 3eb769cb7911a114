"""`facegen finetune FOLDER --out RUN`: fine-tune a model on a folder of your portraits, in a time budget."""
from __future__ import annotations

import argparse
import sys

from ..limits import DISCRIMINATORS
from ..models.file import BUNDLED_NAMES
from .generate import _bounded


def add_finetune_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Fine-tune a model on a few hundred of your portraits: the faces are found and aligned as "
                     "`facegen prepare` does, 10% are held out to measure quality (KID), and training stops "
                     "when that stops improving, when the time is up, or when samples start to copy training "
                     "faces. The best snapshot is RUN/model.safetensors.")
    p.add_argument("folder", metavar="FOLDER",
                   help="photos or artworks with faces (searched recursively; never modified)")
    p.add_argument("--out", required=True, metavar="RUN",
                   help="a new folder for the run and its model; an earlier run's folder continues that run")
    p.add_argument("--init", default="default64", metavar="MODEL",
                   help=f"the model to start from: a bundled name ({BUNDLED_NAMES}) or a model file (default: "
                        "default64, the 64-px model: every fine-tune measured so far started from it, and a step at "
                        "128 px costs about 4x; --init default fine-tunes the 128-px one)")
    p.add_argument("--minutes", type=_bounded(float, 0.1, 10_000, "--minutes"), default=60.0,
                   help="wall-clock budget for the whole command, preparation and measuring included (default 60)")
    p.add_argument("--kimg", type=_bounded(float, 1e-3, 1e6, "--kimg"), default=1000.0,
                   help="train at most this many thousand images, whatever time is left (default 1000)")
    p.add_argument("--eval-kimg", type=_bounded(float, 1e-3, 1e5, "--eval-kimg"), default=5.0,
                   help="measure, keep the best and write a sample grid this often (default 5: about 2 minutes "
                        "for default64 on a free CPU core; samples every half of it)")
    p.add_argument("--eval-samples", type=_bounded(int, 2, 50_000, "--eval-samples"), default=200,
                   help="faces generated per measurement (default 200)")
    p.add_argument("--patience", type=_bounded(int, 1, 1000, "--patience"), default=4,
                   help="stop after this many measurements without a better KID (default 4)")
    p.add_argument("--heldout", dest="heldout_share", type=_bounded(float, 0.01, 0.9, "--heldout"), default=0.1,
                   help="share of the photos held out to measure with (default 0.1)")
    p.add_argument("--min-heldout", type=_bounded(int, 2, 100_000, "--min-heldout"), default=16,
                   help="hold out at least this many faces (default 16)")
    p.add_argument("--no-memorisation-guard", dest="guard", action="store_false",
                   help="keep training when over 1%% of samples are near-copies of training faces")
    p.add_argument("--batch", type=_bounded(int, 1, 4096, "--batch"), default=16, help="images per step (default 16)")
    p.add_argument("--lr", type=_bounded(float, 1e-7, 0.5, "--lr"),
                   help="learning rate (default 0.001 for a style model, 0.0002 for a dcgan; "
                        "`facegen train` from scratch uses 0.0025)")
    p.add_argument("--augment-p", type=_bounded(float, 0.0, 1.0, "--augment-p"), default=1.0,
                   help="DiffAugment strength on real and fake images (default 1: a few hundred photos need it)")
    p.add_argument("--freeze-g", type=_bounded(int, 0, 16, "--freeze-g"), default=2, metavar="N",
                   help="keep the mapping network and G's first N blocks fixed (default 2: 4x4 and 8x8, which set "
                        "pose and layout); 0 trains everything, and the named directions cannot be kept")
    colour = p.add_mutually_exclusive_group()
    colour.add_argument("--greyscale", dest="greyscale", action="store_const", const=True, default=None,
                        help="a model of grey faces (default: when every picture is grey)")
    colour.add_argument("--colour", dest="greyscale", action="store_const", const=False,
                        help="keep colour even when every picture is grey")
    p.add_argument("--discriminator", choices=DISCRIMINATORS, default="features",
                   help="features (default): small heads on the attribute classifier's frozen features, which "
                        "already know faces; residual: a StyleGAN2 D learning from pixels (style models only)")
    p.add_argument("--ema-kimg", type=_bounded(float, 0.0, 1e4, "--ema-kimg"), default=2.0,
                   help="half-life of the generator EMA in kimg (default 2)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: time fp32 and bf16 at start and keep the faster")
    p.add_argument("--seed", type=_bounded(int, 0, 2**62, "--seed"), default=0,
                   help="chooses the held-out photos, the training order and the measuring samples (default 0)")
    p.add_argument("--near-duplicates", type=_bounded(int, -1, 256, "--near-duplicates"), default=None,
                   metavar="BITS", help="as for `facegen prepare`: crops whose perceptual hashes differ in at most "
                                        "BITS of 256 bits are one picture (default 24; -1 keeps near duplicates)")
    p.add_argument("--workers", type=_bounded(int, 1, 256, "--workers"), default=2,
                   help="processes finding faces (default 2)")
    p.add_argument("--license", help="licence of the model (default: the starting model's, whose terms it inherits)")
    p.add_argument("--quiet", action="store_true", help="no progress bar while faces are found")


def run_finetune(args) -> int:
    from ..finetune import FinetuneError, FinetuneOptions, finetune
    from . import CLIError

    fields = {k: v for k, v in vars(args).items() if k in FinetuneOptions.__dataclass_fields__}
    fields["progress"] = not args.quiet and sys.stderr.isatty()
    try:
        summary = finetune(FinetuneOptions(**fields))
    except (FinetuneError, ImportError) as e:
        raise CLIError(str(e)) from None
    if summary["stopped"] == "interrupted":
        return 130
    return 0 if summary["model"] else 1
