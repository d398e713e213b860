"""`bastion scan` and `bastion hash`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bastion.banks.matcher import Matcher
from bastion.cli.app import app
from bastion.cli.common import EXIT_MATCH, EXIT_OK, err, fail, handle_errors, out, settings_of, store_of
from bastion.names import display_path, printable
from bastion.scan import FileResult, Scanner, ScanSummary, examine_file, iter_files
from bastion.store.media import MediaRecorder


class _Rate(TextColumn):
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
    t.add_row("files with errors", f"{summary.errors:,}")
    for code, n in sorted(summary.error_codes.items()):
        t.add_row(f"  {code}", f"{n:,}")
    t.add_row("PDQ quality below 50", f"{summary.low_quality:,}")
    t.add_row("banks / PDQ entries", f"{banks} / {pdq_entries:,}")
    t.add_row("time", f"{summary.seconds:.1f} s ({rate:,.1f} files/s)")
    return t


def _describe(res: FileResult) -> list[str]:
    """Console lines for a file's matches and errors. Paths, labels and messages are user data: escaped, so
    a ``[label]`` is printed, not taken for console markup."""
    path = escape(display_path(res.path))  # undecodable bytes and control characters escaped
    lines = []
    for m in res.matches:
        how = "exact" if m["hash_type"] != "pdq" else f"distance {m['distance']}"
        if m.get("variant") and m["variant"] != "original":
            how += f", variant {m['variant']}"
        label = f" label {escape(printable(repr(m['label'])))}" if m.get("label") else ""
        tag = "[green]ALLOW[/]" if m["category"] == "known-benign" else "[bold red]MATCH[/]"
        lines.append(f"{tag} {path}: bank {escape(m['bank'])} ({m['category']}){label}, {m['hash_type']} {how}")
    for e in res.errors:
        lines.append(f"[yellow]ERROR[/] {path}: {e['code']}: {escape(printable(e['message']))}")
    return lines


@app.command("scan")
@handle_errors
def scan(
    ctx: typer.Context,
    paths: List[str] = typer.Argument(..., help="Files and folders (searched recursively), or s3://bucket/prefix."),
    jsonl: bool = typer.Option(False, "--jsonl", help="Write one JSON object per file to standard output."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the JSON lines to this file instead."),
    bank: Optional[List[str]] = typer.Option(None, "--bank", help="Match only these banks (default: all enabled)."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Worker processes (default: all cores)."),
    record: bool = typer.Option(True, "--record/--no-record", help="Keep the hashes of scanned files in the store."),
    follow_links: bool = typer.Option(
        False, "--follow-links", help="Follow links to files outside the given folders (default: report them, not read them)."),
    provenance: bool = typer.Option(True, "--provenance/--no-provenance", help="Read AI-generation provenance."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on standard error."),
    index_cache: bool = typer.Option(
        True, "--index-cache/--no-index-cache", help="Keep the built PDQ index on disk (BASTION_HOME/cache) for a fast next load."
    ),
    watermark: str = typer.Option(
        "lossless", "--watermark",
        help="Look for invisible SD watermarks in: lossless (PNG/WebP/BMP/TIFF; they do not survive JPEG), all, off.",
    ),
    engine: Optional[str] = typer.Option(
        None, "--engine", help="Archive mode (sharded, recorded per run, resumable): local (process pool) or dask."
    ),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (default: a local cluster)."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue the archive run RUN_ID (same sources)."),
    shard_size: int = typer.Option(5000, "--shard-size", help="Keys per shard of an archive run (the resume unit)."),
    s3_endpoint: Optional[str] = typer.Option(None, "--s3-endpoint", help="S3-compatible endpoint URL (default: AWS_ENDPOINT_URL)."),
    s3_region: Optional[str] = typer.Option(None, "--s3-region", help="S3 region (default: AWS_REGION / AWS_DEFAULT_REGION)."),
    s3_profile: Optional[str] = typer.Option(None, "--s3-profile", help="AWS profile for S3 credentials (default: AWS_PROFILE)."),
) -> None:
    """Scan files against the hash banks. Exit 0: nothing matched; 1: something matched; 2: error.

    With --engine, --resume or an s3:// source the scan runs in archive mode (docs/archive.md)."""
    if engine is not None or resume is not None or scheduler is not None or any(p.startswith("s3://") for p in paths):
        from bastion.cli.archive_cmd import scan_archive

        scan_archive(ctx, paths, jsonl=jsonl, output=output, bank=bank, jobs=jobs, record=record, provenance=provenance,
                     progress=progress, index_cache=index_cache, watermark=watermark, engine=engine or "local",
                     scheduler=scheduler, resume=resume, shard_size=shard_size, s3_endpoint=s3_endpoint,
                     s3_region=s3_region, s3_profile=s3_profile)
        return
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    store = store_of(ctx)
    cache_dir = settings_of(ctx).home / "cache" if index_cache else None
    matcher = Matcher.from_store(store, bank or None, cache_dir=cache_dir)
    files = list(iter_files(paths, follow_links=follow_links))
    sink = None
    if output is not None:
        sink = output.open("w", encoding="utf-8")
    elif jsonl:
        sink = sys.stdout
    reported: list[str] = []

    def on_result(res: FileResult) -> None:
        if sink is not None:
            sink.write(json.dumps(res.to_json(), ensure_ascii=False) + "\n")
            sink.flush()
        reported.extend(_describe(res))

    recorder = MediaRecorder(store) if record else None
    scanner = Scanner(matcher, recorder, jobs=jobs or None, provenance=provenance, watermark=watermark)
    show = progress and err.is_terminal
    try:
        with Progress(
            TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), _Rate(), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), console=err, disable=not show, transient=False,
        ) as bar:
            task = bar.add_task("scan", total=len(files))

            def step(res: FileResult) -> None:
                on_result(res)
                bar.advance(task)

            summary = scanner.run(files, step)
    finally:
        if recorder is not None:
            recorder.flush()
        if output is not None and sink is not None:
            sink.close()
    console = err if sink is sys.stdout else out
    for line in reported:
        console.print(line, markup=True, highlight=False)
    console.print(summary_table(summary, len(matcher.banks), matcher.pdq_entries))
    raise typer.Exit(EXIT_MATCH if summary.matched else EXIT_OK)


@app.command("hash")
@handle_errors
def hash_(
    files: List[Path] = typer.Argument(..., help="Files to hash."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file."),
    dihedral: bool = typer.Option(False, "--dihedral", help="Also print the 8 rotated/mirrored PDQ variants."),
    reference: bool = typer.Option(
        False, "--reference", help="PDQ from the full decode (the reference computation partners' tools use; what exports and reports send)."
    ),
) -> None:
    """Print MD5, SHA-1, SHA-256 and PDQ (with quality) of files. Exit 2 if any file had an error (e.g. not an
    image: its MD5/SHA are still printed)."""
    failed = False
    for f in files:
        res = examine_file(str(f), provenance=False)
        if reference and res.pdq is not None:
            from bastion.media.hashing import pdq_dihedral

            res.pdq_variants, res.quality = pdq_dihedral(Path(f).read_bytes(), fast=False)
            res.pdq = res.pdq_variants["original"]
        failed |= bool(res.errors)
        if as_json:
            d = {k: v for k, v in res.to_json().items() if k not in ("matches",)}
            if res.pdq is not None:
                d["pdq_mode"] = "reference" if reference else "fast"
            if dihedral:
                d["pdq_variants"] = res.pdq_variants
            print(json.dumps(d))
            continue
        out.print(f"[bold]{escape(display_path(res.path))}[/]")
        for k in ("md5", "sha1", "sha256", "pdq", "quality", "media_format", "width", "height"):
            v = getattr(res, k)
            if v is not None:
                out.print(f"  {k:8} {v}")
        if res.pdq is not None:
            out.print(f"  pdq_mode {'reference' if reference else 'fast'}")
        if dihedral:
            for name, h in res.pdq_variants.items():
                out.print(f"  pdq.{name:12} {h}")
        for e in res.errors:
            out.print(f"  [yellow]{e['code']}[/]: {escape(printable(e['message']))}")
    if failed:
        raise typer.Exit(2)
