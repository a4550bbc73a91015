"""Speed of datasets.transforms.binning against tonic.transforms.ToFrame (tonic 1.7.0), and a
pytest-benchmark regression baseline.

Run: ``python -m pytest -q -m perf --benchmark-enable tests/perf/test_perf_binning.py -s``.

Both sides are timed in the same process, alternately, on the same 1e6 random events over a
200x200 sensor (time.perf_counter, one warm-up call each, then the median of REPEATS calls
each), so the *ratio* is robust on a noisy shared machine even when absolute times are not.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
import tonic

from datasets.io.events import make_events
from datasets.transforms.binning import (
    ToFrames,
    to_frames_event_bins,
    to_frames_event_count,
    to_frames_spiking_fer,
    to_frames_time_bins,
    to_frames_time_window,
)

pytestmark = pytest.mark.perf

N_EVENTS = 1_000_000
SENSOR = (200, 200, 2)
DURATION_US = 2_000_000
REPEATS = 7
MIN_RATIO = 5.0
# 400 frames of 2500 events: the float32 output alone is 400 x 2 x 200 x 200 x 4 B = 128 MB, twice
# tonic's int16 frames, and writing it is most of our time; this case is gated more loosely.
MIN_RATIO_MANY_FRAMES = 2.0


@pytest.fixture(scope="module")
def events() -> np.ndarray:
    rng = np.random.default_rng(0)
    return make_events(
        np.sort(rng.integers(0, DURATION_US, N_EVENTS)),
        rng.integers(0, SENSOR[0], N_EVENTS),
        rng.integers(0, SENSOR[1], N_EVENTS),
        rng.integers(0, 2, N_EVENTS),
    )


def _median_times(fa, fb, repeats: int = REPEATS) -> tuple[float, float]:
    """Warm up each, then time them alternately; return the two medians in seconds."""
    fa()
    fb()
    ta, tb = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fa()
        ta.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fb()
        tb.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


CASES = [
    # (id, tonic ToFrame kwargs, our function, minimum ratio)
    ("n_time_bins=6", dict(n_time_bins=6), lambda ev: to_frames_time_bins(ev, SENSOR, 6), MIN_RATIO),
    ("n_event_bins=6", dict(n_event_bins=6), lambda ev: to_frames_event_bins(ev, SENSOR, 6),
     MIN_RATIO),
    ("event_count=100000", dict(event_count=100_000),
     lambda ev: to_frames_event_count(ev, SENSOR, 100_000), MIN_RATIO),
    ("time_window=200ms", dict(time_window=200_000),
     lambda ev: to_frames_time_window(ev, SENSOR, 200_000), MIN_RATIO),
    ("event_count=2500", dict(event_count=2500),
     lambda ev: to_frames_event_count(ev, SENSOR, 2500), MIN_RATIO_MANY_FRAMES),
]


@pytest.mark.parametrize("tonic_kwargs, ours, min_ratio", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_speed_ratio_to_tonic(events, tonic_kwargs, ours, min_ratio):
    ref = tonic.transforms.ToFrame(sensor_size=SENSOR, **tonic_kwargs)
    assert np.array_equal(ours(events), ref(events).astype(np.float32))  # same result first
    t_tonic, t_ours = _median_times(lambda: ref(events), lambda: ours(events))
    ratio = t_tonic / t_ours
    print(
        f"\nbinning {tonic_kwargs}: tonic {t_tonic * 1e3:.1f} ms "
        f"({N_EVENTS / t_tonic / 1e6:.1f} M ev/s), ours {t_ours * 1e3:.1f} ms "
        f"({N_EVENTS / t_ours / 1e6:.1f} M ev/s), ratio {ratio:.1f}x"
    )
    assert ratio >= min_ratio, f"speed ratio to tonic {ratio:.2f} < {min_ratio}"


def test_spiking_fer_speed_ratio_to_upstream_rule(events):
    """Spiking-FER's CustomToFrame bins all 400 event-count frames with tonic and slices the
    central 6; we compute only those 6."""
    ref = tonic.transforms.ToFrame(sensor_size=SENSOR, event_count=2500)

    def upstream():
        frames = ref(events)
        gap = int((frames.shape[0] - 6) / 2)
        return frames[gap : gap + 6]

    assert np.array_equal(to_frames_spiking_fer(events, SENSOR), upstream().astype(np.float32))
    t_up, t_ours = _median_times(upstream, lambda: to_frames_spiking_fer(events, SENSOR))
    print(f"\nspiking_fer binning: upstream rule via tonic {t_up * 1e3:.1f} ms, "
          f"ours {t_ours * 1e3:.2f} ms, ratio {t_up / t_ours:.0f}x")
    assert t_up / t_ours >= MIN_RATIO


def test_benchmark_toframes_time_bins(benchmark, events):
    """Regression baseline of the default fixed-T binning (compare with --benchmark-compare)."""
    transform = ToFrames(SENSOR, 6, mode="time_bins")
    frames = benchmark(transform, events)
    assert frames.shape == (6, 2, 200, 200)


def test_benchmark_toframes_spiking_fer(benchmark, events):
    """Regression baseline of the Spiking-FER sample transform (binarised, resized to 128x128)."""
    transform = ToFrames(SENSOR, 6, mode="spiking_fer", binarize=True, size=(128, 128))
    frames = benchmark(transform, events)
    assert frames.shape == (6, 2, 128, 128)
