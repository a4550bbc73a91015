"""Event binning: events ``(t, x, y, p)`` -> frames, a float32 array of shape ``(T, 2, H, W)``.

Channel 0 counts OFF events (``p == 0``) and channel 1 counts ON events (``p == 1``): tonic's
``to_frame_numpy`` indexes its frames as ``frames[i, p, y, x]`` (tonic/functional/to_frame.py),
so this is tonic's channel order.

Slicing rules
-------------
The four slicing modes shared with tonic are bit-identical to ``tonic.transforms.ToFrame`` /
``tonic.functional.to_frame_numpy`` (tonic 1.7.0) for the same parameters (our float32 frames
equal tonic's int16 counts cast to float32, shape and all): the bin edges are
computed with the same arithmetic as tonic's slicers (``tonic/slicers.py``: ``SliceByTime``,
``SliceByEventCount``, ``SliceByTimeBins``, ``SliceByEventBins``), then every frame counts the
events of its slice. Consequences of tonic's arithmetic that we keep on purpose (so that results
match tonic exactly), documented per function:

- time windows are half-open ``[start, end)``;
- in ``n_time_bins`` mode the bin length is ``(t_last - t_first) // n_time_bins`` (floored), so
  the events at ``t_last`` (and any in the remainder of the floor division) fall in no bin;
- in ``n_event_bins`` mode every bin holds ``N // n_event_bins`` events and the last
  ``N mod n_event_bins`` events fall in no bin.

Where tonic differs, we say so: tonic counts in int16 (wrapping above 32767 events per pixel and
frame); we count in int64 and return float32. ``tonic.transforms.ToFrame`` returns float64 zeros
of shape ``(T, P, W, H)`` (W and H swapped) for empty events; we return float32 zeros
``(T, 2, H, W)``.

The Spiking-FER rule (Barchid et al., "Spiking-FER", CBMI 2023; repository Barchid/spiking-fer,
file ``project/utils/transform_dvs.py``, class ``CustomToFrame``, used by
``get_frame_representation`` with ``BinarizeFrame``) is :func:`to_frames_spiking_fer`.

Resizing is nearest-neighbour on the *frames* (not on the event coordinates), identical to
``torch.nn.functional.interpolate(mode="nearest")``, which is what Spiking-FER's
``torchvision.transforms.Resize((128, 128), interpolation=NEAREST)`` runs on its frame tensor
(``project/utils/transforms.py``, ``DVSTransform``). Downsampling therefore *subsamples* rows and
columns (events in the skipped ones are lost); it does not pool.

When :class:`ToFrames` resizes (``size`` other than the sensor's ``(H, W)``), frames are never
allocated at the sensor's resolution: it counts only the rows and columns that
:func:`nearest_indices` selects (``grid``, see :func:`_accumulate`), into frames of at most
``(H_out, W_out)``, then repeats rows/columns where the resize upsamples. The result equals
binning at the sensor's size and then :func:`resize_nearest`, bit for bit, while a recording
declaring a huge sensor (a damaged header) costs no more memory than its model's input.

Implementation: per frame, the flat index ``(p * H + y) * W + x`` of the frame's contiguous slice
of events (slices may overlap when ``overlap > 0``) is counted with one ``np.bincount`` (slices of
at least ``2 H W / 8`` events) or one ``np.add.at`` into the float32 frame (sparser slices, where
it is faster). There is no per-event Python loop; the Python loop runs over frames. Counts are
exact up to 2**24 events per pixel and frame (float32).
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

logger = logging.getLogger(__name__)

_ONE = np.float32(1.0)
_DENSE_DIVISOR = 8  # a slice with >= plane / 8 events is counted with np.bincount (measured)
_BISECT_MAX = 64  # up to this many window edges, bisect on the strided view (no copy of t)

SPIKING_FER_EVENT_COUNT = 2500
"""Events per frame of Spiking-FER's binning (``CustomToFrame.event_count`` default,
``project/utils/transform_dvs.py`` of Barchid/spiking-fer)."""

SPIKING_FER_N_TIME_BINS = 6
"""Number of frames T of Spiking-FER (``timesteps = 6`` in ``train.py`` of Barchid/spiking-fer)."""

SPIKING_FER_SIZE = (128, 128)
"""Frame size (H, W) after resizing in Spiking-FER (``transforms.Resize((128, 128))`` in
``project/utils/transforms.py`` of Barchid/spiking-fer)."""

Mode = Literal["spiking_fer", "time_bins", "event_bins", "event_count", "time_window"]
MODES: tuple[str, ...] = ("spiking_fer", "time_bins", "event_bins", "event_count", "time_window")
"""The binning modes of :class:`ToFrames`."""


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def check_sensor_size(
    sensor_size: tuple[int, int, int], name: str = "sensor_size"
) -> tuple[int, int]:
    """Validate a sensor size ``(W, H, 2)`` and return ``(W, H)``.

    Raises:
        ValueError: if it is not three integers, ``W`` or ``H`` is not positive, or the polarity
            count is not 2 (frames always have an OFF and an ON channel).
    """
    try:
        w, h, n_pol = (int(v) for v in sensor_size)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be (W, H, 2), got {sensor_size!r}") from exc
    if w <= 0 or h <= 0:
        raise ValueError(f"{name} must have positive W and H, got {tuple(sensor_size)!r}")
    if n_pol != 2:
        raise ValueError(
            f"{name}[2] (number of polarities) must be 2, got {n_pol} in {tuple(sensor_size)!r}"
        )
    return w, h


def _check_field_range(events: np.ndarray, field: str, limit: int, sensor_size) -> None:
    """Raise unless ``0 <= events[field] < limit`` (one max() over an unsigned view: fast)."""
    v = events[field]
    if v.dtype == np.bool_:
        v = v.view(np.uint8)
    elif v.dtype.kind == "i":
        v = v.view(f"u{v.dtype.itemsize}")  # negatives become huge: one max() catches both ends
    elif v.dtype.kind != "u":
        raise ValueError(f"events field '{field}' must be integer, got dtype {events[field].dtype}")
    if int(v.max()) < limit:
        return
    raw = events[field].astype(np.int64)
    bad = np.flatnonzero((raw < 0) | (raw >= limit))
    i = int(bad[0])
    if field == "p":
        raise ValueError(
            f"events field 'p' must be 0 (OFF) or 1 (ON), got {int(raw[i])} at event {i} "
            f"({bad.size} bad values in all)"
        )
    raise ValueError(
        f"events field '{field}' = {int(raw[i])} at event {i} lies outside the sensor "
        f"(sensor_size={tuple(sensor_size)}, valid 0..{limit - 1}; {bad.size} events outside in all)"
    )


def check_events(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    *,
    require_sorted: bool = True,
) -> None:
    """Validate events for binning and augmentation (a fast form of
    :func:`datasets.io.events.validate_events`).

    Args:
        events: structured array with integer fields ``t`` (µs), ``x``, ``y`` and ``p`` (bool or
            integer), shape ``(N,)``; ``N == 0`` is valid.
        sensor_size: ``(W, H, 2)``.
        require_sorted: also check that ``t`` is non-decreasing.

    Raises:
        ValueError: naming the field and the first bad value: missing field, array not 1-D,
            non-integer coordinates, ``x`` outside ``0..W-1``, ``y`` outside ``0..H-1``, ``p``
            not 0/1, or (if ``require_sorted``) ``t`` decreasing; or a bad ``sensor_size``.
    """
    w, h = check_sensor_size(sensor_size)
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise ValueError(
            f"events must be a numpy structured array with fields t, x, y, p, got {type(events)}"
        )
    missing = [f for f in "txyp" if f not in events.dtype.names]
    if missing:
        raise ValueError(f"events lack field(s) {missing}; have {list(events.dtype.names)}")
    if events.ndim != 1:
        raise ValueError(f"events must be 1-D (N,), got shape {events.shape}")
    if events.shape[0] == 0:
        return
    _check_field_range(events, "x", w, sensor_size)
    _check_field_range(events, "y", h, sensor_size)
    _check_field_range(events, "p", 2, sensor_size)
    if require_sorted:
        t = events["t"]
        if t.dtype.kind not in "iu":
            raise ValueError(f"events field 't' must be integer microseconds, got dtype {t.dtype}")
        if events.shape[0] > 1 and bool(np.any(t[1:] < t[:-1])):
            i = int(np.flatnonzero(t[1:] < t[:-1])[0])
            raise ValueError(
                f"events field 't' decreases at event {i + 1} ({int(t[i])} -> {int(t[i + 1])} us);"
                " events must be sorted by time"
            )


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_bin_overlap(overlap: float) -> float:
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be a fraction of a bin in [0, 1), got {overlap!r}")
    return overlap


# --------------------------------------------------------------------------------------------
# Accumulation kernel
# --------------------------------------------------------------------------------------------


Grid = tuple[np.ndarray, np.ndarray]
"""``(rows, cols)``: sorted, distinct sensor rows (``y``) and columns (``x``) to count, as int64
arrays; frame pixel ``(i, j)`` counts sensor pixel ``(rows[i], cols[j])``, events elsewhere are
skipped. ``None`` in its place: every pixel of the sensor."""


def _grid_lookup(width: int, height: int, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Per sensor row and column, its position among the grid's rows and columns, ``-1`` for
    one the grid skips: ``(row_of (H,), col_of (W,))`` intp, O(H + W) memory."""
    rows, cols = grid
    row_of = np.full(height, -1, dtype=np.intp)
    row_of[rows] = np.arange(rows.shape[0])
    col_of = np.full(width, -1, dtype=np.intp)
    col_of[cols] = np.arange(cols.shape[0])
    return row_of, col_of


def _grid_shape(width: int, height: int, grid: Grid | None) -> tuple[int, int]:
    """``(W, H)`` of frames counted on ``grid`` (the sensor's without one)."""
    return (width, height) if grid is None else (grid[1].shape[0], grid[0].shape[0])


def _accumulate(
    events: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int, height: int,
    grid: Grid | None = None,
) -> np.ndarray:
    """Count events ``events[starts[i]:ends[i]]`` into frame ``i``: float32 ``(n, 2, H, W)``,
    or ``(n, 2, len(rows), len(cols))`` on a ``grid`` (:data:`Grid`)."""
    n = len(starts)
    lookup = None
    if grid is not None:
        lookup = _grid_lookup(width, height, grid)
        height, width = grid[0].shape[0], grid[1].shape[0]
    plane = 2 * height * width
    dense = max(plane // _DENSE_DIVISOR, 1)
    out = np.zeros((n, plane), dtype=np.float32)
    for i in range(n):
        s, e = int(starts[i]), int(ends[i])
        if e <= s:
            continue
        sl = events[s:e]
        idx = sl["p"].astype(np.intp)
        idx *= height
        if lookup is None:
            idx += sl["y"]
            idx *= width
            idx += sl["x"]
        else:
            iy, ix = lookup[0][sl["y"]], lookup[1][sl["x"]]
            idx += iy
            idx *= width
            idx += ix
            idx = idx[(iy >= 0) & (ix >= 0)]
        if idx.shape[0] >= dense:
            out[i] = np.bincount(idx, minlength=plane)
        else:  # few events: scatter-add beats a full-plane bincount + conversion
            np.add.at(out[i], idx, _ONE)
    return out.reshape(n, 2, height, width)


def _searchsorted(t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.searchsorted(t, values, side="left")`` without copying a strided ``t``.

    For a few query values, Python's ``bisect_left`` on the (strided) field view gives the same
    indices (same comparisons: numpy scalars against the query values) without the O(N) copy
    and int64 -> float64 conversion that ``np.searchsorted`` makes of ``t``.
    """
    if len(values) <= _BISECT_MAX:
        return np.array([bisect.bisect_left(t, v) for v in values], dtype=np.intp)
    return np.searchsorted(np.ascontiguousarray(t), values)


def _zeros(n: int, width: int, height: int, grid: Grid | None = None) -> np.ndarray:
    width, height = _grid_shape(width, height, grid)
    return np.zeros((n, 2, height, width), dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Slice boundaries (tonic's arithmetic, tonic/slicers.py)
# --------------------------------------------------------------------------------------------


def _time_window_slices(t, time_window, overlap, include_incomplete, start_time, end_time):
    """``SliceByTime.get_slice_metadata`` of tonic 1.7.0 (tonic/slicers.py)."""
    stride = time_window - overlap
    start = t[0] if start_time is None else start_time
    end = t[-1] if end_time is None else end_time
    duration = end - start
    if include_incomplete:
        n_slices = int(np.ceil((duration - time_window) / stride) + 1)
    else:
        n_slices = int(np.floor((duration - time_window) / stride) + 1)
    n_slices = max(n_slices, 1)
    window_starts = np.arange(n_slices) * stride + start
    window_ends = window_starts + time_window
    return _searchsorted(t, window_starts), _searchsorted(t, window_ends)


def _time_bin_slices(t, n_time_bins, overlap):
    """``SliceByTimeBins.get_slice_metadata`` of tonic 1.7.0 (tonic/slicers.py)."""
    time_window = (t[-1] - t[0]) // n_time_bins * (1 + overlap)
    stride = time_window * (1 - overlap)
    window_starts = np.arange(n_time_bins) * stride + t[0]
    window_ends = window_starts + time_window
    return _searchsorted(t, window_starts), _searchsorted(t, window_ends)


def _event_count_slices(n_events, event_count, overlap, include_incomplete):
    """``SliceByEventCount.get_slice_metadata`` of tonic 1.7.0 (tonic/slicers.py)."""
    count = min(event_count, n_events)
    stride = event_count - overlap
    if include_incomplete:
        n_slices = int(np.ceil((n_events - count) / stride) + 1)
    else:
        n_slices = int(np.floor((n_events - count) / stride) + 1)
    starts = (np.arange(n_slices) * stride).astype(int)
    return starts, starts + count


def _event_bin_slices(n_events, n_event_bins, overlap):
    """``SliceByEventBins.get_slice_metadata`` of tonic 1.7.0 (tonic/slicers.py)."""
    spike_count = int(n_events // n_event_bins * (1 + overlap))
    stride = int(spike_count * (1 - overlap))
    starts = np.arange(n_event_bins) * stride
    return starts, starts + spike_count


# --------------------------------------------------------------------------------------------
# Public binning functions
# --------------------------------------------------------------------------------------------


def to_frames_time_window(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    time_window: float,
    overlap: float = 0.0,
    include_incomplete: bool = False,
    start_time: float | None = None,
    end_time: float | None = None,
    *,
    grid: Grid | None = None,
) -> np.ndarray:
    """Frames of a fixed duration: tonic's ``ToFrame(time_window=...)``, bit-identical.

    Frame ``i`` counts the events with ``s_i <= t < s_i + time_window``, where
    ``s_i = start_time + i * (time_window - overlap)``. The number of frames is
    ``floor((end_time - start_time - time_window) / stride) + 1`` (``ceil`` if
    ``include_incomplete``), at least 1. Source: ``tonic.slicers.SliceByTime`` (tonic 1.7.0).

    Args:
        events: structured array ``(N,)`` with fields ``t`` (µs), ``x``, ``y``, ``p``, sorted by t.
        sensor_size: ``(W, H, 2)``.
        time_window: frame length in microseconds, ``> 0``.
        overlap: overlap of consecutive frames in microseconds, ``0 <= overlap < time_window``.
        include_incomplete: keep the last, shorter window.
        start_time, end_time: span to slice (µs); default: first and last event time.

        grid: count only these sensor rows and columns (:data:`Grid`); frames are then
            ``(..., 2, len(rows), len(cols))``. ``None``: the whole sensor.
    Returns:
        float32 array ``(n_frames, 2, H, W)``; channel 0 = OFF, 1 = ON. Empty events give one
        zero frame (as ``tonic.transforms.ToFrame``), or the frames spanned by ``start_time`` and
        ``end_time`` when both are given.

    Raises:
        ValueError: ``time_window <= 0``; ``overlap`` negative or ``>= time_window``; invalid
            events (see :func:`check_events`).
    """
    w, h = check_sensor_size(sensor_size)
    if not time_window > 0:
        raise ValueError(f"time_window must be > 0 microseconds, got {time_window!r}")
    if not 0 <= overlap < time_window:
        raise ValueError(
            f"overlap must be in [0, time_window={time_window!r}) microseconds, got {overlap!r}"
        )
    check_events(events, sensor_size, require_sorted=True)
    if events.shape[0] == 0:
        if start_time is None or end_time is None:
            return _zeros(1, w, h, grid)
        t = np.zeros(0, dtype=np.int64)
    else:
        t = events["t"]
    starts, ends = _time_window_slices(
        t, time_window, overlap, include_incomplete, start_time, end_time
    )
    return _accumulate(events, starts, ends, w, h, grid)


def to_frames_event_count(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    event_count: int,
    overlap: int = 0,
    include_incomplete: bool = False,
    *,
    grid: Grid | None = None,
) -> np.ndarray:
    """Frames of a fixed number of events: tonic's ``ToFrame(event_count=...)``, bit-identical.

    Frame ``i`` counts events ``[i * stride, i * stride + min(event_count, N))`` with
    ``stride = event_count - overlap``; there are ``floor((N - min(event_count, N)) / stride) + 1``
    frames (``ceil`` if ``include_incomplete``, the last one then shorter). Source:
    ``tonic.slicers.SliceByEventCount`` (tonic 1.7.0). With ``N < event_count`` the single frame
    holds all N events (tonic's rule).

    Args:
        events: structured array ``(N,)`` with fields ``t``, ``x``, ``y``, ``p`` (order is used
            as given; time is not read).
        sensor_size: ``(W, H, 2)``.
        event_count: events per frame, ``> 0``.
        overlap: events shared by consecutive frames, ``0 <= overlap < event_count``.
        include_incomplete: keep the last, shorter frame.

        grid: count only these sensor rows and columns (:data:`Grid`); frames are then
            ``(..., 2, len(rows), len(cols))``. ``None``: the whole sensor.
    Returns:
        float32 array ``(n_frames, 2, H, W)``. Empty events give one zero frame (as tonic).

    Raises:
        ValueError: ``event_count <= 0``, bad ``overlap``, invalid events.
    """
    w, h = check_sensor_size(sensor_size)
    event_count = _check_positive_int(event_count, "event_count")
    if not 0 <= overlap < event_count:
        raise ValueError(f"overlap must be in [0, event_count={event_count}) events, got {overlap!r}")
    check_events(events, sensor_size, require_sorted=False)
    starts, ends = _event_count_slices(events.shape[0], event_count, overlap, include_incomplete)
    return _accumulate(events, starts, ends, w, h, grid)


def to_frames_time_bins(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    n_time_bins: int,
    overlap: float = 0.0,
    *,
    grid: Grid | None = None,
) -> np.ndarray:
    """``n_time_bins`` frames of equal duration: tonic's ``ToFrame(n_time_bins=...)``, bit-identical.

    With ``d = (t_last - t_first) // n_time_bins`` (integer µs, floored), each window is
    ``L = d * (1 + overlap)`` long, window ``i`` starts at ``t_first + i * L * (1 - overlap)`` and
    frame ``i`` counts the events with ``start <= t < start + L``. Source:
    ``tonic.slicers.SliceByTimeBins`` (tonic 1.7.0). Because of the floor and the half-open
    windows, the events at ``t_last`` are never counted, and if the duration is shorter than
    ``n_time_bins`` µs (e.g. a single event) every frame is empty; this is tonic's behaviour,
    kept for bit-identity.

    Args:
        events: structured array ``(N,)`` with fields ``t`` (µs), ``x``, ``y``, ``p``, sorted by t.
        sensor_size: ``(W, H, 2)``.
        n_time_bins: number of frames T, ``> 0``.
        overlap: fraction of a bin by which windows are enlarged, ``0 <= overlap < 1``.

        grid: count only these sensor rows and columns (:data:`Grid`); frames are then
            ``(..., 2, len(rows), len(cols))``. ``None``: the whole sensor.
    Returns:
        float32 array ``(T, 2, H, W)``; empty events give zeros.

    Raises:
        ValueError: ``n_time_bins <= 0``, bad ``overlap``, invalid or unsorted events.
    """
    w, h = check_sensor_size(sensor_size)
    n_time_bins = _check_positive_int(n_time_bins, "n_time_bins")
    overlap = _check_bin_overlap(overlap)
    check_events(events, sensor_size, require_sorted=True)
    if events.shape[0] == 0:
        return _zeros(n_time_bins, w, h, grid)
    starts, ends = _time_bin_slices(events["t"], n_time_bins, overlap)
    return _accumulate(events, starts, ends, w, h, grid)


def to_frames_event_bins(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    n_event_bins: int,
    overlap: float = 0.0,
    *,
    grid: Grid | None = None,
) -> np.ndarray:
    """``n_event_bins`` frames of equal event count: tonic's ``ToFrame(n_event_bins=...)``,
    bit-identical.

    With ``c = int(N // n_event_bins * (1 + overlap))`` and ``stride = int(c * (1 - overlap))``,
    frame ``i`` counts events ``[i * stride, i * stride + c)``. Source:
    ``tonic.slicers.SliceByEventBins`` (tonic 1.7.0). The last ``N mod n_event_bins`` events are
    not counted (overlap 0), and with ``N < n_event_bins`` every frame is empty (tonic's rule).

    Args:
        events: structured array ``(N,)`` with fields ``t``, ``x``, ``y``, ``p``.
        sensor_size: ``(W, H, 2)``.
        n_event_bins: number of frames T, ``> 0``.
        overlap: fraction of a bin, ``0 <= overlap < 1``.

        grid: count only these sensor rows and columns (:data:`Grid`); frames are then
            ``(..., 2, len(rows), len(cols))``. ``None``: the whole sensor.
    Returns:
        float32 array ``(T, 2, H, W)``; empty events give zeros.

    Raises:
        ValueError: ``n_event_bins <= 0``, bad ``overlap``, invalid events.
    """
    w, h = check_sensor_size(sensor_size)
    n_event_bins = _check_positive_int(n_event_bins, "n_event_bins")
    overlap = _check_bin_overlap(overlap)
    check_events(events, sensor_size, require_sorted=False)
    starts, ends = _event_bin_slices(events.shape[0], n_event_bins, overlap)
    return _accumulate(events, starts, ends, w, h, grid)


def to_frames_spiking_fer(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    n_time_bins: int = SPIKING_FER_N_TIME_BINS,
    event_count: int = SPIKING_FER_EVENT_COUNT,
    fallback: Literal["event_bins", "time_bins"] = "event_bins",
    *,
    grid: Grid | None = None,
) -> np.ndarray:
    """Spiking-FER's binning: the central T frames of ``event_count`` events each, if there are
    enough events; otherwise T frames of equal event count.

    Rule (Barchid/spiking-fer, ``project/utils/transform_dvs.py``, ``CustomToFrame.__call__``):

    - if ``N // event_count >= T``: slice into ``n = N // event_count`` frames of exactly
      ``event_count`` consecutive events (tonic ``event_count`` mode, no overlap, incomplete last
      frame dropped) and keep frames ``gap .. gap + T - 1`` with ``gap = (n - T) // 2``
      (``int((n - T) / 2)`` upstream): the central T, one more frame after than before when
      ``n - T`` is odd. Only those T frames are computed here.
    - else: upstream calls tonic with ``n_event_bins=T`` (:func:`to_frames_event_bins`), *not*
      equal time bins. ``fallback="time_bins"`` selects :func:`to_frames_time_bins` instead
      (a variant; not Spiking-FER's code).

    Spiking-FER then binarises (``BinarizeFrame``: see :func:`binarize`) and resizes to
    128x128 (see :func:`resize_nearest`); :class:`ToFrames` does both on request.

    Args:
        events: structured array ``(N,)`` with fields ``t`` (µs), ``x``, ``y``, ``p``.
        sensor_size: ``(W, H, 2)``.
        n_time_bins: number of frames T, ``> 0`` (Spiking-FER: 6).
        event_count: events per frame, ``> 0`` (Spiking-FER: 2500).
        fallback: ``"event_bins"`` (upstream) or ``"time_bins"``.

        grid: count only these sensor rows and columns (:data:`Grid`); frames are then
            ``(..., 2, len(rows), len(cols))``. ``None``: the whole sensor.
    Returns:
        float32 array ``(T, 2, H, W)`` of event counts; empty events give zeros.

    Raises:
        ValueError: ``n_time_bins`` or ``event_count`` ``<= 0``, unknown ``fallback``, invalid
            events (unsorted ``t`` only matters, and is only checked, for ``"time_bins"``).
    """
    w, h = check_sensor_size(sensor_size)
    n_time_bins = _check_positive_int(n_time_bins, "n_time_bins")
    event_count = _check_positive_int(event_count, "event_count")
    if fallback not in ("event_bins", "time_bins"):
        raise ValueError(f"fallback must be 'event_bins' or 'time_bins', got {fallback!r}")
    n_events = events.shape[0] if isinstance(events, np.ndarray) else 0
    if n_events // event_count >= n_time_bins:
        check_events(events, sensor_size, require_sorted=False)
        n_frames = n_events // event_count
        gap = (n_frames - n_time_bins) // 2
        starts = (gap + np.arange(n_time_bins)) * event_count
        return _accumulate(events, starts, starts + event_count, w, h, grid)
    logger.debug(
        "spiking_fer binning: %d events < %d x %d; falling back to %s",
        n_events, n_time_bins, event_count, fallback,
    )
    if fallback == "event_bins":
        return to_frames_event_bins(events, sensor_size, n_time_bins, grid=grid)
    return to_frames_time_bins(events, sensor_size, n_time_bins, grid=grid)


def binarize(frames: np.ndarray) -> np.ndarray:
    """Binary frames: 1.0 where a pixel has at least one event, else 0.0.

    Source: Spiking-FER ``BinarizeFrame`` (``project/utils/transform_dvs.py``):
    ``(x > 0).astype(float32)``.

    Args:
        frames: array of any shape, e.g. ``(T, 2, H, W)`` event counts.

    Returns:
        float32 array of the same shape with values in {0.0, 1.0}.
    """
    return (np.asarray(frames) > 0).astype(np.float32)


def nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Source indices of nearest-neighbour resizing from ``in_size`` to ``out_size`` samples.

    ``src[i] = min(floor(float32(i) * float32(in_size / out_size)), in_size - 1)`` computed in
    float32, exactly as PyTorch's ``nearest_idx`` / ``nearest_neighbor_compute_source_index``
    (aten/src/ATen/native/UpSample.h) used by ``torch.nn.functional.interpolate(mode="nearest")``
    and hence by torchvision's ``Resize(interpolation=NEAREST)`` on tensors.

    Returns:
        int64 array ``(out_size,)``.

    Raises:
        ValueError: a size is not a positive integer.
    """
    in_size = _check_positive_int(in_size, "in_size")
    out_size = _check_positive_int(out_size, "out_size")
    if out_size == in_size:
        return np.arange(out_size, dtype=np.int64)
    scale = np.float32(in_size) / np.float32(out_size)
    src = np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(src, in_size - 1)


def resize_nearest(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of the last two axes ``(H, W)`` to ``size = (H_out, W_out)``.

    Equal to ``torch.nn.functional.interpolate(torch.from_numpy(frames), size, mode="nearest")``
    (see :func:`nearest_indices`), which is Spiking-FER's ``transforms.Resize((128, 128),
    NEAREST)`` on its ``(T, 2, H, W)`` frames. It resizes frames, not event coordinates:
    downsampling keeps the rows/columns ``nearest_indices(H, H_out)`` and drops the others.

    Args:
        frames: array ``(..., H, W)``, e.g. ``(T, 2, H, W)``.
        size: ``(H_out, W_out)``, positive integers.

    Returns:
        array ``(..., H_out, W_out)`` of the input dtype (a new array).

    Raises:
        ValueError: ``size`` is not two positive integers or ``frames`` has fewer than 2 axes.
    """
    frames = np.asarray(frames)
    if frames.ndim < 2:
        raise ValueError(f"frames must have at least 2 axes (..., H, W), got shape {frames.shape}")
    try:
        h_out, w_out = size
    except (TypeError, ValueError) as exc:
        raise ValueError(f"size must be (H, W), got {size!r}") from exc
    rows = nearest_indices(frames.shape[-2], h_out)
    cols = nearest_indices(frames.shape[-1], w_out)
    return np.take(np.take(frames, rows, axis=-2), cols, axis=-1)


# --------------------------------------------------------------------------------------------
# Transform
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToFrames:
    """Events -> float32 frames ``(T, 2, H, W)`` (tonic-style frozen transform, stateless).

    Modes (parameters used by each; the others are ignored):

    - ``"spiking_fer"``: :func:`to_frames_spiking_fer` (``n_time_bins``, ``event_count``,
      ``fallback``);
    - ``"time_bins"``: :func:`to_frames_time_bins` (``n_time_bins``, ``overlap``);
    - ``"event_bins"``: :func:`to_frames_event_bins` (``n_time_bins`` frames, ``overlap``);
    - ``"event_count"``: :func:`to_frames_event_count` (``event_count``, ``overlap`` in events,
      ``include_incomplete``): T depends on the recording;
    - ``"time_window"``: :func:`to_frames_time_window` (``time_window`` in µs, ``overlap`` in
      µs, ``include_incomplete``): T depends on the recording.

    Then, in Spiking-FER's order (``get_frame_representation`` then ``Resize``): binarise if
    ``binarize`` (:func:`binarize`), and resize to ``size = (H_out, W_out)`` if given: the
    result of :func:`resize_nearest` on the sensor-sized frames, computed without allocating
    them (the module docstring: only the rows and columns the resize reads are counted).

    Attributes:
        sensor_size: ``(W, H, 2)``.
        n_time_bins: T for the fixed-T modes (Spiking-FER: 6).
        mode: one of :data:`MODES`.
        binarize: map counts to {0, 1} (Spiking-FER: True).
        size: output ``(H_out, W_out)`` or ``None`` for the sensor's ``(H, W)``.
        event_count: events per frame for ``"spiking_fer"`` / ``"event_count"``.
        time_window: frame length in µs for ``"time_window"``.
        overlap: see the mode's function.
        include_incomplete: see the mode's function.
        fallback: see :func:`to_frames_spiking_fer`.

    Raises:
        ValueError: at construction, for an unknown mode or a missing/invalid parameter of the
            chosen mode; at call, for invalid events.
    """

    sensor_size: tuple[int, int, int]
    n_time_bins: int | None = SPIKING_FER_N_TIME_BINS
    mode: Mode = "spiking_fer"
    binarize: bool = False
    size: tuple[int, int] | None = None
    event_count: int = SPIKING_FER_EVENT_COUNT
    time_window: float | None = None
    overlap: float = 0.0
    include_incomplete: bool = False
    fallback: Literal["event_bins", "time_bins"] = "event_bins"

    def __post_init__(self) -> None:
        check_sensor_size(self.sensor_size)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.mode in ("spiking_fer", "time_bins", "event_bins"):
            _check_positive_int(self.n_time_bins, "n_time_bins")
        if self.mode in ("spiking_fer", "event_count"):
            _check_positive_int(self.event_count, "event_count")
        if self.mode == "time_window" and (self.time_window is None or not self.time_window > 0):
            raise ValueError(f"time_window must be > 0 microseconds, got {self.time_window!r}")
        if self.mode in ("time_bins", "event_bins"):
            _check_bin_overlap(self.overlap)
        if self.fallback not in ("event_bins", "time_bins"):
            raise ValueError(f"fallback must be 'event_bins' or 'time_bins', got {self.fallback!r}")
        if self.size is not None:
            if len(self.size) != 2:
                raise ValueError(f"size must be (H, W) or None, got {self.size!r}")
            for v in self.size:
                _check_positive_int(v, "size")

    def __call__(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Bin ``events`` (structured ``(N,)``, t in µs) into float32 ``(T, 2, H_out, W_out)``.

        ``rng`` is accepted and ignored, so that the transform can sit in
        :class:`datasets.transforms.augment.Compose` next to random transforms.
        """
        grid, expand = self._resize_grid()
        if self.mode == "spiking_fer":
            frames = to_frames_spiking_fer(
                events, self.sensor_size, self.n_time_bins, self.event_count, self.fallback,
                grid=grid,
            )
        elif self.mode == "time_bins":
            frames = to_frames_time_bins(events, self.sensor_size, self.n_time_bins, self.overlap,
                                         grid=grid)
        elif self.mode == "event_bins":
            frames = to_frames_event_bins(events, self.sensor_size, self.n_time_bins,
                                          self.overlap, grid=grid)
        elif self.mode == "event_count":
            frames = to_frames_event_count(
                events, self.sensor_size, self.event_count, self.overlap, self.include_incomplete,
                grid=grid,
            )
        else:
            frames = to_frames_time_window(
                events, self.sensor_size, self.time_window, self.overlap, self.include_incomplete,
                grid=grid,
            )
        if self.binarize:
            frames = binarize(frames)
        if expand is not None:
            if expand[0] is not None:
                frames = np.take(frames, expand[0], axis=-2)
            if expand[1] is not None:
                frames = np.take(frames, expand[1], axis=-1)
        return frames

    def _resize_grid(self) -> tuple[Grid | None, tuple[np.ndarray | None, np.ndarray | None] | None]:
        """The rows and columns that the nearest-neighbour resize to ``size`` reads
        (:func:`nearest_indices`), as a :data:`Grid` to count on, and per axis the index that
        repeats the counted rows/columns into ``size`` (``None``: already in order, one each).
        ``(None, None)`` without a resize."""
        w, h = check_sensor_size(self.sensor_size)
        if self.size is None or tuple(self.size) == (h, w):
            return None, None
        kept, repeat = [], []
        for in_size, out_size in ((h, self.size[0]), (w, self.size[1])):
            src = nearest_indices(in_size, out_size)
            uniq, inverse = np.unique(src, return_inverse=True)
            kept.append(uniq)
            repeat.append(None if uniq.shape[0] == out_size else inverse)
        return (kept[0], kept[1]), (repeat[0], repeat[1])
