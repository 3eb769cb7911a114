"""Faces in a photo, and the similarity transform between each one and the model's framing.

The bundled models were trained on CelebA photos centre-cropped to 0.8 of their
width, not on FFHQ-aligned crops, so a face has to be framed the way the model
knows it (data.faces.align_matrix with CELEBA_CROP_TEMPLATE, as facegen.inversion
does) before it can be inverted, and a generated face has to go back through the
inverse of that same transform.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.faces import CELEBA_CROP_TEMPLATE, align_matrix, warp_face

TEMPLATE = CELEBA_CROP_TEMPLATE
DEFAULT_MIN_FACE = 32


class ComposeError(ValueError):
    """A photo or face that cannot be composed; the message names the file and the problem."""


@dataclass
class PhotoFace:
    """A face found in a photo and the transform that frames it as the model's faces are framed."""
    box: tuple[int, int, int, int]
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    eyes_found: bool
    matrix: np.ndarray  # 2x3, photo pixels -> model frame of side 1 (multiply by a size to use)

    @property
    def eye_distance(self) -> float:
        return float(np.hypot(self.right_eye[0] - self.left_eye[0], self.right_eye[1] - self.left_eye[1]))

    def frame_matrix(self, size: int, resolution: int | None = None) -> np.ndarray:
        """Photo pixels -> a size x size model frame.

        With `resolution`: the frame of a resolution-sized face resized to `size` (pixel
        centres kept, as Lanczos resizing keeps them), which is how generated faces are pasted.
        """
        if resolution is None or resolution == size:
            return self.matrix * float(size)
        k = size / resolution
        m = self.matrix * float(resolution) * k
        m[:, 2] += (k - 1) / 2
        return m

    def native_size(self, limit: int = 1024) -> int:
        """The frame size at which one frame pixel is about one photo pixel.

        Generated faces are resized to this (Lanczos) before the warp, so the warp neither
        magnifies blockily nor shrinks with aliasing.
        """
        scale = float(np.hypot(*self.matrix[0, :2]))  # frame-of-side-1 units per photo pixel
        return int(min(limit, max(16, np.ceil(1.0 / max(scale, 1e-6)))))

    def describe(self) -> dict:
        return {"box": [int(v) for v in self.box], "left_eye": [round(float(v), 2) for v in self.left_eye],
                "right_eye": [round(float(v), 2) for v in self.right_eye], "eyes_found": self.eyes_found}


def find_faces(rgb: np.ndarray, source: str, min_face: int = DEFAULT_MIN_FACE,
               index: list[int] | None = None) -> list[PhotoFace]:
    """The faces in a photo, largest first, with their framing; a ComposeError when none is usable."""
    from ..data.faces import FaceFinder

    # Look for faces smaller than the limit too, so that "too small" can be told from "none".
    found = FaceFinder(min_face=min(16, min_face)).find(rgb)
    found.sort(key=lambda f: -f.box[2] * f.box[3])
    if not found:
        raise ComposeError(f"{source}: no face found (faces must be roughly frontal and at least "
                           f"{min_face} pixels wide)")
    usable = [f for f in found if f.box[2] >= min_face]
    if not usable:
        widths = ", ".join(str(f.box[2]) for f in found[:5])
        raise ComposeError(f"{source}: the face{'s' if len(found) > 1 else ''} found "
                           f"{'are' if len(found) > 1 else 'is'} too small to use ({widths} pixels wide; "
                           f"at least {min_face} needed, see --min-face)")
    # align_matrix is linear in the crop size: at size 1 it gives the frame of side 1.
    faces = [PhotoFace(f.box, f.left_eye, f.right_eye, f.eyes_found, align_matrix(f.left_eye, f.right_eye, 1))
             for f in usable]
    if index is not None:
        bad = [i for i in index if not 0 <= i < len(faces)]
        if bad:
            raise ComposeError(f"{source}: has {len(faces)} usable face{'s' if len(faces) != 1 else ''} "
                               f"(index 0 to {len(faces) - 1}, largest first); --index {bad[0]} is not one")
        faces = [faces[i] for i in index]
    return faces


def crop_face(rgb: np.ndarray, face: PhotoFace, size: int) -> np.ndarray:
    """The face as the model frames it, size x size uint8 (area-averaged when shrinking)."""
    return warp_face(rgb, face.frame_matrix(size), size)
