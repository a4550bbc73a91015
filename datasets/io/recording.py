"""One entry point for event recordings of every kind the suite reads, dispatched by file suffix.

Kinds (:data:`RECORDING_KINDS`): ``.aedat4`` (DV / DAVIS, :func:`datasets.io.aedat.read_aedat4`),
``.h5`` / ``.hdf5`` in v2e's layout (:func:`datasets.io.events.read_v2e_h5`), and Prophesee ``.raw``
(EVT 2.0 / EVT 3.0) and ``.dat`` (:func:`datasets.io.prophesee.read_prophesee`). Every reader's
result is brought to one form, :class:`Recording`: events with ``t`` from the first event, the
sensor size and the reader's metadata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasets.io.events import EventFileError, read_v2e_h5, validate_events, write_v2e_h5

RECORDING_KINDS: dict[str, str] = {
    ".aedat4": "AEDAT4 (DV / DAVIS)",
    ".h5": "v2e-layout HDF5",
    ".hdf5": "v2e-layout HDF5",
    ".raw": "Prophesee EVT 2.0 / EVT 3.0",
    ".dat": "Prophesee DAT",
}
"""Recording file suffixes (lower case) -> kind, in the order they are listed to users."""


class UnsupportedRecordingError(EventFileError):
    """A file whose suffix is none of :data:`RECORDING_KINDS`; the message names the file."""


@dataclass(frozen=True)
class Recording:
    """An event recording on the suite's time axis.

    Attributes:
        path: the file.
        events: ``(N,)`` :data:`~datasets.io.events.EVENTS_DTYPE`, sorted by ``t``, ``t`` in µs from
            the first event (``events["t"][0] == 0``), ``N >= 1``.
        sensor_size: ``(W, H, 2)``.
        t0_us: the file's timestamp of the first event (µs, the file's own clock).
        kind: from :data:`RECORDING_KINDS`.
        metadata: what the reader reports (Prophesee: format, EVT version, header, how the
            sensor size was decided, timestamp order); ``{}`` for the other kinds except
            ``sensor_size_source``.
    """

    path: Path
    events: np.ndarray
    sensor_size: tuple[int, int, int]
    t0_us: int
    kind: str
    metadata: dict = field(default_factory=dict)


def is_recording(path: str | os.PathLike) -> bool:
    """Whether ``path``'s suffix is one of :data:`RECORDING_KINDS` (the file is not opened)."""
    return Path(path).suffix.lower() in RECORDING_KINDS


def read_recording(path: str | os.PathLike, sensor_size=None) -> Recording:
    """Read any supported event recording (see :data:`RECORDING_KINDS`).

    Args:
        path: the recording.
        sensor_size: ``(W, H)`` or ``(W, H, 2)``: for a Prophesee file that declares none (no
            header geometry, no known camera plugin); for a v2e ``.h5`` (which stores none) the
            sensor instead of ``(max x + 1, max y + 1)``; ignored for ``.aedat4``, which
            always declares its own.

    Returns:
        A :class:`Recording` (``t`` shifted to start at 0).

    Raises:
        FileNotFoundError: no such file.
        UnsupportedRecordingError: a suffix none of :data:`RECORDING_KINDS` (one line).
        EventFileError: the reader's error, naming the file (unreadable, truncated, unknown
            EVT version, events outside the sensor, ...), or a recording without events.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in RECORDING_KINDS:
        kinds = ", ".join(f"{s} ({k})" for s, k in RECORDING_KINDS.items())
        raise UnsupportedRecordingError(f"{path}: unsupported recording type {suffix!r} "
                                        f"(expected one of: {kinds})")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such recording")
    kind = RECORDING_KINDS[suffix]
    metadata: dict = {}
    if suffix == ".aedat4":
        from datasets.io.aedat import read_aedat4

        rec = read_aedat4(path)
        events, sensor, t0 = rec.events, tuple(int(v) for v in rec.sensor_size), int(rec.t0_us)
        metadata["sensor_size_source"] = "the file's event stream"
    elif suffix in (".raw", ".dat"):
        from datasets.io.prophesee import read_prophesee

        rec = read_prophesee(path, sensor_size=sensor_size)
        events, sensor, metadata = rec.events, rec.sensor_size, rec.metadata
        t0 = int(events["t"][0]) if events.shape[0] else 0
        events = events.copy()
        events["t"] -= t0
    else:
        events = read_v2e_h5(path)
        t0 = int(events["t"][0]) if events.shape[0] else 0
        events = events.copy()
        events["t"] -= t0
        if sensor_size is not None:
            sensor = (int(sensor_size[0]), int(sensor_size[1]), 2)
            metadata["sensor_size_source"] = "given by the user"
            validate_events(events, sensor, source=str(path))
        elif events.shape[0]:
            sensor = (int(events["x"].max()) + 1, int(events["y"].max()) + 1, 2)
            metadata["sensor_size_source"] = "max x + 1, max y + 1 (v2e files store none)"
    if events.shape[0] == 0:
        raise EventFileError(f"{path}: the recording is empty (0 events)")
    return Recording(path=path, events=events, sensor_size=sensor,  # type: ignore[arg-type]
                     t0_us=t0, kind=kind, metadata=metadata)


def recording_to_h5(source: str | os.PathLike, out_path: str | os.PathLike,
                    sensor_size=None) -> tuple[Path, Recording]:
    """Write a recording's events (``t`` from the first event) in the v2e HDF5 layout.

    Args:
        source: any supported recording (:func:`read_recording`).
        out_path: the ``.h5`` to write (atomically).
        sensor_size: as in :func:`read_recording`.

    Returns:
        ``(the written path, the recording read)``.

    Raises:
        as :func:`read_recording`; EventFileError: the file cannot be written.
    """
    rec = read_recording(source, sensor_size=sensor_size)
    return write_v2e_h5(out_path, rec.events), rec
