"""Normalisation: each obfuscation class is defeated, and offsets always point into the original text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.text import analyze, fold, normalize
from bastion.text.normalize import (
    _match_view,
    camel_boundaries,
    match_views,
    may_need_join,
    needs_join,
    plain_view,
    plain_text_unsqueezed,
    squeeze_text,
)

# A neutral placeholder word for pure-machinery tests ("watercolor" has no repeated letters, so the
# squeezed match view spells it like the word, with 'l' folded to 'i').
WORD = "watercolor"
WORD_VIEW = "watercoior"


def view_words(text: str) -> list[str]:
    _, views = match_views(text)
    return [w for v in views for w in v.text.split()]


@pytest.mark.parametrize(
    "disguised",
    [
        pytest.param("wаtеrсolor", id="cyrillic-homoglyphs"),
        pytest.param("wαtercοlor", id="greek-homoglyphs"),
        pytest.param("ｗａｔｅｒｃｏｌｏｒ", id="fullwidth"),
        pytest.param("𝐰𝐚𝐭𝐞𝐫𝐜𝐨𝐥𝐨𝐫", id="math-bold"),
        pytest.param("𝔴𝔞𝔱𝔢𝔯𝔠𝔬𝔩𝔬𝔯", id="math-fraktur"),
        pytest.param("ⓦⓐⓣⓔⓡⓒⓞⓛⓞⓡ", id="circled"),
        pytest.param("🅦🅐🅣🅔🅡🅒🅞🅛🅞🅡", id="negative-circled"),
        pytest.param("🇼🇦🇹🇪🇷🇨🇴🇱🇴🇷", id="regional-indicators"),
        pytest.param("w\u200ba\u200bt\u200ce\u200dr\u2060c\ufeffo\u00adlor", id="zero-width"),
        pytest.param("wàtércölor", id="diacritics"),
        pytest.param("w4t3rc0l0r", id="leet-digits"),
        pytest.param("w@tercolor", id="leet-symbol"),
        pytest.param("WATERCOLOR", id="case"),
        pytest.param("waaaatercolooor", id="repeated-letters"),
        pytest.param("w.a.t.e.r.c.o.l.o.r", id="dotted-letters"),
        pytest.param("w a t e r c o l o r", id="spaced-letters"),
        pytest.param("w_a_t_e_r_c_o_l_o_r", id="underscored-letters"),
        pytest.param("water.color", id="inner-dot"),
    ],
)
def test_each_disguise_class_folds_to_the_word(disguised: str) -> None:
    assert WORD_VIEW in view_words(disguised)


def test_plain_text_is_not_changed_into_the_word() -> None:
    # Squeezing only shortens runs: the run lengths guard the lexicon, not the view, so check both.
    assert view_words("a red cube") == ["a", "red", "cube"]


def test_half_and_full_width_kana_are_unified() -> None:
    assert fold("ｶﾞｷﾞ").text == fold("ガギ").text
    assert fold("ﾛﾘ").text == fold("ロリ").text


def test_casefold_expansion_keeps_offsets() -> None:
    f = fold("Straße!")
    # "ß" expands to "ss": both folded characters map back to the single original character.
    i = f.text.index("ss")
    assert f.span(i, i + 2) == (4, 5)
    assert f.text.endswith("!")


def test_camel_case_hashtag_boundaries_are_found_in_the_original() -> None:
    text = "look #RedCubeArt now"
    assert camel_boundaries(text) == {text.index("C"), text.index("A")}


def test_spaced_letter_join_needs_a_consistent_separator() -> None:
    # "y/o" is an age unit, not part of the spaced word that follows it.
    _, views = match_views("13 y/o n.s.f.w")
    joined = [v for v in views if v.joined][0]
    assert "nsfw" in joined.text.split()


@pytest.mark.parametrize(
    "text",
    [
        "kid-friendly colouring page",
        "Ｎ.Ｓ.Ｆ.Ｗ art",
        "n\u200bsfw",
        "t33n $exy r18 l0l",
        "Straße ﬁle ǅ",
        "ｶﾞｷ 児童",
        "hello.world_x y z",
        "",
        "   ",
    ],
)
def test_fast_path_agrees_with_mapped_view(text: str) -> None:
    f = fold(text)
    assert squeeze_text(plain_text_unsqueezed(f)) == _match_view(f, join=False).text
    if needs_join(f):
        assert may_need_join(f, squeeze_text(plain_text_unsqueezed(f)))


# --- properties ------------------------------------------------------------------------------------

# Alphabet that exercises every folding path: ASCII, Latin with diacritics, look-alikes, full-width,
# mathematical letters, enclosed letters, regional indicators, kana of both widths, invisible characters,
# expansions (ß, ﬁ), separators and digits.
_ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 .,_-*#@$!|/+")
    + list("éàüñøßﬁǅаеорсхΑοινω")
    + ["ｗ", "Ａ", "１", "𝐚", "𝔷", "ⓐ", "🅐", "🇦", "ｶ", "ﾞ", "ガ", "児", "\u200b", "\u200d", "\ufeff", "\u00ad", "\u0301"]
)
_TEXT = st.lists(_ALPHABET, max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_folded_offsets_point_into_the_original(text: str) -> None:
    f = fold(text)
    prev = 0
    for i in range(len(f.text)):
        s, e = f.span(i, i + 1)
        assert 0 <= s < e <= len(text)
        assert s >= prev  # monotonic: the view never jumps backwards in the original
        prev = s
        # the original range really folds to something containing this character
        assert f.text[i] in fold(text[s:e]).text


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.booleans())
def test_match_view_offsets_point_into_the_original(text: str, join: bool) -> None:
    v = normalize(text, join=join)
    for i in range(len(v.text)):
        s, e = v.span(i, i + 1)
        assert 0 <= s < e <= len(text)
    if v.text:
        s, e = v.span(0, len(v.text))
        assert 0 <= s <= e <= len(text)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_fast_text_always_equals_mapped_text(text: str) -> None:
    f = fold(text)
    assert squeeze_text(plain_text_unsqueezed(f)) == _match_view(f, join=False).text


# Surroundings for the embedded term: nothing that folds to Latin letters or digits, so the only
# indicator in the text is the one we put there.
_NOISE = st.lists(
    st.sampled_from(list(" .,;:!?()[]{}-_/\"'…、。") + ["児童館", "水彩", "🎨", "\u200b", "☆", "\n"]), max_size=12
).map("".join)
_DISGUISES = st.sampled_from(
    ["nsfw", "NSFW", "n.s.f.w", "n s f w", "ｎｓｆｗ", "𝐧𝐬𝐟𝐰", "n\u200bs\u200bf\u200bw", "n5fw", "nsssfw", "🇳🇸🇫🇼", "ⓝⓢⓕⓦ"]
)


@settings(max_examples=300, deadline=None)
@given(_NOISE, _DISGUISES, _NOISE)
def test_signal_span_is_exactly_the_disguised_term(prefix: str, term: str, suffix: str) -> None:
    text = f"{prefix} {term} {suffix}"
    start = len(prefix) + 1
    res = analyze(text)
    spans = [s.span for s in res.signals if s.category == "sexual"]
    assert (start, start + len(term)) in spans
    for s in res.signals:
        assert s.span is not None and text[s.span[0] : s.span[1]] == s.evidence["matched"]


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_sparse_plain_view_agrees_with_dense_view(text: str) -> None:
    """The plain view keeps only squeezed positions; it must map exactly like the dense view."""
    f = fold(text)
    sparse, dense = plain_view(f), _match_view(f, join=False)
    assert sparse.text == dense.text
    for i in range(len(dense.text)):
        assert sparse.span(i, i + 1) == dense.span(i, i + 1)
        assert sparse.run(i) == dense.run(i)
        assert sparse.was_digit(i) == dense.was_digit(i)
