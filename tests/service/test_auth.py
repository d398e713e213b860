"""Authorisation: the whole role x endpoint matrix from the one permission table; tokens and passwords."""

from __future__ import annotations

import re

import pytest

from bastion.auth import service as auth
from bastion.auth.permissions import ACTIONS, PERMISSIONS, ROLES, allowed

PUBLIC = {"/healthz", "/readyz"}


def _flatten(routes):
    for r in routes:
        inner = getattr(r, "original_router", None)  # FastAPI >= 0.16x wraps included routers
        if inner is not None:
            yield from _flatten(inner.routes)
        else:
            yield r


def _protected_routes(app):
    """(method, path, action) of every route, read from its `require(...)` dependency."""
    out = []
    for route in _flatten(app.routes):
        path = getattr(route, "path", "")
        dependant = getattr(route, "dependant", None)
        if dependant is None or not path.startswith(("/v1", "/metrics", "/docs", "/openapi")):
            continue
        actions = [d.call.action for d in dependant.dependencies if hasattr(d.call, "action")]
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, path, actions))
    return out


def test_every_route_but_health_requires_a_permission(api):
    routes = _protected_routes(api.app)
    assert len(routes) >= 15
    for method, path, actions in routes:
        assert len(actions) == 1, f"{method} {path} has no single permission: {actions}"
    # and every permission of the table is used by some route or documented as console-only
    used = {a for _, _, acts in routes for a in acts}
    console_only = {"media.reveal", "vault.read", "reports.read", "reports.submit", "stats.read", "policy.read",
                    "policy.write", "webhooks.manage", "audit.read", "cases.second_look", "banks.export"}
    assert set(ACTIONS) - used <= console_only


def test_role_by_endpoint_matrix(api):
    """Each role on each endpoint: 403 exactly when the table says no; no token: 401; bad token: 401."""
    checked = 0
    for method, path, (action,) in _protected_routes(api.app):
        url = re.sub(r"\{[^}]+\}", "999999", path)
        r = api.client.request(method, url)
        assert r.status_code == 401, (method, path)
        r = api.client.request(method, url, headers={"Authorization": "Bearer bst_not-a-token"})
        assert r.status_code == 401, (method, path)
        for role in ROLES:
            r = api.client.request(method, url, headers=api.h(role), json={})
            if allowed(role, action):
                assert r.status_code != 403, (role, method, path, r.text)
            else:
                assert r.status_code == 403, (role, method, path, r.status_code)
                assert r.json()["status"] == 403
            checked += 1
    assert checked >= 15 * len(ROLES)


def test_health_needs_no_token(api):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json() == {"status": "ready"}


def test_metrics_and_docs(api):
    api.submit({"id": "m1", "title": "x"})
    m = api.client.get("/metrics", headers=api.h("auditor"))
    assert m.status_code == 200 and 'bastion_items_total{action="allow"} 1.0' in m.text
    spec = api.client.get("/openapi.json", headers=api.h("reviewer")).json()
    assert "/v1/items" in spec["paths"] and "/v1/cases/{case_id}/decisions" in spec["paths"]


def test_the_permission_table_is_total():
    for action, roles in PERMISSIONS.items():
        assert roles <= set(ROLES), action
    assert allowed("admin", "users.manage") and not allowed("reviewer", "users.manage")
    with pytest.raises(KeyError):
        allowed("admin", "no.such.action")


def test_passwords_are_argon2_and_checked(store):
    with store.session() as s, s.begin():
        u = auth.create_user(s, "alice", "reviewer", "a long enough password")
        assert u.password_hash.startswith("$argon2id$")
    with store.session() as s, s.begin():
        assert auth.authenticate(s, "alice", "a long enough password").name == "alice"
        assert auth.authenticate(s, "alice", "wrong password!!") is None
        assert auth.authenticate(s, "nobody", "a long enough password") is None
        auth.set_disabled(s, "alice", True)
    with store.session() as s:
        assert auth.authenticate(s, "alice", "a long enough password") is None


def test_bad_users_are_refused(store):
    from bastion.errors import BastionError, Conflict

    with store.session() as s, s.begin():
        auth.create_user(s, "bob", "lead")
    for name, role, pw in (("x y", "lead", None), ("c", "overlord", None), ("d", "lead", "short")):
        with store.session() as s, pytest.raises(BastionError):
            auth.create_user(s, name, role, pw)
    with store.session() as s, pytest.raises(Conflict):
        auth.create_user(s, "bob", "lead")


def test_tokens_are_shown_once_stored_hashed_and_revocable(api):
    with api.store.session() as s, s.begin():
        row, token = auth.create_token(s, "integration-user", "cdn")
    assert token.startswith("bst_") and token not in row.token_hash and row.prefix == token[:10]
    h = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/v1/banks", headers=h).status_code == 200
    r = api.client.delete(f"/v1/tokens/{row.id}", headers=api.h("admin"))
    assert r.status_code == 204
    api.app.state.tokens._cache.clear()  # the per-process cache holds a token for a few seconds
    assert api.client.get("/v1/banks", headers=h).status_code == 401


def test_admin_creates_users_and_tokens_over_the_api(api):
    r = api.client.post("/v1/users", json={"name": "carol", "role": "reviewer"}, headers=api.h("admin"))
    assert r.status_code == 201
    assert api.client.post("/v1/users", json={"name": "carol", "role": "reviewer"}, headers=api.h("admin")).status_code == 409
    r = api.client.post("/v1/tokens", json={"user": "carol"}, headers=api.h("admin"))
    tok = r.json()["token"]
    assert api.client.get("/v1/cases", headers={"Authorization": f"Bearer {tok}"}).status_code == 200
    listed = api.client.get("/v1/tokens", headers=api.h("admin")).json()["tokens"]
    assert all("token" not in t for t in listed) and any(t["user"] == "carol" for t in listed)


def test_cli_user_and_token(tmp_path):
    from typer.testing import CliRunner

    from bastion.cli import app

    env = {"BASTION_HOME": str(tmp_path)}
    runner = CliRunner()
    r = runner.invoke(app, ["user", "create", "dora", "--role", "lead", "--password-stdin"],
                      input="a long enough password\n", env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["token", "create", "--user", "dora", "--name", "ci"], env=env)
    assert r.exit_code == 0
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("bst_")
    r = runner.invoke(app, ["user", "create", "eve", "--role", "king", "--no-password"], env=env)
    assert r.exit_code == 2 and "unknown role" in r.output
    r = runner.invoke(app, ["token", "create", "--user", "nobody"], env=env)
    assert r.exit_code == 2
