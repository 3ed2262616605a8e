"""The package layout of docs/architecture.md, checked from the source: no import cycles (at
module level or inside functions), imports only downward, and no oversized modules."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The project's packages, bottom layer first, and the packages each one may import.
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "geometry": set(),
    "ops": {"config", "geometry"},
    "models": {"config", "geometry", "ops"},
    "data": {"config", "geometry"},
    "vis": {"geometry"},
    "training": {"config", "geometry", "ops", "models", "data", "vis"},
    "demo": {"config", "geometry", "ops", "models", "data", "vis", "training"},
}
#: Top-level folders of scripts, which may import any package (nothing imports them).
ENTRY_POINTS = ("voxels", "depth", "scripts", "benchmarks")
#: Largest module of a package, in lines ("about 600").
MAX_LINES = 620


def _modules() -> dict[str, Path]:
    mods = {}
    for top in (*ALLOWED, *ENTRY_POINTS):
        for path in sorted((REPO / top).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its file (``a.b`` for ``from a
    import b`` when ``a.b`` is a module, else ``a``)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


MODS = _modules()
GRAPH = _imports(MODS)


def test_the_checker_sees_imports_inside_functions_and_cycles(tmp_path: Path) -> None:
    """The checker itself: a cycle hidden behind a function-level import is found."""
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from a import x\n    return x\n")
    mods = {"a": tmp_path / "a.py", "b": tmp_path / "b.py"}
    assert _cycles(_imports(mods)) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_downward(package: str) -> None:
    bad = sorted(
        f"{m} -> {t}"
        for m, targets in GRAPH.items()
        if m.split(".")[0] == package
        for t in targets
        if t.split(".")[0] not in ALLOWED[package] | {package}
    )
    assert bad == []


def test_no_oversized_modules() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in MODS.items()
             if name.split(".")[0] in ALLOWED}
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}


def test_config_imports_only_the_standard_library() -> None:
    """The configuration table (``config/``) is the bottom layer: every package reads it, so
    it imports nothing but the standard library (no Keras, numpy or project package)."""
    import sys

    bad = []
    for name, path in MODS.items():
        if name.split(".")[0] != "config":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                tops = [(node.module or "").split(".")[0]]
            else:
                continue
            bad += [f"{name} -> {t}" for t in tops
                    if t not in sys.stdlib_module_names and t not in ("__future__", "config")]
    assert "config.keys" in MODS and bad == []
