"""What every generator shares: the save/load pair and the latent interface."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .file import load_generator, save_generator

W_AVG_SAMPLES = 10_000


class Generator(nn.Module):
    """A generator maps z -> w (`mapping`) and w -> image in [-1, 1] (`synthesis`).

    For dcgan, w is z itself; for style, w may also be per layer, [B, num_ws, w_dim].
    """

    num_ws = 0
    sha256: str | None = None
    source: str | None = None

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = "default") -> "Generator":
        model = load_generator(name_or_path)
        if cls is not Generator and not isinstance(model, cls):
            raise TypeError(f"{name_or_path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    def save_pretrained(self, path: str | Path, dtype: str = "float32", overwrite: bool = True) -> Path:
        return save_generator(self, path, dtype=dtype, overwrite=overwrite)

    # ---- latents: the one place that knows how this model's z is drawn -------------------------
    def sample_latents(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """`n` latents z [n, latent_dim] from the model's distribution: uniform [0, 1) or standard normal."""
        draw = torch.rand if self.config.latent_distribution == "uniform01" else torch.randn
        return draw(n, self.config.latent_dim, generator=generator, device=device)

    def sample_z(self, seeds: list[int]) -> torch.Tensor:
        """One latent per seed, each from its own RNG so a seed means the same face in any batch."""
        rows = [self.sample_latents(1, torch.Generator().manual_seed(int(seed)))[0] for seed in seeds]
        return torch.stack(rows) if rows else torch.empty(0, self.config.latent_dim)

    @torch.no_grad()
    def measure_w_avg(self, samples: int = W_AVG_SAMPLES, seed: int = 0) -> torch.Tensor:
        """The centre truncation pulls toward, measured: the mean of W over `samples` latents for
        style; E[z] for dcgan, whose W is Z. What a model file records as w_avg."""
        if self.config.architecture != "style":
            return torch.full((self.config.latent_dim,), self.config.latent_mean)
        device = next(self.parameters()).device
        z = self.sample_latents(samples, torch.Generator().manual_seed(seed)).to(device)
        return self.mapping(z, 1.0).float().mean(0)

    def average_w(self) -> torch.Tensor:
        """The average face's w (z for dcgan): the one the model file records, else measured."""
        if self.config.w_avg is not None or self.config.architecture != "style":
            return self.w_avg.detach().clone().float()
        return self.measure_w_avg()

    def forward(self, z: torch.Tensor, truncation: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, truncation), noise_mode)
