"""URL media through the service: off by default; when switched on, only allow-listed hosts, never
loopback/private/metadata addresses even when a name on the list resolves there; refusals are 422 with
nothing written."""

from __future__ import annotations

from sqlalchemy import func, select

from bastion.cases.models import ItemRow


def _app(database_url, tmp_path, hosts):
    from starlette.testclient import TestClient

    from bastion.api import ServeSettings, create_app
    from bastion.auth import service as auth

    app = create_app(ServeSettings(home=tmp_path, database_url=database_url, background=False, json_logs=False,
                                   url_media_hosts=hosts))
    with app.state.store.session() as s, s.begin():
        auth.create_user(s, "p", "integration")
        token = auth.create_token(s, "p")[1]
    return app, TestClient(app), {"Authorization": f"Bearer {token}"}


def test_url_media_refusals_are_422_and_nothing_is_written(database_url, tmp_path):
    app, client, h = _app(database_url, tmp_path, ("localhost", "media.example.com", "127.0.0.1"))
    with client:
        for url in ("http://127.0.0.1:8/a.png",            # loopback, even though it is on the list
                    "http://localhost:8/a.png",            # a listed name that resolves to loopback
                    "http://169.254.169.254/latest/meta-data",  # cloud metadata
                    "http://other.example.org/a.png",      # not on the list
                    "file:///etc/passwd",                  # not http(s)
                    ):
            r = client.post("/v1/items", headers=h, json={"id": "u1", "media": [{"url": url}]})
            assert r.status_code == 422, (url, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        with app.state.store.session() as s:
            assert s.scalar(select(func.count()).select_from(ItemRow)) == 0
    app.state.store.close()


def test_url_media_is_off_by_default(api):
    r = api.submit({"id": "u2", "media": [{"url": "https://media.example.com/a.png"}]})
    assert r.status_code == 422 and "switched off" in r.json()["detail"]
