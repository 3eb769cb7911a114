"""The models shipped inside the package: unchanged, and drawing faces a detector recognises."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegen import FaceGenerator
from facegen.imaging import make_grid
from facegen.models.file import BUNDLED

DATA = Path(__file__).parent / "data"
EXPECTED = json.loads((DATA / "bundled_models.json").read_text())


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_model_is_the_recorded_one(name):
    want = EXPECTED[name]
    pipe = FaceGenerator.from_pretrained(name, precision="fp32")
    assert pipe.model.sha256 == want["sha256"], "the bundled model changed: run scripts/bundled_references.py"
    assert pipe.config.architecture == want["architecture"]
    assert pipe.config.resolution == want["resolution"] >= 64
    assert pipe.config.latent_distribution == want["latent_distribution"]
    assert pipe.config.w_avg is not None, "truncation needs the stored average latent"
    assert "non-commercial" in pipe.config.license and "CelebA" in pipe.config.training_data
    got = np.asarray(make_grid(pipe(seeds=want["seeds"], truncation=want["truncation"]).images, columns=4),
                     dtype=np.int16)
    ref = np.asarray(Image.open(DATA / want["reference"]).convert("RGB"), dtype=np.int16)
    diff = np.abs(got - ref)
    # Same machine kind as the recording: equal but for a rare last-bit rounding.
    assert diff.mean() < 0.05 and diff.max() <= 2


def test_bundled_models_fit_the_size_budget():
    assets = Path(__import__("facegen").__file__).parent / "assets"
    total = sum(p.stat().st_size for p in assets.glob("*.safetensors"))
    assert total <= 30 * 1024**2


@pytest.mark.parametrize("name", BUNDLED)
def test_a_face_detector_finds_a_face_in_most_samples(name):
    from facegen.metrics.faces import FaceCounter

    pipe = FaceGenerator.from_pretrained(name)
    images = np.stack([np.asarray(im) for im in pipe(n=32, seed=1000, truncation=0.7).images])
    found = (FaceCounter()(images) >= 1).sum()
    print(f"{name}: a face found in {found} of 32 samples")
    assert found >= 24
