"""The site's tables: the rows of each task version over the shown bundles, their statistics,
verification, and the machine-readable forms (``leaderboard.json``, one CSV per task version).

A *row* is one model (:func:`reports.grouping.row_label`: backend / arch, a native model's
card, or a published method) of one submission on one task version. Its values are those of the
local leaderboard (:func:`reports.leaderboard.leaderboard_entries`): the mean over its cells
(folds x seeds), ``± std`` (ddof = 1) and the 95% interval of :func:`reports.stats.group_interval`
(Student t over the cells for n >= 2; for one cell the percentile bootstrap over its test subjects
or samples). Each row also says how many seeds and folds stand behind it; a row with one seed is
marked *single seed*: its interval says nothing about the variance of training.

Rows of two task versions never share a table or a test: :func:`task_tables` groups the records
by task id and version first. Robustness records (a checkpoint evaluated under corruptions) are
not rows of the clean task.

Verification of a row (:func:`row_verdict`), the policy stated in ``docs/guides/site.md``:
``verified`` when the verifier replayed every cell of the row and it has at least
:data:`MIN_VERIFIED_SEEDS` seeds; ``consistent`` when every cell is verified or consistent;
``not verified`` otherwise (no ``verification.json``, or cells it does not list).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.results.tasks import UNKNOWN_VERSION, task_for_record
from reports import leaderboard as L
from reports import stats as S
from reports.site.bundles import NOT_VERIFIED, Bundle, SiteError

__all__ = ["MIN_VERIFIED_SEEDS", "LEADERBOARD_SCHEMA", "LEADERBOARD_SCHEMA_VERSION", "Row",
           "TaskTable", "task_tables", "row_verdict", "leaderboard_json", "task_csv", "slug",
           "task_key"]

MIN_VERIFIED_SEEDS = 3
"""Seeds a row needs for the ``verified`` badge (replayed and at least 3 seeds; docs/guides/site.md)."""
LEADERBOARD_SCHEMA = "neurofer-leaderboard"
LEADERBOARD_SCHEMA_VERSION = 1
ROW_KINDS = ("trained", "published")
"""Record kinds that are rows of a task (robustness records are not)."""


def task_key(rec: dict[str, Any]) -> tuple[str, str]:
    """``(task id, version)`` of a record (:func:`benchmarks.results.tasks.task_for_record`):
    what its rows are grouped by."""
    t = task_for_record(rec) or {"id": "no task"}
    return str(t["id"]), str(t.get("version") or UNKNOWN_VERSION)


def slug(*parts: str) -> str:
    """A file-name-safe, readable and collision-free name for ``parts``: their letters, digits,
    dots and dashes (others as ``-``, at most 60 characters) and 8 hex digits of the sha256 of
    the parts."""
    text = "--".join(parts)
    readable = re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")[:60]
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class Row:
    """One row of a task version's table.

    Attributes:
        model: the model's name (:func:`reports.grouping.row_label`).
        name: ``"<model> · <submission title>"``, unique in its table (the comparisons use it).
        bundle: the submission.
        group: the row's records (:class:`reports.grouping.Group`).
        entries: :func:`reports.leaderboard.leaderboard_entries` of ``group``.
        n_seeds, n_folds: distinct ``cell.seed`` / ``cell.fold`` values of its cells.
        interval_over: what the WAR interval rests on: ``"cells (t)"``, ``"test subjects
            (bootstrap)"``, ``"test samples (bootstrap)"`` or ``""`` (no interval).
        verdict, verdict_note: :func:`row_verdict`.
    """

    model: str
    name: str
    bundle: Bundle
    group: L.Group
    entries: dict[str, L.Entry]
    n_seeds: int
    n_folds: int
    interval_over: str
    verdict: str
    verdict_note: str

    @property
    def single_seed(self) -> bool:
        """One seed behind the row: its interval says nothing about training variance."""
        return self.n_seeds == 1

    @property
    def kind(self) -> str:
        """``"trained"`` or ``"published"``."""
        return self.group.kind


@dataclass(frozen=True)
class TaskTable:
    """The rows of one task version and their pairwise WAR comparisons (Holm-corrected over the
    pairs of this table only)."""

    id: str
    version: str
    rows: tuple[Row, ...]
    comparisons: tuple[S.Comparison, ...]

    @property
    def label(self) -> str:
        """``"<id> v<version>"``, or ``"<id> (unknown version)"``."""
        return (f"{self.id} (unknown version)" if self.version == UNKNOWN_VERSION
                else f"{self.id} v{self.version}")

    @property
    def page(self) -> str:
        """The file name of the task version's page."""
        return f"task-{slug(self.id, self.version)}.html"

    @property
    def csv_name(self) -> str:
        """The file name of the task version's CSV."""
        return f"task-{slug(self.id, self.version)}.csv"

    @property
    def records(self) -> list[dict[str, Any]]:
        """The records of all rows."""
        return [r for row in self.rows for r in row.group.records]


def row_verdict(bundle: Bundle, records: Sequence[dict[str, Any]], n_seeds: int
                ) -> tuple[str, str]:
    """The verification shown for a row (see the module docstring) and a note saying why."""
    verdicts = [bundle.record_verdicts.get(str(r.get("cell_id")), NOT_VERIFIED) for r in records]
    if bundle.verdict == NOT_VERIFIED or NOT_VERIFIED in verdicts:
        return NOT_VERIFIED, bundle.verification_note or "cells the verifier did not list"
    if all(v == "verified" for v in verdicts):
        if n_seeds >= MIN_VERIFIED_SEEDS:
            return "verified", f"replayed, {n_seeds} seeds"
        return "consistent", (f"replayed, but {n_seeds} seed(s) < {MIN_VERIFIED_SEEDS}")
    return "consistent", "checked without replay (see the submission's verification)"


def _interval_over(records: Sequence[dict[str, Any]]) -> str:
    iv = S.group_interval(records, "war")
    if iv is None:
        return ""
    if iv.method == "t":
        return f"cells (t, n={iv.n})"
    return "test subjects (bootstrap)" if iv.method == "cluster bootstrap" else \
        "test samples (bootstrap)"


def _canonical(rec: dict[str, Any]) -> str:
    return json.dumps([rec.get("metrics"), rec.get("predictions")], sort_keys=True, default=str)


def _check_claims(bundles: Sequence[Bundle]) -> None:
    seen: dict[tuple[str, tuple[str, str]], tuple[Bundle, str]] = {}
    for b in bundles:
        for r in b.records:
            key = (str(r.get("cell_id")), task_key(r))
            if key in seen and seen[key][1] != _canonical(r):
                raise SiteError(f"{b.path}: results.jsonl: record {key[0]} is also claimed by "
                                f"bundle {seen[key][0].path} with different results")
            seen.setdefault(key, (b, _canonical(r)))


def task_tables(bundles: Sequence[Bundle]) -> list[TaskTable]:
    """The tables of the shown ``bundles``, one per task id and version (sorted).

    Raises:
        SiteError: two bundles holding the same cell of one task version with different metrics
            or predictions (the message names both).
    """
    _check_claims(bundles)
    by_task: dict[tuple[str, str], dict[tuple[str, Any], list[dict[str, Any]]]] = {}
    owner = {b.id: b for b in bundles}
    for b in bundles:
        for r in b.records:
            if r.get("kind") in ROW_KINDS:
                rows = by_task.setdefault(task_key(r), {})
                rows.setdefault((b.id, L.row_key(r)), []).append(r)
    tables = []
    for (tid, version), groups in sorted(by_task.items()):
        rows = []
        for (bid, _), recs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            recs = sorted(recs, key=lambda r: str(r.get("cell_id", "")))
            b = owner[bid]
            model = L.row_label(recs[0])
            kind = "published" if recs[0].get("kind") == "published" else "trained"
            group = L.Group(row=model, dataset=f"{tid} {version}", kind=kind, records=tuple(recs))
            cells = [r.get("cell") or {} for r in recs]
            n_seeds = len({json.dumps(c.get("seed")) for c in cells})
            n_folds = len({json.dumps(c.get("fold")) for c in cells})
            verdict, note = row_verdict(b, recs, n_seeds)
            rows.append(Row(model, f"{model} · {b.title}", b, group, L.leaderboard_entries(group),
                            n_seeds, n_folds, _interval_over(recs), verdict, note))
        comps = [S.compare_rows(a.name, list(a.group.records), c.name, list(c.group.records), "war")
                 for i, a in enumerate(rows) for c in rows[i + 1:]]
        tables.append(TaskTable(tid, version, tuple(rows), tuple(S.holm_table(comps))))
    return tables


# --------------------------------------------------------------------------------------------
# machine-readable forms
# --------------------------------------------------------------------------------------------

_CI_COLUMNS = [c for c in L.LEADERBOARD_COLUMNS if c.ci]


def _row_values(row: Row) -> dict[str, Any]:
    """Per metric column: mean and std over the cells (display units, e.g. % for WAR), the
    interval bounds for the columns with one, and the cells that have the value."""
    out: dict[str, Any] = {}
    for c in L.LEADERBOARD_COLUMNS:
        values = [v * c.scale for v in row.group.values(c.key)]
        mean = statistics.fmean(values) if values else None
        std = statistics.stdev(values) if len(values) >= 2 else None  # ddof = 1
        entry: dict[str, Any] = {"header": c.header, "mean": mean, "std": std, "n": len(values)}
        if c.ci:
            iv = S.group_interval(list(row.group.records), c.key)
            entry["ci_low"] = None if iv is None else iv.low * c.scale
            entry["ci_high"] = None if iv is None else iv.high * c.scale
            entry["ci_method"] = None if iv is None else iv.method
        out[c.key] = entry
    return out


def _row_json(row: Row, model_page: str) -> dict[str, Any]:
    return {"model": row.model, "kind": row.kind, "submission": row.bundle.title,
            "bundle_id": row.bundle.id, "submission_page": f"submission-{row.bundle.id}.html",
            "model_page": model_page, "n_cells": len(row.group.records), "n_seeds": row.n_seeds,
            "n_folds": row.n_folds, "single_seed": row.single_seed,
            "interval_over": row.interval_over, "verification": row.verdict,
            "verification_note": row.verdict_note,
            "cell_ids": [str(r.get("cell_id")) for r in row.group.records],
            "metrics": _row_values(row)}


def _comparison_json(c: S.Comparison) -> dict[str, Any]:
    return {"row_a": c.row_a, "row_b": c.row_b, "metric": c.key, "n_pairs": c.n, "test": c.test,
            "diff": c.diff, "diff_ci": None if c.diff_ci is None else [c.diff_ci.low,
                                                                       c.diff_ci.high],
            "p": c.p, "p_holm": c.p_holm, "significant": c.significant() if c.p is not None
            else None, "reason": c.reason}


def leaderboard_json(tables: Sequence[TaskTable], hidden: Sequence[Bundle],
                     hidden_why: dict[str, str], model_pages: dict[str, str]) -> str:
    """``leaderboard.json`` (schema :data:`LEADERBOARD_SCHEMA`, version
    :data:`LEADERBOARD_SCHEMA_VERSION`; documented in ``docs/guides/site.md``): sorted keys,
    indent 1, no timestamp, so the same bundles give the same bytes.

    ``{"schema", "version", "tasks": [{"id", "version", "label", "page", "csv", "rows": [...],
    "comparisons": [...]}], "hidden_bundles": [{"bundle_id", "title", "why"}]}``; each row as
    :func:`_row_json`, metric values in display units (WAR and UAR in %).
    """
    doc = {
        "schema": LEADERBOARD_SCHEMA, "version": LEADERBOARD_SCHEMA_VERSION,
        "tasks": [{"id": t.id, "version": t.version, "label": t.label, "page": t.page,
                   "csv": t.csv_name,
                   "rows": [_row_json(r, model_pages[r.model]) for r in t.rows],
                   "comparisons": [_comparison_json(c) for c in t.comparisons]}
                  for t in tables],
        "hidden_bundles": [{"bundle_id": b.id, "title": b.title, "why": hidden_why[b.id]}
                           for b in hidden],
    }
    return json.dumps(doc, sort_keys=True, indent=1, allow_nan=False) + "\n"


CSV_FIXED = ["model", "kind", "submission", "bundle_id", "n_cells", "n_seeds", "n_folds",
             "single_seed", "interval_over", "verification"]
"""The first columns of a task version's CSV; then per metric column ``<key>_mean``,
``<key>_std`` (and ``<key>_ci_low``, ``<key>_ci_high`` where it has an interval), in the units
of the leaderboard's headers (WAR and UAR in %)."""


def task_csv(table: TaskTable) -> str:
    """One task version's rows as CSV (:data:`CSV_FIXED`, then the metric columns)."""
    metric_cols = []
    for c in L.LEADERBOARD_COLUMNS:
        metric_cols += [f"{c.key}_mean", f"{c.key}_std"]
        if c.ci:
            metric_cols += [f"{c.key}_ci_low", f"{c.key}_ci_high"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIXED + metric_cols)
    for row in table.rows:
        vals = _row_values(row)
        line = [row.model, row.kind, row.bundle.title, row.bundle.id, len(row.group.records),
                row.n_seeds, row.n_folds, row.single_seed, row.interval_over, row.verdict]
        for c in L.LEADERBOARD_COLUMNS:
            e = vals[c.key]
            line += [_num(e["mean"]), _num(e["std"])]
            if c.ci:
                line += [_num(e["ci_low"]), _num(e["ci_high"])]
        w.writerow(line)
    return buf.getvalue()


def _num(x: float | None) -> str:
    return "" if x is None else repr(float(x))
