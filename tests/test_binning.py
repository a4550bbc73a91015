"""Tests of datasets.transforms.binning: parity with tonic 1.7.0's ToFrame, the Spiking-FER rule, binarisation
and nearest resizing (reference: torch.nn.functional.interpolate), validation.

Expected values come from tonic (the reference library), torch, or are worked out by hand in the
comments; none is copied from the module's own output.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tonic

from datasets.io.events import EVENTS_DTYPE, make_events
from datasets.transforms.binning import (
    ToFrames,
    binarize,
    nearest_indices,
    resize_nearest,
    to_frames_event_bins,
    to_frames_event_count,
    to_frames_spiking_fer,
    to_frames_time_bins,
    to_frames_time_window,
)

SENSOR = (34, 20, 2)  # W != H, so that a swapped axis cannot pass


def random_events(n: int, sensor=SENSOR, t_max: int = 1_000_000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(
        np.sort(rng.integers(0, t_max, n)),
        rng.integers(0, sensor[0], n),
        rng.integers(0, sensor[1], n),
        rng.integers(0, 2, n),
    )


def tonic_frames(events: np.ndarray, sensor_size, **kwargs) -> np.ndarray:
    """The reference: tonic.transforms.ToFrame, cast from its int16 counts to float32."""
    ref = tonic.transforms.ToFrame(sensor_size=sensor_size, **kwargs)(events.copy())
    return np.asarray(ref).astype(np.float32)


def ours(events: np.ndarray, sensor_size, **kwargs) -> np.ndarray:
    """Dispatch tonic-style keyword arguments to our functions."""
    overlap = kwargs.pop("overlap", 0)
    if "n_time_bins" in kwargs:
        return to_frames_time_bins(events, sensor_size, kwargs["n_time_bins"], overlap)
    if "n_event_bins" in kwargs:
        return to_frames_event_bins(events, sensor_size, kwargs["n_event_bins"], overlap)
    if "event_count" in kwargs:
        return to_frames_event_count(
            events, sensor_size, kwargs["event_count"], overlap,
            kwargs.get("include_incomplete", False),
        )
    return to_frames_time_window(
        events, sensor_size, kwargs["time_window"], overlap, kwargs.get("include_incomplete", False),
        kwargs.get("start_time"), kwargs.get("end_time"),
    )


TONIC_CASES = [
    dict(n_time_bins=1),
    dict(n_time_bins=6),
    dict(n_time_bins=7, overlap=0.3),
    dict(n_time_bins=10, overlap=0.5),
    dict(n_event_bins=1),
    dict(n_event_bins=6),
    dict(n_event_bins=13),  # 4000 % 13 != 0: the remainder is dropped
    dict(n_event_bins=7, overlap=0.25),
    dict(event_count=100),  # 40 frames: the scatter-add path
    dict(event_count=1000),  # 4 frames of 1000 events on a 1360-pixel plane: the bincount path
    dict(event_count=333, overlap=50),
    dict(event_count=333, overlap=50, include_incomplete=True),
    dict(event_count=5000),  # more than N: one frame of all events
    dict(time_window=10_000),
    dict(time_window=99_999),
    dict(time_window=7_000, overlap=1_500, include_incomplete=True),
    dict(time_window=250_000, start_time=-100_000, end_time=1_200_000),
    dict(time_window=1_500_000),  # longer than the recording: one frame
]


@pytest.mark.parametrize("kwargs", TONIC_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
@pytest.mark.parametrize("sensor", [SENSOR, (200, 200, 2)], ids=["34x20", "200x200"])
def test_equals_tonic_on_random_events(kwargs, sensor):
    events = random_events(4000, sensor)
    ref = tonic_frames(events, sensor, **kwargs)
    got = ours(events, sensor, **dict(kwargs))
    assert got.dtype == np.float32
    assert got.shape == ref.shape
    assert np.array_equal(got, ref)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_time_bins=6),
        dict(n_time_bins=3, overlap=0.5),
        dict(n_event_bins=6),
        dict(event_count=7),
        dict(time_window=10_000),
        dict(time_window=10_000, include_incomplete=True),
    ],
    ids=str,
)
def test_equals_tonic_with_events_on_bin_edges_and_duplicate_times(kwargs):
    # t = 0, 1000, ..., 60000, each time stamp three times: many events sit exactly on the edges
    t = np.repeat(np.arange(0, 60_001, 1000), 3)
    rng = np.random.default_rng(3)
    events = make_events(t, rng.integers(0, 34, t.size), rng.integers(0, 20, t.size),
                         rng.integers(0, 2, t.size))
    assert np.array_equal(ours(events, SENSOR, **dict(kwargs)), tonic_frames(events, SENSOR, **kwargs))


def test_time_bins_by_hand_half_open_bins_and_last_event():
    # 61 events at t = 0, 1000, ..., 60000, all at pixel (x=3, y=2), ON.
    # n_time_bins=6: bin length (60000 - 0) // 6 = 10000; bin i = [10000 i, 10000 (i + 1)):
    # 10 events each (t = 10000 i + 0..9000); the event at t = 60000 is in no bin (tonic's rule).
    t = np.arange(0, 60_001, 1000)
    events = make_events(t, np.full(t.size, 3), np.full(t.size, 2), np.ones(t.size))
    frames = to_frames_time_bins(events, SENSOR, 6)
    assert frames.shape == (6, 2, 20, 34)
    assert frames[:, 1, 2, 3].tolist() == [10.0] * 6
    assert frames.sum() == 60.0


def test_channel_order_and_counts_by_hand():
    # OFF at (x=2, y=1) twice, ON at (x=5, y=0) once; one frame of all events.
    events = make_events([0, 1, 2], [2, 2, 5], [1, 1, 0], [0, 0, 1])
    frames = to_frames_event_bins(events, SENSOR, 1)
    expected = np.zeros((1, 2, 20, 34), dtype=np.float32)
    expected[0, 0, 1, 2] = 2.0  # channel 0 = OFF (p = 0), frames[t, p, y, x]
    expected[0, 1, 0, 5] = 1.0  # channel 1 = ON (p = 1)
    assert np.array_equal(frames, expected)


@pytest.mark.parametrize(
    "kwargs",
    [dict(n_time_bins=4), dict(n_event_bins=1), dict(n_event_bins=3), dict(event_count=10),
     dict(time_window=1000)],
    ids=str,
)
def test_single_event_equals_tonic(kwargs):
    events = make_events([5000], [7], [3], [1])
    assert np.array_equal(ours(events, SENSOR, **dict(kwargs)), tonic_frames(events, SENSOR, **kwargs))


def test_single_event_by_hand():
    events = make_events([5000], [7], [3], [1])
    # duration 0 -> bin length 0 // 4 = 0 -> every [t0, t0) window is empty (tonic's rule)
    assert to_frames_time_bins(events, SENSOR, 4).sum() == 0.0
    # one frame of min(10, 1) = 1 event
    frames = to_frames_event_count(events, SENSOR, 10)
    assert frames.shape == (1, 2, 20, 34) and frames[0, 1, 3, 7] == 1.0 and frames.sum() == 1.0


def test_empty_events_give_zero_frames():
    empty = np.zeros(0, dtype=EVENTS_DTYPE)
    for frames, n in [
        (to_frames_time_bins(empty, SENSOR, 5), 5),
        (to_frames_event_bins(empty, SENSOR, 4), 4),
        (to_frames_spiking_fer(empty, SENSOR, 6), 6),
        (to_frames_event_count(empty, SENSOR, 10), 1),  # tonic: one frame
        (to_frames_time_window(empty, SENSOR, 100), 1),
        # with an explicit span: floor((1000 - 0 - 100) / 100) + 1 = 10 frames
        (to_frames_time_window(empty, SENSOR, 100, start_time=0, end_time=1000), 10),
    ]:
        assert frames.shape == (n, 2, 20, 34)
        assert frames.dtype == np.float32
        assert not frames.any()


# --- Spiking-FER rule ----------------------------------------------------------------------------


def frame_coded_events(n_events: int, event_count: int) -> np.ndarray:
    """Event k sits at x = k // event_count, so event-count frame j lights only column x = j."""
    k = np.arange(n_events)
    return make_events(k * 10, k // event_count, k % 20, k % 2)


@pytest.mark.parametrize(
    "n_events, n_time_bins, first_kept",
    [
        (40, 4, 3),  # 10 frames of 4 events, keep 4: gap = (10 - 4) // 2 = 3 -> frames 3..6
        (36, 4, 2),  # 9 frames: gap = int((9 - 4) / 2) = 2 -> frames 2..5 (one more after)
        (43, 4, 3),  # 10 full frames + 3 leftover events (dropped): as for 40
        (16, 4, 0),  # exactly T frames: all of them
    ],
)
def test_spiking_fer_keeps_the_central_frames(n_events, n_time_bins, first_kept):
    events = frame_coded_events(n_events, 4)
    frames = to_frames_spiking_fer(events, SENSOR, n_time_bins=n_time_bins, event_count=4)
    assert frames.shape == (n_time_bins, 2, 20, 34)
    for j in range(n_time_bins):
        column = first_kept + j
        assert frames[j, :, :, column].sum() == 4.0  # all 4 events of frame `column`
        assert frames[j].sum() == 4.0  # and nothing else


def test_spiking_fer_equals_central_slice_of_tonic_event_count_frames():
    # Spiking-FER's CustomToFrame: tonic event_count frames, then x[gap:gap + T]
    events = random_events(23_456, (200, 200, 2))
    ref = tonic_frames(events, (200, 200, 2), event_count=2500)  # 9 frames
    gap = int((ref.shape[0] - 6) / 2)
    got = to_frames_spiking_fer(events, (200, 200, 2), n_time_bins=6, event_count=2500)
    assert np.array_equal(got, ref[gap : gap + 6])


def test_spiking_fer_fallback_with_too_few_events():
    events = random_events(14_999, (200, 200, 2))  # 14999 // 2500 = 5 < 6 frames
    got = to_frames_spiking_fer(events, (200, 200, 2), n_time_bins=6, event_count=2500)
    assert np.array_equal(got, tonic_frames(events, (200, 200, 2), n_event_bins=6))
    got_t = to_frames_spiking_fer(events, (200, 200, 2), 6, 2500, fallback="time_bins")
    assert np.array_equal(got_t, tonic_frames(events, (200, 200, 2), n_time_bins=6))


# --- binarize and resize ------------------------------------------------------------------------


def test_binarize_by_hand():
    frames = np.array([[[[0.0, 2.0], [1.0, 0.0]], [[5.0, 0.0], [0.0, 0.0]]]])
    expected = np.array([[[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]]], dtype=np.float32)
    out = binarize(frames)
    assert out.dtype == np.float32 and np.array_equal(out, expected)


def test_nearest_indices_by_hand():
    # src = floor(i * in / out): 4 -> 2: i * 2 -> [0, 2]; 3 -> 2: i * 1.5 -> [0, 1];
    # 2 -> 4: i * 0.5 -> [0, 0, 1, 1]; 200 -> 128: i * 1.5625 -> 0, 1, 3, 4, 6, 7, 9, ...
    assert nearest_indices(4, 2).tolist() == [0, 2]
    assert nearest_indices(3, 2).tolist() == [0, 1]
    assert nearest_indices(2, 4).tolist() == [0, 0, 1, 1]
    assert nearest_indices(200, 128)[:7].tolist() == [0, 1, 3, 4, 6, 7, 9]
    assert nearest_indices(200, 128)[-1] == 198  # floor(127 * 1.5625) = floor(198.4375)


def test_resize_nearest_by_hand():
    frames = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    # rows [0, 2], cols [0, 2] -> [[0, 2], [8, 10]]
    assert resize_nearest(frames, (2, 2))[0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]
    small = np.array([[1.0, 2.0]], dtype=np.float32)  # (1, 2) -> (2, 4): each pixel doubled
    assert resize_nearest(small, (2, 4)).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2]]


@pytest.mark.parametrize(
    "in_hw, out_hw",
    [((200, 200), (128, 128)), ((200, 200), (64, 64)), ((200, 200), (120, 90)), ((20, 34), (7, 5)),
     ((5, 3), (8, 9)), ((7, 7), (7, 14)), ((346, 260), (128, 128))],
)
def test_resize_nearest_equals_torch_interpolate(in_hw, out_hw):
    torch = pytest.importorskip("torch")
    frames = np.random.default_rng(1).random((3, 2, *in_hw)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.from_numpy(frames), size=out_hw, mode="nearest")
    assert np.array_equal(resize_nearest(frames, out_hw), ref.numpy())


# --- ToFrames -------------------------------------------------------------------------------------


def test_toframes_matches_functions_and_spiking_fer_pipeline():
    sensor = (200, 200, 2)
    events = random_events(20_000, sensor)
    tf = ToFrames(sensor, 6, mode="spiking_fer", binarize=True, size=(128, 128))
    expected = resize_nearest(binarize(to_frames_spiking_fer(events, sensor, 6, 2500)), (128, 128))
    out = tf(events)
    assert out.shape == (6, 2, 128, 128) and out.dtype == np.float32
    assert np.array_equal(out, expected)
    assert np.array_equal(ToFrames(sensor, 5, mode="time_bins")(events),
                          tonic_frames(events, sensor, n_time_bins=5))
    assert np.array_equal(ToFrames(sensor, 5, mode="event_bins")(events),
                          tonic_frames(events, sensor, n_event_bins=5))
    assert np.array_equal(ToFrames(sensor, None, mode="event_count", event_count=3000)(events),
                          tonic_frames(events, sensor, event_count=3000))
    assert np.array_equal(ToFrames(sensor, None, mode="time_window", time_window=50_000)(events),
                          tonic_frames(events, sensor, time_window=50_000))


def test_toframes_is_frozen_and_keeps_no_state_between_calls():
    tf = ToFrames(SENSOR, 4, mode="time_bins")
    with pytest.raises(dataclasses.FrozenInstanceError):
        tf.n_time_bins = 5
    a, b = random_events(3000, seed=1), random_events(500, seed=2, t_max=10_000)
    first_b = ToFrames(SENSOR, 4, mode="time_bins")(b)
    tf(a)
    assert np.array_equal(tf(b), first_b)


# --- validation ---------------------------------------------------------------------------------


def test_bad_parameters_raise_naming_them():
    events = random_events(100)
    with pytest.raises(ValueError, match=r"n_time_bins.*0"):
        to_frames_time_bins(events, SENSOR, 0)
    with pytest.raises(ValueError, match=r"n_event_bins.*-2"):
        to_frames_event_bins(events, SENSOR, -2)
    with pytest.raises(ValueError, match=r"event_count.*0"):
        to_frames_event_count(events, SENSOR, 0)
    with pytest.raises(ValueError, match=r"time_window.*0"):
        to_frames_time_window(events, SENSOR, 0)
    with pytest.raises(ValueError, match=r"overlap.*1\.0"):
        to_frames_time_bins(events, SENSOR, 3, overlap=1.0)
    with pytest.raises(ValueError, match=r"overlap.*100"):
        to_frames_time_window(events, SENSOR, 100, overlap=100)
    with pytest.raises(ValueError, match=r"sensor_size\[2\].*1"):
        to_frames_time_bins(events, (34, 20, 1), 3)
    with pytest.raises(ValueError, match=r"mode.*'frames'"):
        ToFrames(SENSOR, 6, mode="frames")
    with pytest.raises(ValueError, match=r"n_time_bins.*0"):
        ToFrames(SENSOR, 0)
    with pytest.raises(ValueError, match=r"size"):
        ToFrames(SENSOR, 6, size=(0, 10))
    with pytest.raises(ValueError, match=r"fallback"):
        to_frames_spiking_fer(events, SENSOR, 6, 10, fallback="nearest")


def test_bad_events_raise_naming_field_and_value():
    events = random_events(100)
    outside = events.copy()
    outside["x"][7] = 34  # W = 34: valid x is 0..33
    with pytest.raises(ValueError, match=r"'x' = 34 at event 7"):
        to_frames_time_bins(outside, SENSOR, 3)
    negative = events.copy()
    negative["y"][3] = -1
    with pytest.raises(ValueError, match=r"'y' = -1 at event 3"):
        to_frames_event_bins(negative, SENSOR, 3)
    bad_p = events.copy()
    bad_p["p"][5] = -1
    with pytest.raises(ValueError, match=r"'p' must be 0 \(OFF\) or 1 \(ON\), got -1 at event 5"):
        to_frames_event_count(bad_p, SENSOR, 10)
    unsorted = events.copy()
    unsorted["t"][10] = unsorted["t"][11] + 5
    with pytest.raises(ValueError, match=r"'t' decreases at event 11"):
        to_frames_time_bins(unsorted, SENSOR, 3)
    with pytest.raises(ValueError, match=r"lack field"):
        to_frames_time_bins(np.zeros(3, dtype=[("t", "<i8"), ("x", "<i2")]), SENSOR, 3)


# --------------------------------------------------------------------------------------------
# resizing without sensor-sized frames
# --------------------------------------------------------------------------------------------

_REAL = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "real"


def test_resize_counts_only_the_selected_pixels_of_a_huge_sensor():
    """A 65536x65536 sensor (a damaged header's) binned to 48x48: frames of 48x48 only.

    nearest_indices(65536, 48) = floor(i * 1365.333...) in float32: rows/cols 0, 1365, 2730, ...
    (PyTorch's nearest rule); an event at (x=1365, y=2730) lands on output (row 2, col 1), one at
    x=1 is on no selected column and is dropped. Before this path the frames were allocated at
    2 x 65536 x 65536 float32 per frame (32 GiB)."""
    sensor = (65536, 65536, 2)
    ev = make_events([0, 1, 2, 3], [1365, 1, 1365, 0], [2730, 0, 2730, 65535], [1, 0, 0, 1])
    frames = ToFrames(sensor, 1, mode="event_bins", size=(48, 48))(ev)
    expected = np.zeros((1, 2, 48, 48), dtype=np.float32)
    expected[0, 1, 2, 1] = 1  # the ON event at (1365, 2730)
    expected[0, 0, 2, 1] = 1  # the OFF event at the same pixel
    # y = 65535 is not selected: the last selected row is floor(47 * 1365.333) = 64170
    assert frames.shape == (1, 2, 48, 48)
    assert np.array_equal(frames, expected)


@pytest.mark.parametrize("mode,kwargs", [("spiking_fer", {"event_count": 2500}),
                                         ("time_bins", {}), ("event_bins", {}),
                                         ("event_count", {"event_count": 5000}),
                                         ("time_window", {"time_window": 50_000.0})])
@pytest.mark.parametrize("name", ["davis346/davis346.aedat4", "prophesee/evt3_sample.raw"])
def test_resize_of_real_recordings_equals_tonic_then_torch_nearest(name, mode, kwargs):
    """Binned frames with a resize equal tonic's ToFrame at the sensor size followed by
    torch's nearest interpolation (the reference computed independently of this module), for a
    downsize, an upsize and a mixed one, binarised or not."""
    import torch

    from datasets.io.recording import read_recording

    if not (_REAL / name).is_file():
        pytest.skip(f"{_REAL / name} is absent (real artifacts live in ../shared/real)")
    rec = read_recording(_REAL / name)
    ev = rec.events[:60_000]
    w, h, _ = rec.sensor_size
    tonic_kwargs = {"spiking_fer": None, "time_bins": {"n_time_bins": 6},
                    "event_bins": {"n_event_bins": 6}, "event_count": {"event_count": 5000},
                    "time_window": {"time_window": 50_000.0}}[mode]
    if tonic_kwargs is None:  # Spiking-FER: the central 6 of N // 2500 frames of 2500 events
        full = tonic.transforms.ToFrame(sensor_size=rec.sensor_size, event_count=2500)(ev)
        gap = (full.shape[0] - 6) // 2
        full = full[gap:gap + 6]
    else:
        full = tonic.transforms.ToFrame(sensor_size=rec.sensor_size, **tonic_kwargs)(ev)
    full = torch.from_numpy(full.astype(np.float32))
    for size in [(48, 48), (h // 2 + 7, w // 3), (300, 400)]:  # (300, 400): DAVIS346 upsized
        for binar in (False, True):
            ref = full.gt(0).float() if binar else full
            ref = torch.nn.functional.interpolate(ref, size, mode="nearest").numpy()
            got = ToFrames(rec.sensor_size, 6, mode=mode, size=size, binarize=binar, **kwargs)(ev)
            assert got.dtype == np.float32 and got.shape == ref.shape, (size, binar)
            assert np.array_equal(got, ref), (size, binar)
