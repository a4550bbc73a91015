"""Read AEDAT4 recordings (DV / DAVIS cameras) into the suite's event records.

Decoding is done by the ``aedat`` package (neuromorphicsystems/aedat, MIT; ``aedat.Decoder(path)``
yields packets, each a dict with ``stream_id`` and exactly one of ``events``, ``frame``, ``imus``,
``triggers``; ``Decoder.id_to_stream()`` gives each stream's ``type`` and, for event and frame
streams, ``width`` and ``height``). AEDAT4 timestamps are microseconds since the Unix epoch
(``uint64``); event polarity is a bool (``True`` = ON).

Conversion (see :func:`read_aedat4`):

* events -> :data:`datasets.io.events.EVENTS_DTYPE`: ``t`` int64 µs **relative to the first event**
  (the absolute time of that event is kept in :attr:`AedatRecording.t0_us`), ``x``, ``y`` int16,
  ``p`` int8 (1 = ON, 0 = OFF); validated with :func:`datasets.io.events.validate_events` against the
  stream's sensor size, so unsorted times or out-of-sensor coordinates raise, never get dropped;
* frames -> ``(M, H, W)`` grey images with their timestamps on the same time axis (a frame
  exposed before the first event gets a negative time);
* IMU samples -> a structured array with ``t`` on the same time axis.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.io.events import EventFileError, make_events, validate_events

log = logging.getLogger(__name__)

BT601_LUMA = (0.299, 0.587, 0.114)
"""RGB -> grey weights of ITU-R BT.601 (as Pillow's ``convert("L")``), for colour frames."""


@dataclass(frozen=True)
class AedatRecording:
    """One AEDAT4 recording on the suite's time axis.

    Attributes:
        path: the file.
        events: ``(N,)`` :data:`~datasets.io.events.EVENTS_DTYPE`, ``t`` in µs from the first event
            (``events["t"][0] == 0`` when ``N > 0``), sorted.
        sensor_size: ``(W, H, 2)`` from the event stream's description in the file.
        t0_us: absolute timestamp (µs since the Unix epoch, as stored in the file) of time 0: the
            first event, or the first frame when the file has no event.
        frames: ``(M, H, W)`` grey frames; uint8 for 8-bit files, uint16 for 16-bit (``I;16``,
            jAER's DAVIS frames); ``(0, H, W)`` when there is no frame.
        frame_t: ``(M,)`` int64 µs, each frame's timestamp (``frame["t"]`` of the decoder, which
            for DV recordings lies mid-exposure) minus ``t0_us``.
        frame_exposure: ``(M, 2)`` int64 µs, exposure begin and end minus ``t0_us``.
        imu: ``(K,)`` structured array: ``t`` int64 µs minus ``t0_us``, then the decoder's float32
            fields (``temperature``, ``accelerometer_*`` in g, ``gyroscope_*`` in deg/s,
            ``magnetometer_*``); empty when the file has no IMU stream.
    """

    path: Path
    events: np.ndarray
    sensor_size: tuple[int, int, int]
    t0_us: int
    frames: np.ndarray
    frame_t: np.ndarray
    frame_exposure: np.ndarray
    imu: np.ndarray

    @property
    def duration_us(self) -> int:
        """Time of the last event (µs from the first one); 0 without events."""
        return int(self.events["t"][-1]) if self.events.shape[0] else 0


def _pick_stream(streams: dict[int, dict], kind: str, stream_id: int | None, path: Path) -> int | None:
    ids = sorted(i for i, s in streams.items() if s.get("type") == kind)
    if stream_id is not None:
        if stream_id not in ids:
            raise EventFileError(
                f"{path}: stream_id {stream_id} is not a {kind!r} stream (those are {ids}; "
                f"all streams: {streams})"
            )
        return stream_id
    if len(ids) > 1:
        raise EventFileError(
            f"{path}: {len(ids)} {kind!r} streams {ids}; choose one with the stream_id argument"
        )
    return ids[0] if ids else None


def _grey(pixels: np.ndarray, fmt: str, path: Path, index: int) -> np.ndarray:
    """A decoded frame as ``(H, W)`` grey (uint8 or uint16), converting colour with BT.601."""
    if fmt in ("L", "I;16"):
        if pixels.ndim != 2:
            raise EventFileError(
                f"{path}: frame {index}: format {fmt!r} with pixel shape {pixels.shape}, "
                "expected (H, W)"
            )
        return pixels
    if fmt in ("RGB", "RGBA") and pixels.ndim == 3 and pixels.shape[2] in (3, 4):
        rgb = pixels[..., :3].astype(np.float64)
        grey = rgb @ np.asarray(BT601_LUMA)
        return np.clip(np.rint(grey), 0, np.iinfo(pixels.dtype).max).astype(pixels.dtype)
    raise EventFileError(
        f"{path}: frame {index}: field 'format' = {fmt!r} with pixel shape {pixels.shape} is not "
        "supported (expected L, I;16, RGB or RGBA)"
    )


def read_aedat4(
    path: str | os.PathLike,
    *,
    events_stream: int | None = None,
    frames_stream: int | None = None,
    allow_empty: bool = False,
) -> AedatRecording:
    """Read an AEDAT4 file's events, grey frames and IMU samples.

    Args:
        path: the ``.aedat4`` file.
        events_stream, frames_stream: stream ids to read when a file has several event / frame
            streams (``None``: the only one).
        allow_empty: accept a file without any event (needs an event stream for the sensor
            size all the same).

    Returns:
        An :class:`AedatRecording` (see there for shapes, units and the time origin).

    Raises:
        EventFileError: naming the file: missing or unreadable (truncated) file, no event stream
            (or several, with no ``events_stream``), no events (unless ``allow_empty``), event
            coordinates outside the stream's ``width`` x ``height``, unsorted event times
            (:func:`~datasets.io.events.validate_events`), or frames of unsupported format or of
            a shape other than the frame stream's.
    """
    try:
        import aedat
    except ImportError as exc:  # pragma: no cover - aedat is a declared dependency
        raise EventFileError(f"{path}: reading AEDAT4 needs the 'aedat' package ({exc})") from exc

    path = Path(path)
    if not path.is_file():
        raise EventFileError(f"{path}: no such AEDAT4 file")
    ev_chunks: list[np.ndarray] = []
    frames: list[np.ndarray] = []
    frame_times: list[tuple[int, int, int]] = []
    imu_chunks: list[np.ndarray] = []
    n_triggers = 0
    try:
        decoder = aedat.Decoder(path)
        streams = decoder.id_to_stream()
        ev_id = _pick_stream(streams, "events", events_stream, path)
        fr_id = _pick_stream(streams, "frame", frames_stream, path)
        if ev_id is None:
            raise EventFileError(f"{path}: no 'events' stream (streams: {streams})")
        width, height = int(streams[ev_id]["width"]), int(streams[ev_id]["height"])
        frame_shape = ((int(streams[fr_id]["height"]), int(streams[fr_id]["width"]))
                       if fr_id is not None else (height, width))
        for packet in decoder:
            sid = packet["stream_id"]
            if "events" in packet and sid == ev_id:
                ev_chunks.append(packet["events"])
            elif "frame" in packet and sid == fr_id:
                f = packet["frame"]
                img = _grey(f["pixels"], f["format"], path, len(frames))
                if img.shape != frame_shape:
                    raise EventFileError(
                        f"{path}: frame {len(frames)} has shape {img.shape}, the frame stream "
                        f"declares (height, width) = {frame_shape} (offset "
                        f"{f.get('offset_x')}, {f.get('offset_y')})"
                    )
                if frames and img.dtype != frames[0].dtype:
                    raise EventFileError(
                        f"{path}: frame {len(frames)} has dtype {img.dtype}, earlier frames "
                        f"{frames[0].dtype}"
                    )
                frames.append(img)
                frame_times.append((int(f["t"]), int(f["exposure_begin_t"]),
                                    int(f["exposure_end_t"])))
            elif "imus" in packet:
                imu_chunks.append(packet["imus"])
            elif "triggers" in packet:
                n_triggers += len(packet["triggers"])
        decoder = None  # the file handle is released with the Rust object
    except EventFileError:
        raise
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        raise EventFileError(f"{path}: cannot decode AEDAT4 file ({exc})") from exc
    except BaseException as exc:
        # A malformed file can make aedat's Rust decoder panic; pyo3 raises that as
        # pyo3_runtime.PanicException, which derives from BaseException, not Exception.
        if type(exc).__name__ != "PanicException":
            raise
        raise EventFileError(f"{path}: cannot decode AEDAT4 file (decoder panic: {exc})") from exc

    raw = np.concatenate(ev_chunks) if ev_chunks else None
    n = 0 if raw is None else raw.shape[0]
    if n == 0 and not allow_empty:
        raise EventFileError(f"{path}: the recording is empty (0 events)")
    if n:
        t_abs = raw["t"]
        t0 = int(t_abs[0])
    elif frame_times:
        t_abs = np.zeros(0, dtype=np.uint64)
        t0 = frame_times[0][0]
    else:
        t_abs = np.zeros(0, dtype=np.uint64)
        t0 = 0
    if n:
        # Range checks on the raw uint16 coordinates, before the int16 cast could wrap them.
        for field, limit in (("x", width), ("y", height)):
            v = raw[field]
            bad = np.flatnonzero(v >= limit)
            if bad.size:
                i = int(bad[0])
                raise EventFileError(
                    f"{path}: field '{field}' = {int(v[i])} at event {i} lies outside the sensor "
                    f"(stream {ev_id}: {width}x{height}; {bad.size} events outside in all)"
                )
        if t_abs.max() > np.iinfo(np.int64).max:
            raise EventFileError(f"{path}: field 't' exceeds the int64 range")
        t_rel = t_abs.astype(np.int64) - np.int64(t0)
        events = make_events(t_rel, raw["x"], raw["y"], raw["on"].astype(np.int8))
    else:
        events = make_events(*(np.zeros(0, dtype=d) for d in (np.int64, np.int16, np.int16,
                                                               np.int8)))
    sensor_size = (width, height, 2)
    validate_events(events, sensor_size, source=str(path), allow_empty=allow_empty)

    if frames:
        frame_arr = np.stack(frames)
        ft = np.asarray(frame_times, dtype=np.int64) - np.int64(t0)
    else:
        frame_arr = np.zeros((0, *frame_shape), dtype=np.uint8)
        ft = np.zeros((0, 3), dtype=np.int64)
    imu = _imu_relative(imu_chunks, t0)
    log.info("%s: %d events, sensor %dx%d, %d frames, %d IMU samples, %d triggers (ignored); "
             "t0 = %d us", path, n, width, height, frame_arr.shape[0], imu.shape[0], n_triggers, t0)
    return AedatRecording(
        path=path, events=events, sensor_size=sensor_size, t0_us=t0, frames=frame_arr,
        frame_t=ft[:, 0].copy(), frame_exposure=ft[:, 1:].copy(), imu=imu,
    )


def _imu_relative(chunks: list[np.ndarray], t0: int) -> np.ndarray:
    """Concatenate IMU packets, with ``t`` as int64 µs minus ``t0``."""
    if not chunks:
        return np.zeros(0, dtype=[("t", "<i8")])
    raw = np.concatenate(chunks)
    names = [n for n in raw.dtype.names if n != "t"]
    out = np.empty(raw.shape[0], dtype=[("t", "<i8")] + [(n, raw.dtype[n]) for n in names])
    out["t"] = raw["t"].astype(np.int64) - np.int64(t0)
    for n in names:
        out[n] = raw[n]
    return out


def read_aedat4_events(path: str | os.PathLike) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Only the events and the sensor size of an AEDAT4 file (see :func:`read_aedat4`).

    Returns:
        ``(events (N,) EVENTS_DTYPE with t from the first event in µs, sensor_size (W, H, 2))``.

    Raises:
        EventFileError: see :func:`read_aedat4`.
    """
    rec = read_aedat4(path)
    return rec.events, rec.sensor_size
