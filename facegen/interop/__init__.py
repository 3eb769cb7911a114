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
