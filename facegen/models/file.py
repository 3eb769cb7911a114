"""The generator model file: one .safetensors whose header metadata holds a JSON config.

Loading never unpickles. `read_header` reads the header alone (no torch), parses it
as JSON and checks it against the config (names, shapes, dtypes, offsets) and the
limits facegen sets (file and header size; a pickle or zip given by mistake is named
as such) before a single tensor is read; the tensors then come through
`safetensors.safe_open`, which maps the file instead of reading it whole.
"""
from __future__ import annotations

import hashlib
import json
import math
import struct
from importlib import resources
from pathlib import Path

from . import build_generator
from .config import ConfigError, GeneratorConfig

MAX_FILE_BYTES = 2 * 1024**3
MAX_HEADER_BYTES = 16 * 1024**2
DIRECT_BUILD_BYTES = 1024**3  # a config bounded below this is built for real before its check
CONFIG_KEY = "facegen_config"
ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2}
# default: the style model facegen makes faces with unless told otherwise (today a copy of
# default128; docs/generating.md says why); default64: the 64-px style model; default128: that model
# grown to 128x128 (the same face for a seed, finer detail); classic: the DCGAN the classic Keras
# script can use. Each keeps its name when the default changes.
BUNDLED = ("default", "default64", "default128", "classic")
BUNDLED_NAMES = ", ".join(BUNDLED)  # for help texts


class ModelFileError(ValueError):
    """A model file facegen refuses to load; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


def resolve(name_or_path: str | Path) -> Path:
    """A bundled model name (see BUNDLED) or a path -> the file's path."""
    if str(name_or_path) in BUNDLED:
        path = Path(str(resources.files("facegen") / "assets" / f"{name_or_path}.safetensors"))
        if not path.is_file():
            raise ModelFileError(path, f"the bundled model {name_or_path!r} is missing from this installation")
        return path
    path = Path(name_or_path)
    if not path.exists():
        raise ModelFileError(path, "no such file (bundled models are: " + ", ".join(BUNDLED) + ")")
    if path.is_dir():
        raise ModelFileError(path, "is a folder, not a .safetensors model file")
    return path


def _sniff(data: bytes) -> str | None:
    """Name the format of a file that is plainly not safetensors."""
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "is a Python pickle; facegen never loads pickles (convert it with `facegen import`)"
    if data[:4] == b"PK\x03\x04":
        return "is a zip archive (a PyTorch .pt/.pth checkpoint?); facegen never loads pickles"
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        return "is an HDF5 file (Keras .h5?); convert it with `facegen import --from keras-h5`"
    return None


def read_header(path: str | Path) -> tuple[dict, GeneratorConfig]:
    """Parse and check a model file's header: (tensor table, config). Reads no tensor data."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ModelFileError(path, f"is {size} bytes, over the {MAX_FILE_BYTES} byte limit for a model")
    with open(path, "rb") as f:
        head = f.read(8)
        sniffed = _sniff(head)
        if sniffed:
            raise ModelFileError(path, sniffed)
        if len(head) < 8:
            raise ModelFileError(path, f"is not a safetensors file (only {size} bytes)")
        (n,) = struct.unpack("<Q", head)
        _check_header_length(path, n, size)
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ModelFileError(path, f"is not a safetensors file (header is not JSON: {e})") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "is not a safetensors file (header is not a JSON object)")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or CONFIG_KEY not in meta:
        raise ModelFileError(path, "is a safetensors file but not a facegen model (no facegen_config in its metadata)")
    try:
        config = GeneratorConfig.from_dict(json.loads(meta[CONFIG_KEY]))
    except (TypeError, json.JSONDecodeError) as e:
        raise ModelFileError(path, f"has an unreadable config: {e}") from None
    except ConfigError as e:
        raise ModelFileError(path, f"has a bad config: {e}") from None
    _check_table(path, header, size - 8 - n)
    return header, config


def _check_header_length(path, n: int, size: int) -> None:
    if n > MAX_HEADER_BYTES or n > size - 8:
        raise ModelFileError(path, f"is not a valid safetensors file: header declares {n} bytes, "
                                   f"but the file has {size} (limit {MAX_HEADER_BYTES})")


def _check_table(path, table: dict, body_bytes: int) -> None:
    spans = []
    for name, entry in table.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ModelFileError(path, f"tensor {name!r} has a malformed header entry")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in ITEMSIZE:
            raise ModelFileError(path, f"tensor {name!r} has dtype {dtype}; a model holds only {', '.join(ITEMSIZE)}")
        if not (isinstance(shape, list) and len(shape) <= 8 and all(isinstance(d, int) and 0 <= d < 2**31 for d in shape)):
            raise ModelFileError(path, f"tensor {name!r} has a malformed shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise ModelFileError(path, f"tensor {name!r} has malformed data offsets")
        begin, end = offsets
        if not 0 <= begin <= end <= body_bytes or end - begin != math.prod(shape) * ITEMSIZE[dtype]:
            raise ModelFileError(path, f"tensor {name!r} declares bytes {begin}..{end}, which do not match its shape "
                                       f"{shape} or the file's {body_bytes} bytes of data")
        spans.append((begin, end))
    spans.sort()
    for (_, e1), (b2, _) in zip(spans, spans[1:]):
        if b2 < e1:
            raise ModelFileError(path, "tensors overlap in the file")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_generator(name_or_path: str | Path):
    """Load, check and return a generator (in eval mode) from a model file or bundled name."""
    import torch
    from safetensors import safe_open

    path = resolve(name_or_path)
    table, config = read_header(path)  # refuses a huge or hostile file before any tensor is read
    # A header may declare a model of many GB, and it must be compared with the file before that
    # memory is spent: such a config's shapes come from the meta device. A model that is surely
    # small is built at once: ops on meta tensors import torch's compiler (over 1 s of start-up).
    model = None
    if config.parameter_bound() * 4 <= DIRECT_BUILD_BYTES:
        model = build_generator(config)
        expected = model.state_dict()
    else:
        with torch.device("meta"):
            expected = build_generator(config).state_dict()
    missing = sorted(set(expected) - set(table))
    extra = sorted(set(table) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing tensors {_names(missing)}")
        if extra:
            parts.append(f"unexpected tensors {_names(extra)}")
        raise ModelFileError(path, f"does not match its {config.architecture} config: " + "; ".join(parts))
    for name, entry in table.items():
        if list(expected[name].shape) != entry["shape"]:
            raise ModelFileError(path, f"tensor {name!r} has shape {entry['shape']}, "
                                       f"the config needs {list(expected[name].shape)}")
    try:
        with safe_open(path, framework="pt") as f:  # safetensors' own parser: no pickle involved
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as e:  # safetensors raises its own error type for any corruption
        raise ModelFileError(path, f"is a corrupt safetensors file: {e}") from None
    for name, t in tensors.items():
        if not torch.isfinite(t).all():
            raise ModelFileError(path, f"tensor {name!r} holds NaN or infinite values")
    model = model or build_generator(config)
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    model.eval().requires_grad_(False)
    model.sha256 = file_sha256(path)
    model.source = str(path)
    return model


def _names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def save_generator(model, path: str | Path, dtype: str = "float32", overwrite: bool = True) -> Path:
    """Write `model` (and its config) to `path` atomically; returns the path."""
    import safetensors.torch
    import torch

    from ..atomic import write_bytes

    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in dtypes:
        raise ValueError(f"dtype must be one of {', '.join(dtypes)}")
    config: GeneratorConfig = model.config
    config.validate()
    tensors = {k: v.detach().to(dtypes[dtype]).contiguous() for k, v in model.state_dict().items()}
    data = safetensors.torch.save(tensors, metadata={CONFIG_KEY: json.dumps(config.to_dict())})
    path = Path(path)
    write_bytes(path, data, overwrite=overwrite)
    return path
