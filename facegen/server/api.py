"""The /v1 endpoints: each checks its request against the limits, then runs one job on the queue.

Adding a capability is one function here: parse the request (a model in
schemas.py), check it with `s.check_*`, and `await s.run(work)` where `work`
calls the Python API and returns JSON-ready data (images via `face_json`).

The photo endpoints (invert, swap, remaster) are in photos.py.
"""
from __future__ import annotations

import os
import tempfile

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import Response

from ..explore.breed import breed
from ..explore.directions import apply_edit
from ..explore.faces import collapse, resolve_face
from ..explore.layers import layer_groups, parse_layers
from ..explore.morph import frame_sheet, morph
from ..explore.recipes import latent_recipe, synthesize_all
from ..explore.transform import transform
from ..imaging import make_grid
from ..limits import MAX_SEED, MIN_SIZE, TRUNCATION_MAX, TRUNCATION_MIN
from ..provenance import encode_image
from .limits import check_upload
from .schemas import (MEDIA, BreedRequest, EditRequest, GenerateRequest, MorphRequest,
                      TransformRequest, ancestry_of, face_json, image_url, to_face)

router = APIRouter(prefix="/v1")
CAPABILITIES = ["generate", "morph", "breed", "edit", "transform", "from-image", "invert", "swap", "remaster"]


def state(request: Request):
    return request.app.state.facegen


@router.get("/model", summary="The model, its edit directions, and this server's limits")
async def model_info(request: Request):
    s = state(request)
    c = s.pipe.config
    d = s.directions
    return {"model": s.pipe.model_info(), "precision": s.pipe.precision, "latent_dim": c.latent_dim,
            "num_ws": c.num_ws, "layer_groups": layer_groups(c) if c.architecture == "style" else None,
            "directions": None if d is None else {
                "method": d.method, "count": len(d.vectors), "named": named_items(d, c),
                "items": [{"index": k, "label": d.label(k), "name": d.names.get(str(k))}
                          for k in range(min(len(d.vectors), 32))]},
            "limits": s.limits.public(), "capabilities": CAPABILITIES}


def named_items(d, config) -> list[dict]:
    """The named directions (smile, age, ...) with the layer range each moves, for the studio's sliders."""
    groups = layer_groups(config) if config.architecture == "style" else {}
    out = []
    for k in range(len(d.vectors)):
        name = d.names.get(str(k))
        about = d.info.get("attributes", {}).get(name) if name else None
        if about is None:
            continue
        rows = d.layers_of(k)
        where = "all" if rows is None else ",".join(g for g, r in groups.items() if r and set(r) <= set(rows))
        out.append({"index": k, "name": name, "attribute": about.get("label"), "layers": where or rows})
    return out


@router.get("/generate", summary="One face (or a contact sheet of several) as a PNG or JPEG",
            response_class=Response, responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}})
async def generate_image(request: Request, seed: int | None = Query(None, ge=0, le=MAX_SEED),
                         n: int = Query(1, ge=1), seeds: list[int] | None = Query(None),
                         truncation: float = Query(1.0, ge=TRUNCATION_MIN, le=TRUNCATION_MAX),
                         size: int | None = Query(None, ge=MIN_SIZE),
                         format: str = Query("png", pattern="^(png|jpeg)$"), quality: int = Query(95, ge=1, le=100)):
    s = state(request)
    chosen = s.seeds(seed, n, seeds)
    s.check_size(size)

    def work():
        out = s.pipe(seeds=chosen, truncation=truncation, size=size)
        if len(chosen) == 1:
            image, recipe = out.images[0], out.recipes[0]
        else:
            image = make_grid(out.images)
            recipe = dict(out.recipes[0], kind="grid", seeds=chosen, columns=None)
            recipe.pop("seed")
        return encode_image(image, dict(recipe, format=format), format, quality)

    data = await s.run(work)
    name = f"seed{chosen[0]:06d}" + (f"-{chosen[-1]}" if len(chosen) > 1 else "")
    return Response(data, media_type=MEDIA[format],
                    headers={"X-Facegen-Seeds": ",".join(map(str, chosen)),
                             "Content-Disposition": f'inline; filename="{name}.{"jpg" if format == "jpeg" else "png"}"'})


@router.post("/generate", summary="Faces with their seeds and latents (and images as data: URLs)")
async def generate(req: GenerateRequest, request: Request):
    s = state(request)
    chosen = s.seeds(req.seed, req.n, req.seeds)
    s.check_size(req.size)

    def work():
        out = s.pipe(seeds=chosen, truncation=req.truncation, size=req.size, return_latents=True)
        return [face_json(out.images[i], out.recipes[i], out.ws[i], out.latents[i], seed, req.truncation,
                          f"seed {seed}", req, req.images) for i, seed in enumerate(chosen)]

    return {"faces": await s.run(work)}


@router.post("/morph", summary="Frames along a smooth path through two or more faces")
async def morph_faces(req: MorphRequest, request: Request):
    s = state(request)
    s.check_count("faces", len(req.faces), s.limits.max_keys, "faces in a morph")
    s.check_count("frames", req.frames, s.limits.max_frames, "morph frames")
    s.check_size(req.size)

    def work():
        faces = [to_face(f, s.pipe) for f in req.faces]
        # Each frame alone (batch=1): every frame is a face whose recipe re-makes it alone, bit for bit.
        m = morph(s.pipe, faces, req.frames, req.loop, req.space, req.size, batch=1)
        about = [f.describe() for f in faces]
        ancestors = ancestry_of(*faces)
        frames = [face_json(im, latent_recipe(s.pipe, w, req.size, "morph", frame=i, frames=req.frames, faces=about),
                            collapse(w), label=f"frame {i + 1}/{req.frames}", out=req, inverted_from=ancestors)
                  for i, (im, w) in enumerate(zip(m.images, m.ws))]
        sheet = image_url(frame_sheet(m), m.recipe, req.format, req.quality) if req.sheet else None
        return {"frames": frames, "sheet": sheet, "space": m.recipe["space"]}

    return await s.run(work)


@router.post("/breed", summary="Children of kept faces: each layer group from one parent, plus mutation")
async def breed_faces(req: BreedRequest, request: Request):
    s = state(request)
    s.check_count("children", req.children, s.limits.max_faces, "faces per call")
    s.check_size(req.size)

    def work():
        parents = [to_face(f, s.pipe) for f in req.parents]
        brood = breed(s.pipe, parents, req.genes, req.children, req.mutation, req.seed)
        # Each child alone (batch=1), as its recipe (kind 'latent') re-makes it, so the pixels match.
        images = synthesize_all(s.pipe, brood.ws, req.size, batch=1)
        about = [p.describe() for p in parents]
        ancestors = ancestry_of(*parents)
        return [face_json(images[i], latent_recipe(s.pipe, w, req.size, "breed", parents=about, genes=brood.genes[i],
                                                   mutation=req.mutation, breed_seed=req.seed, child=i),
                          collapse(w), label=f"child {i + 1}", out=req, inverted_from=ancestors)
                for i, w in enumerate(brood.ws)]

    return {"faces": await s.run(work)}


@router.post("/edit", summary="A face moved along one or more edit directions")
async def edit_face(req: EditRequest, request: Request):
    s = state(request)
    d = s.require_directions()
    s.check_size(req.size)
    config = s.pipe.config
    layers = parse_layers(req.layers, config) if req.layers else None
    steps = [(d.index(e.direction), e.strength) for e in req.edits]

    def work():
        face = to_face(req.face, s.pipe)
        w = face.w.float()
        for k, strength in steps:
            # Each direction makes its own move (its rows, or a vector per row) unless told the rows.
            vector = d.vectors[k] if req.layers else d.row_vector(k, config.num_ws)
            w = apply_edit(w, vector, float(d.scales[k]), strength, layers, config.num_ws)
        image = synthesize_all(s.pipe, w[None], req.size)[0]
        edits = [{"direction": k, "label": d.label(k), "strength": st} for k, st in steps]
        recipe = latent_recipe(s.pipe, w, req.size, "edit", face=face.describe(), edits=edits, method=d.method,
                               layers=layers if req.layers else [d.layers_of(k) for k, _ in steps])
        return {"face": face_json(image, recipe, collapse(w), truncation=face.truncation,
                                  label=f"{face.label}, edited", out=req, inverted_from=face.inverted_from)}

    return await s.run(work)


@router.post("/transform", summary="A face made stranger: exaggeration, truncation, jitter, noise")
async def transform_face(req: TransformRequest, request: Request):
    s = state(request)
    s.check_size(req.size)
    layers = parse_layers(req.layers, s.pipe.config) if req.layers else None
    direction = None
    if req.direction is not None:
        d = s.require_directions()
        k = d.index(req.direction)
        vector = d.vectors[k] if layers is not None else d.row_vector(k, s.pipe.config.num_ws)
        direction = (vector, float(d.scales[k]))

    def work():
        face = to_face(req.face, s.pipe)
        t = transform(s.pipe, face, req.exaggerate, req.truncation, direction, req.strength, req.style_jitter,
                      req.noise_scale, layers, req.seed, req.size)
        out = face_json(t.image, t.recipe, collapse(t.w), truncation=face.truncation,
                        label=f"{face.label}, transformed", out=req, inverted_from=face.inverted_from)
        return {"face": out, "notes": t.notes}

    return await s.run(work)


@router.post("/faces/from-image", summary="Continue from an image facegen made: its recipe becomes a face")
async def face_from_image(request: Request, file: UploadFile = File(description="a PNG or JPEG made by facegen")):
    s = state(request)
    data = await read_upload(file, s.limits)

    def work():
        suffix = ".png" if data[:4] == b"\x89PNG" else ".jpg"
        # The recipe reader works on files; the name is ours, never the client's.
        with tempfile.TemporaryDirectory(prefix="facegen-upload-") as tmp:
            path = os.path.join(tmp, "upload" + suffix)
            with open(path, "wb") as f:
                f.write(data)
            face = resolve_face(path, s.pipe)
        if face.seed is not None and face.z is not None:
            out = s.pipe(seeds=[face.seed], truncation=face.truncation, return_latents=True)
            image, recipe = out.images[0], out.recipes[0]
        else:
            image = synthesize_all(s.pipe, face.w[None])[0]
            recipe = latent_recipe(s.pipe, face.w, None, "open", face=face.describe())
        return {"face": face_json(image, recipe, collapse(face.w), face.z, face.seed, face.truncation,
                                  f"from {file.filename or 'upload'}"[:80], inverted_from=face.inverted_from)}

    return await s.run(work)


async def read_upload(file: UploadFile, limits) -> bytes:
    """The upload's bytes, refused past the byte cap (without reading on) or the pixel cap (from the header)."""
    data = await file.read(limits.max_upload_bytes + 1)
    check_upload(data, limits, what=f"upload {file.filename!r}" if file.filename else "the upload")
    return data
