"""Seeds and the latents they stand for, without torch.

A seed's latent is what `torch.randn` / `torch.rand` give on a CPU generator seeded with it
(`Generator.sample_z`). `draw_latents` draws the same numbers with numpy, so the ONNX path
(`onnx_faces.py`) makes the face of a seed without importing torch: torch's CPU generator is
MT19937 seeded like numpy's legacy `RandomState` (low 32 bits of the seed), its floats are
24 random bits times 2**-24, and `randn` turns each run of 16 of them into normals by
Box-Muller. Uniform latents come out bit-equal; normal ones within a few float32 steps
(torch vectorises log/sin/cos), which `tests/test_onnx_faces.py` measures.
"""
from __future__ import annotations

import numpy as np

from .limits import MAX_FACES, MAX_SEED

# Below 16 values torch draws normals one at a time in float64 (another recipe): not replicated.
MIN_NORMAL_DIM = 16


def pick_seeds(n: int, seed: int | None, seeds: list[int] | None) -> list[int]:
    """`seeds` as given, or `n` consecutive seeds from `seed` (a random one when None), checked."""
    if seeds is not None:
        seeds = [int(s) for s in seeds]
    else:
        if not isinstance(n, int) or not 1 <= n <= MAX_FACES:
            raise ValueError(f"n must be between 1 and {MAX_FACES}, got {n!r}")
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**31)
        seeds = [int(seed) + i for i in range(n)]
    if not 1 <= len(seeds) <= MAX_FACES:
        raise ValueError(f"between 1 and {MAX_FACES} seeds are needed, got {len(seeds)}")
    for s in seeds:
        if not 0 <= s <= MAX_SEED:
            raise ValueError(f"seed {s} is out of range (0 to 2**63-1)")
    return seeds


def can_draw(dim: int, distribution: str) -> bool:
    return distribution == "uniform01" or dim >= MIN_NORMAL_DIM


def draw_latents(seeds: list[int], dim: int, distribution: str = "normal") -> np.ndarray:
    """[len(seeds), dim] float32: each seed's latent as `Generator.sample_z` draws it."""
    if not can_draw(dim, distribution):
        raise ValueError(f"a normal latent of {dim} values (under {MIN_NORMAL_DIM}) is drawn by torch alone")
    return np.stack([_draw(int(s), dim, distribution) for s in seeds]).astype(np.float32, copy=False)


def _uniform(words: np.ndarray) -> np.ndarray:
    return (words & np.uint32(0xFFFFFF)).astype(np.float32) * np.float32(2.0 ** -24)


def _box_muller16(u: np.ndarray) -> np.ndarray:
    radius = np.sqrt(np.float32(-2.0) * np.log(np.float32(1.0) - u[:8]))
    theta = np.float32(2.0 * np.pi) * u[8:16]
    return np.concatenate([radius * np.cos(theta), radius * np.sin(theta)])


def _draw(seed: int, dim: int, distribution: str) -> np.ndarray:
    rng = np.random.RandomState(seed & 0xFFFFFFFF)
    if distribution == "uniform01":
        return _uniform(rng.randint(0, 2**32, size=dim, dtype=np.uint32))
    # torch fills `dim` uniforms, turns each whole run of 16 into normals, then draws 16 more
    # uniforms for the last 16 slots when dim is not a multiple of 16.
    tail = 16 if dim % 16 else 0
    words = rng.randint(0, 2**32, size=dim + tail, dtype=np.uint32)
    u = _uniform(words[:dim])
    out = u.copy()
    for i in range(0, dim - 15, 16):
        out[i:i + 16] = _box_muller16(u[i:i + 16])
    if tail:
        out[dim - 16:] = _box_muller16(_uniform(words[dim:]))
    return out
