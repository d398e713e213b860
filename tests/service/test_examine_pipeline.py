"""The one examine pipeline (issue 19): files examined in worker processes under hard deadlines from any
thread; a hostile item costs one worker's deadline while the server keeps answering; videos go through the
service like images and retro-matching finds them. Benign generated images and videos only."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

import svc_helpers
from bastion.examine import Examiner, Limits, MediaOverBudget, WorkerCrashed, WorkerPool, WorkerTimeout
from svc_helpers import b64, gradient_png, png_bytes


def _videos():
    """tests/archive/videos.py: benign generated clips (a sample photo panning under a moving square)."""
    spec = importlib.util.spec_from_file_location("archive_videos", Path(__file__).parents[1] / "archive" / "videos.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --- the worker pool ---------------------------------------------------------------------------------


def test_a_worker_over_its_deadline_is_killed_and_replaced_while_the_others_answer():
    with WorkerPool(2) as pool:
        pool.start()
        assert pool.run(svc_helpers.echo, "warm", deadline=60)[0] == "warm"
        out: dict[str, object] = {}

        def hostile():
            t0 = time.monotonic()
            try:
                pool.run(svc_helpers.stuck_for, 3600, deadline=2.0)
            except WorkerTimeout:
                out["stopped_after"] = time.monotonic() - t0

        t = threading.Thread(target=hostile)
        t.start()
        time.sleep(0.2)
        # meanwhile the other worker answers every call
        assert [pool.run(svc_helpers.echo, i, deadline=30)[0] for i in range(5)] == list(range(5))
        t.join(60)
        assert 2.0 <= out["stopped_after"] < 10
        assert pool.killed == 1
        # the killed worker was replaced: two calls at once still run on two live workers
        got = []
        both = [threading.Thread(target=lambda i=i: got.append(pool.run(svc_helpers.echo, i, deadline=60)[0])) for i in range(2)]
        for b in both:
            b.start()
        for b in both:
            b.join(60)
        assert sorted(got) == [0, 1]


def test_a_worker_that_dies_is_reported_and_replaced():
    with WorkerPool(1) as pool:
        with pytest.raises(WorkerCrashed):
            pool.run(svc_helpers.die, deadline=60)
        assert pool.crashed == 1
        assert pool.run(svc_helpers.echo, "after", deadline=60)[0] == "after"


def test_close_stops_a_busy_worker_too_after_a_bounded_wait():
    """A worker still running a task when its pool closes gets ``wait`` seconds, then is killed: no examine
    process outlives close(), and the caller is told its worker died (a server's shutdown, a test's end)."""
    pool = WorkerPool(2)
    pool.start()
    assert pool.run(svc_helpers.echo, "warm", deadline=60)[0] == "warm"
    procs = [w.proc for w in pool._idle]
    out: dict[str, object] = {}

    def hostile():
        try:
            pool.run(svc_helpers.stuck_for, 3600, deadline=600)
        except WorkerCrashed as exc:
            out["crashed"] = str(exc)

    t = threading.Thread(target=hostile)
    t.start()
    deadline = time.monotonic() + 30
    while not pool._busy and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    pool.close(wait=0.5)
    closed_in = time.monotonic() - t0
    t.join(30)
    assert not t.is_alive() and "crashed" in out
    assert not any(p.is_alive() for p in procs)
    assert 0.5 <= closed_in < 15
    with pytest.raises(WorkerCrashed, match="closed"):
        pool.run(svc_helpers.echo, "after", deadline=5)


def test_the_soft_budget_holds_in_a_thread_that_is_not_the_main_one(monkeypatch):
    """Service requests and Dask tasks run in threads, where SIGALRM never arrives."""
    import bastion.scan as scan

    def endless(*_a, **_k):
        while True:  # stands in for a decoder stage that never finishes (pure Python: interruptible)
            sum(range(1000))

    monkeypatch.setattr(scan, "decode_rgb", endless)
    got = {}

    def work():
        t0 = time.monotonic()
        got["res"] = scan.examine_bytes("slow.png", png_bytes(1), time_budget=1.0)
        got["seconds"] = time.monotonic() - t0

    t = threading.Thread(target=work)
    t.start()
    t.join(30)
    assert not t.is_alive()
    assert [e["code"] for e in got["res"].errors] == ["time-budget"]
    assert got["res"].sha256  # what was learnt before the stop is kept
    assert got["seconds"] < 10


def test_an_item_over_its_budget_is_refused_not_judged():
    pool = WorkerPool(1)
    strict = Examiner(limits=Limits(file_seconds=0.05, item_seconds=30), pool=pool)
    try:
        big = gradient_png(6000, 6000)  # 36 MP: well over 50 ms to decode on any machine
        with pytest.raises(MediaOverBudget) as e:
            strict.examine_item([("big.png", big)], [("title", "a landscape")])
        assert e.value.code == "time-budget" and "media[0] (big.png)" in str(e.value)
        # the same worker pool goes on examining ordinary files
        ok = Examiner(pool=pool).examine_item([("ok.png", png_bytes(2))])
        assert len(ok.media) == 1 and ok.media[0].pdq and not ok.media[0].errors
    finally:
        pool.close()


# --- the service -------------------------------------------------------------------------------------


def _server(home, database_url, **settings):
    import uvicorn

    from bastion.api import ServeSettings, create_app
    from bastion.auth import service as auth

    app = create_app(ServeSettings(home=home, database_url=database_url, background=False, json_logs=False, **settings))
    with app.state.store.session() as s, s.begin():
        auth.create_user(s, "platform", "integration")
        token = auth.create_token(s, "platform", "test")[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return app, server, thread, f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}


@pytest.fixture
def live(database_url, tmp_path):
    started = []

    def start(**settings):
        got = _server(tmp_path / "home", database_url, **settings)
        started.append(got)
        return got

    yield start
    for app, server, thread, _, _ in started:
        server.should_exit = True
        thread.join(30)
        app.state.store.close()


def _item(item_id: str, name: str, data: bytes) -> dict:
    return {"id": item_id, "media": [{"filename": name, "data": b64(data)}]}


@pytest.mark.parametrize("kind", ["decode over the budget", "stuck where no signal reaches"])
def test_a_hostile_item_gets_a_problem_within_its_deadline_while_the_server_answers_others(live, kind):
    item_seconds = 4.0
    app, _, _, url, auth = live(examine_workers=2, examine_file_seconds=0.05 if kind.startswith("decode") else 30,
                                examine_item_seconds=item_seconds)
    if kind.startswith("stuck"):
        app.state.service.examiner.examine = svc_helpers.stuck_examine
        hostile = _item("h-1", "stuck.png", png_bytes(5))
        other = lambda n: _item(f"ok-{n}", "ok.png", png_bytes(100 + n))  # noqa: E731 - images, on the other worker
    else:
        hostile = _item("h-1", "big.png", gradient_png(6000, 6000))
        # a 50 ms file budget would stop ordinary images too on a loaded machine: the others are texts
        other = lambda n: {"id": f"ok-{n}", "title": "a landscape study"}  # noqa: E731
    with httpx.Client(base_url=url, headers=auth, timeout=60) as c:
        if kind.startswith("stuck"):
            assert c.post("/v1/items", json=_item("warm", "w.png", png_bytes(6))).status_code == 200  # workers ready
        got = {}

        def send():
            t0 = time.monotonic()
            with httpx.Client(base_url=url, headers=auth, timeout=60) as c2:
                got["r"] = c2.post("/v1/items", json=hostile)
            got["seconds"] = time.monotonic() - t0

        t = threading.Thread(target=send)
        t.start()
        time.sleep(0.05)
        others = []
        # at least one other request even when a quiet machine refuses the hostile decode within the sleep
        while (t.is_alive() or not others) and len(others) < 50:
            t0 = time.monotonic()
            assert c.get("/healthz").status_code == 200
            r = c.post("/v1/items", json=other(len(others)))
            assert r.status_code == 200, r.text
            others.append(time.monotonic() - t0)
        t.join(60)
    r = got["r"]
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith("/time-budget") and "media[0]" in problem["detail"]
    assert got["seconds"] < item_seconds + 3  # the item deadline, with room for a loaded machine
    assert others, "no other request was answered while the hostile item was examined"
    assert max(others) < item_seconds  # none of them waited for the hostile item
    if kind.startswith("stuck"):  # the worker was killed at the deadline, and the operator can see it
        assert 'bastion_examine_workers_stopped_total{reason="deadline"} 1.0' in app.state.metrics.render().decode()
    with app.state.store.session() as s:
        from bastion.cases.models import ItemRow

        assert s.scalar(select(ItemRow.id).where(ItemRow.external_id == "h-1")) is None  # refused: nothing stored


@pytest.fixture(scope="module")
def clips():
    v = _videos()
    original = v.encode(v.scene_frames(6, fps=8, size=(256, 192)), fps=8)
    return {
        "original": original,
        "reencoded": v.reencode(original, container="webm", fps=8),
        "unrelated": v.encode(v.scene_frames(6, fps=8, size=(256, 192), seed=7, photo="coffee"), fps=8),
    }


def _vpdq_bank(store, name: str, clip: bytes, label: str, category: str = "csam") -> None:
    from bastion.banks.repo import BankRepository
    from bastion.media.video import vpdq_hash
    from bastion.model import Bank, HashEntry

    repo = BankRepository(store)
    repo.create(Bank(name=name, category=category))
    repo.add_entries(name, [HashEntry("vpdq", vpdq_hash(clip).signal, label)])


def test_a_video_item_gets_vpdq_hashes_and_matches_the_banked_clip_reencoded(api, clips):
    _vpdq_bank(api.store, "videos", clips["original"], "clip-1")
    api.app.state.service.matcher.refresh()  # the live index picks up the new vPDQ entry
    # base64 JSON
    r = api.submit(_item("v-1", "copy.webm", clips["reencoded"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"]["action"] == "remove"
    ev = [s["evidence"] for s in body["signals"] if s["source"] == "hash"]
    assert len(ev) == 1 and ev[0]["hash_type"] == "vpdq" and ev[0]["label"] == "clip-1" and ev[0]["media"] == 0
    assert ev[0]["query_match_percent"] >= 80
    # multipart, the same way as an image
    import json

    r = api.client.post("/v1/items", headers=api.h(), data={"item": json.dumps({"id": "v-2"})},
                        files={"clip": ("copy.webm", clips["reencoded"], "video/webm")})
    assert r.status_code == 200 and r.json()["verdict"]["action"] == "remove"
    # an unrelated clip is examined (its frames stored) and allowed
    r = api.submit(_item("v-3", "other.mp4", clips["unrelated"]))
    assert r.status_code == 200 and r.json()["verdict"]["action"] == "allow"
    from bastion.cases.models import ItemMediaRow, ItemRow

    with api.store.session() as s:
        m = s.scalar(select(ItemMediaRow).join(ItemRow).where(ItemRow.external_id == "v-3"))
    assert m.media_format == "mp4" and m.pdq is None and len(m.result["video"]["vpdq"]) >= 5


def test_retro_matching_finds_a_video_stored_before_its_hash_was_added(api, clips):
    from bastion.cases import retro

    assert api.submit(_item("old-v", "holiday.webm", clips["reencoded"])).json()["verdict"]["action"] == "allow"
    assert api.submit(_item("old-u", "other.mp4", clips["unrelated"])).json()["verdict"]["action"] == "allow"
    _vpdq_bank(api.store, "late-videos", clips["original"], "clip-late")
    out = retro.run(api.store, api.app.state.service.policy)
    assert [(m["item_id"], m["hash_type"], m["label"]) for m in out.matches] == [("old-v", "vpdq", "clip-late")]
    item = api.client.get("/v1/items/old-v", headers=api.h()).json()
    assert item["verdict"]["action"] == "remove" and item["case_id"] is not None
    assert api.client.get("/v1/items/old-u", headers=api.h()).json()["case_id"] is None
    # idempotent: a second run adds nothing
    assert retro.run(api.store, api.app.state.service.policy).matches == []


def test_a_worker_over_its_memory_cap_fails_its_task_and_the_pool_goes_on():
    from bastion.examine import WorkerFailed

    with WorkerPool(1, memory_bytes=2 * 1024**3) as pool:  # a worker maps ~0.5 GB of libraries to start with
        with pytest.raises(WorkerFailed, match="MemoryError"):
            pool.run(svc_helpers.allocate, 3 * 1024**3, deadline=60)
        assert pool.run(svc_helpers.allocate, 64 * 1024**2, deadline=60)[0] == 64 * 1024**2
