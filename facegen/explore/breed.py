"""Breeding (Artbreeder-like) and the style-mixing grid of the StyleGAN paper.

A style child takes each layer group's rows of w+ from one parent: coarse rows
carry pose and face shape, middle ones features, fine ones colour and texture.
dcgan has no layers, so its children cross over the coordinates of Z instead
(a coordinate-wise mix of Gaussian samples is itself a Gaussian sample).
Mutation adds `mutation` times the offset of a random face from the average
face, so it is noise shaped like the model's own variation, not isotropic fuzz.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from ..imaging import make_grid
from ..limits import MAX_CHILDREN, MAX_MUTATION
from ..pipeline import FaceGenerator
from ..recipe_schema import renders
from .faces import Face, average_w
from .layers import GROUPS, StyleOnlyError, layer_groups
from .recipes import CHUNK, pack, sheet_recipe, synthesize_all, unpack

LETTERS = "ABCDEFGH"
MAX_GRID_SIDE = 16


@dataclass
class Brood:
    ws: torch.Tensor  # [children, num_ws, D] (style) or [children, D] (dcgan)
    genes: list[dict]  # per child: which parent each group came from, and the mutation


def parent_index(spec: str, n_parents: int) -> int | None:
    """'A'/'b'/'2' -> parent index (0-based for letters, 1-based for numbers); 'random' -> None."""
    s = str(spec).strip().upper()
    if s == "RANDOM":
        return None
    i = LETTERS.find(s) if len(s) == 1 and s.isalpha() else (int(s) - 1 if s.isdigit() else -1)
    if not 0 <= i < n_parents:
        names = ", ".join(LETTERS[:n_parents])
        raise ValueError(f"parent {spec!r} is not one of {names} (or 'random')")
    return i


def breed(pipe: FaceGenerator, parents: list[Face], genes: dict[str, str] | None = None, children: int = 1,
          mutation: float = 0.0, seed: int = 0) -> Brood:
    """Children of two or more parents; `genes` maps coarse/middle/fine to a parent letter or 'random'."""
    config = pipe.config
    genes = {k: v for k, v in (genes or {}).items() if v is not None}
    if not 1 <= len(parents) <= len(LETTERS):
        raise ValueError(f"breeding takes 1 to {len(LETTERS)} parents, got {len(parents)}")
    if not isinstance(children, int) or not 1 <= children <= MAX_CHILDREN:
        raise ValueError(f"children must be between 1 and {MAX_CHILDREN}, got {children!r}")
    if not 0.0 <= mutation <= MAX_MUTATION:
        raise ValueError(f"mutation must be between 0 and {MAX_MUTATION}, got {mutation}")
    unknown = set(genes) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown layer groups {sorted(unknown)}; use {', '.join(GROUPS)}")
    style = config.architecture == "style"
    if genes and not style:
        raise StyleOnlyError("choosing coarse/middle/fine parents", config)
    chosen = {g: parent_index(v, len(parents)) for g, v in genes.items()}
    gen = torch.Generator().manual_seed(int(seed))
    center = average_w(pipe)
    stack = torch.stack([p.wplus(config.num_ws) for p in parents]).float()  # [P, num_ws, D] or [P, D]
    out, info = [], []
    for _ in range(children):
        if style:
            child, picked = stack[0].clone(), {}
            for group, rows in layer_groups(config).items():
                i = chosen.get(group)
                if i is None:
                    i = int(torch.randint(len(parents), (1,), generator=gen))
                picked[group] = LETTERS[i]
                child[rows] = stack[i, rows]
        else:
            pick = torch.randint(len(parents), (stack.shape[1],), generator=gen)
            child = stack[pick, torch.arange(stack.shape[1])]
            picked = {"crossover": "per Z coordinate, uniform over parents"}
        if mutation:
            child = child + mutation * (random_w(pipe, gen) - center)
        out.append(child)
        info.append(dict(picked, mutation=mutation))
    return Brood(torch.stack(out), info)


def random_w(pipe: FaceGenerator, gen: torch.Generator) -> torch.Tensor:
    """One random face's w (z for dcgan), drawn from `gen`."""
    return pipe.mapping(pipe.model.sample_latents(1, gen), 1.0)[0]


def mix_rows(base: torch.Tensor, donor: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """`base` w+ with `rows` taken from `donor` w+."""
    out = base.clone()
    out[rows] = donor[rows]
    return out


def mixing_grid_image(pipe: FaceGenerator, rows_w: torch.Tensor, cols_w: torch.Tensor, layers: list[int],
                      size: int | None = None) -> Image.Image:
    """Top row: the column faces; left column: the row faces; cell (r, c): row face r with
    `layers` from column face c. The corner is blank, as in the StyleGAN paper's figure."""
    ws = [cols_w[c] for c in range(len(cols_w))]
    for r in range(len(rows_w)):
        ws.append(rows_w[r])
        ws += [mix_rows(rows_w[r], cols_w[c], layers) for c in range(len(cols_w))]
    images = synthesize_all(pipe, torch.stack(ws), size)
    blank = Image.new("RGB", images[0].size, (255, 255, 255))
    return make_grid([blank] + images, len(cols_w) + 1)


@renders("explore", "mix")
def render_mixing_grid(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    return mixing_grid_image(pipe, unpack(recipe["rows"]), unpack(recipe["cols"]), recipe["layers"], recipe.get("size"))


def mixing_grid(pipe: FaceGenerator, rows: list[Face], cols: list[Face], layers: list[int],
                size: int | None = None, layer_spec: str = "") -> tuple[Image.Image, dict]:
    """The mixing grid and the recipe that re-makes it."""
    if pipe.config.architecture != "style":
        raise StyleOnlyError("style mixing", pipe.config)
    if not (1 <= len(rows) <= MAX_GRID_SIDE and 1 <= len(cols) <= MAX_GRID_SIDE):
        raise ValueError(f"a mixing grid takes 1 to {MAX_GRID_SIDE} row faces and column faces")
    if not layers:
        raise ValueError("a mixing grid needs at least one layer to take from the column faces")
    num_ws = pipe.config.num_ws
    rows_w = torch.stack([f.wplus(num_ws) for f in rows]).float()
    cols_w = torch.stack([f.wplus(num_ws) for f in cols]).float()
    image = mixing_grid_image(pipe, rows_w, cols_w, layers, size)
    recipe = sheet_recipe(pipe, size, "mix", rows=pack(rows_w), cols=pack(cols_w), layers=list(layers),
                          styles=layer_spec, row_faces=[f.describe() for f in rows],
                          col_faces=[f.describe() for f in cols])
    return image, recipe


def children_sheet_recipe(pipe: FaceGenerator, brood: Brood, columns: int, size: int | None, batch: int = CHUNK,
                          **info) -> dict:
    """The recipe of a sheet of `brood`'s children, synthesised `batch` at a time."""
    return sheet_recipe(pipe, size, "children", ws=pack(brood.ws), columns=columns, genes=brood.genes, batch=batch,
                        **info)


@renders("explore", "children")
def render_children(recipe: dict, pipe: FaceGenerator) -> Image.Image:
    # Sheets written before "batch" was recorded were all made CHUNK at a time.
    images = synthesize_all(pipe, unpack(recipe["ws"]), recipe.get("size"), batch=recipe.get("batch", CHUNK))
    return make_grid(images, recipe["columns"])
