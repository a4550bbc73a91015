"""Ranking of models across datasets (Demsar, "Statistical comparisons of classifiers over
multiple data sets", JMLR 7:1-30, 2006, Sec. 3.2.2): average ranks (:func:`average_ranks`), the
Friedman test with the Iman-Davenport F statistic (:func:`friedman`), the Nemenyi critical
difference (:func:`nemenyi_cd`, Table 5 for the q_alpha values) and the groups of models it
does not separate (:func:`cd_cliques`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reports.inference.paired import ALPHA

__all__ = ["NEMENYI_Q", "average_ranks", "FriedmanResult", "friedman_from_ranks", "friedman",
           "nemenyi_cd", "cd_cliques"]

NEMENYI_Q: dict[float, dict[int, float]] = {
    0.05: {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102,
           10: 3.164},
    0.10: {2: 1.645, 3: 2.052, 4: 2.291, 5: 2.459, 6: 2.589, 7: 2.693, 8: 2.780, 9: 2.855,
           10: 2.920},
}
"""Critical values q_alpha of the two-tailed Nemenyi test for k = 2..10 models: Demsar (JMLR
2006) Table 5(a), "studentized range statistic divided by sqrt(2)". For k > 10 (or another
alpha) :func:`nemenyi_cd` computes the same quantity with ``scipy.stats.studentized_range``."""


def average_ranks(scores: Any, *, higher_is_better: bool = True) -> np.ndarray:
    """Average rank of each model over the data sets (Demsar 2006, Sec. 3.2.2).

    Args:
        scores: ``(N, k)``: the score of model j on data set i.
        higher_is_better: rank 1 goes to the highest score (else to the lowest).

    Returns:
        ``(k,)`` average ranks; ties within a data set get the average of the ranks they span.

    Raises:
        ValueError: not 2-D with N >= 1 and k >= 2, or non-finite scores.

    Example:
        >>> average_ranks([[0.9, 0.8, 0.8], [0.7, 0.9, 0.6]]).tolist()  # ranks (1, 2.5, 2.5), (2, 1, 3)
        [1.5, 1.75, 2.75]
    """
    from scipy.stats import rankdata

    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] < 1 or s.shape[1] < 2:
        raise ValueError(f"scores: expected shape (N, k) with N >= 1, k >= 2, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores: expected finite values, got NaN or inf")
    ranks = rankdata(-s if higher_is_better else s, axis=1)
    return ranks.mean(axis=0)


@dataclass(frozen=True)
class FriedmanResult:
    """Friedman test over N data sets and k models (:func:`friedman`).

    Attributes:
        n, k: data sets and models.
        avg_ranks: ``(k,)`` average ranks (1 = best).
        chi2: Friedman's chi-square statistic, df = k - 1.
        p_chi2: its p-value.
        ff: Iman-Davenport's F statistic, df = (k - 1, (k - 1)(N - 1)); ``None`` when undefined
            (chi2 = N (k - 1), perfect agreement).
        p_ff: its p-value (``None`` with ``ff``; 0 when the ranks agree perfectly).
    """

    n: int
    k: int
    avg_ranks: tuple[float, ...]
    chi2: float
    p_chi2: float
    ff: float | None
    p_ff: float | None


def friedman_from_ranks(avg_ranks: Sequence[float], n: int) -> FriedmanResult:
    """Friedman and Iman-Davenport statistics from the average ranks (Demsar 2006, Sec. 3.2.2).

    .. math:: \\chi^2_F = \\frac{12N}{k(k+1)} \\Big[\\sum_j R_j^2 - \\frac{k(k+1)^2}{4}\\Big],
        \\qquad F_F = \\frac{(N-1)\\chi^2_F}{N(k-1) - \\chi^2_F}

    (no correction for ties). Demsar's worked example (Table 6: 14 data sets, 4 classifiers,
    average ranks 3.143, 2.000, 2.893, 1.964) gives chi2 = 9.28 and F_F = 3.69.

    Raises:
        ValueError: k < 2 or n < 2.
    """
    from scipy import stats

    r = np.asarray(avg_ranks, dtype=np.float64)
    k = int(r.size)
    if k < 2 or n < 2:
        raise ValueError(f"friedman: expected k >= 2 models and N >= 2 data sets, got k = {k}, "
                         f"N = {n}")
    chi2 = 12.0 * n / (k * (k + 1)) * (float(np.sum(r**2)) - k * (k + 1) ** 2 / 4.0)
    chi2 = max(chi2, 0.0)
    p_chi2 = float(stats.chi2.sf(chi2, k - 1))
    den = n * (k - 1) - chi2
    if den <= 1e-12:
        ff, p_ff = None, 0.0
    else:
        ff = (n - 1) * chi2 / den
        p_ff = float(stats.f.sf(ff, k - 1, (k - 1) * (n - 1)))
    return FriedmanResult(n=n, k=k, avg_ranks=tuple(float(v) for v in r), chi2=chi2,
                          p_chi2=p_chi2, ff=ff, p_ff=p_ff)


def friedman(scores: Any, *, higher_is_better: bool = True) -> FriedmanResult:
    """Friedman test of k models over N data sets from their scores (Demsar 2006).

    Args:
        scores: ``(N, k)`` scores (e.g. mean WAR of model j on data set i).
        higher_is_better: see :func:`average_ranks`.

    Returns:
        A :class:`FriedmanResult` (:func:`friedman_from_ranks` of the average ranks). Without
        ties it equals ``scipy.stats.friedmanchisquare`` (which corrects for ties).

    Raises:
        ValueError: see :func:`average_ranks`; N < 2.
    """
    s = np.asarray(scores, dtype=np.float64)
    return friedman_from_ranks(average_ranks(s, higher_is_better=higher_is_better), s.shape[0])


def nemenyi_cd(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi critical difference of average ranks (Demsar 2006, Sec. 3.2.2).

    .. math:: CD = q_\\alpha \\sqrt{\\frac{k(k+1)}{6N}}

    with ``q_alpha`` from :data:`NEMENYI_Q` (Demsar's Table 5(a), k <= 10, alpha 0.05 or 0.10),
    else ``scipy.stats.studentized_range.ppf(1 - alpha, k, inf) / sqrt(2)``. Two models whose
    average ranks differ by at least CD differ significantly.

    Raises:
        ValueError: k < 2, n < 1, alpha outside (0, 1).

    Example:
        >>> round(nemenyi_cd(4, 14), 2)  # Demsar's example: 2.569 * sqrt(20 / 84)
        1.25
    """
    if k < 2 or n < 1:
        raise ValueError(f"nemenyi_cd: expected k >= 2 and N >= 1, got k = {k}, N = {n}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: expected a number in (0, 1), got {alpha!r}")
    q = NEMENYI_Q.get(alpha, {}).get(k)
    if q is None:
        from scipy.stats import studentized_range

        q = float(studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    return q * math.sqrt(k * (k + 1) / (6.0 * n))


def cd_cliques(avg_ranks: Sequence[float], cd: float) -> list[tuple[int, ...]]:
    """Groups of models not significantly different by the Nemenyi test, for the CD diagram.

    Models sorted by average rank; a group is a maximal run of consecutive models whose ranks
    span less than ``cd`` (Demsar 2006, Fig. 1: "groups of classifiers that are not
    significantly different are connected"). Singletons are left out.

    Returns:
        Index tuples (into ``avg_ranks``), each sorted by rank, groups ordered by their best rank.

    Example:
        >>> cd_cliques([1.0, 1.5, 3.0, 3.2], cd=1.0)
        [(0, 1), (2, 3)]
    """
    r = np.asarray(avg_ranks, dtype=np.float64)
    order = [int(i) for i in np.argsort(r, kind="stable")]
    spans = []
    for a in range(len(order)):
        b = a
        while b + 1 < len(order) and r[order[b + 1]] - r[order[a]] < cd:
            b += 1
        if b > a:
            spans.append((a, b))
    maximal = [s for s in spans
               if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in spans)]
    return [tuple(order[a : b + 1]) for a, b in maximal]
