"""Stress the Ctrl-C scenario of the local executor: ``--workers 2``, two cells recorded, two
held in their workers, SIGINT to the driver; the driver must exit with 130 within 60 s, keep the
finished cells and free the interrupted ones (``tests/test_executors.py::
test_ctrl_c_stops_local_workers_and_keeps_finished_cells``, which CI runs 3 times).

Runs that test N times in one pytest process while ``--load`` busy processes keep every core
busy, and prints one line: passed, failed, wall time.

    python tests/stress_ctrl_c.py -n 20 --load 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _burn(stop_at: float) -> None:
    x = 0
    while time.time() < stop_at:
        x = (x * 31 + 7) % 1_000_003


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20, help="repetitions of the scenario (default 20)")
    ap.add_argument("--load", type=int, default=os.cpu_count() or 1,
                    help="busy-loop processes beside it (default: one per core)")
    ap.add_argument("--timeout-s", type=float, default=3600.0, help="stop the busy processes after this")
    args = ap.parse_args(argv)
    stop_at = time.time() + args.timeout_s
    ctx = multiprocessing.get_context("spawn")
    burners = [ctx.Process(target=_burn, args=(stop_at,), daemon=True) for _ in range(args.load)]
    for b in burners:
        b.start()
    t0 = time.perf_counter()
    passed = failed = 0
    tail: list[str] = []
    try:  # pytest -v, its lines passed on as they come: a run cut short still shows its results
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-p", "no:randomly",
             "tests/test_executors.py", "-k", "test_ctrl_c_stops_local_workers"],
            cwd=ROOT, env={**os.environ, "NEUROFER_CTRL_C_REPEATS": str(args.n)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            tail = (tail + [line])[-200:]
            if "::test_ctrl_c_stops_local_workers" in line and ("PASSED" in line or "FAILED" in line):
                passed += "PASSED" in line
                failed += "FAILED" in line
                print(f"[{time.perf_counter() - t0:6.0f} s] {line.strip()}", flush=True)
        rc = proc.wait()
    finally:
        for b in burners:
            b.terminate()
    wall = time.perf_counter() - t0
    if rc != 0:
        sys.stdout.write("".join(tail[-120:]))
    print(f"Ctrl-C scenario x{args.n} under {args.load} busy process(es): {passed} passed, "
          f"{failed} failed (wall {wall:.0f} s)")
    return rc

if __name__ == "__main__":
    sys.exit(main())
