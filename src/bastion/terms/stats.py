"""The statistics of term discovery: pure functions over counts.

**Log-odds ratio with an informative Dirichlet prior** (Monroe, Colaresi & Quinn 2008, "Fightin' Words").
For a term *w* and two groups of items, *i* (items of confirmed cases) and *j* (every other item of the
window), with ``y`` items of the group holding *w* out of ``n``::

    delta = log((y_i + a_w) / (n_i + a_0 - y_i - a_w)) - log((y_j + a_w) / (n_j + a_0 - y_j - a_w))
    var   = 1 / (y_i + a_w) + 1 / (y_j + a_w)
    z     = delta / sqrt(var)

The prior is informative: ``a_w = a_0 * p_w + 1/2`` with ``p_w`` the term's share of all items of the window,
so a term's odds in each group are pulled towards how common it is on the platform; the half item keeps the
variance of an empty cell finite (a new code that no unflagged item holds yet has ``y_j = 0``). Its strength
``a_0`` is the number of confirmed items of the window (at least 10, :func:`prior_strength`): the platform's
rate weighs as much as the confirmed group's own, which keeps a popular tag that a small confirmed group
happens to over-use out of the list and hardly moves a code (whose platform share is ~0). We count *items* holding a
term (document frequency), not occurrences: one spammy item repeating a word counts once. (Per term this is
the paper's estimator with a Beta prior over "an item holds *w*", the binary form of its Dirichlet.)

What it does: a popular art tag is as common in confirmed items as elsewhere (delta near 0, whatever its
count); a term the confirmed items use far more often than the platform stands out, and the more items
support that, the larger z (the variance shrinks with the counts). A term seen twice is not ranked above one
seen fifty times at a similar ratio.

The ranking multiplies a positive z by (1 + growth bonus + co-occurrence bonus), so growth and PMI reorder
terms that already stand out but never lift one that does not (a trending popular tag stays out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: the least prior strength (pseudo-items), for windows with fewer confirmed items than this
PRIOR_ITEMS = 10.0
#: half an item added to every cell (Haldane-Anscombe): without it a term no other item holds would have a
#: prior of ~0 in the other group, and the variance 1/(0 + a_w) of that empty cell would drown any evidence
HALF = 0.5
GROWTH_WEIGHT = 0.25
GROWTH_CAP = 4.0
PMI_WEIGHT = 0.5
#: the least log-odds ratio listed (see :func:`bastion.terms.candidates.rank`)
MIN_LOG_ODDS = float("-inf")


@dataclass(frozen=True)
class LogOdds:
    delta: float
    z: float


def log_odds(y_i: float, n_i: float, y_j: float, n_j: float, p_w: float, a0: float = PRIOR_ITEMS) -> LogOdds:
    """The log-odds ratio of a term in group i against group j under the informative prior ``a_w = a0*p_w``
    (see the module docstring). ``p_w`` is clamped into (0, 1) so a term unseen in the background still has
    a proper prior."""
    if not (0 <= y_i <= n_i and 0 <= y_j <= n_j):
        raise ValueError(f"counts out of range: y_i={y_i} n_i={n_i} y_j={y_j} n_j={n_j}")
    p = min(max(p_w, 1e-9), 1 - 1e-9)
    a_w = a0 * p + HALF
    odds_i = (y_i + a_w) / (n_i + a0 - y_i - a_w)
    odds_j = (y_j + a_w) / (n_j + a0 - y_j - a_w)
    delta = math.log(odds_i) - math.log(odds_j)
    var = 1.0 / (y_i + a_w) + 1.0 / (y_j + a_w)
    return LogOdds(delta, delta / math.sqrt(var))


def prior_strength(n_confirmed: float) -> float:
    """a0, the prior's weight in pseudo-items, for a window with ``n_confirmed`` items of confirmed cases: as
    many as there are confirmed items (at least :data:`PRIOR_ITEMS`). The platform's rate of a term then
    counts as much as the confirmed items' own: a popular tag that a small confirmed group happens to use a
    little more often is pulled back to the platform's rate (measured on the simulated platform: a fixed
    10 pseudo-items let a popular tag into the top 10 on one day of 60 on each of three seeds, this none),
    while a code no other item holds is hardly moved (its prior share is ~0)."""
    return max(PRIOR_ITEMS, float(n_confirmed))


def log_odds_arrays(y_i, n_i, y_j, n_j, p_w, a0: float = PRIOR_ITEMS):
    """:func:`log_odds` over numpy arrays of terms at once (same formula, same clamping): ``(delta, z)``."""
    import numpy as np

    p = np.clip(np.asarray(p_w, dtype=float), 1e-9, 1 - 1e-9)
    a_w = a0 * p + HALF
    delta = (np.log(y_i + a_w) - np.log(n_i + a0 - y_i - a_w)) - (np.log(y_j + a_w) - np.log(n_j + a0 - y_j - a_w))
    z = delta / np.sqrt(1.0 / (y_i + a_w) + 1.0 / (y_j + a_w))
    return delta, z


def growth(recent: float, recent_total: float, before: float, before_total: float) -> float:
    """log2 of the term's share of items in the recent part of the window against the part before, with
    half an item added to each count (a term absent before has a finite, large growth)."""
    r = (recent + 0.5) / (recent_total + 1.0)
    b = (before + 0.5) / (before_total + 1.0)
    return math.log2(r / b)


def growth_arrays(recent, recent_total, before, before_total):
    """:func:`growth` over numpy arrays."""
    import numpy as np

    return np.log2(((np.asarray(recent, dtype=float) + 0.5) / (recent_total + 1.0))
                   / ((np.asarray(before, dtype=float) + 0.5) / (before_total + 1.0)))


def npmi(n_xy: float, n_x: float, n_y: float, n: float) -> float:
    """Normalised pointwise mutual information of two terms over ``n`` items, in [-1, 1]: 1 when they only
    ever occur together, 0 when independent. ``n_xy`` items hold both."""
    if n_xy <= 0 or n_x <= 0 or n_y <= 0 or n <= 0:
        return -1.0 if n_xy <= 0 else 0.0
    p_xy = min(n_xy / n, 1.0)
    pmi = math.log(p_xy / ((n_x / n) * (n_y / n)))
    if p_xy >= 1.0:
        return 1.0
    return max(-1.0, min(1.0, pmi / -math.log(p_xy)))


def score(z: float, growth_bits: float, best_npmi: float) -> float:
    """The ranking score: z amplified by growth and co-occurrence with known terms, only when z > 0."""
    if z <= 0:
        return z
    g = min(max(growth_bits, 0.0), GROWTH_CAP)
    c = max(best_npmi, 0.0)
    return z * (1.0 + GROWTH_WEIGHT * g + PMI_WEIGHT * c)


def score_arrays(z, growth_bits, best_npmi):
    """:func:`score` over numpy arrays."""
    import numpy as np

    z = np.asarray(z, dtype=float)
    g = np.clip(np.asarray(growth_bits, dtype=float), 0.0, GROWTH_CAP)
    c = np.maximum(np.asarray(best_npmi, dtype=float), 0.0)
    return np.where(z > 0, z * (1.0 + GROWTH_WEIGHT * g + PMI_WEIGHT * c), z)

