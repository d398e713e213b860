"""The console's one door into the service: every call it makes to auth, cases, banks, policy and effects.

Kept in one module so the console's pages never reach into another package's tables for anything that
changes state; decisions, claims, users and tokens go through the same functions as the HTTP API.
The few read-only aggregate queries the queue needs (counts per filter) are here too, in the open.
It imports no page module (``bastion.console.web``, ``bastion.console.routes``): pages call down into it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.auth import service as auth
from bastion.auth.models import UserRow
from bastion.cases import service as cases
from bastion.cases.models import CaseRow
from bastion.effects import audit as audit_log
from bastion.errors import InvalidInput
from bastion.model import DECISION_ACTIONS, DECISION_OUTCOMES  # noqa: F401 (the one list; the case page offers it)

QUEUE_STATUSES = ("open", "in_review")


def user_by_id(db: Session, user_id: int) -> UserRow | None:
    return db.get(UserRow, user_id)


def user_named(db: Session, name: str) -> UserRow | None:
    return db.scalar(select(UserRow).where(UserRow.name == name))


def authenticate(db: Session, name: str, password: str) -> UserRow | None:
    return auth.authenticate(db, name, password)


def audit(db: Session, actor: str, action: str, target_type: str, target_id: str, details: dict) -> None:
    """Append to the audit chain in the caller's transaction (it commits with the change it records)."""
    audit_log.append(db, actor, action, target_type, target_id, details)


def queue_counts(db: Session, statuses: tuple[str, ...] = QUEUE_STATUSES) -> dict[str, Counter]:
    """Counts of queued cases per category, source, bank and language (the service's) and per account."""
    from bastion.cases.models import AccountRow

    counts = cases.case_counts(db, status=statuses)
    out = {k: Counter(counts.get(k, {})) for k in ("category", "source", "bank", "language")}
    out["account"] = Counter(dict(db.execute(
        select(AccountRow.external_id, func.count()).join(CaseRow, CaseRow.account_id == AccountRow.id)
        .where(CaseRow.status.in_(statuses)).group_by(AccountRow.external_id)).all()))
    return out


def list_cases(db: Session, **filters: Any) -> tuple[list[dict], Any]:
    return cases.list_cases(db, **{k: v for k, v in filters.items() if v not in (None, "")})


def get_case(db: Session, case_id: int) -> dict:
    return cases.get_case(db, case_id)


# --- users ------------------------------------------------------------------------------------------

from bastion.auth.permissions import ROLES, allowed  # noqa: E402,F401 (allowed: used by the pages)


def roles() -> tuple[str, ...]:
    return tuple(ROLES)


def user_names(db: Session, ids: set) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(db.execute(select(UserRow.id, UserRow.name).where(UserRow.id.in_(ids))).all())


def user_id(db: Session, name: str) -> int:
    return auth.get_user(db, name).id


def list_users(db: Session) -> list[UserRow]:
    return auth.list_users(db)


def create_user(db: Session, name: str, role: str, password: str | None, actor) -> UserRow:
    return auth.create_user(db, name, role, password, actor=actor.name)


def set_role(db: Session, name: str, role: str, actor) -> UserRow:
    return auth.set_role(db, name, role, actor=actor.name)


def set_disabled(db: Session, name: str, disabled: bool, actor) -> UserRow:
    return auth.set_disabled(db, name, disabled, actor=actor.name)


def list_tokens(db: Session) -> list[dict]:
    out = []
    for row, user in auth.list_tokens(db):
        out.append({"id": row.id, "user": user, "name": row.name, "prefix": row.prefix, "created_at": row.created_at,
                    "last_used_at": row.last_used_at, "revoked_at": row.revoked_at})
    return out


def create_token(db: Session, user_name: str, label: str | None, actor):
    return auth.create_token(db, user_name, label, actor=actor.name)


def revoke_token(db: Session, token_id: int, actor):
    return auth.revoke_token(db, token_id, actor=actor.name)


# --- cases --------------------------------------------------------------------------------------------


def _user_row(db: Session, viewer) -> UserRow:
    return db.get(UserRow, viewer.user_id)


def claim(db: Session, case_id: int, viewer):
    return cases.claim_case(db, case_id, _user_row(db, viewer))


def release(db: Session, case_id: int, viewer):
    return cases.release_case(db, case_id, _user_row(db, viewer))


def decide(db: Session, case_id: int, viewer, outcome: str, *, category, actions, note, suspension=None,
           suspension_days=None):
    return cases.decide(db, case_id, _user_row(db, viewer), outcome, category=category, actions=tuple(actions),
                        note=note, suspension=suspension, suspension_days=suspension_days)


def suspension_text(suspension: dict | None) -> str:
    """How the console words an account's suspension (``account_view``'s ``suspension``)."""
    if not suspension:
        return ""
    if suspension.get("kind") != "temporary":
        return "permanent"
    text = f"temporary, {suspension.get('days')} day(s)"
    return text + (f", until {suspension['until'][:10]} (UTC)" if suspension.get("until") else "")


def categories() -> tuple[str, ...]:
    return ("csam", "csam-generated", "sexualisation", "grooming", "trade", "not-violating", "other")


def account_view(db: Session, case: dict) -> dict | None:
    acc = case.get("account")
    ext = acc.get("id") if isinstance(acc, dict) else None
    if not ext:
        return None
    return cases.account_view(db, ext)


def add_case_media_to_bank(store, case: dict, bank: str, actor, holding=None) -> dict:
    """The feedback loop: the confirmed case's image hashes go into ``bank``. The repository logs the change;
    the service's retro-matcher then matches the new hashes against every stored media hash.

    An image whose bytes are still in ``holding`` goes in as media Bastion holds: its reference PDQ (what an
    export carries) and its derived sub-region entries, so cropped copies match as crops of it
    (``bastion.banks.from_files``). Otherwise the scan's PDQ is used."""
    from bastion.banks.from_files import image_entries
    from bastion.model import HashEntry

    entries, held = [], []
    ref = f"console: case {case['id']} confirmed by {actor.name}"
    for item in case.get("items") or []:
        for m in item.get("media") or []:
            label = f"case {case['id']}: {m.get('filename') or m.get('sha256', '')[:12]}"
            got = None
            if m.get("pdq") and holding is not None and m.get("sha256") and holding.exists(m["sha256"]):
                got = image_entries(holding.get(m["sha256"]), label, ref)
                if got.parent is not None and (m.get("quality") or 0) >= 50:
                    held.append(got)
            elif m.get("pdq") and (m.get("quality") or 0) >= 50:
                entries.append(HashEntry("pdq", m["pdq"], label, ref))
            for t in ("md5", "sha256"):
                if m.get(t):
                    entries.append(HashEntry(t, m[t], label, ref))
    if not entries and not held:
        return {"added": 0, "merged": 0}
    repo = _repo(store)
    result = repo.add_entries(bank, entries)
    derived = 0
    for got in held:
        r = repo.add_with_derived(bank, [got.parent], got.parent, got.derived)
        result.added, result.merged, derived = result.added + r.added, result.merged + r.merged, derived + r.derived_added
    with store.session() as db:
        audit(db, actor.name, "bank.add_from_case", "bank", bank,
              {"case": case["id"], "added": result.added, "merged": result.merged, "derived_added": derived})
        db.commit()
    return {"added": result.added, "merged": result.merged, "derived_added": derived}


# --- banks --------------------------------------------------------------------------------------------


def _repo(store):
    from bastion.banks.repo import BankRepository

    return BankRepository(store)


def list_banks(store) -> list:
    return _repo(store).list()


def bank_names(db: Session) -> list[str]:
    from bastion.store.schema import BankRow

    return [n for n, cat in db.execute(select(BankRow.name, BankRow.category).order_by(BankRow.name)).all()
            if cat != "known-benign"]


def set_bank_enabled(store, name: str, enabled: bool, actor) -> None:
    _repo(store).update(name, enabled=enabled)
    with store.session() as db:
        audit(db, actor.name, "bank.enable" if enabled else "bank.disable", "bank", name, {})
        db.commit()


def import_bank(store, name: str, text: str, fmt: str | None, filename: str, actor) -> dict:
    import io

    from bastion.banks.formats import read_hash_list

    parsed = read_hash_list(io.StringIO(text), fmt, name=filename)
    result = _repo(store).add_entries(name, parsed.entries)
    with store.session() as db:
        audit(db, actor.name, "bank.import", "bank", name,
              {"file": filename, "added": result.added, "merged": result.merged})
        db.commit()
    return {"added": result.added, "merged": result.merged}


def export_bank(store, name: str, fmt: str) -> str:
    import io

    from bastion.banks.formats import write_hash_list

    out = io.StringIO()
    write_hash_list(_repo(store).iter_entries(name), out, fmt)
    return out.getvalue()


# --- policy -------------------------------------------------------------------------------------------


def active_policy(policy) -> tuple[Any, str]:
    """The policy the service runs (the shipped default when none is given) and its text."""
    from importlib import resources
    from pathlib import Path

    if policy is None:
        from bastion.policy import default_policy

        policy = default_policy()
    text = ""
    path = getattr(policy, "path", "") or ""
    try:
        p = Path(path)
        if path and p.is_file():
            text = p.read_text(encoding="utf-8")
        else:
            text = resources.files("bastion.policy").joinpath("default.yaml").read_text(encoding="utf-8")
    except OSError:
        text = ""
    return policy, text


# --- audit and webhooks ---------------------------------------------------------------------------------


def audit_entries(db: Session, **filters: Any) -> tuple[list[dict], Any]:
    return audit_log.list_entries(db, limit=100, **filters)


def audit_verify(db: Session):
    return audit_log.verify(db)


# --- term candidates ----------------------------------------------------------------------------------


def sparkline_points(values: list[int], width: int = 120, height: int = 24) -> str:
    """SVG polyline points of a daily series (the Terms page's trend)."""
    if not values:
        return ""
    top = max(max(values), 1)
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values))


def term_candidates(db: Session, c, *, since=None, until=None, language=None, limit: int = 50, min_z: float = 3.0) -> dict:
    """The ranked candidates (bastion.terms.candidates) with the lexicon the server currently applies."""
    from bastion.terms.candidates import rank
    from bastion.text.lexicon import default_lexicon

    service = getattr(c.ctx, "service", None)
    live = getattr(service, "lexicon", None)
    got = rank(db, live.current if live is not None else default_lexicon(), since=since, until=until,
               language=language, limit=limit, min_z=min_z)
    for cand in got["candidates"]:
        cand["spark"] = sparkline_points(cand["trend"])
    return got


def platform_terms(db: Session) -> list[dict]:
    from bastion.terms import service

    return service.list_terms(db)


def change_term(db: Session, action: str, term: str, form, actor) -> str:
    """Add, reject or remove a platform term from the console (audited by bastion.terms.service)."""
    from bastion.terms import service

    if action == "add":
        try:
            weight = float(str(form.get("weight", "0.9") or "0.9"))
        except ValueError:
            raise InvalidInput("weight must be a number") from None
        row = service.add_term(db, term, category=str(form.get("category", "coded") or "coded"),
                               language=str(form.get("language", "und") or "und"), weight=weight,
                               match=str(form.get("match", "word") or "word"), actor=actor.name,
                               note=str(form.get("note", "") or ""))
        return f"added {row['term']} ({row['category']}): every server applies it within a second; stored items holding it are re-scored"
    if action == "reject":
        row = service.reject_candidate(db, term, actor=actor.name, note=str(form.get("note", "") or ""))
        return f"rejected {row['term']}: it will not be proposed again"
    row = service.remove_term(db, term, actor=actor.name)
    return f"removed {row['term']}"


def webhooks(db: Session) -> tuple[list | None, list]:
    """(subscriptions, dead letters)."""
    from bastion.effects import webhooks as wh

    subs = [s.to_dict() for s in wh.list_subscriptions(db)]
    dead, _ = wh.list_dead_letters(db, limit=100)
    return subs, dead


def replay_dead_letters(db: Session, ids: list[int] | None, actor) -> int:
    from bastion.effects import webhooks as wh

    return wh.replay_dead_letters(db, ids, actor=actor.name)
