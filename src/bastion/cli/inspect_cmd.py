"""`bastion inspect FILE...`: show the AI-generation provenance of files (generator, prompts, C2PA, watermark).

Readable output by default, one JSON object per file with ``--json`` (JSON Lines, so it streams and
pipes into ``jq``). Exit status follows the CLI convention: 0 nothing found, 1 at least one file carries
an AI-generation trace, 2 a file could not be read at all (or, with ``--classify``, not classified).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from bastion.cli.app import app
from bastion.cli.toplevel import unwrapped
from bastion.media.provenance import ProvenanceReport, ProvenanceSettings, inspect_bytes
from bastion.names import display_path, path_text, printable
from bastion.scan import read_regular_file

_console = unwrapped(Console(highlight=False, soft_wrap=True))


@app.command("inspect")
def inspect_command(
    files: list[Path] = typer.Argument(..., help="Image files to inspect.", exists=False),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file (JSON Lines)."),
    no_pixels: bool = typer.Option(
        False, "--no-pixels", help="Metadata and C2PA only: skip the watermark and stealth checks (no pixel decode)."),
    trust_anchors: Path | None = typer.Option(None, "--trust-anchors", help="PEM file of trusted C2PA root certificates."),
    classify: bool = typer.Option(
        False, "--classify", help="Also run the local image classifiers (photoreal, nudity, faces; needs "
                                 "bastion[classifiers]) and print their scores and models."),
    classifiers: Optional[str] = typer.Option(
        None, "--classifiers", help="Which image classifiers to run (comma-separated, 'local' for the built-in ones); "
                                    "implies --classify."),
) -> None:
    """Show AI-generation provenance: generator, prompts, model and seed, C2PA credentials, invisible watermark.

    With --classify, also the image classifiers' scores (signals for review, never a verdict); a file that
    could not be classified makes the exit status 2."""
    from bastion.cli.scan_cmd import classifier_names

    names = classifier_names(classify, classifiers)
    anchors = None
    if trust_anchors is not None:
        try:
            anchors = trust_anchors.read_text()
        except OSError as exc:
            typer.echo(f"error: cannot read trust anchors {trust_anchors}: {exc}", err=True)
            raise typer.Exit(2) from None
    settings = ProvenanceSettings(decode_pixels=not no_pixels, c2pa_trust_anchors_pem=anchors)
    found = failed = False
    for path in files:
        try:
            # Without blocking, and only regular files: a FIFO would otherwise hang the command forever.
            data, _ = read_regular_file(path)
        except OSError as exc:
            failed = True
            why = exc.strerror if isinstance(exc.strerror, str) and exc.strerror else str(exc)
            if as_json:
                typer.echo(json.dumps({"file": path_text(str(path)), "error": why}))
            else:
                typer.echo(f"error: {display_path(str(path))}: {printable(why)}", err=True)
            continue
        report = inspect_bytes(data, filename=None, settings=settings)
        found = found or report.ai_generated
        results = _classify(str(path), data, names) if names else None
        failed = failed or bool(results and any(r.status != "ok" for r in results))
        if as_json:
            extra = {"classifiers": [r.to_signal().to_dict()["evidence"] for r in results]} if results is not None else {}
            typer.echo(json.dumps({"file": path_text(str(path)), **report.to_dict(), **extra}, ensure_ascii=False))
        else:
            _print_report(display_path(str(path)), report)
            if results is not None:
                _print_classifiers(results)
    raise typer.Exit(2 if failed else 1 if found else 0)


def _classify(name: str, data: bytes, names: tuple[str, ...]) -> list:
    """The classifiers' results for one file, on the same decode ``bastion scan`` makes."""
    from bastion.classifiers import results_of
    from bastion.scan import examine_bytes

    return results_of(examine_bytes(name, data, provenance=False, classify=names).signals)


def _print_classifiers(results: list) -> None:
    from bastion.classifiers import describe

    for r in results:
        style = "" if r.status == "ok" else "[yellow]"
        _console.print(printable(f"  {style}classifier  {escape(r.name)}: {escape(describe(r))}{'[/]' if style else ''}"))


def _print_report(name: str, r: ProvenanceReport) -> None:
    def p(line: str) -> None:
        # Prompts and metadata are the uploader's text: control characters never reach the terminal raw.
        _console.print(printable(line))

    verdict = ("[bold red]AI-generation trace found[/]" if r.ai_generated
               else "no AI-generation trace found (absence proves nothing)")
    p(f"[bold]{escape(name)}[/] ({r.format}): {verdict}")
    for prov in r.provenances:
        p(f"  [bold]{escape(prov.generator)}[/] [dim]({prov.family}{', ' + escape(prov.version) if prov.version else ''})[/]"
          f" {escape(prov.evidence)}")
        for label, value in (("model", prov.model), ("model hash", prov.model_hash), ("seed", prov.seed),
                             ("sampler", prov.sampler), ("scheduler", prov.scheduler), ("steps", prov.steps),
                             ("cfg", prov.cfg),
                             ("size", f"{prov.width}x{prov.height}" if prov.width and prov.height else None)):
            if value is not None:
                p(f"    {label:<11} {escape(str(value))}")
        for lora in prov.loras:
            p(f"    lora        {escape(lora.name)}{f' ({lora.weight:g})' if lora.weight is not None else ''}")
        for text in prov.positive_prompts:
            p(f"    [green]prompt[/]      {escape(text)}")
        for text in prov.negative_prompts:
            p(f"    [dim]negative    {escape(text)}[/]")
        for field_name, where in prov.sources.items():
            p(f"    [dim]{field_name} from {escape(where)}[/]")
    if r.c2pa is not None:
        c = r.c2pa
        state = c.state + (" (tampered)" if c.tampered else "")
        p(f"  [bold]C2PA[/] {state}; claim generator {escape(c.claim_generator or '?')}"
          f"{'; AI: ' + escape(c.ai_evidence or '') if c.ai_generated else ''}")
        if c.signer:
            p(f"    signer      {escape(', '.join(f'{k}={v}' for k, v in c.signer.items()))}")
        if c.failure_codes:
            p(f"    failures    {escape(', '.join(c.failure_codes))}")
        if c.remote_url:
            p(f"    remote      {escape(c.remote_url)} (not fetched)")
    if r.watermark is not None and r.watermark.checked:
        if r.watermark.hits:
            for h in r.watermark.hits:
                p(f"  [bold]watermark[/] Stable Diffusion {h.scheme}: {h.matched}/{h.total} bits ({h.variant})")
        else:
            best = ", ".join(f"{k} {v.matched}/{v.total}" for k, v in r.watermark.scores.items())
            p(f"  watermark   none ({best}; marks rarely survive re-encoding or resizing)")
    if r.software:
        p(f"  software    {escape(', '.join(r.software))}")
    for note in r.notes:
        p(f"  [yellow]note[/]        {escape(note)}")
