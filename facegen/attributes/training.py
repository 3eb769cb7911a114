"""Train and test the attribute classifier on photos prepared by `facegen prepare` plus a label CSV.

The CSV has a `file` column (the photo's name, as a prepared dataset records it
in each item's `source`) and one column per label holding 1 or -1, as CelebA's
attribute files do. A tenth of the training photos is held out to stop training
and to set each label's threshold where its balanced accuracy is best, since
most labels are rare (a classifier that never says "glasses" is 93% right).
"""
from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.dataset import load_dataset
from .classifier import LABELS, AttributeClassifier, AttributeNet, from_uint8


def labelled_images(dataset_dir: str | Path, csv_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images, 0/1 labels [N, len(LABELS)]) for the dataset's photos that the CSV labels."""
    ds = load_dataset(dataset_dir)
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    keep, labels = [], []
    for i, source in enumerate(ds.sources):
        row = rows.get(Path(source).name)
        if row is not None:
            keep.append(i)
            labels.append([row[k].strip() == "1" for k in LABELS])
    if not keep:
        raise ValueError(f"{csv_path}: labels none of the photos in {dataset_dir}")
    return np.asarray(ds.images[keep]), np.asarray(labels, dtype=np.float32)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror half the faces, shift by up to 4 px, jitter brightness and contrast a little."""
    n = len(x)
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    pad = F.pad(x, (4, 4, 4, 4), mode="replicate")
    dx, dy = torch.randint(0, 9, (2,), generator=gen).tolist()
    x = pad[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]
    gain = 1 + 0.2 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    bias = 0.1 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    mean = x.mean((1, 2, 3), keepdim=True)
    return ((x - mean) * gain + mean + bias).clamp(-1, 1)


def balanced_accuracy(scores: np.ndarray, truth: np.ndarray) -> float:
    pos, neg = truth > 0.5, truth <= 0.5
    tpr = float((scores[pos] > 0).mean()) if pos.any() else math.nan
    tnr = float((scores[neg] <= 0).mean()) if neg.any() else math.nan
    return float(np.nanmean([tpr, tnr]))


def best_thresholds(logits: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per label, the logit cut with the best balanced accuracy on held-out photos (0 when one class is absent)."""
    out = np.zeros(logits.shape[1], np.float32)
    for j in range(logits.shape[1]):
        if truth[:, j].min() == truth[:, j].max():
            continue
        cuts = np.quantile(logits[:, j], np.linspace(0.01, 0.99, 99))
        scores = [balanced_accuracy(logits[:, j] - c, truth[:, j]) for c in cuts]
        out[j] = cuts[int(np.argmax(scores))]
    return out


def train_classifier(images: np.ndarray, labels: np.ndarray, epochs: int = 40, batch_size: int = 64,
                     lr: float = 2e-3, width: int = 32, seed: int = 0, log=print) -> AttributeClassifier:
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    order = torch.randperm(len(images), generator=gen).numpy()
    n_val = max(1, len(images) // 10)
    val, fit = order[:n_val], order[n_val:]
    x_fit, y_fit = from_uint8(images[fit]), torch.from_numpy(labels[fit])
    x_val, y_val = from_uint8(images[val]), labels[val]
    pos = y_fit.mean(0).clamp(1e-3, 1 - 1e-3)
    pos_weight = ((1 - pos) / pos).clamp(max=10.0)  # rare labels count more, within reason
    net = AttributeNet(labels.shape[1], width)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    steps = epochs * math.ceil(len(fit) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    best, best_state, start = -1.0, None, time.perf_counter()
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(fit), generator=gen)
        total = 0.0
        for i in range(0, len(fit), batch_size):
            idx = perm[i:i + batch_size]
            loss = F.binary_cross_entropy_with_logits(net(augment(x_fit[idx], gen)), y_fit[idx], pos_weight=pos_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        net.eval()
        with torch.inference_mode():
            logits = net(x_val).numpy()
        bal = float(np.nanmean([balanced_accuracy(logits[:, j], y_val[:, j]) for j in range(labels.shape[1])]))
        if bal > best:
            best, best_state = bal, {k: v.clone() for k, v in net.state_dict().items()}
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(fit):.4f}, held-out mean balanced accuracy {bal:.3f} "
            f"({time.perf_counter() - start:.0f} s)")
    net.load_state_dict(best_state)
    net.eval().requires_grad_(False)
    with torch.inference_mode():
        thresholds = best_thresholds(net(x_val).numpy(), y_val)
    meta = {"trained_on": int(len(fit)), "held_out": int(n_val), "epochs": epochs, "seed": seed,
            "held_out_balanced_accuracy": round(best, 4)}
    return AttributeClassifier(net, tuple(LABELS[:labels.shape[1]]), torch.from_numpy(thresholds), meta)


def evaluate(clf: AttributeClassifier, images: np.ndarray, labels: np.ndarray) -> dict:
    """Per label: accuracy and balanced accuracy (mean of the hit rates on present and absent) on labelled photos."""
    scores = clf.logits(from_uint8(images)).numpy()
    out = {}
    for j, name in enumerate(clf.labels):
        truth = labels[:, j]
        out[name] = {"accuracy": round(float(((scores[:, j] > 0) == (truth > 0.5)).mean()), 4),
                     "balanced_accuracy": round(balanced_accuracy(scores[:, j], truth), 4),
                     "positives": int(truth.sum()), "photos": int(len(truth))}
    return out
