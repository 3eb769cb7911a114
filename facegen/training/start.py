"""Where a fine-tune starts: the weights and model shape of another run, checkpoint or model file.

`facegen train --init SOURCE` starts a new run (its own batch, learning rate, data) from
- a run folder or one of its checkpoints: G, D and the EMA generator carry over;
- a model file or a bundled name ('default'): G and the EMA generator start from its
  weights and D starts afresh, since a model file holds no discriminator.
Optimiser states never carry over: a new learning rate or batch makes them stale.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..models.config import GeneratorConfig
from . import checkpoint as ckpt
from .data import TrainingError

NETWORKS = ("G", "D", "G_ema")


@dataclass
class StartPoint:
    source: str
    config: GeneratorConfig
    tensors: dict  # "G.<name>", "D.<name>", "G_ema.<name>"; no "D." ones for a model file
    images_seen: int

    @property
    def has_discriminator(self) -> bool:
        return any(k.startswith("D.") for k in self.tensors)


def load_start(source: str) -> StartPoint:
    """Read SOURCE (run folder, checkpoint file, model file or bundled name) as a starting point."""
    path = Path(source)
    if path.is_dir():
        found = ckpt.latest_checkpoint(path)
        if found is None:
            raise TrainingError(f"{path}: --init names a folder with no training checkpoint in {ckpt.checkpoint_dir(path)}")
        return _from_checkpoint(found[0], *found[1:])
    if path.is_file() and ckpt.read_meta(path) is not None:
        return _from_checkpoint(path, *ckpt.load_checkpoint(path))
    from ..modelfile import ModelFileError, load_generator

    try:
        g = load_generator(source)
    except ModelFileError as e:
        raise TrainingError(f"--init: {e}") from None
    tensors = {f"{net}.{k}": v for net in ("G", "G_ema") for k, v in g.state_dict().items()}
    return StartPoint(str(g.source), g.config, tensors, g.config.images_seen)


def _from_checkpoint(path: Path, tensors: dict, meta: dict) -> StartPoint:
    config = GeneratorConfig.from_dict(meta["config"])
    kept = {k: v for k, v in tensors.items() if k.split(".", 1)[0] in NETWORKS}
    return StartPoint(str(path), config, kept, ckpt.images_trained(meta))


def saved_config(run_dir: Path) -> dict | None:
    """The generator config of a run folder's newest checkpoint, read from its header alone."""
    for path in reversed(ckpt.list_checkpoints(run_dir)):
        meta = ckpt.read_meta(path)
        if meta is not None and "config" in meta:
            return meta["config"]
    return None
