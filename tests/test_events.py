"""Tests of datasets/io/events.py: the event record and the v2e HDF5 reader/writer.

Bad files are written with h5py directly, so every reader validation is exercised on a file that
looks like what a broken converter or a partial copy would leave.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from datasets.io.events import (
    EVENTS_DTYPE,
    EventFileError,
    make_events,
    read_v2e_h5,
    validate_events,
    write_v2e_h5,
)

SENSOR = (32, 24, 2)  # W, H, 2: non-square so that x/y mix-ups show


def random_events(n: int = 500, seed: int = 0, sensor=SENSOR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 1_000_000, size=n))
    return make_events(t, rng.integers(0, sensor[0], n), rng.integers(0, sensor[1], n),
                       rng.integers(0, 2, n))


def write_raw(path, data, name="events", **kw):
    """Write ``data`` as dataset ``name`` with h5py (no validation)."""
    with h5py.File(path, "w") as f:
        f.create_dataset(name, data=data, **kw)
    return path


def raw_of(ev: np.ndarray) -> np.ndarray:
    """The v2e (N, 4) uint32 [t, x, y, p] array of an event record."""
    return np.stack([ev["t"], ev["x"], ev["y"], ev["p"]], axis=1).astype(np.uint32)


# -- round trip ---------------------------------------------------------------------------


def test_round_trip_preserves_every_field(tmp_path):
    ev = random_events()
    path = write_v2e_h5(tmp_path / "sub" / "001.h5", ev)  # parent folder is created
    back = read_v2e_h5(path, SENSOR)
    assert back.dtype == EVENTS_DTYPE
    for field in "txyp":
        np.testing.assert_array_equal(back[field], ev[field])
    # the file is the v2e layout: (N, 4) uint32 [t, x, y, p], checked with h5py directly
    with h5py.File(path, "r") as f:
        raw = f["events"][()]
    assert raw.dtype == np.uint32 and raw.shape == (500, 4)
    np.testing.assert_array_equal(raw, raw_of(ev))


def test_round_trip_without_compression_and_no_temp_files_left(tmp_path):
    ev = random_events(50)
    write_v2e_h5(tmp_path / "a.h5", ev, compression=None)
    np.testing.assert_array_equal(read_v2e_h5(tmp_path / "a.h5")["t"], ev["t"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]


def test_reads_a_file_written_by_plain_h5py(tmp_path):
    # a file as v2e's DVSOutput writes it: gzip, uint32 (N, 4)
    ev = random_events(20)
    path = write_raw(tmp_path / "v2e.h5", raw_of(ev), compression="gzip")
    np.testing.assert_array_equal(read_v2e_h5(path, SENSOR)["x"], ev["x"])


def test_make_events_rejects_unequal_lengths():
    with pytest.raises(ValueError, match="same length"):
        make_events([0, 1], [0], [0, 1], [0, 1])


# -- reader validation: every message names the file ----------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.h5"
    with pytest.raises(EventFileError, match="no such event file") as e:
        read_v2e_h5(path)
    assert str(path) in str(e.value)


def test_truncated_file(tmp_path):
    path = write_v2e_h5(tmp_path / "cut.h5", random_events(5000), compression=None)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EventFileError, match="cannot read HDF5 file") as e:
        read_v2e_h5(path)
    assert str(path) in str(e.value)


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("t,x,y,p\n0,1,2,1\n")
    with pytest.raises(EventFileError, match="cannot read HDF5 file") as e:
        read_v2e_h5(path)
    assert str(path) in str(e.value)


def test_missing_events_dataset(tmp_path):
    path = write_raw(tmp_path / "other.h5", np.zeros((3, 4), np.uint32), name="frames")
    with pytest.raises(EventFileError, match=r"no dataset 'events' \(has \['frames'\]\)") as e:
        read_v2e_h5(path)
    assert str(path) in str(e.value)


def test_events_is_a_group(tmp_path):
    path = tmp_path / "group.h5"
    with h5py.File(path, "w") as f:
        f.create_group("events")
    with pytest.raises(EventFileError, match="is a group") as e:
        read_v2e_h5(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("shape", [(10, 3), (10, 5), (40,), (2, 5, 4)])
def test_wrong_shape(tmp_path, shape):
    path = write_raw(tmp_path / "shape.h5", np.zeros(shape, np.uint32))
    with pytest.raises(EventFileError, match=r"has shape .* expected \(N, 4\)") as e:
        read_v2e_h5(path)
    assert str(path) in str(e.value) and str(shape) in str(e.value)


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.uint16])
def test_wrong_dtype(tmp_path, dtype):
    path = write_raw(tmp_path / "dtype.h5", raw_of(random_events(10)).astype(dtype))
    with pytest.raises(EventFileError, match="expected uint32") as e:
        read_v2e_h5(path)
    assert str(path) in str(e.value) and np.dtype(dtype).name in str(e.value)


@pytest.mark.parametrize("col,field,limit", [(1, "x", SENSOR[0]), (2, "y", SENSOR[1])])
def test_coordinates_outside_the_sensor(tmp_path, col, field, limit):
    raw = raw_of(random_events(10))
    raw[4, col] = limit  # first invalid value: W for x, H for y
    raw[7, col] = limit + 100
    path = write_raw(tmp_path / "out.h5", raw)
    with pytest.raises(EventFileError) as e:
        read_v2e_h5(path, SENSOR)
    msg = str(e.value)
    assert str(path) in msg
    assert f"field '{field}' = {limit} at event 4" in msg
    assert "2 events outside" in msg
    # without a sensor size the same file reads (values fit int16)
    assert read_v2e_h5(path)[field][4] == limit


def test_coordinates_beyond_int16_without_sensor(tmp_path):
    raw = raw_of(random_events(3))
    raw[1, 1] = 70_000
    path = write_raw(tmp_path / "big.h5", raw)
    with pytest.raises(EventFileError, match="int16") as e:
        read_v2e_h5(path)
    assert str(path) in str(e.value)


def test_polarity_not_binary(tmp_path):
    raw = raw_of(random_events(10))
    raw[3, 3] = 2
    raw[8, 3] = 255
    path = write_raw(tmp_path / "pol.h5", raw)
    with pytest.raises(EventFileError) as e:
        read_v2e_h5(path, SENSOR)
    msg = str(e.value)
    assert str(path) in msg and "field 'p' must be 0 or 1, got 2 at event 3" in msg
    assert "2 bad values" in msg


def test_decreasing_timestamps(tmp_path):
    raw = raw_of(random_events(10))
    raw[:, 0] = np.arange(10) * 100
    raw[6, 0] = 50  # 500 -> 50 at event 6
    path = write_raw(tmp_path / "time.h5", raw)
    with pytest.raises(EventFileError) as e:
        read_v2e_h5(path, SENSOR)
    msg = str(e.value)
    assert str(path) in msg and "field 't' decreases at event 6 (500 -> 50 us)" in msg


def test_empty_recording(tmp_path):
    path = write_raw(tmp_path / "empty.h5", np.zeros((0, 4), np.uint32))
    with pytest.raises(EventFileError, match=r"empty \(0 events\)") as e:
        read_v2e_h5(path, SENSOR)
    assert str(path) in str(e.value)
    ev = read_v2e_h5(path, SENSOR, allow_empty=True)
    assert ev.shape == (0,) and ev.dtype == EVENTS_DTYPE


def test_a_bad_file_does_not_affect_the_others_in_its_folder(tmp_path):
    good = [random_events(100, seed=s) for s in range(3)]
    for i, ev in enumerate(good):
        write_v2e_h5(tmp_path / f"{i:03d}.h5", ev)
    raw = raw_of(random_events(10))
    raw[2, 3] = 7
    write_raw(tmp_path / "bad.h5", raw)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(EventFileError, match="bad.h5"):
        read_v2e_h5(tmp_path / "bad.h5", SENSOR)
    for i, ev in enumerate(good):
        np.testing.assert_array_equal(read_v2e_h5(tmp_path / f"{i:03d}.h5", SENSOR)["t"], ev["t"])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing touched


# -- writer and validate_events -------------------------------------------------------------


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "001.h5"
    ev = random_events(30)
    write_v2e_h5(path, ev)
    before = path.read_bytes()
    bad = ev.copy()
    bad["t"] = bad["t"][::-1]  # decreasing
    with pytest.raises(EventFileError, match="decreases") as e:
        write_v2e_h5(path, bad)
    assert str(path) in str(e.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["001.h5"]


@pytest.mark.parametrize("field", ["t", "x", "y"])
def test_writer_rejects_negative_values(tmp_path, field):
    ev = random_events(10)
    ev[field][0] = -1
    if field == "t":
        ev["t"] = np.sort(ev["t"])
    with pytest.raises(EventFileError, match=f"field '{field}' has negative values"):
        write_v2e_h5(tmp_path / "neg.h5", ev)
    assert not list(tmp_path.iterdir())


def test_writer_is_byte_deterministic(tmp_path):
    ev = random_events(300)
    a = write_v2e_h5(tmp_path / "a.h5", ev).read_bytes()
    b = write_v2e_h5(tmp_path / "b.h5", ev).read_bytes()
    assert a == b


def test_validate_events_messages():
    with pytest.raises(EventFileError, match=r"<x>: event array lacks field\(s\) \['p'\]"):
        validate_events(np.zeros(3, dtype=[("t", "i8"), ("x", "i2"), ("y", "i2")]), source="<x>")
    ev = random_events(10)
    ev["x"][5] = -3
    with pytest.raises(EventFileError, match=r"src: field 'x' = -3 at event 5"):
        validate_events(ev, SENSOR, source="src")
    validate_events(ev[:0], SENSOR)  # empty allowed by default
    with pytest.raises(EventFileError, match="empty"):
        validate_events(ev[:0], SENSOR, allow_empty=False)


# -- all problems of a file at once ---------------------------------------------------------


def test_read_v2e_h5_reports_every_problem_first_one_first(tmp_path):
    raw = raw_of(random_events(10))
    raw[:, 0] = np.arange(10) * 100
    raw[1, 2] = SENSOR[1] + 1  # y outside at event 1
    raw[8, 3] = 4  # p at event 8
    path = write_raw(tmp_path / "two.h5", raw)
    with pytest.raises(EventFileError) as e:
        read_v2e_h5(path, SENSOR)
    msg = str(e.value)
    first, rest = msg.split("\n", 1)
    assert first == (
        f"{path}: field 'y' = {SENSOR[1] + 1} at event 1 lies outside the sensor "
        f"(sensor_size={SENSOR}, valid 0..{SENSOR[1] - 1}; 1 events outside in all)"
    )
    assert rest.startswith("1 more problem(s) in the same file:")
    assert f"{path}: field 'p' must be 0 or 1, got 4 at event 8 (1 bad values in all)" in rest
    assert [(q.field, q.value) for q in e.value.problems] == [("y", SENSOR[1] + 1), ("p", 4)]


def test_event_file_error_keeps_its_problems_through_pickle(tmp_path):
    import pickle

    raw = raw_of(random_events(10))
    raw[0, 3] = 3
    path = write_raw(tmp_path / "p.h5", raw)
    with pytest.raises(EventFileError) as e:
        read_v2e_h5(path, SENSOR)
    back = pickle.loads(pickle.dumps(e.value))
    assert type(back) is EventFileError and str(back) == str(e.value)
    assert back.problems == e.value.problems and back.problems[0].value == 3
