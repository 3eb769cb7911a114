"""How compose.restore's settings trade PSNR, InceptionV3 distance and detail on aged photos.

    OMP_NUM_THREADS=1 taskset -c 1 python bench/remaster_sweep.py [--start 3000] [--num 100] \
        [--steps 100] SETTING [SETTING ...]
    # SETTING: `current`, or NAME=VALUE[,NAME=VALUE...] over compose.restore's constants,
    # e.g. REGRAIN=0.3,DEBLUR_K=0.02; writes bench/results/remaster_sweep_<start>.{json,md}

The photos are aged and remastered once each, as bench/remaster.py does (same ageing, seeds and
inversions), and the regenerated faces are then pasted again with every setting, so a setting
costs about a minute on one core instead of a whole bench run. It measures bench/remaster.py's
`keep-detail` row: the default remaster. Tune on one hundred photos, check on the next (--start).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_model, machine, write_results  # noqa: E402
from remaster import ROOT, age, detail, inception_distances, measured_region, pasted, psnr  # noqa: E402


def parse_setting(spec: str) -> dict[str, float]:
    from facegen.compose import restore

    if spec == "current":
        return {}
    out = {}
    for item in spec.split(","):
        name, _, value = item.partition("=")
        if not name.isupper() or not hasattr(restore, name):
            raise SystemExit(f"{spec}: {name!r} is not one of compose.restore's constants")
        out[name] = float(value)
    return out


def measure(pipe, inception, remastered: list[dict], setting: dict[str, float]) -> dict:
    from facegen.compose import restore

    saved = {n: getattr(restore, n) for n in setting}
    rows = []
    try:
        for n, v in setting.items():
            setattr(restore, n, v)
        for r in remastered:
            out = pasted(pipe, r["aged"], r["result"], True, r["grey"])
            mask = measured_region(r["result"])
            aged, restored = inception_distances(inception, r["clean"], [r["aged"], out], r["result"])
            rows.append({"psnr_closer": psnr(out, r["clean"], mask) > psnr(r["aged"], r["clean"], mask),
                         "inception_closer": restored < aged,
                         "detail_ratio": detail(out, mask) / detail(r["clean"], mask)})
    finally:
        for n, v in saved.items():
            setattr(restore, n, v)
    return {"closer_than_aged_by_psnr": round(float(np.mean([r["psnr_closer"] for r in rows])), 3),
            "closer_than_aged_by_inception": round(float(np.mean([r["inception_closer"] for r in rows])), 3),
            "detail_ratio_median": round(statistics.median(r["detail_ratio"] for r in rows), 3)}


def main() -> None:
    import torch

    from facegen.compose import ComposeError, remaster, restore
    from facegen.metrics.features import InceptionFeatures
    from facegen.pipeline import FaceGenerator

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("settings", nargs="+")
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared/data/celeba/test")
    ap.add_argument("--start", type=int, default=3000)
    ap.add_argument("--num", type=int, default=100)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--model", default="default")
    a = ap.parse_args()
    settings = {spec: parse_setting(spec) for spec in a.settings}
    pipe = FaceGenerator.from_pretrained(a.model)
    inception = InceptionFeatures(threads=torch.get_num_threads())
    rng, remastered, t0 = np.random.default_rng(0), [], time.perf_counter()
    for k, f in enumerate(sorted(a.photos.glob("*.jpg"))[a.start:a.start + a.num]):
        with Image.open(f) as im:
            clean = np.asarray(im.convert("RGB"))
        aged = age(clean, k, rng)
        try:
            result = remaster(pipe, aged, f.name, steps=a.steps, index=[0], seed=k)
        except ComposeError:
            continue
        remastered.append({"clean": clean, "aged": aged, "result": result, "grey": k % 2 == 1})
        print(f"remastered {k + 1}/{a.num} {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    results = {}
    for spec, setting in settings.items():
        results[spec] = measure(pipe, inception, remastered, setting)
        print(spec, results[spec], file=sys.stderr, flush=True)
    md = ["# compose.restore settings on aged photos (bench/remaster_sweep.py)", "",
          f"CelebA test photos #{a.start}-{a.start + a.num - 1} by name, aged as bench/remaster.py does; "
          f"faces found in {len(remastered)}; inversion {a.steps} steps; model {a.model}; {cpu_model()}.",
          f"`python bench/remaster_sweep.py --start {a.start} {' '.join(a.settings)}`", "",
          "| setting | closer than aged (PSNR) | closer than aged (Inception) | detail ratio median |",
          "|---|---|---|---|"]
    md += [f"| {spec} | {100 * r['closer_than_aged_by_psnr']:.0f}% | {100 * r['closer_than_aged_by_inception']:.0f}% | "
           f"{r['detail_ratio_median']} |" for spec, r in results.items()]
    consts = ", ".join(f"{n}={getattr(restore, n)}" for n in dir(restore) if n.isupper() and n != "STEPS")
    md += ["", f"`current`: compose.restore as it stands ({consts}); other rows change only what they name.",
           "", "Goal (#20): >= 90% closer by PSNR and by Inception, detail ratio median >= 0.8.", ""]
    text = "\n".join(md)
    print(text)
    write_results(f"remaster_sweep_{a.start}", {"settings": results, "faces": len(remastered), "steps": a.steps,
                                                "machine": machine()}, text)


if __name__ == "__main__":
    main()
