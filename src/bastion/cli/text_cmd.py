"""`bastion text`, `bastion lexicon check`, `bastion eval text` (issue 4).

Exit statuses follow the CLI convention: 0 nothing found / success, 1 something found (or a check
failed), 2 usage or fatal error.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from bastion.cli.app import app
from bastion.cli.common import err as _err
from bastion.cli.common import out as _out
from bastion.cli.toplevel import mask_secrets
from bastion.errors import BastionError
from bastion.text import FIELDS, TextResult, analyze, analyze_item, load_lexicon, load_scoring_config
from bastion.text.errors import InvalidText, UnknownField
from bastion.text.evaluate import EVAL_CATEGORIES, evaluate, read_corpus
from bastion.text.lexicon import Lexicon, check_lexicon_file
from bastion.text.score import LEVELS, ScoringConfig

lexicon_app = typer.Typer(help="Validate lexicon files (YAML or CSV) before deploying them.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate detectors against a labelled corpus.", no_args_is_help=True)
app.add_typer(lexicon_app, name="lexicon")
app.add_typer(eval_app, name="eval")

def _fail(exc: BastionError) -> typer.Exit:
    _err.print(f"[red]error[/red] ({exc.code}): {escape(mask_secrets(str(exc)))}")
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


def _print_result(text: str, res: TextResult, spans: bool = True) -> None:
    style = _LEVEL_STYLE.get(res.level, "")
    shown = _highlight(text, [s.span for s in res.signals if s.span]) if spans else escape(text)
    _out.print(f"[{style}]{res.level}[/{style}] ({res.score:.2f})  {shown}")
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


#: ``--fail-level`` names: the text levels, and ``review`` (the level at which a person should look).
FAIL_LEVELS = ("low", "review", "medium", "high", "critical", "never")


@dataclass
class _Input:
    """One input: a plain text line, or a JSON-lines item with one or several fields."""

    line: int
    pairs: list[tuple[str, str]]
    id: object = None
    error: str | None = None
    item: bool = False


def _item(line: int, d: dict, default_field: str) -> _Input:
    """``{"id", "field", "text"}``, ``{"id", "texts": [{"field", "text"}, ...]}`` or ``{"id", "title": ...,
    "body": ..., "tag": [...]}`` (any of the text fields, a string or a list of strings)."""
    pairs: list[tuple[str, str]] = []
    ident = d.get("id")
    try:
        if "text" in d:
            pairs.append((str(d.get("field") or default_field), d["text"]))
        for t in d.get("texts") or []:
            pairs.append((str(t.get("field") or default_field), t["text"]))
        for f in FIELDS:
            v = d.get(f)
            for t in ([v] if isinstance(v, str) else v if isinstance(v, list) else []):
                pairs.append((f, t))
    except (AttributeError, KeyError, TypeError) as exc:
        return _Input(line, [], ident, f"malformed item ({type(exc).__name__}: {exc})", True)
    bad = [t for _, t in pairs if not isinstance(t, str)]
    if bad:
        return _Input(line, [], ident, "every text must be a string", True)
    if not pairs and not ({"text", "texts"} & d.keys() or set(FIELDS) & d.keys()):
        return _Input(line, [], ident, f"no text in the item (keys: text, texts or a field: {', '.join(FIELDS)})", True)
    return _Input(line, pairs, ident, None, True)


def _inputs(text: Optional[str], field: str, fmt: str) -> Iterator[_Input]:
    """The texts to analyse, in input order: one result per input line, blank lines included, so output
    lines stay aligned with input lines."""
    if text is not None and text != "-":
        yield _Input(1, [(field, text)])
        return
    for n, line in enumerate(sys.stdin, start=1):
        line = line.rstrip("\r\n")
        if fmt != "text" and line.lstrip().startswith("{"):
            try:
                d = json.loads(line)
            except ValueError as exc:
                if fmt == "jsonl":
                    yield _Input(n, [], None, f"not valid JSON: {exc}", True)
                    continue
                d = None
            if isinstance(d, dict):
                yield _item(n, d, field)
                continue
        if fmt == "jsonl":
            yield _Input(n, [], None, "not a JSON object", True)
            continue
        yield _Input(n, [(field, line)])


@app.command("text")
def text_command(
    text: Optional[str] = typer.Argument(None, help="Text to analyse; omit (or '-') to read one text per line from stdin."),
    field: str = typer.Option("body", "--field", "-f", help=f"Field the text comes from: {', '.join(FIELDS)}."),
    language: Optional[str] = typer.Option(None, "--language", "-l", help="Declared language (default: guessed)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per text."),
    lexicon_files: Optional[List[Path]] = typer.Option(None, "--lexicon", help="Platform lexicon file(s) merged over the shipped lists."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="Scoring config YAML (default: shipped)."),
    fail_level: str = typer.Option(
        "review", "--fail-level",
        help=f"Exit 1 when a text scores this level or above: {', '.join(FAIL_LEVELS)} (review = medium; never: "
             "always exit 0 unless an error).",
    ),
    input_format: str = typer.Option(
        "auto", "--input",
        help="Standard input lines are: auto (a line that is a JSON object is an item, others are texts), text, jsonl. "
             'Items: {"id", "field", "text"} or {"id", "title": ..., "body": ..., "tag": [...]}.',
    ),
) -> None:
    """Find text signals (minor, sexual, trade, coded, contact, payment, price) and score them.

    Exit 0: nothing at --fail-level or above; 1: a text at --fail-level or above; 2: an error (a bad input
    line is reported in its place and the others are still analysed)."""
    if fail_level not in FAIL_LEVELS:
        raise typer.BadParameter(f"{fail_level!r} is not one of {', '.join(FAIL_LEVELS)}", param_hint="--fail-level")
    if input_format not in ("auto", "text", "jsonl"):
        raise typer.BadParameter(f"{input_format!r} is not one of auto, text, jsonl", param_hint="--input")
    threshold = None if fail_level == "never" else LEVELS.index("medium" if fail_level == "review" else fail_level)
    try:
        lex, cfg = _load(lexicon_files, config_file)
        if language is not None:
            known = sorted({e.language for e in lex.entries if e.language})
            if language not in known:
                raise typer.BadParameter(f"no lexicon for {language!r} (known: {', '.join(known)})",
                                         param_hint="--language")
        if field not in FIELDS:
            raise UnknownField(f"unknown text field {field!r}; expected one of {', '.join(FIELDS)}")
        found = failed = False
        for inp in _inputs(text, field, input_format):
            res = None
            if inp.error is None:
                try:
                    if not inp.item:
                        res = analyze(inp.pairs[0][1], inp.pairs[0][0], language, lexicon=lex, config=cfg)
                    else:
                        res = analyze_item(inp.pairs, lexicon=lex, config=cfg, language=language)
                except (UnknownField, InvalidText) as exc:
                    inp.error = str(exc)
            if res is None:
                failed = True
                if json_out:
                    sys.stdout.write(json.dumps({"line": inp.line, "id": inp.id, "error": inp.error},
                                                ensure_ascii=False) + "\n")
                else:
                    _err.print(f"[red]error[/red] line {inp.line}: {escape(str(inp.error))}")
                continue
            found = found or (threshold is not None and LEVELS.index(res.level) >= threshold)
            if json_out:
                head: dict = {"line": inp.line}
                if inp.item:
                    head.update({"id": inp.id, "fields": [f for f, _ in inp.pairs]})
                else:
                    head.update({"text": inp.pairs[0][1], "field": inp.pairs[0][0]})
                sys.stdout.write(json.dumps({**head, **res.to_dict()}, ensure_ascii=False) + "\n")
            elif inp.item:
                _out.print(f"[bold]item {escape(repr(inp.id))}[/bold] (line {inp.line})")
                _print_result(" | ".join(t for _, t in inp.pairs), res, spans=False)
            else:
                _print_result(inp.pairs[0][1], res)
    except BastionError as exc:
        raise _fail(exc) from exc
    raise typer.Exit(1 if found else 2 if failed else 0)


@lexicon_app.command("check")
def lexicon_check(
    files: Optional[List[Path]] = typer.Argument(None, help="Lexicon file(s) (YAML or CSV) to validate; none: every shipped language list."),
    shipped: bool = typer.Option(False, "--shipped", help="Also check every shipped language list."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Validate lexicon files: every problem with its location (including missing source/note where a file
    requires provenance); exit 1 when any, 2 when a file is missing. Without a file, checks the shipped lists."""
    from bastion.text.lexicon import shipped_lexicon_files

    paths = list(files or [])
    if shipped or not paths:
        paths += [Path(p) for p in shipped_lexicon_files()]
    for file in paths:
        if file.is_dir():
            _err.print(f"[red]error[/red]: {escape(str(file))} is a folder: give a lexicon file (YAML or CSV)")
            raise typer.Exit(2)
        if not file.exists():
            _err.print(f"[red]error[/red]: no such file: {escape(str(file))}")
            raise typer.Exit(2)
    any_problem = False
    for file in paths:
        lex, problems, warnings = check_lexicon_file(file)
        any_problem = any_problem or bool(problems)
        if json_out:
            cats: dict[str, int] = {}
            for e in lex.entries:
                cats[e.category] = cats.get(e.category, 0) + 1
            sourced = sum(1 for e in lex.entries if e.ref and e.note)
            sys.stdout.write(json.dumps({"file": str(file), "valid": not problems, "terms": len(lex.entries),
                                         "with_source_and_note": sourced,
                                         "categories": cats, "problems": [list(p) for p in problems],
                                         "warnings": warnings}, ensure_ascii=False) + "\n")
        else:
            for path, where, msg in problems:
                _out.print(f"[red]problem[/red] {escape(path)}:{escape(where)}: {escape(msg)}")
            for w in warnings:
                _out.print(f"[yellow]warning[/yellow] {escape(w)}")
            status = "[green]valid[/green]" if not problems else "[red]invalid[/red]"
            name = escape(str(file)) + ": " if len(paths) > 1 else ""
            _out.print(f"{name}{status}: {len(lex.entries)} terms, {len(problems)} problem(s), {len(warnings)} warning(s)")
    raise typer.Exit(1 if any_problem else 0)


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
            _out.print(f"  line {m.record.line} {escape(f'[{m.record.field}/{m.record.language}]')} {escape(repr(m.record.text))}"
                       f" level={m.level} missing={m.missing} extra={m.extra}")
    raise typer.Exit(0)
