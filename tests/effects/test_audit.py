"""The hash-chained audit log on SQLite and PostgreSQL: intact chains verify, and every kind of tampering
done directly in SQL is found at the right row."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from bastion.effects import audit
from bastion.errors import AuditError, BastionError, InvalidCursor

T0 = datetime(2026, 12, 2, 12, 0, 0, 123456, tzinfo=timezone.utc)


def fill(store, n: int = 5) -> None:
    with store.session() as s, s.begin():
        for i in range(1, n + 1):
            audit.append(s, "alice" if i % 2 else "bob", "case.decide", "case", i, {"outcome": "confirm", "n": i,
                                                                                    "note": "é ✓"},
                         now=T0.replace(second=i))


def sql(store, statement: str, **params) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def check(store) -> audit.VerifyResult:
    with store.session() as s:
        return audit.verify(s)


def test_intact_chain_verifies(store):
    assert check(store).ok and check(store).checked == 0
    fill(store)
    r = check(store)
    assert r.ok and r.checked == 5 and r.head_id == 5 and len(r.head_hash) == 64
    with store.session() as s:
        rows, _ = audit.list_entries(s, limit=10)
    assert [x["id"] for x in rows] == [5, 4, 3, 2, 1]
    assert rows[-1]["prev_hash"] == "0" * 64 and rows[0]["prev_hash"] == rows[1]["row_hash"]
    assert rows[0]["details"] == {"outcome": "confirm", "n": 5, "note": "é ✓"}
    assert rows[0]["at"] == "2026-12-02T12:00:05.123456Z"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'mallory' WHERE id = 3",
        "UPDATE audit_log SET action = 'case.view' WHERE id = 3",
        "UPDATE audit_log SET target_id = '99' WHERE id = 3",
        ("UPDATE audit_log SET details = :d WHERE id = 3", '{"n":3,"note":"é ✓","outcome":"reject"}'),
        # the same JSON value spelled differently is still a change to the stored text
        ("UPDATE audit_log SET details = :d WHERE id = 3", '{"n": 3, "note": "é ✓", "outcome": "confirm"}'),
        "UPDATE audit_log SET at = (SELECT at FROM audit_log WHERE id = 1) WHERE id = 3",
    ],
)
def test_altered_field_is_found_at_its_row(store, statement):
    fill(store)
    if isinstance(statement, tuple):
        sql(store, statement[0], d=statement[1])
    else:
        sql(store, statement)
    r = check(store)
    assert not r.ok and r.first_bad_id == 3 and r.kind == "altered", r


def test_deleted_middle_row_is_found(store):
    fill(store)
    sql(store, "DELETE FROM audit_log WHERE id = 3")
    r = check(store)
    assert (r.ok, r.first_bad_id, r.kind) == (False, 3, "deleted")
    assert "row 3 deleted" in r.problem


def test_deleted_first_rows_are_found(store):
    fill(store)
    sql(store, "DELETE FROM audit_log WHERE id <= 2")
    r = check(store)
    assert (r.first_bad_id, r.kind) == (1, "deleted") and "rows 1..2" in r.problem


def test_deleted_last_row_is_found_through_the_head(store):
    fill(store)
    sql(store, "DELETE FROM audit_log WHERE id = 5")
    r = check(store)
    assert (r.ok, r.first_bad_id, r.kind) == (False, 5, "truncated")


def test_everything_deleted_is_found(store):
    fill(store)
    sql(store, "DELETE FROM audit_log")
    r = check(store)
    assert (r.ok, r.first_bad_id, r.kind) == (False, 1, "truncated")


def test_reordered_rows_are_found(store):
    fill(store)
    # swap rows 2 and 3 by renumbering them
    sql(store, "UPDATE audit_log SET id = 100 WHERE id = 2")
    sql(store, "UPDATE audit_log SET id = 2 WHERE id = 3")
    sql(store, "UPDATE audit_log SET id = 3 WHERE id = 100")
    r = check(store)
    assert not r.ok and r.first_bad_id == 2, r


def test_rewritten_row_with_recomputed_hash_breaks_the_next_link(store):
    fill(store)
    with store.session() as s:
        row = s.execute(text("SELECT id, at, actor, action, target_type, target_id, details, prev_hash "
                             "FROM audit_log WHERE id = 3")).mappings().one()
    forged = dict(row, actor="mallory")
    from bastion.effects.models import as_utc

    at = row["at"] if not isinstance(row["at"], str) else datetime.fromisoformat(row["at"])
    h = audit.row_hash(**{**forged, "at": as_utc(at)})
    sql(store, "UPDATE audit_log SET actor = 'mallory', row_hash = :h WHERE id = 3", h=h)
    r = check(store)
    assert (r.first_bad_id, r.kind) == (4, "broken-link")


def test_head_hash_mismatch_and_missing_head(store):
    fill(store, 3)
    sql(store, "UPDATE audit_head SET row_hash = :h", h="f" * 64)
    assert (check(store).first_bad_id, check(store).kind) == (3, "altered")
    sql(store, "DELETE FROM audit_head")
    assert check(store).kind == "head-missing"
    with store.session() as s, s.begin(), pytest.raises(AuditError):
        audit.append(s, "alice", "x", "y")


def test_rolled_back_append_leaves_no_gap(store):
    fill(store, 2)
    with store.session() as s:
        s.begin()
        audit.append(s, "alice", "token.create", "token", "t1")
        s.rollback()
    with store.session() as s, s.begin():
        e = audit.append(s, "alice", "token.create", "token", "t1")
    assert e.id == 3
    assert check(store).ok and check(store).checked == 3


def test_concurrent_appenders_keep_one_chain(store):
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(8):
                with store.session() as s, s.begin():
                    audit.append(s, f"w{k}", "bank.add", "bank", f"{k}-{i}", {"i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    r = check(store)
    assert r.ok and r.checked == 32 and r.head_id == 32


def test_list_pages_with_a_cursor_and_filters(store):
    fill(store, 7)
    with store.session() as s:
        page1, cur = audit.list_entries(s, limit=3)
        page2, cur2 = audit.list_entries(s, limit=3, cursor=cur)
        page3, cur3 = audit.list_entries(s, limit=3, cursor=cur2)
        assert [r["id"] for r in page1 + page2 + page3] == [7, 6, 5, 4, 3, 2, 1] and cur3 is None
        bob, _ = audit.list_entries(s, actor="bob")
        assert [r["id"] for r in bob] == [6, 4, 2]
        assert [r["id"] for r in audit.list_entries(s, target_type="case", target_id=5)[0]] == [5]
        with pytest.raises(InvalidCursor):
            audit.list_entries(s, cursor="abc")


def test_details_must_be_json(store):
    with store.session() as s, s.begin(), pytest.raises(BastionError):
        audit.append(s, "alice", "x", "y", details={"bad": object()})
    with store.session() as s, s.begin(), pytest.raises(BastionError):
        audit.append(s, "alice", "x", "y", details={"bad": float("nan")})


def test_actor_names():
    class User:
        name = "carol"

    assert audit.actor_name(User()) == "carol"
    assert audit.actor_name(None) == "system"
    assert audit.actor_name("cli:root") == "cli:root"


@pytest.mark.parametrize("forged_id", [0, -7])
def test_a_row_forged_below_the_chain_is_not_genuine(store, forged_id):
    """A row inserted by hand with id <= 0 (with a self-consistent hash) used to be skipped by the walk, so
    `audit verify` called the chain intact with the forgery listed beside it."""
    fill(store)
    at = T0.replace(second=59)
    h = audit.row_hash(id=forged_id, at=at, actor="mallory", action="case.decide", target_type="case",
                       target_id="1", details={"outcome": "clear"}, prev_hash=audit.GENESIS_HASH)
    sql(store, "INSERT INTO audit_log (id, at, actor, action, target_type, target_id, details, prev_hash, row_hash) "
               "VALUES (:id, :at, 'mallory', 'case.decide', 'case', '1', :d, :p, :h)",
        id=forged_id, at=at, d='{"outcome": "clear"}', p=audit.GENESIS_HASH, h=h)
    r = check(store)
    assert not r.ok and (r.first_bad_id, r.kind) == (forged_id, "extra"), r
