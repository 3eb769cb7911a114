"""All the metrics for one model against one set of real photos: the function behind `facegen metrics`."""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .. import __version__
from .faces import FaceCounter, one_face_share
from .features import InceptionFeatures
from .fid import fid as compute_fid
from .kid import kid as compute_kid
from .memorisation import memorisation
from .memorisation import nearest as nearest_real
from .precision_recall import precision_recall
from .real import RealFeatures, open_source, real_features

K = 3
MIN_REAL = K + 1  # precision/recall need k neighbours besides the sample itself


@dataclass
class Evaluation:
    report: dict                 # JSON-safe numbers and settings
    samples: np.ndarray          # generated uint8 squares, in seed order
    seeds: list[int]
    real: RealFeatures
    train: RealFeatures | None
    nearest: list[tuple[int, int, float]]  # (sample row, train/real row, distance), closest first


def generate_features(pipe, num: int, seed: int, truncation: float, extractor, counter,
                      batch_size: int = 32, size: int | None = None):
    """Generate `num` faces from consecutive seeds; their squares, features and face counts.

    `size` other than the model's resizes each face with Lanczos, so a model can be compared
    with real photos at another resolution (the report says so)."""
    size = size or pipe.config.resolution
    resize = size != pipe.config.resolution
    samples = np.empty((num, size, size, 3), np.uint8)
    faces: list[int] = []
    seeds = list(range(seed, seed + num))
    done = 0

    def batches():
        nonlocal done
        for start in range(0, num, batch_size):
            out = pipe(seeds=seeds[start:start + batch_size], truncation=truncation, batch_size=batch_size)
            arr = np.stack([np.asarray(im.convert("RGB").resize((size, size), Image.LANCZOS) if resize
                                       else im.convert("RGB")) for im in out.images])
            samples[done:done + len(arr)] = arr
            done += len(arr)
            yield arr

    features = extractor.extract(batches(), total=num, desc="generated",
                                 on_batch=lambda b, _: faces.extend(counter(b)), batch_size=batch_size)
    return samples, seeds, features, np.array(faces, np.int16)


def evaluate(model: str | Path, real: str | Path, num: int = 5000, seed: int = 0, truncation: float = 1.0,
             train: str | Path | None = None, real_num: int | None = None, train_num: int | None = None,
             cache_dir: Path | None = None, threads: int | None = None, batch_size: int = 32,
             kid_subsets: int = 100, kid_subset_size: int = 1000, percentile: float = 1.0,
             precision: str = "auto", pairs: int = 8, resolution: int | None = None) -> Evaluation:
    from ..pipeline import FaceGenerator

    if num < MIN_REAL:
        raise ValueError(f"--num must be at least {MIN_REAL} (precision and recall use k={K} neighbours), got {num}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    real_source = open_source(real)
    train_source = open_source(train) if train is not None else None
    if train_source is not None and train_source.path.resolve() == real_source.path.resolve():
        raise ValueError(f"{train}: the training folder is the same as --real; the memorisation check "
                         "needs held-out real photos that were not trained on")
    pipe = FaceGenerator.from_pretrained(model, precision=precision)
    size = resolution or pipe.config.resolution
    extractor = InceptionFeatures(threads=threads)
    counter = FaceCounter()

    t = time.perf_counter()
    # Subsets of real images use a fixed seed: the same real set (and cache) whatever --seed is.
    r = real_features(real_source, size, extractor, counter, real_num, 0, cache_dir, batch_size, "real")
    timings["real_features"] = time.perf_counter() - t
    if len(r.features) < MIN_REAL:
        raise ValueError(f"{real_source.path}: only {len(r.features)} readable image(s); "
                         f"the metrics need at least {MIN_REAL}")
    tr = None
    if train_source is not None:
        t = time.perf_counter()
        tr = real_features(train_source, size, extractor, counter, train_num, 0, cache_dir, batch_size, "train")
        timings["train_features"] = time.perf_counter() - t

    t = time.perf_counter()
    samples, seeds, gen, gen_faces = generate_features(pipe, num, seed, truncation, extractor, counter, batch_size,
                                                       size)
    timings["generate_and_features"] = time.perf_counter() - t

    t = time.perf_counter()
    fid = compute_fid(gen, r.features)
    kid_mean, kid_std = compute_kid(gen, r.features, kid_subsets, kid_subset_size, seed)
    prec, rec = precision_recall(r.features, gen, K)
    timings["fid_kid_pr"] = time.perf_counter() - t

    mem = None
    if tr is not None:
        t = time.perf_counter()
        m = memorisation(gen, tr.features, r.features, percentile)
        timings["memorisation"] = time.perf_counter() - t
        dist, index = m.pop("distances"), m.pop("nearest_index")
        mem = m
    else:
        # No training set: show the nearest real photos instead, so the report still has pairs to look at.
        dist, index = nearest_real(gen, r.features)
    order = np.argsort(dist)[:pairs]
    nearest = [(int(i), int(index[i]), float(dist[i])) for i in order]
    ref = tr if tr is not None else r
    if mem is not None:
        mem["closest"] = [{"seed": seeds[i], "train_image": ref.name(j), "distance": d} for i, j, d in nearest]

    timings["total"] = time.perf_counter() - t0
    info = pipe.model_info()
    report = {
        "facegen": __version__,
        "model": {**info, "precision": pipe.precision},
        "settings": {"num": num, "seed": seed, "seeds": f"{seed}-{seed + num - 1}", "truncation": truncation,
                     "resolution": size, "upscaled_from": pipe.config.resolution if size != pipe.config.resolution
                     else None, "k": K, "kid_subsets": kid_subsets,
                     "kid_subset_size": min(kid_subset_size, num, len(r.features)),
                     "memorisation_percentile": percentile,
                     "feature_extractor": extractor.version, "face_detector": counter.version},
        "real": _describe(r),
        "train": _describe(tr) if tr is not None else None,
        "fid": fid,
        "kid": kid_mean,
        "kid_std": kid_std,
        "precision": prec,
        "recall": rec,
        "one_face_share": one_face_share(gen_faces),
        "real_one_face_share": one_face_share(r.faces),
        "memorisation": mem,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "images_per_second": _rate(num, timings["generate_and_features"]),
        "machine": {"cpus": os.cpu_count(), "threads": threads or os.cpu_count(), "platform": platform.platform(),
                    "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None},
    }
    return Evaluation(report, samples, seeds, r, tr, nearest)


def _rate(n: int, seconds: float) -> float:
    """Generated images per second, generation and features together (real images may come from the cache)."""
    return round(n / max(seconds, 1e-9), 2)


def _describe(r: RealFeatures) -> dict:
    return {"path": str(r.source.path), "kind": r.source.kind, "images": int(len(r.features)),
            "files": len(r.source), "skipped": len(r.skipped), "skipped_examples": r.skipped[:5],
            "cache": str(r.cache_file) if r.cache_file else None, "from_cache": r.from_cache}
