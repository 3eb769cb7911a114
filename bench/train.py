"""How fast does `facegen train` train, against the usual way and against this CPU's peak?

Measures, in one run on the same photos (a slice of CelebA's aligned train split):
  1. reference: a loop written the way pytorch/examples' dcgan/main.py trains: an
     ImageFolder-style dataset that opens, decodes, resizes and crops each JPEG with
     PIL on every step, a DataLoader with 2 workers, fp32, BCE, Adam(2e-4, 0.5).
  2. facegen: our Trainer (channels_last, the uint8 array prepared once, DiffAugment
     + x-flip + EMA on as by default) in fp32 and in bf16 autocast, same architecture
     and batch; `--precision auto` picks the faster of the two, so that is our figure.
  3. The FLOPs of one facegen training step (counted by torch's FlopCounterMode)
     over its time, against the bf16 and fp32 convolution peaks measured here with a large conv.
  4. Style generators at 128x128 (the issue's widths 256,256,128,64,32,16 and the grown
     default's 256,128,64,32,16,16), batch 32, fp32 and bf16: img/s, GFLOP/s, share of
     the peaks; the photos prepared at 128 the same way.

    python bench/train.py [--data ../shared/data/celeba/train] [--images 2048] [--batch 64] [--threads N]

Writes bench/results/train.json and train.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import cpu_name, cpuinfo  # noqa: E402
from facegen.models import GeneratorConfig, build_generator  # noqa: E402
from facegen.models.discriminator import build_discriminator  # noqa: E402
from facegen.training.loop import Trainer  # noqa: E402
from facegen.training.options import TrainOptions  # noqa: E402


def load_face(path: Path, size: int, crop: float = 1.0) -> np.ndarray:
    """Resize the short side to `size` and centre-crop, as transforms.Resize + CenterCrop do.

    `crop` < 1 first keeps that fraction of the short side, centred (as `prepare --crop`).
    """
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        if crop < 1.0:
            side = round(min(w, h) * crop)
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side))
            w, h = im.size
        s = size / min(w, h)
        im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BILINEAR)
        w, h = im.size
        left, top = (w - size) // 2, (h - size) // 2
        return np.array(im.crop((left, top, left + size, top + size)))


class JpegFolder(torch.utils.data.Dataset):
    """What ImageFolder + Resize + CenterCrop + ToTensor + Normalize do, per item, per step."""

    def __init__(self, files: list[Path], size: int, crop: float = 1.0):
        self.files, self.size, self.crop = files, size, crop

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        x = torch.from_numpy(load_face(self.files[i], self.size, self.crop)).permute(2, 0, 1).float() / 255
        return (x - 0.5) / 0.5, 0


class ReferenceLoop:
    """pytorch/examples' dcgan loop: D on reals, D on detached fakes, then G through D; BCE, fp32."""

    def __init__(self, files, config: GeneratorConfig, batch: int, crop: float = 1.0):
        torch.manual_seed(0)
        self.config, self.batch = config, batch
        self.net_g, self.net_d = build_generator(config).train(), build_discriminator(config).train()
        self.opt_d = torch.optim.Adam(self.net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(self.net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.loader = torch.utils.data.DataLoader(JpegFolder(files, config.resolution, crop), batch_size=batch,
                                                  shuffle=True, num_workers=2, drop_last=True,
                                                  persistent_workers=True)
        self.batches = iter(self.loader)
        self.bce = torch.nn.BCEWithLogitsLoss()

    def next_batch(self):
        try:
            return next(self.batches)[0]
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)[0]

    def step(self) -> None:
        real, batch = self.next_batch(), self.batch
        ones, zeros = torch.ones(batch), torch.zeros(batch)
        self.net_d.zero_grad()
        self.bce(self.net_d(real), ones).backward()
        fake = self.net_g(torch.randn(batch, self.config.latent_dim))
        self.bce(self.net_d(fake.detach()), zeros).backward()
        self.opt_d.step()
        self.net_g.zero_grad()
        self.bce(self.net_d(fake), ones).backward()
        self.opt_g.step()


def timed(fn, steps: int) -> float:
    """Seconds per call of `fn`, over `steps` calls."""
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def prepare_array(files, size: int, out: Path) -> float:
    """What `facegen prepare --aligned` leaves: images.npy + dataset.json, decoded once."""
    t0 = time.perf_counter()
    images = np.stack([load_face(f, size) for f in files])
    np.save(out / "images.npy", images)
    (out / "dataset.json").write_text(json.dumps({"format": "facegen-dataset", "version": 1, "size": size,
                                                  "count": len(images)}))
    return time.perf_counter() - t0


def facegen_trainer(dataset: Path, run: Path, config: GeneratorConfig, batch: int, **kw) -> Trainer:
    opts = TrainOptions(dataset=str(dataset), out=str(run), arch=config.architecture, batch=batch,
                        channels=config.channels, latent_dim=config.latent_dim, progress=False, tensorboard=False,
                        **kw)
    return Trainer(opts)


def step_flops(trainer: Trainer) -> float:
    """FLOPs of an average step: for style, one R1 step (its double backward) in every r1_every."""
    from torch.utils.flop_counter import FlopCounterMode

    def one() -> int:
        with FlopCounterMode(display=False) as counter:
            trainer.train_step()
        return counter.get_total_flops()

    o = trainer.opts
    if o.arch != "style" or not o.r1_gamma:
        return one()
    trainer.step = 0  # an R1 step
    with_r1 = one()
    plain = one()
    return (with_r1 + (o.r1_every - 1) * plain) / o.r1_every


def conv_peak(dtype=torch.bfloat16, seconds: float = 1.0) -> float:
    """FLOP/s of a large 3x3 convolution: what this CPU's conv kernels reach at best."""
    x = torch.randn(64, 256, 32, 32).to(dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(256, 256, 3, 3).to(dtype).contiguous(memory_format=torch.channels_last)
    flops = 2 * 64 * 256 * 32 * 32 * 256 * 9
    with torch.no_grad():
        F.conv2d(x, w, padding=1)
        best, t_end = float("inf"), time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            F.conv2d(x, w, padding=1)
            best = min(best, time.perf_counter() - t0)
    return flops / best


# Style generators at 128: the widths, and the bundled default grown from 64 px.
STYLE128 = {"style128_wide": [256, 256, 128, 64, 32, 16], "style128_default": [256, 128, 64, 32, 16, 16]}


def cpu_flags() -> list[str]:
    """The flags that decide which kernels run: AVX-512 (and its bf16), AMX."""
    return sorted(f for f in cpuinfo().get("flags", "").split() if f.startswith(("avx512_bf16", "amx", "avx512f")))


def best_conv_peak(peak_bf16: float, peak_fp32: float) -> float:
    """The faster precision's peak; bf16's is NaN where it was not timed (no bf16 kernels)."""
    return peak_fp32 if math.isnan(peak_bf16) else max(peak_bf16, peak_fp32)


def style_rows(best: dict, flops: dict, batch: int, peak_bf16: float, peak_fp32: float, ref_ips: float) -> dict:
    rows = {}
    best_peak = best_conv_peak(peak_bf16, peak_fp32)
    for name, widths in STYLE128.items():
        for precision in ("fp32", "bf16"):
            ips = best[f"{name}_{precision}"]
            rate = flops[name] * ips / batch
            rows[f"{name}_{precision}"] = {
                "widths": widths, "precision": precision, "img_per_s": round(ips, 1),
                "step_gflop": round(flops[name] / 1e9, 1), "gflops": round(rate / 1e9, 1),
                "fraction_of_bf16_peak": round(rate / peak_bf16, 3), "fraction_of_fp32_peak": round(rate / peak_fp32, 3),
                "fraction_of_best_peak": round(rate / best_peak, 3),
                "img_per_s_vs_reference_dcgan64": round(ips / ref_ips, 2)}
    return rows


def style_table(rows: dict, batch: int) -> str:
    lines = [f"\n## Style generators at 128x128, batch {batch}, DiffAugment p=0.3, R1 every 16 steps\n",
             "| widths | precision | img/s | GFLOP/step | GFLOP/s | of bf16 peak | of fp32 peak | of best peak |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows.values():
        lines.append(f"| {','.join(map(str, r['widths']))} | {r['precision']} | {r['img_per_s']} | {r['step_gflop']} | "
                     f"{r['gflops']} | {r['fraction_of_bf16_peak']:.0%} | {r['fraction_of_fp32_peak']:.0%} | "
                     f"{r['fraction_of_best_peak']:.0%} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "celeba" / "train"))
    p.add_argument("--images", type=int, default=2048, help="how many photos of the split to use")
    p.add_argument("--batch", type=int, default=64, help="64, as pytorch/examples' dcgan")
    p.add_argument("--steps", type=int, default=5, help="steps per loop per round")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--style-batch", type=int, default=32)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "train.json"))
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    data = Path(args.data)
    files = sorted(data.glob("*.jpg"))[: args.images] if data.is_dir() else []
    if not files:
        print(f"bench/train.py: no JPEG photos in {data}; pass --data with a folder of face photos "
              f"(this bench uses CelebA's aligned train split, ../shared/data/celeba/train)", file=sys.stderr)
        return 2
    dcgan = GeneratorConfig(architecture="dcgan", resolution=64, latent_dim=100, channels=[512, 256, 128, 64])
    result: dict = {"machine": {"cpu": cpu_name(), "cpu_flags": cpu_flags(), "threads": torch.get_num_threads(),
                                "torch": torch.__version__, "load_average_before": os.getloadavg()},
                    "data": {"folder": str(data), "photos": len(files)}, "batch": args.batch, "steps": args.steps}
    # The machine is shared, so the loops take turns in rounds and each figure is the best
    # round: the one least disturbed by other work. Medians are kept too.
    names = ("peak_bf16", "peak_fp32", "reference", "facegen_fp32", "facegen_bf16", "facegen_fp32_no_augment",
             *(f"{s}_{p}" for s in STYLE128 for p in ("fp32", "bf16")))
    rounds: dict = {k: [] for k in names}
    # Without bf16 kernels (an AVX2-only CPU) bf16 is emulated, tens of times slower than fp32: its
    # rows would take hours and only confirm what `--precision auto` sees at once (it picks fp32).
    has_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    precisions = ("fp32", "bf16") if has_bf16 else ("fp32",)
    style_flops: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        ds, ds128 = Path(tmp) / "ds", Path(tmp) / "ds128"
        ds.mkdir()
        ds128.mkdir()
        result["data"]["decode_once_s"] = round(prepare_array(files, 64, ds), 2)
        prepare_array(files[:512], 128, ds128)
        print(f"decoded {len(files)} photos once in {result['data']['decode_once_s']} s")
        loops = {
            "reference": ReferenceLoop(files, dcgan, args.batch).step,
            "facegen_fp32": facegen_trainer(ds, Path(tmp) / "r1", dcgan, args.batch, precision="fp32").train_step,
            "facegen_fp32_no_augment": facegen_trainer(ds, Path(tmp) / "r3", dcgan, args.batch, precision="fp32",
                                                       augment_p=0.0, mirror=False).train_step,
        }
        if has_bf16:
            loops["facegen_bf16"] = facegen_trainer(ds, Path(tmp) / "r2", dcgan, args.batch, precision="bf16").train_step
        for name, widths in STYLE128.items():
            for precision in precisions:
                config = GeneratorConfig(architecture="style", resolution=128, latent_dim=256, channels=widths)
                trainer = facegen_trainer(ds128, Path(tmp) / f"{name}_{precision}", config, args.style_batch,
                                          precision=precision, augment_p=0.3)
                loops[f"{name}_{precision}"] = trainer.train_step
            style_flops[name] = step_flops(trainer)
        batches = {name: args.style_batch if name.startswith("style") else args.batch for name in loops}
        for loop in loops.values():
            timed(loop, args.warmup)
        flops = step_flops(loops["facegen_fp32"].__self__)
        for r in range(args.rounds):
            rounds["peak_bf16"].append(conv_peak(torch.bfloat16) if has_bf16 else float("nan"))
            rounds["peak_fp32"].append(conv_peak(torch.float32))
            for name in names:
                if "peak" not in name:
                    rounds[name].append(batches[name] / timed(loops[name], args.steps) if name in loops
                                        else float("nan"))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1] / (1e9 if 'peak' in k else 1):.1f}"
                                                 for k, v in rounds.items()), flush=True)
    best = {k: max(v) for k, v in rounds.items()}
    median = {k: float(np.median(v)) for k, v in rounds.items()}
    chosen = max(("facegen_fp32", "facegen_bf16"), key=best.get)  # what --precision auto picks
    peak_bf16, peak_fp32, ref_ips, ours_ips = best["peak_bf16"], best["peak_fp32"], best["reference"], best[chosen]
    best_peak = best_conv_peak(peak_bf16, peak_fp32)
    plain_ips = best["facegen_fp32_no_augment"]
    step_s = args.batch / ours_ips
    result.update({
        "rounds": {k: [round(x / (1e9 if "peak" in k else 1), 1) for x in v] for k, v in rounds.items()},
        "peak_conv_gflops": {"bf16": round(peak_bf16 / 1e9, 1), "fp32": round(peak_fp32 / 1e9, 1)},
        "reference_img_per_s": round(ref_ips, 1),
        "facegen_precision": chosen.split("_")[1],
        "facegen_img_per_s": round(ours_ips, 1),
        "facegen_fp32_img_per_s": round(best["facegen_fp32"], 1),
        "facegen_bf16_img_per_s": round(best["facegen_bf16"], 1),
        "facegen_no_augment_img_per_s": round(plain_ips, 1),
        "speedup": round(ours_ips / ref_ips, 2),
        # The most any loop doing the reference's work could gain over it at this CPU's conv peak:
        # where bf16 is no faster than fp32, 4x (issue 19) is out of reach by arithmetic alone.
        "speedup_ceiling": round(best_peak / (flops * ref_ips / args.batch), 2),
        "speedup_median": round(max(median["facegen_fp32"], median["facegen_bf16"]) / median["reference"], 2),
        "facegen_step_gflop": round(flops / 1e9, 2),
        "facegen_gflops": round(flops / step_s / 1e9, 1),
        "fraction_of_bf16_peak": round(flops / step_s / peak_bf16, 3),
        "fraction_of_best_peak": round(flops / step_s / best_peak, 3),
        "load_average_after": os.getloadavg(),
        "style128": style_rows(best, style_flops, args.style_batch, peak_bf16, peak_fp32, ref_ips),
    })
    ref, ours, plain = ref_ips, ours_ips, plain_ips
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(
        f"# Training speed (bench/train.py)\n\n"
        f"DCGAN-64 (G 512-256-128-64, mirrored D), batch {args.batch}, {len(files)} CelebA photos, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, {result['machine']['cpu']} "
        f"({', '.join(result['machine']['cpu_flags']) or 'no AVX-512/AMX'}).\n\n"
        f"Best of {args.rounds} rounds of {args.steps} steps each, loops taking turns (medians in train.json).\n\n"
        f"| loop | img/s |\n| --- | --- |\n"
        f"| reference: per-step JPEG decode + resize, DataLoader(2 workers), fp32 | {ref:.1f} |\n"
        f"| facegen train, fp32 (channels_last, uint8 array, DiffAugment, x-flip, EMA) | {best['facegen_fp32']:.1f} |\n"
        f"| facegen train, bf16 autocast | {best['facegen_bf16']:.1f} |\n"
        f"| facegen train, fp32, without DiffAugment / x-flip | {plain:.1f} |\n\n"
        + (f"`--precision auto` measures both and picks the faster: here {result['facegen_precision']}.\n\n"
           if has_bf16 else "This CPU has no bf16 kernels: bf16 is not timed (nan), and `--precision auto` "
           "takes fp32 without measuring.\n\n") +
        f"Speed-up end to end: **{ours / ref:.2f}x** (goal 4x, issue 19); the ceiling here, the best conv peak "
        f"over the reference's FLOP rate, is {result['speedup_ceiling']:.2f}x. Decoding the photos once took "
        f"{result['data']['decode_once_s']} s.\n\n"
        f"Training step: {flops / 1e9:.1f} GFLOP (FlopCounterMode), {flops / step_s / 1e9:.0f} GFLOP/s; "
        f"bf16 3x3 conv peak here {peak_bf16 / 1e9:.0f} GFLOP/s (fp32 {peak_fp32 / 1e9:.0f}): "
        f"**{flops / step_s / peak_bf16:.0%} of the bf16 peak**, "
        f"{flops / step_s / best_peak:.0%} of the best conv peak (goal 60%).\n\n"
        + style_table(result["style128"], args.style_batch) +
        f"\nLoad average before/after: {result['machine']['load_average_before']}, {result['load_average_after']} "
        f"(the machine is shared; figures vary run to run).\n")
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
