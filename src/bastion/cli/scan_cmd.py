"""`bastion scan` and `bastion hash`."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.markup import escape

from bastion.cli.app import app
from bastion.cli.toplevel import exit_now
from bastion.cli.common import (
    EXIT_ERROR, EXIT_INTERRUPTED, EXIT_MATCH, EXIT_OK, err, fail, handle_errors, json_line, out,
    settings_of, shown, store_of,
)
from bastion.names import display_path, printable
from bastion.cli.scan_output import Rate, check_banks, describe_findings, summary_table, warn_no_banks
from bastion.scan import TEXT_REVIEW_LEVEL, WATERMARK_MODES, FileResult, Scanner, ScanSummary, examine_file, iter_files


FAIL_ON = ("ai-generated", "text-low", "text-medium", "text-review", "text-high", "text-critical")


def _parse_fail_on(values: Optional[List[str]]) -> set[str]:
    chosen = {v.strip().lower() for raw in values or [] for v in raw.split(",") if v.strip()}
    unknown = sorted(chosen - set(FAIL_ON))
    if unknown:
        raise typer.BadParameter(f"unknown {', '.join(map(repr, unknown))} (known: {', '.join(FAIL_ON)})",
                                 param_hint="--fail-on")
    return {("text-medium" if v == "text-review" else v) for v in chosen}


def _gates(res: FileResult, fail_on: set[str]) -> bool:
    """True when this file makes the scan exit 1: a bank match, or a finding named by --fail-on."""
    if res.matched:
        return True
    if "ai-generated" in fail_on and res.ai_generated:
        return True
    return any(res.text_level_at_least(g.removeprefix("text-")) for g in fail_on if g.startswith("text-"))


#: Exit status of a scan ended by SIGTERM (128 + 15, as a shell reports a process the signal killed).
EXIT_TERMINATED = 128 + signal.SIGTERM


class _Terminate:
    """SIGTERM during a scan is handled as Ctrl-C is: it is passed to the SIGINT handler in place (the scanner's
    own, which stops handing out files, or Python's, which raises ``KeyboardInterrupt``), so the scan stops,
    writes what was found, prints its summary and stops its workers instead of dying with them left blocked.
    Worker processes forked while it is installed inherit it and ignore the signal there: their parent ends
    them. Only in the main thread; the previous handler is back when the scan ends."""

    def __init__(self) -> None:
        self.hit = False
        self._pid = os.getpid()
        self._previous: object = None

    def __enter__(self) -> "_Terminate":
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_term)
        return self

    def _on_term(self, _signum, frame) -> None:
        if os.getpid() != self._pid:  # a forked worker: the parent stops it
            return
        self.hit = True
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:  # SIGINT ignored or left to the system: stop all the same
            raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None


def classifier_names(classify: bool, names: Optional[str]) -> tuple[str, ...]:
    """The classifiers ``--classify``/``--classifiers`` ask for, each checked here before any file is read: an
    unknown name or one that cannot load (the extra not installed) is exit 2, never unclassified files."""
    if not classify and not names:
        return ()
    from bastion.classifiers import UnknownClassifier, check, resolve

    try:
        chosen = resolve(names or "local")
    except UnknownClassifier as exc:
        raise typer.BadParameter(str(exc), param_hint="--classifiers") from None
    if not chosen:
        raise typer.BadParameter("no classifier named", param_hint="--classifiers")
    problems = check(chosen)
    if problems:
        fail("image classification is unavailable: " + "; ".join(problems.values()))
    return chosen


@app.command("scan")
@handle_errors
def scan(
    ctx: typer.Context,
    paths: List[str] = typer.Argument(..., help="Files and folders (searched recursively), or s3://bucket/prefix."),
    jsonl: bool = typer.Option(False, "--jsonl", help="Write one JSON object per file to standard output."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the JSON lines to this file instead."),
    bank: Optional[List[str]] = typer.Option(None, "--bank", help="Match only these banks (default: all enabled)."),
    no_banks: bool = typer.Option(
        False, "--no-banks", help="Scan without matching any bank (provenance and text only). Without it a scan with "
                                  "no enabled bank (allow-lists aside) is refused, exit 2."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Worker processes (default: all cores)."),
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
    classify: bool = typer.Option(
        False, "--classify", help="Run the local image classifiers (photoreal, nudity, faces; needs bastion[classifiers]) "
                                 "and print their scores: signals for review, never a verdict (docs/classifiers.md)."),
    classifiers: Optional[str] = typer.Option(
        None, "--classifiers", help="Which image classifiers to run (comma-separated names, 'local' for the built-in "
                                    "ones, plug-ins by their entry-point name); implies --classify."),
    fail_on: Optional[List[str]] = typer.Option(
        None, "--fail-on",
        help=f"Also exit 1 on these findings (comma-separated or repeated): {', '.join(FAIL_ON)} "
             "(text-review = text-medium). A bank match always exits 1.",
    ),
) -> None:
    """Scan files against the hash banks, with AI-generation provenance and text signals.

    Exit 0: nothing found, every file examined; 1: something matched (or a --fail-on finding); 2: a file
    could not be examined, or an error (also: no store, or no enabled bank without --no-banks); 130:
    interrupted (Ctrl-C), 143: terminated (SIGTERM) — what was found so far is printed and written.

    With --engine, --resume or an s3:// source the scan runs in archive mode (docs/archive.md)."""
    gates = _parse_fail_on(fail_on)
    if no_banks and bank:
        raise typer.BadParameter("--bank and --no-banks contradict each other", param_hint="--no-banks")
    if watermark not in WATERMARK_MODES:
        raise typer.BadParameter(f"{watermark!r} is not one of {', '.join(WATERMARK_MODES)}", param_hint="--watermark")
    names = classifier_names(classify, classifiers)
    if engine is not None or resume is not None or scheduler is not None or any(p.startswith("s3://") for p in paths):
        from bastion.cli.archive_cmd import scan_archive

        scan_archive(ctx, paths, jsonl=jsonl, output=output, bank=bank, no_banks=no_banks, jobs=jobs, record=record, provenance=provenance,
                     progress=progress, index_cache=index_cache, watermark=watermark, engine=engine or "local",
                     scheduler=scheduler, resume=resume, shard_size=shard_size, s3_endpoint=s3_endpoint,
                     s3_region=s3_region, s3_profile=s3_profile, classify=names)
        return
    missing = [shown(p) for p in paths if not os.path.lexists(p)]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    needs_store = record or not no_banks
    settings = settings_of(ctx)
    if needs_store and settings.database_url is None and not (settings.home / "bastion.db").exists():
        store_of(ctx)  # refuses it (StoreMissing: exit 2, naming the store) before any file is examined
    if no_banks:
        warn_no_banks()
    # Absolute paths: a JSON line must say which file it is about wherever the scan was started.
    paths = [Path(p).absolute() for p in paths]
    files = list(iter_files(paths, follow_links=follow_links))
    sink = None
    if output is not None:
        try:
            sink = output.open("w", encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {shown(output)}: {exc.strerror or exc}")
    elif jsonl:
        sink = sys.stdout
    # People read the findings on standard output, unless it carries the JSON lines.
    console = err if sink is sys.stdout else out
    scan_id = uuid.uuid4().hex
    tally = ScanSummary()
    gated = 0
    started = time.perf_counter()

    def on_result(res: FileResult) -> None:
        nonlocal gated
        tally.count(res)
        gated += _gates(res, gates)
        if sink is not None:
            d = {"scan_id": scan_id, "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                 **res.to_json()}
            sink.write(json_line(d) + "\n")
            sink.flush()
        for line in describe_findings(res):  # as each file finishes, not at the end
            console.print(line, markup=True, highlight=False)

    scanner = Scanner(None, None, jobs=jobs or None, provenance=provenance, watermark=watermark, classify=names)

    def ready() -> None:
        # The store and the banks' index are opened while the workers examine their first files (importing
        # SQLAlchemy and loading the index is most of a scan's start-up). Nothing is matched or reported before.
        from bastion.banks.matcher import Matcher
        from bastion.store.media import MediaRecorder

        if not needs_store:
            return
        store = store_of(ctx)
        if not no_banks:
            cache_dir = settings_of(ctx).home / "cache" if index_cache else None
            matcher = Matcher.from_store(store, bank or None, cache_dir=cache_dir)
            check_banks(matcher)
            scanner.matcher = matcher
        scanner.recorder = MediaRecorder(store) if record else None

    show = progress and err.is_terminal
    interrupted = False
    term = _Terminate().__enter__()
    try:
        with Progress(
            TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), Rate(), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), console=err, disable=not show, transient=False,
        ) as bar:
            task = bar.add_task("scan", total=len(files))

            def step(res: FileResult) -> None:
                on_result(res)
                bar.advance(task)

            scanner.run(files, step, ready=ready)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        term.__exit__()
        if scanner.recorder is not None:
            scanner.recorder.flush()
        if output is not None and sink is not None:
            sink.close()
    tally.seconds = time.perf_counter() - started
    matcher = scanner.matcher
    console.print(summary_table(tally, len(matcher.banks) if matcher else 0, matcher.pdq_entries if matcher else 0))
    if interrupted:
        how = "terminated (SIGTERM)" if term.hit else "interrupted"
        err.print(f"{how} after {tally.files:,} of {len(files):,} files; the results above are complete "
                  "for those files", highlight=False)
        raise typer.Exit(EXIT_TERMINATED if term.hit else EXIT_INTERRUPTED)
    code = EXIT_MATCH if gated else EXIT_ERROR if tally.errors else EXIT_OK
    # Everything is written: the recorder flushed and the output file closed above.
    exit_now(code, close=matcher.store if matcher is not None else
             scanner.recorder.store if scanner.recorder is not None else None)
    raise typer.Exit(code)


@app.command("hash")
@handle_errors
def hash_(
    files: List[Path] = typer.Argument(..., help="Files to hash."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file."),
    dihedral: bool = typer.Option(False, "--dihedral", help="Also print the 8 rotated/mirrored PDQ variants."),
    reference: bool = typer.Option(
        False, "--reference", help="PDQ as partners' tools compute it (stored pixels: no EXIF rotation, 16-bit as python-threatexchange converts it; what exports and reports send)."
    ),
) -> None:
    """Print MD5, SHA-1, SHA-256 and PDQ (with quality) of files. Exit 2 if any file had an error (e.g. not an
    image: its MD5/SHA are still printed)."""
    failed = False
    for f in files:
        if f.is_dir():
            res = FileResult(path=str(f))
            res.add_error("is-a-folder", "a folder, not a file (bastion scan searches folders)", "read")
        else:
            res = examine_file(str(f), provenance=False)
        basis = None
        if reference and res.pdq is not None:
            from bastion.media.hashing import pdq_dihedral
            from bastion.media.partner import partner_pdq

            data = Path(f).read_bytes()
            if dihedral:
                res.pdq_variants, _ = pdq_dihedral(data, fast=False)
            partner = partner_pdq(data)  # what partners compute: the stored pixels
            res.pdq, res.quality, basis = partner.hash, partner.quality, partner.basis
        failed |= bool(res.errors)
        if as_json:
            d = {k: v for k, v in res.to_json().items() if k not in ("matches",)}
            if res.pdq is not None:
                d["pdq_mode"] = "reference" if reference else "fast"
                if basis:
                    d["pdq_basis"] = basis
            if dihedral:
                d["pdq_variants"] = res.pdq_variants
            print(json_line(d))
            continue
        # The same key names as the JSON (``format``, not ``media_format``).
        out.print(f"[bold]{escape(display_path(res.path))}[/]")
        for k, v in res.to_json().items():
            if k in ("sha256", "md5", "sha1", "pdq", "quality", "format", "width", "height") and v is not None:
                out.print(f"  {k:8} {escape(str(v))}")
        if res.pdq is not None:
            out.print(f"  pdq_mode {'reference' if reference else 'fast'}")
            if basis:
                out.print(f"  pdq_basis {basis}")
        if dihedral:
            for name, h in res.pdq_variants.items():
                out.print(f"  pdq.{name:12} {h}")
        for e in res.errors:
            out.print(f"  [yellow]{escape(e['code'])}[/]: {escape(printable(e['message']))}")
    if failed:
        raise typer.Exit(EXIT_ERROR)
