import pytest
import torch

from facegen.models import GeneratorConfig, build_generator


def tiny_config(architecture: str = "style", resolution: int = 32, **kw) -> GeneratorConfig:
    """A small model that builds and runs in milliseconds."""
    if architecture == "style":
        base = dict(latent_dim=32, w_dim=32, mapping_layers=2, channels=[32, 32, 16, 8][: {32: 4, 64: 5}.get(resolution, 4)])
        if resolution == 64:
            base["channels"] = [32, 32, 16, 16, 8]
    else:
        base = dict(latent_dim=100, channels=[64, 32, 16][: {32: 3}.get(resolution, 3)])
        if resolution == 64:
            base["channels"] = [64, 32, 16, 8]
    base.update(kw)
    return GeneratorConfig(architecture=architecture, resolution=resolution, name=f"tiny-{architecture}", **base)


@pytest.fixture
def tiny_model_file(tmp_path):
    """Factory: save a randomly initialised tiny model and return its path."""
    def make(architecture: str = "style", resolution: int = 32, seed: int = 0, **kw):
        torch.manual_seed(seed)
        model = build_generator(tiny_config(architecture, resolution, **kw))
        path = tmp_path / f"{architecture}{resolution}_{seed}.safetensors"
        model.save_pretrained(path)
        return path
    return make
