"""`bastion terms ...`: candidates, add, remove, reject, list, retro — the platform's own lexicon and the
discovery of emerging coded terms (bastion.terms)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bastion.cli.app import app
from bastion.cli.common import cli_actor, handle_errors, out, store_of, store_session

terms_app = typer.Typer(help="Emerging coded terms: ranked candidates, and the platform's own lexicon (add, remove, reject).",
                        no_args_is_help=True)
app.add_typer(terms_app, name="terms")

_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    top = max(values, default=0)
    if top <= 0:
        return _SPARK[0] * len(values)
    return "".join(_SPARK[min(len(_SPARK) - 1, (v * (len(_SPARK) - 1) + top - 1) // top)] for v in values)


@terms_app.command("candidates")
@handle_errors
def candidates(
    ctx: typer.Context,
    since: Optional[str] = typer.Option(None, "--since", help="First day of the window (YYYY-MM-DD; default: 28 days before --until)."),
    until: Optional[str] = typer.Option(None, "--until", help="Last day of the window (default: today, UTC)."),
    language: Optional[str] = typer.Option(None, "--language", help="Only items in this language (e.g. en; und: unknown)."),
    limit: int = typer.Option(30, "--limit", help="How many candidates."),
    min_cases: int = typer.Option(2, "--min-cases", help="Confirmed cases a term must appear in."),
    min_z: float = typer.Option(3.0, "--min-z", help="The least log-odds z listed (see docs/text.md)."),
    min_log_odds: Optional[float] = typer.Option(None, "--min-log-odds", help="The least log-odds ratio listed (default: see docs/text.md)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object: the window and the candidates with their evidence."),
) -> None:
    """Terms the items of confirmed cases use far more than the rest of the platform, ranked (see docs/text.md)."""
    from bastion.terms.candidates import rank
    from bastion.text.lexicon import default_lexicon

    with store_session(ctx) as s:
        got = rank(s, default_lexicon(), since=since, until=until, language=language, limit=limit, min_cases=min_cases,
                   min_z=min_z, min_log_odds=min_log_odds)
    if as_json:
        print(json.dumps(got, ensure_ascii=False))
        return
    w = got["window"]
    out.print(f"window {w['since']} .. {w['until']}{' (' + escape(w['language']) + ')' if w['language'] else ''}: "
              f"{w['items']} items, {w['confirmed_items']} in confirmed cases, {w['rejected_items']} in rejected cases")
    if not got["candidates"]:
        out.print("no candidates: they appear once items of two or more confirmed cases share terms the lexicons do not know")
        return
    t = Table(title="Term candidates (highest score first)")
    for col in ("term", "kind", "score", "z", "confirmed", "all items", "cases", "first seen", "growth", "trend", "beside known terms"):
        t.add_column(col)
    for c in got["candidates"]:
        co = ", ".join(f"{x['term']} ({x['npmi']:+.2f})" for x in c["cooccurs"][:3])
        t.add_row(Text(c["term"]), c["kind"], f"{c['score']:.1f}", f"{c['z']:.1f}", str(c["confirmed_items"]), str(c["items"]),
                  str(c["confirmed_cases"]), c["first_seen"] or "", f"{c['growth']:+.1f}", sparkline(c["trend"]), Text(co))
    out.print(t)


@terms_app.command("add")
@handle_errors
def add(
    ctx: typer.Context,
    term: str = typer.Argument(..., help="The term as it is written (a leading # is dropped)."),
    category: str = typer.Option("coded", "--category", help="Lexicon category (coded, minor, sexual, trade, ...)."),
    language: str = typer.Option("und", "--language", help="Language code of the term (und: any)."),
    weight: float = typer.Option(0.9, "--weight", help="Weight in (0, 1]."),
    match: str = typer.Option("word", "--match", help="word (whole words, and pieces of hashtags) or substring."),
    note: str = typer.Option("", "--note", help="Why (kept in the audit log)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add a term to the platform's lexicon: every server applies it within a second; stored items holding it are re-scored."""
    from bastion.terms import service

    with store_session(ctx, write=True) as s:
        row = service.add_term(s, term, category=category, language=language, weight=weight, match=match,
                               actor=cli_actor(), note=note)
    if as_json:
        print(json.dumps(row, ensure_ascii=False))
        return
    out.print(f"added {escape(repr(row['term']))} ({row['category']}, {row['language']}, weight {row['weight']}); "
              "servers apply it within a second and re-score stored items holding it (`bastion terms retro` without a server)")


@terms_app.command("remove")
@handle_errors
def remove(ctx: typer.Context, term: str, note: str = typer.Option("", "--note")) -> None:
    """Remove a term from the platform's lexicon."""
    from bastion.terms import service

    with store_session(ctx, write=True) as s:
        row = service.remove_term(s, term, actor=cli_actor(), note=note)
    out.print(f"removed {escape(repr(row['term']))}")


@terms_app.command("reject")
@handle_errors
def reject(ctx: typer.Context, term: str, note: str = typer.Option("", "--note", help="Why it is not a code.")) -> None:
    """Reject a candidate: it is not proposed again."""
    from bastion.terms import service

    with store_session(ctx, write=True) as s:
        row = service.reject_candidate(s, term, actor=cli_actor(), note=note)
    out.print(f"rejected {escape(repr(row['term']))}: it will not be proposed again")


@terms_app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(None, "--status", help="active, rejected or removed (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """The platform's terms and rejected candidates."""
    from bastion.terms import service

    with store_session(ctx) as s:
        rows = service.list_terms(s, status)
    if as_json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return
    if not rows:
        out.print("no platform terms yet — add one with `bastion terms add TERM --category coded`")
        return
    t = Table(title="Platform terms")
    for col in ("term", "status", "category", "language", "weight", "match", "by", "updated"):
        t.add_column(col)
    for r in rows:
        t.add_row(Text(r["term"]), r["status"], r["category"] or "", r["language"] or "",
                  "" if r["weight"] is None else str(r["weight"]), r["match"] or "", Text(r["updated_by"]), r["updated_at"] or "")
    out.print(t)


@terms_app.command("retro")
@handle_errors
def retro(
    ctx: typer.Context,
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy file (default: the shipped policy)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Re-score stored items holding newly added terms now (a running server does this by itself)."""
    from bastion.policy import default_policy, load_policy
    from bastion.terms import retro as terms_retro
    from bastion.terms.live import LiveLexicon

    store = store_of(ctx)
    try:
        pol = load_policy(policy) if policy else default_policy()
        res = terms_retro.run(store, pol, LiveLexicon(store), max_changes=1000)
    finally:
        store.close()
    if as_json:
        print(json.dumps(res.to_dict()))
        return
    out.print(f"{res.changes} term change(s): {res.found} stored items hold the terms, {res.rescored} re-scored, "
              f"{len(res.cases)} case(s) opened or joined")
