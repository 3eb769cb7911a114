"""Edit directions after a fine-tune: what still holds for the new model, and what must be remade.

Named directions (smile, age, ...) are boundaries in W. A fine-tune that keeps the mapping
network fixed leaves W as it was, so the source's MODEL.named.safetensors is copied beside
the new model, re-addressed to it (a directions file names the model it belongs to) and
noting where it came from. If the mapping network trained, W moved and they are dropped with
a message saying how to remake them. Unlabelled SeFa/GANSpace directions are recomputed from
the new model (seconds) when the source had a saved file; otherwise they are computed on use.
"""
from __future__ import annotations

from pathlib import Path

from ..explore.directions import compute, directions_path, load_directions, save_directions
from ..explore.named import named_path, named_write_path


def carry_directions(source: str | None, model_path: Path, mapping_frozen: bool) -> list[str]:
    """Put the source's directions beside `model_path` where they still hold; say what was done."""
    if source is None:
        return []
    from ..pipeline import FaceGenerator

    pipe = FaceGenerator.from_pretrained(model_path)
    notes = []
    named = _source_file(named_path, source)
    if named is None:
        pass
    elif not mapping_frozen:
        notes.append(f"named directions of {source} not carried over: the mapping network was trained, so W "
                     f"moved; make new ones with `facegen directions {model_path} --named`")
    else:
        d = load_directions(named)
        d.info = dict(d.info, carried_from={"file": str(named), "model": d.model,
                                            "why": "fine-tuned with the mapping network frozen: W unchanged"})
        d.model = pipe.model_info()
        out = save_directions(d, named_write_path(str(model_path)), overwrite=True)
        notes.append(f"named directions ({len(d.vectors)}) copied from {named} to {out}: the mapping network "
                     f"was frozen, so W, where they live, is unchanged")
    sefa = _source_file(directions_path, source)
    if sefa is not None:
        old = load_directions(sefa)
        method = old.method if old.method in ("sefa", "ganspace") else "sefa"
        new = compute(pipe, method, old.layers, top=len(old.vectors))
        out = save_directions(new, directions_path(str(model_path)), overwrite=True)
        dropped = f"; their names ({', '.join(sorted(old.names.values()))}) were dropped, since the " \
                  f"recomputed directions need not match them" if old.names else ""
        notes.append(f"{method} directions recomputed for the new model: {out}{dropped}")
    return notes


def _source_file(where, source: str) -> Path | None:
    """The source model's directions file of one kind, if it is a model file or bundled name and has one."""
    if Path(source).is_dir():  # a run folder: its model has no directions saved beside it
        return None
    path = where(source)
    return path if path.is_file() else None
