"""A face as a thing you can name: a seed, a latent file (.npy/.npz), or an image facegen made.

Every explore command takes faces this way and works on `Face.w`: the style
vector (w, or per-layer w+) for the style architecture, the (truncated) latent
z for dcgan, whose W is Z.
"""
from __future__ import annotations

import json
import math
import re
import warnings
import weakref
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..arrays import read_npy, read_npz
from ..atomic import atomic_path
from ..limits import MAX_FACES, MAX_RECORDED_TRUNCATION, MAX_SEED
from ..pipeline import FaceGenerator, decode_latent, encode_latent
from ..recipe_schema import RecipeError, renders
from ..recipe_schema import check as check_recipe

LATENT_FORMAT = "facegen-latent"
MAX_LATENT_FILE_BYTES = 64 * 1024**2
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SAMPLES = 4096
SAMPLE_SEED = 0x5EED


class FaceRefError(ValueError):
    """A face reference that does not resolve; the message names it and the problem."""


@dataclass
class Face:
    """A generated face: the latent the model renders it from, and where that came from.

    Not data.facebox.Face, which is a face found in a photo (its box and landmarks).
    """
    w: torch.Tensor  # [D] or [num_ws, D], float32
    label: str
    z: torch.Tensor | None = None  # [latent_dim], when the face came from Z
    truncation: float = 1.0  # what took z to w
    seed: int | None = None
    # The latents of photo inversions this face descends from (itself, if it is one). describe()
    # writes them into every recipe and latent file made from it, so `facegen swap` can tell
    # how far a bred or edited face has moved from the real person (facegen/compose/rules.py).
    inverted_from: list[torch.Tensor] = field(default_factory=list)

    def wplus(self, num_ws: int) -> torch.Tensor:
        """Per-layer styles [num_ws, D] (dcgan, num_ws 0: the latent itself)."""
        if num_ws == 0 or self.w.dim() == 2:
            return self.w
        return self.w[None].expand(num_ws, -1).clone()

    def describe(self) -> dict:
        """What a recipe records about where this face came from."""
        out = {"label": self.label, "seed": self.seed, "truncation": self.truncation}
        if self.inverted_from:
            out["inverted_from"] = [encode_latent(w, compress=True) for w in self.inverted_from]
        return out


def collapse(w: torch.Tensor) -> torch.Tensor:
    """A w+ whose rows are all equal as the single w it came from (smaller recipes, same image)."""
    if w.dim() == 2 and w.shape[0] > 1 and bool((w == w[:1]).all()):
        return w[0].clone()
    return w


def expand_refs(texts: list[str]) -> list[str]:
    """Seed ranges like '10-13' become one reference per seed; anything else stays as it is."""
    refs = []
    for text in texts:
        for part in str(text).split(",") if re.fullmatch(r"[\d,\- ]+", str(text)) else [text]:
            lo, sep, hi = part.strip().partition("-")
            if sep and lo.isdigit() and hi.isdigit():
                if int(hi) < int(lo) or int(hi) - int(lo) > MAX_FACES:
                    raise FaceRefError(f"{part!r}: a seed range runs low-high, at most {MAX_FACES} seeds")
                refs += [str(s) for s in range(int(lo), int(hi) + 1)]
            elif part.strip():
                refs.append(part.strip())
    return refs


def resolve_face(ref, pipe: FaceGenerator, truncation: float = 1.0, allow_other_model: bool = False) -> Face:
    """A seed ('42', 'seed:42', 42), 'avg', a latent file ('face.npz', 'z:face.npy') or a facegen image -> Face."""
    if isinstance(ref, Face):
        return ref
    text = str(ref).strip()
    m = re.fullmatch(r"(?:seed:)?(\d+)", text)
    if m:
        return face_from_seed(pipe, int(m.group(1)), truncation)
    if text.lower() in ("avg", "average", "mean"):
        return Face(average_w(pipe), "average face")
    space = None
    if re.match(r"^[zw]:", text):
        space, text = text[0], text[2:]
    path = Path(text)
    if not path.exists():
        raise FaceRefError(f"{text}: no such file, and not a seed (faces are seeds like 42, latent files "
                           f".npy/.npz, images made by facegen, or 'avg')")
    if path.suffix.lower() in (".npy", ".npz"):
        return load_latent(path, pipe, space=space, truncation=truncation, allow_other_model=allow_other_model)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return face_from_image(path, pipe, allow_other_model)
    raise FaceRefError(f"{path}: not a seed, a latent file (.npy, .npz) or an image (.png, .jpg)")


def resolve_faces(refs, pipe, truncation: float = 1.0, allow_other_model: bool = False) -> list[Face]:
    return [resolve_face(r, pipe, truncation, allow_other_model) for r in refs]


def face_from_seed(pipe: FaceGenerator, seed: int, truncation: float = 1.0) -> Face:
    if not 0 <= seed <= MAX_SEED:
        raise FaceRefError(f"seed {seed} is out of range (0 to 2**63-1)")
    z = pipe.model.sample_z([seed])
    return Face(pipe.mapping(z, truncation)[0].clone(), f"seed {seed}", z[0], truncation, seed)


def _check_model(source, recorded: dict | None, pipe: FaceGenerator, allow_other_model: bool) -> None:
    sha = (recorded or {}).get("sha256")
    if not sha or not pipe.model.sha256 or sha == pipe.model.sha256:
        return
    msg = (f"{source}: was made with model {recorded.get('name')!r} (sha256 {sha[:12]}), not the model in use "
           f"({pipe.config.name!r}, sha256 {pipe.model.sha256[:12]}); its latent means a different face here")
    if not allow_other_model:
        raise FaceRefError(msg + " (pass --model with the original, or --any-model to use it anyway)")
    warnings.warn(msg, stacklevel=3)


def face_from_image(path: Path, pipe: FaceGenerator, allow_other_model: bool = False) -> Face:
    from ..provenance import ProvenanceError, read_recipe

    try:
        recipe = read_recipe(path)
        check_recipe(recipe)
    except ProvenanceError as e:
        raise FaceRefError(str(e)) from None
    except RecipeError as e:
        raise FaceRefError(f"{path}: {e}") from None
    _check_model(path, recipe.get("model"), pipe, allow_other_model)
    kind = recipe.get("kind")
    try:
        if kind == "generate":
            face = face_from_seed(pipe, int(recipe["seed"]), float(recipe["truncation"]))
            face.label = f"{path.name} (seed {face.seed})"
            return face
        if kind == "latent" or (kind == "explore" and recipe.get("op") == "transform"):
            w = decode_latent(recipe["latent"])
            z = decode_latent(recipe["z"])[0] if recipe.get("z") else None
            w = w[0] if w.shape[0] == 1 else w
            check_latent_shape(path, w, pipe, "w")
            return Face(w, path.name, z, float(recipe.get("truncation", 1.0)), recipe.get("seed"),
                        ancestry(recipe, w, path))
    except (KeyError, TypeError, ValueError) as e:
        raise FaceRefError(f"{path}: its recipe has a missing or bad field ({e})") from None
    if kind == "grid":
        raise FaceRefError(f"{path}: is a contact sheet of seeds {recipe.get('seeds')}; name one of those seeds")
    if kind == "composite":
        raise FaceRefError(f"{path}: is a photo with faces put in by facegen {recipe.get('op')}, not a face "
                           "facegen made on its own")
    raise FaceRefError(f"{path}: is a {recipe.get('op') or kind} sheet of several faces, not one face")


@renders("latent")
def render_latent(recipe: dict, pipe: FaceGenerator):
    """The face a recipe of kind 'latent' holds (its final w or w+, one row)."""
    w = decode_latent(recipe["latent"])
    if w.dim() < 2 or w.shape[0] != 1:
        raise RecipeError(f"the recipe's latent has shape {list(w.shape)}; a face's latent is one row")
    try:
        check_latent_shape("the recipe's latent", w[0], pipe, "w")  # also refuses NaN and infinities
    except ValueError as e:
        raise RecipeError(str(e)) from None
    return pipe.synthesize(w, noise_mode=recipe.get("noise_mode", "const"), size=recipe.get("size"))[0]


def check_latent_shape(source, w: torch.Tensor, pipe: FaceGenerator, space: str) -> None:
    """Raise FaceRefError (naming `source`) unless w fits this model's z or w (w+) and is finite."""
    c = pipe.config
    dim = c.latent_dim if space == "z" else c.truncation_dim
    ok = [(dim,)] + ([(c.num_ws, dim)] if space == "w" and c.num_ws else [])
    if tuple(w.shape) not in ok:
        want = " or ".join(str(list(s)) for s in ok)
        raise FaceRefError(f"{source}: latent has shape {list(w.shape)}; {space} for this model "
                           f"({c.architecture}, {c.name!r}) is {want}")
    if not torch.isfinite(w).all():
        raise FaceRefError(f"{source}: latent holds NaN or infinite values")


def load_latent(path: str | Path, pipe: FaceGenerator, space: str | None = None, truncation: float = 1.0,
                allow_other_model: bool = False) -> Face:
    """Read a latent written by `save_latent` (.npz), a StyleGAN-style .npz with 'w', or a bare .npy."""
    path = Path(path)
    if path.stat().st_size > MAX_LATENT_FILE_BYTES:
        raise FaceRefError(f"{path}: is {path.stat().st_size} bytes, too big for one face's latent")
    meta: dict = {}
    z = None
    try:
        data = path.read_bytes()
        if data[:4] == b"PK\x03\x04":
            arrays = read_npz(data, MAX_LATENT_FILE_BYTES)
            if "meta" in arrays:
                meta = json.loads(str(arrays["meta"]))
            key = space or ("w" if "w" in arrays else "z" if "z" in arrays else None)
            if key not in arrays:
                raise FaceRefError(f"{path}: holds arrays {sorted(arrays)}; a face needs 'w' or 'z'")
            arr, space = arrays[key], key
            if space == "w" and "z" in arrays:
                z = arrays["z"]  # checked after the model, so another model's file says so
        else:
            arr = read_npy(data)
            sidecar = path.with_name(path.name + ".json")
            if sidecar.exists():
                meta = json.loads(sidecar.read_text())
    except FaceRefError:
        raise
    except (ValueError, OSError, RecursionError) as e:  # ArrayFileError, bad JSON (a ValueError), unreadable
        raise FaceRefError(f"{path}: not a readable latent file ({e})") from None
    _check_meta(path, meta)
    _check_model(path, meta.get("model"), pipe, allow_other_model)
    z = None if z is None else _as_tensor(path, z, pipe, "z")
    space = space or meta.get("space") or _guess_space(path, arr, pipe)
    if space not in ("z", "w"):
        raise FaceRefError(f"{path}: unknown latent space {space!r} (z or w)")
    t = _as_tensor(path, arr, pipe, space)
    label = meta.get("label") or path.name
    if space == "z":
        trunc = float(meta.get("truncation", truncation))
        w = pipe.mapping(t[None], trunc)[0].clone()
        return Face(w, label, t, trunc, meta.get("seed"), ancestry(meta, w, path))
    return Face(t, label, z, float(meta.get("truncation", 1.0)), meta.get("seed"), ancestry(meta, t, path))


def ancestry(meta: dict, w: torch.Tensor, source="recipe") -> list[torch.Tensor]:
    """Every inverted latent a recipe or latent file names anywhere (its face, parents, ...);
    `w` itself when the file says it is an inversion but names none (so copying keeps the mark)."""
    found: list[torch.Tensor] = []

    def walk(node, depth=0):
        if depth > 8:
            return
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "inverted_from" and isinstance(value, list):
                    for packed in value:
                        try:
                            found.append(decode_latent(packed))
                        except (KeyError, TypeError, ValueError, zlib.error) as e:
                            raise FaceRefError(f"{source}: its record of the inverted face it came "
                                               f"from is unreadable ({e})") from None
                else:
                    walk(value, depth + 1)
        elif isinstance(node, list):
            for value in node:
                walk(value, depth + 1)

    walk(meta)
    if not found and (meta.get("origin") == "inverted" or meta.get("op") in ("invert", "inversion")):
        found.append(w.detach().clone())
    return found


def _check_meta(path, meta) -> None:
    """A latent file's metadata is data from anywhere: each field facegen reads must have its type."""
    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    checks = [(isinstance(meta, dict), "is not a JSON object")]
    if isinstance(meta, dict):
        checks += [
            (meta.get("model") is None or isinstance(meta["model"], dict), "'model' is not an object"),
            (meta.get("label") is None or isinstance(meta["label"], str), "'label' is not text"),
            (meta.get("space") is None or isinstance(meta["space"], str), "'space' is not text"),
            ("truncation" not in meta
             or (number(meta["truncation"]) and abs(meta["truncation"]) <= MAX_RECORDED_TRUNCATION),
             f"'truncation' is not a number in -{MAX_RECORDED_TRUNCATION:g}..{MAX_RECORDED_TRUNCATION:g}"),
            (meta.get("seed") is None or (isinstance(meta["seed"], int) and not isinstance(meta["seed"], bool)
                                          and 0 <= meta["seed"] <= MAX_SEED), "'seed' is not a seed"),
        ]
    for ok, problem in checks:
        if not ok:
            raise FaceRefError(f"{path}: its metadata {problem}")


def _as_tensor(path, arr, pipe, space) -> torch.Tensor:
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
        raise FaceRefError(f"{path}: latent must be an array of floats, not {getattr(arr, 'dtype', type(arr))}")
    if arr.ndim >= 2 and arr.shape[0] == 1:
        arr = arr[0]  # a batch of one, as StyleGAN projectors save
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    check_latent_shape(path, t, pipe, space)
    return t


def _guess_space(path, arr, pipe) -> str:
    c = pipe.config
    shape = arr.shape[1:] if arr.ndim >= 2 and arr.shape[0] == 1 else arr.shape
    if c.architecture == "dcgan" or len(shape) == 2:
        return "z" if c.architecture == "dcgan" else "w"
    n = shape[0] if shape else -1
    if n == c.latent_dim == c.w_dim:
        raise FaceRefError(f"{path}: a {n}-vector could be z or w for this model; name it z:{path} or w:{path} "
                           "(latents saved by facegen record which)")
    return "w" if n == c.w_dim else "z"


def save_latent(path: str | Path, face: Face, pipe: FaceGenerator, overwrite: bool = False,
                info: dict | None = None) -> Path:
    """Write a face's latent: .npz holds w (and z) plus metadata; .npy holds w with a .json beside it.

    `info`: more JSON-safe metadata (an inversion records its origin and source photo there)."""
    path = Path(path)
    meta = {"format": LATENT_FORMAT, "version": 1, "space": "w", "model": pipe.model_info(), **face.describe(),
            **(info or {})}
    w = face.w.detach().float().numpy()
    if path.suffix == ".npz":
        arrays = {"w": w, "meta": np.array(json.dumps(meta))}
        if face.z is not None:
            arrays["z"] = face.z.float().numpy()
        with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
    elif path.suffix == ".npy":
        sidecar = path.with_name(path.name + ".json")
        with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as f:
            np.save(f, w, allow_pickle=False)
        with atomic_path(sidecar, overwrite=True) as tmp:
            tmp.write_text(json.dumps(meta, indent=1))
    else:
        raise ValueError(f"{path}: a latent file ends in .npz or .npy")
    return path


# Statistics of the model's W (Z for dcgan), for centring and scaling edits; cached per model.
_STATS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def w_samples(pipe: FaceGenerator) -> torch.Tensor:
    """SAMPLES latents of random faces in the space Face.w lives in (fixed seed, so repeatable)."""
    model = pipe.model
    if model not in _STATS:
        z = model.sample_latents(SAMPLES, torch.Generator().manual_seed(SAMPLE_SEED))
        _STATS[model] = pipe.mapping(z, 1.0).clone()
    return _STATS[model]


def average_w(pipe: FaceGenerator) -> torch.Tensor:
    """The average face's latent (`Generator.average_w`): the model's recorded w_avg, else measured."""
    return pipe.model.average_w()


def typical_radius(pipe: FaceGenerator) -> float:
    """The median distance of a random face from the average face, in W (Z for dcgan)."""
    d = (w_samples(pipe) - average_w(pipe)).norm(dim=1)
    r = float(d.median())
    return r if math.isfinite(r) and r > 0 else 1.0
