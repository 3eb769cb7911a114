"""`facegen invert IMAGE`: find the latent of each face in a photo or painting, to explore it like any other."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from .faceargs import add_model_arguments
from .generate import _bounded


def add_invert_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE", help="a photo, painting or face crop (JPEG, PNG, WebP, BMP, TIFF)")
    p.add_argument("--out", default=".", help="folder for NAME_faceK.npz/.png/_compare.png (default: here)")
    p.add_argument("--steps", type=_bounded(int, 1, 100_000, "--steps"), default=None,
                   help="at most this many optimisation steps per face (default 400; stops early on convergence)")
    p.add_argument("--index", type=_bounded(int, 0, 1000, "--index"), default=None,
                   help="invert only this face (0 = the largest); default: every face found")
    p.add_argument("--aligned", action="store_true",
                   help="IMAGE is already a face crop framed like the model's faces: no detection")
    p.add_argument("--crop", type=_bounded(float, 0.1, 1.0, "--crop"), default=1.0,
                   help="with --aligned: keep the centred square of this share of the shorter side "
                        "(0.8 for CelebA's aligned photos, as the bundled models were trained)")
    p.add_argument("--template", choices=("celeba", "ffhq"), default="celeba",
                   help="how the model's training faces were framed: celeba (the bundled models: "
                        "prepare --aligned --crop 0.8) or ffhq (prepare with detection)")
    p.add_argument("--min-face", type=_bounded(int, 1, 100_000, "--min-face"), default=None,
                   help="skip faces framed by fewer photo pixels than this: the side of the square each face is "
                        "aligned into, about 3.7 times its eye distance (default: half the model resolution)")
    p.add_argument("--seed", type=_bounded(int, 0, 2**31 - 1, "--seed"), default=0,
                   help="nudges the starting point (different seeds, slightly different results)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_arguments(p, truncation=False)


def run_invert(args) -> int:
    from ..data.faces import CELEBA_CROP_TEMPLATE, FFHQ_TEMPLATE
    from ..data.images import file_sha256, is_grey, read_photo
    from ..inversion import DEFAULT_STEPS, InversionError, find_crops, invert_crop, output_paths, save_inversion
    from .faceargs import load_pipe
    from .generate import check_output_dir
    from . import CLIError

    image = Path(args.image)
    # The photo is read and its faces found before check_output_dir creates the folder: a refused
    # photo leaves nothing behind.
    rgb, notes = read_photo(image)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"{out}: exists and is not a folder")
    pipe = load_pipe(args)
    template = CELEBA_CROP_TEMPLATE if args.template == "celeba" else FFHQ_TEMPLATE
    start = time.perf_counter()
    try:
        faces = find_crops(pipe, rgb, str(image), args.index, args.aligned, args.crop, template, args.min_face)
    except InversionError as e:
        raise CLIError(str(e)) from None
    check_output_dir(out)
    ks = [args.index] if args.index is not None else list(range(len(faces)))
    plans = [output_paths(out, image.stem, k) for k in ks]
    if not args.overwrite:
        # Every face's files are checked before any work: all of them get written, or none.
        taken = [str(p) for plan in plans for p in plan.values() if p.exists()]
        if taken:
            raise CLIError(f"{taken[0]}: already exists (use --overwrite)")
    for note in notes:
        print(f"note: {note}")
    grey = is_grey(rgb)
    done = [invert_crop(pipe, loc.crop, args.steps or DEFAULT_STEPS, not args.no_progress, args.seed, grey,
                        label=f"{image.name} face {k}") for k, loc in zip(ks, faces)]
    sha = file_sha256(image)
    written = []
    try:
        for k, plan, loc, inv in zip(ks, plans, faces, done):
            for note in inv.notes:
                print(f"note: {note}")
            source = {"source": image.name, "source_sha256": sha, "face_index": k}
            written.append(save_inversion(pipe, inv, plan, source, None if args.aligned else loc, args.overwrite))
            print(f"{plan['latent']}  face {k}: PSNR {inv.psnr:.2f} dB, SSIM {inv.ssim:.3f}, "
                  f"{inv.steps} steps, {inv.seconds:.1f} s  (+ {plan['image'].name}, {plan['compare'].name})")
    except BaseException:
        for plan in written:
            for p in plan.values():
                p.unlink(missing_ok=True)
        raise
    print(f"{len(done)} face{'s' if len(done) != 1 else ''} inverted in {time.perf_counter() - start:.1f} s; "
          f"use the .npz files with morph, breed, edit, transform")
    return 0
