"""Read Prophesee / Metavision CD recordings: EVT 2.0 and EVT 3.0 ``.raw`` files and ``.dat`` files.

The decoders are vectorised numpy implementations of Prophesee's published format specifications
(docs.prophesee.ai, "Data Encoding Formats": "EVT 2.0 Format", "EVT 3.0 Format"; the DAT layout as
in Metavision's "DAT file format" page); no third-party decoder is used (the measured candidates and
why none was taken are in ``tools/measure/decoder_bench.py`` and ``docs/guides/prophesee.md``).

File layouts:

* **header** (both file kinds): ASCII lines starting with ``%`` (``% key value``), optionally
  closed by ``% end``. ``.raw`` files name the encoding (``% evt 2.0`` / ``% evt 3.0``, or
  ``% format EVT3;height=720;width=1280`` in newer files) and usually the camera plugin
  (``% plugin_name hal_plugin_gen41_evk3``).
* **EVT 2.0** (``.raw``): little-endian 32-bit words, the type in bits 31..28: ``CD_OFF`` (0x0) /
  ``CD_ON`` (0x1): timestamp LSBs in bits 27..22, ``x`` in 21..11, ``y`` in 10..0;
  ``EVT_TIME_HIGH`` (0x8): timestamp bits 33..6 in bits 27..0; ``EXT_TRIGGER`` (0xA), ``OTHERS``
  (0xE), ``CONTINUED`` (0xF): not CD events, skipped (counted). ``t = TIME_HIGH << 6 | LSB``.
* **EVT 3.0** (``.raw``): little-endian 16-bit words, the type in bits 15..12: ``EVT_ADDR_Y``
  (0x0, ``y`` in 10..0), ``EVT_ADDR_X`` (0x2, one event: polarity bit 11, ``x`` in 10..0),
  ``VECT_BASE_X`` (0x3, polarity bit 11, base ``x``), ``VECT_12`` (0x4, a 12-bit validity mask:
  an event at ``base + i`` for each set bit ``i``, then ``base += 12``), ``VECT_8`` (0x5, an
  8-bit mask, ``base += 8``), ``EVT_TIME_LOW`` (0x6) and ``EVT_TIME_HIGH`` (0x8): 12 bits each,
  ``t = TIME_HIGH << 12 | TIME_LOW`` with the latest of each (no clamping); ``CONTINUED_4``
  (0x7), ``EXT_TRIGGER`` (0xA), ``OTHERS`` (0xE), ``CONTINUED_12`` (0xF): skipped (counted).
* **DAT**: after the header, one byte event type (0x00 ``Event2D`` or 0x0C ``EventCD``) and one
  byte event size (8), then 8-byte events: a little-endian uint32 timestamp (µs) and a uint32
  with ``x`` in bits 13..0, ``y`` in 27..14 and the polarity in 31..28.

Counter roll-over: the time bases wrap (EVT 2.0: 2^34 µs, EVT 3.0: 2^24 µs, DAT: 2^32 µs); a
TIME_HIGH (or DAT timestamp) that falls by more than half its range is taken as a wrap and
unwrapped. Events before the first TIME_HIGH (and, in EVT 3.0, before the first TIME_LOW and
``EVT_ADDR_Y`` or, for vectors, the first ``VECT_BASE_X``) have no defined time or address and
are dropped (counted in the metadata).

Header keys are matched case-insensitively (``% EVT 3.0`` is ``% evt 3.0``); a file whose
``% evt`` and ``% format`` lines name different versions is refused, naming both.

Sensor size (:func:`resolve_sensor_size`): the header's geometry when it has one, else the
camera plugin named in the header (:data:`PLUGIN_SENSORS`), else the caller's ``sensor_size``,
else :class:`~datasets.io.events.EventFileError`. A geometry line that is not two positive
integers is refused (never replaced by the plugin's size). The size must fit the format's
coordinate fields (:data:`COORD_BITS`). An event outside it is an error naming the first.

Timestamps that step back (possible in real recordings, e.g. a TIME_LOW jumping back): the file
is not rejected; the events are stably sorted by ``t`` (events of equal ``t`` keep file order),
and the count and the largest step back are logged and kept in the metadata
(``t_order``), so provenance shows it.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasets.io.events import EVENTS_DTYPE, EventFileError

log = logging.getLogger(__name__)

SUFFIXES = (".raw", ".dat")
"""File suffixes (case-insensitive) this module reads."""

PLUGIN_SENSORS: tuple[tuple[str, str, tuple[int, int], str], ...] = (
    # (token in plugin_name, sensor, (W, H), source)
    ("gen3_", "Prophesee Gen3 VGA", (640, 480),
     "VGA format (640x480) of Prophesee's Gen3 VGA sensor; the real EVT 2.0 sample of "
     "hal_plugin_gen3_fx3 reaches x 599, y 475"),
    ("gen31", "Prophesee Gen3.1 VGA", (640, 480),
     "Metavision docs, 'Supported Sensors' (docs.prophesee.ai/stable/hw/products.html): "
     "Gen3.1 VGA sensor, VGA format 640x480"),
    ("gen41", "Prophesee Gen4.1 HD", (1280, 720),
     "HD format (1280x720) of Prophesee's Gen4.1 HD sensor; the real EVT 3.0 sample of "
     "hal_plugin_gen41_evk3 reaches x 1279, y 719"),
    ("imx636", "Sony IMX636 HD", (1280, 720),
     "Metavision docs, 'Supported Sensors' (docs.prophesee.ai/stable/hw/products.html): "
     "IMX636 HD sensor, HD format 1280x720"),
    ("genx320", "Prophesee GenX320", (320, 320),
     "Metavision docs, 'Supported Sensors' (docs.prophesee.ai/stable/hw/products.html) and "
     "the OpenMV page (docs.prophesee.ai/stable/hw/partners/openmv.html): 320x320"),
)
"""Camera plugin name -> sensor geometry, for headers without geometry. A plugin name matches
the first row whose token it contains (case-insensitive)."""

COORD_BITS: dict[str, int] = {"EVT 2.0": 11, "EVT 3.0": 11, "DAT": 14}
"""Width in bits of the ``x`` and ``y`` fields of each format (the layouts above: EVT 2.0 CD
words ``x`` in bits 21..11 and ``y`` in 10..0; EVT 3.0 ``EVT_ADDR_Y`` / ``EVT_ADDR_X`` /
``VECT_BASE_X`` payloads in bits 10..0; DAT ``x`` in 13..0, ``y`` in 27..14). A file of a format
cannot address a pixel at ``2 ** bits`` or beyond, so a declared geometry above
``2 ** bits x 2 ** bits`` (2048x2048 for EVT, 16384x16384 for DAT) is no sensor's: it is
refused. For scale, the largest event sensors are 1280x960 (Samsung's DVS, Suh et al., "A
1280x960 Dynamic Vision Sensor with a 4.95-um Pixel Pitch and Motion Artifact Minimization",
ISCAS 2020) and 1280x720 (Prophesee Gen4.1 / Sony IMX636, :data:`PLUGIN_SENSORS`)."""

_EVT_VERSIONS = {"2.0": "2.0", "3.0": "3.0", "evt2": "2.0", "evt3": "3.0"}
_DAT_CD_TYPES = {0x00: "Event2D", 0x0C: "EventCD"}
_PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x09, 0x0D}


@dataclass(frozen=True)
class PropheseeRecording:
    """One decoded Prophesee CD recording.

    Attributes:
        path: the file.
        events: ``(N,)`` :data:`~datasets.io.events.EVENTS_DTYPE`: ``t`` int64 µs **as in the file**
            (not shifted to 0), ``x``, ``y`` int16, ``p`` int8 (1 = ON, 0 = OFF); sorted by ``t``
            (stably; see ``t_order``).
        sensor_size: ``(W, H, 2)``.
        format: ``"EVT 2.0"``, ``"EVT 3.0"`` or ``"DAT"``.
        evt_version: ``"2.0"``, ``"3.0"``, or ``None`` for DAT.
        header: the header's ``% key value`` lines as a dict (later keys win), in file order.
        sensor_size_source: how ``sensor_size`` was decided: ``"header geometry (...)"``,
            ``"camera plugin <name>: <sensor> (<source>)"`` or ``"given by the user"``.
        t_order: ``{"steps_back": int, "max_step_back_us": int, "action": str}``: how many
            consecutive event pairs had a decreasing ``t`` as decoded, the largest decrease, and
            what was done (``"none"`` or ``"stable sort by t"``).
        counts: words / events the decoder skipped or dropped, by kind (e.g.
            ``"ext_trigger"``, ``"before_first_time_high"``), plus ``"words"``.
    """

    path: Path
    events: np.ndarray
    sensor_size: tuple[int, int, int]
    format: str
    evt_version: str | None
    header: dict[str, str]
    sensor_size_source: str
    t_order: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)

    @property
    def metadata(self) -> dict:
        """JSON-ready description of the file and its decoding (for records and provenance)."""
        return {
            "path": str(self.path),
            "format": self.format,
            "evt_version": self.evt_version,
            "header": dict(self.header),
            "sensor_size": list(self.sensor_size),
            "sensor_size_source": self.sensor_size_source,
            "n_events": int(self.events.shape[0]),
            "t_order": dict(self.t_order),
            "counts": dict(self.counts),
        }


# --------------------------------------------------------------------------------------------
# header
# --------------------------------------------------------------------------------------------


def read_header(buf: bytes, path: Path) -> tuple[list[str], int]:
    """Split the ``%`` header lines from the binary data.

    A header line starts with ``%`` and ends with ``\\n``; the header ends after a ``% end`` line,
    or at the first byte that does not start a printable ``%`` line.

    Returns:
        ``(lines without '%' and surrounding blanks, offset of the first data byte)``.

    Raises:
        EventFileError: a ``%`` line without an end (a file cut inside its header).
    """
    lines: list[str] = []
    off = 0
    n = len(buf)
    while off < n and buf[off] == 0x25:  # '%'
        nl = buf.find(b"\n", off)
        if nl < 0:
            raise EventFileError(f"{path}: truncated header (a '%' line at byte {off} has no end)")
        raw = buf[off + 1:nl]
        if not set(raw) <= _PRINTABLE:
            break  # binary data that happens to begin with '%'
        text = raw.decode("ascii").strip()
        off = nl + 1
        if text.lower() == "end":
            break
        lines.append(text)
    return lines, off


def _header_dict(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if key:
            out[key] = value.strip()
    return out


def _lower_keys(header: dict[str, str]) -> dict[str, str]:
    """The header with lower-case keys (header keys are matched case-insensitively)."""
    return {k.lower(): v for k, v in header.items()}


def header_geometry(header: dict[str, str], path: Path | str = "header") -> tuple[int, int] | None:
    """``(W, H)`` declared by the header, or ``None`` when it declares none.

    Recognised (keys in any case): ``format EVT3;height=720;width=1280`` (Metavision >= 2.x
    ``.raw``), ``geometry 1280x720``, and ``Width 1280`` / ``Height 720`` lines.

    Raises:
        EventFileError: a geometry is declared (a ``width`` or ``height`` in the ``format`` line,
            a ``geometry`` line, a ``width`` or ``height`` line) but is not two positive integers,
            e.g. ``height=-720``: the message names ``path`` and the line.
    """
    low = _lower_keys(header)
    found: list[tuple[str, str, str]] = []  # (line as written, width text, height text)
    fmt = low.get("format", "")
    kv = {k.strip().lower(): v.strip()
          for k, v in (part.split("=", 1) for part in fmt.split(";") if "=" in part)}
    if "width" in kv or "height" in kv:
        found.append((f"% format {fmt}", kv.get("width", ""), kv.get("height", "")))
    if "geometry" in low:
        w_txt, _, h_txt = low["geometry"].lower().partition("x")
        found.append((f"% geometry {low['geometry']}", w_txt.strip(), h_txt.strip()))
    if "width" in low or "height" in low:
        found.append((f"% width {low.get('width', '')} / % height {low.get('height', '')}",
                      low.get("width", "").strip(), low.get("height", "").strip()))
    if not found:
        return None
    line, w_txt, h_txt = found[0]
    if not (re.fullmatch(r"\d+", w_txt) and re.fullmatch(r"\d+", h_txt)
            and int(w_txt) > 0 and int(h_txt) > 0):
        raise EventFileError(f"{path}: header line '{line}' declares a geometry that is not two "
                             f"positive integers (width {w_txt!r}, height {h_txt!r})")
    return int(w_txt), int(h_txt)


def check_geometry(sensor: tuple[int, int, int], fmt: str, how: str, path: Path) -> None:
    """Refuse a sensor size that ``fmt``'s coordinate fields cannot address (:data:`COORD_BITS`).

    Raises:
        EventFileError: ``W`` or ``H`` above ``2 ** COORD_BITS[fmt]``; the message names the
            file, the size, where it came from, the limit and why.
    """
    bits = COORD_BITS[fmt]
    limit = 1 << bits
    if sensor[0] > limit or sensor[1] > limit:
        raise EventFileError(
            f"{path}: sensor size {sensor[0]}x{sensor[1]} ({how}) is no sensor's: {fmt} "
            f"coordinates are {bits}-bit fields, so at most {limit}x{limit} (the largest event "
            "sensors are 1280x960 and 1280x720)")


def plugin_sensor(plugin_name: str) -> tuple[str, tuple[int, int], str] | None:
    """``(sensor, (W, H), source)`` of a camera plugin name from :data:`PLUGIN_SENSORS`, or None."""
    name = plugin_name.lower()
    for token, sensor, size, source in PLUGIN_SENSORS:
        if token in name:
            return sensor, size, source
    return None


def resolve_sensor_size(
    header: dict[str, str], sensor_size, path: Path
) -> tuple[tuple[int, int, int], str]:
    """Decide the sensor size: header geometry, else camera plugin, else ``sensor_size``.

    Args:
        header: from :func:`read_header` (as a dict).
        sensor_size: the caller's ``(W, H)`` or ``(W, H, 2)``, or ``None``.
        path: the file (for messages).

    Returns:
        ``((W, H, 2), how it was decided)``.

    Raises:
        EventFileError: no source at all, or the file's size disagrees with the caller's.
    """
    header = _lower_keys(header)
    user = None
    if sensor_size is not None:
        vals = [int(v) for v in sensor_size]
        if len(vals) not in (2, 3) or vals[0] < 1 or vals[1] < 1:
            raise EventFileError(f"{path}: sensor_size must be (W, H) or (W, H, 2) with W, H >= 1, "
                                 f"got {tuple(sensor_size)}")
        user = (vals[0], vals[1])
    found: tuple[tuple[int, int], str] | None = None
    geo = header_geometry(header, path)
    if geo is not None:
        found = (geo, f"header geometry ({geo[0]}x{geo[1]})")
    else:
        plugin = header.get("plugin_name")
        hit = plugin_sensor(plugin) if plugin else None
        if hit is not None:
            found = (hit[1], f"camera plugin {plugin}: {hit[0]}, {hit[1][0]}x{hit[1][1]} "
                             f"(source: {hit[2]})")
    if found is not None:
        if user is not None and user != found[0]:
            raise EventFileError(
                f"{path}: sensor size given as {user[0]}x{user[1]} but the file says "
                f"{found[0][0]}x{found[0][1]} ({found[1]})"
            )
        return (found[0][0], found[0][1], 2), found[1]
    if user is not None:
        return (user[0], user[1], 2), "given by the user"
    plugin = header.get("plugin_name")
    why = f"camera plugin {plugin!r} is not in the table" if plugin else "no camera plugin named"
    raise EventFileError(
        f"{path}: sensor size unknown (the header has no geometry and {why}); "
        "give it with --sensor-size W H"
    )


# --------------------------------------------------------------------------------------------
# decoders (arrays in, columns out)
# --------------------------------------------------------------------------------------------


def _bit_tables() -> tuple[np.ndarray, np.ndarray]:
    """Set-bit count ``(4096,)`` and ascending set-bit positions ``(4096, 12)`` of 12-bit masks."""
    bits = (np.arange(4096)[:, None] >> np.arange(12)) & 1
    pos = np.argsort(1 - bits, axis=1, kind="stable")  # set bits first, ascending
    return bits.sum(axis=1), pos


_BIT_COUNT, _BIT_POS = _bit_tables()
_EVT2_KNOWN = np.isin(np.arange(16), (0x0, 0x1, 0x8, 0xA, 0xE, 0xF))
_EVT3_KNOWN = np.isin(np.arange(16), (0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xE, 0xF))
_EVT3_EVENT = np.isin(np.arange(16), (0x2, 0x4, 0x5))


def _unwrap(values: np.ndarray, period: int) -> np.ndarray:
    """Add ``period`` for every fall by more than ``period // 2`` (a counter roll-over)."""
    v = values.astype(np.int64)
    if v.size < 2:
        return v
    wraps = np.concatenate(([0], np.cumsum(np.diff(v) < -(period // 2))))
    return v + wraps * period


def _latest(is_mark: np.ndarray, at: np.ndarray) -> np.ndarray:
    """For each word index in ``at`` (words that are not marks), the rank among the marks
    (``is_mark``, ``(n,)`` bool) of the last mark before it, ``-1`` when none."""
    return (np.cumsum(is_mark, dtype=np.int32) - 1)[at]


def _with_state(values: np.ndarray, state) -> tuple[np.ndarray, int]:
    """``values`` preceded by the carried ``state`` value (when there is one), and the offset to
    add to ranks within the chunk."""
    if state is None:
        return values, 0
    return np.concatenate((np.asarray([state], dtype=values.dtype), values)), 1


def _unwrap_carried(raw: np.ndarray, prev: int | None, wraps: int, period: int
                    ) -> tuple[np.ndarray, int | None, int]:
    """Unwrap a chunk of counter values (``period`` roll-over: a fall by more than half of it)
    after the previous chunk's last raw value ``prev`` and roll-over count ``wraps``.

    Returns:
        ``(unwrapped int64 values, last raw value, roll-overs so far)``.
    """
    if raw.size == 0:
        return raw.astype(np.int64), prev, wraps
    raw = raw.astype(np.int64)
    start = raw[0] if prev is None else prev
    w = wraps + np.cumsum(np.diff(np.concatenate(([start], raw))) < -(period // 2))
    return raw + w * period, int(raw[-1]), int(w[-1])


def decode_evt2(words: np.ndarray, chunk: int = 1 << 15) -> tuple[tuple[np.ndarray, ...], dict]:
    """Decode EVT 2.0 words (little-endian uint32, ``(n,)``) into ``(t, x, y, p), counts``.

    Decoded ``chunk`` words at a time (arrays that stay in the CPU's cache), the last TIME_HIGH
    carried from one chunk to the next; the result does not depend on ``chunk``.

    Raises:
        ValueError: a word of a reserved type (the message names its index and type).
    """
    typ = (words >> 28).astype(np.uint8)
    known = _EVT2_KNOWN[typ]
    if not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise ValueError(f"word {i} (byte {4 * i} of the data) has reserved EVT 2.0 type "
                         f"0x{int(typ[i]):X} ({int((~known).sum())} such words)")
    prev, wraps = None, 0
    parts, untimed = [], 0
    for lo in range(0, words.shape[0], chunk):
        wc, tc = words[lo:lo + chunk], typ[lo:lo + chunk]
        is_th = tc == 0x8
        carried = None if prev is None else prev + wraps * (1 << 28)
        th_vals, prev, wraps = _unwrap_carried(wc[is_th] & 0x0FFFFFFF, prev, wraps, 1 << 28)
        th_ext, off = _with_state(th_vals, carried)
        cd = np.flatnonzero(tc <= 0x1)
        rank = _latest(is_th, cd) + off  # index into th_ext of the latest TIME_HIGH
        timed = rank >= 0
        if not timed.all():
            untimed += int((~timed).sum())
            cd, rank = cd[timed], rank[timed]
        w = wc[cd]
        t = (th_ext[rank] << 6) | ((w >> 22) & 0x3F).astype(np.int64)
        parts.append((t, ((w >> 11) & 0x7FF).astype(np.int64), (w & 0x7FF).astype(np.int64),
                      tc[cd]))
    counts = {"words": int(words.shape[0]), "before_first_time_high": untimed,
              "ext_trigger": int((typ == 0xA).sum()), "others": int((typ == 0xE).sum()),
              "continued": int((typ == 0xF).sum())}
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return (empty, empty, empty, np.zeros(0, dtype=np.uint8)), counts
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4)), counts  # type: ignore[return-value]


EVT3_CHUNK_WORDS = 16384
"""Words decoded per numpy pass in :func:`decode_evt3`: chunks whose arrays stay in the CPU's
cache were 2.7x faster than one pass over the whole file (``evt3_sample.raw``: 48 ms against
131 ms, best of 10, 2-core machine); the decoder state is carried from chunk to chunk."""


@dataclass
class _Evt3State:
    """The EVT 3.0 decoder state between chunks (``None``: not seen yet)."""

    th_raw: int | None = None  # last TIME_HIGH payload (12 bits)
    th_wraps: int = 0  # TIME_HIGH roll-overs so far
    tl: int | None = None  # last TIME_LOW payload
    y: int | None = None  # last EVT_ADDR_Y
    base: int | None = None  # the next vector's x: last VECT_BASE_X plus the vectors since
    pol: int = 0  # polarity of the last VECT_BASE_X


def _decode_evt3_chunk(words: np.ndarray, typ: np.ndarray, st: _Evt3State
                       ) -> tuple[tuple[np.ndarray, ...], int]:
    """Decode one chunk (its words and their types) from state ``st``; update ``st``.

    Returns:
        ``((t, x, y, p), number of event words dropped for want of a time, y or base)``.
    """
    payload = (words & 0xFFF).astype(np.int64)
    is_th, is_tl, is_y, is_base = typ == 0x8, typ == 0x6, typ == 0x0, typ == 0x3
    i_th, i_tl = np.flatnonzero(is_th), np.flatnonzero(is_tl)
    i_y, i_base = np.flatnonzero(is_y), np.flatnonzero(is_base)
    ev = np.flatnonzero(_EVT3_EVENT[typ])  # EVT_ADDR_X, VECT_12, VECT_8
    ev_typ = typ[ev]
    is_vec = ev_typ != 0x2

    # TIME_HIGH, unwrapped across the 2^12 roll-over (a fall by more than half the range)
    carried_th = None if st.th_raw is None else st.th_raw + (st.th_wraps << 12)
    th_vals, st.th_raw, st.th_wraps = _unwrap_carried(payload[i_th], st.th_raw, st.th_wraps,
                                                      1 << 12)
    th_ext, o_th = _with_state(th_vals, carried_th)
    tl_ext, o_tl = _with_state(payload[i_tl], st.tl)
    y_ext, o_y = _with_state(payload[i_y] & 0x7FF, st.y)
    bx_ext, o_b = _with_state(payload[i_base] & 0x7FF, st.base)
    bp_ext, _ = _with_state((payload[i_base] >> 11) & 1, st.pol if st.base is not None else None)
    bw_ext, _ = _with_state(i_base, -1 if st.base is not None else None)  # word of each base

    p_th = _latest(is_th, ev) + o_th
    p_tl = _latest(is_tl, ev) + o_tl
    p_y = _latest(is_y, ev) + o_y
    p_base = _latest(is_base, ev) + o_b
    ok = (p_th >= 0) & (p_tl >= 0) & (p_y >= 0) & ~(is_vec & (p_base < 0))
    ev_payload = payload[ev]
    base = ev_payload & 0x7FF  # EVT_ADDR_X: its own x
    pol = (ev_payload >> 11) & 1
    mask = np.where(is_vec, np.where(ev_typ == 0x4, ev_payload, ev_payload & 0xFF), 1)
    vec = np.flatnonzero(is_vec & (p_base >= 0))
    width = np.where(ev_typ[vec] == 0x4, 12, 8)
    if vec.size:
        # a vector's base: its VECT_BASE_X plus the widths of the vectors between the two
        # (every vector counts, also one dropped below for want of a time or a y)
        before = np.cumsum(width) - width  # widths of the earlier vectors, in file order
        base_word = bw_ext[p_base[vec]]
        first = np.searchsorted(ev[vec], base_word, side="right")  # first vector after the base
        base[vec] = bx_ext[p_base[vec]] + before - before[first]
        pol[vec] = bp_ext[p_base[vec]]
    # the state after the chunk
    if bx_ext.size:
        last_base_word = int(bw_ext[-1])
        after = ev[vec] > last_base_word
        st.base, st.pol = int(bx_ext[-1] + width[after].sum()), int(bp_ext[-1])
    if i_tl.size:
        st.tl = int(payload[i_tl[-1]])
    if i_y.size:
        st.y = int(payload[i_y[-1]] & 0x7FF)

    dropped = int((~ok).sum())
    if dropped:
        ev, base, pol, mask = ev[ok], base[ok], pol[ok], mask[ok]
        p_th, p_tl, p_y = p_th[ok], p_tl[ok], p_y[ok]
    t_word = (th_ext[p_th] << 12) | tl_ext[p_tl]
    y_word = y_ext[p_y]

    # one event per set bit: file order, then increasing x within a vector
    cnt = _BIT_COUNT[mask]
    rows = np.repeat(np.arange(mask.shape[0]), cnt)
    k = np.arange(rows.shape[0]) - (np.cumsum(cnt) - cnt)[rows]  # rank of the bit in its word
    cols = _BIT_POS[mask[rows], k]
    return (t_word[rows], base[rows] + cols, y_word[rows], pol[rows].astype(np.uint8)), dropped


def decode_evt3(words: np.ndarray, chunk: int = EVT3_CHUNK_WORDS
                ) -> tuple[tuple[np.ndarray, ...], dict]:
    """Decode EVT 3.0 words (little-endian uint16, ``(n,)``) into ``(t, x, y, p), counts``.

    The decoder state at each event word (latest TIME_HIGH, TIME_LOW, EVT_ADDR_Y, VECT_BASE_X) is
    the rank of the last such word before it, from a running count of each kind of state word;
    the words are decoded ``chunk`` at a time, the state carried from one chunk to the next
    (the result does not depend on ``chunk``).

    Raises:
        ValueError: a word of a reserved type (the message names its index and type).
    """
    typ = (words >> 12).astype(np.uint8)
    known = _EVT3_KNOWN[typ]
    if not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise ValueError(f"word {i} (byte {2 * i} of the data) has reserved EVT 3.0 type "
                         f"0x{int(typ[i]):X} ({int((~known).sum())} such words)")
    st = _Evt3State()
    parts, dropped = [], 0
    for lo in range(0, words.shape[0], chunk):
        cols, d = _decode_evt3_chunk(words[lo:lo + chunk], typ[lo:lo + chunk], st)
        parts.append(cols)
        dropped += d
    counts = {"words": int(words.shape[0]), "dropped_undefined_state_words": dropped,
              "ext_trigger": int((typ == 0xA).sum()), "others": int((typ == 0xE).sum()),
              "continued": int(((typ == 0x7) | (typ == 0xF)).sum())}
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return (empty, empty, empty, np.zeros(0, dtype=np.uint8)), counts
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4)), counts  # type: ignore[return-value]


def decode_dat(records: np.ndarray) -> tuple[tuple[np.ndarray, ...], dict]:
    """Decode DAT CD records (``(n, 2)`` little-endian uint32: timestamp, address) into columns.

    Raises:
        ValueError: a polarity other than 0 or 1 (names the event index and value).
    """
    t = _unwrap(records[:, 0].astype(np.int64), 1 << 32)
    addr = records[:, 1]
    p = (addr >> 28) & 0xF
    bad = np.flatnonzero(p > 1)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"event {i}: polarity field = {int(p[i])} (expected 0 or 1; "
                         f"{bad.size} such events)")
    x = (addr & 0x3FFF).astype(np.int64)
    y = ((addr >> 14) & 0x3FFF).astype(np.int64)
    return (t, x, y, p.astype(np.uint8)), {"words": int(records.shape[0])}


# --------------------------------------------------------------------------------------------
# the reader
# --------------------------------------------------------------------------------------------


def _evt_version(header: dict[str, str], path: Path) -> tuple[str, str]:
    """``(version, the header line that names it)`` from the ``% evt`` and ``% format`` lines
    (keys in any case).

    Raises:
        EventFileError: neither line, an unknown version, or the two lines disagree.
    """
    low = _lower_keys(header)
    named: list[tuple[str, str]] = []  # (header line, its version text)
    if "evt" in low:
        named.append((f"% evt {low['evt']}", low["evt"]))
    if "format" in low:
        named.append((f"% format {low['format']}", low["format"].split(";", 1)[0]))
    if not named:
        raise EventFileError(f"{path}: no EVT version in the header (no '% evt' or '% format' "
                             "line); not a Prophesee .raw file?")
    versions = []
    for line, raw in named:
        version = _EVT_VERSIONS.get(raw.strip().lower())
        if version is None:
            raise EventFileError(f"{path}: unknown EVT version {raw.strip()!r} in header line "
                                 f"'{line}' (this reader decodes EVT 2.0 and EVT 3.0)")
        versions.append(version)
    if len(set(versions)) > 1:
        raise EventFileError(f"{path}: the header contradicts itself: '{named[0][0]}' says EVT "
                             f"{versions[0]}, '{named[1][0]}' says EVT {versions[1]}")
    return versions[0], named[0][0]


def _other_version_fits(data: memoryview, version: str) -> str | None:
    """The other EVT version, when ``data`` decodes as it (whole words, no reserved word type, at
    least one CD event): a sign that the header names the wrong version; else ``None``."""
    other = "3.0" if version == "2.0" else "2.0"
    size = 4 if other == "2.0" else 2
    if len(data) == 0 or len(data) % size:
        return None
    words = np.frombuffer(data, dtype="<u4" if size == 4 else "<u2")
    try:
        (t, *_), _ = (decode_evt2 if other == "2.0" else decode_evt3)(words)
    except ValueError:
        return None
    return other if t.shape[0] else None


def read_prophesee(path: str | os.PathLike, sensor_size=None) -> PropheseeRecording:
    """Read a Prophesee CD recording (EVT 2.0 / EVT 3.0 ``.raw``, or ``.dat``).

    Args:
        path: the ``.raw`` or ``.dat`` file.
        sensor_size: ``(W, H)`` or ``(W, H, 2)`` to use when the file declares none (neither
            header geometry nor a known camera plugin); ``None``: the file must declare it.

    Returns:
        A :class:`PropheseeRecording`: events with ``t`` in µs as stored (not shifted), sorted
        stably by ``t``; see there for the metadata.

    Raises:
        EventFileError: one line naming the file and the problem: missing file, a suffix other
            than ``.raw`` / ``.dat``, a header cut short, no or an unknown EVT version, a DAT
            event type that is not CD or an event size other than 8, data whose length is not a
            whole number of words (a truncated file), a reserved word type or a polarity > 1
            (a garbled file), an unknown sensor size, or an event outside the sensor (the
            first one named).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise EventFileError(f"{path}: not a Prophesee recording (suffix {suffix!r}; expected "
                             ".raw or .dat)")
    if not path.is_file():
        raise EventFileError(f"{path}: no such file")
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise EventFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    lines, off = read_header(buf, path)
    header = _header_dict(lines)
    data = memoryview(buf)[off:]

    if suffix == ".raw":
        version, version_line = _evt_version(header, path)
        fmt = f"EVT {version}"
        size = 4 if version == "2.0" else 2
        if len(data) % size:
            other = _other_version_fits(data, version)
            if other:
                raise EventFileError(
                    f"{path}: the data does not look like {fmt} (header line '{version_line}'): "
                    f"{len(data)} bytes are not whole {size}-byte words, but they decode as "
                    f"EVT {other} words")
            raise EventFileError(f"{path}: truncated {fmt} data ({len(data)} bytes after the "
                                 f"header is not a whole number of {size}-byte words)")
        words = np.frombuffer(data, dtype="<u4" if size == 4 else "<u2")
        decoder = decode_evt2 if version == "2.0" else decode_evt3
    else:
        version, fmt = None, "DAT"
        if len(data) < 2:
            raise EventFileError(f"{path}: truncated DAT file (no event type / size bytes after "
                                 "the header)")
        ev_type, ev_size = data[0], data[1]
        if ev_type not in _DAT_CD_TYPES:
            raise EventFileError(f"{path}: DAT event type 0x{ev_type:02X} is not a CD event type "
                                 "(expected 0x00 Event2D or 0x0C EventCD)")
        if ev_size != 8:
            raise EventFileError(f"{path}: DAT event size {ev_size} (expected 8 bytes)")
        body = data[2:]
        if len(body) % 8:
            raise EventFileError(f"{path}: truncated DAT data ({len(body)} bytes of events is "
                                 "not a whole number of 8-byte events)")
        words = np.frombuffer(body, dtype="<u4").reshape(-1, 2)
        decoder = decode_dat
    sensor, how = resolve_sensor_size(header, sensor_size, path)
    check_geometry(sensor, fmt, how, path)
    try:
        (t, x, y, p), counts = decoder(words)
    except ValueError as exc:
        other = _other_version_fits(data, version) if version is not None else None
        if other:
            raise EventFileError(
                f"{path}: the data does not look like {fmt} (header line '{version_line}'): "
                f"{exc}; they decode as EVT {other} words") from exc
        raise EventFileError(f"{path}: garbled {fmt} data: {exc}") from exc
    for name, col, limit in (("x", x, sensor[0]), ("y", y, sensor[1])):
        bad = np.flatnonzero(col >= limit)
        if bad.size:
            i = int(bad[0])
            raise EventFileError(
                f"{path}: field '{name}' = {int(col[i])} at event {i} lies outside the sensor "
                f"{sensor[0]}x{sensor[1]} ({how}); {bad.size} events outside in all"
            )
    events = np.empty(t.shape[0], dtype=EVENTS_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = t, x, y, p
    steps = np.diff(events["t"])
    back = np.flatnonzero(steps < 0)
    t_order = {"steps_back": int(back.size), "max_step_back_us": 0, "action": "none"}
    if back.size:
        t_order["max_step_back_us"] = int(-steps[back].min())
        t_order["action"] = "stable sort by t"
        log.warning("%s: t steps back %d times (largest %d us, first after event %d); events "
                    "stably sorted by t", path, back.size, t_order["max_step_back_us"], int(back[0]))
        events = events[np.argsort(events["t"], kind="stable")]
    log.info("%s: %s, %d events, sensor %s (%s)", path, fmt, events.shape[0], sensor, how)
    return PropheseeRecording(path=path, events=events, sensor_size=sensor, format=fmt,
                              evt_version=version, header=header, sensor_size_source=how,
                              t_order=t_order, counts=counts)
