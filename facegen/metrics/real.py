"""Real images for the metrics — a folder of photos (searched recursively) or a prepared
dataset — turned into Inception features and face counts, cached per folder.

The cache file is keyed by the folder's absolute path, every file's name, size
and modification time, the feature extractor and detector versions, the
evaluation size and the chosen subset; any change gives a new key, so a stale
cache is never read. It is a safetensors file (no pickle), written atomically.
While features are computed, a `.partial` file beside it is rewritten every
SAVE_EVERY images, so a run that is stopped resumes where it was.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

from ..atomic import atomic_path
from ..data.dataset import META, load_dataset
from ..data.images import EXTENSIONS, Skip, read_image
from .features import to_square

CACHE_FORMAT = "facegen-real-features/1"
SAVE_EVERY = 1024  # images between saves of a partial cache


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facegen" / "metrics"


@dataclass
class ImageSource:
    """Where real images come from; `read(i, size)` gives image i as a uint8 size x size square."""
    path: Path
    names: list[str]
    stamp: list = field(repr=False)  # what the cache key hashes besides the names
    _dataset: object = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def kind(self) -> str:
        return "dataset" if self._dataset is not None else "folder"

    def read(self, i: int, size: int) -> np.ndarray:
        if self._dataset is not None:
            return to_square(np.asarray(self._dataset.images[i]), size)
        return to_square(read_image(self.path / self.names[i]), size)


def open_source(path: str | Path) -> ImageSource:
    """A folder of images or a `facegen prepare` dataset; errors name the folder and the problem."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such folder")
    if not path.is_dir():
        raise ValueError(f"{path}: not a folder (give a folder of images or a prepared dataset)")
    if not os.access(path, os.R_OK | os.X_OK):
        raise PermissionError(f"{path}: the folder cannot be read (permission denied)")
    if (path / META).is_file():
        ds = load_dataset(path)
        stamp = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in (path / META, path / "images.npy")]
        return ImageSource(path, [f"images.npy[{i}]" for i in range(len(ds))], stamp, ds)
    names, stamp, others = [], [], 0

    def fail(e: OSError):
        raise PermissionError(f"{e.filename}: cannot read this folder ({e.strerror})")

    for root, dirs, files in os.walk(path, onerror=fail, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            p = Path(root) / f
            if f.startswith(".") or p.suffix.lower() not in EXTENSIONS:
                others += 1
                continue
            try:
                st = p.stat()
            except OSError as e:
                raise PermissionError(f"{p}: cannot read ({e.strerror})") from None
            rel = p.relative_to(path).as_posix()
            names.append(rel)
            stamp.append([rel, st.st_size, st.st_mtime_ns])
    if not names:
        raise ValueError(f"{path}: no images found (searched recursively for "
                         f"{', '.join(sorted(EXTENSIONS))}; {others} other file(s))")
    return ImageSource(path, names, stamp)


@dataclass
class RealFeatures:
    source: ImageSource
    size: int
    indices: np.ndarray        # into source.names, one per row of features
    features: np.ndarray       # (N, 2048) float32
    faces: np.ndarray          # (N,) faces found in each image
    skipped: list              # [name, reason] for files that gave no image
    cache_file: Path | None
    from_cache: bool

    def name(self, row: int) -> str:
        return self.source.names[int(self.indices[row])]

    def image(self, row: int) -> np.ndarray:
        return self.source.read(int(self.indices[row]), self.size)


def choose(n_available: int, limit: int | None, seed: int, path: Path) -> np.ndarray:
    if limit is None or limit == n_available:
        return np.arange(n_available)
    if limit > n_available:
        raise ValueError(f"{path}: {limit} images requested but the folder holds only {n_available}")
    return np.sort(np.random.default_rng(seed).choice(n_available, limit, replace=False))


def real_features(source: ImageSource, size: int, extractor, counter, limit: int | None = None,
                  seed: int = 0, cache_dir: Path | None = None, batch_size: int = 32,
                  desc: str = "real") -> RealFeatures:
    """Features and face counts of `source` (or a seeded subset of `limit` images), from the cache when it has them."""
    chosen = choose(len(source), limit, seed, source.path)
    key_material = {"format": CACHE_FORMAT, "path": str(source.path.resolve()), "files": source.stamp,
                    "extractor": extractor.version, "detector": counter.version, "size": size,
                    "chosen": chosen.tolist() if len(chosen) != len(source) else "all"}
    key = hashlib.sha256(json.dumps(key_material, sort_keys=True).encode()).hexdigest()
    cache_file = None
    if cache_dir is not None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", source.path.resolve().name)[:40] or "root"
        cache_file = Path(cache_dir) / f"{slug}-{size}px-{key[:24]}.safetensors"
        cached = _load(cache_file, key, source, size, extractor.dim)
        if cached is not None:
            return cached

    partial = cache_file.with_name(cache_file.name + ".partial") if cache_file is not None else None
    state = _load_partial(partial, key, extractor.dim) if partial is not None else None
    begin = state["end"] if state else 0
    kept: list[int] = list(state["indices"]) if state else []
    faces: list[int] = list(state["faces"]) if state else []
    feats: list[np.ndarray] = [state["features"]] if state else []
    skipped: list = state["skipped"] if state else []  # [position in `chosen`, name, reason]
    queue: collections.deque = collections.deque()     # images read but not yet through the network
    progress = {"end": begin, "unsaved": 0}

    def images():
        for pos in range(begin, len(chosen)):
            i = int(chosen[pos])
            try:
                square = source.read(i, size)
            except Skip as e:
                skipped.append([pos, source.names[i], str(e)])
                continue
            queue.append((pos, i))
            yield square[None]

    def on_batch(batch, features):
        for _ in range(len(batch)):
            pos, i = queue.popleft()
            kept.append(i)
        progress["end"] = pos + 1
        faces.extend(counter(batch))
        feats.append(features)
        progress["unsaved"] += len(batch)
        if partial is not None and progress["unsaved"] >= SAVE_EVERY:
            # Tens of minutes of work on a shared CPU: keep it, so that a killed run resumes here.
            done = [s for s in skipped if s[0] < progress["end"]]
            _save(partial, key, np.array(kept, np.int64), np.concatenate(feats), np.array(faces, np.int16),
                  done, progress["end"])
            progress["unsaved"] = 0

    if begin:
        print(f"{desc}: resuming after {begin} of {len(chosen)} images ({partial})", file=sys.stderr)
    extractor.extract(images(), total=len(chosen) - begin, desc=desc, on_batch=on_batch, batch_size=batch_size)
    skipped = [s[1:] for s in skipped]
    if skipped:
        print(f"{desc}: skipped {len(skipped)} unreadable file(s), e.g. {skipped[0][0]}: {skipped[0][1]}",
              file=sys.stderr)
    if not kept:
        raise ValueError(f"{source.path}: none of the {len(chosen)} image files could be read "
                         f"(e.g. {skipped[0][0]}: {skipped[0][1]})")
    result = RealFeatures(source, size, np.array(kept, np.int64), np.concatenate(feats),
                          np.array(faces, np.int16), skipped, cache_file, False)
    if cache_file is not None:
        _save(cache_file, key, result.indices, result.features, result.faces, skipped)
        partial.unlink(missing_ok=True)
    return result


def _save(path: Path, key: str, indices, features, faces, skipped, end: int | None = None) -> None:
    from safetensors.numpy import save_file

    meta = {"format": CACHE_FORMAT, "key": key, "skipped": json.dumps(skipped)}
    if end is not None:
        meta["end"] = str(end)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({"features": features, "faces": faces, "indices": indices}, str(tmp), metadata=meta)
    except OSError as e:
        # A cache that cannot be written costs time next run, not this run's result.
        print(f"warning: could not write the feature cache {path} ({e.strerror or e})", file=sys.stderr)


def _read(path: Path, key: str, dim: int, n_files: int) -> tuple[dict, dict] | None:
    """The tensors and metadata of a cache file made for `key`, or None (a damaged cache is never trusted)."""
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            if meta.get("format") != CACHE_FORMAT or meta.get("key") != key:
                return None
            t = {k: f.get_tensor(k) for k in ("features", "faces", "indices")}
        meta["skipped"] = json.loads(meta.get("skipped", "[]"))
    except Exception as e:
        print(f"warning: ignoring unreadable feature cache {path} ({e})", file=sys.stderr)
        return None
    n = len(t["indices"])
    if t["features"].shape != (n, dim) or t["faces"].shape != (n,) or (n and t["indices"].max() >= n_files):
        print(f"warning: ignoring inconsistent feature cache {path}", file=sys.stderr)
        return None
    return t, meta


def _load(path: Path, key: str, source: ImageSource, size: int, dim: int) -> RealFeatures | None:
    got = _read(path, key, dim, len(source))
    if got is None:
        return None
    t, meta = got
    return RealFeatures(source, size, t["indices"].astype(np.int64), t["features"].astype(np.float32),
                        t["faces"].astype(np.int16), meta["skipped"], path, True)


def _load_partial(path: Path, key: str, dim: int) -> dict | None:
    got = _read(path, key, dim, 2**62)
    if got is None or "end" not in got[1]:
        return None
    t, meta = got
    return {"end": int(meta["end"]), "indices": t["indices"].astype(np.int64).tolist(),
            "faces": t["faces"].astype(np.int16).tolist(), "features": t["features"].astype(np.float32),
            "skipped": meta["skipped"]}
