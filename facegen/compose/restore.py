"""An old photo's own face, cleaned: scratches filled, grain and JPEG blocks smoothed, blur sharpened back.

remaster uses this where a face spans more photo pixels than the model has (a 64-pixel model
on a face 140 pixels across): there the regenerated face is softer than the photo, so the photo
keeps its own luminance, restored here, and the regenerated face gives only colour
(blend.paste's keep_detail). bench/remaster.py measures both ways on aged photos.
"""
from __future__ import annotations

import numpy as np

SHARPEN = 0.5         # unsharp-mask amount after denoising (the ageing blur is ~1 pixel)
SHARPEN_SIGMA = 1.2
DENOISE = 3.0         # NL-means strength, in units of the estimated grain sigma (JPEG leaves little)
SCRATCH = 3.5         # a thin line brighter than this many grain sigmas (and 12 levels) is a scratch


def noise_sigma(y: np.ndarray) -> float:
    """Grain standard deviation of a grey image (Immerkaer's Laplacian-difference estimate)."""
    import cv2

    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    r = cv2.filter2D(y.astype(np.float32), -1, k, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    if r.size == 0:
        return 0.0
    return float(np.sqrt(np.pi / 2) * np.abs(r).mean() / 6.0)


def restore_luma(y: np.ndarray) -> np.ndarray:
    """Luminance (uint8, H x W) with scratches inpainted, grain removed, blur sharpened back."""
    import cv2

    sigma = noise_sigma(y)
    ell = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    # Light lines only (lost emulsion): dark thin lines in a face are hairs and lashes.
    bright = cv2.morphologyEx(y, cv2.MORPH_TOPHAT, ell).astype(np.float32)
    limit = max(SCRATCH * sigma, 12.0)
    thin = (bright > limit).astype(np.uint8)
    # Lines, not specks: keep components that are long for their area (eyes' highlights are round).
    n, labels, stats, _ = cv2.connectedComponentsWithStats(thin, connectivity=8)
    scratch = np.zeros_like(thin)
    for i in range(1, n):
        w, h, area = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT], stats[i, cv2.CC_STAT_AREA]
        if max(w, h) >= 12 and area <= 2.5 * max(w, h):
            scratch[labels == i] = 255
    if scratch.any():
        y = cv2.inpaint(y, cv2.dilate(scratch, np.ones((3, 3), np.uint8)), 2, cv2.INPAINT_TELEA)
    if sigma > 1.0:
        y = cv2.fastNlMeansDenoising(y, None, h=float(DENOISE * sigma), templateWindowSize=7, searchWindowSize=15)
    f = y.astype(np.float32)
    f = f + SHARPEN * (f - cv2.GaussianBlur(f, (0, 0), SHARPEN_SIGMA))
    return np.clip(f + 0.5, 0, 255).astype(np.uint8)


def restored_with_colour(region: np.ndarray, face: np.ndarray, grey: bool) -> np.ndarray:
    """The photo region's own luminance, restored, with `face`'s colour (both uint8 RGB, same shape)."""
    import cv2

    y = restore_luma(cv2.cvtColor(region, cv2.COLOR_RGB2GRAY))
    if grey:
        return np.repeat(y[..., None], 3, axis=2)
    ycc = cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb)
    ycc[..., 0] = y
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
