"""Photo in, latent out: find the W+ (style) or z (dcgan) that makes a given face.

    invert_crop(pipe, crop, steps=DEFAULT_STEPS, progress=False, seed=0, grey=False) -> Inversion
        crop: (H, W, 3) uint8 RGB framed like the model's training faces, any size (resized
        to the model resolution). Inversion: .face (explore.faces.Face; w is W+ [num_ws, w_dim]
        for style, z for dcgan), .image (PIL reconstruction at model resolution, const noise),
        .target (PIL), .psnr, .ssim (against the target), .steps (run), .seconds, .notes.
    invert_photo(pipe, photo, index=None, aligned=False, crop=1.0, template=None, ...)
        -> list[(FaceLocation, Inversion)]: faces found and aligned as in data.faces.locate_faces
        (FaceLocation: .face, the data.facebox.Face found, .matrix 2x3 photo -> crop pixels, .crop).
    save_inversion(pipe, inv, output_paths(dir, stem, k), source, location) writes the latent
        (.npz, "origin": "inverted"), the reconstruction and the side-by-side, all or none.
    MODEL_EYES: where the eyes sit in the bundled models' frame (fractions of its side).

The loss is pixel MSE plus (1 - SSIM) on the model-resolution images: SSIM needs no feature
network (nothing downloaded or extra installed) and costs about a millisecond a step. The
metrics' InceptionV3 would: one forward and backward pass at 299 px takes 0.8-0.9 s on one
core here, against 15-35 ms for a whole generator step, so 400 steps would take ~6 minutes.
The style model's noise inputs are left as they are: their learned strengths are ~0.001, so
optimising the noise maps cannot move the image without making them far from Gaussian.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from .data.facebox import Face as FoundFace
from .data.faces import (CELEBA_CROP_TEMPLATE, FaceLocation, FaceSearchError, FaceTemplate, NoFaceFound, centre_crop,
                         faces_at, locate_faces)
from .data.images import PhotoError, is_grey, read_photo
from .explore.faces import Face, average_w
from .pipeline import FaceGenerator

DEFAULT_STEPS = 400
MIN_FACE_FRACTION = 0.5     # a face cut from fewer photo pixels than half the model resolution is too small
MODEL_EYES = ((0.5 - CELEBA_CROP_TEMPLATE.eye_distance / 2, CELEBA_CROP_TEMPLATE.eye_y),
              (0.5 + CELEBA_CROP_TEMPLATE.eye_distance / 2, CELEBA_CROP_TEMPLATE.eye_y))
# Chosen on 4-6 CelebA test faces and 2 generated ones (bench/invert.py --set); see `_optimise`.
LR = 0.05
SSIM_WEIGHT = 0.05
W_PHASE = 0.25             # share of the steps spent on a single w before W+
RAMP = 0.25                 # share of the steps over which the learning rate falls to 0
CONVERGED = 2e-3            # stop when the loss falls less than this share over a window
WINDOW = 50


class InversionError(ValueError):
    """A photo or crop that cannot be inverted; the message names the file and the problem."""


@dataclass
class Inversion:
    face: Face
    image: Image.Image
    target: Image.Image
    psnr: float
    ssim: float
    steps: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def compare(self, scale: int = 1) -> Image.Image:
        """Target | reconstruction, side by side."""
        w, h = self.image.size
        out = Image.new("RGB", (2 * w, h))
        out.paste(self.target.resize((w, h)), (0, 0))
        out.paste(self.image, (w, 0))
        return out.resize((2 * w * scale, h * scale), Image.NEAREST) if scale > 1 else out


# ---- Image similarity

def _window(dtype) -> torch.Tensor:
    x = torch.arange(11, dtype=dtype) - 5
    g = torch.exp(-x ** 2 / (2 * 1.5 ** 2))
    return g / g.sum()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004: 11-tap Gaussian window, sigma 1.5, over the valid region,
    per channel) of [B, C, H, W] images in [0, 1]; differentiable."""
    c = a.shape[1]
    g = _window(a.dtype)
    kx = g.view(1, 1, 1, 11).repeat(c, 1, 1, 1)
    ky = g.view(1, 1, 11, 1).repeat(c, 1, 1, 1)

    def blur(x):
        return F.conv2d(F.conv2d(x, kx, groups=c), ky, groups=c)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean()


def image_scores(image: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(PSNR in dB, SSIM) of two uint8 (H, W, 3) images."""
    a = image.astype(np.float64)
    b = target.astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    psnr = 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))
    t = [torch.from_numpy(x).permute(2, 0, 1)[None] / 255.0 for x in (a, b)]
    return float(psnr), float(ssim(*t))


def _grey(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand(-1, 3, -1, -1)


# ---- Optimisation

def _resize(crop: np.ndarray, size: int) -> np.ndarray:
    crop = np.asarray(crop)
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
        raise InversionError(f"a crop must be an (H, W, 3) uint8 RGB array, not {crop.dtype} {list(crop.shape)}")
    if crop.shape[0] != crop.shape[1]:
        crop = centre_crop(crop, min(crop.shape[:2]))
    return centre_crop(crop, size)


def _start(pipe: FaceGenerator, seed: int) -> torch.Tensor:
    """The average face, nudged by `seed` so that different seeds can find different optima."""
    w = average_w(pipe)
    num_ws = pipe.config.num_ws
    if num_ws:
        w = w[None].repeat(num_ws, 1)
    if seed:
        gen = torch.Generator().manual_seed(int(seed))
        w = w + 0.02 * w.std() * torch.randn(w.shape, generator=gen)
    return w.clone()


def _optimise(pipe: FaceGenerator, target: torch.Tensor, steps: int, seed: int, grey: bool,
              progress: bool, desc: str = "inverting") -> tuple[torch.Tensor, int]:
    """Adam from the average face: one w for all layers first (the face's overall look, found
    in few steps), then W+ (each layer its own style); z for dcgan. The learning rate ramps
    down over the last quarter, or over the steps that follow once the loss has flattened."""
    model = pipe.model
    num_ws = pipe.config.num_ws
    uniform = pipe.config.architecture == "dcgan" and pipe.config.latent_distribution == "uniform01"
    start = _start(pipe, seed)
    single = bool(num_ws) and W_PHASE > 0
    p = (start.mean(0) if single else start).requires_grad_(True)
    opt = torch.optim.Adam([p], lr=LR)
    target01 = _grey((target + 1) / 2) if grey else (target + 1) / 2
    ramp = max(1, round(RAMP * steps))
    end, switch = steps, round(W_PHASE * steps) if single else -1
    best, best_w, history = float("inf"), start, []
    step = 0
    with tqdm(total=steps, desc=desc, unit="step", disable=not progress, leave=False) as bar:
        while step < end:
            if step == switch:
                p = p.detach()[None].repeat(num_ws, 1).requires_grad_(True)
                opt = torch.optim.Adam([p], lr=LR)
                history.clear()
            for group in opt.param_groups:
                group["lr"] = LR * min(1.0, (end - step) / ramp)
            w = p[None].expand(num_ws, -1) if p.dim() == 1 and num_ws else p
            x = (model.synthesis(w[None], "const") + 1) / 2
            if grey:
                x = _grey(x)
            loss = F.mse_loss(x, target01)
            if SSIM_WEIGHT:
                loss = loss + SSIM_WEIGHT * (1 - ssim(x, target01))
            value = float(loss.detach())
            if value < best:  # the loss is that of w before this step
                best, best_w = value, w.detach().clone()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if uniform:
                with torch.no_grad():
                    p.clamp_(0.0, 1.0)  # the classic model's latents live in [0, 1)
            history.append(value)
            step += 1
            bar.update(1)
            if end == steps and step > switch and len(history) > 2 * WINDOW and end - step > ramp:
                old = min(history[-2 * WINDOW:-WINDOW])
                if old - min(history[-WINDOW:]) < CONVERGED * old:
                    end = step + ramp  # flattened: ramp the learning rate down now, then stop
                    bar.total = end
                    bar.refresh()
    return best_w, step


def invert_crop(pipe: FaceGenerator, crop: np.ndarray, steps: int = DEFAULT_STEPS, progress: bool = False,
                seed: int = 0, grey: bool = False, label: str = "inverted face") -> Inversion:
    """The latent that reproduces an aligned face crop; see the module docstring."""
    if not isinstance(steps, int) or not 1 <= steps <= 100_000:
        raise InversionError(f"steps must be between 1 and 100000, got {steps!r}")
    size = pipe.config.resolution
    rgb = _resize(crop, size)
    target = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 127.5 - 1
    start = time.perf_counter()
    with torch.enable_grad():
        w, done = _optimise(pipe, target, steps, seed, grey, progress, label)
    image = pipe.synthesize(w[None])[0]
    seconds = time.perf_counter() - start
    out = np.asarray(image)
    ref = rgb
    if grey:
        out = np.asarray(image.convert("L").convert("RGB"))
        ref = np.asarray(Image.fromarray(rgb).convert("L").convert("RGB"))
    psnr, score = image_scores(out, ref)
    notes = ["greyscale target: matched in grey, so the colours are the model's guess"] if grey else []
    face = Face(w, label, inverted_from=[w.clone()])
    return Inversion(face, image, Image.fromarray(rgb), psnr, score, done, seconds, notes)


# ---- Photos

def find_crops(pipe: FaceGenerator, rgb: np.ndarray, source: str, index: int | None = None, aligned: bool = False,
               crop: float = 1.0, template: FaceTemplate | None = None,
               min_face: float | None = None) -> list[FaceLocation]:
    """The faces to invert: aligned like the model's training faces, largest first.

    `min_face`: the fewest photo pixels across a face's aligned frame (data.faces.pick_faces; default:
    half the model resolution, below which the crop is mostly upsampling blur and the inversion a guess)."""
    size = pipe.config.resolution
    t = template or CELEBA_CROP_TEMPLATE
    chosen = None if index is None else [index]
    try:
        if aligned:
            return faces_at([_whole_picture(rgb, size, crop, t)], chosen)
        return locate_faces(rgb, size, t, min_side=min_face or MIN_FACE_FRACTION * size, index=chosen)
    except NoFaceFound as e:
        raise InversionError(f"{source}: {e}; for a picture that is already a face crop, use --aligned") from None
    except FaceSearchError as e:
        raise InversionError(f"{source}: {e}") from None


def _whole_picture(rgb: np.ndarray, size: int, crop: float, t: FaceTemplate) -> FaceLocation:
    """An already aligned picture as one face: the matrix is the centre crop's scale and shift."""
    h, w = rgb.shape[:2]
    side = max(1, round(min(h, w) * crop))
    s = size / side
    m = np.array([[s, 0, -s * ((w - side) // 2)], [0, s, -s * ((h - side) // 2)]], dtype=np.float64)
    eyes = [((0.5 + d * t.eye_distance / 2) * size, t.eye_y * size) for d in (-1, 1)]
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    eyes = [tuple(inv @ np.array([x, y, 1.0])) for x, y in eyes]
    return FaceLocation(FoundFace((0, 0, w, h), eyes[0], eyes[1], False, source="aligned"), m, size,
                        centre_crop(rgb, size, crop))


def invert_photo(pipe: FaceGenerator, photo, index: int | None = None, aligned: bool = False, crop: float = 1.0,
                 template: FaceTemplate | None = None, steps: int = DEFAULT_STEPS, progress: bool = False,
                 seed: int = 0, max_pixels: int | None = None,
                 min_face: float | None = None) -> list[tuple[FaceLocation, Inversion]]:
    """Every face in a photo (a path or an RGB uint8 array), aligned and inverted; see the module docstring."""
    if isinstance(photo, (str, Path)):
        source = str(photo)
        try:
            rgb, notes = read_photo(photo, max_pixels)
        except PhotoError as e:
            raise InversionError(str(e)) from None
    else:
        source, rgb, notes = "image", np.asarray(photo), []
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InversionError(f"{source}: must be an (H, W, 3) uint8 RGB array, not {rgb.dtype} {list(rgb.shape)}")
    grey = is_grey(rgb)
    out = []
    for k, loc in enumerate(find_crops(pipe, rgb, source, index, aligned, crop, template, min_face)):
        k = index if index is not None else k
        name = Path(source).name
        inv = invert_crop(pipe, loc.crop, steps, progress, seed, grey, label=f"{name} face {k}")
        inv.notes = notes + inv.notes
        out.append((loc, inv))
    return out


# ---- Writing

def output_paths(out_dir: str | Path, stem: str, k: int) -> dict[str, Path]:
    base = Path(out_dir) / f"{stem}_face{k}"
    return {"latent": base.with_suffix(".npz"), "image": base.with_suffix(".png"),
            "compare": base.with_name(base.name + "_compare.png")}


def save_inversion(pipe: FaceGenerator, inv: Inversion, paths: dict[str, Path], source: dict,
                   location: FaceLocation | None = None, overwrite: bool = False) -> dict[str, Path]:
    """Write the latent (.npz), the reconstruction and the side-by-side, all or none.

    `source`: what the latent's metadata says about the photo ({"source": name,
    "source_sha256": ..., "face_index": k}); the images carry a provenance recipe holding the latent.
    """
    from .explore.faces import save_latent
    from .explore.recipes import latent_recipe, save_output

    if not overwrite:
        taken = [str(p) for p in paths.values() if p.exists()]
        if taken:
            raise FileExistsError(f"{taken[0]}: already exists (use --overwrite)")
    info = {"origin": "inverted", **source, "psnr": round(inv.psnr, 3), "ssim": round(inv.ssim, 4),
            "steps": inv.steps}
    if location is not None:
        info["photo_face"] = dict(location.face.in_photo(), matrix=np.round(location.matrix, 6).tolist())
    recipe = latent_recipe(pipe, inv.face.w, None, "invert", face=inv.face.describe(), **info)
    compare = dict(pipe.recipe_base("const", None), kind="explore", op="invert-compare",
                   note="left: the photo's face crop (not generated); right: its inversion (AI-generated)",
                   latent=recipe["latent"], **info)
    written = []
    try:
        written.append(save_latent(paths["latent"], inv.face, pipe, overwrite, info))
        written.append(save_output(inv.image, paths["image"], recipe, overwrite))
        written.append(save_output(inv.compare(), paths["compare"], compare, overwrite))
    except BaseException:
        # All three or none: a latent without its pictures (or the reverse) looks finished but is not.
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return paths
