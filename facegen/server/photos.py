"""The /v1 photo endpoints: invert, swap and remaster, over facegen.inversion and facegen.compose.

They are upload endpoints like `from-image`: the file is read with `read_upload` (byte and pixel
limits before decoding) and decoded by `read_photo`; inversions run as long jobs (one admitted at
a time, the rest 429).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile

import numpy as np
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException

from ..data.faces import DEFAULT_MIN_FACE
from ..explore.faces import collapse
from ..explore.recipes import latent_recipe
from ..limits import BLENDS, REMASTER_BLEND, SWAP_BLEND
from ..provenance import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, encode_image
from .api import read_upload, state
from .schemas import FaceRef, face_json, to_face

BLEND_PATTERN = f"^({'|'.join(BLENDS)})$"

router = APIRouter(prefix="/v1")
DEFAULT_INVERT_STEPS = 200  # half the CLI's 400: a few seconds a face on one core
FACE_LIST = TypeAdapter(list[FaceRef])
MIN_FACE_HELP = ("smallest face used: photo pixels across the square it is aligned into, about 3.7 times "
                 "its eye distance")

def read_photo(data: bytes, what: str, limits) -> np.ndarray:
    """An upload decoded as data.images.read_photo decodes a file (read_upload has checked its limits)."""
    from ..data.images import PhotoError, read_photo as read_file

    suffix = ".png" if data[:4] == b"\x89PNG" else ".jpg"
    with tempfile.TemporaryDirectory(prefix="facegen-upload-") as tmp:
        path = os.path.join(tmp, "upload" + suffix)  # our name, never the client's
        with open(path, "wb") as f:
            f.write(data)
        try:
            return read_file(path, limits.max_upload_pixels)[0]
        except PhotoError as e:  # e.problem: the message without our temporary path
            raise HTTPException(400, f"{what} is not a usable image ({e.problem})") from None


def upload_name(file: UploadFile) -> str:
    return f"upload {file.filename[:80]!r}" if file.filename else "the upload"


def photo_record(data: bytes, file: UploadFile, shape) -> dict:
    """The input photo as a composite's recipe names it (as compose.output.source_record does for files)."""
    record = {"width": int(shape[1]), "height": int(shape[0]), "sha256": hashlib.sha256(data).hexdigest()}
    if file.filename:
        record["file"] = os.path.basename(file.filename)[:120]
    return record


def parse_index(text: str | None) -> list[int] | None:
    """'0' or '0,2' -> face numbers (largest face first), as `facegen swap --index` takes them."""
    if text is None or not text.strip():
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise HTTPException(400, f"index takes face numbers like 0 or 0,2, not {text[:40]!r}") from None
    if not values or min(values) < 0 or len(set(values)) != len(values) or max(values) > 10_000:
        raise HTTPException(400, f"index takes distinct face numbers from 0, not {text[:40]!r}")
    return values


def parse_faces(text: str, limit: int) -> list[FaceRef]:
    """The `faces` form field: JSON, a face or a list of faces (face objects as other endpoints return
    them, or seeds); a bare seed like 42 or 42,7 works too."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = text.split(",")
    value = value if isinstance(value, list) else [value]
    if len(value) > limit:
        raise HTTPException(400, f"faces has {len(value)} faces, over this server's limit of {limit} faces per call")
    value = [{"seed": v} if isinstance(v, (int, str)) and not isinstance(v, bool) else v for v in value]
    try:
        refs = FACE_LIST.validate_python(value)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise HTTPException(422, f"faces.{where}: {first.get('msg')}" if where else f"faces: {first.get('msg')}") \
            from None
    if not refs:
        raise HTTPException(422, "faces: give at least one face (a seed like 42, or a face object)")
    return refs


def composite_png(image, recipe: dict) -> bytes:
    return encode_image(image, dict(recipe, format="png", quality=None), "png",
                        source_type=COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA)


def png_or_json(data: bytes, fmt: str, stem: str, **extra):
    if fmt == "json":
        return JSONResponse({"image": f"data:image/png;base64,{base64.b64encode(data).decode()}", **extra})
    return Response(data, media_type="image/png",
                    headers={"Content-Disposition": f'inline; filename="{stem}.png"'})


@router.post("/invert", summary="The faces in a photo or painting as latents, to breed, edit and morph")
async def invert(request: Request, file: UploadFile = File(description="a PNG or JPEG photo or painting"),
                 steps: int = Form(DEFAULT_INVERT_STEPS, ge=1, description="optimisation steps per face"),
                 index: int | None = Form(None, ge=0, description="only this face (0 is the largest)"),
                 aligned: bool = Form(False, description="the picture is already a face crop: no detection")):
    from ..data.images import is_grey
    from ..inversion import find_crops, invert_crop

    s = state(request)
    s.check_count("steps", steps, s.limits.max_invert_steps, "inversion steps")
    data = await read_upload(file, s.limits)
    what = upload_name(file)

    def work():
        rgb = read_photo(data, what, s.limits)
        locations = find_crops(s.pipe, rgb, what, index, aligned)
        notes = []
        if len(locations) > s.limits.max_invert_faces:
            notes.append(f"{len(locations)} faces found; inverted the largest {s.limits.max_invert_faces} "
                         "(this server's limit per call; choose another with index)")
            locations = locations[:s.limits.max_invert_faces]
        grey = is_grey(rgb)
        sha = hashlib.sha256(data).hexdigest()
        name = os.path.basename(file.filename or "")[:80]
        out = []
        for k, loc in enumerate(locations):
            k = index if index is not None else k
            inv = invert_crop(s.pipe, loc.crop, steps, grey=grey, label=f"{name or 'upload'} face {k}")
            info = {"origin": "inverted", "source": name or None,
                    "source_sha256": sha, "face_index": k, "psnr": round(inv.psnr, 3), "ssim": round(inv.ssim, 4),
                    "steps": inv.steps}
            recipe = latent_recipe(s.pipe, inv.face.w, None, "invert", face=inv.face.describe(), **info)
            face = face_json(inv.image, recipe, collapse(inv.face.w), label=inv.face.label,
                             inverted_from=inv.face.inverted_from)
            out.append({"face": face, "index": k, "box": [int(v) for v in loc.face.box], "psnr": round(inv.psnr, 3),
                        "ssim": round(inv.ssim, 4), "steps": inv.steps, "seconds": round(inv.seconds, 2),
                        "notes": inv.notes})
        return {"faces": out, "notes": notes}

    return await s.run(work, long=True)


@router.post("/swap", summary="The faces in a photo replaced with faces that do not exist (a PNG composite)",
             response_class=Response, responses={200: {"content": {"image/png": {}, "application/json": {}}}})
async def swap(request: Request, file: UploadFile = File(description="a PNG or JPEG photo"),
               faces: str = Form(description='JSON: the new face, or one per replaced face: seeds or face objects '
                                             'as other endpoints return them, e.g. [42] or [{"seed": 42}]'),
               index: str | None = Form(None, description="which faces to replace, like 0 or 0,2 (0 the largest)"),
               blend: str = Form(SWAP_BLEND, pattern=BLEND_PATTERN),
               colour: str = Form("lab", pattern="^(lab|lightness|none)$"),
               min_face: int = Form(DEFAULT_MIN_FACE, ge=8, le=4096, description=MIN_FACE_HELP),
               format: str = Form("png", pattern="^(png|json)$", description="png: the image; json: a data: URL")):
    from ..compose import swap_faces

    s = state(request)
    refs = parse_faces(faces, s.limits.max_faces)
    chosen = parse_index(index)
    data = await read_upload(file, s.limits)
    what = upload_name(file)

    def work():
        sources = [to_face(r, s.pipe) for r in refs]
        for i, face in enumerate(sources):
            face.label = f"faces[{i}] ({face.label})"  # so that a refusal names which one
        rgb = read_photo(data, what, s.limits)
        result = swap_faces(s.pipe, rgb, sources, source_name=what, index=chosen, min_face=min_face, blend=blend,
                            colour=colour)
        recipe = dict(result.recipe, photo=photo_record(data, file, rgb.shape),
                      sources=[f.describe() for f in sources])
        return composite_png(result.image, recipe), result

    png, result = await s.run(work)
    return png_or_json(png, format, "swapped", faces=[f.describe() for f in result.faces], notes=result.notes)


@router.post("/remaster", summary="The faces of an old photo or painting inverted and regenerated clean",
             response_class=Response, responses={200: {"content": {"image/png": {}, "application/json": {}}}})
async def remaster_photo(request: Request, file: UploadFile = File(description="a PNG or JPEG photo or painting"),
                         steps: int = Form(DEFAULT_INVERT_STEPS, ge=1, description="inversion steps per face"),
                         index: str | None = Form(None, description="which faces, like 0 or 0,2 (0 the largest)"),
                         truncation: float = Form(1.0, ge=0.0, le=1.0, description="below 1: toward the average"),
                         palette: bool = Form(False, description="take the artwork's colours"),
                         colour: bool = Form(False, description="colour faces in a greyscale artwork"),
                         blend: str = Form(REMASTER_BLEND, pattern=BLEND_PATTERN),
                         min_face: int = Form(DEFAULT_MIN_FACE, ge=8, le=4096, description=MIN_FACE_HELP),
                         format: str = Form("png", pattern="^(png|json)$",
                                            description="png: the image; json: it and the before/after sheet")):
    from ..compose import find_faces, remaster

    s = state(request)
    s.check_count("steps", steps, s.limits.max_invert_steps, "inversion steps")
    chosen = parse_index(index)
    if chosen is not None:
        s.check_count("index", len(chosen), s.limits.max_invert_faces, "faces per call")
    data = await read_upload(file, s.limits)
    what = upload_name(file)

    def work():
        rgb = read_photo(data, what, s.limits)
        picked, notes = chosen, []
        if picked is None:
            found = len(find_faces(rgb, what, min_face))
            if found > s.limits.max_invert_faces:
                picked = list(range(s.limits.max_invert_faces))
                notes.append(f"{found} faces found; remastered the largest {s.limits.max_invert_faces} "
                             "(this server's limit per call; choose others with index)")
        result = remaster(s.pipe, rgb, source_name=what, steps=steps, truncation=truncation, palette=palette,
                          colour=colour, blend=blend, min_face=min_face, index=picked)
        recipe = dict(result.recipe, photo=photo_record(data, file, rgb.shape))
        sheet = composite_png(result.before_after, dict(recipe, sheet="before_after")) if format == "json" else None
        return composite_png(result.image, recipe), sheet, notes + result.notes, result.faces

    png, sheet, notes, found = await s.run(work, long=True)
    extra = {"before_after": f"data:image/png;base64,{base64.b64encode(sheet).decode()}"} if sheet else {}
    return png_or_json(png, format, "remastered", faces=[f.describe() for f in found], notes=notes, **extra)
