"""Background-activity noise: uniform noise events merged by time into a recording
(Spiking-FER's ``BackgroundActivityNoise``)."""

from __future__ import annotations

import numpy as np

from datasets.transforms.binning import check_events, check_sensor_size
from datasets.transforms.functional.common import merge_sorted

BACKGROUND_ACTIVITY_FRACTIONS: tuple[float, ...] = (0.005, 0.01, 0.03, 0.10, 0.2)
"""Noise events added, as a fraction of N, for severity 1..5 (``BackgroundActivityNoise`` in
``project/utils/transform_dvs.py`` of Barchid/spiking-fer)."""


def background_activity(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    n_noise: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Add ``n_noise`` noise events drawn uniformly over the sensor and the recording's time span.

    Each noise event has ``x ~ U{0..W-1}``, ``y ~ U{0..H-1}``, ``p ~ U{0, 1}`` and
    ``t ~ U{min(t)..max(t)}`` (integer µs, both ends included), as Spiking-FER's
    ``BackgroundActivityNoise`` and tonic's ``uniform_noise_numpy`` (which draw floats and
    truncate them). The result is merged by time
    (:func:`~datasets.transforms.functional.common.merge_sorted`), not re-sorted, so the original
    events keep their order. Empty events are returned unchanged (as tonic's ``UniformNoise``): they
    have no time span.

    Args:
        events: structured ``(N,)``, inside ``sensor_size``, sorted by ``t``.
        sensor_size: ``(W, H, 2)``.
        n_noise: number of events to add, ``>= 0``.
        rng: the random generator.

    Returns:
        New events ``(N + n_noise,)`` of the input dtype, sorted by ``t``.

    Raises:
        ValueError: ``n_noise < 0``, invalid events or sensor size.
    """
    w, h = check_sensor_size(sensor_size)
    check_events(events, sensor_size, require_sorted=True)
    if int(n_noise) < 0:
        raise ValueError(f"n_noise must be >= 0, got {n_noise!r}")
    if events.shape[0] == 0 or n_noise == 0:
        return events.copy()
    t = events["t"]
    noise = np.zeros(int(n_noise), dtype=events.dtype)  # zeros: extra fields get 0, not garbage
    noise["t"] = np.sort(rng.integers(int(t[0]), int(t[-1]), size=int(n_noise), endpoint=True))
    noise["x"] = rng.integers(0, w, size=int(n_noise))
    noise["y"] = rng.integers(0, h, size=int(n_noise))
    noise["p"] = rng.integers(0, 2, size=int(n_noise))
    return merge_sorted(events, noise)
