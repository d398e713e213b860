"""`bastion demo`: build a benign corpus and a stand-in "known" bank, scan, and explain every result."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import typer
from PIL import Image
from rich.markup import escape
from rich.table import Table

from bastion.banks.matcher import Matcher
from bastion.banks.repo import BankRepository
from bastion.cli.app import app
from bastion.cli.common import err, handle_errors, out
from bastion.cli.scan_output import summary_table
from bastion.demo import build_corpus, check, generated_pattern
from bastion.media.hashing import crypto_hashes, pdq_from_image
from bastion.model import Bank, HashEntry
from bastion.scan import Scanner, iter_files
from bastion.store.db import open_store
from bastion.store.media import MediaRecorder


@app.command("demo")
@handle_errors
def demo(
    directory: Path = typer.Option(Path("bastion-demo"), "--dir", help="Folder for the demo corpus and its store."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Worker processes (default: all cores)."),
    jsonl: bool = typer.Option(False, "--jsonl", help="Also write the scan's JSON lines to DIR/scan.jsonl."),
    serve: bool = typer.Option(False, "--serve", help="Instead: serve the review console at /console with benign "
                               "example cases and demo users (a fresh store in DIR/console)."),
    host: str = typer.Option("127.0.0.1", "--host", help="With --serve: address to listen on."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="With --serve: port to listen on."),
) -> None:
    """Make a benign demo corpus, a demo bank standing in for a known list, scan it and explain each result.

    The corpus: scikit-image sample photos and generated patterns; transformed copies of the "known" ones
    (resized, re-encoded, trimmed, mirrored, rotated), unrelated distractors, an allow-listed image and bad
    files (damaged, empty, a decompression bomb, a text file). Exit 0 when every file behaved as expected.
    """
    directory = directory.resolve()
    if serve:
        from bastion.console.demo import serve_demo

        serve_demo(directory / "console", host, port, say=lambda m: err.print(m, markup=False, highlight=False))
        return
    if directory.exists():
        for sub in ("originals", "uploads"):
            shutil.rmtree(directory / sub, ignore_errors=True)
        for f in ("bastion.db", "bastion.db-wal", "bastion.db-shm", "scan.jsonl"):
            (directory / f).unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    err.print(f"building the demo corpus in {directory} …")
    originals, uploads, expectations = build_corpus(directory)

    store = open_store(f"sqlite:///{directory / 'bastion.db'}")
    repo = BankRepository(store)
    repo.create(Bank("demo-known", "test", "Benign stand-ins for a known list (scikit-image samples, patterns)",
                     "bastion demo"))
    entries = []
    for f in sorted(originals.iterdir()):
        data = f.read_bytes()
        with Image.open(io.BytesIO(data)) as im:  # the bytes already read, not the file again
            pdq, _quality = pdq_from_image(im.convert("RGB"))
        entries += [HashEntry("pdq", pdq, f.stem), HashEntry("md5", crypto_hashes(data).md5, f.stem)]
    repo.add_entries("demo-known", entries)
    repo.create(Bank("demo-benign", "known-benign", "Allow-list: images known to be fine", "bastion demo"))
    benign_pdq, _ = pdq_from_image(generated_pattern(99))
    repo.add_entries("demo-benign", [HashEntry("pdq", benign_pdq, "pattern-99")])
    err.print(f"bank demo-known: {len(entries)} hashes of {len(entries) // 2} images; bank demo-benign: 1 hash")

    matcher = Matcher.from_store(store)
    by_path = {str(uploads / e.path): e for e in expectations}
    results: dict[str, dict] = {}
    sink = (directory / "scan.jsonl").open("w") if jsonl else None
    with MediaRecorder(store) as recorder:
        scanner = Scanner(matcher, recorder, jobs=jobs or None)

        def keep(res) -> None:
            d = res.to_json()
            results[res.path] = d
            if sink:
                sink.write(json.dumps(d) + "\n")

        summary = scanner.run(iter_files([uploads]), keep)
    if sink:
        sink.close()

    table = Table(title="Bastion demo: every file and why", show_lines=False)
    for col in ("file", "what it is", "result", "explanation"):
        table.add_column(col, overflow="fold")
    failures = 0
    for path, exp in by_path.items():
        res = results.get(path)
        ok, why = (False, "not reported by the scan") if res is None else check(exp, res)
        failures += not ok
        verdict = "[green]as expected[/]" if ok else "[bold red]UNEXPECTED[/]"
        table.add_row(escape(exp.path), escape(exp.story), verdict, escape(why))
    out.print(table)
    out.print(summary_table(summary, len(matcher.banks), matcher.pdq_entries))
    if failures:
        out.print(f"[bold red]{failures} of {len(by_path)} files did not behave as expected[/]")
        raise typer.Exit(1)
    out.print(f"[green]all {len(by_path)} files behaved as expected.[/] Try: bastion --database-url "
              f"sqlite:///{directory / 'bastion.db'} scan {uploads} --jsonl")
