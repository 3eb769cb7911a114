"""The FastAPI app: the /v1 API, the studio page at /, the access rules, and JSON for every error."""
from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import time
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from .. import __version__
from ..limits import MAX_SEED
from ..pipeline import FaceGenerator
from .limits import BodyLimit, Busy, Limits, WorkQueue

log = logging.getLogger("facegen.server")
STUDIO = Path(__file__).resolve().parent / "studio"
TOKEN_COOKIE = "facegen_token"
MIN_TOKEN_CHARS = 16
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class ServerState:
    """What every endpoint needs: the pipeline, its edit directions, the limits and the work queue."""

    def __init__(self, pipe: FaceGenerator, directions, limits: Limits):
        self.pipe, self.directions, self.limits = pipe, directions, limits
        self.queue = WorkQueue(limits.queue_depth, limits.max_wait_s)
        self.long_jobs = 0  # inversions and remasters admitted (seconds each, not milliseconds)
        self.long_job_s = 10.0  # running average, for Retry-After

    async def run(self, fn, long: bool = False):
        """Run `fn` on the work queue. A `long` job (an inversion) is refused with 429 while another is
        admitted: queued behind it, every other request would wait past the queue's patience."""
        if not long:
            return await self.queue.run(fn)
        if self.long_jobs >= self.limits.long_jobs:
            raise Busy(429, "the server is busy with another photo (inversion takes several seconds); "
                            "try again shortly", self.long_job_s)
        self.long_jobs += 1
        start = time.monotonic()
        try:
            return await self.queue.run(fn)
        finally:
            self.long_jobs -= 1
            self.long_job_s = 0.7 * self.long_job_s + 0.3 * (time.monotonic() - start)

    def check_count(self, name: str, value: int, limit: int, what: str):
        if value > limit:
            raise HTTPException(400, f"{name} is {value}, over this server's limit of {limit} {what}")

    def check_size(self, size: int | None):
        if size is not None:
            self.check_count("size", size, self.limits.max_size, "pixels a side")

    def seeds(self, seed: int | None, n: int, seeds: list[int] | None) -> list[int]:
        if seeds:
            self.check_count("seeds", len(seeds), self.limits.max_faces, "faces per call")
            bad = [x for x in seeds if not 0 <= x <= MAX_SEED]
            if bad:
                raise HTTPException(400, f"seed {bad[0]} is out of range (0 to 2**63-1)")
            return list(seeds)
        self.check_count("n", n, self.limits.max_faces, "faces per call")
        if seed is None:
            import secrets

            seed = secrets.randbelow(2**31)
        if seed + n - 1 > MAX_SEED:
            raise HTTPException(400, f"seeds {seed} to {seed + n - 1} run past 2**63-1")
        return [seed + i for i in range(n)]

    def require_directions(self):
        if self.directions is None:
            raise HTTPException(409, "this model has no edit directions; make them with `facegen directions MODEL` "
                                     "and restart the server")
        return self.directions


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve beyond this machine without a token worth the name."""
    if token and len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"the access token must be at least {MIN_TOKEN_CHARS} characters")
    if not is_loopback(host) and not token:
        raise ValueError(f"binding {host} lets other machines in, so it needs an access token: pass --token or set "
                         "FACEGEN_TOKEN (for example to the output of "
                         "`python -c 'import secrets; print(secrets.token_urlsafe())'`)")


class Guard:
    """ASGI middleware: the token on every request (header, cookie or ?token=), and on loopback the
    Host header, so that a web page cannot reach this server by pointing its own name at 127.0.0.1."""

    def __init__(self, app, token: str | None, allowed_hosts: tuple[str, ...] | None):
        self.app = app
        self.token = token.encode() if token else None
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        if self.allowed_hosts is not None:
            host = re.sub(r":\d+$", "", headers.get("host", "")).strip("[]").lower()
            if host not in self.allowed_hosts:
                return await _error(403, f"host {host!r} is not served here; open http://127.0.0.1 instead")(
                    scope, receive, send)
        if self.token is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            auth = headers.get("authorization", "")
            given = auth[7:] if auth.lower().startswith("bearer ") else _cookie(headers, TOKEN_COOKIE) or query
            if not hmac.compare_digest(given.encode(), self.token):
                response = _error(401, "a valid access token is needed: send 'Authorization: Bearer TOKEN', "
                                       "or open the studio once as /?token=TOKEN")
                response.headers["WWW-Authenticate"] = "Bearer"
                return await response(scope, receive, send)
            if query and scope["path"] == "/" and scope["method"] == "GET":
                # Keep the token out of the address bar and history: a cookie carries it from now on.
                from fastapi.responses import RedirectResponse

                response = RedirectResponse("/", status_code=303)
                response.set_cookie(TOKEN_COOKIE, query, httponly=True, samesite="strict")
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def _cookie(headers: Headers, name: str) -> str:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query"))
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "the request is not valid"


def load_directions_for(pipe: FaceGenerator, model_ref: str, choice: str | None):
    """The model's saved unlabelled directions (else ones computed now) followed by its named ones
    (smile, age, ...) when it has them; None when asked for none."""
    from ..explore.named import model_directions

    if choice in (None, "none"):
        return None
    return model_directions(pipe, model_ref, None if choice == "auto" else choice, compute_sefa=True)


def create_app(model: FaceGenerator | str | Path = "default", token: str | None = None,
               limits: Limits | None = None, directions: str | None = "auto",
               allowed_hosts: tuple[str, ...] | None = None) -> FastAPI:
    """The server for `model`. `token` (when given) is required on every request; `allowed_hosts`
    (when given) are the Host names accepted, which `facegen serve` sets on loopback."""
    limits = limits or Limits()
    pipe = model if isinstance(model, FaceGenerator) else FaceGenerator.from_pretrained(model)
    ref = str(model) if not isinstance(model, FaceGenerator) else pipe.source
    state = ServerState(pipe, load_directions_for(pipe, ref, directions), limits)

    @asynccontextmanager
    async def lifespan(app):
        yield
        state.queue.close()

    app = FastAPI(title="facegen", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Faces that do not exist. Every image carries its AI-generated notice and recipe.")
    app.state.facegen = state

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return _error(422, _validation_message(exc))

    @app.exception_handler(ValueError)
    async def refused(request: Request, exc: ValueError):
        # The library's ValueErrors are written for users: they name the input and the problem.
        return _error(400, str(exc))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return _error(500, "internal error (the server log has the details)")

    from .api import router as api_router  # `from . import api` would import this package, a cycle
    from .photos import router as photos_router

    app.include_router(api_router)
    app.include_router(photos_router)

    @app.get("/docs", include_in_schema=False)
    async def docs():
        # Our own page: FastAPI's default one loads Swagger UI from the internet.
        return FileResponse(STUDIO / "docs.html")

    app.mount("/", StaticFiles(directory=STUDIO, html=True), name="studio")
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    # Added last, so outermost: a request without the token is refused before its body is read.
    app.add_middleware(Guard, token=token, allowed_hosts=allowed_hosts)
    return app
