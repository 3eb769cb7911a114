"""Put a generated face into a photo: feathered mask, colour match, inverse warp, blend.

Everything happens in a region of interest around the face, and the result is
written back only where the face's mask is above zero, so every pixel outside
the mask is the photo's own, bit for bit (tests check this with the masks
returned here).
"""
from __future__ import annotations

import numpy as np

from ..limits import BLENDS
from .align import TEMPLATE
from .restore import seeded_grain

COLOUR_MODES = ("lab", "lightness", "none")
# The face ellipse in the model frame (side 1), from the eye template: centred a third of
# the eye distance below the eyes, 0.85 x 1.1 eye distances across (brow to chin, cheek
# to cheek), feathered with a Gaussian of 0.09 eye distances so the seam has no edge.
_MID = (0.5, TEMPLATE.eye_y)
_EYE_D = TEMPLATE.eye_distance
ELLIPSE_CENTRE = (_MID[0], _MID[1] + 0.30 * _EYE_D)
ELLIPSE_AXES = (0.85 * _EYE_D, 1.10 * _EYE_D)
FEATHER = 0.09 * _EYE_D


def frame_mask(size: int) -> np.ndarray:
    """The soft face mask in the model frame, float32 size x size in [0, 1]."""
    import cv2

    mask = np.zeros((size, size), np.float32)
    centre = (round(ELLIPSE_CENTRE[0] * size * 16), round(ELLIPSE_CENTRE[1] * size * 16))
    axes = (round(ELLIPSE_AXES[0] * size * 16), round(ELLIPSE_AXES[1] * size * 16))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA, shift=4)
    sigma = FEATHER * size
    return cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_CONSTANT)


def footprint(matrix: np.ndarray, size: int, shape) -> tuple[int, int, int, int] | None:
    """The photo rectangle (x0, y0, x1, y1) a size x size frame covers, clipped to the photo."""
    import cv2

    inv = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inv.T
    x0, y0 = np.floor(corners.min(0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def to_photo(frame_img: np.ndarray, matrix: np.ndarray, roi, interp) -> np.ndarray:
    """A frame image (size x size) warped into the photo's region of interest."""
    import cv2

    x0, y0, x1, y1 = roi
    # roi pixel -> photo pixel -> frame pixel; WARP_INVERSE_MAP takes exactly that map.
    m = matrix @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
    return cv2.warpAffine(frame_img, m, (x1 - x0, y1 - y0), flags=interp | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def is_toned(rgb: np.ndarray) -> bool:
    """One hue throughout (sepia, cyanotype): every coloured pixel's Lab hue within a few degrees.

    Colour photos, even close-ups of skin, measured at most 0.975 on this scale (the mean
    resultant length of the hues; 31 photos), a sepia-toned print 1.0.
    """
    import cv2

    step = max(1, rgb.shape[0] * rgb.shape[1] // 250_000)
    lab = cv2.cvtColor(rgb.reshape(-1, 1, 3)[::step].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    coloured = np.hypot(lab[:, 1], lab[:, 2]) > 4.0
    if coloured.mean() < 0.2:
        return False
    hue = np.arctan2(lab[coloured, 2], lab[coloured, 1])
    return bool(np.abs(np.exp(1j * hue).mean()) > 0.99)


def match_colour(face: np.ndarray, target: np.ndarray, weight: np.ndarray, mode: str = "lab") -> np.ndarray:
    """`face` (uint8 RGB) with its Lab mean and spread moved to `target`'s, both measured where weight is high.

    'lab' takes the target's palette too (a sepia print gives a sepia face); 'lightness'
    only its brightness and contrast, keeping the generated face's colours.
    """
    import cv2

    if mode == "none":
        return face
    core = weight > 0.5
    if core.sum() < 16:
        core = weight > 0
    if core.sum() < 4:
        return face
    f = cv2.cvtColor(face.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    t = cv2.cvtColor(target.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    channels = range(3) if mode == "lab" else range(1)
    for c in channels:
        fm, fs = float(f[..., c][core].mean()), float(f[..., c][core].std())
        tm, ts = float(t[..., c][core].mean()), float(t[..., c][core].std())
        # A flat generated channel would blow up the ratio; a flat target (sepia's a/b) should flatten.
        ratio = min(ts / fs, 3.0) if fs > 1e-3 else 1.0
        f[..., c] = (f[..., c] - fm) * ratio + tm
    out = cv2.cvtColor(f, cv2.COLOR_LAB2RGB)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def paste(photo: np.ndarray, face: np.ndarray, matrix: np.ndarray, blend: str = "feather",
          colour: str = "lab", grey: bool = False,
          keep_detail: float = 0.0, match_texture: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Blend a generated face (size x size uint8 RGB, in the model frame) into `photo` (not modified).

    `matrix`: photo pixels -> that size x size frame. Returns the new photo, the mask
    (float32, photo-sized; zero wherever the photo is untouched) and notes.
    `keep_detail`: photo pixels per model pixel where the face spans more photo pixels than the
    model has (0: off), so the model's face would be softer than the photo's: the photo keeps its
    own luminance, restored (scratches, grain, blur: compose.restore), and the generated face gives
    only its colour, smoothed over one model pixel.
    `match_texture`: the generated face is blurred or sharpened to the sharpness of the face it replaces,
    held near the photo's just around the mask, and given the photo's grain where it is smoother (swap: no
    too-clean, too-soft or too-crisp face).
    """
    import cv2

    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {', '.join(BLENDS)}, not {blend!r}")
    if colour not in COLOUR_MODES:
        raise ValueError(f"colour must be one of {', '.join(COLOUR_MODES)}, not {colour!r}")
    notes: list[str] = []
    size = face.shape[0]
    out = photo.copy()
    mask = np.zeros(photo.shape[:2], np.float32)
    roi = footprint(matrix, size, photo.shape)
    if roi is None:
        return out, mask, ["a face lies outside the photo; left as it was"]
    x0, y0, x1, y1 = roi
    alpha = to_photo(frame_mask(size), matrix, roi, cv2.INTER_LINEAR)
    alpha[alpha < 1.0 / 512] = 0.0  # below half a grey level: would round to the photo anyway
    warped = to_photo(face, matrix, roi, cv2.INTER_CUBIC)
    region = photo[y0:y1, x0:x1]
    if grey:
        warped = np.repeat(cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    warped = match_colour(warped, region, alpha, colour)
    if grey:
        warped = np.repeat(warped[..., :1], 3, axis=2)
    if keep_detail:
        from .restore import restore_region, with_colour

        warped = with_colour(restore_region(photo, roi), warped, grey, chroma_sigma=float(keep_detail))
    if match_texture:
        warped = _match_texture(warped, region, alpha, grey)
    if blend == "poisson":
        cloned = _poisson(warped, region, alpha)
        if cloned is None:
            notes.append("Poisson blending failed for a face at the photo's edge; feathered instead")
        else:
            warped = cloned
    a = alpha[..., None]
    mixed = np.clip(a * warped.astype(np.float32) + (1.0 - a) * region.astype(np.float32) + 0.5, 0, 255)
    inside = alpha > 0
    out[y0:y1, x0:x1][inside] = mixed.astype(np.uint8)[inside]
    mask[y0:y1, x0:x1] = alpha
    return out, mask, notes


def _sharpness(y: np.ndarray, where: np.ndarray) -> float:
    import cv2

    lap = cv2.Laplacian(cv2.GaussianBlur(y, (0, 0), 1.0), cv2.CV_32F)
    return float(lap[where].var()) if where.sum() > 16 else 0.0


SHARPEN_SIGMA = 1.5
SHARPEN_AMOUNTS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)  # unsharp amounts tried when the new face is softer than the old
BLUR_SIGMAS = (0.5, 0.7, 0.9, 1.2, 1.5, 1.9, 2.4, 3.0)  # Gaussian blurs tried when it is sharper
SURROUND_PX = 12            # "the photo around the face": this many pixels just outside the mask
SURROUND_RATIO = (0.85, 1.2)  # the new face's sharpness is held within these multiples of its surroundings'


def _match_texture(face: np.ndarray, region: np.ndarray, alpha: np.ndarray, grey: bool) -> np.ndarray:
    """`face` made as sharp as the face it replaces and given the photo's grain where it has less.

    Sharpness is the variance of the Laplacian after a light smoothing (_sharpness) inside the mask:
    the face rendered by the model, blurred (BLUR_SIGMAS) or unsharp-masked (SHARPEN_AMOUNTS, capped:
    a face upscaled from a small model has no fine detail to bring out, only edges to crispen), each then
    grained to the photo's grain around the mask (seeded: the same inputs give the same output); the
    candidate whose sharpness is nearest the target (by ratio) is kept. The target is the old face's
    sharpness, held within SURROUND_RATIO of the photo's just outside the mask: where the old face
    was much crisper or softer than its surroundings (a face in focus on a blurred backdrop, a soft
    face on a busy texture), the new one would stand out as a patch.
    """
    import cv2

    from .restore import noise_sigma

    inside = alpha > 0.9
    ring = cv2.dilate((alpha > 0).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & (alpha == 0)
    if inside.sum() < 64 or ring.sum() < 64:
        return face
    ry = cv2.cvtColor(region, cv2.COLOR_RGB2GRAY).astype(np.float32)
    target = _sharpness(ry, inside)
    width = 2 * SURROUND_PX + 1
    surround = cv2.dilate((alpha > 0).astype(np.uint8), np.ones((width, width), np.uint8)).astype(bool) & (alpha == 0)
    if surround.sum() >= 64:
        around = _sharpness(ry, surround)
        target = float(np.clip(target, SURROUND_RATIO[0] * around, SURROUND_RATIO[1] * around))
    ys, xs = np.nonzero(ring)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    grain = noise_sigma(ry[y0:y1, x0:x1].astype(np.uint8))
    rows, cols = inside.any(1), inside.any(0)
    noise = seeded_grain(face.shape[:2])[..., None]
    f = face.astype(np.float32)
    soft = cv2.GaussianBlur(f, (0, 0), SHARPEN_SIGMA)
    candidates = ([f] + [cv2.GaussianBlur(f, (0, 0), s) for s in BLUR_SIGMAS]
                  + [f + a * (f - soft) for a in SHARPEN_AMOUNTS])
    best, best_gap = None, np.inf
    for c in candidates:
        c = np.clip(c, 0, 255)
        fy = cv2.cvtColor(c, cv2.COLOR_RGB2GRAY)
        add = float(np.sqrt(max(grain ** 2 - noise_sigma(fy[rows][:, cols]) ** 2, 0.0)))
        if add > 0.5:
            c = c + add * noise  # luminance grain, as film and sensors give
            fy = cv2.cvtColor(np.clip(c, 0, 255), cv2.COLOR_RGB2GRAY)
        gap = abs(np.log(max(_sharpness(fy, inside), 1e-6) / max(target, 1e-6)))
        if gap < best_gap - 1e-3:  # the first (least changed) of equals
            best, best_gap = c, gap
    return np.clip(best + 0.5, 0, 255).astype(np.uint8)


def _poisson(face: np.ndarray, region: np.ndarray, alpha: np.ndarray) -> np.ndarray | None:
    """The face's gradients over the photo's colours at the seam (cv2.seamlessClone), or None."""
    import cv2

    binary = (alpha > 0.02).astype(np.uint8) * 255
    if binary.sum() == 0:
        return None
    # seamlessClone needs a border around the mask; pad, clone, cut the padding off again.
    pad = 4
    f = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    r = cv2.copyMakeBorder(region, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    m = cv2.copyMakeBorder(binary, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    x, y, w, h = cv2.boundingRect(m)
    # The clone is placed by the centre of the mask's bounding box; an odd size rounds down.
    try:
        cloned = cv2.seamlessClone(f, r, m, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    except cv2.error:
        return None
    return cloned[pad:-pad, pad:-pad]
