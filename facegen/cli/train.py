"""`facegen train` and `facegen export-model`."""
from __future__ import annotations

import argparse
import dataclasses

from ..limits import DISCRIMINATORS, RESOLUTIONS, TRAIN_RANGES
from .generate import _bounded


class _TrainHelp(argparse.HelpFormatter):
    """Help that names each option's default as TrainOptions sets it. The options are left unset
    (argparse.SUPPRESS), so the dataclass alone decides; it is read only when help is shown, since
    importing the training package imports torch, which building the parser must not."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = _option_defaults().get(action.dest)
        if not action.option_strings or default is None or isinstance(default, bool) or default == "":
            return text  # positionals, flags, and defaults worked out at the start of the run (in the help)
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        return f"{text} (default {shown})".lstrip()


def _option_defaults() -> dict:
    from ..training.options import TrainOptions

    return {f.name: f.default for f in dataclasses.fields(TrainOptions) if f.default is not dataclasses.MISSING}


def _channels(text: str) -> list[int]:
    try:
        widths = [int(c) for c in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--channels must look like 256,256,128,64, got {text!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError("--channels must be positive integers")
    return widths


def _ranged(kind, name: str):
    """A parser for a numeric train option, bounded by its entry in limits.TRAIN_RANGES."""
    lo, hi = TRAIN_RANGES[name]
    return _bounded(kind, lo, hi, "--" + name.replace("_", "-"))


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    # Every option's default is TrainOptions' (facegen/training/options.py): an option not given is
    # not passed on, and the help reads the default from there.
    p.formatter_class = _TrainHelp
    p.argument_default = argparse.SUPPRESS
    p.description = ("Train a GAN on a dataset made by `facegen prepare`. Re-running the same command "
                     "continues from the newest checkpoint in RUN_DIR. Several processes: "
                     "torchrun --nproc_per_node N -m facegen train ...")
    p.add_argument("dataset", metavar="DATASET", help="a folder made by `facegen prepare`")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="where checkpoints, samples and the model go")
    p.add_argument("--init", metavar="SOURCE",
                   help="fine-tune: start from a run folder, checkpoint, model file or bundled name ('default'); "
                        "the model's shape comes from it, the other options are this run's own")
    p.add_argument("--freeze-g", type=_ranged(int, "freeze_g"), metavar="N",
                   help="style: keep the mapping network and G's first N blocks fixed; growing a model with "
                        "--init and a higher --resolution, N = its own blocks trains only the new ones")
    p.add_argument("--d-warmup-kimg", type=_ranged(float, "d_warmup_kimg"), metavar="KIMG",
                   help="G holds still while D alone learns for the first KIMG thousand images, so a fresh D "
                        "under a trained G (--init) sees faces before its gradients steer G")
    p.add_argument("--arch", choices=("style", "dcgan"), help="generator architecture (default style)")
    p.add_argument("--kimg", type=_ranged(float, "kimg"),
                   help="train until D has seen this many thousand real images")
    p.add_argument("--batch", type=_ranged(int, "batch"),
                   help="images per step, over all processes")
    p.add_argument("--lr", type=_ranged(float, "lr"), help="learning rate (style 0.0025, dcgan 0.0002)")
    p.add_argument("--resolution", type=int, choices=RESOLUTIONS, help="default: the dataset's")
    p.add_argument("--channels", type=_channels, help="G widths from 4x4 upward, e.g. 256,256,256,128,64; "
                                                      "D mirrors them")
    p.add_argument("--d-channels", type=_channels, help="style or dcgan: D widths from full resolution down to 4x4, "
                                                        "e.g. 32,32,64,128,256,256 (default: G's mirrored)")
    p.add_argument("--discriminator", choices=DISCRIMINATORS,
                   help="style: residual (default, learns from pixels) or features (small heads on the attribute "
                        "classifier's frozen features: for a few hundred pictures)")
    p.add_argument("--latent-dim", type=_ranged(int, "latent_dim"), help="z size (style 256, dcgan 100)")
    p.add_argument("--latent-dist", dest="latent_distribution", choices=("normal", "uniform01"),
                   help="how seeds become z: normal (default), or uniform in [0, 1) as the classic Keras script feeds it")
    p.add_argument("--w-dim", type=_ranged(int, "w_dim"), help="style: W size (default 256)")
    p.add_argument("--mapping-layers", type=_ranged(int, "mapping_layers"),
                   help="style: mapping network depth (default 4)")
    p.add_argument("--r1-gamma", type=_ranged(float, "r1_gamma"),
                   help="style: R1 weight (default 0.0002 * resolution^2 / batch)")
    p.add_argument("--r1-every", type=_ranged(int, "r1_every"),
                   help="style: apply R1 every N steps")
    p.add_argument("--ema-kimg", type=_ranged(float, "ema_kimg"),
                   help="half-life of the generator EMA in kimg (default batch * 10 / 32)")
    p.add_argument("--augment-p", type=_ranged(float, "augment_p"),
                   help="DiffAugment strength: chance each transform touches an image; 0 = off")
    p.add_argument("--greyscale", action="store_true",
                   help="style: a model of grey faces, for greyscale pictures (facegen finetune decides by itself)")
    p.add_argument("--no-mirror", dest="mirror", action="store_false", help="do not x-flip real images")
    p.add_argument("--style-mixing", type=_ranged(float, "style_mixing"),
                   help="style: share of fakes made with two latents")
    p.add_argument("--seed", type=_ranged(int, "seed"),
                   help="seeds everything random in the run: initial weights, data order, latents, augmentation")
    p.add_argument("--snapshot-kimg", type=_ranged(float, "snapshot_kimg"),
                   help="checkpoint every N kimg")
    p.add_argument("--sample-kimg", type=_ranged(float, "sample_kimg"),
                   help="sample grid and loss curve every N kimg")
    p.add_argument("--keep", type=_ranged(int, "keep"), help="checkpoints to keep")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"),
                   help="auto: time fp32 and bf16 autocast on the model at start and keep the faster")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="auto: a GPU when there is one")
    p.add_argument("--resume", action="store_true", help="insist on continuing from a checkpoint in RUN_DIR")
    p.add_argument("--name", help="model name in the exported file (default: RUN_DIR's name)")
    p.add_argument("--description", help="model description in the exported file")
    p.add_argument("--license", help="licence of the exported model (mind the data's terms)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--no-tensorboard", dest="tensorboard", action="store_false", help="no TensorBoard event files")


def run_train(args) -> int:
    from ..training.data import TrainingError
    from ..training.loop import train
    from ..training.options import TrainOptions
    from . import CLIError

    # Only the options given: TrainOptions fills in the rest.
    fields = {k: v for k, v in vars(args).items() if k in TrainOptions.__dataclass_fields__}
    try:
        result = train(TrainOptions(**fields))
    except TrainingError as e:
        raise CLIError(str(e)) from None
    if result["interrupted"]:
        print(f"interrupted at {result['images_seen'] / 1000:.1f} kimg; saved {result['checkpoint']}; "
              f"run the same command again to continue")
        return 130
    if result.get("model"):
        print(f"trained {result['images_seen'] / 1000:.1f} kimg; model: {result['model']}")
    return 0


def add_export_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder made by `facegen train`, or one checkpoint file")
    p.add_argument("--out", metavar="FILE", help="model file to write (default RUN_DIR/model.safetensors)")


def run_export_model(args) -> int:
    from ..training.data import TrainingError
    from ..training.export import export_run
    from . import CLIError

    try:
        print(export_run(args.run_dir, args.out))
    except TrainingError as e:
        raise CLIError(str(e)) from None
    return 0
