"""``bastion report ncmec|dsa``, ``bastion stats``, ``bastion vault ...``: reports, statistics and evidence.

Commands that read evidence or send reports act as a named user of the service (``--user`` or
``BASTION_USER``) whose role must allow it; every read of evidence is recorded in the chain of custody.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from bastion.cli.app import app
from bastion.cli.common import err, fail, handle_errors, out, settings_of, shown, store_of
from bastion.errors import ConfigError
from bastion.clock import as_utc

report_app = typer.Typer(help="Reports: NCMEC CyberTipline and EU DSA statements of reasons.", no_args_is_help=True)
vault_app = typer.Typer(help="The evidence vault: encrypted originals, chain of custody, retention, legal holds.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(vault_app, name="vault")

USER = typer.Option(None, "--user", envvar="BASTION_USER", help="The service user acting (its role must allow this).")


def _since(text: Optional[str]) -> Optional[datetime]:
    if not text:
        return None
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--since {text!r} is not a date (YYYY-MM-DD or an ISO date-time)")
    return as_utc(d)


def _acting(session, user: Optional[str], action: str):
    """The service user named by --user, allowed to do ``action`` by the one permission table."""
    from bastion.auth.service import acting_user

    if not user:
        raise ConfigError("name the user acting with --user (or BASTION_USER): evidence and reports are done by someone")
    return acting_user(session, user, action)


def _user(ctx: typer.Context, user: Optional[str], action: str):
    """The acting user, loaded and checked once, detached from its session (the flows take name and role)."""
    with store_of(ctx).session() as s:
        row = _acting(s, user, action)
        s.expunge(row)
        return row


def _vault(ctx: typer.Context):
    from bastion.vault import Vault

    return Vault.from_settings(settings_of(ctx))


def _holding(ctx: typer.Context):
    from bastion.cases.holding import MediaHolding

    from bastion.vault.crypto import Keyring

    settings = settings_of(ctx)  # the folder the server keeps media in, sealed with the same keys
    return MediaHolding(settings.holding, keyring=Keyring.from_settings(settings))


# --- report ncmec ----------------------------------------------------------------------------------


@report_app.command("ncmec")
@handle_errors
def report_ncmec(
    ctx: typer.Context,
    case_id: int = typer.Argument(..., help="A case whose latest decision confirms it."),
    xml: bool = typer.Option(False, "--xml", help="Print the <report> XML: one document."),
    xml_dir: Optional[Path] = typer.Option(
        None, "--xml-dir", file_okay=False,
        help="Write report.xml and each file's fileDetails-N.xml draft into this folder (one document per file)."),
    submit: bool = typer.Option(False, "--submit", help="Send it: submit, upload, fileinfo, finish. Resumes an interrupted report."),
    retract: bool = typer.Option(False, "--retract", help="Retract this case's opened, unfinished report."),
    resolve: bool = typer.Option(False, "--resolve", help="Settle a report stuck between two states: an interrupted submission (--report-id NCMEC shows, or none) or upload (--file-id, or none); a finish or retraction whose answer was lost is asked again."),
    report_id: Optional[int] = typer.Option(None, "--report-id", help="NCMEC's report id, with --resolve."),
    file_id: Optional[str] = typer.Option(None, "--file-id", help="NCMEC's file id of an interrupted upload that arrived, with --resolve."),
    ip_events: Optional[Path] = typer.Option(None, "--ip-events", exists=True, dir_okay=False, help="JSON list of IP capture events for the reported account."),
    user: Optional[str] = USER,
) -> None:
    """Build (and with --submit send) the CyberTipline report of a confirmed case. Without options: a summary
    and what a person must check before sending. The same functions serve the API and the console
    (bastion.reports.flows)."""
    from bastion.reports import flows
    from bastion.reports.from_cases import NcmecSettings, load_ip_events
    from bastion.reports.ncmec.xml import build_file_details_xml, build_report_xml

    store = store_of(ctx)
    acting = _user(ctx, user, "reports.submit" if (submit or retract or resolve) else "reports.read")
    settings = NcmecSettings.from_settings(settings_of(ctx))
    events = load_ip_events(ip_events) if ip_events else ()
    if retract or resolve or submit:
        context = flows.NcmecContext(settings, _vault(ctx), _holding(ctx))
    if retract:
        out.print(json.dumps(flows.retract_case_ncmec(store, context, case_id, acting)))
        return
    if resolve:
        out.print(json.dumps(flows.resolve_case_ncmec(store, context, case_id, acting, report_id=report_id, file_id=file_id)))
        return
    if xml or xml_dir is not None:
        # One XML document per output: a stream of several documents back to back is no XML a tool can read.
        report = flows.ncmec_draft(store, case_id, acting, settings, ip_events=events).report
        if xml_dir is not None:
            try:
                xml_dir.mkdir(parents=True, exist_ok=True)
                (xml_dir / "report.xml").write_bytes(build_report_xml(report))
                for i, f in enumerate(report.files):
                    (xml_dir / f"fileDetails-{i}.xml").write_bytes(
                        build_file_details_xml(0, f"draft-{i}", f, industry_mou=report.industry_mou))
            except OSError as exc:
                fail(f"cannot write {shown(xml_dir)}: {exc.strerror or exc}")
            err.print(f"wrote report.xml and {len(report.files)} fileDetails draft(s) to {xml_dir}", markup=False,
                      highlight=False)
        if xml:
            text = build_report_xml(report).decode("utf-8")
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        if not submit:
            return
    if not submit:
        draft = flows.ncmec_draft(store, case_id, acting, settings, ip_events=events)
        r = draft.report
        out.print(f"case {case_id}: {len(r.files)} file(s), reported user {r.reported_person.esp_identifier if r.reported_person else '-'}")
        for p in draft.points:
            out.print(f"  check: {p}")
        if draft.current is not None:
            out.print(f"  sent before: report #{draft.current['id']} is {draft.current['state']}")
        return
    out.print(json.dumps(flows.report_case_ncmec(store, context, case_id, acting, ip_events=events)))


# --- report dsa ------------------------------------------------------------------------------------


@report_app.command("dsa")
@handle_errors
def report_dsa(
    ctx: typer.Context,
    since: Optional[str] = typer.Option(None, "--since", help="Decisions made on or after this date (YYYY-MM-DD)."),
    submit: bool = typer.Option(False, "--submit", help="Send pending statements, 100 a call, to BASTION_DSA_ENDPOINT."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the statements as JSON lines here (default: standard output)."),
    user: Optional[str] = USER,
) -> None:
    """Make (and keep) a statement of reasons for each item of every restricting decision since --since;
    print them as JSON lines; with --submit send the pending ones. Acts as --user (reports.read to make,
    reports.submit to send), like `report ncmec`."""
    from bastion.reports import flows
    from bastion.reports.dsa import service

    store = store_of(ctx)
    acting = _user(ctx, user, "reports.submit" if submit else "reports.read")
    settings = settings_of(ctx)
    res = flows.report_dsa(
        store, acting, since=_since(since), submit=submit, reference_url=settings.dsa_terms_url,
        endpoint=settings.dsa_endpoint, token=settings.dsa_token.get_secret_value() if settings.dsa_token else None,
    )
    if output is None:
        service.export_jsonl(res.statements, sys.stdout)
    else:
        with output.open("w", encoding="utf-8") as fh:
            service.export_jsonl(res.statements, fh)
    err.print(f"{len(res.statements)} statement(s) of reasons")
    if res.submitted is not None:
        c = res.submitted
        err.print(f"submitted {c['submitted']}, already there {c['already_there']}, refused {c['refused']} in {c['calls']} call(s)")


# --- stats -----------------------------------------------------------------------------------------


@app.command("stats")
@handle_errors
def stats(
    ctx: typer.Context,
    since: Optional[str] = typer.Option(None, "--since", help="Decisions made on or after this date (YYYY-MM-DD)."),
    until: Optional[str] = typer.Option(None, "--until", help="...and before this date."),
    period: str = typer.Option("month", "--period", help="day, week, month, quarter or year."),
    fmt: str = typer.Option("json", "--format", help="json or csv."),
) -> None:
    """Transparency statistics: decisions by category, action, detection source, automated vs human; median
    hours detection -> decision -> report; DSA art. 15/24 figures."""
    from bastion.reports import from_cases
    from bastion.reports.stats import PERIODS, compute, to_csv, to_json

    if period not in PERIODS:
        fail(f"--period must be one of {', '.join(PERIODS)}")
    if fmt not in ("json", "csv"):
        fail("--format must be json or csv")
    with store_of(ctx).session() as s:
        records = from_cases.decision_records(s, _since(since), _since(until))
    res = compute(records, period=period)
    sys.stdout.write(to_csv(res) if fmt == "csv" else to_json(res) + "\n")


# --- vault -----------------------------------------------------------------------------------------


@vault_app.command("list")
@handle_errors
def vault_list(
    ctx: typer.Context,
    case: Optional[int] = typer.Option(None, "--case", help="Only this case's evidence."),
    purged: bool = typer.Option(False, "--purged", help="Include purged blobs (their records stay)."),
    user: Optional[str] = USER,
) -> None:
    """Evidence kept: one JSON object a line (hashes, key id, retention, hold). Never the bytes."""
    from bastion.vault import blob_to_dict

    vault = _vault(ctx)
    with store_of(ctx).session() as s:
        _acting(s, user, "reports.read")
        for row in vault.blobs(s, case_id=case, include_purged=purged):
            out.print(json.dumps(blob_to_dict(row)))


@vault_app.command("preserve")
@handle_errors
def vault_preserve(
    ctx: typer.Context,
    case_id: int = typer.Argument(..., help="The case whose held media to preserve."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the chain of custody)."),
    user: Optional[str] = USER,
) -> None:
    """Seal a case's held media into the vault (what a decision's `preserve` asks for)."""
    from bastion.reports.from_cases import preserve_case
    from bastion.vault import blob_to_dict

    vault = _vault(ctx)
    with store_of(ctx).session() as s, s.begin():
        acting = _acting(s, user, "vault.read")
        rows = preserve_case(s, vault, _holding(ctx), case_id, actor=acting.name, reason=reason)
        for row in rows:
            out.print(json.dumps(blob_to_dict(row)))
    err.print(f"{len(rows)} file(s) of case {case_id} in the vault")


@vault_app.command("get")
@handle_errors
def vault_get(
    ctx: typer.Context,
    blob_id: str,
    reason: str = typer.Option(..., "--reason", help="Why (kept in the chain of custody)."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write the original bytes to (created 0600)."),
    user: Optional[str] = USER,
) -> None:
    """Decrypt one blob to a file. Only the vault's reader roles may; every attempt is recorded."""
    import os

    vault = _vault(ctx)
    with store_of(ctx).session() as s:
        acting = _acting(s, user, "vault.read")
        try:
            data = vault.read(s, blob_id, actor=acting.name, role=acting.role, reason=reason)
        finally:
            s.commit()  # the custody row of a refused read is kept too
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    err.print(f"wrote {len(data)} bytes to {output}")


@vault_app.command("hold")
@handle_errors
def vault_hold(
    ctx: typer.Context,
    blob_id: str,
    reason: str = typer.Option(..., "--reason", help="The legal matter (kept in the chain of custody)."),
    release: bool = typer.Option(False, "--release", help="Release the hold instead."),
    user: Optional[str] = USER,
) -> None:
    """Place or release a legal hold: a held blob outlives its retention until released."""
    from bastion.vault import blob_to_dict

    vault = _vault(ctx)
    with store_of(ctx).session() as s, s.begin():
        acting = _acting(s, user, "vault.read")
        row = vault.hold(s, blob_id, actor=acting.name, reason=reason, on=not release)
        out.print(json.dumps(blob_to_dict(row)))


@vault_app.command("purge")
@handle_errors
def vault_purge(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be removed; remove nothing."),
    user: Optional[str] = USER,
) -> None:
    """Remove evidence whose retention ended and that is not held; print each removed blob as a JSON line."""
    vault = _vault(ctx)
    with store_of(ctx).session() as s, s.begin():
        acting = _acting(s, user, "vault.read")
        gone = vault.purge(s, actor=acting.name, dry_run=dry_run)
        orphans = vault.orphans(s)
    for p in gone:
        out.print(json.dumps({**p.to_dict(), "dry_run": dry_run}))
    err.print(f"{'would purge' if dry_run else 'purged'} {len(gone)} blob(s)")
    if orphans:
        err.print(f"{len(orphans)} stored file(s) belong to no record (a failed transaction): {', '.join(orphans[:10])}")


@vault_app.command("reseal")
@handle_errors
def vault_reseal(ctx: typer.Context, blob_id: str, user: Optional[str] = USER) -> None:
    """Re-encrypt a blob under the active key (key rotation)."""
    vault = _vault(ctx)
    with store_of(ctx).session() as s, s.begin():
        acting = _acting(s, user, "vault.read")
        row = vault.reseal(s, blob_id, actor=acting.name)
    out.print(f"{row.id}: key {row.key_id}")


@vault_app.command("new-key")
@handle_errors
def vault_new_key(key_id: str = typer.Argument(..., help="A name for the key, e.g. 2026-12.")) -> None:
    """Print a new random AES-256 key as id:base64 for BASTION_VAULT_KEYS. Keep it like a password."""
    from bastion.vault import new_key_text

    print(new_key_text(key_id))

