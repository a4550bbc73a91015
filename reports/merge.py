"""Several run folders (e.g. from several machines) merged into one list of records for one
leaderboard (:func:`merge_runs`): records of an incompatible schema refused, a cell recorded
twice kept once when its records agree, else refused or chosen by an explicit policy
(:data:`MERGE_POLICIES`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.results.records import read_records
from datasets.common import InputError
from reports.grouping import error_records, ok_records

log = logging.getLogger(__name__)

__all__ = ["MERGE_POLICIES", "MergeConflictError", "merge_runs", "merge_runs_with_sources"]

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
