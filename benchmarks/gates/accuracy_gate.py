"""Accuracy regression gate: the default grid's test accuracy per backend must stay above a floor.

The default grid (``benchmarks/grids/default.toml``: every backend x synthetic-fer-dvs x tiny, and
its extra cell sinabs x tiny_iaf, fixed seeds) is run (or its records are read from
``--run-dir``), and each backend's accuracy (an extra cell's under ``backend/arch``, e.g.
``sinabs/tiny_iaf``) is compared with the floor recorded in
``benchmarks/gates/accuracy_floors.json``. With fixed
seeds on a CPU the accuracy is reproducible up to the float summation order (thread count), so the
floor is the recorded accuracy minus a margin (default 0.12, about 37 of the 308 test sequences),
and never below 3x chance (chance for a model measured below 3x chance: :func:`floor_for`).
A backend below its floor, a cell that failed, or a backend without a
recorded floor (unless ``--accept-new``) fails the gate with both numbers printed.

Records already in ``--run-dir`` are reused only if they were made by this very code
(:func:`benchmarks.results.provenance.code_version`: the commit plus a digest of uncommitted changes);
records of any other code are ignored and their cells run again, so a stale run folder can never
make the gate pass. A machine class or backend without floors: record them on the unchanged parent
commit with ``--update-floors``, commit ``benchmarks/gates/accuracy_floors.json`` and say so in the
commit message.

Usage::

    python -m benchmarks.gates.accuracy_gate                   # run the default grid, then gate
    python -m benchmarks.gates.accuracy_gate --run-dir runs/default
    python -m benchmarks.gates.accuracy_gate --update-floors   # record floors from the measured values
    python -m benchmarks.gates.accuracy_gate --update-floors norse sinabs   # only these (new) backends
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

FLOORS_FILE = Path(__file__).resolve().parent / "accuracy_floors.json"
DEFAULT_MARGIN = 0.12


def gate_key(cell, grid) -> str:
    """The floor a cell of ``grid`` counts towards: its backend for the grid's product, and
    ``"backend/arch"`` for an extra cell (:attr:`benchmarks.runner.grid.Grid.extra`: the default
    grid's ``sinabs/tiny_iaf``), so that an extra architecture never shifts its backend's mean."""
    return cell.backend if cell.arch in grid.archs else f"{cell.backend}/{cell.arch}"


def grid_accuracies(records: list[dict], grid) -> dict[str, dict]:
    """Mean test accuracy per gate key (:func:`gate_key`) over the grid's cells found in
    ``records``.

    Returns:
        The dict
        ``{key: {"accuracy": mean or None, "cells": n_ok, "errors": [messages],
        "num_classes": K}}`` for every backend of ``grid`` and every extra pair.
    """
    cells = grid.cells()
    wanted = {c.cell_id: c for c in cells}
    latest: dict[str, dict] = {}
    for r in records:
        if r.get("cell_id") in wanted:
            if r.get("status") == "ok" or latest.get(r["cell_id"], {}).get("status") != "ok":
                latest[r["cell_id"]] = r
    out: dict[str, dict] = {}
    keys = list(grid.backends) + list(dict.fromkeys(gate_key(c, grid) for c in cells))
    for b in dict.fromkeys(keys):
        recs = [r for cid, r in latest.items() if gate_key(wanted[cid], grid) == b]
        ok = [r for r in recs if r.get("status") == "ok"]
        accs = [r["metrics"]["accuracy"] for r in ok]
        out[b] = {
            "accuracy": sum(accs) / len(accs) if accs else None,
            "cells": len(ok),
            "errors": [r.get("error") or r.get("status") for r in recs if r.get("status") != "ok"],
            "num_classes": len(ok[0]["classes"]) if ok else None,
        }
    return out


def floor_for(accuracy: float, num_classes: int, margin: float = DEFAULT_MARGIN) -> float:
    """The floor recorded for a measured ``accuracy`` (0..1) of a ``num_classes``-way task:
    ``accuracy - margin``, never below 3x chance (``3 / K``); for a model measured below 3x chance
    (the default grid's ``sinabs/tiny_iaf``: 0.276 for K = 7), where that bound would put the
    floor above the accuracy itself and fail the unchanged code, never below chance (``1 / K``).
    Rounded to 4 decimals.

    Example:
        >>> floor_for(0.513, 7), floor_for(0.6429, 7), floor_for(0.276, 7)
        (0.4286, 0.5229, 0.156)
    """
    k = float(num_classes)
    bound = 3.0 / k if accuracy >= 3.0 / k else 1.0 / k
    return round(max(accuracy - margin, bound), 4)


def judge(
    accs: dict[str, dict], floors: dict[str, float], *, accept_new: bool = False
) -> list[tuple[str, str, str]]:
    """``[(backend, verdict, message)]``; verdict ``"ok"``, ``"FAIL"`` or ``"new"``.

    A backend without a recorded floor FAILS (a gate must not pass on nothing to compare), unless
    ``accept_new``, when it is reported as ``"new"``.
    """
    rows = []
    for b, a in accs.items():
        acc, floor = a["accuracy"], floors.get(b)
        if acc is None:
            rows.append((b, "FAIL", f"no accuracy: {'; '.join(map(str, a['errors'])) or 'no cell ran'}"))
        elif floor is None:
            if accept_new:
                rows.append((b, "new", f"accuracy {acc:.4f}, no recorded floor (accepted)"))
            else:
                rows.append((b, "FAIL", f"accuracy {acc:.4f}, no recorded floor to compare with: "
                             "record floors with --update-floors on the unchanged parent commit, "
                             "or pass --accept-new"))
        elif acc < floor:
            rows.append((b, "FAIL", f"accuracy {acc:.4f} < floor {floor:.4f}"))
        else:
            rows.append((b, "ok", f"accuracy {acc:.4f} >= floor {floor:.4f}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    from benchmarks.results.provenance import code_version
    from benchmarks.results.records import read_records
    from benchmarks.runner.grid import load_grid, resolve_names, run_grid
    from datasets.registry import default_data_root

    ap = argparse.ArgumentParser(prog="python -m benchmarks.gates.accuracy_gate",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", type=Path, default=Path("runs/accuracy-gate"),
                    help="run folder: the default grid's cells missing there are run first")
    ap.add_argument("--data-root", type=Path, default=None, help="dataset folder (default ./data)")
    ap.add_argument("--update-floors", nargs="*", metavar="BACKEND", default=None,
                    help="record floors from the measured accuracies: for the named backends "
                    "only (e.g. new ones), or for every backend when none is named; the other "
                    "backends' floors are kept")
    ap.add_argument("--margin", type=float, default=DEFAULT_MARGIN)
    ap.add_argument("--floors-file", type=Path, default=FLOORS_FILE)
    ap.add_argument("--grid", default="default", help="grid name or TOML file (default: default)")
    ap.add_argument("--accept-new", action="store_true",
                    help="pass backends that have no recorded floor (reported as 'new')")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    grid = resolve_names(load_grid(args.grid))  # "*" -> every registered backend
    # Results in --run-dir are reused only if this very code made them (commit plus a digest of
    # uncommitted changes): a checkout that ran the gate before must not pass on old results.
    code = code_version()
    summary = run_grid(grid, args.run_dir, args.data_root or default_data_root(),
                       progress=False, same_code_only=True)
    log.info("%s grid: %s", grid.name, summary.line())
    records = [r for r in read_records(args.run_dir) if r["provenance"].get("code_version") == code]
    accs = grid_accuracies(records, grid)
    floors_data = json.loads(args.floors_file.read_text()) if args.floors_file.is_file() else {}
    floors = floors_data.get("floors", {})

    if args.update_floors is not None:
        chosen = args.update_floors or list(accs)
        unknown = sorted(set(chosen) - set(accs))
        if unknown:
            print(f"error: {unknown} not in the grid's backends {list(accs)}", file=sys.stderr)
            return 2
        new = dict(floors)
        measured = dict(floors_data.get("measured", {}))
        for b in chosen:
            a = accs[b]
            if a["accuracy"] is None:
                print(f"error: {b} has no accuracy; floors not written", file=sys.stderr)
                return 1
            new[b] = floor_for(a["accuracy"], a["num_classes"], args.margin)
            measured[b] = round(a["accuracy"], 4)
        floors_data = {
            "grid": grid.name,
            "margin": args.margin,
            "recorded_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "measured": dict(sorted(measured.items())),
            "floors": dict(sorted(new.items())),
        }
        args.floors_file.write_text(json.dumps(floors_data, indent=2, sort_keys=True) + "\n")
        print(f"floors written to {args.floors_file}: {new}")
        return 0

    rows = judge(accs, floors, accept_new=args.accept_new)
    lines = ["# Accuracy gate", "", "| backend | accuracy | floor | verdict |", "|---|---|---|---|"]
    for b, verdict, msg in rows:
        acc = accs[b]["accuracy"]
        lines.append(f"| {b} | {'—' if acc is None else f'{acc:.4f}'} | "
                     f"{floors.get(b, '—')} | {verdict} |")
        stream = sys.stderr if verdict == "FAIL" else sys.stdout
        print(f"accuracy gate {b}: {verdict}: {msg}", file=stream)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    (args.run_dir / "accuracy_gate.md").write_text("\n".join(lines) + "\n")
    failed = sum(v == "FAIL" for _, v, _ in rows)
    print(f"accuracy-gate: {len(rows) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
