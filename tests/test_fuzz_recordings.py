"""Damaged recordings, generated at test time from the real samples in ../shared/real: each must
give events or exactly one clean error line through ``run_bench.py check`` -- never a traceback,
a decoder panic's text, a death by signal (an abort on a 4 GiB allocation) or a hang -- under a
3 GiB address-space limit.

The corpus (fixed seed): for the DAVIS346 AEDAT4 file (cut to its first packets, the header's
``file_data_position`` moved to the cut, so that it stays a valid file) and the three Prophesee
files (EVT 2.0 / EVT 3.0 ``.raw`` cut to their first 64 KiB of data, the N-CARS ``.dat``):
truncations, flipped bits in the data and the header, size fields set to ``FF FF FF FF``, edited
headers (huge or garbled geometry, contradictory or wrong EVT version, upper-case keys), plus
empty and random files of every suffix.
"""

from __future__ import annotations

import re
import resource
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real"
SOURCES = {
    "davis346": REAL / "davis346" / "davis346.aedat4",
    "evt2": REAL / "prophesee" / "evt2_sample.raw",
    "evt3": REAL / "prophesee" / "evt3_sample.raw",
    "dat": REAL / "prophesee" / "dat_sample.dat",
}
pytestmark = pytest.mark.skipif(
    not all(p.is_file() for p in SOURCES.values()),
    reason=f"real samples absent under {REAL} (they live in ../shared/real, beside the checkout)")

MEMORY_LIMIT = 3 << 30  # bytes of address space for the reading process
TIMEOUT_S = 120
N_CARS = ("120", "100")  # the DAT sample's sensor (N-CARS crops, Sironi et al., CVPR 2018)


def _header_end(data: bytes) -> int:
    off = 0
    while off < len(data) and data[off] == 0x25:
        off = data.index(b"\n", off) + 1
    return off


def _small_aedat4(data: bytes, n_packets: int = 40) -> bytes:
    """The first ``n_packets`` packets of an AEDAT4 file, its header's ``file_data_position``
    (int64 at table offset 12 of the ``IOHE`` flatbuffer, as read from the real file's vtable)
    set to the cut."""
    header_size = struct.unpack_from("<I", data, 14)[0]
    pos = 18 + header_size
    for _ in range(n_packets):
        pos += 8 + struct.unpack_from("<I", data, pos + 4)[0]
    out = bytearray(data[:pos])
    table = 18 + struct.unpack_from("<I", data, 18)[0]
    vtable = table - struct.unpack_from("<i", data, table)[0]
    field = struct.unpack_from("<H", data, vtable + 4 + 2)[0]  # file_data_position's slot
    struct.pack_into("<q", out, table + field, pos)
    return bytes(out)


def _corpus(tmp: Path) -> dict[Path, str]:
    """Write the damaged files; returns ``{path: what must come out}``: ``"any"`` (events or one
    clean error), or a regex the file's one PROBLEM line must match."""
    rng = np.random.default_rng(20240528)
    bases = {
        "davis346": (_small_aedat4(SOURCES["davis346"].read_bytes()), ".aedat4"),
        "evt2": (SOURCES["evt2"].read_bytes()[: _header_end(SOURCES["evt2"].read_bytes()) + (64 << 10)], ".raw"),
        "evt3": (SOURCES["evt3"].read_bytes()[: _header_end(SOURCES["evt3"].read_bytes()) + (64 << 10)], ".raw"),
        "dat": (SOURCES["dat"].read_bytes(), ".dat"),
    }
    files: dict[Path, str] = {}

    def put(name: str, data: bytes, expect: str = "any") -> None:
        path = tmp / name
        path.write_bytes(data)
        files[path] = expect

    for key, (data, suffix) in bases.items():
        put(f"{key}_intact{suffix}", data, "ok")
        head = 18 + struct.unpack_from("<I", data, 14)[0] if key == "davis346" else _header_end(data)
        for k, cut in enumerate(sorted(rng.integers(1, len(data), 3))):
            put(f"{key}_cut{k}{suffix}", data[:cut])
        put(f"{key}_cut_header{suffix}", data[: max(head // 2, 1)])
        for k in range(4):
            flipped = bytearray(data)
            at = int(rng.integers(head, len(data)))
            flipped[at] ^= 1 << int(rng.integers(0, 8))
            put(f"{key}_flip{k}{suffix}", bytes(flipped))
        flipped = bytearray(data)
        flipped[int(rng.integers(0, head))] ^= 0x20
        put(f"{key}_flip_header{suffix}", bytes(flipped))
        put(f"{key}_random{suffix}", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        put(f"{key}_empty{suffix}", b"")

    davis = bases["davis346"][0]
    header_size = struct.unpack_from("<I", davis, 14)[0]
    for name, at in (("header_size", 14), ("packet0_size", 18 + header_size + 4)):
        edited = bytearray(davis)
        edited[at:at + 4] = b"\xff" * 4
        put(f"davis346_ff_{name}.aedat4", bytes(edited), r"exceeds the")
    pos, sizes = 18 + header_size, []
    while pos < len(davis):
        sizes.append(pos)
        pos += 8 + struct.unpack_from("<I", davis, pos + 4)[0]
    edited = bytearray(davis)
    at = sizes[int(rng.integers(1, len(sizes)))] + 4
    edited[at:at + 4] = b"\xff" * 4
    put("davis346_ff_packet_size.aedat4", bytes(edited), r"field 'size' = 4294967295")

    evt3 = bases["evt3"][0]
    line = b"% evt 3.0\n"
    for name, new, expect in (
        ("geometry_65536", line + b"% geometry 65536x65536\n", r"at most 2048x2048"),
        ("geometry_99999999", line + b"% geometry 99999999x99999999\n", r"at most 2048x2048"),
        ("geometry_2pow32", line + b"% geometry 4294967296\n", r"not two positive integers"),
        ("height_negative", line + b"% format EVT3;height=-720;width=1280\n",
         r"not two positive integers"),
        ("contradiction", line + b"% format EVT2;height=720;width=1280\n", r"contradicts itself"),
        ("upper_case", b"% EVT 3.0\n", "ok"),
        ("marked_evt2", b"% evt 2.0\n", r"does not look like EVT 2\.0"),
    ):
        put(f"evt3_{name}.raw", evt3.replace(line, new, 1), expect)
    dat = bases["dat"][0]
    body = _header_end(dat) + 2
    late = bytearray(dat)
    late[body + 8 * 2000 + 3] ^= 0x55  # one timestamp ~24 minutes late
    put("dat_late_timestamp.dat", bytes(late), "ok")
    put("dat_huge_geometry.dat", b"% Width 99999999\n% Height 99999999\n" + dat[_header_end(dat):],
        r"99999999x99999999")
    return files


def test_damaged_recordings_give_events_or_one_clean_error(tmp_path):
    files = _corpus(tmp_path)
    assert len(files) >= 40
    by_kind: dict[bool, list[Path]] = {True: [], False: []}
    for path in files:
        by_kind[path.suffix == ".dat"].append(path)
    lines: dict[Path, list[str]] = {}
    for is_dat, paths in by_kind.items():
        argv = [sys.executable, "run_bench.py", "check", *map(str, paths), "-q"]
        if is_dat:
            argv += ["--sensor-size", *N_CARS]
        proc = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S,
            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "RUST_BACKTRACE": "1"},
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT)))
        # no death by signal, no traceback, no panic text: at most warning lines on stderr
        assert proc.returncode in (0, 1), (proc.returncode, proc.stderr[-2000:])
        for bad in ("Traceback", "panicked", "RUST_BACKTRACE", "stack backtrace"):
            assert bad not in proc.stderr, proc.stderr[-2000:]
        for text in proc.stdout.splitlines():
            if text.startswith("  note: "):
                continue
            name, _, rest = text.partition(": ")
            lines.setdefault(Path(name), []).append(rest)
    assert set(lines) == set(files), set(files) ^ set(lines)
    for path, expect in files.items():
        got = lines[path]
        assert len(got) == 1, (path, got)
        assert got[0].startswith(("ok: ", "PROBLEM: ")), (path, got)
        if expect == "ok":
            assert got[0].startswith("ok: "), (path, got)
        elif expect != "any":
            assert got[0].startswith("PROBLEM: ") and re.search(expect, got[0]), (path, expect, got)
