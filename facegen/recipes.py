"""Turn a recipe (the metadata in an image facegen wrote) back into the image."""
from __future__ import annotations

from PIL import Image

from .imaging import make_grid
from .pipeline import FaceGenerator, decode_latent


class RecipeError(ValueError):
    pass


def render(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    """Re-make the image a recipe describes with `pipe`'s model."""
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
            w = decode_latent(recipe["latent"])
            return pipe.synthesize(w, **common)[0]
        if kind == "explore":  # morph/edit/mix sheets and noise transforms: re-run the operation
            from .explore.recipes import render_explore
            return render_explore(recipe, pipe)
    except (KeyError, TypeError) as e:
        raise RecipeError(f"recipe of kind {kind!r} is missing or has a bad field: {e}") from None
    raise RecipeError(f"unknown recipe kind {kind!r}")
