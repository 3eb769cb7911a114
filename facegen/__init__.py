"""facegen: make, explore and edit faces that do not exist, on an ordinary CPU.

Heavy modules (torch) load on first use so that the CLI starts fast.
"""
__version__ = "0.1.0"

_LAZY = {
    "FaceGenerator": "facegen.pipeline",
    "FaceGeneratorOutput": "facegen.pipeline",
    "Generator": "facegen.models.base",
    "GeneratorConfig": "facegen.models.config",
    "build_generator": "facegen.models",
    "ModelFileError": "facegen.models.file",
    "invert_photo": "facegen.inversion",
    "invert_crop": "facegen.inversion",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'facegen' has no attribute {name!r}")


__all__ = list(_LAZY) + ["__version__"]
