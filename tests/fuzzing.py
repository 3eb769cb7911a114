"""What every fuzz test shares: repeatable Hypothesis settings, a time box and a memory cap per case,
byte mutations, and a count of the cases each target really ran (for the robustness note).

Pass, for every target, means a correct result or the target's documented clear error; anything
else (another exception type, a case over its time box, a jump in peak memory) fails the test.
Set FACEGEN_LONG=1 for the long variants (at least 1,000 cases per target everywhere).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

LONG = os.environ.get("FACEGEN_LONG") == "1"
# Where the counts go when asked (bench/results/fuzz.json is written from them by the long run).
REPORT = os.environ.get("FACEGEN_FUZZ_REPORT")
COUNTS: dict[str, int] = {}


def fuzz_settings(default: int, long: int = 1000):
    """Fixed seed (derandomize), no example database, no deadline (the time box below is ours)."""
    return settings(max_examples=long if LONG else default, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


class Hang(Exception):
    """A case ran past its time box."""


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux 4.0+)
        return True
    except OSError:
        return False


@contextlib.contextmanager
def boxed(target: str, seconds: float = 5.0, rss_mb: int = 400):
    """Run one case: SIGALRM interrupts Python code past `seconds` (and the elapsed time is checked
    as well, for C code that does not return to Python); peak RSS may grow at most `rss_mb`."""
    COUNTS[target] = COUNTS.get(target, 0) + 1
    can_measure = _reset_peak()
    before = _status("VmRSS")

    def on_alarm(signum, frame):
        raise Hang(f"{target}: a case ran past its {seconds} s time box")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    elapsed = time.monotonic() - start
    assert elapsed < seconds, f"{target}: a case took {elapsed:.1f} s, over its {seconds} s time box"
    if can_measure:
        grown = (_status("VmHWM") - before) / 1024**2
        assert grown < rss_mb, f"{target}: a case raised peak memory by {grown:.0f} MB (cap {rss_mb} MB)"


def record(target: str, minimum: int) -> None:
    """Check the target really ran its cases (Hypothesis stops early on a small search space)."""
    ran = COUNTS.get(target, 0)
    if ran == 0:
        import pytest
        pytest.skip(f"{target}: its fuzz test was not run in this session")
    if REPORT:
        path = Path(REPORT)
        counts = json.loads(path.read_text()) if path.exists() else {}
        counts[target] = ran
        path.write_text(json.dumps(counts, indent=1, sort_keys=True))
    assert ran >= minimum, f"{target}: only {ran} cases ran, expected at least {minimum}"


# ---- byte mutations -----------------------------------------------------------------------------

_op = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**20), st.integers(1, 255)),
    st.tuples(st.just("set"), st.integers(0, 2**20), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 2**20)),
    st.tuples(st.just("insert"), st.integers(0, 2**20), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("delete"), st.integers(0, 2**20), st.integers(1, 64)),
    # Header fields (sizes, lengths, offsets) are 16/32/64-bit: write extreme values over them.
    st.tuples(st.just("int"), st.integers(0, 2**20), st.sampled_from([2, 4, 8]), st.sampled_from(["<", ">"]),
              st.sampled_from([0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1])),
)


def apply_ops(data: bytes, ops, head: int | None = None) -> bytes:
    """`data` changed by each op; positions wrap around the length (or the first `head` bytes, where
    the headers are, for a share of the ops: a header mutation reaches more code than a pixel one)."""
    b = bytearray(data)
    for i, op in enumerate(ops):
        if not b:
            break
        span = min(len(b), head) if head and i % 2 == 0 else len(b)
        pos = op[1] % span
        kind = op[0]
        if kind == "flip":
            b[pos] ^= op[2]
        elif kind == "set":
            b[pos] = op[2]
        elif kind == "cut":
            del b[pos:]
        elif kind == "insert":
            b[pos:pos] = op[2]
        elif kind == "delete":
            del b[pos:pos + op[2]]
        elif kind == "int":
            width, order, value = op[2], op[3], op[4]
            raw = (value & (2 ** (8 * width) - 1)).to_bytes(width, "little" if order == "<" else "big")
            b[pos:pos + width] = raw
    return bytes(b)


def mutations(max_ops: int = 6, min_ops: int = 1):
    return st.lists(_op, min_size=min_ops, max_size=max_ops)


# JSON values of every type, nested a little: what a config, recipe or request field might hold instead.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8)
