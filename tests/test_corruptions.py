"""Tests of datasets.transforms.corruptions: the event corruptions, their fast paths (bit-identical
to the numpy references for the same draws), their frame forms and the severity table."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.common import UnknownNameError
from datasets.io.events import EVENTS_DTYPE, make_events
from datasets.transforms.corruptions import (
    CORRUPTIONS,
    BackgroundActivity,
    BandwidthLimit,
    DropBurst,
    HotPixels,
    PlaybackSpeed,
    ReduceResolution,
    SeverityError,
    corrupt_events,
    corrupt_frames,
    corruption_rng,
    frame_skip_reason,
    get_corruption,
)

SENSOR = (34, 20, 2)


def random_events(n: int, sensor=SENSOR, t_max: int = 1_000_000, seed: int = 0, t_start: int = 0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(t_start, t_start + t_max, n))
    return make_events(t, rng.integers(0, sensor[0], n), rng.integers(0, sensor[1], n),
                       rng.integers(0, 2, n))


CASES = {
    "random": random_events(5000, seed=1),
    "ties": random_events(3000, t_max=40, seed=2),  # ~75 events per microsecond
    "late": random_events(2000, seed=3, t_start=123_456_789),
    "one": make_events([5], [33], [19], [1]),
    "empty": make_events([], [], [], []),
}


def count_frames(events: np.ndarray, sensor, n_bins: int, bin_us: int) -> np.ndarray:
    """Independent count binning: bins [i bin_us, (i+1) bin_us) from t = 0."""
    w, h = sensor[0], sensor[1]
    out = np.zeros((n_bins, 2, h, w))
    for e in events:
        b = int(e["t"]) // bin_us
        if b < n_bins:
            out[b, int(e["p"]), int(e["y"]), int(e["x"])] += 1
    return out


# --- contract: dtype, order, sensor, determinism, fast == reference -----------------------------


@pytest.mark.parametrize("name", list(CORRUPTIONS))
@pytest.mark.parametrize("severity", [1, 3, 5])
@pytest.mark.parametrize("case", list(CASES))
def test_fast_path_equals_reference_bit_for_bit(name, severity, case):
    events = CASES[case]
    before = events.copy()
    for seed in range(6):
        r_ref, r_new = corruption_rng(seed, 7, name, severity), corruption_rng(seed, 7, name, severity)
        spec = get_corruption(name)
        tr = spec.make(severity, SENSOR)
        want = tr.reference(events, r_ref)
        got = tr(events, r_new)
        assert got.dtype == want.dtype == EVENTS_DTYPE
        np.testing.assert_array_equal(got, want, err_msg=f"{name} s{severity} seed {seed}")
        assert r_new.bit_generator.state == r_ref.bit_generator.state  # same draws, same order
        if got.shape[0]:
            assert np.all(np.diff(got["t"]) >= 0)
            assert got["x"].min() >= 0 and got["x"].max() < SENSOR[0]
            assert got["y"].min() >= 0 and got["y"].max() < SENSOR[1]
            assert set(np.unique(got["p"]).tolist()) <= {0, 1}
    np.testing.assert_array_equal(events, before)  # input untouched


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_deterministic_per_seed_sample_and_severity(name):
    ev = CASES["random"]
    a = corrupt_events(ev, name, 3, SENSOR, seed=1, sample=4)
    b = corrupt_events(ev, name, 3, SENSOR, seed=1, sample=4)
    np.testing.assert_array_equal(a, b)
    s1 = corrupt_events(ev, name, 1, SENSOR, seed=1, sample=4)
    s5 = corrupt_events(ev, name, 5, SENSOR, seed=1, sample=4)
    assert not np.array_equal(s1, s5), "severity 1 and 5 give the same events"
    assert not np.array_equal(a, ev), "the corruption changed nothing"


def test_random_corruptions_depend_on_seed_and_sample():
    ev = CASES["random"]
    a = corrupt_events(ev, "event_drop", 2, SENSOR, seed=0, sample=0)
    assert not np.array_equal(a, corrupt_events(ev, "event_drop", 2, SENSOR, seed=1, sample=0))
    assert not np.array_equal(a, corrupt_events(ev, "event_drop", 2, SENSOR, seed=0, sample=1))


# --- values worked out by hand ----------------------------------------------------------------


def test_bandwidth_limit_by_hand():
    # 2000 ev/s -> window max(1000, 500) = 1000 us, cap 2 events per window (aligned on t = 10)
    ev = make_events([10, 11, 12, 500, 1009, 1010, 1011, 1012, 2500], [0] * 9, [0] * 9, [1] * 9)
    out = BandwidthLimit(2000.0)(ev)
    assert out["t"].tolist() == [10, 11, 1010, 1011, 2500]
    # 100 ev/s -> window 10 ms, cap 1
    assert BandwidthLimit(100.0)(ev)["t"].tolist() == [10]


def test_reduced_resolution_by_hand():
    ev = make_events([0, 1, 2, 3], [0, 3, 4, 33], [5, 1, 19, 0], [1, 0, 1, 0])
    out = ReduceResolution(4, SENSOR)(ev)
    # block centre (x // 4) * 4 + 1, clipped to W - 1 = 33, H - 1 = 19
    assert out["x"].tolist() == [1, 1, 5, 33]
    assert out["y"].tolist() == [5, 1, 17, 1]


def test_playback_speed_by_hand():
    ev = make_events([100, 101, 103, 110], [0] * 4, [0] * 4, [0] * 4)
    assert PlaybackSpeed(2.0)(ev)["t"].tolist() == [100, 102, 106, 120]
    assert PlaybackSpeed(1 / 3)(ev)["t"].tolist() == [100, 100, 101, 103]


def test_drop_burst_removes_one_window_of_the_duration():
    ev = make_events(np.arange(0, 1_000_000, 100), np.zeros(10_000), np.zeros(10_000), np.ones(10_000))
    for seed in range(10):
        out = DropBurst(200_000)(ev, np.random.default_rng(seed))
        assert out.shape[0] == 10_000 - 2000  # 200 ms of one event per 100 us
        gap = np.diff(out["t"]).max()
        assert gap == 200_100


def test_background_activity_rate_and_uniformity():
    ev = make_events([0, 999_999], [0, 0], [0, 0], [0, 1])  # a 1 s span
    n = [BackgroundActivity(2.0, SENSOR)(ev, np.random.default_rng(s)).shape[0] - 2 for s in range(40)]
    expected = 2.0 * 34 * 20 * 1.0  # 1360 per run
    assert abs(np.mean(n) - expected) < 4 * np.sqrt(expected / 40)


def test_hot_pixels_fire_on_exactly_count_new_pixels():
    ev = make_events([0, 999_999], [0, 0], [0, 0], [0, 1])
    out = HotPixels(5, 1000.0, SENSOR)(ev, np.random.default_rng(3))
    xy, n = np.unique(out["y"].astype(int) * 34 + out["x"], return_counts=True)
    assert (n > 500).sum() == 5  # ~1000 events each; the two recorded events are at (0, 0)
    assert set(xy[n <= 500].tolist()) <= {0}
    assert abs(out.shape[0] - 2 - 5000) < 5 * np.sqrt(5000)


# --- frame forms --------------------------------------------------------------------------------


def test_reduced_resolution_frame_form_equals_binning_the_corrupted_events():
    ev = random_events(3000, t_max=40_000, seed=9)
    frames = count_frames(ev, SENSOR, 4, 10_000)
    for f in (2, 3, 4):
        want = count_frames(ReduceResolution(f, SENSOR)(ev), SENSOR, 4, 10_000)
        np.testing.assert_array_equal(corrupt_frames(frames, "reduced_resolution", [1, 2, 3][f - 2],
                                                     SENSOR, 10_000), want)


def test_event_drop_frame_form_thins_counts():
    frames = np.full((3, 2, 20, 34), 10.0)
    out = corrupt_frames(frames, "event_drop", 3, SENSOR, 33_000)  # fraction 0.4
    assert np.all(out <= frames) and out.dtype == frames.dtype
    assert abs(out.mean() - 6.0) < 0.2


def test_polarity_flip_frame_form_keeps_totals():
    frames = np.zeros((2, 2, 20, 34))
    frames[:, 1] = 20
    out = corrupt_frames(frames, "polarity_flip", 5, SENSOR, 33_000)  # fraction 0.5
    np.testing.assert_array_equal(out.sum(1), frames.sum(1))
    assert abs(out[:, 0].mean() - 10) < 0.5


def test_background_activity_frame_form_rate():
    frames = np.zeros((30, 2, 20, 34))
    out = corrupt_frames(frames, "background_activity", 5, SENSOR, 100_000)  # 5 Hz, 0.1 s bins
    assert abs(out.sum() / (30 * 0.1 * 34 * 20) - 5.0) < 0.3


def test_frame_skip_reasons():
    have = {n for n, s in CORRUPTIONS.items() if s.frame_skip_reason is None}
    assert have == {"background_activity", "hot_pixels", "event_drop", "drop_burst",
                    "reduced_resolution", "polarity_flip"}
    assert "timing" in frame_skip_reason("temporal_jitter")
    with pytest.raises(ValueError, match="no frame form"):
        corrupt_frames(np.zeros((1, 2, 20, 34)), "bandwidth_limit", 1, SENSOR, 1000)
    with pytest.raises(ValueError, match="integer"):
        corrupt_frames(np.full((1, 2, 20, 34), 0.5), "event_drop", 1, SENSOR, 1000)


def test_polarity_free_frame_forms():
    # one channel (NEFER's binary frames): background activity at the full per-pixel rate
    one = corrupt_frames(np.zeros((30, 1, 20, 34)), "background_activity", 5, SENSOR, 100_000)
    assert one.shape == (30, 1, 20, 34)
    assert abs(one.sum() / (30 * 0.1 * 34 * 20) - 5.0) < 0.3  # 5 Hz x 0.1 s x 680 px x 30 bins
    # hot pixels: 20 pixels at 10 kHz, 1 ms bins -> Poisson(10) each per bin, all in channel 0
    hot = corrupt_frames(np.zeros((50, 1, 20, 34), dtype=np.int64), "hot_pixels", 5, SENSOR, 1000)
    assert int((hot.sum(axis=0) > 0).sum()) == 20
    assert abs(hot.sum() / (50 * 20) - 10.0) < 0.5
    with pytest.raises(ValueError, match=r"\(T, 2, H, W\)"):
        corrupt_frames(np.zeros((2, 1, 20, 34)), "polarity_flip", 1, SENSOR, 1000)
    with pytest.raises(ValueError, match="shape"):
        corrupt_frames(np.zeros((2, 3, 20, 34)), "event_drop", 1, SENSOR, 1000)


def test_frame_dataset_skip_reasons():
    from datasets.transforms.corruptions import frame_dataset_skip_reason as why

    applies = {n for n in CORRUPTIONS if why(n, channels=2, frame_us=33_000.0) is None}
    assert applies == {"background_activity", "hot_pixels", "event_drop", "drop_burst",
                       "reduced_resolution", "polarity_flip"}
    # polarity-free frames of unknown duration (NEFER): only the time-free, polarity-free forms
    assert {n for n in CORRUPTIONS if why(n, channels=1, frame_us=None) is None} == {
        "event_drop", "reduced_resolution"}
    assert "polarity-free" in why("polarity_flip", channels=1, frame_us=1000.0)
    assert "how long" in why("drop_burst", channels=2, frame_us=None)
    assert "timing" in why("temporal_jitter", channels=2, frame_us=1000.0)


# --- table and bad input -------------------------------------------------------------------------


def test_table_has_five_severities_with_a_source_each():
    for name, spec in CORRUPTIONS.items():
        assert len(spec.values) == 5 and spec.source and spec.unit, name


def test_unknown_corruption_suggests_close_match():
    with pytest.raises(UnknownNameError, match="did you mean 'event_drop'"):
        get_corruption("event_dropp")


@pytest.mark.parametrize("bad", [0, 6, -1, 2.5, "3", None])
def test_severity_outside_1_to_5_is_an_error(bad):
    with pytest.raises(SeverityError, match="outside 1-5"):
        corrupt_events(CASES["random"], "event_drop", bad, SENSOR)
