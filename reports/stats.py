"""Uncertainty and significance from the records: a cell's or a row's interval, the comparison of
two rows (paired tests over cells, McNemar or the sign-flip test over subjects on shared test
samples) and Holm's correction over a table, computed from the records' per-sample predictions.

The statistics themselves (their formulas and sources) are in :mod:`reports.inference`; this module
re-exports them, so ``from reports.stats import holm`` and ``reports.stats.bootstrap_ci`` work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reports.inference import (
    ALPHA,
    BOOTSTRAP_SEED,
    CONFIDENCE,
    MIN_PAIRS,
    N_RESAMPLES,
    NEMENYI_Q,
    SMALL_N_REASON,
    ClusteredPairedResult,
    FriedmanResult,
    Interval,
    McNemarResult,
    PairedResult,
    average_ranks,
    bootstrap_ci,
    bootstrap_diff_ci,
    cd_cliques,
    cluster_bootstrap_ci,
    cluster_bootstrap_diff_ci,
    cluster_sign_flip_test,
    friedman,
    friedman_from_ranks,
    holm,
    mcnemar_exact,
    nemenyi_cd,
    paired_tests,
    rank_biserial,
    t_interval,
)
from reports.inference.intervals import _as_labels

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


# --------------------------------------------------------------------------------------------
# from records (the per-sample ``predictions`` of benchmarks.results.records)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Predictions:
    """A record's per-sample test predictions as arrays (:func:`record_predictions`).

    Attributes:
        ids: ``(N,)`` sequence ids.
        target, preds: ``(N,)`` true and predicted class indices.
        lighting: ``(N,)`` lighting condition of each sample, or ``None`` when not stored.
        subjects: ``(N,)`` subject of each sample, or ``None`` when not stored for every sample
            (records before the ``subject`` field, or datasets without subjects).
    """

    ids: tuple[str, ...]
    target: np.ndarray
    preds: np.ndarray
    lighting: tuple[str | None, ...] | None
    subjects: tuple[str, ...] | None = None

    @property
    def correct(self) -> np.ndarray:
        return self.preds == self.target

    def subset(self, condition: str) -> Predictions | None:
        """The samples of lighting ``condition`` (``None`` when lighting is not stored or no
        sample has it)."""
        if self.lighting is None:
            return None
        m = np.array([g == condition for g in self.lighting], dtype=bool)
        if not m.any():
            return None
        return Predictions(tuple(i for i, k in zip(self.ids, m, strict=True) if k),
                           self.target[m], self.preds[m],
                           tuple(g for g, k in zip(self.lighting, m, strict=True) if k),
                           None if self.subjects is None else
                           tuple(g for g, k in zip(self.subjects, m, strict=True) if k))

    @property
    def n_subjects(self) -> int:
        """Distinct subjects among the samples (0 when not stored)."""
        return 0 if self.subjects is None else len(set(self.subjects))


def record_predictions(rec: dict[str, Any]) -> Predictions | None:
    """The ``predictions`` of a record as arrays, or ``None`` when it has none (or they are
    malformed: a missing ``label``/``pred``, non-integer classes). ``subjects`` is set when every
    entry has a non-empty string ``subject``
    (:func:`benchmarks.results.validate.sample_predictions`)."""
    preds = rec.get("predictions")
    if not isinstance(preds, list) or not preds:
        return None
    try:
        ids = tuple(str(p["sequence_id"]) for p in preds)
        target = _as_labels([p["label"] for p in preds], "label")
        pred = _as_labels([p["pred"] for p in preds], "pred")
    except (KeyError, TypeError, ValueError):
        return None
    lighting = None
    if any(isinstance(p, dict) and p.get("lighting") is not None for p in preds):
        lighting = tuple(None if p.get("lighting") is None else str(p["lighting"])
                         for p in preds)
    subjects = None
    if all(isinstance(p.get("subject"), str) and p["subject"] for p in preds):
        subjects = tuple(p["subject"] for p in preds)
    return Predictions(ids, target, pred, lighting, subjects)


_ACCURACY_KEYS = {"war": "accuracy", "accuracy": "accuracy", "uar": "uar",
                  "per_lighting_accuracy": "accuracy", "per_lighting_uar": "uar"}
"""Metrics with an interval -> the bootstrap statistic that recomputes them."""


def cell_interval(rec: dict[str, Any], key: str, condition: str | None = None
                  ) -> Interval | None:
    """Percentile-bootstrap interval of one record's metric ``key`` (``"war"``, ``"accuracy"``,
    ``"uar"``, or ``"per_lighting_accuracy"`` / ``"per_lighting_uar"`` with a lighting
    ``condition``), from its per-sample predictions: over subjects
    (:func:`~reports.inference.clusters.cluster_bootstrap_ci`) when the predictions name the subject of every
    sample and there are at least two subjects, since the sequences of one subject are not
    independent; else over the test samples (:func:`~reports.inference.intervals.bootstrap_ci`).

    Returns:
        The interval, or ``None`` when the record has no (usable) predictions, the metric has no
        interval, or no sample has the lighting ``condition``.
    """
    statistic = _ACCURACY_KEYS.get(key)
    if statistic is None:
        return None
    p = record_predictions(rec)
    if p is None:
        return None
    if key.startswith("per_lighting"):
        if condition is None:
            return None
        p = p.subset(condition)
        if p is None:
            return None
    if p.n_subjects >= 2:
        return cluster_bootstrap_ci(p.preds, p.target, p.subjects, statistic)
    return bootstrap_ci(p.preds, p.target, statistic)


def _value(rec: dict[str, Any], key: str, condition: str | None = None) -> float | None:
    m = rec.get("metrics") if isinstance(rec.get("metrics"), dict) else {}
    v = m.get(key)
    if v is None and key == "war":
        v = m.get("accuracy")
    if condition is not None:
        v = v.get(condition) if isinstance(v, dict) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def group_interval(records: Sequence[dict[str, Any]], key: str,
                   condition: str | None = None) -> Interval | None:
    """The 95% interval shown for a leaderboard value: the t-interval over the cells
    (:func:`~reports.inference.intervals.t_interval`) when two or more cells have the value, else the single
    cell's bootstrap (:func:`cell_interval`: over its subjects when the predictions name them, else
    over its test samples).

    Returns:
        The interval, or ``None`` (one cell without predictions, or no value).
    """
    values = [v for v in (_value(r, key, condition) for r in records) if v is not None]
    if len(values) >= 2:
        return t_interval(values)
    if len(values) == 1:
        (rec,) = [r for r in records if _value(r, key, condition) is not None]
        return cell_interval(rec, key, condition)
    return None


def _pair_key(rec: dict[str, Any]) -> tuple[Any, Any]:
    cell = rec.get("cell") if isinstance(rec.get("cell"), dict) else {}
    return (cell.get("fold"), cell.get("seed"))


@dataclass(frozen=True)
class Comparison:
    """Two rows of one table compared on their common cells (:func:`compare_rows`).

    Attributes:
        row_a, row_b: row names (the difference is ``a - b``).
        key: the metric compared (``"war"``).
        n: pairs of cells (same fold and seed).
        test: the test made: ``"Wilcoxon signed-rank (exact)"`` / ``"(approx)"`` over cells,
            :data:`SUBJECT_TEST` over the subjects of the test samples, ``"McNemar exact"`` over
            test samples (predictions without subjects), or ``None``.
        p: its two-sided p-value (``None`` without a test).
        p_holm: ``p`` after Holm's correction over the table (set by :func:`holm_table`).
        diff: the mean paired difference (fraction): over cells for Wilcoxon, over samples
            (``(b - c) / N``) for the subject and McNemar tests.
        diff_ci: its 95% interval: t over cells, the paired cluster bootstrap over subjects, or
            the paired bootstrap over samples.
        effect: ``("rank-biserial r", value)`` for Wilcoxon, ``("discordant b/c", "b/c")``
            for the subject and McNemar tests, ``None`` without a test.
        t_p: paired t-test p over cells (n >= 6), else ``None``.
        n_samples: paired test samples of a subject or McNemar test, else ``None``.
        n_subjects: subjects (clusters) of a subject test, else ``None``.
        reason: why no test was made.
    """

    row_a: str
    row_b: str
    key: str
    n: int
    test: str | None
    p: float | None
    diff: float | None
    diff_ci: Interval | None
    effect: tuple[str, Any] | None = None
    t_p: float | None = None
    n_samples: int | None = None
    reason: str | None = None
    p_holm: float | None = None
    n_subjects: int | None = None

    def significant(self, alpha: float = ALPHA) -> bool:
        """Holm-adjusted p <= alpha (the raw p when no correction was applied)."""
        p = self.p_holm if self.p_holm is not None else self.p
        return p is not None and p <= alpha


SUBJECT_TEST = "subject sign-flip (exact)"
"""Name of :func:`~reports.inference.clusters.cluster_sign_flip_test` over subjects in the comparisons."""


def _paired_samples(pairs: list[tuple[dict[str, Any], dict[str, Any]]]
                    ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...] | None, bool] | str:
    """``(correct_a, correct_b, subjects, shared)``: per-sample correctness of A and B over the
    paired cells, aligned by sequence id; the subject of each sample (``None`` unless A's
    predictions name it for every sample of every pair); whether two pairs share a test sample
    (several seeds, or subjects tested in every fold: then only the subject test may pool them,
    as it keeps all of a subject's samples, from every cell, in one cluster). Or the reason why
    no test on samples can be made."""
    ca, cb, subj, seen = [], [], [], set()
    clustered = True
    shared = False
    for ra, rb in pairs:
        pa, pb = record_predictions(ra), record_predictions(rb)
        if pa is None or pb is None:
            return "no per-sample predictions in the records for a McNemar test"
        if len(set(pa.ids)) != len(pa.ids) or set(pa.ids) != set(pb.ids):
            return "the paired cells were not evaluated on the same test samples"
        shared = shared or bool(seen & set(pa.ids))
        seen.update(pa.ids)
        order_b = {i: k for k, i in enumerate(pb.ids)}
        idx_b = np.array([order_b[i] for i in pa.ids])
        ca.append(pa.correct)
        cb.append(pb.correct[idx_b])
        if pa.subjects is None:
            clustered = False
        else:
            subj.extend(pa.subjects)
    return (np.concatenate(ca), np.concatenate(cb), tuple(subj) if clustered else None,
            shared)


def compare_rows(row_a: str, recs_a: Sequence[dict[str, Any]], row_b: str,
                 recs_b: Sequence[dict[str, Any]], key: str = "war") -> Comparison:
    """Compare two rows of one table (same dataset and protocol) on their common cells.

    Cells pair by ``(fold, seed)``. With >= :data:`~reports.inference.paired.MIN_PAIRS` pairs: Wilcoxon
    signed-rank over the per-cell values (the reported test) and the paired t-test, effect = mean
    paired difference with its t-interval and the rank-biserial r. With fewer pairs, for
    accuracy/WAR only, and when every paired cell stores per-sample predictions on the same test
    samples: when they name the subject of every sample and there are >= 2 subjects, the exact
    sign-flip test over subjects (:func:`~reports.inference.clusters.cluster_sign_flip_test`; the sequences of one
    subject are not independent), effect = accuracy difference ``(b - c) / N`` with its paired
    cluster-bootstrap interval (:func:`~reports.inference.clusters.cluster_bootstrap_diff_ci`); else, when no
    sample occurs in two pairs (one seed per fold), the exact McNemar test on the pooled samples
    with the paired bootstrap interval over samples. Otherwise no test, with the reason.

    Returns:
        A :class:`Comparison` (``p_holm`` unset; see :func:`holm_table`).
    """
    by_a: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    by_b: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for r in recs_a:
        by_a.setdefault(_pair_key(r), []).append(r)
    for r in recs_b:
        by_b.setdefault(_pair_key(r), []).append(r)
    common = sorted(set(by_a) & set(by_b), key=lambda k: (str(k[0]), str(k[1])))
    base = {"row_a": row_a, "row_b": row_b, "key": key}
    if not common:
        return Comparison(**base, n=0, test=None, p=None, diff=None, diff_ci=None,
                          reason="no common cells (same fold and seed)")
    if any(len(by_a[k]) > 1 or len(by_b[k]) > 1 for k in common):
        return Comparison(**base, n=len(common), test=None, p=None, diff=None, diff_ci=None,
                          reason="several cells per (fold, seed) (pooled recipes or devices)")
    pairs = [(by_a[k][0], by_b[k][0]) for k in common]
    va = [_value(a, key) for a, _ in pairs]
    vb = [_value(b, key) for _, b in pairs]
    keep = [(x, y, pr) for x, y, pr in zip(va, vb, pairs, strict=True)
            if x is not None and y is not None]
    if not keep:
        return Comparison(**base, n=0, test=None, p=None, diff=None, diff_ci=None,
                          reason=f"no common cells with {key}")
    xa = [k[0] for k in keep]
    xb = [k[1] for k in keep]
    pr = paired_tests(xa, xb)
    n = pr.n
    if pr.reason is None:
        method = pr.wilcoxon_method or "exact"
        return Comparison(**base, n=n, test=f"Wilcoxon signed-rank ({method})", p=pr.wilcoxon_p,
                          diff=pr.mean_diff, diff_ci=pr.diff_ci,
                          effect=("rank-biserial r", pr.rank_biserial), t_p=pr.t_p)
    reason = pr.reason
    if _ACCURACY_KEYS.get(key) == "accuracy" and not key.startswith("per_lighting"):
        samples = _paired_samples([k[2] for k in keep])
        if isinstance(samples, str):
            reason = f"{reason}; {samples}"
        elif samples[2] is not None and len(set(samples[2])) >= 2:
            ca, cb, subjects, _ = samples
            st = cluster_sign_flip_test(ca, cb, subjects)
            return Comparison(**base, n=n, test=SUBJECT_TEST, p=st.p, diff=st.diff,
                              diff_ci=cluster_bootstrap_diff_ci(ca, cb, subjects),
                              effect=("discordant b/c", f"{st.b}/{st.c}"),
                              n_samples=st.n, n_subjects=st.n_clusters)
        elif samples[3]:
            reason = (f"{reason}; the paired cells share test samples (several seeds): McNemar "
                      "is not pooled over them")
        else:
            ca, cb, _, _ = samples
            mc = mcnemar_exact(ca, cb)
            return Comparison(**base, n=n, test="McNemar exact", p=mc.p, diff=mc.diff,
                              diff_ci=bootstrap_diff_ci(ca, cb),
                              effect=("discordant b/c", f"{mc.b}/{mc.c}"),
                              n_samples=mc.n)
    return Comparison(**base, n=n, test=None, p=None, diff=pr.mean_diff, diff_ci=pr.diff_ci,
                      reason=reason)


def holm_table(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The comparisons of one table with ``p_holm`` set (:func:`~reports.inference.paired.holm` over those
    tested)."""
    from dataclasses import replace

    adjusted = holm([c.p for c in comparisons])
    return [replace(c, p_holm=a) for c, a in zip(comparisons, adjusted, strict=True)]
