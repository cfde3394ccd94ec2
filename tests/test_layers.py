"""The layers, read from the source: imports go one way (pages -> app glue -> lab), with no cycle.

Every import of every module of lab/ and app_pages/ counts, at module level and inside functions
(a function-local import that closes a cycle only hides it until that function runs), relative
imports resolved against the importing module's package. Then every module of lab/ and
app_pages/_app is imported for real, each in a fresh set of the project's modules, so an import
that works only after another module happened to load first fails here too.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = "app_pages._app"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """{dotted name: file} for every module of lab/ and app_pages/ (packages by their __init__)."""
    return {module_name(p): p for top in ("lab", "app_pages") for p in sorted((ROOT / top).rglob("*.py"))
            if "__pycache__" not in p.parts}


MODULES = project_modules()


def imports_of(name: str, path: Path) -> list[tuple[str, str | None, int]]:
    """(imported module, name taken from it or None, line) for every import statement in the file.
    `from pkg import sub` where pkg/sub.py exists imports the module pkg.sub (name None)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.append((sub, None, node.lineno) if sub in MODULES else (source, alias.name, node.lineno))
    return found


IMPORTS = {name: imports_of(name, path) for name, path in MODULES.items()}


def edges_within(prefix: str) -> dict[str, set[str]]:
    """The import graph among the project's modules under `prefix` (itself included)."""
    inside = {m for m in MODULES if m == prefix or m.startswith(prefix + ".")}
    return {m: {target for target, _, _ in IMPORTS[m] if target in inside and target != m} for m in inside}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle path (a -> b -> ... -> a) through each strongly connected group of modules (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_path_through(graph, group) for group in groups]


def _group(graph: dict[str, set[str]], start: str) -> set[str]:
    """The modules on some cycle through `start` (reachable from it, and reaching it)."""
    def reach(g, v):
        seen, todo = {v}, [v]
        while todo:
            todo += [w for w in g[todo.pop()] if w not in seen and not seen.add(w)]
        return seen
    reverse = {v: {u for u in graph if v in graph[u]} for v in graph}
    return reach(graph, start) & reach(reverse, start)


def _path_through(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """The shortest way from the group's first module back to itself (breadth first)."""
    start = min(group)
    came_from = {start: None}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    path = []
                    while v is not None:
                        path.append(v)
                        v = came_from[v]
                    return path[::-1] + [start]
                if w not in came_from:
                    came_from[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{group} is not a cycle")


@pytest.mark.parametrize("prefix", ["lab", APP])
def test_no_import_cycle(prefix):
    graph = edges_within(prefix)
    found = cycles(graph)
    assert not found, "import cycles (function-local imports included), each with every module caught in it:\n" + \
        "\n".join(f"{' -> '.join(c)}   (all of: {', '.join(sorted(_group(graph, c[0])))})" for c in found)


def test_the_cycle_finder_reports_the_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def _violations(modules, bad) -> list[str]:
    return [f"{m} line {line}: imports {target}" + (f".{what}" if what else "")
            for m in modules for target, what, line in IMPORTS[m] if bad(target, what)]


def test_the_library_never_imports_streamlit_or_the_app():
    lab = [m for m in MODULES if m == "lab" or m.startswith("lab.")]
    assert len(lab) > 20
    found = _violations(lab, lambda target, _: target.split(".")[0] in ("streamlit", "app_pages"))
    assert not found, "\n".join(found)


def test_the_app_glue_never_imports_a_page():
    glue = [m for m in MODULES if m == APP or m.startswith(APP + ".")]
    assert len(glue) > 10
    found = _violations(glue, lambda target, _: target.split(".")[0] == "app_pages"
                        and not (target == APP or target.startswith(APP + ".")))
    assert not found, "\n".join(found)


def _private_name(importer: str, target: str, what: str | None) -> bool:
    """`from x import _y` where _y is a name inside x (not a private submodule of the importer's own package)."""
    if what is not None:
        return what.startswith("_") and not what.startswith("__")
    head, _, last = target.rpartition(".")
    return last.startswith("_") and not last.startswith("__") and not (importer + ".").startswith(head + ".")


def test_no_module_imports_another_modules_private_name():
    found = [f"{m} line {line}: from {target.rpartition('.')[0] if what is None else target} import "
             f"{target.rpartition('.')[2] if what is None else what}"
             for m in MODULES for target, what, line in IMPORTS[m] if _private_name(m, target, what)]
    assert not found, "\n".join(found)


IMPORTABLE = sorted(m for m in MODULES if (m == "lab" or m.startswith(("lab.", APP)))
                    and not m.endswith("__main__"))  # `python -m lab` runs the CLI when imported

FRESH_IMPORTS = """
import importlib, json, sys, traceback
failed = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("lab", "app_pages")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except BaseException:
        failed[name] = traceback.format_exc(limit=-3)
print(json.dumps(failed))
"""


def test_every_module_imports_on_its_own():
    """Each module of lab/ and app_pages/_app imported first, before any other module of the project."""
    assert "lab.train" in IMPORTABLE and f"{APP}.jobs" in IMPORTABLE
    done = subprocess.run([sys.executable, "-c", FRESH_IMPORTS, json.dumps(IMPORTABLE)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    failed = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failed, "\n".join(f"{name}:\n{error}" for name, error in failed.items())
