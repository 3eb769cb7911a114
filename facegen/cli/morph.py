"""`facegen morph A B [C ...]`: a smooth video (GIF or MP4) through faces, and a frame sheet."""
from __future__ import annotations

import argparse
import time

from ..limits import MAX_FPS, MAX_FRAMES
from .faceargs import FACE_HELP, add_model_arguments, add_output_arguments, faces, load_pipe, output_path
from .generate import _bounded


def add_morph_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("faces", nargs="+", metavar="FACE", help=f"two or more faces: {FACE_HELP}")
    p.add_argument("--frames", type=_bounded(int, 2, MAX_FRAMES, "--frames"), default=60, help="frames in all (default 60)")
    p.add_argument("--fps", type=_bounded(float, 1.0, MAX_FPS, "--fps"), default=25.0, help="frames per second (default 25)")
    p.add_argument("--loop", action="store_true", help="go on from the last face back to the first, for a seamless loop")
    p.add_argument("--space", choices=("auto", "z", "w"), default="auto",
                   help="auto: lerp in W for style, slerp in Z for dcgan; z: slerp in Z (seed faces only)")
    p.add_argument("--grid", nargs="?", const="auto", metavar="PNG",
                   help="also write every frame on one PNG sheet (default name: OUT_frames.png)")
    add_output_arguments(p, "morph.gif", "the video: .gif (always works) or .mp4 (needs facegen[video]), or .png for the sheet only")
    add_model_arguments(p)


def run_morph(args) -> int:
    from ..explore.morph import morph, write_gif, write_mp4, write_sidecar
    from ..explore.recipes import save_output
    from ..imaging import make_grid
    from . import CLIError

    out = output_path(args.out, args.overwrite, (".gif", ".mp4", ".png"))
    grid = None
    if out.suffix.lower() == ".png":
        grid, out = out, None
    elif args.grid:
        grid = output_path(out.with_name(out.stem + "_frames.png") if args.grid == "auto" else args.grid,
                           args.overwrite, (".png",))
    if out is not None:
        output_path(str(out) + ".json", args.overwrite)
        if out.suffix.lower() == ".mp4":
            try:
                import imageio_ffmpeg  # noqa: F401  (checked before the work, not after)
            except ImportError:
                raise CLIError("MP4 needs the imageio-ffmpeg package: pip install 'facegen[video]' "
                               "(or write a .gif, which always works)") from None
    pipe = load_pipe(args)
    keys = faces(args, pipe, args.faces)
    if len(keys) < 2:
        raise CLIError("a morph needs at least two faces")
    start = time.perf_counter()
    try:
        result = morph(pipe, keys, args.frames, args.loop, args.space, args.size, progress=True)
    except ValueError as e:
        raise CLIError(str(e)) from None
    if out is not None:
        if out.suffix.lower() == ".gif":
            fps = write_gif(result.images, out, args.fps, args.overwrite)
            if abs(fps - args.fps) > 1e-6:
                print(f"note: GIF stores frame delays in 1/100 s, so {args.fps:g} fps is written as {fps:g} fps")
        else:
            fps = write_mp4(result.images, out, args.fps, args.overwrite)
        side = write_sidecar(out, result.recipe, fps, args.overwrite)
        print(f"{out}  ({len(result.images)} frames at {fps:g} fps, {time.perf_counter() - start:.2f} s; recipe in {side.name})")
    if grid is not None:
        save_output(make_grid(result.images, result.recipe["columns"]), grid, result.recipe, args.overwrite)
        print(grid)
    return 0
