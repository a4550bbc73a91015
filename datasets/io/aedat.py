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

Before the decoder runs, :func:`check_aedat4_structure` walks the file's layout (the AEDAT4
container as ``aedat``'s ``src/aedat_core.rs`` reads it: the 14-byte magic ``#!AER-DAT4.0\r\n``,
a little-endian uint32 header size, the ``IOHE`` flatbuffer header, then packets of an int32
stream id, a uint32 size and that many bytes, up to the header's ``file_data_position`` or the
end of the file). The decoder allocates whatever a size field says (``FF FF FF FF``: 4 GiB) and
reads the header flatbuffer unchecked, so a size the file cannot hold, or a header table whose
offsets point outside it, is refused here with one line instead of an abort or a panic. While
the decoder runs, file descriptor 2 is captured (:func:`_captured_stderr`), so the text of a
Rust panic on a damaged packet stays off the user's terminal; the panic becomes one
:class:`~datasets.io.events.EventFileError` line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import sys
import tempfile
from dataclasses import dataclass, field
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


AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"
"""The first 14 bytes of an AEDAT4 file (``MAGIC_NUMBER`` of ``aedat``'s ``src/aedat_core.rs``)."""

_IOHEADER_FIELDS = ("compression", "file_data_position", "description")
"""Fields of the ``Ioheader`` flatbuffer table in vtable order (``flatbuffers/ioheader.fbs`` of
``aedat``: ``compression: int32 = None``, ``file_data_position: int64 = -1``,
``description: string``)."""


def _ioheader(buf: bytes, path: Path) -> tuple[int, int]:
    """``(compression, file_data_position)`` of the ``Ioheader`` flatbuffer ``buf``, every offset
    checked against ``len(buf)`` (the flatbuffers binary layout: a uint32 root offset to the table,
    the table's int32 offset back to its vtable, the vtable's uint16 sizes and field offsets, a
    string as a uint32 offset to a uint32 length and its bytes).

    Raises:
        EventFileError: an offset or a length outside the header (one line naming the field).
    """
    n = len(buf)

    def u32(at: int, what: str) -> int:
        if at < 0 or at + 4 > n:
            raise EventFileError(f"{path}: AEDAT4 header field {what!r} at byte {at} lies outside "
                                 f"the {n}-byte header")
        return struct.unpack_from("<I", buf, at)[0]

    table = u32(0, "root offset")
    vtable = table - struct.unpack("<i", struct.pack("<I", u32(table, "vtable offset")))[0]
    if vtable < 0 or vtable + 4 > n:
        raise EventFileError(f"{path}: AEDAT4 header field 'vtable' = {vtable} lies outside the "
                             f"{n}-byte header")
    vt_size, _ = struct.unpack_from("<HH", buf, vtable)
    if vt_size < 4 or vt_size % 2 or vtable + vt_size > n:
        raise EventFileError(f"{path}: AEDAT4 header field 'vtable size' = {vt_size} does not fit "
                             f"the {n}-byte header")
    offsets = struct.unpack_from(f"<{(vt_size - 4) // 2}H", buf, vtable + 4)
    field_at = dict(zip(_IOHEADER_FIELDS, offsets, strict=False))
    widths = {"compression": 4, "file_data_position": 8, "description": 4}
    for name, rel in field_at.items():
        if rel and table + rel + widths[name] > n:
            raise EventFileError(f"{path}: AEDAT4 header field {name!r} at byte {table + rel} "
                                 f"lies outside the {n}-byte header")
    compression = (struct.unpack_from("<i", buf, table + field_at["compression"])[0]
                   if field_at.get("compression") else 0)
    data_pos = (struct.unpack_from("<q", buf, table + field_at["file_data_position"])[0]
                if field_at.get("file_data_position") else -1)
    if field_at.get("description"):
        at = table + field_at["description"]
        start = at + u32(at, "description")
        length = u32(start, "description length")
        if start + 4 + length > n:
            raise EventFileError(f"{path}: AEDAT4 header field 'description length' = {length} "
                                 f"exceeds the {n}-byte header")
        try:
            buf[start + 4:start + 4 + length].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventFileError(f"{path}: AEDAT4 header field 'description' is not UTF-8 "
                                 f"(byte {start + 4 + exc.start})") from exc
    return compression, data_pos


def check_aedat4_structure(path: str | os.PathLike) -> int:
    """Walk an AEDAT4 file's container (magic, header, packet sizes) as ``aedat``'s decoder will,
    without decoding a packet; see the module docstring for the layout.

    Every size field must fit in the file: the header size within the file, each packet's size
    within the bytes left before ``file_data_position`` (when the header gives one, ``>= 0``) or
    the end of the file; the walk must end exactly there, as the decoder's does.

    Returns:
        The number of packets.

    Raises:
        EventFileError: one line naming the file, the field, its value and the file size: wrong
            magic, a header or packet size the file cannot hold, a header flatbuffer with offsets
            outside it, a packet header cut short.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(len(AEDAT4_MAGIC) + 4)
        if len(head) < len(AEDAT4_MAGIC) or head[:len(AEDAT4_MAGIC)] != AEDAT4_MAGIC:
            raise EventFileError(f"{path}: not an AEDAT4 file (the first bytes are "
                                 f"{head[:len(AEDAT4_MAGIC)]!r}, expected {AEDAT4_MAGIC!r})")
        if len(head) < len(AEDAT4_MAGIC) + 4:
            raise EventFileError(f"{path}: truncated AEDAT4 file ({size} bytes: no header size)")
        (header_size,) = struct.unpack_from("<I", head, len(AEDAT4_MAGIC))
        pos = len(head)
        if pos + header_size > size:
            raise EventFileError(
                f"{path}: field 'header size' = {header_size} (0x{header_size:08X}) exceeds the "
                f"file ({size} bytes, {size - pos} after the field)")
        _, data_pos = _ioheader(f.read(header_size), path)
        pos += header_size
        end = data_pos if data_pos >= 0 else size
        if end > size:
            raise EventFileError(f"{path}: truncated AEDAT4 file? header field "
                                 f"'file_data_position' = {data_pos} exceeds the file ({size} bytes)")
        if end < pos:
            raise EventFileError(f"{path}: header field 'file_data_position' = {data_pos} lies "
                                 f"inside the header (packets start at byte {pos})")
        n = 0
        while pos != end:
            if end - pos < 8:
                raise EventFileError(f"{path}: truncated AEDAT4 packet {n} at byte {pos} "
                                     f"({end - pos} bytes left, a packet header has 8)")
            f.seek(pos)
            _, length = struct.unpack("<iI", f.read(8))
            if pos + 8 + length > end:
                raise EventFileError(
                    f"{path}: packet {n} at byte {pos}: field 'size' = {length} (0x{length:08X}) "
                    f"exceeds the {end - pos - 8} bytes left (file: {size} bytes)")
            pos += 8 + length
            n += 1
    return n


@contextlib.contextmanager
def _captured_stderr():
    """Send file descriptor 2 to a temporary file for the block; yields a callable returning what
    was written there (decoded, errors replaced). The decoder's Rust panic hook writes to fd 2,
    below Python's ``sys.stderr``, so only a descriptor-level redirect keeps it off the terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        text: list[str] = []

        def read() -> str:
            return "".join(text)

        try:
            yield read
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text.append(tmp.read().decode("utf-8", "replace"))


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


@dataclass
class _Packets:
    """What :func:`_decode_packets` collects from the decoder."""

    width: int
    height: int
    ev_id: int
    frame_shape: tuple[int, int]
    ev_chunks: list = field(default_factory=list)
    frames: list = field(default_factory=list)
    frame_times: list = field(default_factory=list)
    imu_chunks: list = field(default_factory=list)
    n_triggers: int = 0


def _one_line(exc: BaseException) -> str:
    """An exception's text on one line (a panic message can span several)."""
    return " ".join(str(exc).split())


def _decode_packets(decoder_cls, path: Path, events_stream: int | None,
                    frames_stream: int | None) -> _Packets:
    """Run ``aedat``'s decoder over ``path``: the chosen event stream's packets, the frame
    stream's grey frames with their times, IMU packets and the trigger count.

    Raises:
        EventFileError: no (or an ambiguous) event stream, a frame of another shape or dtype
            than the first; and whatever the decoder raises.
    """
    decoder = decoder_cls(path)
    streams = decoder.id_to_stream()
    ev_id = _pick_stream(streams, "events", events_stream, path)
    fr_id = _pick_stream(streams, "frame", frames_stream, path)
    if ev_id is None:
        raise EventFileError(f"{path}: no 'events' stream (streams: {streams})")
    width, height = int(streams[ev_id]["width"]), int(streams[ev_id]["height"])
    frame_shape = ((int(streams[fr_id]["height"]), int(streams[fr_id]["width"]))
                   if fr_id is not None else (height, width))
    out = _Packets(width, height, ev_id, frame_shape)
    frames = out.frames
    for packet in decoder:
        sid = packet["stream_id"]
        if "events" in packet and sid == ev_id:
            out.ev_chunks.append(packet["events"])
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
            out.frame_times.append((int(f["t"]), int(f["exposure_begin_t"]),
                                    int(f["exposure_end_t"])))
        elif "imus" in packet:
            out.imu_chunks.append(packet["imus"])
        elif "triggers" in packet:
            out.n_triggers += len(packet["triggers"])
    return out


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
    check_aedat4_structure(path)
    read_stderr = None
    try:
        with _captured_stderr() as read_stderr:
            dec = _decode_packets(aedat.Decoder, path, events_stream, frames_stream)
    except EventFileError:
        raise
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        raise EventFileError(f"{path}: cannot decode AEDAT4 file ({_one_line(exc)})") from exc
    except BaseException as exc:
        # A malformed file can make aedat's Rust decoder panic; pyo3 raises that as
        # pyo3_runtime.PanicException, which derives from BaseException, not Exception.
        if type(exc).__name__ != "PanicException":
            raise
        raise EventFileError(
            f"{path}: cannot decode AEDAT4 file (decoder panic: {_one_line(exc)})") from exc
    finally:
        if read_stderr is not None and read_stderr():
            log.debug("%s: the AEDAT4 decoder wrote to stderr: %s", path, read_stderr())
    width, height, ev_id = dec.width, dec.height, dec.ev_id
    frames, frame_times, frame_shape = dec.frames, dec.frame_times, dec.frame_shape
    ev_chunks, imu_chunks, n_triggers = dec.ev_chunks, dec.imu_chunks, dec.n_triggers

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
