"""`facegen breed` (children of parents, by layer group) and `facegen mix` (the style-mixing grid)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..limits import MAX_CHILDREN, MAX_MUTATION, MAX_SEED
from .faceargs import FACE_HELP, add_model_arguments, add_output_arguments, faces, load_pipe, output_path
from .generate import _bounded, check_output_dir

GROUP_HELP = {"coarse": "pose and face shape (4-8 px layers)", "middle": "features, hair style (16-32 px)",
              "fine": "colour and texture (64 px and up; the top layers of smaller models)"}


def add_breed_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("parents", nargs="+", metavar="FACE", help=f"parents A, B, ... (up to 8): {FACE_HELP}")
    for group, text in GROUP_HELP.items():
        p.add_argument(f"--{group}", metavar="PARENT", help=f"which parent gives {text}: A, B, ... or random (default)")
    p.add_argument("--children", type=_bounded(int, 1, MAX_CHILDREN, "--children"), default=1,
                   help="how many children (default 1)")
    p.add_argument("--mutation", type=_bounded(float, 0.0, MAX_MUTATION, "--mutation"), default=0.0,
                   help="random change, as a fraction of a random face's difference from the average "
                        f"(0-{MAX_MUTATION:g}, e.g. 0.3)")
    p.add_argument("--seed", type=_bounded(int, 0, MAX_SEED, "--seed"), help="seed for random choices (default: random)")
    add_output_arguments(p, "children", "output folder")
    add_model_arguments(p)


def run_breed(args) -> int:
    import numpy as np

    from ..explore.breed import LETTERS, breed, children_sheet_recipe
    from ..explore.recipes import latent_recipe, save_output, synthesize_all
    from ..imaging import make_grid
    from . import CLIError

    out = Path(args.out)
    if out.suffix.lower() in (".png", ".jpg"):
        raise CLIError(f"{out}: --out is a folder for the children (child000.png, ...)")
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
    paths = [out / f"child{i:03d}.png" for i in range(args.children)]
    sheet = out / "children.png" if args.children > 1 else None
    check_output_dir(out)
    for path in paths + ([sheet] if sheet else []):
        output_path(path, args.overwrite)
    pipe = load_pipe(args)
    parents = faces(args, pipe, args.parents)
    genes = {"coarse": args.coarse, "middle": args.middle, "fine": args.fine}
    try:
        brood = breed(pipe, parents, genes, args.children, args.mutation, seed)
    except ValueError as e:
        raise CLIError(str(e)) from None
    names = {LETTERS[i]: f.label for i, f in enumerate(parents)}
    print(f"parents: {', '.join(f'{k} = {v}' for k, v in names.items())}; seed {seed}")
    # Each child alone (batch=1), as `reproduce` re-makes a single face, so the pixels match exactly.
    images = synthesize_all(pipe, brood.ws, args.size, batch=1)
    for i, (image, w, path) in enumerate(zip(images, brood.ws, paths)):
        recipe = latent_recipe(pipe, w, args.size, "breed", parents=[f.describe() for f in parents],
                               genes=brood.genes[i], breed_seed=seed, child=i)
        save_output(image, path, recipe, args.overwrite)
        print(f"{path}  {_genes_text(brood.genes[i])}")
    if sheet:
        columns = min(8, args.children)
        recipe = children_sheet_recipe(pipe, brood, columns, args.size, batch=1,
                                       parents=[f.describe() for f in parents], breed_seed=seed)
        save_output(make_grid(images, columns), sheet, recipe, args.overwrite)
        print(sheet)
    return 0


def _genes_text(genes: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in genes.items() if k != "mutation" or v)


def add_mix_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rows", nargs="+", required=True, metavar="FACE",
                   help=f"faces down the left, which keep their other layers: seeds like 1,2,3 or 1-4, or {FACE_HELP}")
    p.add_argument("--cols", nargs="+", required=True, metavar="FACE", help="faces along the top, which give --styles")
    p.add_argument("--styles", default="coarse",
                   help="layers taken from the column faces: coarse, middle, fine (comma-separated) or rows like 0-3")
    add_output_arguments(p, "mix.png", "the grid (PNG)")
    add_model_arguments(p)


def run_mix(args) -> int:
    from ..explore.breed import mixing_grid
    from ..explore.layers import StyleOnlyError, describe_groups, parse_layers
    from ..explore.recipes import save_output
    from . import CLIError

    out = output_path(args.out, args.overwrite, (".png",))
    pipe = load_pipe(args)
    try:
        layers = parse_layers(args.styles, pipe.config)
        if layers is None:
            layers = list(range(pipe.config.num_ws))
        rows, cols = faces(args, pipe, args.rows), faces(args, pipe, args.cols)
        image, recipe = mixing_grid(pipe, rows, cols, layers, args.size, args.styles)
    except StyleOnlyError as e:
        raise CLIError(f"{e}; try `facegen breed` or `facegen morph`, which work for dcgan") from None
    except ValueError as e:
        raise CLIError(f"{e} (this model: {describe_groups(pipe.config)})") from None
    save_output(image, out, recipe, args.overwrite)
    print(f"{out}  ({len(rows)} x {len(cols)}, {args.styles} = w+ rows {layers} from the top faces)")
    return 0
