"""Remaster keeps an old photo's own detail where the model's face would be softer (compose.restore):
scratches filled, grain smoothed, and never a blurrier face than the photo had. No CelebA data."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facegen.compose import remaster
from facegen.compose.restore import noise_sigma, restore_luma
from facegen.pipeline import FaceGenerator

FACE = Path(__file__).parent / "data" / "astronaut.jpg"


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    return np.asarray(Image.open(FACE).convert("L"))


def detail(y: np.ndarray, mask) -> float:
    return float(cv2.Laplacian(cv2.GaussianBlur(y.astype(np.float32), (0, 0), 1.0), cv2.CV_32F)[mask].var())


def test_grain_is_estimated_and_smoothed(grey, monkeypatch):
    from facegen.compose import restore

    rng = np.random.default_rng(0)
    noisy = np.clip(grey + rng.normal(0, 12, grey.shape), 0, 255).astype(np.uint8)
    assert noise_sigma(noisy) == pytest.approx(12, abs=3)
    assert noise_sigma(grey) < 5
    # Grain goes back on purpose, so the face keeps the grain of the photo around it, never more.
    assert noise_sigma(restore_luma(noisy)) < 0.95 * noise_sigma(noisy)
    monkeypatch.setattr(restore, "RESIDUAL", 0.0)
    monkeypatch.setattr(restore, "REGRAIN", 0.0)
    out = restore_luma(noisy)
    err = lambda a: np.abs(a.astype(float) - grey).mean()  # noqa: E731
    assert err(out) < 0.75 * err(noisy)


def test_a_share_of_the_grain_is_put_back_the_same_way_every_time(grey, monkeypatch):
    from facegen.compose import restore

    noisy = np.clip(grey + np.random.default_rng(0).normal(0, 12, grey.shape), 0, 255).astype(np.uint8)
    info = {}
    out = restore_luma(noisy, info)
    assert np.array_equal(out, restore_luma(noisy)) and info["denoise_h"] > 0
    share = restore.REGRAIN
    monkeypatch.setattr(restore, "REGRAIN", 0.0)
    put_back = out.astype(float) - restore_luma(noisy)
    assert share > 0 and info["grain_back"] == pytest.approx(share * info["grain"], abs=0.01)
    assert put_back.std() == pytest.approx(info["grain_back"], rel=0.2)


def test_a_gaussian_blur_is_undone_without_shifting_the_tone(grey):
    from facegen.compose.restore import deconvolve, edge_sigma

    f = grey.astype(np.float32)
    blurred = cv2.GaussianBlur(f, (0, 0), 1.2)
    out = deconvolve(blurred, 1.2, 0.02)
    err = lambda a: float(((a - f) ** 2).mean())  # noqa: E731
    assert err(out) < 0.7 * err(blurred)
    assert abs(out.mean() - blurred.mean()) < 0.5
    assert edge_sigma(out) < edge_sigma(blurred) - 0.3
    flat = np.full((40, 50), 100, np.float32)
    assert np.abs(deconvolve(flat, 1.5, 0.02) - 100).max() < 0.01


def test_a_light_scratch_across_the_face_is_filled(grey):
    scratched = grey.copy()
    cv2.line(scratched, (95, 85), (150, 170), 250, 1)   # across the face
    line = np.zeros_like(grey)
    cv2.line(line, (95, 85), (150, 170), 1, 1)
    out = restore_luma(scratched)
    on = line.astype(bool)
    assert np.abs(out[on].astype(float) - grey[on]).mean() < 0.4 * np.abs(scratched[on].astype(float) - grey[on]).mean()


def test_remaster_of_a_large_face_keeps_the_photos_detail():
    """A face far larger than the 64-pixel model: keep_detail (the default) is as detailed as the photo,
    pasting the whole regenerated face is not, and the recipe and notes say which was done."""
    pipe = FaceGenerator.from_pretrained("default")
    photo = np.asarray(Image.open(FACE).convert("RGB").resize((480, 480), Image.LANCZOS))
    kept = remaster(pipe, photo, steps=2)
    whole = remaster(pipe, photo, steps=2, keep_detail=False)
    mask = kept.mask > 0.5
    y = lambda im: np.asarray(im.convert("L"))  # noqa: E731
    source = detail(np.asarray(Image.fromarray(photo).convert("L")), mask)
    assert detail(y(kept.image), mask) > 0.8 * source
    assert detail(y(whole.image), mask) < 0.5 * source
    assert kept.recipe["faces"][0]["kept_photo_detail_finer_than_px"] > 2
    assert whole.recipe["faces"][0]["kept_photo_detail_finer_than_px"] is None
    assert any("own detail is kept" in n for n in kept.notes)


def test_a_swapped_face_takes_the_photos_grain_and_says_it_was_upscaled():
    """Into a grainy photo the new face comes grainy too (not a clean patch); a face rendered far
    above the model's resolution is recorded as upscaled, in the recipe and the notes."""
    from facegen.compose import swap_faces
    from facegen.explore.faces import resolve_face

    pipe = FaceGenerator.from_pretrained("default")
    rng = np.random.default_rng(1)
    photo = np.asarray(Image.open(FACE).convert("RGB").resize((480, 480), Image.LANCZOS)).astype(np.float32)
    grainy = np.clip(photo + rng.normal(0, 10, photo.shape[:2])[..., None], 0, 255).astype(np.uint8)
    face = resolve_face("7", pipe, truncation=0.7)
    plain = swap_faces(pipe, grainy, [face], match_texture=False)
    matched = swap_faces(pipe, grainy, [face])
    core = matched.mask > 0.95
    ys, xs = np.nonzero(core)
    box = (slice(ys.min() + 10, ys.max() - 10), slice(xs.min() + 10, xs.max() - 10))
    grain = lambda im: noise_sigma(np.asarray(im.convert("L"))[box])  # noqa: E731
    assert grain(matched.image) > 1.5 * grain(plain.image)
    assert grain(matched.image) == pytest.approx(noise_sigma(grainy[..., 1]), rel=0.35)
    up = matched.recipe["faces"][0]["upscaled"]
    assert up and up > 1.5 and any("upscaled" in n for n in matched.notes)
    assert matched.recipe["match_texture"] is True


def aged(grey: np.ndarray, seed: int = 0) -> np.ndarray:
    """bench/remaster.py's ageing, in grey: blur (sigma 1), grain (sigma 10), a light scratch, JPEG 40."""
    import io

    rng = np.random.default_rng(seed)
    y = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 1.0) + rng.normal(0, 10, grey.shape)
    cv2.line(y, (95, 85), (150, 170), 235, 1, cv2.LINE_AA)
    buf = io.BytesIO()
    Image.fromarray(np.clip(y + 0.5, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=40)
    return np.asarray(Image.open(buf).convert("L"))


def test_an_aged_face_comes_back_closer_to_the_original_and_as_detailed(grey):
    """Grain JPEG has smoothed is still measured (at half size), the blur is seen on the edges and
    undone: closer to the original than the aged copy, with most of its detail."""
    from facegen.compose.restore import edge_sigma, grain_sigma

    old = aged(grey)
    info = {}
    out = restore_luma(old, info)
    assert info["grain"] > 6 and info["denoise_h"] > 0 and info["deblur"] > 0.3 and info["scratch_px"] > 20
    assert edge_sigma(old) > edge_sigma(grey) + 0.2
    assert grain_sigma(old) > 1.5 * grain_sigma(grey)
    err = lambda a: float(((a.astype(float) - grey) ** 2).mean())  # noqa: E731
    assert err(out) < 0.9 * err(old)
    whole = np.ones(grey.shape, bool)
    assert detail(out, whole) > max(0.7 * detail(grey, whole), 1.25 * detail(old, whole))


def test_a_clean_photo_is_left_almost_as_it_was(grey):
    info = {}
    out = restore_luma(grey, info)
    assert info["denoise_h"] == 0 and info["deblur"] < 0.3
    mse = float(((out.astype(float) - grey) ** 2).mean())
    assert 10 * np.log10(255 ** 2 / max(mse, 1e-9)) > 35


def test_a_swapped_face_is_as_sharp_as_the_face_it_replaces():
    """The model's face upscaled to the photo's face (about 2.5x here) is soft; match_texture sharpens it
    toward the old face's sharpness (and would blur it toward a soft one's)."""
    from facegen.compose import swap_faces
    from facegen.explore.faces import resolve_face

    pipe = FaceGenerator.from_pretrained("default")
    photo = np.asarray(Image.open(FACE).convert("RGB"))
    face = resolve_face("7", pipe, truncation=0.7)
    plain = swap_faces(pipe, photo, [face], match_texture=False)
    matched = swap_faces(pipe, photo, [face])
    core = matched.mask > 0.95
    y = lambda im: np.asarray(Image.fromarray(np.asarray(im)).convert("L"))  # noqa: E731
    old = detail(y(photo), core)
    assert detail(y(plain.image), core) < 0.5 * old
    assert abs(np.log(detail(y(matched.image), core) / old)) < abs(np.log(detail(y(plain.image), core) / old)) / 2


def test_a_swapped_face_is_held_near_the_sharpness_around_it():
    """A crisp face on a strongly blurred backdrop: the new face is not pasted as crisp as the old one
    was (a sharp patch on a soft picture), but within SURROUND_RATIO of the photo just outside the mask."""
    from facegen.compose import swap_faces
    from facegen.compose.blend import SURROUND_PX, SURROUND_RATIO
    from facegen.explore.faces import resolve_face

    pipe = FaceGenerator.from_pretrained("default")
    photo = np.asarray(Image.open(FACE).convert("RGB"))
    face = resolve_face("7", pipe, truncation=0.7)
    mask = swap_faces(pipe, photo, [face], match_texture=False).mask
    soft = cv2.GaussianBlur(photo, (0, 0), 3.0)
    scene = np.where((mask > 0)[..., None], photo, soft)
    width = 2 * SURROUND_PX + 1

    def ratio(im, mask):  # the face core's sharpness over the photo's just outside the mask
        ring = cv2.dilate((mask > 0).astype(np.uint8), np.ones((width, width), np.uint8)).astype(bool) & (mask == 0)
        y = np.asarray(Image.fromarray(np.asarray(im)).convert("L"))
        return detail(y, mask > 0.95) / detail(y, ring)

    assert ratio(scene, mask) > 3 * SURROUND_RATIO[1]
    matched = swap_faces(pipe, scene, [face])
    assert matched.recipe["blend"] == "poisson"
    assert SURROUND_RATIO[0] * 0.8 < ratio(matched.image, matched.mask) < SURROUND_RATIO[1] * 1.2
