"""Named edit directions, measured: does each slider do what its name says, and only that?

    python bench/directions.py [--model default] [--faces 500] [--identity-faces 500] [--name directions]
        # writes bench/results/NAME.{json,md} and NAME_sheet.png

On --faces seeded faces (seeds from 1,000,000, apart from those the directions were found
on), each named direction is applied at +2 and -2 standard deviations on its own layers:
  effect    +2 sigma flips the classifier's decision in >= 80% of the faces that lacked the
            attribute, and -2 sigma in >= 80% of those that had it;
  focus     on those same edits (lacking +2, having -2), the other named attributes' classifier
            probabilities change, on average, by less than a quarter of the change in its own
            (mean |delta p| over the edits, and over the other attributes);
  identity  the InceptionV3 pool-feature distance between a face and its edit is below the
            median distance between two different generated faces for >= 90% of the +-2 sigma
            edits (on the first --identity-faces faces: InceptionV3 is the slow part on a CPU).
The sheet: rows = attributes, columns = -2, -1, 0, +1, +2 sigma, for --sheet-seeds faces.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine, write_results  # noqa: E402

SEED0 = 1_000_000
GOALS = {"effect": 0.80, "focus": 0.25, "identity": 0.90}


def images_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def run(pipe, d, clf, n: int, n_id: int, log=print) -> dict:
    from facegen.attributes.classifier import NAMED
    from facegen.explore.directions import apply_edit
    from facegen.metrics.features import InceptionFeatures

    inception = InceptionFeatures(threads=torch.get_num_threads())
    seeds = list(range(SEED0, SEED0 + n))
    ws = pipe.mapping(pipe.model.sample_z(seeds), 1.0)
    num_ws = pipe.config.num_ws

    def render(batch_ws):
        xs = []
        with torch.inference_mode():
            for i in range(0, len(batch_ws), 32):
                xs.append(pipe.model.synthesis(batch_ws[i:i + 32].float(), "const"))
        x = torch.cat(xs)
        return clf.logits(x), x

    s0, x0 = render(ws)
    f0 = inception(images_uint8(x0[:n_id]))
    # Two different faces: each face against the next one.
    between = np.linalg.norm(f0 - np.roll(f0, 1, axis=0), axis=1)
    median_between = float(np.median(between))
    named = [(int(k), v) for k, v in d.names.items() if v in d.info.get("attributes", {})]
    cols = {name: clf.index(NAMED[name][0]) for _, name in named}
    rows = {}
    for k, name in named:
        start = time.perf_counter()
        col, sign = cols[name], NAMED[name][1]
        other = [cols[m] for _, m in named if m != name]
        vec, scale = d.row_vector(k, num_ws), float(d.scales[k])
        have = (sign * s0[:, col] > 0)
        out = {}
        for strength in (2.0, -2.0):
            moved = torch.stack([apply_edit(w, vec, scale, strength, None, num_ws) for w in ws])
            s1, x1 = render(moved)
            change = (torch.sigmoid(s1) - torch.sigmoid(s0)).abs()
            now = sign * s1[:, col] > 0
            target = ~have if strength > 0 else have  # the faces this edit should flip
            out[strength] = {"flip": float((now[target] != have[target]).float().mean()) if target.any() else None,
                             "n": int(target.sum()), "own": change[target, col],
                             "others": change[target][:, other].mean(1),
                             "dist": np.linalg.norm(inception(images_uint8(x1[:n_id])) - f0, axis=1)}
        own = float(torch.cat([out[s]["own"] for s in out]).mean())
        others = float(torch.cat([out[s]["others"] for s in out]).mean())
        dist = np.concatenate([out[s]["dist"] for s in out])
        flips = [out[s]["flip"] for s in out if out[s]["flip"] is not None]
        r = {"attribute": NAMED[name][0], "layers": d.info["attributes"][name].get("layers"),
             "share_with": round(float(have.float().mean()), 3),
             "effect_plus": round(out[2.0]["flip"], 3) if out[2.0]["flip"] is not None else None,
             "effect_minus": round(out[-2.0]["flip"], 3) if out[-2.0]["flip"] is not None else None,
             "lacking": out[2.0]["n"], "having": out[-2.0]["n"],
             "own_change": round(own, 4), "others_change": round(others, 4),
             "focus": round(others / max(own, 1e-9), 3),
             "identity": round(float((dist < median_between).mean()), 3),
             "median_edit_distance": round(float(np.median(dist)), 3)}
        r["effect_met"] = bool(flips) and min(flips) >= GOALS["effect"]
        r["focus_met"] = r["focus"] < GOALS["focus"]
        r["identity_met"] = r["identity"] >= GOALS["identity"]
        r["all_met"] = r["effect_met"] and r["focus_met"] and r["identity_met"]
        rows[name] = r
        log(f"{name:18} effect +{r['effect_plus']} -{r['effect_minus']}  focus {r['focus']:.3f}  "
            f"identity {r['identity']:.3f}  ({time.perf_counter() - start:.0f} s)")
    return {"faces": n, "identity_faces": n_id, "median_distance_between_faces": round(median_between, 3),
            "goals": GOALS, "directions": rows,
            "meeting_all_goals": sorted(k for k, r in rows.items() if r["all_met"])}


def sheet(pipe, d, seeds: list[int], path: Path) -> None:
    from facegen.explore.directions import OWN, edit
    from facegen.explore.faces import resolve_faces
    from facegen.explore.recipes import save_output
    from facegen.imaging import make_grid

    names = [v for _, v in sorted((int(k), v) for k, v in d.names.items())]
    parts = []
    for face in resolve_faces([str(s) for s in seeds], pipe):
        image, recipe = edit(pipe, face, d, names, [-2, -1, 0, 1, 2], OWN, 96, labels=True)
        parts.append(image)
    out = make_grid(parts, len(parts), padding=12) if len(parts) > 1 else parts[0]
    save_output(out, path, recipe if len(parts) == 1 else dict(recipe, note="several faces side by side"),
                overwrite=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default")
    p.add_argument("--directions", help="named directions file (default: the model's)")
    p.add_argument("--faces", type=int, default=500)
    p.add_argument("--identity-faces", type=int, default=500)
    p.add_argument("--sheet-seeds", default="1000000,1000001,1000002")
    p.add_argument("--sheet-only", action="store_true")
    p.add_argument("--name", default="directions", help="results file name (another model's beside the default's)")
    args = p.parse_args()
    from facegen import FaceGenerator
    from facegen.attributes import load_classifier
    from facegen.explore.directions import load_directions
    from facegen.explore.named import named_path

    start = time.perf_counter()
    pipe = FaceGenerator.from_pretrained(args.model)
    d = load_directions(args.directions or named_path(args.model), pipe)
    sheet_path = RESULTS / f"{args.name}_sheet.png"
    sheet(pipe, d, [int(s) for s in args.sheet_seeds.split(",")], sheet_path)
    print(f"{sheet_path}: rows {', '.join(d.names.values())}; columns -2, -1, 0, +1, +2 sigma")
    if args.sheet_only:
        return 0
    result = run(pipe, d, load_classifier(), args.faces, min(args.identity_faces, args.faces))
    result.update(model=pipe.model_info(), command=" ".join([Path(sys.executable).name] + sys.argv),
                  seconds=round(time.perf_counter() - start, 1), machine=machine(), sheet=sheet_path.name)
    lines = [f"# Named directions on {pipe.config.name} ({pipe.config.resolution} px)", "",
             f"`{result['command']}`: {args.faces} seeded faces (identity on {result['identity_faces']}), "
             f"{result['seconds']:.0f} s. Goals: effect >= 80% both ways, focus < 0.25, identity >= 90%.", "",
             "| direction | layers | have it | effect +2σ | effect −2σ | focus | identity | all goals |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in result["directions"].items():
        lines.append(f"| {name} | {r['layers']} | {r['share_with']:.0%} | {r['effect_plus']} | {r['effect_minus']} | "
                     f"{r['focus']:.3f} | {r['identity']:.0%} | {'yes' if r['all_met'] else 'no'} |")
    lines += ["", f"{len(result['meeting_all_goals'])} of {len(result['directions'])} meet every goal. "
              f"Sheet: {sheet_path.name}.", ""]
    print(write_results(args.name, result, "\n".join(lines)))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
