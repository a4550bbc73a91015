"""Leaderboard: result records -> markdown tables (pure functions; reads only the records).

A *record* is one JSON object per line of ``RUN_DIR/results.jsonl``, in the schema of
:mod:`benchmarks.results.records` (read with :func:`benchmarks.results.records.read_records`, which validates and
migrates them). This module never imports the runner, the backends or the datasets: what a report
shows is what the records say.

Aggregation: the records with ``status == "ok"`` are grouped by *row* and *dataset column*:

* row: ``(backend, arch)`` for trained cells (``kind == "trained"``), the display name ``method``
  for published rows (``kind == "published"``, scored from released predictions);
* dataset column: the record's task and version (``"<task id> v<version>"``, see
  :mod:`benchmarks.results.tasks`: dataset, protocol, label set, task type), so that different
  protocols, label sets or task versions are never pooled in a table or a paired test.

Within a group every metric is shown as ``mean ± std`` over the cells (folds x seeds), where std is
the sample standard deviation (``ddof = 1``, pandas' default) of the per-cell values, omitted when
only one cell has the value; ``n`` is the number of cells. ``status == "error"`` records are never
averaged: they are listed in the failed-cells table.

Layout: one table per dataset column, under its own ``###`` heading (the dataset is never
repeated in a column header). WAR and UAR carry their 95% intervals and each table ends with
the WAR differences that are significant at 0.05; the pairwise comparisons (tests, effect sizes,
Holm-corrected p-values) and the ranking across dataset columns (Friedman, Nemenyi critical
difference) follow in their own sections. The statistics are those of :mod:`reports.stats`.

Several run folders (from several machines) merge into one leaderboard with :func:`merge_runs`
(schema-incompatible records refused; a cell recorded twice refused unless the records agree,
or kept by an explicit policy).

Rendering is deterministic: rows and columns are sorted, floats are formatted with fixed rules,
the bootstrap is seeded and no clock is read, so the same records give the same bytes of
``leaderboard.md``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from benchmarks.results.records import read_records
from datasets.common import InputError
from reports import stats as S

log = logging.getLogger(__name__)

__all__ = [
    "LEADERBOARD_FILE",
    "Group",
    "ok_records",
    "error_records",
    "row_key",
    "row_label",
    "dataset_label",
    "metric_value",
    "is_spiking_record",
    "group_records",
    "format_mean_std",
    "lighting_conditions",
    "lighting_values",
    "Column",
    "LEADERBOARD_COLUMNS",
    "ci_header",
    "Entry",
    "leaderboard_entries",
    "leaderboard_headers",
    "by_dataset",
    "leaderboard_table",
    "comparisons",
    "comparison_cells",
    "significance_line",
    "comparisons_table",
    "Ranking",
    "ranking",
    "ranking_table",
    "lighting_table",
    "failed_cells_table",
    "provenance_summary",
    "render_markdown",
    "MERGE_POLICIES",
    "MergeConflictError",
    "merge_runs",
    "merge_runs_with_sources",
]

LEADERBOARD_FILE = "leaderboard.md"
TABLE_FORMAT = "github"
MISSING = "—"
LIGHTING_ORDER = ("normal", "overexposure", "low_light", "hdr")
"""Display order of SEE's lighting conditions; any other condition follows, sorted by name."""


# --------------------------------------------------------------------------------------------
# record accessors (shared with reports.figures)
# --------------------------------------------------------------------------------------------


def _cell(rec: dict[str, Any]) -> dict[str, Any]:
    cell = rec.get("cell")
    return cell if isinstance(cell, dict) else {}


def _metrics(rec: dict[str, Any]) -> dict[str, Any]:
    m = rec.get("metrics")
    return m if isinstance(m, dict) else {}


def ok_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with ``status == "ok"``, one per ``cell_id`` and task version (the last one
    in file order wins, with a warning, when a cell was recorded twice on one task version; the
    same cell on two versions of its data is two records, shown in two tables)."""
    by_id: dict[tuple[str, str], dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    for rec in records:
        if rec.get("status") != "ok":
            continue
        cid = rec.get("cell_id")
        if not isinstance(cid, str):
            anonymous.append(rec)
            continue
        key = (cid, dataset_label(rec))
        if key in by_id:
            log.warning("cell %s recorded twice with status ok; using the later record", cid)
        by_id[key] = rec
    return list(by_id.values()) + anonymous


def error_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records whose ``status`` is not ``"ok"`` (``"error"`` or anything unexpected)."""
    return [rec for rec in records if rec.get("status") != "ok"]


def row_key(rec: dict[str, Any]) -> tuple[int, str, str]:
    """Sort key of a record's leaderboard row: trained rows first, by (backend, arch); then
    published rows by method."""
    cell = _cell(rec)
    if rec.get("kind") == "published":
        return (1, str(rec.get("method") or _trained_label(cell)), "")
    run = cell.get("run_backend") or cell.get("backend", "?")
    return (0, f"{run}\0{cell.get('backend', '?')}", str(cell.get("arch", "?")))


def _trained_label(cell: dict[str, Any]) -> str:
    """``"backend / arch"``; a transferred cell (trained in A, run in B) reads
    ``"B / arch (trained in A, run in B, via nir)"``."""
    run = cell.get("run_backend")
    if run and run != cell.get("backend"):
        return (f"{run} / {cell.get('arch', '?')} (trained in {cell.get('backend', '?')}, run in "
                f"{run}, via {cell.get('transfer_via', '?')})")
    return f"{cell.get('backend', '?')} / {cell.get('arch', '?')}"


def row_label(rec: dict[str, Any]) -> str:
    """Display name of a record's row: ``"backend / arch"``; for a native model (a record with a
    ``model`` card) ``"framework version / name (citation)"``; or the ``method`` of a published
    row (``"backend / arch (published)"`` when it has no method)."""
    if rec.get("kind") == "published":
        method = rec.get("method")
        return str(method) if method else f"{_trained_label(_cell(rec))} (published)"
    card = rec.get("model")
    if isinstance(card, dict) and card.get("name"):
        version = f" {card['framework_version']}" if card.get("framework_version") else ""
        cite = f" ({card['citation']})" if card.get("citation") else ""
        return f"{card.get('framework', '?')}{version} / {card['name']}{cite}"
    return _trained_label(_cell(rec))


def native_models(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model cards of the native models among ``records`` (one per name and framework
    version, sorted by name)."""
    cards: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        card = rec.get("model")
        if isinstance(card, dict) and card.get("name"):
            cards.setdefault((str(card["name"]), str(card.get("framework_version"))), card)
    return [cards[k] for k in sorted(cards)]


def models_table(records: Iterable[dict[str, Any]]) -> str:
    """Markdown table of the native models (:func:`native_models`): name, framework and version,
    citation, code URL, licence, notes; ``""`` when there is none."""
    cards = native_models(records)
    if not cards:
        return ""
    rows = [[_escape(c["name"]),
             _escape(f"{c.get('framework', '?')} {c.get('framework_version') or ''}".strip()),
             _escape(c.get("citation") or "—"),
             f"<{c['code_url']}>" if c.get("code_url") else "—",
             _escape(c.get("licence") or "—"), _escape(c.get("notes") or "")] for c in cards]
    return _table(["model", "framework", "citation", "code", "licence", "notes"], rows)


def dataset_label(rec: dict[str, Any]) -> str:
    """Display name of a record's dataset column, the key every table and paired test groups
    by: the record's task and version, ``"<task id> v<version>"`` or ``"<task id> (unknown
    version)"`` (:func:`benchmarks.results.tasks.task_label`), so that rows of two versions of
    a task never share a table or a test; ``"dataset (protocol)"`` for a record dict without a
    ``task`` field (:func:`benchmarks.results.records.read_records` gives every record one)."""
    if "task" in rec and rec["task"] is not None:
        from benchmarks.results.tasks import task_label

        return task_label(rec["task"])
    cell = _cell(rec)
    ds = str(cell.get("dataset", "?"))
    protocol = cell.get("protocol")
    return f"{ds} ({protocol})" if protocol else ds


def is_spiking_record(rec: dict[str, Any]) -> bool:
    """Whether a record's model spikes: not when its metrics say ``membrane_updates_source``
    ``"none (ANN)"`` (written by :func:`benchmarks.measure.energy.energy_metrics` for a
    non-spiking backend) or, in records without that key, its backend is ``"ann"``."""
    if _metrics(rec).get("membrane_updates_source") == "none (ANN)":
        return False
    return _cell(rec).get("backend") != "ann"


def metric_value(rec: dict[str, Any], key: str) -> float | None:
    """The finite float ``rec["metrics"][key]``, or ``None`` when missing, null, NaN or not a
    number. ``"war"`` falls back to ``"accuracy"`` (they are the same metric).

    ``spikes_per_sample`` is a spike count only for a spiking model (:func:`is_spiking_record`):
    a non-spiking model's record holds its non-zero activations under that key, which is read
    as ``activations_per_sample`` (``None`` for ``spikes_per_sample`` and for a spiking model's
    ``activations_per_sample``)."""
    m = _metrics(rec)
    if key == "spikes_per_sample" and not is_spiking_record(rec):
        return None
    v = m.get(key)
    if v is None and key == "war":
        v = m.get("accuracy")
    if v is None and key == "activations_per_sample" and not is_spiking_record(rec):
        v = m.get("spikes_per_sample")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class Group:
    """The ok records of one (row, dataset column) pair, as :func:`group_records` returns them."""

    row: str
    dataset: str
    kind: str
    records: tuple[dict[str, Any], ...]

    def values(self, key: str) -> list[float]:
        """The per-cell values of metric ``key`` (cells without it left out)."""
        return [v for v in (metric_value(r, key) for r in self.records) if v is not None]


def group_records(records: Iterable[dict[str, Any]]) -> list[Group]:
    """Group the ok records (see :func:`ok_records`) by (row, dataset column).

    Returns:
        Groups sorted by row (:func:`row_key`), then dataset column; records within a group sorted
        by ``cell_id``.
    """
    groups: dict[tuple[tuple[int, str, str], str], list[dict[str, Any]]] = defaultdict(list)
    for rec in ok_records(records):
        groups[(row_key(rec), dataset_label(rec))].append(rec)
    out = []
    for (rk, ds), recs in sorted(groups.items(), key=lambda kv: kv[0]):
        recs = sorted(recs, key=lambda r: str(r.get("cell_id", "")))
        kind = "published" if rk[0] == 1 else "trained"
        out.append(Group(row=row_label(recs[0]), dataset=ds, kind=kind, records=tuple(recs)))
    return out


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One metric column of the leaderboard and the paper tables."""

    key: str  # metric key in the record
    header: str  # with units
    scale: float = 1.0  # multiply values by this before display (fraction -> %)
    decimals: int | None = None  # fixed decimals; None: 3 significant digits of the mean
    static: bool = False  # expected equal across cells: show the value (or a min–max range)
    ci: bool = False  # followed by its 95% interval (reports.stats.group_interval)
    better: str | None = None  # "max" / "min": which value is best (bold in paper tables)


LEADERBOARD_COLUMNS: tuple[Column, ...] = (
    Column("war", "WAR (%)", scale=100.0, decimals=1, ci=True, better="max"),
    Column("uar", "UAR (%)", scale=100.0, decimals=1, ci=True, better="max"),
    Column("energy_uj_per_inference", "energy (µJ/inf)", better="min"),
    Column("latency_ms_p50", "latency p50 (ms)", better="min"),
    Column("spikes_per_sample", "spikes/sample"),
    Column("activations_per_sample", "activations/sample"),
    Column("synops_per_sample", "SynOps/sample", better="min"),
    Column("params", "params", decimals=0, static=True),
)
"""The leaderboard's metric columns (one table per dataset column); a column with ``ci`` is
followed by a ``"<header minus unit> 95% CI (%)"`` column."""


def ci_header(c: Column) -> str:
    """Header of the interval column that follows ``c``: ``"WAR 95% CI (%)"``."""
    name = c.header.split(" (")[0]
    unit = c.header[len(name):].strip()
    return f"{name} 95% CI {unit}".strip()


def _decimals(x: float, sig: int = 3) -> int:
    """Decimals that show ``x`` with ``sig`` significant digits (0 for |x| >= 10**(sig-1))."""
    if x == 0 or not math.isfinite(x):
        return sig - 1
    return min(9, max(0, sig - 1 - math.floor(math.log10(abs(x)))))


def _fmt_number(x: float, decimals: int) -> str:
    """``x`` with ``decimals`` decimals and thousands separators; never ``"-0.0"``."""
    s = f"{x:,.{decimals}f}"
    if s.startswith("-") and float(s[1:].replace(",", "")) == 0.0:
        s = s[1:]
    return s


def format_mean_std(values: Sequence[float], *, scale: float = 1.0, decimals: int | None = None,
                    static: bool = False, n_expected: int | None = None,
                    std: float | None = None) -> str:
    """``"mean ± std"`` of ``values`` (sample std, ddof = 1; only the mean when there is one value).

    Args:
        values: per-cell values.
        scale: factor applied before display (100 for fractions shown in %).
        decimals: fixed decimals; ``None`` for 3 significant digits of the mean (std uses the
            same decimals).
        static: show the single value when all are equal, else ``"min–max"`` (for parameters).
        n_expected: the group's number of cells; when fewer cells have the value, ``" (n=k)"``
            is appended.
        std: for a single value, a std known from elsewhere (a published row's std over its
            inference passes, unscaled); shown as ``"mean ± std"``.

    Returns:
        The text, or ``"—"`` when there is no value.
    """
    if not values:
        return MISSING
    s = pd.Series([float(v) * scale for v in values], dtype="float64")
    mean = float(s.mean())
    d = _decimals(mean) if decimals is None else decimals
    if static:
        lo, hi = float(s.min()), float(s.max())
        text = _fmt_number(lo, d) if lo == hi else f"{_fmt_number(lo, d)}–{_fmt_number(hi, d)}"
    elif len(s) >= 2:
        text = f"{_fmt_number(mean, d)} ± {_fmt_number(float(s.std(ddof=1)), d)}"
    elif std is not None:
        text = f"{_fmt_number(mean, d)} ± {_fmt_number(float(std) * scale, d)}"
    else:
        text = _fmt_number(mean, d)
    if n_expected is not None and len(s) < n_expected:
        text += f" (n={len(s)})"
    return text


def _escape(text: Any) -> str:
    """One-line markdown-safe cell text."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    return tabulate(rows, headers=headers, tablefmt=TABLE_FORMAT, disable_numparse=True)


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One displayed value: its text and the number it sorts by (display units; ``None`` when
    missing)."""

    text: str
    value: float | None = None


def _mean(values: Sequence[float], scale: float = 1.0) -> float | None:
    return float(np.mean(values)) * scale if values else None


def leaderboard_entries(group: Group) -> dict[str, Entry]:
    """The leaderboard's values of one (row, dataset column) group.

    Returns:
        ``{"n": ..., <column key>: ..., <column key>_ci: ...}`` for every
        :data:`LEADERBOARD_COLUMNS` entry (``_ci`` only for the columns with an interval):
        ``mean ± std`` text (:func:`format_mean_std`) with the mean as sort value, and the 95%
        interval (:func:`reports.stats.group_interval`) as ``"[low, high]"`` in % with its low
        bound as sort value (``"—"`` when there is none).
    """
    n = len(group.records)
    out = {"n": Entry(str(n), float(n))}
    for c in LEADERBOARD_COLUMNS:
        values = group.values(c.key)
        # a published row is one record: its std is over inference passes (``<key>_std``)
        std = metric_value(group.records[0], f"{c.key}_std") if n == 1 else None
        out[c.key] = Entry(format_mean_std(values, scale=c.scale, decimals=c.decimals,
                                           static=c.static, n_expected=n, std=std),
                           _mean(values, c.scale))
        if c.ci:
            iv = S.group_interval(group.records, c.key)
            out[f"{c.key}_ci"] = (Entry(iv.format(scale=c.scale, decimals=c.decimals or 1),
                                        iv.low * c.scale)
                                  if iv is not None else Entry(MISSING))
    return out


def leaderboard_headers() -> list[tuple[str, str]]:
    """``(entry key, header)`` of the leaderboard's value columns, in order (after ``model``
    and ``source``)."""
    out = [("n", "n")]
    for c in LEADERBOARD_COLUMNS:
        out.append((c.key, c.header))
        if c.ci:
            out.append((f"{c.key}_ci", ci_header(c)))
    return out


def by_dataset(groups: Iterable[Group]) -> dict[str, list[Group]]:
    """Groups by dataset column (sorted), each list in row order."""
    out: dict[str, list[Group]] = {}
    for g in groups:
        out.setdefault(g.dataset, []).append(g)
    return dict(sorted(out.items()))


def leaderboard_table(records: Iterable[dict[str, Any]]) -> str:
    """The leaderboard: one markdown table (tabulate, GitHub format) per dataset column.

    Each dataset column ``"<dataset> (<protocol>)"`` is a ``###`` heading followed by its table:
    one row per (backend, arch) of the trained cells with cells there, then one per published
    method; columns ``model``, ``source``, ``n`` (cells), WAR % and its 95% CI, UAR % and its
    95% CI, estimated energy (µJ per inference), batch-1 latency p50 (ms), spikes per sample
    (spiking models), non-zero activations per sample (non-spiking models), SynOps per sample,
    parameters; values ``mean ± std`` over the cells (see module docstring),
    intervals as :func:`reports.stats.group_interval` (t over cells for n >= 2; for a single
    cell with stored predictions the percentile bootstrap over its subjects when the
    predictions name them, else over its test samples). Notes under the
    tables flag rows that pool several training recipes or devices.

    Args:
        records: records as :func:`benchmarks.results.records.read_records` returns them (error records
            are ignored here).

    Returns:
        Markdown text (no trailing newline); a one-line note when there is no ok record.
    """
    records = list(records)
    groups = group_records(records)
    if not groups:
        return "_No successful cells._"
    cols = leaderboard_headers()
    comps = comparisons(records)
    parts = []
    for ds, gs in by_dataset(groups).items():
        body = []
        for g in gs:
            e = leaderboard_entries(g)
            body.append([_escape(g.row), g.kind] + [e[k].text for k, _ in cols])
        parts.append(f"### {_escape(ds)}\n\n"
                     + _table(["model", "source"] + [h for _, h in cols], body)
                     + "\n\n" + significance_line(comps.get(ds, [])))
    text = "\n\n".join(parts)
    notes = _pooling_notes(groups)
    if notes:
        text += "\n\n" + "\n".join(f"- note: {n}" for n in notes)
    return text


# --------------------------------------------------------------------------------------------
# pairwise comparisons and ranking (reports.stats)
# --------------------------------------------------------------------------------------------


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


def _pooling_notes(groups: list[Group]) -> list[str]:
    notes = []
    for g in groups:
        recipes = sorted({json.dumps(_cell(r).get("recipe"), sort_keys=True) for r in g.records})
        devices = sorted({str(_cell(r).get("device")) for r in g.records})
        if len(recipes) > 1:
            notes.append(f"{_escape(g.row)} on {g.dataset} pools {len(recipes)} training recipes")
        if len(devices) > 1:
            notes.append(
                f"{_escape(g.row)} on {g.dataset} pools devices {', '.join(devices)} "
                "(latency not comparable)"
            )
    return notes


def lighting_conditions(groups: list[Group]) -> list[str]:
    names: set[str] = set()
    for g in groups:
        for r in g.records:
            for key in ("per_lighting_accuracy", "per_lighting_uar"):
                d = _metrics(r).get(key)
                if isinstance(d, dict):
                    names.update(str(k) for k in d)
    known = [n for n in LIGHTING_ORDER if n in names]
    return known + sorted(names - set(known))


def lighting_values(group: Group, key: str, condition: str) -> list[float]:
    """Per-cell values of ``metrics[key][condition]`` (``key`` e.g. ``"per_lighting_accuracy"``)."""
    out = []
    for r in group.records:
        d = _metrics(r).get(key)
        v = d.get(condition) if isinstance(d, dict) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
    return out


def lighting_table(records: Iterable[dict[str, Any]]) -> str:
    """Per-lighting accuracy (WAR) and UAR, in %, ``mean ± std`` over cells followed by the
    95% interval ``[low, high]`` (:func:`reports.stats.group_interval`; none shown when a single
    cell has no per-sample predictions with lighting).

    One table per dataset column that has ``per_lighting_accuracy`` in some record; rows as in
    :func:`leaderboard_table`; columns ``"<condition> WAR (%)"`` and ``"<condition> UAR (%)"`` for
    each lighting condition (SEE's order: normal, overexposure, low_light, hdr; others after).

    Returns:
        Markdown text; a one-line note when no record has per-lighting metrics.
    """
    groups = [g for g in group_records(records)
              if any(isinstance(_metrics(r).get("per_lighting_accuracy"), dict)
                     or isinstance(_metrics(r).get("per_lighting_uar"), dict)
                     for r in g.records)]
    if not groups:
        return "_No per-lighting metrics in these records._"
    parts = []
    for ds in sorted({g.dataset for g in groups}):
        gs = [g for g in groups if g.dataset == ds]
        conditions = lighting_conditions(gs)
        headers = ["model", "source", "n"]
        for c in conditions:
            headers += [f"{c} WAR (%)", f"{c} UAR (%)"]
        body = []
        for g in gs:
            n = len(g.records)
            line = [_escape(g.row), g.kind, str(n)]
            for c in conditions:
                for key in ("per_lighting_accuracy", "per_lighting_uar"):
                    text = format_mean_std(lighting_values(g, key, c), scale=100.0,
                                           decimals=1, n_expected=n)
                    iv = S.group_interval(g.records, key, c) if text != MISSING else None
                    line.append(f"{text} {iv.format(scale=100.0)}" if iv is not None else text)
            body.append(line)
        parts.append(f"**{_escape(ds)}**\n\n{_table(headers, body)}")
    return "\n\n".join(parts)


def failed_cells_table(records: Iterable[dict[str, Any]]) -> str:
    """The records whose status is not ok: cell id, status, error message (one line, at most
    300 characters), UTC time, and whether a later ok record exists for the same cell.

    Returns:
        Markdown table sorted by cell id; a one-line note when no cell failed.
    """
    records = list(records)
    ok_ids = {r.get("cell_id") for r in ok_records(records)}
    failed = sorted(error_records(records), key=lambda r: (str(r.get("cell_id", "")),
                                                           str(_prov(r).get("utc_time", ""))))
    if not failed:
        return "_No failed cells._"
    body = []
    for r in failed:
        msg = _escape(r.get("error") or "(no message)")
        if len(msg) > 300:
            msg = msg[:297] + "..."
        body.append([
            _escape(r.get("cell_id", "?")), _escape(r.get("status", "?")), msg,
            _escape(_prov(r).get("utc_time", MISSING)),
            "yes" if r.get("cell_id") in ok_ids else "no",
        ])
    return _table(["cell", "status", "error", "utc time", "later ok"], body)


def _prov(rec: dict[str, Any]) -> dict[str, Any]:
    p = rec.get("provenance")
    return p if isinstance(p, dict) else {}


def provenance_summary(records: Iterable[dict[str, Any]]) -> str:
    """Where the records come from: counts, git commits (with dirty flags), machines (CPU, GPU,
    threads), Python / torch / backend versions and the UTC time range, as a markdown list."""
    records = list(records)
    status = Counter(
        f"{r.get('status', '?')}/{r.get('kind', 'trained')}" for r in records
    )
    lines = ["- records: " + (", ".join(f"{k}: {v}" for k, v in sorted(status.items()))
                              or "none")]
    commits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    machines: Counter[str] = Counter()
    pythons: Counter[str] = Counter()
    torches: Counter[str] = Counter()
    backends: set[str] = set()
    times: list[str] = []
    for r in records:
        p = _prov(r)
        if r.get("kind") == "published" and not p:
            continue
        c = commits[str(p.get("git_commit") or "unknown")[:12]]
        c[0] += 1
        c[1] += bool(p.get("git_dirty"))
        machines[f"cpu: {p.get('cpu') or 'unknown'}; threads: {p.get('threads', '?')}; "
                 f"gpu: {p.get('gpu') or 'none'}"] += 1
        pythons[str(p.get("python", "?"))] += 1
        torches[str(p.get("torch", "?"))] += 1
        bv = p.get("backend_versions")
        if isinstance(bv, dict):
            backends.update(f"{k} {v}" for k, v in bv.items())
        if isinstance(p.get("utc_time"), str):
            times.append(p["utc_time"])
    if commits:
        lines.append("- git commits: " + ", ".join(
            f"`{k}` ({n} records{f', {d} dirty' if d else ''})"
            for k, (n, d) in sorted(commits.items())))
    for name, counter in (("machines", machines), ("python", pythons), ("torch", torches)):
        if counter:
            lines.append(f"- {name}: " + "; ".join(
                f"{_escape(k)} ({v})" if name != "machines" else f"{_escape(k)} ({v} records)"
                for k, v in sorted(counter.items())))
    if backends:
        lines.append("- backend versions: " + ", ".join(_escape(b) for b in sorted(backends)))
    if times:
        lines.append(f"- time range (UTC): {min(times)} to {max(times)}")
    return "\n".join(lines)


def render_markdown(records: Iterable[dict[str, Any]], *, extra_sections: Sequence[str] = ()) -> str:
    """The whole ``leaderboard.md``: leaderboard, ``extra_sections`` (markdown blocks placed after
    the leaderboard, e.g. the energy tables of :mod:`reports.energy`, which
    :func:`reports.write_reports` passes), pairwise comparisons, ranking across datasets,
    per-lighting tables, failed cells, provenance.

    Deterministic: the same records give the same text (no clock, sorted rows, seeded
    bootstrap).
    """
    records = list(records)
    return "\n".join([
        "# NeuroFER-Bench leaderboard",
        "",
        "Generated from the run's result records by `reports.leaderboard`; do not edit by hand.",
        "Values are mean ± std over the cells (folds x seeds) of a row: std is the sample",
        "standard deviation (ddof = 1) of the per-cell values, omitted for a single cell; n is",
        "the number of cells, and `(n=k)` marks a value that only k of them have.",
        "95% CI: for n >= 2 cells the Student-t interval of the mean over cells; for a single",
        "cell the percentile bootstrap (2,000 resamples, seed 0) from the per-sample predictions",
        "in the record: over its test subjects (whole subjects resampled with their sequences,",
        "which are not independent) when the predictions name them, else over its test samples",
        "(— when the record has no predictions).",
        "WAR = accuracy; UAR = mean recall over the classes present in the test set.",
        "spikes/sample counts the spikes of spiking models; a non-spiking model (ANN) has none,",
        "and its non-zero activations per sample are under activations/sample.",
        "Energy is an estimate from operation counts (see `energy_model` in the records), not a",
        "measurement; latency is batch-1. Published rows are scored from released predictions",
        "(no latency or energy).",
        "",
        "## Leaderboard",
        "",
        leaderboard_table(records),
        "",
        *(["## Models", "", "Native models (registered with `backends.register_model`): each ran "
           "in its own framework, measured by forward hooks.", "", models_table(records), ""]
          if native_models(records) else []),
        *[block for sec in extra_sections for block in (sec, "")],
        "## Pairwise comparisons (WAR)",
        "",
        "Rows of one dataset column compared on the cells they share (same fold and seed).",
        "Test: Wilcoxon signed-rank over cells (two-sided; effect size: mean paired difference",
        "with its t-interval, matched-pairs rank-biserial r) when there are >= 6 pairs; with",
        "fewer, when the records store per-sample predictions on the same test samples: the",
        "exact sign-flip test over subjects (per subject d = b - c, its discordant samples;",
        "all 2^K sign patterns of the K subjects) when the predictions name the subjects, else",
        "the exact McNemar test (binomial test on the discordant samples b, c); effect: accuracy",
        "difference (b - c) / N with its paired bootstrap interval (over subjects, or samples);",
        "otherwise no test. p-values are",
        "Holm-corrected over the pairs of each dataset column; significant = Holm p <= 0.05;",
        "the paired t-test over the same cells is shown alongside (uncorrected).",
        "",
        comparisons_table(records),
        "",
        "## Ranking across datasets",
        "",
        "Average rank of each model by its mean WAR on every dataset column (1 = best), with the",
        "Friedman test and the Nemenyi critical difference (Demsar, JMLR 7, 2006).",
        "",
        ranking_table(records),
        "",
        "## Per-lighting accuracy",
        "",
        lighting_table(records),
        "",
        "## Failed cells",
        "",
        failed_cells_table(records),
        "",
        "## Provenance",
        "",
        provenance_summary(records),
        "",
    ])


# --------------------------------------------------------------------------------------------
# merging run folders (several machines -> one leaderboard)
# --------------------------------------------------------------------------------------------

MERGE_POLICIES = ("refuse", "first", "latest")
"""What :func:`merge_runs` does with a cell recorded (status ok) in several run folders with
different metrics: ``"refuse"`` (default) raises :class:`MergeConflictError`; ``"first"`` keeps
the record of the first folder in the order given; ``"latest"`` keeps the record with the latest
``provenance.utc_time`` (ties: the later folder)."""


class MergeConflictError(InputError, ValueError):
    """A cell recorded in several run folders whose records disagree, under the ``"refuse"``
    policy; the message names the cell, the folders and the metrics that differ."""


def _canonical(x: Any) -> str:
    return json.dumps(x, sort_keys=True, allow_nan=True, default=str)


def merge_runs_with_sources(run_dirs: Sequence[str | os.PathLike[str]],
                            merge_policy: str = "refuse") -> list[tuple[Path, dict[str, Any]]]:
    """:func:`merge_runs`, each record with the run folder it was taken from."""
    if merge_policy not in MERGE_POLICIES:
        raise ValueError(f"merge_policy: expected one of {MERGE_POLICIES}, got {merge_policy!r}")
    if not run_dirs:
        raise ValueError("merge_runs: expected at least one run folder")
    chosen: dict[str, tuple[Path, dict[str, Any]]] = {}
    order: list[str] = []
    others: list[tuple[Path, dict[str, Any]]] = []
    seen_other: set[str] = set()
    conflicts: list[str] = []
    for d in run_dirs:
        run = Path(d)
        # strict: a record that breaks the schema (or is of a newer version) refuses the merge
        records = read_records(run, strict=True)
        for rec in ok_records(records):  # one ok record per cell within a folder
            cid = str(rec.get("cell_id"))
            if cid not in chosen:
                chosen[cid] = (run, rec)
                order.append(cid)
                continue
            prev_run, prev = chosen[cid]
            if _canonical(prev.get("metrics")) == _canonical(rec.get("metrics")):
                log.info("cell %s in %s and %s: records agree; keeping the first", cid, prev_run,
                         run)
                continue
            diff = sorted(k for k in set(prev.get("metrics") or {}) | set(rec.get("metrics") or {})
                          if _canonical((prev.get("metrics") or {}).get(k))
                          != _canonical((rec.get("metrics") or {}).get(k)))
            if merge_policy == "refuse":
                conflicts.append(f"cell {cid} in {prev_run} and {run}: metrics differ "
                                 f"({', '.join(diff[:6])}{', ...' if len(diff) > 6 else ''})")
            elif merge_policy == "latest":
                t_prev = str((prev.get("provenance") or {}).get("utc_time") or "")
                t_new = str((rec.get("provenance") or {}).get("utc_time") or "")
                if t_new >= t_prev:
                    chosen[cid] = (run, rec)
                log.warning("cell %s in %s and %s disagree; keeping the latest (%s)", cid,
                            prev_run, run, chosen[cid][0])
            else:
                log.warning("cell %s in %s and %s disagree; keeping the first (%s)", cid,
                            prev_run, run, prev_run)
        for rec in error_records(records):
            key = _canonical(rec)
            if key not in seen_other:
                seen_other.add(key)
                others.append((run, rec))
    if conflicts:
        raise MergeConflictError(
            f"{len(conflicts)} cell(s) recorded in several run folders with different metrics "
            f"(merge policy 'refuse'; use 'first' or 'latest' to keep one): "
            + "; ".join(conflicts[:10]) + (" ..." if len(conflicts) > 10 else ""))
    return [chosen[c] for c in order] + others


def merge_runs(run_dirs: Sequence[str | os.PathLike[str]], merge_policy: str = "refuse"
               ) -> list[dict[str, Any]]:
    """The records of several run folders (e.g. from several machines) as one list.

    Every folder is read strictly (:func:`benchmarks.results.records.read_records` with ``strict``): a
    record that breaks the schema, or is of a newer schema version, refuses the merge with a
    :class:`benchmarks.results.records.RecordSchemaError` naming the file and line (older versions are
    migrated). Within a folder a cell keeps its last ok record. A cell with ok records in
    several folders is kept once when the records agree (equal ``metrics``); otherwise
    ``merge_policy`` decides (:data:`MERGE_POLICIES`). Records that are not ok are all kept
    (exact duplicates once) for the failed-cells table.

    Args:
        run_dirs: run folders (or ``results.jsonl`` files), in priority order.
        merge_policy: ``"refuse"``, ``"first"`` or ``"latest"``.

    Returns:
        The merged records: ok records in first-seen order, then the others.

    Raises:
        ValueError: an unknown policy or no folder.
        FileNotFoundError: a folder without ``results.jsonl``.
        RecordSchemaError: a record of an incompatible schema (see above).
        MergeConflictError: disagreeing records under ``"refuse"``.
    """
    return [rec for _, rec in merge_runs_with_sources(run_dirs, merge_policy)]
