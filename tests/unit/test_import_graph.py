"""No import cycles in processors/: between its packages, or between any two modules.

A cycle imports fine until someone imports the other end first; the environment rule
engine once lived in processors/rules and imported processors/environment, which
imported it back. The graph is read from the source (ast), so every module counts,
whichever one a test happens to import first.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "processors"


def _module(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run at import: not inside functions, not under `if TYPE_CHECKING:`
    (those never run, and a function's import runs after every module is loaded)."""
    for node in body:
        if isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse):
                yield from _top_level(block)
        else:
            yield node


def _imports(path: Path, modules: Collection[str]) -> Iterator[str]:
    name, is_package = _module(path)
    base = name.split(".") if is_package else name.split(".")[:-1]
    for node in _top_level(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base[: len(base) - node.level + 1]
                target = ".".join([*parent, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            # `from pkg import submodule` needs the submodule, not what pkg's __init__ holds.
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield sub if sub in modules else target
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _graph() -> dict[str, set[str]]:
    modules = {_module(p)[0]: p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        graph[name] |= {t for t in _imports(path, modules) if t in modules and t != name}
    return graph


def _cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """A cycle as a list of nodes, or None (iterative DFS, three colours)."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return None


def _packages(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """processors.<package> -> the other processors.<package>s it imports."""

    def top(name: str) -> str:
        return ".".join(name.split(".")[:2])

    out: dict[str, set[str]] = {}
    for name, targets in graph.items():
        out.setdefault(top(name), set()).update(t for t in map(top, targets) if t != top(name))
    return out


def test_no_module_import_cycle() -> None:
    assert _cycle(_graph()) is None


def test_no_package_import_cycle() -> None:
    assert _cycle(_packages(_graph())) is None


def test_the_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    "module",
    ["processors.environment", "processors.environment.engine", "processors.environment.detector"],
)
def test_imports_first_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
