"""Sliding-window prediction over a raw event recording with a trained cell's checkpoint
(:mod:`benchmarks.runner.checkpoints`).

Prediction (:func:`predict_recording`): the recording's events (``t`` in µs from its first event)
are cut into half-open windows ``[s, s + window)`` with ``s = 0, stride, 2 stride, ...`` while
``s <= t_last - window`` (only whole windows; a recording shorter than one window gives one
window ``[0, window)``). Each window's events are binned like the training data (same mode,
``n_time_bins``, ``event_count``, binarisation and output size ``(H, W)``) but with the
*recording's* sensor size, so a DAVIS346 (346x260) file feeds a model trained on 48x48 frames.

Empty-window policy: a window without any event is **not** run through the model (a model fed
all-zero frames returns its bias, which is no prediction); it is reported with ``n_events = 0``,
``label = None`` and ``probability = NaN``, and counted in one warning for the recording.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.runner.checkpoints import LoadedModel

log = logging.getLogger(__name__)


def read_recording(path: str | Path, sensor_size=None) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Events and sensor size of a recording of any kind the suite reads.

    The dispatch by suffix is :func:`datasets.io.recording.read_recording` (``.aedat4``, v2e
    ``.h5``, Prophesee ``.raw`` EVT 2.0 / 3.0 and ``.dat``); see there for how each kind's sensor
    size is decided (``sensor_size``: for files that declare none).

    Returns:
        ``(events (N,) EVENTS_DTYPE sorted, t in µs from the first event, sensor_size (W, H, 2))``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unsupported suffix, or an unreadable/invalid file
            (:class:`datasets.io.events.EventFileError`, naming the file).
    """
    from datasets.io.recording import read_recording as read_any

    rec = read_any(path, sensor_size=sensor_size)
    return rec.events, rec.sensor_size


def window_starts(t_last_us: int, window_us: int, stride_us: int) -> np.ndarray:
    """Start times (µs) of the sliding windows over ``[0, t_last_us]``.

    Windows are ``[s, s + window_us)`` for ``s = k * stride_us``, ``k = 0 .. (t_last - window) //
    stride``: every whole window that ends at or before the last event (``s + window <= t_last``).
    A recording shorter than one window gives the single window ``s = 0``.

    Returns:
        int64 array ``(n_windows,)``.

    Raises:
        ValueError: ``window_us`` or ``stride_us`` not positive.
    """
    if window_us <= 0 or stride_us <= 0:
        raise ValueError(f"window and stride must be > 0 µs, got {window_us} and {stride_us}")
    if t_last_us < window_us:
        return np.zeros(1, dtype=np.int64)
    n = (int(t_last_us) - int(window_us)) // int(stride_us) + 1
    return np.arange(n, dtype=np.int64) * int(stride_us)


@dataclass
class WindowPrediction:
    """One window's prediction. ``label``/``index`` are ``None`` and ``probability`` NaN for an
    empty window (not run; see the module docstring)."""

    start_ms: float
    end_ms: float
    n_events: int
    label: str | None
    index: int | None
    probability: float


def predict_recording(
    loaded: LoadedModel,
    recording: str | Path,
    *,
    window_ms: float = 500.0,
    stride_ms: float = 250.0,
    batch_size: int = 32,
    sensor_size=None,
) -> list[WindowPrediction]:
    """Predict the class of every sliding window of ``recording`` with ``loaded``'s model.

    Args:
        loaded: from :func:`benchmarks.runner.checkpoints.load_checkpoint`.
        recording: ``.aedat4``, v2e ``.h5``, Prophesee ``.raw`` / ``.dat`` (see
            :func:`read_recording`).
        window_ms, stride_ms: window length and step in ms (> 0).
        batch_size: windows per forward pass.
        sensor_size: ``(W, H)`` for a recording that declares no sensor size (see
            :func:`read_recording`).

    Returns:
        One :class:`WindowPrediction` per window (see :func:`window_starts`), in time order;
        ``probability`` is the softmax probability of the predicted class.

    Raises:
        FileNotFoundError, ValueError: see :func:`read_recording`; ``ValueError`` for a
            non-positive window/stride, or binned frames of another shape than the model's input
            (checked before any window is binned).
    """
    import torch

    from benchmarks.runner.inference import predict as predict_batches

    window_us = int(round(window_ms * 1000))
    stride_us = int(round(stride_ms * 1000))
    events, sensor = read_recording(recording, sensor_size=sensor_size)
    t = events["t"]
    starts = window_starts(int(t[-1]), window_us, stride_us)
    lo = np.searchsorted(t, starts, side="left")
    hi = np.searchsorted(t, starts + window_us, side="left")
    binner = loaded.binner_for(sensor)
    log.info("%s: %d events, sensor %s, %d windows of %g ms every %g ms; binner %r",
             recording, t.shape[0], sensor, starts.shape[0], window_ms, stride_ms, binner)
    expected = tuple(loaded.input_shape)
    out_hw = tuple(binner.size) if binner.size is not None else (sensor[1], sensor[0])
    if out_hw != expected[-2:]:
        raise ValueError(f"{recording}: windows bin to frames of (H, W) = {out_hw} (sensor "
                         f"{sensor[0]}x{sensor[1]}), the model expects {expected}")
    nonempty = [i for i in range(starts.shape[0]) if hi[i] > lo[i]]
    _log_empty_windows(recording, starts, hi == lo, window_us)
    frames = [binner(events[lo[i]:hi[i]]) for i in nonempty]
    for f in frames[:1]:
        if tuple(f.shape) != expected:
            raise ValueError(f"{recording}: binned window has shape {f.shape}, model expects {expected}")
    probs = np.zeros((0, len(loaded.classes)), dtype=np.float32)
    if frames:
        x = torch.from_numpy(np.stack(frames))
        logits, _, _ = predict_batches(loaded.backend, loaded.model, x, batch_size, loaded.device)
        probs = torch.softmax(logits.float(), dim=1).numpy()
    by_window = dict(zip(nonempty, probs, strict=True))
    out = []
    for i, s in enumerate(starts):
        p = by_window.get(i)
        k = int(p.argmax()) if p is not None else None
        out.append(WindowPrediction(
            start_ms=s / 1000, end_ms=(s + window_us) / 1000, n_events=int(hi[i] - lo[i]),
            label=loaded.classes[k] if k is not None else None, index=k,
            probability=float(p[k]) if p is not None else math.nan,
        ))
    return out


def _log_empty_windows(recording, starts: np.ndarray, empty: np.ndarray, window_us: int) -> None:
    """One warning for all the windows without an event (``empty``, ``(n_windows,)`` bool): how
    many, of how many, and the first and last of them (a recording with a gap of minutes has
    thousands; one line each would bury the output)."""
    idx = np.flatnonzero(empty)
    if not idx.size:
        return
    first, last = int(idx[0]), int(idx[-1])
    log.warning("%s: %d of %d windows have no event and are skipped (no prediction); the first "
                "[%g, %g) ms, the last [%g, %g) ms", recording, idx.size, empty.shape[0],
                starts[first] / 1000, (starts[first] + window_us) / 1000,
                starts[last] / 1000, (starts[last] + window_us) / 1000)


def format_predictions(preds: list[WindowPrediction]) -> list[str]:
    """One text line per window: ``start-end ms  n events  class  probability``."""
    lines = [f"{'window (ms)':>19}  {'events':>8}  {'class':<12}  {'prob':>6}"]
    for w in preds:
        span = f"{w.start_ms:.1f}-{w.end_ms:.1f}"
        if w.label is None:
            lines.append(f"{span:>19}  {w.n_events:>8}  {'(empty: skipped)':<12}  {'':>6}")
        else:
            lines.append(f"{span:>19}  {w.n_events:>8}  {w.label:<12}  {w.probability:6.3f}")
    return lines


def write_predictions_csv(path: str | Path, preds: list[WindowPrediction]) -> Path:
    """Write ``start_ms,end_ms,n_events,class,class_index,probability`` (empty class and NaN
    probability for skipped empty windows). Creates parent folders."""
    import csv

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["start_ms", "end_ms", "n_events", "class", "class_index", "probability"])
        for p in preds:
            w.writerow([f"{p.start_ms:.3f}", f"{p.end_ms:.3f}", p.n_events, p.label or "",
                        "" if p.index is None else p.index,
                        "nan" if math.isnan(p.probability) else f"{p.probability:.6f}"])
    return path
