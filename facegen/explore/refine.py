"""A named direction refined by learning on the very trade a slider is judged by.

Boundaries and Jacobians are linear guesses: a boundary normal conditioned on the others, or a
step held through the classifier's gradients at the faces, both predict how a face changes for a
small move, and a slider moves 2 sigma. Measured on the bundled default, per-face gradients held
the others worse than the global directions did (they predict the 2-sigma move poorly). So the
refinement learns from the 2-sigma moves themselves: faces that lack the attribute are moved +2
sigma and faces that have it -2 sigma along the direction (on its rows), through the generator and
the classifier, and the direction descends on

    softplus(MARGIN - own signed score after)  +  spill_weight * mean |change in the others' probabilities|

Sigma follows the direction as it turns (the spread of random faces along it), so a direction
cannot buy its effect with a longer step. Two ends of the trade are tried (named.py keeps what
its trial prefers): a fixed spill weight of 8, which held the others better for most attributes
of the bundled default but flipped only 32-46% of one side for age, glasses, brown hair and the
beards; and a weight steered toward the effect a slider needs, shrinking while the moved faces
of either side flip less often than FLIP_TARGET (a running share) and growing while both flip
more. (A weight steered toward focus instead drove age and masculine to directions that
flipped 2% of faces, the do-nothing end of the trade.)

`per_row` gives each w+ row its own vector (each moving one standard deviation of random faces
along itself), starting from the shared one: the coarse rows can then stay put while the fine ones
change colour, which no single vector on a range of rows can do.
"""
from __future__ import annotations

import math

import torch
from torch.nn.functional import softplus

from ..attributes.classifier import AttributeClassifier, to_input

STEPS = 80
STEPS_PER_ROW = 120  # a vector per row has more to learn
BATCH = 32
LR = 0.03
MARGIN = 1.0
SPILL_WEIGHT = 8.0  # where the weight starts (default's black-hair and bangs: 4 held the others less)
FLIP_TARGET = 0.85  # above the bench's 80%, for faces the refinement did not see
ADAPT = 0.1  # how fast the weight follows (log scale, per step)
STRENGTH = 2.0


def refine(pipe, clf: AttributeClassifier, ws: torch.Tensor, scores: torch.Tensor, a: int, cols: list[int],
           signs: list[int], vector: torch.Tensor, rows: list[int] | None, spread: torch.Tensor,
           steer: bool = True, per_row: bool = False, steps: int | None = None, batch: int = BATCH,
           seed: int = 0) -> torch.Tensor:
    """Direction `a` (unit `vector`, or with `per_row` a w+ step, on `rows`, None = all) refined on the
    faces `ws` (w or z) whose signed scores for the attributes `cols` (signs: +1 where the slider's
    "more" is the label) are `scores` [N, A]; `spread` is the covariance of random faces' w.
    `steer`: the spill weight follows FLIP_TARGET, else it stays SPILL_WEIGHT. Returns a unit
    vector; with `per_row` (style models), each w+ row learns its own and the result is the w+ move
    of strength 1 ([num_ws, D], each row sigma of its own vector long, zero off `rows`)."""
    steps = (STEPS_PER_ROW if per_row else STEPS) if steps is None else steps
    num_ws = pipe.config.num_ws if pipe.config.architecture == "style" else 0
    if per_row and not num_ws:
        raise ValueError("a per-row refinement needs a style model's w+ rows")
    mask = None
    if num_ws:
        mask = torch.zeros(num_ws, 1)
        mask[rows if rows is not None else slice(None)] = 1
    cov = spread.float()
    v = (vector.expand(num_ws, -1) if per_row and vector.dim() == 1 else vector).detach().clone().float()
    if per_row:  # rows off `rows` (zero in a w+ step) take any unit vector: they never move
        v[mask[:, 0] == 0] = vector.reshape(-1, vector.shape[-1]).sum(0)
    lack = torch.nonzero(scores[:, a] <= 0)[:, 0]
    have = torch.nonzero(scores[:, a] > 0)[:, 0]
    if not len(lack) or not len(have) or steps <= 0:
        return _step(v, cov) * mask if per_row else vector
    sign = torch.tensor(signs, dtype=torch.float32)
    clf.net.eval()
    before = torch.sigmoid(scores.float())
    others = [b for b in range(len(cols)) if b != a]
    gen = torch.Generator().manual_seed(seed)
    v.requires_grad_(True)
    opt = torch.optim.Adam([v], lr=LR)
    weight, flipping = SPILL_WEIGHT, torch.ones(2)
    for _ in range(steps):
        idx = torch.cat([lack[torch.randint(len(lack), (batch // 2,), generator=gen)],
                         have[torch.randint(len(have), (batch - batch // 2,), generator=gen)]])
        side = torch.cat([torch.full((batch // 2,), STRENGTH), torch.full((batch - batch // 2,), -STRENGTH)])
        with torch.enable_grad():
            step = _step(v, cov)  # [D], or [num_ws, D] per row
            w = ws[idx].float()
            w = w[:, None].expand(-1, num_ws, -1) + side[:, None, None] * (step * mask) if num_ws else \
                w + side[:, None] * step
            after = (clf.net(to_input(pipe.model.synthesis(w, "const")))[:, cols] - clf.thresholds[cols]) * sign
            p = torch.sigmoid(after)
            own = softplus(MARGIN - side.sign() * after[:, a]).mean()
            spill = (p[:, others] - before[idx][:, others]).abs().mean() if others else torch.zeros(())
            (grad,) = torch.autograd.grad(own + weight * spill, v)
        v.grad = grad
        opt.step()
        if steer:
            flipped = (side.sign() * after[:, a] > 0).float()
            flipping = 0.8 * flipping + 0.2 * torch.stack([flipped[side > 0].mean(), flipped[side < 0].mean()])
            weight = min(max(weight * math.exp(ADAPT * (float(flipping.min()) - FLIP_TARGET) / FLIP_TARGET), 0.5), 64.0)
    v = v.detach()
    return _step(v, cov) * mask if per_row else v / v.norm()


def _step(v: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """Each row of `v` turned into a move of one standard deviation of random faces along it."""
    u = v / v.norm(dim=-1, keepdim=True)
    return torch.sqrt(((u @ cov) * u).sum(-1, keepdim=True)) * u
