"""Statistics of clustered test samples (several test sequences per subject): the cluster
bootstrap over subjects (:func:`cluster_bootstrap_ci`, :func:`cluster_bootstrap_diff_ci`) and the
exact sign-flip test over subjects (:func:`cluster_sign_flip_test`).

* **Interval over subjects** (:func:`cluster_bootstrap_ci`), used instead of the bootstrap over
  samples when the predictions name the subject of every sample: the sequences of one person
  are not independent (a model that misreads a face misreads most of its sequences), so whole
  subjects are resampled with their sequences (the cluster bootstrap; Davison & Hinkley 1997,
  Sec. 3.8; Field & Welsh, J. R. Stat. Soc. B 69, 2007). Where subjects differ it is wider than
  the bootstrap over samples, which would understate the uncertainty.
* **Exact sign-flip test over subjects** (:func:`cluster_sign_flip_test`), used instead of
  McNemar when the predictions name the subjects: per subject the difference of its discordant
  samples ``b_k - c_k``, referred to the exact distribution of their sum over all sign
  patterns (Fisher's randomisation test for matched pairs); with one sample per subject it is
  McNemar's exact test. Its interval: the paired cluster bootstrap
  (:func:`cluster_bootstrap_diff_ci`).

Deterministic: the bootstrap is seeded (:data:`~reports.inference.intervals.BOOTSTRAP_SEED`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reports.inference.intervals import (
    _STATISTICS,
    BOOTSTRAP_SEED,
    CONFIDENCE,
    N_RESAMPLES,
    Interval,
    _as_labels,
    _check_confidence,
    _draws,
)

__all__ = ["cluster_bootstrap_ci", "cluster_bootstrap_diff_ci", "ClusteredPairedResult",
           "cluster_sign_flip_test"]

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
    :func:`~reports.inference.intervals.bootstrap_ci` (Davison & Hinkley, *Bootstrap Methods and
    their Application*, 1997, Sec. 3.8, "strategy 1": resample the clusters, keep their
    contents; Field & Welsh, "Bootstrapping clustered data", J. R. Stat. Soc. B 69(3), 2007).
    Accuracy is the ratio ``sum_k w_k hits_k / sum_k w_k n_k`` (``w_k`` the multiplicity of
    cluster k); UAR the mean over the classes present in the resample of ``sum_k w_k hits_kc /
    sum_k w_k support_kc``. With every
    cluster of one sample it draws the same index matrix as
    :func:`~reports.inference.intervals.bootstrap_ci` and gives the same interval.

    Args:
        preds, target: ``(N,)`` predicted and true class indices.
        clusters: ``(N,)`` cluster of each sample (e.g. the subject id; any values, compared as
            strings).
        statistic: ``"accuracy"`` (= WAR) or ``"uar"``.
        n_resamples: resamples, >= 100. confidence: level in (0, 1). seed: the generator's seed.

    Returns:
        An :class:`~reports.inference.intervals.Interval` with ``method = "cluster bootstrap"``, ``n = N`` samples and
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
        An :class:`~reports.inference.intervals.Interval` of the difference (a fraction; ``method = "cluster bootstrap"``).

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
    cluster of one sample it is the exact McNemar test
    (:func:`~reports.inference.paired.mcnemar_exact`): then ``|d_k| = 1`` for the ``b + c``
    discordant samples and ``S`` is ``2b - (b + c)`` with ``b ~ Binomial(b + c, 1/2)``.

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
