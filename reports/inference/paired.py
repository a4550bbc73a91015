"""Paired tests of two models: the Wilcoxon signed-rank and paired t-tests over cells
(:func:`paired_tests`) with the rank-biserial effect size, the exact McNemar test on shared test
samples (:func:`mcnemar_exact`) and Holm's step-down correction over a table (:func:`holm`).

* **Paired tests over cells** (:func:`paired_tests`), for two rows evaluated on the same cells
  (same dataset, protocol, folds and seeds): the Wilcoxon signed-rank test
  (``scipy.stats.wilcoxon``, two-sided, zero differences dropped, exact null distribution when
  scipy's ``method="auto"`` allows) and the paired t-test (``scipy.stats.ttest_rel``), with
  the mean paired difference and its t-interval and the matched-pairs rank-biserial correlation
  (Kerby 2014) as effect sizes. Only with at least :data:`MIN_PAIRS` = 6 pairs: with n < 6 an
  exact two-sided Wilcoxon test cannot reach p < 0.05 (its smallest p is ``2 / 2**n``,
  0.0625 for n = 5), and below that a t-test's normality cannot be checked.
* **Exact McNemar test** (:func:`mcnemar_exact`) for two cells evaluated on the same test
  samples: a two-sided binomial test (``scipy.stats.binomtest``, p = 1/2) on the discordant
  pairs (McNemar, Psychometrika 12, 1947; exact form: Fagerland, Lydersen & Laake, BMC Med. Res.
  Methodol. 13:91, 2013).
* **Holm's step-down correction** (:func:`holm`) over the pairs of one table (Holm, Scand. J.
  Statist. 6, 1979).

The test over subjects (clustered samples) is in :mod:`reports.inference.clusters`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reports.inference.intervals import Interval, t_interval

__all__ = ["MIN_PAIRS", "ALPHA", "SMALL_N_REASON", "rank_biserial", "PairedResult", "paired_tests",
           "McNemarResult", "mcnemar_exact", "holm"]

MIN_PAIRS = 6
"""Fewest pairs of cells for the paired tests over cells (see the module docstring)."""
ALPHA = 0.05
"""Significance level of the leaderboard's marks (after Holm's correction)."""

SMALL_N_REASON = (
    "n too small for a paired test (n = {n} < 6 pairs of cells: an exact two-sided Wilcoxon "
    "test cannot reach p < 0.05)"
)


def rank_biserial(differences: Sequence[float]) -> float:
    """Matched-pairs rank-biserial correlation of paired differences (the effect size of the
    Wilcoxon signed-rank test; Kerby, "The simple difference formula", Comprehensive
    Psychology 3, 2014).

    .. math:: r = \\frac{R_+ - R_-}{R_+ + R_-}

    with ``R+`` (``R-``) the sum of the ranks of ``|d_i|`` over the positive (negative)
    differences, zero differences dropped and ties given their average rank (as scipy's
    ``wilcoxon`` with ``zero_method="wilcox"``). ``r`` is in ``[-1, 1]``: +1 when every
    non-zero difference favours the first model.

    Returns:
        ``r``, or ``0.0`` when every difference is zero.

    Example:
        >>> round(rank_biserial([1, 2, 3, -4, 5, 6]), 4)  # R+ = 17, R- = 4: 13 / 21
        0.619
    """
    from scipy.stats import rankdata

    d = np.asarray(differences, dtype=np.float64)
    d = d[d != 0]
    if d.size == 0:
        return 0.0
    ranks = rankdata(np.abs(d))
    r_plus = float(ranks[d > 0].sum())
    r_minus = float(ranks[d < 0].sum())
    return (r_plus - r_minus) / (r_plus + r_minus)


@dataclass(frozen=True)
class PairedResult:
    """Paired comparison of two rows over their common cells (:func:`paired_tests`).

    Attributes:
        n: pairs of cells.
        mean_diff: mean of ``a - b`` over the pairs.
        diff_ci: its t-interval (:func:`~reports.inference.intervals.t_interval`), ``None``
            for n < 2.
        wilcoxon_p, wilcoxon_stat: two-sided Wilcoxon signed-rank p-value and statistic (the
            smaller rank sum), ``None`` when not tested.
        wilcoxon_method: scipy's method (``"exact"`` or ``"approx"``), ``None`` when not tested.
        rank_biserial: matched-pairs rank-biserial r, ``None`` when not tested.
        t_p, t_stat: paired t-test, ``None`` when not tested (or undefined: all differences
            equal).
        reason: why no test was made (``None`` when tested).
    """

    n: int
    mean_diff: float
    diff_ci: Interval | None
    wilcoxon_p: float | None = None
    wilcoxon_stat: float | None = None
    wilcoxon_method: str | None = None
    rank_biserial: float | None = None
    t_p: float | None = None
    t_stat: float | None = None
    reason: str | None = None


def paired_tests(a: Sequence[float], b: Sequence[float], *, min_pairs: int = MIN_PAIRS
                 ) -> PairedResult:
    """Wilcoxon signed-rank and paired t-tests of ``a`` vs ``b`` (pairs in the same order).

    Two-sided; Wilcoxon with ``zero_method="wilcox"`` (zero differences dropped) and
    ``method="auto"`` (exact null distribution for n <= 50 without ties or zeros, else the normal
    approximation: which one is recorded). With fewer than ``min_pairs`` pairs no test is made
    (see :data:`MIN_PAIRS`) and ``reason`` says so; the mean difference and its interval are
    still given. When every difference is zero, Wilcoxon's p is 1 and r is 0.

    Args:
        a, b: the per-cell values of the two rows, paired by position.
        min_pairs: fewest pairs to test (default 6).

    Returns:
        A :class:`PairedResult`.

    Raises:
        ValueError: lengths differ, no pair, or non-finite values.
    """
    from scipy import stats

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size == 0:
        raise ValueError(f"a and b: expected the same shape (n,), n >= 1, got {x.shape} and "
                         f"{y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("a and b: expected finite values, got NaN or inf")
    d = x - y
    n = int(d.size)
    base = {"n": n, "mean_diff": float(d.mean()), "diff_ci": t_interval(d)}
    # differences of accuracies k / N carry float noise (0.69 - 0.61 != 0.66 - 0.58): round to
    # 12 decimals so that equal differences tie and zero differences are zero
    d = np.round(d, 12)
    if n < min_pairs:
        return PairedResult(**base, reason=SMALL_N_REASON.format(n=n))
    if np.all(d == 0):
        w_p, w_stat, w_method = 1.0, 0.0, "exact"
    else:
        nz = d[d != 0]
        ties = np.unique(np.abs(nz)).size < nz.size
        w_method = "exact" if (nz.size == n and not ties and n <= 50) else "approx"
        res = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided",
                             method=w_method)
        w_p, w_stat = float(res.pvalue), float(res.statistic)
    t_p = t_stat = None
    if np.ptp(d) > 0:
        tr = stats.ttest_rel(x, y)
        t_p, t_stat = float(tr.pvalue), float(tr.statistic)
    return PairedResult(**base, wilcoxon_p=w_p, wilcoxon_stat=w_stat, wilcoxon_method=w_method,
                        rank_biserial=rank_biserial(d), t_p=t_p, t_stat=t_stat)


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test of two classifiers on the same N test samples.

    Attributes:
        b: samples A classified correctly and B wrongly.
        c: samples A classified wrongly and B correctly.
        n: test samples.
        p: two-sided exact p-value (1.0 when ``b + c == 0``).
        diff: accuracy difference ``acc_A - acc_B = (b - c) / n``.
    """

    b: int
    c: int
    n: int
    p: float
    diff: float


def mcnemar_exact(correct_a: Any, correct_b: Any) -> McNemarResult:
    """Exact (binomial) McNemar test on paired per-sample outcomes.

    Under H0 (both classifiers have the same error rate) each of the ``b + c`` discordant
    samples is equally likely to favour either, so ``b ~ Binomial(b + c, 1/2)``; the p-value is
    ``scipy.stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue`` (Fagerland et al.,
    BMC Med. Res. Methodol. 13:91, 2013: the exact conditional test).

    Args:
        correct_a, correct_b: ``(N,)`` booleans, sample i correct for A / for B (same samples,
            same order).

    Returns:
        A :class:`McNemarResult`.

    Raises:
        ValueError: shapes differ or N = 0.

    Example:
        >>> r = mcnemar_exact([1, 1, 0, 1, 0], [0, 1, 0, 0, 1])  # b = 2, c = 1
        >>> (r.b, r.c, r.p)
        (2, 1, 1.0)
    """
    from scipy.stats import binomtest

    a = np.asarray(correct_a).astype(bool)
    bb = np.asarray(correct_b).astype(bool)
    if a.ndim != 1 or a.shape != bb.shape or a.size == 0:
        raise ValueError(f"correct_a and correct_b: expected the same shape (N,), N >= 1, got "
                         f"{a.shape} and {bb.shape}")
    b = int(np.sum(a & ~bb))
    c = int(np.sum(~a & bb))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)
    return McNemarResult(b=b, c=c, n=int(a.size), p=min(1.0, p), diff=(b - c) / a.size)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (Holm, Scand. J. Statist. 6:65-70, 1979).

    With the m p-values sorted ascending, ``p_(1) <= ... <= p_(m)``:

    .. math:: \\tilde p_{(i)} = \\max_{j \\le i} \\min\\{1, (m - j + 1)\\, p_{(j)}\\}

    A hypothesis is rejected at level alpha when its adjusted p is <= alpha; this controls the
    family-wise error rate. ``None`` entries (no test made) are kept as ``None`` and do not count
    in m.

    Returns:
        The adjusted p-values in the input order.

    Raises:
        ValueError: a p-value outside [0, 1] or NaN.

    Example:
        >>> holm([0.01, 0.04, 0.03, 0.005])
        [0.03, 0.06, 0.06, 0.02]
    """
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    for i in idx:
        p = pvalues[i]
        if not (isinstance(p, (int, float)) and 0.0 <= p <= 1.0):
            raise ValueError(f"pvalues[{i}]: expected a p-value in [0, 1], got {p!r}")
    m = len(idx)
    order = sorted(idx, key=lambda i: (pvalues[i], i))
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        adj = min(1.0, (m - rank) * float(pvalues[i]))  # type: ignore[arg-type]
        running = max(running, adj)
        out[i] = float(f"{running:.12g}")  # 12 significant digits: a tiny p stays > 0
    return out
