"""The console's shape (issue 19, points 3 and 6): handlers that may block run in the thread pool, and the
console's modules import one way — pages on top, the backend below them, no cycle."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import bastion.console

CONSOLE = Path(bastion.console.__file__).parent
#: the page layer; nothing below it may import it
PAGES = {"bastion.console.web", "bastion.console.app", "bastion.console.routes"}
BELOW = ("backend", "exposure", "sessions", "models", "safemedia", "caseview")


def _module_name(path: Path) -> str:
    rel = path.relative_to(CONSOLE.parent.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every bastion.console module this file imports (at any depth: a function-level import counts too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("bastion.console")}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in CONSOLE.rglob("*.py")}
    return {name: {m for m in _imports(p) if m in files and m != name} for name, p in files.items()}


def test_the_backend_and_the_domain_modules_import_no_page():
    graph = _graph()
    for low in BELOW:
        name = f"bastion.console.{low}"
        bad = {m for m in graph[name] if any(m == p or m.startswith(p + ".") for p in PAGES)}
        assert not bad, f"{name} imports the page layer: {bad}"


def test_no_import_cycle_among_the_console_modules():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if nxt == "bastion.console":
                continue  # the package itself (mount) imports the app lazily, inside a function
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])


def _endpoints(routers):
    for router in routers:
        for route in router.routes:
            endpoint = getattr(route, "endpoint", None)
            if endpoint is not None:
                yield route, endpoint


def test_console_handlers_run_in_the_thread_pool():
    from bastion.console.routes import ROUTERS

    async_ones = [f"{r.path} ({e.__module__}.{e.__name__})" for r, e in _endpoints(ROUTERS)
                  if inspect.iscoroutinefunction(e)]
    # "/" only redirects; everything else touches the database, argon2, Pillow or files
    assert async_ones == ["/ (bastion.console.routes.signin.index)"]
    assert sum(1 for _ in _endpoints(ROUTERS)) >= 30


def _returns_a_constant(fn) -> bool:
    """Whether ``fn``'s body (its docstring aside) is one ``return`` of a literal: nothing to hand off."""
    import ast
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0].body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        return False
    try:
        ast.literal_eval(body[0].value)
    except ValueError:
        return False
    return True


def test_api_handlers_that_are_async_hand_their_work_to_threads():
    from bastion.api.routes import router
    from bastion.api.routes_effects import router as effects

    for route, endpoint in _endpoints([router, effects]):
        if inspect.iscoroutinefunction(endpoint):
            if _returns_a_constant(endpoint):  # /healthz: no work at all, answered by the loop itself
                continue
            src = inspect.getsource(endpoint)
            assert _hands_off(src), f"{route.path}: an async handler that does its work on the event loop"


def _hands_off(src: str) -> bool:
    """The handler hands its work to threads itself, or awaits the service's ``*_async`` method that does
    (``POST /v1/items`` awaits ``Service.submit_async``: the examining and storing run in threads there)."""
    import re

    from bastion.cases.ingest import Service

    if "asyncio.to_thread" in src or "run_in_threadpool" in src:
        return True
    called = re.findall(r"await svc\.(\w+_async)\(", src)
    return bool(called) and all("asyncio.to_thread" in inspect.getsource(getattr(Service, name)) for name in called)
