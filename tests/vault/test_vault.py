"""Evidence vault: encryption at rest, key rotation, tamper detection, access control, custody of reads,
retention and legal holds — on a real SQLite file and a real PostgreSQL, with a real folder."""

from __future__ import annotations

import base64
import io
import stat
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image

from bastion.errors import UnknownBlob, VaultAccessDenied, VaultError, VaultIntegrityError, VaultKeyError
from bastion.media.hashing import pdq_hash
from bastion.vault import Keyring, LocalFolderStorage, Vault, new_key_text
from bastion.vault.crypto import open_sealed, seal

K1 = base64.b64encode(bytes(range(32))).decode()
K2 = base64.b64encode(bytes(range(32, 64))).decode()


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def png_bytes(seed: int = 0, size: int = 96) -> bytes:
    """A benign generated gradient-and-noise pattern."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    arr = np.stack([(x * 255 // size), (y * 255 // size), rng.integers(0, 255, (size, size))], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def clock():
    return Clock(datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc))


@pytest.fixture
def vault(tmp_path, clock):
    return Vault(keyring=Keyring.parse(f"k1:{K1}"), storage=LocalFolderStorage(tmp_path / "vault"), clock=clock)


# --- keys ------------------------------------------------------------------------------------------


def test_keyring_parses_several_keys_and_needs_an_active_one():
    ring = Keyring.parse(f"k1:{K1}, k2:{K2}", "k2")
    assert ring.active_key_id() == "k2" and set(ring.keys) == {"k1", "k2"}
    assert Keyring.parse(f"k1:{K1}").active_key_id() == "k1"
    with pytest.raises(VaultKeyError, match="ACTIVE_KEY"):
        Keyring.parse(f"k1:{K1},k2:{K2}")
    with pytest.raises(VaultKeyError, match="not among"):
        Keyring.parse(f"k1:{K1}", "k9")
    with pytest.raises(VaultKeyError, match="32"):
        Keyring.parse("k1:" + base64.b64encode(b"short").decode())
    with pytest.raises(VaultKeyError, match="base64"):
        Keyring.parse("k1:not base64!!")
    with pytest.raises(VaultKeyError, match="twice"):
        Keyring.parse(f"k1:{K1},k1:{K2}")
    with pytest.raises(VaultKeyError, match="no vault key"):
        Keyring.parse("").active_key_id()


def test_new_key_text_is_usable():
    ring = Keyring.parse(new_key_text("2026-12"))
    assert ring.active_key_id() == "2026-12" and len(ring.keys["2026-12"]) == 32


def test_seal_is_bound_to_blob_id_key_and_hash():
    ring = Keyring.parse(f"k1:{K1},k2:{K2}", "k1")
    key_id, sealed = seal(ring, "blob-a", b"evidence bytes")
    import hashlib

    sha = hashlib.sha256(b"evidence bytes").hexdigest()
    assert b"evidence bytes" not in sealed
    assert open_sealed(ring, "blob-a", sealed, key_id=key_id, sha256=sha) == b"evidence bytes"
    with pytest.raises(VaultIntegrityError):  # same ciphertext presented as another blob
        open_sealed(ring, "blob-b", sealed, key_id=key_id, sha256=sha)
    with pytest.raises(VaultIntegrityError):  # recorded hash differs
        open_sealed(ring, "blob-a", sealed, key_id=key_id, sha256="0" * 64)
    with pytest.raises(VaultIntegrityError, match="names key"):  # header says k1, record says k2
        open_sealed(ring, "blob-a", sealed, key_id="k2", sha256=sha)
    wrong = Keyring.parse(f"k1:{K2}")  # a key with the right id but the wrong bytes
    with pytest.raises(VaultIntegrityError, match="failed authentication"):
        open_sealed(wrong, "blob-a", sealed, key_id="k1", sha256=sha)
    with pytest.raises(VaultIntegrityError):
        open_sealed(ring, "blob-a", b"garbage", key_id="k1", sha256=sha)


# --- preserve and read -----------------------------------------------------------------------------


def test_preserve_encrypts_at_rest_with_private_permissions(store, vault, tmp_path):
    data = png_bytes(1)
    with store.session() as s, s.begin():
        row = vault.preserve(s, data, actor="alice", reason="decision 7 says preserve", case_id=7, item_external_id="p-1", filename="a.png")
        blob_id = row.id
    path = tmp_path / "vault" / f"{blob_id}.blob"
    raw = path.read_bytes()
    assert data not in raw and data[:64] not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "vault").stat().st_mode) == 0o700
    with store.session() as s, s.begin():
        row = vault.blobs(s, case_id=7)[0]
        assert (row.key_id, row.size, row.case_id, row.filename) == ("k1", len(data), 7, "a.png")
        ref = pdq_hash(data, fast=False)
        assert (row.pdq, row.pdq_quality) == (ref.hash, ref.quality)  # the reference PDQ, what may leave Bastion
        assert vault.read(s, blob_id, actor="lee", role="lead", reason="second review") == data


def test_same_bytes_same_case_are_kept_once(store, vault):
    data = png_bytes(2)
    with store.session() as s, s.begin():
        a = vault.preserve(s, data, actor="alice", reason="r1", case_id=1)
        b = vault.preserve(s, data, actor="bob", reason="r2", case_id=1)
        c = vault.preserve(s, data, actor="bob", reason="r3", case_id=2)
        assert a.id == b.id != c.id
        assert [r.actor for r in vault.custody(s, a.id)] == ["alice", "bob"]


def _stored(vault) -> tuple[list[str], int]:
    files = sorted(vault.storage.folder.glob("*.blob")) if vault.storage.folder.is_dir() else []
    return [p.name[: -len(".blob")] for p in files], sum(p.stat().st_size for p in files)


def test_a_transaction_that_does_not_commit_leaves_no_copy_so_its_retry_is_the_only_one(store, vault):
    """The group committer retries each item of a failed group alone, and intake seals kept files into the
    vault in the item's transaction: each retried file used to be stored twice (the rolled-back copy, which no
    row refers to, beside the retry's). Counted in files and bytes."""
    data = png_bytes(8)
    one_copy = len(seal(vault.keyring, "x" * 32, data)[1])
    with pytest.raises(RuntimeError):
        with store.session() as s, s.begin():
            vault.preserve(s, data, actor="system", reason="kept at intake", case_id=3, reference=False)
            assert len(_stored(vault)[0]) == 1  # written before the row commits (never a row without its file)
            raise RuntimeError("the group's commit failed")
    assert _stored(vault) == ([], 0)
    with store.session() as s:  # closed without a commit: the same
        vault.preserve(s, data, actor="system", reason="kept at intake", case_id=3, reference=False)
    assert _stored(vault) == ([], 0)
    with store.session() as s, s.begin():  # the retry
        row = vault.preserve(s, data, actor="system", reason="kept at intake", case_id=3, reference=False)
    assert _stored(vault) == ([row.id], one_copy)
    with store.session() as s:
        assert vault.orphans(s) == [] and len(vault.blobs(s)) == 1
        # a committed file stays when the same session later rolls back other work
        again = vault.preserve(s, data, actor="system", reason="kept at intake", case_id=4, reference=False)
        s.commit()
        vault.preserve(s, png_bytes(9), actor="system", reason="not kept", case_id=5, reference=False)
        s.rollback()
        assert vault.read(s, again.id, actor="lee", role="lead", reason="check") == data
    assert _stored(vault) == (sorted([row.id, again.id]), 2 * one_copy)


def test_preserve_needs_a_reason(store, vault):
    with store.session() as s, s.begin():
        with pytest.raises(VaultError, match="reason"):
            vault.preserve(s, b"x", actor="alice", reason=" ")


def test_only_configured_roles_read_and_every_attempt_is_recorded(store, vault):
    with store.session() as s, s.begin():
        blob_id = vault.preserve(s, b"placeholder evidence", actor="system", reason="policy preserve", case_id=3).id
    with store.session() as s:
        with pytest.raises(VaultAccessDenied, match="moderator"):
            vault.read(s, blob_id, actor="mo", role="moderator", reason="curious")
        s.commit()
    with store.session() as s, s.begin():
        assert vault.read(s, blob_id, actor="ada", role="admin", reason="legal request 12") == b"placeholder evidence"
    with store.session() as s:
        log = [(r.actor, r.action, r.reason, r.case_id) for r in vault.custody(s, blob_id)]
    assert log[0] == ("system", "preserve", "policy preserve", 3)
    assert log[1][:2] == ("mo", "read-denied") and "curious" in log[1][2]
    assert log[2] == ("ada", "read", "legal request 12", 3)


def test_readers_follow_the_one_permission_table(store, tmp_path, clock, monkeypatch):
    """The vault keeps no reader list of its own (BASTION_VAULT_READERS is gone): ``vault.read`` in
    bastion.auth.permissions decides, and setting the old variable changes nothing."""
    from bastion.auth.permissions import ROLES, allowed

    monkeypatch.setenv("BASTION_VAULT_READERS", "reviewer")
    monkeypatch.setenv("BASTION_VAULT_KEYS", f"k1:{K1}")
    monkeypatch.setenv("BASTION_HOME", str(tmp_path / "home"))
    v = Vault.from_settings(clock=clock)
    with store.session() as s, s.begin():
        blob_id = v.preserve(s, b"abc", actor="system", reason="r").id
        for role in ROLES:
            if allowed(role, "vault.read"):
                assert v.read(s, blob_id, actor="x", role=role, reason="r") == b"abc"
            else:
                with pytest.raises(VaultAccessDenied):
                    v.read(s, blob_id, actor="x", role=role, reason="r")
    assert {r for r in ROLES if allowed(r, "vault.read")} == {"admin", "lead"}


def test_tampered_swapped_and_missing_blobs_never_return_bytes(store, vault, tmp_path):
    with store.session() as s, s.begin():
        a = vault.preserve(s, b"first placeholder", actor="system", reason="r").id
        b = vault.preserve(s, b"second placeholder", actor="system", reason="r").id
    folder = tmp_path / "vault"
    pa, pb = folder / f"{a}.blob", folder / f"{b}.blob"
    # swap: b's file copied over a's
    pa.write_bytes(pb.read_bytes())
    with store.session() as s:
        with pytest.raises(VaultIntegrityError):
            vault.read(s, a, actor="l", role="lead", reason="r")
    # tamper: flip one bit of b's ciphertext
    raw = bytearray(pb.read_bytes())
    raw[-5] ^= 0x01
    pb.write_bytes(bytes(raw))
    with store.session() as s:
        with pytest.raises(VaultIntegrityError):
            vault.read(s, b, actor="l", role="lead", reason="r")
        pb.unlink()
        with pytest.raises(UnknownBlob, match="missing"):
            vault.read(s, b, actor="l", role="lead", reason="r")
        with pytest.raises(UnknownBlob):
            vault.read(s, "nosuchblob000", actor="l", role="lead", reason="r")


def test_key_rotation_old_blobs_still_open_and_reseal_moves_them(store, tmp_path, clock):
    storage = LocalFolderStorage(tmp_path / "vault")
    v1 = Vault(keyring=Keyring.parse(f"k1:{K1}"), storage=storage, clock=clock)
    with store.session() as s, s.begin():
        old = v1.preserve(s, b"sealed under k1", actor="system", reason="r").id
    v2 = Vault(keyring=Keyring.parse(f"k1:{K1},k2:{K2}", "k2"), storage=storage, clock=clock)
    with store.session() as s, s.begin():
        new = v2.preserve(s, b"sealed under k2", actor="system", reason="r")
        assert new.key_id == "k2"
        assert v2.read(s, old, actor="l", role="lead", reason="r") == b"sealed under k1"
        assert v2.reseal(s, old, actor="admin").key_id == "k2"
    # k1 retired: the resealed blob opens with k2 alone
    v3 = Vault(keyring=Keyring.parse(f"k2:{K2}"), storage=storage, clock=clock)
    with store.session() as s, s.begin():
        assert v3.read(s, old, actor="l", role="lead", reason="r") == b"sealed under k1"
    # a blob under a key that is no longer configured is a configuration error, not bytes
    v4 = Vault(keyring=Keyring.parse(f"k1:{K1}"), storage=storage, clock=clock)
    with store.session() as s:
        with pytest.raises(VaultKeyError, match="k2"):
            v4.read(s, new.id, actor="l", role="lead", reason="r")


# --- retention -------------------------------------------------------------------------------------


def test_retention_report_extends_hold_keeps_purge_removes_and_logs(store, vault, clock, tmp_path):
    start = clock.now
    with store.session() as s, s.begin():
        unreported = vault.preserve(s, b"kept one year from preservation", actor="system", reason="r", case_id=1).id
        reported = vault.preserve(s, b"kept one year from the report", actor="system", reason="r", case_id=2).id
        held = vault.preserve(s, b"under legal hold", actor="system", reason="r", case_id=3).id
        vault.mark_reported(s, actor="lead", reported_at=start + timedelta(days=30), case_id=2)
        vault.hold(s, held, actor="counsel", reason="preservation letter 44")

    # one day before a year: nothing expires
    clock.now = start + timedelta(days=364)
    with store.session() as s, s.begin():
        assert vault.purge(s, actor="cron") == []

    # a year and a day: the unreported one and (not) the held one; the reported one runs to report + 1 year
    clock.now = start + timedelta(days=366)
    with store.session() as s, s.begin():
        assert [p.id for p in vault.purge(s, actor="cron", dry_run=True)] == [unreported]
        gone = vault.purge(s, actor="cron")
    assert [(p.id, p.case_id, p.file_removed) for p in gone] == [(unreported, 1, True)]
    assert not (tmp_path / "vault" / f"{unreported}.blob").exists()
    with store.session() as s, s.begin():
        assert [r.action for r in vault.custody(s, unreported)][-1] == "purge"
        with pytest.raises(UnknownBlob, match="purged"):
            vault.read(s, unreported, actor="l", role="lead", reason="r")
        assert {r.id for r in vault.blobs(s)} == {reported, held}
        assert unreported in {r.id for r in vault.blobs(s, include_purged=True)}

    clock.now = start + timedelta(days=30 + 366)
    with store.session() as s, s.begin():
        assert [p.id for p in vault.purge(s, actor="cron")] == [reported]
        vault.hold(s, held, actor="counsel", reason="matter closed", on=False)
        assert [p.id for p in vault.purge(s, actor="cron")] == [held]
        assert [r.action for r in vault.custody(s, held)] == ["preserve", "hold", "release", "purge"]


def test_orphan_files_are_found(store, vault):
    vault.storage.put("deadbeefdeadbeef", b"left by a failed transaction")
    with store.session() as s:
        assert vault.orphans(s) == ["deadbeefdeadbeef"]


def test_storage_refuses_names_that_leave_the_folder(tmp_path):
    st = LocalFolderStorage(tmp_path)
    with pytest.raises(VaultError):
        st.put("../../etc/x", b"")


def test_vault_actions_go_to_the_audit_chain(store, vault):
    from bastion.effects import audit

    with store.session() as s, s.begin():
        blob_id = vault.preserve(s, b"audited placeholder", actor="system", reason="policy preserve", case_id=8).id
    with store.session() as s, s.begin():
        vault.read(s, blob_id, actor="lee", role="lead", reason="second review")
    with store.session() as s:
        with pytest.raises(VaultAccessDenied):
            vault.read(s, blob_id, actor="rita", role="reviewer", reason="curious")
        s.commit()
    with store.session() as s:
        entries, _ = audit.list_entries(s, target_type="vault_blob", target_id=blob_id)
        assert [(e["actor"], e["action"]) for e in entries] == [("rita", "vault.read-denied"), ("lee", "vault.read"), ("system", "vault.preserve")]
        assert entries[1]["details"]["reason"] == "second review" and entries[1]["details"]["case_id"] == 8
        assert audit.verify(s).ok
