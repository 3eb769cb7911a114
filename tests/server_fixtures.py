"""Test clients for the server tests: a tiny model behind create_app, with small limits."""
import base64
import io
import warnings

import numpy as np
import pytest
from PIL import Image

with warnings.catch_warnings():
    # Starlette's test client warns that it will move to httpx2; nothing here depends on which.
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from facegen.pipeline import FaceGenerator
from facegen.provenance import is_ai_labelled, read_recipe
from facegen.server import Limits, create_app

TOKEN = "correct-horse-battery-staple"
SMALL = Limits(max_faces=4, max_frames=8, max_keys=3, max_size=128, max_upload_bytes=200_000,
               max_upload_pixels=256 * 256, queue_depth=4, max_wait_s=5.0)


@pytest.fixture
def make_client(tiny_model_file):
    clients = []

    def make(architecture="style", token=None, limits=SMALL, directions="auto", allowed_hosts=None, **kw):
        # fp32: under bf16 a tiny random model's pixels depend on the batch size by a few levels,
        # and these tests compare faces made alone with the same faces made in a batch.
        pipe = FaceGenerator.from_pretrained(tiny_model_file(architecture), precision="fp32")
        app = create_app(pipe, token=token, limits=limits, directions=directions,
                         allowed_hosts=allowed_hosts)
        client = TestClient(app, **kw)
        client.__enter__()
        clients.append(client)
        return client
    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()


def pixels(data: bytes):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).tolist()


def image_bytes(face: dict) -> bytes:
    head, b64 = face["image"].split(",", 1)
    assert head == "data:image/png;base64"
    return base64.b64decode(b64)


def recipe_of(data: bytes, tmp_path, name="x.png") -> dict:
    path = tmp_path / name
    path.write_bytes(data)
    assert is_ai_labelled(path)
    return read_recipe(path)




def api_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every endpoint, however the app nests its routers (FastAPI has changed how an
    included router appears in app.routes), united with the OpenAPI schema's list."""
    found = set()

    def walk(routes, prefix=""):
        for route in routes:
            inner = getattr(route, "original_router", None)  # FastAPI >= 0.16x: an included router
            if inner is not None:
                walk(inner.routes, prefix + getattr(getattr(route, "include_context", None), "prefix", ""))
            elif getattr(route, "methods", None) and hasattr(route, "path"):
                path = prefix + getattr(route, "path_format", route.path)
                found.update((m, path.replace("{", "").replace("}", "")) for m in route.methods)
    walk(app.routes)
    for path, ops in app.openapi()["paths"].items():
        found.update((m.upper(), path.replace("{", "").replace("}", "")) for m in ops)
    return sorted(found)
