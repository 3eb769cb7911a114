"""Other GANs' generators -> facegen model files (`facegen import`).

Each reader returns a DCGANGenerator with the source's weights; this module names the
sources, checks the result and writes it as a safe .safetensors model file.
"""
from __future__ import annotations

from pathlib import Path

from . import InteropError

SOURCES = {
    "pytorch-dcgan": "a pytorch-examples DCGAN netG state dict (.pth/.pt), read with torch.load(weights_only=True)",
    "gan-face-generate": "the weights.tar that PyPI gan-face-generate ships (netG_state_dict inside)",
    "keras-h5": "a Keras DCGAN-style generator saved as .h5, read with h5py (no Keras code runs)",
}
MAX_SOURCE_BYTES = 2 * 1024**3


def check_source_file(path: Path) -> None:
    if not path.exists():
        raise InteropError(path, "no such file")
    if not path.is_file():
        raise InteropError(path, "is not a file")
    size = path.stat().st_size
    if size > MAX_SOURCE_BYTES:
        raise InteropError(path, f"is {size} bytes, over the {MAX_SOURCE_BYTES} byte limit for a checkpoint")


def read_checkpoint(path: str | Path, source: str, name: str | None = None,
                    latent_distribution: str | None = None):
    """The generator in `path` as a facegen DCGANGenerator (eval mode), not yet saved."""
    import torch

    path = Path(path)
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    check_source_file(path)
    meta = {"name": name or path.stem, "description": f"imported from {path.name} ({source}) by facegen import"}
    if source in ("pytorch-dcgan", "gan-face-generate"):
        from .import_torch import read_torch_dcgan

        if source == "gan-face-generate":
            meta.update(training_data="DigiFace-1M (synthetic faces rendered from consented 3D scans)",
                        license="MIT, (c) 2023 Chien Liu (gan-face-generate)")
        model = read_torch_dcgan(path, latent_distribution=latent_distribution or "normal", **meta)
    else:
        from .import_keras import read_keras_dcgan

        model = read_keras_dcgan(path, latent_distribution=latent_distribution, **meta)
    for key, t in model.state_dict().items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise InteropError(path, f"weights for {key} hold NaN or infinite values")
    return model.eval().requires_grad_(False)


def import_checkpoint(path: str | Path, source: str, out: str | Path, overwrite: bool = False,
                      name: str | None = None, latent_distribution: str | None = None) -> dict:
    """Convert `path` into a facegen model file at `out` (written atomically); returns a summary."""
    model = read_checkpoint(path, source, name=name, latent_distribution=latent_distribution)
    out = Path(out)
    model.save_pretrained(out, overwrite=overwrite)
    c = model.config
    return {"source": str(path), "from": source, "out": str(out), "architecture": c.architecture,
            "resolution": c.resolution, "latent_dim": c.latent_dim, "channels": c.channels,
            "latent_distribution": c.latent_distribution,
            "parameters": sum(p.numel() for p in model.parameters())}
