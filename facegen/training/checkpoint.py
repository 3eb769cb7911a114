"""Training checkpoints: one safetensors file per snapshot, tensors in its body, JSON in its header.

One file, written atomically, so a crash or kill -9 leaves either the previous set
of checkpoints or the previous set plus one complete new file. No pickle anywhere:
optimiser states are flattened into named tensors, everything else is JSON.
"""
from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import torch

from ..atomic import atomic_path
from .data import TrainingError

FORMAT = "facegen-checkpoint"
VERSION = 1
META_KEY = "facegen_checkpoint"
NAME = re.compile(r"^step-(\d{9})\.safetensors$")
DISK_MARGIN = 64 * 1024**2


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoint files, oldest first."""
    d = checkpoint_dir(run_dir)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def flatten_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict) -> dict:
    """Put an optimiser's tensors into `tensors`; return what remains as JSON."""
    sd = opt.state_dict()
    scalars: dict = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.state.{idx}.{key}"] = value
            else:
                scalars[f"{idx}.{key}"] = value
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in sd["param_groups"]]
    return {"param_groups": groups, "scalars": scalars}


def restore_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict = {}
    head = f"{prefix}.state."
    for name, value in tensors.items():
        if name.startswith(head):
            idx, key = name[len(head):].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    for name, value in meta["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in meta["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})
    # A file stores tensors contiguous; give each moment its parameter's memory layout again
    # (channels_last), since a fused optimiser walks parameter and moments as one flat buffer.
    for param, moments in opt.state.items():
        for key, value in moments.items():
            if torch.is_tensor(value) and value.shape == param.shape:
                moments[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def rng_state(tensors: dict) -> dict:
    """The global RNG states. Training draws from per-step streams, but saving these too
    means any code that does use the global generators also resumes where it stopped."""
    tensors["rng.torch"] = torch.get_rng_state()
    np_state = np.random.get_state()
    return {"python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
            "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])]}


def restore_rng(tensors: dict, meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    v, s, g = meta["python"]
    random.setstate((v, tuple(s), g))
    name, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def check_disk_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed + DISK_MARGIN:
        raise TrainingError(f"{directory}: not enough disk space for a checkpoint: it needs about "
                            f"{(needed + DISK_MARGIN) / 1e6:.0f} MB and {free / 1e6:.0f} MB are free")


def save_checkpoint(run_dir: Path, step: int, tensors: dict, meta: dict, keep: int) -> Path:
    """Write step-NNNNNNNNN.safetensors atomically, then delete all but the newest `keep`."""
    d = checkpoint_dir(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    check_disk_space(d, sum(t.numel() * t.element_size() for t in tensors.values()))
    meta = dict(meta, format=FORMAT, version=VERSION, step=step)
    data = safetensors.torch.save(tensors, metadata={META_KEY: json.dumps(meta)})
    path = d / f"step-{step:09d}.safetensors"
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def read_meta(path: Path) -> dict | None:
    """A checkpoint's JSON header alone (no tensors read); None if the file is not one of ours."""
    try:
        with safetensors.safe_open(str(path), "pt") as f:
            return json.loads((f.metadata() or {})[META_KEY])
    except (KeyError, OSError, ValueError, safetensors.SafetensorError):
        return None


def images_trained(meta: dict) -> int:
    """Images the checkpoint's generator has seen: its run's, plus its starting point's for a fine-tune."""
    return int(meta["images_seen"]) + int(meta.get("images_before", 0))


def load_checkpoint(path: Path) -> tuple[dict, dict]:
    """(tensors, meta) from a checkpoint file, checking it is one of ours."""
    try:
        with safetensors.safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {})[META_KEY])
        tensors = safetensors.torch.load_file(str(path))
    except (KeyError, OSError, ValueError, safetensors.SafetensorError) as e:
        raise TrainingError(f"{path}: not a readable facegen checkpoint ({e})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise TrainingError(f"{path}: checkpoint format {meta.get('format')!r} version {meta.get('version')!r} "
                            f"is not one this facegen reads ({FORMAT} {VERSION})")
    return tensors, meta


def remove_stale_temps(run_dir: Path) -> None:
    """Delete half-written checkpoint files that a killed run left behind."""
    d = checkpoint_dir(run_dir)
    if d.is_dir():
        for p in d.glob(".step-*.tmp"):
            p.unlink(missing_ok=True)


def latest_checkpoint(run_dir: Path) -> tuple[Path, dict, dict] | None:
    """The newest checkpoint that loads; a damaged newer one is reported and skipped."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            tensors, meta = load_checkpoint(path)
        except TrainingError as e:
            print(f"warning: skipping {e}")
            continue
        return path, tensors, meta
    return None
