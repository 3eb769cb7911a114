"""The fuzz tests' long variant (FACEGEN_LONG=1: at least 1,000 cases per target), with the count of
cases each target really ran. Writes bench/results/fuzz.{json,md}.

    OMP_NUM_THREADS=1 python bench/fuzz.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FILES = ["tests/test_fuzz_files.py", "tests/test_fuzz_server.py"]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        counts_path = Path(tmp) / "counts.json"
        env = dict(os.environ, FACEGEN_LONG="1", FACEGEN_FUZZ_REPORT=str(counts_path), OMP_NUM_THREADS="1")
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:warnings", *FILES], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        seconds = round(time.monotonic() - started, 1)
        counts = json.loads(counts_path.read_text()) if counts_path.exists() else {}
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    results = {"command": "FACEGEN_LONG=1 python -m pytest " + " ".join(FILES), "seconds": seconds,
               "passed": proc.returncode == 0, "pytest": summary, "cases": counts, "machine": machine()}
    rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(counts.items()))
    md = (f"# Fuzzing, long variant (`python bench/fuzz.py`)\n\n`{results['command']}`: {summary} ({seconds} s with start-up) "
          f"(Hypothesis, fixed seeds: `derandomize=True`). Every case is time-boxed and its peak-memory growth "
          f"capped (tests/fuzzing.py).\n\n| target | cases run |\n|---|---|\n{rows}\n\n"
          f"Total: {sum(counts.values())} cases. Load average at start: {results['machine']['load_average_at_start']}\n")
    write_results("fuzz", results, md)
    print(md)
    if proc.returncode:
        print(proc.stdout[-5000:])
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
