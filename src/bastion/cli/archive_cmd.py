"""`bastion scan` in archive mode: sharded, on the local pool or Dask, from folders or S3, resumable."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from bastion.banks.matcher import Matcher
from bastion.cli.common import EXIT_ERROR, EXIT_MATCH, EXIT_OK, err, fail, json_line, out, settings_of, shown, store_of
from bastion.scan import FileResult, Scanner
from bastion.store.media import MediaRecorder


def _resumed_classifiers(store, run_id: str, asked: tuple[str, ...]) -> tuple[str, ...]:
    """The classifiers a resumed run goes on with: the ones it was started with (loaded and checked here, exit
    2 when one cannot load), so its remaining files are examined as its first ones were. Naming others is an
    error; an unknown run is left to run_archive's own error."""
    from bastion.archive import UnknownRun, run_classifiers

    try:
        started = run_classifiers(store, run_id)
    except UnknownRun:
        return asked
    if started is None:  # a run older than the record: the flags given decide, as before
        return asked
    if asked and asked != started:
        fail(f"run {run_id} was started with classifiers {', '.join(started) or 'none'}; resume it without "
             f"--classify/--classifiers (the run's own are used) or with the same ones")
    if started and not asked:
        from bastion.classifiers import check

        err.print(f"resuming with the run's classifiers: {', '.join(started)}", highlight=False)
        problems = check(started)  # as scan checks --classifiers: exit 2 before any file is read
        if problems:
            fail("image classification is unavailable: " + "; ".join(problems.values()))
        return started
    return asked


def scan_archive(
    ctx: typer.Context, paths: list[str], *, jsonl: bool, output: Optional[Path], bank, jobs: int, record: bool,
    no_banks: bool = False,
    provenance: bool, progress: bool, index_cache: bool, watermark: str, engine: str, scheduler: Optional[str],
    resume: Optional[str], shard_size: int, s3_endpoint: Optional[str], s3_region: Optional[str],
    s3_profile: Optional[str], classify: tuple[str, ...] = (),
) -> None:
    from bastion.archive import run_archive
    from bastion.cli.scan_output import Rate, check_banks, describe_findings, summary_table, warn_no_banks
    from bastion.engines import make_engine
    from bastion.sources import S3Options, parse_source

    s3 = S3Options(s3_endpoint, s3_region, s3_profile)
    sources = [parse_source(p, s3) for p in paths]
    store = store_of(ctx)
    cache_dir = settings_of(ctx).home / "cache" if index_cache else None
    if no_banks:
        warn_no_banks()
        matcher = None  # matches nothing: said above
    else:
        matcher = Matcher.from_store(store, bank or None, cache_dir=cache_dir)
        check_banks(matcher)
    try:
        sink = output.open("w", encoding="utf-8") if output is not None else (sys.stdout if jsonl else None)
    except OSError as exc:
        fail(f"cannot write {shown(output)}: {exc.strerror or exc}")
    # People read the findings as each file finishes, on standard output unless it carries the JSON lines.
    console = err if sink is sys.stdout else out
    run = {"id": None}
    media = MediaRecorder(store) if record else None
    # ``classify``: already resolved and checked by scan (exit 2 before any file is read, as a folder scan).
    if resume:
        classify = _resumed_classifiers(store, resume, classify)
    scanner = Scanner(matcher, media, jobs=jobs or None, provenance=provenance, watermark=watermark, classify=classify)
    show = progress and err.is_terminal
    eng = make_engine(engine, jobs=jobs or None, scheduler=scheduler)
    try:
        with Progress(TextColumn("scanning"), TextColumn("{task.completed:,} files"), Rate(), TimeElapsedColumn(),
                      console=err, disable=not show, transient=False) as bar:
            task = bar.add_task("scan", total=None)

            def on_result(res: FileResult) -> None:
                if sink is not None:
                    d = {"scan_id": run["id"], "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                         **res.to_json()}
                    sink.write(json_line(d) + "\n")
                    sink.flush()
                for line in describe_findings(res):
                    console.print(line, markup=True, highlight=False)
                bar.advance(task)

            def on_run(run_id: str) -> None:
                run["id"] = run_id
                verb = "resuming" if resume else "started"
                err.print(f"{verb} scan run {run_id} on engine {engine} ({eng.workers} workers); "
                          f"continue it after an interruption with --resume {run_id}", highlight=False)

            run_id, summary = run_archive(store, sources, eng, scanner, on_result, run_id=resume,
                                          shard_size=shard_size, on_run=on_run)
    finally:
        eng.close()
        if media is not None:
            media.flush()
        if output is not None and sink is not None:
            sink.close()
    console.print(summary_table(summary, len(matcher.banks) if matcher else 0, matcher.pdq_entries if matcher else 0))
    console.print(f"scan run {run_id} finished", highlight=False)
    # As a plain scan: 1 something matched, else 2 a file could not be examined, else 0.
    raise typer.Exit(EXIT_MATCH if summary.matched else EXIT_ERROR if summary.errors else EXIT_OK)
