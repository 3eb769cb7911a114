"""scripts/gpu_transport.py: a packed run unpacks into one that `facegen train` resumes."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from facegen.data.dataset import load_dataset
from facegen.modelfile import load_generator
from facegen.training.checkpoint import list_checkpoints
from facegen.training.data import TrainingError
from facegen.training.export import export_run
from facegen.training.loop import Trainer
from facegen.training.options import TrainOptions
from test_train import TINY_STYLE_KW, make_dataset

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_transport.py"


@pytest.fixture(scope="module")
def transport():
    spec = importlib.util.spec_from_file_location("gpu_transport", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def smooth_dataset(path: Path, n: int) -> Path:
    """Faces-like content for a lossy codec: smooth gradients, a different one per image."""
    make_dataset(path, n=n)
    y, x = np.mgrid[0:32, 0:32] / 31
    rng = np.random.default_rng(0)
    images = np.stack([np.stack([a * x + b * y + c for a, b, c in rng.uniform(0, 1, (3, 3))], -1)
                       for _ in range(n)])
    np.save(path / "images.npy", (255 * images / images.max()).astype(np.uint8))
    return path


def trained_run(tmp_path: Path, arch: str = "style") -> tuple[Path, Path]:
    ds = smooth_dataset(tmp_path / "faces", n=40)
    kw = TINY_STYLE_KW if arch == "style" else dict(channels=[32, 16, 8], latent_dim=16)
    torch.set_num_threads(1)
    t = Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "run"), arch=arch, batch=8, progress=False,
                             tensorboard=False, precision="fp32", **kw))
    t.run_dir.mkdir()
    for _ in range(3):
        t.train_step()
    t.save()
    return ds, t.run_dir


def test_pack_and_unpack_give_back_the_dataset_and_a_resumable_checkpoint(tmp_path, transport):
    ds, run = trained_run(tmp_path)
    transport.pack(run, ds, tmp_path / "pack", quality=93)
    transport.unpack(tmp_path / "pack", tmp_path / "there", "copy")

    before, after = load_dataset(ds).images, load_dataset(tmp_path / "there" / "faces").images
    assert after.shape == before.shape == (40, 32, 32, 3)
    psnr = 10 * np.log10(255**2 / np.mean((before.astype(float) - after) ** 2))
    assert psnr > 30, psnr

    original = safetensors.torch.load_file(str(list_checkpoints(run)[-1]))
    copied = safetensors.torch.load_file(str(list_checkpoints(tmp_path / "there" / "copy")[-1]))
    assert original.keys() == copied.keys()
    for name, t in original.items():
        assert copied[name].dtype == t.dtype, name
        if name.endswith(".exp_avg"):  # Adam beta1 = 0: the next step overwrites it with the gradient
            assert not copied[name].any()
        elif ".mapping" in name or not t.is_floating_point():
            assert torch.equal(copied[name], t), name
        else:
            assert torch.allclose(copied[name], t, rtol=1e-2, atol=1e-4 * t.abs().max().item()), name

    resumed = Trainer(TrainOptions(dataset=str(tmp_path / "there" / "faces"), out=str(tmp_path / "there" / "copy"),
                                   batch=8, progress=False, tensorboard=False, precision="fp32", **TINY_STYLE_KW))
    assert resumed.resume_if_possible() and resumed.step == 3
    stats = resumed.train_step()
    assert all(torch.isfinite(v) for v in stats.values())


def test_a_run_whose_adam_keeps_momentum_is_refused(tmp_path, transport):
    ds, run = trained_run(tmp_path, arch="dcgan")
    with pytest.raises(SystemExit, match="beta1 is not 0"):
        transport.pack(run, ds, tmp_path / "pack", quality=93)


def test_slim_weights_come_back_and_start_a_fine_tune(tmp_path, transport):
    ds, run = trained_run(tmp_path)
    transport.slim(run, tmp_path / "back.safetensors")
    original = safetensors.torch.load_file(str(list_checkpoints(run)[-1]))
    t = Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "tuned"), init=str(tmp_path / "back.safetensors"),
                             batch=16, lr=0.001, progress=False, tensorboard=False, precision="fp32"))
    assert t.images_before == 3 * 8
    for net in ("G", "D", "G_ema"):
        for name, value in getattr(t, net).state_dict().items():
            saved = original[f"{net}.{name}"]
            if ".mapping" in name or not saved.is_floating_point():
                assert torch.equal(value, saved), name
            else:
                assert torch.allclose(value, saved, rtol=1e-2, atol=1e-4 * saved.abs().max().item()), name
    assert all(torch.isfinite(v) for v in t.train_step().values())
    # `facegen export-model` takes the slim file as it takes a run folder.
    model = load_generator(export_run(tmp_path / "back.safetensors", tmp_path / "model.safetensors"))
    assert model.config.images_seen == 24
    for name, value in model.state_dict().items():
        assert torch.allclose(value, original[f"G_ema.{name}"], rtol=1e-2, atol=1e-3), name
    with pytest.raises(TrainingError, match="back.safetensors: exporting one checkpoint file needs --out"):
        export_run(tmp_path / "back.safetensors")
    # Put where a run keeps its checkpoints, it is refused by name, not with a traceback.
    (tmp_path / "misplaced" / "checkpoints").mkdir(parents=True)
    shutil.copyfile(tmp_path / "back.safetensors", tmp_path / "misplaced" / "checkpoints" / "step-000000003.safetensors")
    with pytest.raises(TrainingError, match=r"step-000000003.safetensors: holds weights alone .* --init"):
        Trainer(TrainOptions(dataset=str(ds), out=str(tmp_path / "misplaced"), batch=8, progress=False,
                             tensorboard=False, precision="fp32", **TINY_STYLE_KW)).resume_if_possible()
