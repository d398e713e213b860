"""`bastion policy check | test | replay` (issue 7): validate a policy file, try it on items, dry-run it over
the stored items.

FILE may be the word ``default`` (when no file of that name exists): the policy shipped with Bastion.

Exit statuses follow the CLI convention: ``check`` 0 valid, 2 invalid (every problem listed with its line);
``test`` 0 every item allowed, 1 some item got more than ``allow``, 2 an invalid policy or item line;
``replay`` 0 no verdict would change, 1 some would, 2 an error.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape

from bastion.cli.app import app
from bastion.cli.toplevel import unwrapped
from bastion.cli.common import EXIT_ERROR, EXIT_MATCH, EXIT_OK, out, store_of
from bastion.errors import BastionError
from bastion.policy import InvalidPolicy, Policy, Verdict, default_policy, load_policy

policy_app = typer.Typer(help="Check, try and replay policy files (rules over signals -> actions).",
                         no_args_is_help=True)
app.add_typer(policy_app, name="policy")

# Problems go one per line, never folded, so they can be grepped and clicked (file:line).
err = unwrapped(Console(stderr=True, highlight=False, soft_wrap=True))

_FILE_HELP = "Policy YAML file, or 'default' for the shipped policy."


def _load(file: str) -> Policy:
    """The policy, or exit 2 with every problem listed."""
    try:
        if file == "default" and not Path(file).exists():
            return default_policy()
        return load_policy(file)
    except InvalidPolicy as exc:
        for path, line, msg in exc.problems:
            err.print(f"{escape(str(path))}:{line}: [red]error:[/red] {escape(msg)}")
        err.print(f"[bold red]{len(exc.problems)} problem(s)[/]; the policy was not loaded")
        raise typer.Exit(EXIT_ERROR) from None
    except BastionError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from None


def _warnings(policy: Policy) -> None:
    for path, line, msg in policy.warnings:
        err.print(f"{escape(str(path))}:{line}: [yellow]warning:[/yellow] {escape(msg)}")


@policy_app.command("check")
def check(file: str = typer.Argument(..., help=_FILE_HELP)) -> None:
    """Validate a policy file: every problem is listed with its line. Exit 0 valid, 2 invalid."""
    policy = _load(file)
    _warnings(policy)
    out.print(f"{escape(policy.path)}: ok, {len(policy.rules)} rule(s), version {policy.version}")
    raise typer.Exit(EXIT_OK)


@policy_app.command("test")
def test(
    file: str = typer.Argument(..., help=_FILE_HELP),
    items: Path = typer.Argument(..., help="JSON lines, '-' for stdin: facts objects (with item_id) or items "
                                           "in the service's shape (with id; their texts are analysed, media only counted)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per item: {line, item_id, verdict}."),
) -> None:
    """Evaluate a policy on items and print each verdict with its reasons (warnings: see `policy check`)."""
    from bastion.policy.items import facts_from_line

    policy = _load(file)
    bad = flagged = total = 0
    try:
        lines = sys.stdin if str(items) == "-" else items.open(encoding="utf-8")
    except OSError as exc:
        err.print(f"[bold red]error:[/] cannot read {escape(str(items))}: {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from None
    with lines:
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                facts = facts_from_line(json.loads(line))
            except ValueError as exc:
                bad += 1
                err.print(f"{escape(str(items))}:{lineno}: [red]error:[/red] {escape(_why(exc))}")
                continue
            except BastionError as exc:
                bad += 1
                err.print(f"{escape(str(items))}:{lineno}: [red]error:[/red] {escape(str(exc))}")
                continue
            verdict = policy.evaluate(facts)
            total += 1
            flagged += verdict.action != "allow" or len(verdict.actions) > 1
            if json_out:
                typer.echo(json.dumps({"line": lineno, "item_id": facts.item_id, "verdict": verdict.to_dict()},
                                      ensure_ascii=False))
            else:
                _print_verdict(facts.item_id, verdict)
    if not json_out:
        out.print(f"{total} item(s): {flagged} flagged, {total - flagged} allowed"
                  + (f"; {bad} bad line(s)" if bad else "") + f" (policy version {policy.version})")
    raise typer.Exit(EXIT_ERROR if bad else EXIT_MATCH if flagged else EXIT_OK)


def _why(exc: ValueError) -> str:
    return f"not valid JSON: {exc}" if isinstance(exc, json.JSONDecodeError) else str(exc)


def _print_verdict(item_id: str, verdict: Verdict) -> None:
    colour = {"allow": "green", "label": "cyan", "review": "yellow", "remove": "red"}[verdict.action]
    out.print(f"[bold]{escape(item_id)}[/bold]  [{colour}]{verdict.action}[/{colour}]  priority {verdict.priority}"
              f"  actions: {', '.join(verdict.actions)}")
    for r in verdict.reasons:
        acts = ", ".join(r.actions) if r.actions else f"+{r.priority} priority"
        out.print(f"  - {escape(r.rule)} ({escape(acts)}): {escape(r.description)}")
        for s in r.signals[:12]:
            out.print(f"      {escape(describe_signal(s))}")
        if len(r.signals) > 12:
            out.print(f"      ... and {len(r.signals) - 12} more (see --json)")


def describe_signal(s: dict[str, Any]) -> str:
    """One line for one piece of evidence of a reason."""
    ev = s.get("evidence") or {}
    src, cat = s.get("source"), s.get("category")
    if src == "text":
        where = f" in {s['field']}" if s.get("field") else ""
        span = f" [{s['span'][0]}:{s['span'][1]}]" if s.get("span") else ""
        lang = f" ({s['language']})" if s.get("language") else ""
        return f"text {cat} {s.get('term')!r}{lang}{where}{span} via {ev.get('rule', '?')}"
    if src == "hash":
        media = f" media {ev['media']}" if "media" in ev else ""
        return (f"hash match in bank {ev.get('bank')!r} ({ev.get('category')}), label {ev.get('label')!r}, "
                f"{ev.get('hash_type')} distance {ev.get('distance')}{media}")
    if src == "provenance":
        media = f" media {ev['media']}" if "media" in ev else ""
        detail = ev.get("reason") or ev.get("generator") or ""
        trace = f" {ev['trace']}" if "trace" in ev else ""
        return f"provenance {cat}{trace}: {detail}{media}"
    facts = ", ".join(f"{k}={v}" for k, v in ev.items())
    return f"{src} {cat}: {facts}"


# --- replay ----------------------------------------------------------------------------------------


def _stored(session: Any) -> Iterator[tuple[str, dict, dict]]:
    """``(item_external_id, facts_dict, verdict_dict)`` of every stored item (the cases service's reader)."""
    from bastion.cases.service import iter_item_facts

    return iter_item_facts(session)


@policy_app.command("replay")
def replay(
    ctx: typer.Context,
    file: str = typer.Argument(..., help=_FILE_HELP),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Stop after this many items."),
    show_all: bool = typer.Option(False, "--all", help="List unchanged items too."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per listed item, then a summary object."),
) -> None:
    """Dry-run a policy over the stored items (from their stored facts, nothing is scanned or written) and
    show which verdicts would change."""
    from bastion.policy import Facts

    policy = _load(file)
    store = store_of(ctx)
    seen = changed = bad = 0
    moves: Counter[tuple[str, str]] = Counter()
    try:
        with store.session() as session:
            for ext_id, facts_dict, verdict_dict in _stored(session):
                if limit is not None and seen >= limit:
                    break
                seen += 1
                try:
                    new = policy.evaluate(Facts.from_dict(facts_dict or {}))
                except BastionError as exc:
                    bad += 1
                    err.print(f"item {escape(str(ext_id))}: [red]stored facts unreadable:[/red] {escape(str(exc))}")
                    continue
                old = verdict_dict or {}
                old_action = old.get("action", "-")
                old_rules = [r.get("rule") for r in old.get("reasons", ())]
                differs = (old_action != new.action or old.get("priority") != new.priority
                           or sorted(old.get("actions", ())) != sorted(new.actions) or old_rules != list(new.rules))
                if differs:
                    changed += 1
                    moves[(old_action, new.action)] += 1
                if differs or show_all:
                    if json_out:
                        typer.echo(json.dumps({"item_id": ext_id, "changed": differs, "old": {
                            "action": old_action, "actions": old.get("actions"), "priority": old.get("priority"),
                            "rules": old_rules}, "new": {"action": new.action, "actions": list(new.actions),
                            "priority": new.priority, "rules": list(new.rules)}}, ensure_ascii=False))
                    else:
                        mark = "changed" if differs else "same"
                        out.print(f"{escape(str(ext_id))}: {mark}: {old_action} (priority {old.get('priority', '-')}, "
                                  f"{', '.join(map(str, old_rules)) or 'no rule'}) -> {new.action} (priority "
                                  f"{new.priority}, {', '.join(new.rules) or 'no rule'})")
    except BastionError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from None
    finally:
        store.close()
    summary = {"items": seen, "changed": changed, "unreadable": bad, "policy_version": policy.version,
               "moves": [{"from": a, "to": b, "items": n} for (a, b), n in sorted(moves.items())]}
    if json_out:
        typer.echo(json.dumps({"summary": summary}))
    else:
        out.print(f"{seen} stored item(s): {changed} would change, {seen - changed - bad} unchanged"
                  + (f", {bad} unreadable" if bad else "") + f" (policy version {policy.version})")
        for (a, b), n in sorted(moves.items()):
            out.print(f"  {a} -> {b}: {n}")
    raise typer.Exit(EXIT_ERROR if bad else EXIT_MATCH if changed else EXIT_OK)
