"""Check a run folder the way MLPerf's submission checker checks a submission.

A run folder (``RUN_DIR/results.jsonl`` plus ``RUN_DIR/checkpoints/``) is a contract:
:func:`validate_run` reads every line and reports **every** failure it finds (not only the
first), each as one line naming the file, line, cell and field:

* **schema and version**: every line is a JSON object that :meth:`benchmarks.results.records.Record.from_dict`
  accepts (the strict reading of :func:`benchmarks.results.records.read_records`), written with the
  current :data:`benchmarks.results.records.SCHEMA_VERSION` (an older record is migrated by the reports,
  but it lacks what this checker needs, e.g. ``provenance.code_version``);
* **provenance**: the keys of :data:`REQUIRED_PROVENANCE` (commit, dirty flag, code version,
  time, versions, machine); a published record names its source files with their digests;
* **the cell**: ``cell_id`` is the id of the stored cell spec (:class:`benchmarks.results.spec.Cell`);
* **the task**: ``task.id`` is a known task and the one the cell names, ``task.version`` a declared
  version that the stored digests resolve to (:func:`benchmarks.results.tasks.resolve`; digests
  that match none read ``"unknown version"``), and the ids/labels digest recomputed from the
  ``predictions`` equals the stored one (robustness records, which may hold a subset, excepted);
* **recomputed metrics**: accuracy, WAR, UAR, per-class recall, confusion matrix, accuracy per
  time step and per-lighting accuracy / UAR are recomputed from the per-sample ``predictions``
  with :mod:`benchmarks.measure.metrics` and must equal the stored values within rounding
  (:data:`REL_TOL`); ``pred`` must be an argmax of the stored ``logits``; ``n_test`` must be the
  number of predictions; a trained record without predictions is a failure (its metrics cannot
  be checked);
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

:func:`sample_predictions` builds the ``predictions`` field in the cell. Command line:
``run_bench.py validate RUN_DIR [RUN_DIR ...]`` prints the problems and exits 1 when
there is any.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results.plan import PLANS_DIR, PlanError, has_plan, planned_cell_ids
from benchmarks.results.records import RESULTS_FILE, SCHEMA_VERSION, Record, RecordSchemaError

log = logging.getLogger(__name__)

__all__ = ["REQUIRED_PROVENANCE", "REQUIRED_METRICS", "REL_TOL", "sample_predictions",
           "validate_record", "validate_run"]

#: The oldest record version this checker verifies: version 2 (NeuroFER-Bench 0.2) introduced
#: ``provenance.code_version`` and the per-sample ``predictions``; version 3 only added ``model``
#: and ``corruption``, which a version-2 record reads as ``None``.
VALIDATABLE_SINCE = 2

REQUIRED_PROVENANCE = ("git_commit", "git_dirty", "code_version", "utc_time", "python", "torch",
                       "numpy", "suite_version", "backend_versions", "platform", "cpu", "threads",
                       "device")
"""Provenance keys every trained record must have (:func:`benchmarks.results.provenance.provenance`);
all but ``git_dirty`` must be non-null."""

VA_ABS_TOL = 1e-6
"""Tolerance of recomputed valence-arousal metrics: the stored ``va_pred`` values are float32
(7 significant digits), so a metric recomputed from them differs from the one computed on the
float64 outputs in about the 8th digit."""
CLASS_METRICS = ("accuracy", "war", "uar", "per_class_recall", "confusion_matrix")
"""The classification metrics (absent from a ``va_regression`` cell, which has no class head)."""
REQUIRED_METRICS = ("accuracy", "war", "uar", "per_class_recall", "confusion_matrix",
                    "latency_ms_p50", "latency_ms_p95", "throughput_samples_per_s",
                    "effective_acs_per_sample", "effective_macs_per_sample",
                    "energy_uj_per_inference", "energy_model", "energy_node", "n_test", "params")
"""Metrics every ok trained record must have."""

REL_TOL = 1e-9
"""Relative tolerance of a recomputed value (the stored floats are the same computation's
JSON round trip, so they agree to the last bit; the tolerance only absorbs summation order)."""
ABS_TOL = 1e-12

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


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _close(a: Any, b: float) -> bool:
    x = _num(a)
    return x is not None and math.isclose(x, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _check_provenance(rec: dict[str, Any], say) -> None:
    prov = rec.get("provenance") or {}
    if rec.get("kind") == "published":
        src = rec.get("source")
        files = src.get("files") if isinstance(src, dict) else None
        if not isinstance(files, list) or not files:
            say("source", "a published record must name the files it scored (source.files)")
        elif any(not isinstance(f, dict) or not f.get("sha256") for f in files):
            say("source.files", "every scored file needs its sha256")
        for key in ("utc_time", "suite_version", "code_version"):
            if prov.get(key) is None:
                say(f"provenance.{key}", "missing (required)")
        return
    for key in REQUIRED_PROVENANCE:
        if key not in prov:
            say(f"provenance.{key}", "missing (required)")
        elif key != "git_dirty" and prov[key] is None:
            say(f"provenance.{key}", "null (required)")


def _check_cell_id(rec: dict[str, Any], say) -> None:
    from benchmarks.results.spec import Cell, Recipe

    cell = rec.get("cell") or {}
    try:
        spec = dict(cell)
        spec["recipe"] = Recipe.from_dict(spec.get("recipe") or {})
        expected = Cell(**spec).cell_id
    except (TypeError, ValueError) as exc:
        say("cell", f"not a valid cell spec ({exc})")
        return
    if expected != rec.get("cell_id"):
        say("cell_id", f"{rec.get('cell_id')!r} is not the id of the stored cell spec "
                       f"({expected!r})")


def _check_timing(m: dict[str, Any], say) -> None:
    p50, p95 = _num(m.get("latency_ms_p50")), _num(m.get("latency_ms_p95"))
    if p50 is not None and p50 <= 0:
        say("metrics.latency_ms_p50", f"= {p50!r}; expected > 0 ms")
    if p95 is not None and p50 is not None and p95 < p50:
        say("metrics.latency_ms_p95", f"= {p95!r} < latency_ms_p50 = {p50!r}")
    for key in ("latency_ms_p50", "latency_ms_p95", "throughput_samples_per_s"):
        if key in m and _num(m.get(key)) is None:
            say(f"metrics.{key}", f"= {m.get(key)!r}; expected a finite number")
    thr = _num(m.get("throughput_samples_per_s"))
    if thr is not None and thr <= 0:
        say("metrics.throughput_samples_per_s", f"= {thr!r}; expected > 0 samples/s")


def _check_energy(m: dict[str, Any], say) -> None:
    from benchmarks.measure.energy import ENERGY_PER_OP_PJ, estimate_energy

    if "energy_uj_per_inference" not in m:
        return
    acs, macs = _num(m.get("effective_acs_per_sample")), _num(m.get("effective_macs_per_sample"))
    node = m.get("energy_node")
    if acs is None or macs is None:
        say("metrics.energy_uj_per_inference", "stored without finite effective_acs_per_sample "
                                               "and effective_macs_per_sample to check it")
        return
    if node not in ENERGY_PER_OP_PJ:
        say("metrics.energy_node", f"= {node!r}; expected one of {sorted(ENERGY_PER_OP_PJ)}")
        return
    try:
        est = estimate_energy(acs, macs, node)
    except ValueError as exc:
        say("metrics.effective_acs_per_sample", str(exc))
        return
    for key, want in est.items():
        if key == "energy_node":
            continue
        got = m.get(key)
        ok = got == want if isinstance(want, str) else _close(got, float(want))
        if not ok:
            say(f"metrics.{key}", f"= {got!r}; the energy table and the stored operation counts "
                                  f"give {want!r}")
    syn = m.get("synops_per_sample")
    if syn is not None and not _close(syn, acs + macs):
        say("metrics.synops_per_sample", f"= {syn!r}; expected effective_acs + effective_macs "
                                         f"= {acs + macs!r}")
    _check_energy_models(m, say)


def _check_energy_models(m: dict[str, Any], say) -> None:
    """The further energy models (``energy_uj_per_inference__<model>``, where recorded): the
    default model's named copy equals the default, each model's breakdown sums to its total,
    and its spike-driven part does not exceed it."""
    from benchmarks.measure import energy as E

    default = getattr(E, "DEFAULT_ENERGY_MODEL", None)
    prefix = "energy_uj_per_inference__"
    if default is not None and f"{prefix}{default}" in m:
        got = m[f"{prefix}{default}"]
        if not _close(got, float(m.get("energy_uj_per_inference") or float("nan"))):
            say(f"metrics.{prefix}{default}", f"= {got!r}; expected the default "
                                              f"energy_uj_per_inference = "
                                              f"{m.get('energy_uj_per_inference')!r}")
    for key in sorted(k for k in m if k.startswith(prefix)):
        name = key[len(prefix):]
        total = _num(m.get(key))
        if total is None:
            continue
        parts = m.get(f"energy_breakdown_uj__{name}")
        if isinstance(parts, dict) and parts:
            values = [_num(v) for v in parts.values()]
            if any(v is None for v in values):
                say(f"metrics.energy_breakdown_uj__{name}", "has a non-finite component")
            elif not math.isclose(sum(values), total, rel_tol=1e-9, abs_tol=1e-12):
                say(f"metrics.energy_breakdown_uj__{name}",
                    f"components sum to {sum(values)!r} µJ, not the model's total {total!r}")
        spike = _num(m.get(f"energy_spike_driven_uj_per_inference__{name}"))
        if spike is not None and spike > total * (1 + 1e-9) + 1e-12:
            say(f"metrics.energy_spike_driven_uj_per_inference__{name}",
                f"= {spike!r} exceeds the model's total {total!r}")


def _check_checkpoint(rec: dict[str, Any], run_dir: Path, say) -> None:
    ck = rec.get("checkpoint")
    if ck is None:
        return
    if not isinstance(ck, str) or not ck or Path(ck).is_absolute():
        say("checkpoint", f"= {ck!r}; expected a path relative to the run folder")
        return
    path = (run_dir / ck).resolve()
    if run_dir.resolve() not in path.parents:
        say("checkpoint", f"= {ck!r} points outside the run folder")
    elif not path.is_file():
        say("checkpoint", f"{ck} is referenced but absent")
    elif path.stat().st_size == 0:
        say("checkpoint", f"{ck} is empty")


def _parse_predictions(preds: list[dict[str, Any]], k: int, say
                       ) -> tuple[list[str], np.ndarray, np.ndarray, Any, Any] | None:
    """Validate the entries; return (ids, y, pred, per_step (N, T, K) | None, lighting)."""
    ids, ys, ps, steps, lights = [], [], [], [], []
    bad = argmax_bad = 0
    for i, p in enumerate(preds):
        where = f"predictions[{i}]"
        sid, label, pred, logits = (p.get("sequence_id"), p.get("label"), p.get("pred"),
                                    p.get("logits"))
        problems = []
        if not isinstance(sid, str) or not sid:
            problems.append(f"sequence_id = {sid!r}; expected a non-empty string")
        for name, v in (("label", label), ("pred", pred)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < k:
                problems.append(f"{name} = {v!r}; expected a class index in [0, {k})")
        arr = None
        if logits is not None:
            try:
                arr = np.asarray(logits, dtype=np.float64)
            except (TypeError, ValueError):
                arr = None
            if arr is None or arr.shape != (k,) or not np.all(np.isfinite(arr)):
                problems.append(f"logits: expected {k} finite numbers")
                arr = None
        else:
            problems.append("logits missing")
        if arr is not None and not problems and arr[pred] != arr.max():
            # not fatal: the metrics are defined by ``pred``, so they are still recomputed
            argmax_bad += 1
            if argmax_bad <= 5:
                say(where, f"pred = {pred} is not an argmax of the stored logits (argmax "
                           f"{int(arr.argmax())})")
        st = p.get("logits_per_step")
        if st is not None:
            try:
                st = np.asarray(st, dtype=np.float64)
            except (TypeError, ValueError):
                st = None
            if st is None or st.ndim != 2 or st.shape[1] != k or not np.all(np.isfinite(st)):
                problems.append(f"logits_per_step: expected T x {k} finite numbers")
                st = None
        light = p.get("lighting")
        if light is not None and not isinstance(light, str):
            problems.append(f"lighting = {light!r}; expected a string or null")
        subject = p.get("subject")
        if subject is not None and (not isinstance(subject, str) or not subject):
            # not fatal: no accuracy metric depends on it (only the reports' intervals), so the
            # metrics are still recomputed
            say(where, f"subject = {subject!r}; expected a non-empty string")
        if problems:
            bad += 1
            if bad <= 5:
                for msg in problems:
                    say(where, msg)
            continue
        ids.append(sid)
        ys.append(label)
        ps.append(pred)
        steps.append(st)
        lights.append(light)
    if bad > 5:
        say("predictions", f"{bad} malformed entries in all (the first 5 shown)")
    if argmax_bad > 5:
        say("predictions", f"{argmax_bad} entries whose pred is not an argmax of their logits "
                           "(the first 5 shown)")
    if bad:
        return None
    if len(set(ids)) != len(ids):
        dup = sorted({s for s in ids if ids.count(s) > 1})[:5]
        say("predictions", f"duplicate sequence ids {dup}")
    per_step = None
    if all(s is not None for s in steps):
        shapes = {s.shape for s in steps}
        if len(shapes) != 1:
            say("predictions", f"logits_per_step of different shapes {sorted(shapes)}")
        else:
            per_step = np.stack(steps)
    elif any(s is not None for s in steps):
        say("predictions", "logits_per_step present for some samples only")
    lighting = lights if any(g is not None for g in lights) else None
    return ids, np.asarray(ys, dtype=np.int64), np.asarray(ps, dtype=np.int64), per_step, lighting


def _compare(say, key: str, stored: Any, recomputed: Any) -> None:
    """Stored vs recomputed (floats within REL_TOL, NaN == null, dicts key by key)."""
    def same(a: Any, b: Any) -> bool:
        if isinstance(b, dict):
            return isinstance(a, dict) and set(a) == set(b) and all(same(a[x], b[x]) for x in b)
        if isinstance(b, (list, tuple)):
            return isinstance(a, list) and len(a) == len(b) and all(
                same(x, y) for x, y in zip(a, b, strict=True))
        if b is None or (isinstance(b, float) and math.isnan(b)):
            return a is None
        if isinstance(b, (int, np.integer)) and not isinstance(b, bool):
            return a == int(b) and not isinstance(a, bool)
        return _close(a, float(b))

    rec = _plain(recomputed)
    if not same(stored, rec):
        say(f"metrics.{key}", f"stored {_short(stored)} but the predictions give {_short(rec)}")


def _plain(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def _short(x: Any) -> str:
    s = json.dumps(x, sort_keys=True, default=str)
    return s if len(s) <= 160 else s[:157] + "..."


def _check_va(m: dict[str, Any], preds: list[dict[str, Any]], say) -> None:
    """Valence-arousal metrics recomputed from the predictions' ``va_pred`` / ``va_target``
    (:func:`benchmarks.measure.metrics.va_metrics`)."""
    from benchmarks.measure import metrics as M

    if not all(isinstance(q, dict) and "va_pred" in q and "va_target" in q for q in preds):
        say("predictions", "a valence-arousal cell needs va_pred and va_target in every prediction")
        return
    try:
        va = M.va_metrics(np.asarray([q["va_pred"] for q in preds], dtype=np.float64),
                          np.asarray([q["va_target"] for q in preds], dtype=np.float64))
    except (ValueError, TypeError) as exc:
        say("predictions", f"va_pred / va_target unusable: {exc}")
        return
    for key, value in va.items():
        stored = m.get(key)
        if key not in m:
            say(f"metrics.{key}", "missing, but the predictions carry valence and arousal")
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            if stored is not None:
                say(f"metrics.{key}", f"stored {_short(stored)} but the predictions give NaN")
        elif stored is None or abs(float(stored) - value) > VA_ABS_TOL:
            say(f"metrics.{key}", f"stored {_short(stored)} but the predictions give {value:.9g}")


def _check_metrics(rec: dict[str, Any], say, *, require_predictions: bool) -> None:
    from benchmarks.measure import metrics as M

    m = rec.get("metrics") or {}
    classes = rec.get("classes") or []
    trained = rec.get("kind") != "published"
    task = ((rec.get("cell") or {}).get("recipe") or {}).get("task", "classification")
    if trained:
        for key in REQUIRED_METRICS:
            if key not in m and not (task == "va_regression" and key in CLASS_METRICS):
                say(f"metrics.{key}", "missing (required)")
        _check_timing(m, say)
        _check_energy(m, say)
    preds = rec.get("predictions")
    if preds is None and trained and require_predictions:
        say("predictions", "absent: the metrics cannot be recomputed (per-sample predictions "
                           "are required)")
    if preds and task != "classification":
        _check_va(m, preds, say)
    if task == "va_regression":
        return  # no class head: nothing more to recompute
    if not classes:
        say("classes", "empty; expected the class names in index order")
        return
    k = len(classes)
    cm = m.get("confusion_matrix")
    if cm is not None:
        a = np.asarray(cm, dtype=object)
        if a.shape != (k, k):
            say("metrics.confusion_matrix", f"shape {a.shape}; expected ({k}, {k}) for "
                                            f"{k} classes")
    pcr = m.get("per_class_recall")
    if isinstance(pcr, dict) and set(pcr) != set(classes):
        say("metrics.per_class_recall", f"keys {sorted(pcr)} are not the classes {classes}")
    if preds is None:
        return
    if not preds:
        say("predictions", "empty")
        return
    parsed = _parse_predictions(preds, k, say)
    if parsed is None:
        return
    ids, y, p, per_step, lighting = parsed
    n_test = m.get("n_test")
    if n_test is not None and n_test != len(ids):
        say("metrics.n_test", f"= {n_test!r} but {len(ids)} predictions are stored")
    checks: dict[str, Any] = {
        "accuracy": M.accuracy(p, y),
        "war": M.war(p, y),
        "uar": M.uar(p, y, num_classes=k),
        "per_class_recall": dict(zip(classes, M.per_class_recall(p, y, num_classes=k).tolist(),
                                     strict=True)),
        "confusion_matrix": M.confusion_matrix(p, y, num_classes=k),
    }
    for key, value in checks.items():
        if key in m:
            _compare(say, key, m[key], value)
    stored_steps = m.get("accuracy_per_step")
    if per_step is not None:
        _compare(say, "accuracy_per_step", stored_steps, M.accuracy_per_step(per_step, y))
    elif stored_steps is not None:
        say("metrics.accuracy_per_step", "stored, but the predictions have no logits_per_step "
                                         "to recompute it from")
    if lighting is not None:
        groups = [g if g is not None else "unknown" for g in lighting]
        for key, fn in (("per_lighting_accuracy", M.per_group_accuracy),
                        ("per_lighting_uar", M.per_group_uar)):
            want = fn(p, y, groups, num_classes=k)
            if key not in m or m[key] is None:
                say(f"metrics.{key}", "missing, but the predictions carry lighting conditions")
            else:
                _compare(say, key, m[key], want)
    else:
        for key in ("per_lighting_accuracy", "per_lighting_uar"):
            if m.get(key) is not None:
                say(f"metrics.{key}", "stored, but the predictions carry no lighting per sample "
                                      "to recompute it from")


ROBUSTNESS_METRICS = ("accuracy_clean", "uar_clean", "accuracy_by_severity", "uar_by_severity",
                      "mean_corruption_accuracy", "n_test")
"""Metrics every ok robustness record must have (:mod:`benchmarks.robustness.sweep`)."""


DEPLOYMENT_METRICS = ("accuracy", "uar", "accuracy_float", "uar_float", "accuracy_change",
                      "spike_agreement", "spikes_per_inference", "synops_per_inference",
                      "decision_steps_mean", "n_test")
"""Metrics every ok deployment record must have (:mod:`benchmarks.deploy.evaluate`)."""


def _check_deployment(rec: dict[str, Any], say) -> None:
    """A ``"deployment"`` record: its deployment field, its ids, and the accuracies at chip
    precision and of the float model recomputed from the per-sample predictions."""
    from benchmarks.measure import metrics as M

    dep = rec.get("deployment") or {}
    src, cid = dep.get("cell_id"), str(rec.get("cell_id"))
    if not isinstance(dep.get("target"), str) or not dep.get("target"):
        say("deployment.target", f"= {dep.get('target')!r}; expected the target's name")
    if not isinstance(src, str) or not cid.startswith(f"deployment/{dep.get('target')}/") \
            or not cid.endswith(f"/{src}"):
        say("cell_id", f"{cid!r} is not deployment/<target>/.../<trained cell id {src!r}>")
    if (dep.get("fit") or {}).get("verdict") not in ("fits", "needs_chips", "unknown"):
        say("deployment.fit.verdict", f"= {(dep.get('fit') or {}).get('verdict')!r}; an "
                                      "evaluated model's layers must map")
    m = rec.get("metrics") or {}
    for key in DEPLOYMENT_METRICS:
        if key not in m:
            say(f"metrics.{key}", "missing (required)")
    classes, preds = rec.get("classes") or [], rec.get("predictions")
    if not classes or not preds:
        say("predictions", "absent or no classes: the metrics cannot be recomputed")
        return
    k = len(classes)
    parsed = _parse_predictions(preds, k, say)
    if parsed is None:
        return
    ids, y, p, _, _ = parsed
    if any(not isinstance((q.get("float") or {}).get("pred"), int) for q in preds):
        say("predictions.float", "a sample lacks the float model's prediction")
        return
    f = np.array([q["float"]["pred"] for q in preds])
    want = {"n_test": len(ids), "accuracy": M.accuracy(p, y), "uar": M.uar(p, y, num_classes=k),
            "accuracy_float": M.accuracy(f, y), "uar_float": M.uar(f, y, num_classes=k)}
    want["accuracy_change"] = want["accuracy"] - want["accuracy_float"]
    for key, value in want.items():
        got = m.get(key)
        if not isinstance(got, (int, float)) or abs(float(got) - float(value)) > 1e-9:
            say(f"metrics.{key}", f"= {got!r} but the predictions give {value!r}")


def _check_robustness(rec: dict[str, Any], say) -> None:
    """A ``"robustness"`` record: its corruption field, its ids, and every metric recomputed from
    the clean and per-severity per-sample predictions."""
    from benchmarks.measure import metrics as M

    cor = rec.get("corruption") or {}
    sev = cor.get("severities")
    if not isinstance(cor.get("name"), str) or not cor.get("name"):
        say("corruption.name", f"= {cor.get('name')!r}; expected the corruption's name")
    if not (isinstance(sev, list) and sev and all(isinstance(s, int) and not isinstance(s, bool)
                                                  and 1 <= s <= 5 for s in sev)):
        say("corruption.severities", f"= {sev!r}; expected a non-empty list of levels 1-5")
        return
    if not isinstance(cor.get("seed"), int):
        say("corruption.seed", f"= {cor.get('seed')!r}; expected an integer")
    max_test = cor.get("max_test")
    if max_test is not None and (isinstance(max_test, bool) or not isinstance(max_test, int)
                                 or max_test < 1):
        say("corruption.max_test", f"= {max_test!r}; expected a positive integer or null")
        max_test = None
    src = cor.get("cell_id")
    cid = str(rec.get("cell_id"))
    if not isinstance(src, str) or not cid.startswith(f"robustness/{cor.get('name')}/") \
            or not cid.endswith(f"/{src}"):
        say("cell_id", f"{cid!r} is not robustness/<corruption>/.../<trained cell id {src!r}>")
    _check_cell_id({"cell": rec.get("cell"), "cell_id": src}, lambda f, msg: say(
        "corruption.cell_id", msg))
    m = rec.get("metrics") or {}
    for key in ROBUSTNESS_METRICS:
        if key not in m:
            say(f"metrics.{key}", "missing (required)")
    classes = rec.get("classes") or []
    preds = rec.get("predictions")
    if not classes or not preds:
        say("predictions", "absent or no classes: the metrics cannot be recomputed")
        return
    k = len(classes)
    parsed = _parse_predictions(preds, k, say)
    if parsed is None:
        return
    ids, y, p, _, _ = parsed
    if m.get("n_test") is not None and m.get("n_test") != len(ids):
        say("metrics.n_test", f"= {m.get('n_test')!r} but {len(ids)} predictions are stored")
    if max_test is not None and len(ids) > max_test:
        say("predictions", f"{len(ids)} samples stored, more than corruption.max_test = {max_test}")
    want: dict[str, Any] = {"accuracy_clean": M.accuracy(p, y), "uar_clean": M.uar(p, y, num_classes=k),
                            "accuracy_by_severity": {}, "uar_by_severity": {}}
    for s in sev:
        entries = [(q.get("corrupted") or {}).get(str(s)) for q in preds]
        bad = [i for i, e in enumerate(entries) if not isinstance(e, dict)
               or isinstance(e.get("pred"), bool) or not isinstance(e.get("pred"), int)
               or not 0 <= e["pred"] < k]
        if bad:
            say(f"predictions[{bad[0]}].corrupted.{s}", f"missing or no class index in [0, {k}) "
                                                        f"({len(bad)} samples in all)")
            return
        ps = np.array([e["pred"] for e in entries], dtype=np.int64)
        lg = [e.get("logits") for e in entries]
        wrong = [i for i, (q, g) in enumerate(zip(ps, lg, strict=True))
                 if not (isinstance(g, list) and len(g) == k and g[q] == max(g))]
        if wrong:
            say(f"predictions[{wrong[0]}].corrupted.{s}", f"pred is not an argmax of its {k} "
                                                          f"logits ({len(wrong)} samples in all)")
        want["accuracy_by_severity"][str(s)] = M.accuracy(ps, y)
        want["uar_by_severity"][str(s)] = M.uar(ps, y, num_classes=k)
    accs = list(want["accuracy_by_severity"].values())
    want["mean_corruption_accuracy"] = float(sum(accs) / len(accs))
    for key, value in want.items():
        if key in m:
            _compare(say, key, m[key], value)


def _check_task(rec: dict[str, Any], say) -> None:
    """The record's ``task`` (:mod:`benchmarks.results.tasks`): a known task id, the one its cell
    names; a declared version, or ``"unknown version"`` reported as such; the version the
    digests resolve to; and, where the record holds its whole test split's predictions (trained
    and published records), the ids/labels digest recomputed from them equal to the stored one."""
    from benchmarks.results import tasks as T
    from datasets.common import UnknownNameError

    task = rec.get("task")
    if not isinstance(task, dict):
        say("task", "missing: an ok record names the task it was scored on")
        return
    tid, version = task.get("id"), task.get("version")
    try:
        T.get_task(str(tid))
    except UnknownNameError as exc:
        say("task.id", f"{exc}")
        return
    want_id = T.task_id_of_cell(rec.get("cell"))
    if want_id != tid:
        say("task.id", f"= {tid!r} but the record's cell is of task {want_id!r}")
    ids, content = task.get("ids_labels_digest"), task.get("content_digest")
    preds = rec.get("predictions")
    if rec.get("kind") not in ("robustness", "deployment") and preds:
        got = T.predictions_digest(preds)
        if got != ids:
            say("task.ids_labels_digest", f"= {ids!r} but the predictions' sequence ids and "
                                          f"labels give {got!r}")
    known = [v.version for v in T.known_versions(str(tid))]
    resolved = T.resolve(str(tid), ids, content)
    if version == T.UNKNOWN_VERSION:
        say("task.version", f"unknown version: the test split's digests match no declared "
                            f"version of task {tid!r} (declared: {', '.join(known) or 'none'})")
    elif version not in known:
        say("task.version", f"= {version!r} is not a declared version of task {tid!r} "
                            f"(declared: {', '.join(known) or 'none'})")
    elif resolved is None or resolved.version != version:
        say("task.version", f"= {version!r} but the stored digests match "
                            f"{'no declared version' if resolved is None else repr(resolved.version)}")


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
