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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.common import InputError, atomic_write

EVENTS_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")])
"""Structured dtype of an event record: ``t`` (µs, int64), ``x``, ``y`` (int16), ``p`` (int8)."""

H5_DATASET = "events"
"""Name of the HDF5 dataset of the v2e layout."""

EVENT_RULES_VERSION = 1
"""Version of the rules :func:`event_file_problems` applies. Bump it whenever a rule is added or
changed, so that stored check results (:mod:`datasets.check`'s cache) are invalidated."""

_INT16_MAX = int(np.iinfo(np.int16).max)


@dataclass(frozen=True)
class EventProblem:
    """One rule violation of one event file.

    Attributes:
        path: the event file.
        field: what is at fault: ``"file"`` (missing, unreadable), ``"events"`` (the HDF5
            dataset: absent, a group, wrong shape or dtype, empty), or an event field ``"t"``,
            ``"x"``, ``"y"``, ``"p"``.
        value: the (first) bad value: an ``int`` for an event field (the raw value as stored),
            a ``str`` for a shape, dtype or reason, ``0`` for an empty recording. Always a JSON
            scalar (``int``, ``str`` or ``None``), so that problems can be stored and compared.
        message: a full sentence naming the file, the field, the first bad value, its event
            index and how many events are bad in all.
    """

    path: Path
    field: str
    value: object
    message: str


class EventFileError(InputError, ValueError):
    """An event file is missing, unreadable or violates the v2e layout; the message names the file.

    Attributes:
        problems: every :class:`EventProblem` found in the file, first one first (empty when the
            error was raised without a problem list, e.g. by :func:`validate_events`).
    """

    def __init__(self, message: str, problems: Sequence[EventProblem] = ()):
        super().__init__(message)
        self.problems: tuple[EventProblem, ...] = tuple(problems)

    def __reduce__(self):  # keep ``problems`` through pickling (e.g. DataLoader workers)
        return (type(self), (str(self), self.problems))


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


def _read_raw(path: Path) -> tuple[np.ndarray | None, list[EventProblem]]:
    """Read the raw v2e array of ``path`` once, checking the file's structure.

    Returns:
        ``(raw, [])`` with ``raw`` the ``(N, 4)`` uint32 ``[t_us, x, y, p]`` array, or
        ``(None, problems)`` when the file is missing or unreadable, has no ``events`` dataset,
        or ``events`` is a group or not ``(N, 4)`` uint32 (a wrong shape and a wrong dtype are
        both reported). Nothing is raised.
    """
    import h5py

    if not path.is_file():
        return None, [EventProblem(path, "file", "missing", f"{path}: no such event file")]
    try:
        with h5py.File(path, "r") as f:
            if H5_DATASET not in f:
                keys = sorted(f.keys())
                return None, [EventProblem(
                    path, "events", "absent",
                    f"{path}: no dataset '{H5_DATASET}' (has {keys}); "
                    "expected the v2e layout events (N, 4) uint32 [t_us, x, y, p]",
                )]
            ds = f[H5_DATASET]
            if not isinstance(ds, h5py.Dataset):
                return None, [EventProblem(
                    path, "events", "group", f"{path}: '{H5_DATASET}' is a group, not a dataset"
                )]
            problems = []
            if ds.ndim != 2 or ds.shape[1] != 4:
                problems.append(EventProblem(
                    path, "events", str(ds.shape),
                    f"{path}: dataset '{H5_DATASET}' has shape {ds.shape}, expected (N, 4) "
                    "with columns [t_us, x, y, p]",
                ))
            if ds.dtype != np.uint32:
                problems.append(EventProblem(
                    path, "events", str(ds.dtype),
                    f"{path}: dataset '{H5_DATASET}' has dtype {ds.dtype}, expected uint32",
                ))
            if problems:
                return None, problems
            raw = ds[()]
    except (OSError, KeyError, ValueError) as exc:  # h5py raises OSError on truncated files
        return None, [EventProblem(
            path, "file", "unreadable", f"{path}: cannot read HDF5 file ({exc})"
        )]
    return raw, []


def _first_bad(
    path: Path, field: str, column: np.ndarray, mask: np.ndarray, template: str
) -> EventProblem | None:
    """The problem of ``field`` where ``mask`` is True, or ``None`` if it is nowhere True.

    ``template`` is the message after ``"<path>: "``, formatted with ``value`` (the first bad
    value of ``column``), ``i`` (its event index) and ``count`` (the number of bad events).
    """
    count = int(np.count_nonzero(mask))
    if not count:
        return None
    i = int(np.argmax(mask))
    value = int(column[i])
    text = template.format(value=value, i=i, count=count)
    return EventProblem(path, field, value, f"{path}: {text}")


def _raw_problems(
    path: Path,
    raw: np.ndarray,
    sensor_size: tuple[int, int, int] | None,
    allow_empty: bool,
) -> list[EventProblem]:
    """Every event-rule violation of a raw ``(N, 4)`` uint32 ``[t_us, x, y, p]`` array.

    Vectorised, one comparison per rule on the raw uint32 values (before any cast could wrap
    them). Rules, in this order: ``x``, ``y`` inside the sensor (``0 <= x < W``, ``0 <= y < H``)
    and inside the int16 range of the event record; ``p`` in {0, 1}; ``t`` non-decreasing;
    ``N > 0`` unless ``allow_empty``.
    """
    if raw.shape[0] == 0:
        if allow_empty:
            return []
        return [EventProblem(path, "events", 0, f"{path}: the recording is empty (0 events)")]
    found: list[EventProblem | None] = []
    for col, field in ((1, "x"), (2, "y")):
        v = raw[:, col]
        limit = None if sensor_size is None else int(sensor_size[col - 1])
        if limit is not None:
            found.append(_first_bad(
                path, field, v, v >= limit,
                f"field '{field}' = {{value}} at event {{i}} lies outside the sensor "
                f"(sensor_size={tuple(sensor_size)}, valid 0..{limit - 1}; "
                "{count} events outside in all)",
            ))
        if limit is None or limit > _INT16_MAX + 1:
            over = v > _INT16_MAX
            if limit is not None:
                over &= v < limit  # those beyond the sensor are reported above
            found.append(_first_bad(
                path, field, v, over,
                f"field '{field}' = {{value}} at event {{i}} exceeds the int16 range of the event "
                f"record (0..{_INT16_MAX}); {{count}} events beyond it in all",
            ))
    p = raw[:, 3]
    found.append(_first_bad(
        path, "p", p, p > 1,
        "field 'p' must be 0 or 1, got {value} at event {i} ({count} bad values in all)",
    ))
    t = raw[:, 0]
    dec = t[1:] < t[:-1]  # not np.diff: uint32 differences would wrap
    count = int(np.count_nonzero(dec))
    if count:
        i = int(np.argmax(dec)) + 1
        found.append(EventProblem(
            path, "t", int(t[i]),
            f"{path}: field 't' decreases at event {i} ({int(t[i - 1])} -> {int(t[i])} us); "
            f"events must be sorted by time ({count} decrease{'s' if count > 1 else ''} in all)",
        ))
    return [q for q in found if q is not None]


def event_file_problems(
    path: str | os.PathLike,
    sensor_size: tuple[int, int, int] | None = None,
    *,
    allow_empty: bool = False,
) -> list[EventProblem]:
    """Every rule violation of a v2e-layout HDF5 file, not just the first; raises nothing.

    The file is read once. Structural problems stop the check (the events cannot be looked
    at): a missing file, an unreadable/truncated HDF5 file, no ``events`` dataset, ``events`` a
    group, a shape other than ``(N, 4)`` and/or a dtype other than uint32. Otherwise every event
    rule is applied to all events, in this order: ``x``, ``y`` inside the sensor (or, without a
    sensor size, inside the int16 range of :data:`EVENTS_DTYPE`), ``p`` in {0, 1}, ``t``
    non-decreasing, and ``N > 0`` unless ``allow_empty``. Each violated rule gives one problem
    naming its first bad value, that event's index and the number of bad events.

    Args:
        path: the ``.h5`` file.
        sensor_size: ``(W, H, 2)``; coordinates must satisfy ``0 <= x < W`` and ``0 <= y < H``.
            ``None`` skips the sensor check (the int16 range is still checked).
        allow_empty: accept a file with zero events.

    Returns:
        The problems in the order above; ``[]`` for a valid file.

    Example:
        >>> event_file_problems("/nonexistent/001.h5")[0].field
        'file'
    """
    path = Path(path)
    raw, problems = _read_raw(path)
    if raw is None:
        return problems
    return _raw_problems(path, raw, sensor_size, allow_empty)


def problems_message(problems: Sequence[EventProblem]) -> str:
    """One error message for the problems of one file: the first problem's message, then, if
    there are more, a count and one indented line per further problem.

    Raises:
        ValueError: ``problems`` is empty.
    """
    if not problems:
        raise ValueError("problems_message needs at least one problem")
    msg = problems[0].message
    if len(problems) > 1:
        rest = "\n".join(f"  {q.message}" for q in problems[1:])
        msg += f"\n{len(problems) - 1} more problem(s) in the same file:\n{rest}"
    return msg


def read_v2e_h5(
    path: str | os.PathLike,
    sensor_size: tuple[int, int, int] | None = None,
    *,
    allow_empty: bool = False,
) -> np.ndarray:
    """Read a v2e-layout HDF5 file into an event array, validating it.

    The file is read once and validated with vectorised comparisons on the raw uint32 array
    (the rules of :func:`event_file_problems`), then cast to :data:`EVENTS_DTYPE`.

    Args:
        path: the ``.h5`` file.
        sensor_size: ``(W, H, 2)`` to check coordinates against, or ``None`` to skip that check
            (coordinates must still fit the int16 record).
        allow_empty: accept a file with zero events.

    Returns:
        Events, structured array of dtype :data:`EVENTS_DTYPE`, shape ``(N,)``, sorted by ``t``.

    Raises:
        EventFileError: the file is missing or truncated/unreadable, has no ``events`` dataset,
            ``events`` is not ``(N, 4)`` uint32, or the events break a rule (coordinates outside
            the sensor, polarity not 0/1, decreasing time, empty). The message names the file
            and holds every problem of the file, first one first (see :func:`problems_message`);
            ``.problems`` lists them as :class:`EventProblem`.
    """
    path = Path(path)
    raw, problems = _read_raw(path)
    if raw is not None:
        problems = _raw_problems(path, raw, sensor_size, allow_empty)
    if problems:
        raise EventFileError(problems_message(problems), problems)
    return make_events(raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3])


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

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(H5_DATASET, data=raw, compression=compression)

    return atomic_write(path, write)
