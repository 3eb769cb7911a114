"""Read one image file safely into an upright uint8 RGB array, or say exactly why not.

Photos folders hold anything: text files named .jpg, half-copied JPEGs, 16-bit
scans, CMYK prints, phone photos stored sideways with an EXIF flag, and now and
then a small file whose header claims billions of pixels. Every one of these
ends as either an RGB array or a `Skip` with a reason the report can show.
"""
from __future__ import annotations

import contextlib
import hashlib
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff"}
# MPO is what many cameras call a JPEG with a second (depth or preview) frame.
FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP", "DIB", "TIFF"}
DEFAULT_MAX_PIXELS = 100_000_000  # a 100-megapixel photo decodes to 300 MB; beyond that is a bomb or a scan

# Reasons a file is skipped; the report groups by these exact strings.
UNREADABLE = "unreadable"
TRUNCATED = "truncated"
NOT_AN_IMAGE = "not an image"
BOMB = "decompression bomb"
TOO_SMALL = "too small"
NO_FACE = "no face found"
DUPLICATE = "duplicate"
NEAR_DUPLICATE = "near duplicate"


class Skip(Exception):
    """This file gives no training image; `reason` is one of the constants above."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@contextlib.contextmanager
def _own_pixel_limit():
    # Pillow's bomb check (a warning over its limit, an error over twice that) would
    # pre-empt --max-pixels in both directions; `_decode` checks the same header
    # size itself, still before any pixel is decoded.
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = 1,
               draft_side: int | None = None) -> np.ndarray:
    """Decode `path` to an upright (H, W, 3) uint8 RGB array; raise `Skip` if it cannot give one.

    The pixel count comes from the header and is checked before any pixel is decoded.
    `draft_side`: JPEGs may be decoded at 1/2, 1/4 or 1/8 scale (much faster) as long
    as the shorter side stays at least this long.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise Skip(NOT_AN_IMAGE, "empty file")
    except OSError as e:
        raise Skip(UNREADABLE, e.strerror or str(e)) from None
    with _own_pixel_limit():
        try:
            im = Image.open(path)
        except UnidentifiedImageError:
            raise Skip(NOT_AN_IMAGE, "not a format Pillow recognises") from None
        except OSError as e:
            raise Skip(UNREADABLE, e.strerror or str(e)) from None
        except (SyntaxError, ValueError) as e:
            # Pillow reports malformed headers as SyntaxError.
            raise Skip(NOT_AN_IMAGE, str(e)) from None
        with im:
            return _decode(im, max_pixels, min_side, draft_side)


def _decode(im: Image.Image, max_pixels: int, min_side: int, draft_side: int | None) -> np.ndarray:
    if im.format not in FORMATS:
        raise Skip(NOT_AN_IMAGE, f"{im.format} is not a supported format (JPEG, PNG, WebP, BMP, TIFF)")
    w, h = im.size
    if w * h > max_pixels:
        raise Skip(BOMB, f"header says {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,}")
    if min(w, h) < min_side:
        raise Skip(TOO_SMALL, f"{w}x{h}, shorter side under {min_side} pixels")
    if draft_side and im.format in ("JPEG", "MPO"):
        # Scaled DCT decoding is both faster and a good anti-aliased downscale.
        scale = min(w, h) / draft_side
        if scale >= 2:
            im.draft("RGB", (int(np.ceil(w / scale)), int(np.ceil(h / scale))))
    try:
        im.load()
        im = ImageOps.exif_transpose(im) or im
        arr = _to_rgb(im)
    except Skip:
        raise
    except OSError as e:
        text = str(e)
        if "truncated" in text or "broken" in text or "premature" in text.lower():
            raise Skip(TRUNCATED, text) from None
        raise Skip(UNREADABLE, text) from None
    except (SyntaxError, ValueError, EOFError, struct.error) as e:
        raise Skip(UNREADABLE, f"{type(e).__name__}: {e}") from None
    except MemoryError:
        raise Skip(UNREADABLE, "not enough memory to decode it") from None
    return arr


def _to_rgb(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale: Pillow's convert("L") clips rather than scales, which turns
        # most scans white. Scale the full 16-bit range down instead.
        a = np.asarray(im).astype(np.float32)
        top = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        grey = np.clip(a * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        a = np.asarray(im)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        grey = np.nan_to_num((a - lo) * (255.0 / (hi - lo or 1.0))).clip(0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "1":
        im = im.convert("L")
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        # Transparent parts become white, as on a page, rather than black noise.
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(im, mask=im.getchannel("A"))
        im = background
    elif im.mode != "RGB":
        im = im.convert("RGB")  # L, CMYK (Adobe inversion is handled by the JPEG decoder), YCbCr, LAB
    return np.asarray(im, dtype=np.uint8).copy()


class PhotoError(ValueError):
    """One photo given by a user that cannot be used; the message names the file, `problem` says why."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.problem = problem


def read_photo(path: str | Path, max_pixels: int | None = None) -> tuple[np.ndarray, list[str]]:
    """One photo as read_image decodes it, and notes on conversions worth telling the user about.

    For a single named file (invert, swap, remaster, uploads), where `Skip` would be the wrong word.
    """
    path = Path(path)
    if path.is_dir():
        raise PhotoError(path, "is a folder; give one image file")
    if not path.exists():
        raise PhotoError(path, "no such file")
    try:
        rgb = read_image(path, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    except Skip as e:
        raise PhotoError(path, str(e)) from None
    notes = []
    # A CMYK file's colours are only approximated in RGB, so the user is told. Only the header is read
    # again; max_pixels was checked above, so Pillow's own bomb limit must not veto a larger one.
    with _own_pixel_limit(), Image.open(path) as im:
        if im.mode == "CMYK":
            notes.append(f"{path.name}: CMYK image, converted to RGB")
    return rgb, notes


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks (photos can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_grey(rgb: np.ndarray) -> bool:
    """A black-and-white picture, even one saved as a colour JPEG (whose faint chroma noise a
    99th percentile of the per-pixel channel spread ignores)."""
    step = max(1, rgb.shape[0] * rgb.shape[1] // 250_000)  # a sample is enough to tell
    flat = rgb.reshape(-1, 3)[::step].astype(np.int16)
    spread = np.abs(flat - flat.mean(1, keepdims=True)).max(1)
    return bool(np.percentile(spread, 99) <= 4)
