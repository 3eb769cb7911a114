"""Edit directions found without labels, saved beside the model, and edits along them.

SeFa (Shen & Zhou 2021): the style affines map w to per-channel scales, so the
directions in W that those layers respond to most are the top eigenvectors of
AᵀA, A being their weights stacked (each output channel's row at unit norm).
GANSpace (Härkönen et al. 2020): principal components of sampled W; for dcgan,
whose Z is isotropic, PCA of the first layer's features regressed back to Z.
Strengths are in standard deviations of random faces along the direction, so
-3..3 spans the faces the model makes whatever its scale.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from ..imaging import make_grid
from ..limits import MAX_EDIT_STRENGTH as MAX_STRENGTH
from ..pipeline import FaceGenerator
from ..recipe_schema import renders
from .faces import Face, w_samples
from .layers import StyleOnlyError
from .recipes import labelled_rows, pack, sheet_recipe, synthesize_all, unpack

FORMAT = "facegen-directions"
METHODS = ("sefa", "ganspace")
MAX_FILE_BYTES = 64 * 1024**2
OWN = "own"  # edit(layers=OWN): each direction on its own rows
ROW_VECTORS = "row_vectors."  # a file's tensor per direction refined per w+ row, by index
DEFAULT_TOP = 64


@dataclass
class Directions:
    vectors: torch.Tensor  # [K, D], unit rows, strongest first
    values: torch.Tensor  # [K] eigenvalues (sefa) or variances (ganspace)
    scales: torch.Tensor  # [K] std of random faces along each direction: strength 1 moves this far
    method: str
    space: str  # 'w' or 'z'
    layers: list[int] | None = None  # style rows SeFa looked at, and edits default to; None = all
    names: dict[str, str] = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    # Named directions (explore/named.py): each one's own w+ rows ({index: rows or None for all}),
    # and what was found about it (attribute, boundary accuracy, what it is conditioned on).
    rows: dict[str, list[int] | None] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    # Named directions refined per w+ row: {index: [num_ws, D]}, the move of strength 1 over scales[index].
    row_vectors: dict[str, torch.Tensor] = field(default_factory=dict)

    def index(self, ref) -> int:
        """A direction by number (0 = strongest) or by a name given with name-direction."""
        text = str(ref).strip()
        by_name = {v.lower(): int(k) for k, v in self.names.items()}
        if text.lower() in by_name:
            return by_name[text.lower()]
        if text.lstrip("-").isdigit() and 0 <= int(text) < len(self.vectors):
            return int(text)
        named = f"; named: {', '.join(sorted(by_name))}" if by_name else ""
        raise ValueError(f"unknown direction {text!r}: use 0..{len(self.vectors) - 1}{named}")

    def label(self, k: int) -> str:
        return f"{k} {self.names[str(k)]}" if str(k) in self.names else str(k)

    def layers_of(self, k: int) -> list[int] | None:
        """The w+ rows an edit along direction k changes unless told otherwise (None = all)."""
        return self.rows.get(str(k), self.layers)

    def row_vector(self, k: int, num_ws: int) -> torch.Tensor:
        """Direction k as an edit moves along it on its own: a w+ step ([num_ws, D], zero off its
        rows) when it has rows or a vector per row of its own, else its vector [D]."""
        if str(k) in self.row_vectors:
            return self.row_vectors[str(k)]
        rows = self.layers_of(k)
        if rows is None or not num_ws:
            return self.vectors[k]
        out = torch.zeros(num_ws, self.vectors.shape[1])
        out[rows] = self.vectors[k]
        return out


def _sign_fix(vectors: torch.Tensor) -> torch.Tensor:
    """Eigenvectors are defined up to sign; make each one's largest entry positive so files repeat."""
    idx = vectors.abs().argmax(dim=1)
    signs = torch.sign(vectors[torch.arange(len(vectors)), idx])
    return vectors * torch.where(signs == 0, 1.0, signs)[:, None]


def sefa_matrix(pipe: FaceGenerator, layers: list[int] | None = None) -> torch.Tensor:
    """The stacked affine weights of the convolutions fed by `layers` (float64, unit rows)."""
    model = pipe.model
    if pipe.config.architecture != "style":
        raise StyleOnlyError("SeFa (it factorises the per-layer style weights)", pipe.config)
    mats, row = [], 0
    for block in model.blocks:
        for j, conv in enumerate(block.convs):
            if layers is None or row + j in layers:
                mats.append(conv.affine.weight.detach().double() * conv.affine.scale)
        row += len(block.convs)
    if not mats:
        raise ValueError(f"layers {layers} feed no convolution (only toRGB), so SeFa has nothing to factorise")
    a = torch.cat(mats)
    return a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _scales(pipe: FaceGenerator, vectors: torch.Tensor) -> torch.Tensor:
    samples = w_samples(pipe).double()
    return ((samples - samples.mean(0)) @ vectors.double().T).std(0).float().clamp_min(1e-6)


def sefa(pipe: FaceGenerator, layers: list[int] | None = None, top: int = DEFAULT_TOP) -> Directions:
    a = sefa_matrix(pipe, layers)
    values, vectors = torch.linalg.eigh(a.T @ a)  # ascending
    order = torch.argsort(values, descending=True)[:top]
    vectors = _sign_fix(vectors[:, order].T).float()
    return Directions(vectors, values[order].float(), _scales(pipe, vectors), "sefa", "w", layers,
                      model=pipe.model_info())


def ganspace(pipe: FaceGenerator, top: int = DEFAULT_TOP) -> Directions:
    samples = w_samples(pipe).double()
    if pipe.config.architecture == "style":
        centred = samples - samples.mean(0)
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)
        k = min(top, vh.shape[0])
        vectors = _sign_fix(vh[:k]).float()
        return Directions(vectors, (s[:k] ** 2 / (len(samples) - 1)).float(), _scales(pipe, vectors),
                          "ganspace", "w", model=pipe.model_info())
    # dcgan: Z is an isotropic ball, so PCA of Z finds nothing. As GANSpace does for BigGAN, take
    # PCA of the first layer's features and regress Z on the component coordinates.
    with torch.inference_mode():
        feats = pipe.model.net[:3](samples.float()[:, :, None, None]).flatten(1).double()
    k = min(top, samples.shape[1], feats.shape[1], len(samples) - 1)
    mean = feats.mean(0)
    _, s, v = torch.svd_lowrank(feats - mean, q=min(k + 10, feats.shape[1]), niter=6)
    coords = (feats - mean) @ v[:, :k]
    u = torch.linalg.lstsq(coords, samples - samples.mean(0)).solution  # [k, latent_dim]
    vectors = _sign_fix(u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)).float()
    return Directions(vectors, (s[:k] ** 2 / (len(samples) - 1)).float(), _scales(pipe, vectors),
                      "ganspace", "z", model=pipe.model_info())


def compute(pipe: FaceGenerator, method: str = "sefa", layers: list[int] | None = None,
            top: int = DEFAULT_TOP) -> Directions:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "sefa":
        return sefa(pipe, layers, top)
    return ganspace(pipe, top)


def save_directions(d: Directions, path: str | Path, overwrite: bool = False) -> Path:
    """A safetensors file: the tensors, and JSON metadata (method, names, the model's sha256)."""
    import safetensors.torch

    from ..atomic import write_bytes

    meta = {"format": FORMAT, "version": 1, "method": d.method, "space": d.space, "layers": d.layers,
            "names": d.names, "model": d.model}
    if d.rows or d.info:
        meta.update(rows=d.rows, info=d.info)
    tensors = {"vectors": d.vectors.contiguous(), "values": d.values.contiguous(), "scales": d.scales.contiguous()}
    tensors.update({f"{ROW_VECTORS}{k}": v.float().contiguous() for k, v in d.row_vectors.items()})
    write_bytes(path, safetensors.torch.save(tensors, metadata={FORMAT: json.dumps(meta)}), overwrite=overwrite)
    return Path(path)


def load_directions(path: str | Path, pipe: FaceGenerator | None = None) -> Directions:
    """Read and check a directions file (never unpickles); with `pipe`, refuse another model's."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no directions file (make one with `facegen directions MODEL`)")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: too big for a directions file")
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {})[FORMAT])
            t = {k: f.get_tensor(k).float() for k in ("vectors", "values", "scales")}
            per_row = {k.removeprefix(ROW_VECTORS): f.get_tensor(k).float() for k in f.keys()
                       if k.startswith(ROW_VECTORS)}
    except Exception as e:  # safetensors raises its own types for corrupt files
        raise ValueError(f"{path}: not a facegen directions file ({type(e).__name__}: {e})") from None
    k = t["vectors"].shape[0]
    if t["vectors"].dim() != 2 or t["values"].shape != (k,) or t["scales"].shape != (k,):
        raise ValueError(f"{path}: tensors have inconsistent shapes")
    if not all(torch.isfinite(v).all() for v in [*t.values(), *per_row.values()]):
        raise ValueError(f"{path}: holds NaN or infinite values")
    dim = t["vectors"].shape[1]
    if any(not i.isdigit() or int(i) >= k or v.dim() != 2 or v.shape[1] != dim or not 0 < len(v) <= 64
           for i, v in per_row.items()):
        raise ValueError(f"{path}: its per-row vectors are malformed")
    d = Directions(t["vectors"], t["values"], t["scales"], meta["method"], meta["space"], meta.get("layers"),
                   {str(a): str(b) for a, b in (meta.get("names") or {}).items()}, meta.get("model") or {},
                   _rows(meta.get("rows"), k, path), meta.get("info") or {}, per_row)
    if pipe is not None:
        sha = d.model.get("sha256")
        if sha and pipe.model.sha256 and sha != pipe.model.sha256:
            raise ValueError(f"{path}: was computed for model {d.model.get('name')!r} (sha256 {sha[:12]}), "
                             f"not this one (sha256 {pipe.model.sha256[:12]}); recompute with `facegen directions`")
        if d.vectors.shape[1] != pipe.config.truncation_dim:
            raise ValueError(f"{path}: directions are {d.vectors.shape[1]}-d; this model's W is "
                             f"{pipe.config.truncation_dim}-d")
        if any(len(v) != pipe.config.num_ws for v in d.row_vectors.values()):
            raise ValueError(f"{path}: its per-row vectors have other than this model's {pipe.config.num_ws} rows")
    return d


def _rows(rows, count: int, path: Path) -> dict[str, list[int] | None]:
    """A file's per-direction rows, checked: {index: sorted row numbers or None}."""
    if not rows:
        return {}
    ok = isinstance(rows, dict) and all(
        str(k).isdigit() and int(k) < count and
        (v is None or (isinstance(v, list) and v and all(isinstance(r, int) and 0 <= r < 64 for r in v)))
        for k, v in rows.items())
    if not ok:
        raise ValueError(f"{path}: its per-direction layer rows are malformed")
    return {str(k): (sorted(v) if v is not None else None) for k, v in rows.items()}


def directions_path(model_ref: str) -> Path:
    """Where a model's directions live: MODEL.directions.safetensors beside a model file; for a
    bundled model (whose folder may be read-only) in $FACEGEN_HOME or ~/.local/share/facegen."""
    from ..modelfile import BUNDLED

    if str(model_ref) in BUNDLED:
        home = os.environ.get("FACEGEN_HOME") or Path(os.environ.get("XDG_DATA_HOME") or
                                                      Path.home() / ".local" / "share") / "facegen"
        user = Path(home) / f"{model_ref}.directions.safetensors"
        shipped = Path(__file__).resolve().parent.parent / "assets" / f"{model_ref}.directions.safetensors"
        return shipped if shipped.exists() and not user.exists() else user
    p = Path(model_ref)
    return p.with_name(p.name.removesuffix(".safetensors") + ".directions.safetensors")


def parse_strengths(text: str, steps: int = 7, limit: float = MAX_STRENGTH) -> list[float]:
    """'-4..4' (with `steps` values), '2', or '-2,0,2' -> strengths, each within ±limit."""
    text = str(text).strip()
    try:
        if ".." in text:
            lo, hi = (float(x) for x in text.split("..", 1))
            if not 1 <= steps <= 64:
                raise ValueError(f"steps must be between 1 and 64, got {steps}")
            values = [lo + (hi - lo) * i / (steps - 1) for i in range(steps)] if steps > 1 else [lo]
        else:
            values = [float(x) for x in text.split(",")]
    except ValueError as e:
        if "steps" in str(e):
            raise
        raise ValueError(f"strength must look like -4..4, 2 or -2,0,2, got {text!r}") from None
    bad = [v for v in values if not abs(v) <= limit]
    if bad:
        raise ValueError(f"strength {bad[0]} is out of range: at most ±{limit} standard deviations")
    return values


def apply_edit(w: torch.Tensor, vector: torch.Tensor, scale: float, strength: float,
               layers: list[int] | None, num_ws: int) -> torch.Tensor:
    """w moved `strength` standard deviations along `vector`, on `layers` only (all when None); a
    `vector` of [num_ws, D] is a w+ step, a vector per row (Directions.row_vector)."""
    if layers is None:
        return w + (strength * scale) * vector
    out = (w[None].expand(num_ws, -1) if w.dim() == 1 else w).clone()
    out[layers] = out[layers] + (strength * scale) * (vector[layers] if vector.dim() == 2 else vector)
    return out


def edit_sheet(pipe: FaceGenerator, base: torch.Tensor, vectors: torch.Tensor, scales: list[float],
               strengths: list[float], layers: list | None, labels: list[str] | None = None,
               size: int | None = None) -> Image.Image:
    """Rows = directions, columns = strengths; the recipe renderer calls this too. `layers`: rows
    for every direction (None = all), or one such entry per direction (named directions)."""
    num_ws = pipe.config.num_ws
    each = layers if layers and isinstance(layers[0], (list, type(None))) else [layers] * len(vectors)
    if len(each) != len(vectors):
        raise ValueError(f"{len(each)} layer choices for {len(vectors)} directions")
    if num_ws and base.dim() == 1 and any(e is not None for e in each):  # one shape for all, so they stack
        base = base if base.dim() == 2 else base[None].expand(num_ws, -1)
    ws = [apply_edit(base, vectors[k], float(scales[k]), s, each[k], num_ws)
          for k in range(len(vectors)) for s in strengths]
    images = synthesize_all(pipe, torch.stack(ws), size)
    grid = make_grid(images, len(strengths))
    return labelled_rows(grid, labels, images[0].height) if labels else grid


@renders("explore", "edit")
def render_edit_sheet(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    return edit_sheet(pipe, unpack(recipe["base"]), unpack(recipe["vectors"]), recipe["scales"], recipe["strengths"],
                      recipe["layers"], recipe.get("labels"), recipe.get("size"))


def edit(pipe: FaceGenerator, face: Face, d: Directions, refs: list, strengths: list[float],
         layers: list[int] | None = None, size: int | None = None, labels: bool = False) -> tuple[Image.Image, dict]:
    """A strip (one direction) or sheet (several) of edits of `face`, and its recipe. `layers`: the
    rows to change for every direction (None = all), or OWN for each direction's own rows (and its
    vector per row where it has them: d.row_vector)."""
    idx = [d.index(r) for r in refs]
    vectors = d.vectors[idx]
    if isinstance(layers, str) and layers == OWN:
        layers = [d.layers_of(k) for k in idx]
        layers = layers[0] if all(x == layers[0] for x in layers) else layers
        if any(str(k) in d.row_vectors for k in idx):  # w+ steps: a vector per row
            num_ws = pipe.config.num_ws
            vectors = torch.stack([d.row_vector(k, num_ws).expand(num_ws, -1) for k in idx])
    if layers is not None and pipe.config.architecture != "style":
        raise StyleOnlyError("editing chosen layers", pipe.config)
    scales = [float(d.scales[k]) for k in idx]
    row_labels = [d.label(k) for k in idx] if labels else None
    image = edit_sheet(pipe, face.w.float(), vectors, scales, strengths, layers, row_labels, size)
    recipe = sheet_recipe(pipe, size, "edit", base=pack(face.w.float()), vectors=pack(vectors), scales=scales,
                          strengths=list(strengths), layers=layers, labels=row_labels, directions=idx,
                          method=d.method, face=face.describe())
    return image, recipe
