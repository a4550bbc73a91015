"""CPU timings of the lava-dl (SLAYER) backend: forward and forward+backward of ``tiny`` and
``sew_resnet18`` at batch 1 and 32, at torch's default thread count and at 1 thread.

Run with::

    .venv/bin/python -m pytest -q -m perf tests/perf/test_perf_lava.py -s
    PYTHONPATH=. .venv/bin/python tests/perf/test_perf_lava.py     # the same table, as a script

Each line gives the median over ``repeats`` runs after one warm-up run (sew_resnet18 at batch 32:
one run, no warm-up; it takes tens of seconds on 2 cores), the thread count and the 1-minute load
average (the machine may be shared: timings under load are not comparable). Inputs are Poisson
event counts (rate 0.3 per pixel and bin) at the spec's size; the model is in training mode,
forward+backward includes ``loss.backward()`` of a cross-entropy on the logits (no optimizer
step).
"""

from __future__ import annotations

import os
import statistics
import time

import pytest
import torch

from backends.specs import get_arch

pytestmark = [pytest.mark.perf, pytest.mark.lava]

K = 7
THREADS = sorted({torch.get_num_threads(), 1}, reverse=True)


def measure(arch_name: str, batch: int, repeats: int = 3) -> dict[str, float]:
    """Median seconds of a forward pass (no grad) and of forward+backward of the lava-dl model.

    Raises:
        backends.base.BackendUnavailableError: lava-dl cannot be imported.
    """
    from backends.adapters import lava_dl

    arch = get_arch(arch_name)
    shape = (arch.n_time_bins, 2, *arch.input_size)
    torch.manual_seed(0)
    model = lava_dl.BACKEND.build(arch, shape, K)
    g = torch.Generator().manual_seed(0)
    x = torch.poisson(torch.full((batch, *shape), 0.3), generator=g)
    y = torch.arange(batch) % K
    heavy = arch_name == "sew_resnet18" and batch >= 32
    runs = 1 if heavy else repeats
    fwd, fwd_bwd = [], []
    for i in range(runs + (0 if heavy else 1)):  # first run: warm-up
        t0 = time.perf_counter()
        with torch.no_grad():
            lava_dl.BACKEND.forward(model, x)
        t1 = time.perf_counter()
        out = lava_dl.BACKEND.forward(model, x)
        torch.nn.functional.cross_entropy(out.logits, y).backward()
        model.zero_grad(set_to_none=True)
        t2 = time.perf_counter()
        if heavy or i > 0:
            fwd.append(t1 - t0)
            fwd_bwd.append(t2 - t1)
    return {"forward_s": statistics.median(fwd), "forward_backward_s": statistics.median(fwd_bwd)}


def _line(arch_name: str, batch: int, threads: int, r: dict[str, float]) -> str:
    return (
        f"lava-dl {arch_name:13s} batch {batch:3d} threads {threads}: "
        f"forward {r['forward_s'] * 1e3:9.1f} ms, forward+backward "
        f"{r['forward_backward_s'] * 1e3:9.1f} ms (load {os.getloadavg()[0]:.2f})"
    )


@pytest.mark.parametrize("threads", THREADS, ids=lambda n: f"{n}thr")
@pytest.mark.parametrize("batch", [1, 32])
@pytest.mark.parametrize("arch_name", ["tiny", "sew_resnet18"])
def test_lava_timings(arch_name: str, batch: int, threads: int, record_property) -> None:
    from backends.adapters import lava_dl

    ok, why = lava_dl.BACKEND.available()
    if not ok:
        pytest.skip(f"lava-dl unavailable: {why}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        r = measure(arch_name, batch)
    finally:
        torch.set_num_threads(before)
    record_property("timing", {**r, "threads": threads, "batch": batch, "arch": arch_name})
    print("\n" + _line(arch_name, batch, threads, r))
    assert r["forward_s"] > 0 and r["forward_backward_s"] > r["forward_s"] * 0.5


def main() -> None:
    """Print the timing table (all architectures, batches and thread counts)."""
    before = torch.get_num_threads()
    for arch_name in ("tiny", "sew_resnet18"):
        for batch in (1, 32):
            for threads in THREADS:
                torch.set_num_threads(threads)
                print(_line(arch_name, batch, threads, measure(arch_name, batch)), flush=True)
    torch.set_num_threads(before)


if __name__ == "__main__":
    main()
