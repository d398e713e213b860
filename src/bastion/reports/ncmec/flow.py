"""A CyberTipline report as a persisted state machine: every step is committed *before* the call that
performs it (``submitting``, ``uploading``, ``finishing``) and again after it (``submitted`` with NCMEC's
report id, ``uploaded`` with the file id, ``finished``). Running :func:`send` again after a crash resumes from
the last committed state and never repeats a call whose outcome is known.

A call whose outcome is unknown (the process died, or the network failed, after a ``/submit`` or ``/upload``
left) is never repeated on its own: :func:`send` raises :class:`~bastion.errors.ReportStateError` and a person
checks NCMEC, then says what happened with :func:`resolve_submission` (with the report id NCMEC shows, or
none when nothing arrived) or by retracting the report.

Report states::

    draft -> submitting -> submitted -> finishing -> finished
                              \\-> retracting -> retracted
    (any opened, unfinished state) -> expired      NCMEC answered 5001: it deleted the unfinished report

File states: ``pending -> uploading -> uploaded -> described``; ``damaged`` when NCMEC's MD5 of an upload
differs from the bytes sent (the report must be retracted and made afresh).

Every in-between state has a way out, :func:`resolve`: ``submitting`` and ``uploading`` by what a person saw at
NCMEC; ``finishing`` and ``retracting`` by asking again, where NCMEC's "already finished" (5102) and "already
retracted" (5101) count as the state reached. A report that NCMEC deleted (5001) is marked ``expired`` and
the case can be reported afresh: ``retracted`` and ``expired`` reports are closed, and sending the case again
makes a new report.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import select

from bastion.errors import NcmecError, ReportError, ReportStateError
from bastion.reports.models import NcmecFileRow, NcmecReportRow
from bastion.reports.ncmec.client import CODE_ALREADY_FINISHED, NcmecClient, OutcomeUnknown, ReportExpired, UploadMismatch
from bastion.reports.ncmec.model import IpCaptureEvent, NcmecFile, NcmecReportInput
from bastion.reports.ncmec.xml import build_file_details_xml, build_report_xml
from bastion.store.db import Store

#: reads a file's bytes for upload (from the vault, with the caller's identity, so the read is recorded)
ReadFile = Callable[[NcmecFileRow], bytes]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _file_to_json(f: NcmecFile) -> dict:
    d = asdict(f)
    for k in ("uploaded_at",):
        if d[k] is not None:
            d[k] = d[k].isoformat()
    if d["ip_event"] is not None and d["ip_event"]["at"] is not None:
        d["ip_event"]["at"] = d["ip_event"]["at"].isoformat()
    return d


def _file_from_json(d: dict) -> NcmecFile:
    d = dict(d)
    if d.get("uploaded_at"):
        d["uploaded_at"] = datetime.fromisoformat(d["uploaded_at"])
    ev = d.get("ip_event")
    if ev:
        ev = dict(ev)
        if ev.get("at"):
            ev["at"] = datetime.fromisoformat(ev["at"])
        d["ip_event"] = IpCaptureEvent(**ev)
    return NcmecFile(**d)


def create_report(session, report: NcmecReportInput, *, created_by: str, base_url: str, now: datetime | None = None) -> NcmecReportRow:
    """Store a draft: the report XML and each file's details, ready to send."""
    now = now or _now()
    xml = build_report_xml(report).decode("utf-8")
    row = NcmecReportRow(
        case_id=report.case_id, state="draft", base_url=base_url, report_xml=xml, created_by=created_by, created_at=now, updated_at=now
    )
    for i, f in enumerate(report.files):
        if f.blob_id is None:
            raise ReportError(f"{f.filename}: no copy in the evidence vault; preserve it before reporting")
        details = _file_to_json(f)
        details["industry_mou"] = report.industry_mou
        row.files.append(NcmecFileRow(position=i, blob_id=f.blob_id, filename=f.filename, sha256=f.sha256, state="pending", details=details))
    session.add(row)
    session.flush()
    return row


def _set(store: Store, row_id: int, **fields) -> NcmecReportRow:
    with store.session() as s, s.begin():
        row = s.get(NcmecReportRow, row_id)
        for k, v in fields.items():
            setattr(row, k, v)
        row.updated_at = _now()
        return row


def _set_file(store: Store, file_id: int, **fields) -> None:
    with store.session() as s, s.begin():
        f = s.get(NcmecFileRow, file_id)
        for k, v in fields.items():
            setattr(f, k, v)


def _load(store: Store, row_id: int) -> tuple[NcmecReportRow, list[NcmecFileRow]]:
    with store.session() as s:
        row = s.get(NcmecReportRow, row_id)
        if row is None:
            raise ReportError(f"no NCMEC report #{row_id}")
        files = list(s.scalars(select(NcmecFileRow).where(NcmecFileRow.report_id == row_id).order_by(NcmecFileRow.position)))
        s.expunge_all()
        return row, files


def send(
    store: Store,
    row_id: int,
    client: NcmecClient,
    read_file: ReadFile,
    *,
    on_finished: Callable[[NcmecReportRow], None] | None = None,
) -> NcmecReportRow:
    """Take the report as far as it can go: submit, upload, describe and finish each file. Resumable."""
    row, files = _load(store, row_id)
    if row.state in ("finished", "retracted", "expired"):
        raise ReportStateError(f"NCMEC report #{row_id} is {row.state}; nothing to send")
    if row.state == "retracting":
        raise ReportStateError(f"NCMEC report #{row_id} is being retracted; resolve it (the retraction is asked again)")
    damaged = [f for f in files if f.state == "damaged"]
    if damaged:
        raise ReportStateError(
            f"NCMEC report #{row_id}: {', '.join(f.filename for f in damaged)} arrived damaged at NCMEC (its MD5 differs); "
            "retract the report and report the case afresh"
        )
    if row.state == "submitting":
        raise ReportStateError(
            f"NCMEC report #{row_id}: a submission was sent but its answer was never recorded (crash or network failure). "
            "Check the CyberTipline for a report opened at that time, then resolve it: with NCMEC's report id if one exists, "
            "or without one if nothing arrived (`bastion report ncmec CASE --resolve [REPORT_ID]`)."
        )
    stuck = [f for f in files if f.state == "uploading"]
    if stuck:
        raise ReportStateError(
            f"NCMEC report #{row_id}: the upload of {', '.join(f.filename for f in stuck)} was sent but its answer was never "
            "recorded. Retract the report and make a new one, or, after checking, resolve it (the file is uploaded again)."
        )

    if row.state == "draft":
        _set(store, row_id, state="submitting", last_error=None)
        try:
            report_id = client.submit(row.report_xml.encode("utf-8"))
        except OutcomeUnknown as exc:
            _set(store, row_id, last_error=str(exc))
            raise
        except NcmecError as exc:  # refused: nothing was opened, the draft may be fixed and sent again
            _set(store, row_id, state="draft", last_error=str(exc))
            raise
        row = _set(store, row_id, state="submitted", ncmec_report_id=report_id, submitted_at=_now())

    report_id = row.ncmec_report_id
    try:
        for f in files:
            if f.state == "pending":
                data = read_file(f)
                _set_file(store, f.id, state="uploading")
                try:
                    r = client.upload(report_id, f.filename, data)
                except OutcomeUnknown:
                    raise
                except UploadMismatch as exc:
                    _set_file(store, f.id, state="damaged", ncmec_file_id=exc.file_id)
                    raise
                except ReportExpired:
                    _set_file(store, f.id, state="pending")
                    raise
                except NcmecError:
                    _set_file(store, f.id, state="pending")
                    raise
                _set_file(store, f.id, state="uploaded", ncmec_file_id=r.file_id)
                f.state, f.ncmec_file_id = "uploaded", r.file_id
            if f.state == "uploaded":
                details = dict(f.details)
                mou = bool(details.pop("industry_mou", False))
                xml = build_file_details_xml(report_id, f.ncmec_file_id, _file_from_json(details), industry_mou=mou)
                client.fileinfo(xml)
                _set_file(store, f.id, state="described")
        _set(store, row_id, state="finishing")
        answer = client.finish(report_id)
    except ReportExpired as exc:
        _set(store, row_id, state="expired", last_error=_expired_note(exc))
        raise
    except NcmecError as exc:
        _set(store, row_id, last_error=str(exc))
        raise
    note = None
    if answer.code == CODE_ALREADY_FINISHED:  # a retry after a lost answer: the first call finished it
        note = f"NCMEC answered {answer.code} ({answer.description}): finished by an earlier call whose answer was lost"
    row = _set(store, row_id, state="finished", finished_at=_now(), last_error=note)
    if on_finished is not None:
        on_finished(row)
    return row


def retract(store: Store, row_id: int, client: NcmecClient) -> NcmecReportRow:
    """Cancel a report NCMEC opened but that is not finished."""
    row, _ = _load(store, row_id)
    if row.state not in ("submitted", "finishing", "retracting"):
        raise ReportStateError(f"NCMEC report #{row_id} is {row.state}: only an opened, unfinished report can be retracted")
    _set(store, row_id, state="retracting")
    try:
        answer = client.retract(row.ncmec_report_id)
    except ReportExpired as exc:  # nothing left to retract: NCMEC deleted it
        return _set(store, row_id, state="expired", last_error=_expired_note(exc))
    except NcmecError as exc:
        _set(store, row_id, last_error=str(exc))
        raise
    note = None
    if answer.code != 0:  # 5101: retracted by an earlier call whose answer was lost
        note = f"NCMEC answered {answer.code} ({answer.description}): retracted by an earlier call whose answer was lost"
    return _set(store, row_id, state="retracted", retracted_at=_now(), last_error=note)


def _expired_note(exc: NcmecError) -> str:
    return (f"NCMEC no longer knows this report ({exc}); it deletes reports not finished within a day of opening "
            "or after an hour idle. The report is closed as expired; report the case afresh.")


def resolve(
    store: Store,
    row_id: int,
    *,
    report_id: int | None = None,
    file_id: str | None = None,
    open_client: Callable[[], NcmecClient] | None = None,
    on_finished: Callable[[NcmecReportRow], None] | None = None,
) -> NcmecReportRow:
    """The way out of every in-between state:

    * ``submitting`` — a person checked NCMEC: ``report_id`` it shows, or None when nothing arrived;
    * a file ``uploading`` — ``file_id`` NCMEC shows, or None (the file is uploaded again);
    * ``finishing`` — finish is asked again ("already finished" counts as finished);
    * ``retracting`` — retract is asked again ("already retracted" counts as retracted);
    * NCMEC answering 5001 to either — the report is marked ``expired``.
    """
    row, files = _load(store, row_id)
    if row.state == "submitting":
        return resolve_submission(store, row_id, report_id)
    if any(f.state == "uploading" for f in files):
        return resolve_uploads(store, row_id, file_id)
    if row.state in ("finishing", "retracting"):
        if open_client is None:
            raise ReportStateError(f"NCMEC report #{row_id} is {row.state}: resolving it asks NCMEC again, which needs a client")
        with open_client() as client:
            if row.state == "retracting":
                return retract(store, row_id, client)

            def no_upload(f: NcmecFileRow) -> bytes:
                raise ReportStateError(f"NCMEC report #{row_id}: {f.filename} is not described yet; send the report instead")

            return send(store, row_id, client, no_upload, on_finished=on_finished)
    raise ReportStateError(
        f"NCMEC report #{row_id} is {row.state}: nothing is waiting to be resolved"
        + ("; sending the case again resumes it" if row.state in ("draft", "submitted") else "")
    )


def resolve_submission(store: Store, row_id: int, ncmec_report_id: int | None) -> NcmecReportRow:
    """A person checked NCMEC after an unknown submission outcome: the report exists (its id) or not (None)."""
    row, _ = _load(store, row_id)
    if row.state != "submitting":
        raise ReportStateError(f"NCMEC report #{row_id} is {row.state}, not waiting for a submission to be resolved")
    if ncmec_report_id is None:
        return _set(store, row_id, state="draft", last_error=None)
    return _set(store, row_id, state="submitted", ncmec_report_id=ncmec_report_id, submitted_at=_now(), last_error=None)


def resolve_uploads(store: Store, row_id: int, file_id: str | None = None) -> NcmecReportRow:
    """A person checked an upload whose answer was lost: it arrived (``file_id``, as NCMEC shows it; one
    stuck upload at a time) or it did not (``None``: the file is uploaded again)."""
    row, files = _load(store, row_id)
    stuck = [f for f in files if f.state == "uploading"]
    if not stuck:
        raise ReportStateError(f"NCMEC report #{row_id} has no upload waiting to be resolved")
    if file_id is not None:
        if len(stuck) != 1:
            raise ReportStateError(f"NCMEC report #{row_id} has {len(stuck)} interrupted uploads; resolve them one at a time")
        _set_file(store, stuck[0].id, state="uploaded", ncmec_file_id=file_id)
    else:
        for f in stuck:
            _set_file(store, f.id, state="pending")
    return _set(store, row_id, last_error=None)


def report_state(store: Store, row_id: int) -> dict:
    row, files = _load(store, row_id)
    return {
        "id": row.id,
        "case_id": row.case_id,
        "state": row.state,
        "ncmec_report_id": row.ncmec_report_id,
        "base_url": row.base_url,
        "last_error": row.last_error,
        "files": [{"filename": f.filename, "state": f.state, "file_id": f.ncmec_file_id} for f in files],
    }
