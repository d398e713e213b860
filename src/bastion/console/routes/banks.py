"""The banks page: list, enable/disable, import a hash list, export one."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bastion.console import backend
from bastion.console.web import ConsoleDep, FormDep, Refused
from bastion.errors import BastionError

router = APIRouter()

EXPORT_FORMATS = {"csv": "text/csv", "lines": "text/plain", "te": "text/plain"}
MAX_IMPORT_BYTES = 64 * 1024 * 1024


@router.get("/banks", response_class=HTMLResponse)
def banks_page(request: Request, c: ConsoleDep, msg: str | None = None):
    with c.session() as db:
        v = c.viewer(request, db)
    c.require(v, "banks.read")
    banks = backend.list_banks(c.store)
    return c.render(request, "banks.html", v, banks=banks, msg=msg, formats=EXPORT_FORMATS, title="Banks")


@router.post("/banks/{name}/enabled")
def bank_enable(request: Request, c: ConsoleDep, form: FormDep, name: str):
    v = c.actor(request, form, "banks.write")
    try:
        backend.set_bank_enabled(c.store, name, form.get("enabled") == "1", v)
    except BastionError as exc:
        raise Refused(400, str(exc)) from None
    return c.redirect("/banks")


@router.post("/banks/{name}/import")
def bank_import(request: Request, c: ConsoleDep, form: FormDep, name: str):
    v = c.actor(request, form, "banks.write")
    upload = form.get("file")
    fmt = str(form.get("format", "") or "") or None
    if upload is None or isinstance(upload, str):
        raise Refused(400, "choose a file to import")
    raw = upload.file.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        raise Refused(413, "the file is larger than 64 MB; import it with `bastion bank import`")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Refused(400, "the file is not UTF-8 text") from None
    try:
        result = backend.import_bank(c.store, name, text, fmt, upload.filename or "upload", v)
    except BastionError as exc:
        raise Refused(400, str(exc)) from None
    msg = f"{name}: {result['added']} added, {result['merged']} already present"
    return c.redirect("/banks?msg=" + quote(msg))


@router.get("/banks/{name}/export")
def bank_export(request: Request, c: ConsoleDep, name: str, format: str = "csv"):
    with c.session() as db:
        v = c.viewer(request, db)
    c.require(v, "banks.export")
    if format not in EXPORT_FORMATS:
        raise Refused(400, f"unknown format {format!r}")
    try:
        text = backend.export_bank(c.store, name, format)
    except BastionError as exc:
        raise Refused(400, str(exc)) from None
    ext = "csv" if format == "csv" else "txt"
    return Response(text, media_type=EXPORT_FORMATS[format],
                    headers={"Content-Disposition": f'attachment; filename="{quote(name)}.{ext}"'})
