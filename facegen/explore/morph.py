"""Morphs: smooth paths through latent space between faces, written as GIF, MP4 or a strip.

Z is a Gaussian ball, so a straight line between two z's passes through
unlikely, washed-out faces near the centre; slerp keeps to the shell where
faces live. W is already warped to be nearly linear, so a plain lerp is the
smooth path there (and is what style mixing and edits use).
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..atomic import atomic_path
from ..imaging import make_grid
from ..limits import MAX_FRAMES
from ..pipeline import FaceGenerator
from ..recipe_schema import renders
from .faces import Face
from .recipes import CHUNK, pack, sheet_recipe, synthesize_all, unpack

NOTICE = "AI-generated morph of faces that do not exist, made with facegen"


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """(1-t)a + tb, written so that t=0 gives a and t=1 gives b exactly."""
    return (1.0 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, center: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Spherical interpolation about `center`: the angle moves evenly and the radius goes linearly
    from |a| to |b|, so equal-norm endpoints give equal-norm frames. Exact at t=0 and t=1."""
    if t == 0.0:
        return a.clone()
    if t == 1.0:
        return b.clone()
    a0, b0 = (a - center).double(), (b - center).double()
    na, nb = a0.norm(dim=-1, keepdim=True), b0.norm(dim=-1, keepdim=True)
    ua, ub = a0 / na.clamp_min(1e-12), b0 / nb.clamp_min(1e-12)
    omega = torch.arccos((ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0))
    so = torch.sin(omega)
    # Nearly parallel directions: the sine ratio is 0/0, and lerp of the directions is the limit.
    near = so.abs() < 1e-6
    wa = torch.where(near, 1.0 - t, torch.sin((1.0 - t) * omega) / torch.where(near, 1.0, so))
    wb = torch.where(near, t, torch.sin(t * omega) / torch.where(near, 1.0, so))
    u = wa * ua + wb * ub
    u = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return (u * ((1.0 - t) * na + t * nb) + center).to(a.dtype)


def positions(n_keys: int, frames: int, loop: bool) -> list[tuple[int, float]]:
    """(segment, t) per frame: evenly spaced along the path, first frame on the first face; the
    last frame lands on the last face, or (loop) one step before the first so the video cycles."""
    segments = n_keys if loop else n_keys - 1
    out = []
    for i in range(frames):
        p = segments * i / frames if loop else (segments * i / (frames - 1) if frames > 1 else 0.0)
        seg = min(int(p), segments - 1)
        out.append((seg, p - seg))
    return out


def interpolate(keys: torch.Tensor, frames: int, loop: bool, space: str, pipe: FaceGenerator,
                truncation: float = 1.0) -> torch.Tensor:
    """Latents along the path through `keys` ([K, ...] z's when space is 'z', else w/w+)."""
    n = keys.shape[0]
    center = pipe.config.latent_mean  # of z: slerp goes round the distribution's centre
    out = []
    for seg, t in positions(n, frames, loop):
        a, b = keys[seg], keys[(seg + 1) % n]
        out.append(slerp(a, b, t, center) if space == "z" else lerp(a, b, t))
    if space == "w":
        return torch.stack(out)
    # One z at a time: batched matmuls round differently, and frame 0 must be face A's w exactly.
    return torch.cat([pipe.mapping(z[None], truncation) for z in out])


def choose_space(faces: list[Face], pipe: FaceGenerator, space: str = "auto") -> str:
    """'z' for dcgan (its only space); 'w' for style, or 'z' when asked and every face has a z."""
    if space not in ("auto", "z", "w"):
        raise ValueError(f"space must be auto, z or w, not {space!r}")
    has_z = all(f.z is not None for f in faces) and len({f.truncation for f in faces}) == 1
    if pipe.config.architecture == "dcgan":
        return "z" if has_z and space != "w" else "w"
    if space == "z" and not has_z:
        raise ValueError("a morph in Z needs every face to have a z with the same truncation "
                         "(seeds, or z latent files); use --space w")
    return "z" if space == "z" else "w"


@dataclass
class Morph:
    images: list[Image.Image]
    ws: torch.Tensor
    recipe: dict  # kind 'explore', op 'morph': re-makes the frame sheet


def morph(pipe: FaceGenerator, faces: list[Face], frames: int = 60, loop: bool = False, space: str = "auto",
          size: int | None = None, columns: int | None = None, progress: bool = False, batch: int = CHUNK) -> Morph:
    """Frames along a path through `faces` (two or more); frame 0 is the first face exactly.

    Frames are synthesised `batch` at a time, as the recipe then says; `batch=1` when each frame is
    handed out as a face of its own, whose recipe (kind 'latent') re-makes it alone.
    """
    if len(faces) < 2:
        raise ValueError("a morph needs at least two faces")
    if not isinstance(frames, int) or not max(2, len(faces)) <= frames <= MAX_FRAMES:
        raise ValueError(f"frames must be between {max(2, len(faces))} and {MAX_FRAMES}, got {frames!r}")
    space = choose_space(faces, pipe, space)
    if space == "z":
        keys, truncation = torch.stack([f.z for f in faces]).float(), faces[0].truncation
    else:
        num_ws = pipe.config.num_ws
        per_layer = any(f.w.dim() == 2 for f in faces)
        keys = torch.stack([f.wplus(num_ws) if per_layer else f.w for f in faces]).float()
        truncation = 1.0
    ws = interpolate(keys, frames, loop, space, pipe, truncation)
    images = synthesize_all(pipe, ws, size, progress, desc="morph", batch=batch)
    columns = columns or default_columns(frames)
    recipe = sheet_recipe(pipe, size, "morph", keys=pack(keys), frames=frames, loop=loop, space=space,
                          truncation=truncation, columns=columns, batch=batch, faces=[f.describe() for f in faces])
    return Morph(images, ws, recipe)


@renders("explore", "morph")
def render_morph(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    ws = interpolate(unpack(recipe["keys"]), recipe["frames"], recipe["loop"], recipe["space"], pipe,
                     recipe.get("truncation", 1.0))
    # Recipes written before "batch" was recorded were all made CHUNK at a time.
    images = synthesize_all(pipe, ws, recipe.get("size"), batch=recipe.get("batch", CHUNK))
    return make_grid(images, recipe["columns"])


def gif_fps(fps: float) -> float:
    """GIF stores frame delays in 1/100 s, so only 100/k fps exist; the nearest one."""
    return 100.0 / max(2, round(100.0 / fps))


def write_gif(images: list[Image.Image], path: str | Path, fps: float = 25.0, overwrite: bool = False) -> float:
    """An endlessly looping GIF (Pillow); returns the frame rate actually stored."""
    real = gif_fps(fps)
    # Fast octree quantisation: ~15x quicker than Pillow's default median cut for a mean error
    # of ~6 grey levels instead of ~5, and a morph has many frames.
    frames = [im.quantize(method=Image.Quantize.FASTOCTREE) for im in images]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=round(1000 / real), loop=0,
                   optimize=False, disposal=1, comment=NOTICE)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(buf.getvalue())
    return real


def write_mp4(images: list[Image.Image], path: str | Path, fps: float = 25.0, overwrite: bool = False,
              quality: int = 8) -> float:
    """H.264 MP4 through imageio-ffmpeg's bundled ffmpeg (pip install 'facegen[video]')."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ValueError("MP4 needs the imageio-ffmpeg package (pip install 'facegen[video]'); "
                         "or write a .gif, which always works") from None
    w, h = images[0].size
    with atomic_path(path, overwrite=overwrite) as tmp:
        # The temporary name ends in .tmp, so the container is named explicitly.
        writer = imageio_ffmpeg.write_frames(str(tmp), (w, h), fps=fps, codec="libx264", quality=quality,
                                             macro_block_size=2, ffmpeg_log_level="error",
                                             output_params=["-f", "mp4", "-metadata", f"comment={NOTICE}"])
        writer.send(None)
        try:
            for im in images:
                writer.send(im.tobytes())
        finally:
            writer.close()
    return float(fps)


def read_video(path: str | Path) -> tuple[int, float]:
    """(frame count, frames per second) of a GIF or MP4 written here, as a player would see them."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        with Image.open(path) as im:
            n, delay = im.n_frames, im.info.get("duration", 0)
        return n, (1000.0 / delay if delay else 0.0)
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    n = sum(1 for _ in reader)
    return n, float(meta["fps"])


def write_sidecar(path: str | Path, recipe: dict, fps: float, overwrite: bool = False) -> Path:
    """The recipe of a video, beside it (GIF/MP4 have nowhere safe to keep it)."""
    side = Path(str(path) + ".json")
    data = dict(recipe, fps=fps, video=Path(path).name, notice=NOTICE)
    with atomic_path(side, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(data, indent=1))
    return side


def frame_sheet(result: Morph) -> Image.Image:
    """All frames on one sheet; it carries the recipe that re-makes it."""
    return make_grid(result.images, result.recipe["columns"])


def default_columns(frames: int) -> int:
    return min(frames, 12) if frames <= 144 else math.ceil(math.sqrt(frames))
