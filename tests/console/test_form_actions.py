"""Every state-changing console route — found by walking the console app's routes, not listed by hand — refuses
a request without the CSRF token, and every one but a user's own settings and session refuses a role that
may change nothing (``auditor``) even with the token. SQLite; the console's real app through Starlette's
test client."""

from __future__ import annotations

import re
import warnings

import pytest
from sqlalchemy import func, select

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

PASSWORD = "correct horse battery"
#: what a path parameter of a console route is filled with (a route with another parameter fails the test)
PARAMS = {"case_id": "1", "name": "ann", "sha256": "0" * 64, "token_id": "1", "action": "add"}
#: routes any signed-in user may post: their own preferences, break and session (and signing in)
SELF_SERVICE = {"/preferences", "/break", "/logout", "/login"}


@pytest.fixture
def console(tmp_path):
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    from bastion.api.app import create_app
    from bastion.api.settings import ServeSettings
    from bastion.auth import service as auth

    app = create_app(ServeSettings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'b.db'}",
                                   background=False, json_logs=False))
    with app.state.store.session() as s, s.begin():
        for name, role in (("ann", "reviewer"), ("ada", "admin"), ("oli", "auditor")):
            auth.create_user(s, name, role, PASSWORD)
    console_app = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/console")
    posts = sorted(path for path, methods in _routes(console_app.routes) if "POST" in methods)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client, posts
    app.state.store.close()


def _routes(routes):
    """(path, methods) of every route, through included routers (FastAPI wraps them: ``original_router``)."""
    for r in routes:
        if getattr(r, "methods", None) and getattr(r, "path", None):
            yield r.path, r.methods
        inner = getattr(getattr(r, "original_router", None), "routes", None)
        if inner is None and not hasattr(r, "methods"):
            inner = getattr(r, "routes", None)
        if inner:
            yield from _routes(inner)


def _url(path: str) -> str:
    def fill(m: re.Match) -> str:
        assert m.group(1) in PARAMS, f"no test value for the path parameter {m.group(1)!r} of {path}"
        return PARAMS[m.group(1)]

    return "/console" + re.sub(r"\{(\w+)(?::\w+)?\}", fill, path)


def _sign_in(client, name: str) -> str:
    page = client.get("/console/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/console/login", data={"csrf_token": csrf, "name": name, "password": PASSWORD,
                                             "next": "/console/queue"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/console/queue").text).group(1)


def _audit_count(app) -> int:
    from bastion.effects.models import AuditRow

    with app.state.store.session() as s:
        return s.scalar(select(func.count()).select_from(AuditRow))


def test_the_walk_finds_the_state_changing_routes(console):
    _, _, posts = console
    for path in ("/cases/{case_id}/claim", "/cases/{case_id}/decide", "/admin/users", "/banks/{name}/import",
                 "/media/{case_id}/{sha256}/reveal", "/terms/{action}", "/login", "/logout"):
        assert path in posts
    assert len(posts) >= 18, posts


def test_every_post_route_refuses_a_missing_csrf_token(console):
    app, client, posts = console
    _sign_in(client, "ada")  # an admin: any refusal below is the token's, not the role's
    before = _audit_count(app)
    for path in posts:
        r = client.post(_url(path), data={"outcome": "reject", "name": "x", "role": "admin", "term": "x"},
                        follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code, r.text[:200])
        assert "CSRF" in r.text, path
    assert _audit_count(app) == before  # nothing was done
    assert client.get("/console/queue", follow_redirects=False).status_code == 200  # still signed in


def test_every_post_route_but_self_service_refuses_a_role_that_changes_nothing(console):
    app, client, posts = console
    token = _sign_in(client, "oli")  # auditor: reads, changes nothing
    before = _audit_count(app)
    refused = []
    for path in posts:
        if path in SELF_SERVICE:
            continue
        r = client.post(_url(path), data={"csrf_token": token, "outcome": "reject", "name": "x", "role": "admin",
                                          "term": "x"}, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code, r.text[:200])
        assert "may not" in r.text or "only leads" in r.text, (path, r.text[:200])
        refused.append(path)
    assert len(refused) == len(posts) - len(SELF_SERVICE & set(posts))
    assert _audit_count(app) == before
    # the token itself was good: the auditor's own preferences are saved with it
    r = client.post("/console/preferences", data={"csrf_token": token, "blur": "default"}, follow_redirects=False)
    assert r.status_code == 303
