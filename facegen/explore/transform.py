"""Unreal faces: exaggeration away from the average face, truncation above 1, jitter, noise.

Pushed far enough, any of these drives the toRGB layers (which are not
demodulated) into saturation and the picture goes flat. So every result is
held within MAX_RADIUS typical radii of the average face, and a picture that
still comes out blank is pulled back toward the original face until it is not.
Whatever was clamped is said in `notes`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from ..limits import TRANSFORM_LIMITS as LIMITS
from ..pipeline import FaceGenerator, decode_latent, encode_latent
from ..recipe_schema import renders
from .directions import apply_edit
from .faces import Face, average_w, typical_radius, w_samples
from .layers import StyleOnlyError
from .recipes import latent_recipe, sheet_recipe, synthesize_all

MAX_RADIUS = 8.0  # typical radii (median distance of a random face from the average face)
BLANK_STD = 2.0  # pixel standard deviation (0-255) below which a picture counts as blank
BACKOFF_STEPS = 10


@dataclass
class Transformed:
    image: Image.Image
    w: torch.Tensor
    recipe: dict
    notes: list[str] = field(default_factory=list)


def noise_convs(model) -> list[tuple[int, torch.nn.Module]]:
    """(w+ row, conv) for each convolution with a noise input."""
    out, row = [], 0
    for block in getattr(model, "blocks", []):
        for j, conv in enumerate(block.convs):
            if conv.use_noise:
                out.append((row + j, conv))
        row += len(block.convs)
    return out


@contextlib.contextmanager
def scaled_noise(model, scales: list[float] | None):
    """Multiply each noise input's learned strength by `scales` (one per noise conv) for a while."""
    convs = [c for _, c in noise_convs(model)]
    if not scales:
        yield
        return
    if len(scales) != len(convs):
        raise ValueError(f"{len(scales)} noise scales given; the model has {len(convs)} noise inputs")
    saved = [c.noise_strength.data.clone() for c in convs]
    try:
        for c, s in zip(convs, scales):
            c.noise_strength.data.mul_(float(s))
        yield
    finally:
        for c, v in zip(convs, saved):
            c.noise_strength.data.copy_(v)


def check_limits(**values) -> None:
    for name, value in values.items():
        if value is not None and not abs(value) <= LIMITS[name]:
            raise ValueError(f"{name.replace('_', '-')} {value} is out of range: at most ±{LIMITS[name]}")


def is_blank(image: Image.Image) -> bool:
    return float(np.asarray(image, dtype=np.float32).std()) < BLANK_STD


def transform(pipe: FaceGenerator, face: Face, exaggerate: float = 1.0, truncation: float | None = None,
              direction: tuple[torch.Tensor, float] | None = None, strength: float = 0.0,
              style_jitter: float = 0.0, noise_scale: float = 1.0, layers: list[int] | None = None,
              seed: int = 0, size: int | None = None) -> Transformed:
    """A face made stranger; `layers` (w+ rows) limits exaggeration, edits, jitter and noise to those."""
    check_limits(exaggerate=exaggerate, truncation=truncation, strength=strength, style_jitter=style_jitter,
                 noise_scale=noise_scale)
    config, notes = pipe.config, []
    style = config.architecture == "style"
    if not style and (layers is not None or noise_scale != 1.0):
        raise StyleOnlyError("--layers" if layers is not None else "--noise-scale (dcgan has no noise inputs)",
                             config)
    if noise_scale < 0:
        raise ValueError("noise-scale must be 0 or more (0 removes the noise)")
    center, radius = average_w(pipe), typical_radius(pipe)
    w = face.w.float().clone()
    if truncation is not None:
        if face.z is None:
            raise ValueError(f"{face.label}: --truncation needs the face's z (a seed or z latent); "
                             "use --exaggerate, which works on any face")
        w = center + truncation * (pipe.mapping(face.z[None], 1.0)[0] - center)
    if style and (layers is not None or style_jitter):
        w = face.wplus(config.num_ws).float().clone() if truncation is None else w[None].repeat(config.num_ws, 1)
    original = w.clone()
    rows = slice(None) if layers is None else layers
    if exaggerate != 1.0:
        w[rows] = center + exaggerate * (w[rows] - center)
    if direction is not None and strength:
        w = apply_edit(w, direction[0], direction[1], strength, layers, config.num_ws)
    if style_jitter:
        gen = torch.Generator().manual_seed(int(seed))
        std = w_samples(pipe).std(0)
        w[rows] = w[rows] + style_jitter * std * torch.randn(w[rows].shape, generator=gen)
    w = _clamp_radius(w, center, radius, notes)
    scales = None
    if noise_scale != 1.0:
        convs = noise_convs(pipe.model)
        scales = [noise_scale if layers is None or row in layers else 1.0 for row, _ in convs]
        if all(float(c.noise_strength) == 0.0 for _, c in convs):
            notes.append("this model learned no noise (every noise strength is 0), so --noise-scale changes nothing")
    image, w, scales = _render_unblank(pipe, original, w, scales, size, notes)
    info = dict(face=face.describe(), exaggerate=exaggerate, truncation_applied=truncation, strength=strength,
                style_jitter=style_jitter, noise_scale=noise_scale, layers=layers, jitter_seed=seed, notes=notes)
    if scales is None:
        recipe = latent_recipe(pipe, w, size, "transform", **info)
    else:
        recipe = sheet_recipe(pipe, size, "transform", latent=encode_latent(w[None]), noise_scales=scales, **info)
    return Transformed(image, w, recipe, notes)


@renders("explore", "transform")
def render_transform(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    """A transform with scaled noise: its latent, rendered with the noise scaled the same way."""
    if getattr(pipe, "_onnx", None) is not None:
        raise ValueError("a noise-scaled transform is re-made with the torch backend only")
    with scaled_noise(pipe.model, recipe.get("noise_scales")):
        return synthesize_all(pipe, decode_latent(recipe["latent"]), recipe.get("size"))[0]


def _clamp_radius(w: torch.Tensor, center: torch.Tensor, radius: float, notes: list[str]) -> torch.Tensor:
    """Pull any row further than MAX_RADIUS typical radii from the average face back to that distance."""
    w = torch.nan_to_num(w, nan=0.0, posinf=0.0, neginf=0.0)
    rows = w if w.dim() == 2 else w[None]
    dist = (rows - center).norm(dim=1)
    limit = MAX_RADIUS * radius
    over = dist > limit * (1 + 1e-4)  # a face clamped once stays put, despite rounding
    if bool(over.any()):
        factor = torch.where(over, limit / dist.clamp_min(1e-12), torch.ones_like(dist))
        rows = center + (rows - center) * factor[:, None]
        notes.append(f"clamped: the face was {float(dist.max()) / radius:.1f}x the typical distance from the "
                     f"average face; held at {MAX_RADIUS:g}x, beyond which the picture saturates into flat colour")
    return rows if w.dim() == 2 else rows[0]


def _render_unblank(pipe, original, w, scales, size, notes):
    """Render; while the picture is blank, halve the way from the original face (and noise scale 1)."""
    if scales is not None and getattr(pipe, "_onnx", None) is not None:
        raise ValueError("--noise-scale changes the torch model's noise inputs; use the torch backend")
    t = 1.0
    for _ in range(BACKOFF_STEPS):
        cur = w if t == 1.0 else original + t * (w - original)
        cur_scales = scales if scales is None or t == 1.0 else [1.0 + t * (s - 1.0) for s in scales]
        with scaled_noise(pipe.model, cur_scales):
            image = synthesize_all(pipe, cur[None], size)[0]
        if not is_blank(image):
            break
        t /= 2
    if is_blank(image):
        notes.append("the picture is blank even at the original face: this model makes flat pictures there")
    elif t != 1.0:
        notes.append(f"clamped: the full transform gave a blank picture; backed off to {t:g} of the way "
                     "from the original face")
    return image, cur, cur_scales
