"""The pipeline: seeds -> PIL images, deterministic, with a recipe for each."""
import numpy as np
import pytest
import torch

from facegen import FaceGenerator
from facegen.pipeline import bf16_available, decode_latent, encode_latent


def _pixels(images):
    return np.stack([np.asarray(im) for im in images]).astype(np.int16)


@pytest.mark.parametrize("arch", ["dcgan", "style"])
def test_same_seed_same_image_in_any_batch(tiny_model_file, arch):
    pipe = FaceGenerator.from_pretrained(tiny_model_file(arch), precision="fp32")
    alone = pipe(seeds=[7]).images[0]
    in_batch = pipe(seeds=[5, 6, 7, 8]).images[2]
    again = FaceGenerator.from_pretrained(tiny_model_file(arch), precision="fp32")(seeds=[7]).images[0]
    assert alone.tobytes() == in_batch.tobytes() == again.tobytes()
    assert alone.tobytes() != pipe(seeds=[8]).images[0].tobytes()


def test_n_and_seed_make_consecutive_seeds_and_pil_images(tiny_model_file):
    pipe = FaceGenerator.from_pretrained(tiny_model_file("style"))
    out = pipe(n=3, seed=40, truncation=0.5, return_latents=True)
    assert out.seeds == [40, 41, 42]
    assert [im.size for im in out.images] == [(32, 32)] * 3
    assert all(im.mode == "RGB" for im in out.images)
    assert out.latents.shape == (3, 32) and out.ws.shape == (3, 32)
    assert [r["seed"] for r in out.recipes] == [40, 41, 42]
    assert out.recipes[0]["truncation"] == 0.5 and out.recipes[0]["model"]["sha256"] == pipe.model.sha256


def test_truncation_zero_gives_the_average_face_for_every_seed(tiny_model_file):
    pipe = FaceGenerator.from_pretrained(tiny_model_file("style"), precision="fp32")
    a, b = pipe(seeds=[1, 2], truncation=0.0).images
    assert a.tobytes() == b.tobytes()
    c, d = pipe(seeds=[1, 2], truncation=1.0).images
    assert c.tobytes() != d.tobytes()


def test_size_resizes(tiny_model_file):
    pipe = FaceGenerator.from_pretrained(tiny_model_file("dcgan"))
    assert pipe(seed=1, size=80).images[0].size == (80, 80)


@pytest.mark.skipif(not bf16_available(), reason="CPU has no native bf16")
@pytest.mark.parametrize("name", ["default", "classic"])
def test_bf16_changes_pixels_by_at_most_a_few_levels(name):
    """bf16 autocast must not visibly change a face: measured max and mean pixel differences."""
    fp32 = _pixels(FaceGenerator.from_pretrained(name, precision="fp32")(n=16, seed=0).images)
    bf16 = _pixels(FaceGenerator.from_pretrained(name, precision="bf16")(n=16, seed=0).images)
    diff = np.abs(fp32 - bf16)
    print(f"{name}: bf16 vs fp32 max pixel difference {diff.max()}, mean {diff.mean():.3f}")
    assert diff.mean() < 1.5
    assert diff.max() <= 24
    assert np.percentile(diff, 99) <= 6


def test_bad_arguments_are_refused(tiny_model_file):
    pipe = FaceGenerator.from_pretrained(tiny_model_file("style"))
    with pytest.raises(ValueError, match="n must be"):
        pipe(n=0)
    with pytest.raises(ValueError, match="truncation"):
        pipe(n=1, truncation=5)
    with pytest.raises(ValueError, match="seed"):
        pipe(seeds=[-1])
    with pytest.raises(ValueError, match="noise_mode"):
        pipe(n=1, noise_mode="loud")
    with pytest.raises(ValueError, match="precision"):
        FaceGenerator(pipe.model, precision="fp8")


def test_latent_encoding_round_trips():
    t = torch.randn(2, 10, 32)
    assert torch.equal(decode_latent(encode_latent(t)), t)
    bad = encode_latent(t)
    bad["shape"] = [3, 10, 32]
    with pytest.raises(ValueError, match="does not match"):
        decode_latent(bad)


def test_uniform_latents_for_classic_models(tiny_model_file):
    pipe = FaceGenerator.from_pretrained(tiny_model_file("dcgan", latent_distribution="uniform01"))
    z = pipe(n=8, seed=0, return_latents=True).latents
    assert z.min() >= 0 and z.max() < 1


def test_folding_batchnorm_keeps_the_output_and_the_saved_weights(tmp_path):
    from facegen.models import build_generator
    from conftest import tiny_config

    torch.manual_seed(0)
    g = build_generator(tiny_config("dcgan"))
    with torch.no_grad():
        for _ in range(3):
            g(torch.randn(16, 100))  # training-mode passes give BatchNorm real running stats
    g.eval()
    z = torch.randn(4, 100)
    with torch.no_grad():
        before = g.synthesis(z)
        keys = list(g.state_dict())
        g.fold_batchnorm()
        after = g.synthesis(z)
    assert (before - after).abs().max() < 1e-5
    assert list(g.state_dict()) == keys
    g.train()
    assert g.synthesis(z).shape == before.shape  # training uses the real layers again
