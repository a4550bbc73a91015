"""Confidence intervals of classification metrics: the percentile bootstrap over test samples
(:func:`bootstrap_ci`, :func:`bootstrap_diff_ci`) and the Student-t interval of a mean over
cells (:func:`t_interval`).

* **Interval of one cell's accuracy / WAR / UAR** (:func:`bootstrap_ci`): percentile bootstrap
  over the cell's test samples (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993,
  ch. 13): :data:`N_RESAMPLES` = 2,000 resamples of the N test samples drawn with replacement
  (``numpy.random.default_rng(seed)``, :data:`BOOTSTRAP_SEED` = 0), the metric recomputed on each,
  the interval the 2.5th and 97.5th percentiles of the 2,000 values (numpy's linear
  interpolation). It needs the record's per-sample ``predictions``.
* **Interval of a mean over cells** (:func:`t_interval`): the Student-t interval
  ``mean +- t(0.975, n - 1) * s / sqrt(n)`` over the n >= 2 per-cell values (folds x seeds). It
  describes the spread between training runs and test folds, not the sampling error of each
  cell; a bootstrap over 2 to 10 cells would be too narrow, so it is not used.

The bootstrap over subjects is in :mod:`reports.inference.clusters`. Deterministic: the
bootstrap is seeded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CONFIDENCE", "N_RESAMPLES", "BOOTSTRAP_SEED", "Interval", "bootstrap_ci",
           "bootstrap_diff_ci", "t_interval"]

CONFIDENCE = 0.95
"""Confidence level of every interval."""
N_RESAMPLES = 2000
"""Bootstrap resamples (percentile bootstrap)."""
BOOTSTRAP_SEED = 0
"""Seed of the bootstrap's ``numpy.random.default_rng``."""


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]`` and how it was computed.

    Attributes:
        low, high: the bounds (the metric's own unit: a fraction for accuracies).
        method: ``"bootstrap"`` (percentile, over test samples), ``"cluster bootstrap"``
            (percentile, over subjects:
            :func:`~reports.inference.clusters.cluster_bootstrap_ci`) or ``"t"`` (over cells).
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
