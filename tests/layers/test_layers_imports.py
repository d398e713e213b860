"""The layers point one way (issue 19, item 6), checked on the source with the standard library's ``ast``.

Every ``import`` of a ``bastion`` module counts, wherever it stands: at module level, inside a function
(an import deferred for speed still makes the two modules depend on each other) or under
``TYPE_CHECKING``. A package's ``__init__`` counts as a module of its own.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path


import bastion

PACKAGE = Path(bastion.__file__).parent


def _modules() -> dict[str, tuple[Path, bool]]:
    mods: dict[str, tuple[Path, bool]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        mods[".".join(parts)] = (path, is_package)
    return mods


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module ``name`` lives in (``bastion.a.b.func`` -> ``bastion.a.b``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> list[tuple[str, str, int]]:
    """(module imported, name imported or "", line) for every import of a bastion module in ``module``."""
    path, is_package = MODULES[module]
    here = module if is_package else module.rpartition(".")[0]
    found = []
    with warnings.catch_warnings():  # a source's own warnings (an escape in a docstring) are not ours to show
        warnings.simplefilter("ignore")
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "bastion":
                    found.append((alias.name, "", node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "bastion":
                continue
            for alias in node.names:
                found.append((source, alias.name, node.lineno))
    return found


def _graph() -> dict[str, dict[str, int]]:
    """module -> {module it imports: line of the first such import}."""
    graph: dict[str, dict[str, int]] = {m: {} for m in MODULES}
    for module in MODULES:
        for source, name, line in _imports(module):
            target = _resolve(f"{source}.{name}" if name and f"{source}.{name}" in MODULES else source)
            if target and target != module:
                graph[module].setdefault(target, line)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
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
                        components.append(sorted(component))
    return sorted(components)


def _describe(component: list[str], graph: dict[str, dict[str, int]]) -> str:
    members = set(component)
    edges = [f"{a} -> {b} (line {graph[a][b]})" for a in component for b in sorted(graph[a]) if b in members]
    return "; ".join(edges)


def test_the_checker_finds_a_cycle_and_only_a_cycle():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}, "e": {"e": 1}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b": 1}, "b": {}}) == []


def test_the_checker_sees_deferred_and_type_checking_imports():
    graph = _graph()
    # bastion.cli.common imports Settings only under TYPE_CHECKING; bastion.cli.__init__ imports toplevel in main()
    assert "bastion.config" in graph["bastion.cli.common"]
    assert "bastion.cli.toplevel" in graph["bastion.cli"]


def test_no_import_cycles():
    graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + " | ".join(_describe(c, graph) for c in cycles)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_imports_another_modules_private_names():
    """``from bastion.x import _helper`` in another module ties it to what ``x`` may change freely. A private
    *module* (``bastion.text._fast``) is fine inside its own package."""
    offences, seen = [], set()
    for module in MODULES:
        for source, name, line in _imports(module):
            parts = [*source.split("."), *([name] if name else [])]
            for depth, part in enumerate(parts):
                if not _is_private(part):
                    continue
                owner = ".".join(parts[:depth])  # the package or module the private part belongs to
                if _is_module(parts[: depth + 1]):  # a private module: only its own package uses it
                    if module == owner or module.startswith(owner + "."):
                        continue
                offence = f"{module} imports {'.'.join(parts)}"
                seen.add(offence)
                if offence not in PRIVATE_NOT_YET:
                    offences.append(f"{offence} (line {line})")
    assert not offences, "\n".join(offences)
    assert PRIVATE_NOT_YET <= seen, f"done, remove from PRIVATE_NOT_YET: {sorted(PRIVATE_NOT_YET - seen)}"


def _is_module(parts: list[str]) -> bool:
    """A Python module, or a compiled one (``bastion.banks._pdqindex`` is a C extension)."""
    if ".".join(parts) in MODULES:
        return True
    folder = PACKAGE.parent.joinpath(*parts[:-1])
    return any(p.name.split(".")[0] == parts[-1] for p in folder.glob(parts[-1] + ".*"))


#: Private imports still to be removed (a to-do list, not a permission; empty: none left).
PRIVATE_NOT_YET: set[str] = set()
