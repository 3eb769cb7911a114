"""Turn a run's EMA generator into a facegen model file."""
from __future__ import annotations

import copy
from pathlib import Path

import torch

from ..models import build_generator
from ..models.config import GeneratorConfig
from .checkpoint import images_trained, latest_checkpoint, load_checkpoint
from .data import TrainingError


def export_generator(g_ema, config: GeneratorConfig, path: Path, overwrite: bool = True) -> Path:
    """Save a copy of `g_ema` in fp32 with `config` (w_avg filled in) as a model file."""
    config = copy.deepcopy(config)
    config.w_avg = g_ema.measure_w_avg().cpu().tolist()
    model = build_generator(config)
    model.load_state_dict({k: v.detach().float().cpu() for k, v in g_ema.state_dict().items()})
    model.to(memory_format=torch.contiguous_format)
    return model.save_pretrained(path, overwrite=overwrite)


def export_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """`facegen export-model`: the newest checkpoint's EMA generator -> RUN_DIR/model.safetensors.
    RUN_DIR may also be one checkpoint file; then OUT is needed."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        if out is None:
            raise TrainingError(f"{run_dir}: exporting one checkpoint file needs --out")
        tensors, meta = load_checkpoint(run_dir)
    elif not run_dir.is_dir():
        raise TrainingError(f"{run_dir}: no such training run folder or checkpoint file")
    elif (found := latest_checkpoint(run_dir)) is None:
        raise TrainingError(f"{run_dir}: no checkpoints in {run_dir / 'checkpoints'} (has training started?)")
    else:
        _, tensors, meta = found
    config = GeneratorConfig.from_dict(meta["config"])
    g = build_generator(config)
    g.load_state_dict({k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")})
    config.images_seen = images_trained(meta)
    return export_generator(g, config, Path(out) if out else run_dir / "model.safetensors")
