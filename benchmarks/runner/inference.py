"""Batched inference of a model over a split, and batch-1 latency and throughput measurement."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)


def batches(n: int, batch_size: int, rng=None):
    """Index arrays of the batches over ``n`` samples: in order, or shuffled by the numpy
    ``Generator`` ``rng``; the last batch may be shorter."""
    import numpy as np

    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


def forward_kwargs(frames, idx=None, device: str | None = None) -> dict[str, Any]:
    """``forward``'s ``frames=`` argument: the batch's intensity frames for a two-input
    architecture, nothing for an event-only one (whose ``forward`` takes the events alone)."""
    if frames is None:
        return {}
    f = frames if idx is None else frames[idx]
    return {"frames": f.to(device) if device is not None else f}


def predict(
    backend, model, x, batch_size: int, device: str, *, record_activity: bool = False, frames=None
):
    """Run ``model`` over ``x`` ``(N, T, 2, H, W)`` (and ``frames`` ``(N, F, 1, H, W)`` for a
    two-input architecture, else ``None``) in batches.

    Returns:
        ``(logits (N, K), logits_per_step (N, T, K) or None, activity list or [])``.
    """
    import torch

    from benchmarks.measure.metrics import accumulate_activity

    model.eval()
    logits, per_step, acts = [], [], []
    with torch.no_grad():
        for idx in batches(len(x), batch_size):
            out = backend.forward(model, x[idx].to(device), record_activity=record_activity,
                                  **forward_kwargs(frames, idx, device))
            logits.append(out.logits.detach().cpu())
            if out.logits_per_step is not None:
                per_step.append(out.logits_per_step.detach().cpu())
            if record_activity:
                acts.append(out.activity)
    lps = torch.cat(per_step) if per_step and len(per_step) == len(logits) else None
    return torch.cat(logits), lps, (accumulate_activity(acts) if acts else [])


def measure_latency(backend, model, sample, cell, frames=None) -> dict[str, float]:
    """Batch-1 latency (ms, after warm-up) and throughput (samples/s at a fixed batch), and the
    measured energy per inference at both batch sizes where a counter exists
    (:func:`benchmarks.measure.measured_energy.measure_inference_energy`).

    Args:
        sample: one input ``(1, T, 2, H, W)``, and the batch for throughput is built by repeating it.
        frames: its intensity frames ``(1, F, 1, H, W)`` for a two-input architecture (repeated
            likewise), else ``None``.
    """
    import torch

    from benchmarks.measure.measured_energy import (
        EnergyCounterUnavailable,
        counter_for,
        measure_inference_energy,
    )
    from benchmarks.measure.metrics import latency_stats

    r = cell.recipe
    model.eval()
    x1 = sample.to(cell.device)
    k1 = forward_kwargs(frames, device=cell.device)
    sync = torch.cuda.synchronize if cell.device.startswith("cuda") else (lambda: None)
    times = []
    with torch.no_grad():
        for _ in range(r.warmup_runs):
            backend.forward(model, x1, **k1)
        for _ in range(r.latency_runs):
            sync()
            t = time.perf_counter()
            backend.forward(model, x1, **k1)
            sync()
            times.append((time.perf_counter() - t) * 1e3)
        xb = x1.repeat(r.throughput_batch_size, *([1] * (x1.dim() - 1)))
        kb = {k: v.repeat(r.throughput_batch_size, *([1] * (v.dim() - 1))) for k, v in k1.items()}
        backend.forward(model, xb, **kb)
        reps = 3
        sync()
        t = time.perf_counter()
        for _ in range(reps):
            backend.forward(model, xb, **kb)
        sync()
        dt = time.perf_counter() - t
        # measured energy (NVML on CUDA, RAPL on CPU where exposed; "not available" otherwise):
        # one counter for both batch sizes, so that its absence is logged once per cell
        try:
            counter = counter_for(cell.device)
        except EnergyCounterUnavailable as exc:
            log.info("measured energy: %s", exc)
            measured = {f"energy_measured_status__{label}": str(exc) for label in ("batch1", "throughput")}
        else:
            measured = measure_inference_energy(lambda: backend.forward(model, x1, **k1),
                                                device=cell.device, batch_size=1, sync=sync,
                                                label="batch1", counter=counter)
            measured.update(measure_inference_energy(lambda: backend.forward(model, xb, **kb),
                                                     device=cell.device,
                                                     batch_size=r.throughput_batch_size, sync=sync,
                                                     label="throughput", counter=counter))
    out = latency_stats(times)
    out.update(measured)
    out["throughput_samples_per_s"] = reps * r.throughput_batch_size / dt
    out["throughput_batch_size"] = r.throughput_batch_size
    out["threads"] = torch.get_num_threads()
    return out
