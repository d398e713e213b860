"""Hash sharing with partners: the hashes Bastion's decisions confirmed, out as a partner list
(python-threatexchange ``local_file``, or CSV with labels); partners' lists in, each entry keeping where it
came from.

Hashes that leave Bastion are computed with the reference PDQ (full decode, ``fast=False``), never the fast
path used for matching, so a partner's tools compute the same 256 bits from the same file. A confirmed file
whose bytes Bastion no longer has (not in the vault nor in the holding folder) is shared by its MD5 and
SHA-256 only; its fast-path PDQ is never sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable

from bastion.banks.formats import read_hash_list, write_hash_list
from bastion.banks.repo import AddResult, BankRepository
from bastion.errors import InvalidHash, MediaError, UnknownBank
from bastion.model import Bank, HashEntry

CONFIRMED_SOURCE = "bastion decisions"


def reference_pdq(data: bytes) -> tuple[str, int] | None:
    """PDQ hash and quality as partners compute them (stored pixels, :mod:`bastion.media.partner`), or None
    when ``data`` is not a decodable image."""
    from bastion.media.partner import partner_pdq

    try:
        h = partner_pdq(data)
    except MediaError:
        return None
    return h.hash, h.quality


@dataclass(frozen=True)
class ConfirmedMedia:
    """One file of a case a decision confirmed. ``pdq`` must come from the reference computation."""

    sha256: str
    md5: str | None
    pdq: str | None
    category: str | None
    decision_id: int
    case_id: int | None = None


def confirmed_entries(media: Iterable[ConfirmedMedia]) -> list[HashEntry]:
    """Bank entries for confirmed files: MD5, SHA-256 and (reference) PDQ, labelled with the decision's
    category, ``source_ref`` naming the decision (kept in Bastion; stripped by :func:`write_partner_list`)."""
    out: dict[tuple[str, str], HashEntry] = {}
    for m in media:
        label = m.category or "confirmed"
        ref = f"decision:{m.decision_id}"
        for kind, value in (("md5", m.md5), ("sha256", m.sha256), ("pdq", m.pdq)):
            if value:
                out.setdefault((kind, value.lower()), HashEntry(kind, value.lower(), label, ref))
    return list(out.values())


def write_partner_list(entries: Iterable[HashEntry], out: IO[str], fmt: str = "csv") -> int:
    """A list for partners: labels kept, Bastion's internal references removed. ``te`` (threatexchange
    ``local_file``) carries PDQ only, so the other types are left out of it rather than refused."""
    entries = [HashEntry(e.hash_type, e.value, e.label, None) for e in entries]
    if fmt in ("csv", "tsv"):  # the list says how its PDQ values were computed (readers ignore the column)
        import csv

        from bastion.banks.formats import CSV_COLUMNS
        from bastion.media.partner import STORED_PIXELS

        w = csv.writer(out, lineterminator="\n", delimiter="\t" if fmt == "tsv" else ",")
        w.writerow((*CSV_COLUMNS, "pdq_basis"))
        for e in entries:
            w.writerow([e.hash_type, e.value, e.label or "", "", STORED_PIXELS if e.hash_type == "pdq" else ""])
        return len(entries)
    if fmt == "te":
        entries = [e for e in entries if e.hash_type == "pdq"]
    return write_hash_list(entries, out, fmt)


def sync_confirmed_bank(
    repo: BankRepository, name: str, media: Iterable[ConfirmedMedia], *, category: str = "csam", holding=None
) -> AddResult:
    """Bring bank ``name`` up to date with every confirmed file (created if missing); already-present
    entries are merged, never doubled. With ``holding`` (the media holding folder), a confirmed image whose
    bytes are still held also gets its derived sub-region entries (``bastion.banks.from_files``), once, so
    cropped copies of it match as crops; they stay internal (exports carry original entries only)."""
    media = list(media)
    try:
        repo.get(name)
    except UnknownBank:
        repo.create(Bank(name=name, category=category, source=CONFIRMED_SOURCE, description="hashes confirmed by Bastion decisions"))
    res = repo.add_entries(name, confirmed_entries(media))
    if holding is not None:
        res.derived_added = _add_sub_regions(repo, name, media, holding)
    return res


def _add_sub_regions(repo: BankRepository, name: str, media: list[ConfirmedMedia], holding) -> int:
    from bastion.banks.from_files import sub_region_hashes

    done = {origin for _, _, origin in repo.iter_derived(name)}  # images that have their windows already
    added = 0
    for m in media:
        if not m.pdq or m.pdq.lower() in done or not holding.exists(m.sha256):
            continue
        derived, _ = sub_region_hashes(holding.get(m.sha256), m.pdq.lower())
        if derived:
            added += repo.add_with_derived(name, [], HashEntry("pdq", m.pdq.lower()), derived).derived_added
        done.add(m.pdq.lower())
    return added


def with_partner_source(entries: Iterable[HashEntry], partner: str) -> list[HashEntry]:
    """Each entry's ``source_ref`` becomes ``partner`` or ``partner:<their reference>``."""
    partner = partner.strip()
    if not partner:
        raise InvalidHash("a partner list needs the partner's name (it is kept as each entry's source)")
    return [HashEntry(e.hash_type, e.value, e.label, f"{partner}:{e.source_ref}" if e.source_ref else partner) for e in entries]


def import_partner_list(
    repo: BankRepository,
    bank: str,
    path: Path | str,
    *,
    partner: str,
    fmt: str | None = None,
    hash_type: str | None = None,
    category: str = "csam",
    skip_invalid: bool = False,
) -> AddResult:
    """Import a partner's list into ``bank`` (created with the partner as its source if missing). Each
    entry's ``source_ref`` becomes ``partner`` or ``partner:<their reference>``, so where a hash came from
    survives merging lists from several partners into one bank."""
    if not partner or not partner.strip():
        raise InvalidHash("a partner list needs the partner's name (it is kept as each entry's source)")
    parsed = read_hash_list(path, fmt, hash_type=hash_type, skip_invalid=skip_invalid)
    entries = with_partner_source(parsed.entries, partner)
    try:
        repo.get(bank)
    except UnknownBank:
        repo.create(Bank(name=bank, category=category, source=partner, description=f"hash list shared by {partner}"))
    return repo.add_entries(bank, entries)
