"""The discovery statistic on small hand-made counts, and the term extraction it counts."""

from __future__ import annotations

import math

import pytest

from bastion.terms import stats
from bastion.terms.tokens import Extractor, term_key


def _by_hand(y_i, n_i, y_j, n_j, p_w, a0):
    a_w = a0 * p_w + 0.5
    d = math.log((y_i + a_w) / (n_i + a0 - y_i - a_w)) - math.log((y_j + a_w) / (n_j + a0 - y_j - a_w))
    return d, d / math.sqrt(1 / (y_i + a_w) + 1 / (y_j + a_w))


def test_log_odds_matches_the_formula_worked_by_hand():
    # 100 confirmed items, 20 hold the term; 9,900 other items, 30 hold it; prior share 50/10,000
    lo = stats.log_odds(20, 100, 30, 9900, 50 / 10000, a0=10)
    a_w = 10 * 0.005 + 0.5  # 0.55: the informative part and half an item
    delta = math.log(20.55 / (110 - 20.55)) - math.log(30.55 / (9910 - 30.55))
    assert lo.delta == pytest.approx(delta, rel=1e-12)
    assert lo.delta == pytest.approx(4.308, abs=0.001)  # odds 0.2297 against 0.003092: ln(74.3)
    assert lo.z == pytest.approx(delta / math.sqrt(1 / (20 + a_w) + 1 / (30 + a_w)), rel=1e-12)
    assert (lo.delta, lo.z) == pytest.approx(_by_hand(20, 100, 30, 9900, 0.005, 10))


def test_a_popular_tag_used_at_the_platform_rate_scores_near_zero_however_common():
    # 10% of confirmed items and 10% of every other item: no evidence either way
    popular = stats.log_odds(100, 1000, 9900, 99000, 0.1)
    assert abs(popular.delta) < 0.01 and abs(popular.z) < 0.2
    # a term twenty confirmed items share and hardly anyone else uses stands far above it
    code = stats.log_odds(20, 1000, 5, 99000, 25 / 100000)
    assert code.z > 10 * max(abs(popular.z), 0.1)


def test_more_support_at_the_same_ratio_gives_a_larger_z_and_the_prior_tames_tiny_counts():
    small = stats.log_odds(2, 100, 2, 10000, 4 / 10100)
    large = stats.log_odds(20, 1000, 20, 100000, 40 / 101000)
    assert large.z > small.z > 0
    # without support in the confirmed group the term is not over-represented
    assert stats.log_odds(0, 100, 50, 10000, 50 / 10100).z < 0
    with pytest.raises(ValueError):
        stats.log_odds(5, 4, 0, 10, 0.1)


def test_a_term_no_other_item_holds_yet_is_not_drowned_by_its_empty_cell():
    # five confirmed items of 500, none of the 45,000 others: strong evidence, z above the floor of 3
    assert stats.log_odds(5, 500, 0, 45000, 5 / 45500).z > 4
    # two confirmed items of a tag 5% of the platform uses are no evidence at all
    assert stats.log_odds(2, 500, 2250, 45000, 2252 / 45500).z < 0


def test_growth_npmi_and_the_combined_score():
    assert stats.growth(10, 100, 10, 100) == pytest.approx(0.0)
    assert stats.growth(30, 100, 0, 300) > 4  # absent before: large, finite
    assert stats.npmi(10, 10, 10, 1000) == pytest.approx(1.0)  # always together
    assert abs(stats.npmi(10, 100, 100, 1000)) < 1e-9  # independent: 100/1000 * 100/1000 * 1000 = 10
    assert stats.npmi(0, 10, 10, 1000) == -1.0
    assert stats.score(4.0, 0.0, 0.0) == 4.0
    assert stats.score(4.0, 2.0, 1.0) == pytest.approx(4.0 * (1 + 0.25 * 2 + 0.5))
    assert stats.score(4.0, 100.0, 0.0) == pytest.approx(4.0 * (1 + 0.25 * stats.GROWTH_CAP))
    assert stats.score(-1.0, 4.0, 1.0) == -1.0  # growth never lifts a term that does not stand out


def test_terms_of_an_item_split_tags_like_the_lexicon():
    ex = Extractor(known={"art", "dragon", "fanart"}, stopwords={"the", "and"})
    got = ex.extract("The blue moon", "sketch and #NightOwl study", ["#PlumVex", "plumvexart", "fanartdragon", "x", "2024"])
    assert got.terms[:2] == ("plumvex", "plum")
    for t in ("plumvex", "vex", "plumvexart", "art", "fanartdragon", "fanart", "dragon", "nightowl", "night", "owl",
              "blue", "moon", "sketch", "study", "blue moon"):
        assert t in got.terms, t
    assert "the" not in got.terms and "2024" not in got.terms and "x" not in got.terms
    assert "blue moon" not in got.words and "moon sketch" not in got.terms  # pairs never cross fields
    assert "plumvex" in got.tag_terms and "sketch" not in got.tag_terms and "nightowl" in got.tag_terms
    assert ex.tag_pieces("Plum_Vex2Art") == ["plum", "vex", "art"]
    assert term_key("  #PlumVex  ") == "plumvex" and term_key("Blue   Moon") == "blue moon"


def test_tags_split_only_at_words_the_lexicon_spells_not_at_its_folded_match_keys():
    # the shipped lists hold "r18" (match key "rib") and "link" (match key "ink"): a tag must not be cut at
    # those folded keys ("ribbon" -> "rib" + "bon" once made "bon" a candidate on the simulated platform)
    from bastion.text.lexicon import default_lexicon

    lex = default_lexicon()
    assert any(e.key == "rib" for e in lex.entries)  # the folded key the old rule split at
    ex = Extractor.for_lexicon(lex)
    assert "rib" not in ex.known and "ten" not in ex.known
    assert ex.tag_pieces("ribbon") == ["ribbon"] and ex.tag_pieces("inkwell") == ["inkwell"]
    assert ex.tag_pieces("#RibbonMoth") == ["ribbon", "moth"]
    assert ex.tag_pieces("plumvexart") == ["plumvex", "art"]  # a word the lists spell ("art") still splits
    got = ex.extract(None, None, ["ribbon", "#velvetribbon"])
    assert "bon" not in got.terms and "rib" not in got.terms


def test_the_array_form_used_by_the_ranking_is_the_same_statistic():
    import numpy as np

    cases = [(20, 100, 30, 9900, 0.005), (2, 500, 2250, 45000, 2252 / 45500), (5, 500, 0, 45000, 5 / 45500),
             (0, 100, 50, 10000, 50 / 10100)]
    y_i, n_i, y_j, n_j, p = (np.array(c, dtype=float) for c in zip(*cases))
    for a0 in (10.0, 300.0):
        delta, z = stats.log_odds_arrays(y_i, n_i, y_j, n_j, p, a0)
        for k, c in enumerate(cases):
            one = stats.log_odds(*c, a0=a0)
            assert (delta[k], z[k]) == pytest.approx((one.delta, one.z), rel=1e-12)
    g = stats.growth_arrays(np.array([30.0, 10.0]), 100, np.array([0.0, 10.0]), 300)
    assert list(g) == pytest.approx([stats.growth(30, 100, 0, 300), stats.growth(10, 100, 10, 300)])
    got = stats.score_arrays(np.array([4.0, -1.0]), np.array([2.0, 4.0]), np.array([1.0, 1.0]))
    assert list(got) == pytest.approx([stats.score(4.0, 2.0, 1.0), -1.0])


def test_the_prior_weighs_as_much_as_the_confirmed_items_so_a_chance_excess_of_a_popular_tag_stays_out():
    # day 1 of a simulated platform: 44 confirmed items of 3,332; a popular tag (3.6% of items) is in 6 of them
    # by chance. With a fixed prior of 10 pseudo-items it crossed z = 3; with the window's own strength not
    a0 = stats.prior_strength(44)
    assert a0 == 44 and stats.prior_strength(3) == stats.PRIOR_ITEMS
    assert stats.log_odds(6, 44, 115, 3288, 121 / 3332, a0=10).z > 3
    assert stats.log_odds(6, 44, 115, 3288, 121 / 3332, a0=a0).z < 3
    # a code two confirmed items hold and nobody else still stands out, in a small window and a large one
    assert stats.log_odds(2, 44, 0, 3288, 2 / 3332, a0=a0).z > 3
    assert stats.log_odds(2, 650, 0, 46000, 2 / 46650, a0=stats.prior_strength(650)).z > 3
    # a popular tag 1.5x over-used by 650 confirmed items: z ~ 2.9 under the weak prior, ~ 2.1 under this one
    assert stats.log_odds(40, 650, 1840, 46000, 1880 / 46650, a0=stats.prior_strength(650)).z < 2.5
