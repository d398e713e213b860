"""Items in, explained verdicts out: the flow behind ``POST /v1/items`` and the batch workers.

1. Look for the item (by its id, or the ``Idempotency-Key``): a retry gets the stored answer, a different
   body under the same key is a :class:`~bastion.errors.Conflict`.
2. Scan outside any transaction: hashes + bank matches, provenance, text on title/body/tags and on the
   positive prompts found in the media; price/tier and account history are context.
3. Evaluate the policy over the item's :class:`~bastion.policy.Facts` (stored with the item, so a new policy
   can be replayed without re-scanning).
4. ONE transaction: account, item, media hashes, account keys and links, case, outbox rows. The answer is
   sent only after it commits, so an acknowledged item survives a crash; webhooks go out from the outbox.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.cases import accounts as acc
from bastion.cases.holding import MediaHolding
from bastion.cases.models import AccountLinkRow, AccountRow, CaseRow, ItemMediaRow, ItemRow
from bastion.cases.schemas import ItemIn
from bastion.cases.persist import Intake, answer_of, persist_group
from bastion.cases.writer import GroupCommitter
from bastion.errors import Conflict, InvalidInput
from bastion.store.db import Store
from bastion.store.schema import utcnow
from bastion.clock import as_utc

#: actions after which a person must look: the item opens or extends a case
CASE_ACTIONS = frozenset({"review", "remove", "report", "preserve", "suspend_account"})
_TEXT_FIELD = {"post": "body", "profile": "body", "comment": "comment", "message": "message"}
#: the text field an item's body is analysed as, per kind (retro-scoring analyses stored items the same way)
TEXT_FIELD = _TEXT_FIELD


@dataclass
class Upload:
    filename: str | None
    data: bytes


@dataclass
class Prepared:
    """An item before its commit (:meth:`Service.prepare`): the stored ``answer`` of a retry, or the ``intake``
    to store, with the files ``held`` for it."""

    item: Any
    key: str | None
    digest: str
    answer: dict[str, Any] | None = None
    intake: Any = None
    held: list[str] = field(default_factory=list)


@dataclass
class Scanned:
    facts: Any  # bastion.policy.Facts
    verdict: Any  # bastion.policy.Verdict
    media: list[dict[str, Any]]  # per file: hashes + result
    languages: list[str]
    terms: Any = None  # bastion.terms.intake.IntakeTerms: what the term counts need


class Service:
    """Per-process state the flow needs: the store, the live bank matcher, the policy, the holding folder.
    Built once by the app factory (or a worker) and passed explicitly."""

    def __init__(self, store: Store, matcher, policy, holding: MediaHolding, *, fetch_url: Callable[[str], bytes] | None = None,
                 examiner=None, on_removed: Callable[[Session, ItemRow, CaseRow], None] | None = None,
                 on_kept: Callable[[Session, ItemRow, CaseRow, list[tuple[str | None, bytes]]], None] | None = None,
                 lexicon=None, similar=None):
        from bastion.examine import Examiner

        self.store = store
        #: called in the item's transaction when the policy removed it on its own (the app passes the DSA
        #: statement of reasons of an automated removal, bastion.reports.flows.automated_removal_statement)
        self.on_removed = on_removed
        #: called in the item's transaction with the media kept for a case, ``[(filename, bytes)]``: the app
        #: seals them into the evidence vault there, so their chain of custody starts at intake
        self.on_kept = on_kept
        self.matcher = matcher
        # Without an examiner of its own (tests, embedded use) files are examined in the calling thread with
        # soft budgets only; `bastion serve` passes one with a worker pool (hard deadlines).
        self.examiner = examiner or Examiner(matcher)
        self.policy = policy
        self.holding = holding
        self.fetch_url = fetch_url
        #: a bastion.terms.live.LiveLexicon (the platform's terms, current in every process), or None: the default
        self.lexicon = lexicon
        #: a bastion.cases.similar.ConfirmedIndex (images near confirmed cases' media), or None: not looked for
        self.similar = similar
        # Every item write of this process goes through one writer thread that commits items arriving
        # together in one transaction (cases/writer.py): one commit for many, and no two threads of this
        # process race on a case lookup (other processes: SQLite's lock, PostgreSQL's row locks).
        self.writer = GroupCommitter(store, write_many=self._persist, prepare_many=self.prepare_many)
        self.policy_version = getattr(policy, "version", "") or ""

    def _persist(self, s: Session, batch: list[Intake]) -> list[dict[str, Any]]:
        return persist_group(s, batch, on_removed=self.on_removed, on_kept=self.on_kept)

    # --- the flow --------------------------------------------------------------------------------

    def submit(self, item: ItemIn, uploads: list[Upload] | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        p = self.prepare(item, uploads, idempotency_key)
        if p.answer is not None:
            return p.answer
        try:
            return self.writer.submit(p.intake)
        except BaseException as exc:
            return self._failed(p, exc)

    async def submit_async(self, item: ItemIn, uploads: list[Upload] | None = None,
                           idempotency_key: str | None = None) -> dict[str, Any]:
        """:meth:`submit` for an event loop. An item without files goes to the writer thread whole: its group's
        reads (stored answers, account facts) are one statement each for the group, its scan runs there, and
        the answer comes back to the loop once the group committed — no worker thread per item. An item with
        files has its reads and scan in a worker thread (the examine pool's deadlines), then the same commit."""
        import asyncio

        if not uploads and not item.media:
            try:
                return await self.writer.prepare_async((item, idempotency_key))
            except IntegrityError as exc:  # stored by another request in the meantime: answered as a retry
                p = Prepared(item, idempotency_key, request_digest(item, []))
                return await asyncio.to_thread(self._failed, p, exc)
        p = await asyncio.to_thread(self.prepare, item, uploads, idempotency_key)
        if p.answer is not None:
            return p.answer
        try:
            return await self.writer.submit_async(p.intake)
        except asyncio.CancelledError:
            raise  # the write is queued and may still commit: its held files stay
        except BaseException as exc:
            return await asyncio.to_thread(self._failed, p, exc)

    def prepare(self, item: ItemIn, uploads: list[Upload] | None = None,
                idempotency_key: str | None = None) -> "Prepared":
        """Everything before the commit: the stored answer of a retry, or the scanned item ready to store (its
        files already in the holding folder when it needs people)."""
        uploads = list(uploads or []) + self._inline_media(item)
        digest = request_digest(item, uploads)
        with self.store.engine.connect() as conn:
            stored = find_existing(conn, item.id, idempotency_key, digest)
            if stored is not None:
                return Prepared(item, idempotency_key, digest, answer=stored)
            account_facts = self._account_facts(conn, item)
        scanned = self.scan(item, uploads, account_facts)
        intake, held = self._intake_held(item, uploads, idempotency_key, digest, scanned)
        return Prepared(item, idempotency_key, digest, intake=intake, held=held)

    def prepare_many(self, batch: list[tuple[ItemIn, str | None]]) -> list:
        """:meth:`prepare` for a group of items without files (the writer thread's ``prepare_many``): the
        stored answers and the account facts of the whole group in one statement each, then each item's scan.
        Per item: ``WriterPrepared((True, answer))`` for a retry, ``WriterPrepared((False, intake))`` to store,
        or the exception that refuses it."""
        from bastion.cases.writer import Prepared as WriterPrepared

        digests = [request_digest(item, []) for item, _ in batch]
        ids = sorted({item.id for item, _ in batch})
        keys = sorted({k for _, k in batch if k})
        accounts = sorted({item.account.id for item, _ in batch if item.account is not None})
        with self.store.engine.connect() as conn:
            by_id = {r.external_id: r for r in conn.execute(_BY_IDS, {"v": ids})}
            by_key = {r.idempotency_key: r for r in conn.execute(_BY_KEYS, {"v": keys})} if keys else {}
            facts = {r.external_id: r for r in conn.execute(_ACCOUNTS_FACTS, {"ids": accounts})} if accounts else {}
        out: list = []
        for (item, key), digest in zip(batch, digests):
            try:
                row = by_id.get(item.id)
                if row is None and key:
                    row = by_key.get(key)
                stored = stored_answer(row, item.id, key, digest)
                if stored is not None:
                    out.append(WriterPrepared((True, stored)))
                    continue
                account = self._facts_of(item, facts.get(item.account.id)) if item.account is not None else None
                intake, _ = self._intake_held(item, [], key, digest, self.scan(item, [], account))
                out.append(WriterPrepared((False, intake)))
            except Exception as exc:  # noqa: BLE001 - this item's own error (a conflict, bad input)
                out.append(exc)
        return out

    def _failed(self, p: "Prepared", exc: BaseException) -> dict[str, Any]:
        """After a failed commit: bytes of an item that was not stored go; a duplicate that another request
        stored first is answered as a retry would be; anything else is raised again."""
        for sha in p.held:
            with self.store.session() as s:
                still = s.scalar(select(ItemMediaRow.id).where(ItemMediaRow.sha256 == sha, ItemMediaRow.held.is_(True)).limit(1))
            if still is None:
                self.holding.delete(sha)
        if isinstance(exc, IntegrityError):
            # Another request stored the same item (or key) first: answer as a retry would be answered.
            with self.store.engine.connect() as conn:
                stored = find_existing(conn, p.item.id, p.key, p.digest)
            if stored is not None:
                return stored
        raise exc

    def _inline_media(self, item: ItemIn) -> list[Upload]:
        out = []
        for i, m in enumerate(item.media):
            if m.data is not None:
                try:
                    out.append(Upload(m.filename, m.decoded()))
                except ValueError as exc:
                    raise InvalidInput(f"media[{i}]: {exc}") from None
            else:
                if self.fetch_url is None:
                    raise InvalidInput(f"media[{i}]: URL media is switched off on this server (set BASTION_URL_MEDIA_HOSTS)")
                out.append(Upload(m.filename or m.url, self.fetch_url(m.url)))
        return out

    def _account_facts(self, conn, item: ItemIn):
        """The account's history for the policy: one statement (the row and its flagged linked accounts)."""
        if item.account is None:
            return None
        return self._facts_of(item, conn.execute(_ACCOUNT_FACTS, {"external_id": item.account.id}).first())

    def _facts_of(self, item: ItemIn, row):
        from bastion.policy import AccountFacts

        if item.account is None:
            return None
        if row is None:
            return AccountFacts(id=item.account.id, age_days=_age(item), items=0, prior_confirmed=0, risk=0.0, linked_flagged=0)
        return AccountFacts(id=row.external_id, age_days=acc.age_days(row), items=row.item_count,
                            prior_confirmed=row.confirmed_count, risk=row.risk_score, linked_flagged=row.linked_flagged)

    def scan(self, item: ItemIn, uploads: list[Upload], account_facts) -> Scanned:
        from bastion.policy import Facts, PriceFacts
        from bastion.terms.intake import intake_terms
        from bastion.text import default_lexicon

        texts: list[tuple[str, str]] = []
        if item.title:
            texts.append(("title", item.title))
        if item.body:
            texts.append((_TEXT_FIELD[item.kind], item.body))
        texts.extend(("tag", t) for t in item.tags if t)
        # The one examine pipeline (bastion.examine): files in worker processes under hard deadlines, bank
        # matches (images and videos), provenance, text. Raises for media it could not examine.
        lexicon = self.lexicon.current if self.lexicon is not None else default_lexicon()
        ex = self.examiner.examine_item([(up.filename or f"media-{i}", up.data) for i, up in enumerate(uploads)], texts,
                                        lexicon=lexicon)
        signals, text = ex.signals, ex.text
        if self.similar is not None and ex.media:
            # likeness to confirmed material: a ranking signal beside the matches, never one of them
            from bastion.cases.similar import intake_signals

            signals = list(signals) + intake_signals(self.similar, self.store, ex.media,
                                                     item.account.id if item.account is not None else None)
        media: list[dict[str, Any]] = []
        for i, (up, res) in enumerate(zip(uploads, ex.media)):
            result: dict[str, Any] = {"matches": [s.evidence for s in signals if s.source == "hash" and s.evidence.get("media") == i],
                                      "provenance": res.provenance, "errors": res.errors, "notes": res.notes[:50]}
            if res.video:
                result["video"] = res.video  # the vPDQ frames: retro-matching reads them (cases/retro.py)
            media.append({
                "position": i, "filename": up.filename, "sha256": res.sha256, "md5": res.md5, "pdq": res.pdq,
                "quality": res.quality, "media_format": res.media_format, "width": res.width, "height": res.height,
                "size": res.size, "result": result,
            })
        price = None
        if item.price is not None:
            price = PriceFacts(amount=item.price.amount, currency=item.price.currency, tier=item.price.tier)
        facts = Facts(
            item_id=item.id, kind=item.kind, signals=tuple(signals),
            text_level=text.level if text else "none", text_score=text.score if text else 0.0,
            text_combinations=tuple(text.combinations) if text else (),
            price=price, media_count=len(uploads), account=account_facts,
        )
        verdict = self.policy.evaluate(facts)
        languages = sorted({s.language for s in signals if s.language})
        terms = intake_terms(lexicon, item.title, item.body, item.tags, signals, languages, _TEXT_FIELD[item.kind])
        return Scanned(facts, verdict, media, languages, terms)

    def _intake_held(self, item: ItemIn, uploads: list[Upload], key: str | None, digest: str,
                     sc: Scanned) -> tuple[Intake, list[str]]:
        verdict = sc.verdict.to_dict()
        opens_case = bool(CASE_ACTIONS & set(verdict["actions"]))
        hold = opens_case or "preserve" in verdict["actions"]
        held: list[str] = []
        if hold:  # bytes first: a crash after this leaves an orphan file, never a case without its media
            for up, m in zip(uploads, sc.media):
                if m["sha256"]:
                    self.holding.put(m["sha256"], up.data)
                    held.append(m["sha256"])
        intake = self.intake(item, key, digest, sc, held, verdict=verdict)
        if held and self.on_kept is not None:
            intake.kept = [(up.filename, up.data) for up, m in zip(uploads, sc.media) if m["sha256"] in held]
        return intake, held

    def intake(self, item: ItemIn, key: str | None, digest: str, sc: Scanned, held: list[str] | None = None, *,
               verdict: dict[str, Any] | None = None) -> Intake:
        """What the writer stores for a scanned item (cases/persist.py), computed here, outside the writer."""
        facts = sc.facts.to_dict()
        keys: set[tuple[str, str]] = set()
        if item.account is not None:
            media_keys = [{**m, "provenance": m["result"].get("provenance")} for m in sc.media]
            keys = acc.keys_of(facts.get("signals", []), media_keys)
        verdict = verdict if verdict is not None else sc.verdict.to_dict()
        return Intake(item=item, key=key, digest=digest, facts=facts, verdict=verdict, media=sc.media,
                      held=set(held or ()), languages=sc.languages,
                      opens_case=bool(CASE_ACTIONS & set(verdict["actions"])),
                      linked_flagged=sc.facts.account.linked_flagged if sc.facts.account is not None else 0,
                      keys=keys, policy_version=self.policy_version, terms=sc.terms)


def _age(item: ItemIn) -> float | None:
    if item.account is None or item.account.created_at is None:
        return None
    created = as_utc(item.account.created_at)
    return max(0.0, (utcnow() - created).total_seconds() / 86400)


def enqueue_event(s: Session, event: str, payload: dict[str, Any]) -> None:
    """The outbox row(s) of a webhook event, in the caller's transaction (bastion.effects.webhooks)."""
    from bastion.effects import webhooks

    webhooks.enqueue(s, event, payload)


def request_digest(item: ItemIn, uploads: list[Upload]) -> str:
    """SHA-256 of the item in canonical form, with each file as its SHA-256: the same item sent as JSON with
    base64 or as multipart has the same digest, and a retry with other content does not."""
    body = item.model_dump(mode="json", exclude={"media"})
    body["media"] = [{"filename": u.filename, "sha256": hashlib.sha256(u.data).hexdigest()} for u in uploads]
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def item_answer(row: ItemRow) -> dict[str, Any]:
    return answer_of(row.external_id, row.verdict, (row.facts or {}).get("signals", []), row.case_id)


_ITEMS = ItemRow.__table__
_ANSWER_COLUMNS = (_ITEMS.c.external_id, _ITEMS.c.idempotency_key, _ITEMS.c.request_sha256, _ITEMS.c.verdict,
                   _ITEMS.c.facts, _ITEMS.c.case_id)
_BY_ID = select(*_ANSWER_COLUMNS).where(_ITEMS.c.external_id == bindparam("v"))
_BY_KEY = select(*_ANSWER_COLUMNS).where(_ITEMS.c.idempotency_key == bindparam("v"))
_BY_IDS = select(*_ANSWER_COLUMNS).where(_ITEMS.c.external_id.in_(bindparam("v", expanding=True)))
_BY_KEYS = select(*_ANSWER_COLUMNS).where(_ITEMS.c.idempotency_key.in_(bindparam("v", expanding=True)))
_A, _L, _O = AccountRow.__table__, AccountLinkRow.__table__, AccountRow.__table__.alias("other")
_FACT_COLUMNS = (
    _A.c.external_id, _A.c.platform_created_at, _A.c.item_count, _A.c.confirmed_count, _A.c.risk_score,
    select(func.count(func.distinct(_L.c.other_account_id))).join(_O, _O.c.id == _L.c.other_account_id)
    .where(_L.c.account_id == _A.c.id, _O.c.flagged_count > 0).scalar_subquery().label("linked_flagged"),
)
_ACCOUNT_FACTS = select(*_FACT_COLUMNS).where(_A.c.external_id == bindparam("external_id"))
_ACCOUNTS_FACTS = select(*_FACT_COLUMNS).where(_A.c.external_id.in_(bindparam("ids", expanding=True)))


def find_existing(conn, external_id: str, key: str | None, digest: str) -> dict[str, Any] | None:
    """The stored answer for a retry, None for a new item, Conflict for a different body under the same id or
    key. ``conn``: a Connection or a Session."""
    row = conn.execute(_BY_ID, {"v": external_id}).first()
    if row is None and key:
        row = conn.execute(_BY_KEY, {"v": key}).first()
    return stored_answer(row, external_id, key, digest)


def stored_answer(row, external_id: str, key: str | None, digest: str) -> dict[str, Any] | None:
    """:func:`find_existing` on a row already read (by the item's id, else by its key), or None."""
    if row is None:
        return None
    if row.request_sha256 != digest:
        what = f"item id {external_id!r}" if row.external_id == external_id else f"Idempotency-Key {key!r}"
        raise Conflict(f"{what} was already submitted with a different body")
    if key and row.idempotency_key not in (None, key):
        raise Conflict(f"item id {external_id!r} was already submitted under another Idempotency-Key")
    return item_answer(row)
