"""CPU performance of the backends: forward and forward+backward time per backend and
architecture at batch 1 and 32, and pytest-benchmark timings of ``tiny``.

Run with::

    .venv/bin/python -m pytest -q -m perf --benchmark-enable tests/perf/test_perf_backends.py -s

``test_timing_table`` prints one line per (backend, architecture, batch) with the thread count
and the load average (the machine is shared: timings taken under load are not comparable).
sew_resnet18 at 128x128 and batch 32 is measured once (no repeat): on 2 CPU cores its
forward+backward takes tens of seconds. Every test runs at torch's default thread count and at
1 thread: on a shared machine under load, torch's OpenMP threads spin against the other
processes and multi-threaded timings become erratic, while 1-thread timings stay stable.
"""

from __future__ import annotations

import os
import statistics
import time

import pytest
import torch

from backends.base import get_backend
from backends.specs import get_arch

pytestmark = pytest.mark.perf

PERF_BACKENDS = ["ann", "snntorch", "lava-dl"]
K = 7
THREADS = sorted({torch.get_num_threads(), 1}, reverse=True)


@pytest.fixture(params=THREADS, ids=lambda n: f"{n}thr")
def threads(request):
    """Run the test with ``torch.set_num_threads(n)``; restores the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def _backend_or_skip(name: str):
    """The backend, or skip when it is unavailable (lava-dl is optional)."""
    try:
        be = get_backend(name)
        ok, why = be.available()
    except Exception as exc:  # an adapter that fails to import is unavailable here
        ok, why = False, f"{type(exc).__name__}: {exc}"
    if not ok:
        pytest.skip(f"backend {name} unavailable: {why}")
    return be


def _input(arch, batch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    shape = (batch, arch.n_time_bins, 2, *arch.input_size)
    return torch.poisson(torch.full(shape, 0.3), generator=g)


def _train_step(be, model, opt, x, y) -> float:
    out = be.forward(model, x)
    loss = torch.nn.functional.cross_entropy(out.logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.item())


@pytest.mark.parametrize("batch", [1, 32])
@pytest.mark.parametrize("backend", PERF_BACKENDS)
def test_tiny_forward_benchmark(benchmark, threads, backend, batch):
    be = _backend_or_skip(backend)
    arch = get_arch("tiny")
    model = be.build(arch, (arch.n_time_bins, 2, *arch.input_size), K).eval()
    x = _input(arch, batch)
    benchmark.extra_info.update(threads=torch.get_num_threads(), batch=batch, arch="tiny")
    with torch.no_grad():
        out = benchmark(be.forward, model, x)
    assert out.logits.shape == (batch, K)


@pytest.mark.parametrize("backend", PERF_BACKENDS)
def test_tiny_training_step_benchmark(benchmark, threads, backend):
    be = _backend_or_skip(backend)
    arch = get_arch("tiny")
    model = be.build(arch, (arch.n_time_bins, 2, *arch.input_size), K).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = _input(arch, 32)
    y = torch.arange(32) % K
    benchmark.extra_info.update(threads=torch.get_num_threads(), batch=32, arch="tiny")
    loss = benchmark(_train_step, be, model, opt, x, y)
    assert loss == loss  # finite (not NaN)


def _time(fn, repeats: int, warmup: int) -> tuple[float, float]:
    """(minimum, median) wall time of ``fn`` in seconds over ``repeats`` runs after ``warmup``
    runs. The minimum is the figure least disturbed by other processes on a shared machine."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def test_timing_table(threads):
    """Forward (eval, no grad) and forward+backward (train mode) wall time on CPU: the minimum
    and the median over the repeats (seconds)."""
    rows = []
    assert torch.get_num_threads() == threads
    print(
        f"\nCPU timings: torch {torch.__version__}, {threads} threads, "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'backend':<9} {'arch':<13} {'batch':>5} {'params':>10} {'fwd_min_s':>10} "
        f"{'fwd_med_s':>10} {'fb_min_s':>10} {'fb_med_s':>10} {'repeats':>7} {'load':>5}"
    )
    for name in PERF_BACKENDS:
        try:
            be = get_backend(name)
            ok, why = be.available()
        except Exception as exc:
            ok, why = False, repr(exc)
        if not ok:
            print(f"{name:<9} skipped: {why}")
            continue
        for arch_name in ("tiny", "sew_resnet18"):
            arch = get_arch(arch_name)
            model = be.build(arch, (arch.n_time_bins, 2, *arch.input_size), K)
            n_params = sum(p.numel() for p in model.parameters())
            for batch in (1, 32):
                heavy = arch_name == "sew_resnet18"
                repeats, warmup = (
                    (1, 0) if (heavy and batch == 32) else ((3, 1) if heavy else (10, 2))
                )
                x = _input(arch, batch)
                y = torch.arange(batch) % K

                def fwd(model=model, x=x, be=be):
                    with torch.no_grad():
                        be.forward(model, x)

                def fwd_bwd(model=model, x=x, y=y, be=be):
                    out = be.forward(model, x)
                    torch.nn.functional.cross_entropy(out.logits, y).backward()
                    model.zero_grad(set_to_none=True)

                try:
                    model.eval()
                    t_f = _time(fwd, repeats, warmup)
                    model.train()
                    t_fb = _time(fwd_bwd, repeats, warmup)
                except RuntimeError as exc:  # e.g. out of memory: report and go on
                    print(f"{name:<9} {arch_name:<13} {batch:>5} failed: {exc}")
                    continue
                rows.append((name, arch_name, batch, n_params, t_f, t_fb))
                print(
                    f"{name:<9} {arch_name:<13} {batch:>5} {n_params:>10} {t_f[0]:>10.4f} "
                    f"{t_f[1]:>10.4f} {t_fb[0]:>10.4f} {t_fb[1]:>10.4f} {repeats:>7} "
                    f"{os.getloadavg()[0]:>5.2f}",
                    flush=True,
                )
    assert rows
