"""Generator networks, and their model file (facegen/models/file.py). Nothing here knows
about pipelines or training.

Importing this package stays free of torch (`facegen info` reads a header without it):
each architecture's class is named here and imported when a model of it is built.
"""
from __future__ import annotations

import importlib

from .config import ARCHITECTURES, ConfigError, GeneratorConfig, default_channels

# The class of each architecture, by module and name, as a config names its architecture.
# By name, not imported: the classes import models.base, whose from_pretrained comes back here.
CLASSES = {"dcgan": ("dcgan", "DCGANGenerator"), "style": ("style", "StyleGenerator")}


def generator_class(architecture: str) -> type:
    module, name = CLASSES[architecture]
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def build_generator(config: GeneratorConfig):
    """A randomly initialised generator for `config` (an nn.Module)."""
    config.validate()
    return generator_class(config.architecture)(config)


__all__ = ["ARCHITECTURES", "ConfigError", "GeneratorConfig", "build_generator", "default_channels",
           "generator_class"]
