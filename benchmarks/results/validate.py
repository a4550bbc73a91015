"""Check a run folder the way MLPerf's submission checker checks a submission.

A run folder (``RUN_DIR/results.jsonl`` plus ``RUN_DIR/checkpoints/``) is a contract:
:func:`validate_run` reads every line and reports **every** failure it finds (not only the
first), each as one line naming the file, line, cell and field:

* **schema and version**: every line is a JSON object that :meth:`benchmarks.results.records.Record.from_dict`
  accepts (the strict reading of :func:`benchmarks.results.records.read_records`), written with the
  current :data:`benchmarks.results.records.SCHEMA_VERSION` (an older record is migrated by the reports,
  but it lacks what this checker needs, e.g. ``provenance.code_version``);
* **provenance**: the keys of :data:`benchmarks.results.checks.trained.REQUIRED_PROVENANCE`
  (commit, dirty flag, code version, time, versions, machine); a published record names its
  source files with their digests;
* **the cell**: ``cell_id`` is the id of the stored cell spec (:class:`benchmarks.results.spec.Cell`);
* **the task**: ``task.id`` is a known task and the one the cell names, ``task.version`` a declared
  version that the stored digests resolve to (:func:`benchmarks.results.tasks.resolve`; digests
  that match none read ``"unknown version"``), and the ids/labels digest recomputed from the
  ``predictions`` equals the stored one (robustness records, which may hold a subset, excepted);
* **recomputed metrics**: accuracy, WAR, UAR, per-class recall, confusion matrix, accuracy per
  time step and per-lighting accuracy / UAR are recomputed from the per-sample ``predictions``
  with :mod:`benchmarks.measure.metrics` and must equal the stored values within rounding
  (:data:`benchmarks.results.checks.common.REL_TOL`); ``pred`` must be an argmax of the stored
  ``logits``; ``n_test`` must be the number of predictions; a trained record without
  predictions is a failure (its metrics cannot be checked);
* **energy**: ``energy_uj_per_inference`` equals :func:`benchmarks.measure.energy.horowitz.estimate_energy` of
  the stored operation counts under the stored ``energy_node``, and the stored per-operation
  energies and model name are those of :data:`benchmarks.measure.energy.horowitz.ENERGY_PER_OP_PJ`;
  ``synops_per_sample`` is ``effective_acs + effective_macs``; where the further energy models
  are recorded (``energy_uj_per_inference__<model>``), the default model's named copy equals the
  default, each breakdown sums to its model's total and no spike-driven part exceeds it (the
  memory-aware models need per-layer activity that records do not keep, so their totals are
  checked for consistency, not recomputed);
* **timing**: ``latency_ms_p50``, ``latency_ms_p95`` (>= p50) and ``throughput_samples_per_s``
  present, finite and positive;
* **the folder**: no cell recorded twice with status ok, no failed or skipped cell without a
  later ok record (a robustness cell skipped because its corruption cannot apply to the
  dataset's data is not a problem: the record gives the reason), every referenced
  checkpoint present (a non-empty file inside the folder), and every cell of the folder's plan
  (:mod:`benchmarks.results.plan`, written by the commands before any cell runs) recorded: a
  planned cell without a record is a hole (a killed or lost worker). A folder without a plan
  has nothing to compare.

:func:`validate_record` dispatches a record to the checks of its kind, one module each in
:mod:`benchmarks.results.checks` (trained and published, robustness, deployment, the task);
:func:`validate_run` checks the folder around them (duplicates, failed cells, the plan).
:func:`sample_predictions` builds the ``predictions`` field in the cell. Command line:
``run_bench.py validate RUN_DIR [RUN_DIR ...]`` prints the problems and exits 1 when
there is any.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results.checks.common import ABS_TOL, REL_TOL
from benchmarks.results.checks.deployment import DEPLOYMENT_METRICS, _check_deployment
from benchmarks.results.checks.robustness import ROBUSTNESS_METRICS, _check_robustness
from benchmarks.results.checks.task import _check_task
from benchmarks.results.checks.trained import (
    CLASS_METRICS,
    REQUIRED_METRICS,
    REQUIRED_PROVENANCE,
    VA_ABS_TOL,
    _check_cell_id,
    _check_checkpoint,
    _check_metrics,
    _check_provenance,
)
from benchmarks.results.plan import PLANS_DIR, PlanError, has_plan, planned_cell_ids
from benchmarks.results.records import RESULTS_FILE, SCHEMA_VERSION, Record, RecordSchemaError

log = logging.getLogger(__name__)

__all__ = ["REQUIRED_PROVENANCE", "REQUIRED_METRICS", "REL_TOL", "sample_predictions",
           "validate_record", "validate_run",
           # the checks' constants, importable from here as from their modules
           "ABS_TOL", "CLASS_METRICS", "DEPLOYMENT_METRICS", "ROBUSTNESS_METRICS", "VA_ABS_TOL"]

#: The oldest record version this checker verifies: version 2 (NeuroFER-Bench 0.2) introduced
#: ``provenance.code_version`` and the per-sample ``predictions``; version 3 only added ``model``
#: and ``corruption``, which a version-2 record reads as ``None``.
VALIDATABLE_SINCE = 2

LOGIT_DIGITS = 9
"""Significant digits of the stored logits: 9 digits round-trip every float32 exactly, so the
argmax of the stored logits is the argmax of the model's float32 logits."""


# --------------------------------------------------------------------------------------------
# building the predictions (called by the cell)
# --------------------------------------------------------------------------------------------


def _numpy(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch.Tensor, without importing torch
        x = x.detach().cpu().float().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as exc:
        raise TypeError(f"{name}: expected an array-like, got {type(x).__name__}") from exc


def _round_logits(a: np.ndarray) -> list:
    flat = [float(f"{v:.{LOGIT_DIGITS}g}") for v in a.astype(np.float32).ravel().tolist()]
    return np.asarray(flat, dtype=np.float64).reshape(a.shape).tolist()


def sample_predictions(sequence_ids: Sequence[str], y: Any, logits: Any,
                       logits_per_step: Any | None = None,
                       lighting: Sequence[str | None] | None = None,
                       subjects: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The ``predictions`` field of a record: one object per test sample, in test order.

    Args:
        sequence_ids: ``(N,)`` unique ids of the test samples (e.g. ``"<subject>/<sequence>"``).
        y: ``(N,)`` true class indices (numpy array, torch tensor or list).
        logits: ``(N, K)`` class scores of the evaluated model; ``pred`` is their argmax (ties:
            the lowest index, as numpy and torch).
        logits_per_step: ``(N, T, K)`` readout after t = 1..T steps, or ``None``.
        lighting: ``(N,)`` lighting condition of each sample (``None`` entries allowed), or
            ``None`` when the dataset has none.
        subjects: ``(N,)`` subject (person) of each sample, or ``None``: the reports resample
            subjects, not sequences, for intervals and paired tests when every sample has one
            (:func:`reports.inference.clusters.cluster_bootstrap_ci`).

    Returns:
        ``[{"sequence_id", "label", "pred", "logits", "logits_per_step"?, "lighting"?,
        "subject"?}, ...]``: ``logits`` stored as float32 values with :data:`LOGIT_DIGITS`
        significant digits (exact for float32, so a recomputed argmax equals the model's);
        ``logits_per_step``, ``lighting`` and ``subject`` only when given.

    Raises:
        ValueError: shapes that do not match, non-finite logits, duplicate sequence ids, or an
            empty subject.

    Example:
        >>> sample_predictions(["s1/001", "s2/001"], [0, 1], [[2.0, 1.0], [0.5, 0.25]])[1]
        {'sequence_id': 's2/001', 'label': 1, 'pred': 0, 'logits': [0.5, 0.25]}
    """
    ids = [str(s) for s in sequence_ids]
    yy = _numpy(y, "y").astype(np.int64)
    lg = _numpy(logits, "logits")
    n = len(ids)
    if yy.shape != (n,):
        raise ValueError(f"y: expected shape ({n},) like sequence_ids, got shape {yy.shape}")
    if lg.ndim != 2 or lg.shape[0] != n or lg.shape[1] < 1:
        raise ValueError(f"logits: expected shape ({n}, K), got shape {lg.shape}")
    if not np.all(np.isfinite(lg)):
        raise ValueError("logits: expected finite scores, got NaN or inf")
    if len(set(ids)) != n:
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"sequence_ids: expected unique ids, got duplicates {dup}")
    ps = None
    if logits_per_step is not None:
        ps = _numpy(logits_per_step, "logits_per_step")
        if ps.ndim != 3 or ps.shape[0] != n or ps.shape[2] != lg.shape[1]:
            raise ValueError(f"logits_per_step: expected shape ({n}, T, {lg.shape[1]}), got "
                             f"shape {ps.shape}")
        if not np.all(np.isfinite(ps)):
            raise ValueError("logits_per_step: expected finite scores, got NaN or inf")
    if lighting is not None and len(lighting) != n:
        raise ValueError(f"lighting: expected {n} entries like sequence_ids, got {len(lighting)}")
    if subjects is not None:
        if len(subjects) != n:
            raise ValueError(f"subjects: expected {n} entries like sequence_ids, got "
                             f"{len(subjects)}")
        if not all(str(s) for s in subjects):
            raise ValueError("subjects: expected non-empty subject ids, got an empty one")
    pred = lg.argmax(axis=1)
    stored = _round_logits(lg)
    stored_ps = _round_logits(ps) if ps is not None else None
    out = []
    for i in range(n):
        d: dict[str, Any] = {"sequence_id": ids[i], "label": int(yy[i]), "pred": int(pred[i]),
                             "logits": stored[i]}
        if stored_ps is not None:
            d["logits_per_step"] = stored_ps[i]
        if lighting is not None:
            d["lighting"] = None if lighting[i] is None else str(lighting[i])
        if subjects is not None:
            d["subject"] = str(subjects[i])
        out.append(d)
    return out


def validate_record(rec: dict[str, Any], run_dir: str | os.PathLike, *, where: str = "",
                    require_predictions: bool = True) -> list[str]:
    """Every problem of one schema-valid record (a dict as :func:`read_records` returns it).

    Args:
        rec: the record.
        run_dir: its run folder (for checkpoints).
        where: prefix of each message (file, line and cell).
        require_predictions: a trained ok record without ``predictions`` is a problem.

    Returns:
        Messages ``"<where>: <field>: <problem>"``; ``[]`` for a sound record. Records whose
        status is not ``"ok"`` are checked by :func:`validate_run` (failed cells), not here.
    """
    problems: list[str] = []

    def say(field: str, msg: str) -> None:
        problems.append(f"{where}: {field}: {msg}" if where else f"{field}: {msg}")

    if rec.get("status") != "ok":
        return problems
    _check_provenance(rec, say)
    _check_task(rec, say)
    if rec.get("kind") == "robustness":
        _check_robustness(rec, say)
        return problems
    if rec.get("kind") == "deployment":
        _check_deployment(rec, say)
        return problems
    if rec.get("kind") != "published":
        _check_cell_id(rec, say)
    _check_metrics(rec, say, require_predictions=require_predictions)
    _check_checkpoint(rec, Path(run_dir), say)
    return problems


def validate_run(run_dir: str | os.PathLike, *, require_predictions: bool = True) -> list[str]:
    """Check a run folder (see the module docstring); report every problem found.

    Args:
        run_dir: the run folder (or its ``results.jsonl``).
        require_predictions: see :func:`validate_record`.

    Returns:
        One message per problem, naming file, line, cell and field; ``[]`` when the folder
        passes every check.
    """
    path = Path(run_dir)
    if path.is_file():
        path, run = path, path.parent
    else:
        run, path = path, path / RESULTS_FILE
    if not path.is_file():
        return [f"{path}: no results file"] + _unrecorded(run, set())
    problems: list[str] = []
    ok_lines: dict[str, list[int]] = defaultdict(list)
    failed: dict[str, tuple[int, str]] = {}
    recorded: set[str] = set()
    n_records = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = list(enumerate(fh, 1))
    for lineno, line in lines:
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc}); a torn line?")
            continue
        if not isinstance(raw, dict):
            problems.append(f"{where}: not a JSON object")
            continue
        version = raw.get("schema_version")
        if isinstance(version, int) and not isinstance(version, bool) and not (
                VALIDATABLE_SINCE <= version <= SCHEMA_VERSION):
            problems.append(f"{where}: schema_version: {version}; this checker needs records of "
                            f"version {VALIDATABLE_SINCE} to {SCHEMA_VERSION} (re-run the cell "
                            "with this code)")
            if version > SCHEMA_VERSION:
                continue
        try:
            rec = Record.from_dict(raw).to_dict()
        except (RecordSchemaError, TypeError) as exc:
            problems.append(f"{where}: breaks the record schema: {exc}")
            continue
        n_records += 1
        cid = rec["cell_id"]
        recorded.add(cid)
        if rec["status"] == "ok":
            ok_lines[cid].append(lineno)
        elif rec["status"] == "skipped" and rec.get("kind") in ("robustness", "deployment"):
            pass  # a corruption that cannot apply, a model a chip cannot take: with its reason
        else:
            failed[cid] = (lineno, str(rec.get("error") or ""))
        problems.extend(validate_record(rec, run, where=f"{where} ({cid})",
                                        require_predictions=require_predictions))
    for cid, linenos in sorted(ok_lines.items()):
        if len(linenos) > 1:
            problems.append(f"{path}: cell {cid} recorded {len(linenos)} times with status ok "
                            f"(lines {', '.join(map(str, linenos))})")
    for cid, (lineno, err) in sorted(failed.items()):
        if cid not in ok_lines:
            msg = " ".join(err.split())
            problems.append(f"{path}:{lineno} ({cid}): status: the cell failed or was skipped and "
                            f"has no ok record: {msg[:200]}")
    if n_records == 0 and not problems:
        problems.append(f"{path}: no records")
    problems.extend(_unrecorded(run, recorded))
    sweep = run / "robustness"
    if run.name != "robustness" and ((sweep / RESULTS_FILE).is_file() or has_plan(sweep)):
        problems.extend(validate_run(sweep, require_predictions=require_predictions))
    deployed = run / "deployment" / RESULTS_FILE
    if run.name != "deployment" and deployed.is_file():  # the deployment cells of this run
        problems.extend(validate_run(deployed, require_predictions=require_predictions))
    return problems


def _unrecorded(run: Path, recorded: set[str]) -> list[str]:
    """One problem per cell of ``run``'s plan without a record in ``recorded`` (and one for an
    unreadable plan file)."""
    try:
        planned = planned_cell_ids(run)
    except PlanError as exc:
        return [str(exc)]
    holes = [c for c in planned if c not in recorded]
    return [f"{run / PLANS_DIR}: cell {c} was planned but has no record (a killed or lost "
            "worker? re-run the same command to run it)" for c in holes]
