"""Server soak: many clients for minutes, mixing every kind of request, good and bad, against `facegen serve`.

Starts the real server on 127.0.0.1 (a subprocess; loopback only), then --clients concurrent clients
(at most 64) for --seconds (at most 600) each pick at random: a PNG face, faces as JSON, a morph, an
upload of a facegen image, an oversized upload (over 8 MiB), a malformed upload, an upload whose
header claims 30,000 x 30,000 pixels, and a malformed JSON body. Each kind has the statuses it may
get (plus 429/503 from the queue, after which a client waits Retry-After); anything else, or a
dropped connection, is an unexpected error. The server's RSS is sampled throughout.
Writes bench/results/soak.{json,md}.

    OMP_NUM_THREADS=1 python bench/soak.py [--seconds 30] [--clients 64] [--model default]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import struct
import sys
import time
import zlib
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, write_results  # noqa: E402
from server import percentiles, start_server  # noqa: E402

MAX_CLIENTS, MAX_SECONDS = 64, 600
BUSY = {429, 503}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def request_kinds(face_png: bytes) -> dict:
    """name -> (weight, statuses it may get besides 429/503, coroutine factory taking (client, rng))."""
    big = b"\0" * (9 * 1024**2)
    bomb = png_claiming(30000, 30000)

    def upload(data, name="face.png"):
        return lambda c, r: c.post("/v1/faces/from-image", files={"file": (name, data, "image/png")})

    return {
        "GET generate": (30, {200}, lambda c, r: c.get("/v1/generate", params={"seed": r.randrange(10**9)})),
        "POST generate": (20, {200}, lambda c, r: c.post("/v1/generate", json={"seed": r.randrange(10**9), "n": 2})),
        "POST morph": (15, {200}, lambda c, r: c.post("/v1/morph", json={
            "faces": [{"seed": r.randrange(10**9)}, {"seed": r.randrange(10**9)}], "frames": 8})),
        "upload facegen image": (15, {200}, upload(face_png)),
        "oversized upload": (4, {413}, upload(big)),
        "malformed upload": (6, {400, 415}, lambda c, r: upload(r.randbytes(r.randrange(1, 4096)))(c, r)),
        "pixel-bomb upload": (5, {413}, upload(bomb)),
        "malformed JSON": (5, {422}, lambda c, r: c.post("/v1/morph", content=b'{"faces": [{"seed": 1}',
                                                         headers={"content-type": "application/json"})),
    }


async def soak(url: str, pid: int, clients: int, seconds: float, seed: int) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        face_png = (await c.get("/v1/generate", params={"seed": 1})).content
    kinds = request_kinds(face_png)
    names = list(kinds)
    weights = [kinds[n][0] for n in names]
    stats = {n: {"counts": {}, "ms": [], "unexpected": []} for n in names}
    rss = [(0.0, rss_mb(pid))]
    stop = time.monotonic() + seconds
    started = time.monotonic()

    async def sampler():
        while time.monotonic() < stop:
            await asyncio.sleep(min(5.0, max(0.0, stop - time.monotonic())))
            rss.append((round(time.monotonic() - started, 1), rss_mb(pid)))

    async def client(k: int, c: httpx.AsyncClient):
        rng = random.Random(seed * 1000 + k)
        while time.monotonic() < stop:
            name = rng.choices(names, weights)[0]
            _, ok, make = kinds[name]
            s = stats[name]
            t = time.perf_counter()
            try:
                r = await make(c, rng)
                key = r.status_code
            except httpx.HTTPError as e:
                r, key = None, type(e).__name__
            ms = (time.perf_counter() - t) * 1000
            s["counts"][str(key)] = s["counts"].get(str(key), 0) + 1
            if r is not None and r.status_code in ok:
                s["ms"].append(ms)
                if r.status_code != 200 and "error" not in r.json():
                    s["unexpected"].append(f"{r.status_code} without a JSON error")
            elif r is not None and r.status_code in BUSY:
                await asyncio.sleep(min(float(r.headers.get("retry-after", 1)), max(0.0, stop - time.monotonic())))
            else:
                s["unexpected"].append(f"{key}: {r.text[:200] if r is not None else ''}")

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
        await asyncio.gather(sampler(), *(client(k, c) for k in range(clients)))
    elapsed = time.monotonic() - started
    rss.append((round(elapsed, 1), rss_mb(pid)))
    per_kind = {n: {"responses": s["counts"], "unexpected": len(s["unexpected"]),
                    "unexpected_examples": s["unexpected"][:5], **percentiles(s["ms"])} for n, s in stats.items()}
    all_ms = [m for s in stats.values() for m in s["ms"]]
    return {"clients": clients, "seconds": round(elapsed, 1), "requests": sum(sum(s["counts"].values()) for s in stats.values()),
            "unexpected_errors": sum(len(s["unexpected"]) for s in stats.values()),
            "busy_answers": sum(v for s in stats.values() for k, v in s["counts"].items() if k in ("429", "503")),
            "rss_mb_start": round(rss[0][1], 1), "rss_mb_end": round(rss[-1][1], 1),
            "rss_mb_max": round(max(v for _, v in rss), 1), "rss_samples": [(t, round(v, 1)) for t, v in rss],
            "expected_answers": percentiles(all_ms), "kinds": per_kind}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    clients = max(1, min(args.clients, MAX_CLIENTS))
    seconds = max(1.0, min(args.seconds, MAX_SECONDS))
    proc, url = start_server(args.model)
    try:
        # Warm up (first calls allocate the model's buffers) before the start-of-run RSS is taken.
        with httpx.Client(base_url=url, timeout=60) as c:
            for s in range(5):
                c.get("/v1/generate", params={"seed": s}).raise_for_status()
        r = asyncio.run(soak(url, proc.pid, clients, seconds, args.seed))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except Exception:
            proc.kill()
    threads = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
    results = {"model": args.model, "command": " ".join([f"{threads}python bench/soak.py", *sys.argv[1:]]),
               "machine": machine(), **r}
    rows = "\n".join(f"| {n} | {sum(k['responses'].values())} | {k['responses']} | {k['unexpected']} | "
                     f"{k.get('p50_ms', '-')} | {k.get('p99_ms', '-')} |" for n, k in r["kinds"].items())
    md = (f"# Server soak (`{results['command']}`)\n\n"
          f"{r['clients']} clients for {r['seconds']} s against `facegen serve --model {args.model}` on 127.0.0.1: "
          f"{r['requests']} requests, **{r['unexpected_errors']} unexpected errors**, {r['busy_answers']} "
          f"busy answers (429/503, then Retry-After).\n\n"
          f"Latency of the expected answers: p50 {r['expected_answers'].get('p50_ms')} ms, p99 "
          f"{r['expected_answers'].get('p99_ms')} ms. Server RSS: {r['rss_mb_start']} MB at the start, "
          f"{r['rss_mb_end']} MB at the end, {r['rss_mb_max']} MB at most.\n\n"
          f"| request | count | responses | unexpected | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n{rows}\n\n"
          f"Load average at start: {results['machine']['load_average_at_start']}\n")
    write_results("soak", results, md)
    print(md)
    return 1 if r["unexpected_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
