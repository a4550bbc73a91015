"""Shared by the record checks: the per-sample predictions parsed and checked entry by entry,
and a stored value compared with the one recomputed from them (floats within
:data:`REL_TOL`, NaN equal to null, dicts key by key).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

REL_TOL = 1e-9
"""Relative tolerance of a recomputed value (the stored floats are the same computation's
JSON round trip, so they agree to the last bit; the tolerance only absorbs summation order)."""
ABS_TOL = 1e-12


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _close(a: Any, b: float) -> bool:
    x = _num(a)
    return x is not None and math.isclose(x, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


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
