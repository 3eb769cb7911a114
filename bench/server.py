"""`facegen serve` under a stopwatch: one client's latency for a new face, then many clients at once.

Starts the real server (`facegen serve` in a subprocess, 127.0.0.1 only), then
1. latency: one client asks for new faces one after another (PNG and JSON);
2. load: N concurrent clients (at most 64) for S seconds (at most 60) ask for faces;
   a client told 429/503 waits Retry-After, as a polite client does. Any other
   error, or a dropped connection, is counted as an error.
Writes bench/results/server.{json,md}.

    python bench/server.py [--model default] [--clients 64] [--seconds 30]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import threading
import time

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from common import machine, write_results  # noqa: E402

MAX_CLIENTS = 64
MAX_SECONDS = 60


def start_server(model: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "facegen", "serve", "--host", "127.0.0.1", "--port", "0",
                             "--model", model], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"studio: (http://127\.0\.0\.1:\d+)/", line)
        if m:
            url = m.group(1)
            # Drain the server's log, or its access lines fill the pipe and stall the server.
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url + "/v1/model", timeout=5).status_code == 200:
                        return proc, url
                except httpx.HTTPError:
                    time.sleep(0.1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the server did not start")


def percentiles(ms: list[float]) -> dict:
    if not ms:
        return {}
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return {"p50_ms": round(q[49], 1), "p90_ms": round(q[89], 1), "p99_ms": round(q[98], 1), "n": len(ms)}


def latency(url: str, count: int) -> dict:
    out = {}
    with httpx.Client(base_url=url, timeout=30) as c:
        for name, call in {
            "GET /v1/generate (PNG)": lambda s: c.get("/v1/generate", params={"seed": s}),
            "POST /v1/generate (JSON, image inline)": lambda s: c.post("/v1/generate", json={"seed": s}),
        }.items():
            call(10**6)  # warm-up
            ms = []
            for i in range(count):
                t = time.perf_counter()
                r = call(1000 + i)  # a new seed each time: a face the server has not made before
                ms.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
            out[name] = percentiles(ms)
    return out


async def load(url: str, clients: int, seconds: float) -> dict:
    counts: dict[str, int] = {}
    ok_ms: list[float] = []
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(k: int, c: httpx.AsyncClient):
        seed = k * 10**6
        while time.monotonic() < stop:
            seed += 1
            t = time.perf_counter()
            try:
                r = await c.get("/v1/generate", params={"seed": seed})
                key = str(r.status_code)
            except httpx.HTTPError as e:
                r, key = None, type(e).__name__
            counts[key] = counts.get(key, 0) + 1
            if r is not None and r.status_code == 200:
                ok_ms.append((time.perf_counter() - t) * 1000)
            elif r is not None and r.status_code in (429, 503):
                await asyncio.sleep(min(float(r.headers.get("retry-after", 1)), max(0.0, stop - time.monotonic())))

    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
        await asyncio.gather(*(client(k, c) for k in range(clients)))
    elapsed = time.monotonic() - started
    errors = sum(v for k, v in counts.items() if k not in ("200", "429", "503"))
    return {"clients": clients, "seconds": round(elapsed, 1), "responses": counts, "errors": errors,
            "faces_per_s": round(counts.get("200", 0) / elapsed, 1), **percentiles(ok_ms)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--count", type=int, default=50, help="requests per latency measurement")
    args = p.parse_args()
    clients = max(1, min(args.clients, MAX_CLIENTS))
    seconds = max(1.0, min(args.seconds, MAX_SECONDS))
    proc, url = start_server(args.model)
    try:
        lat = latency(url, args.count)
        ld = asyncio.run(load(url, clients, seconds))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    results = {"model": args.model, "machine": machine(), "latency": lat, "load": ld}
    rows = "\n".join(f"| {k} | {v['p50_ms']} | {v['p90_ms']} | {v['p99_ms']} |" for k, v in lat.items())
    md = (f"# facegen serve ({args.model})\n\nOne client, a new face per request ({args.count} requests):\n\n"
          f"| request | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|\n{rows}\n\n"
          f"{ld['clients']} clients for {ld['seconds']} s against GET /v1/generate: {ld['faces_per_s']} faces/s, "
          f"p50 {ld.get('p50_ms')} ms, p99 {ld.get('p99_ms')} ms for answered requests; responses {ld['responses']}; "
          f"errors other than 429/503: {ld['errors']}.\n\nLoad average at start: {results['machine']['load_average_at_start']}\n")
    write_results("server", results, md)
    print(md)
    return 1 if ld["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
