"""Named edit directions (smile, age, glasses, ...) found with the attribute classifier, InterFaceGAN-style.

1. Label many generated faces: seeded z -> w -> picture -> the classifier's decision per attribute.
2. Fit a linear boundary in W per attribute: class-balanced logistic regression of the decision
   on w. Its unit normal, signed toward the slider's "more", is the raw direction. The L2 penalty
   is strong (L2): a weakly penalised normal leans on directions in which faces hardly vary, and
   moving 2 sigma along it changed the classifier's decision half as often (measured on default).
3. Condition each direction on the others it leans toward (InterFaceGAN's conditional
   manipulation, for several conditions at once): n_a <- n_a - B^T (B B^T)^-1 B n_a, renormalised,
   where B stacks the raw normals of the up to CONDITION_TOP other attributes whose normals are
   most aligned with n_a (|cos| >= CONDITION_COS), or of every attribute unrelated to it
   (decisions correlated by |r| < UNRELATED: glasses for age). Moving along the result leaves those
   boundaries' scores unchanged, so "age" does not cross the glasses boundary. Attributes tied to
   this one by nature (decisions on the sampled faces correlated by |r| >= TIED, like beard with
   masculine) are not held, since holding them would fight the edit.
4. Or hold every other attribute through the classifier itself (`held_direction`): on
   JACOBIAN_FACES faces, each attribute's score is differentiated with respect to w through the
   generator and the classifier. A step d then changes attribute b's probability by about
   p_b(1 - p_b) J_b d. The direction is the d that changes its own score most for a given
   squared change of all the others: d ~ (M + lean * R)^-1 g, where g is the mean gradient of its
   own score, M the mean outer product of the others' probability gradients, and R the inverse
   covariance of W. R keeps d where faces vary: a slider moves 2 sigma of random faces, and a
   direction in which faces hardly vary would move them too little to change anything. `lean`
   trades holding the others against effect, so it is tried at several values, on each range.
5. Choose by trial: on TRIAL_FACES faces that lack the attribute (moved +2 sigma) and as many
   that have it (moved -2 sigma), try the conditioning choices on all rows, then for the chosen
   one all rows and each coarse/middle/fine range, then the held directions of step 4; keep,
   among the tries whose weaker side flips nearly as many decisions as the best one (pick), the
   one that changes the other attributes least per unit of change in its own.
6. Refine the chosen direction by learning on 2-sigma moves themselves (refine.py: the linear
   guesses above predict small moves, a slider makes large ones), once with a fixed spill weight
   and once steered toward the flips a slider needs (REFINEMENTS), on the half of the sample
   faces the trials do not use; the trial keeps the best of the three (pick).
7. Refine it once more with a vector of its own for each of its w+ rows (refine_rows), each row
   moving one standard deviation of random faces along its own vector per unit of strength: hair
   colour can then change on the fine rows without the coarse rows reshaping the face. Kept where
   the trial prefers it (on the bundled default: for all 24 attributes, and on the bench's faces
   it lowered the others' movement for all 24; docs/exploring.md). Such a direction is stored as
   its w+ step ([num_ws, D], Directions.row_vectors) beside its mean vector.
8. Keep attributes the classifier reads well on real test photos, that at least MIN_SHARE of the
   generated faces have and lack, whose boundary separates held-out faces, and whose chosen
   trial flips at least MIN_FLIP of the decisions (drop_weak).

Strength 1 = one standard deviation of random faces along the direction, as for SeFa.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..attributes.classifier import NAMED, AttributeClassifier, load_classifier, to_input
from ..pipeline import FaceGenerator
from .directions import Directions, _scales, apply_edit, directions_path, load_directions
from .faces import w_samples
from .layers import layer_groups
from .refine import refine

FILE_SUFFIX = ".named.safetensors"
DEFAULT_SAMPLES = 6000
SAMPLE_SEED = 0x4E414D45  # "NAME": the faces directions are found on, apart from the bench's seeds
MIN_TEST_BALANCED = 0.75  # the classifier's balanced accuracy on labelled test photos
MIN_SHARE = 0.03  # of generated faces that must have (and lack) the attribute
MIN_BOUNDARY = 0.70  # the boundary's balanced accuracy on held-out generated faces
MIN_FLIP = 0.65  # the share of decisions its +-2 sigma trial must flip
TIED = 0.5
UNRELATED = 0.15
L2 = 0.1
CONDITION_TOP = 4
CONDITION_COS = 0.2
TRIAL_FACES = 80
JACOBIAN_FACES = 320
LEANS = (100.0, 300.0, 1000.0, 10000.0)  # measured on default: the chosen ones spread over all four
TRIAL_STRENGTH = 2.0
# Refinements tried (refine.py), by label: whether the spill weight is steered toward the effect.
REFINEMENTS = {"refined by learning, spill weight 8": False, "refined by learning, steered to flip": True}
ROW_REFINEMENT = "refined per w+ row"
RANGES = ("all", "coarse,middle", "middle", "middle,fine", "fine", "coarse")


def _home() -> Path:
    return Path(os.environ.get("FACEGEN_HOME") or
                Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "facegen")


def named_write_path(model_ref: str) -> Path:
    """Where `facegen directions --named` writes: MODEL.named.safetensors beside a model file; for
    a bundled model (whose folder may be read-only) in $FACEGEN_HOME or ~/.local/share/facegen."""
    from ..modelfile import BUNDLED

    if str(model_ref) in BUNDLED:
        return _home() / f"{model_ref}{FILE_SUFFIX}"
    p = Path(model_ref)
    return p.with_name(p.name.removesuffix(".safetensors") + FILE_SUFFIX)


def named_path(model_ref: str) -> Path:
    """The named directions edits read: the written copy when there is one, else (for a bundled
    model) the one shipped in facegen/assets."""
    from ..modelfile import BUNDLED

    path = named_write_path(model_ref)
    if str(model_ref) in BUNDLED and not path.exists():
        return Path(__file__).resolve().parent.parent / "assets" / f"{model_ref}{FILE_SUFFIX}"
    return path


def merge(first: Directions, second: Directions) -> Directions:
    """`first`'s directions keep their numbers; `second`'s follow, with their names and rows."""
    if first.vectors.shape[1] != second.vectors.shape[1] or first.space != second.space:
        raise ValueError("directions of different spaces cannot be used together")
    k = len(first.vectors)
    names = {str(int(i) + k): n for i, n in second.names.items()}
    taken = {n.lower() for n in names.values()}
    names.update({i: n for i, n in first.names.items() if n.lower() not in taken})  # named ones win a clash
    rows = {str(i): first.layers for i in range(k)} if first.layers is not None else {}
    rows.update({str(int(i) + k): r for i, r in second.rows.items()})
    for i in range(len(second.vectors)):
        rows.setdefault(str(i + k), second.layers)
    per_row = dict(first.row_vectors)
    per_row.update({str(int(i) + k): v for i, v in second.row_vectors.items()})
    return Directions(torch.cat([first.vectors, second.vectors]), torch.cat([first.values, second.values]),
                      torch.cat([first.scales, second.scales]), f"{first.method}+{second.method}", first.space,
                      first.layers, names, first.model or second.model, rows, second.info, per_row)


def model_directions(pipe: FaceGenerator, model_ref: str, file: str | Path | None = None,
                     compute_sefa: bool = False) -> Directions:
    """What edits use: `file` if given; else the model's saved SeFa/GANSpace directions (numbered
    0 = strongest) followed by its named ones; without saved unlabelled ones, the named ones alone
    (or, with `compute_sefa`, SeFa computed now ahead of them, as the server does)."""
    if file:
        return load_directions(file, pipe)
    sefa_path, named = directions_path(model_ref), named_path(model_ref)
    found = [load_directions(sefa_path, pipe)] if sefa_path.is_file() else []
    if named.is_file():
        try:
            found.append(load_directions(named, pipe))
        except ValueError as e:
            # Named directions of a model since replaced (a new bundled default): edits by number
            # still work; say how to remake them rather than refuse every edit.
            warnings.warn(f"{e}; make them again with `facegen directions {model_ref} --named`", stacklevel=2)
    if not sefa_path.is_file() and compute_sefa:
        from .directions import compute

        found.insert(0, compute(pipe, "sefa" if pipe.config.architecture == "style" else "ganspace", top=16))
    if not found:
        raise FileNotFoundError(f"{sefa_path}: no directions for this model yet; make them with "
                                f"`facegen directions {model_ref}` (unlabelled) or "
                                f"`facegen directions {model_ref} --named`")
    return found[0] if len(found) == 1 else merge(found[0], found[1])


# ---- finding them ---------------------------------------------------------------------------------

def sample_latents(pipe: FaceGenerator, n: int, seed: int) -> torch.Tensor:
    c = pipe.config
    g = torch.Generator().manual_seed(int(seed))
    z = torch.rand(n, c.latent_dim, generator=g) if c.latent_distribution == "uniform01" else \
        torch.randn(n, c.latent_dim, generator=g)
    return pipe.mapping(z, 1.0).clone()


@torch.inference_mode()
def classify(pipe: FaceGenerator, clf: AttributeClassifier, ws: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """The classifier's scores (> 0: present) for faces given as w or w+ ([N, L])."""
    out = []
    for i in range(0, len(ws), batch_size):
        out.append(clf.logits(pipe.model.synthesis(ws[i:i + batch_size].float(), "const")))
    return torch.cat(out)


def fit_boundary(ws: torch.Tensor, y: torch.Tensor, l2: float = L2, seed: int = 0) -> tuple[torch.Tensor, float]:
    """Unit normal of a class-balanced logistic boundary in W, and its balanced accuracy on a held-out fifth."""
    x = ws.double()
    y = y.double()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    test, fit = order[:len(x) // 5], order[len(x) // 5:]
    mean, spread = x[fit].mean(0), x[fit].std()
    xs = (x - mean) / spread
    pos = float(y[fit].mean())
    weight = torch.where(y[fit] > 0.5, 0.5 / max(pos, 1e-6), 0.5 / max(1 - pos, 1e-6))
    coef = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([coef, bias], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        out = torch.nn.functional.binary_cross_entropy_with_logits(xs[fit] @ coef + bias, y[fit], weight=weight)
        out = out + l2 * coef.square().sum()
        out.backward()
        return out

    with torch.enable_grad():
        opt.step(loss)
    with torch.no_grad():
        pred = (xs[test] @ coef + bias) > 0
        truth = y[test] > 0.5
        rates = [float((pred[truth]).double().mean()) if truth.any() else math.nan,
                 float((~pred[~truth]).double().mean()) if (~truth).any() else math.nan]
    normal = coef.detach() / coef.detach().norm().clamp_min(1e-12)
    return normal.float(), float(np.nanmean(rates))


def condition(normals: torch.Tensor, decisions: torch.Tensor, tied: float = TIED, top: int | None = CONDITION_TOP,
              min_cos: float = CONDITION_COS) -> tuple[torch.Tensor, list[list[int]]]:
    """Each normal with the span of the `top` others most aligned with it (|cos| >= min_cos) projected
    out, skipping those tied to it (decisions correlated |r| >= tied). top=None: every other
    attribute whose decisions correlate with this one's by less than `tied` (unrelated ones)."""
    corr = np.nan_to_num(np.corrcoef(decisions.double().numpy().T), nan=0.0)
    out, held = [], []
    n64 = normals.double()
    cos = (n64 @ n64.T).abs()
    for a in range(len(normals)):
        others = [b for b in range(len(normals)) if b != a and abs(corr[a, b]) < tied]
        if top is not None:
            others = [b for b in others if cos[a, b] >= min_cos]
            others = sorted(sorted(others, key=lambda b: -float(cos[a, b]))[:top])
        v = n64[a]
        if others:
            basis = n64[others].T  # [D, k]
            v = v - basis @ torch.linalg.lstsq(basis, v[:, None]).solution[:, 0]
        out.append((v / v.norm().clamp_min(1e-12)).float())
        held.append(others)
    return torch.stack(out), held


def jacobians(pipe: FaceGenerator, clf: AttributeClassifier, ws: torch.Tensor, cols: list[int], signs: list[int],
              batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Each face's signed scores differentiated with respect to each w+ row ([N, A, rows, D]; one
    row for a model without them), and the scores' probabilities [N, A]."""
    rows = pipe.config.num_ws if pipe.config.architecture == "style" else 0
    sign = torch.tensor(signs, dtype=torch.float32)
    grads, probs = [], []
    for i in range(0, len(ws), batch_size):
        w = ws[i:i + batch_size].float()
        x = (w[:, None].expand(-1, rows, -1) if rows else w).clone().requires_grad_(True)
        with torch.enable_grad():
            s = (clf.net(to_input(pipe.model.synthesis(x, "const")))[:, cols] - clf.thresholds[cols]) * sign
            g = torch.stack([torch.autograd.grad(s[:, a].sum(), x, retain_graph=a < len(cols) - 1)[0]
                             for a in range(len(cols))], 1)
        grads.append(g if rows else g[:, :, None])
        probs.append(torch.sigmoid(s.detach()))
    return torch.cat(grads), torch.cat(probs)


def held_direction(jac: torch.Tensor, probs: torch.Tensor, a: int, rows: list[int] | None, lean: float,
                   inv_cov: torch.Tensor) -> torch.Tensor:
    """The unit step on `rows` that moves attribute a's score most for the others' squared probability
    change, kept where faces vary by `lean` (the module's docstring, step 4)."""
    j = (jac[:, :, rows] if rows is not None else jac).sum(2).double()  # a step shared by those rows
    g = j[:, a].mean(0)
    others = [b for b in range(j.shape[1]) if b != a]
    p = probs[:, others].double()
    jp = j[:, others] * (p * (1 - p))[:, :, None]
    m = torch.einsum("nbd,nbe->de", jp, jp) / max(jp.shape[0] * jp.shape[1], 1)
    weight = float(torch.trace(m)) / float(torch.trace(inv_cov)) if others else 1.0
    v = torch.linalg.solve(m + lean * max(weight, 1e-12) * inv_cov, g)
    return (v / v.norm().clamp_min(1e-12)).float()


def candidate_ranges(config) -> dict[str, list[int] | None]:
    if config.architecture != "style":
        return {"all": None}
    groups = layer_groups(config)
    out: dict[str, list[int] | None] = {}
    for name in RANGES:
        rows = None if name == "all" else sorted(r for g in name.split(",") for r in groups[g])
        if (rows is None or rows) and rows not in out.values():
            out[name] = rows
    return out


def trial(pipe: FaceGenerator, clf: AttributeClassifier, ws: torch.Tensor, scores: torch.Tensor, vector: torch.Tensor,
          scale: float, col: int, sign: int, others: list[int], rows: list[int] | None) -> dict:
    """Move faces that lack the attribute +2 sigma and faces that have it -2 sigma along `vector` on `rows`:
    the share whose decision flips, its mean probability change, and the others' mean change."""
    have = sign * scores[:, col] > 0
    picks = [torch.nonzero(~have)[:TRIAL_FACES, 0], torch.nonzero(have)[:TRIAL_FACES, 0]]
    num_ws = pipe.config.num_ws
    flips, own, rest, sides = [], [], [], []
    for idx, strength in zip(picks, (TRIAL_STRENGTH, -TRIAL_STRENGTH)):
        if not len(idx):
            continue
        moved = torch.stack([apply_edit(ws[i], vector, scale, strength, rows, num_ws) for i in idx.tolist()])
        after = classify(pipe, clf, moved)
        before = scores[idx]
        flips.append(((sign * after[:, col] > 0) != (sign * before[:, col] > 0)).float())
        sides.append(float(flips[-1].mean()))
        change = (torch.sigmoid(after) - torch.sigmoid(before)).abs()
        own.append(change[:, col])
        rest.append(change[:, others].mean(1) if others else torch.zeros(len(idx)))
    flip, own_c, rest_c = (float(torch.cat(x).mean()) for x in (flips, own, rest))
    return {"flip": round(flip, 3), "weaker": round(min(sides), 3), "change": round(own_c, 4),
            "others": round(rest_c, 4), "focus": round(rest_c / max(own_c, 1e-6), 4)}


def pick(tried: dict) -> str:
    """Among tries whose weaker side (lacking moved +, having moved -) flips at least min(80%, 90% of the
    best), the one with the least spill-over."""
    best = max(t["weaker"] for t in tried.values())
    enough = min(0.8, 0.9 * best)
    return min((name for name, t in tried.items() if t["weaker"] >= enough), key=lambda m: tried[m]["focus"])


def compute_named(pipe: FaceGenerator, clf: AttributeClassifier | None = None, samples: int = DEFAULT_SAMPLES,
                  seed: int = SAMPLE_SEED, names: list[str] | None = None, log=print) -> Directions:
    """Named directions for `pipe`'s model (see the module's docstring for how)."""
    clf = clf or load_classifier()
    wanted = names or list(NAMED)
    unknown = [n for n in wanted if n not in NAMED]
    if unknown:
        raise ValueError(f"unknown attribute {unknown[0]!r}: known are {', '.join(NAMED)}")
    test = clf.meta.get("test", {})
    usable = [n for n in wanted if NAMED[n][0] in clf.labels and
              test.get(NAMED[n][0], {}).get("balanced_accuracy", 1.0) >= MIN_TEST_BALANCED]
    log(f"labelling {samples} generated faces with the classifier ...")
    ws = sample_latents(pipe, samples, seed)
    scores = classify(pipe, clf, ws)
    cols = {n: clf.index(NAMED[n][0]) for n in usable}
    kept, normals, fits = [], [], {}
    for n in usable:
        sign = NAMED[n][1]
        have = sign * scores[:, cols[n]] > 0
        share = float(have.float().mean())
        if not MIN_SHARE <= share <= 1 - MIN_SHARE:
            log(f"  {n}: left out, {share:.1%} of generated faces have it")
            continue
        normal, acc = fit_boundary(ws, have.float(), seed=seed)
        if acc < MIN_BOUNDARY:
            log(f"  {n}: left out, its boundary in W separates held-out faces {acc:.0%} (balanced)")
            continue
        kept.append(n)
        normals.append(normal)
        fits[n] = {"share": round(share, 4), "boundary_balanced_accuracy": round(acc, 4)}
    if not kept:
        raise ValueError("no attribute could be found in this model's faces")
    decisions = torch.stack([(NAMED[n][1] * scores[:, cols[n]] > 0).float() for n in kept], 1)
    raw = torch.stack(normals)
    variants = {"nothing": (raw, [[] for _ in kept]), "unrelated": condition(raw, decisions, UNRELATED, None),
                "aligned": condition(raw, decisions, top=CONDITION_TOP)}
    ranges = candidate_ranges(pipe.config)
    rows, info, chosen = {}, {}, []
    trial_ws, trial_scores = ws[:samples // 2], scores[:samples // 2]
    jac, probs = jacobians(pipe, clf, ws[samples // 2:samples // 2 + JACOBIAN_FACES], [cols[n] for n in kept],
                           [NAMED[n][1] for n in kept])
    spread = torch.cov(ws.double().T)
    inv_cov = torch.linalg.inv(spread + 1e-3 * float(torch.trace(spread)) / len(spread) *
                               torch.eye(len(spread), dtype=spread.dtype))
    for i, n in enumerate(kept):
        others = [cols[m] for m in kept if m != n]

        def attempt(v, r):
            return trial(pipe, clf, trial_ws, trial_scores, v, float(_scales(pipe, v[None])[0]), cols[n],
                         NAMED[n][1], others, r)

        options = {}
        for kind, (vecs, held) in variants.items():
            if all(held[i] != options[t][1] for t in options):  # the same held set twice is one option
                options[kind] = (vecs[i], held[i])
        held_tried = {kind: attempt(v, None) for kind, (v, _) in options.items()}
        kind = pick(held_tried)
        v, held_i = options[kind]
        tried = {name: attempt(v, r) for name, r in ranges.items()}
        choice = pick(tried)
        # Step 4: held through the classifier, each range at its best lean.
        by_classifier, leans = {}, {}
        for name, r in ranges.items():
            vecs = {lean: held_direction(jac, probs, i, r, lean, inv_cov) for lean in LEANS}
            leaned = {lean: attempt(u, r) for lean, u in vecs.items()}
            leans[name] = pick(leaned)
            by_classifier[name] = (leaned[leans[name]], vecs[leans[name]])
        best_held = pick({name: t for name, (t, _) in by_classifier.items()})
        if pick({"boundary": tried[choice], "classifier": by_classifier[best_held][0]}) == "classifier":
            choice, v = best_held, by_classifier[best_held][1]
            tried = {name: t for name, (t, _) in by_classifier.items()}
            how, held_i = f"held by the classifier, lean {leans[choice]:g}", [j for j in range(len(kept)) if j != i]
        else:
            how = f"boundary normal, conditioned: {kind}"
        rows[n] = ranges[choice]
        chosen.append(v)
        info[n] = dict(fits[n], label=NAMED[n][0], sign=NAMED[n][1], layers=choice, method=how,
                       conditioned_on=[kept[b] for b in held_i], trials=tried, conditioning_trials=held_tried)
        log(f"  {n:18} boundary {fits[n]['boundary_balanced_accuracy']:.2f}, {fits[n]['share']:.0%} have it; "
            f"{how}; layers {choice}: flips {tried[choice]['flip']:.0%} (weaker side {tried[choice]['weaker']:.0%}), "
            f"others move {tried[choice]['focus']:.2f}x as much")
    meta_info = {"samples": samples, "seed": seed,
                 "classifier": {"labels": len(clf.labels), **{k: v for k, v in clf.meta.items() if k != "test"}}}
    d = Directions(torch.stack(chosen), torch.tensor([fits[n]["boundary_balanced_accuracy"] for n in kept]),
                   torch.ones(len(kept)), "named", "w" if pipe.config.architecture == "style" else "z", None,
                   {str(i): n for i, n in enumerate(kept)}, pipe.model_info(),
                   {str(i): rows[n] for i, n in enumerate(kept)}, dict(meta_info, attributes=info))
    d = refine_directions(pipe, clf, d, ws, scores, log=log)
    return drop_weak(refine_rows(pipe, clf, d, ws, scores, log=log), log)


def refine_directions(pipe: FaceGenerator, clf: AttributeClassifier, d: Directions, ws: torch.Tensor,
                      scores: torch.Tensor, names: list[str] | None = None, log=print) -> Directions:
    """`d`'s named directions (or those in `names`) refined by learning (step 6) on the second half of
    the labelled sample faces `ws` (classifier scores `scores`), each kept where the trial on the
    first half prefers it. Scales are measured anew."""
    kept, cols, signs, signed, spread = _refining(pipe, clf, d, scores)
    half = len(ws) // 2
    vectors, attributes = d.vectors.clone(), dict(d.info.get("attributes", {}))
    row_vectors = dict(d.row_vectors)
    for k, n in enumerate(kept):
        if names is not None and n not in names:
            continue
        rows = d.layers_of(k)
        found = {"as found": d.vectors[k]}
        for label, steer in REFINEMENTS.items():
            found[label] = refine(pipe, clf, ws[half:], signed[half:], k, cols, signs, d.vectors[k], rows, spread,
                                  steer=steer, seed=k)
        others = [c for c in cols if c != cols[k]]
        tries = {label: trial(pipe, clf, ws[:half], scores[:half], v, float(_scales(pipe, v[None])[0]), cols[k],
                              signs[k], others, rows) for label, v in found.items()}
        attributes[n] = about = dict(attributes.get(n, {}), refining=tries)
        chosen = keep_best(n, about, tries, "as found", log)
        if chosen != "as found":
            vectors[k] = found[chosen]
            row_vectors.pop(str(k), None)  # made for the vector replaced
    return Directions(vectors, d.values, _scales(pipe, vectors), d.method, d.space, d.layers, d.names, d.model,
                      d.rows, dict(d.info, attributes=attributes), row_vectors)


def refine_rows(pipe: FaceGenerator, clf: AttributeClassifier, d: Directions, ws: torch.Tensor,
                scores: torch.Tensor, names: list[str] | None = None, log=print) -> Directions:
    """`d`'s named directions (or those in `names`) refined once more with a vector of their own for
    each w+ row (step 7), from the direction chosen so far, on the same faces as refine_directions;
    each kept where the trial prefers it."""
    if pipe.config.architecture != "style":
        return d
    num_ws = pipe.config.num_ws
    kept, cols, signs, signed, spread = _refining(pipe, clf, d, scores)
    half = len(ws) // 2
    vectors, scales = d.vectors.clone(), d.scales.clone()
    row_vectors, attributes = dict(d.row_vectors), dict(d.info.get("attributes", {}))
    for k, n in enumerate(kept):
        if names is not None and n not in names:
            continue
        rows = d.layers_of(k)
        start = d.row_vectors.get(str(k), d.vectors[k])  # a second pass goes on from the first
        step = refine(pipe, clf, ws[half:], signed[half:], k, cols, signs, start, rows, spread,
                      per_row=True, seed=k)
        mean = step.sum(0) / step.sum(0).norm()
        scale = float(_scales(pipe, mean[None])[0])
        others = [c for c in cols if c != cols[k]]
        tries = {label: trial(pipe, clf, ws[:half], scores[:half], v, s, cols[k], signs[k], others, r)
                 for label, (v, s, r) in {"so far": (d.row_vector(k, num_ws), float(d.scales[k]), None),
                                          ROW_REFINEMENT: (step / scale, scale, None)}.items()}
        attributes[n] = about = dict(attributes.get(n, {}), refining_rows=tries)
        if keep_best(n, about, tries, "so far", log) == ROW_REFINEMENT:
            vectors[k], scales[k], row_vectors[str(k)] = mean, scale, step / scale
    return Directions(vectors, d.values, scales, d.method, d.space, d.layers, d.names, d.model, d.rows,
                      dict(d.info, attributes=attributes), row_vectors)


def _refining(pipe: FaceGenerator, clf: AttributeClassifier, d: Directions, scores: torch.Tensor):
    """What both refinements work from: `d`'s attribute names, their classifier columns and signs,
    the scores signed toward each slider's "more", and the covariance of random faces' w (what
    strength 1 means at edit time, as in _scales)."""
    kept = [d.names[str(k)] for k in range(len(d.vectors))]
    cols = [clf.index(NAMED[n][0]) for n in kept]
    signs = [NAMED[n][1] for n in kept]
    signed = scores[:, cols] * torch.tensor(signs, dtype=scores.dtype)
    return kept, cols, signs, signed, torch.cov(w_samples(pipe).double().T)


def keep_best(name: str, about: dict, tries: dict, unchanged: str, log=print) -> str:
    """The trial's pick among `tries` (`unchanged`: the direction as it came); where a refinement wins,
    the attribute's record `about` names it and takes its trial as its layer range's."""
    chosen = pick(tries)
    if chosen != unchanged:
        about["method"] = about.get("method", "") + f", {chosen}"
        if "layers" in about:
            about["trials"] = dict(about.get("trials", {}), **{about["layers"]: tries[chosen]})
    log(f"  {name:18} " + "; ".join(f"{label}: flips {t['flip']:.0%} (weaker side {t['weaker']:.0%}), others move "
                                    f"{t['focus']:.2f}x" for label, t in tries.items()) + f"; kept {chosen}")
    return chosen


def drop_weak(d: Directions, log=print) -> Directions:
    """Leave out directions whose chosen trial flips fewer than MIN_FLIP of the decisions at +-2 sigma:
    such a slider does not reliably do what its name says (glasses on the 64 px default flipped 54%,
    and no glasses appeared on the sheet)."""
    keep = []
    for k in range(len(d.vectors)):
        name = d.names[str(k)]
        about = d.info["attributes"][name]
        flip = about["trials"][about["layers"]]["flip"]
        if flip >= MIN_FLIP:
            keep.append(k)
        else:
            log(f"  {name}: left out, +-2 sigma flips only {flip:.0%} of the classifier's decisions")
    if not keep:
        raise ValueError("no named direction changes its attribute reliably on this model")
    info = dict(d.info, attributes={d.names[str(k)]: d.info["attributes"][d.names[str(k)]] for k in keep})
    return Directions(d.vectors[keep], d.values[keep], d.scales[keep], d.method, d.space, d.layers,
                      {str(i): d.names[str(k)] for i, k in enumerate(keep)}, d.model,
                      {str(i): d.rows[str(k)] for i, k in enumerate(keep)}, info,
                      {str(i): d.row_vectors[str(k)] for i, k in enumerate(keep) if str(k) in d.row_vectors})
