"""Exact duplicates by file hash, near duplicates by a perceptual hash of the crop.

A near duplicate is the same picture saved again: re-compressed, resized, lightly
edited. The difference hash (dHash) of the aligned crop survives all of those,
while two different photos, even of the same person, differ in many bits.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HASH_SIDE = 16                      # 16 x 16 = 256-bit hash: aligned faces look alike at 8 x 8
DEFAULT_THRESHOLD = 24              # differing bits (of 256) at or under which two crops are one picture


def dhash(crop: np.ndarray) -> np.ndarray:
    """256-bit difference hash of an RGB crop, as 32 bytes: is each pixel brighter than its right neighbour?"""
    import cv2

    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (HASH_SIDE + 1, HASH_SIDE), interpolation=cv2.INTER_AREA).astype(np.int16)
    return np.packbits(small[:, 1:] > small[:, :-1])


class NearDuplicates:
    """Remembers the hashes kept so far; `match` says which earlier crop a new one repeats.

    Every new crop is compared with every kept one: quadratic, but one word of each
    hash at a time into reused buffers, so 24,000 crops take about 2 s (a pigeonhole
    index was slower: aligned faces share too many bits for its buckets to be small).
    """

    WORDS = HASH_SIDE * HASH_SIDE // 64

    def __init__(self, threshold: int = DEFAULT_THRESHOLD):
        self.threshold = threshold
        self._n = 0
        self._grow(1024)

    def _grow(self, capacity: int) -> None:
        old = getattr(self, "_words", None)
        self._words = np.zeros((self.WORDS, capacity), dtype=np.uint64)  # word-major: each pass is contiguous
        if old is not None:
            self._words[:, : self._n] = old[:, : self._n]
        self._x = np.empty(capacity, dtype=np.uint64)
        self._bits = np.empty(capacity, dtype=np.uint8)
        self._total = np.empty(capacity, dtype=np.uint16)

    def match(self, h: np.ndarray) -> tuple[int, int] | None:
        """(index of the closest kept crop, bits apart) when within the threshold, else None."""
        n = self._n
        if n == 0 or self.threshold < 0:
            return None
        words = np.ascontiguousarray(h).view(np.uint64)
        x, bits, total = self._x[:n], self._bits[:n], self._total[:n]
        total[:] = 0
        for w in range(self.WORDS):
            np.bitwise_xor(self._words[w, :n], words[w], out=x)
            np.bitwise_count(x, out=bits)
            np.add(total, bits, out=total)
        i = int(total.argmin())
        return (i, int(total[i])) if total[i] <= self.threshold else None

    def add(self, h: np.ndarray) -> None:
        if self._n == self._words.shape[1]:
            self._grow(2 * self._n)
        self._words[:, self._n] = np.ascontiguousarray(h).view(np.uint64)
        self._n += 1
