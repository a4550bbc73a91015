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

Several run folders (from several machines) merge into one leaderboard with
:func:`reports.merge.merge_runs` (schema-incompatible records refused; a cell recorded twice
refused unless the records agree, or kept by an explicit policy).

Where each part is: the record accessors and groups in :mod:`reports.grouping`, number and table
formatting in :mod:`reports.formatting`, the pairwise comparisons and the ranking in
:mod:`reports.comparison_tables`, merging in :mod:`reports.merge`; this module holds the
leaderboard's own tables and the page (:func:`render_markdown`) and re-exports the names of
those modules that callers import from it.

Rendering is deterministic: rows and columns are sorted, floats are formatted with fixed rules,
the bootstrap is seeded and no clock is read, so the same records give the same bytes of
``leaderboard.md``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reports import stats as S
from reports.comparison_tables import (
    COMPARISON_HEADERS,
    Ranking,
    comparison_cells,
    comparisons,
    comparisons_table,
    ranking,
    ranking_table,
    significance_line,
)
from reports.formatting import MISSING, Column, _escape, _table, ci_header, format_mean_std
from reports.grouping import (
    Group,
    _cell,
    _metrics,
    by_dataset,
    dataset_label,
    error_records,
    group_records,
    is_spiking_record,
    lighting_conditions,
    lighting_values,
    metric_value,
    native_models,
    ok_records,
    row_key,
    row_label,
)
from reports.merge import MERGE_POLICIES, MergeConflictError, merge_runs, merge_runs_with_sources

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
    "COMPARISON_HEADERS",
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
        ``mean ± std`` text (:func:`~reports.formatting.format_mean_std`) with the mean as sort value, and the 95%
        interval (:func:`reports.stats.group_interval`) as ``"[low, high]"`` in % with its low
        bound as sort value (``"—"`` when there is none).
    """
    n = len(group.records)
    out = {"n": Entry(str(n), float(n)), "seeds_folds": seeds_and_folds(group)}
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


SINGLE_SEED = "single seed"
"""The mark of a row trained with one seed: its interval is over test samples or subjects and
says nothing about training variance."""


def seeds_and_folds(group: Group) -> Entry:
    """How many seeds and folds stand behind a row: ``"<seeds> x <folds>"`` (distinct seeds and
    folds of its trained cells), with :data:`SINGLE_SEED` appended for one seed; ``"—"`` for a
    published row (its cells are not the suite's)."""
    cells = [_cell(r) for r in group.records if r.get("kind", "trained") == "trained"]
    if not cells:
        return Entry(MISSING)
    seeds = len({c.get("seed") for c in cells})
    folds = len({c.get("fold") for c in cells})
    text = f"{seeds} x {folds}" + (f", {SINGLE_SEED}" if seeds == 1 else "")
    return Entry(text, float(seeds))


def leaderboard_headers() -> list[tuple[str, str]]:
    """``(entry key, header)`` of the leaderboard's value columns, in order (after ``model``
    and ``source``)."""
    out = [("n", "n"), ("seeds_folds", "seeds x folds")]
    for c in LEADERBOARD_COLUMNS:
        out.append((c.key, c.header))
        if c.ci:
            out.append((f"{c.key}_ci", ci_header(c)))
    return out


def leaderboard_table(records: Iterable[dict[str, Any]]) -> str:
    """The leaderboard: one markdown table (tabulate, GitHub format) per dataset column.

    Each dataset column ``"<dataset> (<protocol>)"`` is a ``###`` heading followed by its table:
    one row per (backend, arch) of the trained cells with cells there, then one per published
    method; columns ``model``, ``source``, ``n`` (cells), seeds x folds (:func:`seeds_and_folds`:
    a row with one seed is marked "single seed"), WAR % and its 95% CI, UAR % and its
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


def models_table(records: Iterable[dict[str, Any]]) -> str:
    """Markdown table of the native models (:func:`~reports.grouping.native_models`): name, framework and version,
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
