"""The suite's adapter overhead on one network run two ways: SEW-ResNet-18 (Spiking-FER's) as the
suite compiles it (``sew_resnet18`` spec, spikingjelly backend) and as spikingjelly's own
``sew_resnet18`` run through the native-model adapter (``sj_sew_resnet18`` card,
:class:`backends.native.backend.NativeBackend`), each against the bare spikingjelly model with the
same weights called directly (``functional.reset_net(net); net(x_tbchw).mean(0)``).

Both sides compute the same spikes and logits (``tests/test_zoo.py``), so a ratio above 1 is the
adapter's own cost: input checks, the layout transpose, the per-layer reshapes of the compiled
model, the readout (cumulative per-step logits), the state reset. Two workloads:

* ``train``: one optimiser step (forward, cross-entropy, backward, SGD) on a batch;
* ``infer``: a batch-1 forward in ``eval()`` mode without gradients (latency);

and, on the native path, ``hooks``: the batch-1 forward with the measurement hooks
(``record_activity=True``) against the same without.

Timing (as :mod:`benchmarks.gates.perf_gate`): after warm-up, each round times ``reps`` calls of every
path back to back, rotating their order per round so that load changes hit all alike; the
statistic is the median over rounds of ``t_path / t_bare``. Target: at most 1.05.

Usage::

    python -m tools.measure.zoo_overhead [--size 64] [--steps 6] [--batch 8] [--rounds 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

K = 7


def _suite_key(key: str) -> str:
    """Suite parameter name -> spikingjelly's (the stem is ``conv1`` / ``bn1`` there)."""
    return key.replace("stem_conv.", "conv1.").replace("stem_bn.", "bn1.")


def build_three(size: int, steps: int, seed: int = 0) -> dict[str, Any]:
    """The compiled suite model, the native model and the bare spikingjelly net, same weights.

    Returns:
        ``{"suite": (backend, model), "native": (backend, model), "bare": net}``.
    """
    import torch

    from backends.base import get_backend
    from backends.native.backend import NativeBackend
    from backends.specs import ARCHS, get_arch

    ARCHS.names()
    card = get_arch("sj_sew_resnet18")
    if (steps, (size, size)) != (card.n_time_bins, card.input_size):
        card = dataclasses.replace(card, n_time_bins=steps, input_size=(size, size))
    shape = (steps, 2, size, size)
    torch.manual_seed(seed)
    backend = get_backend("spikingjelly")
    spec = dataclasses.replace(get_arch("sew_resnet18"), input_size=(size, size),
                               n_time_bins=steps)
    suite = backend.build(spec, shape, K)
    state = {_suite_key(k): v for k, v in suite.state_dict().items()}
    native_backend = NativeBackend(card)
    native = native_backend.build(card, shape, K)
    native.net.load_state_dict(state)
    bare = card.factory(K, 2)
    bare.load_state_dict(state)
    return {"suite": (backend, suite), "native": (native_backend, native), "bare": bare}


def _timer(fn: Callable[[], Any], reps: int) -> float:
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def _rounds(paths: dict[str, Callable[[], Any]], *, rounds: int, reps: int,
            warmup: int = 2) -> dict[str, list[float]]:
    names = list(paths)
    for _ in range(warmup):
        for n in names:
            paths[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            times[n].append(_timer(paths[n], reps))
    return times


def _ratios(times: dict[str, list[float]], ref: str) -> dict[str, dict[str, float]]:
    out = {}
    for n, ts in times.items():
        if n == ref:
            continue
        ratios = [a / b for a, b in zip(ts, times[ref], strict=True)]
        out[n] = {"ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
                  "ratio_max": max(ratios), "ms": statistics.median(ts) * 1e3,
                  "bare_ms": statistics.median(times[ref]) * 1e3}
    return out


def measure(size: int = 64, steps: int = 6, batch: int = 8, rounds: int = 7,
            reps: int = 2) -> dict[str, Any]:
    """Measure the overhead ratios (see the module docstring).

    Returns:
        ``{"train": {...}, "infer": {...}, "hooks": {...}, "setup": {...}}``; each path's entry
        has ``ratio_median`` (the statistic), ``ratio_min`` / ``ratio_max`` over rounds, ``ms``
        and ``bare_ms`` (medians per call).
    """
    import torch
    from spikingjelly.activation_based import functional

    models = build_three(size, steps)
    (sb, suite), (nb, native), bare = models["suite"], models["native"], models["bare"]
    gen = torch.Generator().manual_seed(1)
    xb = (torch.rand(batch, steps, 2, size, size, generator=gen) < 0.2).float()
    yb = torch.randint(0, K, (batch,), generator=gen)
    x1 = xb[:1].clone()
    ce = torch.nn.functional.cross_entropy

    def opt(m: torch.nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(m.parameters(), lr=1e-6, momentum=0.9)

    opts = {"suite": opt(suite), "native": opt(native), "bare": opt(bare)}

    def bare_logits(x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(bare)
        return bare(x.transpose(0, 1)).mean(0)

    def step(name: str, logits_of: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            loss = ce(logits_of(), yb)
            opts[name].zero_grad(set_to_none=True)
            loss.backward()
            opts[name].step()
        return run

    for m in (suite, native, bare):
        m.train()
    train = _rounds({
        "bare": step("bare", lambda: bare_logits(xb)),
        "suite": step("suite", lambda: sb.forward(suite, xb).logits),
        "native": step("native", lambda: nb.forward(native, xb).logits),
    }, rounds=rounds, reps=reps)
    for m in (suite, native, bare):
        m.eval()
    with torch.no_grad():
        infer = _rounds({
            "bare": lambda: bare_logits(x1),
            "suite": lambda: sb.forward(suite, x1).logits,
            "native": lambda: nb.forward(native, x1).logits,
        }, rounds=rounds, reps=reps * 4)
        hooks = _rounds({
            "native": lambda: nb.forward(native, x1).logits,
            "native_hooks": lambda: nb.forward(native, x1, record_activity=True).logits,
        }, rounds=rounds, reps=reps * 2)
    return {
        "train": _ratios(train, "bare"),
        "infer": _ratios(infer, "bare"),
        "hooks": _ratios(hooks, "native"),
        "setup": {"size": size, "n_time_bins": steps, "train_batch": batch, "rounds": rounds,
                  "reps": reps, "threads": torch.get_num_threads(), "torch": torch.__version__},
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: print the ratios as JSON (and a one-line summary per path to the log)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=64, help="input H = W (default 64; paper: 128)")
    p.add_argument("--steps", type=int, default=6, help="time bins T (default 6, Spiking-FER's)")
    p.add_argument("--batch", type=int, default=8, help="training batch (default 8)")
    p.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    p.add_argument("--reps", type=int, default=2, help="calls per path per round (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    res = measure(a.size, a.steps, a.batch, a.rounds, a.reps)
    for kind in ("train", "infer", "hooks"):
        for path, r in res[kind].items():
            log.info("%-6s %-13s ratio %.3f (min %.3f, max %.3f)  %.1f ms vs %.1f ms", kind, path,
                     r["ratio_median"], r["ratio_min"], r["ratio_max"], r["ms"], r["bare_ms"])
    sys.stdout.write(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
