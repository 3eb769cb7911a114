"""Carry a training run to a GPU machine whose upload is small (64 MiB), and back.

    python scripts/gpu_transport.py pack RUN_DIR DATASET PACK [--quality 93]
    python scripts/gpu_transport.py unpack PACK RUN_ROOT      (on the GPU machine)
    python scripts/gpu_transport.py slim RUN_DIR FILE         (there, for the trip back)

`pack` writes the run's newest checkpoint, its log and the prepared dataset into PACK, small:
- the dataset as WebP mosaics of 32x32 faces. Lossy: ~38 dB PSNR at quality 93; 2,000 such
  copies of CelebA's 64x64 crops score FID 10.55 against the test photos where the originals
  score 9.46. The default run's snapshots from its WebP phase scored worse (FID ~47 at 1,000
  samples) than after 71 kimg more on the originals (42.2): finish a run on the originals;
- generator and discriminator weights in fp16, except the mapping network, whose
  weights are stored 100x their effective size (lr multiplier 0.01) and stay fp32;
- Adam's second moments in bf16 and no first moments: with beta1 = 0 (the style
  trainer's setting) the first moment is overwritten by the gradient each step.
`unpack` rebuilds RUN_ROOT/DATASET_NAME and RUN_ROOT/RUN_NAME/checkpoints in facegen's own
formats, so `facegen train RUN_ROOT/DATASET_NAME --out RUN_ROOT/RUN_NAME ... --device cuda`
continues the run. The full checkpoint that training writes there comes back unchanged, or
`slim` writes its weights alone (as above, no optimiser state), ~12 MB for the default run,
from which `facegen train --init FILE` fine-tunes on.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from PIL import Image

from facegen.atomic import atomic_path
from facegen.data.dataset import DatasetWriter, load_dataset
from facegen.training import checkpoint as ckpt

GRID = 32  # faces per mosaic side: 1,024 faces per file, so no per-file header costs bytes


def pack(run_dir: Path, dataset: Path, out: Path, quality: int) -> None:
    found = ckpt.latest_checkpoint(run_dir)
    if found is None:
        raise SystemExit(f"{run_dir}: no checkpoint to pack")
    path, tensors, meta = found
    if any(g["betas"][0] != 0 for k in ("opt_G", "opt_D") for g in meta[k]["param_groups"]):
        raise SystemExit(f"{path}: Adam beta1 is not 0, so its first moments cannot be dropped")
    small, dtypes = _slim(tensors, weights_only=False)
    out.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(small, str(out / "checkpoint.safetensors"),
                                metadata={ckpt.META_KEY: json.dumps(meta), "dtypes": json.dumps(dtypes),
                                          "name": path.name})
    ds = load_dataset(dataset)
    n, s = len(ds), ds.size
    for i in range(math.ceil(n / GRID**2)):
        block = np.zeros((GRID**2, s, s, 3), np.uint8)
        part = ds.images[i * GRID**2:(i + 1) * GRID**2]
        block[:len(part)] = part
        mosaic = block.reshape(GRID, GRID, s, s, 3).transpose(0, 2, 1, 3, 4).reshape(GRID * s, GRID * s, 3)
        Image.fromarray(mosaic).save(out / f"faces-{i:03d}.webp", quality=quality, method=6)
    (out / "faces.json").write_text(json.dumps({"count": n, "size": s, "name": ds.path.name,
                                                "source": str(ds.meta.get("source")), "quality": quality}))
    if (run_dir / "log.jsonl").is_file():
        shutil.copyfile(run_dir / "log.jsonl", out / "log.jsonl")
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"{out}: {path.name} and {n} faces, {total / 1e6:.1f} MB")


def _slim(tensors: dict, weights_only: bool) -> tuple[dict, dict]:
    """(small tensors, original dtypes): see the module docstring."""
    small, dtypes = {}, {}
    for name, t in tensors.items():
        net = name.split(".")[0]
        if weights_only and net not in ("G", "D", "G_ema"):
            continue
        dtypes[name] = str(t.dtype).removeprefix("torch.")
        if name.endswith(".exp_avg"):
            continue
        if name.endswith(".exp_avg_sq"):
            t = t.bfloat16()
        elif net in ("G", "D", "G_ema") and t.is_floating_point() and ".mapping" not in name:
            t = t.half()
        small[name] = t.contiguous()
    return small, dtypes


def slim(run_dir: Path, out: Path) -> None:
    """The newest checkpoint's weights alone, for the trip back: `facegen train --init OUT` starts from it."""
    found = ckpt.latest_checkpoint(run_dir)
    if found is None:
        raise SystemExit(f"{run_dir}: no checkpoint to slim")
    path, tensors, meta = found
    small, _ = _slim(tensors, weights_only=True)
    meta = {k: v for k, v in meta.items() if k not in ("opt_G", "opt_D", "rng")}
    with atomic_path(out) as tmp:
        safetensors.torch.save_file(small, str(tmp), metadata={ckpt.META_KEY: json.dumps(meta)})
    print(f"{out}: weights of {path}, {out.stat().st_size / 1e6:.1f} MB")


def unpack(src: Path, root: Path, run_name: str) -> None:
    info = json.loads((src / "faces.json").read_text())
    n, s = info["count"], info["size"]
    ds_dir = root / info["name"]
    with DatasetWriter(ds_dir, s) as writer:
        for i in range(math.ceil(n / GRID**2)):
            mosaic = np.asarray(Image.open(src / f"faces-{i:03d}.webp").convert("RGB"))
            block = mosaic.reshape(GRID, s, GRID, s, 3).transpose(0, 2, 1, 3, 4).reshape(GRID**2, s, s, 3)
            for crop in block[:min(GRID**2, n - i * GRID**2)]:
                writer.add(crop)
        source = f"{info['source']} (carried as WebP quality {info['quality']})"
        writer.commit({"source": source, "aligned": True, "items": []},
                      {"source": source, "unpacked_by": "scripts/gpu_transport.py", "images": n})

    with safetensors.safe_open(str(src / "checkpoint.safetensors"), "pt") as f:
        head = f.metadata()
    small = safetensors.torch.load_file(str(src / "checkpoint.safetensors"))
    dtypes = json.loads(head["dtypes"])
    tensors = {}
    for name, dtype in dtypes.items():
        if name.endswith(".exp_avg"):
            tensors[name] = torch.zeros_like(small[name + "_sq"], dtype=getattr(torch, dtype))
        else:
            tensors[name] = small[name].to(getattr(torch, dtype))
    d = ckpt.checkpoint_dir(root / run_name)
    d.mkdir(parents=True, exist_ok=True)
    with atomic_path(d / head["name"]) as tmp:  # a cut-off unpack leaves no checkpoint that looks whole
        safetensors.torch.save_file(tensors, str(tmp), metadata={ckpt.META_KEY: head[ckpt.META_KEY]})
    print(f"{ds_dir}: {n} faces; {d / head['name']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("run_dir", type=Path)
    p.add_argument("dataset", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--quality", type=int, default=93)
    w = sub.add_parser("slim")
    w.add_argument("run_dir", type=Path)
    w.add_argument("out", type=Path)
    u = sub.add_parser("unpack")
    u.add_argument("pack", type=Path)
    u.add_argument("root", type=Path)
    u.add_argument("--run", default="default-style64")
    a = ap.parse_args()
    if a.cmd == "pack":
        pack(a.run_dir, a.dataset, a.out, a.quality)
    elif a.cmd == "slim":
        slim(a.run_dir, a.out)
    else:
        unpack(a.pack, a.root, a.run)


if __name__ == "__main__":
    main()
