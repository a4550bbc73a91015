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
    SpatialJitter,
    TemporalJitter,
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


# --- what each corruption does, from independent values ------------------------------------------
#
# For six corruptions (event_drop, temporal_jitter, spatial_jitter, polarity_flip, slow_motion,
# fast_motion) ``reference`` is ``__call__`` (the module says so), so the bit-for-bit test above
# checks only their contract. The tests below check what every corruption does against the
# severity table's physical parameters: statistics of a large sample within 4 standard errors,
# and small cases worked out by hand.


def test_the_reference_is_the_fast_path_only_where_the_module_says_so():
    same = {n for n, s in CORRUPTIONS.items()
            if type(s.make(1, SENSOR)).reference is type(s.make(1, SENSOR)).__call__}
    assert same == {"event_drop", "temporal_jitter", "spatial_jitter", "polarity_flip",
                    "slow_motion", "fast_motion"}


def test_severity_table_values_and_units():
    # the physical parameters at severities 1..5 (docs/robustness and each spec's source)
    want = {
        "background_activity": (0.1, 0.5, 1.0, 2.0, 5.0),
        "hot_pixels": ((1, 100.0), (2, 300.0), (5, 1000.0), (10, 3000.0), (20, 10000.0)),
        "event_drop": (0.1, 0.2, 0.4, 0.6, 0.8),
        "drop_burst": (50, 100, 200, 300, 400),
        "temporal_jitter": (100, 500, 1000, 5000, 20000),
        "spatial_jitter": (0.5, 1.0, 1.5, 2.0, 3.0),
        "reduced_resolution": (2, 3, 4, 6, 8),
        "polarity_flip": (0.05, 0.1, 0.2, 0.3, 0.5),
        "slow_motion": (1.25, 1.5, 2.0, 3.0, 4.0),
        "fast_motion": (1.25, 1.5, 2.0, 3.0, 4.0),
        "bandwidth_limit": (4.0, 2.0, 1.0, 0.5, 0.25),
    }
    assert {n: s.values for n, s in CORRUPTIONS.items()} == want
    assert [get_corruption("drop_burst").value(s) for s in (1, 5)] == [50, 400]
    assert get_corruption("drop_burst").unit == "ms"
    assert get_corruption("background_activity").unit == "Hz per pixel"


def _split_added(original: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The events of ``out`` that are not ``original``'s, checking that ``original`` is kept as
    a subsequence of ``out`` (same records, same order)."""
    keep = np.ones(out.shape[0], dtype=bool)
    j = 0
    for e in original:
        while out[j] != e:
            j += 1
        keep[j] = False
        j += 1
    return out[keep]


def _within(observed: float, expected: float, sd: float, k: float = 4.0) -> bool:
    return abs(observed - expected) <= k * sd


SPAN = make_events([200_000, 700_000], [3, 30], [4, 15], [0, 1])  # a 0.5 s recording


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_background_activity_rate_in_hz_per_pixel(severity):
    rate = get_corruption("background_activity").value(severity)
    w, h = SENSOR[0], SENSOR[1]
    expected = rate * w * h * (700_000 - 200_000 + 1) / 1e6  # per sample: Hz x pixels x s
    counts = []
    for sample in range(30):
        out = corrupt_events(SPAN, "background_activity", severity, SENSOR, sample=sample)
        counts.append(_split_added(SPAN, out).shape[0])
    assert _within(np.mean(counts), expected, np.sqrt(expected / 30)), (np.mean(counts), expected)


def test_background_activity_is_uniform_over_pixels_polarity_and_span():
    from scipy.stats import chisquare

    tr = BackgroundActivity(20.0, SENSOR)  # 20 Hz x 680 px x 0.5 s = 6800 events
    added = _split_added(SPAN, tr(SPAN, np.random.default_rng(0)))
    m = added.shape[0]
    assert _within(m, 6800, np.sqrt(6800))
    assert added["t"].min() >= 200_000 and added["t"].max() <= 700_000
    assert chisquare(np.bincount(added["x"], minlength=34)).pvalue > 1e-4
    assert chisquare(np.bincount(added["y"], minlength=20)).pvalue > 1e-4
    assert np.bincount(added["x"], minlength=34).shape == (34,)  # no x outside the sensor
    assert np.bincount(added["y"], minlength=20).shape == (20,)
    assert chisquare(np.histogram(added["t"], bins=10, range=(200_000, 700_001))[0]).pvalue > 1e-4
    assert _within(added["p"].mean(), 0.5, 0.5 / np.sqrt(m))
    # x and y are drawn independently: no correlation
    assert abs(np.corrcoef(added["x"], added["y"])[0, 1]) < 4 / np.sqrt(m)


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_hot_pixels_count_and_rate(severity):
    count, rate = get_corruption("hot_pixels").value(severity)
    per_pixel = rate * (700_000 - 200_000 + 1) / 1e6  # events of one hot pixel in 0.5 s
    totals = []
    for sample in range(10):
        added = _split_added(SPAN, corrupt_events(SPAN, "hot_pixels", severity, SENSOR,
                                                  sample=sample))
        pix, n = np.unique(added["y"].astype(int) * 34 + added["x"], return_counts=True)
        assert pix.size == count  # exactly `count` distinct pixels, each firing ~per_pixel times
        totals.append(added.shape[0])
        assert added["t"].min() >= 200_000 and added["t"].max() <= 700_000
    expected = count * per_pixel
    assert _within(np.mean(totals), expected, np.sqrt(expected / 10)), (np.mean(totals), expected)


def test_hot_pixel_events_are_uniform_in_time_and_polarity():
    from scipy.stats import chisquare

    added = _split_added(SPAN, HotPixels(3, 4000.0, SENSOR)(SPAN, np.random.default_rng(1)))
    m = added.shape[0]  # 3 x 4000 Hz x 0.5 s = 6000
    assert _within(m, 6000, np.sqrt(6000))
    _, n = np.unique(added["y"].astype(int) * 34 + added["x"], return_counts=True)
    assert all(_within(k, 2000, np.sqrt(2000)) for k in n)  # each pixel at its own rate
    assert _within(added["p"].mean(), 0.5, 0.5 / np.sqrt(m))
    assert chisquare(np.histogram(added["t"], bins=10, range=(200_000, 700_001))[0]).pvalue > 1e-4
    # the pixels are drawn over the whole sensor: over many samples every row and column is hit
    pix = np.concatenate([HotPixels(20, 1.0, SENSOR)._pixels(np.random.default_rng(s))
                          for s in range(40)])
    assert set((pix % 34).tolist()) == set(range(34)) and set((pix // 34).tolist()) == set(range(20))


def _dense(n: int = 20_000, step: int = 50) -> np.ndarray:
    rng = np.random.default_rng(17)
    return make_events(np.arange(n) * step, rng.integers(0, 34, n), rng.integers(0, 20, n),
                       rng.integers(0, 2, n))


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_event_drop_fraction(severity):
    f = get_corruption("event_drop").value(severity)
    ev = _dense()
    out = corrupt_events(ev, "event_drop", severity, SENSOR)
    kept = out.shape[0] / ev.shape[0]
    assert _within(kept, 1 - f, np.sqrt(f * (1 - f) / ev.shape[0])), (kept, 1 - f)
    # the kept events are the originals (t is unique here), untouched and in order
    idx = out["t"] // 50
    np.testing.assert_array_equal(out, ev[idx])
    assert np.all(np.diff(idx) > 0)
    # uniform over the recording: each half loses the same fraction
    first = np.mean(idx < 10_000) * out.shape[0] / 10_000
    assert _within(first, 1 - f, np.sqrt(f * (1 - f) / 10_000))


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_drop_burst_window_length_and_start(severity):
    # a recording three windows long, one event per step = d / 500: every window of d us
    # holds exactly 500 events, wherever it starts
    d_us = get_corruption("drop_burst").value(severity) * 1000
    step = d_us // 500
    n = 3 * 500
    ev = make_events(np.arange(n) * step, np.zeros(n), np.zeros(n), np.ones(n))
    hi = (n - 1) * step - d_us  # the latest start: t_last - d
    starts = []
    for sample in range(200):
        out = corrupt_events(ev, "drop_burst", severity, SENSOR, sample=sample)
        assert out.shape[0] == n - 500
        gaps = np.diff(out["t"])
        if gaps.max() > step:  # the window lies inside the recording: one gap of d + step
            assert gaps.max() == d_us + step and (gaps > step).sum() == 1
            starts.append(int(out["t"][np.argmax(gaps)]) + step)  # first dropped event
        else:  # the first or the last 500 events are gone
            starts.append(0 if out["t"][0] == d_us else hi)
    # the start is uniform in [t_first, t_last - d]: it reaches both ends, mean hi / 2
    assert min(starts) >= 0 and max(starts) <= hi
    assert min(starts) < 0.05 * hi and max(starts) > 0.95 * hi
    assert _within(np.mean(starts), hi / 2, hi / np.sqrt(12 * 200))


def _identified(n: int, t_mid: int, t_end: int) -> np.ndarray:
    """``n`` events at ``t_mid`` told apart by ``x = 0..n-1`` (y = 1), between two events at
    ``0`` and ``t_end`` (y = 0) that set the recording span."""
    t = np.r_[0, np.full(n, t_mid), t_end]
    x = np.r_[0, np.arange(n), 0]
    y = np.r_[0, np.ones(n, dtype=int), 0]
    p = np.r_[0, np.arange(n) % 2, 1]
    return make_events(t, x, y, p)


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_temporal_jitter_offsets_have_the_severity_sigma(severity):
    from scipy.stats import norm

    sigma = get_corruption("temporal_jitter").value(severity)
    n = 20_000
    ev = _identified(n, 5_000_000, 10_000_000)
    out = corrupt_events(ev, "temporal_jitter", severity, (32_000, 2, 2))
    assert out.shape == ev.shape and np.all(np.diff(out["t"]) >= 0)
    mid = out[out["y"] == 1]
    mid = mid[np.argsort(mid["x"])]
    np.testing.assert_array_equal(mid["x"], np.arange(n))  # every event kept, x, y, p intact
    np.testing.assert_array_equal(mid["p"], np.arange(n) % 2)
    d = mid["t"].astype(float) - 5_000_000
    assert np.all(d == np.round(d))
    sd = np.sqrt(sigma**2 + 1 / 12)  # rounding to whole us adds 1/12 us^2
    assert _within(d.mean(), 0.0, sd / np.sqrt(n))
    assert d.std() == pytest.approx(sd, rel=4 / np.sqrt(2 * n))
    # Gaussian: the share within one sigma is 68.27 %
    inside = np.mean(np.abs(d) <= sigma)
    p1 = norm.cdf(1) - norm.cdf(-1)
    assert _within(inside, p1, np.sqrt(p1 * (1 - p1) / n))


def test_temporal_jitter_clips_into_the_span_by_hand():
    # sigma 1 s on a 10 us recording: almost every shifted time leaves [0, 10] and is clipped
    ev = _identified(2000, 5, 10)
    out = TemporalJitter(1e6)(ev, np.random.default_rng(0))
    assert out["t"].min() == 0 and out["t"].max() == 10
    assert np.mean((out["t"] == 0) | (out["t"] == 10)) > 0.99
    assert _within(np.mean(out["t"] == 0), 0.5, 0.5 / np.sqrt(2002))
    # stable: events with equal shifted times keep their input order
    zero = out[(out["t"] == 0) & (out["y"] == 1)]
    assert np.all(np.diff(zero["x"]) > 0)
    # sigma 0: nothing moves
    same = TemporalJitter(0.0)(_dense(), np.random.default_rng(0))
    np.testing.assert_array_equal(same, _dense())


def _rounded_normal_pmf(k: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.stats import norm

    return norm.cdf((k + 0.5) / sigma) - norm.cdf((k - 0.5) / sigma)


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_spatial_jitter_offsets_follow_the_rounded_gaussian(severity):
    from scipy.stats import chisquare

    sigma = get_corruption("spatial_jitter").value(severity)
    sensor = (400, 300, 2)
    n = 20_000
    ev = make_events(np.arange(n), np.full(n, 200), np.full(n, 150), np.arange(n) % 2)
    out = corrupt_events(ev, "spatial_jitter", severity, sensor)
    np.testing.assert_array_equal(out["t"], ev["t"])  # order, times and polarities kept
    np.testing.assert_array_equal(out["p"], ev["p"])
    dx = out["x"].astype(int) - 200
    dy = out["y"].astype(int) - 150
    # P(round(N(0, sigma)) = k) for |k| <= K = ceil(2 sigma), and the two tails beyond
    from scipy.stats import norm

    big = int(np.ceil(2 * sigma))
    k = np.arange(-big, big + 1)
    tail = norm.cdf((-big - 0.5) / sigma)
    pmf = np.r_[tail, _rounded_normal_pmf(k, sigma), tail]
    assert pmf.sum() == pytest.approx(1.0)
    for d in (dx, dy):
        assert np.abs(d).max() <= 7 * sigma + 1
        observed = np.r_[(d < -big).sum(), [(d == v).sum() for v in k], (d > big).sum()]
        assert chisquare(observed, pmf * n).pvalue > 1e-4, (severity, observed)
    # the two offsets are independent draws (not one offset applied to both axes)
    assert abs(np.corrcoef(dx, dy)[0, 1]) < 4 / np.sqrt(n)
    assert np.mean(dx == dy) < 0.5 * (1 + _rounded_normal_pmf(np.zeros(1), sigma)[0])


def test_spatial_jitter_clips_each_axis_to_its_own_size():
    # x at W - 1 = 399 and y at 0 on a 400 x 300 sensor: x' = 399 when round(dx) >= 0,
    # y' = 0 when round(dy) <= 0: each with probability Phi(0.5 / sigma)
    from scipy.stats import norm

    n = 20_000
    ev = make_events(np.arange(n), np.full(n, 399), np.zeros(n), np.ones(n))
    out = SpatialJitter(2.0, (400, 300, 2))(ev, np.random.default_rng(3))
    assert out["x"].max() == 399 and out["x"].min() > 380 and out["y"].min() == 0
    p_edge = norm.cdf(0.25)
    assert _within(np.mean(out["x"] == 399), p_edge, np.sqrt(p_edge * (1 - p_edge) / n))
    assert _within(np.mean(out["y"] == 0), p_edge, np.sqrt(p_edge * (1 - p_edge) / n))
    # a y near H - 1 is clipped to H - 1 = 299, not to W - 1
    up = make_events(np.arange(n), np.full(n, 10), np.full(n, 299), np.ones(n))
    assert SpatialJitter(2.0, (400, 300, 2))(up, np.random.default_rng(3))["y"].max() == 299


def test_reduced_resolution_each_factor_by_hand():
    # block centre (v // f) * f + (f - 1) // 2, clipped to size - 1; W = 34, H = 20
    x = [0, 1, 2, 3, 5, 6, 7, 8, 11, 12, 15, 16, 23, 24, 31, 32, 33]
    y = [0, 1, 2, 3, 5, 6, 7, 8, 11, 12, 15, 16, 17, 18, 19, 19, 19]
    ev = make_events(np.arange(17), x, y, np.arange(17) % 2)
    want = {
        # f = 2: centre 2k + 0
        1: ([0, 0, 2, 2, 4, 6, 6, 8, 10, 12, 14, 16, 22, 24, 30, 32, 32],
            [0, 0, 2, 2, 4, 6, 6, 8, 10, 12, 14, 16, 16, 18, 18, 18, 18]),
        # f = 3: centre 3k + 1; x 33 -> 34 clipped to 33, y 18, 19 -> 19
        2: ([1, 1, 1, 4, 4, 7, 7, 7, 10, 13, 16, 16, 22, 25, 31, 31, 33],
            [1, 1, 1, 4, 4, 7, 7, 7, 10, 13, 16, 16, 16, 19, 19, 19, 19]),
        # f = 4: centre 4k + 1
        3: ([1, 1, 1, 1, 5, 5, 5, 9, 9, 13, 13, 17, 21, 25, 29, 33, 33],
            [1, 1, 1, 1, 5, 5, 5, 9, 9, 13, 13, 17, 17, 17, 17, 17, 17]),
        # f = 6: centre 6k + 2; x 30..33 -> 32, y 18, 19 -> 20 clipped to 19
        4: ([2, 2, 2, 2, 2, 8, 8, 8, 8, 14, 14, 14, 20, 26, 32, 32, 32],
            [2, 2, 2, 2, 2, 8, 8, 8, 8, 14, 14, 14, 14, 19, 19, 19, 19]),
        # f = 8: centre 8k + 3; x 32, 33 -> 35 clipped to 33, y 16..19 -> 19
        5: ([3, 3, 3, 3, 3, 3, 3, 11, 11, 11, 11, 19, 19, 27, 27, 33, 33],
            [3, 3, 3, 3, 3, 3, 3, 11, 11, 11, 11, 19, 19, 19, 19, 19, 19]),
    }
    for severity, (wx, wy) in want.items():
        for ref in (False, True):
            out = corrupt_events(ev, "reduced_resolution", severity, SENSOR, reference=ref)
            assert out["x"].tolist() == wx, (severity, ref)
            assert out["y"].tolist() == wy, (severity, ref)
            np.testing.assert_array_equal(out["t"], ev["t"])
            np.testing.assert_array_equal(out["p"], ev["p"])


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_polarity_flip_fraction(severity):
    f = get_corruption("polarity_flip").value(severity)
    ev = _dense()
    out = corrupt_events(ev, "polarity_flip", severity, SENSOR)
    for field in "txy":
        np.testing.assert_array_equal(out[field], ev[field])
    assert set(np.unique(out["p"]).tolist()) <= {0, 1}
    flipped = out["p"] != ev["p"]
    for start in (0, 1):  # ON -> OFF and OFF -> ON at the same rate
        m = ev["p"] == start
        assert _within(flipped[m].mean(), f, np.sqrt(f * (1 - f) / m.sum())), (start, f)


# t - t_first = 0, 1, 3, 10, 999 us; t' - t_first = floor((t - t_first) * slowdown)
_PLAYBACK_BY_HAND = {
    ("slow_motion", 1): [0, 1, 3, 12, 1248],  # x 5/4: 999 * 5 / 4 = 1248.75
    ("slow_motion", 2): [0, 1, 4, 15, 1498],  # x 3/2: 4.5 -> 4, 1498.5 -> 1498
    ("slow_motion", 3): [0, 2, 6, 20, 1998],
    ("slow_motion", 4): [0, 3, 9, 30, 2997],
    ("slow_motion", 5): [0, 4, 12, 40, 3996],
    ("fast_motion", 1): [0, 0, 2, 8, 799],  # x 4/5: 0.8, 2.4, 8, 799.2
    ("fast_motion", 2): [0, 0, 2, 6, 666],  # x 2/3: 0.67, 2, 6.67, 666
    ("fast_motion", 3): [0, 0, 1, 5, 499],
    ("fast_motion", 4): [0, 0, 1, 3, 333],
    ("fast_motion", 5): [0, 0, 0, 2, 249],  # x 1/4: 0.25, 0.75, 2.5, 249.75
}


@pytest.mark.parametrize("name, severity", sorted(_PLAYBACK_BY_HAND))
def test_playback_speed_scales_time_exactly(name, severity):
    ev = make_events([1000, 1001, 1003, 1010, 1999], [1, 2, 3, 4, 5], [5, 4, 3, 2, 1],
                     [0, 1, 0, 1, 1])
    out = corrupt_events(ev, name, severity, SENSOR)
    assert (out["t"] - 1000).tolist() == _PLAYBACK_BY_HAND[(name, severity)]
    for field in "xyp":
        np.testing.assert_array_equal(out[field], ev[field])


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_bandwidth_limit_events_per_second_by_hand(severity):
    # the limit is v events/s per pixel x 680 pixels: 2720, 1360, 680, 340, 170 ev/s.
    # window = max(1000, ceil(1e6 / rate)) us, cap = floor(rate x window / 1e6):
    #   2720 -> 1000 us, cap 2; 1360 -> 1000 us, 1; 680 -> 1471 us, 1; 340 -> 2942 us, 1;
    #   170 -> 5883 us, 1
    window, cap = {1: (1000, 2), 2: (1000, 1), 3: (1471, 1), 4: (2942, 1), 5: (5883, 1)}[severity]
    ev = _dense(10_000, step=10)  # one event per 10 us: 100,000 ev/s, far above every limit
    out = corrupt_events(ev, "bandwidth_limit", severity, SENSOR)
    # window k covers [k window, (k + 1) window): the first `cap` events from its start, at
    # t = 10 ceil(k window / 10) + 10 j, j < cap
    n_windows = 99_990 // window + 1
    want = [10 * -(-k * window // 10) + 10 * j for k in range(n_windows) for j in range(cap)]
    assert out["t"].tolist() == want
    np.testing.assert_array_equal(out, ev[out["t"] // 10])
    # the kept rate is cap per window: at most the nominal limit
    rate = {1: 2720, 2: 1360, 3: 680, 4: 340, 5: 170}[severity]
    assert out.shape[0] / 0.1 <= rate * 1.001
    # a stream under the limit loses nothing
    sparse = make_events(np.arange(0, 1_000_000, 6000), np.zeros(167), np.zeros(167), np.ones(167))
    np.testing.assert_array_equal(corrupt_events(sparse, "bandwidth_limit", severity, SENSOR), sparse)


# --- frame forms against the severity's parameters ---------------------------------------------


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_frame_forms_of_drop_and_flip_follow_the_severity(severity):
    frames = np.full((4, 2, 20, 34), 25, dtype=np.int64)
    cells = frames.size
    f = get_corruption("event_drop").value(severity)
    out = corrupt_frames(frames, "event_drop", severity, SENSOR, 10_000)
    # Binomial(25, 1 - f) per cell: mean 25 (1 - f), variance 25 f (1 - f)
    assert _within(out.mean(), 25 * (1 - f), np.sqrt(25 * f * (1 - f) / cells))
    assert out.var() == pytest.approx(25 * f * (1 - f), rel=0.15)
    g = get_corruption("polarity_flip").value(severity)
    on_only = np.zeros((4, 2, 20, 34), dtype=np.int64)
    on_only[:, 1] = 25
    flipped = corrupt_frames(on_only, "polarity_flip", severity, SENSOR, 10_000)
    np.testing.assert_array_equal(flipped.sum(1), on_only.sum(1))
    moved = flipped[:, 0]
    assert _within(moved.mean(), 25 * g, np.sqrt(25 * g * (1 - g) / moved.size))


def test_drop_burst_frame_form_zeroes_the_bins_in_one_window():
    # 40 bins of 10 ms; severity 3 = 200 ms: the bins whose centre lies in [s, s + 200 ms)
    # are 20 consecutive bins (the window is a whole number of bins)
    frames = np.ones((40, 2, 3, 4), dtype=np.int64)
    zeroed = []
    for sample in range(30):
        out = corrupt_frames(frames, "drop_burst", 3, SENSOR, 10_000, sample=sample)
        empty = np.flatnonzero(out.sum(axis=(1, 2, 3)) == 0)
        assert empty.size == 20 and np.all(np.diff(empty) == 1)
        np.testing.assert_array_equal(np.delete(out, empty, axis=0), np.delete(frames, empty, axis=0))
        zeroed.append(int(empty[0]))
    # s uniform in [0, 400 ms - 1 - 200 ms]: the first zeroed bin ranges over 0..20
    assert min(zeroed) <= 2 and max(zeroed) >= 18


def test_hot_pixels_and_background_frame_forms_rates():
    # background 5 Hz per pixel, 2 channels, 50 ms bins: Poisson(2.5 x 0.05) per channel
    zeros = np.zeros((40, 2, 20, 34), dtype=np.int64)
    bg = corrupt_frames(zeros, "background_activity", 5, SENSOR, 50_000)
    per = 5.0 / 2 * 0.05
    assert _within(bg[:, 0].mean(), per, np.sqrt(per / bg[:, 0].size))
    assert _within(bg[:, 1].mean(), per, np.sqrt(per / bg[:, 1].size))
    # hot pixels severity 4: 10 pixels at 3 kHz; 2 ms bins -> Poisson(6) per pixel and bin,
    # split evenly between OFF and ON
    hot = corrupt_frames(zeros, "hot_pixels", 4, SENSOR, 2000)
    per_pixel = hot.sum(axis=(0, 1))
    assert int((per_pixel > 0).sum()) == 10
    total = int(hot.sum())
    assert _within(total, 10 * 40 * 6, np.sqrt(10 * 40 * 6))
    assert _within(hot[:, 1].sum() / total, 0.5, 0.5 / np.sqrt(total))
