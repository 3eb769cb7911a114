"""Which per-layer styles (rows of w+) are coarse, middle or fine, for any model resolution.

In the style generator, w+ row k feeds convolution k; row 2i+1 also feeds block i's
toRGB. Grouped by the resolution each row's convolution works at, as in the
StyleGAN paper: coarse 4-8 px (pose, face shape), middle 16-32 px (features,
hair style, eyes open or shut), fine 64 px and up (colour, skin and hair
texture). A 32 px model has no 64 px layers, so its top resolution counts as fine.
"""
from __future__ import annotations

GROUPS = ("coarse", "middle", "fine")


class StyleOnlyError(ValueError):
    """An operation that needs per-layer styles, asked of a dcgan model."""

    def __init__(self, what: str, config):
        super().__init__(f"{what} needs the style architecture; model {config.name!r} is {config.architecture}, "
                         "whose one latent drives every layer at once")


def ws_resolutions(config) -> list[int]:
    """The resolution of the convolution each row of w+ feeds."""
    top = len(config.channels) - 1
    return [4 * 2 ** min((k + 1) // 2, top) for k in range(config.num_ws)]


def layer_groups(config) -> dict[str, list[int]]:
    """{'coarse': [rows], 'middle': [...], 'fine': [...]} for a style model."""
    if config.architecture != "style":
        raise StyleOnlyError("layer groups", config)
    fine_from = min(64, config.resolution)
    groups: dict[str, list[int]] = {g: [] for g in GROUPS}
    for k, res in enumerate(ws_resolutions(config)):
        group = "coarse" if res <= 8 else "fine" if res >= fine_from else "middle"
        groups[group].append(k)
    return groups


def parse_layers(spec: str | list[int] | None, config) -> list[int] | None:
    """'all' / None -> None (every layer); 'coarse', 'coarse,fine', '0-3,7' -> sorted row indices."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "all")):
        return None
    if config.architecture != "style":
        raise StyleOnlyError(f"choosing layers ({spec})", config)
    if not isinstance(spec, str):
        rows = {int(k) for k in spec}
    else:
        groups = layer_groups(config)
        rows = set()
        for part in spec.lower().split(","):
            part = part.strip()
            if part in groups:
                rows.update(groups[part])
                continue
            lo, sep, hi = part.partition("-")
            try:
                rows.update(range(int(lo), int(hi) + 1) if sep else [int(lo)])
            except ValueError:
                raise ValueError(f"layers must be all, coarse, middle, fine or row numbers like 0-3, "
                                 f"got {part!r}") from None
    bad = [k for k in rows if not 0 <= k < config.num_ws]
    if bad or not rows:
        raise ValueError(f"layer rows must be in 0..{config.num_ws - 1} for this model, got {spec!r}")
    return sorted(rows)


def describe_groups(config) -> str:
    """'coarse 0-2 (4-8 px), ...' for help and error messages."""
    res = ws_resolutions(config)
    parts = []
    for name, rows in layer_groups(config).items():
        if rows:
            parts.append(f"{name} rows {rows[0]}-{rows[-1]} ({res[rows[0]]}-{res[rows[-1]]} px)")
    return ", ".join(parts)
