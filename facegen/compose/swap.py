"""Replace the faces in a photo with faces that do not exist.

Each target face is framed the way the model frames faces (eyes onto the model's
eye template: position, size and roll), the source face is rendered at the size
that face has in the photo, colour-matched to it, and blended back through the
inverse of that framing. Pixels outside the returned masks are the photo's own.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..data.images import is_grey
from ..limits import SWAP_BLEND
from ..pipeline import FaceGenerator, encode_latent
from .align import DEFAULT_MIN_FACE, ComposeError, PhotoFace, find_faces
from .blend import paste
from .rules import check_swap_source

# |Face.turn| beyond which a head is turned further than the model draws heads: the bundled default's
# 99th percentile (600 seeds at truncation 1, found and landmarked as photos are; CelebA's own is 0.76).
# Such a face is left as it is: a face facing the camera pasted on it would sit wrong on the head.
MAX_TURN = 0.6


@dataclass
class SwapResult:
    image: Image.Image
    masks: list[np.ndarray]  # one float32 mask per replaced face, photo-sized; 0 = untouched
    faces: list[PhotoFace]
    recipe: dict  # what was done (without the photo's file record, which the caller adds)
    notes: list[str] = field(default_factory=list)

    @property
    def mask(self) -> np.ndarray:
        """Where any face changed the photo (the union of the masks)."""
        return np.maximum.reduce(self.masks) if self.masks else np.zeros(self.image.size[::-1], np.float32)


def render_at(pipe: FaceGenerator, w, size: int) -> np.ndarray:
    """A face rendered by the model and resized (Lanczos) to size x size, uint8 RGB."""
    image = pipe.synthesize(w.float()[None], size=size if size != pipe.config.resolution else None)[0]
    return np.asarray(image, dtype=np.uint8)


def swap_faces(pipe: FaceGenerator, photo: np.ndarray, sources: list, source_name: str = "photo",
               faces: list[PhotoFace] | None = None, index: list[int] | None = None,
               min_face: int = DEFAULT_MIN_FACE, blend: str = SWAP_BLEND, colour: str = "lab",
               refs: list[str] | None = None, progress: bool = False, match_texture: bool = True) -> SwapResult:
    """Swap faces into `photo` (uint8 RGB array): sources[i] replaces face i (one source: every face).

    `sources` are explore.faces.Face objects; each must pass the swap rule
    (compose.rules.check_swap_source: nothing inverted from a real person's photo).
    `refs`: the references the sources came from (file names), for the rule's file checks.
    `match_texture`: each new face blurred and grained to match the photo around it (blend.paste).
    A face turned further than the model draws (MAX_TURN) is left as it is, with a note and the
    recipe's `skipped`; a ComposeError when that leaves none.
    A face rendered at more than 1.5x the model's resolution is recorded as upscaled (the recipe's
    `upscaled` and a note), since it will look softer than a photo that sharp.
    """
    if not sources:
        raise ComposeError("swap needs at least one source face")
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ComposeError(f"{source_name}: expected an RGB uint8 image, got {photo.dtype} {photo.shape}")
    checks = [check_swap_source(f, pipe, (refs or [None] * len(sources))[i]) for i, f in enumerate(sources)]
    faces = faces if faces is not None else find_faces(photo, source_name, min_face, index)
    if len(sources) not in (1, len(faces)):
        raise ComposeError(f"{source_name}: {len(faces)} face{'s' if len(faces) != 1 else ''} to replace but "
                           f"{len(sources)} source faces; give one, or one per face (choose faces with --index)")
    grey = is_grey(photo)
    out, masks, notes, done, kept, skipped = photo, [], [], [], [], []
    res = pipe.config.resolution
    for i, target in enumerate(tqdm(faces, desc="swap", unit="face", disable=not progress, leave=False)):
        turn = target.face.turn
        if turn is not None and abs(turn) > MAX_TURN:
            skipped.append(dict(target.describe(), turn=round(turn, 2)))
            notes.append(f"face {i} is turned too far for the model (turn {turn:+.2f}, beyond {MAX_TURN}): "
                         "left as it is")
            continue
        source = sources[i if len(sources) > 1 else 0]
        size = target.native_size()
        face_img = render_at(pipe, source.w, size)
        out, mask, n = paste(out, face_img, target.frame_matrix(size, res), blend, colour, grey,
                             match_texture=match_texture)
        masks.append(mask)
        kept.append(target)
        notes += n
        upscaled = round(size / res, 2) if size > 1.5 * res else None
        if upscaled:
            notes.append(f"face {i} was upscaled {upscaled}x from the model's {res} pixels: it is softer than "
                         "the photo around it")
        done.append({"target": target.describe(), "source": source.describe(), "rendered_size": size,
                     "upscaled": upscaled,
                     "latent": encode_latent(source.w.float()[None]), "rule": checks[i if len(sources) > 1 else 0]})
    if not kept:
        raise ComposeError(f"{source_name}: every face is turned too far for the model to draw "
                           f"(turn beyond {MAX_TURN}); nothing swapped")
    if grey:
        notes.append("the photo is greyscale, so the new faces are too")
    recipe = dict(pipe.recipe_base("const", None), kind="composite", op="swap", blend=blend, colour=colour,
                  min_face=min_face, index=index, match_texture=match_texture, faces=done, size=None)
    if skipped:
        recipe["skipped"] = skipped
    return SwapResult(Image.fromarray(out), masks, kept, recipe, notes)
