"""The case page: what was found, the account behind it, claiming, and the decision form."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from bastion.console import backend, exposure
from bastion.console.caseview import case_view
from bastion.reports import flows
from bastion.console.web import ConsoleDep, FormDep, Refused
from bastion.errors import BastionError, Conflict, Forbidden, NotFound

router = APIRouter()

@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, c: ConsoleDep, case_id: int, acknowledge: int = 0, msg: str | None = None):
    with c.session() as db:
        v = c.viewer(request, db)
        c.require(v, "cases.read")
        try:
            case = backend.get_case(db, case_id)
        except NotFound:
            raise Refused(404, f"no case {case_id}") from None
        # The service reports a claim only while it is live.
        holder, until = case.get("claimed_by"), case.get("claim_expires_at")
        held_by_other = bool(holder and holder != v.name)
        if held_by_other and not acknowledge:
            return c.render(request, "claimed.html", v, status=409, case=case, holder=holder, until=until,
                            title=f"Case {case_id} is claimed")
        account = backend.account_view(db, case) if v.can("accounts.read") else None
        prefs = exposure.preferences(db, v.user_id)
        banks = backend.bank_names(db) if v.can("banks.write") else []
        db.commit()
    # the NCMEC report's state, for those who may read it (routes/reports.py sends one)
    report = (flows.ncmec_state(c.store, case_id, v)
              if v.can("reports.read") and case.get("status") in ("decided", "reported") else None)
    decisions = case.get("decisions") or []
    confirmed = bool(decisions and decisions[-1].get("outcome") == "confirm" and not case.get("needs_second_look"))
    return c.render(request, "case.html", v, case=case, view=case_view(case), account=account, prefs=prefs,
                    suspension=backend.suspension_text((account or {}).get("suspension")),
                    report=report, confirmed=confirmed, msg=msg,
                    held_by_other=held_by_other, holder=holder, until=until,
                    mine=bool(holder and holder == v.name), banks=banks,
                    actions=backend.DECISION_ACTIONS, categories=backend.categories(), title=f"Case {case_id}")


@router.post("/cases/{case_id}/claim")
def claim(request: Request, c: ConsoleDep, form: FormDep, case_id: int):
    with c.acting(request, form, "cases.claim", refuse=(((Conflict, NotFound), 409),)) as (db, v):
        backend.claim(db, case_id, v)
    return c.redirect(f"/cases/{case_id}")


@router.post("/cases/{case_id}/release")
def release(request: Request, c: ConsoleDep, form: FormDep, case_id: int):
    with c.acting(request, form, "cases.claim", refuse=(((Conflict, Forbidden), 409),)) as (db, v):
        backend.release(db, case_id, v)
    return c.redirect("/queue")


def _suspension(form, actions: list[str]) -> tuple[str | None, int | None]:
    """The suspension fields of the decision form: a kind (``permanent`` unless ``temporary`` is chosen) and a
    length in days. Without ``suspend_account`` the form's default kind means nothing; a temporary kind or a
    length sent without it is passed on, and refused by the service with its reason."""
    kind = str(form.get("suspension", "") or "") or None
    raw = str(form.get("suspension_days", "") or "").strip()
    try:
        days = int(raw) if raw else None
    except ValueError:
        raise Refused(400, f"the suspension length must be a whole number of days, not {raw!r}") from None
    if "suspend_account" not in actions and kind in (None, "permanent") and days is None:
        return None, None
    return kind, days


@router.post("/cases/{case_id}/decide")
def decide(request: Request, c: ConsoleDep, form: FormDep, case_id: int):
    """Record a decision; answers JSON with the message and the case's (and account's) state after it, which
    the page shows without a reload."""
    with c.acting(request, form, "cases.decide") as (db, v):
        outcome = str(form.get("outcome", ""))
        if outcome not in backend.DECISION_OUTCOMES:
            raise Refused(400, "choose confirm or reject")
        sent = [str(a) for a in form.getlist("actions")]
        unknown = [a for a in sent if a not in backend.DECISION_ACTIONS]
        if unknown:
            raise Refused(400, f"unknown action(s): {', '.join(unknown)}")
        actions = list(dict.fromkeys(sent))
        if outcome == "confirm" and not actions:
            # A confirm that does nothing leaves the content up and the account as it was: say what to do.
            raise Refused(400, "a confirm needs at least one action (remove, suspend account, report, ...)")
        suspension, days = _suspension(form, actions)
        category = str(form.get("category", "") or "") or None
        note = (str(form.get("note", "") or "").strip() or None)
        bank = str(form.get("bank", "") or "") or None
        if bank and outcome == "confirm":
            c.require(v, "banks.write")
        try:
            case = backend.get_case(db, case_id)
        except NotFound:
            raise Refused(404, f"no case {case_id}") from None
        holder = case.get("claimed_by")
        if holder and holder != v.name:
            raise Refused(409, f"{holder} holds this case; it cannot be decided by you now")
        try:
            decision = backend.decide(db, case_id, v, outcome, category=category, actions=actions, note=note,
                                      suspension=suspension, suspension_days=days)
            second = bool(decision.needs_second_look)
        except (Conflict, Forbidden) as exc:
            db.rollback()
            raise Refused(409, str(exc)) from None
        except BastionError as exc:
            db.rollback()
            raise Refused(400, str(exc)) from None
        db.commit()
        after = backend.get_case(db, case_id)
        account = backend.account_view(db, after) if v.can("accounts.read") else None
    state = {"second_look": second, "status": after.get("status"), "category": after.get("category"),
             "account": (after.get("account") or {}).get("status"),
             "suspension": backend.suspension_text((account or {}).get("suspension")), "next": f"{c.root}/queue"}
    added = None
    if bank and outcome == "confirm" and not second:
        # After the decision committed: the bank repository writes in its own transaction.
        try:
            added = backend.add_case_media_to_bank(c.store, case, bank, v, c.holding)
        except BastionError as exc:
            return JSONResponse({"ok": True, "message": f"Case {case_id} confirmed, but the hashes were not "
                                 f"added to {bank}: {exc}", **state})
    msg = f"Case {case_id}: {'confirmed' if outcome == 'confirm' else 'rejected'}."
    if second:
        msg += " A reviewer's reject of an automated removal goes to a lead for a second look."
    if added:
        msg += (f" {added['added']} new hash(es) added to bank {bank} ({added['merged']} already there); "
                "stored media is re-matched against them in the background.")
    return JSONResponse({"ok": True, "message": msg, **state})
