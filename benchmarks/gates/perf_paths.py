"""The suite's hot paths, as timed callables for the performance benchmarks and the regression gate.

Each path is built by a factory that prepares its inputs once and returns a zero-argument callable
doing one unit of work. Every path also names a *reference* family (``"numpy"`` or ``"torch"``): a
fixed computation of the same kind of work (cache-resident or memory-heavy), timed interleaved with the path in the same run, so
that the gate can compare ratios (path / reference) rather than absolute times, which vary 1.5-2x
between runs on a shared machine (see :mod:`benchmarks.gates.perf_gate`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Work = Callable[[], object]


@dataclass(frozen=True)
class PerfPath:
    """A benchmarked path: ``factory()`` returns the callable; ``reference`` names its reference."""

    name: str
    factory: Callable[[], Work]
    reference: str
    rounds: int = 15


def _events(n: int = 200_000, size: int = 200, seed: int = 0):
    import numpy as np

    from datasets.io.events import make_events

    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 1_000_000, n))
    return make_events(t, rng.integers(0, size, n), rng.integers(0, size, n), rng.integers(0, 2, n))


def reference_numpy() -> Work:
    """Reference for numpy-bound paths: sort + bincount + gather on 1e6 elements (~10 ms here)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.integers(0, 40_000, 1_000_000)

    def work():
        b = np.sort(a)
        c = np.bincount(b, minlength=40_000)
        return c[a[:200_000]].sum()

    return work


def reference_torch() -> Work:
    """Reference for torch-bound paths: a fixed conv2d + linear forward/backward (~10-20 ms here)."""
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 16, 24, 24, generator=g)
    w = torch.randn(32, 16, 3, 3, generator=g, requires_grad=True)
    lw = torch.randn(10, 32 * 24 * 24, generator=g, requires_grad=True)

    def work():
        y = torch.nn.functional.conv2d(x, w, padding=1).relu()
        out = y.flatten(1) @ lw.t()
        out.sum().backward()
        return out

    return work


def reference_torch_large() -> Work:
    """Reference for memory-heavy torch paths (batch 32 x T steps of feature maps, tens of MB per
    layer): conv2d 16->32 k3 on a (256, 16, 24, 24) batch, ReLU and max pooling, forward only
    (~100 ms here). Under load from other processes such paths slow down more than a
    cache-resident reference does, so they are compared with one of their own kind."""
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 16, 24, 24, generator=g)
    w = torch.randn(32, 16, 3, 3, generator=g)

    def work():
        with torch.no_grad():
            return torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(x, w, padding=1).relu(), 2)

    return work


REFERENCES: dict[str, Callable[[], Work]] = {
    "numpy": reference_numpy,
    "torch": reference_torch,
    "torch_large": reference_torch_large,
}


def _binning() -> Work:
    from datasets.transforms.binning import ToFrames

    ev = _events()
    tf = ToFrames(sensor_size=(200, 200, 2), n_time_bins=6, mode="spiking_fer", binarize=True,
                  size=(128, 128))
    return lambda: tf(ev)


def _augment(name: str) -> Callable[[], Work]:
    def factory() -> Work:
        import numpy as np

        from datasets.transforms import augment as A

        ev = _events()
        sensor = (200, 200, 2)
        transforms = {
            "flip": A.RandomFlipLR(sensor, p=1.0),
            "background_activity": A.BackgroundActivityNoise(sensor, severity=5, p=1.0),
            "reverse": A.RandomTimeReversal(p=1.0),
            "flip_polarity": A.RandomFlipPolarity(p=0.2),
            "event_drop": A.EventDrop(sensor),
            "mirror": A.RandomFaceMirrorEvents(sensor, p=1.0),
        }
        tf = transforms[name]
        # a fresh generator per call: every call does the same (random) work
        return lambda: tf(ev, np.random.default_rng(0))

    return factory


def _crop() -> Work:
    import numpy as np

    from datasets.transforms.augment import RandomResizedCrop

    frames = (np.random.default_rng(0).random((6, 2, 200, 200)) > 0.9).astype(np.float32)
    tf = RandomResizedCrop(size=(128, 128))
    return lambda: tf(frames, np.random.default_rng(0))


def _h5_read() -> Work:
    from datasets.io.events import read_v2e_h5, write_v2e_h5

    tmp = Path(tempfile.mkdtemp(prefix="neurofer-perf-")) / "events.h5"
    write_v2e_h5(tmp, _events())
    return lambda: read_v2e_h5(tmp, (200, 200, 2))


def _tiny_model(backend_name: str):
    import torch

    from backends.base import get_backend
    from backends.specs import get_arch

    backend = get_backend(backend_name)
    ok, why = backend.available()
    if not ok:
        raise RuntimeError(f"backend {backend_name} unavailable: {why}")
    arch = get_arch("tiny")
    shape = (arch.n_time_bins, 2, *arch.input_size)
    torch.manual_seed(0)
    model = backend.build(arch, shape, 7)
    return backend, model, shape


def _forward(backend_name: str, batch: int) -> Callable[[], Work]:
    def factory() -> Work:
        import torch

        backend, model, shape = _tiny_model(backend_name)
        model.eval()
        x = (torch.rand(batch, *shape, generator=torch.Generator().manual_seed(0)) > 0.8).float()

        def work():
            with torch.no_grad():
                return backend.forward(model, x)

        return work

    return factory


def _train_step(backend_name: str) -> Callable[[], Work]:
    def factory() -> Work:
        import torch

        backend, model, shape = _tiny_model(backend_name)
        model.train()
        g = torch.Generator().manual_seed(0)
        x = (torch.rand(16, *shape, generator=g) > 0.8).float()
        y = torch.randint(0, 7, (16,), generator=g)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def work():
            out = backend.forward(model, x)
            loss = torch.nn.functional.cross_entropy(out.logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        return work

    return factory


def _tiny_cell() -> Work:
    """One full tiny cell on a small generated dataset: train 1 epoch, evaluate, measure."""
    from benchmarks.results.spec import Cell, Recipe
    from benchmarks.runner.cell import run_cell
    from datasets.registry import open_dataset

    root = Path(tempfile.mkdtemp(prefix="neurofer-perf-cell-"))
    open_dataset("synthetic-fer-dvs-mini", root)  # generate once, outside the timed call
    recipe = Recipe(epochs=1, batch_size=16, latency_runs=5, warmup_runs=1, throughput_batch_size=8,
                    codecarbon=False)
    cell = Cell(dataset="synthetic-fer-dvs-mini", backend="ann", arch="tiny", recipe=recipe)
    return lambda: run_cell(cell, root, progress=False)


def perf_paths(backends: tuple[str, ...] | None = None) -> list[PerfPath]:
    """All benchmarked paths: the data paths, then each backend's forward and training step
    (every registered backend unless ``backends`` names some), then one full tiny cell.

    An unavailable backend's paths are still listed: their factory raises with the backend's
    reason, so the gate reports them as errors instead of dropping them silently.
    """
    from backends.base import backend_names

    paths = [PerfPath("binning.spiking_fer", _binning, "numpy"),
             PerfPath("h5.read", _h5_read, "numpy")]
    for name in ("flip", "background_activity", "reverse", "flip_polarity", "event_drop", "mirror"):
        paths.append(PerfPath(f"augment.{name}", _augment(name), "numpy"))
    paths.append(PerfPath("augment.crop", _crop, "numpy"))
    for b in backends if backends is not None else backend_names():
        paths += [
            PerfPath(f"forward.{b}.b1", _forward(b, 1), "torch"),
            PerfPath(f"forward.{b}.b32", _forward(b, 32), "torch_large", rounds=9),
            PerfPath(f"train_step.{b}", _train_step(b), "torch_large", rounds=9),
        ]
    paths.append(PerfPath("cell.tiny.ann", _tiny_cell, "torch_large", rounds=5))
    return paths
