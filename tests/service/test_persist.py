"""The item path's commit half (cases/persist.py): a group of items is stored with a few multi-row statements
instead of a few statements each, and stores exactly what the one-by-one path stored — counters, cases,
links, answers — on SQLite and PostgreSQL, including many threads at once (group commit)."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import event, func, select

from bastion.cases.holding import MediaHolding
from bastion.cases.ingest import Service, request_digest
from bastion.cases.models import AccountRow, CaseItemRow, CaseRow, ItemRow
from bastion.cases.persist import persist_group
from bastion.cases.schemas import ItemIn
from bastion.errors import Conflict
from bastion.policy import default_policy

FLAGGED = {"title": "teen nsfw", "body": "placeholder"}  # minor + sexual indicator: review, opens a case
PLAIN = {"title": "sketch dump", "body": "placeholder text"}


def _svc(store, tmp_path) -> Service:
    return Service(store, None, default_policy(), MediaHolding(tmp_path / "holding"))


def _item(i: str, account: str | None, flagged: bool) -> ItemIn:
    d = {"id": i, **(FLAGGED if flagged else PLAIN)}
    if account:
        d["account"] = {"id": account}
    return ItemIn.model_validate(d)


def _count_statements(store):
    seen: list[str] = []

    def on(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(store.engine, "before_cursor_execute", on)
    return seen, lambda: event.remove(store.engine, "before_cursor_execute", on)


def _intakes(svc, items):
    return [svc.intake(it, None, request_digest(it, []), svc.scan(it, [], None)) for it in items]


def test_a_group_takes_a_few_statements_not_a_few_per_item(store, tmp_path):
    svc = _svc(store, tmp_path)
    for a in ("a1", "a2", "a3"):  # the accounts exist and each has an open case
        svc.submit(_item(f"warm-{a}", a, True))
    small = _intakes(svc, [_item(f"s{i}", f"a{i % 3 + 1}", False) for i in range(3)])
    plain = _intakes(svc, [_item(f"p{i}", f"a{i % 3 + 1}", False) for i in range(12)])
    flagged = _intakes(svc, [_item(f"f{i}", f"a{i % 2 + 1}", True) for i in range(6)])
    seen, stop = _count_statements(store)
    try:
        with store.session() as s, s.begin():
            persist_group(s, small)
        small_statements = len(seen)
        seen.clear()
        with store.session() as s, s.begin():
            persist_group(s, plain)
        plain_statements = len(seen)
        seen.clear()
        with store.session() as s, s.begin():
            answers = persist_group(s, flagged)
        flagged_statements = len(seen)
    finally:
        stop()
    # accounts read, items insert, term counts (item_terms, term_counts, term_items), accounts update, and at
    # most the webhook subscription check: the same for 12 items as for 3 (one by one: 7 and more per item)
    assert plain_statements <= small_statements + 1 and plain_statements <= 8, (small_statements, plain_statements)
    # 6 items joining 2 open cases: + open cases read, case links insert, cases update
    assert flagged_statements <= plain_statements + 4, (plain_statements, flagged_statements)
    with store.session() as s:
        cases = {c.account_id: c for c in s.scalars(select(CaseRow))}
        accounts = {a.external_id: a for a in s.scalars(select(AccountRow))}
        assert len(cases) == 3  # the items joined their accounts' open cases
        for ans in answers:
            row = s.scalar(select(ItemRow).where(ItemRow.external_id == ans["item_id"]))
            assert row.case_id == ans["case_id"] == cases[row.account_id].id
            assert s.scalar(select(func.count()).select_from(CaseItemRow).where(
                CaseItemRow.case_id == row.case_id, CaseItemRow.item_id == row.id)) == 1
        assert accounts["a1"].item_count == 1 + 1 + 4 + 3 and accounts["a1"].flagged_count == 1 + 3
        assert accounts["a3"].item_count == 1 + 1 + 4 and accounts["a3"].flagged_count == 1
        assert 0 < accounts["a1"].risk_score < 1


def test_many_threads_store_exactly_what_they_were_told(store, tmp_path):
    """Group commit under contention: every acknowledged item stored once, counters and cases right, a
    retry answered from the store and a different body under a used id refused."""
    svc = _svc(store, tmp_path)
    items = [_item(f"t{i}", f"acc{i % 5}" if i % 7 else None, i % 3 == 0) for i in range(60)]
    answers: dict[str, dict] = {}
    errors: list[BaseException] = []
    todo = list(items) + [items[0], items[1]]  # two retries in the crowd
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                it = todo.pop()
            try:
                a = svc.submit(it)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
                continue
            with lock:
                if it.id in answers:
                    assert answers[it.id] == a  # a retry gets the stored answer
                answers[it.id] = a

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    svc.writer.close()
    assert not errors, errors
    assert len(answers) == 60
    try:
        svc.submit(ItemIn.model_validate({"id": "t5", "title": "other"}))
        raise AssertionError("a different body under a used id was accepted")
    except Conflict:
        pass
    expected = Counter(it.account.id for it in items if it.account)
    flagged = Counter(it.account.id for it in items if it.account and answers[it.id]["verdict"]["action"] != "allow")
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(ItemRow)) == 60
        for a in s.scalars(select(AccountRow)):
            assert (a.item_count, a.flagged_count) == (expected[a.external_id], flagged[a.external_id])
        opened = s.scalars(select(CaseRow)).all()
        by_account = Counter(c.account_id for c in opened if c.account_id is not None)
        assert all(n == 1 for n in by_account.values())  # one open case per account, never two
        for it in items:
            row = s.scalar(select(ItemRow).where(ItemRow.external_id == it.id))
            assert row.case_id == answers[it.id]["case_id"]
            assert (row.case_id is not None) == (answers[it.id]["verdict"]["action"] != "allow")
        linked = s.scalar(select(func.count()).select_from(CaseItemRow))
        assert linked == sum(1 for it in items if answers[it.id]["case_id"] is not None)
