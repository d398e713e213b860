"""Several service processes on one database: a hash added through one is matchable in the other within a
poll of the bank change log, without a rebuild; removals and bank changes reach it too."""

from __future__ import annotations

import io
import time

from PIL import Image

from bastion.media.hashing import pdq_from_image
from svc_helpers import b64, make_api, png_bytes


def test_a_hash_added_in_one_process_is_matched_in_another_within_seconds(database_url, tmp_path):
    from bastion.api import ServeSettings, create_app
    from starlette.testclient import TestClient

    a = make_api(database_url, tmp_path / "a")
    # the second "process": its own app, index and token cache, with its background loops polling fast
    b_app = create_app(ServeSettings(home=tmp_path / "b", database_url=database_url, background=True,
                                     poll_seconds=0.1, json_logs=False))
    img = png_bytes(21)
    pdq = pdq_from_image(Image.open(io.BytesIO(img)).convert("RGB"))[0]
    with a.client, TestClient(b_app) as b:
        hb = a.h("admin")
        assert a.client.get("/v1/banks", headers=hb).status_code == 200
        from bastion.banks.repo import BankRepository
        from bastion.model import Bank

        BankRepository(a.store).create(Bank(name="shared", category="csam"))
        live = b_app.state.service.matcher
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and live.rebuilds < 1:
            time.sleep(0.05)
        assert live.rebuilds == 1  # a new bank reloads the bank table (from the cache when it can)
        r = a.client.post("/v1/banks/shared/entries", headers=hb, json={"entries": [{"hash_type": "pdq", "value": pdq, "label": "x"}]})
        assert r.status_code == 201 and r.json()["added"] == 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not live.match({}, {"original": pdq}, 100):
            time.sleep(0.05)
        found = live.match({}, {"original": pdq}, 100)
        assert [m.bank for m in found] == ["shared"]
        assert live.rebuilds == 1 and live.applied >= 1  # the hash itself was applied incrementally
        # a removal reaches it too
        from bastion.model import HashEntry

        BankRepository(a.store).remove_entries("shared", [HashEntry("pdq", pdq)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and live.match({}, {"original": pdq}, 100):
            time.sleep(0.05)
        assert live.match({}, {"original": pdq}, 100) == []
    a.app.state.store.close()
