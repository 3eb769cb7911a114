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

from ..data.faces import CELEBA_CROP_TEMPLATE, DEFAULT_MIN_FACE, Face, FaceSearchError, face_matrix, pick_faces, warp_face

TEMPLATE = CELEBA_CROP_TEMPLATE


class ComposeError(ValueError):
    """A photo or face that cannot be composed; the message names the file and the problem."""


@dataclass
class PhotoFace:
    """A face found in a photo and the transform that frames it as the model's faces are framed.

    Where it is (box, eyes, landmarks, detector) is `face`'s: `pf.face.box`, `pf.face.eye_distance`.
    """
    face: Face          # what the detector found (data.facebox.Face)
    matrix: np.ndarray  # 2x3, photo pixels -> model frame of side 1 (multiply by a size to use)

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
        """The face as composite recipes and reports record it."""
        out = dict(self.face.in_photo(), detector=self.face.source)
        if self.face.mouth is not None:
            out["mouth"] = [round(float(v), 2) for v in self.face.mouth]
        return out


def find_faces(rgb: np.ndarray, source: str, min_face: float = DEFAULT_MIN_FACE,
               index: list[int] | None = None) -> list[PhotoFace]:
    """The faces in a photo, largest first, with their framing; a ComposeError when none is usable.

    `min_face`: the fewest photo pixels across a face's aligned frame (data.faces.pick_faces).
    """
    try:
        found = pick_faces(rgb, min_face, index, TEMPLATE)
    except FaceSearchError as e:
        raise ComposeError(f"{source}: {e}") from None
    # The alignment is linear in the crop size: at size 1 it gives the frame of side 1.
    return [PhotoFace(f, face_matrix(f, 1, TEMPLATE)) for f in found]


def crop_face(rgb: np.ndarray, face: PhotoFace, size: int) -> np.ndarray:
    """The face as the model frames it, size x size uint8 (area-averaged when shrinking)."""
    return warp_face(rgb, face.frame_matrix(size), size)
