"""`facegen prepare`: real face photos in, aligned crops out; every bad file skipped with its reason."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bad_images import bomb_png
from facegen.cli import main
from facegen.data import dataset as dataset_mod
from facegen.data.dataset import DatasetWriter, load_dataset
from facegen.data.prepare import Options, prepare

# A public-domain NASA photograph (astronaut Eileen Collins), as shipped by scikit-image; see tests/data/README.md.
FACE = Path(__file__).parent / "data" / "astronaut.jpg"


def face() -> Image.Image:
    return Image.open(FACE).convert("RGB")


def jpeg_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()




def exif_rotated(im: Image.Image) -> bytes:
    """The photo stored sideways, with EXIF orientation 6 ("rotate 90° clockwise to view")."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg_bytes(im.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def reasons(report) -> dict[str, str]:
    return {s["file"]: s["reason"] for s in report["skipped_files"]}


@pytest.fixture
def photos(tmp_path) -> Path:
    """Good photos in unusual encodings beside broken and hostile files."""
    src = tmp_path / "photos"
    (src / "album").mkdir(parents=True)
    im = face()
    mirrored = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    (src / "face.jpg").write_bytes(FACE.read_bytes())
    (src / "album" / "rotated.jpg").write_bytes(exif_rotated(mirrored))
    (src / "album" / "sideways_no_exif.jpg").write_bytes(jpeg_bytes(mirrored.transpose(Image.Transpose.ROTATE_90)))
    im.convert("CMYK").save(src / "cmyk.jpg", quality=92)
    grey16 = (np.asarray(im.convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(grey16).save(src / "grey16.png")
    rgba = mirrored.convert("RGBA")
    rgba.putalpha(255)
    rgba.save(src / "rgba.webp", lossless=True)
    mirrored.quantize(256).save(src / "palette.bmp")
    (src / "truncated.jpg").write_bytes(FACE.read_bytes()[: FACE.stat().st_size * 2 // 3])
    (src / "notes.jpg").write_text("not a photo, just a text file with the wrong name\n")
    (src / "empty.png").write_bytes(b"")
    (src / "bomb.png").write_bytes(bomb_png())
    Image.new("RGB", (12, 12), (90, 60, 40)).save(src / "tiny.png")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(src / "noise.png")
    (src / "album" / "readme.txt").write_text("not an image by name: ignored, listed\n")
    return src


def test_hostile_and_unusual_files_are_reported_and_good_ones_aligned(photos, tmp_path):
    before = tree_digest(photos)
    out = tmp_path / "ds"
    report = prepare(photos, out, Options(size=64), workers=1, progress=False, near_threshold=-1)

    assert reasons(report) == {
        "truncated.jpg": "truncated",
        "notes.jpg": "not an image",
        "empty.png": "not an image",
        "bomb.png": "decompression bomb",
        "tiny.png": "too small",
        "noise.png": "no face found",
    }
    assert "30000x30000" in next(s["detail"] for s in report["skipped_files"] if s["file"] == "bomb.png")
    assert report["ignored_files"] == ["album/readme.txt"]
    ds = load_dataset(out)
    assert ds.size == 64 and ds.images.shape == (len(ds), 64, 64, 3) and ds.images.dtype == np.uint8
    by_source = {it["source"]: i for i, it in enumerate(ds.meta["items"])}
    assert set(by_source) == {"face.jpg", "album/rotated.jpg", "album/sideways_no_exif.jpg", "cmyk.jpg",
                              "grey16.png", "rgba.webp", "palette.bmp"}
    assert report["images"] == len(ds) == 7 and report["eyes_estimated"] == 0

    def crop(name):
        return ds.images[by_source[name]].astype(np.float32)

    # The same face decoded from other encodings gives the same aligned crop, within compression noise.
    reference = crop("face.jpg")
    assert np.abs(crop("cmyk.jpg") - reference).mean() < 12
    grey = reference @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    assert np.abs(crop("grey16.png")[..., 0] - grey).mean() < 12  # scaled from 16 bits, not clipped to white
    # The mirrored photo stored sideways with an EXIF flag aligns like the same photo stored upright.
    assert np.abs(crop("album/rotated.jpg") - crop("rgba.webp")).mean() < 8
    assert np.abs(crop("palette.bmp") - crop("rgba.webp")).mean() < 12
    # The EXIF-rotated photo was turned upright before detection: its eyes are level.
    (lx, ly), (rx, ry) = ds.meta["items"][by_source["album/rotated.jpg"]]["eyes"]
    assert rx - lx > 25 and abs(ry - ly) < 0.15 * (rx - lx)
    # The same photo stored sideways without the flag: the landmark detector finds the face lying on
    # its side (eyes one above the other) and the alignment turns it upright.
    (lx, ly), (rx, ry) = ds.meta["items"][by_source["album/sideways_no_exif.jpg"]]["eyes"]
    assert abs(ry - ly) > 25 and abs(rx - lx) < 0.15 * abs(ry - ly)
    assert np.abs(crop("album/sideways_no_exif.jpg") - crop("rgba.webp")).mean() < 8
    assert tree_digest(photos) == before  # SRC untouched
    assert (out / "preview.png").is_file() and json.loads((out / "report.json").read_text()) == report


def test_duplicates_exact_and_near(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    im = face()
    (src / "a.jpg").write_bytes(FACE.read_bytes())
    (src / "b_copy.jpg").write_bytes(FACE.read_bytes())
    (src / "c_resaved.jpg").write_bytes(jpeg_bytes(im.resize((200, 200), Image.LANCZOS)))
    (src / "d_mirrored.jpg").write_bytes(jpeg_bytes(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    report = prepare(src, tmp_path / "out", Options(size=64), workers=1, progress=False)
    assert reasons(report) == {"b_copy.jpg": "duplicate", "c_resaved.jpg": "near duplicate"}
    details = {s["file"]: s["detail"] for s in report["skipped_files"]}
    assert "a.jpg" in details["b_copy.jpg"] and "a.jpg" in details["c_resaved.jpg"]
    assert load_dataset(tmp_path / "out").sources == ["a.jpg", "d_mirrored.jpg"]


def test_several_faces_in_one_photo_give_several_crops(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    im = face()
    group = Image.new("RGB", (im.width * 2 + 40, im.height + 20), (200, 200, 200))
    group.paste(im, (0, 10))
    group.paste(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (im.width + 40, 10))
    group.save(src / "two.png")
    report = prepare(src, tmp_path / "out", Options(size=32), workers=2, progress=False)
    ds = load_dataset(tmp_path / "out")
    assert len(ds) == 2 and ds.sources == ["two.png", "two.png"] and report["files_with_faces"] == 1
    boxes = sorted(it["box"][0] for it in ds.meta["items"])
    assert boxes[0] < im.width < boxes[1]


def test_aligned_keeps_images_as_they_are(tmp_path):
    src = tmp_path / "crops"
    src.mkdir()
    rng = np.random.default_rng(1)
    arrays = [rng.integers(0, 255, (218, 178, 3), dtype=np.uint8) for _ in range(5)]
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(src / f"{i:03d}.png")
    Image.fromarray(arrays[0][:12, :12]).save(src / "small.png")
    report = prepare(src, tmp_path / "out", Options(size=32, aligned=True), workers=2, progress=False)
    ds = load_dataset(tmp_path / "out")
    assert len(ds) == 5 and ds.sources == [f"{i:03d}.png" for i in range(5)]
    assert reasons(report) == {"small.png": "too small"}
    # Centre square (178 x 178 from 20 px down), area-averaged to 32 x 32.
    centre = Image.fromarray(arrays[3][20:198]).resize((32, 32), Image.BOX)
    assert np.abs(ds.images[3].astype(int) - np.asarray(centre, dtype=int)).mean() < 4
    assert isinstance(ds.images, np.memmap) and not ds.images.flags.writeable


def test_interrupted_run_leaves_nothing_and_keeps_the_old_dataset(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(2)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(src / f"{i}.png")
    out = tmp_path / "out"
    calls = []

    def add_then_die(self, crop):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, crop)

    original = DatasetWriter.add
    monkeypatch.setattr(DatasetWriter, "add", add_then_die)
    with pytest.raises(KeyboardInterrupt):
        prepare(src, out, Options(size=32, aligned=True), workers=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no OUT, no hidden temp folder

    monkeypatch.setattr(DatasetWriter, "add", original)
    prepare(src, out, Options(size=32, aligned=True), workers=1, progress=False)
    assert len(load_dataset(out)) == 4
    with pytest.raises(FileExistsError, match="--overwrite"):
        prepare(src, out, Options(size=32, aligned=True), workers=1, progress=False)
    calls.clear()
    monkeypatch.setattr(DatasetWriter, "add", add_then_die)
    with pytest.raises(KeyboardInterrupt):
        prepare(src, out, Options(size=64, aligned=True), overwrite=True, workers=1, progress=False)
    ds = load_dataset(out)  # the old dataset is still whole
    assert len(ds) == 4 and ds.size == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_refuses_dangerous_outputs(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(src / "a.png")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not a facegen dataset"):
        prepare(src, tmp_path / "mine", Options(size=32, aligned=True), overwrite=True, progress=False)
    with pytest.raises(ValueError, match="inside the photo folder"):
        prepare(src, src / "ds", Options(size=32, aligned=True), progress=False)
    with pytest.raises(ValueError, match="would delete"):
        prepare(src, tmp_path, Options(size=32, aligned=True), overwrite=True, progress=False)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        prepare(tmp_path / "nope", tmp_path / "ds", Options(size=32), progress=False)
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "precious"


def test_load_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such dataset"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="folder"):
        load_dataset(tmp_path / "file")
    (tmp_path / "photos").mkdir()
    with pytest.raises(ValueError, match="dataset.json is missing"):
        load_dataset(tmp_path / "photos")

    def make(n, size=32, **meta_changes):
        out = tmp_path / f"ds{len(list(tmp_path.iterdir()))}"
        with DatasetWriter(out, size) as w:
            for _ in range(n):
                w.add(np.zeros((size, size, 3), np.uint8))
            w.commit({"source": "test"}, {})
        if meta_changes:
            meta = json.loads((out / "dataset.json").read_text())
            meta.update(meta_changes)
            (out / "dataset.json").write_text(json.dumps(meta))
        return out

    assert len(load_dataset(make(3))) == 3
    with pytest.raises(ValueError, match="empty"):
        load_dataset(make(0))
    with pytest.raises(ValueError, match="version 99 is not supported"):
        load_dataset(make(2, version=99))
    with pytest.raises(ValueError, match=r"expected uint8 \(5, 32, 32, 3\)"):
        load_dataset(make(2, count=5))
    pickled = make(2)
    np.save(pickled / "images.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="images.npy"):
        load_dataset(pickled)
    assert dataset_mod.VERSION == 1


def test_cli_prepare(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "face.jpg").write_bytes(FACE.read_bytes())
    (src / "notes.jpg").write_text("hello")
    out = tmp_path / "out"
    assert main(["prepare", str(src), str(out), "--size", "32", "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "1 faces at 32x32" in text and "not an image: notes.jpg" in text
    assert main(["prepare", str(src), str(out), "--size", "32"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["prepare", str(src), str(out), "--size", "32", "--aligned", "--overwrite", "--workers", "1"]) == 0
    assert len(load_dataset(out)) == 1


def test_aligned_crop_fraction_frames_tighter(tmp_path):
    """--crop keeps the centred share of the shorter side: a centred square marker grows to fill it."""
    import numpy as np
    from PIL import Image

    from facegen.data.dataset import load_dataset
    from facegen.data.prepare import Options, prepare

    src = tmp_path / "src"
    src.mkdir()
    img = np.zeros((200, 160, 3), np.uint8)
    img[40:160, 20:140] = 255  # a white square covering the central 120 of the 160 columns
    Image.fromarray(img).save(src / "a.png")
    full = prepare(src, tmp_path / "full", Options(size=32, aligned=True), progress=False)
    tight = prepare(src, tmp_path / "tight", Options(size=32, aligned=True, crop=0.75), progress=False)
    assert full["images"] == tight["images"] == 1
    white_full = (load_dataset(tmp_path / "full").images[0] > 128).mean()
    white_tight = (load_dataset(tmp_path / "tight").images[0] > 128).mean()
    assert white_tight > 0.97 and white_full < 0.6
