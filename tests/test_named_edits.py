"""Named edit directions: the attribute classifier, boundaries in W, conditioning, layer ranges, and
their use by edit / transform / the server. Tiny random models and synthetic labels, no CelebA."""
import csv

import numpy as np
import pytest
import torch
from torch import nn

from facegen.attributes.classifier import LABELS, AttributeClassifier, AttributeNet, load_classifier
from facegen.attributes.training import evaluate, labelled_images, train_classifier
from facegen.cli import main
from facegen.data.dataset import DatasetWriter
from facegen.explore.directions import Directions, _scales, compute, load_directions, save_directions
from facegen.explore.named import (candidate_ranges, compute_named, condition, fit_boundary, held_direction, merge,
                                   model_directions, named_write_path)
from facegen.pipeline import FaceGenerator, decode_latent
from facegen.provenance import read_recipe


@pytest.fixture
def style(tiny_model_file):
    path = tiny_model_file("style", 32)
    return path, FaceGenerator.from_pretrained(path, precision="fp32")


def fake_named(pipe, rows=None) -> Directions:
    """Two named directions without a classifier: 'smile' on the coarse rows, 'age' on all."""
    g = torch.Generator().manual_seed(3)
    v = torch.randn(2, pipe.config.truncation_dim, generator=g)
    v = v / v.norm(dim=1, keepdim=True)
    info = {"attributes": {"smile": {"label": "Smiling", "layers": "coarse"}, "age": {"label": "Young", "layers": "all"}}}
    return Directions(v, torch.tensor([0.9, 0.8]), _scales(pipe, v), "named", "w", None, {"0": "smile", "1": "age"},
                      pipe.model_info(), rows if rows is not None else {"0": [0, 1, 2], "1": None}, info)


def test_classifier_saves_small_loads_the_same_and_reads_any_resolution(tmp_path):
    torch.manual_seed(0)
    clf = AttributeClassifier(AttributeNet(len(LABELS), 8).eval(), LABELS, torch.linspace(-1, 1, len(LABELS)),
                              {"note": "x"})
    path = clf.save(tmp_path / "a.safetensors")
    back = load_classifier(path)
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    assert back.labels == LABELS and back.meta["note"] == "x"
    assert torch.allclose(back.logits(x), clf.logits(x), atol=2e-2)  # stored as float16
    for size in (32, 128):
        assert back.logits(torch.rand(2, 3, size, size)).shape == (2, len(LABELS))
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a facegen attribute classifier"):
        load_classifier(tmp_path / "bad.safetensors")


def test_classifier_learns_labels_from_a_prepared_dataset(tmp_path):
    """Through the project's data tools: a dataset folder plus a CelebA-style CSV; 'Smiling' is a
    bright top half, 'Male' a red picture, and the rest noise."""
    rng = np.random.default_rng(0)
    n = 240
    truth = rng.random((n, 2)) < 0.4
    with DatasetWriter(tmp_path / "ds", 64) as w:
        for smile, red in truth:
            img = rng.integers(60, 120, (64, 64, 3)).astype(np.uint8)
            if smile:
                img[:32] += 100
            if red:
                img[..., 0] = 230
            w.add(img)
        w.commit({"source": "synthetic", "aligned": True, "items": [{"source": f"{i}.jpg"} for i in range(n)]}, {})
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["file", *LABELS])
        for i, (smile, red) in enumerate(truth):
            row = [rng.choice(["1", "-1"]) for _ in LABELS]
            row[LABELS.index("Smiling")] = "1" if smile else "-1"
            row[LABELS.index("Male")] = "1" if red else "-1"
            out.writerow([f"{i}.jpg", *row])
    images, labels = labelled_images(tmp_path / "ds", tmp_path / "labels.csv")
    assert images.shape == (n, 64, 64, 3) and labels.shape == (n, len(LABELS))
    clf = train_classifier(images[:200], labels[:200], epochs=4, width=8, log=lambda _: None)
    table = evaluate(clf, images[200:], labels[200:])
    assert table["Smiling"]["balanced_accuracy"] > 0.9 and table["Male"]["balanced_accuracy"] > 0.9
    assert table["Bald"]["balanced_accuracy"] < 0.8  # noise stays noise


def test_boundary_finds_the_normal_and_conditioning_holds_the_others():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3000, 16, generator=g) * 2 + 1
    u = torch.zeros(16)
    u[0] = 1.0
    v = torch.zeros(16)
    v[0], v[1] = 0.6, 0.8  # correlated with u, not tied to it
    ya, yb = ((w - 1) @ u > 0.3).float(), ((w - 1) @ v > 0).float()
    na, acc = fit_boundary(w, ya)
    nb, _ = fit_boundary(w, yb)
    assert float(na @ u) > 0.97 and acc > 0.95
    both, held = condition(torch.stack([na, nb]), torch.stack([ya, yb], 1))
    assert held == [[1], [0]]
    assert abs(float(both[0] @ nb)) < 1e-5 and abs(float(both[1] @ na)) < 1e-5  # crosses no other boundary
    assert torch.allclose(both.norm(dim=1), torch.ones(2)) and float(both[0] @ u) > 0.5
    tied, held = condition(torch.stack([na, na * 0.99 + nb * 0.01]), torch.stack([ya, ya], 1))
    assert held == [[], []] and torch.allclose(tied[0], na)  # the same attribute twice: not held apart


def test_held_direction_keeps_the_others_still_and_stays_where_faces_vary():
    """Attribute 0's score rises along e0 + e1, attribute 1's along e1 (same on every face)."""
    d = 6
    jac = torch.zeros(50, 2, 1, d)
    jac[:, 0, 0, :2] = 1.0
    jac[:, 1, 0, 1] = 1.0
    probs = torch.full((50, 2), 0.5)
    even = torch.eye(d, dtype=torch.float64)
    held = held_direction(jac, probs, 0, None, 1e-6, even)
    assert abs(float(held[1])) < 1e-3 and float(held[0]) > 0.999  # crosses attribute 1 not at all
    free = held_direction(jac, probs, 0, None, 1e6, even)
    assert torch.allclose(free, torch.tensor([1.0, 1.0, 0, 0, 0, 0]) / 2 ** 0.5, atol=1e-3)  # its own gradient
    # Faces hardly vary along e0: leaning on where they vary turns the step toward e1.
    narrow = torch.diag(torch.tensor([1e4, 1, 1, 1, 1, 1], dtype=torch.float64))  # inverse covariance
    assert float(held_direction(jac, probs, 0, None, 1e6, narrow)[1]) > 0.99
    # Rows: a step on rows 1 and 2 of a w+ is scored by the sum of those rows' gradients.
    rows = torch.zeros(50, 2, 3, d)
    rows[:, 0, 2, 3] = 1.0
    rows[:, 1, 0, 3] = 1.0  # attribute 1 reads row 0 only: untouched by a step on rows 1-2
    assert float(held_direction(rows, probs, 0, [1, 2], 1e-6, even)[3]) > 0.999


class Brightness(nn.Module):
    """A stand-in classifier: 'Smiling' = bright, 'Young' = red over blue, 'Eyeglasses' = top over bottom."""

    def forward(self, x):
        return torch.stack([x.mean((1, 2, 3)) * 20, (x[:, 0] - x[:, 2]).mean((1, 2)) * 20,
                            (x[:, :, :32].mean((1, 2, 3)) - x[:, :, 32:].mean((1, 2, 3))) * 20], 1)


def entangled_start(pipe):
    """The stand-in classifier, 600 sample faces and its scores, a start that makes faces brighter
    ('Smiling') and redder ('Young') at once, and the spread of random faces' w."""
    from facegen.explore import named
    from facegen.explore.faces import w_samples

    clf = AttributeClassifier(Brightness(), ("Smiling", "Young", "Eyeglasses"), torch.zeros(3), {})
    ws = named.sample_latents(pipe, 600, 1)
    clf.thresholds = named.classify(pipe, clf, ws).median(0).values
    scores = named.classify(pipe, clf, ws)
    normals = [fit_boundary(ws, (scores[:, c] > 0).float())[0] for c in range(2)]
    start = (normals[0] + normals[1]) / (normals[0] + normals[1]).norm()
    return clf, ws, scores, start, torch.cov(w_samples(pipe).double().T)


def test_refining_learns_to_leave_the_other_attributes_alone(style):
    """The entangled start refined on one half of the faces: on the other half it still brightens
    them as often and reddens them less."""
    from facegen.explore import named
    from facegen.explore.refine import refine

    _, pipe = style
    clf, ws, scores, start, spread = entangled_start(pipe)
    new = refine(pipe, clf, ws[300:], scores[300:], 0, [0, 1, 2], [1, 1, 1], start, None, spread, steps=60)
    assert abs(float(new.norm()) - 1) < 1e-5 and float(new @ start) < 0.999

    def trial(v):
        return named.trial(pipe, clf, ws[:300], scores[:300], v, float(_scales(pipe, v[None])[0]), 0, 1, [1, 2], None)

    before, after = trial(start), trial(new)
    assert after["focus"] < 0.7 * before["focus"], (before, after)
    assert after["weaker"] >= 0.9 * before["weaker"], (before, after)
    # No faces on one side: nothing to learn from, the direction comes back as it was.
    assert torch.equal(refine(pipe, clf, ws, scores.abs() + 1, 0, [0, 1, 2], [1, 1, 1], start, None, spread), start)


def test_refining_per_row_holds_the_others_better_and_edits_use_its_rows(style, tmp_path):
    """The same entangled start refined with a vector per w+ row (on the coarse rows): a move of one
    standard deviation per row, zero off its rows, that holds 'Young' better than the start on faces
    it did not see; saved and loaded, edit sheets, transform and the server move by it."""
    from facegen.explore import named
    from facegen.explore.directions import OWN, apply_edit, edit
    from facegen.explore.faces import resolve_faces
    from facegen.explore.refine import refine

    path, pipe = style
    num_ws, rows = pipe.config.num_ws, [0, 1, 2]
    clf, ws, scores, start, spread = entangled_start(pipe)
    step = refine(pipe, clf, ws[300:], scores[300:], 0, [0, 1, 2], [1, 1, 1], start, rows, spread,
                  per_row=True, steps=60)
    assert step.shape == (num_ws, len(start)) and not step[3:].any()
    sigma = _scales(pipe, step[:3] / step[:3].norm(dim=1, keepdim=True))
    assert torch.allclose(step[:3].norm(dim=1), sigma, rtol=1e-4)  # each row: 1 sigma along its own vector
    assert not torch.allclose(step[0] / step[0].norm(), step[2] / step[2].norm(), atol=1e-3)
    # Nothing to learn from (no faces on one side): the start itself, as a w+ step on its rows.
    same = refine(pipe, clf, ws, scores.abs() + 1, 0, [0, 1, 2], [1, 1, 1], start, rows, spread, per_row=True)
    assert torch.allclose(same[:3], float(_scales(pipe, start[None])[0]) * start.expand(3, -1), rtol=1e-3)
    assert not same[3:].any()
    # A second pass goes on from the first's w+ step (its rows off `rows` are zero).
    again = refine(pipe, clf, ws[300:], scores[300:], 0, [0, 1, 2], [1, 1, 1], step, rows, spread,
                   per_row=True, steps=3)
    assert torch.isfinite(again).all() and not again[3:].any() and 0 < float((again - step).norm()) < float(step.norm())

    def trial(v, s, r):
        return named.trial(pipe, clf, ws[:300], scores[:300], v, s, 0, 1, [1, 2], r)

    before = trial(start, float(_scales(pipe, start[None])[0]), rows)
    after = trial(step, 1.0, None)
    assert after["focus"] < 0.7 * before["focus"] and after["weaker"] >= 0.9 * before["weaker"], (before, after)

    # In a file, beside a plain direction; edits by name move by the rows' own vectors.
    d = fake_named(pipe)
    scale = float(d.scales[0])
    d.row_vectors = {"0": step / scale}
    file = save_directions(d, named_write_path(str(path)))
    back = load_directions(file, pipe)
    assert torch.equal(back.row_vectors["0"], step / scale) and set(back.row_vectors) == {"0"}
    assert torch.equal(back.row_vector(0, num_ws), step / scale) and back.row_vector(1, num_ws).dim() == 1
    face = resolve_faces(["5"], pipe)[0]
    want = apply_edit(face.w.float(), step, 1.0, 2.0, None, num_ws)
    image, recipe = edit(pipe, face, back, ["smile", "age"], [2.0], OWN)
    assert recipe["layers"] == [[0, 1, 2], None]
    assert torch.allclose(decode_latent(recipe["vectors"])[0] * scale, step, atol=1e-6)
    out = tmp_path / "t.png"
    assert main(["transform", "5", "--direction", "smile", "--strength", "2", "--out", str(out),
                 "--model", str(path), "--precision", "fp32"]) == 0
    assert torch.allclose(decode_latent(read_recipe(out)["latent"])[0], want, atol=1e-5)
    assert main(["reproduce", str(out), "--model", str(path)]) == 0
    # A per-row tensor for another model's rows, or for a direction the file lacks, is refused.
    for bad in ({"0": step[:2] / scale}, {"7": step / scale}):
        d.row_vectors = bad
        save_directions(d, tmp_path / "bad.safetensors", overwrite=True)
        with pytest.raises(ValueError, match="per-row vectors"):
            load_directions(tmp_path / "bad.safetensors", pipe)


@pytest.mark.parametrize("resolution", [32, 128])
def test_compute_named_on_a_tiny_model_finds_directions_that_do_what_they_say(resolution, tiny_model_file,
                                                                             monkeypatch, tmp_path):
    import facegen.explore.named as named

    monkeypatch.setattr(named, "TRIAL_FACES", 12)
    monkeypatch.setattr("facegen.explore.refine.STEPS", 8)
    monkeypatch.setattr("facegen.explore.refine.STEPS_PER_ROW", 8)
    extra = {"channels": [32, 32, 16, 16, 8, 8]} if resolution == 128 else {}
    pipe = FaceGenerator.from_pretrained(tiny_model_file("style", resolution, **extra), precision="fp32")
    assert pipe.config.resolution == resolution
    ws = named.sample_latents(pipe, 400, 1)
    clf = AttributeClassifier(Brightness(), ("Smiling", "Young", "Eyeglasses"), torch.zeros(3), {})
    clf.thresholds = named.classify(pipe, clf, ws).median(0).values  # about half of the faces have each
    d = named.compute_named(pipe, clf, samples=400, names=["smile", "age", "glasses"], log=lambda _: None)
    assert set(d.names.values()) <= {"smile", "age", "glasses"} and len(d.names) >= 2
    assert torch.allclose(d.vectors.norm(dim=1), torch.ones(len(d.vectors)), atol=1e-5)
    ranges = list(candidate_ranges(pipe.config).values())
    for k, name in d.names.items():
        about = d.info["attributes"][name]
        assert d.rows[k] in ranges and about["layers"] in candidate_ranges(pipe.config)
        assert name not in about["conditioned_on"]
        assert set(about["refining"]) == {"as found", *named.REFINEMENTS}
        assert set(about["refining_rows"]) == {"so far", named.ROW_REFINEMENT}
        trial = about["trials"][about["layers"]]
        assert trial["flip"] > 0.5 and trial["change"] > 0
    # "age" (Young) is the slider's minus: moving it + makes the stand-in's "Young" score fall.
    k = d.index("age") if "age" in d.names.values() else None
    if k is not None:
        w0 = ws[:50]
        moved = torch.stack([named.apply_edit(w, d.row_vector(k, pipe.config.num_ws), float(d.scales[k]), 2.0,
                                              None, pipe.config.num_ws) for w in w0])
        col = 1
        assert float((named.classify(pipe, clf, moved)[:, col] - named.classify(pipe, clf, w0)[:, col]).mean()) < 0
    save_directions(d, tmp_path / "n.safetensors")
    back = load_directions(tmp_path / "n.safetensors", pipe)
    assert back.rows == d.rows and back.names == d.names and back.info["attributes"].keys() == d.info["attributes"].keys()
    assert back.row_vectors.keys() == d.row_vectors.keys()
    assert all(torch.equal(back.row_vectors[k], v) for k, v in d.row_vectors.items())


def test_compute_named_on_dcgan_moves_z_on_every_layer(tiny_model_file, monkeypatch):
    import facegen.explore.named as named

    monkeypatch.setattr(named, "TRIAL_FACES", 8)
    monkeypatch.setattr("facegen.explore.refine.STEPS", 8)
    monkeypatch.setattr(named, "MIN_BOUNDARY", 0.6)  # a random DCGAN's brightness is far from linear in z
    pipe = FaceGenerator.from_pretrained(tiny_model_file("dcgan", 32, seed=1), precision="fp32")
    with torch.no_grad():
        for m in pipe.model.modules():  # a fresh DCGAN draws flat grey; louder weights give pictures
            if isinstance(m, nn.ConvTranspose2d):
                m.weight.mul_(40)
    clf = AttributeClassifier(Brightness(), ("Smiling", "Young", "Eyeglasses"), torch.zeros(3), {})
    clf.thresholds = named.classify(pipe, clf, named.sample_latents(pipe, 1500, 1)).median(0).values
    d = named.compute_named(pipe, clf, samples=1500, names=["smile", "age"], log=lambda _: None)
    assert d.space == "z" and d.vectors.shape[1] == pipe.config.latent_dim
    assert all(r is None for r in d.rows.values()) and d.layers_of(0) is None


def test_named_directions_beside_a_model_work_in_edit_transform_and_with_sefa(style, tmp_path, capsys):
    path, pipe = style
    m = ["--model", str(path), "--precision", "fp32"]
    save_directions(fake_named(pipe), named_write_path(str(path)))
    out = tmp_path / "smile.png"
    # Named directions alone, no SeFa file yet.
    assert main(["edit", "5", "--direction", "smile", "--strength", "-2,0,2", "--out", str(out)] + m) == 0
    recipe = read_recipe(out)
    assert recipe["layers"] == [0, 1, 2] and recipe["directions"] == [0]
    assert main(["reproduce", str(out), "--model", str(path)]) == 0
    sheet = tmp_path / "both.png"
    assert main(["edit", "5", "--direction", "smile", "--direction", "age", "--strength", "1",
                 "--out", str(sheet)] + m) == 0
    assert read_recipe(sheet)["layers"] == [[0, 1, 2], None]  # each on its own rows
    assert main(["reproduce", str(sheet), "--model", str(path)]) == 0
    # With SeFa directions too: their numbers stay, the names resolve to the named ones after them.
    assert main(["directions", str(path), "--top", "6", "--precision", "fp32"]) == 0
    d = model_directions(pipe, str(path))
    sefa = load_directions(tmp_path / f"{path.stem}.directions.safetensors")
    assert torch.equal(d.vectors[:6], sefa.vectors) and d.index("smile") == 6 and d.index("AGE") == 7
    assert d.layers_of(6) == [0, 1, 2] and d.layers_of(7) is None and d.layers_of(0) is None
    assert main(["edit", "5", "--direction", "smile", "--direction", "0", "--strength", "2",
                 "--out", str(tmp_path / "mixed.png")] + m) == 0
    t = tmp_path / "t.png"
    assert main(["transform", "5", "--direction", "smile", "--strength", "3", "--out", str(t)] + m) == 0
    w = decode_latent(read_recipe(t)["latent"])[0]
    base = pipe.mapping(pipe.model.sample_z([5]), 1.0)[0]
    assert not torch.allclose(w[0], base) and torch.allclose(w[3:], base.expand(pipe.config.num_ws - 3, -1))
    capsys.readouterr()
    assert main(["edit", "5", "--direction", "frown", "--out", str(tmp_path / "x.png")] + m) == 2
    err = capsys.readouterr().err
    assert "unknown direction 'frown'" in err and "smile" in err


def test_merge_keeps_numbers_and_lets_named_win_a_name_clash(style):
    _, pipe = style
    sefa = compute(pipe, "sefa", layers=[0, 1], top=4)
    sefa.names = {"1": "smile", "2": "pose"}
    named = fake_named(pipe)
    named.row_vectors = {"1": torch.ones(pipe.config.num_ws, pipe.config.truncation_dim)}
    d = merge(sefa, named)
    assert d.index("pose") == 2 and d.index("smile") == 4 and d.index("3") == 3
    assert d.layers_of(1) == [0, 1] and d.layers_of(4) == [0, 1, 2] and d.layers_of(5) is None
    assert set(d.row_vectors) == {"5"} and torch.equal(d.row_vector(5, pipe.config.num_ws), named.row_vectors["1"])


def test_directions_named_cli_refuses_to_overwrite_and_names_unknown_attributes(style, tmp_path, capsys):
    path, _ = style
    target = tmp_path / "n.safetensors"
    target.write_bytes(b"x")
    assert main(["directions", str(path), "--named", "--directions", str(target), "--precision", "fp32"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["directions", str(path), "--named", "--directions", str(tmp_path / "m.safetensors"),
                 "--attributes", "smile,wings", "--precision", "fp32"]) == 2
    assert "unknown attribute 'wings'" in capsys.readouterr().err


def test_server_names_sliders_and_edits_only_a_directions_rows(tiny_model_file):
    pytest.importorskip("fastapi")
    import warnings

    with warnings.catch_warnings():  # Starlette's test client warns that it will move to httpx2
        warnings.simplefilter("ignore", DeprecationWarning)
        from fastapi.testclient import TestClient

    from facegen.server import create_app

    path = tiny_model_file("style")
    pipe = FaceGenerator.from_pretrained(path, precision="fp32")
    save_directions(fake_named(pipe), named_write_path(str(path)))
    with TestClient(create_app(path)) as c:
        info = c.get("/v1/model").json()["directions"]
        assert [(n["name"], n["layers"]) for n in info["named"]] == [("smile", "coarse"), ("age", "all")]
        k = info["named"][0]["index"]
        assert info["count"] == k + 2  # SeFa computed at start, numbered first
        r = c.post("/v1/edit", json={"face": {"seed": 4}, "edits": [{"direction": "smile", "strength": 2}]}).json()
        w = decode_latent(r["face"]["w"])
        base = pipe.mapping(pipe.model.sample_z([4]), 1.0)[0]
        moved = (w - base).norm(dim=1)
        assert (moved[:3] > 1e-3).all() and (moved[3:] < 1e-6).all()
        t = c.post("/v1/transform", json={"face": {"seed": 4}, "direction": "age", "strength": 1.5})
        assert t.status_code == 200


def test_named_directions_of_a_replaced_model_warn_and_leave_numbered_edits_working(tiny_model_file):
    old = FaceGenerator.from_pretrained(tiny_model_file("style", 32, seed=1), precision="fp32")
    path = tiny_model_file("style", 32, seed=2)
    pipe = FaceGenerator.from_pretrained(path, precision="fp32")
    save_directions(fake_named(old), named_write_path(str(path)))
    with pytest.warns(UserWarning, match="--named"):
        d = model_directions(pipe, str(path), compute_sefa=True)
    assert d.method == "sefa" and "smile" not in d.names.values() and len(d.vectors) == 16
    with pytest.raises(FileNotFoundError, match="--named"), pytest.warns(UserWarning):
        model_directions(pipe, str(path))


def test_the_bundled_default_ships_named_directions_that_edit_by_name(tmp_path, monkeypatch):
    from PIL import Image

    from facegen.explore.named import named_path

    monkeypatch.setenv("FACEGEN_HOME", str(tmp_path / "home"))  # no user copy in the way
    pipe = FaceGenerator.from_pretrained("default", precision="fp32")
    path = named_path("default")
    assert path.parent.name == "assets"
    # Refused when default.safetensors was replaced: recompute with the README's one command.
    d = load_directions(path, pipe)
    assert len(d.names) >= 12 and {"smile", "age", "masculine", "blond-hair"} <= set(d.names.values())
    out = tmp_path / "smile.png"
    assert main(["edit", "1", "--direction", "smile", "--strength", "-2,0,2", "--model", "default",
                 "--out", str(out)]) == 0
    strip = np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)
    side = pipe.config.resolution
    tiles = [strip[2:2 + side, 2 + i * (side + 2):2 + i * (side + 2) + side] for i in range(3)]
    assert np.abs(tiles[0] - tiles[2]).mean() > 3  # the two ends are different pictures
    clf = load_classifier()
    smile = clf.index("Smiling")
    ws = pipe.mapping(pipe.model.sample_z(list(range(2000, 2016))), 1.0)
    k = d.index("smile")
    moved = torch.stack([named_apply(w, d, k, 2.0, pipe) for w in ws])
    from facegen.explore.named import classify
    assert float((classify(pipe, clf, moved)[:, smile] - classify(pipe, clf, ws)[:, smile]).mean()) > 1.0


def named_apply(w, d, k, strength, pipe):
    from facegen.explore.directions import apply_edit

    return apply_edit(w, d.vectors[k], float(d.scales[k]), strength, d.layers_of(k), pipe.config.num_ws)
