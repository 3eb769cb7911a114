"""Faces in your own style (#23): `facegen finetune` on four small domains, against training from scratch.

Each domain is built from CelebA's aligned test photos (../shared/data/celeba/test, 178x218
JPEGs, 5 photos per identity, no identity shared with the photos the bundled default was
trained on): 300 training and 300 held-out photos, of disjoint identities chosen with a seed,
each transformed the same way:

  oil       an oil-paint-like filter with a warm palette: a Kuwahara filter (radius 3: flat
            strokes, kept edges), then a warm grade (red x1.10 +14, green x1.00 +6, blue x0.80)
            and colour saturation x1.35
  oldphoto  a greyscale old photo with grain: luminance, faded (x0.72 + 36), a 0.8-px blur,
            Gaussian grain (sigma 12 levels, one value per pixel), a vignette (-35% in the corners)
  sketch    a pencil sketch: the colour-dodge of the greyscale by its blurred negative
            (sigma 5 px), darkened with gamma 1.8
  men       photos of men, unchanged: attributes_test.csv labels Male on 357 photos of 294
            identities; it is a property of the person, so each labelled man's five photos count
            (128 identities, 640 photos)

For each domain:
  1. the photos are written to WORK/DOMAIN/{train,heldout}/ (PNG);
  2. the held-out photos are prepared as `facegen prepare` does (WORK/DOMAIN/heldout-64);
  3. `facegen finetune` runs on the training photos from the bundled default64, with --minutes M;
  4. a from-scratch run of the same shape in the same minutes, through the same command (so
     the same measuring, early stop and guard), with `facegen train`'s from-scratch settings:
     every layer training, lr 0.0025, batch 32, EMA half-life 10 kimg;
  5. `facegen metrics`' evaluate() for the untouched default, the fine-tune and the scratch run:
     KID x1000 (and FID) of NUM samples against the 300 held-out photos, and the share of samples
     that are near-copies of the faces each run trained on;
  6. the same measure for default64's faces put through the domain's own transform (each face
     upscaled to the size the photos' face crops had, transformed, shrunk back): a perfect copy of
     the style on unchanged faces, so the part of the gap that is the faces, not the style;
  7. 16 faces (seeds 0-15) from each of the three models and from step 6 to RESULTS/finetune/DOMAIN-*.png.
     A sheet of the domain's own photos goes to WORK only: CelebA's terms forbid publishing its photos.

    python bench/finetune.py [--minutes 60] [--domains oil,oldphoto,sketch,men] [--num 1000]
                             [--data ../shared/data/celeba] [--work /tmp/facegen-bench-finetune]
                             [--freeze-g N] [--lr LR] [--ema-kimg K] [--discriminator D]
                                 (the fine-tune's, when not the command's defaults)
                             [--filtered-only]   (step 6 alone, added to the domains' existing rows)
                             [--run-only finetuned|scratch]   (step 3 or 4 alone, no row)

On one free core each domain takes about 2 x MINUTES + 10 min (measuring), so the default
run is about 8.7 h; two processes with different --domains on two cores halve it. For one
domain, `--run-only scratch` and `--run-only finetuned` on a core each, then the same command
without it (which finds both runs finished and only measures), take MINUTES + 20 min.
Writes RESULTS/finetune.json, finetune.md and finetune/*.png (RESULTS: --results, default bench/results);
a domain's row replaces its earlier one, and the rows of domains not run this time stay, each with
the settings and machine it was measured with.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import machine  # noqa: E402
from facegen.limits import DISCRIMINATORS  # noqa: E402

DOMAINS = ("oil", "oldphoto", "sketch", "men")
PER_SPLIT = 300
PHOTOS_PER_IDENTITY = 5
SIZE = 64
DEFAULT_SHAPE = dict(arch="style", resolution=SIZE, channels=[256, 128, 64, 32, 16], latent_dim=256, w_dim=256,
                     mapping_layers=4)


# ---- the domains -------------------------------------------------------------------------------

def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """a[y + dy, x + dx], edges repeated."""
    h, w = a.shape[:2]
    ys = np.clip(np.arange(h) + dy, 0, h - 1)
    xs = np.clip(np.arange(w) + dx, 0, w - 1)
    return a[ys][:, xs]


def kuwahara(rgb: np.ndarray, radius: int = 4) -> np.ndarray:
    """Each pixel takes the mean colour of whichever of its four (radius+1)-square quadrants varies least."""
    import cv2

    f = rgb.astype(np.float32)
    grey = f.mean(axis=2)
    k = radius + 1
    mean = cv2.blur(f, (k, k), borderType=cv2.BORDER_REPLICATE)
    var = cv2.blur(grey * grey, (k, k), borderType=cv2.BORDER_REPLICATE) - \
        cv2.blur(grey, (k, k), borderType=cv2.BORDER_REPLICATE) ** 2
    s = radius // 2
    offsets = [(-s, -s), (-s, s), (s, -s), (s, s)]
    variances = np.stack([_shift(var, dy, dx) for dy, dx in offsets])
    means = np.stack([_shift(mean, dy, dx) for dy, dx in offsets])
    best = variances.argmin(axis=0)
    out = np.take_along_axis(means, best[None, :, :, None].repeat(3, axis=3), axis=0)[0]
    return np.clip(out, 0, 255).astype(np.uint8)


def oil(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    a = kuwahara(np.asarray(im.convert("RGB")), 3).astype(np.float32)
    a = a * np.array([1.10, 1.00, 0.80], np.float32) + np.array([14, 6, 0], np.float32)
    warm = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return ImageEnhance.Color(warm).enhance(1.35)


def oldphoto(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    g = np.asarray(im.convert("L").filter(ImageFilter.GaussianBlur(0.8)), np.float32) * 0.72 + 36
    g = g + rng.normal(0, 12, g.shape).astype(np.float32)
    h, w = g.shape
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
    g = g * (1 - 0.35 * r2 / 2)
    return Image.fromarray(np.clip(g, 0, 255).astype(np.uint8)).convert("RGB")


def sketch(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    grey = im.convert("L")
    g = np.asarray(grey, np.float32)
    blurred = np.asarray(Image.fromarray(255 - np.asarray(grey)).filter(ImageFilter.GaussianBlur(5)), np.float32)
    dodge = np.clip(g * 255 / np.maximum(255 - blurred, 1), 0, 255)
    return Image.fromarray((255 * (dodge / 255) ** 1.8).astype(np.uint8)).convert("RGB")


def unchanged(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return im.convert("RGB")


TRANSFORMS = {"oil": oil, "oldphoto": oldphoto, "sketch": sketch, "men": unchanged}


def identities(data: Path, domain: str) -> dict[str, list[Path]]:
    """The identities a domain may use, each with its photos in test/."""
    by_id: dict[str, list[Path]] = {}
    for p in sorted((data / "test").glob("*.jpg")):
        by_id.setdefault(p.name.split("_")[0], []).append(p)
    if domain != "men":
        return by_id
    men: dict[str, list[str]] = {}
    with open(data / "attributes_test.csv", newline="") as f:
        for row in csv.DictReader(f):
            men.setdefault(row["file"].split("_")[0], []).append(row["Male"])
    return {i: by_id[i] for i, labels in men.items() if i in by_id and all(v == "1" for v in labels)}


def build_domain(data: Path, domain: str, out: Path, seed: int = 0) -> dict:
    """WORK/DOMAIN/train and heldout: PER_SPLIT transformed photos each, of disjoint identities."""
    ids = identities(data, domain)
    need = 2 * PER_SPLIT // PHOTOS_PER_IDENTITY
    full = sorted(i for i, photos in ids.items() if len(photos) >= PHOTOS_PER_IDENTITY)
    if len(full) < need:
        raise SystemExit(f"{data}: only {len(full)} identities with {PHOTOS_PER_IDENTITY} photos for {domain}, "
                         f"{need} are needed")
    rng = np.random.default_rng([seed, DOMAINS.index(domain)])
    chosen = [full[i] for i in rng.permutation(len(full))[:need]]
    split = {"train": chosen[:need // 2], "heldout": chosen[need // 2:]}
    for name, people in split.items():
        folder = out / name
        if folder.is_dir() and len(list(folder.glob("*.png"))) == PER_SPLIT:
            continue  # built before, by the same seeded recipe
        folder.mkdir(parents=True, exist_ok=True)
        for person in people:
            for p in ids[person][:PHOTOS_PER_IDENTITY]:
                with Image.open(p) as im:
                    TRANSFORMS[domain](im, rng).save(folder / f"{p.stem}.png")
    return {"identities": {k: len(v) for k, v in split.items()}, "photos": PER_SPLIT}


# ---- measuring ---------------------------------------------------------------------------------

def measure(model: str, heldout: Path, train: Path, num: int, threads: int, cache: Path) -> dict:
    from facegen.metrics.evaluate import evaluate

    r = evaluate(model, heldout, num=num, train=train, cache_dir=cache, threads=threads).report
    m = r["memorisation"]
    return {"kid_x1000": 1000 * r["kid"], "kid_std_x1000": 1000 * r["kid_std"], "fid": r["fid"],
            "precision": r["precision"], "recall": r["recall"], "memorised_share": m["share_below_threshold"],
            "memorised_threshold": m["threshold"], "seconds": r["timings_s"]["total"]}


# The median side, in photo pixels, of the squares `facegen prepare` cut the held-out oil faces from
# (their eyes and mouth, CelebA's crop template): the scale each domain's transform worked at.
SOURCE_SIDE = 148


def filtered_default(domain: str, heldout: Path, args) -> dict | None:
    """The untouched default64's faces through the domain's own transform, at the scale the photos
    had when they were transformed (each face upscaled to SOURCE_SIDE, transformed, shrunk back as
    `prepare` shrinks). What a fine-tune that took the style perfectly and changed nothing else
    would score: the part of the untouched model's KID that its faces, not the style, account for.
    Its first 16 faces (seeds 0-15) go to RESULTS/finetune/DOMAIN-default-transformed.png."""
    import cv2

    from facegen.imaging import make_grid
    from facegen.metrics.faces import FaceCounter
    from facegen.metrics.features import InceptionFeatures
    from facegen.metrics.fid import fid
    from facegen.metrics.kid import kid
    from facegen.metrics.real import open_source, real_features
    from facegen.pipeline import FaceGenerator

    if TRANSFORMS[domain] is unchanged:
        return None
    num, seed = args.num, args.seed
    extractor, counter = InceptionFeatures(threads=args.threads), FaceCounter()
    real = real_features(open_source(heldout), SIZE, extractor, counter, None, 0, args.work / "cache", 32,
                         "held-out").features
    pipe = FaceGenerator.from_pretrained("default64")
    rng = np.random.default_rng([seed, DOMAINS.index(domain), 1])
    first: list[np.ndarray] = []

    def batches():
        for start in range(0, num, 32):
            out = []
            for im in pipe(seeds=list(range(start, min(start + 32, num)))).images:
                big = im.convert("RGB").resize((SOURCE_SIDE, SOURCE_SIDE), Image.LANCZOS)
                done = np.asarray(TRANSFORMS[domain](big, rng).convert("RGB"))
                out.append(cv2.resize(done, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
            first.extend(out[:16 - len(first)])
            yield np.stack(out)

    t = time.perf_counter()
    gen = extractor.extract(batches(), total=num, desc=f"default64 + {domain}")
    k, k_std = kid(gen, real, seed=seed)
    sheet = args.results / "finetune" / f"{domain}-default-transformed.png"
    sheet.parent.mkdir(parents=True, exist_ok=True)
    make_grid([Image.fromarray(a) for a in first], columns=8).save(sheet)
    return {"kid_x1000": 1000 * k, "kid_std_x1000": 1000 * k_std, "fid": fid(gen, real),
            "seconds": time.perf_counter() - t}


def faces_sheet(model: str, path: Path) -> None:
    from facegen.imaging import make_grid
    from facegen.pipeline import FaceGenerator

    images = FaceGenerator.from_pretrained(model)(seeds=list(range(16))).images
    path.parent.mkdir(parents=True, exist_ok=True)
    make_grid(images, columns=8).save(path)


def photos_sheet(dataset: Path, path: Path) -> None:
    from facegen.data.dataset import load_dataset
    from facegen.imaging import make_grid

    ds = load_dataset(dataset)
    make_grid([Image.fromarray(np.asarray(ds.images[i])) for i in range(min(16, len(ds)))], columns=8).save(path)


# ---- one domain --------------------------------------------------------------------------------

def held_out(domain: str, args) -> Path:
    """The built domain's held-out photos, prepared as `facegen prepare` does."""
    from facegen.data.prepare import Options, prepare

    work = args.work / domain
    heldout = work / f"heldout-{SIZE}"
    if not (heldout / "dataset.json").is_file():
        prepare(work / "heldout", heldout, Options(size=SIZE), workers=1, progress=False)
    return heldout


def run_options(domain: str, args) -> dict:
    """The two runs of a domain: 'finetuned' from default64 and 'scratch' from random weights. A run
    whose folder already holds its finetune.json is measured, not retrained, so either may be
    started apart (on its own core) with these options and picked up by a later bench run."""
    from facegen.finetune import FinetuneOptions

    work = args.work / domain
    recipe = {k: v for k, v in (("freeze_g", args.freeze_g), ("lr", args.lr), ("ema_kimg", args.ema_kimg),
                                ("discriminator", args.discriminator)) if v is not None}
    common = dict(minutes=args.minutes, eval_kimg=args.eval_kimg, eval_samples=args.eval_samples, workers=1,
                  progress=False, seed=args.seed)
    return {
        "finetuned": FinetuneOptions(str(work / "train"), str(work / "finetune"), init="default64", **common, **recipe),
        "scratch": FinetuneOptions(str(work / "train"), str(work / "scratch"), init=None, freeze_g=0, lr=0.0025,
                                   batch=32, ema_kimg=10.0, discriminator="residual", train=dict(DEFAULT_SHAPE),
                                   **common),
    }


def run_domain(domain: str, args) -> dict:
    from facegen.data.dataset import load_dataset
    from facegen.finetune import finetune
    from facegen.finetune.run import BEFORE_OPTION

    work = args.work / domain
    t0 = time.perf_counter()
    built = build_domain(args.data, domain, work, args.seed)
    heldout = held_out(domain, args)
    photos_sheet(heldout, work / f"{domain}_examples.png")
    runs = run_options(domain, args)
    result = {"domain": domain, "built": built, "runs": {}, "measured": {}}
    for name, opts in runs.items():
        summary_path = Path(opts.out) / "finetune.json"
        if summary_path.is_file():  # a finished run from before: measure it again, do not retrain
            summary = json.loads(summary_path.read_text())
        else:
            print(f"== {domain}: {name} ({args.minutes:g} min)", flush=True)
            summary = finetune(opts)
        result["runs"][name] = {k: summary[k] for k in ("stopped", "minutes", "kimg", "train_faces", "heldout_faces",
                                                        "model", "notes")}
        # A run from before --discriminator existed ran with the value BEFORE_OPTION gives it.
        ran = {**BEFORE_OPTION, **summary["options"]}
        result["runs"][name].update({k: ran[k] for k in ("discriminator", "freeze_g", "lr", "ema_kimg")})
        result["runs"][name]["best_kimg"] = summary["best"]["kimg"] if summary["best"] else None
        result["runs"][name]["greyscale"] = bool(summary["model"]) and grey_model(summary["model"])
    train_faces = work / "finetune" / "train"
    models = {"default": ("default64", train_faces), "finetuned": (result["runs"]["finetuned"]["model"], train_faces),
              "scratch": (result["runs"]["scratch"]["model"], work / "scratch" / "train")}
    for name, (model, train) in models.items():
        if model is None:
            result["measured"][name] = None
            continue
        print(f"== {domain}: measuring {name}", flush=True)
        result["measured"][name] = measure(model, heldout, train, args.num, args.threads, args.work / "cache")
        faces_sheet(model, args.results / "finetune" / f"{domain}-{name}.png")
    print(f"== {domain}: measuring default64 through the domain's transform", flush=True)
    result["measured"]["filtered"] = filtered_default(domain, heldout, args)
    result["heldout_faces"] = len(load_dataset(heldout))
    result["seconds"] = time.perf_counter() - t0
    return result


def grey_model(path: str) -> bool:
    """Whether a run's model draws grey faces (`facegen finetune` makes one from greyscale pictures)."""
    from facegen.modelfile import load_generator

    return load_generator(path).config.greyscale


def markdown(results: dict) -> str:
    """One row per domain; each domain keeps the settings and machine it was last run with."""
    from facegen.finetune import FinetuneOptions

    lines = [
        "# Fine-tuning on a few hundred pictures (#23)", "",
        "`python bench/finetune.py --domains D [--minutes M]`, one process per domain, each on one core "
        "(`OMP_NUM_THREADS=1 taskset -c N`). Each domain: 300 training + 300 held-out CelebA test photos of "
        "disjoint identities, transformed as the script's docstring says. KID x1000 of the samples against the "
        "held-out photos prepared as `facegen prepare` does (lower is better); near-copies: the share of samples "
        "nearer a training face than the 1st percentile of held-out-to-training distances. Goal (issue 23): "
        "fine-tuned KID at most half of the untouched model's and of the from-scratch run's. "
        "default64 + transform: the untouched model's faces put through the domain's own transform (at the "
        "photos' scale), i.e. a perfect copy of the style on unchanged faces.", "",
        "| domain | minutes per run | fine-tune's D, options | output | faces train / held-out | KID x1000 default64 | "
        "default64 + transform | fine-tuned | from scratch | goal met | near-copies fine-tuned / scratch | "
        "kimg (best) fine-tuned / scratch "
        "| stopped: fine-tuned / scratch | machine |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["domains"].values():
        m, runs, a = r["measured"], r["runs"], r["settings"]

        def kid(name):
            x = m.get(name)
            if name == "filtered" and not x:
                return "-"  # a domain without a transform, or a row from before this column
            return f"{x['kid_x1000']:.1f} ± {x['kid_std_x1000']:.1f}" if x else "no model"

        def share(name):
            return f"{100 * m[name]['memorised_share']:.1f}%" if m.get(name) else "-"

        def kimg(name):
            run = runs[name]
            best = f" ({run['best_kimg']:.1f})" if run["best_kimg"] is not None else ""
            return f"{run['kimg']:.1f}{best}"

        met = "-"
        if all(m.get(k) for k in ("default", "finetuned", "scratch")):
            ft = m["finetuned"]["kid_x1000"]
            met = "yes" if ft <= m["default"]["kid_x1000"] / 2 and ft <= m["scratch"]["kid_x1000"] / 2 and \
                m["finetuned"]["memorised_share"] <= 0.01 else "no"
        ft_run = runs["finetuned"]
        recipe = ft_run["discriminator"]
        # Rows from before freeze_g was recorded ran with the command's default.
        if ft_run.get("freeze_g", FinetuneOptions.freeze_g) != FinetuneOptions.freeze_g:
            recipe += f"; --freeze-g {ft_run['freeze_g']}"
        if ft_run.get("lr") is not None:
            recipe += f"; --lr {ft_run['lr']:g}"
        if ft_run.get("ema_kimg", FinetuneOptions.ema_kimg) != FinetuneOptions.ema_kimg:
            recipe += f"; --ema-kimg {ft_run['ema_kimg']:g}"
        faces = f"{ft_run['train_faces']} / {r['heldout_faces']}"
        output = "grey" if ft_run.get("greyscale") else "colour"
        lines.append(f"| {r['domain']} | {a['minutes']:g} | {recipe} | {output} | {faces} | "
                     f"{kid('default')} | {kid('filtered')} | "
                     f"{kid('finetuned')} | {kid('scratch')} | {met} | {share('finetuned')} / {share('scratch')} | "
                     f"{kimg('finetuned')} / {kimg('scratch')} | {ft_run['stopped']} / "
                     f"{runs['scratch']['stopped']} | {r['machine']['cpu_model']} |")
    for r in results["domains"].values():
        if r.get("filtered_machine"):
            lines.append(f"\n{r['domain']}: default64 + transform measured later (`--filtered-only`) on "
                         f"{r['filtered_machine']['cpu_model']}.")
    lines += ["", "Sheets of 16 faces (seeds 0-15) from each model: `bench/results/finetune/DOMAIN-{default,finetuned,"
              "scratch}.png`; default64 + transform: `DOMAIN-default-transformed.png`.", ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "celeba",
                   help="CelebA as ../shared/data/celeba holds it (test/ and attributes_test.csv)")
    p.add_argument("--minutes", type=float, default=60.0, help="budget of each fine-tune and scratch run (default 60)")
    p.add_argument("--domains", default=",".join(DOMAINS), help=f"comma-separated, of {', '.join(DOMAINS)}")
    p.add_argument("--num", type=int, default=1000, help="samples per model for the final KID (default 1000)")
    p.add_argument("--eval-kimg", type=float, default=5.0, help="finetune's --eval-kimg (default 5)")
    p.add_argument("--eval-samples", type=int, default=200, help="finetune's --eval-samples (default 200)")
    p.add_argument("--freeze-g", type=int, help="the fine-tune's --freeze-g (default: the command's)")
    p.add_argument("--lr", type=float, help="the fine-tune's --lr (default: the command's)")
    p.add_argument("--ema-kimg", type=float, help="the fine-tune's --ema-kimg (default: the command's)")
    p.add_argument("--discriminator", choices=DISCRIMINATORS, help="the fine-tune's --discriminator "
                   "(default: the command's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "facegen-bench-finetune",
                   help="where the domains, runs and feature caches go (kept: a second run reuses them)")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--filtered-only", action="store_true",
                   help="train nothing: add 'default64 + transform' to the domains' existing rows")
    p.add_argument("--run-only", choices=("finetuned", "scratch"),
                   help="train that one run into --work and stop (no measuring, no row); a later bench run with "
                        "the same --work and options measures it instead of training it again")
    args = p.parse_args()
    domains = [d.strip() for d in args.domains.split(",") if d.strip()]
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown:
        raise SystemExit(f"unknown domain(s) {', '.join(unknown)}; choose from {', '.join(DOMAINS)}")
    if not (args.data / "test").is_dir():
        raise SystemExit(f"{args.data / 'test'}: no CelebA test photos there; pass --data DIR "
                         f"(see ../shared/data/README.md)")
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from facegen.atomic import write_bytes

    # Domains run before (perhaps on another machine, in another process) keep their rows.
    path = args.results / "finetune.json"
    results = json.loads(path.read_text()) if path.is_file() else {"domains": {}}
    settings = {"minutes": args.minutes, "freeze_g": args.freeze_g, "lr": args.lr, "ema_kimg": args.ema_kimg,
                "discriminator": args.discriminator, "num": args.num,
                "eval_kimg": args.eval_kimg, "eval_samples": args.eval_samples, "seed": args.seed,
                "data": str(args.data), "work": str(args.work)}
    for d in domains:
        if args.run_only:  # train one run apart; a later bench run measures it
            from facegen.finetune import finetune

            build_domain(args.data, d, args.work / d, args.seed)
            opts = run_options(d, args)[args.run_only]
            print(f"== {d}: {args.run_only} ({args.minutes:g} min) -> {opts.out}", flush=True)
            finetune(opts)
            continue
        if not args.filtered_only:
            results["domains"][d] = dict(run_domain(d, args), settings=settings, machine=machine())
        elif d in results["domains"]:
            row = results["domains"][d]
            build_domain(args.data, d, args.work / d, args.seed)
            row["measured"]["filtered"] = filtered_default(d, held_out(d, args), args)
            row["filtered_machine"] = machine()
        else:
            raise SystemExit(f"--filtered-only: {path} has no row for {d}; run the domain first")
    if args.run_only:
        return
    args.results.mkdir(parents=True, exist_ok=True)
    write_bytes(path, json.dumps(results, indent=2).encode())
    write_bytes(args.results / "finetune.md", markdown(results).encode())
    print(markdown(results))
    print(f"wrote {args.results / 'finetune.json'}, finetune.md and finetune/*.png")


if __name__ == "__main__":
    main()
