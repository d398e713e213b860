"""Issue 22: twelve languages, provenance of every shipped entry, decompounding, Latin codes inside CJK
text, spaced-out words, and ambiguous codes decided by their context. Fixtures are indicator words only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bastion.text import analyze, analyze_item, default_lexicon, load_lexicon
from bastion.text.errors import InvalidLexicon
from bastion.text.lexicon import DEFAULT_LANGUAGES, check_lexicon_file, shipped_lexicon_files
from bastion.text.normalize import fold, script_split_view

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))


def _signal(result, category):
    return [s for s in result.signals if s.category == category]


def test_twelve_languages_ship_with_provenance_on_every_entry() -> None:
    assert set(DEFAULT_LANGUAGES) >= {"en", "fr", "es", "de", "ja", "pt", "it", "nl", "ru", "pl", "ko", "zh"}
    for path in shipped_lexicon_files():
        lex, problems, warnings = check_lexicon_file(path)
        assert problems == [] and warnings == [], path
        for e in lex.entries:
            if e.category != "vocab":
                assert e.ref and e.note, (path, e.term)
        assert any(e.category == "material" for e in lex.entries), path


def test_provenance_required_reports_every_term_without_source_or_note(tmp_path: Path) -> None:
    p = tmp_path / "platform.yaml"
    p.write_text(
        "language: en\nprovenance: required\ncategories:\n  coded:\n    terms:\n"
        "      - {term: exampletag, source: a report}\n"
        "      - {term: othertag, note: a note}\n"
        "      - {term: thirdtag, source: a report, note: a note}\n"
        "      - source: a paper\n        note: grouped forms\n        terms: [groupone, grouptwo]\n",
        encoding="utf-8",
    )
    lex, problems, _ = check_lexicon_file(p)
    assert [w for _p, w, _m in problems] == ["categories.coded.terms[0]", "categories.coded.terms[1]"]
    assert "missing note" in problems[0][2] and "missing source" in problems[1][2]
    assert {e.term for e in lex.entries} == {"thirdtag", "groupone", "grouptwo"}
    assert {e.ref for e in lex.entries} == {"a report", "a paper"}
    with pytest.raises(InvalidLexicon):
        load_lexicon([p])


def test_scope_cancels_and_unless_are_validated(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(
        "language: en\ncategories:\n  minor:\n    terms:\n      - {term: exampleword, scope: text}\n"
        "  benign:\n    terms:\n      - {term: benignword, scope: sentence, unless: [nonsense]}\n"
        "      - {term: otherword, source: ''}\n",
        encoding="utf-8",
    )
    _lex, problems, _ = check_lexicon_file(p)
    messages = " | ".join(m for _p, _w, m in problems)
    assert "scope applies to benign terms only" in messages
    assert "scope must be one of" in messages
    assert "unless must be a list of known categories" in messages
    assert "source must be a non-empty string" in messages


def test_lexicon_check_without_a_file_checks_every_shipped_list() -> None:
    import bastion.cli  # noqa: F401  (registers every command module)
    from bastion.cli.app import app

    r = CliRunner().invoke(app, ["lexicon", "check", "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines() if line.startswith("{")]
    assert len(rows) == len(DEFAULT_LANGUAGES)
    for row in rows:
        assert row["valid"] and row["problems"] == []
        assert row["with_source_and_note"] == row["terms"] - row["categories"].get("vocab", 0)


@pytest.mark.parametrize(
    "text",
    ["kinderpornografie", "Kinderpornografiesammlung", "kinderpornoverzameling", "jeugdpornografie"],
)
def test_decompounding_finds_a_material_name_inside_a_compound(text: str) -> None:
    r = analyze(text)
    assert r.level in ("high", "critical")
    (m,) = _signal(r, "material")
    assert m.span[0] == 0


def test_benign_compounds_cancel_the_part_inside_them() -> None:
    r = analyze("Nacktschnecken im Garten, Kinderwagen")
    assert r.signals == []
    assert {s.evidence["suppressed"] for s in r.suppressed} == {
        "benign context 'nacktschnecke'", "benign context 'kinderwagen'"}


@pytest.mark.parametrize(
    ("text", "term", "original"),
    [("JC裸画像", "jc", "JC"), ("ｊｓ裸", "js", "ｊｓ"), ("儿童cp资源", "cp", "cp")],
)
def test_latin_codes_inside_cjk_text_are_whole_words(text: str, term: str, original: str) -> None:
    r = analyze(text)
    hits = [s for s in r.signals if s.term == term]
    assert hits, r.reasons
    s, e = hits[0].span
    assert text[s:e] == original


def test_script_split_view_maps_back_to_the_original() -> None:
    text = "ｃｐ動画"
    view = script_split_view(fold(text))
    assert view.text.startswith("cp ")
    assert view.span(0, 2) == (0, 2)
    assert view.span(3, 5) == (2, 4)


def test_a_code_that_is_also_ordinary_needs_and_names_its_context() -> None:
    cancelled = analyze("ＪＳのコード交換")
    assert cancelled.level == "none"
    assert any("no supporting context" in s.evidence["suppressed"] for s in cancelled.suppressed)
    counted = analyze("ＪＳ エロ")
    (js,) = [s for s in counted.signals if s.term == "js"]
    assert js.evidence["context"] == ["sexual"]
    assert any("counted by its context: sexual" in reason for reason in counted.reasons)


def test_brand_and_hardware_contexts_cancel_a_short_code() -> None:
    brand = analyze("C.P. Company jacket for sale")
    assert brand.level == "none"
    assert any("company" in s.evidence.get("suppressed", "") for s in brand.suppressed if s.term == "cp")
    cpu = analyze("ЦП перегревается, куплю кулер")
    assert cpu.level == "none"
    assert any("in the text" in s.evidence["suppressed"] for s in cpu.suppressed if s.term == "цп")


def test_reporting_talk_cancels_unless_the_item_offers() -> None:
    talk = analyze("how to report child sexual abuse material")
    assert talk.level == "none"
    (m,) = [s for s in talk.suppressed if s.category == "material"]
    assert "benign context 'report' in the text" in m.evidence["suppressed"]
    offer = analyze_item([("title", "report child sexual abuse material"), ("body", "for sale, links")])
    assert offer.level == "critical"
    (m,) = _signal(offer, "material")
    assert "overridden by trade" in m.evidence["context"]


@pytest.mark.parametrize("text", ["loli nsfw", "loli nsfw lol", "l0li nsfw"])
def test_a_disguised_or_look_alike_word_is_no_benign_context(text: str) -> None:
    """The match views read l as i and digits as letters, so "loli" and "lol" meet the French law word
    "loi", a reporting context of the whole text; a benign context counts only as written."""
    r = analyze(text)
    assert r.level in ("high", "critical"), r.reasons
    assert not any("'loi'" in s.evidence.get("suppressed", "") for s in r.suppressed)
    assert analyze("nouvelle loi, loli nsfw").level == "none"  # the word itself still is one


@pytest.mark.parametrize(
    ("text", "category"),
    [("u n d e r a g e n u d e s", "minor"), ("아 동 포 르 노", "material"), ("c.s.a.m", "material")],
)
def test_letters_written_apart_are_read_together(text: str, category: str) -> None:
    r = analyze(text)
    assert r.level in ("high", "critical"), r.reasons
    s, e = _signal(r, category)[0].span
    assert text[s:e].replace(" ", "").replace(".", "")


def test_hangul_syllables_stay_whole_when_folded() -> None:
    assert fold("아동").text == "아동"
    assert fold("ｶﾞ").text == fold("ガ").text


def test_independent_corpus_meets_the_goal_in_every_language() -> None:
    """Guards the figures recorded in bench/RESULTS.md for the corpus written before the lists changed."""
    import bench_text_languages as b

    per = b.figures(b.read_rows())
    assert len(per) == 12
    for lang, v in per.items():
        assert v["harmful"] >= 30 and v["benign"] >= 30, lang
        assert v["recall"] >= 0.95, (lang, v)
        assert v["false_flag_rate"] <= 0.03, (lang, v)


def test_a_one_character_chinese_term_counts_only_as_a_word_of_its_own() -> None:
    """裸 ("naked") inside 裸露 ("exposed", of skin or wires) is not a hit; as a word of its own it is."""
    everyday = analyze("儿童裸露皮肤防晒")
    assert everyday.level == "none"
    (s,) = [s for s in everyday.suppressed if s.term == "裸"]
    assert s.evidence["suppressed"] == "inside the word '裸露' (dictionary segmentation)"
    assert analyze("小学生 裸 视频").level in ("high", "critical")
    # Japanese text (kana) goes to the Japanese dictionary, where 裸 alone is a word: it counts.
    assert all("segmentation" not in s.evidence.get("suppressed", "") for s in analyze("裸のこども").suppressed)


def test_a_one_character_japanese_term_counts_only_as_a_word_of_its_own() -> None:
    """Japanese: 裸 inside 裸子植物 ("gymnosperms") was a false flag of substring matching next to a school
    grade (a children's plant book: high before fugashi + unidic-lite segmented it); alone, or in a nudity
    word the list names (全裸), it still counts."""
    book = analyze("小学生向け 裸子植物の図鑑")
    assert book.level == "none", book.reasons
    (s,) = [s for s in book.suppressed if s.term == "裸"]
    assert s.evidence["suppressed"] == "inside the word '裸子' (dictionary segmentation)"
    assert analyze("小学生の裸").level in ("high", "critical")
    assert {s.term for s in analyze("中学生 全裸").signals} >= {"中学生", "全裸"}


def test_japanese_tokens_map_back_to_the_original() -> None:
    from bastion.text.segment import japanese_tokens

    text = "小学生向け　裸子植物の図鑑 です"
    tokens = japanese_tokens(text)
    assert all(text[a:b] == word for word, a, b in tokens)
    assert ("裸子", 6, 8) in tokens


def test_segment_is_validated(tmp_path: Path) -> None:
    p = tmp_path / "seg.yaml"
    p.write_text("language: zh\ncategories:\n  sexual:\n    terms:\n      - {term: 例子, segment: true}\n", encoding="utf-8")
    _lex, problems, _ = check_lexicon_file(p)
    assert [m for _p, _w, m in problems] == ["segment applies to substring terms only"]


@pytest.mark.parametrize(
    ("text", "term"),
    [("раздетыми", "раздетый"), ("Раздетые", "раздетый"), ("обнаженные", "обнажённый"), ("обнажённых", "обнажённый"),
     ("nagości", "nagość"), ("roznegliżowanych", "roznegliżowany")],
)
def test_russian_and_polish_inflections_match_by_stem(text: str, term: str) -> None:
    """Russian and Polish are stemmed from the original letters (folding would turn Cyrillic into Latin
    look-alikes and drop Polish diacritics): an inflected form finds the listed dictionary form, the
    span covers the whole original word, and ё and е stem alike."""
    (s,) = [s for s in analyze(text).signals if s.term == term]
    assert s.evidence["match"] == "stem"
    assert s.span == (0, len(text))


def test_russian_and_polish_stems_keep_benign_contexts_and_scripts() -> None:
    polish_art = analyze("nagość w sztuce")
    assert polish_art.level == "none"
    assert all("nagość w sztuce" in s.evidence["suppressed"] for s in polish_art.suppressed)
    assert analyze("детская одежда").level == "none"
    # A Latin word never goes to the Russian stemmer, nor a Cyrillic one to the Polish stemmer.
    from bastion.text.stems import StemIndex

    idx = default_lexicon().prepare()._stems
    assert isinstance(idx, StemIndex)
    assert idx._script_plan("razdetye") == ()
    assert [e.language for _st, entries in idx._script_plan("раздетые") for e in entries] == ["ru"]
