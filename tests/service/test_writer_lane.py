"""Items without files go to the writer whole (Service.submit_async -> GroupCommitter.prepare_async): their
group's reads are shared, and the guarantees hold as on the per-item path — one row per id, a retry gets the
stored answer, a different body under a known id is a conflict, even when they arrive in the same group."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import event, func, select

from bastion.cases.models import ItemRow
from bastion.cases.schemas import ItemIn
from bastion.errors import Conflict

from svc_helpers import make_api


@pytest.fixture
def svc(database_url, tmp_path):
    api = make_api(database_url, tmp_path / "home")
    yield api.app.state.service
    api.app.state.service.writer.close()
    api.app.state.store.close()


def _run(coro):
    """``asyncio.run`` in a thread of its own: it refuses to start where a loop already runs in this thread."""
    box = {}

    def main():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - raised in the test's thread
            box["error"] = exc

    t = threading.Thread(target=main)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _item(i, body="placeholder text", account="acc-1"):
    return ItemIn.model_validate({"id": f"w-{i}", "body": body, "account": {"id": account}})


def test_same_id_in_one_group_is_stored_once(svc):
    async def go():
        return await asyncio.gather(svc.submit_async(_item(1)), svc.submit_async(_item(1)),
                                    svc.submit_async(_item(1, body="other")), svc.submit_async(_item(2)),
                                    return_exceptions=True)

    a, b, c, d = _run(go())
    assert isinstance(a, dict) and a == b and a["item_id"] == "w-1"
    assert isinstance(c, Conflict)
    assert isinstance(d, dict) and d["item_id"] == "w-2"
    with svc.store.session() as s:
        assert s.scalar(select(func.count()).select_from(ItemRow).where(ItemRow.external_id == "w-1")) == 1
    again = _run(svc.submit_async(_item(1)))  # a later retry: the stored answer
    assert again == a


def test_a_group_reads_once_for_all_its_items(svc):
    reads = []

    def count(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM items" in statement and "external_id IN" in statement:
            reads.append(statement)

    event.listen(svc.store.engine, "before_cursor_execute", count)
    try:
        async def go():
            return await asyncio.gather(*(svc.submit_async(_item(i, account=f"acc-{i % 3}")) for i in range(40)))

        answers = _run(go())
    finally:
        event.remove(svc.store.engine, "before_cursor_execute", count)
    assert sorted(a["item_id"] for a in answers) == sorted(f"w-{i}" for i in range(40))
    assert 1 <= len(reads) < 40 / 4, f"{len(reads)} reads of stored answers for 40 items"
    with svc.store.session() as s:
        assert s.scalar(select(func.count()).select_from(ItemRow)) == 40
