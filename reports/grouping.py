"""Result records -> leaderboard rows and dataset columns: the accessors every report reads a
record through (its status, row, dataset column, metric values, model card) and the groups of
ok records per (row, dataset column) that the tables and figures average over.

A row is ``(backend, arch)`` for trained cells, the display name ``method`` for published rows;
a dataset column is the record's task and version (:mod:`benchmarks.results.tasks`), so that
different protocols, label sets or task versions are never pooled (the module docstring of
:mod:`reports.leaderboard` says how the groups are shown).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

__all__ = [
    "LIGHTING_ORDER",
    "Group",
    "ok_records",
    "error_records",
    "row_key",
    "row_label",
    "native_models",
    "dataset_label",
    "is_spiking_record",
    "metric_value",
    "group_records",
    "by_dataset",
    "lighting_conditions",
    "lighting_values",
]

LIGHTING_ORDER = ("normal", "overexposure", "low_light", "hdr")
"""Display order of SEE's lighting conditions; any other condition follows, sorted by name."""


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


def by_dataset(groups: Iterable[Group]) -> dict[str, list[Group]]:
    """Groups by dataset column (sorted), each list in row order."""
    out: dict[str, list[Group]] = {}
    for g in groups:
        out.setdefault(g.dataset, []).append(g)
    return dict(sorted(out.items()))


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
