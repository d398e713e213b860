"""From the service's cases and decisions to reports, statistics, evidence and sharing — through the CLI, on
a real store (SQLite and PostgreSQL), a real vault folder and loopback TEST servers (never NCMEC or the
Transparency Database). Media are benign generated images; texts are neutral placeholders."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from dsa_test_server import DsaTestServer
from ncmec_test_server import NcmecTestServer, xsd_errors
from PIL import Image
from typer.testing import CliRunner

from bastion.auth.service import create_user
from bastion.cases import service as cases
from bastion.cases.holding import MediaHolding
from bastion.cases.models import AccountRow, CaseItemRow, CaseRow, ItemMediaRow, ItemRow
from bastion.cli import app
from bastion.media.hashing import pdq_hash
from bastion.reports import from_cases
from bastion.reports.dsa.validator import statement_problems
from bastion.reports.ncmec.xml import build_file_details_xml, build_report_xml
from bastion.vault import Keyring, LocalFolderStorage, Vault
from bastion.vault.models import VaultBlobRow, VaultCustodyRow

KEY = base64.b64encode(bytes(range(100, 132))).decode()
T0 = datetime(2026, 2, 1, 9, 0, tzinfo=timezone.utc)


def png(seed: int, size: int = 700) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    arr = np.stack([(x * 3 + seed) % 256, (y * 5) % 256, rng.integers(0, 256, (size, size))], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


IMAGES = [png(1), png(2), png(3)]


@pytest.fixture
def env(tmp_path, monkeypatch, database_url):
    monkeypatch.setenv("BASTION_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BASTION_VAULT_KEYS", f"k1:{KEY}")
    monkeypatch.setenv("BASTION_NCMEC_REPORTER_EMAIL", "tips@example.org")
    monkeypatch.setenv("BASTION_NCMEC_REPORTER_FIRST_NAME", "Rae")
    monkeypatch.setenv("BASTION_PLATFORM_NAME", "Example Art Site")
    monkeypatch.setenv("BASTION_PROFILE_URL", "https://example.org/u/{handle}")
    monkeypatch.setenv("BASTION_ITEM_URL", "https://example.org/p/{item}")
    monkeypatch.delenv("BASTION_USER", raising=False)
    return tmp_path


@pytest.fixture
def store(database_url, env):
    from bastion.store.db import open_store

    s = open_store(database_url)
    yield s
    s.close()


def cli(database_url, *args, input=None):
    return CliRunner().invoke(app, ["--database-url", database_url, *args], input=input, catch_exceptions=False)


def seed(store, env, *, images, category="csam", provenance=False, actions=("remove", "report", "preserve", "suspend_account"), sources="hash", automated_action=None, decide=True, kind="post"):
    """An account, one item with ``images``, a case, and (``decide``) a reviewer's confirming decision."""
    holding = MediaHolding(env / "home" / "holding")
    with store.session() as s, s.begin():
        users = {u: create_user(s, u, role) for u, role in (("lee", "lead"), ("rita", "reviewer"))} if not s.query(ItemRow).count() else None
        n = s.query(ItemRow).count()
        acc = AccountRow(external_id=f"acc-{n}", handle=f"placeholder_{n}", first_seen=T0, last_seen=T0)
        s.add(acc)
        s.flush()
        item = ItemRow(
            external_id=f"p-{n}", request_sha256="0" * 64, kind=kind, account_id=acc.id, title="placeholder title", body=None,
            tags=[], platform_created_at=T0 - timedelta(hours=3), received_at=T0, facts={}, verdict={}, action="review",
        )  # fmt: skip
        s.add(item)
        s.flush()
        for i, data in enumerate(images):
            holding.put(hashlib.sha256(data).hexdigest(), data)
            result = {"provenance": {"provenances": [{"generator": "placeholder-generator"}]}} if provenance else {}
            s.add(ItemMediaRow(
                item_id=item.id, position=i, filename=f"file{i}.png", sha256=hashlib.sha256(data).hexdigest(),
                md5=hashlib.md5(data).hexdigest(), pdq=pdq_hash(data).hash, quality=100, media_format="png", result=result, held=True,
            ))  # fmt: skip
        case = CaseRow(status="open", account_id=acc.id, opened_at=T0, updated_at=T0, sources=sources, languages="en", automated_action=automated_action, category=category)
        s.add(case)
        s.flush()
        s.add(CaseItemRow(case_id=case.id, item_id=item.id, added_at=T0))
        s.flush()
        case_id = case.id
    if decide:
        with store.session() as s, s.begin():
            from bastion.auth.service import get_user

            cases.decide(s, case_id, get_user(s, "rita"), "confirm", category=category, actions=list(actions))
    return case_id


def vault_of(env) -> Vault:
    return Vault(keyring=Keyring.parse(f"k1:{KEY}"), storage=LocalFolderStorage(env / "home" / "vault"))


def test_case_to_ncmec_report_hash_ai_and_multi_file(store, env):
    hash_case = seed(store, env, images=IMAGES[:1])
    ai_case = seed(store, env, images=IMAGES[1:2], category="csam-generated", provenance=True, sources="provenance")
    multi = seed(store, env, images=IMAGES, actions=("remove", "report"))
    settings = from_cases.NcmecSettings.from_env()
    holding = MediaHolding(env / "home" / "holding")
    vault = vault_of(env)
    with store.session() as s, s.begin():
        for c in (hash_case, ai_case, multi):
            from_cases.preserve_case(s, vault, holding, c, actor="lee", reason="report")
        reports = {c: from_cases.ncmec_input(s, c, settings) for c in (hash_case, ai_case, multi)}
    for c, r in reports.items():
        assert xsd_errors(build_report_xml(r), "report") == []
        for i, f in enumerate(r.files):
            assert f.blob_id is not None and f.pdq == pdq_hash(IMAGES[[*IMAGES].index(next(d for d in IMAGES if hashlib.sha256(d).hexdigest() == f.sha256))], fast=False).hash
            assert xsd_errors(build_file_details_xml(1, f"f{i}", f), "fileDetails") == []
    h = reports[hash_case]
    assert h.reported_person.esp_identifier == "acc-0" and h.reported_person.profile_urls == ("https://example.org/u/placeholder_0",)
    assert h.reported_person.disabled_at is not None  # suspend_account
    assert h.urls == ("https://example.org/p/p-0",) and h.incident_at == T0 - timedelta(hours=3)
    assert h.files[0].viewed_by_esp is True and not h.files[0].ai_confirmed
    a = reports[ai_case].files[0]
    assert a.ai_suggested and a.ai_confirmed
    assert ET.fromstring(build_file_details_xml(1, "f", a)).findtext("fileAnnotations/generativeAi") == "true"
    assert len(reports[multi].files) == 3 and reports[multi].reported_person.disabled_at is None


def test_undecided_case_is_not_reported(store, env):
    c = seed(store, env, images=IMAGES[:1], decide=False)
    with store.session() as s:
        from bastion.errors import ReportStateError

        with pytest.raises(ReportStateError, match="confirming decision"):
            from_cases.ncmec_input(s, c, from_cases.NcmecSettings.from_env())


def test_cli_report_ncmec_submit_end_to_end(store, env, database_url, monkeypatch, tmp_path):
    c = seed(store, env, images=IMAGES[:2])
    with NcmecTestServer() as server:
        monkeypatch.setenv("BASTION_NCMEC_URL", server.url)
        monkeypatch.setenv("BASTION_NCMEC_USERNAME", server.username)
        monkeypatch.setenv("BASTION_NCMEC_PASSWORD", server.password)
        r = cli(database_url, "report", "ncmec", str(c), "--user", "lee")
        assert r.exit_code == 0 and "check:" in r.output  # a summary with what to check, nothing sent
        assert server.calls == []
        r = cli(database_url, "report", "ncmec", str(c), "--xml", "--user", "lee")
        assert r.exit_code == 0 and "<report>" in r.output
        assert ET.fromstring(r.stdout.encode()).tag == "report"  # one document a tool can parse, not several
        drafts = tmp_path / "drafts"
        r = cli(database_url, "report", "ncmec", str(c), "--xml-dir", str(drafts), "--user", "lee")
        assert r.exit_code == 0, r.output
        assert ET.parse(drafts / "report.xml").getroot().tag == "report"
        assert [ET.parse(drafts / f"fileDetails-{i}.xml").getroot().tag for i in range(2)] == ["fileDetails"] * 2
        assert cli(database_url, "report", "ncmec", str(c), "--submit", "--user", "rita").exit_code == 2  # a reviewer may not
        r = cli(database_url, "report", "ncmec", str(c), "--submit", "--user", "lee")
        assert r.exit_code == 0, r.output
        state = json.loads(r.output.strip().splitlines()[-1])
        assert state["state"] == "finished" and [f["state"] for f in state["files"]] == ["described", "described"]
        remote = server.reports[state["ncmec_report_id"]]
        assert remote.state == "finished" and len(remote.files) == 2
        assert {d["md5"] for d in remote.files.values()} == {hashlib.md5(d).hexdigest() for d in IMAGES[:2]}
    with store.session() as s:
        assert s.get(CaseRow, c).status == "reported"
        blobs = s.query(VaultBlobRow).filter_by(case_id=c).all()
        assert len(blobs) == 2 and all(b.reported_at is not None for b in blobs)
        assert all(b.retain_until.replace(tzinfo=timezone.utc) >= b.reported_at.replace(tzinfo=timezone.utc) + timedelta(days=365) for b in blobs)
        actions = [r.action for r in s.query(VaultCustodyRow).order_by(VaultCustodyRow.id)]
        assert actions.count("read") == 2 and actions.count("reported") == 2


def test_cli_report_dsa_and_stats(store, env, database_url, monkeypatch):
    seed(store, env, images=IMAGES[:1])
    seed(store, env, images=IMAGES[1:2], category="csam-generated", provenance=True, sources="provenance", automated_action="remove")
    r = cli(database_url, "report", "dsa", "--since", "2000-01-01")
    assert r.exit_code == 2 and "--user" in r.output  # like `report ncmec`: someone acts
    r = cli(database_url, "report", "dsa", "--since", "2000-01-01", "--user", "rita")
    assert r.exit_code == 2 and "may not reports.read" in r.output  # a reviewer may not
    r = cli(database_url, "report", "dsa", "--since", "2000-01-01", "--user", "lee")
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    assert len(lines) == 2 and all(statement_problems(st) == [] for st in lines)
    gen = [st for st in lines if st["category_specification"] == ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE"]]
    assert len(gen) == 1 and "CONTENT_TYPE_SYNTHETIC_MEDIA" in gen[0]["content_type"]
    assert gen[0]["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    assert {st["decision_account"] for st in lines} == {"DECISION_ACCOUNT_TERMINATED"}
    server = DsaTestServer()
    try:
        monkeypatch.setenv("BASTION_DSA_ENDPOINT", server.url)
        monkeypatch.setenv("BASTION_DSA_TOKEN", server.token)
        r = cli(database_url, "report", "dsa", "--since", "2000-01-01", "--submit", "--user", "lee")
        assert r.exit_code == 0, r.output
        assert len(server.store) == 2 and len(server.calls) == 1
    finally:
        server.close()
    r = cli(database_url, "stats", "--since", "2000-01-01", "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = {(x["period"], x["metric"], x["key"]): x["value"] for x in csv.DictReader(io.StringIO(r.output))}
    assert rows[("total", "decisions", "")] == "2" and rows[("total", "human", "")] == "2"
    assert rows[("total", "by_source", "provenance")] == "1" and rows[("total", "statements", "")] == "2"
    assert rows[("total", "art24_1b_account_suspensions", "")] == "2"
    assert cli(database_url, "stats", "--format", "xml").exit_code == 2


def test_cli_vault_roles_custody_hold_purge(store, env, database_url):
    c = seed(store, env, images=IMAGES[:1])
    vault = vault_of(env)
    assert cli(database_url, "vault", "preserve", str(c), "--reason", "decision", "--user", "rita").exit_code == 2
    r = cli(database_url, "vault", "preserve", str(c), "--reason", "decision", "--user", "lee")
    assert r.exit_code == 0, r.output
    blob_id = json.loads(r.output.splitlines()[0])["id"]
    r = cli(database_url, "vault", "list", "--user", "lee")
    assert r.exit_code == 0 and json.loads(r.output.splitlines()[0])["id"] == blob_id
    out = env / "copy.png"
    r = cli(database_url, "vault", "get", blob_id, "--reason", "look again", "-o", str(out), "--user", "rita")
    assert r.exit_code == 2 and not out.exists()
    r = cli(database_url, "vault", "get", blob_id, "--reason", "legal request 5", "-o", str(out), "--user", "lee")
    assert r.exit_code == 0 and out.read_bytes() == IMAGES[0]
    assert cli(database_url, "vault", "get", blob_id, "--reason", "x", "-o", str(env / "y"), "--user", "nobody").exit_code == 2
    assert cli(database_url, "vault", "hold", blob_id, "--reason", "matter 9", "--user", "lee").exit_code == 0
    r = cli(database_url, "vault", "purge", "--user", "lee")
    assert r.exit_code == 0 and "purged 0" in r.output
    with store.session() as s:
        log = [(x.actor, x.action) for x in vault.custody(s, blob_id)]
    assert log == [("lee", "preserve"), ("lee", "read"), ("lee", "hold")]
    r = cli(database_url, "vault", "new-key", "2027-01")
    assert r.exit_code == 0 and Keyring.parse(r.output.strip()).active_key_id() == "2027-01"


def test_cli_bank_export_confirmed(store, env, database_url):
    seed(store, env, images=IMAGES[:2])
    rejected = seed(store, env, images=IMAGES[2:], decide=False)
    with store.session() as s, s.begin():
        from bastion.auth.service import get_user

        cases.decide(s, rejected, get_user(s, "lee"), "reject")
    r = cli(database_url, "bank", "export", "shared-confirmed", "--confirmed", "--format", "te")
    assert r.exit_code == 0, r.output
    pdqs = {line.split()[1] for line in r.output.splitlines() if line.startswith("pdq ")}
    assert pdqs == {pdq_hash(d, fast=False).hash for d in IMAGES[:2]}
    r = cli(database_url, "bank", "export", "shared-confirmed", "--confirmed", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.output[r.output.index("hash_type"):])))
    assert {x["hash"] for x in rows if x["hash_type"] == "sha256"} == {hashlib.sha256(d).hexdigest() for d in IMAGES[:2]}
    assert {x["label"] for x in rows} == {"csam"} and {x["source_ref"] for x in rows} == {""}
