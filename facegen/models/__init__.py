"""Generator networks. Nothing here knows about files, pipelines or training."""
from __future__ import annotations

from .config import ARCHITECTURES, ConfigError, GeneratorConfig, default_channels


def build_generator(config: GeneratorConfig):
    """A randomly initialised generator for `config` (an nn.Module)."""
    config.validate()
    if config.architecture == "dcgan":
        from .dcgan import DCGANGenerator
        return DCGANGenerator(config)
    from .style import StyleGenerator
    return StyleGenerator(config)


__all__ = ["ARCHITECTURES", "ConfigError", "GeneratorConfig", "build_generator", "default_channels"]
