"""``bastion report ncmec|dsa``, ``bastion stats``, ``bastion vault ...``: reports, statistics and evidence.

Commands that read evidence or send reports act as a named user of the service (``--user`` or
``BASTION_USER``) whose role must allow it; every read of evidence is recorded in the chain of custody.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from bastion.cli.app import app
from bastion.cli.common import err, fail, handle_errors, out, settings_of, store_of
from bastion.errors import ConfigError, Forbidden

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
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _acting(session, user: Optional[str], action: str):
    """The service user named by --user, allowed to do ``action`` by the one permission table."""
    from bastion.auth.permissions import allowed
    from bastion.auth.service import get_user

    if not user:
        raise ConfigError("name the user acting with --user (or BASTION_USER): evidence and reports are done by someone")
    row = get_user(session, user)
    if row.disabled:
        raise Forbidden(f"user {user!r} is disabled")
    if not allowed(row.role, action):
        raise Forbidden(f"user {user!r} (role {row.role}) may not {action}")
    return row


def _vault(ctx: typer.Context):
    from bastion.vault import Vault

    return Vault.from_settings(settings_of(ctx))


def _holding(ctx: typer.Context):
    import os

    from bastion.cases.holding import MediaHolding

    return MediaHolding(Path(os.environ.get("BASTION_HOLDING_DIR") or settings_of(ctx).home / "holding"))


# --- report ncmec ----------------------------------------------------------------------------------


@report_app.command("ncmec")
@handle_errors
def report_ncmec(
    ctx: typer.Context,
    case_id: int = typer.Argument(..., help="A case whose latest decision confirms it."),
    xml: bool = typer.Option(False, "--xml", help="Print the <report> XML (and each file's <fileDetails> draft)."),
    submit: bool = typer.Option(False, "--submit", help="Send it: submit, upload, fileinfo, finish. Resumes an interrupted report."),
    retract: bool = typer.Option(False, "--retract", help="Retract this case's opened, unfinished report."),
    resolve: bool = typer.Option(False, "--resolve", help="After checking NCMEC: an interrupted submission (--report-id) or upload (--file-id) arrived, or (neither) did not."),
    report_id: Optional[int] = typer.Option(None, "--report-id", help="NCMEC's report id, with --resolve."),
    file_id: Optional[str] = typer.Option(None, "--file-id", help="NCMEC's file id of an interrupted upload that arrived, with --resolve."),
    ip_events: Optional[Path] = typer.Option(None, "--ip-events", exists=True, dir_okay=False, help="JSON list of IP capture events for the reported account."),
    user: Optional[str] = USER,
) -> None:
    """Build (and with --submit send) the CyberTipline report of a confirmed case. Without options: a summary
    and what a person must check before sending."""
    from bastion.reports import from_cases
    from bastion.reports.models import NcmecReportRow
    from bastion.reports.ncmec import flow
    from bastion.reports.ncmec.client import NcmecClient
    from bastion.reports.ncmec.xml import build_file_details_xml, build_report_xml, review_points

    store = store_of(ctx)
    settings = from_cases.NcmecSettings.from_env()
    events = from_cases.load_ip_events(ip_events) if ip_events else ()
    from sqlalchemy import select

    def open_report(s):
        return s.scalars(
            select(NcmecReportRow).where(NcmecReportRow.case_id == case_id, NcmecReportRow.state.not_in(("retracted",))).order_by(NcmecReportRow.id.desc())
        ).first()

    if retract or resolve:
        with store.session() as s:
            _acting(s, user, "reports.submit")
            row = open_report(s)
        if row is None:
            fail(f"case {case_id} has no NCMEC report to {'retract' if retract else 'resolve'}")
        if retract:
            with NcmecClient(settings.base_url, settings.username, settings.password) as client:
                row = flow.retract(store, row.id, client)
        elif row.state == "submitting":
            row = flow.resolve_submission(store, row.id, report_id)
        else:
            row = flow.resolve_uploads(store, row.id, file_id)
        out.print(json.dumps(flow.report_state(store, row.id)))
        return

    vault = _vault(ctx)
    with store.session() as s, s.begin():
        acting = _acting(s, user, "reports.submit" if submit else "reports.read")
        if submit:
            from_cases.preserve_case(s, vault, _holding(ctx), case_id, actor=acting.name, reason=f"NCMEC report of case {case_id}")
        report = from_cases.ncmec_input(s, case_id, settings, ip_events=events)
    if xml:
        sys.stdout.write(build_report_xml(report).decode("utf-8"))
        for i, f in enumerate(report.files):
            sys.stdout.write(build_file_details_xml(0, f"draft-{i}", f, industry_mou=report.industry_mou).decode("utf-8"))
        if not submit:
            return
    points = review_points(report)
    if not submit:
        build_report_xml(report)  # validates the values
        out.print(f"case {case_id}: {len(report.files)} file(s), reported user {report.reported_person.esp_identifier if report.reported_person else '-'}")
        for p in points:
            out.print(f"  check: {p}")
        return

    def read_file(f):
        with store.session() as s, s.begin():
            return vault.read(s, f.blob_id, actor=acting.name, role=acting.role, reason=f"upload to NCMEC, case {case_id}")

    def finished(row):
        from bastion.cases.models import CaseRow
        from bastion.cases.service import set_status

        with store.session() as s, s.begin():
            vault.mark_reported(s, actor=acting.name, reported_at=row.finished_at, case_id=case_id)
            case = s.get(CaseRow, case_id)
            if case is not None and case.status == "decided":
                set_status(s, case, "reported", actor=acting.name)

    with store.session() as s, s.begin():
        row = open_report(s)
        if row is None or row.state == "draft":
            if row is not None:
                s.delete(row)
                s.flush()
            row = flow.create_report(s, report, created_by=acting.name, base_url=settings.base_url)
        row_id = row.id
    with NcmecClient(settings.base_url, settings.username, settings.password) as client:
        flow.send(store, row_id, client, read_file, on_finished=finished)
    state = flow.report_state(store, row_id)
    out.print(json.dumps(state))


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
    print them as JSON lines; with --submit send the pending ones."""
    import os

    from bastion.reports import from_cases
    from bastion.reports.dsa import service
    from bastion.reports.dsa.builder import DsaConfig, build_statement

    store = store_of(ctx)
    cfg = DsaConfig(reference_url=os.environ.get("BASTION_DSA_TERMS_URL") or None)
    start = _since(since)
    statements = []
    with store.session() as s, s.begin():
        if submit:
            _acting(s, user, "reports.submit")
        for inp in from_cases.statement_inputs(s, start):
            st = build_statement(inp, cfg)
            if st is not None:
                service.record_statement(s, st, decision_id=inp.decision_id, case_id=inp.case_id)
                statements.append(st)
    if output is None:
        service.export_jsonl(statements, sys.stdout)
    else:
        with output.open("w", encoding="utf-8") as fh:
            service.export_jsonl(statements, fh)
    err.print(f"{len(statements)} statement(s) of reasons")
    if submit:
        endpoint, token = os.environ.get("BASTION_DSA_ENDPOINT"), os.environ.get("BASTION_DSA_TOKEN")
        if not endpoint or not token:
            raise ConfigError("set BASTION_DSA_ENDPOINT and BASTION_DSA_TOKEN to submit statements")
        client = service.DsaClient(endpoint, token)
        try:
            counts = service.submit_pending(store, client, since=None)
        finally:
            client.close()
        err.print(f"submitted {counts['submitted']}, already there {counts['already_there']}, refused {counts['refused']} in {counts['calls']} call(s)")


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

