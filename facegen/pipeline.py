"""FaceGenerator: a generator model plus what it takes to turn seeds into PIL images."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from .imaging import make_grid, to_pil
from .limits import MAX_BATCH, check_truncation
from .models.base import Generator
from .models.file import BUNDLED
from .recipe_schema import base_recipe, decode_array, encode_array, renders
from .seeds import pick_seeds

PRECISIONS = ("fp32", "bf16")
BACKENDS = ("torch", "onnx")


@dataclass
class FaceGeneratorOutput:
    images: list[Image.Image]
    recipes: list[dict]
    seeds: list[int | None] = field(default_factory=list)
    latents: torch.Tensor | None = None  # z, one row per image
    ws: torch.Tensor | None = None  # w after truncation ([B, w_dim] or [B, num_ws, w_dim])


def encode_latent(t: torch.Tensor, compress: bool = False) -> dict:
    """A tensor as JSON-safe data for a recipe (float32, base64; zlib'd too when `compress`)."""
    return encode_array(t.detach().to(torch.float32).cpu().numpy(), compress)


def decode_latent(d: dict) -> torch.Tensor:
    """The tensor `encode_latent` wrote; ValueError when its bytes do not match its shape."""
    return torch.from_numpy(decode_array(d))


def bf16_available() -> bool:
    return bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())


class FaceGenerator:
    """Seeds in, faces out. `FaceGenerator.from_pretrained("default")(n=4, seed=1).images`."""

    def __init__(self, model: Generator, precision: str = "auto", name: str | None = None,
                 backend: str = "torch"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if precision == "auto":
            # Measured here (bench/generate.py, 2-core Zen4): bf16 autocast was slower than fp32
            # at batch 1 and for dcgan, 5% faster only for style at batch 64, and it makes pixels
            # depend more on the batch; fp32 is the default, bf16 an option.
            precision = "fp32"
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of auto, {', '.join(PRECISIONS)}")
        if backend == "onnx" and precision != "fp32":
            raise ValueError("the onnx backend runs in fp32 only")
        self.model = model.eval().requires_grad_(False).to(memory_format=torch.channels_last)
        if hasattr(self.model, "fold_batchnorm"):
            self.model.fold_batchnorm()
        self.precision = precision
        self.source = name or model.source or model.config.name
        self.backend = backend
        self._onnx = self._onnx_faces = None
        if backend == "onnx":
            # Imported here so that the pipeline works without onnxruntime installed.
            from .interop.onnx_export import OnnxSynthesis
            from .onnx_faces import NoTwin, OnnxFaces

            self._onnx = OnnxSynthesis(self.model)  # w -> image, for the explore tools
            try:
                # Seeds -> faces through the same twin as the CLI's torch-free path: the same bits.
                self._onnx_faces = OnnxFaces.for_model(self.model, self.model_info())
            except NoTwin:
                pass  # latents only torch draws: torch maps them, ONNX synthesises

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = "default", precision: str = "auto",
                        backend: str = "torch") -> "FaceGenerator":
        model = Generator.from_pretrained(name_or_path)
        return cls(model, precision=precision, backend=backend,
                   name=str(name_or_path) if str(name_or_path) in BUNDLED else None)

    def save_pretrained(self, path: str | Path, **kwargs) -> Path:
        return self.model.save_pretrained(path, **kwargs)

    @property
    def config(self):
        return self.model.config

    def model_info(self) -> dict:
        c = self.model.config
        return {"name": c.name, "source": self.source, "sha256": self.model.sha256,
                "architecture": c.architecture, "resolution": c.resolution}

    def __call__(self, n: int = 1, seed: int | None = None, seeds: list[int] | None = None,
                 truncation: float = 1.0, size: int | None = None, noise_mode: str = "const",
                 batch_size: int = 64, return_latents: bool = False) -> FaceGeneratorOutput:
        """Faces for `seeds`, or for `n` consecutive seeds from `seed` (random when None)."""
        if self._onnx_faces is not None and not return_latents and noise_mode == "const":
            faces = self._onnx_faces(n, seed, seeds, truncation, size, noise_mode, batch_size)
            return FaceGeneratorOutput(faces.images, faces.recipes, faces.seeds)
        seeds = pick_seeds(n, seed, seeds)
        check_truncation(truncation)
        if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}, got {batch_size!r}")
        base = self.recipe_base(noise_mode, size)
        images, recipes, zs, ws = [], [], [], []
        # Convolution kernels round differently for different batch sizes, so each recipe
        # names the seeds computed together with it; `reproduce` repeats that exact batch.
        for start in range(0, len(seeds), batch_size):
            chunk = seeds[start:start + batch_size]
            z = self.model.sample_z(chunk)
            w = self.mapping(z, truncation)
            images += self.synthesize(w, noise_mode=noise_mode, size=size, batch_size=batch_size)
            recipes += [dict(base, kind="generate", seed=s, truncation=truncation, latent_space="z",
                             batch_seeds=chunk if len(chunk) > 1 else None) for s in chunk]
            zs.append(z)
            ws.append(w)
        z, w = (torch.cat(zs), torch.cat(ws)) if return_latents else (None, None)
        return FaceGeneratorOutput(images, recipes, seeds, z, w)

    @torch.inference_mode()
    def mapping(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        return self.model.mapping(z.float(), truncation)

    @torch.inference_mode()
    def synthesize(self, w: torch.Tensor, noise_mode: str = "const", size: int | None = None,
                   batch_size: int = 64) -> list[Image.Image]:
        """PIL images from w ([B, w_dim] or per-layer [B, num_ws, w_dim]); z for dcgan."""
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be const, random or none, not {noise_mode!r}")
        images: list[Image.Image] = []
        for start in range(0, w.shape[0], batch_size):
            if self._onnx is not None and noise_mode == "const":
                x = self._onnx(w[start:start + batch_size])
            else:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                    x = self.model.synthesis(w[start:start + batch_size].float(), noise_mode)
            images += to_pil(x, size)
        return images

    def recipe_base(self, noise_mode: str = "const", size: int | None = None) -> dict:
        """The fields every recipe made with this pipeline starts with (add kind, op and the rest)."""
        return base_recipe(self.model_info(), noise_mode, size or self.model.config.resolution, self.precision,
                           self.backend)


@renders("generate")
def _render_generate(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    """The face of `seed`, made in the same batch as when it was first made (batches round differently)."""
    batch = recipe.get("batch_seeds") or [recipe["seed"]]
    images = pipe(seeds=batch, truncation=recipe["truncation"], batch_size=len(batch), **_common(recipe)).images
    return images[batch.index(recipe["seed"])]


@renders("grid")
def _render_grid(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    images = pipe(seeds=recipe["seeds"], truncation=recipe["truncation"], **_common(recipe)).images
    return make_grid(images, recipe.get("columns"))


def _common(recipe: dict) -> dict:
    return {"noise_mode": recipe.get("noise_mode", "const"), "size": recipe.get("size")}
