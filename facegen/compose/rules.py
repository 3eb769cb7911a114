"""Which faces `facegen swap` may put into a photo: generated ones only.

A latent inverted from a photo is that photo's person as the model sees them;
pasting it into another photo would be a deepfake of a real person. So a swap
source is refused when:

1. it descends from a photo inversion (its latent file or image recipe names an
   inverted latent anywhere: `inverted_from`, `origin: inverted`, op `invert`) and
   its identity distance to any such original is under SWAP_MIN_DISTANCE typical radii
   (the median distance of a random face from the average face, for this model); or
2. it is a latent file without facegen's metadata (a bare .npy, a foreign .npz), which
   could be an inversion with its record removed.

The identity distance is the root mean square, over the coarse and middle style rows
of W+ (pose, face shape, features: explore.layers), of the per-row L2 distance; the
fine rows (colour, skin texture) do not count, so recolouring a real person does not
make them someone else. For dcgan it is the L2 distance between the latents.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .align import ComposeError

# Two random faces are ~1.4 typical radii apart; half a radius is a third of that.
SWAP_MIN_DISTANCE = 0.5


def identity_rows(config) -> list[int] | None:
    """The rows of W+ that carry who a face is (coarse and middle); None: the whole latent."""
    from ..explore.layers import layer_groups

    if config.architecture != "style" or not config.num_ws:
        return None
    groups = layer_groups(config)
    return groups["coarse"] + groups["middle"] or list(range(config.num_ws))


def identity_distance(a: torch.Tensor, b: torch.Tensor, config) -> float:
    """RMS over the identity rows of the per-row L2 distance between two w / w+ (z for dcgan)."""
    rows = identity_rows(config)
    if rows is None:
        return float((a.detach().float() - b.detach().float()).norm())

    def plus(w):
        w = w.detach().float()
        return w[None].expand(config.num_ws, -1) if w.dim() == 1 else w
    return float(((plus(a)[rows] - plus(b)[rows]) ** 2).sum(-1).mean().sqrt())


def check_swap_source(face, pipe, ref: str | None = None) -> dict:
    """Raise ComposeError if `face` may not be swapped into a photo; else what the check found."""
    from ..explore.faces import typical_radius

    label = ref or face.label
    if ref is not None:
        _check_latent_file_metadata(ref)
    if not face.inverted_from:
        return {"inverted_ancestors": 0}
    radius = typical_radius(pipe)
    d = min(identity_distance(face.w, w, pipe.config) for w in face.inverted_from) / radius
    if d < SWAP_MIN_DISTANCE:
        raise ComposeError(
            f"{label}: is a latent inverted from a photo of a real person, or too close to one "
            f"({d:.2f} typical radii from the inversion; at least {SWAP_MIN_DISTANCE} needed). "
            "facegen swap inserts faces that do not exist: breed or edit it further away first")
    return {"inverted_ancestors": len(face.inverted_from), "distance_from_inversion": round(d, 3),
            "min_distance": SWAP_MIN_DISTANCE}


def _check_latent_file_metadata(ref: str) -> None:
    from ..arrays import read_npz
    from ..explore.faces import LATENT_FORMAT, MAX_LATENT_FILE_BYTES

    text = ref[2:] if ref[:2] in ("z:", "w:") else ref
    path = Path(text)
    if path.suffix.lower() not in (".npy", ".npz") or not path.is_file():
        return
    meta = None
    try:
        if path.suffix.lower() == ".npz":
            arrays = read_npz(path.read_bytes(), MAX_LATENT_FILE_BYTES)
            if "meta" in arrays:
                meta = json.loads(str(arrays["meta"]))
        else:
            sidecar = path.with_name(path.name + ".json")
            if sidecar.is_file():
                meta = json.loads(sidecar.read_text())
    except (ValueError, OSError, RecursionError) as e:
        raise ComposeError(f"{path}: not a readable latent file ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != LATENT_FORMAT:
        raise ComposeError(f"{path}: has no facegen metadata saying where the latent came from, so it could "
                           "be inverted from a real person's photo; swap takes seeds, latents saved by facegen "
                           "(facegen latent, breed, edit) and images facegen made")
