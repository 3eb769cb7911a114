"""Find faces, locate the eyes, and cut out aligned square crops.

The detector is OpenCV's Haar cascades, whose weights ship inside the
opencv-python-headless wheel (4.x; 5.x dropped them), so nothing is downloaded.
Landmarks are the two eye centres from the eye cascade; alignment follows the
FFHQ recipe with the mouth estimated from the eyes: eyes level, the eye distance
a fixed quarter of the crop, the eyes a little above the centre.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Where the eyes land in the output square, as fractions of its side. FFHQ's crop
# is 4x the eye distance when the mouth sits ~1.1 eye distances below the eyes, and
# is centred a tenth of the eye-to-mouth vector below the eyes.
EYE_DISTANCE = 0.25
EYE_Y = 0.5 - 0.1 * 1.1 * EYE_DISTANCE
# Where the eyes sit inside a Haar face box on average (measured on CelebA photos
# where the eye cascades found both: medians over 166 faces); used when they cannot be found.
BOX_EYES = ((0.31, 0.39), (0.69, 0.39))
DETECT_SIDE = 1024  # faces are searched in a copy this long at most; crops come from the full image


@dataclass
class Face:
    box: tuple[int, int, int, int]          # x, y, w, h in the full image
    left_eye: tuple[float, float]            # in the image, viewer's left
    right_eye: tuple[float, float]
    eyes_found: bool                         # False: estimated from the box


class FaceFinder:
    """Haar face + eye cascades. Build one per process: cascades are not picklable."""

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


def align(rgb: np.ndarray, left_eye, right_eye, size: int) -> np.ndarray:
    """A size x size crop with the eyes level at fixed positions (FFHQ-style)."""
    import cv2

    (lx, ly), (rx, ry) = left_eye, right_eye
    dx, dy = rx - lx, ry - ly
    dist = float(np.hypot(dx, dy)) or 1.0
    s = EYE_DISTANCE * size / dist                       # source -> output scale
    cos, sin = dx / dist, dy / dist
    mx, my = (lx + rx) / 2, (ly + ry) / 2
    # The crop's footprint in the source (rotated square), so only that region is resized.
    half = 0.5 * size / s * 1.415
    x0, y0 = max(int(mx - half - 2), 0), max(int(my - half - 2), 0)
    x1, y1 = min(int(mx + half + 3), rgb.shape[1]), min(int(my + half + 3), rgb.shape[0])
    region = rgb[y0:y1, x0:x1]
    f = min(1.0, 2 * s)                                  # shrink with area averaging first: no aliasing
    if f < 1.0:
        region = cv2.resize(region, (max(1, round(region.shape[1] * f)), max(1, round(region.shape[0] * f))),
                            interpolation=cv2.INTER_AREA)
        fx, fy = region.shape[1] / (x1 - x0), region.shape[0] / (y1 - y0)
    else:
        fx = fy = 1.0
    # Output point p = R(s) (q - eye_mid) + target, with q in region pixels mapped back to the source.
    a, b = s * cos, s * sin
    tx, ty = size * 0.5, size * EYE_Y
    m = np.array([[a / fx, b / fy, tx - a * (mx - x0) - b * (my - y0)],
                  [-b / fx, a / fy, ty + b * (mx - x0) - a * (my - y0)]], dtype=np.float64)
    interp = cv2.INTER_CUBIC if s / f > 1.2 else cv2.INTER_LINEAR
    out = cv2.warpAffine(region, m, (size, size), flags=interp, borderMode=cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(out)


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
    their centres and `eye_y` their height from the top.
    """
    eye_distance: float
    eye_y: float


# `prepare` without --aligned (the FFHQ recipe above).
FFHQ_TEMPLATE = FaceTemplate(EYE_DISTANCE, EYE_Y)
# `prepare --aligned --crop 0.8` of CelebA's aligned photos, which both bundled models were
# trained on: medians of the eye cascade's centres in 481 CelebA test photos (of the first 600,
# those where both eyes were found) mapped into that crop; interquartile ranges 0.032 and 0.010.
# The eyes' midpoint sat at x 0.493, but training mirrors half the faces, so 0.5 is the centre.
# `python bench/invert.py --measure-template` re-measures it.
CELEBA_CROP_TEMPLATE = FaceTemplate(0.270, 0.521)


@dataclass
class FaceLocation:
    """A face found in a photo and its aligned crop; `matrix` maps photo pixels to crop pixels.

    To paste a crop back, warp it with `cv2.invertAffineTransform(matrix)`.
    """
    box: tuple[int, int, int, int]
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    eyes_found: bool
    matrix: np.ndarray          # 2x3 float64, photo (x, y) -> crop (x, y)
    size: int
    crop: np.ndarray            # (size, size, 3) uint8

    @property
    def face_side(self) -> float:
        """The side, in photo pixels, of the square the crop was cut from."""
        return float(1.0 / np.hypot(self.matrix[0, 0], self.matrix[0, 1]) * self.size)


def align_matrix(left_eye, right_eye, size: int, template: FaceTemplate = CELEBA_CROP_TEMPLATE) -> np.ndarray:
    """The 2x3 similarity transform taking the eye centres to `template`'s positions in a size x size crop."""
    (lx, ly), (rx, ry) = left_eye, right_eye
    dx, dy = rx - lx, ry - ly
    dist = float(np.hypot(dx, dy)) or 1.0
    s = template.eye_distance * size / dist
    a, b = s * dx / dist, s * dy / dist
    mx, my = (lx + rx) / 2, (ly + ry) / 2
    tx, ty = size * 0.5, size * template.eye_y
    return np.array([[a, b, tx - a * mx - b * my],
                     [-b, a, ty + b * mx - a * my]], dtype=np.float64)


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
    dist = float(np.hypot(face.right_eye[0] - face.left_eye[0], face.right_eye[1] - face.left_eye[1])) or 1.0
    return dist / template.eye_distance


def pick_faces(rgb: np.ndarray, min_side: float = 0.0, index: Sequence[int] | None = None,
               template: FaceTemplate = CELEBA_CROP_TEMPLATE, finder: FaceFinder | None = None) -> list[Face]:
    """The faces to use, largest box first: those whose frame_side is at least `min_side`, then only
    those at `index` (positions among them) when given.

    Raises NoFaceFound, FacesTooSmall or NoSuchFace, each saying what was found.
    """
    finder = finder or FaceFinder(min_face=DETECT_MIN_BOX)
    found = sorted(finder.find(rgb), key=lambda f: -f.box[2] * f.box[3])
    if not found:
        raise NoFaceFound("no face found (faces must be roughly frontal)")
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
        m = align_matrix(face.left_eye, face.right_eye, size, template)
        out.append(FaceLocation(face.box, face.left_eye, face.right_eye, face.eyes_found, m, size,
                                warp_face(rgb, m, size)))
    return out
