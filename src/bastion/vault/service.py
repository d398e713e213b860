"""The evidence vault: preserve, read, hold, report, purge — plain functions of a :class:`Vault` over the
caller's ``Session``, so the blob row, its custody rows and the audit rows commit with the change that caused
them (a decision, a report).

Rules it keeps:

* Bytes are sealed (AES-256-GCM) before they touch storage; only ciphertext is written.
* Only the roles the one permission table allows ``vault.read`` (:mod:`bastion.auth.permissions`: ``lead``
  and ``admin``) may read, and every read leaves a custody row
  and an entry in the audit chain (:mod:`bastion.effects.audit`) naming who, when, why and which case. A
  refused read is recorded too.
* Retention: a blob is kept for one year (configurable) from its preservation and, once the case is reported,
  for one year from the report (REPORT Act 2024), whichever is later. A legal hold keeps it past that until
  the hold is released. ``purge`` removes only what has expired and is not held, and says what it removed.
* A tampered, swapped or wrong-key blob raises :class:`~bastion.errors.VaultIntegrityError`.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from bastion.config import Settings
from bastion.effects import audit
from bastion.errors import MediaError, UnknownBlob, VaultAccessDenied, VaultError
from bastion.vault.crypto import Keyring, open_sealed, seal
from bastion.vault.models import VaultBlobRow, VaultCustodyRow
from bastion.vault.storage import LocalFolderStorage, Storage
from bastion.clock import as_utc

DEFAULT_RETENTION_DAYS: int = Settings.model_fields["vault_retention_days"].default
log = logging.getLogger("bastion.vault")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class PurgedBlob:
    id: str
    case_id: int | None
    sha256: str
    size: int
    retain_until: datetime
    file_removed: bool

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "case_id": self.case_id,
            "sha256": self.sha256,
            "size": self.size,
            "retain_until": self.retain_until.isoformat(),
            "file_removed": self.file_removed,
        }


def blob_to_dict(row: VaultBlobRow) -> dict:
    return {
        "id": row.id,
        "case_id": row.case_id,
        "item": row.item_external_id,
        "filename": row.filename,
        "sha256": row.sha256,
        "md5": row.md5,
        "pdq": row.pdq,
        "pdq_quality": row.pdq_quality,
        "size": row.size,
        "format": row.media_format,
        "key_id": row.key_id,
        "created_at": as_utc(row.created_at).isoformat(),
        "created_by": row.created_by,
        "reason": row.reason,
        "reported_at": as_utc(row.reported_at).isoformat() if row.reported_at else None,
        "retain_until": as_utc(row.retain_until).isoformat(),
        "legal_hold": row.legal_hold,
        "hold_reason": row.hold_reason,
        "purged_at": as_utc(row.purged_at).isoformat() if row.purged_at else None,
    }


def _reference_pdq(data: bytes) -> tuple[str | None, int | None, str | None]:
    """PDQ as partners compute it (stored pixels, :mod:`bastion.media.partner`): hashes that leave Bastion
    must agree bit for bit with partners' tools. Not an image -> no PDQ (the exact hashes still identify the
    file)."""
    from bastion.media.partner import partner_pdq

    try:
        h = partner_pdq(data)
    except MediaError:
        return None, None, None
    return h.hash, h.quality, h.format


@dataclass
class Vault:
    keyring: Keyring
    storage: Storage
    retention: timedelta = field(default_factory=lambda: timedelta(days=DEFAULT_RETENTION_DAYS))
    clock: Callable[[], datetime] = _utcnow

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides) -> "Vault":
        """The vault the settings describe: keys ``vault_keys`` and ``vault_active_key`` (``BASTION_VAULT_KEYS``,
        ``BASTION_VAULT_ACTIVE_KEY``), folder ``vault_folder`` (``BASTION_VAULT_DIR``, default
        ``BASTION_HOME/vault``), retention ``vault_retention_days`` (default 365). Who may read is the permission
        table's ``vault.read``. Without settings: :meth:`Settings.from_env` (a library caller's start)."""
        settings = settings or Settings.from_env()
        kwargs = dict(
            keyring=Keyring.from_settings(settings),
            storage=LocalFolderStorage(settings.vault_folder),
            retention=timedelta(days=settings.vault_retention_days),
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    # --- writing --------------------------------------------------------------------------------

    def preserve(
        self,
        session: Session,
        data: bytes,
        *,
        actor: str,
        reason: str,
        case_id: int | None = None,
        item_external_id: str | None = None,
        filename: str | None = None,
        reference: bool = True,
    ) -> VaultBlobRow:
        """Seal and store ``data``; returns its row. The same bytes preserved again for the same case return
        the blob already kept (with a new custody row), never a second copy. ``reference=False`` leaves the
        reference PDQ (a full decode) for later: intake seals without decoding in the writer's transaction,
        and the next preservation (a report, ``bastion vault preserve``) computes it."""
        if not reason or not reason.strip():
            raise VaultError("preserving evidence needs a reason (it goes into the chain of custody)")
        sha256 = hashlib.sha256(data).hexdigest()
        existing = session.scalars(
            select(VaultBlobRow).where(
                VaultBlobRow.sha256 == sha256,
                VaultBlobRow.purged_at.is_(None),
                VaultBlobRow.case_id.is_(None) if case_id is None else VaultBlobRow.case_id == case_id,
            )
        ).first()
        if existing is not None:
            if reference and existing.pdq is None and existing.media_format is None:
                existing.pdq, existing.pdq_quality, existing.media_format = _reference_pdq(data)
            self._custody(session, existing, actor, "preserve", reason)
            return existing
        now = self.clock()
        blob_id = uuid.uuid4().hex
        key_id, sealed = seal(self.keyring, blob_id, data)
        pdq, quality, fmt = _reference_pdq(data) if reference else (None, None, None)
        row = VaultBlobRow(
            id=blob_id,
            case_id=case_id,
            item_external_id=item_external_id,
            filename=filename,
            sha256=sha256,
            md5=hashlib.md5(data).hexdigest(),
            pdq=pdq,
            pdq_quality=quality,
            size=len(data),
            media_format=fmt,
            key_id=key_id,
            created_at=now,
            created_by=actor,
            reason=reason,
            retain_until=now + self.retention,
            legal_hold=False,
        )
        # Storage first: if the transaction then fails, no row points at nothing; the file it leaves goes when
        # the transaction ends without its row (_drop_unrecorded), else the retry of a failed group commit would
        # store every kept file twice.
        self.storage.put(blob_id, sealed)
        _written(session, self.storage, blob_id)
        session.add(row)
        session.flush()
        self._custody(session, row, actor, "preserve", reason)
        return row

    def hold(self, session: Session, blob_id: str, *, actor: str, reason: str, on: bool = True) -> VaultBlobRow:
        """Place (or release, ``on=False``) a legal hold: a held blob is never purged."""
        if not reason or not reason.strip():
            raise VaultError("a legal hold (or its release) needs a reason")
        row = self._live(session, blob_id)
        row.legal_hold = on
        row.hold_reason = reason if on else None
        self._custody(session, row, actor, "hold" if on else "release", reason)
        return row

    def mark_reported(
        self, session: Session, *, actor: str, reported_at: datetime, case_id: int | None = None, blob_ids: Iterable[str] = ()
    ) -> list[VaultBlobRow]:
        """The case (or these blobs) were reported: keep them one retention period from the report."""
        q = select(VaultBlobRow).where(VaultBlobRow.purged_at.is_(None))
        ids = list(blob_ids)
        if case_id is not None:
            q = q.where(VaultBlobRow.case_id == case_id)
        elif ids:
            q = q.where(VaultBlobRow.id.in_(ids))
        else:
            raise VaultError("mark_reported needs a case id or blob ids")
        rows = list(session.scalars(q))
        until = reported_at + self.retention
        for row in rows:
            row.reported_at = reported_at
            row.retain_until = max(as_utc(row.retain_until), until)
            self._custody(session, row, actor, "reported", f"reported {reported_at.isoformat()}; kept until {row.retain_until.isoformat()}")
        return rows

    def reseal(self, session: Session, blob_id: str, *, actor: str) -> VaultBlobRow:
        """Re-encrypt a blob under the active key (key rotation); the old key may be retired once no blob
        names it."""
        row = self._live(session, blob_id)
        data = open_sealed(self.keyring, row.id, self.storage.get(row.id), key_id=row.key_id, sha256=row.sha256)
        old = row.key_id
        key_id, sealed = seal(self.keyring, row.id, data)
        self.storage.put(row.id, sealed)
        row.key_id = key_id
        self._custody(session, row, actor, "reseal", f"re-sealed from key {old} to key {key_id}")
        return row

    def purge(self, session: Session, *, actor: str, dry_run: bool = False) -> list[PurgedBlob]:
        """Remove every blob whose retention has ended and that is not under a legal hold. The rows stay
        (marked purged, with a custody row) so the record of what was kept and removed survives."""
        now = self.clock()
        rows = session.scalars(
            select(VaultBlobRow)
            .where(VaultBlobRow.purged_at.is_(None), VaultBlobRow.legal_hold.is_(False), VaultBlobRow.retain_until <= now)
            .order_by(VaultBlobRow.retain_until, VaultBlobRow.id)
        ).all()
        purged = []
        for row in rows:
            removed = False if dry_run else self.storage.delete(row.id)
            purged.append(PurgedBlob(row.id, row.case_id, row.sha256, row.size, as_utc(row.retain_until), removed))
            if not dry_run:
                row.purged_at = now
                self._custody(session, row, actor, "purge", f"retention ended {as_utc(row.retain_until).isoformat()}")
        return purged

    def orphans(self, session: Session) -> list[str]:
        """Stored files no row refers to (left by a transaction that failed after the file was written)."""
        known = set(session.scalars(select(VaultBlobRow.id).where(VaultBlobRow.purged_at.is_(None))))
        return [n for n in self.storage.names() if n not in known]

    def intake_hook(self):
        """What the service calls in an item's transaction for media it keeps (a case opened, or the policy
        said ``preserve``): each file is sealed into the vault for the case, with a custody row by
        ``system``; a later ``bastion vault preserve`` or report finds it there and adds custody only."""

        def hook(session: Session, item, case, files) -> None:
            reason = f"kept at intake: item {item.external_id}, verdict {item.action}"
            for filename, data in files:
                self.preserve(session, data, actor="system", reason=reason, case_id=case.id,
                              item_external_id=item.external_id, filename=filename, reference=False)

        return hook

    # --- reading --------------------------------------------------------------------------------

    def may_read(self, role: str | None) -> bool:
        """The one permission table decides (``vault.read``); the vault keeps no list of its own."""
        from bastion.auth.permissions import allowed

        return role is not None and allowed(role, "vault.read")

    def read(self, session: Session, blob_id: str, *, actor: str, role: str | None, reason: str) -> bytes:
        """The original bytes, for a reader with an allowed role. Every call is recorded, refused or not."""
        row = self._row(session, blob_id)
        if not self.may_read(role):
            self._custody(session, row, actor, "read-denied", f"role {role!r} may not read evidence; asked: {reason}")
            session.flush()
            raise VaultAccessDenied(f"{actor} (role {role!r}) may not read evidence; allowed roles: {', '.join(sorted(_readers()))}")
        if not reason or not reason.strip():
            raise VaultError("reading evidence needs a reason (it goes into the chain of custody)")
        if row.purged_at is not None:
            raise UnknownBlob(f"blob {blob_id} was purged on {as_utc(row.purged_at).isoformat()}")
        data = open_sealed(self.keyring, row.id, self.storage.get(row.id), key_id=row.key_id, sha256=row.sha256)
        self._custody(session, row, actor, "read", reason)
        return data

    def blobs(self, session: Session, *, case_id: int | None = None, include_purged: bool = False) -> list[VaultBlobRow]:
        q = select(VaultBlobRow).order_by(VaultBlobRow.created_at, VaultBlobRow.id)
        if case_id is not None:
            q = q.where(VaultBlobRow.case_id == case_id)
        if not include_purged:
            q = q.where(VaultBlobRow.purged_at.is_(None))
        return list(session.scalars(q))

    def custody(self, session: Session, blob_id: str) -> list[VaultCustodyRow]:
        return list(session.scalars(select(VaultCustodyRow).where(VaultCustodyRow.blob_id == blob_id).order_by(VaultCustodyRow.id)))

    # --- internals ------------------------------------------------------------------------------

    def _row(self, session: Session, blob_id: str) -> VaultBlobRow:
        row = session.get(VaultBlobRow, blob_id)
        if row is None:
            raise UnknownBlob(f"no blob {blob_id!r} in the vault")
        return row

    def _live(self, session: Session, blob_id: str) -> VaultBlobRow:
        row = self._row(session, blob_id)
        if row.purged_at is not None:
            raise UnknownBlob(f"blob {blob_id} was purged on {as_utc(row.purged_at).isoformat()}")
        return row

    def _custody(self, session: Session, row: VaultBlobRow, actor: str, action: str, reason: str) -> None:
        session.add(VaultCustodyRow(blob_id=row.id, at=self.clock(), actor=actor, action=action, reason=reason, case_id=row.case_id))
        _audit(session, actor, f"vault.{action}", "vault_blob", row.id, {"case_id": row.case_id, "reason": reason, "sha256": row.sha256})


#: ``session.info`` key: the blob files this session's transaction wrote, with their storage
_WRITTEN = "bastion_vault_written"
_hooked = False


def _written(session: Session, storage: Storage, blob_id: str) -> None:
    global _hooked
    if not _hooked:
        event.listen(Session, "after_transaction_end", _drop_unrecorded)
        _hooked = True
    session.info.setdefault(_WRITTEN, []).append((storage, blob_id))


def _drop_unrecorded(session: Session, transaction: SessionTransaction) -> None:
    """When a session's outermost transaction ends (committed, rolled back or closed): the files it wrote
    whose rows are not in the store go. A rolled-back intake is retried (the group committer retries each
    item alone) and seals its files again under new ids, so without this the vault kept a second, unreferenced
    copy of every such file. Whether a row exists is read afresh, so a file whose row did commit (a commit
    whose answer was lost) is never removed; if the store cannot be asked, every file stays."""
    if transaction.parent is not None or not session.info.get(_WRITTEN):
        return
    written = session.info.pop(_WRITTEN)
    ids = sorted({blob_id for _, blob_id in written})
    try:
        with session.bind.connect() as conn:
            recorded = set(conn.execute(select(VaultBlobRow.id).where(VaultBlobRow.id.in_(ids))).scalars())
    except Exception as exc:  # noqa: BLE001 - keep the files; `vault purge` lists them as orphans
        log.warning("vault: could not check %d file(s) of an ended transaction (%s); they stay", len(ids), exc)
        return
    for storage, blob_id in written:
        if blob_id not in recorded and storage.delete(blob_id):
            log.info("vault: removed blob file %s: its transaction did not record it", blob_id)


def _readers() -> frozenset[str]:
    from bastion.auth.permissions import PERMISSIONS

    return PERMISSIONS["vault.read"]


def _audit(session: Session, actor: str, action: str, target_type: str, target_id: str, details: dict) -> None:
    """The service-wide audit chain, in the caller's transaction (commits with the change it records)."""
    audit.append(session, actor, action, target_type, target_id, details)
