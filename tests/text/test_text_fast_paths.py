"""The throughput work (issue 4, item 6) must not change behaviour: each faster routine is checked against
a straightforward reference implementation -- the code it replaced -- on generated inputs, and the whole
pipeline against itself with the per-entry shape checks recomputed from the entries."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.text import analyze, default_lexicon, fold
from bastion.text.detectors import contacts
from bastion.text.lexicon import LexiconEntry, _shape_fits, _shape_of
from bastion.text.normalize import (
    _INNER_SEPARATOR_RE,
    _SPACED_LETTERS_RE,
    _SQUEEZE_RE,
    _delete,
    _match_view,
    _squeeze,
    plain_view,
)

_ALPHABET = st.sampled_from(
    list("abcdeilmnost aab  0123 .._-*·/|~,#@$!(){}[]")
    + ["é", "ß", "ﬁ", "а", "ｗ", "𝐚", "🇦", "ｶ", "ガ", "\u200b", "\u0301", "\t"]
    + ["dot", " dot ", "[.]", "(dot)", "{at}", "(@)", "[ . ]"]
)
_TEXT = st.lists(_ALPHABET, max_size=30).map("".join)


# --- reference implementations (the per-character loops the fast versions replaced) ------------------


def _reference_squeeze(text: str, base: list[int] | None):
    if _SQUEEZE_RE.search(text) is None:
        if base is None:
            return text, None, None, None
        return text, base, [b + 1 for b in base], None
    if base is None:
        base = list(range(len(text)))
    out: list[str] = []
    new_base: list[int] = []
    new_end: list[int] = []
    runs: list[int] = []
    prev = None
    for i, c in enumerate(text):
        if c == prev:
            runs[-1] += 1
            new_end[-1] = base[i] + 1
            continue
        prev = c
        out.append(c)
        new_base.append(base[i])
        new_end.append(base[i] + 1)
        runs.append(1)
    return "".join(out), new_base, new_end, runs


def _reference_delete(text: str, base: list[int] | None, pattern: re.Pattern[str], whole: bool):
    if pattern.search(text) is None:
        return text, base
    if base is None:
        base = list(range(len(text)))
    keep = [True] * len(text)
    for m in pattern.finditer(text):
        for k in range(m.start(), m.end()):
            if not whole or not text[k].isalnum():
                keep[k] = False
    return "".join(c for c, k in zip(text, keep) if k), [b for b, k in zip(base, keep) if k]


def _reference_undo_written_dots(text: str) -> tuple[str, list[int]]:
    index = list(range(len(text)))
    for pattern, repl in ((contacts._DOT_RE, "."), (contacts._AT_RE, "@")):
        if not pattern.search(text):
            continue
        out: list[str] = []
        new_index: list[int] = []
        last = 0
        for m in pattern.finditer(text):
            out.append(text[last : m.start()])
            new_index.extend(index[last : m.start()])
            out.append(repl)
            new_index.append(index[m.start()])
            last = m.end()
        out.append(text[last:])
        new_index.extend(index[last:])
        text, index = "".join(out), new_index
    return text, index


def _reference_shape_ok(view, start: int, e: LexiconEntry) -> bool:
    if view.squeezed:
        for k, r in enumerate(e.runs):
            if r > 1 and view.run(start + k) < r:
                return False
    elif any(r > 1 for r in e.runs):
        return False
    for k in e.digits:
        if not view.was_digit(start + k):
            return False
    return True


# --- properties -------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.booleans())
def test_squeeze_agrees_with_the_character_loop(text: str, with_base: bool) -> None:
    base = [2 * i + 1 for i in range(len(text))] if with_base else None  # a non-identity map
    assert _squeeze(text, base) == _reference_squeeze(text, base)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.booleans())
def test_separator_deletion_agrees_with_the_character_loop(text: str, with_base: bool) -> None:
    t = fold(text).text
    base = [3 * i for i in range(len(t))] if with_base else None
    for pattern, whole in ((_SPACED_LETTERS_RE, True), (_INNER_SEPARATOR_RE, False)):
        assert _delete(t, base, pattern, whole) == _reference_delete(t, base, pattern, whole)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_written_out_dots_agree_with_the_full_index_map(text: str) -> None:
    """The fast path returns no map when nothing was written out; it must mean the identity map."""
    t = fold(text).text
    got_text, got_index = contacts._undo_written_dots(fold(text))
    want_text, want_index = _reference_undo_written_dots(t)
    assert got_text == want_text
    assert (got_index if got_index is not None else list(range(len(got_text)))) == want_index


@pytest.mark.parametrize("text", ["t dot me/abcde", "t[.]me/abcde", "t (dot) me/abcde", "t.me/abcde"])
def test_written_out_dots_still_found(text: str) -> None:
    res = analyze(text)
    assert [s.category for s in res.signals] == ["contact"]
    s = res.signals[0]
    assert s.span == (0, len(text))
    assert s.evidence["matched"] == text


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_precomputed_term_shapes_agree_with_the_entry_check(text: str) -> None:
    """Every entry's precomputed shape accepts exactly where the per-entry check does, at every start."""
    entries = [e for e in default_lexicon().entries if e.digits or any(r > 1 for r in e.runs)][:40]
    entries.append(default_lexicon().entries[0])
    for view in (plain_view(fold(text)), _match_view(fold(text), join=True)):
        for e in entries:
            shape = _shape_of(e)
            for start in range(0, len(view.text) - len(e.key) + 1):
                want = _reference_shape_ok(view, start, e)
                got = shape is None or _shape_fits(view, start, view.squeezed, shape)
                assert got == want, (text, e.term, start)


def test_shape_checks_still_refuse_false_meetings() -> None:
    """'teen' needs its doubled letter in the text, and digits in a term must be digits in the text."""
    lex = default_lexicon()
    teen = [e for e in lex.entries if e.term == "teen"]
    assert teen and _shape_of(teen[0]) is not None
    assert "teen" in {s.term for s in analyze("teen nsfw").signals}
    assert "teen" not in {s.term for s in analyze("ten nsfw").signals}


_UNITISH = st.lists(
    st.sampled_from(["per", "set", "pack", "/", "1", "一", "セット", "枚", "each", "pic", "photo", " ", "$", "5", "gb",
                     "a", "tier", "lot", "lote", "vid", "x", "folder", "link", "paket", "für", "je", "パック"]),
    max_size=8,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(_UNITISH)
def test_unit_word_precheck_never_hides_a_unit_match(text: str) -> None:
    from bastion.text.detectors import commerce

    t = fold(text).text
    if commerce._UNIT_RE.search(t) or commerce._WEAK_UNIT_RE.search(t):
        assert commerce._UNIT_WORD_RE.search(t)


@pytest.mark.parametrize("text", ["$10 per pack", "1セット 500円", "$5 a pic"])
def test_unit_phrasing_still_found(text: str) -> None:
    assert ("trade", "price_unit") in {(s.category, s.term) for s in analyze(text).signals}


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_joined_text_is_the_joined_view_text(text: str) -> None:
    """The map-free joined text decides whether the joined view is built; it must be that view's text."""
    from bastion.text.normalize import joined_text

    f = fold(text)
    assert joined_text(f) == _match_view(f, join=True).text


@pytest.mark.parametrize("text", ["n.s.f.w", "n s f w art", "nsfw, n.s.f.w"])
def test_joined_only_terms_still_found(text: str) -> None:
    res = analyze(text)
    joined = [s for s in res.signals + res.suppressed if s.evidence.get("match") == "joined"]
    assert [(s.category, s.term) for s in joined] == [("sexual", "nsfw")]
    assert joined[0].evidence["matched"] in ("n.s.f.w", "n s f w")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("aabbeeoo  tt#12")), max_size=30).map("".join))
def test_plain_view_binary_searches_agree_with_its_dense_maps(text: str) -> None:
    """PlainView answers map questions by binary search over the deleted positions; its dense maps
    (built on request) are the reference."""
    view = plain_view(fold(text))
    base, runs = view._dense()
    for i in range(len(view.text)):
        assert view.folded_index(i) == base[i]
        assert view.run(i) == runs[i]
        assert view.folded_end(i) == base[i] + runs[i]
        for j in range(i + 1, len(view.text) + 1):
            assert view.span(i, j) == view.folded.span(base[i], base[j - 1] + runs[j - 1])


_NEEDY = st.lists(
    st.sampled_from(["05", "@", "/", "t.me", "discord", "dsc.gg", "wa.me", ".onion", "mega.", "kik", "tg", "line",
                     "session", "threema", "y", "age", "grade", "ans", "anos", "jahr", "j.", "klasse", "歳", "さい",
                     "小", "中", "a", " ", "x", "e", "s", "n"]),
    max_size=10,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(_NEEDY)
def test_needs_index_is_the_substring_pre_check(text: str) -> None:
    from bastion.text.detectors import ages

    for module in (contacts, ages):
        want = {i for i, needs in enumerate(module._NEEDS) if any(n in text for n in needs)}
        assert module._NEEDS_INDEX.possible(text) == want


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(list("@$!|ab9_ é٣²Ⅻ.-") + ["$3", "n@k", "@x"]), max_size=14).map("".join))
def test_leet_symbols_agree_with_the_pattern(text: str) -> None:
    """Symbols read as letters exactly where the original lookaround pattern says so (digits of other
    scripts, superscripts, Roman numerals and underscores included)."""
    from bastion.text.normalize import _LEET_SYMBOL_RE, _LEET_SYMBOLS, _leet_symbols

    assert _leet_symbols(text) == _LEET_SYMBOL_RE.sub(lambda m: _LEET_SYMBOLS[m.group()], text)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_may_need_join_is_exact_for_non_ascii_text(text: str) -> None:
    """_text_signals skips the second needs_join call for non-ASCII text because the cheap test is the
    exact one there."""
    from bastion.text.normalize import may_need_join, needs_join, plain_text_unsqueezed, squeeze_text

    f = fold(text)
    if not f.text.isascii():
        assert may_need_join(f, squeeze_text(plain_text_unsqueezed(f))) == needs_join(f)


def test_hashtag_of_a_multi_word_term_with_digits_does_not_crash() -> None:
    # "cp 2077" is a benign multi-word term with digits; in a hashtag its key loses the space, and its
    # shape checks (digit positions) must index that key. This used to raise IndexError.
    for text in ("#cp2077", "#CP2077 fanart", "#cp 2077"):
        result = analyze(text, "tag")
        assert result.level == "none" and not [s for s in result.signals if s.category == "coded"]


_CJK_TEXT = st.lists(st.sampled_from(list("ab1 .") + ["ＪＣ", "jc", "裸", "動画", "儿童", "cp", "아동", "ｶ", "が", "é", "\u200b"]),
                     max_size=12).map("".join)


@given(_CJK_TEXT)
@settings(max_examples=300, deadline=None)
def test_script_edge_test_agrees_with_the_lookaround_pattern(text: str) -> None:
    """script_edges looks for a pair of characters; the view it guards cuts at the lookaround pattern's
    positions. Both must agree on whether there is any edge at all."""
    from bastion.text.normalize import _SCRIPT_EDGE_RE, script_edges

    folded = fold(text)
    assert script_edges(folded) == (_SCRIPT_EDGE_RE.search(folded.text) is not None)


def test_normalized_is_the_fold_of_the_matched_text() -> None:
    """A signal's `normalized` is sliced from the text's folded view; it must equal folding the matched
    original characters on their own (texts whose folding moves offsets included: deletions, expansions)."""
    for text in ("ｐｒｅｔｅｅｎ ｎｓｆｗ", "pre\u200bteen nsfw", "ﬁne Mädchen nackt", "Ｍädchen ｎackt ß", "n.s.f.w k1d"):
        result = analyze(text)
        assert result.signals, text
        for s in result.signals + result.suppressed:
            if s.evidence.get("rule", "").startswith("lexicon:"):
                assert s.normalized == fold(text[s.span[0] : s.span[1]]).text, (text, s)


def _reference_guess(lexicon, folded) -> str | None:
    """The loop guess_language replaced: one set intersection per language, in list order."""
    from bastion.text.lexicon import _KANA_RE, _WORD_RE

    if _KANA_RE.search(folded.text):
        return "ja"
    words = set(_WORD_RE.findall(folded.text))
    best, best_n, tie = None, 0, False
    for lang, stop in lexicon.stopwords.items():
        n = len(words & stop)
        if n > best_n:
            best, best_n, tie = lang, n, False
        elif n == best_n and n > 0:
            tie = True
    return None if tie or best_n == 0 else best


_STOP_TEXT = st.lists(st.sampled_from(["und", "der", "the", "and", "de", "la", "et", "el", "y", "het", "een", "na", "nie",
                                       "и", "в", "e", "il", "o", "kinder", "buch", "x", "の"]), max_size=8).map(" ".join)


@given(_STOP_TEXT)
@settings(max_examples=300, deadline=None)
def test_language_guess_agrees_with_the_intersection_loop(text: str) -> None:
    lex = default_lexicon()
    folded = fold(text)
    assert lex.guess_language(folded) == _reference_guess(lex, folded)


# --- detector pre-checks written as substring tests (issue 22, third pass) -------------------------------

_DETECTORISH = st.lists(
    st.sampled_from(["per", "set", "pack", "/", "1", "一", "セット", "枚", "each", "pic", " ", "$", "5", "12", "a", "tier", "ans",
                     "anos", "yo", "year", "jahr", "grade", "klasse", "歳", "才", "さい", "年生", "tg", "@", ".", "com", "me", "dot",
                     "line", "x", "b", "0", "f", "paypal", "cash", "ko-fi", "dix", "-sept", "seven", "teen", "un", "e", "s", "ein",
                     "old", "y/o", "٣", "é", "_", "pro", "pour", "je", "par", "!", "\n", "abc0123456789def" * 4]),
    max_size=14,
).map("".join)


@settings(max_examples=600, deadline=None)
@given(_DETECTORISH)
def test_detector_hint_tests_are_the_hint_patterns(text: str) -> None:
    from bastion.text.detectors import ages, commerce

    t = fold(text).text
    assert ages._hinted(t) == (ages._HINT_RE.search(t) is not None)
    assert contacts._hinted(t) == (contacts._HINT_RE.search(t) is not None)
    assert (commerce.has_digit(t) or commerce.contains_any(t, commerce._HINT_WORDS)) == (commerce._HINT_RE.search(t) is not None)
    assert commerce.has_digit(t) == (re.search(r"\d", t) is not None)


@settings(max_examples=600, deadline=None)
@given(_DETECTORISH)
def test_detector_pre_checks_never_hide_a_match(text: str) -> None:
    from bastion.text.detectors import commerce

    t = fold(text).text
    if commerce._UNIT_RE.search(t):
        assert commerce.contains_any(t, commerce._UNIT_NEEDS)
    if commerce._PRICE_RE.search(t):
        assert commerce.has_digit(t)
    if contacts._PATTERNS[contacts._EMAIL][3].search(t):
        assert t.find(".", t.find("@") + 1) >= 0


def _flat_number_patterns() -> list[re.Pattern[str]]:
    from bastion.text.detectors import ages

    flat = r"(?P<n>\d{1,2}|" + "|".join(sorted((re.escape(w) for w in ages._NUMBER_WORDS), key=len, reverse=True)) + r")"
    out = []
    for _lang, _w, p in ages._PATTERNS:
        src = p.pattern.replace(ages._NUM, flat).replace(ages._NUM.replace("<n>", "<m>"), flat.replace("<n>", "<m>"))
        out.append(re.compile(src))
    return out


@settings(max_examples=600, deadline=None)
@given(_DETECTORISH)
def test_age_patterns_with_the_number_word_tree_match_as_the_flat_alternation(text: str) -> None:
    from bastion.text.detectors import ages

    t = fold(text).text
    for (_lang, _w, tree), flat in zip(ages._PATTERNS, _flat_number_patterns()):
        assert [(m.span(), m.groupdict()) for m in tree.finditer(t)] == [(m.span(), m.groupdict()) for m in flat.finditer(t)]


def test_number_word_tree_is_in_use_and_prefers_the_longer_word() -> None:
    from bastion.text.detectors import ages

    flat = _flat_number_patterns()
    assert sum(f.pattern != p.pattern for f, (_l, _w, p) in zip(flat, ages._PATTERNS)) >= 8  # the tree replaced it
    got = {(h.age, h.value) for h in ages.find_ages(fold("dix-sept ans, sixteen years old, eins Jahre alt"))}
    # The longer word wherever two start at one place: "dix-sept" not "dix", "sixteen" not "six", "eins" not "ein".
    assert got == {(17, "dix-sept ans"), (16, "sixteen years old"), (1, "eins jahre alt")}


@settings(max_examples=600, deadline=None)
@given(_TEXT)
def test_join_tests_with_pre_checks_agree_with_the_patterns(text: str) -> None:
    from bastion.text.normalize import _alnum_only, has_spaced_run, joined_source, needs_join

    f = fold(text)
    t = f.text
    assert needs_join(f) == bool(_SPACED_LETTERS_RE.search(t) or _INNER_SEPARATOR_RE.search(t))
    assert has_spaced_run(f) == (_SPACED_LETTERS_RE.search(t) is not None)
    joined = _INNER_SEPARATOR_RE.sub("", _SPACED_LETTERS_RE.sub(_alnum_only, t))
    assert joined_source(f) == (None if joined == t else joined)
