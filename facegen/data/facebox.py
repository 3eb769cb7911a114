"""A found face (its box and landmarks) and the warp that cuts a face out of a photo.

Apart from data.faces so that the detectors (data.landmarks, data.faces' Haar finder) and the
alignment can all use them without importing one another.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Face:
    """A face found in a photo: where it is and which landmarks placed it.

    The one description of a found face: compose.PhotoFace and data.faces.FaceLocation hold
    one of these (`.face`) and add only their framing. Not explore.faces.Face, which is a
    generated face (a latent) that can be named by seed or file.
    """
    box: tuple[int, int, int, int]          # x, y, w, h in the full image
    left_eye: tuple[float, float]            # in the image, viewer's left
    right_eye: tuple[float, float]
    eyes_found: bool                         # False: estimated from the box
    nose: tuple[float, float] | None = None  # nose tip and mouth corners: from the face mesh, else None
    mouth_left: tuple[float, float] | None = None
    mouth_right: tuple[float, float] | None = None
    score: float | None = None               # the detector's confidence (None: Haar gives none)
    source: str = "haar"                     # "mesh", "blazeface" or "haar": what placed the landmarks;
                                             # "aligned": a whole picture taken as the face (the eyes
                                             # are where the template puts them)

    @property
    def mouth(self) -> tuple[float, float] | None:
        """The mouth corners' midpoint, or None where no landmarks give it."""
        if self.mouth_left is None or self.mouth_right is None:
            return None
        return ((self.mouth_left[0] + self.mouth_right[0]) / 2, (self.mouth_left[1] + self.mouth_right[1]) / 2)

    @property
    def eye_distance(self) -> float:
        return float(np.hypot(self.right_eye[0] - self.left_eye[0], self.right_eye[1] - self.left_eye[1]))

    @property
    def roll(self) -> float:
        """Degrees the face leans in the picture (clockwise positive, image y pointing down)."""
        return float(np.degrees(np.arctan2(self.right_eye[1] - self.left_eye[1], self.right_eye[0] - self.left_eye[0])))

    @property
    def turn(self) -> float | None:
        """How far the head is turned left or right: the nose tip's offset from the eyes' midpoint, along
        the eye line, in eye distances (0 facing the camera, positive toward the viewer's right; about 0.1
        for the median CelebA photo, 0.76 at its 99th percentile). None where no landmark gives the nose."""
        if self.nose is None:
            return None
        left, right, nose = (np.asarray(p, np.float64) for p in (self.left_eye, self.right_eye, self.nose))
        d = right - left
        return float(np.dot(nose - (left + right) / 2, d) / max(np.dot(d, d), 1e-9))

    def describe(self) -> dict:
        """The face as reports and recipes record it."""
        out = {"box": [int(v) for v in self.box], "eyes": [[round(float(v), 1) for v in e]
                                                           for e in (self.left_eye, self.right_eye)],
               "eyes_found": self.eyes_found, "detector": self.source}
        if self.mouth is not None:
            out["mouth"] = [round(float(v), 1) for v in self.mouth]
        return out

    def in_photo(self) -> dict:
        """Where the face lies in its photo, as composites and inversions record it (eyes to 0.01 px)."""
        return {"box": [int(v) for v in self.box], "left_eye": [round(float(v), 2) for v in self.left_eye],
                "right_eye": [round(float(v), 2) for v in self.right_eye], "eyes_found": bool(self.eyes_found)}


def warp_face(rgb: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The size x size crop that `matrix` (photo -> crop) cuts from `rgb`, without aliasing."""
    import cv2

    scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
    inv = cv2.invertAffineTransform(matrix)
    # Only the crop's footprint is resampled: the photo may be far larger than the face.
    corners = inv @ np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64).T
    x0, y0 = (max(int(np.floor(v.min())) - 2, 0) for v in corners)
    x1 = min(int(np.ceil(corners[0].max())) + 3, rgb.shape[1])
    y1 = min(int(np.ceil(corners[1].max())) + 3, rgb.shape[0])
    if x1 <= x0 or y1 <= y0:
        raise ValueError("the face lies outside the image")
    region = rgb[y0:y1, x0:x1]
    f = min(1.0, 2 * scale)  # shrink with area averaging first, as align() does
    if f < 1.0:
        region = cv2.resize(region, (max(1, round(region.shape[1] * f)), max(1, round(region.shape[0] * f))),
                            interpolation=cv2.INTER_AREA)
    fx, fy = region.shape[1] / (x1 - x0), region.shape[0] / (y1 - y0)
    # A region pixel u sits at photo x0 + (u + 0.5) / fx - 0.5 (pixel centres), so the crop
    # point is matrix @ that.
    m = matrix.copy()
    m[:, 0] /= fx
    m[:, 1] /= fy
    m[:, 2] += matrix[:, 0] * (x0 + 0.5 / fx - 0.5) + matrix[:, 1] * (y0 + 0.5 / fy - 0.5)
    interp = cv2.INTER_CUBIC if scale / f > 1.2 else cv2.INTER_LINEAR
    out = cv2.warpAffine(region, m, (size, size), flags=interp, borderMode=cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(out)
