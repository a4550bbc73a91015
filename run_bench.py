#!/usr/bin/env python3
"""NeuroFER-Bench command line: run a grid, render reports, list registries.

    python run_bench.py run                      # default grid: ann, snntorch, lava-dl x built-in data x tiny
    python run_bench.py run --grid spiking_fer --device cuda --data-root /data
    python run_bench.py run --backends ann snntorch --epochs 3 --out runs/quick
    python run_bench.py report runs/default      # re-render tables and figures from the records
    python run_bench.py list                     # backends (availability, versions), datasets, archs, grids
    python run_bench.py convert clip.mp4 out/clip.h5 --preview   # face video -> v2e-layout events
    python run_bench.py predict runs/default/checkpoints/<cell>.pt rec.aedat4  # class per window
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

DATA_ROOT_ENV = "NEUROFER_DATA"
log = logging.getLogger("run_bench")


def default_data_root() -> Path:
    """``$NEUROFER_DATA`` if set, else ``./data``."""
    return Path(os.environ.get(DATA_ROOT_ENV, "data"))


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings only, no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_bench.py",
        description="NeuroFER-Bench: event-based facial expression recognition with SNNs, "
        "the same architectures in several backends, one protocol, one table.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a benchmark grid (default: the built-in CPU grid)",
                         description="Run a grid of cells (dataset x fold x backend x arch x seed). "
                         "Options override the grid file; cells already recorded in --out are skipped.")
    run.add_argument("--grid", default="default",
                     help="grid name under benchmarks/grids/ or a TOML path (default: default)")
    run.add_argument("--backends", nargs="+", help="backend names (see `list`)")
    run.add_argument("--datasets", nargs="+", help="dataset names (see `list`)")
    run.add_argument("--archs", nargs="+", help="architecture names (see `list`)")
    run.add_argument("--folds", nargs="+", type=int, help="fold indices")
    run.add_argument("--seeds", nargs="+", type=int, help="random seeds")
    run.add_argument("--protocol", choices=["folds", "subject"],
                     help="'folds': the dataset's fold file; 'subject': subject-independent folds")
    run.add_argument("--epochs", type=int, help="training epochs")
    run.add_argument("--batch-size", type=int, help="batch size")
    run.add_argument("--device", help="torch device, e.g. cpu or cuda")
    run.add_argument("--data-root", type=Path, default=None,
                     help=f"dataset folder (default: ${DATA_ROOT_ENV} or ./data)")
    run.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<grid name>)")
    _add_common(run)

    rep = sub.add_parser("report", help="re-render tables and figures from a run's records")
    rep.add_argument("run_dir", type=Path)
    _add_common(rep)

    lst = sub.add_parser("list", help="list backends, datasets, architectures and grids")
    _add_common(lst)

    from datasets.convert_cli import add_convert_parser

    add_convert_parser(sub)  # `convert`: video / frames / CK+ -> standardized face -> events
    from benchmarks.score_cli import add_score_parser

    add_score_parser(sub)  # `score`: released predictions (SEEN) -> metrics, published records
    from benchmarks.predict_cli import add_predict_parser

    add_predict_parser(sub)  # `predict`: a checkpoint over a recording in sliding windows
    return parser


def _setup_logging(args) -> None:
    level = logging.DEBUG if args.verbose else (logging.WARNING if args.quiet else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def cmd_run(args) -> int:
    from benchmarks.grid import load_grid, override, run_grid
    from reports import write_reports

    grid = load_grid(args.grid)
    grid = override(grid, backends=args.backends, datasets=args.datasets, archs=args.archs,
                    folds=args.folds, seeds=args.seeds, protocol=args.protocol, device=args.device,
                    epochs=args.epochs, batch_size=args.batch_size)
    if grid.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print(f"error: --device {grid.device} asked for, but torch sees no CUDA device", file=sys.stderr)
            return 2
    data_root = args.data_root or default_data_root()
    out = args.out or Path("runs") / grid.name
    log.info("grid %s: %d cells -> %s (data root %s)", grid.name, len(grid.cells()), out, data_root)
    summary = run_grid(grid, out, data_root, progress=not args.quiet)
    print(summary.line())
    paths = write_reports(out)
    leaderboard = out / "leaderboard.md"
    if leaderboard.is_file():
        print()
        print(leaderboard.read_text())
    print(f"reports: {', '.join(str(p) for p in paths)}")
    if summary.interrupted:
        return 130
    return 1 if summary.failed and not summary.done and not summary.resumed else 0


def cmd_report(args) -> int:
    from reports import write_reports

    paths = write_reports(args.run_dir)
    for p in paths:
        print(p)
    return 0


def cmd_list(args) -> int:
    from backends.base import backend_status, get_backend
    from backends.specs import arch_names
    from benchmarks.grid import grid_names, load_grid
    from datasets.registry import dataset_names

    print("backends:")
    for name, (ok, why) in backend_status().items():
        if ok:
            versions = ", ".join(f"{k} {v}" for k, v in get_backend(name).versions().items())
            print(f"  {name:<10} available    {versions}")
        else:
            print(f"  {name:<10} UNAVAILABLE  {why}")
    print("datasets:")
    for name in dataset_names():
        print(f"  {name}")
    print("architectures:")
    for name in arch_names():
        print(f"  {name}")
    print("grids:")
    for name in grid_names():
        g = load_grid(name)
        print(f"  {name:<14} {len(g.cells()):>4} cells  {g.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args)
    handlers = {"run": cmd_run, "report": cmd_report, "list": cmd_list}
    try:
        return handlers.get(args.command, getattr(args, "func", None))(args)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
