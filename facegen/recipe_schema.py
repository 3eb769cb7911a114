"""What a recipe is, below everything that makes or re-makes one (and free of torch).

A recipe is the JSON facegen writes into every image: enough to make it again.
Here: the fields a reader trusts and their limits (`check`), the fields every
recipe starts with (`base_recipe`), the one codec for latents inside recipes,
and the registry of render functions. Each module that writes a kind of recipe
registers the function that re-makes it (`@renders("explore", "morph")`), so
`facegen.recipes.render` at the top dispatches without knowing them all.
"""
from __future__ import annotations

import base64
import math
import zlib
from typing import Callable

import numpy as np

from . import __version__
from .limits import MAX_BATCH, MAX_FACES, MAX_FRAMES, MAX_RECORDED_TRUNCATION, MAX_SEED, MAX_SIZE, MIN_SIZE


class RecipeError(ValueError):
    """A recipe that cannot be re-made; the message names the field."""


MAX_SEEDS = MAX_FACES  # what `facegen generate -n` allows
MAX_PIXELS = 100_000_000  # a re-made image of more pixels than this is a memory bomb, not a recipe


def _is_int(v, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _is_number(v, bound: float) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= bound


def _seed_list(v) -> bool:
    return isinstance(v, list) and 1 <= len(v) <= MAX_SEEDS and all(_is_int(s, 0, MAX_SEED) for s in v)


# Each field a reader uses, and what it must be when present. An image's recipe comes from anywhere.
FIELDS = {
    "kind": lambda v: isinstance(v, str), "op": lambda v: isinstance(v, str),
    "model": lambda v: isinstance(v, dict), "noise_mode": lambda v: isinstance(v, str),
    "seed": lambda v: _is_int(v, 0, MAX_SEED), "seeds": _seed_list,
    "batch_seeds": lambda v: v is None or _seed_list(v),
    "truncation": lambda v: _is_number(v, MAX_RECORDED_TRUNCATION),
    "size": lambda v: v is None or _is_int(v, MIN_SIZE, MAX_SIZE),
    "frames": lambda v: _is_int(v, 2, MAX_FRAMES), "columns": lambda v: v is None or _is_int(v, 1, MAX_SEEDS),
    "loop": lambda v: isinstance(v, bool), "space": lambda v: isinstance(v, str),
    "batch": lambda v: _is_int(v, 1, MAX_BATCH),  # faces synthesised together (explore sheets)
    **{k: (lambda v: isinstance(v, dict)) for k in ("latent", "z", "keys", "base", "vectors", "rows", "cols", "ws")},
}


def check(recipe) -> dict:
    """`recipe` when every field a reader uses has its type and range; RecipeError naming the first that does not."""
    if not isinstance(recipe, dict):
        raise RecipeError("the recipe is not a JSON object")
    for key, ok in FIELDS.items():
        if key in recipe and not ok(recipe[key]):
            raise RecipeError(f"the recipe's {key!r} is not valid: {str(recipe[key])[:80]!r}")
    faces = len(recipe.get("seeds") or recipe.get("batch_seeds") or [0])
    frames = recipe.get("frames", 1) if recipe.get("op") == "morph" else 1
    side = recipe.get("size") or 1024
    if faces * frames * side * side > MAX_PIXELS:
        raise RecipeError(f"the recipe asks for {faces * frames} faces of {side}x{side} pixels, "
                          f"over the limit of {MAX_PIXELS:,} pixels")
    return recipe


def base_recipe(model: dict, noise_mode: str, size: int, precision: str, backend: str = "torch") -> dict:
    """The fields every recipe starts with: who made it, with which model (`model_info()`), how."""
    base = {"facegen": __version__, "ai_generated": True, "model": model, "noise_mode": noise_mode,
            "precision": precision, "size": size}
    native = model.get("resolution") if isinstance(model, dict) else None
    if isinstance(native, int) and size > native:
        # Resampling adds pixels, not detail: the file says so rather than pass it off as the model's.
        base["upscaled"] = {"from": native, "to": size, "method": "lanczos"}
    if backend != "torch":
        # ONNX Runtime can differ from PyTorch in the last bit, so one pixel may differ by 1.
        base["backend"] = backend
    return base


# ---- the latent codec: float32 arrays as JSON -------------------------------------------------------

def encode_array(a: np.ndarray, compress: bool = False) -> dict:
    """A float32 array as JSON-safe data: base64 bytes under "data", or zlib'd under "zlib" (w+ rows
    copied from one w compress to almost nothing, which is what sheets of many faces need)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    out = {"dtype": "float32", "shape": list(a.shape)}
    if compress:
        return dict(out, zlib=base64.b64encode(zlib.compress(a.tobytes(), 6)).decode())
    return dict(out, data=base64.b64encode(a.tobytes()).decode())


def decode_array(d: dict) -> np.ndarray:
    """The array `encode_array` wrote (either form); ValueError when the bytes do not match the shape."""
    shape = [int(s) for s in d["shape"]]
    nbytes = 4 * math.prod(shape)
    if "zlib" in d:
        packed = base64.b64decode(d["zlib"], validate=True)
        # At most one byte past what the shape needs (zlib expands at most ~1032x): a bomb stops there.
        raw = zlib.decompressobj().decompress(packed, max(0, min(nbytes, 1032 * len(packed) + 64)) + 1)
    else:
        raw = base64.b64decode(d["data"], validate=True)
    if d.get("dtype") != "float32" or len(raw) != nbytes:
        raise ValueError(f"latent data does not match its shape {shape}")
    return np.frombuffer(raw, dtype=np.float32).reshape(shape).copy()


# ---- who re-makes which recipe --------------------------------------------------------------------

RENDERERS: dict[tuple[str, str | None], Callable] = {}


def renders(kind: str, op: str | None = None):
    """Register `fn(recipe, pipe) -> PIL image` as what re-makes recipes of `kind` (and `op`, for
    kind "explore", whose op names the operation to re-run)."""
    def register(fn):
        RENDERERS[(kind, op)] = fn
        return fn
    return register


def renderer(recipe: dict) -> Callable | None:
    kind = recipe.get("kind")
    return RENDERERS.get((kind, recipe.get("op") if kind == "explore" else None))
