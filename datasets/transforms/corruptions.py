"""Event corruptions: sensor noise and capture defects, each with five severities in physical units.

In the spirit of ImageNet-C (Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to
Common Corruptions and Perturbations", ICLR 2019): a fixed table of named corruptions
(the registry :data:`CORRUPTIONS`), five severities each, applied to the *test* recordings only, before
binning. Unlike ImageNet-C the severities are physical quantities (Hz per pixel, microseconds,
pixels, events per second), each with the source of its scale in :attr:`CorruptionSpec.source`.

Design (tonic style, like :mod:`datasets.transforms.augment`): every corruption is a frozen
dataclass holding its physical parameters, with

- ``__call__(events, rng)``: the fast path;
- ``reference(events, rng)``: the plain numpy formulation it is tested against: the same
  random draws, in the same order, from the ``np.random.Generator`` it is given, and the same
  output bit for bit (``tests/test_corruptions.py``). Where nothing faster exists (a mask or a
  column update), ``__call__`` *is* the reference and the docstring says so;
- ``frames(frames, rng, bin_us)`` for the corruptions that have a frame form (see below).

Nothing is stored in ``self`` during a call. :func:`corruption_rng` derives the generator of one
(seed, sample, corruption, severity) so that a result does not depend on the order or the
process that computes it.

Events are structured arrays ``(N,)`` with fields ``t`` (µs), ``x``, ``y``, ``p``
(:data:`datasets.io.events.EVENTS_DTYPE`), sorted by ``t``; outputs are new arrays of the input
dtype, sorted by ``t``, inside ``sensor_size`` ``(W, H, 2)``; inputs are never modified. The
"recording span" is ``[t_first, t_last]`` of the input; an empty input is returned unchanged
(copied): a rate needs a duration.

Frame form (for datasets that ship frames, not event streams: SEE's event frames, NEFER's TBR
frames): ``frames`` is a count array ``(T, 2, H, W)`` (non-negative integer values; channel 0
OFF, 1 ON as in :mod:`datasets.transforms.binning`) or ``(T, 1, H, W)`` for polarity-free frames
(NEFER's), whose bins last ``bin_us`` each; :func:`frame_dataset_skip_reason` says which frame
forms apply to a dataset's frames. The frame
forms reproduce the event form's distribution on count frames (e.g. thinning each count with a
binomial draw is uniform event drop). Corruptions without a frame form have
:attr:`CorruptionSpec.frame_skip_reason`; :func:`frame_skip_reason` returns it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from datasets.common import InputError, Registry, unknown_name_error
from datasets.transforms.augment import merge_sorted

SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
"""The five severity levels (ImageNet-C's 1..5)."""

BANDWIDTH_WINDOW_US = 1000
"""Readout window of :class:`BandwidthLimit` (µs): at most ``max_events_per_s x window`` events
leave the sensor per window, later ones are lost (a saturated readout FIFO)."""


class SeverityError(InputError, ValueError):
    """A severity outside 1..5; the message names the value."""


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def corruption_rng(seed: int, sample: int, name: str, severity: int) -> np.random.Generator:
    """The generator of one corruption of one sample: ``default_rng([seed, sample, crc32(name),
    severity])`` (``zlib.crc32`` of the UTF-8 name: stable across processes, unlike ``hash``).

    Raises:
        ValueError: a negative seed or sample; SeverityError: a severity outside 1..5.
    """
    check_severity(severity)
    for what, v in (("seed", seed), ("sample", sample)):
        if int(v) < 0:
            raise ValueError(f"{what} must be a non-negative integer, got {v!r}")
    return np.random.default_rng([int(seed), int(sample), zlib.crc32(name.encode()), int(severity)])


def check_severity(severity: Any) -> int:
    """``severity`` as an int in 1..5.

    Raises:
        SeverityError: not an integer in 1..5 (the message names the value).
    """
    try:
        s = int(severity)
    except (TypeError, ValueError):
        s = None
    if s is None or s != severity or s not in SEVERITIES:
        raise SeverityError(f"severity {severity!r} is outside 1-5 (ImageNet-C's five levels)")
    return s


def _check(events: np.ndarray) -> None:
    if not isinstance(events, np.ndarray) or events.dtype.names is None or events.ndim != 1:
        raise ValueError(f"events must be a 1-D numpy structured array, got {type(events).__name__}")
    missing = [f for f in "txyp" if f not in events.dtype.names]
    if missing:
        raise ValueError(f"events lack field(s) {missing}; have {list(events.dtype.names)}")


def _span(events: np.ndarray) -> tuple[int, int]:
    """``(t_first, t_last)`` of sorted events (µs)."""
    return int(events["t"][0]), int(events["t"][-1])


def _new_events(dtype: np.dtype, t, x, y, p) -> np.ndarray:
    out = np.empty(len(t), dtype=dtype)
    out["t"], out["x"], out["y"], out["p"] = t, x, y, p
    return out


def _insert_reference(events: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """Reference merge: concatenate, then a stable sort on ``t`` (ties: ``events`` first, then
    ``extra`` in draw order)."""
    both = np.concatenate([events, extra.astype(events.dtype)])
    return both[np.argsort(both["t"], kind="stable")]


def _insert_fast(events: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """Fast merge, equal to :func:`_insert_reference`: sort only the (few) new events stably,
    then one linear merge (:func:`datasets.transforms.augment.merge_sorted`)."""
    extra = extra[np.argsort(extra["t"], kind="stable")]
    return merge_sorted(events, extra)


def _count_frames(frames: np.ndarray, *, channels: tuple[int, ...] = (1, 2)) -> np.ndarray:
    f = np.asarray(frames)
    if f.ndim != 4 or f.shape[1] not in channels:
        want = " or ".join(f"(T, {c}, H, W)" for c in channels)
        raise ValueError(f"frames must have shape {want}, got {f.shape}")
    if f.size and (np.any(f < 0) or np.any(f != np.floor(f))):
        raise ValueError("frames must hold non-negative integer event counts for a frame-form corruption")
    return f


# --------------------------------------------------------------------------------------------
# the corruptions
# --------------------------------------------------------------------------------------------


class _AddedEvents:
    """Corruptions that add events drawn by ``self._draw(events, rng)`` (a structured array of
    the new events) and merge them into the stream: the numpy reference and the fast path differ
    only in the merge (:func:`_insert_reference`, :func:`_insert_fast`), so they are one here."""

    def _draw(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def reference(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The numpy reference: the drawn events merged by a stable sort."""
        _check(events)
        if events.shape[0] == 0:
            return events.copy()
        return _insert_reference(events, self._draw(events, rng))

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The fast path: the same draws, merged without a full sort (bit-identical)."""
        _check(events)
        if events.shape[0] == 0:
            return events.copy()
        return _insert_fast(events, self._draw(events, rng))


@dataclass(frozen=True)
class BackgroundActivity(_AddedEvents):
    """Background-activity noise: uncorrelated events at ``rate_hz`` per pixel (both polarities
    together), a homogeneous Poisson process over the recording span.

    Draws (in order): the count ``M ~ Poisson(rate_hz * W * H * (t_last - t_first + 1) / 1e6)``,
    then ``t`` uniform integers in ``[t_first, t_last]``, ``x`` in ``[0, W)``, ``y`` in
    ``[0, H)``, ``p`` in ``{0, 1}`` (``M`` each). Each noise event goes after the recorded events
    of the same ``t``. Fast path: sort the ``M`` noise events and merge linearly; reference:
    concatenate and sort all ``N + M``.
    """

    rate_hz: float
    sensor_size: tuple[int, int, int]

    def _draw(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        w, h = int(self.sensor_size[0]), int(self.sensor_size[1])
        t0, t1 = _span(events)
        m = int(rng.poisson(self.rate_hz * w * h * (t1 - t0 + 1) * 1e-6))
        t = rng.integers(t0, t1 + 1, m)
        x = rng.integers(0, w, m)
        y = rng.integers(0, h, m)
        p = rng.integers(0, 2, m)
        return _new_events(events.dtype, t, x, y, p)

    def frames(self, frames: np.ndarray, rng: np.random.Generator, bin_us: float) -> np.ndarray:
        """Add ``Poisson(rate_hz / 2 * bin_us / 1e6)`` events per pixel, polarity and bin
        (polarity-free frames ``(T, 1, H, W)``: ``Poisson(rate_hz * bin_us / 1e6)`` per pixel
        and bin, both polarities' events)."""
        f = _count_frames(frames)
        per_channel = self.rate_hz / f.shape[1]
        return f + rng.poisson(per_channel * bin_us * 1e-6, f.shape).astype(f.dtype)


@dataclass(frozen=True)
class HotPixels(_AddedEvents):
    """``count`` hot pixels, each firing at ``rate_hz`` (Poisson) for the whole recording.

    Draws: the pixels (``rng.choice(W * H, count, replace=False)``, index ``y * W + x``), the
    number of events of each (``Poisson(rate_hz * span_s)``), then their times (uniform integers
    in the span) and polarities (uniform), pixel by pixel in the order chosen. Merged like
    :class:`BackgroundActivity`.
    """

    count: int
    rate_hz: float
    sensor_size: tuple[int, int, int]

    def _pixels(self, rng: np.random.Generator) -> np.ndarray:
        w, h = int(self.sensor_size[0]), int(self.sensor_size[1])
        return rng.choice(w * h, size=min(int(self.count), w * h), replace=False)

    def _draw(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        w = int(self.sensor_size[0])
        t0, t1 = _span(events)
        pix = self._pixels(rng)
        n = rng.poisson(self.rate_hz * (t1 - t0 + 1) * 1e-6, pix.shape[0])
        k = int(n.sum())
        t = rng.integers(t0, t1 + 1, k)
        p = rng.integers(0, 2, k)
        flat = np.repeat(pix, n)
        return _new_events(events.dtype, t, flat % w, flat // w, p)

    def frames(self, frames: np.ndarray, rng: np.random.Generator, bin_us: float) -> np.ndarray:
        """The same pixels; per bin ``Poisson(rate_hz * bin_us / 1e6)`` events, split between
        the polarities by a fair binomial draw (polarity-free frames ``(T, 1, H, W)``: all in
        the one channel, no split drawn)."""
        f = _count_frames(frames).copy()
        w = int(self.sensor_size[0])
        pix = self._pixels(rng)
        n = rng.poisson(self.rate_hz * bin_us * 1e-6, (f.shape[0], pix.shape[0]))
        ys, xs = pix // w, pix % w
        if f.shape[1] == 1:
            f[:, 0, ys, xs] += n.astype(f.dtype)
            return f
        on = rng.binomial(n, 0.5)
        f[:, 1, ys, xs] += on
        f[:, 0, ys, xs] += n - on
        return f


@dataclass(frozen=True)
class DropEvents:
    """Uniform event drop: each event is lost independently with probability ``fraction``.

    Draw: ``u = rng.random(N)``; an event is kept when ``u >= fraction``. ``__call__`` is the
    reference (one mask).
    """

    fraction: float

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(events)
        return events[rng.random(events.shape[0]) >= self.fraction]

    reference = __call__

    def frames(self, frames: np.ndarray, rng: np.random.Generator, bin_us: float) -> np.ndarray:
        """Binomial thinning: each count ``c`` becomes ``Binomial(c, 1 - fraction)``."""
        f = _count_frames(frames)
        return rng.binomial(f.astype(np.int64), 1.0 - self.fraction).astype(f.dtype)


@dataclass(frozen=True)
class DropBurst:
    """Every event of one time window of ``duration_us`` is lost (a readout stall, an occlusion).

    Draw: the window start ``s`` uniform in ``[t_first, max(t_first, t_last - duration_us)]``;
    events with ``s <= t < s + duration_us`` are dropped. Fast path: two binary searches and two
    slices; reference: a boolean mask.
    """

    duration_us: int

    def _start(self, events: np.ndarray, rng: np.random.Generator) -> int:
        t0, t1 = _span(events)
        return int(rng.integers(t0, max(t0, t1 - int(self.duration_us)) + 1))

    def reference(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(events)
        if events.shape[0] == 0:
            return events.copy()
        s = self._start(events, rng)
        t = events["t"]
        return events[~((t >= s) & (t < s + int(self.duration_us)))]

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(events)
        if events.shape[0] == 0:
            return events.copy()
        s = self._start(events, rng)
        lo, hi = np.searchsorted(events["t"], [s, s + int(self.duration_us)], side="left")
        return np.concatenate([events[:lo], events[hi:]])

    def frames(self, frames: np.ndarray, rng: np.random.Generator, bin_us: float) -> np.ndarray:
        """Zero the bins whose centre lies in the window; bins span ``[i bin_us, (i+1) bin_us)``
        from the first bin, and ``s`` is drawn as for events over ``[0, T bin_us - 1]``."""
        f = _count_frames(frames).copy()
        t1 = int(f.shape[0] * bin_us) - 1
        s = int(rng.integers(0, max(0, t1 - int(self.duration_us)) + 1))
        centres = (np.arange(f.shape[0]) + 0.5) * bin_us
        f[(centres >= s) & (centres < s + int(self.duration_us))] = 0
        return f


@dataclass(frozen=True)
class TemporalJitter:
    """Timestamp jitter: ``t' = clip(t + round(N(0, sigma_us)), t_first, t_last)``, re-sorted
    stably by ``t'``. Draw: ``rng.normal(0, sigma_us, N)``. ``__call__`` is the reference (one
    stable sort; no faster exact formulation for unbounded Gaussian shifts)."""

    sigma_us: float

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(events)
        if events.shape[0] == 0:
            return events.copy()
        t0, t1 = _span(events)
        d = np.rint(rng.normal(0.0, self.sigma_us, events.shape[0])).astype(np.int64)
        out = events.copy()
        out["t"] = np.clip(events["t"].astype(np.int64) + d, t0, t1)
        return out[np.argsort(out["t"], kind="stable")]

    reference = __call__


@dataclass(frozen=True)
class SpatialJitter:
    """Address jitter: ``x' = clip(x + round(N(0, sigma_px)), 0, W - 1)``, same for ``y``.
    Draws: ``dx`` then ``dy`` (``rng.normal(0, sigma_px, N)`` each). ``__call__`` is the
    reference (column updates)."""

    sigma_px: float
    sensor_size: tuple[int, int, int]

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(events)
        n = events.shape[0]
        dx = np.rint(rng.normal(0.0, self.sigma_px, n)).astype(np.int64)
        dy = np.rint(rng.normal(0.0, self.sigma_px, n)).astype(np.int64)
        out = events.copy()
        out["x"] = np.clip(events["x"].astype(np.int64) + dx, 0, int(self.sensor_size[0]) - 1)
        out["y"] = np.clip(events["y"].astype(np.int64) + dy, 0, int(self.sensor_size[1]) - 1)
        return out

    reference = __call__


@dataclass(frozen=True)
class ReduceResolution:
    """A sensor ``factor`` times coarser: the events of each ``factor x factor`` block are reported
    at the block's centre pixel ``(x // f) f + (f - 1) // 2`` (clipped into the sensor), so the
    sensor size and the binning stay those of the model. No random draw. Reference: integer
    arithmetic per event; fast path: a lookup table per axis (W + H entries) indexed by the
    columns."""

    factor: int
    sensor_size: tuple[int, int, int]

    def _centre(self, v: np.ndarray, size: int) -> np.ndarray:
        f = int(self.factor)
        return np.minimum((v.astype(np.int64) // f) * f + (f - 1) // 2, size - 1)

    def reference(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check(events)
        out = events.copy()
        out["x"] = self._centre(events["x"], int(self.sensor_size[0]))
        out["y"] = self._centre(events["y"], int(self.sensor_size[1]))
        return out

    def __call__(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check(events)
        w, h = int(self.sensor_size[0]), int(self.sensor_size[1])
        out = events.copy()
        out["x"] = self._centre(np.arange(w), w).astype(events["x"].dtype)[events["x"]]
        out["y"] = self._centre(np.arange(h), h).astype(events["y"].dtype)[events["y"]]
        return out

    def frames(self, frames: np.ndarray, rng: np.random.Generator | None = None,
               bin_us: float = 0.0) -> np.ndarray:
        """Each block's counts summed onto its centre pixel (frames of the full-resolution
        binning: equal to binning the corrupted events)."""
        f = _count_frames(frames)
        t, _, h, w = f.shape
        out = np.zeros_like(f)
        ys = self._centre(np.arange(h), h)
        xs = self._centre(np.arange(w), w)
        np.add.at(out, (slice(None), slice(None), ys[:, None], xs[None, :]), f)
        return out


@dataclass(frozen=True)
class FlipPolarity:
    """Each event's polarity is inverted independently with probability ``fraction``
    (draw: ``rng.random(N) < fraction``). ``__call__`` is the reference (one column update)."""

    fraction: float

    def __call__(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(events)
        flip = rng.random(events.shape[0]) < self.fraction
        out = events.copy()
        out["p"] = np.where(flip, 1 - events["p"], events["p"])
        return out

    reference = __call__

    def frames(self, frames: np.ndarray, rng: np.random.Generator, bin_us: float = 0.0) -> np.ndarray:
        """``Binomial(c, fraction)`` of each count move to the other polarity (OFF draws first).

        Raises:
            ValueError: polarity-free frames (one channel): no polarity to flip.
        """
        f = _count_frames(frames, channels=(2,))
        moved = rng.binomial(f.astype(np.int64), self.fraction).astype(f.dtype)
        return f - moved + moved[:, ::-1]


@dataclass(frozen=True)
class PlaybackSpeed:
    """The expression played ``slowdown`` times slower (> 1) or faster (< 1): ``t' = t_first +
    floor((t - t_first) * slowdown)``, exact in integers (``slowdown`` as a ``Fraction``); order
    and events are kept. No random draw. ``__call__`` is the reference.

    Note: a model binned by event count (``mode="spiking_fer"``) sees the same frames at any
    speed; the corruption changes what time-binned models and prefixes in time see.
    """

    slowdown: float

    def __call__(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check(events)
        if events.shape[0] == 0:
            return events.copy()
        r = Fraction(self.slowdown).limit_denominator(1000)
        t0 = int(events["t"][0])
        out = events.copy()
        out["t"] = t0 + ((events["t"].astype(np.int64) - t0) * r.numerator) // r.denominator
        return out

    reference = __call__


@dataclass(frozen=True)
class BandwidthLimit:
    """A saturated readout: at most ``cap = max(1, floor(max_events_per_s * window / 1e6))``
    events leave per window of ``window = max(BANDWIDTH_WINDOW_US, ceil(1e6 / max_events_per_s))``
    µs (windows aligned on ``t_first``); later events of a window are lost (a full FIFO). No random
    draw. Fast path: the rank of each event in its window from one binary search; reference: a
    Python loop over events."""

    max_events_per_s: float

    def _window(self) -> tuple[int, int]:
        window = max(BANDWIDTH_WINDOW_US, int(np.ceil(1e6 / self.max_events_per_s)))
        return window, max(1, int(self.max_events_per_s * window * 1e-6))

    def reference(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check(events)
        if events.shape[0] == 0:
            return events.copy()
        window, cap = self._window()
        t0 = int(events["t"][0])
        keep = np.zeros(events.shape[0], dtype=bool)
        current, used = None, 0
        for i, t in enumerate(events["t"].tolist()):
            w = (t - t0) // window
            if w != current:
                current, used = w, 0
            if used < cap:
                keep[i] = True
                used += 1
        return events[keep]

    def __call__(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check(events)
        if events.shape[0] == 0:
            return events.copy()
        window, cap = self._window()
        w = (events["t"].astype(np.int64) - int(events["t"][0])) // window
        first = np.searchsorted(w, w, side="left")
        return events[np.arange(w.shape[0]) - first < cap]


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorruptionSpec:
    """One named corruption and its five severities.

    Attributes:
        name: the corruption's name (command line, records).
        unit: unit of the severity values.
        values: the physical parameter at severity 1..5.
        source: where the scale comes from.
        build: ``(value, sensor_size) -> transform``.
        frame_skip_reason: why the corruption has no frame form, ``None`` if it has one.
        frame_needs_polarity: its frame form acts on the OFF/ON channels (none on
            polarity-free frames).
        frame_needs_duration: its frame form needs how long a frame lasts (a rate in Hz, a
            window in ms).
    """

    name: str
    unit: str
    values: tuple[Any, ...]
    source: str
    build: Callable[[Any, tuple[int, int, int]], Any]
    frame_skip_reason: str | None = None
    frame_needs_polarity: bool = False
    frame_needs_duration: bool = False

    def value(self, severity: int) -> Any:
        """The physical parameter at ``severity`` (1..5). Raises SeverityError."""
        return self.values[check_severity(severity) - 1]

    def make(self, severity: int, sensor_size: tuple[int, int, int]) -> Any:
        """The transform at ``severity`` for a sensor of ``sensor_size`` ``(W, H, 2)``."""
        return self.build(self.value(severity), tuple(int(v) for v in sensor_size))


_SPEEDS = (1.25, 1.5, 2.0, 3.0, 4.0)

CORRUPTIONS: Registry[CorruptionSpec] = Registry(
    "corruption", package="datasets.transforms", include="corruption_*",
    entry_point_group="neurofer_bench.corruptions",
)
"""Registry: corruption name -> :class:`CorruptionSpec` (ImageNet-C style: five severities each),
in registration order: the built-in table below first. A corruption of one's own is one new
module ``datasets/transforms/corruption_<name>.py`` (imported on the first lookup) or a
third-party package's ``neurofer_bench.corruptions`` entry point, either calling
:func:`register_corruption`; the robustness sweep, its grid check and the tests then cover it."""


def register_corruption(spec: CorruptionSpec) -> CorruptionSpec:
    """Register ``spec`` in :data:`CORRUPTIONS` under its ``name``; returns it.

    Raises:
        ValueError: the name is already registered.
    """
    return CORRUPTIONS.register(spec.name, spec)


for _spec in (
    CorruptionSpec(
        "background_activity", "Hz per pixel", (0.1, 0.5, 1.0, 2.0, 5.0),
        "v2e (Hu et al., CVPRW 2021): leak-event default 0.1 Hz per pixel (--leak_rate_hz) up to "
        "its 'noisy' preset's 5 Hz low-light shot noise (set_dvs_params('noisy'), the value the "
        "built-in dataset's low-light condition uses)",
        lambda v, s: BackgroundActivity(v, s), frame_needs_duration=True),
    CorruptionSpec(
        "hot_pixels", "(pixels, Hz)", ((1, 100.0), (2, 300.0), (5, 1000.0), (10, 3000.0), (20, 10000.0)),
        "hot pixels fire at hundreds of Hz to kHz (the 'hot pixel' class of libcaer's DVS noise "
        "filter, libcaer/filters/dvs_noise.h); counts on a log scale as ImageNet-C's levels",
        lambda v, s: HotPixels(v[0], v[1], s), frame_needs_duration=True),
    CorruptionSpec(
        "event_drop", "fraction of events", (0.1, 0.2, 0.4, 0.6, 0.8),
        "EventDrop (Gu et al., IJCAI 2021) random-drop ratios, spread over five levels as ImageNet-C",
        lambda v, s: DropEvents(v)),
    CorruptionSpec(
        "drop_burst", "ms", (50, 100, 200, 300, 400),
        "EventDrop's drop-by-time (Gu et al., IJCAI 2021; 10-90 % of a sample), in ms of a "
        "sub-second macro-expression (0.5-4 s, Yan et al., J. Nonverbal Behav. 2013)",
        lambda v, s: DropBurst(int(v * 1000)),
        None, frame_needs_duration=True),
    CorruptionSpec(
        "temporal_jitter", "µs (standard deviation)", (100, 500, 1000, 5000, 20000),
        "pixel latency: ~15 µs in bright light to ms in low light (Lichtsteiner, Posch & Delbruck, "
        "IEEE JSSC 2008), and v2e's photoreceptor cut-off (--cutoff_hz 300 -> 0.5 ms)",
        lambda v, s: TemporalJitter(float(v)),
        "event frames have lost the timing inside a bin; a sub-bin jitter has no frame form"),
    CorruptionSpec(
        "spatial_jitter", "pixels (standard deviation)", (0.5, 1.0, 1.5, 2.0, 3.0),
        "sub-pixel to few-pixel misregistration (camera shake, optics), ImageNet-C's levels of "
        "its geometric corruptions",
        lambda v, s: SpatialJitter(float(v), s),
        "moving each event of a count frame is not defined once events are summed per pixel"),
    CorruptionSpec(
        "reduced_resolution", "factor", (2, 3, 4, 6, 8),
        "sensor resolutions: Prophesee IMX636 1280x720, DAVIS346 346x260, DVS128 128x128 "
        "(data sheets): factors 2-8 between them",
        lambda v, s: ReduceResolution(int(v), s)),
    CorruptionSpec(
        "polarity_flip", "fraction of events", (0.05, 0.1, 0.2, 0.3, 0.5),
        "Spiking-FER's RandomFlipPolarity p = 0.2 (Barchid et al., CBMI 2023) at level 3; "
        "0.5 erases polarity",
        lambda v, s: FlipPolarity(v), frame_needs_polarity=True),
    CorruptionSpec(
        "slow_motion", "times slower", _SPEEDS,
        "macro-expressions last 0.5-4 s (Yan et al., J. Nonverbal Behav. 2013): up to 4x "
        "slower than a sub-second one",
        lambda v, s: PlaybackSpeed(v),
        "frame timestamps are the camera's frame clock; resampling frames would invent content"),
    CorruptionSpec(
        "fast_motion", "times faster", _SPEEDS,
        "the same range, faster (Yan et al., J. Nonverbal Behav. 2013)",
        lambda v, s: PlaybackSpeed(1.0 / v),
        "frame timestamps are the camera's frame clock; resampling frames would invent content"),
    CorruptionSpec(
        "bandwidth_limit", "events/s per pixel", (4.0, 2.0, 1.0, 0.5, 0.25),
        "readout saturation (DAVIS346 12 Mev/s, i.e. 133 ev/s per pixel; Prophesee's event-rate "
        "controller); levels set ImageNet-C-style on the suite's event rates, scaled by the "
        "sensor's pixel count",
        lambda v, s: BandwidthLimit(v * s[0] * s[1]),
        "which events a saturated readout loses depends on their order inside a bin, which "
        "frames do not keep"),
):
    register_corruption(_spec)
del _spec


def corruption_names() -> list[str]:
    """Names of :data:`CORRUPTIONS`, in registration order."""
    return CORRUPTIONS.names()


def get_corruption(name: str) -> CorruptionSpec:
    """The spec of ``name``.

    Raises:
        UnknownNameError: an unknown name (close matches suggested).
    """
    names = CORRUPTIONS.names()
    if name not in names:  # exact: the name seeds the generator and keys the records
        raise unknown_name_error("corruption", name, names)
    return CORRUPTIONS[name]


def frame_skip_reason(name: str) -> str | None:
    """Why corruption ``name`` cannot apply to a frame-only dataset (``None``: it has a frame form)."""
    return get_corruption(name).frame_skip_reason


def frame_dataset_skip_reason(name: str, *, channels: int, frame_us: float | None) -> str | None:
    """Why corruption ``name`` cannot apply to a dataset's count frames of ``channels`` channels
    (2: OFF/ON, 1: polarity-free) lasting ``frame_us`` µs each (``None``: not known), or
    ``None`` when its frame form applies.

    Raises:
        UnknownNameError: an unknown corruption.
    """
    spec = get_corruption(name)
    if spec.frame_skip_reason is not None:
        return f"no frame form ({spec.frame_skip_reason})"
    if spec.frame_needs_polarity and channels == 1:
        return "the frames are polarity-free (one channel): no polarity to flip"
    if spec.frame_needs_duration and frame_us is None:
        return ("the dataset does not state how long one of its frames lasts, which this "
                "corruption's rate or window needs")
    return None


def corrupt_events(
    events: np.ndarray,
    name: str,
    severity: int,
    sensor_size: tuple[int, int, int],
    *,
    seed: int = 0,
    sample: int = 0,
    reference: bool = False,
) -> np.ndarray:
    """Apply corruption ``name`` at ``severity`` to one sample's events.

    Args:
        events: ``(N,)`` structured, sorted by ``t`` (µs).
        name, severity: the corruption and its level (1..5).
        sensor_size: ``(W, H, 2)``.
        seed, sample: with ``name`` and ``severity``, the generator (:func:`corruption_rng`).
        reference: use the numpy reference instead of the fast path (same output).

    Returns:
        The corrupted events (a new array).

    Raises:
        UnknownNameError, SeverityError, ValueError (bad events).
    """
    spec = get_corruption(name)
    transform = spec.make(severity, sensor_size)
    rng = corruption_rng(seed, sample, name, severity)
    return (transform.reference if reference else transform)(events, rng)


def corrupt_frames(
    frames: np.ndarray,
    name: str,
    severity: int,
    sensor_size: tuple[int, int, int],
    bin_us: float,
    *,
    seed: int = 0,
    sample: int = 0,
) -> np.ndarray:
    """The frame form of corruption ``name`` on count frames ``(T, C, H, W)`` (``C`` 2, or 1 for
    polarity-free frames) of bins ``bin_us`` µs.

    Raises:
        UnknownNameError, SeverityError; ValueError: the corruption has no frame form (the
            message gives :attr:`CorruptionSpec.frame_skip_reason`) or the frames are not counts.
    """
    spec = get_corruption(name)
    if spec.frame_skip_reason is not None:
        raise ValueError(f"corruption {name!r} has no frame form: {spec.frame_skip_reason}")
    transform = spec.make(severity, sensor_size)
    return transform.frames(frames, corruption_rng(seed, sample, name, severity), bin_us)
