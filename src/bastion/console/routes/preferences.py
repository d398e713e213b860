"""A reviewer's own media preferences (within the organisation's floors) and breaks."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bastion.console import backend, exposure
from bastion.console.web import ConsoleDep, FormDep, Refused

router = APIRouter()


@router.get("/preferences", response_class=HTMLResponse)
def prefs_page(request: Request, c: ConsoleDep, saved: int = 0):
    with c.session() as db:
        v = c.viewer(request, db)
        org = exposure.org_defaults(db)
        prefs = exposure.preferences(db, v.user_id, org)
        db.commit()
    return c.render(request, "preferences.html", v, prefs=prefs, org=org, saved=saved, title="Preferences")


@router.post("/preferences")
def prefs_save(request: Request, c: ConsoleDep, form: FormDep):
    with c.acting(request, form, None) as (db, v):  # a user's own preferences: no permission
        def tri(name: str) -> bool | None:
            val = form.get(name, "")
            return None if val in ("", "default") else val == "on"

        blur_raw = str(form.get("blur", "") or "")
        try:
            blur = int(blur_raw) if blur_raw not in ("", "default") else None
            exposure.set_preferences(db, v.user_id, blur=blur, grayscale=tri("grayscale"),
                                     mute_video=tri("mute_video"))
        except (ValueError, exposure.InvalidSetting) as exc:
            raise Refused(400, f"invalid preference: {exc}") from None
    return c.redirect("/preferences?saved=1")


@router.post("/break")
def take_break(request: Request, c: ConsoleDep, form: FormDep):
    with c.acting(request, form, None) as (db, v):  # a user's own break: no permission
        exposure.start_break(db, v.user_id, c.now())
        backend.audit(db, v.name, "console.break", "user", v.name, {})
    return c.redirect("/preferences")
