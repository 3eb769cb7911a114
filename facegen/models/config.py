"""The generator config: what a model file's JSON header describes.

Kept free of torch so that `facegen info` and validation stay fast.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ..limits import MAX_CHANNELS, MAX_LATENT, MAX_MAPPING_LAYERS, RESOLUTIONS

FORMAT_NAME = "facegen-generator"
FORMAT_VERSION = 1
ARCHITECTURES = ("dcgan", "style")
LATENT_DISTRIBUTIONS = ("normal", "uniform01")


class ConfigError(ValueError):
    """A model config that facegen refuses to build."""


@dataclass
class GeneratorConfig:
    architecture: str = "style"
    resolution: int = 64
    latent_dim: int = 256
    # Feature widths at 4x4, 8x8, ...: up to `resolution` for style; up to half
    # of it for dcgan, whose last layer goes straight to RGB.
    channels: list[int] = field(default_factory=lambda: [256, 256, 256, 128, 64])
    # How a seed becomes a latent: a standard normal, or uniform in [0, 1) as the
    # classic Keras script feeds `np.random.rand(1, 100)`.
    latent_distribution: str = "normal"
    # dcgan with uniform01: centre and scale z to unit variance before the first layer (facegen's
    # own models; without it training collapses). Imported models that take raw noise set False.
    standardize_latent: bool = True
    w_dim: int = 256
    mapping_layers: int = 4
    # style: the faces come out grey (the luminance of the RGB output in all three channels), for a
    # model trained on greyscale pictures: the colour the network would otherwise add is not there to learn away.
    greyscale: bool = False
    w_avg: list[float] | None = None
    name: str = "unnamed"
    description: str = ""
    training_data: str = "unknown"
    license: str = "unknown"
    images_seen: int = 0
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION

    @property
    def num_ws(self) -> int:
        """How many per-layer styles the style generator takes (0 for dcgan)."""
        if self.architecture != "style":
            return 0
        # Two convolutions per resolution except 4x4 (one), plus the last toRGB.
        return 2 * len(self.channels)

    @property
    def latent_mean(self) -> float:
        """E[z] of the latent distribution (each coordinate)."""
        return 0.5 if self.latent_distribution == "uniform01" else 0.0

    def parameter_bound(self) -> int:
        """More values than a generator of this config holds, counted from its widths alone: every
        layer of either architecture maps between two of them with at most a 4x4 kernel, plus a
        style affine and a fixed noise image. Lets a loader size a model before building it."""
        style = self.architecture == "style"  # a dcgan's w_dim and mapping_layers are unused and unchecked
        widest = max(self.latent_dim, *self.channels, *([self.w_dim] if style else []))
        layers = 3 * len(self.channels) + (self.mapping_layers if style else 0) + 4
        return layers * (17 * widest * widest + widest + self.resolution**2)

    @property
    def resolutions(self) -> list[int]:
        return [4 * 2**i for i in range(len(self.channels))]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GeneratorConfig":
        if not isinstance(data, dict):
            raise ConfigError("config must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
        cfg = cls(**data)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(msg)

        def is_int(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        need(self.format == FORMAT_NAME, f"format is {self.format!r}, expected {FORMAT_NAME!r}")
        need(is_int(self.format_version), "format_version must be an integer")
        need(self.format_version == FORMAT_VERSION,
             f"unknown format version {self.format_version} (this facegen reads version {FORMAT_VERSION})")
        need(self.architecture in ARCHITECTURES,
             f"architecture {self.architecture!r} is not one of {', '.join(ARCHITECTURES)}")
        need(is_int(self.resolution) and self.resolution in RESOLUTIONS,
             f"resolution {self.resolution!r} is not one of {RESOLUTIONS}")
        need(is_int(self.latent_dim) and 1 <= self.latent_dim <= MAX_LATENT,
             f"latent_dim {self.latent_dim!r} must be an integer in 1..{MAX_LATENT}")
        need(self.latent_distribution in LATENT_DISTRIBUTIONS,
             f"latent_distribution {self.latent_distribution!r} is not one of {LATENT_DISTRIBUTIONS}")
        need(isinstance(self.channels, list) and all(is_int(c) and 1 <= c <= MAX_CHANNELS for c in self.channels),
             f"channels must be a list of integers in 1..{MAX_CHANNELS}")
        expected = num_widths(self.architecture, self.resolution)
        need(len(self.channels) == expected,
             f"channels has {len(self.channels)} widths; {self.architecture} at {self.resolution}x{self.resolution} needs {expected}")
        need(isinstance(self.standardize_latent, bool), "standardize_latent must be true or false")
        need(isinstance(self.greyscale, bool), "greyscale must be true or false")
        need(not self.greyscale or self.architecture == "style", "greyscale needs a style generator")
        need(is_int(self.images_seen) and self.images_seen >= 0, "images_seen must be a non-negative integer")
        for key in ("name", "description", "training_data", "license"):
            need(isinstance(getattr(self, key), str) and len(getattr(self, key)) <= 10_000, f"{key} must be a string")
        if self.architecture == "style":
            need(is_int(self.w_dim) and 1 <= self.w_dim <= MAX_CHANNELS, f"w_dim {self.w_dim!r} must be in 1..{MAX_CHANNELS}")
            need(is_int(self.mapping_layers) and 1 <= self.mapping_layers <= MAX_MAPPING_LAYERS,
                 f"mapping_layers {self.mapping_layers!r} must be in 1..{MAX_MAPPING_LAYERS}")
        if self.w_avg is not None:
            need(isinstance(self.w_avg, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                      and math.isfinite(v) for v in self.w_avg),
                 "w_avg must be a list of finite numbers")
            need(len(self.w_avg) == self.truncation_dim, f"w_avg has {len(self.w_avg)} values, expected {self.truncation_dim}")

    @property
    def truncation_dim(self) -> int:
        """Size of the space truncation works in: W for style, Z for dcgan."""
        return self.w_dim if self.architecture == "style" else self.latent_dim


def num_widths(architecture: str, resolution: int) -> int:
    n = int(math.log2(resolution)) - 1  # 4x4 .. resolution
    return n if architecture == "style" else n - 1


def default_channels(architecture: str, resolution: int, base: int = 64, cap: int = 512) -> list[int]:
    """Widths that halve as resolution doubles, ending at `base`: the usual GAN shape."""
    n = num_widths(architecture, resolution)
    return [min(cap, base * 2 ** (n - 1 - i)) for i in range(n)]
