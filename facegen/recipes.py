"""Turn a recipe (the metadata in an image facegen wrote) back into the image.

The top of the recipe layers: what a recipe holds and the latent codec are in
`recipe_schema` (at the bottom); each module that writes a kind of recipe
registers its renderer there; `render` looks the recipe's renderer up.
"""
from __future__ import annotations

from PIL import Image

# Imported for their renderers: pipeline (generate, grid), explore (latent, morph, edit, mix,
# children, transform).
from . import explore, pipeline  # noqa: F401
from .pipeline import FaceGenerator
from .recipe_schema import FIELDS, MAX_FRAMES, MAX_PIXELS, MAX_SEEDS, RecipeError, check, renderer, renders

__all__ = ["FIELDS", "MAX_FRAMES", "MAX_PIXELS", "MAX_SEEDS", "RecipeError", "check", "render"]


def render(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    """Re-make the image a recipe describes with `pipe`'s model."""
    check(recipe)
    kind = recipe.get("kind")
    make = renderer(recipe)
    if make is None:
        if kind == "explore":
            raise ValueError(f"unknown explore operation {recipe.get('op')!r}")
        raise RecipeError(f"unknown recipe kind {kind!r}")
    try:
        return make(recipe, pipe)
    except (KeyError, TypeError) as e:
        raise RecipeError(f"recipe of kind {kind!r} is missing or has a bad field: {e}") from None


# Pictures that hold a photo's pixels, which no recipe stores: refused with what to do instead.
@renders("composite")
def _refuse_composite(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    """swap / remaster: most of the pixels are the input photo's."""
    photo = recipe.get("photo") if isinstance(recipe.get("photo"), dict) else {}
    raise RecipeError(f"a {recipe.get('op')} composite holds a photo's pixels, which its recipe does not "
                      f"store; re-make it with facegen {recipe.get('op')} on {photo.get('file', 'the photo')} "
                      f"(sha256 {str(photo.get('sha256', '?'))[:12]}...)")


@renders("explore", "invert-compare")
def _refuse_invert_compare(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    raise ValueError("an inversion's side-by-side holds the photo's face, which its recipe does not "
                     "store; reproduce the reconstruction (NAME_faceK.png) instead")
