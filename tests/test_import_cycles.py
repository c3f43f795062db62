"""No import cycles in digitduel: no module imports a module that imports it back, directly or
through others.

The walk reads every module's source with `ast` and counts every import statement wherever it
stands: at module level, inside a function (a lazy import still ties the two modules together),
under `if TYPE_CHECKING:`, relative or absolute. `from pkg import name` is an edge to
`pkg.name` when that is a module, else to `pkg`. Importing `pkg.sub` is an edge to `pkg.sub`
only, not to `pkg` too: a package's `__init__` importing its own submodules (as
`digitduel.models` does, like timm) is how packages are built, not a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "digitduel"

Edge = tuple[str, int]  # (imported module, line of the import)


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package at `root`."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of `name` that is one of `modules` (`a.b.func` -> `a.b`)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _targets(node: ast.AST, module: str, is_package: bool, modules: dict[str, Path]) -> set:
    """The package's modules an import statement loads (relative imports made absolute)."""
    if isinstance(node, ast.Import):
        return {_resolve(alias.name, modules) for alias in node.names}
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    # `from pkg import sub` loads the module pkg.sub when there is one, else a name of pkg.
    return {
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else _resolve(base, modules)
        for alias in node.names
    }


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """module -> {module it imports: line of the first such import}, inside the package."""
    modules = module_names(root)
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for target in _targets(node, module, path.name == "__init__.py", modules):
                if target is not None and target != module:
                    edges[target] = min(edges.get(target, node.lineno), node.lineno)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None. Depth-first search, three colours."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    steps = [f"{a} (line {graph[a][b]}) -> {b}" for a, b in zip(cycle, cycle[1:], strict=False)]
    return "import cycle:\n  " + "\n  ".join(steps)


def test_digitduel_has_no_import_cycle():
    graph = import_graph(PACKAGE_DIR)
    assert len(graph) > 40  # the walk found the package
    assert "digitduel.models.registry" in graph["digitduel.models.banjac"]
    cycle = find_cycle(graph)
    assert cycle is None, describe(cycle, graph)


def test_the_walk_sees_lazy_relative_and_from_imports(tmp_path):
    """The detector itself: a cycle hidden in a function-level, relative import is found, and
    a package importing its own submodules is not one."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg import a\n")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (pkg / "c.py").write_text("import pkg.sub.b as b\n")
    graph = import_graph(pkg)
    assert graph["pkg"] == {"pkg.a": 1}
    assert graph["pkg.sub.b"] == {"pkg.c": 2}
    assert find_cycle(graph) == ["pkg.sub.b", "pkg.c", "pkg.sub.b"]
    assert "pkg.sub.b (line 2) -> pkg.c" in describe(find_cycle(graph), graph)

    # A name from a package (not a submodule) is an edge to the package alone: no way back.
    (pkg / "c.py").write_text("from pkg.sub import helper\n")
    graph = import_graph(pkg)
    assert graph["pkg.c"] == {"pkg.sub": 1}
    assert find_cycle(graph) is None
