"""Reading AEDAT4 files (datasets.io.aedat) on the real DAVIS346 recording in ../shared/real.

Expected values from shared/real/README.md: 78,830 events over 2.36 s, 346x260, 59 grey frames.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from datasets.io.aedat import read_aedat4, read_aedat4_events
from datasets.io.events import EVENTS_DTYPE, EventFileError, validate_events, write_v2e_h5

REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
DAVIS = REAL / "davis346" / "davis346.aedat4"
needs_davis = pytest.mark.skipif(
    not DAVIS.is_file(),
    reason=f"{DAVIS} is absent (real artifacts live in ../shared/real, beside the checkout, "
    "in CI only)",
)


@pytest.fixture(scope="module")
def rec():
    if not DAVIS.is_file():
        pytest.skip(f"{DAVIS} is absent")
    return read_aedat4(DAVIS)


@needs_davis
def test_counts_sensor_size_and_record_layout(rec) -> None:
    assert rec.events.shape == (78_830,)  # README: 78,830 events
    assert rec.sensor_size == (346, 260, 2)  # README: 346x260
    assert rec.events.dtype == EVENTS_DTYPE
    validate_events(rec.events, rec.sensor_size, allow_empty=False)
    assert set(np.unique(rec.events["p"]).tolist()) == {0, 1}
    assert rec.events["x"].max() < 346 and rec.events["y"].max() < 260


@needs_davis
def test_time_axis_units_and_offset(rec) -> None:
    t = rec.events["t"]
    assert t[0] == 0 and np.all(np.diff(t) >= 0)
    # README: 2.36 s of events -> microseconds
    assert rec.duration_us == int(t[-1]) and 2.30e6 < rec.duration_us < 2.40e6
    # the kept offset is an absolute time in µs since the Unix epoch: a plausible date
    when = datetime.fromtimestamp(rec.t0_us / 1e6, tz=timezone.utc)
    assert 2015 <= when.year <= 2030


@needs_davis
def test_grey_frames_with_timestamps(rec) -> None:
    assert rec.frames.shape == (59, 260, 346)  # README: 59 grey frames, (H, W) = (260, 346)
    assert rec.frames.dtype == np.uint8 and rec.frames.std() > 0
    assert rec.frame_t.shape == (59,) and rec.frame_exposure.shape == (59, 2)
    assert np.all(np.diff(rec.frame_t) > 0)
    # 59 frames over ~2.36 s: one frame every ~40 ms
    assert 30_000 < np.median(np.diff(rec.frame_t)) < 50_000
    begin, end = rec.frame_exposure[:, 0], rec.frame_exposure[:, 1]
    assert np.all(begin <= rec.frame_t) and np.all(rec.frame_t <= end)
    assert rec.frame_t[0] > -50_000 and rec.frame_t[-1] < rec.duration_us + 50_000
    assert rec.imu.shape[0] > 0 and rec.imu.dtype.names[0] == "t"


@needs_davis
def test_events_only_helper_and_v2e_roundtrip(rec, tmp_path: Path) -> None:
    from datasets.io.events import read_v2e_h5

    events, sensor = read_aedat4_events(DAVIS)
    assert sensor == (346, 260, 2) and np.array_equal(events, rec.events)
    out = write_v2e_h5(tmp_path / "davis.h5", events)
    assert np.array_equal(read_v2e_h5(out, sensor), events)


def test_missing_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(EventFileError, match="no such AEDAT4 file"):
        read_aedat4(tmp_path / "none.aedat4")
    junk = tmp_path / "junk.aedat4"
    junk.write_bytes(b"#!AER-DAT4.0\r\n" + b"\x00" * 16)
    with pytest.raises(EventFileError) as exc:
        read_aedat4(junk)
    assert str(junk) in str(exc.value)


@needs_davis
def test_truncated_file_is_an_error_naming_it(tmp_path: Path) -> None:
    cut = tmp_path / "cut.aedat4"
    cut.write_bytes(DAVIS.read_bytes()[:300_000])
    with pytest.raises(EventFileError, match="cut.aedat4"):
        read_aedat4(cut)


def _size_edited(tmp_path: Path, at: str) -> Path:
    """The real file with its header-size field or its first packet's size field set to
    FF FF FF FF (AEDAT4 layout: 14-byte magic, uint32 header size, header, then packets of
    int32 stream id + uint32 size)."""
    import struct

    data = bytearray(DAVIS.read_bytes())
    header_size = struct.unpack_from("<I", data, 14)[0]
    field = 14 if at == "header" else 18 + header_size + 4
    data[field:field + 4] = b"\xff\xff\xff\xff"
    out = tmp_path / f"ff_{at}.aedat4"
    out.write_bytes(bytes(data))
    return out


@needs_davis
@pytest.mark.parametrize("at,message", [
    ("header", r"field 'header size' = 4294967295 \(0xFFFFFFFF\) exceeds the file \(6144209 bytes"),
    ("packet", r"packet 0 at byte 3126: field 'size' = 4294967295 \(0xFFFFFFFF\) exceeds the "),
])
def test_size_fields_the_file_cannot_hold_are_refused_under_a_memory_limit(tmp_path, at, message):
    """Read in a child process limited to 3 GiB of address space: the decoder would allocate
    4 GiB for the size field and abort (SIGABRT); the refusal must come first, as one line."""
    import re
    import resource
    import subprocess
    import sys

    path = _size_edited(tmp_path, at)
    limit = 3 << 30
    code = ("import sys\nfrom datasets.io.aedat import read_aedat4\nfrom datasets.io.events import "
            "EventFileError\ntry:\n    read_aedat4(sys.argv[1])\nexcept EventFileError as e:\n"
            "    print(e, file=sys.stderr); sys.exit(2)\n")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parents[1],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    assert proc.stderr.count("\n") == 1 and str(path) in proc.stderr
    assert re.search(message, proc.stderr), proc.stderr


def test_decoder_stderr_is_captured_at_the_descriptor(capfd):
    """The Rust panic hook writes to file descriptor 2, below sys.stderr: the capture must take
    what is written there (os.write(2, ...) stands for it) and restore fd 2 afterwards."""
    import os

    from datasets.io.aedat import _captured_stderr

    with _captured_stderr() as read:
        os.write(2, b"thread '<unnamed>' panicked at src/lib.rs:1:1:\nindex out of bounds\n")
    os.write(2, b"after\n")
    assert read() == "thread '<unnamed>' panicked at src/lib.rs:1:1:\nindex out of bounds\n"
    assert capfd.readouterr().err == "after\n"
