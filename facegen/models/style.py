"""A style-based generator in the manner of StyleGAN2 (Karras et al. 2020), sized for a CPU.

z -> mapping MLP -> w; a learned 4x4 constant is upsampled through blocks of
modulated 3x3 convolutions, each block adding per-pixel noise and an RGB skip.
Modulation scales activations (x * s, then one shared convolution, then
demodulation as a per-output-channel scale), which equals the per-sample
weight form of the paper but runs as a plain batched convolution.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Generator
from .config import GeneratorConfig

LRELU_GAIN = math.sqrt(2.0)
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G and B


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weights stored at unit scale."""

    def __init__(self, cin: int, cout: int, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(cin)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.activate else x


class MappingNetwork(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, num_layers: int):
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=0.01, activate=True) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = layer(x)
        return x


def _memory_format_of(t: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if t.is_contiguous(memory_format=torch.channels_last) and \
        not t.is_contiguous() else torch.contiguous_format


class ModulatedConv(nn.Module):
    """3x3 (or 1x1) convolution whose input channels are scaled by a style from w."""

    def __init__(self, cin: int, cout: int, w_dim: int, kernel: int, demodulate: bool = True,
                 upsample: bool = False, resolution: int = 4, use_noise: bool = True):
        super().__init__()
        self.affine = EqualLinear(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = 1.0 / math.sqrt(cin * kernel * kernel)
        self.demodulate, self.upsample, self.padding = demodulate, upsample, kernel // 2
        self.use_noise = use_noise
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
            # A fixed noise image makes a seed give one face; 'random' mode draws fresh noise.
            self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const",
                generator: torch.Generator | None = None) -> torch.Tensor:
        styles = self.affine(w)  # [B, cin]
        weight = self.weight * self.scale
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = x * styles[:, :, None, None].to(x.dtype)
        if not self.demodulate:
            return F.conv2d(x, weight.to(x.dtype), self.bias.to(x.dtype), padding=self.padding)
        x = F.conv2d(x, weight.to(x.dtype), padding=self.padding)
        # Per-sample, per-output-channel norm of the modulated weight, in closed form. The
        # activation gain is folded in here: lrelu(g * a) == g * lrelu(a) for g > 0.
        dcoefs = torch.rsqrt(styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8) * LRELU_GAIN
        shift = self.bias[None, :, None, None] * LRELU_GAIN
        if self.use_noise and noise_mode != "none":
            if noise_mode == "random":
                noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], generator=generator, device=x.device)
            else:
                noise = self.noise_const
            shift = shift + noise * (self.noise_strength * LRELU_GAIN)
        # The output of addcmul takes the memory format of `shift`; match it to x.
        shift = shift.to(x.dtype, memory_format=_memory_format_of(x))
        x = torch.addcmul(shift, x, dcoefs[:, :, None, None].to(x.dtype))
        return F.leaky_relu(x, 0.2)


class SynthesisBlock(nn.Module):
    """One resolution: (upsample +) conv, conv, and an RGB output added to the skip."""

    def __init__(self, cin: int, cout: int, w_dim: int, resolution: int, first: bool):
        super().__init__()
        self.first = first
        if first:
            self.const = nn.Parameter(torch.randn(cout, 4, 4))
            self.convs = nn.ModuleList([ModulatedConv(cout, cout, w_dim, 3, resolution=resolution)])
        else:
            self.convs = nn.ModuleList([
                ModulatedConv(cin, cout, w_dim, 3, upsample=True, resolution=resolution),
                ModulatedConv(cout, cout, w_dim, 3, resolution=resolution),
            ])
        self.to_rgb = ModulatedConv(cout, 3, w_dim, 1, demodulate=False, use_noise=False)

    def forward(self, x, rgb, ws, noise_mode, generator):
        """`ws` holds one w per conv plus one for to_rgb (shared with the next block's first conv)."""
        if self.first:
            # Keep activations in the weights' memory format, or every op pays for a copy.
            x = self.const[None].expand(ws.shape[0], -1, -1, -1).to(
                ws.dtype, memory_format=_memory_format_of(self.convs[0].weight))
        for i, conv in enumerate(self.convs):
            x = conv(x, ws[:, i], noise_mode, generator)
        y = self.to_rgb(x, ws[:, len(self.convs)])
        if rgb is not None:
            y = y + F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)
        return x, y


class StyleGenerator(Generator):
    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        self.num_ws = config.num_ws
        self.mapping_network = MappingNetwork(config.latent_dim, config.w_dim, config.mapping_layers)
        widths = config.channels
        self.blocks = nn.ModuleList(
            SynthesisBlock(widths[max(i - 1, 0)], widths[i], config.w_dim, 4 * 2**i, first=(i == 0))
            for i in range(len(widths))
        )
        w_avg = config.w_avg if config.w_avg is not None else [0.0] * config.w_dim
        self.register_buffer("w_avg", torch.tensor(w_avg, dtype=torch.float32), persistent=False)

    def mapping(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """z [B, latent_dim] -> w [B, w_dim], pulled toward the average w by `truncation`."""
        w = self.mapping_network(z)
        if truncation != 1.0:
            w = self.w_avg + truncation * (w - self.w_avg)
        return w

    def synthesis(self, w: torch.Tensor, noise_mode: str = "const",
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """w [B, w_dim] (one style everywhere) or [B, num_ws, w_dim] (per layer) -> image in [-1, 1]."""
        ws = w[:, None].expand(-1, self.num_ws, -1) if w.dim() == 2 else w
        x = rgb = None
        index = 0
        for block in self.blocks:
            n = len(block.convs)
            x, rgb = block(x, rgb, ws[:, index:index + n + 1], noise_mode, generator)
            index += n
        if self.config.greyscale:
            luma = rgb[:, 0:1] * LUMA[0] + rgb[:, 1:2] * LUMA[1] + rgb[:, 2:3] * LUMA[2]
            rgb = luma.expand(-1, 3, -1, -1)
        return rgb

