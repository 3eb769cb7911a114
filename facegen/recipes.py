"""Turn a recipe (the metadata in an image facegen wrote) back into the image."""
from __future__ import annotations

import math

from PIL import Image

from .imaging import make_grid
from .pipeline import FaceGenerator, decode_latent


class RecipeError(ValueError):
    """A recipe that cannot be re-made; the message names the field."""


MAX_SEEDS = 10_000  # what `facegen generate -n` allows
MAX_FRAMES = 10_000  # what `facegen morph --frames` allows
MAX_PIXELS = 100_000_000  # a re-made image of more pixels than this is a memory bomb, not a recipe


def _is_int(v, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _is_number(v, bound: float) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= bound


def _seed_list(v) -> bool:
    return isinstance(v, list) and 1 <= len(v) <= MAX_SEEDS and all(_is_int(s, 0, 2**63 - 1) for s in v)


# Each field a reader uses, and what it must be when present. An image's recipe comes from anywhere.
FIELDS = {
    "kind": lambda v: isinstance(v, str), "op": lambda v: isinstance(v, str),
    "model": lambda v: isinstance(v, dict), "noise_mode": lambda v: isinstance(v, str),
    "seed": lambda v: _is_int(v, 0, 2**63 - 1), "seeds": _seed_list,
    "batch_seeds": lambda v: v is None or _seed_list(v),
    "truncation": lambda v: _is_number(v, 10), "size": lambda v: v is None or _is_int(v, 16, 2048),
    "frames": lambda v: _is_int(v, 2, MAX_FRAMES), "columns": lambda v: v is None or _is_int(v, 1, MAX_SEEDS),
    "loop": lambda v: isinstance(v, bool), "space": lambda v: isinstance(v, str),
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


def render(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    """Re-make the image a recipe describes with `pipe`'s model."""
    check(recipe)
    kind = recipe.get("kind")
    common = {"noise_mode": recipe.get("noise_mode", "const"), "size": recipe.get("size")}
    try:
        if kind == "generate":
            batch = recipe.get("batch_seeds") or [recipe["seed"]]
            images = pipe(seeds=batch, truncation=recipe["truncation"], batch_size=len(batch), **common).images
            return images[batch.index(recipe["seed"])]
        if kind == "grid":
            images = pipe(seeds=recipe["seeds"], truncation=recipe["truncation"], **common).images
            return make_grid(images, recipe.get("columns"))
        if kind == "latent":
            from .explore.faces import check_latent_shape

            w = decode_latent(recipe["latent"])
            if w.dim() < 2 or w.shape[0] != 1:
                raise RecipeError(f"the recipe's latent has shape {list(w.shape)}; a face's latent is one row")
            try:
                check_latent_shape("the recipe's latent", w[0], pipe, "w")  # also refuses NaN and infinities
            except ValueError as e:
                raise RecipeError(str(e)) from None
            return pipe.synthesize(w, **common)[0]
        if kind == "explore":  # morph/edit/mix sheets and noise transforms: re-run the operation
            from .explore.recipes import render_explore
            return render_explore(recipe, pipe)
    except (KeyError, TypeError) as e:
        raise RecipeError(f"recipe of kind {kind!r} is missing or has a bad field: {e}") from None
    if kind == "composite":  # swap / remaster: most of the pixels are the input photo's
        photo = recipe.get("photo") if isinstance(recipe.get("photo"), dict) else {}
        raise RecipeError(f"a {recipe.get('op')} composite holds a photo's pixels, which its recipe does not "
                          f"store; re-make it with facegen {recipe.get('op')} on {photo.get('file', 'the photo')} "
                          f"(sha256 {str(photo.get('sha256', '?'))[:12]}...)")
    raise RecipeError(f"unknown recipe kind {kind!r}")
