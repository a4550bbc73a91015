"""Flips of events: left-right (x' = W - 1 - x) and polarity (all or a mask of events)."""

from __future__ import annotations

import numpy as np

from datasets.transforms.binning import check_events
from datasets.transforms.functional.common import _check_fields


def flip_lr(events: np.ndarray, sensor_size: tuple[int, int, int]) -> np.ndarray:
    """Mirror left-right: ``x' = W - 1 - x`` (Spiking-FER ``RandomFlipLR``; tonic ``RandomFlipLR``).

    Args:
        events: structured ``(N,)`` with fields ``t, x, y, p``, inside ``sensor_size``.
        sensor_size: ``(W, H, 2)``.

    Returns:
        New events ``(N,)``, same dtype and order.

    Raises:
        ValueError: invalid events or sensor size
            (:func:`datasets.transforms.binning.check_events`).
    """
    check_events(events, sensor_size, require_sorted=False)
    out = events.copy()
    out["x"] = int(sensor_size[0]) - 1 - events["x"]
    return out


def flip_polarity(events: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Invert polarities: ``p' = 1 - p`` for the events selected by ``mask`` (all if ``None``).

    Source: Spiking-FER ``RandomFlipPolarity`` (``np.logical_not`` on the selected events).

    Args:
        events: structured ``(N,)`` with field ``p`` in {0, 1} (bool or integer).
        mask: bool ``(N,)`` or ``None``.

    Returns:
        New events ``(N,)``, same dtype and order.

    Raises:
        ValueError: missing field, or ``mask`` of the wrong shape.
    """
    _check_fields(events, "p")
    out = events.copy()
    if mask is None:
        out["p"] = events["p"] == 0
        return out
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != events.shape:
        raise ValueError(f"mask must have shape {events.shape}, got {mask.shape}")
    out["p"][mask] = events["p"][mask] == 0
    return out
