"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) and the dataset x-flip.

Why DiffAugment rather than ADA: it needs no tuning and no warm-up. ADA adjusts its
strength over ~500k images, which is most of what a CPU sees in a couple of hours,
so on a CPU its probability would still be settling when training ends. DiffAugment
at full strength keeps D from memorising a few hundred images from the first step.
The same random transforms go to real and fake images, and G learns through them,
so they do not leak into the generated faces.

Every random draw comes from the `generator` passed in, so a step's augmentation
is a function of (seed, step) alone and a resumed run repeats it exactly.
`p` is the probability that each transform touches a given image.
"""
from __future__ import annotations

import torch

POLICIES = ("color", "translation", "cutout")


def _apply(x: torch.Tensor, y: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """Per image, keep `x` or take the augmented `y` with probability p."""
    if p >= 1.0:
        return y
    keep = torch.rand(x.shape[0], 1, 1, 1, generator=g, device=x.device) >= p
    return torch.where(keep, x, y)


def color(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """DiffAugment's brightness, then saturation, then contrast, folded into one affine map.

    With b, s, c the three random factors, mc the per-pixel channel mean and m the
    image mean, the three steps in a row give x*(s*c) + mc*(c - s*c) + (m*(1 - c) + b):
    two reductions and two fused ops instead of nine passes over the batch.
    """
    n = x.shape[0]
    b, s, c = (torch.rand(n, 1, 1, 1, generator=g, device=x.device) for _ in range(3))
    b, s, c = b - 0.5, s * 2, c + 0.5
    mc = x.mean(dim=1, keepdim=True)
    m = x.float().mean(dim=(1, 2, 3), keepdim=True)
    shift = (m * (1 - c) + b).to(x.dtype)
    y = torch.addcmul(torch.addcmul(shift, mc, (c - s * c).to(x.dtype)), x, (s * c).to(x.dtype))
    return _apply(x, y, p, g)


def translation(x: torch.Tensor, p: float, g: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to `ratio` of its size, filling with zeros (mid-grey)."""
    n, c, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), generator=g, device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), generator=g, device=x.device)
    gy = (torch.arange(h, device=x.device)[None, :, None] + dy + 1).clamp(0, h + 1)  # [n, h, 1]
    gx = (torch.arange(w, device=x.device)[None, None, :] + dx + 1).clamp(0, w + 1)  # [n, 1, w]
    # One gather over each padded image's flattened pixels: half the time of advanced indexing.
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1]).reshape(n, c, (h + 2) * (w + 2))
    idx = (gy * (w + 2) + gx).reshape(n, 1, h * w).expand(n, c, h * w)
    y = padded.gather(2, idx).reshape(n, c, h, w)
    return _apply(x, y, p, g)


def cutout(x: torch.Tensor, p: float, g: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Blank a square of `ratio` times the image size at a random place."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=g, device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=g, device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    ry, rx = ys - oy + ch // 2, xs - ox + cw // 2  # position inside the square
    inside = (ry >= 0) & (ry < ch) & (rx >= 0) & (rx < cw)  # [n, h, w]
    y = x * (~inside)[:, None].to(x.dtype)
    return _apply(x, y, p, g)


def diff_augment(x: torch.Tensor, p: float, g: torch.Generator, policy=POLICIES) -> torch.Tensor:
    if p <= 0:
        return x
    for name in policy:
        x = {"color": color, "translation": translation, "cutout": cutout}[name](x, p, g)
    return x


def random_xflip(images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Mirror half the real images: doubles a small dataset for free (faces are near symmetric).

    Works on the uint8 NHWC batch, before it becomes float: a quarter of the bytes to move.
    """
    flip = torch.rand(images.shape[0], generator=g, device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(2), images)
