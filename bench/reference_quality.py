"""Train the reference DCGAN loop (bench/train.py's) for a fixed wall-clock time and save its generator.

The quality goal compares the bundled default model with this loop trained on the same data for
the same hours. This script does the training part; `facegen metrics` then measures the saved
generator exactly as it measures ours:

    OMP_NUM_THREADS=1 python bench/reference_quality.py --hours 1.72 --out /work/runs/reference-dcgan
    facegen metrics /work/runs/reference-dcgan/generator.safetensors --real /work/runs/celeba64c_test ...

The generator is written (atomically, as a facegen model file) every `--save-minutes`, so an
interrupted run still leaves the newest one to measure. The loop itself is not resumable: it is
the plain pytorch/examples way of training, which is the point of the comparison.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from facegen.atomic import write_bytes  # noqa: E402
from facegen.models import GeneratorConfig  # noqa: E402
from train import ReferenceLoop  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "celeba" / "train"))
    p.add_argument("--hours", type=float, required=True, help="wall-clock training time")
    p.add_argument("--out", required=True, help="run folder (outside the repo)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--save-minutes", type=float, default=10.0)
    args = p.parse_args()

    files = sorted(Path(args.data).glob("*.jpg"))
    if not files:
        print(f"{args.data}: no JPEG photos", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # The same framing facegen prepare --aligned --crop 0.8 gives our models: the reference loads
    # the photo's centre square and the crop below tightens it to 0.8 of the width.
    config = GeneratorConfig(architecture="dcgan", resolution=64, latent_dim=100, channels=[512, 256, 128, 64],
                             name="reference-dcgan64", training_data=f"{args.data} ({len(files)} photos)",
                             license="CelebA terms: non-commercial research purposes only",
                             description="pytorch/examples-style DCGAN loop, for comparison only")
    loop = ReferenceLoop(files, config, args.batch, crop=0.8)
    start = last_save = time.monotonic()
    steps = 0
    log = []

    def save() -> None:
        g = loop.net_g.eval()
        g.config.images_seen = steps * args.batch
        g.save_pretrained(out / "generator.safetensors")
        g.train()
        elapsed = time.monotonic() - start
        log.append({"hours": round(elapsed / 3600, 3), "kimg": round(steps * args.batch / 1000, 1),
                    "img_per_s": round(steps * args.batch / elapsed, 1)})
        write_bytes(out / "log.json", json.dumps(log, indent=1).encode())
        print(f"{log[-1]['hours']:.2f} h, {log[-1]['kimg']} kimg, {log[-1]['img_per_s']} img/s", flush=True)

    while time.monotonic() - start < args.hours * 3600:
        loop.step()
        steps += 1
        if time.monotonic() - last_save > args.save_minutes * 60:
            save()
            last_save = time.monotonic()
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
