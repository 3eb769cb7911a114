"""The one-page PNG report: samples, the closest sample/training-photo pairs, and the numbers."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..imaging import make_grid

TILE = 96
GRID_COLUMNS = 8
MARGIN = 16


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _tile(a: np.ndarray) -> Image.Image:
    im = Image.fromarray(a, "RGB")
    return im if im.size == (TILE, TILE) else im.resize((TILE, TILE), Image.LANCZOS)


def summary_lines(r: dict) -> list[str]:
    s = r["settings"]
    lines = [
        f"FID {r['fid']:.2f}    KID x1000 {1000 * r['kid']:.2f} ± {1000 * r['kid_std']:.2f}    "
        f"precision {r['precision']:.3f}    recall {r['recall']:.3f}   (k={s['k']})",
        f"exactly one face detected: generated {100 * r['one_face_share']:.1f}%   "
        f"real {100 * r['real_one_face_share']:.1f}%",
    ]
    m = r.get("memorisation")
    if m:
        lines.append(f"memorisation: {100 * m['share_below_threshold']:.2f}% of samples are as close to a training "
                     f"photo as the closest {m['percentile']:g}% of real test photos (distance <= {m['threshold']:.2f}); "
                     f"closest sample {m['min_distance']:.2f}")
    else:
        lines.append("memorisation: not checked (no --train); pairs show the nearest real photo")
    lines += [
        f"{s['num']} samples (seeds {s['seeds']}, truncation {s['truncation']}) vs {r['real']['images']} real images "
        f"from {r['real']['path']}; all at {s['resolution']}px, centre-cropped, Inception 299px",
        f"model {r['model']['name']} sha256 {str(r['model']['sha256'])[:16]}  ·  facegen {r['facegen']}  ·  "
        f"{r['timings_s']['total']:.0f} s on {r['machine']['threads']} threads",
    ]
    return lines


def render(ev, title: str) -> Image.Image:
    """The report page for an `Evaluation`."""
    r = ev.report
    samples = [_tile(a) for a in ev.samples[:GRID_COLUMNS * GRID_COLUMNS]]
    grid = make_grid(samples, columns=GRID_COLUMNS)
    ref = ev.train if ev.train is not None else ev.real
    pair_rows = []
    for i, j, _ in ev.nearest:
        try:
            other = _tile(ref.image(j))
        except Exception:  # the photo changed or vanished since its features were cached
            other = Image.new("RGB", (TILE, TILE), (200, 200, 200))
        pair_rows += [_tile(ev.samples[i]), other]
    pairs = make_grid(pair_rows, columns=2) if pair_rows else Image.new("RGB", (2 * TILE, TILE), "white")

    big, small = _font(22), _font(15)
    head = 40
    label_w = 140
    width = MARGIN * 3 + grid.width + pairs.width + label_w
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    per_line = int((width - 2 * MARGIN) / (measure.textlength("abcdefghij0123456789", font=small) / 20))
    lines = [part for line in summary_lines(r) for part in textwrap.wrap(line, per_line, subsequent_indent="    ")]
    body = max(grid.height, pairs.height + 24)
    height = head + body + 24 * len(lines) + 2 * MARGIN
    page = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(page)
    d.text((MARGIN, 10), title, fill="black", font=big)
    page.paste(grid, (MARGIN, head))
    px = MARGIN * 2 + grid.width
    kind = "training photo" if ev.train is not None else "real photo"
    d.text((px, head - 4), f"closest samples | nearest {kind}", fill="black", font=small)
    page.paste(pairs, (px, head + 16))
    for row, (_, j, dist) in enumerate(ev.nearest):
        y = head + 16 + 2 + row * (TILE + 2)
        d.text((px + pairs.width + 6, y + 4), f"distance {dist:.1f}", fill="black", font=small)
        d.text((px + pairs.width + 6, y + 24), Path(ref.name(j)).name[:18], fill="gray", font=small)
    y = head + body + MARGIN
    for line in lines:
        d.text((MARGIN, y), line, fill="black", font=small)
        y += 24
    return page
