"""A folder of portraits -> the faces to train on and a seeded held-out part to measure with.

The photos go through `facegen prepare` unchanged (detection, FFHQ-style alignment,
de-duplication) into RUN/dataset. A seeded share of the photos (10%, at least 16 faces)
is then set aside in RUN/heldout and never trained on; the rest is RUN/train. The split
is by photo, so the faces of one group picture land on the same side.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.dataset import DatasetWriter, load_dataset
from ..data.dedupe import DEFAULT_THRESHOLD
from ..data.prepare import Options, prepare

HELDOUT_SHARE = 0.10
MIN_HELDOUT = 16
MIN_TRAIN = 16
GREY_LEVELS = 2.0  # mean |channel - pixel mean| (of 255) under which a face counts as grey (JPEG's chroma noise)


class FinetuneError(ValueError):
    """A problem with what a fine-tune was given; the message names the folder or file."""


@dataclass
class Split:
    dataset: Path   # every face found
    train: Path
    heldout: Path
    n_train: int
    n_heldout: int
    report: dict    # what `facegen prepare` reported


def heldout_count(n: int, share: float = HELDOUT_SHARE, minimum: int = MIN_HELDOUT) -> int:
    return max(minimum, math.ceil(share * n))


def choose_heldout(sources: list[str], count: int, seed: int) -> np.ndarray:
    """Indices of whole photos, in a seeded order, until at least `count` faces are set aside."""
    photos: dict[str, list[int]] = {}
    for i, s in enumerate(sources):
        photos.setdefault(s, []).append(i)
    names = sorted(photos)
    chosen: list[int] = []
    for k in np.random.default_rng(seed).permutation(len(names)):
        if len(chosen) >= count:
            break
        chosen += photos[names[k]]
    return np.array(sorted(chosen), np.int64)


def prepare_folder(folder: str | Path, run: Path, size: int, seed: int = 0, share: float = HELDOUT_SHARE,
                   minimum: int = MIN_HELDOUT, workers: int = 2, progress: bool = True,
                   near_threshold: int = DEFAULT_THRESHOLD) -> Split:
    folder = Path(folder)
    if not folder.is_dir():
        raise FinetuneError(f"{folder}: no such folder of photos")
    try:
        report = prepare(folder, run / "dataset", Options(size=size), workers=workers, progress=progress,
                         near_threshold=near_threshold)
    except ValueError as e:  # e.g. no image files at all; the message names the folder
        raise FinetuneError(str(e)) from None
    n = report["images"]
    if n == 0:
        reasons = ", ".join(f"{k}: {v}" for k, v in report["skipped"].items()) or "nothing readable"
        raise FinetuneError(f"{folder}: no faces found in its {report['files']} image file(s) ({reasons}); "
                            f"fine-tuning needs portraits in which a face of at least {report['min_face']} "
                            f"pixels can be found")
    held = heldout_count(n, share, minimum)
    if n < held + MIN_TRAIN:
        raise FinetuneError(f"{folder}: {n} faces found in {report['files']} image file(s); fine-tuning needs at "
                            f"least {minimum + MIN_TRAIN} ({minimum} held out to measure quality, "
                            f"{MIN_TRAIN} or more to train on)")
    ds = load_dataset(run / "dataset")
    sources = ds.sources
    heldout = choose_heldout(sources, held, seed)
    train = np.setdiff1d(np.arange(n), heldout)
    if len(train) < MIN_TRAIN:  # one photo with many faces can take more than its share
        raise FinetuneError(f"{folder}: after setting {len(heldout)} faces aside only {len(train)} are left "
                            f"to train on; add photos (at least {MIN_TRAIN} faces to train on)")
    for name, rows in (("train", train), ("heldout", heldout)):
        _subset(ds, rows, run / name, name)
    return Split(run / "dataset", run / "train", run / "heldout", len(train), len(heldout), report)


def all_grey(dataset: Path) -> bool:
    """Whether every face of a prepared dataset is grey: pencil sketches, old photos, charcoal."""
    images = load_dataset(dataset).images
    for start in range(0, len(images), 256):
        x = np.asarray(images[start:start + 256], np.float32)
        if (np.abs(x - x.mean(axis=3, keepdims=True)).mean(axis=(1, 2, 3)) > GREY_LEVELS).any():
            return False
    return len(images) > 0


def reuse_split(run: Path) -> Split | None:
    """The faces an earlier part of this fine-tune prepared, when every part of them was written."""
    import json

    try:
        train, heldout = load_dataset(run / "train"), load_dataset(run / "heldout")
        report = json.loads((run / "dataset" / "report.json").read_text())
    except (OSError, ValueError):
        return None  # killed while preparing: prepare again
    return Split(run / "dataset", run / "train", run / "heldout", len(train), len(heldout), report)


def _subset(ds, rows: np.ndarray, out: Path, name: str) -> None:
    items = ds.meta.get("items", [])
    with DatasetWriter(out, ds.size) as writer:
        for i in rows:
            writer.add(np.asarray(ds.images[i]))
        meta = {"source": ds.meta.get("source"), "split": name, "of": str(ds.path),
                "rows": rows.tolist(), "items": [items[i] for i in rows]}
        writer.commit(meta, {"split": name, "images": len(rows), "of": str(ds.path)})
