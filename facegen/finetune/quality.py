"""How good is a snapshot, and does it copy? KID against the held-out faces and a near-copy share.

Both use what `facegen metrics` uses: the pinned InceptionV3 features (same preprocessing),
its KID, and its memorisation check. The threshold of that check is calibrated the same
way: the 1st percentile of the distances from each held-out face to its nearest training
face. A sample closer to a training face than that is a near-copy; a model that makes
new faces has about none (the bundled default: 0.22% of 5,000 against CelebA), so a share
above 1% means the run has begun to reproduce its training pictures.

With few held-out faces (30 of 300 photos) the 1st percentile is in effect the distance of
the closest held-out face, and KID is measured on subsets of that size: both are coarse,
which is why snapshots are compared on the same sample seeds every time.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from ..metrics.evaluate import generate_features
from ..metrics.features import InceptionFeatures
from ..metrics.kid import kid
from ..metrics.memorisation import memorisation
from ..metrics.real import open_source, real_features

EVAL_SAMPLES = 200
MEMORISED_LIMIT = 0.01
PERCENTILE = 1.0  # `facegen metrics`' default
KID_SUBSETS = 100


class NoFaceCount:
    """Stands in for the metrics' face counter: a fine-tune's evaluation does not count faces."""

    version = "faces-not-counted"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.zeros(len(images), np.int16)


def near_copies(samples: np.ndarray, train: np.ndarray, heldout: np.ndarray,
                limit: float = MEMORISED_LIMIT, percentile: float = PERCENTILE) -> dict:
    """The share of samples nearer a training face than the held-out faces' `percentile`; flagged above `limit`."""
    m = memorisation(samples, train, heldout, percentile)
    share = m["share_below_threshold"]
    return {"share": share, "count": m["count_below_threshold"], "threshold": m["threshold"],
            "min_distance": m["min_distance"], "flagged": share > limit}


class QualityMeter:
    """Features of the training and held-out faces once; then KID and near-copies per snapshot."""

    def __init__(self, train: str | Path, heldout: str | Path, size: int, samples: int = EVAL_SAMPLES,
                 seed: int = 0, limit: float = MEMORISED_LIMIT, threads: int | None = None,
                 cache_dir: Path | None = None, batch_size: int = 32):
        import torch

        self.samples, self.seed, self.limit, self.batch_size = samples, seed, limit, batch_size
        # InceptionFeatures sets torch's thread count: keep the one the run was given.
        self.extractor = InceptionFeatures(threads=threads or torch.get_num_threads())
        self.counter = NoFaceCount()
        self.train, self.heldout = (
            real_features(open_source(path), size, self.extractor, self.counter, cache_dir=cache_dir,
                          batch_size=batch_size, desc=desc).features
            for path, desc in ((train, "training faces"), (heldout, "held-out faces")))

    def __call__(self, generator) -> dict:
        """KID (x1000 in the log) and the near-copy share of `self.samples` faces from fixed seeds."""
        from ..pipeline import FaceGenerator

        t0 = time.perf_counter()
        model = copy.deepcopy(generator).float().cpu()
        pipe = FaceGenerator(model, precision="fp32")
        _, _, feats, _ = generate_features(pipe, self.samples, self.seed, 1.0, self.extractor, self.counter,
                                           self.batch_size)
        kid_mean, kid_std = kid(feats, self.heldout, KID_SUBSETS, seed=self.seed)
        copies = near_copies(feats, self.train, self.heldout, self.limit)
        return {"kid": kid_mean, "kid_std": kid_std, "memorised": copies["share"],
                "memorised_count": copies["count"], "memorised_threshold": copies["threshold"],
                "nearest_distance": copies["min_distance"], "flagged": copies["flagged"],
                "seconds": time.perf_counter() - t0}
