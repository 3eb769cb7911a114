"""Training: learning happens, kill -9 + resume is bit-exact, 2-process runs agree, errors are clear."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from facegen.cli import main
from facegen.limits import TRAIN_RANGES
from facegen.models import build_generator
from facegen.training.checkpoint import list_checkpoints
from facegen.training.data import TrainingError
from facegen.training.loop import Trainer
from facegen.training.options import TrainOptions

TINY_STYLE = ["--channels", "32,32,16,8", "--latent-dim", "32", "--w-dim", "32", "--mapping-layers", "2"]
TINY_STYLE_KW = dict(channels=[32, 32, 16, 8], latent_dim=32, w_dim=32, mapping_layers=2)
# One thread per process: the subprocess runs must compute the same thing every time, and
# on a 2-core CI machine two spinning OpenMP pools per process only slow each other down.
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def make_dataset(path: Path, n: int = 32, size: int = 32, color=None, seed: int = 0) -> Path:
    """A dataset folder as `facegen prepare` writes it: images.npy + dataset.json."""
    path.mkdir(parents=True, exist_ok=True)
    if color is None:
        images = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    else:
        images = np.empty((n, size, size, 3), np.uint8)
        images[:] = color
    np.save(path / "images.npy", images)
    (path / "dataset.json").write_text(json.dumps({"format": "facegen-dataset", "version": 1, "size": size,
                                                   "count": n}))
    return path


def run_cli(*args, timeout=120):
    return subprocess.Popen([sys.executable, "-m", "facegen", *map(str, args)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def tensors_of(path: Path) -> dict:
    return safetensors.torch.load_file(str(path))


def test_a_few_steps_pull_the_generator_toward_the_data(tmp_path):
    """On faces of one flat colour, G's output must move toward that colour."""
    color = (230, 60, 60)
    ds = make_dataset(tmp_path / "red", color=color)
    torch.set_num_threads(1)
    t = Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "run"), batch=16, progress=False,
                             tensorboard=False, **TINY_STYLE_KW))
    target = (torch.tensor(color).float() / 127.5 - 1)[None, :, None, None]
    z = torch.randn(64, 32, generator=torch.Generator().manual_seed(1))

    def distance():
        with torch.no_grad():
            return (t.G_ema(z).float() - target).abs().mean().item()

    before = distance()
    losses = [t.train_step() for _ in range(24)]
    after = distance()
    assert after < 0.8 * before, (before, after)
    assert all(torch.isfinite(v).all() for s in losses for v in s.values())
    assert "r1" in losses[0] and "r1" not in losses[1]  # lazy R1 on steps 0, 16, ...


def test_kill_9_then_resume_is_bit_equal_to_an_uninterrupted_run(tmp_path):
    ds = make_dataset(tmp_path / "ds", n=24)  # not a multiple of the batch: epochs straddle steps
    steps, batch = 30, 8
    common = [ds, *TINY_STYLE, "--batch", batch, "--kimg", steps * batch / 1000, "--name", "t",
              "--snapshot-kimg", batch / 1000, "--keep", 2, "--r1-every", 4, "--no-progress", "--no-tensorboard",
              "--precision", "fp32"]  # auto measures speed, and the two runs might then choose differently
    whole = run_cli("train", *common, "--out", tmp_path / "whole")
    killed = run_cli("train", *common, "--out", tmp_path / "killed")
    # A fixed kill point, chosen to be awkward: step 7 is mid-epoch (24 images, batch 8), between two
    # lazy R1 steps (every 4) and past the first --keep 2 rotation. The process dies at whatever step
    # it has reached after that checkpoint appears; the resume must be exact from any of them.
    kill_at = 7
    deadline = time.monotonic() + 90
    while killed.poll() is None and time.monotonic() < deadline:
        done = list_checkpoints(tmp_path / "killed")
        if done and int(done[-1].stem.split("-")[1]) >= kill_at:
            killed.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    assert killed.wait(30) == -signal.SIGKILL, f"the run ended before it could be killed at step {kill_at}"
    assert not (tmp_path / "killed" / "model.safetensors").exists()
    resumed = run_cli("train", *common, "--out", tmp_path / "killed")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "resuming from" in out
    assert whole.wait(120) == 0, whole.stderr.read()

    a = tensors_of(list_checkpoints(tmp_path / "whole")[-1])
    b = tensors_of(list_checkpoints(tmp_path / "killed")[-1])
    assert list_checkpoints(tmp_path / "killed")[-1].name == f"step-{steps:09d}.safetensors"
    assert len(list_checkpoints(tmp_path / "killed")) == 2  # --keep 2
    assert a.keys() == b.keys() and any(k.startswith("opt_D.state.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (tmp_path / "whole" / "model.safetensors").read_bytes() == (tmp_path / "killed" / "model.safetensors").read_bytes()
    rows = [json.loads(line) for line in (tmp_path / "killed" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == sorted({r["step"] for r in rows})  # no redone steps logged twice


WORKER = """
import sys, safetensors.torch
from facegen.training import distributed as dd
from facegen.training.loop import Trainer
from facegen.training.options import TrainOptions
dataset, out = sys.argv[1:3]
d = dd.setup("cpu")
t = Trainer(TrainOptions(dataset=dataset, out=out, batch=8, kimg=0.048, r1_every=2, progress=False,
                         tensorboard=False, snapshot_kimg=1, sample_kimg=1, channels=[32, 32, 16, 8],
                         latent_dim=32, w_dim=32, mapping_layers=2), d)
t.run()
state = {f"{n}.{k}": v.contiguous() for n in ("G", "D", "G_ema") for k, v in getattr(t, n).state_dict().items()}
safetensors.torch.save_file(state, f"{out}/rank{d.rank}.safetensors")
dd.teardown(d)
"""


def test_two_process_gloo_run_keeps_identical_weights(tmp_path):
    ds = make_dataset(tmp_path / "ds", n=40)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    run = tmp_path / "run"
    # --standalone: torchrun's rendezvous binds a port the kernel picks, so no guessed port can be taken.
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(ds), str(run)],
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = tensors_of(run / "rank0.safetensors"), tensors_of(run / "rank1.safetensors")
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    torch.manual_seed(0)
    init = build_generator(Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "x"), **TINY_STYLE_KW)).config)
    assert not torch.equal(r0["G.blocks.0.const"], init.state_dict()["blocks.0.const"])  # it did train
    assert (run / "model.safetensors").is_file() and len(list_checkpoints(run)) == 1


def test_ctrl_c_saves_a_checkpoint_and_the_run_continues(tmp_path):
    ds = make_dataset(tmp_path / "ds")
    args = ["train", ds, *TINY_STYLE, "--batch", 8, "--kimg", 100, "--snapshot-kimg", 1000,
            "--sample-kimg", 0.016, "--out", tmp_path / "run", "--no-progress", "--no-tensorboard"]
    proc = run_cli(*args)
    deadline = time.monotonic() + 60
    while not list((tmp_path / "run" / "samples").glob("*.png")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run the same command again to continue" in out
    (saved,) = list_checkpoints(tmp_path / "run")
    assert int(saved.stem.split("-")[1]) >= 2
    assert (tmp_path / "run" / "losses.png").is_file()


def test_export_model_writes_a_loadable_generator(tmp_path, capsys):
    from facegen import FaceGenerator, Generator

    ds = make_dataset(tmp_path / "ds")
    torch.set_num_threads(1)
    assert main(["train", str(ds), "--out", str(tmp_path / "run"), *TINY_STYLE, "--batch", "8", "--kimg", "0.016",
                 "--no-progress", "--no-tensorboard", "--license", "CC0"]) == 0
    assert main(["export-model", str(tmp_path / "run"), "--out", str(tmp_path / "again.safetensors")]) == 0
    g = Generator.from_pretrained(tmp_path / "again.safetensors")
    assert g.config.images_seen == 16 and g.config.license == "CC0" and "32 faces at 32x32" in g.config.training_data
    assert g.config.w_avg is not None and any(v != 0 for v in g.config.w_avg)
    assert (tmp_path / "again.safetensors").read_bytes() == (tmp_path / "run" / "model.safetensors").read_bytes()
    assert len(FaceGenerator(g, precision="fp32")(n=2, seed=3).images) == 2


@pytest.mark.parametrize("setup, args, message", [
    (None, [], "no such dataset"),
    ("empty", [], "the dataset is empty"),
    ("ds32", ["--resolution", "64"], "holds 32x32 faces but the model is 64x64"),
    ("ds32", ["--channels", "8,8"], "channels has 2 widths"),
    ("ds32", ["--batch", "3", "--resume"], "no checkpoint to resume from"),
])
def test_clear_errors(tmp_path, capsys, setup, args, message):
    ds = tmp_path / "ds"
    if setup == "empty":
        make_dataset(ds, n=0)
    elif setup == "ds32":
        make_dataset(ds)
    assert main(["train", str(ds), "--out", str(tmp_path / "run"), "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_out_of_range_option_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "ds", "--out", "run", "--augment-p", "1.5"])
    assert e.value.code == 2 and "--augment-p must be between 0.0 and 1.0" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(TRAIN_RANGES))
def test_parser_and_train_options_refuse_the_same_values(tmp_path, capsys, name):
    """One range table: a value just outside it is refused by the CLI and by TrainOptions alike,
    with the same message, and the ends themselves are accepted by the parser."""
    from facegen.cli import build_parser

    lo, hi = TRAIN_RANGES[name]
    flag = "--" + name.replace("_", "-")
    kind = type(hi)
    too_big = hi * 2 if hi else 1
    with pytest.raises(SystemExit):
        main(["train", "ds", "--out", "run", flag, str(kind(too_big))])
    message = f"{flag} must be between {lo} and {hi}"
    assert message in capsys.readouterr().err
    with pytest.raises(TrainingError, match=re.escape(message)):
        TrainOptions(str(tmp_path / "ds"), str(tmp_path / "run"), **{name: kind(too_big)}).resolve(32)
    for end in (lo, hi):
        args = build_parser().parse_args(["train", "ds", "--out", "run", flag, str(end)])
        assert getattr(args, name) == end


def test_train_cli_defaults_are_train_options_own(monkeypatch):
    """The parser sets no defaults of its own: options not given are not passed, so TrainOptions
    decides, and --help names TrainOptions' values."""
    import dataclasses

    from facegen.cli import build_parser

    seen = []
    monkeypatch.setattr("facegen.training.loop.train", lambda o: seen.append(o) or {"interrupted": False})
    assert main(["train", "ds", "--out", "run"]) == 0
    assert seen[0] == TrainOptions(dataset="ds", out="run")
    assert main(["train", "ds", "--out", "run", "--batch", "8", "--no-mirror"]) == 0
    assert seen[1] == dataclasses.replace(TrainOptions(dataset="ds", out="run"), batch=8, mirror=False)
    parser = build_parser()._subparsers._group_actions[0].choices["train"]
    text = " ".join(parser.format_help().split())
    defaults = TrainOptions(dataset="ds", out="run")
    for flag, value in [("--kimg", f"{defaults.kimg:g}"), ("--batch", defaults.batch), ("--keep", defaults.keep),
                        ("--augment-p", f"{defaults.augment_p:g}"), ("--license", defaults.license)]:
        option_help = text.split(f" {flag} ", 1)[1].split(" --", 1)[0]
        assert f"(default {value})" in option_help, flag
    assert "SUPPRESS" not in text


def test_resume_with_other_options_and_a_full_disk_are_refused(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    ds = make_dataset(tmp_path / "ds")
    opts = TrainOptions(dataset=str(ds), out=str(tmp_path / "run"), batch=8, kimg=0.008, progress=False,
                        tensorboard=False, **TINY_STYLE_KW)
    torch.set_num_threads(1)
    Trainer(opts).run()
    other = TrainOptions(**dict(opts.to_dict(), lr=0.01))
    with pytest.raises(TrainingError, match=r"other options \(lr: 0.0025 -> 0.01\)"):
        Trainer(other).run()
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(TrainingError, match="not enough disk space"):
        Trainer(TrainOptions(**dict(opts.to_dict(), out=str(tmp_path / "run2")))).run()


def test_a_checkpoint_from_before_an_option_existed_resumes_with_its_default():
    from facegen.training.options import identity_mismatch

    opts = TrainOptions(dataset="d", out="o", **TINY_STYLE_KW)
    older = {k: v for k, v in opts.to_dict().items() if k not in ("d_warmup_kimg", "d_channels")}
    assert identity_mismatch(older, opts) == []
    assert identity_mismatch(older, dataclasses.replace(opts, d_warmup_kimg=5.0)) == ["d_warmup_kimg: 0.0 -> 5.0"]
