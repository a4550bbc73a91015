"""Tests of the training data pipeline: datasets.pipeline, datasets.transforms.augment.FusedSpikingFer and
benchmarks.runner.data.CellData.train_batches.

References: the numpy reference pipeline (``spiking_fer_augmentations``, itself tested against
tonic and by hand in test_augment.py) for bit-identity per seed, event for event and frame for
frame; today's batches (``benchmarks.runner.inference.batches`` + ``CellData.train_batch``) for the
unaugmented path; scipy's two-sample Kolmogorov-Smirnov test, threshold p > 0.001, for the
distributions of events kept, added and moved over 1,000 seeded draws, fused and reference drawn
from disjoint seeds; the built-in ``synthetic-fer-dvs-mini`` dataset (generated in a few seconds)
and hand-made events.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

import benchmarks.runner.data as bdata
import datasets.io.events
from backends.specs import get_arch
from benchmarks.results.spec import Cell, Recipe
from benchmarks.runner.data import CellData, Split, load_cell_data
from benchmarks.runner.inference import batches
from datasets.io.events import make_events
from datasets.pipeline import (
    BYTES_PER_EVENT,
    EventSplit,
    EventStore,
    PackBits,
    TrainLoader,
    _unpack_bits_torch,
    unpack_bits,
)
from datasets.transforms.augment import (
    KNOWN_EDAS,
    SPIKING_FER_EDAS,
    FusedSpikingFer,
    ToFrames,
    make_rng,
)

KS_P_MIN = 1e-3
DATASET = "synthetic-fer-dvs-mini"
ARCH = "tiny"


def random_events(n: int, sensor=(34, 20, 2), t_max: int = 1_000_000, seed: int = 0,
                  t_start: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(
        np.sort(rng.integers(t_start, t_start + t_max, n)),
        rng.integers(0, sensor[0], n),
        rng.integers(0, sensor[1], n),
        rng.integers(0, 2, n),
    )


def event_stage(fused: FusedSpikingFer):
    """The reference's event transforms (everything before its binning)."""
    steps = fused.reference().transforms
    k = next(i for i, s in enumerate(steps) if isinstance(s, ToFrames))
    return steps[:k]


def reference_stream(fused: FusedSpikingFer, events: np.ndarray, rng) -> np.ndarray:
    for step in event_stage(fused):
        events = step(events, rng)
    return events


def binned_slice(n: int, t_bins: int, count: int) -> slice:
    """The events ``to_frames_spiking_fer`` counts (worked out from its docstring)."""
    if n // count >= t_bins:
        s = (n // count - t_bins) // 2 * count
        return slice(s, s + t_bins * count)
    return slice(0, t_bins * (n // t_bins))


# --- FusedSpikingFer == the numpy reference, bit for bit, per seed ------------------------------

EDA_SETS = [SPIKING_FER_EDAS, KNOWN_EDAS, (), *[(e,) for e in KNOWN_EDAS],
            ("background_activity", "event_drop"), ("reverse", "event_drop", "flip_polarity")]


def _case_events():
    """Hand-made recordings: ties, few events (fallback binning), N < T, one event, a late start."""
    ties = random_events(3000, t_max=40, seed=1)  # ~75 events per microsecond: ties everywhere
    late = random_events(2500, seed=2, t_start=123_456_789)
    small = random_events(80, seed=3)  # < T x event_count: upstream's event-bins fallback
    few = random_events(2, seed=4)  # N < T: empty frames
    one = make_events([5], [33], [19], [1])
    return {"ties": ties, "late": late, "small": small, "few": few, "one": one}


CASES = _case_events()


@pytest.mark.parametrize("edas", EDA_SETS, ids=lambda e: "+".join(e) or "none")
@pytest.mark.parametrize("case", list(CASES))
def test_fused_frames_equal_reference(edas, case) -> None:
    events = CASES[case]
    fused = FusedSpikingFer((34, 20, 2), edas, n_time_bins=3, event_count=200, size=(16, 24))
    ref = fused.reference()
    for seed in range(25):
        r_ref, r_new = make_rng(seed, 3, 7), make_rng(seed, 3, 7)
        want = ref(events, r_ref)
        got = fused(events, r_new)
        assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_array_equal(got, want, err_msg=f"seed {seed}")
        # the same draws in the same order: both generators end in the same state
        assert r_new.bit_generator.state == r_ref.bit_generator.state


@pytest.mark.parametrize("edas", [SPIKING_FER_EDAS, KNOWN_EDAS], ids=["six", "all"])
def test_fused_frames_equal_reference_paper_scale(edas) -> None:
    """The paper recipe: 200x200 sensor, T = 6 frames of 2,500 events, 128x128, columns input."""
    events = random_events(40_000, sensor=(200, 200, 2), seed=5, t_max=3_000_000)
    cols = tuple(np.ascontiguousarray(events[f]) for f in "txyp")
    fused = FusedSpikingFer((200, 200, 2), edas)
    ref = fused.reference()
    for seed in range(40):
        want = ref(events, make_rng(seed, 0, 1))
        np.testing.assert_array_equal(fused(cols, make_rng(seed, 0, 1)), want)


def test_fused_empty_events_and_uint8() -> None:
    fused = FusedSpikingFer((34, 20, 2), n_time_bins=3, event_count=200, size=(16, 24))
    empty = np.zeros(0, dtype=datasets.io.events.EVENTS_DTYPE)
    np.testing.assert_array_equal(fused(empty, make_rng(1)), fused.reference()(empty, make_rng(1)))
    u8 = FusedSpikingFer((34, 20, 2), n_time_bins=3, event_count=200, size=(16, 24),
                         dtype=np.uint8)
    ev = CASES["ties"]
    got = u8(ev, make_rng(2))
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got.astype(np.float32), fused(ev, make_rng(2)))


def test_fused_rejects_what_the_reference_rejects() -> None:
    with pytest.raises(ValueError, match="did you mean"):
        FusedSpikingFer(edas=("flipp",))
    with pytest.raises(ValueError, match="sensor_size"):
        FusedSpikingFer(sensor_size=(0, 10, 2))


@pytest.mark.parametrize("edas", [SPIKING_FER_EDAS, KNOWN_EDAS], ids=["six", "all"])
@pytest.mark.parametrize("case", ["ties", "late", "small"])
def test_fused_window_is_the_reference_stream_slice(edas, case) -> None:
    """Event level: the binned events are the reference's augmented stream's slice, in order."""
    events = CASES[case]
    fused = FusedSpikingFer((34, 20, 2), edas, n_time_bins=3, event_count=200, size=(16, 24))
    for seed in range(40):
        stream = reference_stream(fused, events, make_rng(seed))
        want = stream[binned_slice(len(stream), 3, 200)]
        win = fused.window(events, make_rng(seed))
        for f in "txyp":
            np.testing.assert_array_equal(getattr(win, f), want[f].astype(np.int64),
                                          err_msg=f"seed {seed}, field {f}")


# --- defining properties, on the whole stream (T = 1 and a huge event count: the slice is all) ---

SENSOR = (34, 20, 2)


def whole_stream(edas, events, seed):
    fused = FusedSpikingFer(SENSOR, edas, n_time_bins=1, event_count=10**9, size=(20, 34))
    return fused.window(events, make_rng(seed))


def test_property_flip() -> None:
    ev = random_events(500, seed=6)
    for seed in range(20):
        win = whole_stream(("flip",), ev, seed)
        np.testing.assert_array_equal(win.src, np.arange(500))  # same events, same order
        flipped = np.array_equal(win.x, SENSOR[0] - 1 - ev["x"])
        assert flipped or np.array_equal(win.x, ev["x"])  # all or nothing


def test_property_background_activity() -> None:
    ev = random_events(500, seed=7, t_start=1000)
    added = set()
    for seed in range(20):
        win = whole_stream(("background_activity",), ev, seed)
        n_noise = int(win.noise.sum())
        added.add(n_noise)
        assert n_noise in (0, 100)  # 20 % of N at severity 5, or nothing (p = 0.5)
        np.testing.assert_array_equal(win.src[~win.noise], np.arange(500))  # originals kept
        assert np.all(np.diff(win.t) >= 0)  # merged by time
        z = ~win.noise
        assert win.t[win.noise].min(initial=10**9) >= ev["t"][0]
        assert win.t[win.noise].max(initial=0) <= ev["t"][-1]
        assert np.all((win.x >= 0) & (win.x < SENSOR[0]) & (win.y >= 0) & (win.y < SENSOR[1]))
        assert np.array_equal(win.x[z], ev["x"])
    assert added == {0, 100}


def test_property_reverse() -> None:
    ev = random_events(500, seed=8)
    t1 = int(ev["t"][-1])
    for seed in range(20):
        win = whole_stream(("reverse",), ev, seed)
        if win.src[0] == 0:
            np.testing.assert_array_equal(win.t, ev["t"])
            continue
        np.testing.assert_array_equal(win.src, np.arange(500)[::-1])
        np.testing.assert_array_equal(win.t, t1 - ev["t"][::-1])  # t' = max(t) - t
        np.testing.assert_array_equal(win.p, 1 - ev["p"][::-1])  # polarity inverted


def test_property_event_drop() -> None:
    """Kept events keep their order; removed ones are none, a time window, a box or a count."""
    ev = random_events(1000, seed=9)
    kinds = Counter()
    for seed in range(60):
        win = whole_stream(("event_drop",), ev, seed)
        assert np.all(np.diff(win.src) > 0)
        gone = np.setdiff1d(np.arange(1000), win.src)
        if gone.size == 0:
            kinds["identity"] += 1
            continue
        t_gone = ev["t"][gone]
        kept_t = ev["t"][win.src]
        if not np.any((kept_t >= t_gone.min()) & (kept_t <= t_gone.max())):
            kinds["time"] += 1  # a contiguous time interval removed
            continue
        gx, gy = ev["x"][gone], ev["y"][gone]
        kx, ky = ev["x"][win.src], ev["y"][win.src]
        in_box = ((kx >= gx.min()) & (kx <= gx.max()) & (ky >= gy.min()) & (ky <= gy.max()))
        if not np.any(in_box):
            kinds["area"] += 1  # every event of the bounding box of the removed ones removed
            continue
        assert gone.size in {int(p / 10 * 1000 + 0.5) for p in range(1, 10)}
        kinds["random"] += 1
    assert set(kinds) == {"identity", "time", "area", "random"}


# --- distributions over 1,000 draws, fused vs reference on disjoint seeds (KS, p > 0.001) -------


def _stats_reference(edas, events, seed):
    fused = FusedSpikingFer(SENSOR, edas, n_time_bins=1, event_count=10**9, size=(20, 34))
    s = reference_stream(fused, events, make_rng(seed))
    orig = Counter(map(tuple, np.stack([events[f].astype(np.int64) for f in "txyp"], 1).tolist()))
    got = Counter(map(tuple, np.stack([s[f].astype(np.int64) for f in "txyp"], 1).tolist()))
    kept_same = sum((got & orig).values())  # events unchanged (not moved, flipped or reversed)
    return len(s), kept_same, float(s["x"].mean()) if len(s) else 0.0


def _stats_fused(edas, events, seed):
    win = whole_stream(edas, events, seed)
    e = ~win.noise
    src = win.src[e]
    same = ((win.t[e] == events["t"][src]) & (win.x[e] == events["x"][src])
            & (win.y[e] == events["y"][src]) & (win.p[e] == events["p"][src]))
    # a noise event identical to an original one would count as kept in the reference
    return len(win.x), int(same.sum()), float(win.x.mean()) if len(win.x) else 0.0


@pytest.mark.parametrize("edas", [("flip", "background_activity", "reverse", "event_drop")],
                         ids=["events"])
def test_distributions_match_reference_ks(edas) -> None:
    """Events in the stream (kept + added), events kept unchanged, mean x (moved by flips),
    over 1,000 draws each; p > 0.001 for each two-sample KS test."""
    ev = random_events(300, seed=10, t_max=10**7)
    new = np.array([_stats_fused(edas, ev, s) for s in range(1000)])
    ref = np.array([_stats_reference(edas, ev, s) for s in range(1000, 2000)])
    for k, name in enumerate(("events", "kept unchanged", "mean x")):
        p = ks_2samp(new[:, k], ref[:, k]).pvalue
        assert p > KS_P_MIN, f"{name}: KS p = {p:.2g}"


@pytest.mark.slow
def test_frame_distributions_match_reference_ks() -> None:
    """The full paper pipeline's output: active pixels per sample, fused vs reference."""
    ev = random_events(16_000, sensor=(200, 200, 2), seed=11, t_max=3_000_000)
    fused = FusedSpikingFer((200, 200, 2))
    ref = fused.reference()
    a = [fused(ev, make_rng(s)).sum() for s in range(1000)]
    b = [ref(ev, make_rng(s)).sum() for s in range(1000, 2000)]
    assert ks_2samp(a, b).pvalue > KS_P_MIN


# --- PackBits -------------------------------------------------------------------------------------


def test_pack_bits_round_trip_odd_width() -> None:
    frames = (np.random.default_rng(0).random((2, 3, 2, 5, 13)) < 0.3).astype(np.uint8)
    packed = PackBits(lambda e, r: e)(frames, None)
    assert packed.shape[-1] == 2
    np.testing.assert_array_equal(unpack_bits(torch.from_numpy(packed), 13).numpy(), frames)
    # the torch form (what runs on a CUDA device), checked here on the CPU
    np.testing.assert_array_equal(_unpack_bits_torch(torch.from_numpy(packed), 13).numpy(), frames)


# --- the cell's data: Dataset / DataLoader contract, batches, workers, decoded once -------------


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    from datasets.registry import open_dataset

    r = tmp_path_factory.mktemp("pipeline")
    open_dataset(DATASET, r)  # generate once for the module
    return r


def _cell(augment: bool, seed: int = 3) -> Cell:
    return Cell(dataset=DATASET, backend="ann", arch=ARCH, seed=seed,
                recipe=Recipe(augment=augment, binarize=True, batch_size=4))


def _load(root: Path, augment: bool, seed: int = 3) -> CellData:
    bdata.clear_caches()
    return load_cell_data(_cell(augment, seed), get_arch(ARCH), root)


def _collect(data: CellData, seed: int, epochs: int = 2, workers: int = 0, batch_size: int = 4):
    rng = np.random.default_rng(seed)
    out = []
    for epoch in range(epochs):
        for idx, x, y, f in data.train_batches(rng, epoch, seed, batch_size, workers=workers):
            out.append((idx.clone(), x.clone(), y.clone(), f))
    return out, rng


def test_train_dataset_contract(root: Path) -> None:
    data = _load(root, augment=True)
    ds = data.train_dataset(seed=3, epoch=1)
    assert isinstance(ds, torch.utils.data.Dataset) and len(ds) == len(data.train.y)
    arch = get_arch(ARCH)
    frames, label = ds[2]
    assert frames.shape == (arch.n_time_bins, 2, *arch.input_size) and frames.dtype == np.float32
    assert set(np.unique(frames)) <= {0.0, 1.0}
    assert label == int(data.train.y[2])
    seq = data.train.indices[2]
    meta = ds.metadata(2)
    assert meta["index"] == seq and meta["subject"] == data.train.subjects[2]
    assert meta["lighting"] == data.train.lighting[2]
    assert meta["sequence"] == data.dataset.sequences[seq].sequence
    # the sample of (seed, epoch, i) is the reference pipeline on the decoded events
    want = data.augment(data.dataset.load_events(seq), make_rng(3, 1, 2))
    np.testing.assert_array_equal(frames, want)
    np.testing.assert_array_equal(ds[(1, 2)][0], frames)
    assert any(not np.array_equal(ds[(e, 2)][0], frames) for e in range(2, 8))  # epochs differ
    # a plain DataLoader over it (default collate)
    x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert x.shape == (3, *frames.shape) and x.dtype == torch.float32 and y.tolist() == [
        int(v) for v in data.train.y[:3]]
    # evaluation splits as datasets of their cached tensors
    val = data.val.dataset()
    xv, yv = val[0]
    assert torch.equal(xv, data.val.x[0]) and int(yv) == int(data.val.y[0])
    assert val.metadata(0)["subject"] == data.val.subjects[0]
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_unaugmented_batches_equal_todays(root: Path) -> None:
    data = _load(root, augment=False)
    assert data.train_transform is None and data.store is None
    seed, bs = 3, 4
    old_rng = np.random.default_rng(seed)  # today's loop: one generator per cell
    old = []
    for _ in range(2):
        for idx in batches(len(data.train.y), bs, old_rng):
            old.append((idx, data.train.x[idx], data.train.y[idx]))  # 0.1.0: cached tensors
    new, new_rng = _collect(data, seed, batch_size=bs)
    assert len(new) == len(old)
    for (i0, x0, y0), (i1, x1, y1, f1) in zip(old, new, strict=True):
        assert i1.dtype == torch.int64 and np.array_equal(i1.numpy(), i0)
        assert torch.equal(x1, x0) and torch.equal(y1, y0) and f1 is None
    assert new_rng.bit_generator.state == old_rng.bit_generator.state


def test_frames_of_a_frame_dataset_follow_the_batch() -> None:
    x = torch.arange(5.0).reshape(5, 1, 1, 1, 1).expand(5, 2, 2, 3, 3).contiguous()
    frames = torch.arange(5.0).reshape(5, 1, 1, 1, 1).expand(5, 2, 1, 3, 3).contiguous()
    split = Split(x=x, y=torch.arange(5), indices=list(range(5)), frames=frames)
    data = CellData(train=split, val=split, test=split, classes=("a",) * 5)
    for idx, xb, yb, fb in data.train_batches(np.random.default_rng(0), 0, 0, 2):
        assert torch.equal(xb, x[idx]) and torch.equal(yb, idx) and torch.equal(fb, frames[idx])


def test_augmented_batches_are_the_reference_per_sample(root: Path) -> None:
    data = _load(root, augment=True)
    out, _ = _collect(data, seed=3, epochs=2)
    n = len(data.train.y)
    positions = torch.cat([o[0] for o in out[: -(-n // 4)]])
    assert sorted(positions.tolist()) == list(range(n))  # one epoch: every sample once
    epoch_of = np.repeat([0, 1], -(-n // 4))
    for (idx, x, y, _), epoch in zip(out, epoch_of, strict=True):
        assert x.dtype == torch.float32 and torch.equal(y, data.train.y[idx])
        for row, i in enumerate(idx.tolist()):
            seq = data.train.indices[i]
            want = data.augment(data.dataset.load_events(seq), make_rng(3, int(epoch), i))
            np.testing.assert_array_equal(x[row].numpy(), want)


def test_seeded_reproducibility_and_order_independence(root: Path) -> None:
    data = _load(root, augment=True)
    a, _ = _collect(data, seed=3)
    b, _ = _collect(data, seed=3)
    assert all(torch.equal(p[1], q[1]) and torch.equal(p[0], q[0]) for p, q in zip(a, b, strict=True))
    # another order (another order generator), same (seed, epoch): every sample identical
    rng = np.random.default_rng(99)
    by_pos = {}
    for idx, x, _, _ in data.train_batches(rng, 0, 3, 4):
        by_pos.update({i: x[r] for r, i in enumerate(idx.tolist())})
    for idx, x, _, _ in a[: -(-len(data.train.y) // 4)]:  # epoch 0 of run a
        for r, i in enumerate(idx.tolist()):
            assert torch.equal(by_pos[i], x[r])
    c, _ = _collect(data, seed=4)
    assert any(not torch.equal(p[1], q[1]) for p, q in zip(a, c, strict=True))


def test_worker_count_does_not_change_batches(root: Path) -> None:
    data = _load(root, augment=True)
    runs = {}
    for w in (0, 1, 2):
        if w == 1:  # an epoch left half-way does not leak into the next (persistent workers)
            it = data.train_batches(np.random.default_rng(8), 7, 3, 4, workers=1)
            next(it)
            del it
        runs[w], _ = _collect(data, seed=3, epochs=2, workers=w)
    data.close()
    for w in (1, 2):
        assert len(runs[w]) == len(runs[0])
        for p, q in zip(runs[0], runs[w], strict=True):
            assert torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) and torch.equal(p[2], q[2])


def test_recordings_are_decoded_once(root: Path, monkeypatch) -> None:
    reads = Counter()
    real = datasets.io.events.read_v2e_h5

    def counting(path, *args, **kwargs):
        reads[str(path)] += 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(datasets.io.events, "read_v2e_h5", counting)
    data = _load(root, augment=True)
    after_load = sum(reads.values())
    assert after_load == len(data.train.y) + len(data.val.y) + len(data.test.y)
    assert max(reads.values()) == 1  # train, val and test each read once: no file twice
    assert data.store.reads == len(data.train.y)
    rng = np.random.default_rng(0)
    for epoch in range(2):
        for _ in data.train_batches(rng, epoch, 0, 4):
            pass
    assert sum(reads.values()) == after_load  # two epochs: not one more read
    # workers never read either (the store is decoded before they fork)
    monkeypatch.setattr(datasets.io.events, "read_v2e_h5", _no_reads)
    for _ in data.train_batches(rng, 2, 0, 4, workers=1):
        pass
    data.close()
    # a second cell of the same dataset in the process decodes nothing again
    monkeypatch.setattr(datasets.io.events, "read_v2e_h5", counting)
    load_cell_data(_cell(True, seed=5), get_arch(ARCH), root)
    assert sum(reads.values()) == after_load


def _no_reads(path, *args, **kwargs):
    raise AssertionError(f"{path} read again")


def test_event_store_and_split_basics() -> None:
    class Tiny:
        name, root, sensor_size = "tiny", Path("."), (34, 20, 2)

        def load_events(self, i):
            return CASES["ties"] if i == 0 else CASES["late"]

    store = EventStore(Tiny())
    store.ensure([0, 1, 0])
    assert store.reads == 2 and len(store) == 2 and 0 in store and 2 not in store
    assert store.n_events == 3000 + 2500 and store.nbytes == store.n_events * BYTES_PER_EVENT == (
        store.n_events * 13)
    t, x, y, p = store[1]
    assert t.dtype == np.int64 and x.dtype == np.int16 and p.dtype == np.int8 and t.flags.c_contiguous
    np.testing.assert_array_equal(store.events(1), CASES["late"])
    with pytest.raises(KeyError, match="ensure"):
        store[2]
    split = EventSplit(store, [1, 0], [4, 5])
    ev, label = split[0]
    assert label == 4 and np.array_equal(ev, CASES["late"])
    with pytest.raises(ValueError, match="labels"):
        EventSplit(store, [1, 0], [4])
    fused = FusedSpikingFer((34, 20, 2), n_time_bins=3, event_count=200, size=(16, 24))
    loader = TrainLoader(EventSplit(store, [0, 1, 1], [0, 0, 0], transform=fused, seed=2), 2)
    got = list(loader.epoch(np.array([2, 0, 1]), epoch=5))
    assert [g[0].tolist() for g in got] == [[2, 0], [1]]
    np.testing.assert_array_equal(got[0][1][1].numpy(), fused(CASES["ties"], make_rng(2, 5, 0)))


@pytest.mark.gpu
def test_cuda_batches_equal_cpu_batches(root: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    data = _load(root, augment=True)
    cpu, _ = _collect(data, seed=3, epochs=1)
    for w in (0, 2):
        gpu = list(data.train_batches(np.random.default_rng(3), 0, 3, 4, workers=w, device="cuda"))
        for p, q in zip(cpu, gpu, strict=True):
            assert q[1].is_cuda and q[1].dtype == torch.float32
            assert torch.equal(p[1], q[1].cpu()) and torch.equal(p[2], q[2].cpu())
    data.close()
