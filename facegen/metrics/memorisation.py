"""Does the model copy its training photos? Nearest training image of each sample, in feature space.

A held-out real photo is never a copy of a training photo, so the distances
from the real test photos to their nearest training photos say how close
"different photo of a similar face" gets. The threshold is a low percentile of
those distances (1st by default); about that share of samples falls below it
for a model that generalises as well as fresh photos do. A much larger share,
or any sample at distance ~0, points to memorised training images.
"""
from __future__ import annotations

import numpy as np

from .precision_recall import distance_chunks


def nearest(query: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of the nearest `ref` row for each `query` row."""
    q, r = np.asarray(query, np.float32), np.asarray(ref, np.float32)
    if len(r) == 0:
        raise ValueError("no reference features to search")
    index = np.empty(len(q), np.int64)
    for start, d in distance_chunks(q, r):
        index[start:start + len(d)] = d.argmin(axis=1)
    # The float32 expansion |a|^2 + |b|^2 - 2ab loses precision for near-identical
    # vectors; recompute the chosen pairs exactly so that a copy reads as 0.
    dist = np.linalg.norm(q.astype(np.float64) - r[index].astype(np.float64), axis=1)
    return dist, index


def memorisation(generated: np.ndarray, train: np.ndarray, real_test: np.ndarray,
                 percentile: float = 1.0) -> dict:
    """Share of generated samples closer to a training image than `percentile`% of real test photos are."""
    if not 0 < percentile < 100:
        raise ValueError(f"percentile must be between 0 and 100, got {percentile}")
    real_dist, _ = nearest(real_test, train)
    threshold = float(np.percentile(real_dist, percentile))
    gen_dist, gen_index = nearest(generated, train)
    flagged = gen_dist <= threshold
    return {
        "threshold": threshold,
        "percentile": percentile,
        "share_below_threshold": float(flagged.mean()),
        "count_below_threshold": int(flagged.sum()),
        "real_share_below_threshold": float((real_dist <= threshold).mean()),
        "min_distance": float(gen_dist.min()),
        "median_distance": float(np.median(gen_dist)),
        "real_median_distance": float(np.median(real_dist)),
        "distances": gen_dist,
        "nearest_index": gen_index,
    }
