"""The prepared dataset on disk: a folder the trainer memory-maps, never decodes.

    OUT/
      images.npy     uint8 N x H x W x 3 (RGB), a plain .npy array: np.load(mmap_mode="r")
      dataset.json   format, version, size, count, source, aligned, per-image source file
      report.json    what was kept, what was skipped and why
      preview.png    a grid of random crops

The folder is written under a temporary name beside OUT and renamed into place
last, so a folder called OUT that holds dataset.json is always complete.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..arrays import map_npy

FORMAT = "facegen-dataset"
VERSION = 1
SIZES = (32, 64, 128, 256)
IMAGES = "images.npy"
META = "dataset.json"
REPORT = "report.json"
PREVIEW = "preview.png"


@dataclass
class Dataset:
    path: Path
    images: np.ndarray = field(repr=False)  # (N, size, size, 3) uint8, memory-mapped read-only
    size: int
    meta: dict = field(repr=False)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def sources(self) -> list[str]:
        """The source file of each image, in order (a photo with two faces appears twice)."""
        return [item["source"] for item in self.meta.get("items", [])]


def load_dataset(path: str | Path) -> Dataset:
    """Open a dataset folder made by `facegen prepare`; raise ValueError/FileNotFoundError naming the problem."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such dataset (make one with `facegen prepare PHOTOS {path}`)")
    if not path.is_dir():
        raise ValueError(f"{path}: a dataset is a folder made by `facegen prepare`, not a file")
    meta_path = path / META
    if not meta_path.is_file():
        raise ValueError(f"{path}: not a facegen dataset ({META} is missing; was `facegen prepare` interrupted?)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{meta_path}: unreadable dataset description ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{meta_path}: not a facegen dataset description")
    if meta.get("version") != VERSION:
        raise ValueError(f"{meta_path}: dataset format version {meta.get('version')!r} is not supported "
                         f"(this facegen reads version {VERSION}; re-run `facegen prepare`)")
    size, count = meta.get("size"), meta.get("count")
    if size not in SIZES or not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"{meta_path}: bad size {size!r} or count {count!r}")
    items = meta.get("items", [])
    if not (isinstance(items, list) and all(isinstance(i, dict) and isinstance(i.get("source"), str) for i in items)):
        raise ValueError(f"{meta_path}: 'items' must be a list of objects, each with its 'source' file")

    if count == 0:
        raise ValueError(f"{path}: the dataset is empty (no faces were kept; see {path / REPORT})")
    images_path = path / IMAGES
    if not images_path.is_file():
        raise ValueError(f"{path}: {IMAGES} is missing")
    try:
        # Our own header check, not np.load: never a pickle, and a damaged or lying header is one clear error.
        images = map_npy(images_path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{images_path}: not a readable uint8 image array ({e})") from None
    expected = (count, size, size, 3)
    if images.dtype != np.uint8 or images.shape != expected:
        raise ValueError(f"{images_path}: holds {images.dtype} {tuple(images.shape)}, "
                         f"expected uint8 {expected} as {META} says")
    return Dataset(path=path, images=images, size=size, meta=meta)


_HEADER_LEN = 128  # fixed so the .npy header can be written last, once the count is known


def _npy_header(count: int, size: int) -> bytes:
    text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({count}, {size}, {size}, 3), }}"
    body_len = _HEADER_LEN - 10  # magic (6) + version (2) + length (2)
    if len(text) >= body_len:
        raise ValueError(f"a dataset of {count} images is too large to describe")
    return np.lib.format.magic(1, 0) + body_len.to_bytes(2, "little") + (text.ljust(body_len - 1) + "\n").encode()


class DatasetWriter:
    """Builds a dataset in a hidden folder beside `out`; `commit` renames it into place.

    Until commit nothing is at `out`; `abort` (or an exception inside `with`) removes
    the hidden folder, so an interrupted run leaves no dataset that looks complete.
    """

    def __init__(self, out: str | Path, size: int, overwrite: bool = False):
        if size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(map(str, SIZES))}, got {size}")
        self.out = Path(out)
        self.size = size
        self.overwrite = overwrite
        check_replaceable(self.out, overwrite)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(self.out)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-{os.getpid()}-", dir=self.out.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the dataset should look like any folder
        self.count = 0
        self._file = open(self.tmp / IMAGES, "wb")
        self._file.write(_npy_header(0, size))

    def add(self, crop: np.ndarray) -> None:
        if crop.shape != (self.size, self.size, 3) or crop.dtype != np.uint8:
            raise ValueError(f"crop is {crop.dtype} {crop.shape}, expected uint8 ({self.size}, {self.size}, 3)")
        self._file.write(np.ascontiguousarray(crop).tobytes())
        self.count += 1

    def commit(self, meta: dict, report: dict, preview=None) -> Path:
        """Finish the files, then swap the folder into place (replacing an old dataset if allowed)."""
        self._file.seek(0)
        self._file.write(_npy_header(self.count, self.size))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        meta = {"format": FORMAT, "version": VERSION, "size": self.size, "count": self.count, **meta}
        _write_json(self.tmp / META, meta)
        _write_json(self.tmp / REPORT, report)
        if preview is not None:
            preview.save(self.tmp / PREVIEW)
        _fsync_dir(self.tmp)
        check_replaceable(self.out, self.overwrite)  # it may have appeared while we worked
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        _fsync_dir(self.out.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        if self.tmp.exists():
            self.abort()


def check_replaceable(out: Path, overwrite: bool) -> None:
    """Refuse to clobber anything but an old dataset (or an empty folder) — and that only with overwrite."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a dataset folder; choose another output")
    if not any(out.iterdir()):
        return
    if not (out / META).is_file():
        raise FileExistsError(f"{out}: exists and is not a facegen dataset; refusing to replace it")
    if not overwrite:
        raise FileExistsError(f"{out}: a dataset is already there (use --overwrite to replace it)")


def _remove_stale_temps(out: Path) -> None:
    """Hidden folders left by a run that was killed (its process is gone)."""
    for p in out.parent.glob(f".{out.name}.tmp-*-*"):
        try:
            pid = int(p.name[len(f".{out.name}.tmp-"):].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue


def _write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
