"""The checks of a robustness record (:mod:`benchmarks.robustness.sweep`): its corruption field,
its ids, and every metric recomputed from the clean and per-severity per-sample predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.results.checks.common import _compare, _parse_predictions
from benchmarks.results.checks.trained import _check_cell_id

ROBUSTNESS_METRICS = ("accuracy_clean", "uar_clean", "accuracy_by_severity", "uar_by_severity",
                      "mean_corruption_accuracy", "n_test")
"""Metrics every ok robustness record must have (:mod:`benchmarks.robustness.sweep`)."""


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
