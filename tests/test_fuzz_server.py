"""Fuzzing every API endpoint: parameters, JSON bodies and uploads. Each answer must be a result or a
JSON error with a 4xx status (or 429/503 from the queue); never a 500, a hang or a memory jump.

The structured targets know each endpoint's fields (so they get past validation into the work);
`test_every_route_survives_arbitrary_requests` walks `app.routes`, so endpoints added later are
fuzzed too without changing this file.
"""
from __future__ import annotations

import base64
import io
import json

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e '.[server]')")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")

from fuzzing import LONG, apply_ops, boxed, fuzz_settings, json_values, mutations, record  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from server_fixtures import api_routes, make_client  # noqa: E402,F401

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")

# Every status a client may get for a bad or unlucky request; 500 is never one of them.
EXPECTED = {200, 400, 401, 404, 405, 409, 413, 415, 422, 429, 503}
CASES = 1000 if LONG else 150


@pytest.fixture
def api(make_client):
    """The client, plus faces (with real latents) and images that a valid request would carry."""
    c = make_client()
    faces = c.post("/v1/generate", json={"seeds": [1, 2], "images": False}).json()["faces"]
    png = c.get("/v1/generate", params={"seed": 3}).content
    jpeg = c.get("/v1/generate", params={"seed": 3, "format": "jpeg"}).content
    return Api((c, faces, {"png": png, "jpeg": jpeg}))


class Api(tuple):
    """Short repr: Hypothesis prints a failing case's arguments."""

    def __repr__(self):
        return "Api(client, faces, images)"


def check(r, target: str):
    assert r.status_code in EXPECTED, f"{target}: {r.status_code} {r.text[:300]}"
    if r.request.method == "HEAD":
        return  # no body to check
    if r.status_code != 200:
        body = r.json()
        assert isinstance(body.get("error"), str) and body["error"], (target, body)
    elif r.headers.get("content-type", "").startswith("application/json"):
        r.json()


def send(c, target, method, path, **kw):
    if "json" in kw:  # as Python's json writes it: NaN and Infinity included, which the server's parser reads
        kw["content"] = json.dumps(kw.pop("json"), allow_nan=True).encode()
        kw["headers"] = {"content-type": "application/json"}
    with boxed(target, seconds=20, rss_mb=400):
        r = c.request(method, path, **kw)
    check(r, target)
    return r


# ---- pieces of requests ------------------------------------------------------------------------

def latent_variants(face):
    """A face's latent, and ways of breaking it: shapes, dtypes, base64 and sizes."""
    w = face["w"]
    raw = base64.b64decode(w["data"])
    nan = base64.b64encode(b"\x00\x00\xc0\x7f" * (len(raw) // 4)).decode()
    return st.one_of(
        st.just(w),
        st.builds(lambda shape: dict(w, shape=shape), st.lists(st.sampled_from([0, 1, 8, 32, -1, 2**31]), max_size=4)),
        st.builds(lambda ops: dict(w, data=base64.b64encode(apply_ops(raw, ops)).decode()), mutations()),
        st.just(dict(w, data=nan)), st.just(dict(w, dtype="float64")), st.just(dict(w, data="!!not base64!!")),
        json_values,
    )


def face_refs(faces):
    return st.one_of(
        st.builds(lambda s, t: {"seed": s, "truncation": t}, st.integers(-5, 2**64), st.floats(-3, 3)),
        st.sampled_from(faces),
        st.builds(lambda f, w: dict(f, w=w), st.sampled_from(faces), latent_variants(faces[0])),
        st.builds(lambda f, z: dict(f, z=z), st.sampled_from(faces), latent_variants(faces[0])),
        json_values,
    )


small_ints = st.one_of(st.integers(-3, 20), st.sampled_from([2**31, 2**63, 10**30]), json_values)
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-100, 100), json_values)
output = {"size": st.one_of(st.none(), st.integers(-1, 600), json_values), "format": st.sampled_from(["png", "jpeg", "gif", 3]),
          "quality": small_ints}


def body(fields: dict):
    """A JSON object with any subset of `fields`, each from its strategy, plus now and then an unknown key."""
    return st.fixed_dictionaries({}, optional={**fields, **output, "unknown": json_values})


# ---- the endpoints ----------------------------------------------------------------------------

@fuzz_settings(CASES)
@given(data=st.data())
def test_get_generate_parameters(api, data):
    c, _, _ = api
    keys = ["seed", "n", "seeds", "truncation", "size", "format", "quality", "token"]
    text = st.one_of(st.integers(-10, 2**64).map(str), st.floats(allow_nan=True).map(str), st.text(max_size=12))
    params = data.draw(st.lists(st.tuples(st.sampled_from(keys), text), max_size=6))
    r = send(c, "GET /v1/generate", "GET", "/v1/generate", params=params)
    if r.status_code == 200:
        assert r.content[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0"[:4]) or r.content[:3] == b"\xff\xd8\xff"


@fuzz_settings(CASES)
@given(data=st.data())
def test_post_generate(api, data):
    c, _, _ = api
    req = data.draw(body({"seed": small_ints, "n": small_ints, "truncation": floats, "images": json_values,
                          "seeds": st.one_of(st.lists(small_ints, max_size=6), json_values)}))
    send(c, "POST /v1/generate", "POST", "/v1/generate", json=req)


@fuzz_settings(CASES)
@given(data=st.data())
def test_post_morph(api, data):
    c, faces, _ = api
    req = data.draw(body({"faces": st.lists(face_refs(faces), max_size=5), "frames": small_ints,
                          "loop": json_values, "space": st.sampled_from(["auto", "z", "w", "x"]), "sheet": json_values}))
    send(c, "POST /v1/morph", "POST", "/v1/morph", json=req)


@fuzz_settings(CASES)
@given(data=st.data())
def test_post_breed(api, data):
    c, faces, _ = api
    genes = st.dictionaries(st.sampled_from(["coarse", "middle", "fine", "x", ""]),
                            st.sampled_from(["A", "B", "C", "random", "", "AB"]) | json_values, max_size=4)
    req = data.draw(body({"parents": st.lists(face_refs(faces), max_size=4), "genes": genes | json_values,
                          "children": small_ints, "mutation": floats, "seed": small_ints}))
    send(c, "POST /v1/breed", "POST", "/v1/breed", json=req)


layers = st.one_of(st.none(), st.sampled_from(["all", "coarse", "middle", "fine", "0-3", "3-0", "0-999", "-1", ""]),
                   st.text(max_size=8), json_values)
direction = st.one_of(st.integers(-2, 40).map(str), st.sampled_from(["", "smile", "0x1"]), json_values)


@fuzz_settings(CASES)
@given(data=st.data())
def test_post_edit(api, data):
    c, faces, _ = api
    edits = st.lists(st.fixed_dictionaries({}, optional={"direction": direction, "strength": floats}), max_size=4)
    req = data.draw(body({"face": face_refs(faces), "edits": edits | json_values, "layers": layers}))
    send(c, "POST /v1/edit", "POST", "/v1/edit", json=req)


@fuzz_settings(CASES)
@given(data=st.data())
def test_post_transform(api, data):
    c, faces, _ = api
    req = data.draw(body({"face": face_refs(faces), "exaggerate": floats, "truncation": floats, "direction": direction,
                          "strength": floats, "style_jitter": floats, "noise_scale": floats, "layers": layers,
                          "seed": small_ints}))
    send(c, "POST /v1/transform", "POST", "/v1/transform", json=req)


def _png_claiming(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 32)) + chunk(b"IEND", b""))


def _with_recipe(image: bytes, recipe_changes: dict) -> bytes:
    from PIL import Image

    from facegen.provenance import encode_image, read_recipe

    path = io.BytesIO(image)
    im = Image.open(path)
    fmt = "png" if im.format == "PNG" else "jpeg"
    tmp = __import__("tempfile").NamedTemporaryFile(suffix="." + fmt[:3].replace("jpe", "jpg"))
    with tmp:
        tmp.write(image)
        tmp.flush()
        recipe = read_recipe(tmp.name)
    try:
        return encode_image(im.convert("RGB"), dict(recipe, **recipe_changes), fmt)
    except (ValueError, TypeError, AttributeError):  # the writer expects facegen's own recipes
        return image


@fuzz_settings(CASES)
@given(data=st.data())
def test_upload_from_image(api, data):
    c, _, images = api
    base = data.draw(st.sampled_from(["png", "jpeg"]))
    content = data.draw(st.one_of(
        st.just(images[base]),
        st.builds(lambda ops: apply_ops(images[base], ops, head=2048), mutations()),
        st.builds(lambda ch: _with_recipe(images[base], ch),
                  st.dictionaries(st.sampled_from(["kind", "seed", "truncation", "latent", "z", "model", "op", "size"]),
                                  json_values | st.integers(-1, 2**64), max_size=3)),
        st.builds(_png_claiming, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1)),
        st.binary(max_size=256),
        st.just(b"\0" * 300_000),  # over this test server's 200,000-byte upload limit
    ))
    field = data.draw(st.sampled_from(["file", "file", "file", "other"]))
    filename = data.draw(st.one_of(st.none(), st.sampled_from(["a.png", "../../etc/passwd", "/abs/x.jpg", "%2e%2e/x"]),
                                   st.text(max_size=20)))
    ctype = data.draw(st.sampled_from(["image/png", "image/jpeg", "application/octet-stream", "text/plain"]))
    files = {field: (filename, content, ctype)}
    send(c, "POST /v1/faces/from-image", "POST", "/v1/faces/from-image", files=files)


ASTRONAUT = (__import__("pathlib").Path(__file__).resolve().parent / "data" / "astronaut.jpg").read_bytes()
form_text = st.one_of(st.text(max_size=12), st.sampled_from(["", "0", "1", "0,1", "-1", "1e9", "true", "NaN", "3,3"]),
                      st.integers(-5, 2**64).map(str))


def photo_upload(data, images):
    """A photo with a face (the astronaut), a faceless one, a broken or oversized one, or bytes."""
    content = data.draw(st.one_of(
        st.just(ASTRONAUT), st.just(images["png"]), st.just(images["jpeg"]),
        st.builds(lambda ops: apply_ops(ASTRONAUT, ops, head=2048), mutations()),
        st.builds(_png_claiming, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1)),
        st.binary(max_size=256), st.just(b"\0" * 300_000)))
    field = data.draw(st.sampled_from(["file"] * 7 + ["other"]))
    # Without a file name the part is a plain field, not a file (a 422): now and then.
    name = data.draw(st.sampled_from(["a.jpg"] * 4 + ["../x.png", "\u00e9\u00e9.jpg", "", None]))
    return {field: (name, content, "image/jpeg")}


@fuzz_settings(CASES)
@given(data=st.data())
def test_upload_photos(api, data):
    """/v1/invert and /v1/swap (/v1/remaster runs the same inversion): uploads and form fields."""
    c, faces, images = api
    files = photo_upload(data, images)
    if data.draw(st.booleans()):
        # Few steps: an inversion of the astronaut takes ~0.1 s a step on this tiny model's budget.
        fields = data.draw(st.fixed_dictionaries({"steps": st.one_of(
            st.integers(1, 6).map(str), st.integers(-2, 6).map(str), st.sampled_from(["401", "1e3", "x", "10**30"]))},
            optional={
            "index": form_text, "aligned": st.sampled_from(["true", "false", "1", "yes", "x", ""])}))
        send(c, "POST /v1/invert", "POST", "/v1/invert", files=files, data=fields)
    else:
        dumps = lambda v: json.dumps(v, allow_nan=True)  # noqa: E731
        faces_field = st.one_of(st.sampled_from(["[42]", "7", "1,2"]), form_text,
                                st.builds(dumps, st.lists(face_refs(faces), max_size=3)), st.builds(dumps, json_values))
        fields = data.draw(st.fixed_dictionaries({"faces": faces_field}, optional={
            "index": form_text, "blend": st.sampled_from(["feather", "poisson", "x"]),
            "colour": st.sampled_from(["lab", "lightness", "none", ""]), "min_face": form_text,
            "format": st.sampled_from(["png", "json", "gif"])}))
        send(c, "POST /v1/swap", "POST", "/v1/swap", files=files, data=fields)


@fuzz_settings(CASES)
@given(data=st.data())
def test_every_route_survives_arbitrary_requests(api, data):
    """Any route (those added later included): any method, a JSON or raw body, odd headers."""
    c, _, _ = api
    routes = api_routes(c.app)
    assert len(routes) >= 9
    method, path = data.draw(st.sampled_from(routes))
    kind = data.draw(st.sampled_from(["json", "raw", "form", "none"]))
    kw: dict = {"headers": {}}
    if kind == "json":
        kw["content"] = json.dumps(data.draw(json_values), allow_nan=True).encode()
        kw["headers"]["content-type"] = "application/json"
    elif kind == "raw":
        kw["content"] = data.draw(st.binary(max_size=512))
        kw["headers"]["content-type"] = data.draw(st.sampled_from(
            ["application/json", "multipart/form-data; boundary=x", "multipart/form-data", "text/plain", ""]))
    elif kind == "form":
        kw["data"] = data.draw(st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3))
    if data.draw(st.booleans()):
        kw["headers"]["content-length"] = data.draw(st.sampled_from(["0", "-1", "abc", "99999999999", "5"]))
    if data.draw(st.booleans()):
        method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]))
    try:
        send(c, "any route", method, path, **kw)
    except Exception as e:
        # httpx itself refuses some of these (a Content-Length that does not match the body) before sending.
        if type(e).__module__.startswith(("httpx", "h11")):
            return
        raise


def test_server_targets_ran_their_cases():
    for target in ("GET /v1/generate", "POST /v1/generate", "POST /v1/morph", "POST /v1/breed", "POST /v1/edit",
                   "POST /v1/transform", "POST /v1/faces/from-image", "any route"):
        record(target, int(CASES * 0.9))
    for target in ("POST /v1/invert", "POST /v1/swap"):  # the two share one test's cases
        record(target, int(CASES * 0.3))
