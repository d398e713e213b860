"""Banks and their entries in the store: the one place that writes the bank tables and the bank change log
(:mod:`bastion.banks.changes`). Readers elsewhere (the live index, retro-matching, the console) only select;
retro-matching marks the change rows it has finished (``retro_done``) and nothing more.

Adding is idempotent: an entry already in the bank is merged (its label filled in if it had none), never
doubled. Bulk operations work in chunks so a multi-million-line import does not hold everything twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from sqlalchemy import bindparam, delete, func, select, update

from bastion.banks.hashes import VPDQ, normalize_hash, storage_form
from bastion.errors import BankExists, BastionError, UnknownBank
from bastion.model import BANK_CATEGORIES, Bank, HashEntry
from bastion.store.db import Store
from bastion.store.writers import writing
from bastion.store.schema import BankEntryRow, BankRow, utcnow

CHUNK = 2000
#: One lock for every bank write: imports take turns, and the bank change log's id ranges stay their own.
_BANK_WRITES = "bank-writes"


@dataclass
class AddResult:
    added: int = 0
    merged: int = 0  # already present (label filled in where it was missing)
    derived_added: int = 0  # derived entries (sub-regions of the bank's own media) added


@dataclass
class RemoveResult:
    removed: int = 0
    not_found: list[HashEntry] = field(default_factory=list)


#: The settings a bank row and a :class:`Bank` value share.
BANK_FIELDS = ("name", "description", "source", "category", "enabled", "pdq_threshold", "min_quality")


def bank_from_row(row: BankRow, count: int = 0, derived: int = 0) -> Bank:
    return Bank(**{f: getattr(row, f) for f in BANK_FIELDS}, entry_count=count, derived_count=derived)


def validate_bank_fields(category: str | None = None, pdq_threshold: int | None = None, min_quality: int | None = None) -> None:
    if category is not None and category not in BANK_CATEGORIES:
        raise BastionError(f"unknown bank category {category!r} (known: {', '.join(BANK_CATEGORIES)})")
    if pdq_threshold is not None and not 0 <= pdq_threshold <= 256:
        raise BastionError(f"PDQ threshold must be between 0 and 256, got {pdq_threshold}")
    if min_quality is not None and not 0 <= min_quality <= 100:
        raise BastionError(f"minimum PDQ quality must be between 0 and 100, got {min_quality}")


def log_change(session, bank_id: int, op: str, *, first: int | None = None, last: int | None = None,
               entries: list | None = None, actor: str | None = None) -> None:
    """Append to the bank change log and to the audit log, in the caller's transaction (see
    bastion.banks.changes.BankChangeRow): every process's index and the retro-matcher read the first, people
    the second."""
    from bastion.banks.changes import BankChangeRow
    from bastion.effects import audit

    from bastion.store.wake import announce

    session.add(BankChangeRow(bank_id=bank_id, op=op, first_entry_id=first, last_entry_id=last, entries=entries,
                              at=utcnow(), retro_done=op != "add"))
    announce(session, "bank_changes")
    details: dict = {}
    if first is not None:
        details["entry_ids"] = [first, last]
    if entries:
        details["removed"] = len(entries)
    audit.append(session, actor or _local_actor(), f"bank.{op}", "bank", str(bank_id), details)


def _local_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in this environment (a container without passwd entry)
        return "cli"


class BankRepository:
    def __init__(self, store: Store, *, actor: str | None = None):
        self.store = store
        #: who makes the changes, for the audit log (the API passes its user; the CLI the OS user)
        self.actor = actor

    # --- banks -----------------------------------------------------------------------------------

    def _row(self, session, name: str) -> BankRow:
        row = session.scalar(select(BankRow).where(BankRow.name == name))
        if row is None:
            raise UnknownBank(f"no bank named {name!r}")
        return row

    def create(self, bank: Bank) -> Bank:
        validate_bank_fields(bank.category, bank.pdq_threshold, bank.min_quality)
        if not bank.name.strip():
            raise BastionError("a bank needs a name")
        with self.store.session() as s, s.begin():
            if s.scalar(select(BankRow.id).where(BankRow.name == bank.name)) is not None:
                raise BankExists(f"a bank named {bank.name!r} exists already")
            row = BankRow(**{f: getattr(bank, f) for f in BANK_FIELDS})
            s.add(row)
            s.flush()
            log_change(s, row.id, "update", actor=self.actor)
        return bank_from_row(row)

    def list(self) -> list[Bank]:
        """Every bank; ``entry_count`` counts original entries, ``derived_count`` the derived ones."""
        with self.store.session() as s:
            is_derived = BankEntryRow.derived_from.is_not(None)
            counts: dict[int, list[int]] = {}
            for bank_id, derived, n in s.execute(
                select(BankEntryRow.bank_id, is_derived, func.count()).group_by(BankEntryRow.bank_id, is_derived)
            ).all():
                counts.setdefault(bank_id, [0, 0])[1 if derived else 0] = n
            rows = s.scalars(select(BankRow).order_by(BankRow.name)).all()
            return [bank_from_row(r, *counts.get(r.id, (0, 0))) for r in rows]

    def get(self, name: str) -> Bank:
        with self.store.session() as s:
            row = self._row(s, name)
            return bank_from_row(row, self._count(s, row.id), self._count(s, row.id, derived=True))

    def update(self, name: str, **fields) -> Bank:
        allowed = {"description", "source", "category", "enabled", "pdq_threshold", "min_quality"}
        unknown = set(fields) - allowed
        if unknown:
            raise BastionError(f"cannot update bank field(s) {sorted(unknown)}")
        validate_bank_fields(fields.get("category"), fields.get("pdq_threshold"), fields.get("min_quality"))
        with self.store.session() as s, s.begin():
            row = self._row(s, name)
            for k, v in fields.items():
                if v is not None:
                    setattr(row, k, v)
            row.updated_at = utcnow()
            log_change(s, row.id, "update", actor=self.actor)
        return self.get(name)

    def delete(self, name: str) -> int:
        """Delete a bank and its entries; returns how many entries went with it."""
        with self.store.session() as s, s.begin():
            row = self._row(s, name)
            n = s.execute(delete(BankEntryRow).where(BankEntryRow.bank_id == row.id)).rowcount
            log_change(s, row.id, "delete", actor=self.actor)
            s.delete(row)
            return n or 0

    # --- entries ---------------------------------------------------------------------------------

    def add_entries(self, name: str, entries: Iterable[HashEntry]) -> AddResult:
        """Add entries; those already in the bank are merged (a missing label is filled in), never doubled.

        One ``INSERT .. ON CONFLICT DO NOTHING`` per chunk (SQLite and PostgreSQL both have it) instead of a
        lookup per row; what was added is counted from the bank's size before and after. Writers of banks
        take turns (:func:`bastion.store.writers.writing`), so that count is this import's own, a second
        import waits (with a message) instead of failing, and no two imports can deadlock.
        """
        with writing(self.store, f"adding to bank {name!r}", key=_BANK_WRITES) as s:
            bank_id = self._row(s, name).id
            before = self._count(s, bank_id)
            top_before = s.scalar(select(func.max(BankEntryRow.id))) or 0
            seen = 0
            batch: dict[tuple[str, str], HashEntry] = {}
            for e in entries:
                t, v = normalize_hash(e.hash_type, e.value)
                seen += 1
                prev = batch.get((t, v))
                if prev is not None:
                    if not prev.label and e.label:
                        batch[(t, v)] = HashEntry(t, v, e.label, prev.source_ref or e.source_ref)
                    continue
                batch[(t, v)] = HashEntry(t, v, e.label, e.source_ref)
                if len(batch) >= CHUNK:
                    self._add_chunk(s, bank_id, batch)
                    batch = {}
            if batch:
                self._add_chunk(s, bank_id, batch)
            added = self._count(s, bank_id) - before
            s.execute(update(BankRow).where(BankRow.id == bank_id).values(updated_at=utcnow()))
            if added:
                # Every process's index and the retro-matcher read this; new ids are above the old maximum.
                top_after = s.scalar(select(func.max(BankEntryRow.id))) or 0
                log_change(s, bank_id, "add", first=top_before + 1, last=top_after, actor=self.actor)
        return AddResult(added=added, merged=seen - added)

    @staticmethod
    def _count(s, bank_id: int, derived: bool = False) -> int:
        """Original entries of a bank (or, with ``derived``, its derived entries)."""
        which = BankEntryRow.derived_from.is_not(None) if derived else BankEntryRow.derived_from.is_(None)
        return s.scalar(select(func.count()).select_from(BankEntryRow).where(BankEntryRow.bank_id == bank_id, which)) or 0

    def add_with_derived(
        self, name: str, originals: list[HashEntry], parent: HashEntry | None, derived: list[tuple[str, str]]
    ) -> AddResult:
        """Add one medium's original entries and then, pointing at its ``parent`` entry (one of
        ``originals``), its derived PDQ entries ``(derivation, hash)``. The originals are committed first: if
        the second step fails, the medium still matches as a whole and adding it again completes it.

        A derived hash already in the bank (as an original or derived from another medium) is left as it
        is: one row per (bank, type, value).
        """
        res = self.add_entries(name, originals)
        if parent is None or not derived:
            return res
        t, v = normalize_hash(parent.hash_type, parent.value)
        with self.store.session() as s, s.begin():
            bank_id = self._row(s, name).id
            parent_id = s.scalar(
                select(BankEntryRow.id).where(
                    BankEntryRow.bank_id == bank_id, BankEntryRow.hash_type == t, BankEntryRow.value == v
                )
            )
            if parent_id is None:  # stored without it, the derived hashes would pass for originals
                raise BastionError(f"bank {name!r} has no {t} entry {v}: its derived entries are not stored")
            before = self._count(s, bank_id, derived=True)
            top_before = s.scalar(select(func.max(BankEntryRow.id))) or 0
            now = utcnow()
            rows = []
            for derivation, h in derived:
                dt, dv = normalize_hash("pdq", h)
                rows.append({"bank_id": bank_id, "hash_type": dt, "value": dv, "label": None, "source_ref": None,
                             "payload": None, "added_at": now, "derived_from": parent_id, "derivation": derivation})
            s.execute(self._upsert().on_conflict_do_nothing(index_elements=["bank_id", "hash_type", "value"]), rows)
            res.derived_added = self._count(s, bank_id, derived=True) - before
            s.execute(update(BankRow).where(BankRow.id == bank_id).values(updated_at=utcnow()))
            if res.derived_added:
                # Live indexes and the retro-matcher read the log; they map derived ids to their original.
                top_after = s.scalar(select(func.max(BankEntryRow.id))) or 0
                log_change(s, bank_id, "add", first=top_before + 1, last=top_after)
        return res

    def _upsert(self):
        if self.store.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        return upsert(BankEntryRow.__table__)

    def _add_chunk(self, s, bank_id: int, batch: dict[tuple[str, str], HashEntry]) -> None:
        now = utcnow()
        dialect = self.store.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        table = BankEntryRow.__table__
        rows = [
            {"bank_id": bank_id, "hash_type": t, "value": stored, "payload": payload, "label": e.label,
             "source_ref": e.source_ref, "added_at": now}
            for (t, v), e in batch.items()
            for stored, payload in [storage_form(t, v)]
        ]
        # Inserted in one order whatever the input's: concurrent writers touching the same keys then lock
        # them in the same order (PostgreSQL deadlocked on two imports of the same hashes, shuffled).
        rows.sort(key=lambda r: (r["hash_type"], r["value"]))
        s.execute(upsert(table).on_conflict_do_nothing(index_elements=["bank_id", "hash_type", "value"]), rows)
        labelled = [{"b": bank_id, "t": t, "v": storage_form(t, v)[0], "l": e.label} for (t, v), e in batch.items() if e.label]
        if labelled:
            # Fill in labels of entries that were already there without one; never overwrite a label.
            c = table.c
            s.execute(
                update(table)
                .where(c.bank_id == bindparam("b"), c.hash_type == bindparam("t"), c.value == bindparam("v"), c.label.is_(None))
                .values(label=bindparam("l")),
                labelled,
            )

    def remove_entries(self, name: str, entries: Iterable[HashEntry]) -> RemoveResult:
        result = RemoveResult()
        removed: list[list] = []
        with writing(self.store, f"removing from bank {name!r}", key=_BANK_WRITES) as s:
            bank_id = self._row(s, name).id
            for e in entries:
                t, v = normalize_hash(e.hash_type, e.value)
                stored = storage_form(t, v)[0]
                gone = s.execute(
                    delete(BankEntryRow)
                    .where(BankEntryRow.bank_id == bank_id, BankEntryRow.hash_type == t, BankEntryRow.value == stored)
                    .returning(BankEntryRow.id)
                ).scalars().all()
                if gone:
                    result.removed += len(gone)
                    removed.extend([i, t, stored] for i in gone)
                else:
                    result.not_found.append(HashEntry(t, v))
            s.execute(update(BankRow).where(BankRow.id == bank_id).values(updated_at=utcnow()))
            if removed:
                log_change(s, bank_id, "remove", entries=removed, actor=self.actor)
        return result

    def entries(self, name: str, hash_type: str | None = None) -> list[HashEntry]:
        return list(self.iter_entries(name, hash_type))

    def iter_entries(self, name: str, hash_type: str | None = None) -> Iterator[HashEntry]:
        """The bank's original entries. Derived entries (sub-regions of the bank's own media) are not
        among them: what leaves Bastion as a hash list carries original hashes only
        (:meth:`iter_derived` reads the others)."""
        with self.store.session() as s:
            bank_id = self._row(s, name).id
            q = select(
                BankEntryRow.hash_type, BankEntryRow.value, BankEntryRow.label, BankEntryRow.source_ref, BankEntryRow.payload
            ).where(
                BankEntryRow.bank_id == bank_id, BankEntryRow.derived_from.is_(None)
            )
            if hash_type:
                q = q.where(BankEntryRow.hash_type == hash_type)
            for t, v, label, ref, payload in s.execute(q.order_by(BankEntryRow.id)).yield_per(10_000):
                yield HashEntry(t, payload if t == VPDQ and payload else v, label, ref)

    def iter_derived(self, name: str) -> Iterator[tuple[HashEntry, str, str]]:
        """Derived entries: ``(entry, derivation, hash of the original entry)``, in insertion order."""
        from sqlalchemy.orm import aliased

        parent = aliased(BankEntryRow)
        with self.store.session() as s:
            bank_id = self._row(s, name).id
            q = (
                select(BankEntryRow.hash_type, BankEntryRow.value, BankEntryRow.derivation, parent.value, parent.label)
                .join(parent, parent.id == BankEntryRow.derived_from)
                .where(BankEntryRow.bank_id == bank_id)
                .order_by(BankEntryRow.id)
            )
            for t, v, derivation, origin, label in s.execute(q).yield_per(10_000):
                yield HashEntry(t, v, label), derivation or "", origin
