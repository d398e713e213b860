"""When a case is confirmed, the items stored recently are compared with its images (similar-to-confirmed).

The intake check (:mod:`bastion.cases.similar`) sees only what was confirmed *before* an item arrived. A
series is often posted before anyone has reviewed its first image; so a confirming decision is marked
``pending`` (``decisions.similar_retro``), and this task, run by every ``bastion serve`` process's background
loops (woken on the ``decisions`` channel), claims it for a lease, compares the case's images with every
image stored in the last ``days`` days (their PDQ from ``item_media``, never the media again), and for each
item found adds a ``similar_to_confirmed`` signal to its stored facts, evaluates the policy again and opens or
extends a case if the new verdict needs people (reason ``similar_to_confirmed``). One transaction per chunk of
items; a crash repeats a chunk (a signal already present for the same case and image adds nothing). No
webhook of its own: a case it opens sends ``case.opened`` (``retro_match`` stays for bank matches).

The item's account relation (same / linked / other) is read as it stands at the time of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update

from bastion.cases import similar as sim
from bastion.cases.ingest import CASE_ACTIONS
from bastion.cases.models import AccountRow, CaseItemRow, DecisionRow, ItemMediaRow, ItemRow
from bastion.cases.persist import open_or_extend_case
from bastion.store.db import Store
from bastion.store.schema import utcnow

LEASE_SECONDS = 120
CHUNK = 200
READ = 20_000


@dataclass
class SimilarRetroResult:
    decisions: int = 0
    compared: int = 0  # stored images compared
    windows: int = 0  # confirmed images whose windows were hashed
    items: list[str] = field(default_factory=list)  # items that got a new signal
    cases: set[int] = field(default_factory=set)  # cases opened or extended

    def to_dict(self) -> dict[str, Any]:
        return {"decisions": self.decisions, "compared": self.compared, "windows": self.windows, "items": self.items[:100],
                "cases": sorted(self.cases)}


#: ``decisions.similar_retro`` of a confirming decision whose images only need their windows and layout hashed
#: (queued by migration 0016 for cases confirmed before layouts were kept): no comparison with stored items
LAYOUT_ONLY = "layout"
_TODO = ("pending", LAYOUT_ONLY)


def pending(store: Store) -> int:
    """Confirming decisions waiting for this task (a comparison, or only their layouts hashed)."""
    with store.session() as s:
        return len(s.scalars(select(DecisionRow.id).where(DecisionRow.similar_retro.in_(_TODO))).all())


def _claim(store: Store, lease: float) -> tuple[int, int, str] | None:
    """(decision id, case id, state) of one waiting confirming decision, claimed for ``lease`` seconds."""
    now = utcnow()
    free = or_(DecisionRow.similar_claimed_until.is_(None), DecisionRow.similar_claimed_until < now)
    with store.session() as s, s.begin():
        row = s.execute(select(DecisionRow.id, DecisionRow.case_id, DecisionRow.similar_retro)
                        .where(DecisionRow.similar_retro.in_(_TODO), free)
                        .order_by(DecisionRow.id).limit(1)).first()
        if row is None:
            return None
        got = s.execute(update(DecisionRow).where(DecisionRow.id == row.id, DecisionRow.similar_retro == row.similar_retro,
                                                  free)
                        .values(similar_claimed_until=now + timedelta(seconds=lease)))
        if got.rowcount != 1:
            return None
        return int(row.id), int(row.case_id), str(row.similar_retro)


def run(store: Store, policy, *, radius: int = sim.DEFAULT_RADIUS, days: float = 30.0, holding=None,
        max_decisions: int = 10, lease: float = LEASE_SECONDS) -> SimilarRetroResult:
    """Compare the images of newly confirmed cases with recently stored items. ``holding``: the media holding
    folder (bastion.cases.holding.MediaHolding), to hash the confirmed images' windows from their held bytes
    (None: whole-image PDQ only). ``decisions == 0``: idle."""
    out = SimilarRetroResult()
    for _ in range(max_decisions):
        claimed = _claim(store, lease)
        if claimed is None:
            break
        decision_id, case_id, state = claimed
        if holding is not None:
            out.windows += hash_windows(store, case_id, holding)
        if state != LAYOUT_ONLY:  # compared once already: the comparison (PDQ alone) would find the same items
            _one(store, policy, case_id, radius, days, out)
        with store.session() as s, s.begin():
            s.execute(update(DecisionRow).where(DecisionRow.id == decision_id)
                      .values(similar_retro="done", similar_claimed_until=None))
        out.decisions += 1
    return out


def hash_windows(store: Store, case_id: int, holding) -> int:
    """Hash the :data:`~bastion.cases.similar.WINDOWS` and the colour layout of the case's images whose bytes
    are held, once (kept in ``item_media.result["similar_windows"]`` and ``["similar_layout"]``; an image
    hashed already, or whose bytes are gone, is left as it is — one confirmed before layouts were kept gets
    both now: migration 0016 queued its decision again). The bytes were examined at intake; they are decoded
    here under the decoders' own caps. Returns how many images were hashed."""
    from bastion.errors import BastionError

    with store.session() as s:
        rows = s.execute(select(ItemMediaRow.id, ItemMediaRow.sha256, ItemMediaRow.pdq, ItemMediaRow.result)
                         .join(CaseItemRow, CaseItemRow.item_id == ItemMediaRow.item_id)
                         .where(CaseItemRow.case_id == case_id, ItemMediaRow.pdq.is_not(None))).all()
    done = 0
    for mid, sha, pdq, result in rows:
        if "similar_layout" in (result or {}) or not sha or not holding.exists(sha):
            continue
        try:
            windows, layout = sim.descriptors(holding.get(sha), pdq)
        except (BastionError, OSError, ValueError):
            windows, layout = [], ""  # unreadable now: the whole-image PDQ still serves
        with store.session() as s, s.begin():
            row = s.get(ItemMediaRow, mid)
            row.result = {**(row.result or {}), "similar_windows": windows, "similar_layout": layout}
        done += 1
    return done


def _one(store: Store, policy, case_id: int, radius: int, days: float, out: SimilarRetroResult) -> None:
    with store.session() as s:
        # the case must still be confirmed (a second look may have turned it since the claim)
        if case_id not in set(sim.confirmed_case_ids(s)):
            return
        refs = sim.confirmed_media(s, [case_id], sim.MIN_QUALITY)  # stored items have no layout: PDQ alone
        in_case = set(s.scalars(select(CaseItemRow.item_id).where(CaseItemRow.case_id == case_id)))
    if not refs:
        return
    index, by_id = sim.build_index(refs)
    since = utcnow() - timedelta(days=days)
    # (item id, position, nearest ref, distance) for every recent image within the radius
    found: dict[int, list[tuple[int, sim.Near]]] = {}
    last = 0
    while True:
        with store.session() as s:
            rows = s.execute(
                select(ItemMediaRow.id, ItemMediaRow.item_id, ItemMediaRow.position, ItemMediaRow.pdq, ItemMediaRow.quality)
                .join(ItemRow, ItemRow.id == ItemMediaRow.item_id)
                .where(ItemMediaRow.id > last, ItemMediaRow.pdq.is_not(None), ItemRow.received_at >= since)
                .order_by(ItemMediaRow.id).limit(READ)).all()
        if not rows:
            break
        last = rows[-1][0]
        rows = [r for r in rows if r.item_id not in in_case and (r.quality is None or r.quality >= sim.MIN_QUALITY)]
        if not rows:
            continue
        out.compared += len(rows)
        for r, hits in zip(rows, index.search_many(sim.hash_matrix([r.pdq for r in rows]), radius)):
            if hits:
                mid, d = hits[0]  # nearest first
                found.setdefault(int(r.item_id), []).append((int(r.position), sim.Near(by_id[int(mid)], int(d))))
    ids = sorted(found)
    for i in range(0, len(ids), CHUNK):
        _chunk(store, policy, case_id, {x: found[x] for x in ids[i:i + CHUNK]}, radius, out)


def _chunk(store: Store, policy, case_id: int, found: dict[int, list[tuple[int, sim.Near]]], radius: int,
           out: SimilarRetroResult) -> None:
    from bastion.policy import Facts

    with store.session() as s, s.begin():
        now = utcnow()
        for item_id, hits in sorted(found.items()):
            item = s.get(ItemRow, item_id)
            if item is None:
                continue
            facts = dict(item.facts or {})
            old = list(facts.get("signals") or [])
            have = {((x.get("evidence") or {}).get("case_id"), (x.get("evidence") or {}).get("media"))
                    for x in old if x.get("source") == sim.SOURCE}
            linked = sim.linked_accounts(s, item.account_id)
            added = []
            for position, near in hits:
                if (case_id, position) in have:
                    continue
                rel = sim.relation(item.account_id, linked, near.ref.account_id)
                added.append(sim.similar_signal(near, position, rel, radius, retro=True).to_dict())
            if not added:
                continue
            facts["signals"] = old + added
            verdict = policy.evaluate(Facts.from_dict(facts)).to_dict()
            item.facts, item.verdict, item.action, item.priority = facts, verdict, verdict["action"], verdict["priority"]
            if CASE_ACTIONS & set(verdict["actions"]):
                account = s.get(AccountRow, item.account_id) if item.account_id else None
                case = open_or_extend_case(s, item, account, verdict, added, [], now, reason="similar_to_confirmed")
                item.case_id = case.id
                out.cases.add(case.id)
            out.items.append(item.external_id)
