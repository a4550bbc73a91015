"""The leaderboard's significance sections as markdown: the pairwise comparisons of the rows of
each dataset column (tests, effect sizes, Holm-corrected p-values; :func:`comparisons_table`),
the line under each leaderboard table naming the significant WAR differences
(:func:`significance_line`) and the ranking across dataset columns (Friedman, Nemenyi critical
difference; :func:`ranking_table`). The statistics are those of :mod:`reports.stats`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reports import stats as S
from reports.formatting import MISSING, _escape, _fmt_number, _table
from reports.grouping import by_dataset, group_records

__all__ = [
    "comparisons",
    "comparison_cells",
    "significance_line",
    "COMPARISON_HEADERS",
    "comparisons_table",
    "Ranking",
    "ranking",
    "ranking_table",
]


def comparisons(records: Iterable[dict[str, Any]], key: str = "war"
                ) -> dict[str, list[S.Comparison]]:
    """Every pair of rows of each dataset column compared on ``key``
    (:func:`reports.stats.compare_rows`, Holm-corrected over the pairs of the column by
    :func:`reports.stats.holm_table`).

    Returns:
        ``{dataset column: [Comparison, ...]}`` (pairs in row order; columns with one row
        have an empty list).
    """
    out = {}
    for ds, gs in by_dataset(group_records(records)).items():
        comps = [S.compare_rows(a.row, list(a.records), b.row, list(b.records), key)
                 for i, a in enumerate(gs) for b in gs[i + 1:]]
        out[ds] = S.holm_table(comps)
    return out


def _p(p: float | None) -> str:
    if p is None:
        return MISSING
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def comparison_cells(c: S.Comparison) -> list[str]:
    """The displayed cells of one comparison (:data:`COMPARISON_HEADERS`)."""
    diff = MISSING
    if c.diff is not None:
        diff = _fmt_number(100 * c.diff, 1)
        if c.diff_ci is not None:
            diff += " " + c.diff_ci.format(scale=100.0, decimals=1)
    effect = MISSING
    if c.effect is not None:
        name, v = c.effect
        effect = f"{name} = {v:.2f}" if isinstance(v, float) else f"{name} = {v}"
    cells = str(c.n)
    if c.n_samples:
        cells += (f" ({c.n_samples} samples, {c.n_subjects} subjects)" if c.n_subjects
                  else f" ({c.n_samples} samples)")
    test = c.test or "none (see below)"
    sig = ("**yes**" if c.significant() else "no") if c.p is not None else MISSING
    return [f"{_escape(c.row_a)} − {_escape(c.row_b)}", cells, _escape(test), diff,
            _escape(effect), _p(c.p), _p(c.p_holm), _p(c.t_p), sig]


def significance_line(cs: Sequence[S.Comparison]) -> str:
    """One line under a leaderboard table: which WAR differences are significant at 0.05 after
    Holm's correction, by which test (the details are in the pairwise comparisons)."""
    if not cs:
        return "Significant WAR differences: one row, nothing to compare."
    tested = [c for c in cs if c.p is not None]
    sig = [c for c in tested if c.significant()]
    if not tested:
        return (f"Significant WAR differences: none tested ({len(cs)} pair(s); see the pairwise "
                "comparisons for why).")
    items = []
    for c in sig:
        hi, lo = (c.row_a, c.row_b) if (c.diff or 0) >= 0 else (c.row_b, c.row_a)
        items.append(f"{_escape(hi)} > {_escape(lo)} ({c.test}, Holm p = {_p(c.p_holm)})")
    return (f"Significant WAR differences at 0.05 (Holm-corrected over {len(tested)} tested "
            f"pair(s)): " + ("; ".join(items) if items else "none") + ".")


COMPARISON_HEADERS = ["pair (A − B)", "cells", "test", "ΔWAR (pp) [95% CI]", "effect size",
                      "p", "p (Holm)", "paired t p", "significant (0.05)"]
"""Columns of the pairwise table: ``p`` is the reported test's (Wilcoxon, subject sign-flip or
McNemar), ``p
(Holm)`` after Holm's correction over the pairs of the dataset column (the significance mark
uses it), ``paired t p`` the paired t-test over the same cells (n >= 6; uncorrected, shown for
reference)."""


def comparisons_table(records: Iterable[dict[str, Any]]) -> str:
    """The pairwise comparisons of WAR within each dataset column, as markdown.

    Each pair of rows: the cells they share (same fold and seed), the test made (Wilcoxon
    signed-rank over cells for n >= 6, else, when the cells share their test samples, the exact
    sign-flip test over subjects when the per-sample predictions name the subjects and the
    exact McNemar test when they do not, else the reason none was made), the
    mean paired difference in points with its 95% interval, the effect size, the p-value, the
    Holm-adjusted p over the pairs of the dataset column, and whether it is significant at
    0.05 after the correction.
    """
    comps = comparisons(records)
    if not comps:
        return "_No successful cells._"
    parts = []
    for ds, cs in comps.items():
        if not cs:
            parts.append(f"### {_escape(ds)}\n\n_One row: nothing to compare._")
            continue
        tested = [c for c in cs if c.p is not None]
        sig = [c for c in tested if c.significant()]
        summary = (f"{len(tested)} of {len(cs)} pairs tested; significant at 0.05 after Holm's "
                   f"correction: " + (", ".join(f"{_escape(c.row_a)} − {_escape(c.row_b)} "
                                                 f"({c.test})" for c in sig) or "none") + ".")
        untested = [f"- no test for {_escape(c.row_a)} − {_escape(c.row_b)}: {_escape(c.reason)}"
                    for c in cs if c.p is None]
        parts.append(f"### {_escape(ds)}\n\n"
                     + _table(COMPARISON_HEADERS, [comparison_cells(c) for c in cs])
                     + f"\n\n{summary}" + ("\n\n" + "\n".join(untested) if untested else ""))
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Ranking:
    """Models ranked over several dataset columns (Demsar 2006; :func:`ranking`).

    Attributes:
        models: row names (those with a value on every dataset column).
        datasets: the dataset columns (the N "data sets").
        scores: ``(N, k)`` mean WAR of model j on dataset column i (fractions).
        avg_ranks: ``(k,)`` average ranks (1 = best).
        friedman: the Friedman / Iman-Davenport test (``None`` for k < 3).
        cd: the Nemenyi critical difference at alpha = 0.05.
        cliques: groups of models not significantly different (index tuples).
    """

    models: tuple[str, ...]
    datasets: tuple[str, ...]
    scores: np.ndarray
    avg_ranks: tuple[float, ...]
    friedman: S.FriedmanResult | None
    cd: float
    cliques: tuple[tuple[int, ...], ...]


def ranking(records: Iterable[dict[str, Any]], key: str = "war") -> Ranking | None:
    """The ranking view over the dataset columns: average rank of each model (by its mean
    ``key`` over cells), the Friedman test (k >= 3 models) and the Nemenyi critical difference.

    Returns:
        A :class:`Ranking`, or ``None`` when fewer than 2 dataset columns or fewer than 2
        models with a value on every one of them.
    """
    cols = by_dataset(group_records(records))
    if len(cols) < 2:
        return None
    means: dict[str, dict[str, float]] = {}
    for ds, gs in cols.items():
        for g in gs:
            v = g.values(key)
            if v:
                means.setdefault(g.row, {})[ds] = float(np.mean(v))
    datasets = tuple(cols)
    models = tuple(m for m, d in means.items() if all(ds in d for ds in datasets))
    if len(models) < 2:
        return None
    scores = np.array([[means[m][ds] for m in models] for ds in datasets])
    ranks = S.average_ranks(scores)
    fr = S.friedman(scores) if len(models) >= 3 else None
    cd = S.nemenyi_cd(len(models), len(datasets))
    return Ranking(models, datasets, scores, tuple(float(r) for r in ranks), fr, cd,
                   tuple(S.cd_cliques(ranks, cd)))


def ranking_table(records: Iterable[dict[str, Any]]) -> str:
    """The ranking across dataset columns (:func:`ranking`) as markdown: model, average rank,
    mean WAR per dataset column, then the Friedman test and the critical difference."""
    rk = ranking(records)
    if rk is None:
        return ("_Needs at least 2 dataset columns and 2 models evaluated on all of them._")
    order = np.argsort(rk.avg_ranks, kind="stable")
    headers = ["model", "average rank"] + [f"{_escape(d)} WAR (%)" for d in rk.datasets]
    body = [[_escape(rk.models[j]), f"{rk.avg_ranks[j]:.2f}"]
            + [_fmt_number(100 * rk.scores[i, j], 1) for i in range(len(rk.datasets))]
            for j in order]
    k, n = len(rk.models), len(rk.datasets)
    lines = [_table(headers, body), ""]
    if rk.friedman is not None:
        f = rk.friedman
        ff = (f"Iman-Davenport F = {f.ff:.2f} (df {k - 1}, {(k - 1) * (n - 1)}), p = {_p(f.p_ff)}"
              if f.ff is not None else "Iman-Davenport F undefined (the ranks agree perfectly)")
        lines.append(f"- Friedman test over N = {n} dataset columns, k = {k} models: "
                     f"chi2 = {f.chi2:.2f} (df {k - 1}), p = {_p(f.p_chi2)}; {ff}.")
    else:
        lines.append(f"- Friedman test: needs k >= 3 models (k = {k}); see the pairwise tables.")
    q = S.NEMENYI_Q[0.05].get(k)
    q_text = f"q_0.05 = {q:.3f}, Demsar 2006 Table 5(a)" if q else "q from the studentized range"
    groups = "; ".join(", ".join(_escape(rk.models[i]) for i in c) for c in rk.cliques)
    lines.append(f"- Nemenyi critical difference (alpha = 0.05, {q_text}): CD = {rk.cd:.2f} "
                 f"ranks; not significantly different: {groups or 'no group'}."
                 + (" With N < 10 dataset columns the test has little power." if n < 10 else ""))
    return "\n".join(lines)
