"""One-epoch cells of every zoo model (:mod:`backends.native.zoo`) at its CI size on
``synthetic-fer-dvs-mini``: wall time of the cell (training, evaluation and every measurement,
one process, this machine), parameters, SynOps and spikes per sample, what the hooks could not
attribute.

Usage::

    python -m tools.measure.zoo_cells [--data-root DIR] [--models NAME ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def measure_cells(data_root: Path, names: list[str] | None = None,
                  epochs: int = 1) -> list[dict[str, Any]]:
    """Run one cell per zoo model (default recipe, ``epochs`` epochs, fold 0, seed 0) at its CI
    size; returns one row per model (``seconds``: the cell's wall time)."""
    from backends.native.zoo import register_ci, zoo_names
    from backends.specs import get_arch
    from benchmarks.results.spec import Cell, Recipe
    from benchmarks.runner.cell import run_cell

    rows = []
    for name in names or zoo_names():
        card = get_arch(register_ci(name))
        cell = Cell(dataset="synthetic-fer-dvs-mini", backend=card.backend, arch=card.name,
                    recipe=Recipe(epochs=epochs, codecarbon=False))
        t = time.perf_counter()
        rec = run_cell(cell, data_root, progress=False)
        seconds = time.perf_counter() - t
        r = rec.to_dict()
        m = r["metrics"]
        rows.append({
            "model": name, "ci": f"T={card.n_time_bins} {card.input_size[0]}x{card.input_size[1]}",
            "seconds": round(seconds, 1), "params": m["params"],
            "synops_per_sample": m["synops_per_sample"],
            "spikes_per_sample": m["spikes_per_sample"],
            "unmeasured": sorted(k for k in (m.get("unmeasured") or {})
                                 if "(membrane)" not in k and "(neuron ops)" not in k),
        })
        log.info("%s: %.1f s", name, seconds)
    return rows


def main(argv: list[str] | None = None) -> int:
    """CLI: print a markdown table (and optionally write the rows as JSON)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", type=Path, default=None,
                   help="where synthetic-fer-dvs-mini is (generated there if absent; default: a "
                   "temporary folder, its generation not timed)")
    p.add_argument("--models", nargs="*", default=None)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="neurofer-zoo-") as tmp:
        root = a.data_root or Path(tmp)
        from datasets.registry import open_dataset

        open_dataset("synthetic-fer-dvs-mini", root)  # generate before timing
        rows = measure_cells(root, a.models)
    out = ["| model | CI size | cell s | params | SynOps/sample | spikes/sample | unmeasured |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['ci']} | {r['seconds']} | {r['params']:,} | "
                   f"{r['synops_per_sample']:,.0f} | {r['spikes_per_sample']:,.1f} | "
                   f"{', '.join(r['unmeasured']) or '-'} |")
    sys.stdout.write("\n".join(out) + "\n")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
