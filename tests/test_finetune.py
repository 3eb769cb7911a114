"""`facegen train --init`: a new run starts from another run's or model file's weights."""
from __future__ import annotations

import shutil

import pytest
import safetensors.torch
import torch

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
    ds = make_dataset(tmp_path / "portraits", n=8, size=64)
    g = load_generator("default")
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
