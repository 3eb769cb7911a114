"""The server's access rules (the token, the Host check, the serve command) and its work queue."""
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e '.[server]')")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")

from server_fixtures import TOKEN, client, make_client  # noqa: E402,F401

from facegen.pipeline import FaceGenerator  # noqa: E402
from facegen.server import Limits, check_bind  # noqa: E402
from facegen.server.limits import Busy, WorkQueue  # noqa: E402


# ---- the queue --------------------------------------------------------------------------------

def blocking_client(make_client, monkeypatch, limits):
    """A client whose model calls wait for `release`; `started` is set once the first one is running."""
    c = make_client(limits=limits)
    release, started = threading.Event(), threading.Event()
    original = FaceGenerator.__call__

    def slow(self, *a, **k):
        started.set()
        release.wait(10)
        return original(self, *a, **k)
    monkeypatch.setattr(FaceGenerator, "__call__", slow)
    return c, release, started


def wait_until(condition, timeout=10.0, what="the condition"):
    """Poll `condition` (cheaply) until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def test_full_queue_answers_429_with_retry_after(make_client, monkeypatch):
    c, release, started = blocking_client(make_client, monkeypatch, Limits(queue_depth=1))
    results = []
    worker = threading.Thread(target=lambda: results.append(c.get("/v1/generate", params={"seed": 1})))
    worker.start()
    assert started.wait(10), "the first request never reached the model"  # it holds the one place
    r = c.get("/v1/generate", params={"seed": 2})
    release.set()
    worker.join(10)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["error"]
    assert results[0].status_code == 200
    assert c.get("/v1/generate", params={"seed": 3}).status_code == 200  # the queue drains


def test_a_job_that_waited_too_long_gets_503(make_client, monkeypatch):
    max_wait = 0.05
    c, release, started = blocking_client(make_client, monkeypatch, Limits(queue_depth=4, max_wait_s=max_wait))
    queue = c.app.state.facegen.queue
    results, second = [], []
    worker = threading.Thread(target=lambda: results.append(c.get("/v1/generate", params={"seed": 1})))
    worker.start()
    assert started.wait(10), "the first request never reached the model"
    waiter = threading.Thread(target=lambda: second.append(c.get("/v1/generate", params={"seed": 2})))
    waiter.start()
    wait_until(lambda: queue.admitted == 2, what="the second request to queue behind the first")
    # It was submitted before this moment and cannot start before the first is released, so once
    # twice the limit has passed here, its wait is over the limit however the threads are scheduled.
    queued_by = time.monotonic()
    wait_until(lambda: time.monotonic() - queued_by > 2 * max_wait)
    release.set()
    worker.join(10)
    waiter.join(10)
    assert results[0].status_code == 200
    assert second[0].status_code == 503 and "retry-after" in second[0].headers
    assert "waited over 0.05 s" in second[0].json()["error"]


def test_work_queue_runs_one_job_at_a_time():
    import asyncio

    queue = WorkQueue(depth=3, max_wait_s=5)
    running, peak = [0], [0]

    def job():
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        running[0] -= 1
        return True

    async def main():
        results = await asyncio.gather(*(queue.run(job) for _ in range(4)), return_exceptions=True)
        return results
    results = asyncio.run(main())
    queue.close()
    assert results.count(True) == 3 and isinstance(results[3], Busy) and results[3].status_code == 429
    assert peak[0] == 1 and queue.admitted == 0


# ---- access -----------------------------------------------------------------------------------

def test_non_loopback_bind_needs_a_token():
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("localhost", None)
    for host in ("0.0.0.0", "192.168.1.5", "::", "myhost.lan"):
        with pytest.raises(ValueError, match="needs an access token"):
            check_bind(host, None)
        check_bind(host, TOKEN)
    with pytest.raises(ValueError, match="at least 16 characters"):
        check_bind("0.0.0.0", "short")


def every_route(app):
    for path, ops in app.openapi()["paths"].items():
        for method in ops:
            yield method.upper(), path
    yield "GET", "/"
    yield "GET", "/app.js"
    yield "GET", "/docs"
    yield "GET", "/openapi.json"


def test_token_is_required_on_every_request(make_client):
    c = make_client(token=TOKEN)
    routes = list(every_route(c.app))
    assert ("POST", "/v1/breed") in routes and len(routes) >= 12
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": TOKEN}):
            r = c.request(method, path, headers=headers)
            assert r.status_code == 401, (method, path, headers)
            assert "access token" in r.json()["error"] and r.headers["www-authenticate"] == "Bearer"
    ok = {"Authorization": f"Bearer {TOKEN}"}
    assert c.get("/v1/model", headers=ok).status_code == 200
    assert c.get("/v1/generate", params={"seed": 1}, headers=ok).status_code == 200
    assert c.get("/", headers=ok).status_code == 200


def test_studio_token_link_becomes_a_cookie(make_client):
    c = make_client(token=TOKEN)
    r = c.get("/", params={"token": TOKEN}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    assert c.get("/v1/model").status_code == 200  # the client now sends the cookie
    c.cookies.clear()
    assert c.get("/v1/model").status_code == 401
    assert c.get("/", params={"token": "nope" * 5}, follow_redirects=False).status_code == 401


def test_loopback_server_refuses_other_host_names(make_client):
    c = make_client(allowed_hosts=("localhost", "127.0.0.1", "::1"))
    assert c.get("/v1/model", headers={"Host": "127.0.0.1:7860"}).status_code == 200
    assert c.get("/v1/model", headers={"Host": "[::1]:7860"}).status_code == 200
    r = c.get("/v1/model", headers={"Host": "attacker.example:7860"})
    assert r.status_code == 403 and "not served here" in r.json()["error"]


def test_studio_and_docs_are_served_without_the_internet(client):
    page = client.get("/")
    assert page.status_code == 200 and "facegen studio" in page.text
    for asset in ("/app.js", "/style.css", "/docs"):
        text = client.get(asset).text
        assert "http://" not in text and "https://" not in text, asset
    assert "/v1/generate" in client.get("/openapi.json").json()["paths"]


def test_serve_command_refuses_an_open_bind_without_a_token(capsys, monkeypatch):
    from facegen.cli import main

    monkeypatch.delenv("FACEGEN_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--token", ""]) == 2
    assert "needs an access token" in capsys.readouterr().err


def test_serve_command_says_when_the_port_is_taken(capsys):
    import socket

    from facegen.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
