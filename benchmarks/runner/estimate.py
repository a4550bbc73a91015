"""Cost before launch: measure a grid's parts on this machine and project its wall time.

:func:`estimate_grid` measures, on the device it is asked for (and only there: it never projects
for a device it cannot measure):

* each (backend, architecture) pair's training rate (a native model: under its framework's backend,
  with its card's loss): a few optimiser steps at the recipe's batch
  size on random binary input of the architecture's shape (after one warm-up step), in samples/s,
  with the recipe's mixed precision;
* the training data pipeline's rate (:func:`measure_pipeline_rate`): the cell's own pipeline
  (:meth:`benchmarks.runner.data.CellData.train_batches`, the recipe's augmentations, binning and worker
  count) over generated recordings of ``events`` events on the Spiking-FER 200x200 sensor;

and projects each cell's training time as ``epochs x n_train / min(model rate, pipeline rate)``
(data preparation overlaps the model's steps when the recipe has DataLoader workers; without
workers the two add up: ``n_train x (1/model + 1/pipeline)`` per epoch), plus one validation pass
per epoch and the test pass at the inference rate (taken as 3x the training rate, the forward
share of a training step). The number of training sequences comes from the dataset when it is
under the data root, else from the published sizes of the Spiking-FER datasets (:data:`PUBLISHED_SIZES`)
and the recipe's split fractions. It reports which part bounds each pair (data or model).
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PUBLISHED_SIZES = {"ckplus-dvs": 357, "adfes-dvs": 131, "casia-dvs": 478, "mmi-dvs": 207}
"""Sequences per Spiking-FER dataset (rows of the published folds.csv files, ../shared/real)."""
FOLDS_TEST_FRACTION = 0.2
"""The Spiking-FER folds hold out ~20% of the sequences per fold (datasets.folds docstring)."""
INFERENCE_OVER_TRAINING = 3.0
"""Inference rate / training rate assumed for the evaluation passes (forward only vs forward +
backward + step: the backward pass costs about twice the forward)."""


def _write_recordings(root: Path, n: int, events: int, seed: int = 0,
                      distinct: int | None = None) -> Path:
    """A CKPlusDVS-layout tree of ``n`` generated recordings (uniform events over 2 s on a
    200x200 sensor) with a 10-fold folds.csv; returns the data root. With ``distinct``, only
    that many are generated and recording ``i`` is a hard link to recording ``i % distinct``."""
    import os

    import numpy as np

    from datasets.folds import FoldRow, write_folds_csv
    from datasets.io.events import make_events, write_v2e_h5

    rng = np.random.default_rng(seed)
    d = root / "CKPlusDVS"
    rows = []
    for i in range(n):
        subject = f"S{i:03d}"
        if distinct is not None and i >= distinct:
            (d / subject).mkdir(parents=True, exist_ok=True)
            os.link(d / f"S{i % distinct:03d}" / "001.h5", d / subject / "001.h5")
        else:
            t = np.sort(rng.integers(0, 2_000_000, events))
            ev = make_events(t, rng.integers(0, 200, events), rng.integers(0, 200, events),
                             rng.integers(0, 2, events))
            write_v2e_h5(d / subject / "001.h5", ev, compression=None)
        rows.append(FoldRow(subject, "001", 1 + i % 6, tuple(j == i % 10 for j in range(10))))
    write_folds_csv(d / "folds.csv", rows)
    return root


def measure_pipeline_rate(*, events: int = 300_000, workers: int = 0, seconds: float = 10.0,
                          recipe: Any = None, arch: str = "sew_resnet18", n_recordings: int = 24,
                          distinct: int | None = None) -> float:
    """Samples/s of the training data pipeline of ``recipe`` (default: the ``spiking_fer`` grid's:
    Spiking-FER EDAs, binary frames) for ``arch`` over ``n_recordings`` generated recordings of
    ``events`` events (``distinct`` of them different, the others hard links: see
    :func:`_write_recordings`), with ``workers`` DataLoader workers, timed over at least
    ``seconds`` (whole epochs)."""
    import dataclasses

    import numpy as np

    from backends.specs import get_arch
    from benchmarks.results.spec import Cell
    from benchmarks.runner.data import load_cell_data
    from benchmarks.runner.grid import load_grid

    r = recipe or load_grid("spiking_fer").recipe
    r = dataclasses.replace(r, workers=workers, val_fraction=0.15)
    with tempfile.TemporaryDirectory(prefix="neurofer-estimate-") as tmp:
        root = _write_recordings(Path(tmp), n_recordings, events, distinct=distinct)
        cell = Cell(dataset="ckplus-dvs", backend="ann", arch=arch, recipe=r, protocol="folds")
        data = load_cell_data(cell, get_arch(arch), root)
        order = np.random.default_rng(0)
        n, epoch, t0 = 0, 0, time.perf_counter()
        while True:
            for idx, _x, _y, _f in data.train_batches(order, epoch, 0, r.batch_size, workers=workers):
                n += len(idx)
            epoch += 1
            if time.perf_counter() - t0 >= seconds:
                break
        return n / (time.perf_counter() - t0)


def measure_training_rate(backend_name: str, arch_name: str, *, batch_size: int, device: str,
                          amp: str = "off", steps: int = 3) -> float:
    """Samples/s of optimiser steps of ``backend_name``/``arch_name`` on ``device`` (random binary
    input, after one warm-up step; CUDA timings synchronised).

    Raises:
        BackendUnavailableError, ValueError: the backend cannot run or compile the architecture.
    """
    import torch

    from backends.native.backend import backend_for
    from backends.specs import get_arch
    from benchmarks.runner.training import autocast

    arch = get_arch(arch_name)
    backend = backend_for(backend_name, arch)  # a native model: its own framework's runner
    shape = (arch.n_time_bins, 2, *arch.input_size)
    model = backend.build(arch, shape, 7).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = (torch.rand(batch_size, *shape) < 0.2).float().to(device)
    y = torch.randint(0, 7, (batch_size,)).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    card_loss = getattr(backend, "loss", None)  # a native model's loss (e.g. MSE on rates)

    def step():
        with autocast(device, amp, backend):
            out = backend.forward(model, x)
            loss = (card_loss(out, y) if card_loss is not None
                    else torch.nn.functional.cross_entropy(out.logits.float(), y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return steps * batch_size / (time.perf_counter() - t)


@dataclass
class PairEstimate:
    """Projection for one (backend, architecture) pair of a grid."""

    backend: str
    arch: str
    cells: int
    train_samples: int
    model_rate: float | None
    pipeline_rate: float | None
    hours: float | None
    bound: str
    note: str = ""


def _n_train(dataset: str, protocol: str, recipe: Any, data_root: Path) -> tuple[int, int, str]:
    """``(n_train, n_eval, source)`` sequences of one fold of ``dataset``."""
    from datasets.registry import open_dataset

    try:
        ds = open_dataset(dataset, data_root)
        train, test = ds.split(0, protocol)
        n_val = round(len(train) * recipe.val_fraction)
        return len(train) - n_val, n_val + len(test), "dataset"
    except Exception:
        n = PUBLISHED_SIZES.get(dataset)
        if n is None:
            raise
        n_test = round(n * FOLDS_TEST_FRACTION)
        n_val = round((n - n_test) * recipe.val_fraction)
        return n - n_test - n_val, n_val + n_test, "published size"


def estimate_grid(grid: Any, *, device: str, data_root: str | Path, events: int = 300_000,
                  pipeline_seconds: float = 8.0) -> tuple[list[PairEstimate], str]:
    """Measure and project ``grid`` on ``device``; returns the rows and the printed report.

    Raises:
        ValueError: ``device`` is CUDA and torch sees none (no projection for an unmeasured device).
    """
    import torch
    from tabulate import tabulate

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device here; run estimate on the GPU machine "
                         "to project GPU hours (it only projects for a device it can measure)")
    r = grid.recipe
    data_root = Path(data_root)
    sizes = {d: _n_train(d, grid.protocol, r, data_root) for d in grid.datasets}
    per_cell = sizes
    pipe = None  # without augmentation the training tensors are binned once and cached
    if r.augment:
        try:
            pipe = measure_pipeline_rate(events=events, workers=r.workers, seconds=pipeline_seconds,
                                         recipe=r, arch=grid.archs[0])
        except Exception as exc:
            log.warning("pipeline rate not measured: %s", exc)
    rows = []
    n_runs = len(grid.folds) * len(grid.seeds)
    native = grid.native_backends() if hasattr(grid, "native_backends") else {}
    for a in grid.archs:
        for b in ((native[a],) if a in native else grid.backends):  # a native model: its own
            cells = n_runs * len(grid.datasets)
            train_samples = n_runs * r.epochs * sum(s[0] for s in per_cell.values())
            eval_samples = n_runs * sum(r.epochs * s[1] for s in per_cell.values())
            try:
                rate = measure_training_rate(b, a, batch_size=r.batch_size, device=device, amp=r.amp)
            except Exception as exc:
                rows.append(PairEstimate(b, a, cells, train_samples, None, pipe, None, "—",
                                         f"{type(exc).__name__}: {str(exc)[:80]}"))
                continue
            if pipe is None:
                per_train = 1 / rate
                bound = "model"
            elif r.workers > 0:
                per_train = 1 / min(rate, pipe)
                bound = "data" if pipe < rate else "model"
            else:
                per_train = 1 / rate + 1 / pipe
                bound = "data" if pipe < rate else "model"
            seconds = train_samples * per_train + eval_samples / (INFERENCE_OVER_TRAINING * rate)
            rows.append(PairEstimate(b, a, cells, train_samples, rate, pipe, seconds / 3600, bound))
    total = sum(x.hours for x in rows if x.hours is not None)
    table = tabulate(
        [[x.backend, x.arch, x.cells, f"{x.train_samples:,}",
          "—" if x.model_rate is None else f"{x.model_rate:.1f}",
          "—" if x.pipeline_rate is None else f"{x.pipeline_rate:.1f}",
          "—" if x.hours is None else f"{x.hours:,.1f}", x.bound, x.note] for x in rows],
        ["backend", "arch", "cells", "training samples", "model (samples/s)",
         "pipeline (samples/s)", "device-hours", "bound by", "note"],
        tablefmt="github", disable_numparse=True)
    sources = ", ".join(f"{d}: {s[0]} train + {s[1]} eval per fold ({s[2]})" for d, s in sizes.items())
    report = (f"estimate for grid {grid.name!r} on {device} ({torch.get_num_threads()} threads): "
              f"{len(grid.cells())} cells, {r.epochs} epochs, batch {r.batch_size}, "
              f"amp {r.amp}, {r.workers} workers; pipeline at {events:,} events/recording\n"
              f"sizes: {sources}\n\n{table}\n\n"
              f"total: {total:,.1f} device-hours on one {device} device "
              f"({total / 24:,.1f} days); with D devices (run --workers D --devices ...) about "
              f"total / D.\n")
    if math.isfinite(total):
        log.info("projected %.1f device-hours", total)
    return rows, report
