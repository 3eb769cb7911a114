"""Crash torture: kill -9 facegen's writing commands at random moments, re-run them, check what is on disk.

1. train: a tiny style GAN (checkpoint every 2 steps) is killed --kills times, some kills timed to
   land while a checkpoint is being written (the moment its temporary file appears; one that lands
   just after the write is aimed again, up to WRITE_RETRIES times), and resumed each time. After
   every kill each checkpoint on disk must load and the resume must start from the newest
   checkpoint that existed when the kill landed (so no more than one checkpoint interval is
   lost); at the end the weights, optimiser states and model file must be bit-equal to an
   uninterrupted run with the same seed.
2. prepare: killed mid-way over a folder of distinct photos, then re-run: OUT is either absent or
   a complete dataset after every kill; the final one holds every photo exactly once.
3. every other command that writes files (generate, morph, latent, breed, export-model, export):
   killed at random moments; every file left under its final name must be complete and valid
   (hidden temporary files are allowed: they never look finished).
Writes bench/results/torture.{json,md}; the pytest suite runs a 2-kill version (tests/test_torture.py).

    OMP_NUM_THREADS=1 python bench/torture.py [--kills 20] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
TINY = ["--channels", "32,32,16,8", "--latent-dim", "32", "--w-dim", "32", "--mapping-layers", "2"]
BATCH, INTERVAL = 8, 2  # images per step; steps per checkpoint
WRITE_RETRIES = 3  # a kill aimed at a write can land just after it on a busy machine: aim again


def cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "facegen", *map(str, args)], env=ENV, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> None:
    _, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"{proc.args}: exit {proc.returncode}\n{err[-2000:]}")


def kill(proc: subprocess.Popen) -> bool:
    """SIGKILL; True when the process was still running (the kill really landed)."""
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    return proc.returncode == -signal.SIGKILL


# ---- 1. training -------------------------------------------------------------------------------

def make_dataset(path: Path, n: int = 24, size: int = 32) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    np.save(path / "images.npy", np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8))
    (path / "dataset.json").write_text(json.dumps({"format": "facegen-dataset", "version": 1, "size": size, "count": n}))
    return path


def train_args(ds: Path, out: Path, steps: int) -> list:
    return ["train", ds, *TINY, "--batch", BATCH, "--kimg", steps * BATCH / 1000, "--name", "torture",
            "--snapshot-kimg", INTERVAL * BATCH / 1000, "--sample-kimg", 1000, "--keep", 3, "--r1-every", 4,
            "--no-progress", "--no-tensorboard", "--precision", "fp32", "--out", out]


def checkpoint_steps(run: Path) -> list[int]:
    from facegen.training.checkpoint import list_checkpoints
    return [int(p.stem.split("-")[1]) for p in list_checkpoints(run)]


def torture_training(work: Path, kills: int, steps: int, rng: random.Random) -> dict:
    from facegen.training.checkpoint import checkpoint_dir, list_checkpoints, load_checkpoint

    ds = make_dataset(work / "ds")
    t0 = time.monotonic()
    finish(cli(*train_args(ds, work / "whole", steps)))
    whole_s = time.monotonic() - t0
    run = work / "killed"
    events, landed, write_misses = [], 0, 0
    while landed < kills:
        before = checkpoint_steps(run)
        if before and before[-1] >= steps - INTERVAL:
            raise SystemExit(f"the run reached step {before[-1]} of {steps} before {kills} kills landed; "
                             f"raise --steps")
        mode = ["checkpoint write", "startup", "mid-training"][landed % 3]
        d = checkpoint_dir(run)
        stale = set(d.glob(".step-*.tmp")) if d.is_dir() else set()  # left by an earlier kill
        proc = cli(*train_args(ds, run, steps))
        start = time.monotonic()
        # While Python and torch start, or at a random moment within the interval after the first new
        # checkpoint: each resume then runs a step or a few, so many kills fit in one run. The startup
        # kill lands within the first half of the uninterrupted run's time: a fixed window outlived
        # the whole resumed run on a fast machine.
        delay = rng.uniform(0.1, 0.5) * whole_s if mode == "startup" else rng.uniform(0.0, 0.3)
        seen_before_kill = before
        while proc.poll() is None and time.monotonic() - start < 120:
            if mode == "startup":
                if time.monotonic() - start >= delay:
                    seen_before_kill = checkpoint_steps(run)
                    break
            elif (checkpoint_steps(run) or [-1])[-1] > (before or [-1])[-1]:
                seen_before_kill = checkpoint_steps(run)
                if mode == "checkpoint write":
                    # Spin until the next checkpoint's temporary file appears and kill at once:
                    # the write takes a few milliseconds.
                    while proc.poll() is None and not {d / n for n in os.listdir(d) if n.startswith(".step-")} - stale:
                        pass
                else:
                    time.sleep(delay)
                    seen_before_kill = checkpoint_steps(run)
                break
            time.sleep(0.005)
        if not kill(proc):
            raise SystemExit(f"the run ended before kill {landed + 1} ({mode}) could land; raise --steps")
        in_write = bool(d.is_dir() and set(d.glob(".step-*.tmp")) - stale)
        loads, damaged = [], []
        for p in list_checkpoints(run):
            try:
                load_checkpoint(p)
                loads.append(int(p.stem.split("-")[1]))
            except Exception as e:  # any failure to load is what this bench looks for
                damaged.append(f"{p.name}: {e}")
        newest_before = seen_before_kill[-1] if seen_before_kill else -1
        events.append({"kill": len(events) + 1, "aimed_at": mode, "seconds_after_start": round(time.monotonic() - start, 2),
                       "landed_mid_write": in_write, "checkpoints_before_kill": seen_before_kill,
                       "checkpoints_after_kill": loads, "damaged": damaged, "all_load": not damaged,
                       # The resume starts from the newest loadable checkpoint: at most one interval lost.
                       "newest_kept": (loads[-1] if loads else -1) >= newest_before})
        print(f"train kill {len(events)} ({mode}, {events[-1]['seconds_after_start']} s): "
              f"checkpoints {loads}{' (mid-write)' if in_write else ''}", flush=True)
        if mode == "checkpoint write" and not in_write and write_misses < WRITE_RETRIES:
            write_misses += 1
        else:
            landed += 1
    finish(cli(*train_args(ds, run, steps)))

    from safetensors.torch import load_file
    a = load_file(str(list_checkpoints(work / "whole")[-1]))
    b = load_file(str(list_checkpoints(run)[-1]))
    import torch
    equal = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    model_equal = (work / "whole" / "model.safetensors").read_bytes() == (run / "model.safetensors").read_bytes()
    return {"steps": steps, "checkpoint_interval_steps": INTERVAL, "kills": len(events),
            "kills_mid_checkpoint_write": sum(e["landed_mid_write"] for e in events),
            "every_checkpoint_loaded": all(e["all_load"] for e in events),
            "resume_never_lost_more_than_one_interval": all(e["newest_kept"] for e in events),
            "final_state_bit_equal": equal, "model_file_bit_equal": model_equal,
            "tensors_compared": len(a), "uninterrupted_seconds": round(whole_s, 1), "events": events}


# ---- 2. prepare ----------------------------------------------------------------------------------

def torture_prepare(work: Path, kills: int, files: int, rng: random.Random) -> dict:
    from PIL import Image

    from facegen.data.dataset import load_dataset

    src = work / "photos"
    src.mkdir()
    gen = np.random.default_rng(1)
    for i in range(files):  # noise images: no two are near duplicates
        Image.fromarray(gen.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(src / f"p{i:04d}.png")
    out = work / "dataset"
    args = ["prepare", src, out, "--size", 32, "--aligned", "--workers", 1, "--quiet"]
    t0 = time.monotonic()
    finish(cli(*args))
    clean_s = time.monotonic() - t0
    shutil.rmtree(out)
    events = []
    def temps():
        return {p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp")}

    for k in range(kills):
        stale = temps()  # left by an earlier kill (the next run removes them)
        proc = cli(*args, *(["--overwrite"] if out.exists() else []))
        time.sleep(rng.uniform(0.3, clean_s))
        landed = kill(proc)
        mid_way = bool(temps() - stale)
        state = "absent"
        if out.exists():
            try:
                n = len(load_dataset(out))
                state = f"complete ({n} faces)" if n == files else f"PARTIAL ({n} of {files} faces)"
            except ValueError as e:
                state = f"PARTIAL ({e})"
        events.append({"kill": k + 1, "landed": landed, "mid_way": mid_way, "out_after_kill": state})
        print(f"prepare kill {k + 1}/{kills}: {'landed' if landed else 'too late'}{' mid-way' if mid_way else ''}; "
              f"OUT {state}", flush=True)
    finish(cli(*args, "--overwrite"))
    ds = load_dataset(out)
    sources = ds.sources
    return {"files": files, "kills": sum(e["landed"] for e in events), "kills_mid_way": sum(e["mid_way"] for e in events),
            "clean_seconds": round(clean_s, 1), "never_partial": not any("PARTIAL" in e["out_after_kill"] for e in events),
            "final_faces": len(ds), "complete": sorted(sources) == sorted(p.name for p in src.iterdir()),
            "duplicates": len(sources) - len(set(sources)), "temp_folders_left": sorted(temps()), "events": events}


# ---- 3. other commands that write files ------------------------------------------------------------

def check_file(path: Path) -> str | None:
    """None when `path` is a complete file of its kind; else what is wrong."""
    try:
        suffix = path.suffix.lower()
        if suffix in (".png", ".jpg", ".gif"):
            from PIL import Image
            with Image.open(path) as im:
                for i in range(getattr(im, "n_frames", 1)):
                    im.seek(i)
                    im.load()
            if suffix != ".gif":
                from facegen.provenance import read_recipe
                read_recipe(path)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                [z[k] for k in z.files]
        elif suffix == ".json":
            json.loads(path.read_text())
        elif suffix == ".safetensors":
            from facegen.modelfile import load_generator
            load_generator(path)
        elif suffix == ".onnx":
            import onnx
            onnx.checker.check_model(onnx.load(str(path)))
        else:
            return f"unexpected file {path.name}"
    except Exception as e:  # any failure to read it back means a partial file under a final name
        return f"{type(e).__name__}: {e}"
    return None


def commands(work: Path, run: Path) -> dict:
    out = work / "outputs"
    return {
        "generate": ["generate", "-n", 48, "--seed", 0, "--grid", "--out", out / "generate"],
        "morph": ["morph", 1, 2, 3, "--frames", 60, "--out", out / "morph" / "m.gif", "--grid"],
        "latent": ["latent", 42, "--out", out / "latent" / "face.npz"],
        "breed": ["breed", 1, 2, "--children", 16, "--seed", 1, "--out", out / "breed"],
        "mix": ["mix", "--rows", "1-4", "--cols", "10-13", "--out", out / "mix" / "mix.png"],
        "transform": ["transform", 42, "--exaggerate", 2.5, "--out", out / "transform" / "t.png"],
        "export-model": ["export-model", run, "--out", out / "export-model" / "m.safetensors"],
        "export onnx": ["export", "classic", "--format", "onnx", "--out", out / "export" / "c.onnx"],
    }


def torture_commands(work: Path, run: Path, kills: int, rng: random.Random, only=None) -> dict:
    results = {}
    for name, args in commands(work, run).items():
        if only and name not in only:
            continue
        target = Path(args[args.index("--out") + 1])
        folder = target if not target.suffix else target.parent
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        t0 = time.monotonic()
        finish(cli(*args))
        clean_s = time.monotonic() - t0
        complete = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        landed, bad, temps, written = 0, [], 0, 0
        for _ in range(kills):
            shutil.rmtree(folder)
            folder.mkdir()
            proc = cli(*args)
            # Half the kills anywhere, half late: most of a short command's time is Python starting.
            time.sleep(rng.uniform(0.2, clean_s) if rng.random() < 0.5 else rng.uniform(0.6 * clean_s, clean_s))
            landed += kill(proc)
            written += sum(not p.name.startswith(".") for p in folder.iterdir())
            for p in folder.iterdir():
                if p.name.startswith("."):
                    temps += 1  # a hidden temporary file: never mistaken for output
                    continue
                problem = check_file(p)
                if problem:
                    bad.append(f"{p.name}: {problem}")
        results[name] = {"kills": landed, "clean_seconds": round(clean_s, 1), "files_when_complete": len(complete),
                         "finished_files_seen_after_kills": written,
                         "partial_files_under_final_names": bad, "hidden_temp_files_left": temps}
        print(f"{name}: {landed} kills landed; partial files: {bad or 'none'}", flush=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="kills for training (and prepare)")
    ap.add_argument("--command-kills", type=int, default=3, help="kills per other command")
    ap.add_argument("--steps", type=int, default=0, help="training steps (default: enough for the kills)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    steps = args.steps or max(40, 8 * args.kills)
    with tempfile.TemporaryDirectory(prefix="facegen-torture-") as tmp:
        work = Path(tmp)
        started = time.monotonic()
        result = {"training": torture_training(work, args.kills, steps, rng),
                  "prepare": torture_prepare(work, args.kills, 2000, rng),
                  "commands": torture_commands(work, work / "killed", args.command_kills, rng)}
        result["seconds"] = round(time.monotonic() - started, 1)
    sys.path.insert(0, str(Path(__file__).parent))
    from common import machine, write_results
    result["machine"] = machine()
    write_results("torture", result, report(result))
    ok = passed(result)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def passed(r: dict) -> bool:
    t, p = r["training"], r["prepare"]
    return (t["every_checkpoint_loaded"] and t["resume_never_lost_more_than_one_interval"] and t["final_state_bit_equal"]
            and t["model_file_bit_equal"] and p["complete"] and p["never_partial"] and not p["duplicates"]
            and not any(c["partial_files_under_final_names"] for c in r["commands"].values()))


def report(r: dict) -> str:
    t, p = r["training"], r["prepare"]
    lines = ["# Crash torture (`bench/torture.py`)", "",
             f"Every kill is `kill -9`. Total {r['seconds']} s on {r['machine']['cpus']} CPUs "
             f"({r['machine']['processor']}, load average at start {r['machine']['load_average_at_start'][0]:.1f}).", "",
             "## Training", "",
             f"- {t['kills']} kills of a {t['steps']}-step run (checkpoint every {t['checkpoint_interval_steps']} steps), "
             f"{t['kills_mid_checkpoint_write']} of them while a checkpoint was being written",
             f"- every checkpoint on disk loaded after every kill: {t['every_checkpoint_loaded']}",
             f"- each resume started from the newest checkpoint present at the kill (at most one interval lost): "
             f"{t['resume_never_lost_more_than_one_interval']}",
             f"- final state bit-equal to an uninterrupted run ({t['tensors_compared']} tensors: G, D, EMA, both "
             f"optimisers, RNG): {t['final_state_bit_equal']}; model file byte-equal: {t['model_file_bit_equal']}", "",
             "## prepare", "",
             f"- {p['kills']} kills over {p['files']} photos ({p['kills_mid_way']} while the dataset was being built); "
             f"after every kill OUT was absent or complete: {p['never_partial']}",
             f"- final dataset complete: {p['complete']} ({p['final_faces']} faces), duplicates: {p['duplicates']}, "
             f"temporary folders left: {len(p['temp_folders_left'])}", "",
             "## Other commands", "",
             "| command | kills | files found after the kills (all checked) | partial files under final names | "
             "hidden temp files left |", "|---|---|---|---|---|"]
    for name, c in r["commands"].items():
        lines.append(f"| {name} | {c['kills']} | {c['finished_files_seen_after_kills']} | "
                     f"{len(c['partial_files_under_final_names'])} | {c['hidden_temp_files_left']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
