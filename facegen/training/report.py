"""What a training run shows while it runs: a log, sample grids, a loss curve, TensorBoard.

RUN_DIR/log.jsonl has one averaged row per logging interval. On resume it is cut
back to the checkpoint's step, so the curve never shows steps that were redone.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from PIL import Image, ImageDraw

from ..atomic import atomic_path

LOG = "log.jsonl"
CURVE = "losses.png"


def read_log(run_dir: Path, up_to_step: int | None = None) -> list[dict]:
    path = Path(run_dir) / LOG
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # the half-written last line of a killed run
        if up_to_step is None or row.get("step", 0) <= up_to_step:
            rows.append(row)
    return rows


def truncate_log(run_dir: Path, step: int) -> None:
    rows = read_log(run_dir, step)
    with atomic_path(Path(run_dir) / LOG) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def append_log(run_dir: Path, row: dict) -> None:
    with open(Path(run_dir) / LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def save_image_atomic(image: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def plot_losses(rows: list[dict], keys=("loss_G", "loss_D", "r1"), size=(640, 360)) -> Image.Image:
    """A small line chart drawn with PIL, so the curve needs no plotting library."""
    w, h = size
    left, right, top, bottom = 56, 12, 28, 28
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    series = {k: [(r["kimg"], r[k]) for r in rows if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])]
              for k in keys}
    series = {k: v for k, v in series.items() if v}
    draw.rectangle([left, top, w - right, h - bottom], outline="black")
    if not series:
        draw.text((left + 8, top + 8), "no losses logged yet", fill="black")
        return img
    xs = [x for v in series.values() for x, _ in v]
    ys = [y for v in series.values() for _, y in v]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

    def at(x, y):
        return (left + (x - x0) / (x1 - x0) * (w - left - right), h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom))

    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    for i, (k, v) in enumerate(series.items()):
        c = colours[i % len(colours)]
        if len(v) > 1:
            draw.line([at(x, y) for x, y in v], fill=c, width=2)
        draw.text((left + 8 + 90 * i, 8), k, fill=c)
    draw.text((4, top), f"{y1:.3g}", fill="black")
    draw.text((4, h - bottom - 10), f"{y0:.3g}", fill="black")
    draw.text((left, h - bottom + 6), f"{x0:.3g} kimg", fill="black")
    draw.text((w - right - 80, h - bottom + 6), f"{x1:.3g} kimg", fill="black")
    return img


class TensorBoard:
    """Scalars to TensorBoard event files when the optional `tensorboard` package is installed."""

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.note = "TensorBoard logging off: pip install 'facegen[tensorboard]' to turn it on"
            return
        self.note = f"TensorBoard logs: tensorboard --logdir {Path(run_dir) / 'tensorboard'}"
        self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def scalars(self, row: dict) -> None:
        if self.writer is None:
            return
        for k, v in row.items():
            if k not in ("step", "kimg") and isinstance(v, (int, float)):
                self.writer.add_scalar(k, v, global_step=int(row["kimg"] * 1000))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
