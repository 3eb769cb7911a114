"""Train the reference DCGAN loop (bench/train.py's) for a fixed wall-clock time and save its generator.

The quality goal compares the bundled default model with this loop trained on the same data for
the same hours. This script does the training part; `facegen metrics` then measures the saved
generator exactly as it measures ours:

    OMP_NUM_THREADS=1 python bench/reference_quality.py --kimg 223 --out /work/runs/reference-dcgan
    facegen metrics /work/runs/reference-dcgan/generator.safetensors --real /work/runs/celeba64c_test ...

On a shared machine wall-clock hours are unfair to whichever run is starved, so `--kimg` sets the
budget instead: the images this loop trains on in the given hours at its speed on a free core
(36 img/s here with one thread, so 1.72 h is 223 kimg). `--hours` stops on wall-clock time.

Every `--save-minutes` it writes the generator (a facegen model file, for the metrics) and a
resume state (G, D and both Adam states in safetensors, never pickle), so re-running the same
command continues an interrupted run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from facegen.atomic import write_bytes  # noqa: E402
from facegen.models import GeneratorConfig  # noqa: E402
from train import ReferenceLoop  # noqa: E402


def save_state(loop: ReferenceLoop, path: Path, steps: int, hours: float) -> None:
    tensors = {f"G.{k}": v for k, v in loop.net_g.state_dict().items()}
    tensors.update({f"D.{k}": v for k, v in loop.net_d.state_dict().items()})
    groups = {}
    for name, opt in (("opt_g", loop.opt_g), ("opt_d", loop.opt_d)):
        sd = opt.state_dict()
        groups[name] = sd["param_groups"]
        for i, st in sd["state"].items():
            tensors.update({f"{name}.{i}.{k}": torch.as_tensor(v) for k, v in st.items()})
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    meta = {"steps": str(steps), "hours": str(hours), "param_groups": json.dumps(groups)}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_state(loop: ReferenceLoop, path: Path) -> tuple[int, float]:
    from safetensors import safe_open

    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    loop.net_g.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("G.")})
    loop.net_d.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("D.")})
    groups = json.loads(meta["param_groups"])
    for name, opt in (("opt_g", loop.opt_g), ("opt_d", loop.opt_d)):
        state: dict = {}
        for k, v in tensors.items():
            if k.startswith(name + "."):
                _, i, key = k.split(".", 2)
                state.setdefault(int(i), {})[key] = v
        opt.load_state_dict({"state": state, "param_groups": groups[name]})
    return int(meta["steps"]), float(meta["hours"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "celeba" / "train"))
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--hours", type=float, help="wall-clock training time")
    budget.add_argument("--kimg", type=float, help="thousands of training images")
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
    state_file, log_file = out / "resume.safetensors", out / "log.json"
    steps, hours_before, log = 0, 0.0, []
    if state_file.exists():
        steps, hours_before = load_state(loop, state_file)
        log = json.loads(log_file.read_text()) if log_file.exists() else []
        print(f"resuming at {steps * args.batch / 1000:.1f} kimg")
    start = last_save = time.monotonic()
    first_step = steps

    def hours() -> float:
        return hours_before + (time.monotonic() - start) / 3600

    def save() -> None:
        g = loop.net_g.eval()
        g.config.images_seen = steps * args.batch
        g.save_pretrained(out / "generator.safetensors")
        g.train()
        save_state(loop, state_file, steps, hours())
        log.append({"hours": round(hours(), 3), "kimg": round(steps * args.batch / 1000, 1),
                    "img_per_s": round((steps - first_step) * args.batch / (time.monotonic() - start), 1)})
        write_bytes(log_file, json.dumps(log, indent=1).encode())
        print(f"{log[-1]['hours']:.2f} h, {log[-1]['kimg']} kimg, {log[-1]['img_per_s']} img/s", flush=True)

    def done() -> bool:
        return hours() >= args.hours if args.hours is not None else steps * args.batch >= args.kimg * 1000

    while not done():
        loop.step()
        steps += 1
        if time.monotonic() - last_save > args.save_minutes * 60:
            save()
            last_save = time.monotonic()
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
