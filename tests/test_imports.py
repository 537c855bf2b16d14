"""The import structure of ``src/binas``: no cycles, the library never imports the CLI, layers respected.

Every module is parsed with :mod:`ast` (nothing is imported). An edge ``a -> b`` is any
``import binas.b`` / ``from binas.b import ...`` in module ``a``: at module level *and* inside
functions (a function-level import is exactly how a cycle gets hidden), but not under
``if TYPE_CHECKING:`` (annotations only). Importing ``binas.p.m`` also runs the package ``binas.p``'s
``__init__``, so it adds an edge to ``binas.p`` unless the importer lives inside that package.

Rules (also in docs/architecture.md):

1. no import cycle between modules; the CLI's function-level (lazy) imports are exempt, since the
   library cannot reach back into the CLI (rule 2);
2. only ``binas.cli.*`` and ``binas.__main__`` import ``binas.cli``;
3. layers: each entry of :data:`ALLOWED` lists everything its modules may import from binas, and each
   entry of :data:`FORBIDDEN` what they may not; :data:`TORCH_FREE` packages import no torch.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Foundations and the space: what they may import from binas (their own package included).
ALLOWED = {
    "binas.errors": (),
    "binas.io": ("binas.errors",),
    "binas.artifacts": ("binas.errors", "binas.io"),
    "binas.claims": ("binas.errors", "binas.io"),
    "binas.console": (),
    "binas.resume": ("binas.errors",),
    "binas.space": ("binas.errors", "binas.io", "binas.space"),
}
# Pipeline stages: no stage imports a later one (space -> nn -> supernet and LUT side by side -> estimator -> search
# -> deploy/insights).
FORBIDDEN = {
    "binas.nn": ("binas.supernet", "binas.lut", "binas.estimator", "binas.search", "binas.autobuild", "binas.deploy",
                 "binas.insights", "binas.demo"),
    "binas.codec": ("binas.nn", "binas.supernet", "binas.estimator", "binas.search", "binas.lut", "binas.deploy"),
    "binas.supernet": ("binas.lut", "binas.estimator", "binas.search", "binas.autobuild", "binas.deploy",
                       "binas.insights", "binas.demo"),
    "binas.lut": ("binas.supernet", "binas.estimator", "binas.search", "binas.autobuild", "binas.deploy",
                  "binas.insights", "binas.demo"),
    "binas.estimator": ("binas.search", "binas.deploy", "binas.demo", "binas.insights"),
    "binas.search": ("binas.supernet.train", "binas.deploy", "binas.demo", "binas.insights"),
    "binas.deploy": ("binas.estimator", "binas.search", "binas.autobuild", "binas.insights", "binas.demo"),
    "binas.insights": ("binas.nn", "binas.supernet", "binas.search", "binas.autobuild", "binas.deploy", "binas.demo"),
}
# Modules that load without torch, counting everything they import at module level.
TORCH_FREE = ("binas.errors", "binas.io", "binas.artifacts", "binas.claims", "binas.console", "binas.resume",
              "binas.space", "binas.codec", "binas.lut.table", "binas.estimator.form",
              "binas.estimator.contributions", "binas.estimator.models", "binas.estimator.shrinkage",
              "binas.estimator.predictors", "binas.estimator.stacking", "binas.search.surrogate",
              "binas.search.problem", "binas.search.milp", "binas.search.kbest", "binas.search.exact", "binas.search.pareto",
              "binas.search.rounds",
              "binas.search.bcfw", "binas.search.evolution", "binas.search.random_search", "binas.search.inputs",
              "binas.insights")
NOT_A_LIBRARY = ("binas.cli", "binas.__main__")


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def imports_of(source: str) -> list[tuple[str, bool]]:
    """``(dotted name, inside a function)`` of every runtime import in ``source``.

    ``from m import x`` gives ``m.x`` (resolved to ``m`` by :func:`import_graph` when ``x`` is not a module).
    """
    tree = ast.parse(source)
    skip = _type_checking_nodes(tree)
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if id(child) in skip:
                continue
            if isinstance(child, ast.Import):
                out.extend((a.name, nested) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                out.extend((f"{child.module}.{a.name}", nested) for a in child.names)
            visit(child, nested)

    visit(tree, False)
    return out


def import_graph(root: Path) -> dict[str, dict[str, bool]]:
    """``graph[a][b]``: module a imports module b (True when only inside functions)."""
    modules = {module_name(p, root): p for p in sorted((root / "binas").rglob("*.py"))}
    graph: dict[str, dict[str, bool]] = {}
    for name, path in modules.items():
        edges: dict[str, bool] = {}
        for target, lazy in imports_of(path.read_text()):
            if target not in modules:
                target = target.rpartition(".")[0]  # from module import name
                if target not in modules:
                    continue
            parts = target.split(".")
            for k in range(2, len(parts) + 1):  # the target and the packages it runs the __init__ of
                dep = ".".join(parts[:k])
                if dep in modules and dep != name and not (k < len(parts) and name.startswith(dep + ".")):
                    edges[dep] = edges.get(dep, True) and lazy
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of a directed graph, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def _in(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, bool]]:
    return import_graph(SRC)


def test_no_import_cycles(graph: dict[str, dict[str, bool]]) -> None:
    edges = {a: {b for b, lazy in deps.items() if not (lazy and _in(a, "binas.cli"))} for a, deps in graph.items()}
    assert find_cycle(edges) is None, f"import cycle: {' -> '.join(find_cycle(edges))}"


def test_library_never_imports_the_cli(graph: dict[str, dict[str, bool]]) -> None:
    bad = [f"{a} -> {b}" for a, deps in graph.items() for b in deps
           if _in(b, "binas.cli") and not _in(a, NOT_A_LIBRARY)]
    assert not bad, f"library modules import the CLI: {bad}"


def test_layers(graph: dict[str, dict[str, bool]]) -> None:
    bad = []
    for a, deps in graph.items():
        for owner, allowed in ALLOWED.items():
            if _in(a, owner):
                bad += [f"{a} -> {b}" for b in deps if b != "binas" and not _in(b, allowed)]
        for owner, forbidden in FORBIDDEN.items():
            if _in(a, owner):
                bad += [f"{a} -> {b}" for b in deps if _in(b, forbidden)]
    assert not bad, f"layer violations: {bad}"


def test_torch_free_modules(graph: dict[str, dict[str, bool]]) -> None:
    uses_torch = {module_name(p, SRC) for p in (SRC / "binas").rglob("*.py")
                  if any(_in(t, "torch") and not lazy for t, lazy in imports_of(p.read_text()))}
    bad = []
    for start in [m for m in graph if _in(m, TORCH_FREE)]:
        seen, todo = {start}, [start]
        while todo:  # everything ``start`` loads at import time
            for dep, lazy in graph[todo.pop()].items():
                if not lazy and dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        bad += [f"{start} loads {m}" for m in sorted(seen & uses_torch)]
    assert not bad, f"these modules must load without torch: {bad}"


# ------------------------------------------------------------------------------- the checker can fail
def test_cycle_finder_detects_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_import_graph_sees_function_level_imports_and_packages(tmp_path: Path) -> None:
    pkg = tmp_path / "binas"
    (pkg / "sub").mkdir(parents=True)
    for name in ("__init__.py", "sub/__init__.py", "sub/leaf.py"):
        (pkg / name).write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import binas.b\n"
                              "def f():\n    from binas.sub.leaf import x\n")
    (pkg / "b.py").write_text("import binas.a\n")
    (pkg / "sub" / "leaf.py").write_text("from binas import b\n")
    graph = import_graph(tmp_path)
    assert graph["binas.a"] == {"binas.sub.leaf": True, "binas.sub": True}  # TYPE_CHECKING ignored
    assert graph["binas.b"] == {"binas.a": False}
    assert graph["binas.sub.leaf"] == {"binas.b": False}
    edges = {a: set(deps) for a, deps in graph.items()}
    assert find_cycle(edges) is not None  # a -> sub.leaf -> b -> a, hidden in a function
