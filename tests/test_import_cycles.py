"""Data flows one way through facegen: no module imports one that (through others) imports it back.

Every import statement counts, a function's lazy import too: it is a dependency all the same.
"""
import ast
from pathlib import Path

import facegen

ROOT = Path(facegen.__file__).parent


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name,) + path.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports. `from P import x` imports P (running its
    __init__ when it is a package) and x too when x is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [source] + [f"{source}.{a.name}" for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports(name, path, known) for name, path in known.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for dep in sorted(g[m]):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_no_module_inside_facegen_imports_one_that_imports_it_back():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_check_finds_a_cycle_and_follows_relative_and_lazy_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("import os\n")
    (pkg / "sub" / "__init__.py").write_text("from .mid import thing\n")
    (pkg / "sub" / "mid.py").write_text("from ..low import x\n\ndef f():\n    from .. import top\n")
    (pkg / "top.py").write_text("from .sub import mid\n")
    g = graph(pkg)
    assert g == {"pkg": set(), "pkg.low": set(), "pkg.sub": {"pkg.sub.mid"},
                 "pkg.sub.mid": {"pkg", "pkg.low", "pkg.top"}, "pkg.top": {"pkg.sub", "pkg.sub.mid"}}
    assert find_cycle(g) == ["pkg.sub", "pkg.sub.mid", "pkg.top", "pkg.sub"]
    (pkg / "sub" / "mid.py").write_text("from ..low import x\n")
    assert find_cycle(graph(pkg)) is None
