"""Two promises of the server, checked against whatever routes the app has (endpoints added later
included): beyond loopback no route answers without the token, and no request reaches a file outside
the studio's own folder (the server reads no other files; uploads go to a private temporary folder).
"""
from __future__ import annotations

import shutil

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e '.[server]')")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")

from server_fixtures import TOKEN, api_routes, make_client  # noqa: E402,F401
from starlette.routing import Mount  # noqa: E402

BAD_TOKENS = [{}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": TOKEN},
              {"Authorization": f"Basic {TOKEN}"}, {"Cookie": "facegen_token=nope"},
              {"Authorization": f"Bearer {TOKEN[:-1]}"}, {"Authorization": f"Bearer {TOKEN}x"}]


def route_requests(app):
    """(method, path) for every endpoint, and files under each static mount."""
    seen = set(api_routes(app))
    for route in app.routes:
        if isinstance(route, Mount):
            base = route.path.rstrip("/")
            seen.update(("GET", base + name) for name in ("/", "/index.html", "/app.js", "/no-such-file"))
    return sorted(seen)


def test_beyond_loopback_every_route_needs_the_token(make_client):
    # `facegen serve --host 0.0.0.0` builds the app this way: a token and no Host allow-list.
    c = make_client(token=TOKEN)
    requests = route_requests(c.app)
    api = [r for r in requests if r[1].startswith("/v1/")]
    assert len(api) >= 8 and ("POST", "/v1/faces/from-image") in requests and ("GET", "/") in requests
    for method, path in requests:
        for headers in BAD_TOKENS:
            r = c.request(method, path, headers=headers, params={"token": "x" * 20})
            assert r.status_code == 401, (method, path, headers, r.status_code)
            if method != "HEAD":
                assert "access token" in r.json()["error"]
    ok = {"Authorization": f"Bearer {TOKEN}"}
    answered = {path: c.request(method, path, headers=ok).status_code for method, path in requests}
    assert all(status != 401 for status in answered.values()), answered


def test_the_serve_command_never_binds_beyond_loopback_without_a_token():
    from facegen.server import check_bind

    for host in ("0.0.0.0", "::", "10.0.0.1", "[::ffff:127.0.0.1]", "example.com", "127.0.0.1.nip.io"):
        with pytest.raises(ValueError, match="needs an access token"):
            check_bind(host, None)
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"):
        check_bind(host, None)


TRAVERSALS = [
    "/../secret.txt", "/..%2fsecret.txt", "/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt", "/..%5csecret.txt",
    "/%252e%252e/secret.txt", "/....//secret.txt", "/.%2e/secret.txt", "/./secret.txt", "/link.txt",
    "/linkdir/secret.txt", "/static/../../secret.txt", "/v1/../../secret.txt", "/%00secret.txt", "/secret.txt%00.js",
]


@pytest.fixture
def studio_copy(tmp_path, monkeypatch):
    """The studio served from a copy that also holds symlinks pointing out of it, beside a secret file."""
    import facegen.server.app as server_app

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    studio = tmp_path / "studio"
    shutil.copytree(server_app.STUDIO, studio)
    (studio / "link.txt").symlink_to(secret)
    (studio / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    monkeypatch.setattr(server_app, "STUDIO", studio)
    return secret


def test_no_request_reaches_a_file_outside_the_studio(make_client, studio_copy):
    c = make_client()
    assert c.get("/app.js").status_code == 200  # the copy is what is served
    secret = studio_copy.read_text()
    absolute = str(studio_copy)
    for path in TRAVERSALS + [absolute, "/" + absolute.lstrip("/"), "/..%2f" * 8 + absolute.lstrip("/")]:
        for method in ("GET", "HEAD"):
            r = c.request(method, path)
            assert secret not in r.text, path
            assert r.status_code in (400, 404, 405), (path, r.status_code)
    # API fields never name files: a path where a face, a direction or an upload name goes is refused or ignored.
    for face in ({"seed": absolute}, {"w": absolute}, absolute, {"seed": 1, "w": {"shape": [1], "data": absolute}}):
        r = c.post("/v1/morph", json={"faces": [face, {"seed": 2}]})
        assert r.status_code in (400, 422) and secret not in r.text, face
    r = c.post("/v1/transform", json={"face": {"seed": 1}, "direction": absolute, "strength": 1})
    assert r.status_code in (400, 404, 409, 422) and secret not in r.text
    r = c.post("/v1/faces/from-image", files={"file": (absolute, studio_copy.read_bytes(), "image/png")})
    assert r.status_code in (400, 415) and secret not in r.text
