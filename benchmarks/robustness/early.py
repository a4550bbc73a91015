"""Early decision: how soon each model knows, from prefixes in time of its test recordings.

Protocol (one checkpoint, :func:`early_decision`): each test recording is binned into ``T``
fixed-duration bins of ``recipe.early_bin_ms`` from its first event (``T`` = the model's
``n_time_bins``; :func:`datasets.transforms.binning.to_frames_time_window` over
``[t_first, t_first + T w)``, then the training binning's binarisation and resize). Prefix ``k``
(``k = 1..T``) keeps bins ``0..k-1`` and zeroes the later ones; every model, ANN twins that take
the stacked bins included, is run on every prefix. The observed time of prefix ``k`` is
``k w`` ms. The model never saw time bins in training (it was trained on its own binning), so
the curve measures what it can say from partial observations through the same input layout.

Measures:

- accuracy against observed time, with a 95 % percentile-bootstrap interval per prefix (test
  samples resampled; 2,000 resamples, seed 0);
- oracle time-to-decision per sample: the shortest prefix after which the prediction no longer
  changes (it then equals the full-length prediction); an upper bound on what a real system gets;
  median over samples with the 95 % bootstrap interval of the median;
- causal time-to-decision at threshold ``tau``: the first prefix whose softmax confidence (the
  top class's probability) is at least ``tau``, else the last; the accuracy-latency curve over
  :data:`THRESHOLDS`;
- energy up to the decision, per energy model of :mod:`benchmarks.measure.energy`: the energy per
  inference of the prefix run that made the decision (later bins zeroed), averaged over samples.
  For an SNN the zeroed steps still run (leak, residual spikes), so this is an upper bound on a
  system that stops at the decision.

Models whose checkpoint has no event binning (frame datasets) are skipped with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from benchmarks.robustness.sweep import EVAL_BATCH_SIZE

log = logging.getLogger(__name__)

THRESHOLDS: tuple[float, ...] = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
"""Confidence thresholds of the causal accuracy-latency curve."""
N_RESAMPLES = 2000


def prefix_frames(frames: np.ndarray, k: int) -> np.ndarray:
    """``frames`` ``(..., T, 2, H, W)`` with bins ``k..T-1`` zeroed (a copy).

    Raises:
        ValueError: ``k`` outside ``1..T``.
    """
    t = frames.shape[-4]
    if not 1 <= k <= t:
        raise ValueError(f"prefix length k must be in 1..{t}, got {k}")
    out = np.array(frames, copy=True)
    out[..., k:, :, :, :] = 0
    return out


def oracle_decision_step(preds: np.ndarray) -> np.ndarray:
    """Per sample, the shortest prefix ``k`` (1-based) from which the prediction stays the final
    one: ``preds`` ``(N, T)`` class per prefix -> ``(N,)`` int in ``1..T``.

    Example:
        >>> oracle_decision_step(np.array([[0, 1, 1, 1], [2, 2, 2, 2], [1, 0, 1, 0]])).tolist()
        [2, 1, 4]
    """
    p = np.asarray(preds)
    n, t = p.shape
    same = p == p[:, -1:]
    # last prefix (0-based) where the prediction differs from the final one, -1 if none
    differs = ~same
    last_diff = np.where(differs.any(axis=1), t - 1 - np.argmax(differs[:, ::-1], axis=1), -1)
    return (last_diff + 2).astype(np.int64)


def causal_decision_step(confidence: np.ndarray, tau: float) -> np.ndarray:
    """Per sample, the first prefix ``k`` (1-based) whose confidence is ``>= tau``, else ``T``:
    ``confidence`` ``(N, T)`` -> ``(N,)``.

    Example:
        >>> causal_decision_step(np.array([[0.2, 0.6, 0.9], [0.1, 0.2, 0.3]]), 0.5).tolist()
        [2, 3]
    """
    c = np.asarray(confidence)
    hit = c >= tau
    return np.where(hit.any(axis=1), np.argmax(hit, axis=1) + 1, c.shape[1]).astype(np.int64)


def _bootstrap(values: np.ndarray, stat, seed: int = 0) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = v[rng.integers(0, v.size, (N_RESAMPLES, v.size))]
    s = stat(draws, axis=1)
    return float(np.quantile(s, 0.025)), float(np.quantile(s, 0.975))


def time_bins(events: np.ndarray, binner: Any, n_bins: int, bin_us: int) -> np.ndarray:
    """``n_bins`` fixed-duration bins of ``bin_us`` from the first event, binarised and resized
    like ``binner`` (a :class:`datasets.transforms.binning.ToFrames`): float32 ``(T, 2, H, W)``."""
    from datasets.transforms.binning import binarize, resize_nearest, to_frames_time_window

    t0 = int(events["t"][0]) if events.shape[0] else 0
    f = to_frames_time_window(events, tuple(binner.sensor_size), bin_us, start_time=t0,
                              end_time=t0 + n_bins * bin_us)[:n_bins]
    if binner.binarize:
        f = binarize(f)
    if binner.size is not None and tuple(binner.size) != f.shape[-2:]:
        f = resize_nearest(f, tuple(binner.size))
    return f


def early_decision(loaded: Any, dataset: Any, test_idx: list[int], bin_ms: float, *,
                   batch_size: int = EVAL_BATCH_SIZE, device: str = "cpu") -> dict[str, Any]:
    """The early-decision measures of one model (see the module docstring).

    Returns:
        ``{"model", "bin_ms", "n_test", "time_ms" (T,), "accuracy" (T,), "accuracy_ci" (T x 2),
        "oracle": {"median_ms", "ci_ms", "accuracy"}, "causal": [{"tau", "accuracy",
        "median_ms", "energy_uj": {model: µJ}}], "energy_uj_by_prefix": {model: (T,)},
        "oracle_energy_uj": {model: µJ}, "preds" (N x T), "confidence" (N x T), "labels" (N,)}``
        (the per-sample arrays let the report recompute every number).

    Raises:
        ValueError: a checkpoint without event binning (the message says why).
    """
    import torch

    from benchmarks.measure import metrics as M
    from benchmarks.measure.energy import count_parameters, energy_metrics
    from benchmarks.runner.inference import predict

    ck = loaded.checkpoint
    if not ck.get("binner"):
        raise ValueError(f"{loaded.path}: no event binning in the checkpoint (a frame dataset): "
                         "no time prefixes to take")
    binner = loaded.binner_for(tuple(dataset.sensor_size))
    t_bins = int(loaded.input_shape[0])
    bin_us = int(round(bin_ms * 1000))
    frames = np.stack([time_bins(dataset.load_events(i), binner, t_bins, bin_us) for i in test_idx])
    y = np.array([dataset.sequences[i].label for i in test_idx], dtype=np.int64)
    k_classes = len(loaded.classes)
    spiking = bool(getattr(loaded.backend, "spiking", False))
    from backends.specs import get_arch

    neuron = getattr(get_arch(ck["arch"]), "neuron", "lif")
    params = count_parameters(loaded.model)
    preds, conf, energy = [], [], {}
    for k in range(1, t_bins + 1):
        x = torch.from_numpy(prefix_frames(frames, k))
        logits, _, activity = predict(loaded.backend, loaded.model, x, batch_size, device,
                                      record_activity=True)
        prob = torch.softmax(logits.float()[:, :k_classes], dim=1).numpy()
        preds.append(prob.argmax(1))
        conf.append(prob.max(1))
        em = energy_metrics(M.activity_summary(activity, len(y)), activity, n_samples=len(y),
                            params=params, spiking=spiking, neuron=neuron)
        for key, v in em.items():
            if key.startswith("energy_uj_per_inference__"):
                energy.setdefault(key.split("__", 1)[1], []).append(v)
    P = np.stack(preds, axis=1)  # (N, T)
    C = np.stack(conf, axis=1)
    correct = P == y[:, None]
    acc = correct.mean(axis=0)
    ci = [_bootstrap(correct[:, j], np.mean) for j in range(t_bins)]
    time_ms = [(j + 1) * bin_ms for j in range(t_bins)]
    oracle = oracle_decision_step(P)
    oracle_ms = oracle * bin_ms
    energy = {m: v for m, v in energy.items() if all(e is not None for e in v)}

    def energy_at(steps: np.ndarray) -> dict[str, float]:
        return {m: float(np.mean(np.asarray(v)[steps - 1])) for m, v in energy.items()}

    causal = []
    rows = np.arange(len(y))
    for tau in THRESHOLDS:
        steps = causal_decision_step(C, tau)
        causal.append({"tau": tau, "accuracy": float(np.mean(P[rows, steps - 1] == y)),
                       "median_ms": float(np.median(steps * bin_ms)),
                       "energy_uj": energy_at(steps)})
    return {
        "model": f"{ck['backend']}/{ck['arch']}", "cell_id": ck.get("cell_id"),
        "backend": ck["backend"], "bin_ms": float(bin_ms), "n_test": len(y),
        "time_ms": time_ms, "accuracy": acc.tolist(), "accuracy_ci": ci,
        "oracle": {"median_ms": float(np.median(oracle_ms)),
                   "ci_ms": _bootstrap(oracle_ms, np.median),
                   "accuracy": float(np.mean(P[:, -1] == y))},
        "oracle_energy_uj": energy_at(oracle),
        "causal": causal, "energy_uj_by_prefix": energy,
        "preds": P.tolist(), "confidence": np.round(C, 6).tolist(), "labels": y.tolist(),
    }


def run_early_decision(checkpoints: list[str], data_root: Any, *, device: str = "cpu",
                       batch_size: int = EVAL_BATCH_SIZE, max_test: int | None = None
                       ) -> list[dict[str, Any]]:
    """:func:`early_decision` of every checkpoint (its cell's test split, or at most ``max_test``
    recordings of it: :func:`benchmarks.robustness.sweep.subsample_test_split`, and
    ``recipe.early_bin_ms``); each result carries ``max_test`` and ``n_test_split`` (the whole
    test split's size). A checkpoint that cannot be evaluated gives ``{"model", "cell_id",
    "max_test", "skipped": reason}`` and the others go on."""
    from benchmarks.results.spec import Recipe
    from benchmarks.robustness.sweep import subsample_test_split
    from benchmarks.runner.checkpoints import load_checkpoint
    from benchmarks.runner.data import open_dataset_cached

    out = []
    for path in checkpoints:
        try:
            loaded = load_checkpoint(path, device)
            src = loaded.checkpoint.get("cell") or {}
            dataset = open_dataset_cached(src["dataset"], data_root)
            if "events" not in dataset.provides:
                raise ValueError(f"dataset {src['dataset']!r} provides frames, not event streams: "
                                 "no time prefixes to take")
            _, test_idx = dataset.split(int(src.get("fold", 0)), str(src.get("protocol", "folds")))
            n_split = len(test_idx)
            test_idx = subsample_test_split(test_idx, max_test)
            bin_ms = Recipe.from_dict(src.get("recipe") or {}).early_bin_ms
            result = early_decision(loaded, dataset, test_idx, bin_ms, batch_size=batch_size,
                                    device=device)
            out.append({**result, "max_test": max_test, "n_test_split": n_split})
        except Exception as exc:  # noqa: BLE001 (one model's failure is reported; others go on)
            log.error("early decision of %s skipped: %s: %s", path, type(exc).__name__, exc)
            out.append({"model": str(path), "cell_id": None, "max_test": max_test,
                        "skipped": f"{type(exc).__name__}: {exc}"})
    return out


def write_early_decision(run_dir: Any, checkpoints: list[str], data_root: Any, *,
                         device: str = "cpu", batch_size: int = EVAL_BATCH_SIZE,
                         max_test: int | None = None, heartbeat_s: float | None = None,
                         claim_timeout_s: float | None = None) -> Any:
    """:func:`run_early_decision` of ``checkpoints`` into ``RUN_DIR/robustness/early_decision.json``
    (atomically); a file that already covers exactly these checkpoints (by cell id) with the same
    ``max_test`` is kept (resume). Returns its path.

    Computed once when several processes ask at the same time: the work is claimed like a cell
    (:class:`benchmarks.runner.claims.ClaimStore`, cell id ``early_decision``, heartbeat
    ``heartbeat_s`` and timeout ``claim_timeout_s``, default 30 s and four heartbeats); a
    process that finds it held waits for the holder (taking it over when the holder's claim goes
    stale or its worker dies) and then keeps the holder's file."""
    from pathlib import Path

    from benchmarks.robustness.sweep import ROBUSTNESS_DIR
    from benchmarks.runner.claims import DEFAULT_HEARTBEAT_S, Claim, ClaimStore, wait_for_holders
    from benchmarks.runner.executors import make_owner

    out = Path(run_dir) / ROBUSTNESS_DIR
    store = ClaimStore(out, heartbeat_s or DEFAULT_HEARTBEAT_S, claim_timeout_s)
    owner = make_owner("early")
    while True:
        got = store.acquire(EARLY_CLAIM, owner)
        if isinstance(got, Claim):
            break
        log.info("early decision: computed by %s pid %s; waiting for it", got.info.host, got.info.pid)
        wait_for_holders(store, [EARLY_CLAIM])
    try:
        return _write_early_decision(out, checkpoints, data_root, device=device,
                                     batch_size=batch_size, max_test=max_test)
    finally:
        got.release()


EARLY_CLAIM = "early_decision"
"""The claim id of the early-decision computation in ``RUN_DIR/robustness/claims``."""


def _write_early_decision(out: Any, checkpoints: list[str], data_root: Any, *, device: str,
                          batch_size: int, max_test: int | None) -> Any:
    import json
    from pathlib import Path

    from benchmarks.robustness.sweep import read_checkpoint_meta
    from datasets.common import atomic_write_text

    path = out / "early_decision.json"
    want = sorted((str(read_checkpoint_meta(Path(p))["cell_id"]), max_test) for p in checkpoints)
    if path.is_file():
        try:
            have = sorted((str(e.get("cell_id")), e.get("max_test"))
                          for e in json.loads(path.read_text()))
        except (ValueError, AttributeError, TypeError):
            have = []
        if have == want:
            log.info("early decision: %s already covers these checkpoints", path)
            return path
    results = run_early_decision(checkpoints, data_root, device=device, batch_size=batch_size,
                                 max_test=max_test)
    return atomic_write_text(path, json.dumps(results, sort_keys=True))
