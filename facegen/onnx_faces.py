"""Seeds -> faces with ONNX Runtime and numpy alone: `facegen generate`'s fast path, which never imports torch.

A model file's ONNX twin (z, truncation -> image; interop/onnx_export.py) is written once, by the
first `facegen generate --backend onnx`, beside the model (`default.safetensors` ->
`default.twin.onnx`; a file there that is not a twin is never replaced), or under $XDG_CACHE_HOME/facegen/onnx/ when that folder is not writable. The twin records the
SHA-256 of the model file it was made from, and a twin whose hash does not match the file (the
model was replaced or retrained, the twin damaged) is never used. Seeds become latents as torch
draws them (seeds.py), so a seed makes the same face on both paths, up to ONNX Runtime's rounding.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .imaging import arrays_to_pil
from .interop import need
from .limits import MAX_BATCH, check_truncation
from .models.file import BUNDLED, file_sha256, read_header, resolve
from .recipe_schema import base_recipe
from .seeds import can_draw, draw_latents, pick_seeds

TWIN_SHA_KEY = "facegen_model_sha256"


class NoTwin(LookupError):
    """The model has no ONNX twin made from this very file (make one with `--backend onnx`)."""


@dataclass
class Faces:
    images: list[Image.Image]
    recipes: list[dict]
    seeds: list[int]


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "facegen" / "onnx"


def twin_paths(model_path: Path, sha256: str) -> list[Path]:
    """Where a model's twin may lie, in the order they are tried: beside it, then the user's cache."""
    model_path = Path(model_path)
    return [model_path.with_name(model_path.stem + ".twin.onnx"), cache_dir() / f"{sha256}.onnx"]


def _is_twin(path: Path) -> bool:
    """Whether the file at `path` is a twin (of any model): the only kind write_twin may replace."""
    try:
        return TWIN_SHA_KEY in _session(path, 1).get_modelmeta().custom_metadata_map
    except ImportError:
        raise
    except Exception:  # not ONNX, or damaged: not known to be a twin, so left alone
        return False


def _session(source, threads: int | None):
    ort = need("onnxruntime", "onnx")
    options = ort.SessionOptions()
    threads = threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(source if isinstance(source, bytes) else str(source), options,
                                providers=["CPUExecutionProvider"])


def open_twin(model_path: Path, sha256: str, threads: int | None = None):
    """An ONNX Runtime session on the twin made from this model file, or None."""
    for path in twin_paths(model_path, sha256):
        if not path.is_file():
            continue
        try:
            session = _session(path, threads)
        except ImportError:
            raise
        except Exception:  # a damaged twin is made again, never used
            continue
        if session.get_modelmeta().custom_metadata_map.get(TWIN_SHA_KEY) == sha256:
            return session
    return None


def write_twin(model_path: Path, sha256: str) -> Path:
    """Export the twin of a model file (this needs torch and onnx) where it can be written."""
    from .atomic import write_bytes
    from .interop.onnx_export import export_bytes
    from .models.file import load_generator

    data = export_bytes(load_generator(model_path), {TWIN_SHA_KEY: sha256})
    tried = []
    for path in twin_paths(model_path, sha256):
        if path.exists() and not _is_twin(path):
            tried.append(f"{path} (a file facegen did not write)")
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(path, data, overwrite=True)
            return path
        except OSError as e:
            tried.append(f"{path} ({e.strerror})")
    raise PermissionError(f"{model_path}: its ONNX twin could not be written: {'; '.join(tried)}")


def twin_session(model_path: Path, sha256: str, make: bool = False, threads: int | None = None):
    """A session on the model file's twin; a missing one is exported when `make`, else NoTwin."""
    session = open_twin(model_path, sha256, threads)
    if session is None:
        if not make:
            raise NoTwin(f"{model_path}: no ONNX twin made from this file (`facegen generate --backend onnx` makes one)")
        session = _session(write_twin(model_path, sha256), threads)
    return session


class OnnxFaces:
    """`FaceGenerator(...)(seeds=...)` on ONNX Runtime: seeds in, PIL images and their recipes out.

    `OnnxFaces.from_pretrained("default")` needs the model's twin; with `make_twin=True` a missing
    one is exported first (torch is imported for that once, never again for this file).
    """

    backend, precision = "onnx", "fp32"

    def __init__(self, session, config, model_info: dict):
        self.session, self.config, self.model_info = session, config, model_info

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = "default", make_twin: bool = False,
                        threads: int | None = None) -> "OnnxFaces":
        path = resolve(name_or_path)
        _, config = read_header(path)
        sha256 = file_sha256(path)
        info = {"name": config.name, "source": str(name_or_path) if str(name_or_path) in BUNDLED else str(path),
                "sha256": sha256, "architecture": config.architecture, "resolution": config.resolution}
        _check_drawable(config, info)
        return cls(twin_session(path, sha256, make_twin, threads), config, info)

    @classmethod
    def for_model(cls, model, model_info: dict) -> "OnnxFaces":
        """The ONNX path of a loaded generator: its file's twin, or a graph exported in memory."""
        _check_drawable(model.config, model_info)
        path, sha256 = getattr(model, "source", None), getattr(model, "sha256", None)
        if path and sha256 and Path(path).is_file():
            return cls(twin_session(Path(path), sha256, make=True), model.config, model_info)
        from .interop.onnx_export import export_bytes

        return cls(_session(export_bytes(model), None), model.config, model_info)

    def __call__(self, n: int = 1, seed: int | None = None, seeds: list[int] | None = None,
                 truncation: float = 1.0, size: int | None = None, noise_mode: str = "const",
                 batch_size: int = 64) -> Faces:
        """Faces for `seeds`, or for `n` consecutive seeds from `seed`, batched as the torch path batches."""
        seeds = pick_seeds(n, seed, seeds)
        check_truncation(truncation)
        if noise_mode != "const":
            raise ValueError(f"the ONNX twin holds the model's fixed noise only; noise_mode {noise_mode!r} needs torch")
        if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}, got {batch_size!r}")
        c = self.config
        base = base_recipe(self.model_info, noise_mode, size or c.resolution, self.precision, self.backend)
        images, recipes = [], []
        for start in range(0, len(seeds), batch_size):
            chunk = seeds[start:start + batch_size]
            z = draw_latents(chunk, c.latent_dim, c.latent_distribution)
            x = self.session.run(["image"], {"z": z, "truncation": np.array(truncation, dtype=np.float32)})[0]
            images += arrays_to_pil(x, size)
            recipes += [dict(base, kind="generate", seed=s, truncation=truncation, latent_space="z",
                             batch_seeds=chunk if len(chunk) > 1 else None) for s in chunk]
        return Faces(images, recipes, seeds)


def _check_drawable(config, info: dict) -> None:
    if not can_draw(config.latent_dim, config.latent_distribution):
        raise NoTwin(f"{info['source']}: its {config.latent_dim}-value normal latents are drawn by torch alone")
