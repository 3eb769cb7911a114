"""What a training run is asked to do, with defaults from the literature and range checks."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..limits import DISCRIMINATORS, MAX_CHANNELS, RESOLUTIONS, TRAIN_RANGES
from ..models.config import GeneratorConfig, default_channels
from .data import TrainingError

# Changing any of these changes what the run computes, so a resume refuses a mismatch.
IDENTITY = ("arch", "resolution", "batch", "lr", "channels", "latent_dim", "w_dim", "mapping_layers",
            "latent_distribution", "r1_gamma", "r1_every", "ema_kimg", "augment_p", "mirror", "style_mixing", "seed",
            "init", "freeze_g", "d_warmup_kimg", "d_channels", "discriminator", "greyscale")

# The options that set the generator's shape, and their names in its config: a fine-tune takes them
# from the model it starts from.
SHAPE = {"arch": "architecture", "resolution": "resolution", "channels": "channels", "latent_dim": "latent_dim",
         "w_dim": "w_dim", "mapping_layers": "mapping_layers", "latent_distribution": "latent_distribution"}


def option_flag(name: str) -> str:
    """The command-line spelling of an option: latent_dim -> --latent-dim."""
    return "--" + name.replace("_", "-")


@dataclass
class TrainOptions:
    dataset: str
    out: str
    arch: str | None = None  # default style, or the --init source's
    resolution: int | None = None  # default: the dataset's
    kimg: float = 1000.0  # train until this many thousand real images have been shown to D
    batch: int = 32  # across all processes
    lr: float | None = None  # style 0.0025 (StyleGAN2-ADA); dcgan 0.0002 (Radford et al.)
    channels: list[int] | None = None
    d_channels: list[int] | None = None  # D's widths from full resolution down to 4x4; default: G's mirrored
    discriminator: str = "residual"  # style: or "features", heads on the attribute classifier's frozen features
    latent_dim: int | None = None  # style 256, dcgan 100
    latent_distribution: str | None = None  # normal; uniform01: what the classic Keras script feeds
    w_dim: int | None = None  # style: 256
    mapping_layers: int | None = None  # style: 4
    greyscale: bool = False  # style: a model of grey faces (GeneratorConfig.greyscale), for greyscale pictures
    r1_gamma: float | None = None  # style: 0.0002 * resolution**2 / batch (StyleGAN2-ADA's heuristic)
    r1_every: int = 16  # lazy regularisation interval
    ema_kimg: float | None = None  # half-life of the generator EMA; default batch * 10 / 32
    ema_rampup: float = 0.05
    augment_p: float = 1.0  # DiffAugment probability per transform; 0 turns it off
    mirror: bool = True
    style_mixing: float = 0.9
    seed: int = 0
    init: str | None = None  # fine-tune: start from this run, checkpoint or model file (see start.py)
    freeze_g: int = 0  # style: keep the mapping network and G's first N blocks fixed (a grown model's own)
    d_warmup_kimg: float = 0.0  # G holds still while D alone learns for this many kimg (a fresh D under a trained G)
    snapshot_kimg: float = 10.0
    sample_kimg: float = 5.0
    log_steps: int = 20
    keep: int = 3
    grid: int = 16
    precision: str = "auto"
    device: str = "auto"
    resume: bool = False
    name: str | None = None
    description: str = ""
    license: str = "unknown"
    progress: bool = True
    tensorboard: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def resolve(self, dataset_size: int) -> "TrainOptions":
        """Fill the arch-dependent defaults; check every value is in range."""
        o = dataclasses.replace(self)
        o.arch = o.arch or "style"
        o.latent_distribution = o.latent_distribution or "normal"
        o.w_dim = o.w_dim or 256
        o.mapping_layers = o.mapping_layers or 4
        if o.arch not in ("style", "dcgan"):
            raise TrainingError(f"--arch must be style or dcgan, not {o.arch!r}")
        o.resolution = o.resolution or dataset_size
        if o.resolution not in RESOLUTIONS:
            raise TrainingError(f"--resolution {o.resolution} is not one of {', '.join(map(str, RESOLUTIONS))}")
        if o.lr is None:
            o.lr = 0.0025 if o.arch == "style" else 0.0002
        if o.channels is None:
            o.channels = default_channels(o.arch, o.resolution, base=64, cap=256 if o.arch == "style" else 512)
        if o.latent_dim is None:
            o.latent_dim = 256 if o.arch == "style" else 100
        if o.r1_gamma is None:
            o.r1_gamma = 0.0002 * o.resolution**2 / o.batch if o.arch == "style" else 0.0
        if o.ema_kimg is None:
            o.ema_kimg = o.batch * 10 / 32
        for name, (lo, hi) in TRAIN_RANGES.items():
            value = getattr(o, name)
            if not lo <= value <= hi:
                raise TrainingError(f"{option_flag(name)} must be between {lo} and {hi}, got {value}")
        checks = [
            (o.freeze_g == 0 or (o.arch == "style" and o.freeze_g < len(o.channels)),
             f"--freeze-g {o.freeze_g}: a style generator with {len(o.channels)} blocks can keep at most "
             f"{len(o.channels) - 1} fixed, and a dcgan none"),
            (o.d_channels is None or (len(o.d_channels) == len(o.channels)
                                      and all(1 <= c <= MAX_CHANNELS for c in o.d_channels)),
             f"--d-channels: {len(o.channels)} widths between 1 and {MAX_CHANNELS} are needed (one per "
             f"resolution, {o.resolution} down to 4), got {o.d_channels}"),
            (o.discriminator in DISCRIMINATORS,
             f"--discriminator must be residual or features, not {o.discriminator!r}"),
            (o.discriminator != "features" or o.arch == "style",
             "--discriminator features needs a style generator: a dcgan trains with the residual one"),
            (o.discriminator != "features" or not o.d_channels,
             "--discriminator features has fixed widths (the classifier's): leave out --d-channels"),
            (1 <= o.grid <= 256, f"grid must be in 1..256, got {o.grid}"),
            (o.log_steps >= 1, f"log_steps must be positive, got {o.log_steps}"),
            (o.precision in ("auto", "fp32", "bf16"), f"--precision must be auto, fp32 or bf16, not {o.precision!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise TrainingError(message)
        try:
            self.generator_config(o).validate()
        except ValueError as e:
            raise TrainingError(f"bad model options: {e}") from None
        return o

    @staticmethod
    def generator_config(o: "TrainOptions") -> GeneratorConfig:
        return GeneratorConfig(architecture=o.arch, resolution=o.resolution, latent_dim=o.latent_dim,
                               channels=list(o.channels), w_dim=o.w_dim, mapping_layers=o.mapping_layers,
                               latent_distribution=o.latent_distribution, greyscale=o.greyscale)


def take_shape(opts: TrainOptions, config: dict, source: str) -> TrainOptions:
    """Fill the model-shape options left unset from a starting model's config; refuse any that differ.

    A style model may grow: a higher --resolution adds blocks on top of the starting model's,
    with --channels (the full list, starting with the model's own widths) or, left out, the
    model's last width repeated.
    """
    o = dataclasses.replace(opts)
    theirs_res = config["resolution"]
    if o.resolution is not None and o.resolution != theirs_res and config["architecture"] == "style" \
            and o.arch in (None, "style"):
        if o.resolution < theirs_res:
            raise TrainingError(f"--resolution {o.resolution} is below the starting model's {theirs_res} "
                                f"({source}); a model can grow, not shrink")
        extra = int(math.log2(o.resolution // theirs_res))
        own = list(config["channels"])
        if o.channels is None:
            o.channels = own + [own[-1]] * extra
        elif o.channels[:len(own)] != own or len(o.channels) != len(own) + extra:
            raise TrainingError(f"--channels {','.join(map(str, o.channels))}: growing {source} to "
                                f"{o.resolution}x{o.resolution} needs its widths {','.join(map(str, own))} "
                                f"followed by {extra} more")
        config = dict(config, resolution=o.resolution, channels=o.channels)
    for option, key in SHAPE.items():
        given, theirs = getattr(o, option), config[key]
        if given is None:
            setattr(o, option, list(theirs) if isinstance(theirs, list) else theirs)
        elif given != theirs:
            flag = "--" + option.replace("_", "-").replace("distribution", "dist")
            raise TrainingError(f"{flag} {given} differs from the starting model's {theirs} ({source}); "
                                f"leave it out to fine-tune that model")
    o.greyscale = o.greyscale or bool(config.get("greyscale"))  # a grey model has no colour to go back to
    return o


def identity_mismatch(saved: dict, current: "TrainOptions") -> list[str]:
    """The options that differ between a checkpoint and this run, as 'name: old -> new'."""
    now = current.to_dict()
    # An option newer than the checkpoint had its default then: an old run resumes as it was.
    defaults = {f.name: f.default for f in dataclasses.fields(TrainOptions)}
    was = {k: saved.get(k, defaults[k]) for k in IDENTITY}
    return [f"{k}: {was[k]!r} -> {now[k]!r}" for k in IDENTITY if was[k] != now[k]]
