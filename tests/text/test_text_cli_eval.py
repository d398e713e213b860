"""CLI (`bastion text`, `bastion lexicon check`, `bastion eval text`) and the evaluation harness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bastion.cli  # noqa: F401  (registers every command module)
from bastion.cli.app import app
from bastion.text.corpus.make_corpus import generate
from bastion.text.errors import InvalidCorpus
from bastion.text.evaluate import evaluate, read_corpus

CORPUS = Path(__file__).resolve().parents[2] / "src" / "bastion" / "text" / "corpus" / "dev.jsonl"
runner = CliRunner()


def test_text_command_json_and_exit_status() -> None:
    r = runner.invoke(app, ["text", "12yo nsfw dm me", "--json"])
    assert r.exit_code == 1, r.output
    d = json.loads(r.stdout)
    assert d["level"] == "critical" and d["field"] == "body"
    assert {s["category"] for s in d["signals"]} == {"minor", "sexual", "trade"}

    r = runner.invoke(app, ["text", "a watercolor landscape", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["level"] == "none"


def test_text_command_reads_stdin_one_text_per_line() -> None:
    r = runner.invoke(app, ["text", "--json", "--field", "tag"], input="#NsfwTeen\n\na red cube\n")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    # a blank line gives an empty result in its place: output lines stay aligned with input lines
    assert [(x["line"], x["text"]) for x in lines] == [(1, "#NsfwTeen"), (2, ""), (3, "a red cube")]
    assert [x["level"] for x in lines] == ["high", "none", "none"]
    assert all(x["field"] == "tag" for x in lines)


def test_text_command_highlights_the_span_in_the_original() -> None:
    r = runner.invoke(app, ["text", "see n.s.f.w art"])
    assert r.exit_code == 0  # a lone `low` signal is below the default --fail-level (review)
    assert "'n.s.f.w' at 4-11" in r.stdout


def test_text_command_rejects_unknown_field_with_usage_status() -> None:
    r = runner.invoke(app, ["text", "x", "--field", "caption"])
    assert r.exit_code == 2
    assert "unknown-field" in r.output


def test_text_command_uses_a_platform_list(tmp_path: Path) -> None:
    p = tmp_path / "p.csv"
    p.write_text("term,category,weight,language\nredcubetag,coded,0.9,en\n", encoding="utf-8")
    r = runner.invoke(app, ["text", "redcubetag", "--json", "--lexicon", str(p)])
    assert json.loads(r.stdout)["level"] == "high"


def test_lexicon_check(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("language: en\ncategories:\n  coded: [redcubetag]\n", encoding="utf-8")
    r = runner.invoke(app, ["lexicon", "check", str(good), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["terms"] == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("language: en\ncategories:\n  coded: [{term: x, weight: 7}]\n", encoding="utf-8")
    r = runner.invoke(app, ["lexicon", "check", str(bad)])
    assert r.exit_code == 1
    assert "categories.coded.terms[0]" in r.stdout


def _write_corpus(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_eval_counts_per_category(tmp_path: Path) -> None:
    p = _write_corpus(
        tmp_path / "c.jsonl",
        [
            {"text": "preteen nsfw", "field": "body", "language": "en", "labels": ["minor", "sexual", "harmful"]},  # all right
            {"text": "nsfw", "field": "body", "language": "en", "labels": ["minor", "sexual", "harmful"]},  # misses minor
            {"text": "my kid drew this", "field": "body", "language": "en", "labels": []},  # extra minor
            {"text": "a red cube", "field": "body", "language": "en", "labels": []},  # true negative
        ],
    )
    rep = evaluate(read_corpus(p))
    m, s, h = rep.per_category["minor"], rep.per_category["sexual"], rep.per_category["harmful"]
    assert (m.tp, m.fp, m.fn) == (1, 1, 1)
    assert (s.tp, s.fp, s.fn) == (2, 0, 0)
    assert (h.tp, h.fp, h.fn) == (1, 0, 1)
    assert m.precision == 0.5 and m.recall == 0.5
    assert rep.worst(1)[0].record.text == "nsfw"  # a missed harmful item is the worst miss
    r = runner.invoke(app, ["eval", "text", str(p), "--json"])
    assert json.loads(r.stdout)["categories"]["minor"]["f1"] == 0.5


def test_bad_corpus_lines_are_reported_not_skipped(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": "ok", "labels": []}\nnot json\n{"text": 3}\n{"text": "x", "field": "caption"}\n', encoding="utf-8")
    with pytest.raises(InvalidCorpus) as exc:
        read_corpus(p)
    assert ":2:" in str(exc.value) and ":3:" in str(exc.value) and ":4:" in str(exc.value)
    r = runner.invoke(app, ["eval", "text", str(p)])
    assert r.exit_code == 2


def test_shipped_dev_corpus_is_what_the_generator_makes() -> None:
    shipped = [json.loads(x) for x in CORPUS.read_text(encoding="utf-8").splitlines()]
    assert shipped == generate()


def test_dev_corpus_covers_every_language_and_disguise_class() -> None:
    rows = [json.loads(x) for x in CORPUS.read_text(encoding="utf-8").splitlines()]
    assert {r["language"] for r in rows} == {"en", "fr", "es", "de", "ja"}
    kinds = {r["kind"] for r in rows}
    assert {"benign", "positive", "negative_prompt"} <= kinds
    assert len([k for k in kinds if k.startswith("disguised:")]) >= 12
    assert sum(r["kind"] == "benign" for r in rows) >= 80


def test_dev_corpus_regression() -> None:
    """Guards the recorded figures (bench/RESULTS.md): no benign look-alike becomes harmful, and every
    disguise class keeps being defeated."""
    rep = evaluate(read_corpus(CORPUS))
    harmful = rep.per_category["harmful"]
    assert harmful.fp == 0
    assert harmful.recall >= 0.99
    assert rep.overall.f1 >= 0.99
