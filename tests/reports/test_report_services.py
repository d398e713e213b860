"""Reports as services: the API (`/v1/cases/{id}/reports/ncmec`, `/v1/reports/dsa`) and the CLI call the
same functions (bastion.reports.flows), which ask the one permission table. Real store (SQLite and
PostgreSQL), real vault folder, the loopback NCMEC TEST server — never NCMEC. Benign generated images."""

from __future__ import annotations

import ast
import hashlib
import warnings
from pathlib import Path

import pytest
from ncmec_test_server import NcmecTestServer
from test_from_cases import IMAGES, cli, env, seed, store  # noqa: F401  (fixtures)

from bastion.auth.permissions import ROLES, allowed
from bastion.cases.models import CaseRow
from bastion.reports.models import NcmecReportRow
from bastion.vault.models import VaultBlobRow

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")


@pytest.fixture
def ncmec(env, monkeypatch):
    with NcmecTestServer() as server:
        monkeypatch.setenv("BASTION_NCMEC_URL", server.url)
        monkeypatch.setenv("BASTION_NCMEC_USERNAME", server.username)
        monkeypatch.setenv("BASTION_NCMEC_PASSWORD", server.password)
        yield server


@pytest.fixture
def api(store, env, ncmec, database_url):
    from starlette.testclient import TestClient

    from bastion.api import ServeSettings, create_app
    from bastion.auth import service as auth

    # The server reads its settings once, at start: the reporter and the NCMEC test server are configured first.
    app = create_app(ServeSettings.from_env(home=env / "home", database_url=database_url, background=False, json_logs=False))
    tokens = {}
    with app.state.store.session() as s, s.begin():
        for role in ROLES:
            auth.create_user(s, f"{role}-user", role)
            tokens[role] = auth.create_token(s, f"{role}-user", "test")[1]
    with TestClient(app, raise_server_exceptions=False) as client:
        client.tokens = tokens
        client.h = lambda role: {"Authorization": f"Bearer {tokens[role]}"}
        yield client
    app.state.store.close()


def test_api_reports_a_case_to_ncmec_by_allowed_roles_only(store, env, api, ncmec):
    case_id = seed(store, env, images=IMAGES[:2])
    url = f"/v1/cases/{case_id}/reports/ncmec"
    for role in ROLES:
        if not allowed(role, "reports.submit"):
            r = api.post(url, headers=api.h(role))
            assert r.status_code == 403, (role, r.text)
        if not allowed(role, "reports.read"):
            assert api.get(url, headers=api.h(role)).status_code == 403, role
    assert ncmec.calls == []  # nothing left for a refused caller
    with store.session() as s:
        assert s.query(VaultBlobRow).count() == 0 and s.query(NcmecReportRow).count() == 0

    draft = api.get(url, headers=api.h("auditor"))
    assert draft.status_code == 200, draft.text
    assert draft.json()["files"] == 2 and draft.json()["check"] and draft.json()["report"] is None

    r = api.post(url, headers=api.h("lead"), json={"ip_events": [{"ip": "192.0.2.7", "event": "Upload"}]})
    assert r.status_code == 200, r.text
    state = r.json()
    assert state["state"] == "finished" and [f["state"] for f in state["files"]] == ["described", "described"]
    remote = ncmec.reports[state["ncmec_report_id"]]
    assert remote.state == "finished" and b"192.0.2.7" in remote.xml
    assert {d["md5"] for d in remote.files.values()} == {hashlib.md5(d).hexdigest() for d in IMAGES[:2]}
    with store.session() as s:
        assert s.get(CaseRow, case_id).status == "reported"
        blobs = s.query(VaultBlobRow).filter_by(case_id=case_id).all()
        assert len(blobs) == 2 and all(b.reported_at is not None for b in blobs)
    assert api.get(url, headers=api.h("auditor")).json()["report"]["state"] == "finished"
    # nothing stuck, nothing to resolve or retract: a clear refusal, not a 500
    r = api.post(url + ":resolve", headers=api.h("lead"))
    assert r.status_code == 400 and "nothing is waiting" in r.json()["detail"]
    assert api.post(url + ":retract", headers=api.h("admin")).status_code == 400
    assert api.post("/v1/cases/999999/reports/ncmec", headers=api.h("lead")).status_code == 404


def test_api_retract_and_expired_report_lets_the_case_be_reported_afresh(store, env, api, ncmec):
    case_id = seed(store, env, images=IMAGES[:1])
    url = f"/v1/cases/{case_id}/reports/ncmec"
    ncmec.fail_next = {"/ispws/finish": [400]}  # finish refused: the report stays opened, unfinished
    ncmec.fail_body = {"/ispws/finish": b"<reportResponse><responseCode>9999</responseCode><responseDescription>refused</responseDescription></reportResponse>"}
    r = api.post(url, headers=api.h("lead"))
    assert r.status_code == 400 and "9999" in r.json()["detail"]
    first = api.get(url, headers=api.h("lead")).json()["report"]
    assert first["state"] == "finishing"
    ncmec.expire(first["ncmec_report_id"])  # NCMEC deletes it
    r = api.post(url + ":resolve", headers=api.h("lead"))
    assert r.status_code == 400 and "5001" in r.json()["detail"]
    assert api.get(url, headers=api.h("lead")).json()["report"]["state"] == "expired"
    r = api.post(url, headers=api.h("lead"))  # reported afresh: a new report
    assert r.status_code == 200 and r.json()["state"] == "finished" and r.json()["id"] != first["id"]
    with store.session() as s:
        assert [x.state for x in s.query(NcmecReportRow).order_by(NcmecReportRow.id)] == ["expired", "finished"]


def test_api_dsa_statements_by_allowed_roles_only(store, env, api):
    seed(store, env, images=IMAGES[:1])
    for role in ROLES:
        r = api.post("/v1/reports/dsa", headers=api.h(role), json={"since": "2000-01-01T00:00:00"})
        if allowed(role, "reports.read"):
            assert r.status_code == 200 and len(r.json()["statements"]) == 1, (role, r.text)
        else:
            assert r.status_code == 403, role
        r = api.post("/v1/reports/dsa", headers=api.h(role), json={"submit": True})
        if not allowed(role, "reports.submit"):
            assert r.status_code == 403, role
    # allowed to submit, but nowhere configured to send: a configuration error, statements kept
    r = api.post("/v1/reports/dsa", headers=api.h("lead"), json={"submit": True})
    assert r.status_code == 500 and "BASTION_DSA_ENDPOINT" in r.json()["detail"]


def test_cli_and_api_share_the_flows_and_the_cli_holds_no_sql():
    """A CLI command holds no SQL: report_cmd imports no sqlalchemy and builds no query."""
    src = Path(__file__).parents[2] / "src" / "bastion" / "cli" / "report_cmd.py"
    tree = ast.parse(src.read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m and m.startswith("sqlalchemy") for m in names)
    assert any(isinstance(n, ast.ImportFrom) and n.module == "bastion.reports" and [a.name for a in n.names] == ["flows"]
               for n in ast.walk(tree))
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert not calls & {"select", "query", "execute", "scalars", "scalar"}


# --- reports say what was decided (issue 21, point 8) ------------------------------------------------

CRITICAL = "selling teen nsfw dm"  # clinical placeholder: the fewest indicator words of a text-only trade rule


def test_automated_removal_gets_its_statement_at_removal_time_and_text_never_claims_material(store, env, api):
    from bastion.auth.service import get_user
    from bastion.cases import service as cases
    from bastion.reports.dsa.validator import statement_problems
    from bastion.reports.models import DsaStatementRow

    r = api.post("/v1/items", headers=api.h("integration"), json={"id": "t-1", "body": CRITICAL, "account": {"id": "acc-t"}})
    assert r.status_code == 200 and r.json()["verdict"]["action"] == "remove", r.text
    with store.session() as s:  # no one has decided, no `report dsa` has run: the statement is already kept
        (row,) = s.query(DsaStatementRow).all()
        st = row.statement
    assert statement_problems(st) == []
    assert st["automated_decision"] == "AUTOMATED_DECISION_FULLY" and st["automated_detection"] == "Yes"
    assert st["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"] and row.case_id == r.json()["case_id"]
    assert "identified as child sexual abuse material" not in st["illegal_content_explanation"]
    assert "text" in st["decision_facts"] and "No image or video" in st["decision_facts"]
    assert st["content_type"] == ["CONTENT_TYPE_TEXT"]
    # a person then confirms the text-only case: its statement follows the same signals
    with store.session() as s, s.begin():
        from bastion.auth.service import create_user

        create_user(s, "lee", "lead")
        cases.decide(s, r.json()["case_id"], get_user(s, "lee"), "confirm", category="csam", actions=["remove"])
    out = api.post("/v1/reports/dsa", headers=api.h("lead"), json={}).json()["statements"]
    (decided,) = [x for x in out if x["automated_decision"] != "AUTOMATED_DECISION_FULLY"]
    assert decided["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    assert "identified as child sexual abuse material" not in decided["illegal_content_explanation"]
    assert statement_problems(decided) == []


def test_image_match_statement_still_says_what_was_identified(store, env):
    from bastion.reports import from_cases
    from bastion.reports.dsa.builder import build_statement

    seed(store, env, images=IMAGES[:1])
    with store.session() as s:
        (inp,) = from_cases.statement_inputs(s)
    with store.session() as s, s.begin():  # the item's own signals say a hash matched its image
        from bastion.cases.models import ItemRow

        s.query(ItemRow).one().facts = {"signals": [{"source": "hash", "category": "csam"}]}
    with store.session() as s:
        (inp,) = from_cases.statement_inputs(s)
    assert inp.basis == "media"
    assert "identified as child sexual abuse material" in build_statement(inp)["illegal_content_explanation"]


@pytest.mark.parametrize("kind", ["temporary", "permanent"])
def test_suspension_kind_and_length_reach_dsa_and_ncmec(store, env, kind):
    import xml.etree.ElementTree as ET
    from datetime import timedelta

    from ncmec_test_server import xsd_errors

    from bastion.auth.service import get_user
    from bastion.cases import service as cases
    from bastion.reports import from_cases
    from bastion.reports.dsa.builder import build_statement
    from bastion.reports.dsa.validator import statement_problems
    from bastion.reports.ncmec.xml import build_report_xml

    case_id = seed(store, env, images=IMAGES[:1], decide=False)
    days = 30 if kind == "temporary" else None
    with store.session() as s, s.begin():
        d = cases.decide(s, case_id, get_user(s, "rita"), "confirm", category="csam", actions=["remove", "suspend_account"],
                         suspension=kind, suspension_days=days)
        decided_at = d.created_at
        assert cases.decision_dict(d, "rita")["suspension"] == kind
    with store.session() as s:
        (inp,) = from_cases.statement_inputs(s)
        report = from_cases.ncmec_input(s, case_id, from_cases.NcmecSettings.from_env())
    st = build_statement(inp)
    assert statement_problems(st) == []
    xml = build_report_xml(report)
    assert xsd_errors(xml, "report") == []
    person = ET.fromstring(xml).find("personOrUserReported")
    if kind == "temporary":
        assert st["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
        end = (decided_at.replace(tzinfo=None) + timedelta(days=30)).date().isoformat()
        assert st["end_date_account_restriction"] == end
        assert person.find("accountPermanentlyDisabled") is None
        assert person.find("accountTemporarilyDisabled").get("reenabledDate").startswith(end)
    else:
        assert st["decision_account"] == "DECISION_ACCOUNT_TERMINATED" and "end_date_account_restriction" not in st
        assert person.find("accountTemporarilyDisabled") is None and person.find("accountPermanentlyDisabled") is not None


def test_suspension_must_be_said_consistently(store, env, api):
    from bastion.auth.service import get_user
    from bastion.cases import service as cases
    from bastion.errors import InvalidInput

    case_id = seed(store, env, images=IMAGES[:1], decide=False)
    for actions, kind, days in ((["suspend_account"], "temporary", None), (["suspend_account"], "permanent", 5), (["remove"], "temporary", 5)):
        with store.session() as s, s.begin():
            with pytest.raises(InvalidInput):
                cases.decide(s, case_id, get_user(s, "rita"), "confirm", actions=actions, suspension=kind, suspension_days=days)
    r = api.post(f"/v1/cases/{case_id}/decisions", headers=api.h("reviewer"),
                 json={"outcome": "confirm", "actions": ["suspend_account"], "suspension": "temporary", "suspension_days": 7})
    assert r.status_code == 201, r.text
    assert r.json()["suspension"] == "temporary" and r.json()["suspension_days"] == 7


# --- no clear copies at rest (issue 21, point 7) ------------------------------------------------------


def _known_bank(app, data: bytes) -> None:
    import io

    from PIL import Image

    from bastion.banks.repo import BankRepository
    from bastion.media.hashing import pdq_from_image
    from bastion.model import Bank, HashEntry

    repo = BankRepository(app.state.store)
    repo.create(Bank(name="known", category="csam"))
    repo.add_entries("known", [HashEntry("pdq", pdq_from_image(Image.open(io.BytesIO(data)).convert("RGB"))[0], "stand-in")])
    app.state.service.matcher.refresh()


def _clear_copies(home: Path, data: bytes) -> list[Path]:
    """Files under ``home`` holding the upload, or a 256-byte run of it, in clear."""
    probe = data[len(data) // 2 : len(data) // 2 + 256]
    return [p for p in home.rglob("*") if p.is_file() and (probe in p.read_bytes() or data in p.read_bytes())]


def _submit(client, token, item_id, data):
    import base64

    return client.post("/v1/items", headers={"Authorization": f"Bearer {token}"},
                       json={"id": item_id, "media": [{"filename": "x.png", "data": base64.b64encode(data).decode()}],
                             "account": {"id": f"acc-{item_id}"}})


def test_intake_keeps_no_clear_copy_and_custody_starts_there(store, env, api):
    """With vault keys configured: kept media is sealed into the vault in the item's transaction (custody
    by `system`), the holding folder holds only ciphertext, and the console's path still gets the bytes."""
    from bastion.cases.models import ItemMediaRow
    from bastion.reports import from_cases
    from bastion.vault.models import VaultCustodyRow

    app = api.app
    known = IMAGES[0]
    _known_bank(app, known)
    r = _submit(api, api.tokens["integration"], "k-1", known)
    assert r.status_code == 200 and r.json()["verdict"]["action"] == "remove", r.text
    case_id = r.json()["case_id"]
    assert _clear_copies(env / "home", known) == []
    with store.session() as s:
        (blob,) = s.query(VaultBlobRow).all()
        assert blob.case_id == case_id and blob.sha256 == hashlib.sha256(known).hexdigest() and blob.pdq is None
        assert [(c.actor, c.action) for c in s.query(VaultCustodyRow)] == [("system", "preserve")]
        m = s.query(ItemMediaRow).one()
    assert app.state.service.holding.get(m.sha256) == known  # what the console's derived views read
    # a later preservation (a report, `vault preserve`) finds the blob: custody only, reference PDQ filled in
    from bastion.vault import Vault

    with store.session() as s, s.begin():
        rows = from_cases.preserve_case(s, Vault.from_settings(), app.state.service.holding, case_id, actor="lee", reason="report")
        assert [x.id for x in rows] == [blob.id] and rows[0].pdq is not None
        assert s.query(VaultBlobRow).count() == 1 and s.query(VaultCustodyRow).count() == 2
    assert _clear_copies(env / "home", known) == []


def test_without_vault_keys_the_holding_folder_is_still_sealed(tmp_path, database_url, monkeypatch):
    from starlette.testclient import TestClient

    from bastion.api import ServeSettings, create_app
    from bastion.auth import service as auth
    from bastion.cases.holding import MediaHolding

    monkeypatch.delenv("BASTION_VAULT_KEYS", raising=False)
    home = tmp_path / "home"
    app = create_app(ServeSettings(home=home, database_url=database_url, background=False, json_logs=False))
    with app.state.store.session() as s, s.begin():
        auth.create_user(s, "int", "integration")
        token = auth.create_token(s, "int", "t")[1]
    known = IMAGES[1]
    _known_bank(app, known)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert _submit(client, token, "k-2", known).json()["verdict"]["action"] == "remove"
    app.state.store.close()
    holding = app.state.service.holding
    sha = hashlib.sha256(known).hexdigest()
    assert holding.exists(sha) and holding.get(sha) == known
    assert _clear_copies(home, known) == [] and holding.key_path.stat().st_mode & 0o077 == 0
    # a file an older Bastion wrote in clear is sealed the first time it is read
    old = MediaHolding(home / "holding")
    legacy = IMAGES[2]
    lsha = hashlib.sha256(legacy).hexdigest()
    (home / "holding" / lsha[:2]).mkdir(parents=True, exist_ok=True)
    (home / "holding" / lsha[:2] / lsha).write_bytes(legacy)
    assert old.get(lsha) == legacy and _clear_copies(home, legacy) == [] and old.get(lsha) == legacy
