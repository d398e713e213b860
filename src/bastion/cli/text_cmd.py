"""`bastion text`, `bastion lexicon check`, `bastion eval text` (issue 4).

Exit statuses follow the CLI convention: 0 nothing found / success, 1 something found (or a check
failed), 2 usage or fatal error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bastion.cli.app import app
from bastion.errors import BastionError
from bastion.text import FIELDS, TextResult, analyze, load_lexicon, load_scoring_config
from bastion.text.evaluate import EVAL_CATEGORIES, evaluate, read_corpus
from bastion.text.lexicon import Lexicon, check_lexicon_file
from bastion.text.score import ScoringConfig

lexicon_app = typer.Typer(help="Validate lexicon files (YAML or CSV) before deploying them.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate detectors against a labelled corpus.", no_args_is_help=True)
app.add_typer(lexicon_app, name="lexicon")
app.add_typer(eval_app, name="eval")

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False)


def _fail(exc: BastionError) -> typer.Exit:
    _err.print(f"[red]error[/red] ({exc.code}): {escape(str(exc))}")
    return typer.Exit(2)


def _load(lexicon_files: list[Path] | None, config_file: Path | None) -> tuple[Lexicon, ScoringConfig | None]:
    lex = load_lexicon(lexicon_files or [])
    cfg = load_scoring_config(config_file) if config_file else None
    return lex, cfg


def _highlight(text: str, spans: list[tuple[int, int]]) -> str:
    """The original text with every signal span marked (overlapping spans merged)."""
    merged: list[list[int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out, last = [], 0
    for s, e in merged:
        out.append(escape(text[last:s]))
        out.append(f"[reverse bold]{escape(text[s:e])}[/reverse bold]")
        last = e
    out.append(escape(text[last:]))
    return "".join(out)


_LEVEL_STYLE = {"none": "green", "low": "cyan", "medium": "yellow", "high": "red", "critical": "bold red"}


def _print_result(text: str, res: TextResult) -> None:
    style = _LEVEL_STYLE.get(res.level, "")
    _out.print(f"[{style}]{res.level}[/{style}] ({res.score:.2f})  {_highlight(text, [s.span for s in res.signals if s.span])}")
    for s in res.signals:
        counted = "" if s.evidence.get("counted", True) else "  [dim](not counted)[/dim]"
        lang = f" {s.language}" if s.language else ""
        matched = s.evidence.get("matched", "")
        _out.print(
            f"  {s.category:<8} {escape(str(s.term))!s:<14} {escape(repr(matched))} at {s.span[0]}-{s.span[1]}"
            f" w={s.weight:.2f}{lang} \\[{escape(str(s.evidence.get('rule', '')))}]{counted}"
            if s.span else f"  {s.category} {escape(str(s.term))}"
        )
    for r in res.reasons:
        _out.print(f"  [dim]- {escape(r)}[/dim]")


def _texts(text: Optional[str]) -> Iterator[str]:
    if text is not None and text != "-":
        yield text
        return
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line:
            yield line


@app.command("text")
def text_command(
    text: Optional[str] = typer.Argument(None, help="Text to analyse; omit (or '-') to read one text per line from stdin."),
    field: str = typer.Option("body", "--field", "-f", help=f"Field the text comes from: {', '.join(FIELDS)}."),
    language: Optional[str] = typer.Option(None, "--language", "-l", help="Declared language (default: guessed)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per text."),
    lexicon_files: Optional[List[Path]] = typer.Option(None, "--lexicon", help="Platform lexicon file(s) merged over the shipped lists."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="Scoring config YAML (default: shipped)."),
) -> None:
    """Find text signals (minor, sexual, trade, coded, contact, payment, price) and score them."""
    try:
        lex, cfg = _load(lexicon_files, config_file)
        found = False
        for t in _texts(text):
            res = analyze(t, field, language, lexicon=lex, config=cfg)
            found = found or res.level != "none"
            if json_out:
                sys.stdout.write(json.dumps({"text": t, "field": field, **res.to_dict()}, ensure_ascii=False) + "\n")
            else:
                _print_result(t, res)
    except BastionError as exc:
        raise _fail(exc) from exc
    raise typer.Exit(1 if found else 0)


@lexicon_app.command("check")
def lexicon_check(
    file: Path = typer.Argument(..., help="Lexicon file (YAML or CSV) to validate."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Validate one lexicon file: every problem with its location; exit 1 when any."""
    lex, problems, warnings = check_lexicon_file(file)
    if json_out:
        cats: dict[str, int] = {}
        for e in lex.entries:
            cats[e.category] = cats.get(e.category, 0) + 1
        sys.stdout.write(json.dumps({"file": str(file), "valid": not problems, "terms": len(lex.entries),
                                     "categories": cats, "problems": [list(p) for p in problems],
                                     "warnings": warnings}, ensure_ascii=False) + "\n")
    else:
        for path, where, msg in problems:
            _out.print(f"[red]problem[/red] {escape(path)}:{escape(where)}: {escape(msg)}")
        for w in warnings:
            _out.print(f"[yellow]warning[/yellow] {escape(w)}")
        status = "[green]valid[/green]" if not problems else "[red]invalid[/red]"
        _out.print(f"{status}: {len(lex.entries)} terms, {len(problems)} problem(s), {len(warnings)} warning(s)")
    raise typer.Exit(1 if problems else 0)


@eval_app.command("text")
def eval_text(
    corpus: Path = typer.Argument(..., help="JSONL corpus: text, field, language, labels."),
    worst: int = typer.Option(10, "--worst", help="How many of the worst misses to print."),
    json_out: bool = typer.Option(False, "--json"),
    lexicon_files: Optional[List[Path]] = typer.Option(None, "--lexicon", help="Platform lexicon file(s)."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="Scoring config YAML."),
) -> None:
    """Precision, recall and F1 per category and overall, with the worst misses."""
    try:
        lex, cfg = _load(lexicon_files, config_file)
        report = evaluate(read_corpus(corpus), lexicon=lex, config=cfg)
    except BastionError as exc:
        raise _fail(exc) from exc
    if json_out:
        sys.stdout.write(json.dumps(report.to_dict(worst), ensure_ascii=False) + "\n")
        raise typer.Exit(0)
    table = Table(title=f"{corpus} ({report.total} texts)")
    for col in ("category", "tp", "fp", "fn", "precision", "recall", "F1"):
        table.add_column(col, justify="left" if col == "category" else "right")
    rows = [(c, report.per_category[c]) for c in EVAL_CATEGORIES] + [("overall", report.overall)]
    for name, st in rows:
        table.add_row(name, str(st.tp), str(st.fp), str(st.fn), f"{st.precision:.3f}", f"{st.recall:.3f}", f"{st.f1:.3f}")
    _out.print(table)
    if worst:
        _out.print("[bold]worst misses[/bold]")
        for m in report.worst(worst):
            _out.print(f"  line {m.record.line} [{m.record.field}/{m.record.language}] {escape(repr(m.record.text))}"
                       f" level={m.level} missing={m.missing} extra={m.extra}")
    raise typer.Exit(0)
