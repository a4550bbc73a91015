"""The checks of a deployment record (:mod:`benchmarks.deploy.evaluate`): its deployment field,
its ids, and the accuracies at chip precision and of the float model recomputed from the
per-sample predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.results.checks.common import _parse_predictions

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
