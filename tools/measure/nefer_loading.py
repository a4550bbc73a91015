"""Measure NEFER loading on a generated tree of the real size: 545 annotated sequences x 51
event frames (the real annotation files, ``../shared/real/nefer``) at a chosen frame size.

Run from the repository root::

    python -m tools.measure.nefer_loading --out /tmp/nefer_bench --size 1280 720 --sample 40

It writes (once) a NEFER tree under ``--out``: the real annotation files and every event and RGB
frame they name, event frames as 8-bit grey PNG TBR images (N = 8) made of ``--distinct``
generated images hard-linked to every path (so the tree costs the disk of the distinct images;
reads go through the page cache like any recently written file), RGB frames as one small PNG.
Then it measures, in one process:

* ``open_s``: opening the dataset (annotations parsed and cross-checked, every frame's existence);
* first epoch: ``event_tensor`` (read PNG, decode the TBR bits, count them in T time bins, resize)
  of ``--sample`` sequences drawn at random, in frames/s (a full first epoch is
  27,795 frames / this rate; also per CPU second of the process, which a shared machine's load
  does not change); this is also the rate of any epoch that does not cache;
* later epochs: the cell's path (:meth:`benchmarks.runner.data.CellData.train_batches`) over the cached
  tensors of the whole official training split (420 sequences; the sampled tensors stand in for
  the others, the rate does not depend on their values), in frames/s (51 frames per sequence);
* memory: peak resident set size of the process and the bytes of the cached tensors;
* where the first epoch's time goes: reading the PNGs (decode and checks) and counting the
  binary frames in time bins, per frame, on 5 of the sampled sequences.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/nefer_bench"))
    ap.add_argument("--annotations", type=Path,
                    default=Path(__file__).resolve().parents[3] / "shared" / "real" / "nefer")
    ap.add_argument("--size", type=int, nargs=2, default=(1280, 720), metavar=("W", "H"))
    ap.add_argument("--distinct", type=int, default=51)
    ap.add_argument("--sample", type=int, default=40)
    ap.add_argument("--time-bins", type=int, default=8)
    ap.add_argument("--input-size", type=int, nargs=2, default=(48, 48), metavar=("H", "W"))
    args = ap.parse_args(argv)

    import torch

    from datasets.loaders.nefer import NEFERDataset, write_nefer_tree

    torch.set_num_threads(1)
    t = time.perf_counter()
    if not (args.out / "NEFER").is_dir():
        write_nefer_tree(args.out, annotation_dir=args.annotations, frame_size=tuple(args.size),
                         distinct_frames=args.distinct, link_copies=True, rgb_size=(16, 12))
    write_s = time.perf_counter() - t

    t = time.perf_counter()
    ds = NEFERDataset(args.out)
    open_s = time.perf_counter() - t
    train, test = ds.split(0, "official")
    rng = np.random.default_rng(0)
    sample = sorted(rng.choice(len(ds), size=min(args.sample, len(ds)), replace=False).tolist())
    t, c = time.perf_counter(), time.process_time()
    tensors = [ds.event_tensor(i, args.time_bins, tuple(args.input_size)) for i in sample]
    first_s, first_cpu_s = time.perf_counter() - t, time.process_time() - c
    n_first = sum(len(ds.sequences[i].extra["frames"]) for i in sample)

    # where the first epoch's time goes, on the first 5 sampled sequences
    from datasets.loaders.nefer import tbr_time_bins

    t_read = t_bins = 0.0
    for i in sample[:5]:
        t = time.perf_counter()
        codes, n = ds.load_tbr(i)
        t_read += time.perf_counter() - t
        t = time.perf_counter()
        tbr_time_bins(codes, n, args.time_bins)
        t_bins += time.perf_counter() - t
    n5 = 51 * len(sample[:5])

    # later epochs: the cell's cached-tensor path over the whole training split
    from benchmarks.runner.data import CellData, Split

    x = torch.stack([tensors[k % len(tensors)] for k in range(len(train))])
    y = torch.tensor([ds.sequences[i].label for i in train])
    empty = Split(x[:0], y[:0], [])
    data = CellData(train=Split(x, y, list(train)), val=empty, test=empty, classes=ds.classes,
                    dataset=ds)
    order = np.random.default_rng(1)
    epochs, t = 5, time.perf_counter()
    for epoch in range(epochs):
        for _idx, xb, _yb, _f in data.train_batches(order, epoch, 0, 16):
            xb.sum()  # touch the batch
    later_s = (time.perf_counter() - t) / epochs
    n_train_frames = 51 * len(train)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cache_mb = len(ds) * tensors[0].numel() * 4 / 2**20
    fmt = ds.data_format["event_frames"]
    out = {
        "sequences": len(ds), "frames": 51 * len(ds), "frame_size": [fmt["width"], fmt["height"]],
        "tbr_bits": fmt["tbr_bits"], "png_bytes_mean": int(np.mean(
            [(ds.sequences[i].path / "frame_25.png").stat().st_size for i in sample[:5]])),
        "write_tree_s": round(write_s, 1), "open_s": round(open_s, 2),
        "first_epoch_frames_per_s": round(n_first / first_s, 1),
        "first_epoch_frames_per_cpu_s": round(n_first / first_cpu_s, 1),
        "first_epoch_s_extrapolated": round(51 * len(ds) / (n_first / first_s), 1),
        "load_average_1min": round(__import__("os").getloadavg()[0], 1),
        "read_png_ms_per_frame": round(1e3 * t_read / n5, 2),
        "tbr_bins_ms_per_frame": round(1e3 * t_bins / n5, 2),
        "later_epoch_frames_per_s": round(n_train_frames / later_s, 1),
        "peak_rss_mb": round(rss_mb, 1), "cached_tensors_mb_all_sequences": round(cache_mb, 1),
        "sample_sequences": len(sample), "time_bins": args.time_bins,
        "input_size": list(args.input_size), "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
