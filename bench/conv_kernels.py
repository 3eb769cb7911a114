"""Convolution speed by layer shape and precision: which layers of a style-128 step run near the peak,
and whether bf16 pays on this CPU.

    OMP_NUM_THREADS=1 taskset -c 1 python bench/conv_kernels.py
        # writes bench/results/conv_kernels.{json,md}

Each row: a 3x3 convolution (stride 1, same padding) at batch 32, forward and backward (the gradient
of input and weight, as training needs), timed for at least 1.5 s after two warm-up calls, in fp32
and bf16, in NCHW and channels_last. GFLOP/s counts 3 x 2 x B x Cin x Cout x 9 x H x W per call.
The shapes are the style-128 generator's (bench/results/profile_train.md names the costly ones).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, write_results  # noqa: E402

SHAPES = [(16, 16, 128), (32, 16, 128), (32, 32, 64), (64, 64, 32), (256, 256, 8)]  # Cin, Cout, H=W
BATCH = 32


def rate(cin: int, cout: int, side: int, dtype, channels_last: bool, seconds: float = 1.5) -> tuple[float, float]:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(BATCH, cin, side, side, dtype=dtype).contiguous(memory_format=fmt).requires_grad_()
    w = torch.randn(cout, cin, 3, 3, dtype=dtype).contiguous(memory_format=fmt).requires_grad_()

    def step():
        y = F.conv2d(x, w, padding=1)
        y.backward(torch.ones_like(y))

    for _ in range(2):
        step()
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < seconds:
        step()
        n += 1
    s = (time.perf_counter() - t) / n
    return s, 3 * 2 * BATCH * cin * cout * 9 * side * side / s / 1e9


def main() -> None:
    rows = []
    for cin, cout, side in SHAPES:
        for dtype in (torch.float32, torch.bfloat16):
            for cl in (False, True):
                s, g = rate(cin, cout, side, dtype, cl)
                rows.append({"cin": cin, "cout": cout, "side": side, "dtype": str(dtype).split(".")[1],
                             "layout": "channels_last" if cl else "nchw", "ms": round(s * 1e3, 1), "gflops": round(g, 1)})
                print(rows[-1], flush=True)
    info = machine()
    md = ["# Convolution speed by shape and precision (bench/conv_kernels.py)", "",
          f"3x3, batch {BATCH}, forward + backward; {torch.get_num_threads()} thread(s), torch {torch.__version__}, "
          f"{info['cpu_model']}, torch CPU capability {info['cpu_capability']}, bf16 kernels: "
          f"{bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())}.", "",
          "| Cin -> Cout | HxW | precision | layout | ms per call | GFLOP/s |", "|---|---|---|---|---|---|"]
    md += [f"| {r['cin']} -> {r['cout']} | {r['side']}x{r['side']} | {r['dtype']} | {r['layout']} | {r['ms']} | "
           f"{r['gflops']} |" for r in rows]
    print(write_results("conv_kernels", {"machine": info, "batch": BATCH, "rows": rows}, "\n".join(md) + "\n"))


if __name__ == "__main__":
    main()
