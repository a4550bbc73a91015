"""Inspection outputs of a conversion: the accumulated events as an RGB image
(:func:`event_image`), a preview PNG beside the first and last standardized frames
(:func:`write_preview`) and the standardized frames as PNGs (:func:`write_frames`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["event_image", "write_preview", "write_frames"]


def event_image(events: np.ndarray, sensor_size: tuple[int, int, int], *, pct: float = 99.0) -> np.ndarray:
    """Accumulated events as an RGB image on white: ON red, OFF blue, mixed pixels purple.

    Per pixel, with counts ``n_on``, ``n_off`` and ``n = n_on + n_off``: opacity
    ``a = min(1, n / s)`` where ``s`` is the ``pct``-th percentile of the non-zero ``n``, ON share
    ``f = n_on / n``, colour ``(1 - a) * white + a * (f * red + (1 - f) * blue)``.

    Args:
        events: event records, shape ``(N,)``.
        sensor_size: ``(W, H, 2)``.
        pct: percentile of the counts drawn at full opacity.

    Returns:
        ``(H, W, 3)`` uint8.
    """
    w, h = int(sensor_size[0]), int(sensor_size[1])
    counts = np.zeros((2, h, w), dtype=np.float64)
    np.add.at(counts, (events["p"].astype(np.intp), events["y"].astype(np.intp),
                       events["x"].astype(np.intp)), 1.0)
    total = counts.sum(axis=0)
    nz = total[total > 0]
    scale = float(np.percentile(nz, pct)) if nz.size else 1.0
    a = np.minimum(1.0, total / max(scale, 1e-9))
    f_on = np.divide(counts[1], total, out=np.zeros_like(total), where=total > 0)
    rgb = np.stack([1.0 - a + a * f_on, 1.0 - a, 1.0 - a + a * (1.0 - f_on)], axis=-1)
    return np.round(rgb * 255.0).astype(np.uint8)


def write_preview(
    path: str | os.PathLike,
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    frames: np.ndarray | None = None,
) -> Path:
    """Write a PNG: ``[first frame | last frame |]`` accumulated events (see :func:`event_image`).

    Args:
        path: the ``.png`` to write (parents created).
        events: event records.
        sensor_size: ``(W, H, 2)``.
        frames: optional ``(N, H, W)`` uint8 standardized frames (first and last are shown).

    Returns:
        The path written.
    """
    from PIL import Image

    panels = []
    if frames is not None and len(frames):
        for f in (frames[0], frames[-1]):
            panels.append(np.repeat(np.asarray(f, dtype=np.uint8)[..., None], 3, axis=2))
    panels.append(event_image(events, sensor_size))
    gap = np.full((panels[0].shape[0], 4, 3), 255, dtype=np.uint8)
    row = [panels[0]]
    for p in panels[1:]:
        row += [gap, p]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(row, axis=1)).save(path)
    return path


def write_frames(folder: str | os.PathLike, frames: np.ndarray) -> Path:
    """Write standardized frames ``(N, H, W)`` uint8 as ``<folder>/00000.png``, ... ; returns it."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(np.asarray(f, dtype=np.uint8)).save(folder / f"{i:05d}.png")
    return folder
