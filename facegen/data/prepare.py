"""A folder of photos -> a dataset of aligned face crops, with a report of every file skipped.

Decoding, detection and alignment run in worker processes (one file each, in
order); the parent deduplicates and appends crops to the dataset writer, so the
result does not depend on the number of workers.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dataset import DatasetWriter, check_replaceable
from .dedupe import DEFAULT_THRESHOLD, NearDuplicates, dhash
from .images import DEFAULT_MAX_PIXELS, DUPLICATE, EXTENSIONS, NEAR_DUPLICATE, NO_FACE, Skip, file_sha256, read_image

PREVIEW_COUNT = 64


@dataclass
class Options:
    size: int = 64
    aligned: bool = False
    min_face: int | None = None          # None: half the output size
    max_pixels: int = DEFAULT_MAX_PIXELS
    crop: float = 1.0                    # with aligned: share of the shorter side kept, centred

    @property
    def min_side(self) -> int:
        return self.min_face if self.min_face is not None else max(self.size // 2, 16)


@dataclass
class FileResult:
    rel: str
    digest: str | None = None
    crops: list = field(default_factory=list)      # uint8 (size, size, 3)
    hashes: list = field(default_factory=list)     # dHash per crop
    faces: list = field(default_factory=list)      # per crop: Face.describe() (box, eyes, ...) or {}
    reason: str | None = None
    detail: str = ""


def list_images(src: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other files) under src, sorted, hidden files and folders left out."""
    images, others = [], []
    for root, dirs, files in os.walk(src):  # does not follow symlinked folders: no loops
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(root, name)
            (images if path.suffix.lower() in EXTENSIONS else others).append(path)
    return images, others


_worker = {}


def _init_worker(options: Options, src: Path) -> None:
    # Ctrl-C goes to the whole process group; only the parent decides what to do with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _setup(options, src)


def _setup(options: Options, src: Path) -> None:
    _worker["options"], _worker["src"] = options, src
    if not options.aligned:
        from .faces import make_finder

        _worker["finder"] = make_finder(options.min_side)


def process_file(path: Path) -> FileResult:
    """Everything that can happen to one file, in a worker; never raises for a bad file."""
    from .faces import align, centre_crop

    o: Options = _worker["options"]
    result = FileResult(rel=str(path.relative_to(_worker["src"])))
    try:
        result.digest = file_sha256(path)
        if o.aligned:
            rgb = read_image(path, o.max_pixels, min_side=o.min_side, draft_side=math.ceil(o.size / o.crop))
            result.crops.append(centre_crop(rgb, o.size, o.crop))
            result.faces.append({})
        else:
            rgb = read_image(path, o.max_pixels, min_side=o.min_side)
            faces = _worker["finder"].find(rgb)
            if not faces:
                raise Skip(NO_FACE, f"no face of at least {o.min_side} pixels")
            for face in faces:
                result.crops.append(align(rgb, face.left_eye, face.right_eye, o.size, face.mouth))
                result.faces.append(face.describe())
        result.hashes = [dhash(c) for c in result.crops]
    except Skip as e:
        result.reason, result.detail, result.crops, result.faces = e.reason, e.detail, [], []
    except OSError as e:
        result.reason, result.detail, result.crops, result.faces = "unreadable", e.strerror or str(e), [], []
    return result


def prepare(src: str | Path, out: str | Path, options: Options, overwrite: bool = False,
            workers: int = 2, progress: bool = True, near_threshold: int = DEFAULT_THRESHOLD,
            seed: int = 0) -> dict:
    """Build the dataset at `out` from the photos under `src` (never modified); return the report."""
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder of photos")
    src_r, out_r = src.resolve(), out.resolve()
    if out_r == src_r or src_r in out_r.parents:
        raise ValueError(f"{out}: the output must not be inside the photo folder {src}")
    if out_r in src_r.parents:
        raise ValueError(f"{src}: the photo folder is inside the output {out}, which --overwrite would delete")
    check_replaceable(out, overwrite)
    files, others = list_images(src)
    if not files:
        raise ValueError(f"{src}: no image files (JPEG, PNG, WebP, BMP, TIFF) found")

    started = time.perf_counter()
    skipped, items, eyes_estimated = [], [], 0
    digests: dict[str, str] = {}
    near = NearDuplicates(near_threshold)
    rng = random.Random(seed)
    preview: list[np.ndarray] = []        # reservoir sample: random crops without keeping them all
    results = _results(files, src, options, workers, progress)
    # closing(): on an error the worker pool stops now, not whenever the generator is collected.
    with contextlib.closing(results), DatasetWriter(out, options.size, overwrite) as writer:
        for r in results:
            if r.reason is None and r.digest in digests:
                r.reason, r.detail = DUPLICATE, f"same bytes as {digests[r.digest]}"
            if r.reason is not None:
                skipped.append({"file": r.rel, "reason": r.reason, "detail": r.detail})
                continue
            digests[r.digest] = r.rel
            for crop, h, face in zip(r.crops, r.hashes, r.faces):
                hit = near.match(h)
                if hit is not None:
                    skipped.append({"file": r.rel, "reason": NEAR_DUPLICATE,
                                    "detail": f"looks like {items[hit[0]]['source']} ({hit[1]} of 256 bits differ)"})
                    continue
                near.add(h)
                writer.add(crop)
                items.append({"source": r.rel, **face})
                eyes_estimated += face.get("eyes_found") is False
                if len(preview) < PREVIEW_COUNT:
                    preview.append(crop)
                else:
                    j = rng.randrange(writer.count)
                    if j < PREVIEW_COUNT:
                        preview[j] = crop
        seconds = time.perf_counter() - started
        report = _report(src, out, options, files, others, items, skipped, eyes_estimated, seconds)
        meta = {"source": str(src_r), "aligned": options.aligned, "items": items,
                "alignment": None if options.aligned else "FFHQ-style from eyes and mouth, roll undone"}
        writer.commit(meta, report, _preview(preview))
    return report


def _results(files, src, options, workers, progress):
    from tqdm import tqdm

    bar = tqdm(total=len(files), unit="file", disable=not progress, dynamic_ncols=True, smoothing=0.05)
    try:
        if workers <= 1 or len(files) < 4:  # starting workers (~1 s) costs more than a few files
            _setup(options, src)
            for path in files:
                yield process_file(path)
                bar.update()
            return
        import multiprocessing as mp

        # fork would copy the parent's threads' locks; spawn is slower to start but always safe.
        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        chunk = max(1, min(32, len(files) // (workers * 8)))
        with ctx.Pool(workers, initializer=_init_worker, initargs=(options, src)) as pool:
            for r in pool.imap(process_file, files, chunksize=chunk):
                yield r
                bar.update()
    finally:
        bar.close()


def _report(src, out, options, files, others, items, skipped, eyes_estimated, seconds) -> dict:
    reasons: dict[str, int] = {}
    for s in skipped:
        reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
    sources = {it["source"] for it in items}
    report = {
        "source": str(src), "output": str(out), "size": options.size, "aligned": options.aligned,
        "crop": options.crop,
        "min_face": options.min_side, "max_pixels": options.max_pixels,
        "files": len(files), "files_with_faces": len(sources), "images": len(items),
        "skipped": dict(sorted(reasons.items())), "skipped_files": skipped,
        "ignored_files": [str(p.relative_to(src)) for p in others],
        "seconds": round(seconds, 2), "files_per_second": round(len(files) / seconds, 1) if seconds else None,
    }
    if not options.aligned:
        report["eyes_estimated"] = eyes_estimated
    return report


def _preview(crops):
    if not crops:
        return None
    from PIL import Image

    from ..imaging import make_grid

    return make_grid([Image.fromarray(c) for c in crops], columns=8 if len(crops) >= 8 else None)
