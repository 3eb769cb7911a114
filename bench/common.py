"""Shared bits for the benchmarks: timing, machine description, writing results."""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luminance of an (..., 3) RGB array, in float64."""
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def time_per_call(fn, min_seconds: float = 1.0, min_calls: int = 5, warmup: int = 2) -> float:
    """Median seconds per call over repeated runs of at least `min_seconds` in all."""
    for _ in range(warmup):
        fn()
    samples = []
    start = time.perf_counter()
    while len(samples) < min_calls or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (empty where there is none)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if not key.strip():
            break  # the first processor is enough
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_name() -> str:
    """lscpu's model name with the family and model numbers: machines that all call themselves
    "AMD EPYC" differ by 2x in conv speed (family 23 model 1, Zen 1, measured at 40 GFLOP/s fp32
    on one core where another EPYC gave 93)."""
    fields = cpuinfo()
    name = fields.get("model name", platform.processor() or platform.machine())
    return f"{name}, family {fields['cpu family']} model {fields['model']}" if "cpu family" in fields else name


def cpu_model() -> str:
    """cpu_name() and the flags that decide bf16 speed (AMX, AVX-512 BF16)."""
    flags = cpuinfo().get("flags", "").split()
    return f"{cpu_name()} ({', '.join(f for f in ('amx_bf16', 'avx512_bf16', 'avx512f') if f in flags) or 'no AVX-512'})"


def machine() -> dict:
    import torch
    return {"cpu_model": cpu_model(), "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "load_average_at_start": os.getloadavg()}


def write_results(name: str, results: dict, markdown: str) -> Path:
    from facegen.atomic import write_bytes

    RESULTS.mkdir(exist_ok=True)
    write_bytes(RESULTS / f"{name}.json", json.dumps(results, indent=2).encode())
    write_bytes(RESULTS / f"{name}.md", markdown.encode())
    return RESULTS / f"{name}.json"


def cpu() -> dict:
    """The processor as lscpu names it, and the SIMD flags that decide which kernels run."""
    info = {"model_name": platform.processor() or platform.machine(), "flags": []}
    path = Path("/proc/cpuinfo")
    for line in path.read_text().splitlines() if path.exists() else []:
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            info["model_name"] = value.strip()
        elif key.strip() == "flags":
            info["flags"] = sorted(f for f in value.split() if f.startswith(("avx", "fma", "amx", "sse4")))
            break
    return info
