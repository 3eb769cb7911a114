"""Batches from a prepared dataset, and per-step random streams, both functions of (seed, step).

Nothing here depends on what ran before: the images of step k, and every random
number step k draws, come from (seed, step k, rank). A resumed run therefore
draws exactly what an uninterrupted one would have, with no RNG state to carry.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import load_dataset
from .augment import random_xflip


RAM_LIMIT = 2 * 1024**3


class TrainingError(ValueError):
    """A problem with what training was asked to do; the message says what and where."""


def open_dataset(path: str | Path, resolution: int | None, fine_tune: bool = False):
    """Load the dataset and check it fits the model; returns (dataset, uint8 array in RAM)."""
    try:
        ds = load_dataset(path)
    except (FileNotFoundError, ValueError) as e:
        raise TrainingError(str(e)) from None
    if fine_tune and ds.size != resolution:
        raise TrainingError(f"{path}: the dataset holds {ds.size}x{ds.size} faces but the model to fine-tune "
                            f"makes {resolution}x{resolution}; re-run `facegen prepare --size {resolution}`")
    if resolution is not None and ds.size != resolution:
        raise TrainingError(f"{path}: the dataset holds {ds.size}x{ds.size} faces but the model is "
                            f"{resolution}x{resolution}; re-run `facegen prepare --size {resolution}` "
                            f"or train with --resolution {ds.size}")
    # Read a dataset that fits easily into RAM once, so the hot loop never waits on the disk;
    # a bigger one stays memory-mapped and the page cache does the same job.
    images = np.ascontiguousarray(ds.images) if ds.images.nbytes <= RAM_LIMIT else ds.images
    return ds, images


def stream(seed: int, step: int, rank: int, purpose: str, device="cpu") -> torch.Generator:
    """An independent random stream for one use in one step on one process."""
    digest = hashlib.blake2b(f"{seed}/{step}/{rank}/{purpose}".encode(), digest_size=8).digest()
    g = torch.Generator(device=device)
    g.manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))
    return g


class BatchSampler:
    """Walks shuffled epochs: image positions step*batch ... of an endless shuffled sequence.

    Each epoch's order is a permutation seeded by (seed, epoch); each process takes its
    own slice of the global batch, so N processes together see what one process would.
    """

    def __init__(self, images: np.ndarray, seed: int, global_batch: int, rank: int = 0, world: int = 1):
        self.images, self.seed = images, seed
        self.global_batch, self.rank, self.world = global_batch, rank, world
        self.local_batch = global_batch // world
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.pop(min(self._perms))
            g = torch.Generator().manual_seed(int(hashlib.blake2b(f"{self.seed}/epoch{epoch}".encode(),
                                                                  digest_size=7).hexdigest(), 16))
            self._perms[epoch] = torch.randperm(len(self.images), generator=g).numpy()
        return self._perms[epoch]

    def indices(self, step: int) -> np.ndarray:
        n = len(self.images)
        start = step * self.global_batch + self.rank * self.local_batch
        pos = np.arange(start, start + self.local_batch)
        epochs = pos // n
        out = np.empty(self.local_batch, dtype=np.int64)
        for e in np.unique(epochs):
            sel = epochs == e
            out[sel] = self._perm(int(e))[pos[sel] % n]
        return out

    def batch(self, step: int, device="cpu", flip: torch.Generator | None = None) -> torch.Tensor:
        """uint8 NHWC gathered in one numpy call (x-flipped by `flip`) -> float [-1, 1] NCHW,
        which is channels_last for free."""
        raw = torch.from_numpy(self.images[self.indices(step)]).to(device, non_blocking=True)
        if flip is not None:
            raw = random_xflip(raw, flip)
        x = raw.permute(0, 3, 1, 2)
        return x.float().mul_(1 / 127.5).sub_(1.0)
