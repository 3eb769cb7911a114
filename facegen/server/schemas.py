"""The JSON a client sends and gets back, and how a face in JSON becomes an explore Face.

A face travels as {"seed", "truncation", "w", "z"}: every JSON response carries
faces in this shape, and every request takes them back as they came, so a
client can keep a face and continue from it. With "w" (a base64 float32
latent) the face is exactly that latent; with only "seed" it is made again.

A face inverted from a photo (/v1/invert), and every face made from one, also
carries "inverted_from": the inverted latents it descends from. Every endpoint
passes them on to its outputs, and /v1/swap refuses a face too close to one
(compose.rules.check_swap_source). Like the metadata in a latent file, a client
can strip it: the rule stops mistakes, not forgery.
"""
from __future__ import annotations

import base64

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..explore.faces import Face, check_latent_shape, face_from_seed
from ..limits import MAX_EDIT_STRENGTH, MAX_MUTATION, MAX_SEED, MIN_SIZE, TRUNCATION_MAX, TRUNCATION_MIN
from ..pipeline import FaceGenerator, decode_latent, encode_latent
from ..provenance import encode_image

FORMATS = ("png", "jpeg")
MEDIA = {"png": "image/png", "jpeg": "image/jpeg"}
MAX_ANCESTORS = 64  # inverted latents one face may carry


class Latent(BaseModel):
    """A float32 tensor as base64 (what FaceGenerator.encode_latent writes)."""
    model_config = ConfigDict(extra="forbid")
    dtype: str = "float32"
    shape: list[int] = Field(max_length=4)
    data: str = Field(max_length=4 * 1024**2)


class FaceRef(BaseModel):
    """A face: a seed (with its truncation), or a latent w (with z when it came from one)."""
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    truncation: float = Field(1.0, ge=TRUNCATION_MIN, le=TRUNCATION_MAX)
    w: Latent | None = None
    z: Latent | None = None
    inverted_from: list[Latent] | None = Field(None, max_length=MAX_ANCESTORS,
                                               description="photo inversions this face descends from")

    @model_validator(mode="after")
    def _one_source(self):
        if self.seed is None and self.w is None:
            raise ValueError("a face needs a seed or a latent w")
        return self


class Output(BaseModel):
    size: int | None = Field(None, ge=MIN_SIZE, description="side in pixels (default: the model's resolution)")
    format: str = Field("png", pattern="^(png|jpeg)$")
    quality: int = Field(95, ge=1, le=100, description="JPEG quality")


class GenerateRequest(Output):
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="first seed (default: random)")
    n: int = Field(1, ge=1, description="how many faces, from consecutive seeds")
    seeds: list[int] | None = Field(None, description="explicit seeds (overrides seed and n)")
    truncation: float = Field(1.0, ge=TRUNCATION_MIN, le=TRUNCATION_MAX)
    images: bool = Field(True, description="include the images (false: only seeds and latents)")


class MorphRequest(Output):
    faces: list[FaceRef] = Field(min_length=2)
    frames: int = Field(24, ge=2)
    loop: bool = False
    space: str = Field("auto", pattern="^(auto|z|w)$")
    sheet: bool = Field(False, description="also return one sheet of every frame")


class BreedRequest(Output):
    parents: list[FaceRef] = Field(min_length=1, max_length=8)
    genes: dict[str, str] = Field(default_factory=dict, description="coarse/middle/fine -> parent letter or random")
    children: int = Field(4, ge=1)
    mutation: float = Field(0.0, ge=0.0, le=MAX_MUTATION)
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seeds the random choices and mutation")


class EditStep(BaseModel):
    direction: str = Field(description="a direction's number (0 strongest) or name")
    strength: float = Field(ge=-MAX_EDIT_STRENGTH, le=MAX_EDIT_STRENGTH, description="in standard deviations")


class EditRequest(Output):
    face: FaceRef
    edits: list[EditStep] = Field(min_length=1, max_length=64)
    layers: str | None = Field(None, description="all, coarse, middle, fine or rows like 0-3 (default: "
                                                 "those the directions were found on)")


class TransformRequest(Output):
    face: FaceRef
    exaggerate: float = 1.0
    truncation: float | None = None
    direction: str | None = None
    strength: float = 0.0
    style_jitter: float = 0.0
    noise_scale: float = 1.0
    layers: str | None = None
    seed: int = Field(0, ge=0, le=MAX_SEED)


def to_face(ref: FaceRef, pipe: FaceGenerator) -> Face:
    """An explore Face from its JSON; ValueError (a 400) when the latent does not fit this model."""
    ancestors = []
    for k, lat in enumerate(ref.inverted_from or []):
        a = _latent(lat, f"inverted_from[{k}]")
        a = a[0] if a.dim() >= 2 and a.shape[0] == 1 else a
        check_latent_shape(f"face.inverted_from[{k}]", a, pipe, "w")
        ancestors.append(a)
    if ref.w is None:
        face = face_from_seed(pipe, ref.seed, ref.truncation)
        face.inverted_from = ancestors
        return face
    w = _latent(ref.w, "w")
    w = w[0] if w.dim() >= 2 and w.shape[0] == 1 else w
    check_latent_shape("face.w", w, pipe, "w")
    z = None
    if ref.z is not None:
        z = _latent(ref.z, "z").reshape(-1)
        check_latent_shape("face.z", z, pipe, "z")
    label = f"seed {ref.seed}" if ref.seed is not None else "latent"
    return Face(w, label, z, ref.truncation, ref.seed, ancestors)


def ancestry_of(*faces: Face) -> list:
    """The inverted latents any of `faces` descends from, each once: what a face made from them carries."""
    out, seen = [], set()
    for face in faces:
        for w in face.inverted_from:
            key = (tuple(w.shape), w.detach().float().numpy().tobytes())
            if key not in seen:
                seen.add(key)
                out.append(w)
    return out


def _latent(lat: Latent, name: str):
    try:
        return decode_latent(lat.model_dump())
    except (ValueError, base64.binascii.Error) as e:
        raise ValueError(f"face.{name}: not a base64 float32 latent ({e})") from None


def image_url(image, recipe: dict, fmt: str = "png", quality: int = 95) -> str:
    """A data: URL of the image's bytes, provenance included, as the browser can show and save it."""
    data = encode_image(image, dict(recipe, format=fmt), fmt, quality)
    return f"data:{MEDIA[fmt]};base64,{base64.b64encode(data).decode()}"


def face_json(image, recipe: dict, w, z=None, seed: int | None = None, truncation: float = 1.0,
              label: str = "", out: Output | None = None, with_image: bool = True,
              inverted_from: list | None = None) -> dict:
    """One face as every endpoint returns it: send it back as a FaceRef to continue from it.

    `inverted_from`: the photo inversions it descends from (ancestry_of its inputs)."""
    out = out or Output()
    face = {"seed": seed, "truncation": truncation, "label": label, "w": encode_latent(w),
            "z": encode_latent(z) if z is not None else None}
    if inverted_from:
        face["inverted_from"] = [encode_latent(a) for a in inverted_from]
    if with_image:
        face["image"] = image_url(image, recipe, out.format, out.quality)
    return face
