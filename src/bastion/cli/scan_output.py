"""How a scan's findings are shown on the console, for ``bastion scan``, archive scans and ``bastion demo``."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import TextColumn
from rich.table import Table
from rich.text import Text

from bastion.names import display_path, printable
from bastion.scan import TEXT_REVIEW_LEVEL, FileResult, ScanSummary

__all__ = ["Rate", "describe_findings", "summary_table"]


class Rate(TextColumn):
    """Files per second since the start."""

    def __init__(self):
        super().__init__("")

    def render(self, task):  # noqa: D401
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} files/s" if speed else "… files/s", style="progress.data.speed")


def summary_table(summary: ScanSummary, banks: int, pdq_entries: int) -> Table:
    t = Table(title="Scan summary", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    rate = summary.files / summary.seconds if summary.seconds else 0.0
    t.add_row("files", f"{summary.files:,}")
    t.add_row("matched", f"[bold red]{summary.matched:,}[/]" if summary.matched else "0")
    t.add_row("AI-generation traces", f"{getattr(summary, 'ai_generated', 0):,}")
    t.add_row("text at review or above", f"{getattr(summary, 'text_flagged', 0):,}")
    t.add_row("files with errors", f"{summary.errors:,}")
    for code, n in sorted(summary.error_codes.items()):
        t.add_row(f"  {escape(code)}", f"{n:,}")
    t.add_row("PDQ quality below 50", f"{summary.low_quality:,}")
    t.add_row("banks / PDQ entries", f"{banks} / {pdq_entries:,}")
    t.add_row("time", f"{summary.seconds:.1f} s ({rate:,.1f} files/s)")
    return t


def _ai_trace(sig: dict) -> str:
    ev = sig.get("evidence") or {}
    trace = ev.get("trace", "trace")
    what = ev.get("generator") or ev.get("claim_generator") or ev.get("reason") or ""
    return f"{trace} {what}".strip()


def describe_findings(res: FileResult) -> list[str]:
    """Console lines (markup) for a file's findings: bank matches, AI-generation traces, text at review level
    or above, image classifier scores (when asked for), errors. Paths, labels and messages are user data: escaped, so a ``[label]`` is printed, not
    taken for console markup."""
    path = escape(display_path(res.path))
    lines = []
    for m in res.matches:
        how = "exact" if m["hash_type"] != "pdq" else f"distance {m['distance']}"
        if m.get("variant") and m["variant"] != "original":
            how += f", variant {m['variant']}"
        label = f" label {escape(printable(repr(m['label'])))}" if m.get("label") else ""
        tag = "[green]ALLOW[/]" if m["category"] == "known-benign" else "[bold red]MATCH[/]"
        lines.append(f"{tag} {path}: bank {escape(repr(m['bank']))} ({escape(m['category'])}){label}, "
                     f"{m['hash_type']} {how}")
    if res.ai_generated:
        traces = sorted({_ai_trace(s) for s in res.signals if s.get("category") == "ai_generated"})
        lines.append(f"[magenta]AI[/] {path}: AI-generation trace: {escape('; '.join(traces) or 'yes')}")
    if res.text_level_at_least(TEXT_REVIEW_LEVEL):
        t = res.text or {}
        reason = (t.get("reasons") or [""])[0]
        lines.append(f"[yellow]TEXT[/] {path}: embedded text level {t.get('level')} (score {t.get('score', 0):.2f})"
                     + (f": {escape(reason)}" if reason else ""))
    for sig in res.signals:
        if sig.get("source") == "classifier" and (sig.get("evidence") or {}).get("status", "ok") == "ok":
            from bastion.classifiers import ClassifierResult, describe

            lines.append(f"[cyan]CLASSIFY[/] {path}: {escape(printable(describe(ClassifierResult.from_signal(sig))))}")
    for e in res.errors:
        lines.append(f"[yellow]ERROR[/] {path}: {escape(e['code'])}: {escape(printable(e['message']))}")
    return lines


NO_BANKS_HINT = ("create one (`bastion bank create NAME --category csam`, then `bastion bank import NAME FILE`), "
                 "enable one (`bastion bank set NAME --enable`), or give --no-banks to look only for provenance "
                 "and text signals")


def check_banks(matcher) -> None:
    """Refuse to scan against no bank: with no enabled bank (allow-lists do not count) nothing could match, and
    "nothing matched" would read as clean. Said on every run (exit 2) until a bank exists or --no-banks."""
    from bastion.errors import NoBanks

    if not any(not b.is_allow_list for b in matcher.banks):
        raise NoBanks(f"no enabled bank to match against (allow-lists aside), so no file could be found to "
                      f"match; {NO_BANKS_HINT}")


def warn_no_banks() -> None:
    from bastion.cli.toplevel import print_warning

    print_warning("--no-banks: files are not matched against any hash bank; exit 0 means only that no provenance "
                  "or text finding was made")
