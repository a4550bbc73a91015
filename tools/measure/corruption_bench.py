"""Transform rate of every event corruption, fast path against its numpy reference, in one run.

Run: ``python -m tools.measure.corruption_bench [--events N] [--severity S] [--repeats R]``.
Prints, per corruption, the rate in M input events per second of the fast path and of the
reference (best of ``R`` runs each, the same generator seed for both) and their ratio, after
checking that both give the same events. Input: ``N`` uniform random events on a DAVIS346-sized
sensor (346 x 260) over 2 s, sorted by time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from datasets.io.events import make_events
from datasets.transforms.corruptions import CORRUPTIONS, corruption_rng

SENSOR = (346, 260, 2)


def random_recording(n: int, seed: int = 0, duration_us: int = 2_000_000) -> np.ndarray:
    """``n`` uniform events on :data:`SENSOR` over ``duration_us``, sorted by ``t``."""
    rng = np.random.default_rng(seed)
    return make_events(np.sort(rng.integers(0, duration_us, n)), rng.integers(0, SENSOR[0], n),
                       rng.integers(0, SENSOR[1], n), rng.integers(0, 2, n))


def rates(n_events: int = 1_000_000, severity: int = 3, repeats: int = 3) -> list[dict]:
    """Per corruption: ``{"name", "fast_mev_s", "reference_mev_s", "speedup", "distinct"}``
    (``distinct``: the fast path is a different algorithm from the reference).

    Raises:
        RuntimeError: the fast path and the reference disagree (a bug).
    """
    events = random_recording(n_events)
    out = []
    for name, spec in CORRUPTIONS.items():
        tr = spec.make(severity, SENSOR)
        best = {}
        results = {}
        for which in ("fast", "reference"):
            fn = tr if which == "fast" else tr.reference
            times = []
            for _ in range(repeats):
                rng = corruption_rng(0, 0, name, severity)
                t0 = time.perf_counter()
                results[which] = fn(events, rng)
                times.append(time.perf_counter() - t0)
            best[which] = min(times)
        if not np.array_equal(results["fast"], results["reference"]):
            raise RuntimeError(f"{name}: the fast path and the reference disagree")
        distinct = type(tr).__call__ is not type(tr).reference
        out.append({"name": name, "fast_mev_s": n_events / best["fast"] / 1e6,
                    "reference_mev_s": n_events / best["reference"] / 1e6,
                    "speedup": best["reference"] / best["fast"], "distinct": distinct})
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the table (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--severity", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    print(f"{a.events} events, severity {a.severity}, best of {a.repeats}")
    print(f"{'corruption':<20} {'fast Mev/s':>11} {'ref Mev/s':>10} {'ratio':>6}  fast path")
    for r in rates(a.events, a.severity, a.repeats):
        print(f"{r['name']:<20} {r['fast_mev_s']:>11.1f} {r['reference_mev_s']:>10.1f} "
              f"{r['speedup']:>6.2f}  {'own' if r['distinct'] else 'is the reference'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
