"""The model file: round trips, and every bad file refused with a message naming it."""
import dataclasses
import json
import pickle
import struct

import pytest
import safetensors.torch
import torch

from facegen import Generator
from facegen.modelfile import BUNDLED, CONFIG_KEY, ModelFileError, load_generator, read_header
from facegen.models import GeneratorConfig, build_generator

from conftest import tiny_config


def _state(model):
    return {k: v.float() for k, v in model.state_dict().items()}


def _write(path, tensors, config_dict):
    path.write_bytes(safetensors.torch.save(tensors, metadata={CONFIG_KEY: json.dumps(config_dict)}))
    return path


@pytest.mark.parametrize("arch", ["dcgan", "style"])
def test_round_trip_keeps_every_weight_and_the_config(tmp_path, arch):
    torch.manual_seed(1)
    model = build_generator(tiny_config(arch, description="round trip", license="CC0"))
    path = model.save_pretrained(tmp_path / "m.safetensors")
    loaded = Generator.from_pretrained(path)
    assert type(loaded) is type(model)
    assert loaded.config.to_dict() == model.config.to_dict()
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    z = torch.randn(3, model.config.latent_dim)
    with torch.no_grad():
        assert torch.equal(model.eval()(z), loaded(z))
    assert len(loaded.sha256) == 64


def test_half_precision_file_loads_close_to_original(tmp_path):
    model = build_generator(tiny_config("style"))
    path = model.save_pretrained(tmp_path / "h.safetensors", dtype="float16")
    loaded = load_generator(path)
    w = loaded.state_dict()["blocks.0.const"]
    assert w.dtype == torch.float32
    assert torch.allclose(w, model.state_dict()["blocks.0.const"], atol=1e-2)


def test_pickle_renamed_safetensors_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelFileError, match="evil.safetensors.*pickle"):
        load_generator(path)
    assert not marker.exists()


def test_torch_zip_checkpoint_is_refused(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(ModelFileError, match="zip archive"):
        load_generator(path)


def test_huge_declared_header_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    with pytest.raises(ModelFileError, match="header declares"):
        load_generator(path)


def test_too_short_and_not_json(tmp_path):
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"abc")
    with pytest.raises(ModelFileError, match="not a safetensors file"):
        load_generator(short)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(struct.pack("<Q", 4) + b"\xff\xfe{x")
    with pytest.raises(ModelFileError, match="header is not JSON"):
        load_generator(garbage)


def test_wrong_shape_is_refused(tmp_path):
    model = build_generator(tiny_config("dcgan"))
    tensors = _state(model)
    tensors["net.0.weight"] = torch.zeros(3, 3)
    path = _write(tmp_path / "shape.safetensors", tensors, model.config.to_dict())
    with pytest.raises(ModelFileError, match="net.0.weight.*shape"):
        load_generator(path)


def test_missing_and_extra_tensors_are_refused(tmp_path):
    model = build_generator(tiny_config("style"))
    tensors = _state(model)
    tensors.pop("blocks.0.const")
    tensors["surprise"] = torch.zeros(1)
    path = _write(tmp_path / "names.safetensors", tensors, model.config.to_dict())
    with pytest.raises(ModelFileError, match="missing tensors blocks.0.const.*unexpected tensors surprise"):
        load_generator(path)


def test_nan_weights_are_refused(tmp_path):
    model = build_generator(tiny_config("style"))
    tensors = _state(model)
    tensors["blocks.0.const"][0, 0, 0] = float("nan")
    path = _write(tmp_path / "nan.safetensors", tensors, model.config.to_dict())
    with pytest.raises(ModelFileError, match="blocks.0.const.*NaN"):
        load_generator(path)


def test_integer_dtype_is_refused(tmp_path):
    model = build_generator(tiny_config("dcgan"))
    tensors = {k: v.to(torch.int32) for k, v in model.state_dict().items()}
    path = _write(tmp_path / "int.safetensors", tensors, model.config.to_dict())
    with pytest.raises(ModelFileError, match="dtype I32"):
        load_generator(path)


@pytest.mark.parametrize("change, message", [
    ({"format_version": 99}, "unknown format version 99"),
    ({"architecture": "vqgan"}, "architecture 'vqgan'"),
    ({"resolution": 4096}, "resolution 4096"),
    ({"latent_dim": 10**9}, "latent_dim"),
    ({"channels": [10**7, 8, 8]}, "channels"),
    ({"channels": [8]}, "needs"),
    ({"latent_dim": "100"}, "latent_dim"),
    ({"evil": 1}, "unknown config keys: evil"),
    ({"greyscale": True}, "greyscale needs a style generator"),
    ({"greyscale": 1}, "greyscale must be true or false"),
])
def test_bad_configs_are_refused(tmp_path, change, message):
    model = build_generator(tiny_config("dcgan"))
    path = _write(tmp_path / "cfg.safetensors", _state(model), dict(model.config.to_dict(), **change))
    with pytest.raises(ModelFileError, match=message) as err:
        load_generator(path)
    assert "cfg.safetensors" in str(err.value)


def test_plain_safetensors_without_config_is_refused(tmp_path):
    path = tmp_path / "plain.safetensors"
    safetensors.torch.save_file({"a": torch.zeros(2)}, path)
    with pytest.raises(ModelFileError, match="not a facegen model"):
        read_header(path)


def test_offsets_that_lie_about_the_data_are_refused(tmp_path):
    model = build_generator(tiny_config("dcgan"))
    good = safetensors.torch.save(_state(model), metadata={CONFIG_KEY: json.dumps(model.config.to_dict())})
    n = struct.unpack("<Q", good[:8])[0]
    header = json.loads(good[8:8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["data_offsets"][1] += 10**9
    raw = json.dumps(header).encode()
    path = tmp_path / "offsets.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + good[8 + n:])
    with pytest.raises(ModelFileError, match="declares bytes"):
        load_generator(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load_generator(tmp_path / "nope.safetensors")
    with pytest.raises(ModelFileError, match="is a folder"):
        load_generator(tmp_path)


def test_bundled_models_load():
    for name in ("default", "classic"):
        model = Generator.from_pretrained(name)
        assert model.config.resolution >= 64
    assert Generator.from_pretrained("classic").config.latent_distribution == "uniform01"
    assert Generator.from_pretrained("default").config.architecture == "style"


@pytest.mark.parametrize("config", [
    tiny_config("style", 32), tiny_config("dcgan", 32), tiny_config("style", 64), tiny_config("dcgan", 64),
    GeneratorConfig(architecture="style", resolution=128, channels=[256, 256, 128, 64, 32, 16]),
    GeneratorConfig(architecture="style", resolution=32, latent_dim=512, w_dim=16, channels=[8, 8, 8, 8]),
    GeneratorConfig(architecture="dcgan", resolution=64, latent_dim=100, channels=[512, 256, 128, 64]),
    GeneratorConfig(architecture="dcgan", resolution=32, latent_dim=1000, channels=[4, 4, 4]),
], ids=lambda c: f"{c.architecture}{c.resolution}-{c.latent_dim}-{max(c.channels)}")
def test_parameter_bound_exceeds_what_the_model_holds(config):
    # The loader builds a model for real when this bound says it is small: it must never undercount.
    held = sum(t.numel() for t in build_generator(config).state_dict().values())
    assert held < config.parameter_bound()


def test_parameter_bound_ignores_what_a_dcgan_does_not_use():
    # A dcgan's config is not checked for w_dim or mapping_layers, so they may hold anything (found by
    # tests/test_fuzz_files.py): the bound must not read them.
    config = dataclasses.replace(tiny_config("dcgan", 32), w_dim=[1, 2], mapping_layers="x")
    config.validate()
    assert config.parameter_bound() > sum(t.numel() for t in build_generator(tiny_config("dcgan", 32)).state_dict().values())


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_models_are_built_without_the_meta_device(name):
    import facegen.models.file as model_file

    _, config = read_header(model_file.resolve(name))
    assert config.parameter_bound() * 4 <= model_file.DIRECT_BUILD_BYTES


def test_a_config_declaring_a_huge_model_is_checked_without_building_it(tmp_path, monkeypatch):
    import facegen.models.file as model_file

    small = tmp_path / "small.safetensors"
    build_generator(tiny_config("style", 32)).save_pretrained(small)
    monkeypatch.setattr(model_file, "DIRECT_BUILD_BYTES", 0)  # every config now counts as huge
    devices = []

    def recording_build(config):
        devices.append(torch.get_default_device().type)
        return build_generator(config)

    monkeypatch.setattr(model_file, "build_generator", recording_build)
    assert load_generator(small).config.resolution == 32
    assert devices == ["meta", "cpu"]  # shapes checked on the meta device, then built for real
