"""Prophesee recordings (EVT 2.0 / EVT 3.0 ``.raw``, ``.dat``): the reader against the real files'
decoded references, hand-built word streams, bad input, and ``predict`` / ``convert`` on them."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from datasets.io.events import EventFileError, read_v2e_h5
from datasets.io.prophesee import read_prophesee
from datasets.io.recording import UnsupportedRecordingError, read_recording

REAL = Path(__file__).resolve().parents[2] / "shared" / "real" / "prophesee"
FILES = ["evt2_sample.raw", "evt3_sample.raw", "dat_sample.dat"]
N_CARS = (120, 100)  # N-CARS samples are 120x100 crops (Sironi et al., CVPR 2018, Sec. 6.1)
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real Prophesee files absent: {REAL}")


def _sensor_arg(name: str):
    return N_CARS if name.endswith(".dat") else None


# --------------------------------------------------------------------------------------------
# the real files: exact agreement with the decoded references
# --------------------------------------------------------------------------------------------


@needs_real
@pytest.mark.parametrize("name", FILES)
def test_reader_reproduces_the_reference_exactly(name):
    rec = read_prophesee(REAL / name, sensor_size=_sensor_arg(name))
    ref = np.load(REAL / (Path(name).stem + ".npy"))
    assert rec.events.shape == ref.shape
    for k in "txyp":
        assert np.array_equal(rec.events[k].astype(np.int64), ref[k].astype(np.int64)), k
    assert rec.events.dtype.names == ("t", "x", "y", "p") and rec.events["p"].dtype == np.int8


@needs_real
def test_sensor_size_from_plugin_or_user_and_metadata():
    evt2 = read_prophesee(REAL / "evt2_sample.raw")
    assert evt2.format == "EVT 2.0" and evt2.evt_version == "2.0"
    assert evt2.sensor_size == (640, 480, 2)
    assert "hal_plugin_gen3_fx3" in evt2.sensor_size_source
    assert evt2.header["serial_number"] == "30384338"
    evt3 = read_prophesee(REAL / "evt3_sample.raw")
    assert evt3.format == "EVT 3.0" and evt3.sensor_size == (1280, 720, 2)
    assert "hal_plugin_gen41_evk3" in evt3.sensor_size_source
    assert evt3.t_order == {"steps_back": 0, "max_step_back_us": 0, "action": "none"}
    dat = read_prophesee(REAL / "dat_sample.dat", sensor_size=N_CARS)
    assert dat.format == "DAT" and dat.sensor_size == (120, 100, 2)
    assert dat.sensor_size_source == "given by the user"
    assert dat.metadata["n_events"] == 4407
    with pytest.raises(EventFileError, match=r"dat_sample\.dat: sensor size unknown.*--sensor-size"):
        read_prophesee(REAL / "dat_sample.dat")
    with pytest.raises(EventFileError, match=r"given as 1280x800 but the file says 1280x720"):
        read_prophesee(REAL / "evt3_sample.raw", sensor_size=(1280, 800))
    with pytest.raises(EventFileError, match=r"field 'x' = 42 at event 1 lies outside the sensor 40x100"):
        read_prophesee(REAL / "dat_sample.dat", sensor_size=(40, 100))


# --------------------------------------------------------------------------------------------
# hand-built word streams (expected values worked out from the format specification)
# --------------------------------------------------------------------------------------------


def _raw(path: Path, header: str, words: list[int], fmt: str) -> Path:
    path.write_bytes(header.encode() + b"".join(struct.pack(fmt, w) for w in words))
    return path


def test_evt3_vectors_time_and_a_step_back(tmp_path):
    words = [
        0x8000 | 1,                  # TIME_HIGH 1
        0x6000 | 5,                  # TIME_LOW 5 -> t = 1 << 12 | 5 = 4101
        0x0000 | 10,                 # ADDR_Y 10
        0x2000 | 0x800 | 3,          # ADDR_X x=3, ON
        0x3000 | 100,                # VECT_BASE_X 100, OFF
        0x4000 | 0b100000000101,     # VECT_12: x = 100, 102, 111; base -> 112
        0x5000 | 0b10000001,         # VECT_8: x = 112, 119; base -> 120
        0x6000 | 2,                  # TIME_LOW 2 -> t = 4098: steps back by 3
        0x2000 | 7,                  # ADDR_X x=7, OFF
        0xA000 | 1,                  # EXT_TRIGGER: skipped
    ]
    f = _raw(tmp_path / "a.raw", "% evt 3.0\n% format EVT3;height=20;width=150\n% end\n", words, "<H")
    rec = read_prophesee(f)
    ev = rec.events
    assert rec.sensor_size == (150, 20, 2) and rec.sensor_size_source == "header geometry (150x20)"
    # stable sort: the late-stamped x=7 event first, the others in file order
    assert ev["t"].tolist() == [4098, 4101, 4101, 4101, 4101, 4101, 4101]
    assert ev["x"].tolist() == [7, 3, 100, 102, 111, 112, 119]
    assert ev["y"].tolist() == [10] * 7
    assert ev["p"].tolist() == [0, 1, 0, 0, 0, 0, 0]
    assert rec.t_order == {"steps_back": 1, "max_step_back_us": 3, "action": "stable sort by t"}
    assert rec.counts["ext_trigger"] == 1


@pytest.mark.parametrize("chunk", [1, 2, 3, 5])
def test_evt3_state_carries_across_chunks(chunk):
    from datasets.io.prophesee import decode_evt3

    words = np.array([0x3000 | 0x800 | 40, 0x5000 | 1, 0x8000 | 0xFFF, 0x6000 | 7, 0x0000 | 2,
                      0x4000 | 0b1, 0x2000 | 4, 0x8000 | 0, 0x6000 | 1, 0x5000 | 0b10,
                      0x0000 | 3, 0x4000 | 0b100000000001], dtype="<u2")
    (t, x, y, p), counts = decode_evt3(words, chunk=chunk)
    # by hand: the first VECT_8 has no time (dropped) but moves the base to 48; the VECT_12 at
    # t = 0xFFF << 12 | 7 gives x = 48 (base -> 60); after the roll-over (t = 1 << 24 | 1) the
    # VECT_8 gives x = 61 (base -> 68) and the last VECT_12 x = 68 and 79 on y = 3
    t0, t1 = (0xFFF << 12) | 7, (1 << 24) | 1
    assert t.tolist() == [t0, t0, t1, t1, t1]
    assert x.tolist() == [48, 4, 61, 68, 79]
    assert y.tolist() == [2, 2, 2, 3, 3] and p.tolist() == [1, 0, 1, 1, 1]
    assert counts["dropped_undefined_state_words"] == 1


@needs_real
@pytest.mark.parametrize("name", ["evt2_sample.raw", "evt3_sample.raw"])
def test_real_file_does_not_depend_on_the_chunk(name):
    from datasets.io.prophesee import decode_evt2, decode_evt3, read_header

    buf = (REAL / name).read_bytes()
    evt3 = name.startswith("evt3")
    words = np.frombuffer(buf[read_header(buf, REAL)[1]:], dtype="<u2" if evt3 else "<u4")
    ref = np.load(REAL / (Path(name).stem + ".npy"))
    for chunk in (997, 4096, 10**9):
        cols, _ = (decode_evt3 if evt3 else decode_evt2)(words, chunk=chunk)
        assert all(np.array_equal(c.astype(np.int64), ref[k].astype(np.int64))
                   for c, k in zip(cols, "txyp", strict=True)), chunk


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_evt2_time_high_carries_across_chunks_and_rolls_over(chunk):
    from datasets.io.prophesee import decode_evt2

    def cd(on, lsb, x, y):
        return (on << 28) | (lsb << 22) | (x << 11) | y

    top = (1 << 28) - 1
    words = np.array([cd(1, 1, 1, 1), 0x8000_0000 | top, cd(1, 2, 3, 4), cd(0, 63, 5, 6),
                      0x8000_0000 | 0, cd(1, 0, 7, 8)], dtype="<u4")
    (t, x, y, p), counts = decode_evt2(words, chunk=chunk)
    # by hand: the first event has no TIME_HIGH (dropped); TIME_HIGH 2^28 - 1 -> t = top << 6 | lsb;
    # TIME_HIGH 0 after it is a roll-over: t = 2^28 << 6
    assert t.tolist() == [(top << 6) | 2, (top << 6) | 63, (1 << 28) << 6]
    assert x.tolist() == [3, 5, 7] and y.tolist() == [4, 6, 8] and p.tolist() == [1, 0, 1]
    assert counts["before_first_time_high"] == 1


def test_evt3_time_high_roll_over_and_events_before_state(tmp_path):
    words = [
        0x2000 | 1,                  # ADDR_X before any time / y: dropped
        0x3000 | 0x800 | 40,         # VECT_BASE_X 40, ON
        0x5000 | 1,                  # VECT_8 before any time: dropped, but the base moves to 48
        0x8000 | 0xFFF, 0x6000 | 7, 0x0000 | 2, 0x2000 | 4,  # t = 0xFFF << 12 | 7
        0x8000 | 0, 0x6000 | 1, 0x2000 | 5,                   # roll-over: t = 1 << 24 | 1
        0x5000 | 0b10,               # VECT_8: x = 48 + 1, ON
    ]
    f = _raw(tmp_path / "b.raw", "% evt 3.0\n% plugin_name hal_plugin_imx636_evk4\n", words, "<H")
    rec = read_prophesee(f)
    assert rec.sensor_size == (1280, 720, 2)
    assert rec.events["t"].tolist() == [(0xFFF << 12) | 7, (1 << 24) | 1, (1 << 24) | 1]
    assert rec.events["x"].tolist() == [4, 5, 49]
    assert rec.events["p"].tolist() == [0, 0, 1]
    assert rec.counts["dropped_undefined_state_words"] == 2


def test_evt2_words(tmp_path):
    def cd(on, lsb, x, y):
        return (on << 28) | (lsb << 22) | (x << 11) | y

    words = [0x8000_0000 | 2, cd(1, 5, 4, 6), cd(0, 63, 639, 479), 0x8000_0000 | 3, cd(0, 0, 1, 1)]
    f = _raw(tmp_path / "c.raw", "% evt 2.0\n% plugin_name hal_plugin_gen31_fx3\n", words, "<I")
    rec = read_prophesee(f)
    assert rec.sensor_size == (640, 480, 2)
    assert rec.events["t"].tolist() == [2 * 64 + 5, 2 * 64 + 63, 3 * 64]
    assert rec.events["x"].tolist() == [4, 639, 1] and rec.events["y"].tolist() == [6, 479, 1]
    assert rec.events["p"].tolist() == [1, 0, 0]


def test_dat_records(tmp_path):
    def ev(t, x, y, p):
        return struct.pack("<II", t, x | (y << 14) | (p << 28))

    f = tmp_path / "d.dat"
    f.write_bytes(b"% Date 2020-01-01\n% Width 32\n% Height 24\n" + bytes([0x0C, 8])
                  + ev(10, 31, 0, 1) + ev(12, 0, 23, 0))
    rec = read_prophesee(f)
    assert rec.sensor_size == (32, 24, 2) and rec.format == "DAT"
    assert rec.events.tolist() == [(10, 31, 0, 1), (12, 0, 23, 0)]


# --------------------------------------------------------------------------------------------
# bad input: one line naming the file and the problem
# --------------------------------------------------------------------------------------------

BAD = {
    "truncated.raw": (b"% evt 3.0\n% format EVT3;height=720;width=1280\n" + b"\x01\x80\x05",
                      r"truncated\.raw: truncated EVT 3\.0 data"),
    "garbled.raw": (b"% evt 3.0\n% format EVT3;height=720;width=1280\n" + struct.pack("<3H", 0x8001, 0x6001, 0x9123),
                    r"garbled\.raw: garbled EVT 3\.0 data: word 2 .*reserved EVT 3\.0 type 0x9"),
    "garbled2.raw": (b"% evt 2.0\n% plugin_name hal_plugin_gen3_fx3\n" + struct.pack("<2I", 0x80000001, 0x3FFFFFFF),
                     r"garbled2\.raw: garbled EVT 2\.0 data: word 1 .*type 0x3"),
    "version.raw": (b"% evt 2.1\n% plugin_name hal_plugin_gen3_fx3\n" + b"\x00" * 8,
                    r"version\.raw: unknown EVT version '2\.1'"),
    "noversion.raw": (b"% Date today\n" + b"\x00" * 8, r"noversion\.raw: no EVT version in the header"),
    "truncated.dat": (b"% Width 10\n% Height 10\n" + bytes([0, 8]) + b"\x00" * 12,
                      r"truncated\.dat: truncated DAT data"),
    "trigger.dat": (b"% Width 10\n% Height 10\n" + bytes([0x0E, 8]) + b"\x00" * 8,
                    r"trigger\.dat: DAT event type 0x0E is not a CD event type"),
    "outside.raw": (b"% evt 3.0\n% format EVT3;height=4;width=4\n" + struct.pack("<4H", 0x8000, 0x6000, 0x0002, 0x2009),
                    r"outside\.raw: field 'x' = 9 at event 0 lies outside the sensor 4x4"),
    "header.raw": (b"% evt 3.0\n% plugin_name hal_plu", r"header\.raw: truncated header"),
    "clip.txt": (b"0,1,2,1\n", r"clip\.txt: unsupported recording type '\.txt'"),
    # header quirks: a contradiction, a garbled geometry next to a known plugin, a geometry no
    # format can address, EVT 3.0 words under '% evt 2.0'
    "contradiction.raw": (b"% evt 3.0\n% format EVT2;height=720;width=1280\n" + struct.pack("<2H", 0x8000, 0x6000),
                          r"contradiction\.raw: the header contradicts itself: '% evt 3\.0' says EVT 3\.0, "
                          r"'% format EVT2;height=720;width=1280' says EVT 2\.0"),
    "negheight.raw": (b"% evt 3.0\n% format EVT3;height=-720;width=1280\n% plugin_name hal_plugin_gen41_evk3\n"
                      + struct.pack("<4H", 0x8000, 0x6000, 0x0002, 0x2009),
                      r"negheight\.raw: header line '% format EVT3;height=-720;width=1280' declares a "
                      r"geometry that is not two positive integers \(width '1280', height '-720'\)"),
    "huge.raw": (b"% evt 3.0\n% geometry 65536x65536\n" + struct.pack("<4H", 0x8000, 0x6000, 0x0002, 0x2009),
                 r"huge\.raw: sensor size 65536x65536 \(header geometry .*EVT 3\.0 coordinates are "
                 r"11-bit fields, so at most 2048x2048"),
    "huge.dat": (b"% Width 99999999\n% Height 99999999\n" + bytes([0x0C, 8]) + struct.pack("<2I", 5, 3),
                 r"huge\.dat: sensor size 99999999x99999999 .*DAT coordinates are 14-bit fields, so "
                 r"at most 16384x16384"),
    "nowidth.raw": (b"% evt 3.0\n% geometry 4294967296\n% plugin_name hal_plugin_gen41_evk3\n" + struct.pack("<2H", 0x8000, 0x6000),
                    r"nowidth\.raw: header line '% geometry 4294967296' declares a geometry that is not"),
    "mislabelled.raw": (b"% evt 2.0\n% plugin_name hal_plugin_gen41_evk3\n" + struct.pack("<5H", 0x8000, 0x6005, 0x0002, 0x2803, 0x2804),
                        r"mislabelled\.raw: the data does not look like EVT 2\.0 \(header line '% evt 2\.0'\)"
                        r".*decode as EVT 3\.0"),
    "mislabelled4.raw": (b"% evt 2.0\n% plugin_name hal_plugin_gen41_evk3\n"
                         + struct.pack("<4H", 0x8000, 0x6005, 0x0002, 0x2803),
                         r"mislabelled4\.raw: the data does not look like EVT 2\.0 .*reserved EVT 2\.0 type "
                         r"0x6.*decode as EVT 3\.0"),
}


def test_header_keys_are_case_insensitive(tmp_path):
    # TIME_HIGH 0, TIME_LOW 5, EVT_ADDR_Y y=2, EVT_ADDR_X with polarity bit 11 set and x=3:
    # one ON event at t=5 us, x=3, y=2 (EVT 3.0 layout in datasets/io/prophesee.py)
    words = struct.pack("<4H", 0x8000, 0x6005, 0x0002, 0x2803)
    path = tmp_path / "upper.raw"
    path.write_bytes(b"% EVT 3.0\n% Format EVT3;Height=4;Width=4\n" + words)
    rec = read_prophesee(path)
    assert rec.format == "EVT 3.0" and rec.sensor_size == (4, 4, 2)
    assert [tuple(int(v) for v in e) for e in rec.events] == [(5, 3, 2, 1)]


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_raise_one_line_naming_the_file(tmp_path, name):
    data, pattern = BAD[name]
    (tmp_path / name).write_bytes(data)
    with pytest.raises(EventFileError, match=pattern) as info:
        read_recording(tmp_path / name)
    assert "\n" not in str(info.value)
    if name.endswith(".txt"):
        assert isinstance(info.value, UnsupportedRecordingError)


# --------------------------------------------------------------------------------------------
# the command line: predict and convert
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A real tiny ANN cell trained for one epoch on the built-in mini dataset."""
    from benchmarks.runner.cell import Cell, Recipe, run_cell

    tmp = tmp_path_factory.mktemp("prophesee")
    recipe = Recipe(epochs=1, codecarbon=False, latency_runs=2, warmup_runs=1, throughput_batch_size=2)
    cell = Cell(dataset="synthetic-fer-dvs-mini", backend="ann", arch="tiny", recipe=recipe)
    record = run_cell(cell, tmp / "data", progress=False, checkpoint_dir=tmp / "run" / "checkpoints")
    return tmp / "run" / record.checkpoint


@needs_real
@pytest.mark.parametrize("name", FILES)
def test_predict_every_real_file(checkpoint, name, capsys):
    import re

    import run_bench
    from benchmarks.runner.checkpoints import load_checkpoint

    ref = np.load(REAL / (Path(name).stem + ".npy"))
    t_last = int(ref["t"][-1] - ref["t"][0])
    window, stride = 4, 2  # ms; every file lasts 8.8 ms (EVT 3.0) to 100 ms
    n_expected = (t_last - window * 1000) // (stride * 1000) + 1  # whole windows, by hand
    extra = ["--sensor-size", *map(str, N_CARS)] if name.endswith(".dat") else []
    rc = run_bench.main(["predict", str(checkpoint), str(REAL / name), "--window-ms", str(window),
                         "--stride-ms", str(stride), "-q", *extra])
    assert rc == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if re.match(r"^\s*\d+\.\d-\d+\.\d\s", ln)]
    assert len(lines) == n_expected
    classes = load_checkpoint(checkpoint).classes
    for ln in lines:
        n_ev = int(ln.split()[1])
        assert n_ev == 0 or ln.split()[2] in classes


@needs_real
def test_predict_bad_prophesee_files_exit_2(checkpoint, tmp_path, capsys):
    import re

    import run_bench

    for name in ("truncated.raw", "version.raw", "garbled.raw", "clip.txt", "huge.raw",
                 "negheight.raw", "mislabelled.raw"):
        (tmp_path / name).write_bytes(BAD[name][0])
        assert run_bench.main(["predict", str(checkpoint), str(tmp_path / name), "-q"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("error: ")
        # the reason, not only the exit status: the reader's own message for that damage
        assert re.search(BAD[name][1], err), (name, err)
    assert run_bench.main(["predict", str(checkpoint), str(REAL / "dat_sample.dat"), "-q"]) == 2
    assert "--sensor-size" in capsys.readouterr().err


@needs_real
def test_convert_a_raw_recording_to_v2e_h5(tmp_path, capsys):
    import run_bench

    out = tmp_path / "evt3.h5"
    assert run_bench.main(["convert", str(REAL / "evt3_sample.raw"), str(out), "-q"]) == 0
    assert "219596 events" in capsys.readouterr().out
    got = read_v2e_h5(out)
    ref = np.load(REAL / "evt3_sample.npy")
    assert np.array_equal(got["t"], ref["t"] - ref["t"][0])
    assert np.array_equal(got["x"], ref["x"]) and np.array_equal(got["y"], ref["y"])
    assert np.array_equal(got["p"], ref["p"].astype(np.int8))


@needs_real
def test_check_describes_recordings_and_names_their_problems(tmp_path, capsys):
    import run_bench

    bad = tmp_path / "version.raw"
    bad.write_bytes(BAD["version.raw"][0])
    rc = run_bench.main(["check", str(REAL / "evt3_sample.raw"), str(REAL / "dat_sample.dat"), "-q"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert out[0].startswith(f"{REAL / 'evt3_sample.raw'}: ok: EVT 3.0, 219596 events")
    assert "sensor 1280x720 (camera plugin hal_plugin_gen41_evk3" in out[0]
    assert out[1] == f"{REAL / 'dat_sample.dat'}: PROBLEM: sensor size unknown (the header has no " \
        "geometry and no camera plugin named); give it with --sensor-size W H"
    rc = run_bench.main(["check", str(REAL / "dat_sample.dat"), "--sensor-size", "120", "100", "-q"])
    assert rc == 0 and "ok: DAT, 4407 events (1671 ON), 0.099937 s, sensor 120x100 (given by the user)" \
        in capsys.readouterr().out
    assert run_bench.main(["check", str(bad), "-q"]) == 1
    assert "unknown EVT version '2.1'" in capsys.readouterr().out
