"""Lexicons as data: shipped lists per language, platform lists (YAML and CSV), validation, semantics."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bastion.text import analyze, default_lexicon, load_lexicon
from bastion.text.errors import InvalidLexicon
from bastion.text.lexicon import DEFAULT_LANGUAGES, KNOWN_CATEGORIES, check_lexicon_file, parse_lexicon_file

LEXICON_DIR = Path(__file__).resolve().parents[2] / "src" / "bastion" / "text" / "lexicons"


def cats(text: str, field: str = "body", **kw: object) -> set[str]:
    return analyze(text, field, **kw).categories  # type: ignore[arg-type]


def test_default_lexicon_is_loaded_once(monkeypatch) -> None:
    """Cached: one load per process. Checked by what happens (the shipped files are not read again), not by a
    wall-clock time, which a busy machine makes fail."""
    import bastion.text.lexicon as lexicon_module

    a = default_lexicon()

    def read_again(lang: str):
        raise AssertionError(f"the shipped {lang} list was read again")

    monkeypatch.setattr(lexicon_module, "_default_file", read_again)
    b = load_lexicon()
    assert a is b
    assert len(a) > 300


@pytest.mark.parametrize("language", DEFAULT_LANGUAGES)
def test_every_shipped_list_is_valid_and_has_every_category(language: str) -> None:
    lex, problems, warnings = check_lexicon_file(LEXICON_DIR / f"{language}.yaml")
    assert problems == []
    assert warnings == []
    assert {e.category for e in lex.entries} >= {"minor", "sexual", "trade", "benign"}
    assert {e.language for e in lex.entries} == {language}


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "preteen nsfw"),
        ("fr", "fillette nue"),
        ("es", "niña desnuda"),
        ("de", "Mädchen nackt"),
        ("ja", "幼女のエロ"),
    ],
)
def test_each_language_finds_minor_and_sexual(language: str, text: str) -> None:
    res = analyze(text, language=language)
    assert res.categories >= {"minor", "sexual"}
    assert {s.language for s in res.signals} == {language}
    assert res.level == "high"


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "dm me"), ("fr", "vends"), ("es", "vendo"), ("de", "verkaufe"), ("ja", "販売")],
)
def test_each_language_finds_trade(language: str, text: str) -> None:
    assert "trade" in cats(text)


@pytest.mark.parametrize(
    "text",
    [
        "kid-friendly colouring page",
        "kid friendly colouring page",
        "baby dragon commission open",
        "baby shower invitation design",
        "nude colour palette",
        "no nsfw please",
        "livre pour enfants",
        "子供向けのイラスト",
        "カロリー計算",
        "ロリータファッション",
        "Malkurs für Kinder am Samstag",
    ],
)
def test_benign_context_cancels_the_indicator_and_says_so(text: str) -> None:
    res = analyze(text)
    assert res.categories <= {"trade"}
    assert res.suppressed, "the cancelled hit is reported, not dropped"
    assert all("benign context" in s.evidence["suppressed"] for s in res.suppressed)


def test_substring_semantics_for_japanese_and_whole_words_elsewhere() -> None:
    assert "minor" in cats("児童のイラスト")  # no spaces in Japanese
    assert "minor" not in cats("kidney beans")  # "kid" is a whole-word term
    assert "minor" not in cats("skidmarks")


def test_strict_terms_count_only_in_their_language() -> None:
    assert "minor" not in cats("kind of nsfw, right?")  # English sentence: German "kind" does not count
    assert "minor" in cats("mein Kind ist nackt")
    res = analyze("kind of nsfw, right?")
    assert any("language" in s.evidence["suppressed"] for s in res.suppressed)


def test_declared_language_is_the_fallback_for_strict_terms() -> None:
    # No stopwords to guess from: the declared language decides.
    assert "minor" in cats("Kind nackt", language="de")
    assert "minor" not in cats("Kind nackt", language="en")


def test_needs_context_terms_count_only_with_other_indicators() -> None:
    alone = analyze("cp", "tag")
    assert alone.categories == set() and alone.level == "none"
    assert "needs" in alone.suppressed[0].evidence["suppressed"]
    assert analyze("cp nsfw", "tag").level == "critical"


def test_coded_terms_alone_are_high_and_defeat_disguise() -> None:
    for text in ("pthc", "PTHC", "p.t.h.c", "ｐｔｈｃ", "p7hc", "#pthcxyz"):
        assert analyze(text, "tag").level == "high", text


def test_squeezing_and_leet_do_not_create_false_terms() -> None:
    assert "minor" not in cats("ten cats")  # "teen" squeezes to "ten", but "ten" had no doubled 'e'
    assert "minor" in cats("teeeen")
    assert "sexual" not in cats("bbq rib recipe")  # "r18" folds to "rib"; the term's digits must be digits
    assert "sexual" in cats("r18 only")


def test_hashtags_are_segmented() -> None:
    for tag in ("#NsfwTeen", "#nsfwteen", "#nsfw_teen", "#PreteenNude"):
        assert analyze(tag, "tag").categories >= {"minor", "sexual"}, tag
    assert "minor" not in analyze("#canteen", "tag").categories
    assert "minor" not in analyze("#BabyDragon", "tag").categories


# --- platform lists ------------------------------------------------------------------------------


def _write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_platform_yaml_list_merges_over_defaults(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "platform.yaml",
        {
            "language": "en",
            "source": "my-platform",
            "categories": {
                "coded": {"weight": 0.9, "match": "substring", "terms": ["redcubetag"]},
                # A weight of 0 removes a default term.
                "trade": {"terms": [{"term": "swap", "weight": 0}]},
            },
        },
    )
    lex = load_lexicon([p])
    res = analyze("see #redcubetag", lexicon=lex)
    assert res.level == "high"
    assert res.signals[0].evidence["rule"] == "lexicon:my-platform"
    assert "trade" not in analyze("swap open", lexicon=lex).categories
    assert "trade" in analyze("swap open").categories  # the default is untouched


def test_platform_csv_list(tmp_path: Path) -> None:
    p = tmp_path / "list.csv"
    p.write_text("term,category,weight,language,match\nred cube,coded,0.9,en,word\n", encoding="utf-8")
    lex = load_lexicon([p], include_default=False)
    assert len(lex) == 1
    res = analyze("a RED  CUBE here", lexicon=lex)
    assert [(s.category, s.span) for s in res.signals] == [("coded", (2, 11))]


def test_invalid_list_reports_every_problem_with_its_place(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "bad.yaml",
        {
            "language": "english",
            "categories": {
                "Minor": ["x"],
                "trade": {"terms": [{"term": "ok"}, {"term": ""}, {"term": "w", "weight": 3}, {"term": "m", "match": "regex"}]},
            },
        },
    )
    lex, problems = parse_lexicon_file(p)
    wheres = {w for _, w, _ in problems}
    assert "language" in wheres
    assert "categories.Minor" in wheres
    assert {"categories.trade.terms[1]", "categories.trade.terms[2]", "categories.trade.terms[3]"} <= wheres
    with pytest.raises(InvalidLexicon) as exc:
        load_lexicon([p])
    assert "bad.yaml" in str(exc.value)


def test_unreadable_and_non_yaml_files_are_problems(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("categories: [unclosed", encoding="utf-8")
    _, problems = parse_lexicon_file(p)
    assert problems and problems[0][1] == "yaml"
    _, problems = parse_lexicon_file(tmp_path / "missing.yaml")
    assert problems and problems[0][1] == "file"


def test_check_refuses_unknown_categories_and_warns_about_duplicates(tmp_path: Path) -> None:
    p = _write(tmp_path / "w.yaml", {"language": "en", "categories": {"grooming": ["red cube"], "trade": ["swap", "SWAP"]}})
    _, problems, warnings = check_lexicon_file(p)
    assert [(w, m.split(" (")[0]) for _, w, m in problems] == [("categories.grooming.terms[0]", "unknown category 'grooming'")]
    assert any("duplicate" in w for w in warnings)
    assert "grooming" not in KNOWN_CATEGORIES
    with pytest.raises(InvalidLexicon):
        load_lexicon([p])


def test_check_reports_every_problem_of_a_term(tmp_path: Path) -> None:
    p = _write(tmp_path / "t.yaml", {"language": "en", "categories": {"trade": [
        {"term": "red cube", "weight": 7, "match": "fuzzy", "strict": "maybe", "colour": "red"}]}})
    _, problems = parse_lexicon_file(p)
    messages = " | ".join(m for _, _, m in problems)
    assert len(problems) == 4, messages
    for part in ("unknown keys", "weight 7.0 outside", "match must be", "strict must be"):
        assert part in messages


def test_weight_zero_removes_the_term_in_every_language(tmp_path: Path) -> None:
    from bastion.text import analyze

    p = tmp_path / "rm.csv"
    p.write_text("term,category,weight,language\ncommission,trade,0,en\n", encoding="utf-8")
    before = {s.term for s in analyze("commission open", lexicon=load_lexicon()).signals}
    assert before & {"commission", "comisión"}
    after = {s.term for s in analyze("commission open", lexicon=load_lexicon([p])).signals}
    assert not after & {"commission", "comisión"}, after
