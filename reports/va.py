"""Valence-arousal reports: a VA table per dataset and a scatter of predictions vs targets.

Pure functions of the records as :func:`benchmarks.results.records.read_records` returns them (dicts).
A record takes part when it is an ``"ok"`` trained record whose metrics hold the VA metrics of
:func:`benchmarks.measure.metrics.va_metrics` (``va_rmse_valence`` ...), i.e. a cell whose recipe's
``task`` is ``va_regression`` or ``multitask``.

* :func:`va_rows` / :func:`va_table_markdown`: one row per (dataset, protocol, backend,
  architecture, task, method), the mean ± sample std (``ddof = 1``, omitted for one cell) over
  its cells (folds x seeds) of RMSE, CCC, PCC and SAGR of valence and arousal; ``n`` cells.
* :func:`plot_va_scatter`: one panel per row group, the valence-arousal plane with each test
  sample's target (grey) joined to its prediction (colour); it needs the per-sample fields
  ``va_pred`` and ``va_target`` (``[valence, arousal]``) in each record's ``predictions``, and
  skips (logging why) groups without them.
* :func:`write_va_reports`: both, into a run folder (``va.md``, ``va_scatter.png``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from datasets.common import atomic_write_text

log = logging.getLogger(__name__)

VA_METRICS = ("rmse", "ccc", "pcc", "sagr")
VA_DIMS = ("valence", "arousal")
BETTER = {"rmse": "lower", "ccc": "higher", "pcc": "higher", "sagr": "higher"}
GROUP_KEYS = ("dataset", "protocol", "backend", "arch", "task", "method")


def _recipe(rec: dict[str, Any]) -> dict[str, Any]:
    return (rec.get("cell") or {}).get("recipe") or {}


def group_key(rec: dict[str, Any]) -> tuple[str, ...]:
    """``(dataset, protocol, backend, arch, task, method)`` of a record (records of version 0.1.0 have
    no task or method: ``classification`` / ``standard``)."""
    cell = rec.get("cell") or {}
    r = _recipe(rec)
    return (str(cell.get("dataset")), str(cell.get("protocol")), str(cell.get("backend")),
            str(cell.get("arch")), str(r.get("task", "classification")),
            str(r.get("method", "standard")))


def has_va(rec: dict[str, Any]) -> bool:
    """An ``"ok"`` trained record with VA metrics."""
    m = rec.get("metrics") or {}
    return (rec.get("status") == "ok" and rec.get("kind", "trained") == "trained"
            and all(f"va_{k}_{d}" in m for k in VA_METRICS for d in VA_DIMS))


def va_groups(records: Iterable[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """The VA records grouped by :func:`group_key`, keys sorted."""
    out: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for rec in records:
        if has_va(rec):
            out.setdefault(group_key(rec), []).append(rec)
    return dict(sorted(out.items()))


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else math.nan)


def va_rows(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per group: the :data:`GROUP_KEYS`, ``n`` (cells) and for each metric and
    dimension ``<metric>_<dim>_mean`` / ``_std`` (NaN std for one cell)."""
    rows = []
    for key, recs in va_groups(records).items():
        row: dict[str, Any] = dict(zip(GROUP_KEYS, key, strict=True))
        row["n"] = len(recs)
        for k in VA_METRICS:
            for d in VA_DIMS:
                mean, std = _mean_std([r["metrics"][f"va_{k}_{d}"] for r in recs])
                row[f"{k}_{d}_mean"], row[f"{k}_{d}_std"] = mean, std
        rows.append(row)
    return rows


def _fmt(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "—"
    return f"{mean:.3f}" if not math.isfinite(std) else f"{mean:.3f} ± {std:.3f}"


def va_table_markdown(records: Iterable[dict[str, Any]]) -> str:
    """The VA tables, one per dataset and protocol, as GitHub markdown (``""`` without VA
    records). Columns: backend, arch, task, method, n, then RMSE (lower is better), CCC, PCC,
    SAGR (higher is better) of valence (V) and arousal (A); each value mean ± std over cells."""
    from tabulate import tabulate

    rows = va_rows(records)
    if not rows:
        return ""
    parts = ["# Valence-arousal regression", "",
             "Mean ± sample std over cells (folds x seeds); RMSE lower is better, CCC, PCC and "
             "SAGR higher. Every metric over the whole test set; moments normalised by N "
             "(ddof = 0; `benchmarks.measure.metrics`).", ""]
    headers = ["backend", "arch", "task", "method", "n"] + [
        f"{k.upper()} {d[0].upper()}" for k in VA_METRICS for d in VA_DIMS]
    for ds_proto in sorted({(r["dataset"], r["protocol"]) for r in rows}):
        parts += [f"## {ds_proto[0]} ({ds_proto[1]})", ""]
        body = []
        for r in rows:
            if (r["dataset"], r["protocol"]) != ds_proto:
                continue
            body.append([r["backend"], r["arch"], r["task"], r["method"], r["n"]] + [
                _fmt(r[f"{k}_{d}_mean"], r[f"{k}_{d}_std"]) for k in VA_METRICS for d in VA_DIMS])
        parts += [tabulate(body, headers=headers, tablefmt="github"), ""]
    return "\n".join(parts)


def scatter_points(recs: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray] | None:
    """``(pred (N, 2), target (N, 2))`` of the per-sample VA predictions of ``recs`` (all cells
    of a group together), or ``None`` when a record has no ``va_pred`` / ``va_target``."""
    preds, targets = [], []
    for rec in recs:
        samples = rec.get("predictions") or []
        if not samples or not all("va_pred" in s and "va_target" in s for s in samples):
            return None
        preds += [s["va_pred"] for s in samples]
        targets += [s["va_target"] for s in samples]
    return np.asarray(preds, dtype=np.float64), np.asarray(targets, dtype=np.float64)


def plot_va_scatter(records: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path | None:
    """Valence-arousal scatter of predictions vs targets, one panel per group (see the module
    docstring); ``None`` (nothing written) when no group has per-sample VA predictions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for key, recs in va_groups(records).items():
        pts = scatter_points(recs)
        if pts is None:
            log.info("va scatter: %s has no per-sample va_pred/va_target; skipped", "/".join(key))
            continue
        panels.append((key, recs, pts))
    if not panels:
        return None
    cols = min(3, len(panels))
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 4.2 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (key, recs, (pred, target)) in zip(axes.flat, panels, strict=False):
        ax.plot(np.stack([target[:, 0], pred[:, 0]]), np.stack([target[:, 1], pred[:, 1]]),
                color="0.8", lw=0.5, zorder=1)
        ax.scatter(target[:, 0], target[:, 1], s=9, color="0.55", label="target", zorder=2)
        ax.scatter(pred[:, 0], pred[:, 1], s=9, color="tab:red", label="prediction", zorder=3)
        ccc = [_mean_std([r["metrics"][f"va_ccc_{d}"] for r in recs])[0] for d in VA_DIMS]
        ax.set_title(f"{key[0]}: {key[2]}/{key[3]} {key[5]}\nCCC V {ccc[0]:.2f}, A {ccc[1]:.2f} "
                     f"(n={len(recs)})", fontsize=9)
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0, color="0.85", lw=0.6, zorder=0)
        ax.axvline(0, color="0.85", lw=0.6, zorder=0)
        ax.set_xlabel("valence")
        ax.set_ylabel("arousal")
        ax.set_aspect("equal")
    axes.flat[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_va_reports(records: Sequence[dict[str, Any]], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``va.md`` (:func:`va_table_markdown`) and ``va_scatter.png``
    (:func:`plot_va_scatter`) into ``out_dir``; returns the files written (none without VA
    records)."""
    out = Path(out_dir)
    written: list[Path] = []
    text = va_table_markdown(records)
    if text:
        written.append(atomic_write_text(out / "va.md", text))
    fig = plot_va_scatter(records, out / "va_scatter.png")
    if fig is not None:
        written.append(fig)
    return written
