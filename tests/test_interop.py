"""Interop: ONNX and Keras .h5 export, the classic script, and importers from other GAN checkpoints."""
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from facegen.cli import main
from facegen.interop import InteropError
from facegen.interop.importers import read_checkpoint
from facegen.interop.keras_export import export_keras_h5, keras_module, reference, uniform_to_normal
from facegen.interop.onnx_export import export_onnx, session
from facegen.models import build_generator
from facegen.models.base import Generator
from facegen.pipeline import FaceGenerator

from conftest import tiny_config

ROOT = Path(__file__).resolve().parent.parent
CLASSIC_SCRIPT = ROOT / "examples" / "classic_keras_script.py"
# Keras' torch backend converts tensors with np.array(x), which numpy 2 warns about.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
KERAS_ENV = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "torch"))


def lively(model):
    """Weights at a scale where images span much of [-1, 1], so that a comparison can fail."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.ConvTranspose2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / (m.weight.shape[1] * 4)) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


def dcgan(resolution=64, **kw):
    torch.manual_seed(0)
    return lively(build_generator(tiny_config("dcgan", resolution, **kw)))


# --- ONNX ---------------------------------------------------------------------------------

@pytest.mark.parametrize("architecture", ["dcgan", "style"])
def test_onnx_matches_pytorch_with_dynamic_batch_and_truncation(tmp_path, tiny_model_file, architecture):
    src = tiny_model_file(architecture, 32)
    model = Generator.from_pretrained(src)
    if architecture == "dcgan":
        model = lively(model)
    out = tmp_path / "g.onnx"
    report = export_onnx(model, out)
    assert report["max_abs_diff"] < 1e-4
    sess = session(out)  # a fresh session on the written file: it must hold everything itself
    assert [i.name for i in sess.get_inputs()] == ["z", "truncation"]
    meta = sess.get_modelmeta().custom_metadata_map
    assert json.loads(meta["facegen_config"])["architecture"] == architecture
    for batch, psi in ((1, 1.0), (5, 0.6)):
        z = model.sample_z(list(range(10, 10 + batch)))
        got = sess.run(["image"], {"z": z.numpy(), "truncation": np.array(psi, np.float32)})[0]
        with torch.inference_mode():
            want = model(z, truncation=psi).numpy()
        assert got.shape == (batch, 3, 32, 32)
        assert want.std() > 0.05
        assert np.abs(got - want).max() < 1e-4


def test_generate_with_onnx_backend_matches_torch(tmp_path):
    model = dcgan()
    torch_faces = FaceGenerator(model, precision="fp32")(seeds=[3, 4, 5])
    onnx_pipe = FaceGenerator(model, precision="fp32", backend="onnx")
    onnx_faces = onnx_pipe(seeds=[3, 4, 5])
    for a, b in zip(torch_faces.images, onnx_faces.images):
        assert np.abs(np.asarray(a, int) - np.asarray(b, int)).max() <= 1
    assert onnx_faces.recipes[0]["backend"] == "onnx" and "backend" not in torch_faces.recipes[0]
    with pytest.raises(ValueError, match="fp32"):
        FaceGenerator(model, precision="bf16", backend="onnx")


def test_generate_cli_onnx_backend(tmp_path, tiny_model_file):
    src = tiny_model_file("style", 32)
    assert main(["generate", "--model", str(src), "--seeds", "1,2", "--backend", "onnx", "--out", str(tmp_path)]) == 0
    assert Image.open(tmp_path / "seed000002.png").size == (32, 32)


def test_onnx_backend_takes_per_layer_styles(tiny_model_file):
    model = Generator.from_pretrained(tiny_model_file("style", 32))
    w = model.mapping(model.sample_z([1, 2]))
    ws = w[:, None].repeat(1, model.num_ws, 1)
    ws[:, model.num_ws // 2:] = w.flip(0)[:, None]  # style mixing: coarse from one face, fine from the other
    want = FaceGenerator(model, precision="fp32").synthesize(ws)
    got = FaceGenerator(model, precision="fp32", backend="onnx").synthesize(ws)
    for a, b in zip(want, got):
        assert np.abs(np.asarray(a, int) - np.asarray(b, int)).max() <= 1


def test_pipeline_works_without_onnxruntime(monkeypatch, tiny_model_file):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now fails
    pipe = FaceGenerator.from_pretrained(tiny_model_file("dcgan", 32), precision="fp32")
    assert len(pipe(seeds=[1]).images) == 1
    with pytest.raises(ImportError, match=r"facegen\[onnx\]"):
        FaceGenerator.from_pretrained(tiny_model_file("dcgan", 32), backend="onnx")


# --- Keras .h5 and the classic script -----------------------------------------------------

def test_uniform_to_normal_map_is_close_to_the_inverse_normal_cdf():
    u = torch.linspace(0.005, 0.995, 2001)
    assert (uniform_to_normal(u) - torch.special.ndtri(u.double()).float()).abs().max() < 0.02
    z = uniform_to_normal(torch.rand(200_000, generator=torch.Generator().manual_seed(0)))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01


@pytest.mark.parametrize("distribution, truncation", [("normal", 1.0), ("uniform01", 0.7)])
def test_keras_h5_matches_pytorch(tmp_path, distribution, truncation):
    keras = keras_module()
    model = dcgan(latent_distribution=distribution)
    out = tmp_path / "g.h5"
    report = export_keras_h5(model, out, truncation=truncation)
    assert report["max_abs_diff"] < 1e-5
    with h5py.File(out) as f:  # legacy HDF5 with only built-in layers
        layers = json.loads(f.attrs["model_config"])["config"]["layers"]
    assert {layer["class_name"] for layer in layers} <= {
        "InputLayer", "Dense", "Reshape", "BatchNormalization", "ReLU", "Conv2DTranspose", "Activation"}
    loaded = keras.models.load_model(out, compile=False)
    u = np.random.default_rng(5).random((4, 100))
    got = np.asarray(loaded.predict(u, verbose=0))
    want = reference(model, u, truncation)
    assert got.shape == (4, 64, 64, 3) and want.std() > 0.05
    assert np.abs(got - want).max() < 1e-5
    if distribution == "uniform01":  # fed straight through: facegen's own generator on the same noise
        with torch.inference_mode():
            direct = model(torch.tensor(u, dtype=torch.float32), truncation).permute(0, 2, 3, 1).numpy()
        assert np.abs(got - direct).max() < 1e-5


def test_keras_h5_refuses_style_models_and_bad_names(tmp_path, tiny_model_file):
    assert main(["export", str(tiny_model_file("style", 32)), "--format", "keras-h5",
                 "--out", str(tmp_path / "s.h5")]) == 2
    with pytest.raises(InteropError, match="must end in .h5"):
        export_keras_h5(dcgan(), tmp_path / "g.keras")
    assert not list(tmp_path.glob("*.h5")) and not list(tmp_path.glob("*.keras"))


def _classic_shaped_model_file(tmp_path):
    """The bundled classic model's architecture, with lively weights (its placeholder's are near zero)."""
    model = lively(Generator.from_pretrained("classic"))
    path = tmp_path / "classic_lively.safetensors"
    model.save_pretrained(path)
    return model, path


def test_classic_script_makes_the_same_face_as_facegen(tmp_path):
    model, src = _classic_shaped_model_file(tmp_path)
    assert main(["export", str(src), "--format", "keras-h5", "--out", str(tmp_path / "face_generator_model.h5")]) == 0
    # The script itself is unchanged and unseeded; seeding numpy first fixes its np.random.rand.
    runner = f"import numpy as np, runpy; np.random.seed(7); runpy.run_path({str(CLASSIC_SCRIPT)!r}, run_name='__main__')"
    proc = subprocess.run([sys.executable, "-c", runner], cwd=tmp_path, env=KERAS_ENV,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    face = Image.open(tmp_path / "generated_face.jpg")
    assert face.format == "JPEG" and face.size == (64, 64) and face.mode == "RGB"
    np.random.seed(7)
    x = reference(model, np.random.rand(1, 100))
    mine = Image.fromarray(((x + 1) * 127.5).astype(np.uint8)[0])
    buf = io.BytesIO()
    mine.save(buf, "JPEG")
    theirs, ours = np.asarray(face, int), np.asarray(Image.open(buf), int)
    assert ours.std() > 10  # a face-like spread of values, not a flat grey
    assert np.abs(theirs - ours).max() <= 2


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow is not installed")
def test_tf_keras_loads_the_export(tmp_path):
    model = dcgan()
    export_keras_h5(model, tmp_path / "g.h5")
    code = ("import numpy as np, tensorflow as tf; m = tf.keras.models.load_model('g.h5', compile=False); "
            "np.save('out.npy', m.predict(np.load('u.npy'), verbose=0))")
    u = np.random.default_rng(0).random((2, 100))
    np.save(tmp_path / "u.npy", u)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, timeout=300)
    assert np.abs(np.load(tmp_path / "out.npy") - reference(model, u)).max() < 1e-5


# --- import -------------------------------------------------------------------------------

class ExamplesNetG(nn.Module):
    """pytorch/examples dcgan's Generator, as written there (ngf small for speed)."""

    def __init__(self, nz=100, ngf=8, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.main(z)


def _assert_same_outputs(source_forward, imported, latent_dim=100, tol=1e-6):
    z = torch.randn(3, latent_dim, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        want, got = source_forward(z), imported(z)
    assert want.std() > 0.05
    assert (want - got).abs().max() < tol


@pytest.mark.parametrize("layout", ["plain", "dataparallel", "wrapped"])
def test_import_pytorch_dcgan(tmp_path, layout):
    net = lively(ExamplesNetG())
    state = net.state_dict()
    if layout == "dataparallel":
        state = {"module." + k: v for k, v in state.items()}
    if layout == "wrapped":  # gan-face-generate's weights.tar: {"netG_state_dict": ...}
        state = {"netG_state_dict": state}
    torch.save(state, tmp_path / "netG.pth")
    source = "gan-face-generate" if layout == "wrapped" else "pytorch-dcgan"
    out = tmp_path / "imported.safetensors"
    assert main(["import", str(tmp_path / "netG.pth"), "--from", source, "--out", str(out)]) == 0
    imported = Generator.from_pretrained(out)
    assert imported.config.resolution == 64 and imported.config.channels == [64, 32, 16, 8]
    assert imported.config.latent_distribution == "normal"
    _assert_same_outputs(lambda z: net(z[:, :, None, None]), imported)


@pytest.mark.skipif(importlib.util.find_spec("gan_face_generate") is None,
                    reason="gan-face-generate is not installed (it pulls torchvision and wandb; put its "
                           "unpacked wheel on PYTHONPATH instead, see bench/export.py)")
def test_import_gan_face_generate_real_weights(tmp_path):
    spec = importlib.util.find_spec("gan_face_generate")
    weights = Path(spec.origin).parent / "weights.tar"
    from gan_face_generate.models import Generator as TheirGenerator

    net = TheirGenerator(0, 3, 100, 64).eval()
    net.load_state_dict(torch.load(weights, weights_only=True, map_location="cpu")["netG_state_dict"])
    imported = read_checkpoint(weights, "gan-face-generate")
    assert "DigiFace" in imported.config.training_data
    _assert_same_outputs(lambda z: net(z[:, :, None, None]), imported)


class _Tripwire:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["FACEGEN_TRIPWIRE"]),))


def test_import_refuses_pickled_objects_without_running_them(tmp_path, monkeypatch):
    tripwire = tmp_path / "code_ran"
    monkeypatch.setenv("FACEGEN_TRIPWIRE", str(tripwire))
    torch.save({"main.0.weight": torch.zeros(100, 8, 4, 4), "x": _Tripwire()}, tmp_path / "evil.pth")
    with pytest.raises(InteropError, match="evil.pth: holds pickled Python objects"):
        read_checkpoint(tmp_path / "evil.pth", "pytorch-dcgan")
    assert not tripwire.exists()
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(InteropError, match="holds a list, not a flat dict of tensors"):
        read_checkpoint(tmp_path / "list.pth", "pytorch-dcgan")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InteropError, match="is not a PyTorch checkpoint"):
        read_checkpoint(tmp_path / "junk.pth", "pytorch-dcgan")


def test_import_refuses_wrong_shapes_and_extra_tensors(tmp_path):
    state = ExamplesNetG().state_dict()
    bad = dict(state, **{"main.3.weight": torch.zeros(32, 32, 4, 4)})
    torch.save(bad, tmp_path / "shape.pth")
    with pytest.raises(InteropError, match=r"main\.3\.weight takes 32 channels"):
        read_checkpoint(tmp_path / "shape.pth", "pytorch-dcgan")
    torch.save(dict(state, **{"main.0.bias": torch.zeros(64)}), tmp_path / "bias.pth")
    with pytest.raises(InteropError, match=r"unexpected main\.0\.bias"):
        read_checkpoint(tmp_path / "bias.pth", "pytorch-dcgan")
    torch.save(dict(state, **{"main.1.running_var": torch.zeros(3)}), tmp_path / "bn.pth")
    with pytest.raises(InteropError, match=r"main\.1\.running_var has shape \(3,\)"):
        read_checkpoint(tmp_path / "bn.pth", "pytorch-dcgan")
    assert main(["import", str(tmp_path / "bn.pth"), "--from", "pytorch-dcgan",
                 "--out", str(tmp_path / "x.safetensors")]) == 2
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("distribution", ["normal", "uniform01"])
def test_import_keras_h5_round_trip(tmp_path, distribution):
    model = dcgan(latent_distribution=distribution)
    export_keras_h5(model, tmp_path / "g.h5", check=False)
    out = tmp_path / "back.safetensors"
    assert main(["import", str(tmp_path / "g.h5"), "--from", "keras-h5", "--out", str(out)]) == 0
    back = Generator.from_pretrained(out)
    assert back.config.latent_distribution == distribution
    # Standardising uniform latents re-associates float32 sums: agreement to ~1e-5, not bit-exact.
    _assert_same_outputs(model, back, tol=1e-6 if distribution == "normal" else 5e-5)


def _keras_classic_generator(keras, head: str):
    """A Keras DCGAN generator as people write them: biases on, default BatchNormalization epsilon."""
    L = keras.layers
    stack = [keras.Input((100,))]
    if head == "dense":
        stack += [L.Dense(4 * 4 * 32, use_bias=False), L.Reshape((4, 4, 32))]
    else:
        stack += [L.Reshape((1, 1, 100)), L.Conv2DTranspose(32, 4, padding="valid")]
    stack += [L.BatchNormalization(), L.ReLU(),
              L.Conv2DTranspose(16, 4, strides=2, padding="same"), L.BatchNormalization(), L.Activation("relu"),
              L.Conv2DTranspose(8, 4, strides=(2, 2), padding="same"), L.BatchNormalization(), L.ReLU(),
              L.Conv2DTranspose(3, 4, strides=2, padding="same", use_bias=False, activation="tanh")]
    kmodel = keras.Sequential(stack)
    rng = np.random.default_rng(3)
    for layer in kmodel.layers:
        weights = [rng.normal(0, 0.3, w.shape) for w in layer.get_weights()]
        if isinstance(layer, L.BatchNormalization):
            weights[3] = rng.uniform(0.5, 2.0, weights[3].shape)
        layer.set_weights(weights)
    return kmodel


@pytest.mark.parametrize("head", ["dense", "conv"])
def test_import_keras_h5_written_by_keras(tmp_path, head):
    keras = keras_module()
    kmodel = _keras_classic_generator(keras, head)
    kmodel.save(tmp_path / "k.h5")
    imported = read_checkpoint(tmp_path / "k.h5", "keras-h5")
    assert imported.config.latent_distribution == "uniform01" and imported.config.resolution == 32
    u = np.random.default_rng(4).random((3, 100))
    want = np.asarray(kmodel.predict(u, verbose=0))
    with torch.inference_mode():
        got = imported(torch.tensor(u, dtype=torch.float32)).permute(0, 2, 3, 1).numpy()
    assert want.std() > 0.05
    assert np.abs(got - want).max() < 1e-5


def _edit_h5(src: Path, dst: Path, edit) -> Path:
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def test_import_keras_h5_refuses_code_links_and_wrong_shapes(tmp_path):
    good = tmp_path / "g.h5"
    export_keras_h5(dcgan(), good, check=False)

    def add_lambda(f):
        cfg = json.loads(f.attrs["model_config"])
        cfg["config"]["layers"].insert(3, {"class_name": "Lambda", "config": {
            "name": "evil", "function": {"class_name": "__lambda__", "config": {"code": "4wAAAA=="}}}})
        f.attrs["model_config"] = json.dumps(cfg)

    with pytest.raises(InteropError, match="'evil' is a Lambda layer, which holds Python code"):
        read_checkpoint(_edit_h5(good, tmp_path / "lambda.h5", add_lambda), "keras-h5")

    def wrong_kernel(f):
        group = f["model_weights/up1"]
        name = group.attrs["weight_names"][0]
        name = name.decode() if isinstance(name, bytes) else name
        del group[name]
        group[name] = np.zeros((4, 4, 5, 64), np.float32)

    with pytest.raises(InteropError, match="takes 64 channels but the one before gives|channels"):
        read_checkpoint(_edit_h5(good, tmp_path / "shape.h5", wrong_kernel), "keras-h5")

    def external(f):
        f["model_weights/elsewhere"] = h5py.ExternalLink("/etc/other.h5", "/data")

    with pytest.raises(InteropError, match="ExternalLink"):
        read_checkpoint(_edit_h5(good, tmp_path / "link.h5", external), "keras-h5")

    with pytest.raises(InteropError, match="no model_config"):
        read_checkpoint(_edit_h5(good, tmp_path / "weights_only.h5", lambda f: f.attrs.__delitem__("model_config")),
                        "keras-h5")
