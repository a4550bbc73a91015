"""Face mirroring: one half of the sensor copied, mirrored, onto the other, on events and on
frames (Spiking-FER's ``FaceMirror``)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from datasets.transforms.binning import check_events, check_sensor_size
from datasets.transforms.functional.common import _check_frames, merge_sorted

Side = Literal["left", "right"]


def mirror_events(events: np.ndarray, sensor_size: tuple[int, int, int], side: Side) -> np.ndarray:
    """Event form of :func:`mirror_frames`: make the face symmetric from one half.

    With ``half = W // 2``: for ``side="left"`` the events with ``x < half`` are kept and copied to
    ``x' = W - 1 - x`` and those with ``x >= W - half`` are removed; ``"right"`` is the converse.
    The middle column of an odd ``W`` is kept. Binning the result equals applying
    :func:`mirror_frames` to the binned input.

    Returns:
        New events of the input dtype, sorted by ``t`` (each copy after the kept events of its
        ``t``).

    Raises:
        ValueError: bad ``side``, invalid events or sensor size.
    """
    w, _ = check_sensor_size(sensor_size)
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    check_events(events, sensor_size, require_sorted=True)
    half = w // 2
    x = events["x"]
    if side == "left":
        source, removed = x < half, x >= w - half
    else:
        source, removed = x >= w - half, x < half
    copies = events[source]
    copies["x"] = w - 1 - copies["x"]
    return merge_sorted(events[~removed], copies)


def mirror_frames(frames: np.ndarray, side: Side) -> np.ndarray:
    """Copy one half of each frame, mirrored, onto the other half.

    Source: Spiking-FER ``FaceMirror`` (``project/utils/transforms.py``): ``"left"`` sets
    ``frames[..., W - W//2:] = flip(frames[..., :W//2])``; ``"right"`` sets
    ``frames[..., :W//2] = flip(frames[..., W - W//2:])``. Upstream writes in place and assumes an
    even ``W``; here the input is not modified and the middle column of an odd ``W`` is kept.

    Args:
        frames: array ``(..., H, W)``, e.g. ``(T, 2, H, W)``.
        side: ``"left"`` or ``"right"``, the half that is kept.

    Returns:
        New array of the same shape and dtype.

    Raises:
        ValueError: bad ``side`` or fewer than 2 axes.
    """
    frames = _check_frames(frames)
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    w = frames.shape[-1]
    half = w // 2
    out = frames.copy()
    if half == 0:
        return out
    if side == "left":
        out[..., w - half :] = frames[..., :half][..., ::-1]
    else:
        out[..., :half] = frames[..., w - half :][..., ::-1]
    return out
