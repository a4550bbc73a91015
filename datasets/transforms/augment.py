"""Event data augmentations (EDAs) of Spiking-FER, seeded and stateless.

Spiking-FER (Barchid et al., CBMI 2023; repository Barchid/spiking-fer) trains with six EDAs,
built in ``project/utils/transforms.py`` (``DVSTransform``) in this order (file: class; then the
probability and parameters it uses):

- ``flip``: ``project/utils/transform_dvs.py``: ``RandomFlipLR``, x' = W - 1 - x; p = 0.5.
- ``background_activity``: ``transform_dvs.py``: ``BackgroundActivityNoise(severity=5)``,
  uniform noise events, 20 % of N at severity 5; wrapped in ``RandomApply(p=0.5)``.
- ``reverse``: ``transform_dvs.py``: ``RandomTimeReversal(p=0.2)``, t' = max(t) - t, order
  reversed, polarity inverted.
- (``flip_polarity``, allowed but not in the six defaults): ``transform_dvs.py``:
  ``RandomFlipPolarity(p=0.2)``, each event flipped independently with probability 0.2.
- ``event_drop``: ``project/utils/dvs_noises.py``: ``EventDrop`` -> ``project/utils/drop_event.py``:
  uniform choice of identity / drop by time / drop by area / random drop.
- binning: ``transform_dvs.py``: ``CustomToFrame`` (T = 6, 2500 events per frame) +
  ``BinarizeFrame`` (see :mod:`datasets.transforms.binning`).
- ``crop``: torchvision ``RandomResizedCrop((128, 128), NEAREST)`` (scale (0.08, 1), ratio
  (3/4, 4/3)) on the binned frames; without ``crop``, ``Resize((128, 128), NEAREST)`` instead.
- ``mirror``: ``project/utils/transforms.py``: ``FaceMirror`` on the frames, one half copied
  mirrored onto the other (side 50/50); wrapped in ``RandomApply(p=0.5)``.

(``train.py`` sets ``timesteps = 6`` and the default ``--edas`` list
``flip,background_activity,crop,reverse,mirror,event_drop``.)

Design here: every augmentation is a pure numpy function with explicit parameters plus a frozen
dataclass ``__call__(data, rng)`` that draws the random parameters from the
``np.random.Generator`` it is given and delegates; nothing is stored in ``self`` during a call,
so the same generator state gives the same output in any process. :func:`make_rng` derives a
per-sample generator from ``(seed, epoch, index)``.

Why not tonic's transforms (tonic 1.7.0) directly: they draw from numpy's *global* random state
(``np.random.rand``, ``np.random.choice``, ``np.random.uniform``), which cannot be given a
Generator, so outputs are not reproducible per sample across DataLoader workers. Their
semantics were checked and the tests use them as references where they agree:
``RandomFlipLR`` (x' = W - 1 - x) and ``RandomTimeReversal`` (t' = max(t) - t, order reversed,
and in 1.7.0 polarities inverted by default) agree with Spiking-FER; tonic 1.7.0's
``RandomFlipPolarity`` flips *all* polarities of a sample with probability p, while Spiking-FER
flips each event independently (``per_event``); tonic's ``UniformNoise``, ``DropEvent``,
``DropEventByTime`` and ``DropEventByArea`` match Spiking-FER's copies except where noted below.

Fast path: :class:`FusedSpikingFer` runs the whole :func:`spiking_fer_augmentations` pipeline in
one pass and returns the same frames, bit for bit, for the same generator (same draws, same
order), 15-30x faster at 300k events: Spiking-FER's binning only counts the central
``T x event_count`` events of the augmented stream, so that stream is never built (noise merged
by co-rank on time buckets, reversal and drops as index arithmetic, only the binned events
gathered). The classes above stay the reference it is tested against.

All event outputs are new arrays of the input dtype (:data:`datasets.io.events.EVENTS_DTYPE` for the
suite's events), inside ``sensor_size`` and sorted by ``t``; inputs are never modified.
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from datasets.io.events import EVENTS_DTYPE
from datasets.transforms.binning import (
    SPIKING_FER_EVENT_COUNT,
    SPIKING_FER_N_TIME_BINS,
    SPIKING_FER_SIZE,
    ToFrames,
    check_events,
    check_sensor_size,
    nearest_indices,
    resize_nearest,
)

logger = logging.getLogger(__name__)

SPIKING_FER_EDAS: tuple[str, ...] = (
    "flip",
    "background_activity",
    "crop",
    "reverse",
    "mirror",
    "event_drop",
)
"""Spiking-FER's default EDA list (``--edas`` default of ``train.py``, Barchid/spiking-fer)."""

KNOWN_EDAS: tuple[str, ...] = (*SPIKING_FER_EDAS, "flip_polarity")
"""EDA names accepted by :func:`spiking_fer_augmentations` (``allowed_transforms`` upstream)."""

BACKGROUND_ACTIVITY_FRACTIONS: tuple[float, ...] = (0.005, 0.01, 0.03, 0.10, 0.2)
"""Noise events added, as a fraction of N, for severity 1..5 (``BackgroundActivityNoise`` in
``project/utils/transform_dvs.py`` of Barchid/spiking-fer)."""

Side = Literal["left", "right"]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Pure functions on events
# --------------------------------------------------------------------------------------------


def flip_lr(events: np.ndarray, sensor_size: tuple[int, int, int]) -> np.ndarray:
    """Mirror left-right: ``x' = W - 1 - x`` (Spiking-FER ``RandomFlipLR``; tonic ``RandomFlipLR``).

    Args:
        events: structured ``(N,)`` with fields ``t, x, y, p``, inside ``sensor_size``.
        sensor_size: ``(W, H, 2)``.

    Returns:
        New events ``(N,)``, same dtype and order.

    Raises:
        ValueError: invalid events or sensor size (:func:`datasets.transforms.binning.check_events`).
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


def time_reversal(
    events: np.ndarray, flip_polarities: bool = True, keep_start: bool = False
) -> np.ndarray:
    """Play the recording backwards.

    ``t' = max(t) - t`` (Spiking-FER ``RandomTimeReversal``, tonic ``RandomTimeReversal``), or
    ``t' = max(t) + min(t) - t`` with ``keep_start`` (the reversed recording then spans the same
    interval ``[min(t), max(t)]``; the two agree when ``min(t) = 0``). The event order is reversed,
    so ``t'`` stays sorted, and with ``flip_polarities`` ``p' = 1 - p`` (a brightness increase
    played backwards is a decrease; both upstreams do this).

    Args:
        events: structured ``(N,)`` with fields ``t`` (µs) and ``p``, sorted by ``t``.
        flip_polarities: also invert polarities.
        keep_start: keep ``min(t)`` as the start time.

    Returns:
        New events ``(N,)`` (a contiguous copy), same dtype, sorted by ``t``.

    Raises:
        ValueError: missing fields or unsorted ``t``.
    """
    _check_fields(events, "tp")
    _check_sorted(events)
    if events.shape[0] == 0:
        return events.copy()
    out = events[::-1].copy()
    t = out["t"]
    offset = t[0] + (t[-1] if keep_start else 0)
    out["t"] = offset - t
    if flip_polarities:
        out["p"] = out["p"] == 0
    return out


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
    truncate them). The result is merged by time (:func:`merge_sorted`), not re-sorted, so the
    original events keep their order. Empty events are returned unchanged (as tonic's
    ``UniformNoise``): they have no time span.

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


def mirror_events(events: np.ndarray, sensor_size: tuple[int, int, int], side: Side) -> np.ndarray:
    """Event form of :func:`mirror_frames`: make the face symmetric from one half.

    With ``half = W // 2``: for ``side="left"`` the events with ``x < half`` are kept and copied to
    ``x' = W - 1 - x`` and those with ``x >= W - half`` are removed; ``"right"`` is the converse.
    The middle column of an odd ``W`` is kept. Binning the result equals applying
    :func:`mirror_frames` to the binned input.

    Returns:
        New events of the input dtype, sorted by ``t`` (each copy after the kept events of its ``t``).

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


# --------------------------------------------------------------------------------------------
# Pure functions on frames (T, C, H, W)
# --------------------------------------------------------------------------------------------


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim < 2:
        raise ValueError(f"frames must have at least 2 axes (..., H, W), got shape {frames.shape}")
    return frames


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


def random_resized_crop_params(
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[int, int, int, int]:
    """Draw a crop box ``(top, left, h, w)`` with torchvision's ``RandomResizedCrop.get_params``.

    Up to 10 tries: area ``a ~ U(scale) * H * W``, aspect ``r = exp(U(log ratio))``,
    ``w = round(sqrt(a r))``, ``h = round(sqrt(a / r))``; accepted if ``0 < w <= W`` and
    ``0 < h <= H``, then ``top ~ U{0..H-h}``, ``left ~ U{0..W-w}``. Otherwise a central crop of the
    whole image clamped to the ratio range. (torchvision/transforms/transforms.py; random numbers
    from ``rng`` instead of torch's global generator.)

    Raises:
        ValueError: non-positive size, or a scale/ratio range that is not ``0 < low <= high``.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive, got {(height, width)!r}")
    for name, rg in (("scale", scale), ("ratio", ratio)):
        if len(rg) != 2 or not 0 < rg[0] <= rg[1]:
            raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {rg!r}")
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def resized_crop(
    frames: np.ndarray, top: int, left: int, h: int, w: int, size: tuple[int, int]
) -> np.ndarray:
    """Crop ``frames[..., top:top+h, left:left+w]`` and resize it to ``size = (H_out, W_out)``
    with :func:`datasets.transforms.binning.resize_nearest` (torchvision ``resized_crop`` with NEAREST).

    Raises:
        ValueError: the box is empty or leaves the frame, or a bad ``size``.
    """
    frames = _check_frames(frames)
    height, width = frames.shape[-2:]
    if h <= 0 or w <= 0 or top < 0 or left < 0 or top + h > height or left + w > width:
        raise ValueError(
            f"crop box (top={top}, left={left}, h={h}, w={w}) must lie inside the frame "
            f"(H={height}, W={width})"
        )
    return resize_nearest(frames[..., top : top + h, left : left + w], size)


# --------------------------------------------------------------------------------------------
# Transforms: frozen dataclasses, __call__(data, rng)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RandomFlipLR:
    """With probability ``p``, :func:`flip_lr` (Spiking-FER/tonic ``RandomFlipLR``, p = 0.5)."""

    sensor_size: tuple[int, int, int]
    p: float = 0.5

    def __post_init__(self) -> None:
        check_sensor_size(self.sensor_size)
        _check_probability(self.p, "p")

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events ``(N,)`` -> events ``(N,)``."""
        if rng.random() < self.p:
            return flip_lr(events, self.sensor_size)
        return events.copy()


@dataclass(frozen=True)
class BackgroundActivityNoise:
    """With probability ``p``, :func:`background_activity` with
    ``n_noise = int(BACKGROUND_ACTIVITY_FRACTIONS[severity - 1] * N)``.

    Spiking-FER: ``RandomApply([BackgroundActivityNoise(severity=5)], p=0.5)``, i.e. +20 % events.
    """

    sensor_size: tuple[int, int, int]
    severity: int = 5
    p: float = 0.5

    def __post_init__(self) -> None:
        check_sensor_size(self.sensor_size)
        if self.severity not in range(1, len(BACKGROUND_ACTIVITY_FRACTIONS) + 1):
            raise ValueError(f"severity must be 1..5, got {self.severity!r}")
        _check_probability(self.p, "p")

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events ``(N,)`` -> events ``(N + n_noise,)`` or a copy of the input."""
        if rng.random() < self.p:
            n_noise = int(BACKGROUND_ACTIVITY_FRACTIONS[self.severity - 1] * events.shape[0])
            return background_activity(events, self.sensor_size, n_noise, rng)
        return events.copy()


@dataclass(frozen=True)
class RandomTimeReversal:
    """With probability ``p``, :func:`time_reversal` (Spiking-FER: p = 0.2, polarities flipped)."""

    p: float = 0.2
    flip_polarities: bool = True
    keep_start: bool = False

    def __post_init__(self) -> None:
        _check_probability(self.p, "p")

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events ``(N,)`` -> events ``(N,)``."""
        if rng.random() < self.p:
            return time_reversal(events, self.flip_polarities, self.keep_start)
        return events.copy()


@dataclass(frozen=True)
class RandomFlipPolarity:
    """:func:`flip_polarity` of each event independently with probability ``p`` (Spiking-FER's
    ``RandomFlipPolarity``, p = 0.2), or with ``per_event=False`` of all events of the sample
    with probability ``p`` (tonic 1.7.0's ``RandomFlipPolarity``)."""

    p: float = 0.2
    per_event: bool = True

    def __post_init__(self) -> None:
        _check_probability(self.p, "p")

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events ``(N,)`` -> events ``(N,)``."""
        if self.per_event:
            return flip_polarity(events, rng.random(events.shape[0]) < self.p)
        if rng.random() < self.p:
            return flip_polarity(events)
        return events.copy()


def sample_drop_time_window(
    events: np.ndarray, duration_ratio: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Draw the window ``(t_start, t_end)`` (µs) of :class:`DropEventByTime`.

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
    """Draw the box ``(x_min, y_min, x_max, y_max)`` (inclusive) of :class:`DropEventByArea`.

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


@dataclass(frozen=True)
class DropEventByTime:
    """Remove the events of a random time window of ``duration_ratio`` of the recording
    (:func:`sample_drop_time_window`, :func:`drop_by_time`). ``duration_ratio`` is a float or a
    ``(low, high)`` range drawn uniformly (tonic ``DropEventByTime``; default 0.2 as tonic)."""

    duration_ratio: float | tuple[float, float] = 0.2

    def __post_init__(self) -> None:
        _check_ratio(self.duration_ratio, "duration_ratio")

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events ``(N,)`` -> events ``(M <= N,)``; empty events are returned as a copy."""
        _check_fields(events)
        if events.shape[0] == 0:
            return events.copy()
        _check_sorted(events)
        ratio = _draw_ratio(self.duration_ratio, rng)
        t_start, t_end = sample_drop_time_window(events, ratio, rng)
        return drop_by_time(events, t_start, t_end)


@dataclass(frozen=True)
class DropEventByArea:
    """Remove the events of a random box of ``area_ratio`` of the sensor's width and height
    (:func:`sample_drop_box`, :func:`drop_by_area`); float or ``(low, high)`` range (tonic
    ``DropEventByArea``; default 0.2 as tonic).

    A range is drawn as ``U(low, high)``. (tonic's and Spiking-FER's ``drop_by_area_numpy`` call
    ``np.random.uniform(area_ratio[0] and area_ratio[1])``, i.e. ``U(high, 1.0)``: a bug not
    reproduced; Spiking-FER itself only passes floats.)
    """

    sensor_size: tuple[int, int, int]
    area_ratio: float | tuple[float, float] = 0.2

    def __post_init__(self) -> None:
        check_sensor_size(self.sensor_size)
        _check_ratio(self.area_ratio, "area_ratio")

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events ``(N,)`` -> events ``(M <= N,)``."""
        check_events(events, self.sensor_size, require_sorted=False)
        ratio = _draw_ratio(self.area_ratio, rng)
        return drop_by_area(events, sample_drop_box(self.sensor_size, ratio, rng))


@dataclass(frozen=True)
class DropEvent:
    """Remove a random fraction ``p`` of the events (:func:`drop_random`); ``p`` is a float or a
    ``(low, high)`` range drawn uniformly (tonic ``DropEvent``)."""

    p: float | tuple[float, float] = 0.2

    def __post_init__(self) -> None:
        if isinstance(self.p, tuple):
            if len(self.p) != 2 or self.p[0] > self.p[1]:
                raise ValueError(f"p must be a float or a (low, high) tuple, got {self.p!r}")
            for v in self.p:
                _check_probability(v, "p")
        else:
            _check_probability(self.p, "p")

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events ``(N,)`` -> events ``(N - int(p N + 0.5),)``."""
        p = float(rng.uniform(self.p[0], self.p[1])) if isinstance(self.p, tuple) else self.p
        return drop_random(events, p, rng)


@dataclass(frozen=True)
class EventDrop:
    """Spiking-FER's ``EventDrop`` (``project/utils/dvs_noises.py``; Gu et al., "EventDrop",
    IJCAI 2021): one of four strategies with equal probability:

    0. identity;
    1. drop by time, ``duration_ratio = U{1..9} / 10``;
    2. drop by area, ``area_ratio = U{1..5} / 20``;
    3. random drop, ``p = U{1..9} / 10``.
    """

    sensor_size: tuple[int, int, int]

    def __post_init__(self) -> None:
        check_sensor_size(self.sensor_size)

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events ``(N,)`` -> events ``(M <= N,)``."""
        choice = int(rng.integers(0, 4))
        if choice == 0:
            return events.copy()
        if choice == 1:
            return DropEventByTime(int(rng.integers(1, 10)) / 10.0)(events, rng)
        if choice == 2:
            return DropEventByArea(self.sensor_size, int(rng.integers(1, 6)) / 20.0)(events, rng)
        return DropEvent(int(rng.integers(1, 10)) / 10.0)(events, rng)


@dataclass(frozen=True)
class RandomFaceMirror:
    """With probability ``p``, :func:`mirror_frames` keeping the left or the right half (50/50).

    Spiking-FER: ``RandomApply([FaceMirror()], p=0.5)`` on the resized frames ``(T, 2, H, W)``.
    """

    p: float = 0.5

    def __post_init__(self) -> None:
        _check_probability(self.p, "p")

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Frames ``(..., H, W)`` -> frames of the same shape."""
        if rng.random() < self.p:
            side: Side = "left" if rng.random() < 0.5 else "right"
            return mirror_frames(frames, side)
        return np.array(frames, copy=True)


@dataclass(frozen=True)
class RandomFaceMirrorEvents:
    """Event form of :class:`RandomFaceMirror` (:func:`mirror_events`), for pipelines that
    augment events only; not Spiking-FER's placement (it mirrors frames)."""

    sensor_size: tuple[int, int, int]
    p: float = 0.5

    def __post_init__(self) -> None:
        check_sensor_size(self.sensor_size)
        _check_probability(self.p, "p")

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events ``(N,)`` -> events ``(M,)``."""
        if rng.random() < self.p:
            side: Side = "left" if rng.random() < 0.5 else "right"
            return mirror_events(events, self.sensor_size, side)
        return events.copy()


@dataclass(frozen=True)
class RandomResizedCrop:
    """Random resized crop of frames ``(..., H, W)`` -> ``(..., size[0], size[1])``, nearest
    neighbour (:func:`random_resized_crop_params`, :func:`resized_crop`).

    Spiking-FER applies torchvision's ``RandomResizedCrop((128, 128), NEAREST)`` (default
    ``scale=(0.08, 1.0)``, ``ratio=(3/4, 4/3)``) to the binned frames, after binarisation.
    """

    size: tuple[int, int] = SPIKING_FER_SIZE
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)

    def __post_init__(self) -> None:
        if len(self.size) != 2 or any(int(v) <= 0 for v in self.size):
            raise ValueError(f"size must be two positive integers (H, W), got {self.size!r}")
        for name, rg in (("scale", self.scale), ("ratio", self.ratio)):
            if len(rg) != 2 or not 0 < rg[0] <= rg[1]:
                raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {rg!r}")

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Frames ``(..., H, W)`` -> frames ``(..., H_out, W_out)``."""
        frames = _check_frames(frames)
        top, left, h, w = random_resized_crop_params(
            frames.shape[-2], frames.shape[-1], self.scale, self.ratio, rng
        )
        return resized_crop(frames, top, left, h, w, self.size)


@dataclass(frozen=True)
class Compose:
    """Apply ``transforms`` in order, passing the same generator to each: ``t(data, rng)``.

    Every element must accept ``(data, rng)`` (all transforms of this module, and
    :class:`datasets.transforms.binning.ToFrames`, which ignores ``rng``).
    """

    transforms: tuple[Callable[[np.ndarray, np.random.Generator], np.ndarray], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "transforms", tuple(self.transforms))  # construction only
        for i, t in enumerate(self.transforms):
            if not callable(t):
                raise ValueError(f"transforms[{i}] is not callable: {t!r}")

    def __call__(self, data: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Run the pipeline on ``data`` (events or frames)."""
        for t in self.transforms:
            data = t(data, rng)
        return data


def spiking_fer_augmentations(
    sensor_size: tuple[int, int, int] = (200, 200, 2),
    edas: Sequence[str] = SPIKING_FER_EDAS,
    n_time_bins: int = SPIKING_FER_N_TIME_BINS,
    event_count: int = SPIKING_FER_EVENT_COUNT,
    size: tuple[int, int] = SPIKING_FER_SIZE,
) -> Compose:
    """Spiking-FER's sample pipeline, events ``(N,)`` -> binary float32 frames ``(T, 2, *size)``.

    Order and parameters of ``DVSTransform`` (``project/utils/transforms.py`` of
    Barchid/spiking-fer): ``flip`` (:class:`RandomFlipLR`, p 0.5), ``background_activity``
    (:class:`BackgroundActivityNoise`, severity 5, p 0.5), ``reverse``
    (:class:`RandomTimeReversal`, p 0.2), ``flip_polarity`` (:class:`RandomFlipPolarity`, 0.2 per
    event), ``event_drop`` (:class:`EventDrop`), then binning
    (:class:`datasets.transforms.binning.ToFrames`, mode ``"spiking_fer"``, binarised), then ``crop``
    (:class:`RandomResizedCrop` to ``size``) or, without it, a nearest resize to ``size``, then
    ``mirror`` (:class:`RandomFaceMirror`, p 0.5). With ``edas=()`` this is the evaluation
    transform (binning + resize only). Call it as ``pipeline(events, make_rng(seed, epoch, i))``.

    Args:
        sensor_size: ``(W, H, 2)`` of the recordings (Spiking-FER: 200x200).
        edas: names from :data:`KNOWN_EDAS` (default :data:`SPIKING_FER_EDAS`).
        n_time_bins: T (Spiking-FER: 6).
        event_count: events per frame of the binning (Spiking-FER: 2500).
        size: output ``(H, W)`` (Spiking-FER: 128x128).

    Raises:
        ValueError: an unknown EDA name (with close matches) or invalid parameters.
    """
    edas = tuple(edas)
    for name in edas:
        if name not in KNOWN_EDAS:
            close = difflib.get_close_matches(name, KNOWN_EDAS)
            hint = f"; did you mean {close}?" if close else ""
            raise ValueError(f"edas: unknown augmentation {name!r}{hint} (known: {KNOWN_EDAS})")
    steps: list = []
    if "flip" in edas:
        steps.append(RandomFlipLR(sensor_size, p=0.5))
    if "background_activity" in edas:
        steps.append(BackgroundActivityNoise(sensor_size, severity=5, p=0.5))
    if "reverse" in edas:
        steps.append(RandomTimeReversal(p=0.2))
    if "flip_polarity" in edas:
        steps.append(RandomFlipPolarity(p=0.2, per_event=True))
    if "event_drop" in edas:
        steps.append(EventDrop(sensor_size))
    crop = "crop" in edas
    steps.append(
        ToFrames(
            sensor_size,
            n_time_bins,
            mode="spiking_fer",
            binarize=True,
            size=None if crop else tuple(size),
            event_count=event_count,
        )
    )
    if crop:
        steps.append(RandomResizedCrop(size=tuple(size)))
    if "mirror" in edas:
        steps.append(RandomFaceMirror(p=0.5))
    logger.debug("spiking_fer_augmentations: %s", [type(s).__name__ for s in steps])
    return Compose(tuple(steps))


# --------------------------------------------------------------------------------------------
# Fused fast path: the same pipeline, bit-identical per seed, computing only what is binned
# --------------------------------------------------------------------------------------------

Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""Events as four 1-D columns ``(t, x, y, p)`` (µs int64, int16, int16, int8), sorted by ``t``."""


def as_columns(events) -> Columns:
    """``(t, x, y, p)`` contiguous columns of a structured event array, or the 4-tuple itself.

    Raises:
        ValueError: not a structured array with fields ``t, x, y, p`` or a 4-tuple of equally
            long 1-D arrays.
    """
    if isinstance(events, np.ndarray):
        _check_fields(events)
        return tuple(np.ascontiguousarray(events[f]) for f in "txyp")  # type: ignore[return-value]
    try:
        t, x, y, p = events
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"events must be a structured array or a (t, x, y, p) tuple, got {type(events)}"
        ) from exc
    cols = tuple(np.asarray(c) for c in (t, x, y, p))
    if any(c.ndim != 1 or c.shape[0] != cols[0].shape[0] for c in cols):
        raise ValueError(f"columns must be 1-D and equally long, got {[c.shape for c in cols]}")
    return cols  # type: ignore[return-value]


_MERGE_BUCKETS_LOG2 = 11  # time buckets of _NoiseMerge: at most 2**11


class _NoiseMerge:
    """The time-merge of a recording with its background-activity noise, without sorting the
    noise: positions of the merge are resolved on demand.

    The merge is :func:`merge_sorted`'s: ``merge(et, sort(z))``, a noise event after the
    recording's events of the same time. Noise *rank* ``r`` is the ``r``-th smallest noise time
    (its position after ``np.sort``; the noise's x, y, p are drawn in rank order). Optionally
    filtered: only the recording's events ``ke`` (ascending indices) and the noise ranks where
    ``keep_z`` is true take part (the relative order of the others is kept, as by masking).

    The noise times are counted into at most 2,048 time buckets (``bincount``, O(M)); the merged
    position of every bucket edge follows from the bucket counts and one ``searchsorted`` of the
    edges in ``et``. A range of positions then needs only the noise of the buckets it spans:
    selected by one comparison over ``z`` and sorted (small), then merged locally.

    Args:
        et: the recording's times, sorted, int64 ``(N,)``.
        z: the noise times, unsorted, int64 ``(M,)`` in ``[t0, t1]``.
        t0, t1: ``et[0]``, ``et[-1]``.
        ke: kept indices of ``et`` or ``None`` (all).
        keep_z: kept noise ranks, bool ``(M,)`` or ``None`` (all).
    """

    def __init__(self, et, z, t0: int, t1: int, ke=None, keep_z=None):
        span = int(t1) - int(t0)
        self.shift = max(0, span.bit_length() - _MERGE_BUCKETS_LOG2)
        nb = (span >> self.shift) + 1
        self.edges = int(t0) + (np.arange(nb + 1, dtype=np.int64) << self.shift)
        self.et, self.z, self.ke, self.keep_z = et, z, ke, keep_z
        self.zstart = np.zeros(nb + 1, dtype=np.int64)
        if z.shape[0]:
            np.cumsum(np.bincount((z - int(t0)) >> self.shift, minlength=nb), out=self.zstart[1:])
        self.estart = np.searchsorted(et, self.edges, side="left")
        kes = self.estart if ke is None else np.searchsorted(ke, self.estart, side="left")
        if keep_z is None:
            kzs = self.zstart
        else:
            kc = np.zeros(z.shape[0] + 1, dtype=np.int64)
            np.cumsum(keep_z, out=kc[1:])
            kzs = kc[self.zstart]
        self.kes = kes
        self.pos = kes + kzs  # merged position of the first event at or after each edge

    @property
    def length(self) -> int:
        return int(self.pos[-1])

    def resolve(self, m0: int, m1: int, need_b_pos: bool = False):
        """Sources of merged positions ``m0 .. m1 - 1`` (``0 <= m0 < m1 <= length``).

        Returns:
            ``(is_z, src, t, b_pos)``: bool (a noise event), int64 index into ``et`` or noise
            rank, int64 time, and (if ``need_b_pos``) int64 position in the *unfiltered* merge,
            else ``None``; each ``(m1 - m0,)``.
        """
        pos = self.pos
        k0 = int(np.searchsorted(pos, m0, side="right")) - 1
        k1 = int(np.searchsorted(pos, m1 - 1, side="right")) - 1
        ta, tb = int(self.edges[k0]), int(self.edges[k1 + 1])
        if self.ke is None:
            e_idx = np.arange(int(self.estart[k0]), int(self.estart[k1 + 1]))
            e_t = self.et[int(self.estart[k0]) : int(self.estart[k1 + 1])]
        else:
            e_idx = self.ke[int(self.kes[k0]) : int(self.kes[k1 + 1])]
            e_t = self.et[e_idx]
        z = self.z
        r0 = int(self.zstart[k0])
        if z.shape[0]:
            zc = np.sort(z[(z >= ta) & (z < tb)])
        else:
            zc = z
        ranks = np.arange(r0, r0 + zc.shape[0])
        zk, rk = zc, ranks
        if self.keep_z is not None and zc.shape[0]:
            sel = self.keep_z[ranks]
            zk, rk = zc[sel], ranks[sel]
        n_loc = e_t.shape[0] + zk.shape[0]
        is_z = np.zeros(n_loc, dtype=bool)
        src = np.empty(n_loc, dtype=np.int64)
        t = np.empty(n_loc, dtype=np.int64)
        if zk.shape[0]:
            pz = np.searchsorted(e_t, zk, side="right")
            pz += np.arange(zk.shape[0])
            is_z[pz] = True
            src[pz] = rk
            t[pz] = zk
            src[~is_z] = e_idx
            t[~is_z] = e_t
        else:
            src[:] = e_idx
            t[:] = e_t
        off = int(pos[k0])
        sl = slice(m0 - off, m1 - off)
        is_z, src, t = is_z[sl], src[sl], t[sl]
        b_pos = None
        if need_b_pos:  # position in merge(et, sort(z)): own index + the other kind before it
            b_pos = np.empty(src.shape[0], dtype=np.int64)
            e = ~is_z
            b_pos[e] = src[e] + r0 + np.searchsorted(zc, t[e], side="left")
            b_pos[is_z] = src[is_z] + np.searchsorted(self.et, t[is_z], side="right")
        return is_z, src, t, b_pos


@dataclass(frozen=True)
class _Window:
    """The events binned by the fused pipeline, in the order of the augmented stream.

    ``x, y, p`` final coordinates and polarity; ``frame`` the frame index (0..T-1); ``noise``
    whether the event was added by ``background_activity``; ``src`` its index in the input (or
    in the sorted noise); ``t`` its time in the augmented stream (µs)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray
    frame: np.ndarray
    noise: np.ndarray
    src: np.ndarray


@dataclass(frozen=True)
class FusedSpikingFer:
    """:func:`spiking_fer_augmentations` in one pass: bit-identical frames for the same generator.

    ``FusedSpikingFer(...)(events, rng)`` equals ``spiking_fer_augmentations(...)(events, rng)``
    element for element (same arguments, same generator state), and leaves the generator in the
    same state: it makes the same random draws in the same order (flip, noise times, x, y, p,
    reversal, event-drop strategy and parameters, crop box, mirror), but never materialises the
    augmented event stream. Spiking-FER's binning keeps only the central ``T x event_count``
    events of that stream (15,000 of 300,000 + 20 % noise), so the stream is kept virtual: the
    input stays as it is, the sorted noise is merged by co-rank binary searches
    (:func:`_corank`, the :func:`merge_sorted` rule), time reversal and drops are index
    arithmetic, and only the binned events are gathered and written into binary frames, which
    are then cropped, resized and mirrored as in the reference.

    What still costs O(N) per sample is what the draws themselves cost: the noise events
    (4 x 0.2 N integers and a sort of their times), the random drop (``rng.choice``) and the
    per-event polarity flip (``flip_polarity``, not a default). Everything else is O(T x
    event_count + log N).

    Input: a structured event array or :data:`Columns` (``(t, x, y, p)``, as held by
    :class:`datasets.pipeline.EventStore`), sorted by ``t`` and inside ``sensor_size`` (not
    re-validated: validate when decoding). Empty input goes through the reference.

    Attributes:
        sensor_size, edas, n_time_bins, event_count, size: as :func:`spiking_fer_augmentations`.
        dtype: output dtype (float32 as the reference; uint8 for cheap transfers, same values).

    Raises:
        ValueError: at construction, as :func:`spiking_fer_augmentations`.
    """

    sensor_size: tuple[int, int, int] = (200, 200, 2)
    edas: tuple[str, ...] = SPIKING_FER_EDAS
    n_time_bins: int = SPIKING_FER_N_TIME_BINS
    event_count: int = SPIKING_FER_EVENT_COUNT
    size: tuple[int, int] = SPIKING_FER_SIZE
    dtype: type = np.float32

    def __post_init__(self) -> None:
        object.__setattr__(self, "edas", tuple(self.edas))  # construction only
        object.__setattr__(self, "sensor_size", tuple(int(v) for v in self.sensor_size))
        object.__setattr__(self, "size", tuple(int(v) for v in self.size))
        self.reference()  # validates every parameter exactly as the reference does

    def reference(self) -> Compose:
        """The reference pipeline this one reproduces (:func:`spiking_fer_augmentations`)."""
        return spiking_fer_augmentations(
            self.sensor_size, self.edas, self.n_time_bins, self.event_count, self.size
        )

    # -- the event stage ---------------------------------------------------------------------

    def window(self, events, rng: np.random.Generator) -> _Window:
        """The binned events of the augmented stream (draws of the event stage only).

        Equal, event for event and in order, to the slice of the reference's augmented stream
        (flip, background activity, reversal, polarity flip, event drop) that the binning counts.

        Raises:
            ValueError: empty events (the reference's empty-input rules are in ``__call__``).
        """
        t, x, y, p = as_columns(events)
        if t.shape[0] == 0:
            raise ValueError("window() needs at least one event")
        w, h = int(self.sensor_size[0]), int(self.sensor_size[1])
        edas = self.edas
        n = int(t.shape[0])
        flip = "flip" in edas and rng.random() < 0.5
        t0, t1 = int(t[0]), int(t[-1])
        m = 0
        z = zx = zy = zp = np.zeros(0, dtype=np.int64)
        if "background_activity" in edas and rng.random() < 0.5:
            m = int(BACKGROUND_ACTIVITY_FRACTIONS[4] * n)
            if m > 0:  # noise rank r (r-th smallest time) gets zx[r], zy[r], zp[r]
                z = rng.integers(t0, t1, size=m, endpoint=True)
                zx = rng.integers(0, w, size=m)
                zy = rng.integers(0, h, size=m)
                zp = rng.integers(0, 2, size=m)
        total = n + m  # length of the stream B = merge(input, noise)
        rev = "reverse" in edas and rng.random() < 0.2
        pol_mask = rng.random(total) < 0.2 if "flip_polarity" in edas else None  # C order

        # event drop; the kept stream D in B order is reversed when ``rev``
        kind, keep_b = "none", None
        p0 = p1 = 0
        merge = None
        if "event_drop" in edas:
            choice = int(rng.integers(0, 4))
            if choice == 1:
                ratio = int(rng.integers(1, 10)) / 10.0
                c0, c1 = (0.0, float(t1 - t0)) if rev else (float(t0), float(t1))
                d = (c1 - c0) * ratio
                start = float(rng.uniform(c0, c1 - d)) if c1 - d > c0 else c0
                lo, hi = math.ceil(start), math.floor(start + d)  # dropped: lo <= t_C <= hi
                a, b = (t1 - hi, t1 - lo) if rev else (lo, hi)  # the same, in B time
                if a <= b:
                    p0 = int(np.searchsorted(t, a, "left")) + int(np.count_nonzero(z < a))
                    p1 = int(np.searchsorted(t, b, "right")) + int(np.count_nonzero(z <= b))
                    kind = "time"
            elif choice == 2:
                ratio = int(rng.integers(1, 6)) / 20.0
                x0, y0, x1, y1 = sample_drop_box(self.sensor_size, ratio, rng)
                xa, xb = (w - 1 - x1, w - 1 - x0) if flip else (x0, x1)
                keep_e = ~((x >= xa) & (x <= xb) & (y >= y0) & (y <= y1))
                keep_z = ~((zx >= x0) & (zx <= x1) & (zy >= y0) & (zy <= y1))
                merge = _NoiseMerge(t, z, t0, t1, np.flatnonzero(keep_e), keep_z)
                kind = "area"
            elif choice == 3:
                prob = int(rng.integers(1, 10)) / 10.0
                n_drop = int(prob * total + 0.5)
                keep_c = np.ones(total, dtype=bool)
                keep_c[rng.choice(total, size=n_drop, replace=False)] = False
                keep_b = keep_c[::-1] if rev else keep_c
                kind = "random"
        if kind == "none":
            n_kept = total
        elif kind == "time":
            n_kept = total - (p1 - p0)
        elif kind == "area":
            n_kept = merge.length
        else:
            n_kept = total - n_drop

        # the binned slice [s, e) of D, ``per`` events per frame (to_frames_spiking_fer)
        c, n_t = int(self.event_count), int(self.n_time_bins)
        if n_kept // c >= n_t:
            s, per = (n_kept // c - n_t) // 2 * c, c
        else:  # upstream's fallback: T bins of N // T events
            s, per = 0, n_kept // n_t
        e = s + n_t * per
        m0, m1 = (n_kept - e, n_kept - s) if rev else (s, e)  # the slice, in B order

        # sources of the slice: is_z (noise?), src (input index or noise rank), time in B
        need_b = pol_mask is not None
        empty = np.zeros(0, dtype=np.int64)
        if m1 <= m0:
            is_z, src, tb, b_pos = np.zeros(0, dtype=bool), empty, empty, empty
        elif kind == "area":
            is_z, src, tb, b_pos = merge.resolve(m0, m1, need_b)
        else:
            merge = _NoiseMerge(t, z, t0, t1)
            if kind == "none":
                is_z, src, tb, _ = merge.resolve(m0, m1)
                b_pos = np.arange(m0, m1) if need_b else None
            elif kind == "time":  # D = B without [p0, p1): at most two pieces of B
                parts = []
                if m0 < p0:
                    parts.append((m0, min(m1, p0)))
                if m1 > p0:
                    parts.append((max(m0, p0) + p1 - p0, m1 + p1 - p0))
                res = [merge.resolve(u, v) for u, v in parts]
                is_z, src, tb = (np.concatenate([r[k] for r in res]) for k in range(3))
                b_pos = np.concatenate([np.arange(u, v) for u, v in parts]) if need_b else None
            else:  # random: the kept positions of B
                b_pos = np.flatnonzero(keep_b)[m0:m1]
                b0 = int(b_pos[0])
                is_z, src, tb, _ = merge.resolve(b0, int(b_pos[-1]) + 1)
                sel = b_pos - b0
                is_z, src, tb = is_z[sel], src[sel], tb[sel]

        e_m, z_m = ~is_z, is_z
        se, sz = src[e_m], src[z_m]
        wx = np.empty(src.shape[0], dtype=np.int64)
        wy = np.empty_like(wx)
        wp = np.empty_like(wx)
        wx[e_m] = (w - 1 - x[se]) if flip else x[se]
        wy[e_m] = y[se]
        wp[e_m] = p[se]
        if m:
            wx[z_m] = zx[sz]
            wy[z_m] = zy[sz]
            wp[z_m] = zp[sz]
        wt = tb
        if rev:
            wp = 1 - wp
            wt = t1 - tb
        if pol_mask is not None:
            c_pos = total - 1 - b_pos if rev else b_pos
            wp = np.where(pol_mask[c_pos], 1 - wp, wp)
        d_pos = np.arange(m0, m1)  # position in D of each slice event (B order)
        if rev:
            d_pos = n_kept - 1 - d_pos
        frame = (d_pos - s) // per if per else d_pos
        order = slice(None, None, -1) if rev else slice(None)  # back to D order
        return _Window(
            t=wt[order], x=wx[order], y=wy[order], p=wp[order], frame=frame[order],
            noise=is_z[order], src=src[order],
        )

    # -- the frame stage ---------------------------------------------------------------------

    def __call__(self, events, rng: np.random.Generator) -> np.ndarray:
        """Events -> binary frames ``(T, 2, *size)`` of ``dtype``, equal to the reference's."""
        n = events.shape[0] if isinstance(events, np.ndarray) else len(events[0])
        if n == 0:  # nothing to accelerate; the reference handles every empty-input rule
            if not isinstance(events, np.ndarray):
                events = np.zeros(0, dtype=EVENTS_DTYPE)
            return self.reference()(events, rng).astype(self.dtype, copy=False)
        win = self.window(events, rng)
        w, h = int(self.sensor_size[0]), int(self.sensor_size[1])
        n_t = int(self.n_time_bins)
        planes = np.zeros(n_t * 2 * h * w, dtype=np.uint8)
        if win.x.shape[0]:
            flat = (win.frame * 2 + win.p) * h
            flat += win.y
            flat *= w
            flat += win.x
            planes[flat] = 1
        planes = planes.reshape(n_t, 2, h, w)
        out_h, out_w = self.size
        if "crop" in self.edas:
            crop = RandomResizedCrop(size=tuple(self.size))
            top, left, ch, cw = random_resized_crop_params(h, w, crop.scale, crop.ratio, rng)
            rows = nearest_indices(ch, out_h) + top
            cols = nearest_indices(cw, out_w) + left
            frames = np.take(np.take(planes, rows, axis=-2), cols, axis=-1)
        elif (out_h, out_w) != (h, w):
            frames = resize_nearest(planes, self.size)
        else:
            frames = planes
        if "mirror" in self.edas and rng.random() < 0.5:
            side: Side = "left" if rng.random() < 0.5 else "right"
            frames = mirror_frames(frames, side)
        return frames.astype(self.dtype, copy=False)
