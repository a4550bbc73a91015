"""The checks of a trained record (and of a published one, which has no cell spec, timing,
energy or checkpoint to check): provenance, the cell id, every metric recomputed from the
per-sample predictions, energy, timing and the checkpoint.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results.checks.common import _close, _compare, _num, _parse_predictions, _short

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
