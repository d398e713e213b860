"""Routes of emerging-term discovery and the platform's own lexicon. Thin: parse, authorise, call
bastion.terms, map the result."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from bastion.api.deps import Principal, require

router = APIRouter()


@router.get("/v1/terms/candidates")
def term_candidates(request: Request, since: str | None = None, until: str | None = None, language: str | None = None,
                    limit: int = Query(30, ge=1, le=500), min_cases: int = Query(2, ge=1, le=1000),
                    min_z: float = Query(3.0, ge=0, le=100), min_log_odds: float | None = Query(None, ge=-100, le=100),
                    _: Principal = Depends(require("terms.read"))):
    """Emerging terms, ranked: log-odds z of confirmed-case items against the rest of the platform, growth and
    co-occurrence with known terms; each with its evidence (see docs/text.md)."""
    from bastion.terms.candidates import rank

    svc = request.app.state.service
    with request.app.state.store.session() as s:
        return rank(s, svc.lexicon.current if svc.lexicon is not None else _default(), since=since, until=until,
                    language=language, limit=limit, min_cases=min_cases, min_z=min_z, min_log_odds=min_log_odds)


def _default():
    from bastion.text.lexicon import default_lexicon

    return default_lexicon()


@router.get("/v1/terms")
def list_terms(request: Request, status: str | None = None, _: Principal = Depends(require("terms.read"))):
    from bastion.terms import service

    with request.app.state.store.session() as s:
        return {"terms": service.list_terms(s, status)}


class TermIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    term: str = Field(min_length=1, max_length=120)
    category: str = Field(default="coded", max_length=32)
    language: str = Field(default="und", max_length=8)
    weight: float = 0.9
    match: str = Field(default="word", max_length=16)
    note: str = Field(default="", max_length=2000)


@router.post("/v1/terms", status_code=201)
def add_term(body: TermIn, request: Request, p: Principal = Depends(require("terms.write"))):
    """Add a term to the platform's lexicon: every server process applies it within a poll; stored items
    holding it are re-scored (`retro_text` cases and webhooks). Audited."""
    from bastion.terms import service

    with request.app.state.store.session() as s, s.begin():
        row = service.add_term(s, body.term, category=body.category, language=body.language, weight=body.weight,
                               match=body.match, actor=p.name, note=body.note)
    return JSONResponse(row, status_code=201)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    term: str = Field(min_length=1, max_length=120)
    note: str = Field(default="", max_length=2000)


@router.post("/v1/terms/rejections", status_code=201)
def reject_term(body: RejectIn, request: Request, p: Principal = Depends(require("terms.write"))):
    """Reject a candidate: it is not proposed again. Audited."""
    from bastion.terms import service

    with request.app.state.store.session() as s, s.begin():
        row = service.reject_candidate(s, body.term, actor=p.name, note=body.note)
    return JSONResponse(row, status_code=201)


@router.delete("/v1/terms/{term}")
def remove_term(term: str, request: Request, p: Principal = Depends(require("terms.write"))):
    """Remove a term from the platform's lexicon. Audited."""
    from bastion.terms import service

    with request.app.state.store.session() as s, s.begin():
        return service.remove_term(s, term, actor=p.name)
