"""What one request may ask for, and the queue that keeps many clients from exhausting the machine.

Everything here refuses early: a body is cut off as soon as it passes the cap
(before it is all read), an image is measured from its header (before its
pixels are decoded), and a request that would only wait in a long queue is
told to come back later (429/503 with Retry-After) instead of piling up memory.
"""
from __future__ import annotations

import asyncio
import io
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image
from starlette.exceptions import HTTPException

from ..limits import SERVER_MAX_FACES, SERVER_MAX_FRAMES, SERVER_QUEUE_DEPTH

UPLOAD_FORMATS = ("PNG", "JPEG")
# Room for multipart boundaries and form fields around an upload of the largest size.
BODY_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class Limits:
    max_faces: int = SERVER_MAX_FACES
    max_frames: int = SERVER_MAX_FRAMES
    max_keys: int = 8  # faces a morph passes through
    max_size: int = 512  # output side in pixels
    max_upload_bytes: int = 8 * 1024**2
    max_upload_pixels: int = 4096 * 4096
    queue_depth: int = SERVER_QUEUE_DEPTH
    max_wait_s: float = 10.0  # a job that waited longer is dropped: its client has likely given up
    long_jobs: int = 1  # photo inversions (invert, remaster) admitted at once; more get 429
    max_invert_steps: int = 400  # optimisation steps per inverted face
    max_invert_faces: int = 4  # faces one invert or remaster call works on (largest first)

    def __post_init__(self):
        for name in ("max_faces", "max_frames", "max_keys", "max_size", "max_upload_bytes",
                     "max_upload_pixels", "queue_depth", "long_jobs", "max_invert_steps", "max_invert_faces"):
            if getattr(self, name) < 1:
                raise ValueError(f"limit {name} must be at least 1")
        if self.max_keys < 2 or self.max_frames < 2:
            raise ValueError("a morph needs at least 2 faces and 2 frames")

    @property
    def max_body_bytes(self) -> int:
        return self.max_upload_bytes + BODY_OVERHEAD

    def public(self) -> dict:
        return {"max_faces": self.max_faces, "max_frames": self.max_frames, "max_keys": self.max_keys,
                "max_size": self.max_size, "max_upload_bytes": self.max_upload_bytes,
                "max_upload_pixels": self.max_upload_pixels, "max_invert_steps": self.max_invert_steps,
                "max_invert_faces": self.max_invert_faces}


class Busy(HTTPException):
    """The queue is full (429) or a job waited too long (503); says when to come back."""

    def __init__(self, status: int, message: str, retry_after: float):
        super().__init__(status, message, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


class _Expired(Exception):
    pass


class WorkQueue:
    """Runs inference jobs one at a time on a worker thread, admitting at most `depth` at once.

    One worker because torch already spreads a single batch over every core, so
    two jobs side by side only contend; and because some operations (noise
    scaling in transform) change the model's weights for the length of a call.
    """

    def __init__(self, depth: int, max_wait_s: float):
        self.depth = depth
        self.max_wait_s = max_wait_s
        self.admitted = 0
        self.seconds_per_job = 0.05  # running average, for Retry-After
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="facegen-infer")

    def retry_after(self) -> float:
        return self.seconds_per_job * max(1, self.admitted)

    async def run(self, fn, *args, **kwargs):
        if self.admitted >= self.depth:
            raise Busy(429, f"the server is busy ({self.admitted} requests ahead); try again shortly",
                       self.retry_after())
        loop = asyncio.get_running_loop()
        submitted = time.monotonic()

        def job():
            start = time.monotonic()
            if start - submitted > self.max_wait_s:
                raise _Expired()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds_per_job = 0.8 * self.seconds_per_job + 0.2 * (time.monotonic() - start)

        self.admitted += 1
        future = self._executor.submit(job)
        # Released when the job is really over, not when a disconnected client stops waiting:
        # a running torch call cannot be cancelled, and it still holds its memory.
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._finished))
        try:
            return await asyncio.wrap_future(future)
        except _Expired:
            raise Busy(503, f"the request waited over {self.max_wait_s:g} s in the queue; try again",
                       self.retry_after()) from None

    def _finished(self):
        self.admitted -= 1

    def close(self):
        self._executor.shutdown(wait=False, cancel_futures=True)


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, from Content-Length or while it streams in."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                return await _json_error(send, 400, "Content-Length is not a number")
            if too_big:
                return await _json_error(send, 413, self._message())
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                # A chunked body carries no length up front; stop reading once it passes the cap.
                raise HTTPException(413, self._message())
            return message

        started = False

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except HTTPException as e:
            # Raised where no exception handler sits (a middleware reading the body).
            if started or e.status_code != 413:
                raise
            await _json_error(send, 413, e.detail)

    def _message(self) -> str:
        return f"the request body is over the limit of {self.max_bytes} bytes"


async def _json_error(send, status: int, message: str, headers: list | None = None):
    import json

    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def check_upload(data: bytes, limits: Limits, what: str = "the upload") -> Image.Image:
    """The uploaded image, opened but not decoded, once its size, format and pixel count pass."""
    if not data:
        raise HTTPException(400, f"{what} is empty")
    if len(data) > limits.max_upload_bytes:
        raise HTTPException(413, f"{what} is {len(data)} bytes, over the limit of {limits.max_upload_bytes}")
    try:
        # Image.open reads only the header; the pixels are decoded on first use.
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        # Pillow's own bomb check fires first for headers past ~179 Mpixels: still the pixel limit.
        raise HTTPException(413, f"{what} is over the limit of {limits.max_upload_pixels} pixels ({e})") from None
    except (OSError, ValueError) as e:
        raise HTTPException(400, f"{what} is not a readable image ({e})") from None
    if im.format not in UPLOAD_FORMATS:
        raise HTTPException(415, f"{what} is {im.format}; send PNG or JPEG")
    w, h = im.size
    if w * h > limits.max_upload_pixels:
        raise HTTPException(413, f"{what} is {w}x{h} pixels, over the limit of {limits.max_upload_pixels} pixels")
    return im
