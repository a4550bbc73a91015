"""Tests of datasets.transforms.augment: the Spiking-FER event data augmentations, seeded and stateless.

References: hand-worked examples (in comments), tonic 1.7.0's transforms where their semantics
agree (flip, time reversal, whole-sample polarity flip), torch's nearest interpolation for the
crop, and datasets.io.events.validate_events for the record contract.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest
import tonic

from datasets.io.events import EVENTS_DTYPE, make_events, validate_events
from datasets.transforms.augment import (
    BACKGROUND_ACTIVITY_FRACTIONS,
    BackgroundActivityNoise,
    Compose,
    DropEvent,
    DropEventByArea,
    DropEventByTime,
    EventDrop,
    RandomFaceMirror,
    RandomFaceMirrorEvents,
    RandomFlipLR,
    RandomFlipPolarity,
    RandomResizedCrop,
    RandomTimeReversal,
    background_activity,
    drop_by_area,
    drop_by_time,
    drop_random,
    flip_lr,
    flip_polarity,
    make_rng,
    mirror_events,
    mirror_frames,
    random_resized_crop_params,
    resized_crop,
    spiking_fer_augmentations,
    time_reversal,
)
from datasets.transforms.binning import ToFrames, to_frames_event_bins

SENSOR = (34, 20, 2)


def random_events(n: int, sensor=SENSOR, t_max: int = 1_000_000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(
        np.sort(rng.integers(0, t_max, n)),
        rng.integers(0, sensor[0], n),
        rng.integers(0, sensor[1], n),
        rng.integers(0, 2, n),
    )


def as_counter(events: np.ndarray) -> Counter:
    return Counter(map(tuple, np.stack([events[f].astype(np.int64) for f in "txyp"], axis=1).tolist()))


def is_sub_multiset(small: np.ndarray, big: np.ndarray) -> bool:
    return not (as_counter(small) - as_counter(big))


# --- contract of every event transform -----------------------------------------------------------

EVENT_TRANSFORMS = [
    RandomFlipLR(SENSOR, p=1.0),
    BackgroundActivityNoise(SENSOR, severity=5, p=1.0),
    RandomTimeReversal(p=1.0),
    RandomTimeReversal(p=1.0, keep_start=True),
    RandomFlipPolarity(p=0.2),
    RandomFlipPolarity(p=1.0, per_event=False),
    DropEventByTime(0.3),
    DropEventByTime((0.1, 0.8)),
    DropEventByArea(SENSOR, 0.25),
    DropEventByArea(SENSOR, (0.05, 0.25)),
    DropEvent(0.4),
    DropEvent((0.1, 0.9)),
    EventDrop(SENSOR),
    RandomFaceMirrorEvents(SENSOR, p=1.0),
]


@pytest.mark.parametrize("transform", EVENT_TRANSFORMS, ids=repr)
def test_event_transforms_keep_the_record_contract_and_are_seeded(transform):
    events = random_events(3000)
    before = events.copy()
    out = transform(events, make_rng(7, 0, 1))
    assert out.dtype == EVENTS_DTYPE
    validate_events(out, SENSOR)  # inside the sensor, p in {0, 1}, sorted by t
    assert np.array_equal(events, before)  # input untouched
    again = transform(events, make_rng(7, 0, 1))
    assert np.array_equal(out, again)  # same seed, same output
    with pytest.raises(dataclasses.FrozenInstanceError):
        transform.p = 0.0  # frozen: no state can be stored in self


def test_same_seed_same_output_after_other_calls():
    t = DropEventByArea(SENSOR, (0.05, 0.25))
    a, b = random_events(2000, seed=1), random_events(2000, seed=2)
    first = t(b, make_rng(3))
    t(a, make_rng(4))
    assert np.array_equal(t(b, make_rng(3)), first)


def test_make_rng_rejects_negative_values():
    with pytest.raises(ValueError, match=r"epoch.*-1"):
        make_rng(0, -1, 0)


# --- flip -----------------------------------------------------------------------------------------


def test_flip_lr_by_hand_and_equals_tonic():
    events = make_events([0, 1, 2], [0, 5, 33], [1, 2, 3], [0, 1, 0])
    assert flip_lr(events, SENSOR)["x"].tolist() == [33, 28, 0]  # x' = 34 - 1 - x
    ev = random_events(5000)
    ref = tonic.transforms.RandomFlipLR(sensor_size=SENSOR, p=1.0)(ev)
    assert np.array_equal(flip_lr(ev, SENSOR), ref)


def test_random_flip_lr_probability_zero_and_one():
    ev = random_events(100)
    assert np.array_equal(RandomFlipLR(SENSOR, p=0.0)(ev, make_rng(0)), ev)
    assert np.array_equal(RandomFlipLR(SENSOR, p=1.0)(ev, make_rng(0)), flip_lr(ev, SENSOR))


# --- reverse --------------------------------------------------------------------------------------


def test_time_reversal_by_hand():
    events = make_events([10, 20, 50], [1, 2, 3], [0, 0, 0], [1, 0, 1])
    out = time_reversal(events)
    # order reversed: x = 3, 2, 1; t' = 50 - (50, 20, 10) = (0, 30, 40); p' = 1 - p
    assert out["x"].tolist() == [3, 2, 1]
    assert out["t"].tolist() == [0, 30, 40]
    assert out["p"].tolist() == [0, 1, 0]
    kept = time_reversal(events, keep_start=True)  # t' = 50 + 10 - t
    assert kept["t"].tolist() == [10, 40, 50]
    assert time_reversal(events, flip_polarities=False)["p"].tolist() == [1, 0, 1]


def test_time_reversal_equals_tonic_and_stays_sorted():
    ev = random_events(5000)
    ref = tonic.transforms.RandomTimeReversal(p=1.0)(ev)  # flip_polarities=True by default
    out = time_reversal(ev)
    assert np.array_equal(out, ref)
    assert np.all(np.diff(out["t"]) >= 0)


# --- flip_polarity --------------------------------------------------------------------------------


def test_flip_polarity_by_hand_and_equals_tonic_whole_sample_flip():
    events = make_events([0, 1, 2, 3], [0, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 1])
    assert flip_polarity(events)["p"].tolist() == [0, 1, 1, 0]
    assert flip_polarity(events, np.array([True, False, True, False]))["p"].tolist() == [0, 0, 1, 1]
    ev = random_events(2000)
    ref = tonic.transforms.RandomFlipPolarity(p=1.0)(ev)
    assert np.array_equal(flip_polarity(ev), ref)
    out = RandomFlipPolarity(p=1.0, per_event=False)(ev, make_rng(0))
    assert np.array_equal(out["p"], 1 - ev["p"])


def test_per_event_polarity_flip_fraction():
    ev = random_events(100_000)
    out = RandomFlipPolarity(p=0.2)(ev, make_rng(1))
    changed = out["p"] != ev["p"]
    # binomial(100000, 0.2): sd = 126 events; 0.2 +- 0.006 is about 5 sd
    assert abs(changed.mean() - 0.2) < 0.006
    assert np.array_equal(out["p"][changed], 1 - ev["p"][changed])
    for f in "txy":
        assert np.array_equal(out[f], ev[f])


# --- event_drop -------------------------------------------------------------------------------------


def test_drop_by_time_by_hand():
    events = make_events([0, 10, 20, 30, 40], [0] * 5, [0] * 5, [1] * 5)
    assert drop_by_time(events, 10, 30)["t"].tolist() == [0, 40]  # both ends removed
    assert drop_by_time(events, 10.5, 29.5)["t"].tolist() == [0, 10, 30, 40]


def test_drop_event_by_time_removes_one_window_of_the_expected_length():
    ev = random_events(50_000, t_max=1_000_000)
    ev["t"] = np.arange(50_000) * 20  # unique, evenly spaced times: 0 .. 999980 us
    out = DropEventByTime(0.3)(ev, make_rng(11))
    removed = np.setdiff1d(ev["t"], out["t"])
    duration = ev["t"][-1] - ev["t"][0]
    # the removed events are all the events of one interval of length 0.3 x duration
    assert removed[-1] - removed[0] <= 0.3 * duration
    inside = (ev["t"] >= removed[0]) & (ev["t"] <= removed[-1])
    assert inside.sum() == removed.size
    assert abs(removed.size / ev.size - 0.3) < 0.001  # 20 us spacing: within one event


def test_drop_by_area_by_hand():
    # one event per pixel of a 10 x 10 sensor; box x, y in 2..4 (inclusive) holds 3 x 3 = 9 pixels
    yy, xx = np.mgrid[0:10, 0:10]
    events = make_events(np.arange(100), xx.ravel(), yy.ravel(), np.ones(100))
    out = drop_by_area(events, (2, 2, 4, 4))
    assert out.size == 91
    assert not np.any((out["x"] >= 2) & (out["x"] <= 4) & (out["y"] >= 2) & (out["y"] <= 4))
    assert drop_by_area(events, (5, 5, 4, 4)).size == 100  # empty box


@pytest.mark.parametrize("seed", range(5))
def test_drop_event_by_area_removes_exactly_one_box(seed):
    # one event per pixel of the 34 x 20 sensor; ratio 0.25 -> box int(34 * .25) x int(20 * .25)
    yy, xx = np.mgrid[0:20, 0:34]
    events = make_events(np.arange(680), xx.ravel(), yy.ravel(), np.zeros(680))
    out = DropEventByArea(SENSOR, 0.25)(events, make_rng(seed))
    kept = np.zeros((20, 34), dtype=bool)
    kept[out["y"], out["x"]] = True
    ys, xs = np.nonzero(~kept)
    assert (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) == (8, 5)
    assert (~kept).sum() == 8 * 5  # the removed pixels fill their bounding box


def test_drop_random_removes_the_expected_count():
    ev = random_events(1000)
    # int(p * N + 0.5): 0.25 -> 250, 1/3 -> int(333.83) = 333, 0.0005 -> int(1.0) = 1
    for p, n_drop in [(0.25, 250), (1 / 3, 333), (0.0005, 1), (0.0, 0), (1.0, 1000)]:
        out = drop_random(ev, p, make_rng(2))
        assert out.size == 1000 - n_drop
        assert is_sub_multiset(out, ev)
    assert DropEvent(0.4)(ev, make_rng(5)).size == 600


def test_event_drop_draws_each_strategy():
    ev = random_events(2000)
    unchanged = 0
    for seed in range(40):
        out = EventDrop(SENSOR)(ev, make_rng(seed))
        assert out.size <= ev.size and is_sub_multiset(out, ev)
        unchanged += out.size == ev.size
    # identity is 1 of 4 strategies (the others always drop here): binomial(40, 1/4), mean 10
    assert 3 <= unchanged <= 19


# --- background_activity ---------------------------------------------------------------------------


def test_background_activity_adds_uniform_noise_inside_the_sensor():
    n = 20_000
    dtype = np.dtype(EVENTS_DTYPE.descr + [("id", "<i4")])  # marks the original events
    ev = np.zeros(n, dtype=dtype)
    base = random_events(n, t_max=2_000_000)
    for f in "txyp":
        ev[f] = base[f]
    ev["id"] = np.arange(1, n + 1)
    out = background_activity(ev, SENSOR, 5000, make_rng(9))
    assert out.size == n + 5000 and out.dtype == dtype
    assert np.all(np.diff(out["t"]) >= 0)
    originals = out[out["id"] > 0]
    assert np.array_equal(originals, ev)  # all kept, in their order
    noise = out[out["id"] == 0]
    assert noise["t"].min() >= ev["t"][0] and noise["t"].max() <= ev["t"][-1]
    assert noise["x"].min() >= 0 and noise["x"].max() <= 33
    assert noise["y"].min() >= 0 and noise["y"].max() <= 19
    # uniform: mean x ~ 16.5 (sd of the mean 9.8 / sqrt(5000) = 0.14), ON fraction ~ 0.5
    assert abs(noise["x"].mean() - 16.5) < 0.7 and abs(noise["y"].mean() - 9.5) < 0.4
    assert abs(noise["p"].mean() - 0.5) < 0.04
    assert set(np.unique(noise["p"]).tolist()) == {0, 1}


def test_background_activity_noise_count_from_severity():
    ev = random_events(1234)
    # severity 5 -> 20 %: int(0.2 * 1234) = 246 events added
    assert BACKGROUND_ACTIVITY_FRACTIONS[4] == 0.2
    assert BackgroundActivityNoise(SENSOR, 5, p=1.0)(ev, make_rng(0)).size == 1234 + 246
    assert BackgroundActivityNoise(SENSOR, 1, p=1.0)(ev, make_rng(0)).size == 1234 + 6
    assert np.array_equal(BackgroundActivityNoise(SENSOR, 5, p=0.0)(ev, make_rng(0)), ev)


# --- mirror ---------------------------------------------------------------------------------------


def test_mirror_frames_by_hand():
    even = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert mirror_frames(even, "left").tolist() == [[1, 2, 2, 1]]
    assert mirror_frames(even, "right").tolist() == [[4, 3, 3, 4]]
    odd = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    assert mirror_frames(odd, "left").tolist() == [[1, 2, 3, 2, 1]]
    assert mirror_frames(odd, "right").tolist() == [[5, 4, 3, 4, 5]]
    assert even.tolist() == [[1, 2, 3, 4]]  # input untouched


@pytest.mark.parametrize("sensor", [(34, 20, 2), (33, 20, 2)])
@pytest.mark.parametrize("side", ["left", "right"])
def test_mirror_events_binned_equals_mirrored_frames(sensor, side):
    ev = random_events(3000, sensor)
    out = mirror_events(ev, sensor, side)
    validate_events(out, sensor)
    binned = to_frames_event_bins(out, sensor, 1)
    assert np.array_equal(binned, mirror_frames(to_frames_event_bins(ev, sensor, 1), side))


def test_random_face_mirror_picks_a_side():
    frames = np.random.default_rng(0).random((2, 2, 6, 8)).astype(np.float32)
    sides = set()
    for seed in range(20):
        out = RandomFaceMirror(p=1.0)(frames, make_rng(seed))
        if np.array_equal(out, mirror_frames(frames, "left")):
            sides.add("left")
        elif np.array_equal(out, mirror_frames(frames, "right")):
            sides.add("right")
        else:
            pytest.fail("output is neither mirror")
    assert sides == {"left", "right"}
    assert np.array_equal(RandomFaceMirror(p=0.0)(frames, make_rng(0)), frames)


# --- crop -----------------------------------------------------------------------------------------


def test_crop_params_fallback_by_hand():
    # 10 x 10 image, scale (1, 1), ratio (2, 2): w = round(sqrt(100 * 2)) = 14 > 10 on every try;
    # fallback: in_ratio 1 < 2 -> w = 10, h = round(10 / 2) = 5, top = (10 - 5) // 2 = 2, left 0
    assert random_resized_crop_params(10, 10, (1.0, 1.0), (2.0, 2.0), make_rng(0)) == (2, 0, 5, 10)


def test_crop_params_respect_scale_and_ratio():
    for seed in range(50):
        top, left, h, w = random_resized_crop_params(200, 200, (0.08, 1.0), (3 / 4, 4 / 3),
                                                     make_rng(seed))
        assert 0 <= top and top + h <= 200 and 0 <= left and left + w <= 200
        # rounding w and h to integers moves area and ratio by at most about one pixel
        assert 0.08 * 0.9 <= h * w / 200**2 <= 1.0
        assert (3 / 4) * 0.9 <= w / h <= (4 / 3) / 0.9


def test_random_resized_crop_equals_crop_then_torch_nearest():
    torch = pytest.importorskip("torch")
    frames = (np.random.default_rng(2).random((6, 2, 200, 200)) > 0.7).astype(np.float32)
    out = RandomResizedCrop((128, 128))(frames, make_rng(4))
    top, left, h, w = random_resized_crop_params(200, 200, (0.08, 1.0), (3 / 4, 4 / 3), make_rng(4))
    crop = torch.from_numpy(np.ascontiguousarray(frames[..., top : top + h, left : left + w]))
    ref = torch.nn.functional.interpolate(crop, size=(128, 128), mode="nearest").numpy()
    assert out.shape == (6, 2, 128, 128)
    assert np.array_equal(out, ref)
    with pytest.raises(ValueError, match=r"crop box"):
        resized_crop(frames, 150, 0, 100, 10, (8, 8))


# --- Compose and the Spiking-FER pipeline -----------------------------------------------------------


def test_compose_applies_in_order():
    ev = random_events(500)
    pipe = Compose([RandomFlipLR(SENSOR, p=1.0), RandomTimeReversal(p=1.0)])
    assert np.array_equal(pipe(ev, make_rng(0)), time_reversal(flip_lr(ev, SENSOR)))


def test_spiking_fer_pipeline_shapes_binary_and_seeded():
    sensor = (200, 200, 2)
    ev = random_events(40_000, sensor)
    pipe = spiking_fer_augmentations(sensor)
    outs = [pipe(ev, make_rng(0, 0, i)) for i in range(4)]
    for out in outs:
        assert out.shape == (6, 2, 128, 128) and out.dtype == np.float32
        assert set(np.unique(out).tolist()) <= {0.0, 1.0}
    assert np.array_equal(pipe(ev, make_rng(0, 0, 2)), outs[2])
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])


def test_spiking_fer_pipeline_without_edas_is_the_eval_transform():
    sensor = (200, 200, 2)
    ev = random_events(30_000, sensor)
    ref = ToFrames(sensor, 6, mode="spiking_fer", binarize=True, size=(128, 128))(ev)
    assert np.array_equal(spiking_fer_augmentations(sensor, edas=())(ev, make_rng(0)), ref)


def test_unknown_eda_name_suggests_close_match():
    with pytest.raises(ValueError, match=r"'flp'.*flip"):
        spiking_fer_augmentations(SENSOR, edas=("flp",))


# --- validation ---------------------------------------------------------------------------------


def test_bad_parameters_raise_naming_them():
    with pytest.raises(ValueError, match=r"p .*1\.5"):
        RandomFlipLR(SENSOR, p=1.5)
    with pytest.raises(ValueError, match=r"severity.*6"):
        BackgroundActivityNoise(SENSOR, severity=6)
    with pytest.raises(ValueError, match=r"area_ratio.*1\.0"):
        DropEventByArea(SENSOR, 1.0)
    with pytest.raises(ValueError, match=r"duration_ratio"):
        DropEventByTime((0.5, 0.2))
    with pytest.raises(ValueError, match=r"side.*'up'"):
        mirror_frames(np.zeros((2, 2)), "up")
    ev = random_events(10)
    ev["x"][4] = 40
    with pytest.raises(ValueError, match=r"'x' = 40 at event 4"):
        flip_lr(ev, SENSOR)


# --- distributions against the parameters, from large samples ------------------------------------


def test_background_activity_noise_is_uniform_by_chi_square():
    from scipy.stats import chisquare

    n = 30_000
    dtype = np.dtype(EVENTS_DTYPE.descr + [("id", "<i4")])  # marks the original events
    ev = np.zeros(2, dtype=dtype)
    ev["t"], ev["x"], ev["y"], ev["p"], ev["id"] = [100_000, 600_000], [3, 7], [2, 9], [0, 1], 1
    noise = background_activity(ev, SENSOR, n, make_rng(4))
    noise = noise[noise["id"] == 0]
    assert noise.size == n
    # every column, row, polarity and tenth of the span equally likely
    assert chisquare(np.bincount(noise["x"], minlength=34)).pvalue > 1e-4
    assert chisquare(np.bincount(noise["y"], minlength=20)).pvalue > 1e-4
    assert chisquare(np.bincount(noise["p"], minlength=2)).pvalue > 1e-4
    assert chisquare(np.histogram(noise["t"], bins=10, range=(100_000, 600_001))[0]).pvalue > 1e-4
    assert np.bincount(noise["x"]).size == 34 and np.bincount(noise["y"]).size == 20
    assert abs(np.corrcoef(noise["x"], noise["y"])[0, 1]) < 4 / np.sqrt(n)


@pytest.mark.parametrize("make, p", [
    (lambda p: RandomFlipLR(SENSOR, p=p), 0.5),
    (lambda p: RandomTimeReversal(p=p), 0.2),
    (lambda p: BackgroundActivityNoise(SENSOR, 5, p=p), 0.5),
    (lambda p: RandomFlipPolarity(p=p, per_event=False), 0.3),
])
def test_random_transforms_apply_with_their_probability(make, p):
    ev = random_events(50)
    n = 600
    applied = sum(not np.array_equal(make(p)(ev, make_rng(seed)), ev) for seed in range(n))
    # Binomial(600, p): within 4 standard deviations
    assert abs(applied / n - p) <= 4 * np.sqrt(p * (1 - p) / n), applied


def test_drop_event_by_time_window_start_is_uniform():
    # events every 10 us over [1000, 100990]; ratio 0.5: the window starts uniformly in
    # [t0, t1 - d] = [1000, 50995], so the first dropped event's time has mean ~ 25997.5
    ev = make_events(1000 + 10 * np.arange(10_000), np.zeros(10_000), np.zeros(10_000),
                     np.ones(10_000))
    starts = []
    for seed in range(300):
        out = DropEventByTime(0.5)(ev, make_rng(seed))
        removed = np.setdiff1d(ev["t"], out["t"])
        assert abs(removed.size - 5000) <= 1  # half of the duration: 4999.5 event spacings
        assert removed[-1] - removed[0] <= 49_995
        starts.append(removed[0])
    lo, hi = 1000, 1000 + 49_995
    assert min(starts) >= lo and max(starts) <= hi + 10
    assert min(starts) < lo + 0.05 * (hi - lo) and max(starts) > hi - 0.05 * (hi - lo)
    assert abs(np.mean(starts) - (lo + hi) / 2) <= 4 * (hi - lo) / np.sqrt(12 * 300)


def test_drop_random_drops_uniformly_over_the_recording():
    ev = make_events(np.arange(20_000), np.zeros(20_000), np.zeros(20_000), np.ones(20_000))
    out = drop_random(ev, 0.25, make_rng(3))
    assert out.size == 15_000
    # each quarter of the recording loses a quarter of its events: hypergeometric, sd 26.5
    for q in range(4):
        kept = np.sum((out["t"] >= 5000 * q) & (out["t"] < 5000 * (q + 1)))
        assert abs(kept - 3750) < 4 * 26.5, (q, kept)
