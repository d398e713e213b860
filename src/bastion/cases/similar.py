"""Likeness to confirmed material: an image whose PDQ is near the media of a reviewer-confirmed case.

A generator run from one prompt and seed makes a *series*: the same scene with shapes shifted, colours
changed, the frame re-cropped. A bank match needs ≤ 31 bits; the rest of the series lies further out, and no
bank holds it. This module keeps an index of the PDQ hashes of every case whose latest decision confirms it
(the same reading as the confirmed-hash export, ``bastion.reports.from_cases.confirmed_media``) and says,
for an image, which confirmed cases' media lie within a wider radius (default :data:`DEFAULT_RADIUS` bits),
or within :data:`LAYOUT_RADIUS` bits with a coarse colour layout near theirs (the second look: a series keeps
its palette and where it sits; docs/similar.md says what was measured).

What it gives is a ``similar-to-confirmed`` signal (``source: similarity``, category
``similar_to_confirmed``) with its evidence — the distance, the confirmed case, and whether the item's
account is that case's account, linked to it, or neither. It is **never a match**: its source is not
``hash``, so nothing that reads bank matches (verdict rules on ``hash_match``, the confirmed-hash bank and
partner lists, NCMEC reports) ever sees it, and it carries no hash of the confirmed media. The shipped policy
only raises priority with it, and opens a review case when the account ties the image to the confirmed
case (docs/similar.md).

Where it runs: at intake in the service (``Service.scan``, the index kept current within
``refresh_seconds`` of a decision in any process) and, when a case is confirmed, over recently stored items
(:mod:`bastion.cases.similar_retro`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
from sqlalchemy import func, select

from bastion.cases.models import AccountLinkRow, AccountRow, CaseItemRow, CaseRow, DecisionRow, ItemMediaRow, ItemRow
from bastion.media.windows import MIN_QUALITY as _WINDOW_MIN_QUALITY
from bastion.media.windows import WINDOWS
from bastion.model import Signal

__all__ = ["CATEGORY", "DEFAULT_RADIUS", "LAYOUT_MAX_DISTANCE", "LAYOUT_MIN_QUALITY", "LAYOUT_RADIUS", "MIN_QUALITY",
           "SOURCE", "ConfirmedIndex", "ConfirmedRef", "Near", "relation", "similar_signal"]

SOURCE = "similarity"
CATEGORY = "similar_to_confirmed"
#: Bits. A bank match is ≤ 31. On the benign-series benchmark (bench/bench_similar.py, bench/RESULTS.md;
#: 300 confirmed images, windows on both sides, quality ≥ 50) 76 found 80 % of series members and surfaced
#: 0.33 % of 1,200 unrelated images; 80 found 83 % at 0.92 %. False positives grow with the confirmed set.
DEFAULT_RADIUS = 76
#: Bits: the second look. A candidate beyond :data:`DEFAULT_RADIUS` but within this many bits (whole image or
#: windows) counts when the two pictures' coarse colour layouts (``bastion.media.windows.layout_of``) lie within
#: :data:`LAYOUT_MAX_DISTANCE`. Chosen on the benchmark's first set of series (bench/bench_similar.py), then
#: checked on a held-out set made from other seeds and the other sample photos: 96.2 % / 0.50 % and
#: 94.8 % / 0.42 % of series members found / unrelated images surfaced, against 80 % / 0.33 % by PDQ alone.
LAYOUT_RADIUS = 90
#: mean per-cell RGB distance (8-bit units) of two layouts that still counts as "the same layout"
LAYOUT_MAX_DISTANCE = 40.0
#: PDQ quality below this (flat or nearly blank images) makes distances meaningless; such hashes are
#: neither indexed nor queried (``bastion.media.windows.MIN_QUALITY``).
MIN_QUALITY = _WINDOW_MIN_QUALITY
#: A whole-image hash of quality from this up to :data:`MIN_QUALITY` (smooth pictures, which generators often
#: make) is compared too, but never counts on PDQ alone: only through the layout check.
LAYOUT_MIN_QUALITY = 35
#: at most this many confirmed cases are cited per image (the nearest)
MAX_CASES_PER_IMAGE = 5
ACCOUNT_RELATIONS = ("same", "linked", "other")
#: :data:`WINDOWS` (``bastion.media.windows``): sub-windows of an image hashed beside its whole PDQ — for a
#: confirmed image from its held bytes when its case is confirmed (kept in
#: ``item_media.result["similar_windows"]``), for a new upload in the examine worker (``FileResult.windows``).
#: A series re-framed or re-cropped lies near one of them.
#: ids in the index: item_media id × this + 0 (the whole image) or 1 + the window's number
_SLOTS = 16


@dataclass(frozen=True, slots=True)
class ConfirmedRef:
    """One indexed file of a confirmed case."""

    media_id: int
    case_id: int
    account_id: int | None  # the case's account (accounts.id), None for a case without one
    item_id: int
    item_external_id: str
    position: int
    quality: int | None = None  # the whole-image PDQ's
    layout: str | None = None  # bastion.media.windows.layout_of, once hashed at confirmation


@dataclass(frozen=True, slots=True)
class Near:
    """A confirmed file within the radius of a query image (``layout``: the layouts' distance when the second
    look let it count, None when PDQ alone did)."""

    ref: ConfirmedRef
    distance: int
    layout: float | None = None


def hash_matrix(hexes: Sequence[str]) -> np.ndarray:
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, 32)


def window_hashes(data: bytes, whole: str | None = None) -> list[str]:
    """The :data:`WINDOWS` hashes of an encoded image, from the decode an upload gets at intake (so they
    compare like with like with a new upload's), low-quality windows and ones equal to ``whole`` left out."""
    return descriptors(data, whole)[0]


def descriptors(data: bytes, whole: str | None = None) -> tuple[list[str], str]:
    """(:data:`WINDOWS` hashes, colour layout) of an encoded image, from the decode an upload gets at intake
    when the likeness check is on (``bastion.scan``: colour, possibly reduced), so they compare like with like
    with a new upload's."""
    from bastion.media.decode import DEFAULT_LIMITS, decode_rgb
    from bastion.media.hashing import PDQ_QUERY_MIN_SIDE
    from bastion.media.windows import layout_of, windows_of

    decoded = decode_rgb(data, limits=DEFAULT_LIMITS, min_side=PDQ_QUERY_MIN_SIDE, luma_when_reduced=False)
    return (windows_of(decoded.image, (decoded.width, decoded.height), min_quality=MIN_QUALITY, whole=whole),
            layout_of(decoded.image))


def build_index(refs: list[tuple[ConfirmedRef, Sequence[str]]]):
    """(PdqIndex, {index id: reference}) of confirmed files, each under its whole-image PDQ and its window
    hashes; (None, {}) for none. ``refs``: (reference, [PDQ hex, window hex, ...])."""
    from bastion.banks.index import PdqIndex

    ids: list[int] = []
    hexes: list[str] = []
    by_id: dict[int, ConfirmedRef] = {}
    for ref, hashes in refs:
        for k, h in enumerate(list(hashes)[:_SLOTS]):
            ident = ref.media_id * _SLOTS + k
            ids.append(ident)
            hexes.append(h)
            by_id[ident] = ref
    if not ids:
        return None, {}
    return PdqIndex.from_arrays(np.asarray(ids, dtype=np.int64), hash_matrix(hexes)), by_id


def confirmed_case_ids(s) -> list[int]:
    """Cases whose latest decision confirms them and is not waiting for a second look."""
    latest = select(DecisionRow.case_id, func.max(DecisionRow.id).label("d")).group_by(DecisionRow.case_id).subquery()
    rows = s.execute(select(DecisionRow.case_id, DecisionRow.outcome, DecisionRow.needs_second_look)
                     .join(latest, DecisionRow.id == latest.c.d)).all()
    return sorted(cid for cid, outcome, second in rows if outcome == "confirm" and not second)


def confirmed_media(s, case_ids: Iterable[int], min_quality: int = LAYOUT_MIN_QUALITY) -> list[tuple[ConfirmedRef, list[str]]]:
    """(reference, [PDQ hex, its window hashes...]) of every image of the given cases with a usable PDQ (one
    under :data:`MIN_QUALITY` counts only through its layout: ``ConfirmedIndex.search``)."""
    out: list[tuple[ConfirmedRef, list[str]]] = []
    ids = list(case_ids)
    for i in range(0, len(ids), 500):
        q = (select(ItemMediaRow.id, ItemMediaRow.pdq, ItemMediaRow.quality, ItemMediaRow.position, CaseRow.id,
                    CaseRow.account_id, ItemRow.id, ItemRow.external_id, ItemMediaRow.result)
             .join(ItemRow, ItemRow.id == ItemMediaRow.item_id)
             .join(CaseItemRow, CaseItemRow.item_id == ItemRow.id)
             .join(CaseRow, CaseRow.id == CaseItemRow.case_id)
             .where(CaseRow.id.in_(ids[i:i + 500]), ItemMediaRow.pdq.is_not(None)))
        for mid, pdq, quality, pos, cid, account, iid, ext, result in s.execute(q):
            if quality is not None and quality < min_quality:
                continue
            windows = (result or {}).get("similar_windows") or []
            layout = (result or {}).get("similar_layout")
            out.append((ConfirmedRef(mid, cid, account, iid, ext, pos, quality,
                                     layout if isinstance(layout, str) and layout else None),
                        [pdq, *(w for w in windows if isinstance(w, str) and len(w) == 64)]))
    return out


class ConfirmedIndex:
    """The PDQ hashes of every confirmed case's images, searched at ``radius`` bits.

    Rebuilt whole when the decisions table changed (a new decision in any process: its largest id and row
    count are compared, at most once per ``refresh_seconds`` on the intake path). Confirmed media are few —
    what reviewers confirmed — so a rebuild is one query and an index build of that many rows; the search
    uses the bank index's compiled kernel (``bastion.banks.index.PdqIndex``), exact at any radius. Each image
    is indexed under its whole-image PDQ and its :data:`WINDOWS` (once they were hashed, at confirmation).
    Thread-safe: a search sees one consistent build.

    Two looks: within ``radius`` bits PDQ alone counts (both whole-image qualities ≥ :data:`MIN_QUALITY`);
    beyond it, up to ``layout_radius``, or for a smooth picture (quality ≥ ``min_quality``, under
    :data:`MIN_QUALITY`), a candidate counts only when both images' colour layouts are known and lie within
    ``layout_max`` (:data:`LAYOUT_MAX_DISTANCE`). ``layout_radius`` 0 (or ≤ ``radius``): PDQ alone."""

    def __init__(self, store, *, radius: int = DEFAULT_RADIUS, refresh_seconds: float = 2.0,
                 min_quality: int = LAYOUT_MIN_QUALITY, layout_radius: int = LAYOUT_RADIUS,
                 layout_max: float = LAYOUT_MAX_DISTANCE):
        if not 0 <= radius <= 256:
            raise ValueError(f"radius must be 0..256 bits, got {radius}")
        if not 0 <= layout_radius <= 256:
            raise ValueError(f"layout_radius must be 0..256 bits, got {layout_radius}")
        self.store = store
        self.radius = radius
        self.layout_radius = layout_radius if layout_radius > radius else 0
        self.layout_max = layout_max
        self.refresh_seconds = refresh_seconds
        self.min_quality = min_quality
        self._lock = threading.Lock()
        self._state: tuple | None = None
        self._checked = 0.0
        self._seen_fired = 0
        self._built: tuple[Any, dict[int, ConfirmedRef]] | None = None
        self.builds = 0

    def __len__(self) -> int:
        built = self._built
        return 0 if built is None or built[0] is None else len(built[1])

    def refresh(self, force: bool = False) -> int:
        """Rebuild if any decision was recorded since the last build. Returns 1 when it rebuilt after a change,
        else 0 (a background task's unit of work; the first build at start is not counted)."""
        with self._lock:
            with self.store.session() as s:
                # a new decision, or a confirmed case's windows hashed (similar_retro marks it done after)
                done = select(func.count(DecisionRow.id)).where(DecisionRow.similar_retro == "done").scalar_subquery()
                state = tuple(s.execute(select(func.max(DecisionRow.id), func.count(DecisionRow.id), done)).one())
                self._checked = time.monotonic()
                if state == self._state and not force:
                    return 0
                refs = confirmed_media(s, confirmed_case_ids(s), self.min_quality)
            self._built = self._build(refs)
            first, self._state = self._state is None, state
            self.builds += 1
            return 0 if first else 1

    def maybe_refresh(self) -> None:
        """Refresh when a decision was announced in this process (or by the PostgreSQL listener) since the last
        look, or ``refresh_seconds`` have passed (decisions of other processes on SQLite)."""
        fired = self._fired()
        if (self._state is None or fired != self._seen_fired
                or time.monotonic() - self._checked >= self.refresh_seconds):
            self._seen_fired = fired
            self.refresh()

    def _fired(self) -> int:
        hub = getattr(self.store, "wake", None)
        return int(getattr(hub, "fired", {}).get("decisions", 0)) if hub is not None else 0

    @staticmethod
    def _build(refs: list[tuple[ConfirmedRef, Sequence[str]]]):
        return build_index(refs)

    def search(self, pdq: str, quality: int | None = None, *, windows: Sequence[str] = (), layout: str | None = None,
               exclude_cases: Iterable[int] = ()) -> list[Near]:
        """Confirmed files near one image's PDQ (or one of its ``windows``) — within the radius, or within the
        layout radius with ``layout`` (its colour layout) near theirs — nearest first, at most one per case
        (its nearest file) and :data:`MAX_CASES_PER_IMAGE` cases. A whole-image hash below the quality floor
        finds nothing."""
        from bastion.media.windows import layout_distance

        built = self._built
        if built is None or built[0] is None or not pdq or (quality is not None and quality < self.min_quality):
            return []
        index, by_id = built
        skip = set(exclude_cases)
        second = bool(layout) and self.layout_radius > 0
        wide = self.layout_radius if second else self.radius
        low = quality is not None and quality < MIN_QUALITY
        best: dict[int, Near] = {}
        checked: dict[int, float | None] = {}  # media id: layout distance (None: no layout to compare)
        for q in (pdq, *windows):
            for hit in index.search(q, wide):
                ref, dist = by_id.get(int(hit[0])), int(hit[1])
                if ref is None or ref.case_id in skip:
                    continue
                have = best.get(ref.case_id)
                if have is not None and have.distance <= dist:
                    continue
                seen: float | None = None
                if dist > self.radius or low or (ref.quality is not None and ref.quality < MIN_QUALITY):
                    # the second look: both colour layouts, near enough
                    if not second or not ref.layout:
                        continue
                    if ref.media_id not in checked:
                        try:
                            checked[ref.media_id] = layout_distance(layout, ref.layout)
                        except ValueError:
                            checked[ref.media_id] = None
                    seen = checked[ref.media_id]
                    if seen is None or seen > self.layout_max:
                        continue
                best[ref.case_id] = Near(ref, dist, None if seen is None else round(seen, 1))
        return sorted(best.values(), key=lambda n: (n.distance, n.ref.case_id))[:MAX_CASES_PER_IMAGE]


def linked_accounts(s, account_id: int | None) -> set[int]:
    """Ids of the accounts linked to ``account_id`` (shared contacts, payment, media, seeds, models)."""
    if account_id is None:
        return set()
    return set(s.scalars(select(AccountLinkRow.other_account_id).where(AccountLinkRow.account_id == account_id)))


def account_row_id(s, external_id: str | None) -> int | None:
    if not external_id:
        return None
    return s.scalar(select(AccountRow.id).where(AccountRow.external_id == external_id))


def relation(account_id: int | None, linked: set[int], case_account: int | None) -> str:
    """``same``, ``linked`` or ``other``: how the item's account stands to the confirmed case's."""
    if account_id is None or case_account is None:
        return "other"
    if account_id == case_account:
        return "same"
    return "linked" if case_account in linked else "other"


def similar_signal(near: Near, media: int, account: str, radius: int, layout_radius: int = 0, **extra: Any) -> Signal:
    """The signal of one image near one confirmed case. The evidence names the case, the confirmed item and
    file (for the reviewer), the distance and the account relation — never the confirmed file's hash — and,
    when the colour layouts' second look let it count, their distance (``layout``)."""
    ev = {"media": media, "distance": near.distance, "radius": radius, "case_id": near.ref.case_id,
          "confirmed_item": near.ref.item_external_id, "confirmed_media": near.ref.position, "account": account,
          **extra}
    if near.layout is not None:
        ev["layout"] = near.layout
        ev["layout_radius"] = layout_radius
    # weight: 1 at distance 0, falling to ~0 at the outer radius (a ranking hint; rules use the distance)
    outer = max(radius, layout_radius if near.layout is not None else 0)
    weight = round(max(0.0, 1.0 - near.distance / (outer + 1)), 3) if outer >= 0 else 0.0
    return Signal(SOURCE, CATEGORY, weight, evidence=ev)


def intake_signals(index: ConfirmedIndex, store, media: Sequence[Any], account_external_id: str | None) -> list[Signal]:
    """The similar-to-confirmed signals of an item at intake. ``media``: the examined files
    (``bastion.scan.FileResult``: ``pdq``, ``quality``), in the item's order."""
    index.maybe_refresh()
    if not len(index):
        return []
    found: list[tuple[int, Near]] = []
    for i, res in enumerate(media):
        pdq = getattr(res, "pdq", None)
        if pdq:
            found.extend((i, n) for n in index.search(pdq, getattr(res, "quality", None),
                                                      windows=getattr(res, "windows", None) or (),
                                                      layout=getattr(res, "layout", None)))
    if not found:
        return []
    with store.session() as s:
        account_id = account_row_id(s, account_external_id)
        linked = linked_accounts(s, account_id)
    return [similar_signal(n, i, relation(account_id, linked, n.ref.account_id), index.radius, index.layout_radius)
            for i, n in found]
