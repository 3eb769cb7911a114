"""Interop: facegen models out to ONNX and Keras .h5, and other GANs' generators in.

Each format lives in its own module and imports its optional packages (onnx,
onnxruntime, keras, h5py) only when used, so `import facegen` never needs them.
"""
from __future__ import annotations


class InteropError(ValueError):
    """A file facegen cannot export to or import from; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


def need(module: str, extra: str):
    """Import an optional dependency, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"this needs the optional package {module.split('.')[0]!r}: "
                          f"pip install 'facegen[{extra}]'") from None


def build_dcgan(path, latent_dim: int, channels: list[int], latent_distribution: str, **meta):
    """A facegen DCGANGenerator of the given shape, or a clear error if facegen cannot hold it."""
    from ..models import ConfigError, GeneratorConfig, build_generator

    resolution = 4 * 2 ** len(channels)
    config = GeneratorConfig(architecture="dcgan", resolution=resolution, latent_dim=latent_dim,
                             channels=list(channels), latent_distribution=latent_distribution, **meta)
    try:
        return build_generator(config)
    except ConfigError as e:
        raise InteropError(path, f"holds a generator facegen cannot represent: {e}") from None
