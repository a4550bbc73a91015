"""Leaderboard: result records -> markdown tables (pure functions; reads only the records).

A *record* is one JSON object per line of ``RUN_DIR/results.jsonl``, in the schema of
:mod:`benchmarks.records` (read with :func:`benchmarks.records.read_records`, which validates and
migrates them). This module never imports the runner, the backends or the datasets: what a report
shows is what the records say.

Aggregation: the records with ``status == "ok"`` are grouped by *row* and *dataset column*:

* row: ``(backend, arch)`` for trained cells (``kind == "trained"``), the display name ``method``
  for published rows (``kind == "published"``, scored from released predictions);
* dataset column: ``"<dataset> (<protocol>)"``, so that different protocols are never pooled.

Within a group every metric is shown as ``mean ± std`` over the cells (folds x seeds), where std is
the sample standard deviation (``ddof = 1``, pandas' default) of the per-cell values, omitted when
only one cell has the value; ``n`` is the number of cells. ``status == "error"`` records are never
averaged: they are listed in the failed-cells table.

Rendering is deterministic: rows and columns are sorted, floats are formatted with fixed rules,
and no clock is read, so the same records give the same bytes of ``leaderboard.md``.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tabulate import tabulate

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
    "group_records",
    "format_mean_std",
    "lighting_conditions",
    "lighting_values",
    "leaderboard_table",
    "lighting_table",
    "failed_cells_table",
    "provenance_summary",
    "render_markdown",
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
    """The records with ``status == "ok"``, one per ``cell_id`` (the last one in file order wins,
    with a warning, when a cell was recorded twice)."""
    by_id: dict[str, dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    for rec in records:
        if rec.get("status") != "ok":
            continue
        cid = rec.get("cell_id")
        if not isinstance(cid, str):
            anonymous.append(rec)
            continue
        if cid in by_id:
            log.warning("cell %s recorded twice with status ok; using the later record", cid)
        by_id[cid] = rec
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
    return (0, str(cell.get("backend", "?")), str(cell.get("arch", "?")))


def _trained_label(cell: dict[str, Any]) -> str:
    return f"{cell.get('backend', '?')} / {cell.get('arch', '?')}"


def row_label(rec: dict[str, Any]) -> str:
    """Display name of a record's row: ``"backend / arch"``, or the ``method`` of a published row
    (``"backend / arch (published)"`` when it has no method)."""
    if rec.get("kind") == "published":
        method = rec.get("method")
        return str(method) if method else f"{_trained_label(_cell(rec))} (published)"
    return _trained_label(_cell(rec))


def dataset_label(rec: dict[str, Any]) -> str:
    """Display name of a record's dataset column: ``"dataset (protocol)"``."""
    cell = _cell(rec)
    ds = str(cell.get("dataset", "?"))
    protocol = cell.get("protocol")
    return f"{ds} ({protocol})" if protocol else ds


def metric_value(rec: dict[str, Any], key: str) -> float | None:
    """The finite float ``rec["metrics"][key]``, or ``None`` when missing, null, NaN or not a
    number. ``"war"`` falls back to ``"accuracy"`` (they are the same metric)."""
    m = _metrics(rec)
    v = m.get(key)
    if v is None and key == "war":
        v = m.get("accuracy")
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
class _Column:
    key: str  # metric key in the record
    header: str  # with units
    scale: float = 1.0  # multiply values by this before display (fraction -> %)
    decimals: int | None = None  # fixed decimals; None: 3 significant digits of the mean
    static: bool = False  # expected equal across cells: show the value (or a min–max range)


LEADERBOARD_COLUMNS: tuple[_Column, ...] = (
    _Column("war", "WAR (%)", scale=100.0, decimals=1),
    _Column("uar", "UAR (%)", scale=100.0, decimals=1),
    _Column("energy_uj_per_inference", "energy (µJ/inf)"),
    _Column("latency_ms_p50", "latency p50 (ms)"),
    _Column("spikes_per_sample", "spikes/sample"),
    _Column("synops_per_sample", "SynOps/sample"),
    _Column("params", "params", decimals=0, static=True),
)
"""The leaderboard's metric columns, repeated for every dataset column."""


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


def _pivot(groups: list[Group]) -> tuple[list[tuple[str, str]], list[str], dict]:
    rows: list[tuple[str, str]] = []
    datasets = sorted({g.dataset for g in groups})
    cells: dict[tuple[str, str], Group] = {}
    for g in groups:
        if (g.row, g.kind) not in rows:
            rows.append((g.row, g.kind))
        cells[(g.row, g.dataset)] = g
    return rows, datasets, cells


def leaderboard_table(records: Iterable[dict[str, Any]]) -> str:
    """The leaderboard as a markdown table (tabulate, GitHub format).

    One row per (backend, arch) of the trained cells, then one per published method; for every
    dataset column ``"<dataset> (<protocol>)"``: ``n`` (cells), WAR %, UAR %, estimated energy
    (µJ per inference), batch-1 latency p50 (ms), spikes per sample, SynOps per sample,
    parameters; each ``mean ± std`` over the cells (see module docstring). Notes under the table
    flag rows that pool several training recipes or devices.

    Args:
        records: records as :func:`benchmarks.records.read_records` returns them (error records are ignored here).

    Returns:
        Markdown text (no trailing newline); a one-line note when there is no ok record.
    """
    groups = group_records(records)
    if not groups:
        return "_No successful cells._"
    rows, datasets, cells = _pivot(groups)
    headers = ["model", "source"]
    for ds in datasets:
        headers.append(f"{ds}: n")
        headers.extend(f"{ds}: {c.header}" for c in LEADERBOARD_COLUMNS)
    body: list[list[str]] = []
    for row, kind in rows:
        line = [_escape(row), kind]
        for ds in datasets:
            g = cells.get((row, ds))
            if g is None:
                line.extend([MISSING] * (1 + len(LEADERBOARD_COLUMNS)))
                continue
            n = len(g.records)
            line.append(str(n))
            for c in LEADERBOARD_COLUMNS:
                # a published row is one record: its std is over inference passes (``<key>_std``)
                std = metric_value(g.records[0], f"{c.key}_std") if n == 1 else None
                line.append(format_mean_std(g.values(c.key), scale=c.scale, decimals=c.decimals,
                                            static=c.static, n_expected=n, std=std))
        body.append(line)
    text = _table(headers, body)
    notes = _pooling_notes(groups)
    if notes:
        text += "\n\n" + "\n".join(f"- note: {n}" for n in notes)
    return text


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
    """Per-lighting accuracy (WAR) and UAR, in %, ``mean ± std`` over cells.

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
                    line.append(format_mean_std(lighting_values(g, key, c), scale=100.0,
                                                decimals=1, n_expected=n))
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


def render_markdown(records: Iterable[dict[str, Any]]) -> str:
    """The whole ``leaderboard.md``: leaderboard, per-lighting tables, failed cells, provenance.

    Deterministic: the same records give the same text (no clock, sorted rows).
    """
    records = list(records)
    return "\n".join([
        "# NeuroFER-Bench leaderboard",
        "",
        "Generated from the run's result records by `reports.leaderboard`; do not edit by hand.",
        "Values are mean ± std over the cells (folds x seeds) of a row: std is the sample",
        "standard deviation (ddof = 1) of the per-cell values, omitted for a single cell; n is",
        "the number of cells, and `(n=k)` marks a value that only k of them have.",
        "WAR = accuracy; UAR = mean recall over the classes present in the test set.",
        "Energy is an estimate from operation counts (see `energy_model` in the records), not a",
        "measurement; latency is batch-1. Published rows are scored from released predictions",
        "(no latency or energy).",
        "",
        "## Leaderboard",
        "",
        leaderboard_table(records),
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
