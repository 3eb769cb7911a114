"""`facegen invert`: faces found and aligned as the model's training faces were, inverted into latents
that every explore command takes; every bad input refused with its file named and nothing half-written."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from bad_images import bomb_png
from facegen.cli import main
from facegen.data.faces import (CELEBA_CROP_TEMPLATE, FFHQ_TEMPLATE, align, align_matrix, face_matrix, locate_faces,
                                make_finder, warp_face)
from facegen.explore.faces import FaceRefError, load_latent, resolve_face
from facegen.inversion import InversionError, image_scores, invert_crop, invert_photo
from facegen.pipeline import FaceGenerator
from facegen.provenance import read_recipe

FACE = Path(__file__).parent / "data" / "astronaut.jpg"


@pytest.fixture(scope="module")
def pipe():
    return FaceGenerator.from_pretrained("default")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(Image.open(FACE).convert("RGB"))


def template_eyes(size: int, t=CELEBA_CROP_TEMPLATE) -> np.ndarray:
    return np.array([[(0.5 - t.eye_distance / 2) * size, t.eye_y * size],
                     [(0.5 + t.eye_distance / 2) * size, t.eye_y * size]])


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return (m @ np.c_[points, np.ones(len(points))].T).T


# --- alignment ---------------------------------------------------------------------------------

def test_align_matrix_puts_the_eyes_on_the_template():
    eyes = np.array([[130.0, 210.0], [190.0, 228.0]])  # tilted, any scale
    for template in (CELEBA_CROP_TEMPLATE, FFHQ_TEMPLATE):
        m = align_matrix(eyes[0], eyes[1], 64, template)
        assert np.allclose(apply(m, eyes), template_eyes(64, template), atol=1e-9)
        # A similarity: equal scale on both axes, no shear.
        assert np.isclose(m[0, 0], m[1, 1]) and np.isclose(m[0, 1], -m[1, 0])


@pytest.mark.parametrize("angle,scale", [(10, 1.2), (-12, 1.3), (0, 0.8), (5, 2.0)])
def test_faces_in_a_moved_photo_are_aligned_to_the_template_within_a_pixel(photo, angle, scale):
    """The photo rotated, scaled and shifted by a known similarity: the detected landmarks land where
    that transform puts them, and the alignment (eyes and mouth, FFHQ-style) takes them near the
    template: the eyes level, the same crop whichever way the photo was moved."""
    found = make_finder(20).find(photo)
    assert found and found[0].eyes_found and found[0].mouth is not None
    e0 = np.array([found[0].left_eye, found[0].right_eye, found[0].mouth])
    t = cv2.getRotationMatrix2D((120, 120), angle, scale)
    t[:, 2] += (180, 150)
    moved = cv2.warpAffine(photo, t, (600, 560), borderValue=(90, 90, 90))
    e1 = apply(t, e0)
    (loc,) = locate_faces(moved, 64)
    assert loc.face.eyes_found
    got = np.array([loc.face.left_eye, loc.face.right_eye, loc.face.mouth])
    assert np.abs(got - e1).max() < 2.5 * scale                                      # photo pixels
    eyes = apply(loc.matrix, e1[:2])
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1.0                                        # level in the crop
    assert np.abs(eyes - template_eyes(64)).max() < 0.05 * 64                        # near the template
    assert np.allclose(loc.matrix, face_matrix(loc.face, 64))
    # Same face, same crop, whichever way the photo was moved.
    same = warp_face(photo, align_matrix(*e0[:2], 64, mouth=e0[2]), 64).astype(float)
    assert np.abs(same - warp_face(moved, align_matrix(*e1[:2], 64, mouth=e1[2]), 64)).mean() < 3
    # The inverse transform pastes the crop back where the face was.
    back = cv2.invertAffineTransform(loc.matrix)
    assert np.abs(apply(back, apply(loc.matrix, got)) - got).max() < 1e-6


def test_prepare_alignment_is_the_ffhq_template(photo):
    """align() (used by prepare) frames the FFHQ way: warp_face with the FFHQ template and the mouth."""
    found = make_finder(20).find(photo)[0]
    a = align(photo, found.left_eye, found.right_eye, 64, found.mouth).astype(float)
    b = warp_face(photo, align_matrix(found.left_eye, found.right_eye, 64, FFHQ_TEMPLATE, found.mouth), 64)
    assert np.array_equal(a, b.astype(float))


# --- inversion ---------------------------------------------------------------------------------

def test_a_face_the_model_made_is_recovered(pipe):
    """A generated face has an exact latent: the inversion must find a near-identical image. (A broken
    optimiser stays near the average face: under 20 dB for these seeds.)"""
    for seed in (3, 11):
        target = np.asarray(pipe(seeds=[seed], truncation=0.7).images[0])
        start = invert_crop(pipe, target, steps=1)
        inv = invert_crop(pipe, target, steps=100)  # 31 and 35 dB when this was written
        assert start.psnr < 20
        assert inv.psnr > 29, (seed, inv.psnr)
        assert inv.ssim > 0.95
        assert inv.face.w.shape == (pipe.config.num_ws, pipe.config.w_dim)
        # The reported image is what the latent renders.
        assert np.array_equal(np.asarray(pipe.synthesize(inv.face.w[None])[0]), np.asarray(inv.image))
        assert inv.psnr == pytest.approx(image_scores(np.asarray(inv.image), target)[0])


def test_ssim_is_one_for_identical_images_and_drops_with_noise(photo):
    crop = np.ascontiguousarray(photo[:64, :64])
    assert image_scores(crop, crop)[1] == pytest.approx(1.0)
    noisy = np.clip(crop + np.random.default_rng(0).normal(0, 20, crop.shape), 0, 255).astype(np.uint8)
    psnr, ssim = image_scores(noisy, crop)
    assert 20 < psnr < 24 and ssim < 0.8


def test_classic_dcgan_inverts_in_z(tmp_path):
    pipe = FaceGenerator.from_pretrained("classic")
    target = np.asarray(pipe(seeds=[5]).images[0])
    inv = invert_crop(pipe, target, steps=60)
    assert inv.face.w.shape == (pipe.config.latent_dim,)
    assert float(inv.face.w.min()) >= 0 and float(inv.face.w.max()) <= 1  # its latents live in [0, 1)
    assert inv.psnr > invert_crop(pipe, target, steps=1).psnr + 3


def test_any_crop_size_is_resized_and_bad_arrays_refused(pipe, photo):
    inv = invert_crop(pipe, photo[20:220, 30:200], steps=2)  # not square, not the model's size
    r = pipe.config.resolution
    assert inv.image.size == inv.target.size == (r, r)
    with pytest.raises(InversionError, match="uint8"):
        invert_crop(pipe, photo.astype(np.float32), steps=2)
    with pytest.raises(InversionError, match="steps"):
        invert_crop(pipe, photo, steps=0)


# --- the command and its files -----------------------------------------------------------------

def test_cli_writes_latent_reconstruction_and_comparison_that_explore_takes(pipe, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    assert main(["invert", str(FACE), "--out", str(out), "--steps", "20", "--no-progress"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["astronaut_face0.npz", "astronaut_face0.png", "astronaut_face0_compare.png"]
    with np.load(out / "astronaut_face0.npz", allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        w = f["w"]
    assert w.shape == (pipe.config.num_ws, pipe.config.w_dim)
    assert meta["origin"] == "inverted" and meta["source"] == "astronaut.jpg" and meta["face_index"] == 0
    assert meta["source_sha256"] == hashlib.sha256(FACE.read_bytes()).hexdigest()
    assert len(meta["photo_face"]["matrix"]) == 2 and meta["model"]["sha256"] == pipe.model.sha256
    face = load_latent(out / "astronaut_face0.npz", pipe)
    assert torch.equal(face.w, torch.from_numpy(w)) and face.inverted_from  # the swap rules see its origin
    recipe = read_recipe(out / "astronaut_face0.png")
    assert recipe["ai_generated"] and recipe["op"] == "invert" and recipe["origin"] == "inverted"
    assert read_recipe(out / "astronaut_face0_compare.png")["op"] == "invert-compare"
    r = pipe.config.resolution
    assert Image.open(out / "astronaut_face0_compare.png").size == (2 * r, r)  # the crop beside its remake
    # The reconstruction re-makes identically from its recipe, and is a face reference too.
    assert main(["reproduce", str(out / "astronaut_face0.png")]) == 0
    assert torch.equal(resolve_face(out / "astronaut_face0.png", pipe).w, face.w)
    # ... and every explore command takes the latent.
    assert main(["transform", str(out / "astronaut_face0.npz"), "--exaggerate", "1.5",
                 "--out", str(tmp_path / "t.png")]) == 0
    assert main(["morph", str(out / "astronaut_face0.npz"), "7", "--frames", "3",
                 "--out", str(tmp_path / "m.png")]) == 0
    assert main(["breed", str(out / "astronaut_face0.npz"), "7", "--out", str(tmp_path / "kids")]) == 0
    # Nothing is overwritten without --overwrite, and nothing else is written on the way.
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    assert main(["invert", str(FACE), "--out", str(out), "--steps", "2", "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_aligned_crops_skip_detection(pipe, tmp_path):
    crop = tmp_path / "crop.png"
    Image.fromarray(np.asarray(Image.open(FACE).convert("RGB"))[30:200, 35:205]).save(crop)
    ((loc, inv),) = invert_photo(pipe, crop, aligned=True, steps=2)
    r = pipe.config.resolution
    assert inv.target.size == (r, r) and loc.matrix[0, 0] == pytest.approx(r / 170)


# --- bad input ---------------------------------------------------------------------------------



def cli_error(args, capsys) -> str:
    capsys.readouterr()
    assert main(["invert", *map(str, args), "--no-progress", "--steps", "2"]) == 2
    return capsys.readouterr().err


def test_bad_photos_are_refused_with_the_file_named_and_nothing_written(photo, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(np.tile(np.linspace(0, 255, 300, dtype=np.uint8)[None, :, None], (200, 1, 3))).save(
        tmp_path / "sky.png")
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    (tmp_path / "notes.jpg").write_text("not a picture")
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "noise.png")
    Image.fromarray(photo).save(tmp_path / "face.png")
    cases = [("sky.png", "no face found"), ("noise.png", "no face found"),
             ("bomb.png", "decompression bomb.*30000x30000"), ("notes.jpg", "not an image"),
             ("missing.jpg", "no such file")]
    for name, message in cases:
        err = cli_error([tmp_path / name, "--out", out], capsys)
        assert name in err and re.search(message, err), (name, err)
    err = cli_error([tmp_path / "face.png", "--out", out, "--min-face", "1000"], capsys)
    assert "face.png" in err and "too small" in err
    err = cli_error([tmp_path / "face.png", "--out", out, "--index", "3"], capsys)
    assert "face.png" in err and "index 3 is not one" in err
    assert list(out.iterdir()) == []
    err = cli_error([tmp_path / "sky.png", "--out", tmp_path / "new"], capsys)
    assert "no face found" in err and not (tmp_path / "new").exists()


def test_grey_and_cmyk_photos_are_converted_with_a_note(pipe, photo, tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(photo).convert("L").save(grey)
    ((_, inv),) = invert_photo(pipe, grey, steps=2)
    assert any("greyscale" in n for n in inv.notes)
    cmyk = tmp_path / "print.jpg"
    Image.fromarray(photo).convert("CMYK").save(cmyk, quality=95)
    ((_, inv),) = invert_photo(pipe, cmyk, steps=2)
    assert any("CMYK" in n for n in inv.notes)


def test_a_failed_write_leaves_no_file(pipe, tmp_path, monkeypatch, capsys):
    from facegen.explore import recipes

    calls = []

    def fail_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*a, **k)

    real = recipes.save_output
    monkeypatch.setattr(recipes, "save_output", fail_second)
    with pytest.raises(OSError, match="disk full"):
        main(["invert", str(FACE), "--out", str(tmp_path), "--steps", "2", "--no-progress"])
    assert [p.name for p in tmp_path.iterdir()] == []


def test_latents_of_the_wrong_shape_or_model_are_refused(pipe, tmp_path):
    ((_, inv),) = invert_photo(pipe, FACE, steps=2)
    from facegen.explore.faces import save_latent
    save_latent(tmp_path / "me.npz", inv.face, pipe, info={"origin": "inverted"})
    classic = FaceGenerator.from_pretrained("classic")
    with pytest.raises(FaceRefError, match="me.npz.*made with model"):
        load_latent(tmp_path / "me.npz", classic)
    np.save(tmp_path / "short.npy", np.zeros((3, 256), np.float32))
    with pytest.raises(FaceRefError, match="short.npy.*shape"):
        load_latent(tmp_path / "short.npy", pipe, space="w")
