"""Spiking-FER's event data augmentations as transforms: frozen dataclasses ``__call__(data, rng)``
that draw their random parameters from the generator they are given and call the kernels of
:mod:`datasets.transforms.functional`, and :func:`spiking_fer_augmentations`, the sample pipeline
they make (provenance and design in :mod:`datasets.transforms.augment`)."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from datasets.transforms.binning import (
    SPIKING_FER_EVENT_COUNT,
    SPIKING_FER_N_TIME_BINS,
    SPIKING_FER_SIZE,
    ToFrames,
    check_events,
    check_sensor_size,
)
from datasets.transforms.functional.common import (
    _check_fields,
    _check_frames,
    _check_probability,
    _check_ratio,
    _check_sorted,
    _draw_ratio,
)
from datasets.transforms.functional.crop import random_resized_crop_params, resized_crop
from datasets.transforms.functional.drop import (
    drop_by_area,
    drop_by_time,
    drop_random,
    sample_drop_box,
    sample_drop_time_window,
)
from datasets.transforms.functional.flip import flip_lr, flip_polarity
from datasets.transforms.functional.mirror import Side, mirror_events, mirror_frames
from datasets.transforms.functional.noise import BACKGROUND_ACTIVITY_FRACTIONS, background_activity
from datasets.transforms.functional.reversal import time_reversal

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


@dataclass(frozen=True)
class RandomFlipLR:
    """With probability ``p``, :func:`~datasets.transforms.functional.flip.flip_lr`
    (Spiking-FER/tonic ``RandomFlipLR``, p = 0.5)."""

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
    """With probability ``p``, :func:`~datasets.transforms.functional.noise.background_activity`
    with ``n_noise = int(BACKGROUND_ACTIVITY_FRACTIONS[severity - 1] * N)``.

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
    """With probability ``p``, :func:`~datasets.transforms.functional.reversal.time_reversal`
    (Spiking-FER: p = 0.2, polarities flipped)."""

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
    """:func:`~datasets.transforms.functional.flip.flip_polarity` of each event independently with
    probability ``p`` (Spiking-FER's ``RandomFlipPolarity``, p = 0.2), or with ``per_event=False``
    of all events of the sample with probability ``p`` (tonic 1.7.0's ``RandomFlipPolarity``)."""

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


@dataclass(frozen=True)
class DropEventByTime:
    """Remove the events of a random time window of ``duration_ratio`` of the recording
    (:func:`~datasets.transforms.functional.drop.sample_drop_time_window`,
    :func:`~datasets.transforms.functional.drop.drop_by_time`). ``duration_ratio`` is a float or a
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
    (:func:`~datasets.transforms.functional.drop.sample_drop_box`,
    :func:`~datasets.transforms.functional.drop.drop_by_area`); float or ``(low, high)`` range
    (tonic ``DropEventByArea``; default 0.2 as tonic).

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
    """Remove a random fraction ``p`` of the events
    (:func:`~datasets.transforms.functional.drop.drop_random`); ``p`` is a float or a ``(low,
    high)`` range drawn uniformly (tonic ``DropEvent``)."""

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
    """With probability ``p``, :func:`~datasets.transforms.functional.mirror.mirror_frames` keeping
    the left or the right half (50/50).

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
    """Event form of :class:`RandomFaceMirror`
    (:func:`~datasets.transforms.functional.mirror.mirror_events`), for pipelines that augment
    events only; not Spiking-FER's placement (it mirrors frames)."""

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
    neighbour (:func:`~datasets.transforms.functional.crop.random_resized_crop_params`,
    :func:`~datasets.transforms.functional.crop.resized_crop`).

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
    (:class:`datasets.transforms.binning.ToFrames`, mode ``"spiking_fer"``, binarised), then
    ``crop`` (:class:`RandomResizedCrop` to ``size``) or, without it, a nearest resize to ``size``,
    then ``mirror`` (:class:`RandomFaceMirror`, p 0.5). With ``edas=()`` this is the evaluation
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
