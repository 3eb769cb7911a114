"""Remaster an old photo or painting: every face inverted, regenerated clean, blended back.

Grey, sepia, noisy, scratched or low-resolution faces are found and framed as
the model frames faces, inverted into the model's W+ (facegen.inversion), optionally
pulled toward the average face or edited, rendered at the size the face has in
the artwork, toned to it, and pasted back through the inverse framing with a
feathered mask. Pixels outside the masks are the artwork's own.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..data.images import is_grey
from ..explore.recipes import pack
from ..limits import REMASTER_BLEND, check_truncation
from ..pipeline import FaceGenerator
from .align import DEFAULT_MIN_FACE, ComposeError, PhotoFace, crop_face, find_faces
from .blend import is_toned, paste
from .output import before_after
from .swap import render_at

DEFAULT_STEPS = 200  # a few seconds a face on one core; inversion stops early once it has converged


@dataclass
class RemasterResult:
    image: Image.Image
    before_after: Image.Image
    masks: list[np.ndarray]
    faces: list[PhotoFace]
    ws: list[torch.Tensor]  # the latents rendered (after truncation and edits)
    recipe: dict
    notes: list[str] = field(default_factory=list)

    @property
    def mask(self) -> np.ndarray:
        return np.maximum.reduce(self.masks) if self.masks else np.zeros(self.image.size[::-1], np.float32)


def invert(pipe: FaceGenerator, crop: np.ndarray, steps: int, seed: int, grey: bool) -> tuple[torch.Tensor, dict]:
    """W+ of a model-framed crop (facegen.inversion), and how well it reconstructs the crop."""
    from ..inversion import invert_crop

    inv = invert_crop(pipe, crop, steps=steps, progress=False, seed=seed, grey=grey)
    return inv.face.w.detach().float(), {"psnr": round(float(inv.psnr), 3), "ssim": round(float(inv.ssim), 4),
                                         "steps_run": inv.steps}


def remaster(pipe: FaceGenerator, rgb: np.ndarray, source_name: str = "artwork", steps: int = DEFAULT_STEPS,
             truncation: float = 1.0, edit: tuple | None = None,
             palette: bool = False, colour: bool = False, blend: str = REMASTER_BLEND,
             min_face: int = DEFAULT_MIN_FACE, index: list[int] | None = None, seed: int = 0,
             progress: bool = False, keep_detail: bool = True) -> RemasterResult:
    """Remaster every face (or those in `index`) of `rgb` (uint8 RGB array).

    truncation: pull each face toward the model's average (1 keeps it, 0.7 cleaner).
    edit: (unit direction, scale, strength, layers or None) applied after inversion
    (explore.directions.apply_edit; strength in standard deviations of random faces).
    palette: take the artwork's colours (sepia stays sepia); otherwise only its
    brightness and contrast. A greyscale artwork stays greyscale unless `colour`.
    keep_detail: where a face in the artwork spans more pixels than the model's resolution, the
    regenerated face would be softer than the artwork's: the artwork keeps its own luminance,
    restored (compose.restore: scratches, grain, blur), and the regenerated face gives its
    colour, its low frequencies (blend.paste); False pastes the whole regenerated face.
    """
    from ..explore.faces import average_w

    check_truncation(truncation)
    if not 1 <= steps <= 5000:
        raise ComposeError(f"steps must be between 1 and 5000, got {steps}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ComposeError(f"{source_name}: expected an RGB uint8 image, got {rgb.dtype} {rgb.shape}")
    faces = find_faces(rgb, source_name, min_face, index)
    grey = is_grey(rgb) and not colour
    res = pipe.config.resolution
    avg = average_w(pipe)
    toned = not grey and is_toned(rgb)
    out, masks, ws, done, notes = rgb, [], [], [], []
    for i, target in enumerate(tqdm(faces, desc="remaster", unit="face", disable=not progress, leave=False)):
        crop = crop_face(rgb, target, res)
        # A toned print (sepia) is matched in grey: the model gives the face its own colours, not brown ones.
        w, info = invert(pipe, crop, steps, seed + i, is_grey(rgb) or toned)
        inverted = w.clone()
        w = avg + truncation * (w - avg) if truncation != 1.0 else w
        if edit is not None:
            from ..explore.directions import apply_edit

            vector, scale, strength, layers = edit
            w = apply_edit(w, vector, float(scale), float(strength), layers, pipe.config.num_ws)
        size = target.native_size()
        face_img = render_at(pipe, w, size)
        model_px = size / res  # photo pixels per model pixel (native_size: a frame pixel is a photo pixel)
        detail = model_px if keep_detail and model_px > 1.0 else None
        out, mask, n = paste(out, face_img, target.frame_matrix(size, res), blend,
                             "lab" if palette else "lightness", grey, keep_detail=detail or 0.0)
        masks.append(mask)
        ws.append(w)
        notes += n
        done.append({"target": target.describe(), "inversion": dict(info, steps=steps, seed=seed + i),
                     "rendered_size": size, "kept_photo_detail_finer_than_px": None if detail is None else round(detail, 2),
                     # Under the name explore.faces.ancestry looks for, so nothing made from this
                     # output could pass it off as a face that does not exist.
                     "inverted_from": [pack(inverted)]})
    kept = [d for d in done if d["kept_photo_detail_finer_than_px"] is not None]
    if kept:
        notes.append(f"{len(kept)} face{'s are' if len(kept) > 1 else ' is'} larger than the model's {res} pixels: "
                     "the photo's own detail is kept (restored: scratches, grain, blur) and the regenerated "
                     "face{} only colour (keep_detail=False pastes the whole regenerated face)".format(
                         "s give" if len(kept) > 1 else " gives"))
    if grey:
        notes.append("the artwork is greyscale, so the regenerated faces are too (--colour keeps them in colour)")
    elif not palette and toned:
        notes.append("the artwork looks toned (sepia or similar): the faces take the model's colours; --palette "
                     "gives them the artwork's")
    image = Image.fromarray(out)
    edit_record = None if edit is None else {"vector": pack(edit[0]), "scale": float(edit[1]),
                                             "strength": float(edit[2]), "layers": edit[3]}
    recipe = dict(pipe.recipe_base("const", None), kind="composite", op="remaster", truncation=truncation,
                  edit=edit_record, palette=palette, colour=colour, blend=blend, min_face=min_face, index=index,
                  keep_detail=keep_detail, faces=done, size=None)
    return RemasterResult(image, before_after(Image.fromarray(rgb), image), masks, faces, ws, recipe, notes)
