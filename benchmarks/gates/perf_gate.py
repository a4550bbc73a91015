"""Performance regression gate that holds on a shared, noisy machine.

Absolute times on a shared 2-core machine vary 1.5-2x between runs, so a threshold on stored means
fails at random. This gate instead measures, for every hot path (:mod:`benchmarks.gates.perf_paths`), the
**ratio** of its time to a fixed reference computation of the same kind of work (numpy- or
torch-bound), timed *interleaved* with it in the same run:

* times are CPU time of this process (:func:`time.process_time`), not wall-clock time: the
  time slices other processes of a shared machine take are not counted (with one torch thread,
  as the baselines are recorded, CPU time equals wall time on an idle machine);
* each timed call lasts at least :data:`MIN_TIMED_S` (a short path, e.g. binning at about a
  millisecond, is repeated within the call), and the reference is repeated ``k`` times per round
  so that it lasts about as long as the path's timed call (``k`` calibrated after warm-up); the
  order (reference, path) alternates by round, so a load change during the run hits both sides
  alike;
* the statistic is the median over rounds of ``t_path / (t_reference / k)``; its *spread*,
  ``(max - min) / median`` of the per-round ratios, is printed for every path (a spread above the
  gate's tolerance ``threshold - 1`` is logged as a warning: that path's verdict is noisy);
* the verdict compares it with the baseline ratio recorded for this machine
  (``benchmarks/gates/perf_baseline.json``, keyed by CPU model, core count, torch threads and torch
  version): ``ratio / baseline > threshold`` is a suspected regression, which is **measured
  again** (:data:`CONFIRM_ROUNDS_FACTOR` times the rounds) before it fails: only a path whose
  second measurement also exceeds the threshold is a ``REGRESSION``; one that does not is
  ``ok (not confirmed)`` and both ratios are reported. The default threshold 1.5 sits between the
  run-to-run spread of the ratio measured here (see docs/testing.md) and the 2x slowdown the
  gate must catch.

A deliberate slowdown for testing the gate itself: ``NEUROFER_PERF_INJECT_SLOWDOWN=<glob>`` makes
every path matching the glob run its work twice per timed call (a 2x slowdown), without touching
library code.

Usage::

    python -m benchmarks.gates.perf_gate                    # gate; writes RUN_DIR/perf_report.md
    python -m benchmarks.gates.perf_gate --update-baseline  # (re)record this machine's baseline
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import math
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.gates.perf_paths import REFERENCES, PerfPath, perf_paths

log = logging.getLogger(__name__)

BASELINE_FILE = Path(__file__).resolve().parent / "perf_baseline.json"
INJECT_ENV = "NEUROFER_PERF_INJECT_SLOWDOWN"
DEFAULT_THRESHOLD = 1.5
MIN_TIMED_S = 0.1
"""Shortest timed call in seconds (a shorter path is repeated within one call). At 0.02 s the
1-ms binning path was timed over 20 ms windows, which a scheduler time slice given to another
process (several ms on a shared 2-core machine) distorts by tens of percent; at 0.1 s one slice
is a few percent (measured spreads: docs/testing.md)."""
CONFIRM_ROUNDS_FACTOR = 2
"""A suspected regression is measured again with this many times the path's rounds."""


def machine_key() -> str:
    """Identity of the machine class a baseline is valid for."""
    import torch

    from benchmarks.results.provenance import cpu_model

    tv = ".".join(torch.__version__.split("+")[0].split(".")[:2])
    return f"{cpu_model()} | {os.cpu_count()} cpus | {torch.get_num_threads()} threads | torch {tv}"


def _timed(fn, reps: int = 1) -> float:
    """CPU seconds of this process spent in ``reps`` calls of ``fn`` (:func:`time.process_time`,
    all threads): time the scheduler gives to other processes of a shared machine is not counted,
    which wall-clock time (``perf_counter``) counts whenever the machine has more runnable
    threads than cores."""
    t = time.process_time()
    for _ in range(reps):
        fn()
    return time.process_time() - t


def measure_ratio(work, reference, rounds: int, *, slowdown: int = 1) -> dict[str, float]:
    """Median ratio of ``work``'s time to ``reference``'s, timed interleaved.

    Args:
        work, reference: zero-argument callables.
        rounds: timed rounds (odd is best for the median).
        slowdown: test hook; ``work`` runs this many times per timed call.

    Returns:
        The dict
        ``{"ratio": median ratio, "ratio_spread": (max-min)/median over rounds,
        "path_ms": median path time, "reference_ms": median per-call reference time,
        "k": reference calls per round, "inner": path calls per timed call}``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    for _ in range(2):  # warm-up: caches, lazy init, allocator
        _timed(work, slowdown)
        _timed(reference)
    # a path shorter than MIN_TIMED_S is repeated within one timed call (timer resolution, jitter)
    t_one = min(_timed(work, slowdown) for _ in range(2))
    inner = max(1, math.ceil(MIN_TIMED_S / max(t_one, 1e-9)))
    t_path = t_one * inner
    t_ref = min(_timed(reference) for _ in range(2))
    k = max(1, round(t_path / max(t_ref, 1e-9)))
    ratios, paths, refs = [], [], []
    for r in range(rounds):
        if r % 2:
            tp = _timed(work, slowdown * inner) / inner
            tr = _timed(reference, k) / k
        else:
            tr = _timed(reference, k) / k
            tp = _timed(work, slowdown * inner) / inner
        ratios.append(tp / tr)
        paths.append(tp)
        refs.append(tr)
    med = statistics.median(ratios)
    return {
        "ratio": med,
        "ratio_spread": (max(ratios) - min(ratios)) / med,
        "path_ms": statistics.median(paths) * 1e3,
        "reference_ms": statistics.median(refs) * 1e3,
        "k": k,
        "inner": inner,
    }


def load_baseline(path: Path = BASELINE_FILE) -> dict:
    """The baseline file's content (``{"machines": {key: {"ratios": {...}, ...}}}``)."""
    if not path.is_file():
        return {"machines": {}}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data.get("machines"), dict):
        raise ValueError(f"{path}: expected a 'machines' object")
    return data


FAILING_VERDICTS = ("REGRESSION", "error", "new", "missing")
"""Verdicts that fail the gate. ``"new"`` (a path without a baseline) and ``"missing"`` (a
baseline entry that was not measured) fail too: a gate that passes on nothing to compare checks
nothing. ``--accept-new`` turns ``"new"`` into ``"new (accepted)"``."""


def run_gate(
    paths: list[PerfPath],
    baseline: dict[str, float] | None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    inject: str | None = None,
    accept_new: bool = False,
    selected: str = "*",
) -> list[dict]:
    """Measure every path and judge it against ``baseline`` (``{path: ratio}``).

    Args:
        paths: the paths to measure.
        baseline: this machine's baseline ratios, or ``None`` when recording a new baseline.
        threshold: ``ratio / baseline`` above this fails.
        inject: test hook, a glob of paths to slow down 2x.
        accept_new: a path without a baseline passes as ``"new (accepted)"`` instead of failing.
        selected: the glob that chose ``paths``; baseline entries matching it that no path
            measured are reported as ``"missing"`` (e.g. an unavailable backend's paths).

    Returns:
        One row per path: ``name``, ``reference``, measured fields of :func:`measure_ratio`,
        ``baseline`` (or ``None``), ``change`` (ratio / baseline) and ``verdict``: ``"ok"``,
        ``"REGRESSION"`` (above the threshold twice: the row's fields are the second
        measurement's, ``first`` holds the first's ``ratio``, ``ratio_spread`` and ``change``),
        ``"ok (not confirmed)"`` (above it once, not when measured again; ``first`` likewise),
        ``"new"`` / ``"new (accepted)"`` (no baseline), ``"error"`` (the path
        failed to run, e.g. its backend is unavailable), ``"missing"`` (in the baseline, not
        measured). See :data:`FAILING_VERDICTS`.
    """
    if threshold <= 1.0:
        raise ValueError(f"threshold must be > 1, got {threshold}")
    refs = {name: make() for name, make in REFERENCES.items()}
    rows = []
    for p in paths:
        slowdown = 2 if inject and fnmatch.fnmatch(p.name, inject) else 1
        row: dict = {"name": p.name, "reference": p.reference, "injected_slowdown": slowdown}
        try:
            work = p.factory()
            row.update(measure_ratio(work, refs[p.reference], p.rounds, slowdown=slowdown))
        except Exception as exc:
            log.error("perf path %s failed: %s: %s", p.name, type(exc).__name__, exc)
            row.update(verdict="error", error=f"{type(exc).__name__}: {exc}", baseline=None, change=None)
            rows.append(row)
            continue
        base = (baseline or {}).get(p.name)
        row["baseline"] = base
        if baseline is None:  # recording a baseline: nothing to judge
            row.update(change=None, verdict="measured")
        elif base is None:
            row.update(change=None, verdict="new (accepted)" if accept_new else "new")
        else:
            row["change"] = row["ratio"] / base
            row["verdict"] = "ok"
            if row["change"] > threshold:  # suspected: measure again before failing
                first = {k: row[k] for k in ("ratio", "ratio_spread", "change")}
                log.warning("%s: ratio %.3f is %.2fx its baseline %.3f (spread %.2f); measuring "
                            "it again", p.name, row["ratio"], row["change"], base,
                            row["ratio_spread"])
                row.update(measure_ratio(work, refs[p.reference], p.rounds * CONFIRM_ROUNDS_FACTOR,
                                         slowdown=slowdown))
                row["change"] = row["ratio"] / base
                row["first"] = first
                row["verdict"] = "REGRESSION" if row["change"] > threshold else "ok (not confirmed)"
        if row["ratio_spread"] > threshold - 1:
            log.warning("%s: spread between rounds %.2f exceeds the gate's tolerance %.2f: its "
                        "ratio is noisy on this machine now", p.name, row["ratio_spread"],
                        threshold - 1)
        log.info("%-28s ratio %.3f (baseline %s) spread %.2f %s", p.name, row["ratio"],
                 f"{base:.3f}" if base else "-", row["ratio_spread"], row["verdict"])
        rows.append(row)
    measured = {p.name for p in paths}
    for name in sorted(baseline or {}):
        if name not in measured and fnmatch.fnmatch(name, selected):
            log.error("perf path %s is in the baseline but was not measured", name)
            rows.append({"name": name, "reference": "—", "baseline": baseline[name], "change": None,
                         "verdict": "missing", "error": "in the baseline, not measured (a path "
                         "renamed or removed, or its backend not registered)"})
    return rows


def report_markdown(rows: list[dict], *, machine: str, threshold: float) -> str:
    """The gate's readable report: benchmark, median, baseline, ratio, verdict."""
    from tabulate import tabulate

    def f(v, fmt):
        return "—" if v is None else format(v, fmt)

    def first(r):
        fr = r.get("first")
        return "" if not fr else (f" (first measurement: ratio {fr['ratio']:.3f}, "
                                  f"{fr['change']:.2f}x, spread {fr['ratio_spread']:.2f})")

    table = [
        [r["name"], f(r.get("path_ms"), ".2f"), r["reference"], f(r.get("ratio"), ".3f"),
         f(r.get("baseline"), ".3f"), f(r.get("change"), ".2f") + ("x" if r.get("change") else ""),
         f(r.get("ratio_spread"), ".2f"),
         r["verdict"] + (" (injected 2x)" if r.get("injected_slowdown", 1) > 1 else "") + first(r)]
        for r in rows
    ]
    spreads = [r["ratio_spread"] for r in rows if r.get("ratio_spread") is not None]
    head = ["benchmark", "median (ms)", "reference", "ratio to reference", "baseline ratio",
            "change", "spread", "verdict"]
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return (
        f"# Performance gate\n\nmachine: {machine}  \nthreshold: change > {threshold}x fails  \n"
        f"time: {when}\n\n"
        + tabulate(table, head, tablefmt="github", disable_numparse=True)
        + "\n\n*ratio* = median over rounds of the path's time / the reference's time, timed "
        "interleaved in the same run; *change* = ratio / baseline ratio; *spread* = (max - min) / "
        "median of the per-round ratios"
        + (f" (largest {max(spreads):.2f}, median {statistics.median(spreads):.2f}; the gate's "
           f"tolerance is {threshold - 1:.2f})" if spreads else "")
        + ". A change above the threshold is measured again before it fails.\n"
    )


NO_BASELINE_HELP = (
    "There is no baseline for this machine class ({key}), so there is nothing to compare and the "
    "gate fails. To add one: check out the unchanged parent commit (the code before your change), "
    "run `OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.gates.perf_gate --update-baseline`, commit "
    "benchmarks/gates/perf_baseline.json saying so in the commit message, then run the gate on your "
    "change. `--accept-new` lets this run pass without one (it then only reports)."
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gates.perf_gate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/perf"), help="folder for perf_report.md")
    ap.add_argument("--paths", default="*", help="glob of path names to run")
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--update-baseline", action="store_true",
                    help="record the measured ratios in this machine's baseline (the paths "
                    "selected by --paths replace their entries; other entries are kept)")
    ap.add_argument("--accept-new", action="store_true",
                    help="pass paths without a baseline (and a machine without one) as 'new'")
    ap.add_argument("--baseline-file", type=Path, default=BASELINE_FILE)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("benchmarks.runner.data", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    paths = [p for p in perf_paths() if fnmatch.fnmatch(p.name, args.paths)]
    if not paths:
        print(f"error: no perf path matches {args.paths!r}", file=sys.stderr)
        return 2
    key = machine_key()
    data = load_baseline(args.baseline_file)
    entry = data["machines"].get(key)
    if entry is None and not args.update_baseline and not args.accept_new:
        print("error: " + NO_BASELINE_HELP.format(key=key), file=sys.stderr)
        print("perf-gate: 0 passed, 1 failed (no baseline)")
        return 1
    inject = os.environ.get(INJECT_ENV)
    if inject:
        log.warning("%s=%s: injecting a 2x slowdown into matching paths", INJECT_ENV, inject)
    baseline = None if args.update_baseline else (entry or {}).get("ratios", {})
    rows = run_gate(paths, baseline, threshold=args.threshold, inject=inject,
                    accept_new=args.accept_new, selected=args.paths)
    args.out.mkdir(parents=True, exist_ok=True)
    md = report_markdown(rows, machine=key, threshold=args.threshold)
    (args.out / "perf_report.md").write_text(md)
    print(md)
    errors = [r for r in rows if r["verdict"] == "error"]
    if args.update_baseline:
        if inject:
            print("error: refusing to record a baseline with an injected slowdown", file=sys.stderr)
            return 2
        if errors:
            print("error: not recording a baseline: some paths failed", file=sys.stderr)
            return 1
        # merge: paths measured now replace their entries; the machine's other entries stay
        ratios = dict((entry or {}).get("ratios", {}))
        ratios.update({r["name"]: round(r["ratio"], 4) for r in rows if "ratio" in r})
        data["machines"][key] = {
            "recorded_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "ratios": dict(sorted(ratios.items())),
        }
        args.baseline_file.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        print(f"baseline for {key!r} written to {args.baseline_file}")
        return 0
    if entry is None:
        print(f"note: no baseline for this machine ({key}); --accept-new: reporting only")
    bad = [r for r in rows if r["verdict"] in FAILING_VERDICTS]
    for r in bad:
        if r["verdict"] == "REGRESSION":
            print(f"REGRESSION: {r['name']}: ratio {r['ratio']:.3f} vs baseline {r['baseline']:.3f} "
                  f"({r['change']:.2f}x > {args.threshold}x)", file=sys.stderr)
        elif r["verdict"] == "new":
            print(f"NEW: {r['name']}: ratio {r['ratio']:.3f}, no baseline to compare with (record "
                  "one on the unchanged parent commit, or pass --accept-new)", file=sys.stderr)
        else:
            print(f"{r['verdict'].upper()}: {r['name']}: {r['error']}", file=sys.stderr)
    print(f"perf-gate: {len(rows) - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
