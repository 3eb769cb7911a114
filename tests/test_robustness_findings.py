"""One test per problem the robustness suite (issue 9) found, so that each stays fixed even if the
fuzzers' random search stops reaching it. The fuzzers are tests/test_fuzz_*.py."""
from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from fuzzing import boxed
from PIL import Image

from facegen.explore.faces import Face, FaceRefError, face_from_image, load_latent, save_latent
from facegen.modelfile import ModelFileError, load_generator, read_header
from facegen.pipeline import FaceGenerator
from facegen.recipes import RecipeError, render


def rewrite_header(path, change):
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    change(header)
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])


def test_a_config_declaring_a_huge_model_is_refused_before_memory_is_spent(tiny_model_file):
    """Found: load_generator built the config's model (here ~2 GB of weights) before comparing it
    with the file's tensors. Now the shapes come from a model on the meta device."""
    path = tiny_model_file("dcgan")

    def huge(header):
        config = json.loads(header["__metadata__"]["facegen_config"])
        config["channels"] = [4096, 4096, 4096]
        header["__metadata__"]["facegen_config"] = json.dumps(config)
    rewrite_header(path, huge)
    with boxed("finding: huge config", seconds=10, rss_mb=200), pytest.raises(ModelFileError, match="shape"):
        load_generator(path)


def test_a_tensor_entry_with_a_list_for_its_dtype_is_refused(tiny_model_file):
    """Found: `dtype not in ITEMSIZE` raised TypeError (unhashable list) instead of a clear error."""
    path = tiny_model_file("dcgan")
    rewrite_header(path, lambda h: h[sorted(k for k in h if k != "__metadata__")[0]].update(dtype=["F32"]))
    with pytest.raises(ModelFileError, match="has dtype"):
        read_header(path)


@pytest.fixture
def pipe(tiny_model_file):
    return FaceGenerator.from_pretrained(tiny_model_file("style"), precision="fp32")


def npy_with_header(shape, descr="<f4", tail=b"\0" * 64) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + tail


@pytest.mark.parametrize("name, data, problem", [
    # Found: np.load allocated what the header declared (MemoryError for 4 TiB) before reading.
    ("huge.npy", npy_with_header((2**40,)), "declares"),
    # Found: a damaged header raised tokenize.TokenError / SyntaxError from numpy's header parser.
    ("broken.npy", npy_with_header((32,)).replace(b"'shape'", b"'shape}"), "not a .npy"),
    ("objects.npy", npy_with_header((2,), descr="|O"), "pickled objects are never loaded"),
])
def test_latent_files_with_lying_or_broken_headers_are_refused(tmp_path, pipe, name, data, problem):
    path = tmp_path / name
    path.write_bytes(data)
    with boxed("finding: npy header", seconds=5, rss_mb=200), pytest.raises(FaceRefError, match=problem):
        load_latent(path, pipe)


def test_a_damaged_npz_and_bad_latent_metadata_are_clear_errors(tmp_path, pipe):
    """Found: zipfile.BadZipFile (bad CRC, bad member header) escaped; and metadata fields of the wrong
    type gave AttributeError ('model': true) or TypeError ('truncation': null)."""
    face = Face(pipe.mapping(pipe.model.sample_z([3]), 1.0)[0].clone(), "f", None, 1.0, 3)
    save_latent(tmp_path / "a.npz", face, pipe)
    data = bytearray((tmp_path / "a.npz").read_bytes())
    data[60] ^= 0xFF  # inside the first member's compressed bytes: its CRC no longer matches
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(FaceRefError, match="bad.npz: not a readable latent file"):
        load_latent(tmp_path / "bad.npz", pipe)
    save_latent(tmp_path / "b.npy", face, pipe)
    for meta, problem in [({"model": True}, "'model' is not an object"), ({"truncation": None}, "'truncation'"),
                          ({"seed": "x"}, "'seed'"), ([1], "is not a JSON object"), ({"label": 3}, "'label'")]:
        (tmp_path / "b.npy.json").write_text(json.dumps(meta))
        with pytest.raises(FaceRefError, match=problem):
            load_latent(tmp_path / "b.npy", pipe)


def recipe_image(tmp_path, pipe, **changes):
    """A PNG whose text chunk holds the recipe, written by hand: facegen's writer expects its own recipes."""
    from PIL import PngImagePlugin

    recipe = dict(pipe(seeds=[1]).recipes[0], format="png", **changes)
    info = PngImagePlugin.PngInfo()
    info.add_text("facegen", json.dumps(recipe))
    path = tmp_path / "r.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path, recipe


def test_recipes_asking_for_absurd_work_or_with_wrong_types_are_refused(tmp_path, pipe):
    """Found: a recipe read from an image went straight to the renderer: 'model': 0 raised
    AttributeError, and `facegen reproduce` would make 10**9 frames or a 10**6-pixel-wide face."""
    path, _ = recipe_image(tmp_path, pipe, model=0)
    with pytest.raises(FaceRefError, match="'model' is not valid"):
        face_from_image(path, pipe)
    _, recipe = recipe_image(tmp_path, pipe)
    for changes, problem in [({"size": 10**6}, "'size'"), ({"kind": "explore", "op": "morph", "frames": 10**9}, "'frames'"),
                             ({"seeds": list(range(5000)), "kind": "grid", "size": 2048}, "over the limit"),
                             ({"truncation": float("nan")}, "'truncation'"), ({"seed": -1}, "'seed'"),
                             # Found: a latent of no rows raised IndexError; a wrong width, torch's RuntimeError.
                             ({"kind": "latent", "latent": {"dtype": "float32", "shape": [0, 32], "data": ""}},
                              "one row"),
                             ({"kind": "latent", "latent": {"dtype": "float32", "shape": [1, 7], "data": "A" * 36 + "AA=="}},
                              "latent has shape")]:
        with boxed("finding: recipe", seconds=5, rss_mb=200), pytest.raises(RecipeError, match=problem):
            render(dict(recipe, **changes), pipe)


def test_an_upload_whose_header_claims_a_huge_image_is_413(tmp_path):
    """Found by the soak: a PNG claiming 30,000 x 30,000 pixels got 400 'not a readable image' (Pillow's
    own bomb check fired first) instead of 413 naming the pixel limit."""
    from facegen.server.limits import Limits, check_upload
    from starlette.exceptions import HTTPException

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    with pytest.raises(HTTPException) as e:
        check_upload(bomb, Limits())
    assert e.value.status_code == 413 and f"limit of {Limits().max_upload_pixels} pixels" in e.value.detail
