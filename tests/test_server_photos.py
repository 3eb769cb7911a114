"""The photo endpoints: /v1/invert, /v1/swap and /v1/remaster (uploads, long jobs, the swap rule)."""
import base64
import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e '.[server]')")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")

from PIL import Image  # noqa: E402
from server_fixtures import SMALL, client, image_bytes, make_client, recipe_of  # noqa: E402,F401

from facegen.pipeline import decode_latent  # noqa: E402
from facegen.provenance import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, digital_source_type  # noqa: E402
from facegen.server import Limits  # noqa: E402

ASTRONAUT = Path(__file__).resolve().parent / "data" / "astronaut.jpg"  # 240x240, NASA public domain
STEPS = 20


def photo() -> bytes:
    return ASTRONAUT.read_bytes()


def invert(c, data=None, **fields):
    return c.post("/v1/invert", files={"file": ("astronaut.jpg", data or photo(), "image/jpeg")},
                  data={"steps": str(STEPS), **fields})


def swap(c, faces, data=None, **fields):
    return c.post("/v1/swap", files={"file": ("astronaut.jpg", data or photo(), "image/jpeg")},
                  data={"faces": json.dumps(faces), **fields})




def test_invert_returns_a_face_that_breeds_edits_and_carries_its_ancestry(client, tmp_path):
    r = invert(client)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["faces"]) == 1
    got = body["faces"][0]
    face = got["face"]
    assert got["index"] == 0 and len(got["box"]) == 4 and got["steps"] <= STEPS
    assert np.isfinite(got["psnr"]) and -1 <= got["ssim"] <= 1
    w = decode_latent(face["w"])
    assert tuple(w.shape)[-1] == 32 and len(face["inverted_from"]) == 1
    recipe = recipe_of(image_bytes(face), tmp_path)
    assert recipe["op"] == "invert" and recipe["origin"] == "inverted" and recipe["face"]["inverted_from"]
    # The face plugs straight into the other endpoints, and what they make keeps the ancestry.
    edited = client.post("/v1/edit", json={"face": face, "edits": [{"direction": "0", "strength": 1}]})
    assert edited.status_code == 200 and edited.json()["face"]["inverted_from"] == face["inverted_from"]
    children = client.post("/v1/breed", json={"parents": [face, {"seed": 3}], "children": 2}).json()["faces"]
    assert all(ch["inverted_from"] == face["inverted_from"] for ch in children)
    frames = client.post("/v1/morph", json={"faces": [face, {"seed": 1}], "frames": 3}).json()["frames"]
    assert frames[1]["inverted_from"] == face["inverted_from"]
    moved = client.post("/v1/transform", json={"face": face, "exaggerate": 1.2}).json()["face"]
    assert moved["inverted_from"] == face["inverted_from"]
    # A seed's faces carry none.
    plain = client.post("/v1/breed", json={"parents": [{"seed": 1}, {"seed": 2}], "children": 1}).json()["faces"][0]
    assert "inverted_from" not in plain
    # Re-opening the reconstruction (its recipe) brings the ancestry back too.
    again = client.post("/v1/faces/from-image", files={"file": ("r.png", image_bytes(face), "image/png")}).json()
    assert again["face"]["inverted_from"]

    # The swap rule: the inverted face, and an edit close to it, are refused with a clear message.
    for refused in (face, edited.json()["face"]):
        r = swap(client, [refused])
        assert r.status_code == 400 and "inverted from a photo of a real person" in r.json()["error"], r.text
        assert r.json()["error"].startswith("faces[0] ")


def test_swap_with_a_seed_changes_only_the_face_and_is_labelled_a_composite(client, tmp_path):
    r = swap(client, [42], format="json")
    assert r.status_code == 200, r.text
    body = r.json()
    box = body["faces"][0]["box"]
    out = base64.b64decode(body["image"].split(",", 1)[1])
    r = swap(client, [{"seed": 42}])
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content == out
    before = np.asarray(Image.open(io.BytesIO(photo())).convert("RGB"))
    after = np.asarray(Image.open(io.BytesIO(out)).convert("RGB"))
    assert after.shape == before.shape
    x, y, w, h = box
    assert not np.array_equal(after[y:y + h, x:x + w], before[y:y + h, x:x + w])
    corner = (slice(0, 24), slice(0, 24))
    assert np.array_equal(after[corner], before[corner])
    assert np.array_equal(after[-24:, -24:], before[-24:, -24:])
    path = tmp_path / "swapped.png"
    path.write_bytes(out)
    assert digital_source_type(path) == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    recipe = recipe_of(out, tmp_path)
    assert recipe["op"] == "swap" and recipe["kind"] == "composite" and recipe["photo"]["file"] == "astronaut.jpg"
    assert recipe["photo"]["sha256"] and recipe["sources"][0]["seed"] == 42
    # Bare seeds work as a field too.
    assert swap(client, [42]).content == swap(client, 42).content


def test_photo_refusals_are_clear(client):
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank, "PNG")
    for r in (invert(client, blank.getvalue()), swap(client, [1], blank.getvalue())):
        assert r.status_code == 400 and "no face found" in r.json()["error"], r.text
    r = swap(client, [1], min_face="1000")
    assert r.status_code == 400 and "too small" in r.json()["error"]
    r = swap(client, [1], index="5")
    assert r.status_code == 400 and "index 5 is not one" in r.json()["error"]
    assert "--index" not in r.json()["error"]  # the field is `index`; no CLI flag in a server answer
    assert swap(client, [1], index="x").status_code == 400
    assert swap(client, [1, 2, 3]).status_code == 400  # one source, or one per face
    assert swap(client, [{"w": {"shape": [3], "data": "AAAA"}}]).status_code == 400
    assert swap(client, [{}]).status_code == 422
    assert swap(client, ["a face"]).status_code == 422
    assert swap(client, []).status_code == 422
    r = invert(client, steps="401")
    assert r.status_code == 400 and "limit of 400 inversion steps" in r.json()["error"]
    assert invert(client, steps="0").status_code == 422
    r = invert(client, index="3")
    assert r.status_code == 400 and "index 3 is not one" in r.json()["error"]
    assert client.post("/v1/invert").status_code == 422
    assert client.post("/v1/swap", data={"faces": "[1]"}).status_code == 422


def test_photo_uploads_are_limited_before_decoding(client):
    from test_server import png_header

    for r in (invert(client, png_header(1000, 1000)), swap(client, [1], png_header(1000, 1000)),
              client.post("/v1/remaster", files={"file": ("a.png", png_header(1000, 1000), "image/png")})):
        assert r.status_code == 413 and "1000x1000 pixels" in r.json()["error"], r.text
    big = b"\xff\xd8" + bytes(SMALL.max_upload_bytes)
    for r in (invert(client, big), swap(client, [1], big)):
        assert r.status_code == 413 and "over the limit" in r.json()["error"]
    r = invert(client, b"not an image")
    assert r.status_code == 400 and "not a readable image" in r.json()["error"]


def test_a_second_inversion_is_refused_while_one_runs(make_client, monkeypatch):
    import facegen.inversion as inversion

    c = make_client()
    release = threading.Event()
    original = inversion.invert_crop

    def slow(*a, **k):
        release.wait(5)
        return original(*a, **k)
    monkeypatch.setattr(inversion, "invert_crop", slow)
    results = []
    worker = threading.Thread(target=lambda: results.append(invert(c, steps="2")))
    worker.start()
    deadline = time.monotonic() + 5
    while c.app.state.facegen.long_jobs < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    r = invert(c, steps="2")
    quick = []  # short jobs still get in line (behind the inversion)
    other = threading.Thread(target=lambda: quick.append(c.get("/v1/generate", params={"seed": 1})))
    other.start()
    release.set()
    worker.join(10)
    other.join(10)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["error"]
    assert quick[0].status_code == 200 and results[0].status_code == 200
    assert c.app.state.facegen.long_jobs == 0


def test_remaster_returns_a_labelled_composite(client, tmp_path):
    r = client.post("/v1/remaster", files={"file": ("astronaut.jpg", photo(), "image/jpeg")},
                    data={"steps": "5", "format": "json"})
    assert r.status_code == 200, r.text
    body = r.json()
    out = base64.b64decode(body["image"].split(",", 1)[1])
    path = tmp_path / "r.png"
    path.write_bytes(out)
    assert digital_source_type(path) == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert recipe_of(out, tmp_path)["op"] == "remaster" and body["before_after"].startswith("data:image/png")
    assert Limits().public()["max_invert_steps"] == 400
