"""Validation of a statement of reasons by the Transparency Database's own rules (its statement store request
rules and API documentation), so a batch is refused here with every problem listed, not by the database one
batch at a time (which refuses the whole batch of 100 for one bad statement).

Two rules are Bastion's own and stricter than the database: an unknown field is an error (the database
silently drops it, so a misspelt field would be lost), and an end date before the application date is an
error (the documentation asks for it; the request rules do not check it).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Iterable
from urllib.parse import urlparse

from bastion.errors import InvalidStatement
from bastion.reports.dsa import enums as E

PUID = re.compile(r"^[a-zA-Z0-9_-]+$")
EAN13 = re.compile(r"^[0-9]{13}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

MAX_LENGTH = {
    "decision_visibility_other": 500,
    "decision_monetary_other": 500,
    "category_specification_other": 500,
    "decision_ground_reference_url": 500,
    "illegal_content_legal_ground": 500,
    "illegal_content_explanation": 2000,
    "incompatible_content_ground": 500,
    "incompatible_content_explanation": 2000,
    "content_type_other": 500,
    "decision_facts": 5000,
    "source_identity": 500,
    "puid": 500,
}
END_DATES = (
    "end_date_account_restriction",
    "end_date_monetary_restriction",
    "end_date_service_restriction",
    "end_date_visibility_restriction",
)
KNOWN_FIELDS = frozenset(
    {
        "content_id", "content_id_ean", "decision_visibility", "decision_visibility_other", "decision_monetary",
        "decision_monetary_other", "decision_provision", "decision_account", "account_type", "category_specification",
        "category_specification_other", "decision_ground", "decision_ground_reference_url", "illegal_content_legal_ground",
        "illegal_content_explanation", "incompatible_content_ground", "incompatible_content_explanation",
        "incompatible_content_illegal", "content_type", "content_type_other", "category", "category_addition",
        "territorial_scope", "content_language", "content_date", "application_date", "decision_facts", "source_type",
        "source_identity", "automated_detection", "automated_decision", "puid", *END_DATES,
    }
)  # fmt: skip
RESTRICTIONS = ("decision_visibility", "decision_monetary", "decision_provision", "decision_account")


def _present(v) -> bool:
    """The database's notion of "filled": not null, not an empty string, not an empty list."""
    if v is None:
        return False
    if isinstance(v, str):
        return v.strip() != ""
    if isinstance(v, (list, tuple, dict)):
        return len(v) > 0
    return True


def _date(v, field: str, problems: list, *, low: str | None, high: str = "2038-01-01") -> date | None:
    if not isinstance(v, str) or not DATE.match(v):
        problems.append((field, "must be a date in the form YYYY-MM-DD"))
        return None
    try:
        d = date.fromisoformat(v)
    except ValueError:
        problems.append((field, f"{v!r} is not a calendar date"))
        return None
    if low and d < date.fromisoformat(low):
        problems.append((field, f"must be on or after {low}"))
    if d > date.fromisoformat(high):
        problems.append((field, f"must be on or before {high}"))
    return d


def statement_problems(st: dict) -> list[tuple[str, str]]:
    """Every rule ``st`` breaks, as ``(field, message)``; empty when the statement is valid."""
    p: list[tuple[str, str]] = []
    if not isinstance(st, dict):
        return [("(statement)", "must be a JSON object")]

    for k in sorted(set(st) - KNOWN_FIELDS):
        p.append((k, "is not a field of a statement of reasons"))

    def one_of(field: str, allowed, *, required: bool = False) -> None:
        v = st.get(field)
        if not _present(v):
            if required:
                p.append((field, "is required"))
            return
        if not isinstance(v, str) or v not in allowed:
            p.append((field, f"{v!r} is not one of the allowed values"))

    def list_of(field: str, allowed, *, required: bool = False) -> list:
        v = st.get(field)
        if not _present(v):
            if required:
                p.append((field, "is required"))
            return []
        if not isinstance(v, list):
            p.append((field, "must be an array"))
            return []
        bad = [x for x in v if x not in allowed]
        if bad:
            p.append((field, f"not allowed: {', '.join(map(repr, bad))}"))
        return v

    # what the decision restricted: at least one of four kinds
    if not any(_present(st.get(f)) for f in RESTRICTIONS):
        p.append(("decision_visibility", "one of decision_visibility, decision_monetary, decision_provision, decision_account is required"))
    vis = list_of("decision_visibility", E.DECISION_VISIBILITIES)
    if "DECISION_VISIBILITY_OTHER" in vis and not _present(st.get("decision_visibility_other")):
        p.append(("decision_visibility_other", "is required when decision_visibility includes DECISION_VISIBILITY_OTHER"))
    one_of("decision_monetary", E.DECISION_MONETARIES)
    if st.get("decision_monetary") == "DECISION_MONETARY_OTHER" and not _present(st.get("decision_monetary_other")):
        p.append(("decision_monetary_other", "is required when decision_monetary is DECISION_MONETARY_OTHER"))
    one_of("decision_provision", E.DECISION_PROVISIONS)
    one_of("decision_account", E.DECISION_ACCOUNTS)
    one_of("account_type", E.ACCOUNT_TYPES)

    # grounds and their conditional fields
    one_of("decision_ground", E.DECISION_GROUNDS, required=True)
    ground = st.get("decision_ground")
    if ground == "DECISION_GROUND_ILLEGAL_CONTENT":
        for f in ("illegal_content_legal_ground", "illegal_content_explanation"):
            if not _present(st.get(f)):
                p.append((f, "is required when decision_ground is DECISION_GROUND_ILLEGAL_CONTENT"))
    if ground == "DECISION_GROUND_INCOMPATIBLE_CONTENT":
        for f in ("incompatible_content_ground", "incompatible_content_explanation"):
            if not _present(st.get(f)):
                p.append((f, "is required when decision_ground is DECISION_GROUND_INCOMPATIBLE_CONTENT"))
        one_of("incompatible_content_illegal", E.INCOMPATIBLE_CONTENT_ILLEGALS)
    url = st.get("decision_ground_reference_url")
    if _present(url):
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            p.append(("decision_ground_reference_url", "must be a URL"))

    # what and which category
    types = list_of("content_type", E.CONTENT_TYPES, required=True)
    if "CONTENT_TYPE_OTHER" in types and not _present(st.get("content_type_other")):
        p.append(("content_type_other", "is required when content_type includes CONTENT_TYPE_OTHER"))
    one_of("category", E.STATEMENT_CATEGORIES, required=True)
    list_of("category_addition", E.STATEMENT_CATEGORIES)
    list_of("category_specification", E.KEYWORDS)
    list_of("territorial_scope", E.EUROPEAN_COUNTRY_CODES)
    one_of("content_language", E.LANGUAGES)

    # content identifiers
    cid = st.get("content_id")
    if cid is not None:
        if not isinstance(cid, dict):
            p.append(("content_id", "must be an object"))
        elif "EAN-13" in cid and not (isinstance(cid["EAN-13"], str) and EAN13.match(cid["EAN-13"])):
            p.append(("content_id.EAN-13", "must be 13 digits"))
    ean = st.get("content_id_ean")
    if ean is not None and not (isinstance(ean, str) and EAN13.match(ean)):
        p.append(("content_id_ean", "must be 13 digits"))

    # dates
    if _present(st.get("content_date")):
        _date(st["content_date"], "content_date", p, low="2000-01-01")
    else:
        p.append(("content_date", "is required"))
    applied = None
    if _present(st.get("application_date")):
        applied = _date(st["application_date"], "application_date", p, low="2020-01-01")
    else:
        p.append(("application_date", "is required"))
    for f in END_DATES:
        if st.get(f) is not None:
            end = _date(st[f], f, p, low=None)
            if end is not None and applied is not None and end < applied:
                p.append((f, "must be on or after the application date"))

    # how it was decided
    if not _present(st.get("decision_facts")):
        p.append(("decision_facts", "is required"))
    one_of("source_type", E.SOURCE_TYPES, required=True)
    one_of("automated_detection", E.AUTOMATED_DETECTIONS, required=True)
    one_of("automated_decision", E.AUTOMATED_DECISIONS, required=True)

    puid = st.get("puid")
    if not _present(puid):
        p.append(("puid", "is required"))
    elif not isinstance(puid, str) or not PUID.match(puid):
        p.append(("puid", "may contain only letters, digits, '-' and '_'"))

    for f, limit in MAX_LENGTH.items():
        v = st.get(f)
        if isinstance(v, str) and len(v) > limit:
            p.append((f, f"is longer than {limit} characters ({len(v)})"))
    return p


def validate_statements(statements: Iterable[dict]) -> None:
    """Raise :class:`InvalidStatement` listing every problem of every statement, including puids repeated
    within the list (the database requires a puid to be unique within the platform)."""
    problems = []
    seen: dict[str, int] = {}
    for i, st in enumerate(statements):
        where = st.get("puid") if isinstance(st, dict) and isinstance(st.get("puid"), str) else f"#{i}"
        for field, msg in statement_problems(st):
            problems.append((where, field, msg))
        puid = st.get("puid") if isinstance(st, dict) else None
        if isinstance(puid, str):
            if puid in seen:
                problems.append((where, "puid", f"repeats statement #{seen[puid]}'s puid"))
            else:
                seen[puid] = i
    if problems:
        raise InvalidStatement(problems)


def validate_statement(st: dict) -> None:
    validate_statements([st])
