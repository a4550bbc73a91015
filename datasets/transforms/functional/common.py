"""What the augmentation kernels share: the per-sample generator (:func:`make_rng`), the stable
merge of two time-sorted event arrays (:func:`merge_sorted`), and the argument checks of events,
frames, probabilities and ratios (each raising ``ValueError`` naming the argument and value)."""

from __future__ import annotations

import numpy as np


def make_rng(seed: int, epoch: int = 0, index: int = 0) -> np.random.Generator:
    """A generator for one sample of one epoch: ``np.random.default_rng([seed, epoch, index])``.

    Independent of worker count and order (numpy ``SeedSequence`` entropy mixing).

    Raises:
        ValueError: a value is negative (``SeedSequence`` needs non-negative integers).
    """
    for name, v in (("seed", seed), ("epoch", epoch), ("index", index)):
        if int(v) < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
    return np.random.default_rng([int(seed), int(epoch), int(index)])


def _check_probability(value: float, name: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def _check_ratio(value: float | tuple[float, float], name: str) -> None:
    """A ratio in [0, 1) or a (low, high) range of such ratios (tonic / Spiking-FER rule)."""
    values = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and (len(value) != 2 or value[0] > value[1]):
        raise ValueError(f"{name} must be a float or a (low, high) tuple, got {value!r}")
    for v in values:
        if not 0.0 <= v < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def _draw_ratio(value: float | tuple[float, float], rng: np.random.Generator) -> float:
    if isinstance(value, tuple):
        return float(rng.uniform(value[0], value[1]))
    return float(value)


def _check_fields(events: np.ndarray, fields: str = "txyp") -> None:
    if not isinstance(events, np.ndarray) or events.dtype.names is None or events.ndim != 1:
        raise ValueError(f"events must be a 1-D numpy structured array, got {type(events)}")
    missing = [f for f in fields if f not in events.dtype.names]
    if missing:
        raise ValueError(f"events lack field(s) {missing}; have {list(events.dtype.names)}")


def _check_sorted(events: np.ndarray) -> None:
    t = events["t"]
    if t.shape[0] > 1 and bool(np.any(t[1:] < t[:-1])):
        i = int(np.flatnonzero(t[1:] < t[:-1])[0])
        raise ValueError(
            f"events field 't' decreases at event {i + 1} ({int(t[i])} -> {int(t[i + 1])} us); "
            "events must be sorted by time"
        )


def merge_sorted(events: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """Merge two time-sorted event arrays of the same dtype into one sorted array.

    Each event of ``extra`` goes after the events of ``events`` with the same ``t``; the
    relative order inside each input is kept (a stable merge, O(N + M)).

    Args:
        events, extra: structured arrays ``(N,)`` and ``(M,)`` sorted by ``t``.

    Returns:
        array ``(N + M,)`` of ``events.dtype``.
    """
    n, m = events.shape[0], extra.shape[0]
    out = np.empty(n + m, dtype=events.dtype)
    pos = np.searchsorted(np.ascontiguousarray(events["t"]), extra["t"], side="right")
    pos = pos + np.arange(m)
    is_extra = np.zeros(n + m, dtype=bool)
    is_extra[pos] = True
    out[pos] = extra.astype(events.dtype, copy=False)
    out[~is_extra] = events
    return out


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim < 2:
        raise ValueError(f"frames must have at least 2 axes (..., H, W), got shape {frames.shape}")
    return frames
