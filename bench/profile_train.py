"""Where a style-128 training step spends its time (#19), by torch.profiler over whole steps.

    OMP_NUM_THREADS=1 taskset -c 1 python bench/profile_train.py [--steps 16] [--precision bf16]
        [--widths 256,256,128,64,32,16] [--batch 32]

The step is the trainer's own (Trainer.train_step, DiffAugment p=0.3, x-flip, R1 every 16 steps,
EMA), on random 128x128 images held as a prepared dataset holds them, so no photos are needed.
`--steps` whole steps are profiled after two unprofiled ones; with 16 of them, one is an R1 step,
as in training. Three tables:
- phases, by the names train_step gives them (data, G forward, augment, D forward, R1 gradient,
  D backward (with R1's double backward on an R1 step), D optimiser, D forward (G step),
  G backward, G optimiser, EMA);
- kinds of op, by self time: convolution forward and backward (oneDNN), matrix products,
  optimiser (foreach) ops, copies and layout changes, element-wise and reductions, other;
- convolution time (forward + backward) by the resolution and channels it runs at: where thin,
  high-resolution layers cost more than their FLOPs.
Writes bench/results/profile_train.{json,md}.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, write_results  # noqa: E402

PHASES = ("data", "G forward", "augment", "D forward", "R1 gradient", "D backward", "D optimiser",
          "D forward (G step)", "G backward", "G optimiser", "EMA")
CONV = ("convolution", "conv2d", "mkldnn_convolution", "_convolution", "convolution_overrideable")


def kind_of(name: str) -> str:
    n = name.removeprefix("aten::")
    if "convolution_backward" in n:
        return "convolution backward"
    if n in CONV or n.startswith("mkldnn_convolution"):
        return "convolution forward"
    if n in ("mm", "addmm", "bmm", "matmul", "linear", "baddbmm"):
        return "matrix products"
    if n.startswith("_foreach") or n.startswith("_fused_adam"):
        return "optimiser (foreach)"
    if n in ("copy_", "to", "_to_copy", "contiguous", "clone", "empty_like", "empty", "empty_strided", "cat",
             "stack", "expand", "as_strided", "view", "reshape", "permute", "slice", "select", "transpose",
             "zeros_like", "zero_", "fill_", "ones_like", "t", "unsqueeze", "squeeze", "detach", "alias"):
        return "copies and layout"
    if n.startswith(("Optimizer.", "ProfilerStep")) or n in PHASES:
        return ""
    return "element-wise and reductions"


def make_dataset(path: Path, n: int = 256, size: int = 128) -> Path:
    path.mkdir(parents=True)
    np.save(path / "images.npy", np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8))
    (path / "dataset.json").write_text(json.dumps({"format": "facegen-dataset", "version": 1, "size": size,
                                                   "count": n}))
    return path


def conv_site(name: str, shapes: list) -> str:
    """'128x128, 16->16 3x3' from a convolution's input shapes ((x, weight, ...) forward,
    (grad, x, weight, ...) backward)."""
    try:
        x, w = (shapes[1], shapes[2]) if "backward" in name else (shapes[0], shapes[1])
        return f"{x[2]}x{x[3]}, {w[1]}->{w[0]} {w[2]}x{w[3]}"
    except (IndexError, TypeError):
        return "?"


class PhaseTimer:
    """Stands in for train_step's `phase` names: wall-clock seconds per phase, no profiler overhead."""

    def __init__(self):
        self.seconds: dict[str, float] = collections.Counter()

    @contextlib.contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0


def main() -> None:
    from torch.profiler import ProfilerActivity, profile

    import facegen.training.loop as loop
    from facegen.training.options import TrainOptions

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="bf16")
    ap.add_argument("--widths", default="256,256,128,64,32,16")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--name", default="profile_train")
    a = ap.parse_args()
    widths = [int(c) for c in a.widths.split(",")]

    def steps(trainer, n):
        trainer.step = 1  # n = 16 steps hold one R1 step (step 16), as training does
        for _ in range(n):
            trainer.train_step()

    with tempfile.TemporaryDirectory() as tmp:
        ds = make_dataset(Path(tmp) / "ds")
        trainer = loop.Trainer(TrainOptions(dataset=str(ds), out=str(Path(tmp) / "run"), arch="style",
                                            resolution=128, channels=widths, latent_dim=256, batch=a.batch,
                                            precision=a.precision, augment_p=0.3, progress=False, tensorboard=False))
        steps(trainer, 2)
        # 1. Phases by the wall clock, unprofiled: the step's true time.
        timer, named = PhaseTimer(), loop.phase
        loop.phase = timer
        try:
            t0 = time.perf_counter()
            steps(trainer, a.steps)
            total = time.perf_counter() - t0
        finally:
            loop.phase = named
        # 2. Kinds of op (self time) under the profiler, which adds a little to every op.
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            steps(trainer, a.steps)
            profiled = time.perf_counter() - t0
        kinds: dict[str, float] = collections.Counter()
        for e in prof.key_averages():
            k = kind_of(e.key)
            if k:
                kinds[k] += e.self_cpu_time_total / 1e6
        # 3. Convolutions by the shapes they run at.
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            steps(trainer, a.steps)
        sites: dict[str, float] = collections.Counter()
        for e in prof.key_averages(group_by_input_shape=True):
            n = e.key.removeprefix("aten::")
            if n in ("convolution", "convolution_backward"):
                sites[conv_site(n, e.input_shapes)] += e.cpu_time_total / 1e6
    per = lambda v: v / a.steps  # noqa: E731
    ops_total, conv_total = sum(kinds.values()), sum(sites.values())
    result = {"machine": machine(), "widths": widths, "batch": a.batch, "precision": a.precision, "steps": a.steps,
              "seconds_per_step": per(total), "img_per_s": a.batch * a.steps / total,
              "profiled_seconds_per_step": per(profiled),
              "phases_s_per_step": {k: per(timer.seconds.get(k, 0.0)) for k in PHASES},
              "op_kinds_s_per_step_profiled": {k: per(v) for k, v in kinds.most_common()},
              "conv_sites_s_per_step_profiled": {k: per(v) for k, v in sites.most_common()}}
    m = result["machine"]
    share = lambda v, of: f"{100 * v / of:.1f}%"  # noqa: E731
    md = ["# Where a style-128 training step spends its time (bench/profile_train.py)", "",
          f"Widths {a.widths}, batch {a.batch}, {a.precision}, DiffAugment p=0.3, x-flip, R1 every 16 steps; "
          f"{a.steps} steps after 2 of warm-up: **{per(total):.3f} s a step, {result['img_per_s']:.1f} img/s**. "
          f"{m['cpu_model']}, {m['threads']} thread(s), torch {m['torch']}, load {m['load_average_at_start']}.", "",
          "Phases (wall clock, no profiler):", "", "| phase | s/step | share |", "|---|---|---|"]
    md += [f"| {k} | {per(timer.seconds.get(k, 0.0)):.4f} | {share(timer.seconds.get(k, 0.0), total)} |"
           for k in PHASES]
    rest = total - sum(timer.seconds.values())
    md += [f"| (rest: RNG streams, losses, zero_grad) | {per(rest):.4f} | {share(rest, total)} |", "",
           f"Kinds of op, by self time under torch.profiler ({per(profiled):.3f} s a step there: the profiler "
           "adds a few microseconds to each op, so many small ops read a little high):", "",
           "| kind of op | s/step | share of op time |", "|---|---|---|"]
    md += [f"| {k} | {per(v):.4f} | {share(v, ops_total)} |" for k, v in kinds.most_common()]
    md += ["", "Convolutions (forward and backward, with what they call) by where they run, the costliest first:", "",
           "| input HxW, channels in->out, kernel | s/step | share of conv time |", "|---|---|---|"]
    md += [f"| {k} | {per(v):.4f} | {share(v, conv_total)} |" for k, v in sites.most_common(16)]
    text = "\n".join(md) + "\n"
    print(text)
    write_results(a.name, result, text)


if __name__ == "__main__":
    main()
