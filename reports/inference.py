"""Statistical inference for the leaderboards: intervals, bootstraps, paired and exact tests, Holm's
correction and rankings, as pure functions of arrays (the record-level comparisons that use them
are :mod:`reports.stats`).

Methods (each function's docstring gives its formula and source):

* **Interval of one cell's accuracy / WAR / UAR** (:func:`bootstrap_ci`): percentile bootstrap
  over the cell's test samples (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993,
  ch. 13): :data:`N_RESAMPLES` = 2,000 resamples of the N test samples drawn with replacement
  (``numpy.random.default_rng(seed)``, :data:`BOOTSTRAP_SEED` = 0), the metric recomputed on each,
  the interval the 2.5th and 97.5th percentiles of the 2,000 values (numpy's linear
  interpolation). It needs the record's per-sample ``predictions``.
* **Interval over subjects** (:func:`cluster_bootstrap_ci`), used instead when the predictions
  name the subject of every sample: the sequences of one person are not independent (a model
  that misreads a face misreads most of its sequences), so whole subjects are resampled with
  their sequences (the cluster bootstrap; Davison & Hinkley 1997, Sec. 3.8; Field & Welsh,
  J. R. Stat. Soc. B 69, 2007). Where subjects differ it is wider than the bootstrap over
  samples, which would understate the uncertainty.
* **Interval of a mean over cells** (:func:`t_interval`): the Student-t interval
  ``mean +- t(0.975, n - 1) * s / sqrt(n)`` over the n >= 2 per-cell values (folds x seeds). It
  describes the spread between training runs and test folds, not the sampling error of each
  cell; a bootstrap over 2 to 10 cells would be too narrow, so it is not used.
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
* **Exact sign-flip test over subjects** (:func:`cluster_sign_flip_test`), used instead of
  McNemar when the predictions name the subjects: per subject the difference of its discordant
  samples ``b_k - c_k``, referred to the exact distribution of their sum over all sign
  patterns (Fisher's randomisation test for matched pairs); with one sample per subject it is
  McNemar's exact test. Its interval: the paired cluster bootstrap
  (:func:`cluster_bootstrap_diff_ci`).
* **Holm's step-down correction** (:func:`holm`) over the pairs of one table (Holm, Scand. J.
  Statist. 6, 1979).
* **Ranking across datasets** (:func:`friedman`, :func:`nemenyi_cd`, :func:`cd_cliques`): average
  ranks, the Friedman test with the Iman-Davenport F statistic, and the Nemenyi critical
  difference, as in Demsar, "Statistical comparisons of classifiers over multiple data sets",
  JMLR 7:1-30, 2006 (Sec. 3.2.2, Table 5 for the q_alpha values).

Everything here is deterministic: the bootstrap is seeded, nothing reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CONFIDENCE",
    "N_RESAMPLES",
    "BOOTSTRAP_SEED",
    "MIN_PAIRS",
    "ALPHA",
    "NEMENYI_Q",
    "Interval",
    "bootstrap_ci",
    "bootstrap_diff_ci",
    "cluster_bootstrap_ci",
    "cluster_bootstrap_diff_ci",
    "ClusteredPairedResult",
    "cluster_sign_flip_test",
    "t_interval",
    "rank_biserial",
    "PairedResult",
    "paired_tests",
    "McNemarResult",
    "mcnemar_exact",
    "holm",
    "average_ranks",
    "FriedmanResult",
    "friedman_from_ranks",
    "friedman",
    "nemenyi_cd",
    "cd_cliques",
    "SMALL_N_REASON",
]

CONFIDENCE = 0.95
"""Confidence level of every interval."""
N_RESAMPLES = 2000
"""Bootstrap resamples (percentile bootstrap)."""
BOOTSTRAP_SEED = 0
"""Seed of the bootstrap's ``numpy.random.default_rng``."""
MIN_PAIRS = 6
"""Fewest pairs of cells for the paired tests over cells (see the module docstring)."""
ALPHA = 0.05
"""Significance level of the leaderboard's marks (after Holm's correction)."""

SMALL_N_REASON = (
    "n too small for a paired test (n = {n} < 6 pairs of cells: an exact two-sided Wilcoxon "
    "test cannot reach p < 0.05)"
)

NEMENYI_Q: dict[float, dict[int, float]] = {
    0.05: {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102,
           10: 3.164},
    0.10: {2: 1.645, 3: 2.052, 4: 2.291, 5: 2.459, 6: 2.589, 7: 2.693, 8: 2.780, 9: 2.855,
           10: 2.920},
}
"""Critical values q_alpha of the two-tailed Nemenyi test for k = 2..10 models: Demsar (JMLR
2006) Table 5(a), "studentized range statistic divided by sqrt(2)". For k > 10 (or another
alpha) :func:`nemenyi_cd` computes the same quantity with ``scipy.stats.studentized_range``."""


# --------------------------------------------------------------------------------------------
# intervals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]`` and how it was computed.

    Attributes:
        low, high: the bounds (the metric's own unit: a fraction for accuracies).
        method: ``"bootstrap"`` (percentile, over test samples), ``"cluster bootstrap"``
            (percentile, over subjects: :func:`cluster_bootstrap_ci`) or ``"t"`` (over cells).
        confidence: the level (0.95).
        n: the number of values it rests on (test samples for a bootstrap, cells for ``"t"``).
        n_clusters: the clusters (subjects) a cluster bootstrap resampled, else 0.
    """

    low: float
    high: float
    method: str
    confidence: float = CONFIDENCE
    n: int = 0
    n_clusters: int = 0

    def format(self, scale: float = 1.0, decimals: int = 1) -> str:
        """``"[low, high]"`` scaled (100 for %) with ``decimals`` decimals."""
        lo, hi = self.low * scale, self.high * scale
        return f"[{_fmt(lo, decimals)}, {_fmt(hi, decimals)}]"


def _fmt(x: float, decimals: int) -> str:
    s = f"{x:.{decimals}f}"
    return s[1:] if s.startswith("-") and float(s) == 0.0 else s


def _check_confidence(confidence: float) -> float:
    if not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence: expected a number in (0, 1), got {confidence!r}")
    return float(confidence)


def _as_labels(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected shape (N,) with N >= 1, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name}: expected integer class indices, got dtype {arr.dtype}")
    if arr.min() < 0:
        raise ValueError(f"{name}: expected class indices >= 0, got {int(arr.min())}")
    return arr.astype(np.int64)


def _resample_stats(preds: np.ndarray, target: np.ndarray, statistic: str, idx: np.ndarray
                    ) -> np.ndarray:
    """The statistic on each row of resample indices ``idx`` ``(B, N)``: ``(B,)``."""
    correct = preds == target
    if statistic == "accuracy":
        return correct[idx].mean(axis=1)
    # UAR: mean recall over the classes present in each resample's target (as metrics.uar)
    t = target[idx]
    c = correct[idx]
    recalls = []
    for k in np.unique(target):
        in_k = t == k
        support = in_k.sum(axis=1)
        hits = (in_k & c).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append(np.where(support > 0, hits / np.maximum(support, 1), np.nan))
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.stack(recalls, axis=1), axis=1)


_STATISTICS = ("accuracy", "uar")


def _draws(n: int, n_resamples: int, seed: int, chunk: int):
    """Yield ``(B_i, n)`` blocks of resample indices, ``sum B_i = n_resamples``, seeded."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_resamples:
        b = min(chunk, n_resamples - done)
        yield rng.integers(0, n, size=(b, n))
        done += b


def bootstrap_ci(preds: Any, target: Any, statistic: str = "accuracy", *,
                 n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE,
                 seed: int = BOOTSTRAP_SEED) -> Interval:
    """Percentile-bootstrap interval of a classification metric over the test samples.

    Each of ``n_resamples`` resamples draws N sample indices with replacement (one
    ``numpy.random.default_rng(seed)``); the metric is recomputed on the resampled
    ``(preds, target)`` pairs; the interval is the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` percentiles (numpy, linear interpolation) of the resampled values
    (Efron & Tibshirani 1993, eq. 13.5). For accuracy the resampled values follow
    ``Binomial(N, acc) / N`` exactly, which the tests use as the reference.

    Args:
        preds: ``(N,)`` predicted class indices.
        target: ``(N,)`` true class indices.
        statistic: ``"accuracy"`` (= WAR) or ``"uar"`` (mean recall over the classes present in
            each resample's target, as :func:`benchmarks.measure.metrics.uar`).
        n_resamples: resamples, >= 100.
        confidence: level in (0, 1).
        seed: the generator's seed.

    Returns:
        An :class:`Interval` (``method = "bootstrap"``, ``n = N``), bounds as fractions.

    Raises:
        ValueError: shapes differ, N = 0, non-integer labels, an unknown ``statistic``, too
            few resamples or a confidence outside (0, 1).

    Example:
        >>> bootstrap_ci([1, 1, 1, 1], [1, 1, 1, 1]).format(scale=100)
        '[100.0, 100.0]'
    """
    if statistic not in _STATISTICS:
        raise ValueError(f"statistic: expected one of {_STATISTICS}, got {statistic!r}")
    confidence = _check_confidence(confidence)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 100:
        raise ValueError(f"n_resamples: expected an int >= 100, got {n_resamples!r}")
    p = _as_labels(preds, "preds")
    t = _as_labels(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"preds and target: expected the same shape (N,), got {p.shape} and "
                         f"{t.shape}")
    n = p.shape[0]
    chunk = max(1, min(n_resamples, 4_000_000 // max(n, 1)))
    values = np.concatenate([_resample_stats(p, t, statistic, idx)
                             for idx in _draws(n, n_resamples, seed, chunk)])
    alpha = 1.0 - confidence
    lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return Interval(float(lo), float(hi), "bootstrap", confidence, n)


def bootstrap_diff_ci(correct_a: Any, correct_b: Any, *, n_resamples: int = N_RESAMPLES,
                      confidence: float = CONFIDENCE, seed: int = BOOTSTRAP_SEED) -> Interval:
    """Percentile-bootstrap interval of the paired accuracy difference ``acc_a - acc_b``.

    The same resampled sample indices are applied to both models (a paired bootstrap over test
    samples), so the interval reflects the correlation between their errors.

    Args:
        correct_a, correct_b: ``(N,)`` booleans: was sample i classified correctly by A / by B.

    Returns:
        An :class:`Interval` of the difference (a fraction; ``method = "bootstrap"``).

    Raises:
        ValueError: shapes differ or N = 0.

    Example:
        >>> bootstrap_diff_ci([True, True], [True, True]).format()
        '[0.0, 0.0]'
    """
    confidence = _check_confidence(confidence)
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(f"correct_a and correct_b: expected the same shape (N,), N >= 1, got "
                         f"{a.shape} and {b.shape}")
    d = a.astype(np.float64) - b.astype(np.float64)
    n = d.shape[0]
    chunk = max(1, min(n_resamples, 4_000_000 // n))
    values = np.concatenate([d[idx].mean(axis=1) for idx in _draws(n, n_resamples, seed, chunk)])
    alpha = 1.0 - confidence
    lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return Interval(float(lo), float(hi), "bootstrap", confidence, n)


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval | None:
    """Student-t interval of the mean of ``values`` (e.g. per-cell accuracies).

    .. math:: \\bar x \\pm t_{(1+c)/2,\\, n-1} \\, s / \\sqrt{n}, \\quad s^2 = \\frac{1}{n-1}
        \\sum_i (x_i - \\bar x)^2

    Args:
        values: ``n`` finite numbers.
        confidence: level ``c`` in (0, 1).

    Returns:
        An :class:`Interval` (``method = "t"``, ``n``), or ``None`` for fewer than 2 values.

    Raises:
        ValueError: a non-finite value or a confidence outside (0, 1).

    Example:
        >>> t_interval([1.0, 3.0]).format(decimals=2)  # 2 +- 12.706 * 1 / 1
        '[-10.71, 14.71]'
    """
    from scipy import stats

    confidence = _check_confidence(confidence)
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"values: expected shape (n,), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("values: expected finite numbers, got NaN or inf")
    n = x.size
    if n < 2:
        return None
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
    m = float(x.mean())
    return Interval(m - half, m + half, "t", confidence, n)


# --------------------------------------------------------------------------------------------
# paired tests
# --------------------------------------------------------------------------------------------


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
        diff_ci: its t-interval (:func:`t_interval`), ``None`` for n < 2.
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


# --------------------------------------------------------------------------------------------
# ranking across datasets (Demsar 2006)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# clustered samples: several test sequences per subject
# --------------------------------------------------------------------------------------------


def _cluster_codes(clusters: Any, n: int) -> tuple[np.ndarray, int]:
    """``(codes, K)``: each sample's cluster as an index ``0..K-1`` (clusters in sorted order).

    Raises:
        ValueError: ``clusters`` is not ``(n,)``.
    """
    c = np.asarray(clusters)
    if c.ndim != 1 or c.shape[0] != n:
        raise ValueError(f"clusters: expected shape ({n},) like the samples, got shape {c.shape}")
    _, codes = np.unique(c.astype(str), return_inverse=True)
    return codes.astype(np.int64), int(codes.max()) + 1


def _cluster_weights(k: int, n_resamples: int, seed: int, chunk: int):
    """Yield ``(B_i, K)`` blocks of cluster multiplicities of a cluster bootstrap: row ``b``
    counts how often each of the K clusters was drawn among K draws with replacement (the
    indices of a block come from one ``rng.integers(0, K, size=(B_i, K))`` call of
    ``numpy.random.default_rng(seed)``), ``sum B_i = n_resamples``."""
    for idx in _draws(k, n_resamples, seed, chunk):
        b = idx.shape[0]
        flat = (idx + k * np.arange(b)[:, None]).ravel()
        yield np.bincount(flat, minlength=b * k).reshape(b, k).astype(np.float64)


def _check_resamples(n_resamples: Any) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 100:
        raise ValueError(f"n_resamples: expected an int >= 100, got {n_resamples!r}")
    return n_resamples


def cluster_bootstrap_ci(preds: Any, target: Any, clusters: Any, statistic: str = "accuracy",
                         *, n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE,
                         seed: int = BOOTSTRAP_SEED) -> Interval:
    """Percentile interval of a classification metric from a bootstrap over clusters (subjects).

    When the test samples come in clusters that are not independent (several sequences of one
    subject: a model that fails on a face fails on most of its sequences), resampling samples
    understates the uncertainty. The cluster bootstrap resamples whole clusters: each of
    ``n_resamples`` resamples draws K of the K clusters with replacement and takes every sample
    of every drawn cluster (a cluster drawn twice counts twice); the metric is recomputed on
    that pooled sample and the interval is the percentiles of the resampled values, as in
    :func:`bootstrap_ci` (Davison & Hinkley, *Bootstrap Methods and their Application*, 1997,
    Sec. 3.8, "strategy 1": resample the clusters, keep their contents; Field & Welsh,
    "Bootstrapping clustered data", J. R. Stat. Soc. B 69(3), 2007). Accuracy is the ratio ``sum_k
    w_k hits_k / sum_k w_k n_k`` (``w_k`` the multiplicity of cluster k); UAR the mean over the
    classes present in the resample of ``sum_k w_k hits_kc / sum_k w_k support_kc``. With every
    cluster of one sample it draws the same index matrix as :func:`bootstrap_ci` and gives the same
    interval.

    Args:
        preds, target: ``(N,)`` predicted and true class indices.
        clusters: ``(N,)`` cluster of each sample (e.g. the subject id; any values, compared as
            strings).
        statistic: ``"accuracy"`` (= WAR) or ``"uar"``.
        n_resamples: resamples, >= 100. confidence: level in (0, 1). seed: the generator's seed.

    Returns:
        An :class:`Interval` with ``method = "cluster bootstrap"``, ``n = N`` samples and
        ``n_clusters = K``; bounds as fractions.

    Raises:
        ValueError: shapes differ, N = 0, non-integer labels, an unknown ``statistic``, too
            few resamples or a confidence outside (0, 1).

    Example:
        >>> # subject a: 4 of 4 right, b: 0 of 4; resamples (a,a), (a,b), (b,b): 1, 0.5, 0
        >>> cluster_bootstrap_ci([1] * 8, [1] * 4 + [0] * 4, list("aaaabbbb")).format(scale=100)
        '[0.0, 100.0]'
    """
    if statistic not in _STATISTICS:
        raise ValueError(f"statistic: expected one of {_STATISTICS}, got {statistic!r}")
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    p = _as_labels(preds, "preds")
    t = _as_labels(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"preds and target: expected the same shape (N,), got {p.shape} and "
                         f"{t.shape}")
    codes, k = _cluster_codes(clusters, p.shape[0])
    correct = (p == t).astype(np.float64)
    chunk = max(1, min(n_resamples, 4_000_000 // max(k, 1)))
    values = []
    if statistic == "accuracy":
        hits = np.bincount(codes, weights=correct, minlength=k)
        sizes = np.bincount(codes, minlength=k).astype(np.float64)
        for w in _cluster_weights(k, n_resamples, seed, chunk):
            values.append((w @ hits) / (w @ sizes))
    else:
        classes, tc = np.unique(t, return_inverse=True)
        hits = np.zeros((k, classes.size))
        support = np.zeros((k, classes.size))
        np.add.at(hits, (codes, tc), correct)
        np.add.at(support, (codes, tc), 1.0)
        for w in _cluster_weights(k, n_resamples, seed, chunk):
            h, s = w @ hits, w @ support
            with np.errstate(invalid="ignore", divide="ignore"):
                values.append(np.nanmean(np.where(s > 0, h / np.maximum(s, 1), np.nan), axis=1))
    v = np.concatenate(values)
    alpha = 1.0 - confidence
    lo, hi = np.percentile(v, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return Interval(float(lo), float(hi), "cluster bootstrap", confidence, int(p.shape[0]), k)


def cluster_bootstrap_diff_ci(correct_a: Any, correct_b: Any, clusters: Any, *,
                              n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE,
                              seed: int = BOOTSTRAP_SEED) -> Interval:
    """Percentile interval of the paired accuracy difference ``acc_a - acc_b`` from a bootstrap
    over clusters (:func:`cluster_bootstrap_ci`'s resampling; the same clusters are drawn for
    both models): ``sum_k w_k (hits_a,k - hits_b,k) / sum_k w_k n_k``.

    Args:
        correct_a, correct_b: ``(N,)`` booleans: sample i classified correctly by A / by B.
        clusters: ``(N,)`` cluster (subject) of each sample.

    Returns:
        An :class:`Interval` of the difference (a fraction; ``method = "cluster bootstrap"``).

    Raises:
        ValueError: shapes differ, N = 0, too few resamples, a confidence outside (0, 1).

    Example:
        >>> cluster_bootstrap_diff_ci([1, 1, 0], [1, 1, 0], ["a", "a", "b"]).format()
        '[0.0, 0.0]'
    """
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(f"correct_a and correct_b: expected the same shape (N,), N >= 1, got "
                         f"{a.shape} and {b.shape}")
    codes, k = _cluster_codes(clusters, a.shape[0])
    d = np.bincount(codes, weights=a.astype(np.float64) - b.astype(np.float64), minlength=k)
    sizes = np.bincount(codes, minlength=k).astype(np.float64)
    chunk = max(1, min(n_resamples, 4_000_000 // max(k, 1)))
    v = np.concatenate([(w @ d) / (w @ sizes)
                        for w in _cluster_weights(k, n_resamples, seed, chunk)])
    alpha = 1.0 - confidence
    lo, hi = np.percentile(v, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return Interval(float(lo), float(hi), "cluster bootstrap", confidence, int(a.size), k)


@dataclass(frozen=True)
class ClusteredPairedResult:
    """Exact sign-flip test of two classifiers on the same clustered test samples
    (:func:`cluster_sign_flip_test`).

    Attributes:
        b: samples A classified correctly and B wrongly; c: the reverse.
        n: test samples; n_clusters: clusters (subjects).
        p: two-sided exact p-value (1.0 when every cluster's ``b_k - c_k`` is 0).
        diff: accuracy difference ``acc_A - acc_B = (b - c) / n``.
    """

    b: int
    c: int
    n: int
    n_clusters: int
    p: float
    diff: float


def cluster_sign_flip_test(correct_a: Any, correct_b: Any, clusters: Any
                           ) -> ClusteredPairedResult:
    """Exact two-sided sign-flip (randomisation) test of paired per-sample outcomes whose
    samples come in clusters (subjects).

    Per cluster k, ``d_k = b_k - c_k`` (samples A got right and B wrong, minus the reverse).
    Under H0 the two models are exchangeable within each subject, so every ``d_k`` is as likely
    as ``-d_k``, independently across subjects; the test statistic ``S = sum_k d_k`` (= N times
    the accuracy difference) is referred to its exact null distribution over the ``2^K`` sign
    patterns, computed by convolution over the clusters (no Monte Carlo):
    ``p = P(|S*| >= |S|)``. This is Fisher's randomisation test for matched pairs (Fisher, *The
    Design of Experiments*, 1935, Sec. 21) applied to the subjects' differences; its normal
    approximation, ``S^2 / sum_k d_k^2 ~ chi2(1)``, is the clustered McNemar statistic of
    Durkalski et al. ("Analysis of clustered matched-pair data", Stat. Med. 22, 2003). With every
    cluster of one sample it is the exact McNemar test (:func:`mcnemar_exact`): then ``|d_k| = 1``
    for the ``b + c`` discordant samples and ``S`` is ``2b - (b + c)`` with ``b ~
    Binomial(b + c, 1/2)``.

    Args:
        correct_a, correct_b: ``(N,)`` booleans, sample i correct for A / for B.
        clusters: ``(N,)`` cluster of each sample.

    Returns:
        A :class:`ClusteredPairedResult`.

    Raises:
        ValueError: shapes differ or N = 0.

    Example:
        >>> # d = (2, -1, 3): S = 4; of the 8 sign patterns |S*| >= 4 for (2,-1,3) -> 4,
        >>> # (2,1,3) -> 6 and their negations: p = 4 / 8
        >>> cluster_sign_flip_test([1, 1, 0, 1, 1, 1], [0, 0, 1, 0, 0, 0], list("aabccc")).p
        0.5
    """
    a = np.asarray(correct_a).astype(bool)
    bb = np.asarray(correct_b).astype(bool)
    if a.ndim != 1 or a.shape != bb.shape or a.size == 0:
        raise ValueError(f"correct_a and correct_b: expected the same shape (N,), N >= 1, got "
                         f"{a.shape} and {bb.shape}")
    codes, k = _cluster_codes(clusters, a.shape[0])
    d = np.bincount(codes, weights=(a & ~bb).astype(np.float64) - (~a & bb), minlength=k)
    d = np.abs(np.rint(d).astype(np.int64))
    d = d[d > 0]
    b = int(np.sum(a & ~bb))
    c = int(np.sum(~a & bb))
    s_obs = abs(b - c)
    total = int(d.sum())
    if total == 0:
        p = 1.0
    else:
        # prob[s + total] = P(S* = s), built one cluster at a time: S* += d_k or -d_k
        prob = np.zeros(2 * total + 1)
        prob[total] = 1.0
        for v in d:
            prob = 0.5 * (np.roll(prob, v) + np.roll(prob, -v))  # no wrap: |S*| <= total
        s = np.arange(-total, total + 1)
        p = float(min(1.0, prob[np.abs(s) >= s_obs].sum()))
    return ClusteredPairedResult(b=b, c=c, n=int(a.size), n_clusters=k, p=p,
                                 diff=(b - c) / a.size)
