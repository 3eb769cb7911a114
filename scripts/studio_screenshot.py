"""Re-make docs/studio.png: the studio serving the bundled model, in Debian's headless chromium.

    python scripts/studio_screenshot.py [--out docs/studio.png] [--model default]

Starts the server (the same create_app `facegen serve` runs) on a free loopback port in a
thread, opens the studio with Playwright driving /usr/bin/chromium (never a downloaded
browser), waits for the gallery's faces, keeps two of them so the kept row shows, and
saves a screenshot of the whole page. The PNG records the model's SHA-256 (text chunk `facegen-model-sha256`),
which tests/test_docs.py compares with the bundled default's: a picture of another model
fails that test until this script is run again.

Exit status: 0 written; 2 bad arguments; 3 chromium or Playwright missing or not starting.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def serve(model: str):
    """A real uvicorn server in a thread; returns (url, the model's SHA-256, stop)."""
    import uvicorn

    from facegen.cli.serve import listen
    from facegen.server import create_app

    app = create_app(model, allowed_hosts=("127.0.0.1", "localhost", "::1"))
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the server stopped while starting")
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError("the server did not start within 60 s")

    def stop():
        server.should_exit = True
        thread.join(10)
        sock.close()
    return f"http://127.0.0.1:{sock.getsockname()[1]}", app.state.facegen.pipe.model.sha256, stop


def screenshot(url: str, width: int, height: int, keep: int) -> bytes:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        except Exception as e:  # a chromium too old or too new for this Playwright
            print(f"cannot start {CHROMIUM}: {str(e).splitlines()[0]}", file=sys.stderr)
            sys.exit(3)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "/")
            page.wait_for_selector("#gallery button.face", timeout=60_000)
            # Every face in the gallery has loaded (the server's PNGs), not just the first.
            page.wait_for_function("""() => [...document.querySelectorAll('#gallery img, #current')]
                .every((img) => img.complete && img.naturalWidth > 0)""", timeout=60_000)
            for i in range(1, keep + 1):
                page.click(f"#gallery li:nth-child({2 * i - 1}) button")
            if keep:
                page.wait_for_function(f"document.querySelectorAll('#kept li').length >= {keep}",
                                       timeout=30_000)
            # The shown face, the kept row and the gallery all loaded (no request still in flight).
            page.wait_for_load_state("networkidle")
            page.wait_for_function("""() => [...document.querySelectorAll('img[src]')]
                .filter((img) => img.offsetParent !== null)  // shown, not a hidden panel's
                .every((img) => img.complete && img.naturalWidth > 0)""", timeout=30_000)
            if errors:
                raise RuntimeError(f"the page reported errors: {errors}")
            page.evaluate("window.scrollTo(0, 0)")
            return page.screenshot(full_page=True)
        finally:
            browser.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "studio.png")
    parser.add_argument("--model", default="default", help="a bundled name or a model file (default: default)")
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--keep", type=int, default=2, help="faces to keep before the shot (default 2)")
    args = parser.parse_args(argv)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        print("playwright is not installed (pip install -e '.[test]')", file=sys.stderr)
        return 3
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (apt-get install -y chromium)", file=sys.stderr)
        return 3

    from PIL import Image, PngImagePlugin

    url, sha256, stop = serve(args.model)
    try:
        png = screenshot(url, args.width, args.height, args.keep)
    finally:
        stop()
    info = PngImagePlugin.PngInfo()
    info.add_text("facegen-model-sha256", sha256)
    info.add_text("facegen-model", args.model)
    info.add_text("Software", "facegen scripts/studio_screenshot.py")
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    Image.open(io.BytesIO(png)).convert("RGB").save(tmp, "PNG", pnginfo=info, optimize=True)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({args.model}, sha256 {sha256[:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
