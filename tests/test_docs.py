"""The docs run: every shell block on docs/*.md is run, so an example that breaks fails here.

A ```sh block holds `facegen ...` commands (and `mkdir -p`), run in order, in one
temporary folder per page, through `facegen.cli.main` (in-process: one torch import,
not one per command). A block that cannot run here says so just above its fence:

    <!-- doc-test: skip (why) -->             never run (CelebA, a long run, a server)
    <!-- doc-test: needs MODULE (why) -->     run only where MODULE imports (an optional extra)

To stay fast on a 2-core CI machine, counts are cut before running (see `shrink`): `-n` to 2,
`--frames` to 4, `--children` to 2, `--kimg` to 0.064 and inversion steps to 5. The inputs a
page names (portrait.jpg, group.jpg, netG.pth, ...) are made by `make_inputs` from
tests/data/astronaut.jpg (NASA, public domain) and tiny models.

Also checked: the README's test command is the one .ci/run runs, links resolve, the README
stays short, the default model's resolution is stated once and matches the model, and the
pictures in the README come from the bundled default model (re-made by the commands named
in the failure message).
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
CHROMIUM = Path("/usr/bin/chromium")
# Keras' torch backend converts tensors with np.array(x), which numpy 2 warns about (as in test_interop).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
MARKER = re.compile(r"<!--\s*doc-test:\s*(skip|needs)\s*(.*?)\s*-->")
SHELL_LANGS = ("sh", "console", "bash", "shell")


# ---- reading the pages -------------------------------------------------------------------------

@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    marker: tuple[str, str] | None  # ("skip", "(why)") or ("needs", "MODULE (why)")
    lines: list[str] = field(default_factory=list)  # logical lines, continuations joined

    @property
    def id(self) -> str:
        return f"{self.page.stem}:{self.line}"

    def commands(self) -> list[list[str]]:
        out = []
        for line in self.lines:
            argv = shlex.split(line, comments=True)
            if argv:
                out.append(argv)
        return out


def shell_blocks(page: Path) -> list[Block]:
    blocks, current, previous = [], None, ""
    text = page.read_text().split("\n")
    for i, line in enumerate(text, 1):
        if current is None:
            if line.startswith("```"):
                lang = line[3:].strip()
                if lang in SHELL_LANGS:
                    m = MARKER.search(previous)
                    current = Block(page, i, lang, (m.group(1), m.group(2)) if m else None)
                else:
                    current = False  # another language: skip to its closing fence
            elif line.strip():
                previous = line
            continue
        if line.startswith("```"):
            if current:
                blocks.append(current)
            current, previous = None, ""
            continue
        if current is False:
            continue
        if current.lines and current.lines[-1].endswith("\\"):
            current.lines[-1] = current.lines[-1][:-1] + " " + line.strip()
        else:
            current.lines.append(line)
    return blocks


def runnable(argv: list[str]) -> bool:
    return argv[0] == "facegen" or argv[:2] == ["mkdir", "-p"]


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in shell_blocks(page)]


# ---- running them ------------------------------------------------------------------------------

def shrink(argv: list[str]) -> list[str]:
    """The same command with CI-sized counts (the docs show the real ones)."""
    out = list(argv)
    cuts = {"-n": "2", "--frames": "4", "--children": "2", "--kimg": "0.064"}
    if len(out) > 1 and out[1] in ("invert", "remaster"):
        cuts["--steps"] = "5"
        if "--steps" not in out:
            out += ["--steps", "5"]
    for i, arg in enumerate(out[:-1]):
        if arg in cuts:
            out[i + 1] = cuts[arg]
    return out


def make_inputs(folder: Path) -> None:
    """The files the pages' commands name, made small (the run's own outputs come from the pages)."""
    import torch

    from conftest import tiny_config
    from facegen.models import build_generator

    photo = Image.open(ROOT / "tests" / "data" / "astronaut.jpg").convert("RGB")
    photo.save(folder / "portrait.jpg", quality=95)
    group = Image.new("RGB", (photo.width * 3, photo.height))
    for k, im in enumerate([photo, ImageOps.mirror(photo), photo]):
        group.paste(im, (k * photo.width, 0))
    group.save(folder / "group.jpg", quality=95)
    ImageOps.grayscale(photo).save(folder / "grandma.jpg", quality=95)
    sepia = ImageOps.colorize(ImageOps.grayscale(photo), (40, 26, 13), (240, 220, 180))
    sepia.save(folder / "print.tif")
    side = min(photo.size)
    photo.crop((0, 0, side, side)).resize((128, 128), Image.LANCZOS).save(folder / "crop.png")
    for name in ("photos", "home/Pictures/portraits"):
        (folder / name).mkdir(parents=True)
        photo.save(folder / name / "portrait.jpg", quality=95)
        group.save(folder / name / "group.jpg", quality=95)

    torch.manual_seed(0)
    build_generator(tiny_config("style", 32)).save_pretrained(folder / "my_model.safetensors")
    # Other GANs' generators for `facegen import`: a pytorch/examples dcgan netG state dict (tiny:
    # ngf 8), gan-face-generate's wrapped one, and a Keras .h5 as facegen's own export writes it.
    from torch import nn

    ngf = 8
    layers = []
    for i, (cin, cout) in enumerate([(100, ngf * 8), (ngf * 8, ngf * 4), (ngf * 4, ngf * 2), (ngf * 2, ngf), (ngf, 3)]):
        layers.append(nn.ConvTranspose2d(cin, cout, 4, 1 if i == 0 else 2, 0 if i == 0 else 1, bias=False))
        layers += [nn.BatchNorm2d(cout), nn.ReLU(True)] if cout != 3 else [nn.Tanh()]
    state = {"main." + k: v for k, v in nn.Sequential(*layers).state_dict().items()}
    torch.save(state, folder / "netG.pth")
    torch.save({"netG_state_dict": state}, folder / "weights.tar")
    try:
        from facegen.interop.keras_export import export_keras_h5
    except ImportError:  # no h5py: the block that imports generator.h5 fails, naming the file
        return
    export_keras_h5(build_generator(tiny_config("dcgan", 64)), folder / "generator.h5", check=False)


class PageRun:
    """One page's folder; blocks run once each, in order, whichever test asks first."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.done: set[str] = set()
        make_inputs(folder)


@pytest.fixture(scope="module")
def page_runs(tmp_path_factory):
    return {}


def run_block(block: Block, folder: Path, capsys) -> None:
    from facegen.cli import main

    for argv in block.commands():
        assert runnable(argv), f"{block.id}: `{shlex.join(argv)}` cannot run here; mark the block"
        if argv[0] == "mkdir":
            for d in argv[2:]:
                (folder / d).mkdir(parents=True, exist_ok=True)
            continue
        args = [os.path.expanduser(a) for a in shrink(argv)[1:]]
        try:
            rc = main(args)
        except SystemExit as e:  # argparse refusing the command line
            rc = e.code
        out = capsys.readouterr()
        assert rc == 0, (f"{block.id}: `{shlex.join(argv)}` (run as `facegen {shlex.join(args)}`) exited {rc}\n"
                         f"{out.out[-2000:]}\n{out.err[-2000:]}")


def needs(block: Block) -> str | None:
    """Why the block cannot run here, or None."""
    if block.marker is None:
        return None
    kind, rest = block.marker
    if kind == "skip":
        return rest.strip("()") or "marked skip"
    module = rest.split()[0]
    try:
        __import__(module)
    except ImportError:
        return f"needs {rest} (`{module}` is not installed)"
    return None


RUN_BLOCKS = [b for b in all_blocks() if b.lang != "bash"]


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[b.id for b in RUN_BLOCKS])
def test_doc_block_runs(block, page_runs, tmp_path_factory, monkeypatch, capsys):
    reason = needs(block)
    if reason:
        pytest.skip(f"{block.id}: {reason}")
    run = page_runs.get(block.page)
    if run is None:
        run = page_runs[block.page] = PageRun(tmp_path_factory.mktemp(block.page.stem))
    monkeypatch.chdir(run.folder)
    monkeypatch.setenv("HOME", str(run.folder / "home"))
    monkeypatch.setenv("FACEGEN_HOME", str(run.folder / "facegen-home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(run.folder / "xdg"))
    # Blocks build on the ones above them: run those first when this one is run alone.
    for earlier in shell_blocks(block.page):
        if earlier.line >= block.line:
            break
        if earlier.id not in run.done and needs(earlier) is None:
            run_block(earlier, run.folder, capsys)
            run.done.add(earlier.id)
    if block.id not in run.done:
        run.done.add(block.id)
        run_block(block, run.folder, capsys)


# ---- what the pages must be --------------------------------------------------------------------

def test_every_shell_block_is_run_or_says_why_not():
    assert PAGES, "no docs pages found"
    problems = []
    for page in PAGES:
        text = page.read_text()
        for m in MARKER.finditer(text):
            after = text[m.end():].lstrip("\n")
            if not after.startswith("```"):
                problems.append(f"{page.name}: a doc-test marker not directly above a fence: {m.group(0)}")
        for b in shell_blocks(page):
            if b.lang == "bash":
                problems.append(f"{b.id}: a ```bash block; use ```sh so the docs test runs it (or mark it)")
            elif b.marker is None:
                commands = b.commands()
                if not commands:
                    problems.append(f"{b.id}: a shell block with no command")
                problems += [f"{b.id}: `{shlex.join(a)}` is not a facegen command; mark the block"
                             for a in commands if not runnable(a)]
    assert not problems, "\n".join(problems)
    assert len(RUN_BLOCKS) >= 8  # the parser still finds the pages' commands


def test_readme_test_command_is_the_one_ci_runs():
    readme = [b for b in shell_blocks(ROOT / "README.md")]
    tests = [b.lines[0].strip() for b in readme if "pytest" in " ".join(b.lines)]
    assert tests == [".venv/bin/python -m pytest"], tests
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert ci[-1] == tests[0], f".ci/run ends with `{ci[-1]}`, the README says `{tests[0]}`"
    setup = next(b.lines[0] for b in readme if "pip install" in b.lines[0] and "generate" in b.lines[0])
    assert ".venv/bin/pip install -e '.[test]'" in setup and ".venv/bin/pip install --quiet -e '.[test]'" in (
        ROOT / ".ci" / "run").read_text()


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 110, f"README.md has {len(lines)} lines; move the detail into docs/"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def test_links_between_pages_resolve():
    problems = []
    for page in [ROOT / "README.md", *PAGES]:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                problems.append(f"{page.name}: {target}: no such file")
            elif anchor and dest.suffix == ".md":
                headings = {slug(h) for h in re.findall(r"^#+ (.+)$", dest.read_text(), re.M)}
                if anchor not in headings:
                    problems.append(f"{page.name}: {target}: no heading with that anchor")
    assert not problems, "\n".join(problems)


def test_the_default_models_resolution_is_stated_once_and_is_true():
    from facegen import Generator

    stated = [(p.name, m) for p in [ROOT / "README.md", *PAGES]
              for m in re.findall(r"The bundled `default` makes (\d+)×(\d+) faces", p.read_text())]
    assert len(stated) == 1, f"say it in one place (docs/generating.md): {stated}"
    size = Generator.from_pretrained("default").config.resolution
    assert stated[0][1] == (str(size), str(size)), (
        f"{stated[0][0]} says the default makes {'×'.join(stated[0][1])} faces; it makes {size}×{size}")


# ---- the pictures ------------------------------------------------------------------------------

def default_sha256() -> str:
    from facegen import Generator

    return Generator.from_pretrained("default").sha256


def test_the_faces_picture_comes_from_the_bundled_default():
    from facegen.provenance import read_recipe

    recipe = read_recipe(DOCS / "faces.png")
    assert recipe["model"]["sha256"] == default_sha256(), (
        "docs/faces.png was made with another model; re-make it: facegen generate -n 16 --seed 42 "
        "--truncation 0.7 --grid --out /tmp/faces && cp /tmp/faces/grid_seeds42-57.png docs/faces.png")
    assert (recipe["kind"], recipe["seeds"], recipe["truncation"]) == ("grid", list(range(42, 58)), 0.7)


def test_the_studio_picture_shows_the_bundled_default():
    with Image.open(DOCS / "studio.png") as im:
        made_with = im.info.get("facegen-model-sha256")
    assert made_with == default_sha256(), (
        "docs/studio.png does not show the bundled default model; re-make it: "
        "python scripts/studio_screenshot.py")


def test_the_studio_screenshot_script_makes_the_picture(tmp_path):
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    pytest.importorskip("uvicorn", reason="the server extra is not installed (pip install -e '.[server]')")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does this)")
    out = tmp_path / "studio.png"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "studio_screenshot.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if proc.returncode == 3:  # the script's own "cannot start chromium" exit
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Image.open(out) as im:
        assert im.info["facegen-model-sha256"] == default_sha256()
        pixels = np.asarray(im.convert("RGB"))
    # The page is there and its gallery holds faces: many distinct colours, not a blank page.
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 1000
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 5000
