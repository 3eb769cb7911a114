"""The command line: files written, provenance, reproduce, and clear refusals."""
import json
import os

import pytest
from PIL import Image

from facegen.cli import main
from facegen.provenance import TRAINED_ALGORITHMIC_MEDIA, is_ai_labelled, read_recipe


def test_generate_writes_faces_grid_and_provenance(tmp_path, tiny_model_file, capsys):
    model = tiny_model_file("style")
    out = tmp_path / "faces"
    assert main(["generate", "-n", "3", "--seed", "42", "--truncation", "0.7", "--out", str(out),
                 "--grid", "--model", str(model)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["grid_seeds42-44.png", "seed000042.png", "seed000043.png", "seed000044.png"]
    printed = capsys.readouterr().out.split()
    assert str(out / "seed000042.png") in printed
    recipe = read_recipe(out / "seed000043.png")
    assert recipe["seed"] == 43 and recipe["truncation"] == 0.7 and recipe["ai_generated"] is True
    assert recipe["model"]["sha256"] and recipe["model"]["architecture"] == "style"
    assert is_ai_labelled(out / "seed000043.png")
    with Image.open(out / "seed000043.png") as im:
        assert TRAINED_ALGORITHMIC_MEDIA in im.info["XML:com.adobe.xmp"]
        assert "AI-generated" in im.info["Description"]


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_a_face_larger_than_the_model_makes_says_it_was_upscaled(tmp_path, tiny_model_file, capsys, fmt):
    model = tiny_model_file("style", 32)
    out = tmp_path / "f"
    assert main(["generate", "-n", "1", "--seed", "1", "--out", str(out), "--format", fmt, "--size", "128",
                 "--model", str(model)]) == 0
    assert main(["generate", "-n", "1", "--seed", "2", "--out", str(out), "--format", fmt, "--size", "24",
                 "--model", str(model)]) == 0
    big, small = out / f"seed000001.{fmt}", out / f"seed000002.{fmt}"
    assert read_recipe(big)["upscaled"] == {"from": 32, "to": 128, "method": "lanczos"}
    assert "upscaled" not in read_recipe(small)
    with Image.open(big) as im, Image.open(small) as im2:
        notice = im.info["Description"] if fmt == "png" else im.getexif()[0x010E]
        notice2 = im2.info["Description"] if fmt == "png" else im2.getexif()[0x010E]
    assert "upscaled from the model's 32x32 to 128x128" in notice and "upscaled" not in notice2
    assert main(["reproduce", str(big)]) == 0 and "identical" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_reproduce_remakes_identical_images(tmp_path, tiny_model_file, capsys, fmt):
    model = tiny_model_file("dcgan")
    out = tmp_path / "f"
    main(["generate", "-n", "2", "--seed", "5", "--out", str(out), "--format", fmt, "--grid",
          "--size", "48", "--model", str(model)])
    for name in (f"seed000006.{fmt}", f"grid_seeds5-6.{fmt}"):
        assert main(["reproduce", str(out / name)]) == 0
        assert "identical" in capsys.readouterr().out
    if fmt == "jpg":
        with Image.open(out / "seed000006.jpg") as im:
            assert json.loads(im.info["comment"])["seed"] == 6
            assert TRAINED_ALGORITHMIC_MEDIA.encode() in im.info["xmp"]


def test_reproduce_notices_a_changed_image_and_a_different_model(tmp_path, tiny_model_file, capsys):
    out = tmp_path / "f"
    main(["generate", "--seed", "1", "--out", str(out), "--model", str(tiny_model_file("style", seed=0))])
    path = out / "seed000001.png"
    recipe = read_recipe(path)
    from facegen.provenance import save_image
    with Image.open(path) as im:
        edited = im.convert("RGB")
    edited.putpixel((0, 0), (0, 0, 0) if edited.getpixel((0, 0)) != (0, 0, 0) else (255, 255, 255))
    save_image(edited, tmp_path / "edited.png", recipe, overwrite=True)
    assert main(["reproduce", str(tmp_path / "edited.png")]) == 1
    assert "NOT identical" in capsys.readouterr().out
    other = tiny_model_file("style", seed=1)
    assert main(["reproduce", str(path), "--model", str(other)]) == 2
    assert "is not the model that made" in capsys.readouterr().err


def test_generate_never_overwrites_unless_asked(tmp_path, tiny_model_file, capsys):
    model, out = str(tiny_model_file("dcgan")), str(tmp_path)
    assert main(["generate", "--seed", "3", "--out", out, "--model", model]) == 0
    before = (tmp_path / "seed000003.png").read_bytes()
    assert main(["generate", "--seed", "3", "--out", out, "--model", model, "--truncation", "0.1"]) == 2
    assert "would overwrite" in capsys.readouterr().err
    assert (tmp_path / "seed000003.png").read_bytes() == before
    assert main(["generate", "--seed", "3", "--out", out, "--model", model, "--truncation", "0.1", "--overwrite"]) == 0
    assert (tmp_path / "seed000003.png").read_bytes() != before


@pytest.mark.parametrize("args, message", [
    (["-n", "0"], "-n must be between 1 and 10000"),
    (["-n", "100000"], "-n must be between 1 and 10000"),
    (["--truncation", "7"], "--truncation must be between -2.0 and 2.0"),
    (["--truncation", "abc"], "--truncation must be a number"),
    (["--seeds", "1,x"], "seeds must look like"),
    (["--format", "gif"], "invalid choice"),
])
def test_generate_refuses_bad_arguments(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["generate", *args])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_generate_refuses_unwritable_folder(tmp_path, tiny_model_file, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["generate", "--out", str(locked), "--model", str(tiny_model_file())]) == 2
    assert "not writable" in capsys.readouterr().err


def test_generate_refuses_output_that_is_a_file(tmp_path, tiny_model_file, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["generate", "--out", str(f), "--model", str(tiny_model_file())]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_generate_names_a_bad_model_file(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04not really")
    assert main(["generate", "--out", str(tmp_path / "o"), "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.safetensors" in err and "pickle" in err


def test_info_prints_model_config_and_image_recipe(tmp_path, tiny_model_file, capsys):
    model = tiny_model_file("style")
    assert main(["info", str(model)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["architecture"] == "style" and info["parameters"] > 0
    main(["generate", "--seed", "9", "--out", str(tmp_path), "--model", str(model)])
    capsys.readouterr()
    assert main(["info", str(tmp_path / "seed000009.png")]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 9


def test_info_on_an_image_without_recipe(tmp_path, capsys):
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    assert main(["info", str(tmp_path / "plain.png")]) == 2
    assert "plain.png: carries no facegen recipe" in capsys.readouterr().err


def test_console_script_runs_bundled_model(tmp_path):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "facegen", "generate", "-n", "2", "--seed", "1", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "seed000001.png").exists() and (tmp_path / "seed000002.png").exists()


def test_generate_refuses_a_folder_it_cannot_create(tmp_path, tiny_model_file, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["generate", "--out", str(tmp_path / "file" / "sub"), "--model", str(tiny_model_file())]) == 2
    assert "cannot create the output folder" in capsys.readouterr().err


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_reproduce_repeats_the_batch_a_face_was_made_in(tmp_path, tiny_model_file, capsys, precision):
    """Kernels round differently per batch size; the recipe names the batch so reproduce is exact."""
    out = tmp_path / "f"
    assert main(["generate", "-n", "12", "--seed", "100", "--out", str(out), "--precision", precision,
                 "--model", str(tiny_model_file("style"))]) == 0
    recipe = read_recipe(out / "seed000107.png")
    assert recipe["batch_seeds"] == list(range(100, 112)) and recipe["precision"] == precision
    assert main(["reproduce", str(out / "seed000107.png")]) == 0
    assert "identical" in capsys.readouterr().out
