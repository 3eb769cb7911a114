"""The share of images in which an independent face detector finds exactly one face.

The detector is the one `facegen prepare` uses (OpenCV Haar cascades), which
has never seen a generated face. Real and generated images are judged the same
way: the same centred square, resized to DETECT_SIZE, so that a 64-pixel model
is not penalised by a detector tuned for larger faces, and every model is
judged at one scale.
"""
from __future__ import annotations

import numpy as np

DETECT_SIZE = 128
MIN_FACE = DETECT_SIZE // 4
DETECTOR_VERSION = f"haar-frontalface-alt2/{DETECT_SIZE}px/min{MIN_FACE}/v1"


class FaceCounter:
    def __init__(self):
        import cv2

        from ..data.faces import FaceFinder

        self.cv2 = cv2
        self.finder = FaceFinder(min_face=MIN_FACE)
        self.version = DETECTOR_VERSION

    def count(self, square: np.ndarray) -> int:
        """Faces found in one square uint8 RGB image."""
        cv2 = self.cv2
        side = square.shape[0]
        if side != DETECT_SIZE:
            interp = cv2.INTER_AREA if side > DETECT_SIZE else cv2.INTER_CUBIC
            square = cv2.resize(square, (DETECT_SIZE, DETECT_SIZE), interpolation=interp)
        return len(self.finder.find(square))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.array([self.count(im) for im in images], dtype=np.int16)


def one_face_share(counts: np.ndarray) -> float:
    counts = np.asarray(counts)
    if counts.size == 0:
        raise ValueError("no face counts to summarise")
    return float((counts == 1).mean())
