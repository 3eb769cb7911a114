"""Exact duplicates by file hash, near duplicates by a perceptual hash of the crop.

A near duplicate is the same picture saved again: re-compressed, resized, lightly
edited. The difference hash (dHash) of the aligned crop survives all of those,
while two different photos, even of the same person, differ in many bits.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

HASH_SIDE = 16                      # 16 x 16 = 256-bit hash: aligned faces look alike at 8 x 8
DEFAULT_THRESHOLD = 24              # differing bits (of 256) at or under which two crops are one picture
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def dhash(crop: np.ndarray) -> np.ndarray:
    """256-bit difference hash of an RGB crop, as 32 bytes: is each pixel brighter than its right neighbour?"""
    import cv2

    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (HASH_SIDE + 1, HASH_SIDE), interpolation=cv2.INTER_AREA).astype(np.int16)
    return np.packbits(small[:, 1:] > small[:, :-1])


class NearDuplicates:
    """Remembers the hashes kept so far; `match` says which earlier crop a new one repeats."""

    def __init__(self, threshold: int = DEFAULT_THRESHOLD):
        self.threshold = threshold
        self._hashes = np.zeros((1024, HASH_SIDE * HASH_SIDE // 8), dtype=np.uint8)
        self._n = 0

    def match(self, h: np.ndarray) -> tuple[int, int] | None:
        """(index of the closest kept crop, bits apart) when within the threshold, else None."""
        if self._n == 0 or self.threshold < 0:
            return None
        distances = _POPCOUNT[np.bitwise_xor(self._hashes[: self._n], h)].sum(axis=1)
        i = int(distances.argmin())
        return (i, int(distances[i])) if distances[i] <= self.threshold else None

    def add(self, h: np.ndarray) -> None:
        if self._n == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
        self._hashes[self._n] = h
        self._n += 1
