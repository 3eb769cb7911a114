"""The HTTP API: every endpoint, every limit and error (FastAPI's test client)."""
import base64
import io
import struct
import zlib

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e '.[server]')")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")

from PIL import Image  # noqa: E402
from server_fixtures import SMALL, client, image_bytes, make_client, pixels, recipe_of  # noqa: E402,F401

from facegen.cli import main  # noqa: E402
from facegen.pipeline import FaceGenerator, decode_latent  # noqa: E402
from facegen.recipes import render  # noqa: E402


# ---- endpoints --------------------------------------------------------------------------------

def test_model_info_reports_model_directions_and_limits(client):
    info = client.get("/v1/model").json()
    assert info["model"]["name"] == "tiny-style" and info["model"]["resolution"] == 32
    assert info["num_ws"] > 0 and set(info["layer_groups"]) == {"coarse", "middle", "fine"}
    assert info["directions"]["method"] == "sefa" and info["directions"]["items"][0]["index"] == 0
    assert info["limits"]["max_faces"] == 4 and "breed" in info["capabilities"]


def test_generate_image_is_deterministic_and_carries_its_recipe(client, tmp_path):
    a = client.get("/v1/generate", params={"seed": 7, "truncation": 0.7})
    assert a.status_code == 200 and a.headers["content-type"] == "image/png"
    assert a.headers["x-facegen-seeds"] == "7"
    assert client.get("/v1/generate", params={"seed": 7, "truncation": 0.7}).content == a.content
    assert pixels(client.get("/v1/generate", params={"seed": 8}).content) != pixels(a.content)
    recipe = recipe_of(a.content, tmp_path)
    assert (recipe["kind"], recipe["seed"], recipe["truncation"]) == ("generate", 7, 0.7)
    pipe = FaceGenerator.from_pretrained(recipe["model"]["source"], precision=recipe["precision"])
    assert np.asarray(render(recipe, pipe).convert("RGB")).tolist() == pixels(a.content)


def test_generate_image_jpeg_size_and_grid(client, tmp_path):
    jpg = client.get("/v1/generate", params={"seed": 1, "format": "jpeg", "size": 48})
    assert jpg.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(jpg.content)).size == (48, 48)
    assert recipe_of(jpg.content, tmp_path, "x.jpg")["seed"] == 1
    grid = client.get("/v1/generate", params=[("seeds", 3), ("seeds", 5), ("seeds", 9)])
    recipe = recipe_of(grid.content, tmp_path)
    assert recipe["kind"] == "grid" and recipe["seeds"] == [3, 5, 9]


def test_generate_json_returns_seeds_latents_and_images(client, tmp_path):
    faces = client.post("/v1/generate", json={"seed": 10, "n": 3, "truncation": 0.5}).json()["faces"]
    assert [f["seed"] for f in faces] == [10, 11, 12]
    assert decode_latent(faces[0]["w"]).shape == (32,) and decode_latent(faces[0]["z"]).shape == (32,)
    assert recipe_of(image_bytes(faces[1]), tmp_path)["seed"] == 11
    single = client.get("/v1/generate", params={"seed": 10, "truncation": 0.5}).content
    alone = client.post("/v1/generate", json={"seed": 10, "truncation": 0.5}).json()["faces"][0]
    assert pixels(image_bytes(alone)) == pixels(single) == pixels(image_bytes(faces[0]))
    bare = client.post("/v1/generate", json={"seed": 10, "truncation": 0.5, "images": False}).json()["faces"][0]
    assert "image" not in bare and bare["w"] == alone["w"]
    # No seed: the server draws one, says which, and that seed makes the same face again.
    drawn = client.post("/v1/generate", json={"truncation": 0.5}).json()["faces"][0]
    again = client.post("/v1/generate", json={"seed": drawn["seed"], "truncation": 0.5}).json()["faces"][0]
    assert again["w"] == drawn["w"] and pixels(image_bytes(again)) == pixels(image_bytes(drawn))


def test_morph_starts_on_the_first_face_and_limits_frames(client, tmp_path):
    a = client.post("/v1/generate", json={"seed": 1}).json()["faces"][0]
    r = client.post("/v1/morph", json={"faces": [a, {"seed": 2}], "frames": 5, "sheet": True}).json()
    assert len(r["frames"]) == 5 and r["space"] == "w"
    # Frame 0 is the first face exactly: the same w, and (each frame being made alone) the same pixels.
    assert r["frames"][0]["w"] == a["w"]
    first, alone = np.asarray(pixels(image_bytes(r["frames"][0]))), np.asarray(pixels(image_bytes(a)))
    assert np.array_equal(first, alone)
    assert np.abs(np.asarray(pixels(image_bytes(r["frames"][2]))) - alone).max() > 1  # and it moves
    frame = recipe_of(image_bytes(r["frames"][2]), tmp_path)
    assert (frame["kind"], frame["op"], frame["frame"]) == ("latent", "morph", 2)
    assert decode_latent(frame["latent"]).tolist() == [decode_latent(r["frames"][2]["w"]).tolist()]
    sheet = base64.b64decode(r["sheet"].split(",", 1)[1])
    assert recipe_of(sheet, tmp_path, "s.png")["op"] == "morph"
    too_many = client.post("/v1/morph", json={"faces": [{"seed": 1}, {"seed": 2}], "frames": 9})
    assert too_many.status_code == 400 and "limit of 8 morph frames" in too_many.json()["error"]
    keys = client.post("/v1/morph", json={"faces": [{"seed": s} for s in range(4)], "frames": 4})
    assert keys.status_code == 400 and "faces in a morph" in keys.json()["error"]
    assert client.post("/v1/morph", json={"faces": [{"seed": 1}], "frames": 4}).status_code == 422


def test_breed_children_come_back_as_faces_to_continue_from(client, tmp_path):
    a, b = client.post("/v1/generate", json={"seed": 1, "n": 2}).json()["faces"]
    r = client.post("/v1/breed", json={"parents": [a, b], "children": 3, "genes": {"coarse": "A"}, "seed": 4})
    children = r.json()["faces"]
    assert len(children) == 3 and all(c["seed"] is None for c in children)
    recipe = recipe_of(image_bytes(children[0]), tmp_path)
    assert recipe["op"] == "breed" and recipe["genes"]["coarse"] == "A"
    again = client.post("/v1/breed", json={"parents": [a, b], "children": 3, "genes": {"coarse": "A"}, "seed": 4})
    assert again.json()["faces"][0]["w"] == children[0]["w"]  # the seed makes it repeatable
    grandchild = client.post("/v1/breed", json={"parents": [children[0], a]})
    assert grandchild.status_code == 200
    over = client.post("/v1/breed", json={"parents": [a, b], "children": 5})
    assert over.status_code == 400 and "faces per call" in over.json()["error"]
    bad = client.post("/v1/breed", json={"parents": [a, b], "genes": {"coarse": "Z"}})
    assert bad.status_code == 400 and "parent 'Z'" in bad.json()["error"]


@pytest.mark.parametrize("architecture", ["style", "dcgan"])
def test_every_morph_frame_and_child_reproduces_bit_for_bit(make_client, tmp_path, capsys, architecture):
    """Each frame and child comes back as a face whose recipe re-makes it alone, so the server makes
    it alone too: a convolution rounds differently in a batch than alone, by enough to tip a pixel."""
    c = make_client(architecture)
    m = c.post("/v1/morph", json={"faces": [{"seed": 1}, {"seed": 2}, {"seed": 3}], "frames": 8,
                                  "sheet": True}).json()
    b = c.post("/v1/breed", json={"parents": [{"seed": 1}, {"seed": 2}], "children": 4, "mutation": 0.5,
                                  "seed": 5}).json()
    made = [image_bytes(f) for f in m["frames"] + b["faces"]] + [base64.b64decode(m["sheet"].split(",", 1)[1])]
    for i, data in enumerate(made):
        path = tmp_path / f"made{i}.png"
        path.write_bytes(data)
        assert main(["reproduce", str(path)]) == 0, capsys.readouterr().out
    assert "identical" in capsys.readouterr().out


def test_edit_moves_the_face_and_its_recipe_remakes_it(client, tmp_path):
    face = {"seed": 3, "truncation": 0.8}
    base = client.post("/v1/generate", json={"seed": 3, "truncation": 0.8}).json()["faces"][0]
    zero = client.post("/v1/edit", json={"face": face, "edits": [{"direction": "0", "strength": 0}]}).json()
    assert pixels(image_bytes(zero["face"])) == pixels(image_bytes(base))
    moved = client.post("/v1/edit", json={"face": face, "edits": [{"direction": "0", "strength": 3},
                                                                  {"direction": "1", "strength": -2}],
                                          "layers": "coarse"}).json()["face"]
    data = image_bytes(moved)
    assert pixels(data) != pixels(image_bytes(base))
    recipe = recipe_of(data, tmp_path)
    assert recipe["op"] == "edit" and [e["strength"] for e in recipe["edits"]] == [3, -2]
    pipe = FaceGenerator.from_pretrained(recipe["model"]["source"], precision=recipe["precision"])
    assert np.asarray(render(recipe, pipe).convert("RGB")).tolist() == pixels(data)
    unknown = client.post("/v1/edit", json={"face": face, "edits": [{"direction": "smile", "strength": 1}]})
    assert unknown.status_code == 400 and "unknown direction 'smile'" in unknown.json()["error"]
    assert client.post("/v1/edit", json={"face": face, "edits": [{"direction": "0", "strength": 11}]}).status_code == 422


def test_edit_without_directions_is_a_clear_409(make_client):
    c = make_client(directions="none")
    assert c.get("/v1/model").json()["directions"] is None
    r = c.post("/v1/edit", json={"face": {"seed": 1}, "edits": [{"direction": "0", "strength": 1}]})
    assert r.status_code == 409 and "facegen directions" in r.json()["error"]


def test_transform_and_its_limits(client):
    base = client.post("/v1/generate", json={"seed": 5}).json()["faces"][0]
    r = client.post("/v1/transform", json={"face": {"seed": 5}, "exaggerate": 1.5, "direction": "0", "strength": 2})
    assert r.status_code == 200 and r.json()["notes"] == []  # near the average face: nothing clamped
    assert pixels(image_bytes(r.json()["face"])) != pixels(image_bytes(base))
    clamped = client.post("/v1/transform", json={"face": {"seed": 5}, "exaggerate": 10}).json()
    assert len(clamped["notes"]) == 1 and clamped["notes"][0].startswith("clamped: the face was")
    far = client.post("/v1/transform", json={"face": {"seed": 5}, "exaggerate": 50})
    assert far.status_code == 400 and "exaggerate 50" in far.json()["error"]
    no_z = client.post("/v1/transform", json={"face": {"w": base["w"]}, "truncation": 1.5})
    assert no_z.status_code == 400 and "needs the face's z" in no_z.json()["error"]


def test_dcgan_model_works_and_refuses_style_only_requests(make_client):
    c = make_client("dcgan")
    info = c.get("/v1/model").json()
    assert info["model"]["architecture"] == "dcgan" and info["directions"]["method"] == "ganspace"
    a, b = c.post("/v1/generate", json={"seed": 1, "n": 2}).json()["faces"]
    assert c.post("/v1/morph", json={"faces": [a, b], "frames": 3}).json()["space"] == "z"
    assert c.post("/v1/breed", json={"parents": [a, b]}).status_code == 200
    r = c.post("/v1/breed", json={"parents": [a, b], "genes": {"fine": "B"}})
    assert r.status_code == 400 and "style architecture" in r.json()["error"]
    r = c.post("/v1/edit", json={"face": a, "edits": [{"direction": "0", "strength": 1}], "layers": "coarse"})
    assert r.status_code == 400 and "style architecture" in r.json()["error"]


# ---- uploads ----------------------------------------------------------------------------------

def png_header(width: int, height: int) -> bytes:
    """A PNG that declares a size but holds no pixels: refusing it must not need decoding."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IEND", b""))


def upload(client, data: bytes, name="face.png"):
    return client.post("/v1/faces/from-image", files={"file": (name, data, "image/png")})


def test_from_image_continues_from_a_facegen_image(client):
    made = client.get("/v1/generate", params={"seed": 21, "truncation": 0.6}).content
    face = upload(client, made).json()["face"]
    assert (face["seed"], face["truncation"]) == (21, 0.6)
    assert pixels(image_bytes(face)) == pixels(made)
    child = client.post("/v1/breed", json={"parents": [{"seed": 1}], "children": 1}).json()["faces"][0]
    again = upload(client, image_bytes(child)).json()["face"]
    assert again["w"] == child["w"] and again["seed"] is None


def test_upload_limits_and_refusals(client):
    plain = io.BytesIO()
    Image.new("RGB", (8, 8)).save(plain, "PNG")
    r = upload(client, plain.getvalue())
    assert r.status_code == 400 and "no facegen recipe" in r.json()["error"]
    r = upload(client, png_header(1000, 1000))
    assert r.status_code == 413 and "1000x1000 pixels" in r.json()["error"]
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    assert upload(client, gif.getvalue(), "a.gif").status_code == 415
    r = upload(client, b"not an image at all")
    assert r.status_code == 400 and "not a readable image" in r.json()["error"]
    assert upload(client, b"").status_code == 400
    r = upload(client, b"\x89PNG" + bytes(SMALL.max_upload_bytes))
    assert r.status_code == 413 and "over the limit" in r.json()["error"]
    assert client.post("/v1/faces/from-image").status_code == 422


def test_request_body_cap_applies_before_reading(client):
    big = b"x" * (SMALL.max_body_bytes + 1)
    r = client.post("/v1/generate", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "request body is over the limit" in r.json()["error"]

    def chunks():  # no Content-Length: the cap must hold while the body streams in
        for _ in range(8):
            yield b"x" * (SMALL.max_body_bytes // 4)
    r = client.post("/v1/generate", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


# ---- errors -----------------------------------------------------------------------------------

def test_errors_are_json_with_clear_messages(client):
    r = client.post("/v1/generate", json={"n": 0})
    assert r.status_code == 422 and r.json()["error"].startswith("n:")
    r = client.post("/v1/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["error"]
    r = client.post("/v1/generate", json={"n": 5})
    assert r.status_code == 400 and "limit of 4 faces per call" in r.json()["error"]
    assert client.get("/v1/generate", params={"size": 512}).status_code == 400
    assert client.get("/v1/generate", params={"format": "gif"}).status_code == 422
    assert client.get("/v1/generate", params={"seed": -1}).status_code == 422
    assert client.get("/v1/nowhere").json() == {"error": "Not Found"}
    assert client.delete("/v1/generate").status_code == 405
    r = client.post("/v1/edit", json={"face": {"w": {"shape": [3], "data": "AAAA"}},
                                      "edits": [{"direction": "0", "strength": 1}]})
    assert r.status_code == 400 and "latent" in r.json()["error"]
    r = client.post("/v1/morph", json={"faces": [{"w": {"shape": [7], "data": base64.b64encode(bytes(28)).decode()}},
                                                 {"seed": 1}], "frames": 3})
    assert r.status_code == 400 and "shape [7]" in r.json()["error"]
    assert client.post("/v1/morph", json={"faces": [{}, {"seed": 1}]}).status_code == 422


def test_internal_errors_hide_the_details(make_client, monkeypatch):
    c = make_client(raise_server_exceptions=False)
    def broken(*a, **k):
        raise RuntimeError("secret /home/path detail")
    monkeypatch.setattr(FaceGenerator, "__call__", lambda self, *a, **k: broken())
    r = c.post("/v1/generate", json={"seed": 1})
    assert r.status_code == 500 and r.json() == {"error": "internal error (the server log has the details)"}


