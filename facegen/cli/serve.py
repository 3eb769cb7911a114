"""`facegen serve`: the web studio and the HTTP API on this machine (or, with a token, the network)."""
from __future__ import annotations

import argparse
import os
import socket

from ..limits import SERVER_MAX_FACES, SERVER_MAX_FRAMES, SERVER_QUEUE_DEPTH
from ..models.file import BUNDLED_NAMES


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; any other needs --token)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    p.add_argument("--model", default="default", help=f"model file or bundled name ({BUNDLED_NAMES})")
    p.add_argument("--token", default=os.environ.get("FACEGEN_TOKEN") or None,
                   help="access token required on every request (default: $FACEGEN_TOKEN)")
    p.add_argument("--directions", default="auto", metavar="FILE|auto|none",
                   help="edit directions: a file, auto (the model's saved ones, else computed at start), or none")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    p.add_argument("--max-faces", type=int, default=SERVER_MAX_FACES,
                   help=f"faces per request (default {SERVER_MAX_FACES})")
    p.add_argument("--max-frames", type=int, default=SERVER_MAX_FRAMES,
                   help=f"morph frames per request (default {SERVER_MAX_FRAMES})")
    p.add_argument("--queue", type=int, default=SERVER_QUEUE_DEPTH,
                   help=f"requests admitted at once before 429 (default {SERVER_QUEUE_DEPTH})")


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is one clear error rather than a log line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run_serve(args) -> int:
    from . import CLIError

    try:
        import uvicorn

        from ..server import Limits, check_bind, create_app, is_loopback
        from ..pipeline import FaceGenerator
    except ImportError as e:
        raise CLIError(f"the server needs its extra: pip install 'facegen[server]' ({e})") from None
    args.token = args.token or None
    try:
        check_bind(args.host, args.token)
        limits = Limits(max_faces=args.max_faces, max_frames=args.max_frames, queue_depth=args.queue)
    except ValueError as e:
        raise CLIError(str(e)) from None
    try:
        sock = listen(args.host, args.port)
    except OSError as e:
        raise CLIError(str(e)) from None
    pipe = FaceGenerator.from_pretrained(args.model, precision=args.precision)
    # Without a token, only requests addressed to this machine by name are served (see server.app.Guard).
    hosts = ("localhost", "127.0.0.1", "::1") if not args.token and is_loopback(args.host) else None
    app = create_app(pipe, token=args.token, limits=limits, directions=args.directions, allowed_hosts=hosts)
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    print(f"facegen studio: {url}" + ("?token=<your token>" if args.token else ""), flush=True)
    print(f"HTTP API: {url}v1/  (endpoints listed at {url}docs)", flush=True)
    config = uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
