"""Fuzzing what facegen reads from disk: images (and `prepare` over a folder of broken ones), model
files and their configs, latent files, and the recipes inside images (`info`, `reproduce`, opening
a face from an image). Each case must end in a correct result or the documented clear error that
names the file; see fuzzing.py for the time box and memory cap.
"""
from __future__ import annotations

import io
import json
import random
import struct
import zlib

import numpy as np
import pytest
import torch
from fuzzing import LONG, apply_ops, boxed, fuzz_settings, json_values, mutations, record
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from facegen.data.images import Skip, read_image
from facegen.explore.faces import Face, FaceRefError, face_from_image, load_latent, save_latent
from facegen.modelfile import ModelFileError, load_generator, read_header
from facegen.pipeline import FaceGenerator
from facegen.provenance import ProvenanceError, encode_image, read_recipe
from facegen.recipes import render

# Pillow warns about each corrupt tag it skips; that is it coping, not failing.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")


# ---- images -------------------------------------------------------------------------------------

def _seed_images() -> list[bytes]:
    """Small valid files of every format and awkward mode `prepare` accepts."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8))
    out = []
    for fmt, im, kw in [
        ("JPEG", rgb, {"exif": _exif(6)}), ("JPEG", rgb.convert("CMYK"), {}), ("JPEG", rgb.convert("L"), {}),
        ("PNG", rgb.convert("RGBA"), {}), ("PNG", rgb.convert("P"), {"transparency": 0}),
        ("PNG", Image.fromarray(rng.integers(0, 65535, (16, 16), dtype=np.uint16)), {}),
        ("WEBP", rgb, {"quality": 50}), ("TIFF", rgb, {"compression": "tiff_deflate"}),
        ("TIFF", rgb.convert("F"), {}), ("BMP", rgb.convert("1"), {}), ("GIF", rgb, {}),
    ]:
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        out.append(buf.getvalue())
    return out


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (with a valid CRC) and holds a few bytes of data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


SEEDS = _seed_images()
image_bytes = st.one_of(
    st.tuples(st.sampled_from(SEEDS), mutations()).map(lambda t: apply_ops(t[0], t[1], head=64)),
    st.builds(_png_with_size, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1)),
    # EXIF garbage: random bytes where a JPEG's EXIF block goes.
    st.binary(max_size=512).map(lambda b: _jpeg_with_app1(b)),
)


def _jpeg_with_app1(payload: bytes) -> bytes:
    base = SEEDS[2]
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 8) + b"Exif\0\0" + payload
    return base[:2] + app1 + base[2:]


@fuzz_settings(1000)
@given(data=image_bytes)
def test_read_image_gives_rgb_or_a_reason(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "fuzz.img"
    path.write_bytes(data)
    with boxed("read_image", seconds=5):
        try:
            arr = read_image(path, max_pixels=4_000_000)
        except Skip as e:
            assert e.reason and str(e)
            return
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3 and arr.flags.c_contiguous


def test_read_image_ran_its_cases():
    record("read_image", 900 if not LONG else 1000)


def test_prepare_over_a_folder_of_broken_files(tmp_path):
    """prepare finishes; every file is either in the dataset or listed as skipped, once."""
    from facegen.data.dataset import load_dataset
    from facegen.data.prepare import Options, prepare

    rng = random.Random(7)
    src = tmp_path / "photos"
    src.mkdir()
    suffix = {b"\xff\xd8": ".jpg", b"\x89P": ".png", b"RI": ".webp", b"II": ".tif", b"MM": ".tif", b"BM": ".bmp"}
    n = 60 if LONG else 30
    for i in range(n):
        seed = SEEDS[i % len(SEEDS)]
        ops = [(rng.choice(["flip", "set"]), rng.randrange(4096), rng.randrange(1, 256)) for _ in range(rng.randrange(4))]
        data = apply_ops(seed, ops) if i >= len(SEEDS) else seed
        (src / f"f{i:03d}{suffix.get(seed[:2], '.jpg')}").write_bytes(data)
    (src / "bomb.png").write_bytes(_png_with_size(30000, 30000))
    with boxed("prepare", seconds=60, rss_mb=800):
        report = prepare(src, tmp_path / "ds", Options(size=32, aligned=True, min_face=8), workers=1, progress=False)
    ds = load_dataset(tmp_path / "ds")
    skipped = [s["file"] for s in report["skipped_files"]]
    kept = ds.sources
    assert len(ds) == report["images"] == len(kept) > 0
    assert sorted(set(kept) | set(skipped)) == sorted(p.name for p in src.iterdir())
    assert len(set(kept)) == len(kept) and not set(kept) & set(skipped)  # no file twice
    assert "bomb.png" in skipped


class Blobs(dict):
    """File bytes by name, with a short repr: Hypothesis prints a failing case's arguments."""

    def __repr__(self):
        return f"Blobs({', '.join(f'{k}: {len(v)} bytes' for k, v in self.items())})"


# ---- model files ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    from conftest import tiny_config
    from facegen.models import build_generator

    torch.manual_seed(0)
    out = Blobs()
    for arch in ("dcgan", "style"):
        path = tmp_path_factory.mktemp("m") / f"{arch}.safetensors"
        build_generator(tiny_config(arch)).save_pretrained(path)
        out[arch] = path.read_bytes()
    return out


def _load_or_refuse(path, target):
    with boxed(target, seconds=5, rss_mb=300):
        try:
            model = load_generator(path)
        except ModelFileError as e:
            assert str(path) in str(e)
            return None
    assert all(torch.isfinite(p).all() for p in model.state_dict().values())
    return model


@fuzz_settings(1000)
@given(arch=st.sampled_from(["dcgan", "style"]), ops=mutations())
def test_mutated_model_files_load_or_are_refused(tmp_path_factory, model_bytes, arch, ops):
    data = model_bytes[arch]
    # Half the ops land in the 8-byte length and the JSON header; the rest anywhere.
    n = struct.unpack("<Q", data[:8])[0]
    path = tmp_path_factory.getbasetemp() / "fuzz.safetensors"
    path.write_bytes(apply_ops(data, ops, head=8 + n))
    _load_or_refuse(path, "model file bytes")


CONFIG_KEYS = ["architecture", "resolution", "latent_dim", "channels", "latent_distribution", "standardize_latent",
               "w_dim", "mapping_layers", "w_avg", "name", "description", "training_data", "license",
               "images_seen", "format", "format_version"]
huge = st.sampled_from([0, -1, 4096, 4097, 2**31, 2**63, 10**30])


@fuzz_settings(1000)
@given(arch=st.sampled_from(["dcgan", "style"]),
       changes=st.dictionaries(st.sampled_from(CONFIG_KEYS + ["extra"]),
                               json_values | huge | st.lists(huge, max_size=8), max_size=4),
       table_change=st.one_of(st.none(), st.tuples(st.sampled_from(["dtype", "shape", "data_offsets"]),
                                                    json_values | st.lists(huge, max_size=4))))
def test_model_headers_with_wrong_types_and_huge_sizes_are_refused(tmp_path_factory, model_bytes, arch, changes,
                                                                   table_change):
    data = model_bytes[arch]
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    config = json.loads(header["__metadata__"]["facegen_config"])
    config.update(changes)
    header["__metadata__"]["facegen_config"] = json.dumps(config)
    if table_change:
        name = sorted(k for k in header if k != "__metadata__")[0]
        header[name][table_change[0]] = table_change[1]
    raw = json.dumps(header).encode()
    path = tmp_path_factory.getbasetemp() / "fuzz.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])
    with boxed("model config", seconds=5, rss_mb=300):
        try:
            read_header(path)
        except ModelFileError as e:
            assert str(path) in str(e)
            return
    _load_or_refuse(path, "model config")


def test_model_file_targets_ran_their_cases():
    record("model file bytes", 900 if not LONG else 1000)
    record("model config", 900 if not LONG else 1000)


# ---- latent files -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pipes(tmp_path_factory):
    from conftest import tiny_config
    from facegen.models import build_generator

    out = {}
    for arch in ("style", "dcgan"):
        torch.manual_seed(1)
        path = tmp_path_factory.mktemp("p") / f"{arch}.safetensors"
        build_generator(tiny_config(arch)).save_pretrained(path)
        out[arch] = FaceGenerator.from_pretrained(path, precision="fp32")
    return out


@pytest.fixture(scope="module")
def latent_files(pipes, tmp_path_factory):
    d = tmp_path_factory.mktemp("lat")
    pipe = pipes["style"]
    face = Face(pipe.mapping(pipe.model.sample_z([3]), 1.0)[0].clone(), "f", pipe.model.sample_z([3])[0], 1.0, 3)
    save_latent(d / "a.npz", face, pipe)
    save_latent(d / "b.npy", face, pipe)
    return Blobs(npz=(d / "a.npz").read_bytes(), npy=(d / "b.npy").read_bytes())


def _face_or_refusal(path, pipe, target, **kw):
    with boxed(target, seconds=5, rss_mb=300):
        try:
            face = load_latent(path, pipe, **kw)
        except FaceRefError as e:
            assert str(path) in str(e)
            return None
    assert torch.isfinite(face.w).all() and isinstance(face.label, str)
    return face


@fuzz_settings(1000)
@given(kind=st.sampled_from(["npz", "npy"]), ops=mutations(min_ops=0), space=st.sampled_from([None, "z", "w"]),
       sidecar=st.one_of(st.none(), json_values.map(json.dumps),
                         st.dictionaries(st.sampled_from(["model", "space", "truncation", "label", "seed"]),
                                         json_values, max_size=3).map(json.dumps)))
def test_mutated_latent_files_load_or_are_refused(tmp_path_factory, pipes, latent_files, kind, ops, space, sidecar):
    base = tmp_path_factory.getbasetemp()
    path = base / f"fuzz.{kind}"
    path.write_bytes(apply_ops(latent_files[kind], ops, head=160))
    side = base / "fuzz.npy.json"
    side.unlink(missing_ok=True)
    if kind == "npy" and sidecar is not None:
        side.write_text(sidecar)
    _face_or_refusal(path, pipes["style"], "latent file", space=space)


@fuzz_settings(300)
@given(shape=st.lists(st.sampled_from([0, 1, 32, 2**20, 2**31, 2**40]), max_size=4),
       dtype=st.sampled_from(["<f4", "<f8", "<f2", "<i4", "|u1", "|b1", "<c8", "|O", "<U4", "|V8"]),
       npz=st.booleans(), meta=st.one_of(st.none(), json_values))
def test_latent_files_declaring_huge_or_odd_arrays_are_refused(tmp_path_factory, pipes, shape, dtype, npz, meta):
    """A .npy header may declare any shape and dtype; only the bytes behind it are real."""
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    raw = buf.getvalue() + b"\0" * 128
    path = tmp_path_factory.getbasetemp() / ("fuzz2.npz" if npz else "fuzz2.npy")
    if npz:
        import zipfile
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("w.npy", raw)
            if meta is not None:
                m = io.BytesIO()
                np.save(m, np.array(json.dumps(meta)))
                z.writestr("meta.npy", m.getvalue())
    else:
        path.write_bytes(raw)
    _face_or_refusal(path, pipes["style"], "latent header")


def test_latent_targets_ran_their_cases():
    record("latent file", 900 if not LONG else 1000)
    record("latent header", 250 if not LONG else 1000)


# ---- recipes in images: info, reproduce, opening a face -------------------------------------------

RECIPE_FIELDS = ["kind", "seed", "seeds", "batch_seeds", "truncation", "size", "noise_mode", "latent", "z", "op",
                 "frames", "loop", "space", "keys", "columns", "batch", "model", "base", "vectors", "scales",
                 "strengths", "layers", "rows", "cols", "ws", "noise_scales", "format", "quality"]
field_values = st.one_of(
    json_values, huge,
    st.sampled_from(["generate", "grid", "latent", "explore", "morph", "edit", "mix", "children", "transform"]),
    st.builds(lambda shape, n: {"dtype": "float32", "shape": shape, "data": "AAAA" * n},
              st.lists(st.sampled_from([0, 1, 32, 8, 2**31, -1]), max_size=3), st.integers(0, 300)),
    st.builds(lambda shape, n: {"dtype": "float32", "shape": shape, "zlib": __import__("base64").b64encode(
        zlib.compress(b"\0" * n)).decode()}, st.lists(st.sampled_from([1, 8, 32, 2**31]), max_size=3),
        st.sampled_from([0, 128, 4096, 10**6])),
)


def _valid_recipes(pipe) -> list[dict]:
    out = pipe(seeds=[1], truncation=0.7, return_latents=True)
    from facegen.explore.recipes import latent_recipe
    return [dict(out.recipes[0], format="png"), dict(latent_recipe(pipe, out.ws[0], None, "open"), format="png")]


def image_with_recipe(recipe, fmt: str) -> bytes:
    """An image carrying `recipe` as facegen's readers look for it, written by hand: facegen's own
    writer expects its own recipes, and these are anything."""
    from PIL import PngImagePlugin

    text = json.dumps(recipe, allow_nan=True)
    buf = io.BytesIO()
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        info.add_text("facegen", text)
        Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    else:
        Image.new("RGB", (8, 8)).save(buf, "JPEG", comment=text.encode())
    return buf.getvalue()


@fuzz_settings(500)
@given(base=st.integers(0, 1), changes=st.dictionaries(st.sampled_from(RECIPE_FIELDS), field_values, max_size=4),
       fmt=st.sampled_from(["png", "jpeg"]))
def test_recipes_with_bad_fields_give_a_face_an_image_or_a_clear_error(tmp_path_factory, pipes, base, changes, fmt):
    pipe = pipes["style"]
    recipe = dict(_valid_recipes(pipe)[base], **changes)
    path = tmp_path_factory.getbasetemp() / f"fuzz.{'png' if fmt == 'png' else 'jpg'}"
    path.write_bytes(image_with_recipe(recipe, fmt))
    with boxed("recipe", seconds=10, rss_mb=400):
        try:
            read_recipe(path)
        except ProvenanceError as e:
            assert str(path) in str(e)
            return
        try:
            face = face_from_image(path, pipe, allow_other_model=True)
            assert torch.isfinite(face.w).all()
        except FaceRefError as e:
            assert str(path) in str(e)
        try:
            image = render(read_recipe(path), pipe)
            assert isinstance(image, Image.Image) and image.width <= 4096 and image.height <= 4096 * 64
        except ValueError:  # RecipeError, or a bad latent: `facegen reproduce` prints either as one line
            pass


@fuzz_settings(500)
@given(ops=mutations(), fmt=st.sampled_from(["png", "jpeg"]))
def test_mutated_images_with_recipes_are_read_or_refused(tmp_path_factory, pipes, ops, fmt):
    pipe = pipes["dcgan"]
    recipe = _valid_recipes(pipe)[0]
    data = apply_ops(encode_image(pipe(seeds=[1]).images[0], recipe, fmt), ops, head=2048)
    path = tmp_path_factory.getbasetemp() / f"fuzz2.{'png' if fmt == 'png' else 'jpg'}"
    path.write_bytes(data)
    with boxed("image metadata", seconds=5):
        try:
            face = face_from_image(path, pipe, allow_other_model=True)
            assert torch.isfinite(face.w).all()
        except FaceRefError as e:
            assert str(path) in str(e)


def test_recipe_target_ran_its_cases():
    record("recipe", 450 if not LONG else 1000)


def test_image_metadata_target_ran_its_cases():
    record("image metadata", 450 if not LONG else 1000)


# ---- datasets --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dataset_files(tmp_path_factory):
    from facegen.data.dataset import DatasetWriter

    out = tmp_path_factory.mktemp("dsf") / "ds"
    with DatasetWriter(out, 32) as w:
        for i in range(3):
            w.add(np.full((32, 32, 3), i, np.uint8))
        w.commit({"source": "fuzz", "items": [{"source": f"{i}.png"} for i in range(3)]}, {})
    return Blobs(npy=(out / "images.npy").read_bytes(), json=(out / "dataset.json").read_bytes())


@fuzz_settings(1000)
@given(ops=mutations(min_ops=0), meta=st.dictionaries(st.sampled_from(["format", "version", "size", "count", "items"]),
                                                       json_values | huge, max_size=3))
def test_mutated_datasets_open_or_are_refused(tmp_path_factory, dataset_files, ops, meta):
    from facegen.data.dataset import load_dataset

    ds = tmp_path_factory.getbasetemp() / "fuzzds"
    ds.mkdir(exist_ok=True)
    (ds / "images.npy").write_bytes(apply_ops(dataset_files["npy"], ops, head=128))
    (ds / "dataset.json").write_text(json.dumps(dict(json.loads(dataset_files["json"]), **meta)))
    with boxed("dataset", seconds=5, rss_mb=200):
        try:
            d = load_dataset(ds)
        except ValueError as e:
            assert str(ds) in str(e)
            return
        assert d.images.dtype == np.uint8 and d.images.shape == (len(d), d.size, d.size, 3)
        assert all(isinstance(source, str) for source in d.sources)


def test_dataset_target_ran_its_cases():
    record("dataset", 900 if not LONG else 1000)
