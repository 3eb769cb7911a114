"""Explore tools on tiny random models: faces as latents, morphs, breeding, directions, transforms."""
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from facegen.cli import main
from facegen.explore import (FaceRefError, StyleOnlyError, breed, edit, layer_groups, lerp, mixing_grid, morph,
                             resolve_face, save_latent, slerp, transform, write_gif)
from facegen.explore.directions import (apply_edit, compute, load_directions, parse_strengths, save_directions,
                                        sefa_matrix)
from facegen.explore.faces import average_w, typical_radius, w_samples
from facegen.explore.morph import positions, read_video, write_mp4
from facegen.explore.transform import MAX_RADIUS, is_blank
from facegen.models import GeneratorConfig
from facegen.pipeline import FaceGenerator
from facegen.provenance import read_recipe
from facegen.recipes import render

# Batched CPU convolutions round a little differently at different batch sizes (one grey level in
# fp32), so images made in a batch are compared with single ones within this; re-makes of the
# same output batch identically and are compared exactly.
BATCH_TOL = 2


@pytest.fixture
def style(tiny_model_file):
    path = tiny_model_file("style", 32)
    return path, FaceGenerator.from_pretrained(path, precision="fp32")


@pytest.fixture
def dcgan(tiny_model_file):
    # A freshly initialised DCGAN draws almost flat grey (weights ~0.02); louder weights give pictures.
    path = tiny_model_file("dcgan", 32, seed=1)
    model = FaceGenerator.from_pretrained(path).model
    with torch.no_grad():
        for m in model.net:
            if isinstance(m, torch.nn.ConvTranspose2d):
                m.weight.mul_(40)
    model.save_pretrained(path)
    return path, FaceGenerator.from_pretrained(path, precision="fp32")


def arr(im):
    return np.asarray(im, dtype=np.int16)


def close(a, b, tol=BATCH_TOL):
    return a.size == b.size and int(np.abs(arr(a) - arr(b)).max()) <= tol


# --- interpolation -----------------------------------------------------------------------------

def test_slerp_endpoints_exact_and_norm_preserved():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, generator=g), torch.randn(64, generator=g)
    b = b * (a.norm() / b.norm())
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    for t in (0.1, 0.25, 0.5, 0.9):
        assert torch.isclose(slerp(a, b, t).norm(), a.norm(), rtol=1e-5)
    # The angle moves evenly: the midpoint is equally far (in angle) from both ends.
    m = slerp(a, b, 0.5)
    assert torch.isclose(torch.cosine_similarity(m, a, 0), torch.cosine_similarity(m, b, 0), atol=1e-5)
    # Unequal norms: the radius goes linearly; parallel vectors do not divide by zero.
    assert torch.isclose(slerp(a, 3 * a, 0.5).norm(), 2 * a.norm(), rtol=1e-5)
    assert torch.isfinite(slerp(a, a, 0.3)).all()
    assert torch.equal(lerp(a, b, 0.0), a) and torch.equal(lerp(a, b, 1.0), b)


def test_positions_cover_path():
    assert positions(2, 5, False)[0] == (0, 0.0) and positions(2, 5, False)[-1] == (0, 1.0)
    loop = positions(2, 4, True)
    assert [s for s, _ in loop] == [0, 0, 1, 1] and loop[2] == (1, 0.0)  # half-way: the second face


def test_morph_frames_and_endpoints(style):
    _, pipe = style
    a, b = resolve_face("3", pipe), resolve_face("seed:8", pipe)
    result = morph(pipe, [a, b], frames=9)
    assert len(result.images) == 9
    assert torch.equal(result.ws[0], a.w) and torch.equal(result.ws[-1], b.w)
    direct = pipe(seeds=[3, 8]).images
    assert close(result.images[0], direct[0]) and close(result.images[-1], direct[1])
    z = morph(pipe, [a, b], frames=5, space="z")
    assert torch.equal(z.ws[0], a.w) and torch.equal(z.ws[-1], b.w)


def test_gif_and_mp4_frame_count_and_rate(style, tmp_path):
    _, pipe = style
    a, b = resolve_face("1", pipe), resolve_face("2", pipe)
    frames = morph(pipe, [a, b], frames=12).images
    fps = write_gif(frames, tmp_path / "m.gif", fps=20)
    n, read_fps = read_video(tmp_path / "m.gif")
    assert (n, read_fps, fps) == (12, 20.0, 20.0)
    assert write_gif(frames, tmp_path / "m2.gif", fps=24) == 25.0  # GIF delays are in 1/100 s
    assert read_video(tmp_path / "m2.gif")[1] == 25.0
    with Image.open(tmp_path / "m.gif") as im:
        im.seek(0)
        first = im.convert("RGB")
    assert np.abs(arr(first) - arr(frames[0])).mean() < 12  # a palette of 256 colours, not exact
    with pytest.raises(FileExistsError):
        write_gif(frames, tmp_path / "m.gif")
    pytest.importorskip("imageio_ffmpeg")
    write_mp4(frames, tmp_path / "m.mp4", fps=24)
    assert read_video(tmp_path / "m.mp4") == (12, 24.0)


def test_morph_cli_writes_video_sidecar_and_reproducible_sheet(style, tmp_path, capsys):
    path, _ = style
    out = tmp_path / "m.gif"
    assert main(["morph", "1", "2", "5", "--frames", "10", "--loop", "--out", str(out), "--grid",
                 "--model", str(path), "--precision", "fp32"]) == 0
    assert read_video(out)[0] == 10
    side = json.loads((tmp_path / "m.gif.json").read_text())
    assert side["op"] == "morph" and side["frames"] == 10 and side["fps"] == 25.0
    sheet = tmp_path / "m_frames.png"
    assert main(["reproduce", str(sheet), "--model", str(path)]) == 0
    assert main(["morph", "1", "2", "--out", str(out), "--model", str(path)]) == 2  # no overwrite
    assert "already exists" in capsys.readouterr().err


# --- faces as latents --------------------------------------------------------------------------

def test_face_references_resolve_to_same_latent(style, tmp_path):
    path, pipe = style
    seed = resolve_face("42", pipe, truncation=0.7)
    assert torch.equal(resolve_face("seed:42", pipe, 0.7).w, seed.w)
    save_latent(tmp_path / "f.npz", seed, pipe)
    save_latent(tmp_path / "f.npy", seed, pipe)
    np.save(tmp_path / "z.npy", seed.z.numpy())
    assert main(["generate", "--seeds", "42", "--truncation", "0.7", "--out", str(tmp_path / "img"),
                 "--model", str(path), "--precision", "fp32"]) == 0
    for ref in (tmp_path / "f.npz", tmp_path / "f.npy", tmp_path / "img" / "seed000042.png"):
        face = resolve_face(ref, pipe)
        assert torch.equal(face.w, seed.w), ref
    assert torch.equal(resolve_face(f"z:{tmp_path / 'z.npy'}", pipe, 0.7).w, seed.w)
    # A 32-vector is both z and w for this model: the file must say which.
    with pytest.raises(FaceRefError, match="could be z or w"):
        resolve_face(tmp_path / "z.npy", pipe)


def test_bad_latent_files_are_refused_with_the_file_named(style, tmp_path, tiny_model_file):
    _, pipe = style
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "nan.npy", np.full((8, 32), np.nan, dtype=np.float32))
    np.save(tmp_path / "ints.npy", np.zeros(32, dtype=np.int64))
    np.save(tmp_path / "shape.npy", np.zeros((3, 32), dtype=np.float32))
    for name, problem in [("obj", "not a readable"), ("nan", "NaN"), ("ints", "floats"), ("shape", "shape")]:
        with pytest.raises(FaceRefError, match=problem) as e:
            resolve_face(f"w:{tmp_path / name}.npy", pipe)
        assert name in str(e.value)
    other = FaceGenerator.from_pretrained(tiny_model_file("style", 32, seed=5), precision="fp32")
    save_latent(tmp_path / "other.npz", resolve_face("1", other), other)
    with pytest.raises(FaceRefError, match="made with model"):
        resolve_face(tmp_path / "other.npz", pipe)
    with pytest.warns(UserWarning, match="made with model"):
        resolve_face(tmp_path / "other.npz", pipe, allow_other_model=True)


# --- breeding and mixing -----------------------------------------------------------------------

@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
def test_layer_groups_partition_every_resolution(resolution):
    from facegen.models.config import default_channels

    cfg = GeneratorConfig("style", resolution, channels=default_channels("style", resolution))
    groups = layer_groups(cfg)
    assert all(groups.values())
    assert sorted(sum(groups.values(), [])) == list(range(cfg.num_ws))
    assert groups["coarse"] == [0, 1, 2]


def test_breeding_takes_each_group_from_the_chosen_parent(style):
    _, pipe = style
    a, b = resolve_face("1", pipe), resolve_face("2", pipe)
    groups = layer_groups(pipe.config)
    same = breed(pipe, [a, b], {"coarse": "A", "middle": "A", "fine": "A"})
    assert torch.equal(same.ws[0], a.wplus(pipe.config.num_ws))
    assert np.array_equal(arr(pipe.synthesize(same.ws)[0]), arr(pipe.synthesize(a.w[None])[0]))
    child = breed(pipe, [a, b], {"coarse": "A", "middle": "B", "fine": "A"}).ws[0]
    for group, parent in (("coarse", a), ("middle", b), ("fine", a)):
        assert torch.equal(child[groups[group]], parent.wplus(pipe.config.num_ws)[groups[group]])
    # Mutation: seeded, repeatable, and zero means none.
    m1 = breed(pipe, [a, b], {"coarse": "A", "middle": "B", "fine": "A"}, children=3, mutation=0.3, seed=4)
    m2 = breed(pipe, [a, b], {"coarse": "A", "middle": "B", "fine": "A"}, children=3, mutation=0.3, seed=4)
    assert torch.equal(m1.ws, m2.ws) and not torch.equal(m1.ws[0], child)
    with pytest.raises(ValueError, match="parent 'C'"):
        breed(pipe, [a, b], {"coarse": "C"})


def test_dcgan_breeds_by_crossover_and_refuses_layer_mixing(dcgan):
    _, pipe = dcgan
    a, b = resolve_face("1", pipe), resolve_face("2", pipe)
    child = breed(pipe, [a, b], children=2, seed=0).ws
    assert bool(((child == a.w) | (child == b.w)).all())
    assert not torch.equal(child[0], a.w) and not torch.equal(child[0], b.w)
    with pytest.raises(StyleOnlyError, match="needs the style architecture"):
        breed(pipe, [a, b], {"coarse": "A"})
    with pytest.raises(StyleOnlyError):
        mixing_grid(pipe, [a], [b], [0])


def test_mixing_grid_layout_and_cli(style, dcgan, tmp_path, capsys):
    path, pipe = style
    rows = [resolve_face(s, pipe) for s in "12"]
    cols = [resolve_face(s, pipe) for s in "345"]
    image, recipe = mixing_grid(pipe, rows, cols, layer_groups(pipe.config)["coarse"])
    assert image.size == (4 * 34 + 2, 3 * 34 + 2)  # (cols+1) x (rows+1) tiles of 32 px, 2 px apart
    assert close(image.crop((2, 36, 34, 68)), pipe(seeds=[1]).images[0])  # left column: the row faces
    out = tmp_path / "mix.png"
    assert main(["mix", "--rows", "1-2", "--cols", "3,4", "--styles", "coarse", "--out", str(out),
                 "--model", str(path), "--precision", "fp32"]) == 0
    assert main(["reproduce", str(out), "--model", str(path)]) == 0
    assert main(["mix", "--rows", "1", "--cols", "2", "--out", str(tmp_path / "d.png"), "--model", str(dcgan[0])]) == 2
    assert "needs the style architecture" in capsys.readouterr().err


# --- directions and edits ----------------------------------------------------------------------

def test_sefa_orthonormal_and_matches_brute_force(style):
    _, pipe = style
    d = compute(pipe, "sefa")
    v = d.vectors.double()
    assert torch.allclose(v @ v.T, torch.eye(len(v), dtype=torch.float64), atol=1e-5)
    # Brute force: the stacked affine weights, each output channel's row at unit norm, then eig(AᵀA).
    rows = []
    for block in pipe.model.blocks:
        for conv in block.convs:
            w = conv.affine.weight.detach().double().numpy() * conv.affine.scale
            rows.append(w / np.linalg.norm(w, axis=1, keepdims=True))
    a = np.concatenate(rows)
    values, vectors = np.linalg.eig(a.T @ a)
    order = np.argsort(-values.real)
    assert np.allclose(d.values.numpy(), values.real[order][:len(v)], rtol=1e-4)
    for k in range(5):
        assert abs(float(np.dot(vectors[:, order[k]].real, v[k].numpy()))) > 0.999
    assert torch.allclose(sefa_matrix(pipe).double(), torch.from_numpy(a))
    coarse = compute(pipe, "sefa", layers=[0, 1, 2])
    assert coarse.layers == [0, 1, 2] and not torch.allclose(coarse.vectors[0].abs(), d.vectors[0].abs())


def test_ganspace_is_pca_of_sampled_w(style, dcgan):
    _, pipe = style
    d = compute(pipe, "ganspace", top=8)
    x = w_samples(pipe).double().numpy()
    _, s, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    for k in range(4):
        assert abs(float(np.dot(vt[k], d.vectors[k].double().numpy()))) > 0.999
    assert np.allclose(d.values.numpy(), (s[:8] ** 2) / (len(x) - 1), rtol=1e-4)
    assert torch.allclose(d.scales, d.values.sqrt(), rtol=1e-3)
    z = compute(dcgan[1], "ganspace", top=8)
    assert z.space == "z" and z.vectors.shape == (8, 100) and torch.isfinite(z.vectors).all()
    assert torch.allclose(z.vectors.norm(dim=1), torch.ones(8), atol=1e-5)
    with pytest.raises(StyleOnlyError, match="SeFa"):
        compute(dcgan[1], "sefa")


def test_directions_file_round_trip_names_and_wrong_model(style, tiny_model_file, tmp_path):
    _, pipe = style
    d = compute(pipe, "sefa", top=10)
    d.names = {"3": "smile"}
    save_directions(d, tmp_path / "d.safetensors")
    back = load_directions(tmp_path / "d.safetensors", pipe)
    assert torch.equal(back.vectors, d.vectors) and back.index("Smile") == 3 and back.label(3) == "3 smile"
    assert back.model["sha256"] == pipe.model.sha256
    with pytest.raises(ValueError, match="unknown direction"):
        back.index("frown")
    other = FaceGenerator.from_pretrained(tiny_model_file("style", 32, seed=9), precision="fp32")
    with pytest.raises(ValueError, match="computed for model"):
        load_directions(tmp_path / "d.safetensors", other)
    (tmp_path / "p.safetensors").write_bytes(b"\x80\x04junk")
    with pytest.raises(ValueError, match="not a facegen directions file"):
        load_directions(tmp_path / "p.safetensors")


def test_edit_strength_zero_is_identity(style):
    _, pipe = style
    face = resolve_face("7", pipe)
    d = compute(pipe, "sefa", top=4)
    assert torch.equal(apply_edit(face.w, d.vectors[0], float(d.scales[0]), 0.0, None, 8), face.w)
    for layers in (None, [0, 1, 2]):
        image, _ = edit(pipe, face, d, [0], [0.0], layers)
        assert np.array_equal(arr(image.crop((2, 2, 34, 34))), arr(pipe(seeds=[7]).images[0]))
    strip, _ = edit(pipe, face, d, [1], [-2.0, 0.0, 2.0])
    tiles = [arr(strip.crop((2 + 34 * i, 2, 34 + 34 * i, 34))) for i in range(3)]
    assert not np.array_equal(tiles[0], tiles[1]) and close(Image.fromarray(tiles[1].astype(np.uint8)),
                                                            pipe(seeds=[7]).images[0])
    assert parse_strengths("-4..4", 5) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    with pytest.raises(ValueError, match="out of range"):
        parse_strengths("-20..4")


def test_directions_edit_and_name_cli(style, tmp_path, capsys):
    path, _ = style
    m = ["--model", str(path), "--precision", "fp32"]
    sheet = tmp_path / "sheet.png"
    assert main(["directions", str(path), "--sheet", str(sheet), "--sheet-top", "3", "--steps", "3",
                 "--precision", "fp32"]) == 0
    assert (tmp_path / f"{path.stem}.directions.safetensors").exists()
    assert main(["reproduce", str(sheet), "--model", str(path)]) == 0
    assert main(["name-direction", str(path), "2", "smile"]) == 0
    out = tmp_path / "edit.png"
    assert main(["edit", "5", "--direction", "smile", "--strength", "-4..4", "--steps", "5", "--layers", "coarse",
                 "--out", str(out)] + m) == 0
    assert main(["reproduce", str(out), "--model", str(path)]) == 0
    assert read_recipe(out)["directions"] == [2]
    capsys.readouterr()
    assert main(["edit", "5", "--direction", "frown", "--out", str(tmp_path / "x.png")] + m) == 2
    assert "unknown direction 'frown'" in capsys.readouterr().err
    assert main(["edit", "5", "--direction", "0", "--strength", "11", "--out", str(tmp_path / "x.png")] + m) == 2
    assert "out of range" in capsys.readouterr().err


# --- unreal faces and provenance ---------------------------------------------------------------

@pytest.mark.parametrize("arch", ["style", "dcgan"])
def test_transform_extremes_stay_finite_and_not_blank(arch, style, dcgan):
    _, pipe = style if arch == "style" else dcgan
    face = resolve_face("11", pipe)
    base = pipe(seeds=[11]).images[0]
    assert not is_blank(base)
    same = transform(pipe, face)
    assert np.array_equal(arr(same.image), arr(base)) and not same.notes
    jitter, notes = 5.0, []
    for kw in (dict(exaggerate=10.0), dict(exaggerate=-10.0), dict(truncation=10.0), dict(truncation=-10.0),
               dict(style_jitter=jitter, exaggerate=10.0)):
        r = transform(pipe, face, **kw)
        assert torch.isfinite(r.w).all() and not is_blank(r.image), kw
        dist = (r.w.reshape(-1, r.w.shape[-1]) - average_w(pipe)).norm(dim=1).max()
        assert dist <= MAX_RADIUS * typical_radius(pipe) * 1.001, kw
        notes += r.notes
    assert any(n.startswith("clamped: the face was") for n in notes)  # and says so
    with pytest.raises(ValueError, match="out of range"):
        transform(pipe, face, exaggerate=11.0)
    if arch == "dcgan":
        with pytest.raises(StyleOnlyError):
            transform(pipe, face, noise_scale=2.0)


def test_outputs_reproduce_identically(style, tmp_path):
    path, pipe = style
    m = ["--model", str(path), "--precision", "fp32"]
    kids = tmp_path / "kids"
    assert main(["breed", "1", "2", "3", "--coarse", "A", "--fine", "C", "--children", "3", "--mutation", "0.3",
                 "--seed", "1", "--out", str(kids)] + m) == 0
    for name in ("child000.png", "child002.png", "children.png"):
        assert main(["reproduce", str(kids / name), "--model", str(path)]) == 0
    # A child is itself a face: breeding it with its own sources works, and so does transforming it.
    t = tmp_path / "t.png"
    assert main(["transform", str(kids / "child001.png"), "--exaggerate", "2.5", "--style-jitter", "0.5",
                 "--layers", "fine", "--out", str(t)] + m) == 0
    assert main(["reproduce", str(t), "--model", str(path)]) == 0
    with torch.no_grad():  # give the noise inputs some strength, so the noise recipe matters
        for block in pipe.model.blocks:
            for conv in block.convs:
                conv.noise_strength.fill_(0.5)
    pipe.model.save_pretrained(path)
    noisy = FaceGenerator.from_pretrained(path, precision="fp32")
    r = transform(noisy, resolve_face("4", noisy), noise_scale=3.0)
    assert r.recipe["kind"] == "explore" and not np.array_equal(arr(r.image), arr(noisy(seeds=[4]).images[0]))
    assert np.array_equal(arr(render(r.recipe, noisy)), arr(r.image))
    assert all(float(c.noise_strength) == 0.5 for b in noisy.model.blocks for c in b.convs)  # restored


def test_latent_cli_round_trip(style, tmp_path):
    path, pipe = style
    m = ["--model", str(path), "--precision", "fp32"]
    assert main(["latent", "9", "--out", str(tmp_path / "f.npz")] + m) == 0
    data = np.load(tmp_path / "f.npz", allow_pickle=False)
    meta = json.loads(str(data["meta"]))
    assert meta["space"] == "w" and meta["seed"] == 9 and meta["model"]["sha256"] == pipe.model.sha256
    assert math.isclose(float(np.abs(data["w"] - resolve_face("9", pipe).w.numpy()).max()), 0.0)


def test_cli_help_is_fast_and_states_the_limits(capsys):
    import subprocess
    import sys

    from facegen.cli import build_parser
    from facegen.limits import TRANSFORM_LIMITS

    code = "import sys, facegen.cli; facegen.cli.build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    help_text = build_parser()._subparsers._group_actions[0].choices["transform"].format_help()
    for name in ("exaggerate", "truncation", "strength", "noise_scale"):
        assert f"{TRANSFORM_LIMITS[name]:g}" in help_text, name
    with pytest.raises(SystemExit):
        main(["transform", "1", "--exaggerate", "10.5"])
    assert "between -10.0 and 10.0" in capsys.readouterr().err
