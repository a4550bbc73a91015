"""Checkpoints of trained cells, and sliding-window prediction over a raw event recording.

Checkpoint (written by :func:`benchmarks.cell.run_cell` when given ``checkpoint_dir``, one file
``<safe cell id>.pt`` per cell, a ``torch.save`` dict, see :func:`save_checkpoint`):

- ``schema``: :data:`CHECKPOINT_SCHEMA` (``"neurofer-checkpoint"``) and ``schema_version``
  (:data:`CHECKPOINT_SCHEMA_VERSION`);
- ``state_dict``: the selected model's weights (on CPU);
- ``cell``: :meth:`benchmarks.cell.Cell.to_dict` (backend, arch, recipe, ...), ``cell_id``;
- ``backend``, ``arch``: names for :func:`backends.base.get_backend` / :func:`backends.specs.get_arch`;
- ``input_shape``: ``(T, 2, H, W)`` of one model input; ``classes``: class names, index order;
- ``sensor_size``: the training dataset's ``(W, H, 2)``;
- ``binner``: the training binner's fields (``dataclasses.asdict`` of :class:`datasets.binning.ToFrames`)
  and ``binner_repr``.

Prediction (:func:`predict_recording`): the recording's events (``t`` in µs from its first event)
are cut into half-open windows ``[s, s + window)`` with ``s = 0, stride, 2 stride, ...`` while
``s <= t_last - window`` (only whole windows; a recording shorter than one window gives one
window ``[0, window)``). Each window's events are binned like the training data (same mode,
``n_time_bins``, ``event_count``, binarisation and output size ``(H, W)``) but with the
*recording's* sensor size, so a DAVIS346 (346x260) file feeds a model trained on 48x48 frames.

Empty-window policy: a window without any event is **not** run through the model (a model fed
all-zero frames returns its bias, which is no prediction); it is reported with ``n_events = 0``,
``label = None`` and ``probability = NaN``, and logged.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CHECKPOINT_SCHEMA = "neurofer-checkpoint"
CHECKPOINT_SCHEMA_VERSION = 1


class CheckpointError(ValueError):
    """A file is not a readable NeuroFER-Bench checkpoint; the message names the file."""


def checkpoint_filename(cell_id: str) -> str:
    """File name of a cell's checkpoint: the cell id with ``/`` as ``__`` and any other character
    outside ``[A-Za-z0-9._-]`` as ``_``, plus ``.pt``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", cell_id.replace("/", "__")) + ".pt"


def _binner_fields(binner: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(binner):
        d = dataclasses.asdict(binner)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
    return {}


def save_checkpoint(checkpoint_dir: str | Path, cell: Any, model: Any, data: Any) -> Path:
    """Save ``model`` (the selected weights) of ``cell`` to ``checkpoint_dir/<safe cell id>.pt``.

    Args:
        checkpoint_dir: folder, created if absent.
        cell: the :class:`benchmarks.cell.Cell`.
        model: the trained ``torch.nn.Module``.
        data: the cell's :class:`benchmarks.data.CellData` (input shape, classes, dataset
            sensor size, binner).

    Returns:
        The path written (atomically: temporary file, then rename).
    """
    import os

    import torch

    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    path = checkpoint_dir / checkpoint_filename(cell.cell_id)
    sensor = getattr(data.dataset, "sensor_size", None)
    ckpt = {
        "schema": CHECKPOINT_SCHEMA,
        "schema_version": CHECKPOINT_SCHEMA_VERSION,
        "cell_id": cell.cell_id,
        "cell": cell.to_dict(),
        "backend": cell.backend,
        "arch": cell.arch,
        "input_shape": [int(v) for v in data.train.x.shape[1:]],
        "classes": list(data.classes),
        "sensor_size": [int(v) for v in sensor] if sensor is not None else None,
        "binner": _binner_fields(data.binner),
        "binner_repr": repr(data.binner),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(ckpt, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    log.info("checkpoint of %s -> %s", cell.cell_id, path)
    return path


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint, ready for inference (eval mode, on ``device``)."""

    path: Path
    backend: Any
    model: Any
    checkpoint: dict[str, Any]
    device: str = "cpu"

    @property
    def classes(self) -> list[str]:
        return list(self.checkpoint["classes"])

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(T, 2, H, W)``."""
        return tuple(self.checkpoint["input_shape"])  # type: ignore[return-value]

    def binner_for(self, sensor_size: tuple[int, int, int]):
        """The training binning with ``sensor_size`` ``(W, H, 2)`` (the recording's) in place of
        the training dataset's; output frames ``(T, 2, H, W)`` of :attr:`input_shape`.

        Raises:
            CheckpointError: the checkpoint has no binner fields (a non-``ToFrames`` binner).
        """
        from datasets.binning import ToFrames

        fields = dict(self.checkpoint.get("binner") or {})
        if not fields:
            raise CheckpointError(
                f"{self.path}: checkpoint has no binner parameters ({self.checkpoint.get('binner_repr')!r}); "
                "cannot bin a recording like the training data"
            )
        fields["sensor_size"] = tuple(int(v) for v in sensor_size)
        if fields.get("size") is not None:
            fields["size"] = tuple(fields["size"])
        known = {f.name for f in dataclasses.fields(ToFrames)}
        return ToFrames(**{k: v for k, v in fields.items() if k in known})


def load_checkpoint(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Load a checkpoint and rebuild its model with the same backend and architecture.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a NeuroFER-Bench checkpoint (unreadable, wrong schema, newer schema
            version), unknown or unavailable backend, unknown architecture, or weights that do not
            fit the rebuilt model. Every message names the file.
    """
    import torch

    from backends.base import UnknownNameError, get_backend
    from backends.specs import get_arch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors of a file that is not a torch.save output
        log.debug("torch.load(%s) failed: %s", path, exc)
        raise CheckpointError(
            f"{path}: not a checkpoint (torch.load cannot read it as a weights-only torch.save file: "
            f"{type(exc).__name__})"
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("schema") != CHECKPOINT_SCHEMA:
        raise CheckpointError(f"{path}: not a NeuroFER-Bench checkpoint (no schema {CHECKPOINT_SCHEMA!r})")
    version = ckpt.get("schema_version")
    if not isinstance(version, int) or version > CHECKPOINT_SCHEMA_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint schema version {version!r} is not supported (this code reads <= "
            f"{CHECKPOINT_SCHEMA_VERSION})"
        )
    for key in ("backend", "arch", "input_shape", "classes", "state_dict"):
        if key not in ckpt:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    try:
        backend = get_backend(ckpt["backend"])
        arch = get_arch(ckpt["arch"])
    except UnknownNameError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    ok, why = backend.available()
    if not ok:
        raise CheckpointError(f"{path}: backend {ckpt['backend']!r} is unavailable: {why}")
    model = backend.build(arch, tuple(ckpt["input_shape"]), len(ckpt["classes"]))
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit {ckpt['backend']}/{ckpt['arch']}: {exc}") from exc
    model.to(device).eval()
    log.info("loaded %s: %s/%s, input %s, %d classes", path, ckpt["backend"], ckpt["arch"],
             tuple(ckpt["input_shape"]), len(ckpt["classes"]))
    return LoadedModel(path=path, backend=backend, model=model, checkpoint=ckpt, device=device)


def read_recording(path: str | Path) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Events and sensor size of a recording: ``.aedat4`` (DV / DAVIS) or a v2e-layout ``.h5``.

    For ``.h5`` (which stores no sensor size) the sensor is ``(max x + 1, max y + 1, 2)``.
    Times are shifted so the first event is at 0 µs.

    Returns:
        ``(events (N,) EVENTS_DTYPE sorted, t in µs from the first event, sensor_size (W, H, 2))``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unsupported extension, or an unreadable/invalid file
            (:class:`datasets.events.EventFileError`, naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such recording")
    suffix = path.suffix.lower()
    if suffix == ".aedat4":
        from datasets.aedat import read_aedat4

        rec = read_aedat4(path)
        return rec.events, tuple(int(v) for v in rec.sensor_size)  # type: ignore[return-value]
    if suffix in (".h5", ".hdf5"):
        from datasets.events import EventFileError, read_v2e_h5

        events = read_v2e_h5(path)
        if events.shape[0] == 0:
            raise EventFileError(f"{path}: no events")
        events = events.copy()
        events["t"] -= events["t"][0]
        sensor = (int(events["x"].max()) + 1, int(events["y"].max()) + 1, 2)
        return events, sensor
    raise ValueError(f"{path}: unsupported recording type {suffix!r} (expected .aedat4 or a v2e .h5)")


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
) -> list[WindowPrediction]:
    """Predict the class of every sliding window of ``recording`` with ``loaded``'s model.

    Args:
        loaded: from :func:`load_checkpoint`.
        recording: ``.aedat4`` or v2e ``.h5`` (see :func:`read_recording`).
        window_ms, stride_ms: window length and step in ms (> 0).
        batch_size: windows per forward pass.

    Returns:
        One :class:`WindowPrediction` per window (see :func:`window_starts`), in time order;
        ``probability`` is the softmax probability of the predicted class.

    Raises:
        FileNotFoundError, ValueError: see :func:`read_recording`; ``ValueError`` for a
            non-positive window/stride, or binned frames of another shape than the model's input.
    """
    import torch

    from benchmarks.cell import predict as predict_batches

    window_us = int(round(window_ms * 1000))
    stride_us = int(round(stride_ms * 1000))
    events, sensor = read_recording(recording)
    t = events["t"]
    starts = window_starts(int(t[-1]), window_us, stride_us)
    lo = np.searchsorted(t, starts, side="left")
    hi = np.searchsorted(t, starts + window_us, side="left")
    binner = loaded.binner_for(sensor)
    log.info("%s: %d events, sensor %s, %d windows of %g ms every %g ms; binner %r",
             recording, t.shape[0], sensor, starts.shape[0], window_ms, stride_ms, binner)
    nonempty = [i for i in range(starts.shape[0]) if hi[i] > lo[i]]
    for i in range(starts.shape[0]):
        if hi[i] == lo[i]:
            log.warning("window %d [%g, %g) ms has no event: skipped (no prediction)",
                        i, starts[i] / 1000, (starts[i] + window_us) / 1000)
    frames = [binner(events[lo[i]:hi[i]]) for i in nonempty]
    expected = loaded.input_shape
    for f in frames[:1]:
        if tuple(f.shape) != tuple(expected):
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
