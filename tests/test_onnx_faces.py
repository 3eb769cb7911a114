"""The torch-free ONNX path of `facegen generate`: seeds drawn as torch draws them, the model's ONNX
twin made once and checked by hash, the same faces as the torch path, and no torch imported."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from facegen.cli import main
from facegen.onnx_faces import TWIN_SHA_KEY, NoTwin, OnnxFaces, twin_paths
from facegen.provenance import read_recipe
from facegen.seeds import draw_latents

pytest.importorskip("onnxruntime")
SEEDS = [0, 1, 2, 77, 12345, 2**31 - 1, 2**32, 2**40 + 7, 2**63 - 1]


@pytest.mark.parametrize("dim", [16, 32, 100, 128, 256, 512])
def test_latents_are_torchs_own(dim):
    for seed in SEEDS:
        want = torch.rand(1, dim, generator=torch.Generator().manual_seed(seed))[0].numpy()
        assert np.array_equal(draw_latents([seed], dim, "uniform01")[0], want), seed
        want = torch.randn(1, dim, generator=torch.Generator().manual_seed(seed))[0].numpy()
        # torch vectorises log/sin/cos: a few float32 steps apart, never more.
        assert np.abs(draw_latents([seed], dim, "normal")[0] - want).max() < 2e-6, seed


def test_short_normal_latents_are_left_to_torch():
    with pytest.raises(ValueError, match="torch alone"):
        draw_latents([1], 8, "normal")
    assert draw_latents([1], 8, "uniform01").shape == (1, 8)


def _generate(model, out, *extra):
    assert main(["generate", "--model", str(model), "--seeds", "3,4,5", "--out", str(out), *extra]) == 0
    return [np.asarray(Image.open(out / f"seed{s:06d}.png"), dtype=int) for s in (3, 4, 5)]


@pytest.mark.parametrize("architecture", ["style", "dcgan"])
def test_onnx_path_makes_the_torch_paths_faces(tmp_path, tiny_model_file, architecture):
    model = tiny_model_file(architecture, 32)
    torch_faces = _generate(model, tmp_path / "torch", "--backend", "torch")
    assert not twin_paths(model, "")[0].exists()
    onnx_faces = _generate(model, tmp_path / "onnx", "--backend", "onnx")  # makes the twin
    assert twin_paths(model, "")[0].is_file()
    auto_faces = _generate(model, tmp_path / "auto")  # auto finds it
    for t, o, a in zip(torch_faces, onnx_faces, auto_faces):
        assert np.abs(t - o).max() <= 1 and np.array_equal(o, a)
    assert read_recipe(tmp_path / "auto" / "seed000003.png")["backend"] == "onnx"
    assert "backend" not in read_recipe(tmp_path / "torch" / "seed000003.png")
    # The recipe of an ONNX-made face re-makes it bit for bit.
    assert main(["reproduce", str(tmp_path / "auto" / "seed000004.png"), "--model", str(model)]) == 0


def test_a_twin_made_from_another_file_is_never_used(tmp_path, tiny_model_file):
    model = tiny_model_file("style", 32, seed=0)
    _generate(model, tmp_path / "a", "--backend", "onnx")
    shutil.copy(tiny_model_file("style", 32, seed=1), model)  # the model changes; its old twin stays
    with pytest.raises(NoTwin):
        OnnxFaces.from_pretrained(model)
    auto = _generate(model, tmp_path / "b")
    assert "backend" not in read_recipe(tmp_path / "b" / "seed000003.png")  # auto fell back to torch
    remade = _generate(model, tmp_path / "c", "--backend", "onnx")  # remakes the twin for the new file
    for a, b in zip(auto, remade):
        assert np.abs(a - b).max() <= 1
    twin = OnnxFaces.from_pretrained(model)
    assert twin.session.get_modelmeta().custom_metadata_map[TWIN_SHA_KEY] == twin.model_info["sha256"]


def test_a_file_in_the_twins_place_is_never_used_nor_replaced(tmp_path, tiny_model_file, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = tiny_model_file("style", 32)
    beside = twin_paths(model, "")[0]
    beside.write_bytes(b"not an onnx file")  # damaged, or someone else's
    with pytest.raises(NoTwin):
        OnnxFaces.from_pretrained(model)
    _generate(model, tmp_path / "a", "--backend", "onnx")
    faces = OnnxFaces.from_pretrained(model)
    assert beside.read_bytes() == b"not an onnx file"
    assert (tmp_path / "cache" / "facegen" / "onnx" / f"{faces.model_info['sha256']}.onnx").is_file()


def test_twin_goes_to_the_cache_when_the_models_folder_refuses_it(tmp_path, tiny_model_file, monkeypatch):
    import facegen.atomic

    model = tiny_model_file("style", 32)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write = facegen.atomic.write_bytes

    def refuse_beside_model(path, data, overwrite=True):
        if path.parent == model.parent:
            raise PermissionError(13, "Permission denied", str(path))
        return write(path, data, overwrite)

    monkeypatch.setattr(facegen.atomic, "write_bytes", refuse_beside_model)
    _generate(model, tmp_path / "a", "--backend", "onnx")
    faces = OnnxFaces.from_pretrained(model)
    assert not twin_paths(model, "")[0].exists()
    assert (tmp_path / "cache" / "facegen" / "onnx" / f"{faces.model_info['sha256']}.onnx").is_file()


def test_the_onnx_path_imports_no_torch(tmp_path, tiny_model_file):
    model = tiny_model_file("style", 32)
    _generate(model, tmp_path / "a", "--backend", "onnx")
    code = ("import sys, json; from facegen.cli import main; "
            f"rc = main(['generate', '--model', {str(model)!r}, '--seeds', '3', '--out', {str(tmp_path / 'b')!r}]); "
            "print(json.dumps([rc, 'torch' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [0, False]
    assert read_recipe(tmp_path / "b" / "seed000003.png")["backend"] == "onnx"
