"""An old photo's own face, cleaned: scratches filled, grain and JPEG blocks smoothed, blur undone.

remaster uses this where a face spans more photo pixels than the model has (a 64-pixel model
on a face 140 pixels across): there the regenerated face is softer than the photo, so the photo
keeps its own luminance, restored here, and the regenerated face gives only colour, its low
frequencies (blend.paste's keep_detail). Each step's strength is measured on the photo itself:

1. scratches: thin light lines (a top-hat over a 5-pixel disc, over 12 levels and 1.5 grain
   sigmas) that line up straight for 30 pixels or more (probabilistic Hough) are inpainted
   (Telea). Dark lines are left alone: in a face they are hairs, lashes and creases.
2. grain: non-local means with a strength of the grain measured at half resolution, where
   JPEG has not already smoothed it away, by the median of the Laplacian difference so that
   edges and texture count little (clean CelebA faces measure ~3 levels there, p95 6.5, and
   the bench's aged ones ~6.5, p5 4.5; below GRAIN_FLOOR a photo is left alone).
3. blur: the width of the strongest edges (a step blurred by a Gaussian of sigma s has a peak
   gradient of height / (s * sqrt(2 pi))) against SHARP_EDGE, the median of 40 clean CelebA
   photos (#0-39, not the bench's); the excess blur is undone by deconvolving with a Gaussian
   of that width, regularised by the Laplacian (constrained least squares) so grain is not
   raised with the detail (an unsharp mask did this before: docs/photos.md compares the two).
4. put back: a share of what denoising took away (it holds the photo's own skin and hair texture
   as well as grain) and a share of the measured grain as seeded noise, so the face is not waxy.
Each is measured on the face's region with half its size again around it (restore_region): on the
face alone, smooth skin under-reads JPEG'd grain. bench/remaster.py measures each step on aged photos.
"""
from __future__ import annotations

import numpy as np

GRAIN_FLOOR = 4.0     # half-resolution grain (levels) below which nothing is denoised
DENOISE = 1.3         # NL-means h, in units of the half-resolution grain sigma
SHARP_EDGE = 1.06     # edge_sigma of a clean photo (median of CelebA test photos #0-39; p90 1.24)
MAX_DEBLUR = 1.5      # the widest Gaussian blur undone (pixels)
DEBLUR_SCALE = 1.1    # the measured excess blur is undone 10% further: more detail at the same PSNR and Inception
# Deconvolution's regularisation at a grain of DEBLUR_GRAIN levels; it scales with the grain's variance
# (grain counted as at least GRAIN_FLOOR), as a Wiener filter's does. Larger holds grain down, smaller
# restores more detail.
DEBLUR_K = 0.016
DEBLUR_GRAIN = 6.5
# What goes back after denoising and deblurring. A face wiped smooth reads as less like the clean photo
# to InceptionV3; noise costs PSNR. These and the deblur settings were chosen with bench/remaster_sweep.py
# on bench/remaster.py's photos (#3000-3099) and checked on the next hundred (--start 3100): docs/photos.md.
RESIDUAL = 0.3        # share of what denoising removed
REGRAIN = 0.5         # share of the measured grain, as seeded noise
SCRATCH_LEVELS = 12.0  # a scratch is at least this much lighter than its surroundings ...
SCRATCH_SIGMAS = 1.5   # ... and this many grain sigmas
SCRATCH_LENGTH = 30    # pixels of straight line
CONTEXT = 0.5          # restore_region measures on the face's region and this much of its size around it


def noise_sigma(y: np.ndarray) -> float:
    """Grain standard deviation of a grey image (Immerkaer's Laplacian-difference estimate)."""
    import cv2

    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    r = cv2.filter2D(y.astype(np.float32), -1, k, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    if r.size == 0:
        return 0.0
    return float(np.sqrt(np.pi / 2) * np.abs(r).mean() / 6.0)


def grain_sigma(y: np.ndarray) -> float:
    """Grain at the scale JPEG leaves it, robust to edges and texture: the median absolute Laplacian
    difference (as noise_sigma's, by its median) of the half-size image, in full-size levels (white
    grain halves when 2x2 pixels are averaged; grain that JPEG smoothed at full size does not)."""
    import cv2

    scale = 2.0 if min(y.shape) >= 16 else 1.0
    if scale > 1:
        y = cv2.resize(y, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    r = cv2.filter2D(y.astype(np.float32), -1, k, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    if r.size == 0:
        return 0.0
    return scale * float(np.median(np.abs(r)) / (0.6745 * 6.0))


def edge_sigma(y: np.ndarray) -> float:
    """Blur of the strongest edges, as the sigma of a Gaussian (pixels); 0 when there are none."""
    import cv2

    f = cv2.GaussianBlur(y.astype(np.float32), (0, 0), 0.5)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0) / 8
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1) / 8
    g = np.hypot(gx, gy)
    ys, xs = np.nonzero(g >= max(np.percentile(g, 98), 1e-3))
    ux, uy = gx[ys, xs] / g[ys, xs], gy[ys, xs] / g[ys, xs]
    h, w = f.shape
    # The step's height: 4 pixels either side along the gradient.
    ax, ay = np.rint(xs - 4 * ux).astype(int), np.rint(ys - 4 * uy).astype(int)
    bx, by = np.rint(xs + 4 * ux).astype(int), np.rint(ys + 4 * uy).astype(int)
    ok = (ax >= 0) & (ax < w) & (ay >= 0) & (ay < h) & (bx >= 0) & (bx < w) & (by >= 0) & (by < h)
    if not ok.any():
        return 0.0
    height = f[by[ok], bx[ok]] - f[ay[ok], ax[ok]]
    strong = height >= 20
    if strong.sum() < 8:
        return 0.0
    return float(np.median(height[strong] / (g[ys[ok], xs[ok]][strong] * np.sqrt(2 * np.pi))))


def scratch_mask(y: np.ndarray, grain: float) -> np.ndarray:
    """Light, thin, straight lines (uint8 0/255): the pixels to inpaint."""
    import cv2

    ell = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    bright = cv2.morphologyEx(cv2.GaussianBlur(y, (0, 0), 0.7), cv2.MORPH_TOPHAT, ell)
    thin = (bright > max(SCRATCH_LEVELS, SCRATCH_SIGMAS * grain)).astype(np.uint8) * 255
    lines = cv2.HoughLinesP(thin, 1, np.pi / 180, threshold=15, minLineLength=SCRATCH_LENGTH, maxLineGap=4)
    along = np.zeros_like(y)
    for x0, y0, x1, y1 in ([] if lines is None else lines[:, 0]):
        cv2.line(along, (int(x0), int(y0)), (int(x1), int(y1)), 255, 3)
    return along & cv2.dilate(thin, np.ones((3, 3), np.uint8))


def deconvolve(y: np.ndarray, sigma: float, k: float) -> np.ndarray:
    """`y` (float32) with a Gaussian blur of `sigma` undone: H / (H^2 + k |L|^2) in the frequency
    domain, L the Laplacian, so flat areas and the mean stay as they were and grain is held down."""
    pad = int(np.ceil(3 * sigma)) + 8
    p = np.pad(y, pad, mode="reflect")
    fy = np.fft.fftfreq(p.shape[0])[:, None]
    fx = np.fft.rfftfreq(p.shape[1])[None, :]
    H = np.exp(-2 * np.pi ** 2 * sigma ** 2 * (fx ** 2 + fy ** 2))
    L2 = (4 * np.sin(np.pi * fx) ** 2 + 4 * np.sin(np.pi * fy) ** 2) ** 2
    out = np.fft.irfft2(np.fft.rfft2(p) * (H / (H ** 2 + k * L2)), s=p.shape)
    return out[pad:-pad, pad:-pad].astype(np.float32)


STEPS = ("scratches", "grain", "blur")


def seeded_grain(shape: tuple[int, ...], sigma: float = 1.0) -> np.ndarray:
    """Gaussian grain (float32) from a fixed seed, so the same picture comes out the same every time."""
    return np.random.default_rng(0).normal(0, sigma, shape).astype(np.float32)


def restore_luma(y: np.ndarray, info: dict | None = None, steps=STEPS) -> np.ndarray:
    """Luminance (uint8, H x W) with scratches inpainted, grain removed, blur undone.

    `info`, when given, is filled with what was measured and done (grain, scratch pixels, blur).
    `steps`: which of STEPS to take (bench/remaster.py leaves each out in turn).
    """
    import cv2

    grain = grain_sigma(y)
    scratch = scratch_mask(y, grain) if "scratches" in steps else np.zeros_like(y)
    if scratch.any():
        y = cv2.inpaint(y, scratch, 2, cv2.INPAINT_TELEA)
    h = DENOISE * grain if grain > GRAIN_FLOOR and "grain" in steps else 0.0
    before = y
    if h:
        y = cv2.fastNlMeansDenoising(y, None, h=float(h), templateWindowSize=7, searchWindowSize=21)
    blur = edge_sigma(y)
    excess = DEBLUR_SCALE * float(np.sqrt(max(blur ** 2 - SHARP_EDGE ** 2, 0.0))) if "blur" in steps else 0.0
    excess = min(excess, MAX_DEBLUR)
    f = y.astype(np.float32)
    if excess > 0.2:
        f = deconvolve(f, excess, DEBLUR_K * (max(grain, GRAIN_FLOOR) / DEBLUR_GRAIN) ** 2)
    grain_back = REGRAIN * grain if h else 0.0
    if h:
        f += RESIDUAL * (before.astype(np.float32) - y) + seeded_grain(f.shape, grain_back)
    y = np.clip(f + 0.5, 0, 255).astype(np.uint8)
    if info is not None:
        info.update(grain=round(grain, 2), denoise_h=round(h, 2), scratch_px=int((scratch > 0).sum()),
                    edge_sigma=round(blur, 2), deblur=round(excess if excess > 0.2 else 0.0, 2),
                    grain_back=round(grain_back, 2))
    return y


def restore_region(photo: np.ndarray, roi: tuple[int, int, int, int], context: float = CONTEXT,
                   steps=STEPS) -> np.ndarray:
    """The luminance of photo[y0:y1, x0:x1] (uint8 RGB photo; roi = x0, y0, x1, y1), restored with
    `context` of the region's size around it on each side (clipped to the photo), so that grain, blur
    and scratches are measured on more than the face alone."""
    import cv2

    x0, y0, x1, y1 = roi
    h, w = photo.shape[:2]
    px, py = int(context * (x1 - x0)), int(context * (y1 - y0))
    X0, Y0, X1, Y1 = max(0, x0 - px), max(0, y0 - py), min(w, x1 + px), min(h, y1 + py)
    y = restore_luma(cv2.cvtColor(np.ascontiguousarray(photo[Y0:Y1, X0:X1]), cv2.COLOR_RGB2GRAY), steps=steps)
    return y[y0 - Y0:y1 - Y0, x0 - X0:x1 - X0]


def with_colour(y: np.ndarray, face: np.ndarray, grey: bool, chroma_sigma: float = 0.0) -> np.ndarray:
    """Luminance `y` (uint8 H x W) with `face`'s colour (uint8 RGB, same size).

    `chroma_sigma`: the face's colour is smoothed by a Gaussian this wide (photo pixels) first, so
    only its low frequencies come through (a model pixel's worth: finer colour would be the model's
    upscaling, not the photo's structure).
    """
    import cv2

    if grey:
        return np.repeat(y[..., None], 3, axis=2)
    ycc = cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb)
    if chroma_sigma > 0:
        ycc[..., 1:] = cv2.GaussianBlur(ycc[..., 1:], (0, 0), chroma_sigma)
    ycc[..., 0] = y
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
