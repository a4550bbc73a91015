"""Event drops: by a time window, by a sensor box, at random, and the draws of the window and the
box (Spiking-FER's ``project/utils/drop_event.py``, tonic's ``DropEventByTime``,
``DropEventByArea``, ``DropEvent``)."""

from __future__ import annotations

import numpy as np

from datasets.transforms.binning import check_sensor_size
from datasets.transforms.functional.common import _check_fields, _check_probability, _check_ratio


def drop_by_time(events: np.ndarray, t_start: float, t_end: float) -> np.ndarray:
    """Remove the events with ``t_start <= t <= t_end`` (µs, both ends included, as upstream's
    ``drop_by_time_numpy`` in ``project/utils/drop_event.py`` of Spiking-FER and tonic).

    Returns:
        New events (the others, in order), same dtype.

    Raises:
        ValueError: missing field ``t`` or ``t_end < t_start``.
    """
    _check_fields(events, "t")
    if t_end < t_start:
        raise ValueError(f"t_end must be >= t_start, got t_start={t_start!r}, t_end={t_end!r}")
    t = events["t"]
    return events[(t < t_start) | (t > t_end)]


def drop_by_area(events: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Remove the events inside ``box = (x_min, y_min, x_max, y_max)``, bounds included (as
    upstream's ``drop_by_area_numpy``, Spiking-FER ``project/utils/drop_event.py`` and tonic).
    An empty box (``x_max < x_min`` or ``y_max < y_min``) removes nothing.

    Returns:
        New events (the others, in order), same dtype.

    Raises:
        ValueError: missing fields or a box that is not four integers.
    """
    _check_fields(events, "xy")
    try:
        x0, y0, x1, y1 = (int(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"box must be (x_min, y_min, x_max, y_max), got {box!r}") from exc
    x, y = events["x"], events["y"]
    inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    return events[~inside]


def drop_random(
    events: np.ndarray, drop_probability: float, rng: np.random.Generator
) -> np.ndarray:
    """Remove ``round_half_up(drop_probability * N)`` events chosen uniformly without replacement.

    The count ``int(drop_probability * N + 0.5)`` is upstream's (``drop_event_numpy`` in
    Spiking-FER's ``project/utils/drop_event.py`` and in tonic).

    Returns:
        New events (the kept ones, in order), same dtype.

    Raises:
        ValueError: ``drop_probability`` outside [0, 1].
    """
    _check_fields(events, "t")
    _check_probability(drop_probability, "drop_probability")
    n = events.shape[0]
    n_drop = int(drop_probability * n + 0.5)
    keep = np.ones(n, dtype=bool)
    keep[rng.choice(n, size=n_drop, replace=False)] = False
    return events[keep]


def sample_drop_time_window(
    events: np.ndarray, duration_ratio: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Draw the window ``(t_start, t_end)`` (µs) of
    :class:`~datasets.transforms.edas.DropEventByTime`.

    ``d = (max(t) - min(t)) * duration_ratio``; ``t_start ~ U(min(t), max(t) - d)``;
    ``t_end = t_start + d``. Upstream (``drop_by_time_numpy``, Spiking-FER and tonic) uses 0
    instead of ``min(t)``; the two agree for recordings starting at ``t = 0`` (v2e's), and
    ``min(t)`` keeps the dropped fraction of the *recording's* duration for the others.

    Raises:
        ValueError: empty events or ``duration_ratio`` outside [0, 1).
    """
    _check_ratio(duration_ratio, "duration_ratio")
    if events.shape[0] == 0:
        raise ValueError("events must not be empty to draw a time window (0 events)")
    t0, t1 = float(events["t"][0]), float(events["t"][-1])
    d = (t1 - t0) * duration_ratio
    start = float(rng.uniform(t0, t1 - d)) if t1 - d > t0 else t0
    return start, start + d


def sample_drop_box(
    sensor_size: tuple[int, int, int], area_ratio: float, rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """Draw the box ``(x_min, y_min, x_max, y_max)`` (inclusive) of
    :class:`~datasets.transforms.edas.DropEventByArea`.

    ``cut_w = int(W * area_ratio)``, ``cut_h = int(H * area_ratio)``, ``x_min ~ U{0..W-cut_w-1}``,
    ``y_min ~ U{0..H-cut_h-1}``, ``x_max = x_min + cut_w - 1`` (upstream's ``drop_by_area_numpy``:
    ``np.random.randint(0, W - cut_w)``).

    Raises:
        ValueError: ``area_ratio`` outside [0, 1) or a bad sensor size.
    """
    w, h = check_sensor_size(sensor_size)
    _check_ratio(area_ratio, "area_ratio")
    cut_w, cut_h = int(w * area_ratio), int(h * area_ratio)
    x0 = int(rng.integers(0, w - cut_w))
    y0 = int(rng.integers(0, h - cut_h))
    return x0, y0, x0 + cut_w - 1, y0 + cut_h - 1
