"""The classic DCGAN generator (Radford et al. 2015): latent -> transposed convs -> tanh.

Shaped like the generator of the classic Keras face script, so it exports to .h5.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .base import Generator
from .config import GeneratorConfig


def dcgan_init(net: nn.Module) -> None:
    """The DCGAN paper's initialisation: convolutions N(0, 0.02), BatchNorm scales N(1, 0.02)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(Generator):
    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        widths = config.channels
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(config.latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self.net)
        w_avg = config.w_avg if config.w_avg is not None else [config.latent_mean] * config.latent_dim
        self.register_buffer("w_avg", torch.tensor(w_avg, dtype=torch.float32), persistent=False)

    def mapping(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """DCGAN has no mapping network: its W is Z, and truncation pulls Z toward the mean."""
        if truncation != 1.0:
            z = self.w_avg + truncation * (z - self.w_avg)
        return z

    def latent_affine(self) -> tuple[float, float]:
        """(scale, shift): the network's first layer sees scale * z + shift.

        Uniform [0, 1) latents share a large common mean; left as they are, the first layer
        answers mostly with a pattern common to every sample and training collapses to one
        face (seen here at 20 kimg). Centred and scaled to unit variance they train like normal ones.
        """
        if self.config.latent_distribution == "uniform01" and self.config.standardize_latent:
            return math.sqrt(12.0), -0.5 * math.sqrt(12.0)
        return 1.0, 0.0

    def synthesis(self, w: torch.Tensor, noise_mode: str = "const", generator=None) -> torch.Tensor:
        scale, shift = self.latent_affine()
        if scale != 1.0 or shift != 0.0:
            w = w * scale + shift
        folded = self.__dict__.get("_folded")
        net = folded if folded is not None and not self.training else self.net
        return net(w[:, :, None, None])

    def fold_batchnorm(self) -> None:
        """Fold eval-mode BatchNorm into the preceding transposed convs for inference.

        Saves a pass over every activation. The folded copy is kept outside the module's
        state, so saving still writes the original layers; call again after changing weights.
        """
        layers, i = [], 0
        mods = list(self.net)
        while i < len(mods):
            m = mods[i]
            if isinstance(m, nn.ConvTranspose2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d):
                bn = mods[i + 1]
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                conv = nn.ConvTranspose2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, bias=True)
                conv.weight.data = (m.weight * scale[None, :, None, None]).detach().clone()
                conv.bias.data = (bn.bias - bn.running_mean * scale).detach().clone()
                layers.append(conv)
                i += 2
            else:
                layers.append(m)
                i += 1
        folded = nn.Sequential(*layers).eval().requires_grad_(False)
        self.__dict__["_folded"] = folded.to(memory_format=torch.channels_last)

