"""`bastion bank ...`: create, list, show, import, export, add, remove, delete, set."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bastion.banks.formats import FORMATS, read_hash_list, write_hash_list
from bastion.banks.hashes import canonical_type, infer_type, normalize_hash
from bastion.banks.repo import BankRepository
from bastion.cli.app import app
from bastion.cli.common import err, fail, handle_errors, out, print_warning, settings_of, shown, store_of
from bastion.errors import InvalidHash, InvalidHashList
from bastion.model import BANK_CATEGORIES, Bank, HashEntry

bank_app = typer.Typer(help="Hash banks: named lists of known hashes to match against.", no_args_is_help=True)
app.add_typer(bank_app, name="bank")


def _repo(ctx: typer.Context, *, create: bool = False) -> BankRepository:
    return BankRepository(store_of(ctx, create=create))


def _bank_table(banks: list[Bank]) -> Table:
    t = Table(title="Hash banks")
    for col in ("name", "category", "enabled", "entries", "PDQ threshold", "min quality", "description"):
        t.add_column(col)
    for b in banks:
        entries = str(b.entry_count) + (f" (+{b.derived_count} derived)" if b.derived_count else "")
        t.add_row(Text(b.name), b.category, "yes" if b.enabled else "no", entries, str(b.pdq_threshold),
                  str(b.min_quality), Text(b.description or ""))
    return t


@bank_app.command("create")
@handle_errors
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Unique bank name."),
    category: str = typer.Option("test", help=f"One of: {', '.join(BANK_CATEGORIES)}."),
    description: str = typer.Option("", help="What this list is."),
    source: str = typer.Option("", help="Where it comes from (organisation, feed, URL)."),
    threshold: int = typer.Option(31, "--threshold", help="PDQ match threshold (Hamming distance, inclusive)."),
    min_quality: int = typer.Option(50, "--min-quality", help="PDQ hashes below this quality are not matched."),
    disabled: bool = typer.Option(False, "--disabled", help="Create the bank disabled."),
) -> None:
    """Create a bank."""
    for what, value in (("name", name), ("description", description), ("source", source)):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            fail(f"the bank {what} is not valid text (undecodable bytes): {shown(value)}")
    b = _repo(ctx, create=True).create(Bank(name, category, description, source, not disabled, threshold, min_quality))
    out.print(f"created bank {escape(repr(b.name))} ({b.category}, PDQ threshold {b.pdq_threshold})")


@bank_app.command("set")
@handle_errors
def set_(
    ctx: typer.Context,
    name: str,
    category: Optional[str] = typer.Option(None),
    description: Optional[str] = typer.Option(None),
    source: Optional[str] = typer.Option(None),
    threshold: Optional[int] = typer.Option(None, "--threshold"),
    min_quality: Optional[int] = typer.Option(None, "--min-quality"),
    enabled: Optional[bool] = typer.Option(None, "--enable/--disable"),
    as_json: bool = typer.Option(False, "--json", help="Print the bank's settings as one JSON object."),
) -> None:
    """Change a bank's settings."""
    b = _repo(ctx).update(name, category=category, description=description, source=source, pdq_threshold=threshold,
                          min_quality=min_quality, enabled=enabled)
    if as_json:
        print(json.dumps(b.to_dict()))
        return
    out.print(f"updated bank {escape(repr(b.name))}")
    out.print(_bank_table([b]))


@bank_app.command("list")
@handle_errors
def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """List banks with their entry counts."""
    banks = _repo(ctx).list()
    if as_json:
        for b in banks:
            print(json.dumps(b.to_dict()))
    elif not banks:
        out.print("no banks yet — create one with `bastion bank create NAME`")
    else:
        out.print(_bank_table(banks))


@bank_app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    name: str,
    as_json: bool = typer.Option(False, "--json"),
    limit: int = typer.Option(20, help="How many entries to list (0 for none)."),
) -> None:
    """Show one bank and its first entries."""
    repo = _repo(ctx)
    b = repo.get(name)
    entries = []
    if limit:
        for i, e in enumerate(repo.iter_entries(name)):
            if i >= limit:
                break
            entries.append(e)
    if as_json:
        rows = [{"hash_type": e.hash_type, "hash": e.value, "label": e.label} for e in entries]
        print(json.dumps({**b.to_dict(), "entries": rows}))
        return
    out.print(_bank_table([b]))
    if entries:
        t = Table(title=f"first {len(entries)} of {b.entry_count} entries")
        t.add_column("type")
        t.add_column("hash", overflow="fold")  # a hash is only useful whole
        t.add_column("label", overflow="fold")
        for e in entries:
            t.add_row(e.hash_type, e.value, Text(e.label or ""))
        out.print(t)


ZERO_PDQ = "0" * 64


def _warn_degenerate(entries: list[HashEntry]) -> None:
    n = sum(1 for e in entries if e.hash_type == "pdq" and e.value == ZERO_PDQ)
    if n:
        print_warning("the all-zero PDQ hash is what blank or flat images give; it matches such images, not a "
                      "specific picture (check the list it came from)")


def _import_report(added: int, merged: int, duplicates: int, invalid: list, ignored: list[str],
                   skipped: dict[str, int] | None = None) -> None:
    out.print(f"added {added}, already present {merged}, duplicates in input {duplicates}, invalid {len(invalid)}")
    if skipped:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(skipped.items()))
        err.print(f"skipped {sum(skipped.values())} line(s) of signal types Bastion does not match: {escape(kinds)}")
    for path, line, msg in invalid[:50]:
        err.print(f"skipped {escape(str(path))}:{line}: {escape(str(msg))}")
    if len(invalid) > 50:
        err.print(f"... and {len(invalid) - 50} more invalid lines")
    if ignored:
        err.print(f"ignored CSV column(s): {escape(', '.join(ignored))}")


@bank_app.command("import")
@handle_errors
def import_(
    ctx: typer.Context,
    name: str,
    files: List[Path] = typer.Argument(..., help="Hash-list files ('-' for standard input)."),
    fmt: Optional[str] = typer.Option(None, "--format", help=f"One of {', '.join(FORMATS)} (default: csv for .csv, tsv for .tsv, else lines)."),
    hash_type: Optional[str] = typer.Option(None, "--type", help="Hash type of bare values (md5, sha1, sha256, pdq)."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Import the valid lines and report the rest."),
    label: Optional[str] = typer.Option(None, help="Label for entries that have none."),
    partner: Optional[str] = typer.Option(None, "--partner", help="A partner's list: each entry's source becomes PARTNER or PARTNER:<their ref>."),
) -> None:
    """Import hash lists into a bank. Any invalid line aborts the whole import unless --skip-invalid."""
    repo = _repo(ctx)
    repo.get(name)  # fail early on an unknown bank, before reading anything
    if fmt is not None and fmt not in FORMATS:
        fail(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    entries: list[HashEntry] = []
    invalid: list = []
    duplicates = 0
    derived_skipped = 0
    ignored: list[str] = []
    skipped: dict[str, int] = {}
    problems: list = []
    for f in files:
        if str(f) != "-" and f.is_dir():
            fail(f"{shown(f)} is a folder: give the hash-list files in it")
        if str(f) != "-" and not f.is_file():
            fail(f"{shown(f)}: no such file")
        try:
            parsed = (
                read_hash_list(sys.stdin, fmt or "lines", hash_type=hash_type, skip_invalid=skip_invalid, name="<stdin>")
                if str(f) == "-"
                else read_hash_list(f, fmt, hash_type=hash_type, skip_invalid=skip_invalid)
            )
        except InvalidHashList as exc:
            problems.extend(exc.problems)
            continue
        entries.extend(parsed.entries)
        invalid.extend(parsed.invalid)
        duplicates += parsed.duplicates
        derived_skipped += parsed.derived_skipped
        ignored.extend(parsed.ignored_columns)
        for k, n in parsed.skipped_types.items():
            skipped[k] = skipped.get(k, 0) + n
    if problems:
        raise InvalidHashList(problems)
    if label:
        entries = [e if e.label else HashEntry(e.hash_type, e.value, label, e.source_ref) for e in entries]
    if partner:
        from bastion.reports.sharing import with_partner_source

        entries = with_partner_source(entries, partner)
    _warn_degenerate(entries)
    res = repo.add_entries(name, entries)
    _import_report(res.added, res.merged, duplicates, invalid, ignored, skipped)
    if derived_skipped:
        err.print(
            f"not imported: {derived_skipped} derived entries (sub-region hashes of another bank's media); "
            "they are never imported as originals — add the media with `bastion bank add NAME --file` instead"
        )


@bank_app.command("export")
@handle_errors
def export(
    ctx: typer.Context,
    name: str,
    fmt: str = typer.Option("csv", "--format", help=f"One of {', '.join(FORMATS)}."),
    hash_type: Optional[str] = typer.Option(None, "--type", help="Only this hash type."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default: standard output)."),
    confirmed: bool = typer.Option(
        False, "--confirmed", help="First bring bank NAME up to date with every hash a confirming decision backs (reference PDQ), then export it as a partner list."
    ),
    include_derived: bool = typer.Option(
        False, "--include-derived",
        help="Also write derived entries (sub-region hashes of media added with --file), csv only, marked with "
        "the original they belong to. By default an export carries original hashes only.",
    ),
) -> None:
    """Export a bank's original entries (derived sub-region hashes only with --include-derived)."""
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if include_derived and fmt != "csv":
        fail("--include-derived needs --format csv (it says which original each derived entry belongs to)")
    if include_derived and confirmed:
        fail("--include-derived cannot go with --confirmed: a partner list carries original hashes only")
    repo = _repo(ctx)
    writer = write_hash_list
    if confirmed:
        from bastion.cases.holding import MediaHolding
        from bastion.reports.from_cases import confirmed_media
        from bastion.reports.sharing import sync_confirmed_bank, write_partner_list

        from bastion.vault.crypto import Keyring

        holding = MediaHolding(settings_of(ctx).holding, keyring=Keyring.from_settings(settings_of(ctx)))
        with repo.store.session() as s:
            media, without_pdq = confirmed_media(s, holding)
        res = sync_confirmed_bank(repo, name, media, holding=holding)
        crops = f" (+{res.derived_added} derived sub-region entries, kept internal)" if res.derived_added else ""
        err.print(f"{escape(repr(name))}: {res.added} new confirmed hash(es) from {len(media)} confirmed file(s){crops}")
        if without_pdq:
            err.print(f"{without_pdq} confirmed image(s) have no bytes left for a reference PDQ: shared by MD5/SHA-256 only")
        writer = write_partner_list
        if fmt == "te" and not hash_type:
            hash_type = "pdq"
    entries = repo.entries(name, canonical_type(hash_type) if hash_type else None)
    if fmt == "te" and not hash_type:
        # The te format carries PDQ and vPDQ only: export those and say what was left out (a list imported
        # from CSV usually has MD5 lines too), instead of refusing the whole export.
        carried = [e for e in entries if e.hash_type in ("pdq", "vpdq")]
        left = sorted({e.hash_type for e in entries} - {"pdq", "vpdq"})
        if left:
            print_warning(f"left out {len(entries) - len(carried)} {'/'.join(left)} entries: the te format carries "
                          "PDQ and vPDQ only (--format csv exports every entry)")
        entries = carried
    derived = None
    if include_derived:
        derived = [d for d in repo.iter_derived(name) if not hash_type or d[0].hash_type == canonical_type(hash_type)]
    if derived is not None:
        writer = lambda es, out, f: write_hash_list(es, out, f, derived)  # noqa: E731
    if output is None:
        n = writer(entries, sys.stdout, fmt)
    else:
        try:
            f = output.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            fail(f"cannot write {shown(output)}: {exc.strerror or exc}")
        with f:
            n = writer(entries, f, fmt)
    what = f" ({len(derived)} derived)" if derived else ""
    err.print(f"exported {n} entries{what} of {escape(repr(name))} as {fmt}")


def _parse_values(values: list[str], hash_type: Optional[str], label: Optional[str]) -> list[HashEntry]:
    entries, problems = [], []
    for i, v in enumerate(values, start=1):
        try:
            t, h = normalize_hash(hash_type or infer_type(v), v)
        except InvalidHash as exc:
            problems.append(("<argument>", i, f"{v!r}: {exc}"))
            continue
        entries.append(HashEntry(t, h, label))
    if problems:
        raise InvalidHashList(problems)
    return entries


@bank_app.command("add")
@handle_errors
def add(
    ctx: typer.Context,
    name: str,
    hashes: Optional[List[str]] = typer.Argument(None, help="Hash values."),
    hash_type: Optional[str] = typer.Option(None, "--type", help="md5, sha1, sha256, pdq or vpdq (needed for 64 hex digits)."),
    label: Optional[str] = typer.Option(None),
    files: Optional[List[Path]] = typer.Option(
        None, "--file", help="Add this image's (MD5, SHA-256, PDQ) or video's (MD5, SHA-256, vPDQ) hashes. Repeatable."
    ),
    derive: bool = typer.Option(
        True, "--crops/--no-crops",
        help="With --file, for images: also store the PDQ of fixed sub-regions as derived entries, so cropped "
        "copies match (reported as crop matches of the original; never exported as originals).",
    ),
) -> None:
    """Add hashes to a bank (duplicates are merged), given as values or computed from files."""
    if not hashes and not files:
        fail("give hash values or --file FILE")
    entries = _parse_values(hashes, hash_type, label) if hashes else []
    repo = _repo(ctx)
    repo.get(name)  # fail early on an unknown bank, before hashing anything
    from_files = []
    for f in files or []:
        from bastion.banks.from_files import entries_from_file

        if not f.is_file():
            fail(f"{shown(f)}: no such file" if not f.is_dir() else f"{shown(f)} is a folder: give files")
        got = entries_from_file(f, label, derive=derive)
        from_files.append(got)
        kinds = ", ".join(e.hash_type for e in got.entries)
        more = f" (+{len(got.derived)} sub-region hashes)" if got.derived else ""
        out.print(f"{f}: {kinds}{more}", markup=False, highlight=False)
        for p in got.problems:
            err.print(f"note {f}: {p}", markup=False, highlight=False)
    _warn_degenerate(entries)
    res = repo.add_entries(name, entries)
    added, merged, derived = res.added, res.merged, 0
    for got in from_files:
        r = repo.add_with_derived(name, got.entries, got.parent, got.derived)
        added, merged, derived = added + r.added, merged + r.merged, derived + r.derived_added
    out.print(f"added {added}, already present {merged}" + (f", derived sub-region entries added {derived}" if derived else ""))


@bank_app.command("remove")
@handle_errors
def remove(
    ctx: typer.Context,
    name: str,
    hashes: List[str] = typer.Argument(..., help="Hash values."),
    hash_type: Optional[str] = typer.Option(None, "--type"),
) -> None:
    """Remove hashes from a bank."""
    res = _repo(ctx).remove_entries(name, _parse_values(hashes, hash_type, None))
    out.print(f"removed {res.removed}, not found {len(res.not_found)}")
    for e in res.not_found:
        err.print(f"not in {escape(repr(name))}: {e.hash_type} {e.value}")


@bank_app.command("delete")
@handle_errors
def delete(
    ctx: typer.Context,
    name: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a bank and all its entries."""
    repo = _repo(ctx)
    b = repo.get(name)
    if not yes and not typer.confirm(f"delete bank {name!r} and its {b.entry_count} entries?"):
        fail("not deleted")
    n = repo.delete(name)
    out.print(f"deleted bank {escape(repr(name))} ({n} entries)")
