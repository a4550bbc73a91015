"""Speed of the training data pipeline: today's per-sample path against the new one, same run.

Run: ``.venv/bin/python -m tools.measure.pipeline_bench`` (about a minute here; ``--quick`` for a
smoke run; ``--memory`` instead measures the resident memory of a CASIA-sized event store, 478
recordings x 300k events). Not part of CI.

Both pipelines make the paper recipe's training samples: the Spiking-FER EDAs (flip,
background_activity, reverse, event_drop, crop, mirror), binary T = 6 frames of 2,500 events,
128x128 from a 200x200 sensor (:func:`datasets.transforms.augment.spiking_fer_augmentations`).

* **old**: what ``CellData.train_batch`` did: per sample, read the recording from HDF5
  (:func:`datasets.io.events.read_v2e_h5`), run the numpy reference pipeline, stack the batch.
* **ref (in memory)**: the numpy reference on events already in memory (the augmentation
  alone, without the HDF5 read), to show where the gain comes from.
* **new, w workers**: :class:`datasets.pipeline.TrainLoader` over an
  :class:`datasets.pipeline.EventStore` (decoded once, before timing) with
  :class:`datasets.transforms.augment.FusedSpikingFer` (bit-identical to the reference per seed), with
  0 (main process), 1 and 2 persistent ``DataLoader`` workers, batches of 16, float32 batches
  on the CPU.

Recordings are random but face-like (events concentrated on a face outline, eyes, brows and
mouth, plus uniform background activity; times denser around an expression onset), seeded. All
pipelines are timed in rounds, interleaved (old, ref, new 0, new 1, new 2, then again), and the
table shows the median rate of each and ratios to ``old`` measured in this same run (absolute
rates drift 1.5-2x on a shared machine; the ratios much less).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

SENSOR = (200, 200, 2)
SIZES = (50_000, 300_000, 1_000_000)
DURATION_US = 3_000_000
BATCH = 16


def face_like_events(n: int, seed: int = 0, size: int = 200, duration_us: int = DURATION_US):
    """``n`` random face-like events on a ``size`` x ``size`` sensor (structured, sorted by t).

    Mixture (fractions of ``n``): 30 % on the face outline (an ellipse, jittered), 2 x 12 % on
    the eyes, 2 x 5 % on the brows, 18 % on the mouth (Gaussian blobs), 18 % uniform background.
    Times: half uniform over ``duration_us``, half Gaussian around an onset at 40-70 % of it.
    """
    from datasets.io.events import make_events

    rng = np.random.default_rng([seed, n])
    c = size / 2.0
    parts = [0.30, 0.12, 0.12, 0.05, 0.05, 0.18]
    counts = [int(f * n) for f in parts]
    counts.append(n - sum(counts))
    xs, ys = [], []
    k = counts[0]
    phi = rng.uniform(0, 2 * np.pi, k)
    xs.append(c + 0.36 * size * np.cos(phi) + rng.normal(0, 2.0, k))
    ys.append(c + 0.45 * size * np.sin(phi) + rng.normal(0, 2.0, k))
    blobs = [(-0.15, -0.10, 6), (0.15, -0.10, 6), (-0.15, -0.2, 4), (0.15, -0.2, 4), (0.0, 0.22, 9)]
    for (dx, dy, sd), k in zip(blobs, counts[1:6], strict=True):
        xs.append(c + dx * size + rng.normal(0, sd * size / 100, k) * (2.0 if sd == 9 else 1.0))
        ys.append(c + dy * size + rng.normal(0, sd * size / 100, k))
    k = counts[6]
    xs.append(rng.uniform(0, size, k))
    ys.append(rng.uniform(0, size, k))
    x = np.clip(np.concatenate(xs), 0, size - 1).astype(np.int16)
    y = np.clip(np.concatenate(ys), 0, size - 1).astype(np.int16)
    perm = rng.permutation(n)
    onset = rng.uniform(0.4, 0.7) * duration_us
    half = n // 2
    t = np.concatenate([rng.uniform(0, duration_us, half),
                        rng.normal(onset, 0.08 * duration_us, n - half)])
    t = np.sort(np.clip(t, 0, duration_us - 1).astype(np.int64))
    p = rng.integers(0, 2, n)
    return make_events(t, x[perm], y[perm], p)


class _Recordings:
    """A minimal event dataset over HDF5 files (what :class:`EventStore` decodes from)."""

    name = "pipeline-bench"
    sensor_size = SENSOR

    def __init__(self, paths: list[Path]):
        self.paths = paths
        self.root = paths[0].parent

    def load_events(self, index: int):
        from datasets.io.events import read_v2e_h5

        return read_v2e_h5(self.paths[index], SENSOR)


def _rate(fn, n_samples: int) -> float:
    t0 = time.perf_counter()
    fn()
    return n_samples / (time.perf_counter() - t0)


def bench_size(n_events: int, n_rec: int, rounds: int, old_samples: int, new_samples: int,
               workdir: Path) -> dict[str, float]:
    import torch

    from datasets.io.events import read_v2e_h5, write_v2e_h5
    from datasets.pipeline import EventSplit, EventStore, TrainLoader
    from datasets.transforms.augment import FusedSpikingFer, spiking_fer_augmentations

    paths = []
    for r in range(n_rec):
        path = workdir / f"rec_{n_events}_{r}.h5"
        write_v2e_h5(path, face_like_events(n_events, seed=r))
        paths.append(path)
    ref = spiking_fer_augmentations(SENSOR)
    fused = FusedSpikingFer(SENSOR)
    ds = _Recordings(paths)
    t0 = time.perf_counter()
    store = EventStore(ds)
    store.ensure(range(n_rec))
    decode_s = time.perf_counter() - t0
    in_memory = [store.events(i) for i in range(n_rec)]

    old_rng = np.random.default_rng(0)

    def old() -> None:  # CellData.train_batch before: re-read, reference numpy, stack
        for b in range(0, old_samples, BATCH):
            frames = [torch.from_numpy(ref(read_v2e_h5(paths[i % n_rec], SENSOR), old_rng))
                      for i in range(b, min(b + BATCH, old_samples))]
            torch.stack(frames)

    def ref_mem() -> None:
        for b in range(0, old_samples, BATCH):
            frames = [torch.from_numpy(ref(in_memory[i % n_rec], old_rng))
                      for i in range(b, min(b + BATCH, old_samples))]
            torch.stack(frames)

    split = EventSplit(store, [i % n_rec for i in range(new_samples)], [0] * new_samples,
                       transform=fused, seed=0)
    loaders = {w: TrainLoader(split, BATCH, workers=w) for w in (0, 1, 2)}
    epoch_counter = [0]

    def new(w: int):
        def run() -> None:
            epoch_counter[0] += 1
            order = np.random.default_rng(epoch_counter[0]).permutation(new_samples)
            for _ in loaders[w].epoch(order, epoch_counter[0]):
                pass
        return run

    t0 = time.perf_counter()
    for w in (1, 2):  # start the workers (persistent) and warm up, untimed
        new(w)()
    start_s = time.perf_counter() - t0
    new(0)()
    rates: dict[str, list[float]] = {k: [] for k in ("old", "ref", "new0", "new1", "new2")}
    for _ in range(rounds):
        rates["old"].append(_rate(old, old_samples))
        rates["ref"].append(_rate(ref_mem, old_samples))
        for w in (0, 1, 2):
            rates[f"new{w}"].append(_rate(new(w), new_samples))
    for loader in loaders.values():
        loader.close()
    out = {k: statistics.median(v) for k, v in rates.items()}
    out["decode_s"] = decode_s
    out["worker_start_s"] = start_s
    return out


def memory_report(n_recordings: int = 478, n_events: int = 300_000) -> None:
    """Resident memory of an :class:`EventStore` holding ``n_recordings`` x ``n_events``."""
    import resource

    import psutil

    from datasets.pipeline import BYTES_PER_EVENT, EventStore

    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    store = EventStore(None)
    template = face_like_events(n_events, seed=0)
    t0 = time.perf_counter()
    for i in range(n_recordings):  # distinct arrays (as decoded files would be): one copy each
        ev = template.copy()
        ev["t"] += i
        store.add(i, ev)
        del ev
    build_s = time.perf_counter() - t0
    rss1 = proc.memory_info().rss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    expected = n_recordings * n_events * BYTES_PER_EVENT
    gib = 1024**3
    print(f"\nEvent store, {n_recordings} recordings x {n_events:,} events "
          f"(CASIA-sized Spiking-FER dataset), {BYTES_PER_EVENT} bytes/event:")
    print(f"  computed   {expected / gib:6.2f} GiB  ({expected:,} B)")
    print(f"  held       {store.nbytes / gib:6.2f} GiB  (store.nbytes)")
    print(f"  RSS growth {(rss1 - rss0) / gib:6.2f} GiB  (psutil, before -> after building)")
    print(f"  peak RSS   {peak / gib:6.2f} GiB  (getrusage ru_maxrss, whole process)")
    print(f"  built in {build_s:.1f} s; limit 24 GiB")
    # two forked DataLoader workers over the store: what do they hold of their own?
    from datasets.pipeline import EventSplit, TrainLoader
    from datasets.transforms.augment import FusedSpikingFer

    n = 64
    split = EventSplit(store, list(range(n)), [0] * n, transform=FusedSpikingFer(SENSOR))
    loader = TrainLoader(split, BATCH, workers=2)
    for _ in loader.epoch(np.arange(n), 0):
        pass
    kids = proc.children(recursive=True)
    uss = [k.memory_full_info().uss for k in kids]
    rss_k = [k.memory_info().rss for k in kids]
    print(f"  2 forked workers after an epoch: RSS {', '.join(f'{v / gib:.2f}' for v in rss_k)} "
          f"GiB (shared pages counted), private (USS) "
          f"{', '.join(f'{v / 2**20:.0f}' for v in uss)} MiB: the store is not copied")
    loader.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (seconds)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--memory", action="store_true",
                    help="instead, measure the RSS of a CASIA-sized store (478 x 300k events, "
                         "~1.7 GiB, ~30 s)")
    args = ap.parse_args(argv)
    if args.memory:
        memory_report()
        return
    import torch

    from benchmarks.results.provenance import provenance

    prov = provenance({}, "cpu")
    print(f"pipeline_bench: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"commit {prov.get('git_commit', '?')}{' (dirty)' if prov.get('git_dirty') else ''}")
    print("samples/s (median of interleaved rounds); ratios to 'old' from the same run\n")
    plan = {50_000: (8, 32, 128), 300_000: (8, 16, 128), 1_000_000: (4, 8, 64)}
    sizes = SIZES
    rounds = args.rounds
    if args.quick:
        plan = {n: (2, 4, 16) for n in plan}
        sizes, rounds = (50_000, 300_000), 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            n_rec, old_n, new_n = plan[n]
            r = bench_size(n, n_rec, rounds, old_n, new_n, Path(tmp))
            rows.append((n, r))
            print(f"  {n:>9,} events: decoded {n_rec} recordings once in {r['decode_s']:.2f} s, "
                  f"workers started in {r['worker_start_s']:.2f} s", flush=True)
    hdr = ("events", "old", "ref mem", "new w0", "new w1", "new w2",
           "w0/old", "w1/old", "w2/old", "w0/ref")
    print("\n| " + " | ".join(hdr) + " |")
    print("|" + "|".join("---:" for _ in hdr) + "|")
    for n, r in rows:
        vals = [f"{n:,}"] + [f"{r[k]:.1f}" for k in ("old", "ref", "new0", "new1", "new2")]
        vals += [f"{r[f'new{w}'] / r['old']:.1f}x" for w in (0, 1, 2)]
        vals.append(f"{r['new0'] / r['ref']:.1f}x")
        print("| " + " | ".join(vals) + " |")


if __name__ == "__main__":
    main()
