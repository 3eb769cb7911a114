"""The studio page in a real browser (Debian's chromium through Playwright) against a real server.

Screenshots go to test-artifacts/. Skipped, saying why, where chromium or Playwright is missing.
"""
import base64
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e '.[server]')")
uvicorn = pytest.importorskip("uvicorn", reason="the server extra is not installed (pip install -e '.[server]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does this)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real uvicorn server on a free loopback port, in a thread, serving a tiny model."""
    import torch

    from conftest import tiny_config
    from facegen.cli.serve import listen
    from facegen.models import build_generator
    from facegen.server import create_app

    from facegen.explore.directions import save_directions
    from facegen.explore.named import named_write_path
    from facegen.pipeline import FaceGenerator
    from test_named_edits import fake_named

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    build_generator(tiny_config("style", 32)).save_pretrained(path)
    save_directions(fake_named(FaceGenerator.from_pretrained(path)), named_write_path(str(path)))  # smile, age
    app = create_app(path, allowed_hosts=("127.0.0.1", "localhost", "::1"))
    sock = listen("127.0.0.1", 0)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started, "the server did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        except Exception as e:  # a chromium too old or too new for this Playwright
            pytest.skip(f"cannot start {CHROMIUM}: {str(e).splitlines()[0]}")
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(server + "/")
    page.wait_for_selector("#gallery button.face")
    yield page
    context.close()
    assert not errors, errors


def current_bytes(page) -> bytes:
    """The bytes behind the big image, as the browser holds them (the server's PNG)."""
    b64 = page.evaluate("""async () => {
        const blob = await (await fetch(document.getElementById('current').src)).blob();
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let s = ''; for (const b of bytes) s += String.fromCharCode(b);
        return btoa(s);
    }""")
    return base64.b64decode(b64)


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"studio-{name}.png"), full_page=True)


def test_make_a_face_and_change_the_seed(page):
    assert page.get_attribute("#current", "data-seed") == "42"
    assert not page.is_visible("#player")  # no morph yet, so no player
    assert page.locator("#gallery li").count() == 8
    first = current_bytes(page)
    assert first[:4] == b"\x89PNG"
    # The 32-px face is drawn at a whole multiple of its pixels, unsmoothed: its drawn width, not
    # only its CSS limit (a 360-px column once drew a 128-px face at 2.8x).
    width, rendering = page.evaluate("() => { const e = document.getElementById('current');"
                                     " return [e.getBoundingClientRect().width, getComputedStyle(e).imageRendering]; }")
    assert (width, rendering) == (32 * (400 // 32), "pixelated")
    assert "ms" in page.inner_text("#status")
    page.fill("#seed", "43")
    page.wait_for_function("document.getElementById('current').dataset.seed === '43'")
    assert current_bytes(page) != first
    page.focus("#gallery li:first-child button")
    page.keyboard.press("ArrowRight")  # keyboard: the next seed
    page.wait_for_function("document.getElementById('current').dataset.seed === '44'")
    shot(page, "seed")


def test_keep_two_faces_breed_them_and_download_with_metadata(page, tmp_path):
    from facegen.provenance import is_ai_labelled, read_recipe

    page.click("#gallery li:nth-child(1) button")
    page.click("#gallery li:nth-child(3) button")
    assert page.locator("#kept li").count() == 2
    assert page.get_attribute("#gallery li:nth-child(3) button", "aria-pressed") == "true"
    page.click("#breed")
    page.wait_for_function("document.getElementById('status').textContent.includes('children')")
    assert page.locator("#gallery li").count() == 4
    shot(page, "breed")
    with page.expect_download() as info:
        page.click("#download")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert is_ai_labelled(path)
    recipe = read_recipe(path)
    assert recipe["kind"] == "latent" and recipe["op"] == "breed" and len(recipe["parents"]) == 2
    assert path.read_bytes() == current_bytes(page)


def test_morph_plays_and_sliders_edit(page):
    page.click("#gallery li:nth-child(1) button")
    page.click("#gallery li:nth-child(2) button")
    page.fill("#frames", "6")
    page.click("#morph")
    page.wait_for_selector("#player:not([hidden])")
    page.wait_for_function("document.getElementById('caption').textContent.startsWith('morph frame')")
    seen = set()
    for _ in range(40):
        seen.add(page.inner_text("#caption"))
        if len(seen) >= 3:
            break
        page.wait_for_timeout(50)
    assert len(seen) >= 3, f"the morph did not play: {seen}"
    page.click("#play")  # pause
    page.click("#gallery li:nth-child(1) button")
    before = current_bytes(page)
    slider = page.locator("#named-sliders input").first
    slider.focus()
    for _ in range(8):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("document.getElementById('current').alt.endsWith('edited')")
    assert current_bytes(page) != before
    shot(page, "morph-edit")


def test_named_sliders_say_how_far_surprise_me_moves_them_and_undo_takes_it_back(page):
    assert page.locator("#named-sliders span").all_inner_texts() == ["smile", "age"]
    assert page.is_visible("#surprise") and page.is_disabled("#undo")
    page.click("#gallery li:nth-child(1) button")
    before = current_bytes(page)
    page.click("#surprise")
    page.wait_for_function("document.getElementById('current').alt.endsWith('edited')")
    assert page.locator("#history li").count() == 1 and page.inner_text("#history").startswith("surprise:")
    values = page.locator("#named-sliders input").evaluate_all("els => els.map((e) => Number(e.value))")
    assert all(v != 0 for v in values)  # both of the two named sliders moved
    words = page.locator("#named-sliders output").all_inner_texts()
    assert all(("more" in w or "less" in w) for w in words), words
    assert current_bytes(page) != before
    shot(page, "named-edits")
    page.click("#undo")
    page.wait_for_function("document.getElementById('history').children.length === 0")
    page.wait_for_function("!document.getElementById('current').alt.endsWith('edited')")
    assert current_bytes(page) == before and page.is_disabled("#undo")


def test_invert_a_photo_then_swap_a_face_into_it(page, tmp_path):
    from facegen.provenance import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, digital_source_type, read_recipe

    astronaut = Path(__file__).resolve().parent / "data" / "astronaut.jpg"
    page.set_input_files("#invert-file", str(astronaut))
    page.wait_for_function("document.getElementById('status').textContent.includes('from astronaut.jpg')",
                           timeout=60_000)
    assert page.locator("#kept li").count() == 1
    assert page.get_attribute("#current", "alt") == "astronaut.jpg face 0"
    inverted = page.evaluate("state.kept[0].inverted_from.length")
    assert inverted == 1  # the face carries its inversion, so the server can refuse to swap it
    page.click("#gallery li:nth-child(1) button")  # a face that does not exist
    page.set_input_files("#swap-file", str(astronaut))
    page.wait_for_selector("#swap-result:not([hidden])")
    shot(page, "swap")
    with page.expect_download() as info:
        page.click("#swap-download")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.name == "astronaut-swapped.png"
    assert digital_source_type(path) == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert read_recipe(path)["op"] == "swap"


def test_phone_width_has_no_sideways_scroll(page):
    page.set_viewport_size({"width": 375, "height": 812})
    page.wait_for_timeout(50)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width}px wide at phone width"
    shot(page, "phone")


def test_docs_page_lists_every_endpoint(browser, server):
    page = browser.new_page()
    page.goto(server + "/docs")
    page.wait_for_selector("#endpoints section")
    text = page.inner_text("#endpoints")
    for path in ("/v1/model", "/v1/generate", "/v1/morph", "/v1/breed", "/v1/edit", "/v1/transform",
                 "/v1/faces/from-image", "/v1/invert", "/v1/swap", "/v1/remaster"):
        assert path in text
    assert "multipart form:" in text and "steps: integer" in text
    page.close()
