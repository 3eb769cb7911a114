"""facegen swap and facegen remaster: pixels outside the face masks untouched, composites labelled,
the swap rule enforced, and every bad input refused with a message and no output file."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bad_images import bomb_png
from facegen.cli import main
from facegen.compose import ComposeError, SWAP_MIN_DISTANCE, check_swap_source, find_faces, remaster, swap_faces
from facegen.compose.rules import identity_distance
from facegen.data.images import read_image
from facegen.explore.faces import Face, face_from_seed, resolve_face, save_latent, typical_radius
from facegen.pipeline import FaceGenerator
from facegen.provenance import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, digital_source_type, read_recipe

ASTRONAUT = Path(__file__).parent / "data" / "astronaut.jpg"


@pytest.fixture(scope="module")
def pipe():
    return FaceGenerator.from_pretrained("default")


@pytest.fixture(scope="module")
def photo():
    return read_image(ASTRONAUT)


@pytest.fixture(scope="module")
def inverted(pipe, photo):
    """The astronaut's face inverted (a few steps: the rule is about ancestry, not likeness)."""
    from facegen.compose.align import crop_face
    from facegen.inversion import invert_crop

    crop = crop_face(photo, find_faces(photo, "astronaut")[0], pipe.config.resolution)
    return invert_crop(pipe, crop, steps=3).face


def run(*argv) -> int:
    return main([str(a) for a in argv])


def assert_untouched_outside(out: np.ndarray, src: np.ndarray, mask: np.ndarray) -> None:
    outside = mask == 0
    assert outside.mean() > 0.5  # the face is a small part of the photo
    assert np.array_equal(out[outside], src[outside])
    assert not np.array_equal(out[~outside], src[~outside])  # and the face did change


def test_astronaut_face_found(photo):
    faces = find_faces(photo, "astronaut")
    assert len(faces) == 1 and faces[0].face.box[2] >= 64


@pytest.mark.parametrize("blend", ["feather", "poisson"])
def test_swap_leaves_pixels_outside_mask_bit_identical(pipe, photo, blend):
    result = swap_faces(pipe, photo, [face_from_seed(pipe, 7, 0.7)], blend=blend)
    out = np.asarray(result.image)
    assert out.shape == photo.shape and len(result.masks) == 1
    assert_untouched_outside(out, photo, result.mask)


def test_remaster_leaves_pixels_outside_mask_bit_identical_and_keeps_grey(pipe, photo):
    # Grainy, so that there is something to restore: a clean grey face keeps its own pixels.
    y = np.asarray(Image.fromarray(photo).convert("L")).astype(np.float32)
    y = np.clip(y + np.random.default_rng(0).normal(0, 10, y.shape) + 0.5, 0, 255).astype(np.uint8)
    grey = np.repeat(y[..., None], 3, axis=2)
    result = remaster(pipe, grey, steps=4, truncation=0.8)
    out = np.asarray(result.image)
    assert_untouched_outside(out, grey, result.mask)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert result.before_after.width > 2 * min(grey.shape[1], 512) - 1
    assert result.recipe["kind"] == "composite" and result.recipe["op"] == "remaster"


def test_remaster_palette_takes_sepia_tone(pipe, photo):
    lum = np.asarray(Image.fromarray(photo).convert("L"), dtype=np.float32)[..., None] / 255
    sepia = np.clip(lum * np.array([255, 220, 170]), 0, 255).astype(np.uint8)
    from facegen.compose.blend import is_toned

    assert is_toned(sepia) and not is_toned(photo)
    assert any("--palette" in n for n in remaster(pipe, sepia, steps=1).notes)
    result = remaster(pipe, sepia, steps=2, palette=True)
    out = np.asarray(result.image).astype(int)
    face = result.mask > 0.9
    # Sepia: red above green above blue inside the regenerated face, as in the artwork.
    r, g, b = (out[..., c][face].mean() for c in range(3))
    assert r > g > b
    assert_untouched_outside(np.asarray(result.image), sepia, result.mask)


def test_cli_swap_writes_labelled_composite(tmp_path, pipe):
    out = tmp_path / "swapped.png"
    assert run("swap", ASTRONAUT, "--face", "7", "--truncation", "0.7", "--out", out) == 0
    assert digital_source_type(out) == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    recipe = read_recipe(out)
    assert recipe["kind"] == "composite" and recipe["op"] == "swap" and recipe["ai_generated"]
    assert recipe["photo"]["file"] == "astronaut.jpg" and len(recipe["photo"]["sha256"]) == 64
    assert recipe["sources"] == ["7"] and recipe["faces"][0]["source"]["seed"] == 7
    # The PNG holds the decoded photo exactly outside the mask: re-run the API for the mask.
    result = swap_faces(pipe, read_image(ASTRONAUT), [face_from_seed(pipe, 7, 0.7)])
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), np.asarray(result.image))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["swapped.png"]


def test_cli_remaster_writes_both_outputs(tmp_path):
    assert run("remaster", ASTRONAUT, "--steps", "3", "--out-dir", tmp_path) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["astronaut_before_after.png", "astronaut_remastered.png"]
    for name in names:
        assert digital_source_type(tmp_path / name) == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert read_recipe(tmp_path / names[1])["faces"][0]["inversion"]["steps"] == 3
    # Refuses to overwrite either, and writes neither.
    assert run("remaster", ASTRONAUT, "--steps", "1", "--out-dir", tmp_path) == 2


def test_cli_remaster_makes_a_missing_out_dir(tmp_path, capsys):
    """--out-dir that does not exist yet is made, parents too; one under a file is refused before any
    work; a refused photo leaves no empty folder behind."""
    new = tmp_path / "a" / "b"
    assert run("remaster", ASTRONAUT, "--steps", "1", "--out-dir", new) == 0
    assert sorted(p.name for p in new.iterdir()) == ["astronaut_before_after.png", "astronaut_remastered.png"]
    (tmp_path / "file").write_text("x")
    assert run("remaster", ASTRONAUT, "--steps", "1", "--out-dir", tmp_path / "file" / "sub") == 2
    assert "not a folder" in capsys.readouterr().err
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank)
    assert run("remaster", blank, "--steps", "1", "--out-dir", tmp_path / "never") == 2
    assert not (tmp_path / "never").exists()


# ---- Bad input: each a clear message, and nothing written



def refused(capsys, tmp_path, *argv, message: str) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    args = list(argv) + (["--out", out_dir / "x.png"] if argv[0] == "swap" else ["--out-dir", out_dir])
    assert run(*args) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("command", ["swap", "remaster"])
def test_photo_with_no_face(tmp_path, capsys, command):
    blank = tmp_path / "wall.png"
    Image.new("RGB", (200, 150), (180, 170, 160)).save(blank)
    extra = ["--face", "7"] if command == "swap" else ["--steps", "1"]
    refused(capsys, tmp_path, command, blank, *extra, message="wall.png: no face found")


@pytest.mark.parametrize("command", ["swap", "remaster"])
def test_face_too_small(tmp_path, capsys, command):
    extra = ["--face", "7"] if command == "swap" else ["--steps", "1"]
    # --min-face counts photo pixels across the aligned frame: the astronaut's is ~160 (box 97 wide).
    refused(capsys, tmp_path, command, ASTRONAUT, *extra, "--min-face", "300",
            message="astronaut.jpg: the face found is too small to use")


@pytest.mark.parametrize("command", ["swap", "remaster"])
def test_image_too_large_refused_before_decoding(tmp_path, capsys, command):
    bomb = tmp_path / "scan.png"
    bomb.write_bytes(bomb_png())
    extra = ["--face", "7"] if command == "swap" else ["--steps", "1"]
    refused(capsys, tmp_path, command, bomb, *extra, message="scan.png: decompression bomb: header says 30000x30000")


def test_grey_and_cmyk_photos_are_swapped(tmp_path, pipe):
    src = Image.open(ASTRONAUT)
    src.convert("L").save(tmp_path / "grey.png")
    src.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    for name in ("grey.png", "cmyk.jpg"):
        out = tmp_path / f"{name}.swapped.png"
        assert run("swap", tmp_path / name, "--face", "3", "--out", out) == 0
        decoded = read_image(tmp_path / name)
        result = swap_faces(pipe, decoded, [face_from_seed(pipe, 3)])
        got = np.asarray(Image.open(out).convert("RGB"))
        assert np.array_equal(got, np.asarray(result.image))
        assert_untouched_outside(got, decoded, result.mask)
        if name == "grey.png":
            assert np.array_equal(got[..., 0], got[..., 2])


def test_latent_of_wrong_shape(tmp_path, capsys):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros(7, np.float32))
    refused(capsys, tmp_path, "swap", ASTRONAUT, "--face", bad, message="bad.npy: latent has shape [7]")


def test_latent_for_another_model(tmp_path, capsys):
    classic = FaceGenerator.from_pretrained("classic")
    path = tmp_path / "classic.npz"
    save_latent(path, face_from_seed(classic, 1), classic)
    refused(capsys, tmp_path, "swap", ASTRONAUT, "--face", path, message="classic.npz: was made with model")


def test_jpeg_output_refused(tmp_path, capsys):
    assert run("swap", ASTRONAUT, "--face", "7", "--out", tmp_path / "x.jpg") == 2
    assert "output is PNG only" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


# ---- The swap rule: faces inverted from real photos are not swap sources

def test_inverted_latent_refused_as_swap_source(tmp_path, capsys, pipe, inverted):
    path = tmp_path / "astronaut.npz"
    save_latent(path, inverted, pipe)
    refused(capsys, tmp_path, "swap", ASTRONAUT, "--face", path, message="inverted from a photo of a real person")
    # A copy made with `facegen latent` carries the mark too, and so does a bare origin flag.
    copy = tmp_path / "copy.npy"
    assert run("latent", path, "--out", copy) == 0
    refused(capsys, tmp_path, "swap", ASTRONAUT, "--face", copy, message="inverted from a photo")
    flagged = tmp_path / "flagged.npz"
    meta = {"format": "facegen-latent", "origin": "inverted"}
    np.savez(flagged, w=inverted.w.numpy(), meta=np.array(json.dumps(meta)))
    refused(capsys, tmp_path, "swap", ASTRONAUT, "--face", flagged, message="inverted from a photo")


def test_latent_without_metadata_refused(tmp_path, capsys, inverted):
    bare = tmp_path / "bare.npy"
    np.save(bare, inverted.w.numpy())  # an inversion with its record stripped
    refused(capsys, tmp_path, "swap", ASTRONAUT, "--face", bare, message="bare.npy: has no facegen metadata")


def test_inversion_reconstruction_image_refused(tmp_path, capsys, pipe, inverted):
    from facegen.explore.recipes import latent_recipe, save_output

    image = tmp_path / "reconstruction.png"
    save_output(pipe.synthesize(inverted.w[None])[0], image, latent_recipe(pipe, inverted.w, None, "invert"))
    refused(capsys, tmp_path, "swap", ASTRONAUT, "--face", image, message="inverted from a photo")


def test_bred_face_far_enough_accepted_near_one_refused(tmp_path, capsys, pipe, inverted):
    from facegen.explore.layers import layer_groups

    groups = layer_groups(pipe.config)
    other = face_from_seed(pipe, 11).wplus(pipe.config.num_ws)
    near = inverted.w.clone()
    near[groups["fine"]] = other[groups["fine"]]  # colour and texture only: still the same person
    near[groups["middle"]] += 0.05 * (other[groups["middle"]] - near[groups["middle"]])  # a nudge
    far = inverted.w.clone()
    identity = groups["coarse"] + groups["middle"]
    far[identity] = other[identity]  # shape and features from a face that does not exist
    r = typical_radius(pipe)
    assert identity_distance(near, inverted.w, pipe.config) / r < SWAP_MIN_DISTANCE
    assert identity_distance(far, inverted.w, pipe.config) / r > SWAP_MIN_DISTANCE
    for name, w in (("near", near), ("far", far)):
        save_latent(tmp_path / f"{name}.npz", Face(w, name, inverted_from=inverted.inverted_from), pipe)
    refused(capsys, tmp_path, "swap", ASTRONAUT, "--face", tmp_path / "near.npz", message="too close to one")
    out = tmp_path / "ok.png"
    assert run("swap", ASTRONAUT, "--face", tmp_path / "far.npz", "--out", out) == 0
    rule = read_recipe(out)["faces"][0]["rule"]
    assert rule["inverted_ancestors"] == 1 and rule["distance_from_inversion"] > SWAP_MIN_DISTANCE
    # The ancestry survives a round trip through an image facegen made of the bred face.
    face = resolve_face(tmp_path / "far.npz", pipe)
    assert len(face.inverted_from) == 1 and check_swap_source(face, pipe)["inverted_ancestors"] == 1
    with pytest.raises(ComposeError):
        check_swap_source(resolve_face(tmp_path / "near.npz", pipe), pipe)


def test_breed_cli_carries_ancestry(tmp_path, capsys, pipe, inverted):
    parent = tmp_path / "inv.npz"
    save_latent(parent, inverted, pipe)
    kids = tmp_path / "kids"
    kids.mkdir()
    # Only the fine layers from the seed: still the inverted person, still refused.
    assert run("breed", parent, "5", "--coarse", "A", "--middle", "A", "--fine", "B", "--seed", "1",
               "--out", kids) == 0
    child = next(kids.glob("*.png"))
    assert resolve_face(child, pipe).inverted_from
    refused(capsys, tmp_path, "swap", ASTRONAUT, "--face", child, message="inverted from a photo")


def test_facegen_invert_outputs_refused_as_swap_sources(tmp_path, capsys):
    inv = tmp_path / "inv"
    inv.mkdir()
    assert run("invert", ASTRONAUT, "--steps", "3", "--out", inv, "--no-progress") == 0
    for name in ("astronaut_face0.npz", "astronaut_face0.png", "astronaut_face0_compare.png"):
        assert (inv / name).exists()
        refused(capsys, tmp_path, "swap", ASTRONAUT, "--face", inv / name, message=name)
    copy = tmp_path / "copy.npz"
    assert run("latent", inv / "astronaut_face0.png", "--out", copy) == 0
    refused(capsys, tmp_path, "swap", ASTRONAUT, "--face", copy, message="inverted from a photo")


@pytest.fixture(scope="module")
def two_faces(photo):
    """The astronaut twice, the second smaller: a photo with two faces of different sizes."""
    small = np.asarray(Image.fromarray(photo).resize((180, 180), Image.LANCZOS))
    out = np.full((240, 440, 3), 200, np.uint8)
    out[:, :240] = photo
    out[30:210, 250:430] = small
    return out


def test_swap_chosen_faces_and_one_source_each(pipe, two_faces):
    faces = find_faces(two_faces, "two")
    assert len(faces) == 2 and faces[0].face.box[2] > faces[1].face.box[2]
    only_second = swap_faces(pipe, two_faces, [face_from_seed(pipe, 3)], index=[1])
    out = np.asarray(only_second.image)
    assert_untouched_outside(out, two_faces, only_second.mask)
    assert np.array_equal(out[:, :240], two_faces[:, :240])  # the first face is untouched
    both = swap_faces(pipe, two_faces, [face_from_seed(pipe, 3), face_from_seed(pipe, 4)], blend="poisson")
    assert len(both.masks) == 2 and [f["source"]["seed"] for f in both.recipe["faces"]] == [3, 4]
    assert_untouched_outside(np.asarray(both.image), two_faces, both.mask)
    with pytest.raises(ComposeError, match="2 faces to replace but 3 source faces"):
        swap_faces(pipe, two_faces, [face_from_seed(pipe, s) for s in (1, 2, 3)])
    # The library does not know whether a CLI flag or a server field asked: the message names neither.
    with pytest.raises(ComposeError, match=r"\(index 0 to 1, largest first\); index 2 is not one") as e:
        swap_faces(pipe, two_faces, [face_from_seed(pipe, 1)], index=[2])
    assert "--index" not in str(e.value)


def test_the_cli_default_min_face_is_the_library_default():
    """composeargs writes the number out (importing data.faces would load numpy for every --help); the two
    must not drift apart, or swap and invert would refuse different faces again."""
    from facegen.cli import composeargs
    from facegen.data import faces

    assert composeargs.DEFAULT_MIN_FACE == faces.DEFAULT_MIN_FACE


def test_a_face_turned_further_than_the_model_draws_is_left_alone(pipe, two_faces):
    import dataclasses

    from facegen.compose.swap import MAX_TURN

    first, second = find_faces(two_faces, "two")
    assert abs(first.face.turn) < 0.3  # the astronaut faces the camera
    f = second.face
    eye_line = np.subtract(f.right_eye, f.left_eye)
    mid = np.add(f.left_eye, f.right_eye) / 2
    turned = dataclasses.replace(second, face=dataclasses.replace(f, nose=tuple(mid + (MAX_TURN + 0.1) * eye_line)))
    assert turned.face.turn == pytest.approx(MAX_TURN + 0.1)
    result = swap_faces(pipe, two_faces, [face_from_seed(pipe, 3)], faces=[first, turned])
    out = np.asarray(result.image)
    assert np.array_equal(out[:, 240:], two_faces[:, 240:])  # the turned face is untouched
    assert not np.array_equal(out[:, :240], two_faces[:, :240])
    assert result.faces == [first] and len(result.masks) == 1 and len(result.recipe["faces"]) == 1
    assert result.recipe["skipped"][0]["turn"] == pytest.approx(MAX_TURN + 0.1, abs=0.01)
    assert any("face 1 is turned too far" in n for n in result.notes)
    with pytest.raises(ComposeError, match="every face is turned too far"):
        swap_faces(pipe, two_faces, [face_from_seed(pipe, 3)], faces=[turned])
