"""Recall beyond the lists' exact spellings (issue 10): inflected forms, compact pairs, glued words, offers
of "real" material — and the benign look-alikes that must stay below review.

Fixtures are short and clinical: the fewest indicator words that exercise a rule.
"""

from pathlib import Path

import pytest

from bastion.text import analyze
from bastion.text.evaluate import read_corpus
from bastion.text.score import default_scoring_config
from bastion.text.stems import stem

HELDOUT = Path(__file__).parent / "data" / "heldout.jsonl"
REVIEW = {"medium", "high", "critical"}  # the default policy sends these to review


def cats(text, field="body", language=None):
    return {s.category for s in analyze(text, field, language).signals}


def test_held_out_corpus_reaches_the_goal():
    """Written before the lexicons changed (see its git history); the figures are in bench/RESULTS.md."""
    records = read_corpus(HELDOUT)
    harmful = [r for r in records if "harmful" in r.labels]
    benign = [r for r in records if "harmful" not in r.labels]
    assert len(harmful) >= 60 and len(benign) >= 60
    found = sum(analyze(r.text, r.field, r.language).level in {"high", "critical"} for r in harmful)
    flagged = [r.text for r in benign if analyze(r.text, r.field, r.language).level in REVIEW]
    assert found / len(harmful) >= 0.9
    assert len(flagged) / len(benign) <= 0.05, flagged


@pytest.mark.parametrize(
    "text,language,word",
    [
        ("Nacktbilder von Minderjährigen", "de", "Minderjährigen"),
        ("Fotos mit Kindern", "de", "Kindern"),
        ("zwei Mädchens", "de", "Mädchens"),
        ("des collégiennes", "fr", "collégiennes"),
        ("las colegialas", "es", "colegialas"),
        ("three schoolgirls", "en", "schoolgirls"),
    ],
)
def test_inflected_minor_words_are_found_with_the_whole_word_as_span(text, language, word):
    r = analyze(text, "body", language)
    minors = [s for s in r.signals if s.category == "minor"]
    assert minors, r.reasons
    s = minors[0]
    assert text[s.span[0] : s.span[1]] == word  # original offsets, accents and case kept
    assert s.evidence["match"] in ("stem", "plain")


@pytest.mark.parametrize(
    "text,language",
    [("nackte Schülerinnen", "de"), ("explizite Bilder mit Kindern", "de"), ("gamines nues", "fr"),
     ("adolescentes eróticas", "es"), ("explicit pics of schoolgirls", "en")],
)
def test_inflected_pairs_reach_high(text, language):
    assert analyze(text, "body", language).level in {"high", "critical"}


@pytest.mark.parametrize(
    "text",
    ["minority report fan art, explicit lyrics", "no kidding, the nsfw filter is on", "I explicitly asked the kids",
     "Schulung für Lehrer, explizite Anleitung", "all kinds of nsfw art"],
)
def test_words_that_merely_share_a_stem_do_not_combine(text):
    r = analyze(text)
    assert r.level not in REVIEW, r.reasons


def test_stems_keep_the_terms_semantics():
    # German "Kinder" counts only in German text, also through its inflected forms
    assert "minor" not in cats("kinds and kinder eggs", language="en")
    assert "minor" in cats("mit den Kindern und der Familie", language="de")
    assert stem("kindern", "de") == stem("kinder", "de")


@pytest.mark.parametrize("text,field", [("spicy teen pics", "title"), ("spicy kid", "tag"), ("tween spicy", "tag"),
                                        ("young teen spicy", "title")])
def test_compact_pairs_with_a_weak_word_score_high(text, field):
    r = analyze(text, field)
    assert r.level in {"high", "critical"}, r.reasons
    assert "minor_sexual_pair" in r.combinations
    pair = [s for s in r.signals if s.category == "pair"][0]
    assert pair.evidence["rule"] == "pair:minor+sexual"


@pytest.mark.parametrize("text", ["spicy ramen recipe for the kids", "18+ minors dni", "nsfw art, no minors",
                                  "baby dragon nsfw filter on"])
def test_words_apart_or_negated_are_not_a_pair(text):
    r = analyze(text)
    assert "minor_sexual_pair" not in r.combinations and r.level not in REVIEW, r.reasons


def test_strong_pairs_keep_their_old_signals():
    r = analyze("teen nude")  # both words strong: scored as before, no extra signal
    assert {s.category for s in r.signals} == {"minor", "sexual"} and r.combinations == ["minor_and_sexual"]


@pytest.mark.parametrize("text", ["kidnudes folder", "selling teenlewds", "Kindernacktbilder tausche"])
def test_words_glued_outside_hashtags_are_split_when_two_categories_meet(text):
    c = cats(text, language="de" if text.startswith("K") else None)
    assert {"minor", "sexual"} <= c


@pytest.mark.parametrize("text", ["sunsetting the kidsroom nsfw filter", "Kindergartenfest", "skidmarks nudes"])
def test_long_ordinary_words_are_not_split(text):
    hits = [s for s in analyze(text).signals if s.evidence.get("match") == "glued"]
    assert hits == []


def test_real_material_offer_is_its_own_combination():
    assert any(c.name == "real_material_offer" for c in default_scoring_config().combinations)
    for text in ["real not ai, kids content, dm for prices", "100% real teen vids, no ai, $30",
                 "echte Bilder, keine KI, Kinder, per PN", "fotos reales de niñas, no es IA, escríbeme al privado"]:
        r = analyze(text, "comment")
        assert "real_material_offer" in r.combinations, (text, r.reasons)
        assert r.level in {"high", "critical"}
        assert any(reason.startswith("real_material_offer:") for reason in r.reasons)
    # no minor word, or no trade/contact/price: not an offer of real material
    assert "real_material_offer" not in analyze("real photos, not ai, $5 pack").combinations
    assert "real_material_offer" not in analyze("real photos of my kids' art projects, not AI").combinations


@pytest.mark.parametrize(
    "text",
    [
        "commissions open, DM me",
        "Commissions are open! DM me for prices, ko-fi.com/example_artist",
        "new sticker pack in my shop, 5 designs",
        "procreate brush pack, free for subscribers",
        "baby dragon sticker pack $4",
        "adult nsfw art of my original characters, 18+ only",
        "nsfw commissions open for adult characters, dm me",
        "no AI art here, 100% hand drawn. commissions open, dm me",
        "portraits of your real kids as cartoon heroes, $20, ko-fi.com/example",
        "my daughter's class made these paper lanterns",
        "kids art class prices: $10 per session, paypal.me/example",
    ],
)
def test_art_community_phrasing_stays_below_review(text):
    r = analyze(text)
    assert r.level not in REVIEW, r.reasons


def test_tip_links_are_payment_handles_and_a_daughters_class_is_a_weak_minor_word():
    r = analyze("support me on ko-fi: ko-fi.com/example_artist")
    assert [s.category for s in r.signals] == ["payment"] and r.level in {"none", "low"}
    r = analyze("my daughter's class made these")
    minors = [s for s in r.signals if s.category == "minor"]
    assert minors and minors[0].weight < 0.5 and r.level == "none"
    assert analyze("la classe de ma fille", "body", "fr").signals[0].category == "minor"
