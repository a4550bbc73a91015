"""Event records and the v2e HDF5 file layout.

Events are numpy structured arrays with tonic's field names (``t``, ``x``, ``y``, ``p``), sorted by
``t``. ``t`` is in microseconds (int64), ``x``/``y`` are pixel coordinates (int16), ``p`` is the
polarity (int8, 1 = ON, 0 = OFF). A sensor size is ``(W, H, 2)`` as in tonic.

On disk the interchange format is v2e's ``--dvs_h5`` layout: one HDF5 dataset ``events`` of shape
``(N, 4)``, dtype uint32, columns ``[t_us, x, y, p]`` (Hu et al., "v2e: From Video Frames to
Realistic DVS Events", CVPRW 2021; the layout is that of v2e's ``DVSOutput`` h5 writer).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

EVENTS_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")])
"""Structured dtype of an event record: ``t`` (µs, int64), ``x``, ``y`` (int16), ``p`` (int8)."""

H5_DATASET = "events"
"""Name of the HDF5 dataset of the v2e layout."""


class EventFileError(ValueError):
    """An event file is missing, unreadable or violates the v2e layout; the message names the file."""


def make_events(t, x, y, p) -> np.ndarray:
    """Build an event record array from four equally long 1-D sequences.

    Args:
        t: timestamps in microseconds, shape ``(N,)``.
        x, y: pixel coordinates, shape ``(N,)``.
        p: polarities in {0, 1}, shape ``(N,)``.

    Returns:
        Structured array of dtype :data:`EVENTS_DTYPE`, shape ``(N,)`` (not re-sorted).

    Raises:
        ValueError: if the lengths differ.
    """
    cols = [np.asarray(c) for c in (t, x, y, p)]
    n = {c.shape[0] for c in cols}
    if len(n) != 1:
        raise ValueError(f"t, x, y, p must have the same length, got {[c.shape[0] for c in cols]}")
    ev = np.empty(cols[0].shape[0], dtype=EVENTS_DTYPE)
    for name, col in zip("txyp", cols, strict=True):
        ev[name] = col
    return ev


def validate_events(
    events: np.ndarray,
    sensor_size: tuple[int, int, int] | None = None,
    *,
    source: str = "<events>",
    allow_empty: bool = True,
) -> None:
    """Check an event array against the data model; raise on the first violation.

    Args:
        events: structured array with fields ``t, x, y, p``, shape ``(N,)``.
        sensor_size: ``(W, H, 2)``; coordinates must satisfy ``0 <= x < W`` and ``0 <= y < H``.
            ``None`` skips the coordinate check.
        source: name of the file or object, used in messages.
        allow_empty: if False, ``N == 0`` is an error.

    Raises:
        EventFileError: naming ``source``, the field and the first offending value and index.
    """
    names = events.dtype.names or ()
    missing = [f for f in "txyp" if f not in names]
    if missing:
        raise EventFileError(f"{source}: event array lacks field(s) {missing}; has {list(names)}")
    n = events.shape[0]
    if n == 0:
        if not allow_empty:
            raise EventFileError(f"{source}: the recording is empty (0 events)")
        return
    p = events["p"]
    bad = np.flatnonzero((p != 0) & (p != 1))
    if bad.size:
        i = int(bad[0])
        raise EventFileError(
            f"{source}: field 'p' must be 0 or 1, got {int(p[i])} at event {i} "
            f"({bad.size} bad values in all)"
        )
    if sensor_size is not None:
        w, h = int(sensor_size[0]), int(sensor_size[1])
        for field, limit in (("x", w), ("y", h)):
            v = events[field]
            bad = np.flatnonzero((v < 0) | (v >= limit))
            if bad.size:
                i = int(bad[0])
                raise EventFileError(
                    f"{source}: field '{field}' = {int(v[i])} at event {i} lies outside the sensor "
                    f"(sensor_size={tuple(sensor_size)}, valid 0..{limit - 1}; "
                    f"{bad.size} events outside in all)"
                )
    t = events["t"]
    dec = np.flatnonzero(np.diff(t) < 0)
    if dec.size:
        i = int(dec[0])
        raise EventFileError(
            f"{source}: field 't' decreases at event {i + 1} ({int(t[i])} -> {int(t[i + 1])} us); "
            "events must be sorted by time"
        )


def read_v2e_h5(
    path: str | os.PathLike,
    sensor_size: tuple[int, int, int] | None = None,
    *,
    allow_empty: bool = False,
) -> np.ndarray:
    """Read a v2e-layout HDF5 file into an event array, validating it.

    Args:
        path: the ``.h5`` file.
        sensor_size: ``(W, H, 2)`` to check coordinates against, or ``None`` to skip that check.
        allow_empty: accept a file with zero events.

    Returns:
        Events, structured array of dtype :data:`EVENTS_DTYPE`, shape ``(N,)``, sorted by ``t``.

    Raises:
        EventFileError: the file is missing or truncated/unreadable, has no ``events`` dataset,
            ``events`` is not ``(N, 4)`` uint32, or the events fail :func:`validate_events`.
            Every message names the file.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise EventFileError(f"{path}: no such event file")
    try:
        with h5py.File(path, "r") as f:
            if H5_DATASET not in f:
                raise EventFileError(
                    f"{path}: no dataset '{H5_DATASET}' (has {sorted(f.keys())}); "
                    "expected the v2e layout events (N, 4) uint32 [t_us, x, y, p]"
                )
            ds = f[H5_DATASET]
            if not isinstance(ds, h5py.Dataset):
                raise EventFileError(f"{path}: '{H5_DATASET}' is a group, not a dataset")
            if ds.ndim != 2 or ds.shape[1] != 4:
                raise EventFileError(
                    f"{path}: dataset '{H5_DATASET}' has shape {ds.shape}, expected (N, 4) "
                    "with columns [t_us, x, y, p]"
                )
            if ds.dtype != np.uint32:
                raise EventFileError(
                    f"{path}: dataset '{H5_DATASET}' has dtype {ds.dtype}, expected uint32"
                )
            raw = ds[()]
    except EventFileError:
        raise
    except (OSError, KeyError, ValueError) as exc:  # h5py raises OSError on truncated files
        raise EventFileError(f"{path}: cannot read HDF5 file ({exc})") from exc
    if sensor_size is not None:
        # Check the range on the raw uint32 values, before the int16 cast could wrap them.
        for col, field, limit in ((1, "x", sensor_size[0]), (2, "y", sensor_size[1])):
            bad = np.flatnonzero(raw[:, col] >= limit)
            if bad.size:
                i = int(bad[0])
                raise EventFileError(
                    f"{path}: field '{field}' = {int(raw[i, col])} at event {i} lies outside the "
                    f"sensor (sensor_size={tuple(sensor_size)}, valid 0..{int(limit) - 1}; "
                    f"{bad.size} events outside in all)"
                )
    elif raw.size and raw[:, 1:3].max() > np.iinfo(np.int16).max:
        raise EventFileError(f"{path}: coordinates exceed the int16 range of the event record")
    events = make_events(raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3].astype(np.int64))
    if raw.size:
        pcol = raw[:, 3]
        bad = np.flatnonzero(pcol > 1)
        if bad.size:
            i = int(bad[0])
            raise EventFileError(
                f"{path}: field 'p' must be 0 or 1, got {int(pcol[i])} at event {i} "
                f"({bad.size} bad values in all)"
            )
    validate_events(events, sensor_size, source=str(path), allow_empty=allow_empty)
    return events


def write_v2e_h5(path: str | os.PathLike, events: np.ndarray, *, compression: str | None = "gzip") -> Path:
    """Write events in the v2e HDF5 layout, atomically (temporary file, then rename).

    Args:
        path: target ``.h5`` file; parent folders are created.
        events: structured array with fields ``t, x, y, p`` (t in µs, non-negative), shape ``(N,)``.
        compression: h5py compression filter (v2e uses gzip).

    Returns:
        The path written.

    Raises:
        EventFileError: if the events are invalid (negative times or coordinates, bad polarity,
            unsorted times).
    """
    import h5py

    path = Path(path)
    validate_events(events, None, source=str(path))
    for field in "txy":
        if events.shape[0] and events[field].min() < 0:
            raise EventFileError(f"{path}: field '{field}' has negative values; uint32 cannot hold them")
    raw = np.empty((events.shape[0], 4), dtype=np.uint32)
    for col, field in enumerate("txyp"):
        raw[:, col] = events[field]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(H5_DATASET, data=raw, compression=compression)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
