"""The module layering, read from the source: no import cycles among productshot's modules (imports inside
functions count: they hide a cycle, they do not remove it; imports only for type checking do not), and the
agent never imports the store."""

from __future__ import annotations

import ast
import os
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "productshot"  # agent/, tools/, server/, prompts/ are in it through symlinks


def modules() -> dict[str, Path]:
    found = {}
    files = (Path(folder) / name for folder, _, names in os.walk(PACKAGE, followlinks=True) for name in names)
    for path in sorted(p for p in files if p.suffix == ".py"):
        parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The first-party modules `path` imports anywhere in it; `from pkg import submodule` is the submodule."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}
        for statement in node.body
        for inner in ast.walk(statement)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in known:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known.keys()
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(node.module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_even_through_imports_inside_functions() -> None:
    known = modules()
    assert "productshot.tools.imageio" in known and "productshot.agent.images" in known
    graph = {name: imports(path, known) - {name} for name, path in known.items()}
    found = cycles(graph)
    assert found == [], "import cycles: move the shared part down a layer instead of importing in a function"


def test_the_agent_never_imports_the_store() -> None:
    known = modules()
    for name, path in known.items():
        if name.startswith("productshot.agent"):
            store = {m for m in imports(path, known) if m.startswith("productshot.store")}
            assert not store, f"{name} imports {sorted(store)}: the agent reaches images only through MCP"


def test_the_model_library_knows_no_server() -> None:
    """The worker, the in-process path and the model comparison all use productshot.models: it sits below them."""
    known = modules()
    assert "productshot.models.generators" in known
    for name, path in known.items():
        if name.startswith("productshot.models"):
            above = {
                m for m in imports(path, known) if m.startswith(("productshot.server", "productshot.store"))
            }
            assert not above, f"{name} imports {sorted(above)}: the model library sits below the worker"
