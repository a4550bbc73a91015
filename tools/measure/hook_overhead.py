"""The cost of measuring a model by forward hooks, as a ratio from one run.

Builds the suite's ``sew_resnet18`` (snntorch backend, 128x128, T = 6, batch 1, eval mode),
wraps it as a native model (:class:`backends.native.backend.NativeBackend`) and times, in
interleaved rounds on the same input:

* ``plain``: the native forward without measurement (no hooks are attached then);
* ``hooks``: the native forward measured by :class:`backends.native.hooks.HookMeter`;
* ``suite_plain`` / ``suite_recorder``: the suite's own forward without and with its
  :class:`backends.activity.ActivityRecorder` (the accounting the hooks reproduce), and
  ``suite_recorder_probe``: with the recorder and :class:`backends.membrane.MembraneProbe` (the
  membrane updates, which the hooks also count): what a cell of the suite's model measures.

Reports the median time of each over the rounds and the ratios ``hooks / plain`` (the hook
overhead), ``suite_recorder / suite_plain`` (the suite's own accounting overhead) and ``hooks /
suite_recorder_probe``. Usage::

    python -m tools.measure.hook_overhead [--rounds 5] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from typing import Any

log = logging.getLogger(__name__)


def measure(rounds: int = 5, threads: int = 1, arch_name: str = "sew_resnet18") -> dict[str, Any]:
    """Median seconds per forward of each variant and their ratios (see the module docstring).

    Raises:
        ValueError: ``rounds`` < 1.
    """
    import torch

    from backends.base import get_backend
    from backends.native.backend import NativeBackend
    from backends.native.card import ModelCard
    from backends.specs import get_arch

    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    torch.set_num_threads(threads)
    arch = get_arch(arch_name)
    shape = (arch.n_time_bins, 2, *arch.input_size)
    be = get_backend("snntorch")
    torch.manual_seed(0)
    net = be.build(arch, shape, 7).eval()

    class Wrap(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.m(x)

    card = ModelCard(name=f"native-{arch_name}", factory=lambda k, c: Wrap(net),
                     framework="snntorch", n_time_bins=arch.n_time_bins,
                     input_size=tuple(arch.input_size), layout="BTCHW", output="per_step")
    native = NativeBackend(card)
    model = native.build(card, shape, 7, check=False).eval()
    x = torch.poisson(torch.full((1, *shape), 0.3), generator=torch.Generator().manual_seed(0))
    runs = {
        "plain": lambda: native.forward(model, x),
        "hooks": lambda: native.forward(model, x, record_activity=True),
        "suite_plain": lambda: be.forward(net, x),
        "suite_recorder": lambda: be.forward(net, x, record_activity=True),
        "suite_recorder_probe": lambda: _probed(be, net, x),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    with torch.no_grad():
        for f in runs.values():  # warm-up
            f()
        for _ in range(rounds):
            for k, f in runs.items():
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "arch": arch_name, "input": list(x.shape), "rounds": rounds, "threads": threads,
        "torch": torch.__version__, "median_s": med,
        "hooks_over_plain": med["hooks"] / med["plain"],
        "suite_recorder_over_suite_plain": med["suite_recorder"] / med["suite_plain"],
        "hooks_over_suite_recorder_probe": med["hooks"] / med["suite_recorder_probe"],
        "plain_over_suite_plain": med["plain"] / med["suite_plain"],
    }


def _probed(be: Any, net: Any, x: Any) -> Any:
    from backends.membrane import MembraneProbe

    with MembraneProbe(net):
        return be.forward(net, x, record_activity=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: print the result as JSON (and write it with ``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--arch", default="sew_resnet18")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    res = measure(args.rounds, args.threads, args.arch)
    text = json.dumps(res, indent=2)
    if args.json:
        from datasets.common import atomic_write_text

        atomic_write_text(args.json, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
