"""What every generator shares: the save/load pair and the latent interface."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class Generator(nn.Module):
    """A generator maps z -> w (`mapping`) and w -> image in [-1, 1] (`synthesis`).

    For dcgan, w is z itself; for style, w may also be per layer, [B, num_ws, w_dim].
    """

    num_ws = 0
    sha256: str | None = None
    source: str | None = None

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = "default") -> "Generator":
        from ..modelfile import load_generator
        model = load_generator(name_or_path)
        if cls is not Generator and not isinstance(model, cls):
            raise TypeError(f"{name_or_path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    def save_pretrained(self, path: str | Path, dtype: str = "float32", overwrite: bool = True) -> Path:
        from ..modelfile import save_generator
        return save_generator(self, path, dtype=dtype, overwrite=overwrite)

    def sample_z(self, seeds: list[int]) -> torch.Tensor:
        """One latent per seed, each from its own RNG so a seed means the same face in any batch."""
        rows = []
        for seed in seeds:
            g = torch.Generator().manual_seed(int(seed))
            if self.config.latent_distribution == "uniform01":
                rows.append(torch.rand(self.config.latent_dim, generator=g))
            else:
                rows.append(torch.randn(self.config.latent_dim, generator=g))
        return torch.stack(rows) if rows else torch.empty(0, self.config.latent_dim)

    def forward(self, z: torch.Tensor, truncation: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, truncation), noise_mode)
