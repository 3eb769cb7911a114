"""Discriminators: only training needs them, but they are networks, so they live with the models.

`DCGANDiscriminator` is the classic strided-conv + BatchNorm critic; `ResidualDiscriminator`
is StyleGAN2's residual D sized for a CPU (equalised learning rate, minibatch
standard deviation at 4x4). Both take images in [-1, 1] and return one logit per image.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import GeneratorConfig
from .dcgan import dcgan_init

LRELU_GAIN = math.sqrt(2.0)


def discriminator_widths(config: GeneratorConfig, widths: list[int] | None = None) -> list[int]:
    """D's widths from full resolution down to 4x4: `widths`, or the generator's mirrored, so D and G
    grow and shrink together. A wider D at high resolution sees texture a thin G draws wrong."""
    if widths is not None:
        if len(widths) != len(config.channels):
            raise ValueError(f"D needs {len(config.channels)} widths, one per resolution; got {len(widths)}")
        return list(widths)
    return list(reversed(config.channels))


class DCGANDiscriminator(nn.Module):
    def __init__(self, config: GeneratorConfig, widths: list[int] | None = None):
        super().__init__()
        widths = discriminator_widths(config, widths)  # after each stride-2 conv: resolution/2 ... 4x4
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)
        dcgan_init(self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)[:, 0]


class EqConv2d(nn.Module):
    """Convolution with equalised learning rate (weights at unit scale, scaled at run time), as StyleGAN.

    An output gain (the leaky ReLU's sqrt 2, a residual sum's 1/sqrt 2) is folded into the
    weight and bias, since lrelu(g * a) == g * lrelu(a) for g > 0: scaling a few thousand
    weights instead of every activation, forward and backward, is a tenth of a small D's time.
    """

    def __init__(self, cin: int, cout: int, kernel: int, bias: bool = True, activate: bool = True,
                 gain: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.gain = gain * (LRELU_GAIN if activate else 1.0)
        self.scale = self.gain / math.sqrt(cin * kernel * kernel)
        self.padding, self.activate = kernel // 2, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.gain if self.bias is not None else None
        x = F.conv2d(x, self.weight * self.scale, bias, padding=self.padding)
        return F.leaky_relu(x, 0.2) if self.activate else x


class EqLinear(nn.Module):
    def __init__(self, cin: int, cout: int, activate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale, self.activate = 1.0 / math.sqrt(cin), activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.activate else x


class ResidualBlock(nn.Module):
    """conv at full resolution, then pool and conv at half: the second conv costs a quarter."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv0 = EqConv2d(cin, cin, 3)
        # Both branches carry the 1/sqrt 2 that keeps the sum at unit variance.
        self.conv1 = EqConv2d(cin, cout, 3, gain=1 / math.sqrt(2))
        self.skip = EqConv2d(cin, cout, 1, bias=False, activate=False, gain=1 / math.sqrt(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.skip(F.avg_pool2d(x, 2))
        return self.conv1(F.avg_pool2d(self.conv0(x), 2)) + y


class ResidualDiscriminator(nn.Module):
    def __init__(self, config: GeneratorConfig, widths: list[int] | None = None, mbstd_group: int = 4):
        super().__init__()
        widths = discriminator_widths(config, widths)  # resolution ... 4x4
        self.from_rgb = EqConv2d(3, widths[0], 1)
        self.blocks = nn.Sequential(*(ResidualBlock(a, b) for a, b in zip(widths[:-1], widths[1:])))
        self.mbstd_group = mbstd_group
        c = widths[-1]
        self.conv = EqConv2d(c + 1, c, 3)
        self.fc = EqLinear(c * 16, c)
        self.out = EqLinear(c, 1, activate=False)

    def minibatch_std(self, x: torch.Tensor) -> torch.Tensor:
        """Append the spread of features across a small group, so D can see a collapsed batch."""
        n, c, h, w = x.shape
        g = math.gcd(min(self.mbstd_group, n), n)
        y = x.float().reshape(g, n // g, c, h, w)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # [n // g]
        y = y.reshape(1, n // g, 1, 1, 1).expand(g, -1, 1, h, w).reshape(n, 1, h, w)
        return torch.cat([x, y.to(x.dtype)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.from_rgb(x))
        x = self.conv(self.minibatch_std(x))
        return self.out(self.fc(x.flatten(1)))[:, 0]


def build_discriminator(config: GeneratorConfig, widths: list[int] | None = None) -> nn.Module:
    config.validate()
    kind = DCGANDiscriminator if config.architecture == "dcgan" else ResidualDiscriminator
    return kind(config, widths)


class FeatureDiscriminator(nn.Module):
    """A critic that reads a trained face network's features instead of learning its own from pixels.

    For fine-tuning on a few hundred pictures: a residual D starts from nothing there, and before it
    has learnt what a face is it pushes G toward grain and broken structure (docs/training.md). Here
    the frozen `trunk` (the attribute classifier's four conv blocks, trained on CelebA photos) gives
    features at 32, 16, 8 and 4 px; a small head per scale learns, and their logits are summed, in
    the spirit of Projected GANs (Sauer et al. 2021). The trunk stays frozen and in eval mode
    (its BatchNorm statistics are the photos'), whatever train()/requires_grad_() ask of the module.
    """

    def __init__(self, trunk: nn.Sequential, input_size: int = 64, width: int = 64):
        super().__init__()
        self.trunk = trunk.eval().requires_grad_(False)
        self.input_size = input_size
        chans = [blk[3].out_channels for blk in trunk]  # each block: conv, BN, act, conv, BN, act, pool
        self.heads = nn.ModuleList(
            nn.Sequential(EqConv2d(c, width, 1), EqConv2d(width, width, 3), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                          EqLinear(width * 16, width), EqLinear(width, 1, activate=False)) for c in chans)

    def train(self, mode: bool = True):
        super().train(mode)
        self.trunk.eval()
        return self

    def requires_grad_(self, requires_grad: bool = True):
        self.heads.requires_grad_(requires_grad)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="area"
                              if x.shape[-1] > self.input_size else "bilinear")
        out = 0
        for block, head in zip(self.trunk, self.heads):
            x = block(x)
            out = out + head(x)[:, 0]
        return out
