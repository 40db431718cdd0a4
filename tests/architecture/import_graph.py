"""The import graph of Telesec's own packages, read from the source with ``ast``.

Every import statement counts, wherever it stands (module level, inside a function, under
``if TYPE_CHECKING``). An edge goes to each module the statement names:
``import a.b.c`` names ``a.b.c``; ``from a.b import c`` names ``a.b`` (its namespace is
read) and ``a.b.c`` too when ``c`` is a submodule. The parent packages that Python runs on
the way (``a`` for ``a.b.c``) are not edges: otherwise every package whose ``__init__``
re-exports its modules would be a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

Graph = dict[str, set[str]]


def modules_under(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` file of the given top-level packages."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (a name may be a class)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _from_base(module: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def import_graph(root: Path, packages: Iterable[str]) -> Graph:
    """Each module → the modules of the given packages that it imports."""
    modules = modules_under(root, packages)
    graph: Graph = {}
    for module, path in modules.items():
        named: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                named.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _from_base(module, path, node)
                named.add(base)
                named.update(f"{base}.{alias.name}" for alias in node.names)
        graph[module] = {k for n in named if (k := _known(n, modules)) and k != module}
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a deep graph cannot hit the recursion limit.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def upward_imports(graph: Graph, layers: list[set[str]]) -> list[str]:
    """``a imports b`` lines where b's package is not a's own and not in a lower layer."""
    rank = {package: level for level, group in enumerate(layers) for package in group}
    wrong = []
    for module, imported in sorted(graph.items()):
        own = module.split(".")[0]
        for target in sorted(imported):
            other = target.split(".")[0]
            if other != own and rank[other] >= rank[own]:
                wrong.append(f"{module} imports {target}")
    return wrong
