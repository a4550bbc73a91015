#!/usr/bin/env python3
"""NeuroFER-Bench command line: the one home of every subcommand.

    python run_bench.py run                      # default grid: every backend x built-in data x tiny
    python run_bench.py run --grid spiking_fer --device cuda --data-root /data
    python run_bench.py run --backends ann snntorch --epochs 3 --out runs/quick
    python run_bench.py report runs/default      # re-render tables and figures from the records
    python run_bench.py list                     # backends (availability, versions), datasets, archs, grids
    python run_bench.py check mmi-dvs casia-dvs  # validate every file of datasets, all problems at once
    python run_bench.py score --format seen PRED_DIR --record runs/see   # released predictions
    python run_bench.py convert clip.mp4 out/clip.h5 --preview           # face video -> v2e-layout events
    python run_bench.py predict runs/default/checkpoints/<cell>.pt rec.aedat4  # class per window
    python run_bench.py export runs/transfer/checkpoints/<cell>.pt model.nir  # NIR (tiny_nir)
    python run_bench.py robustness runs/default --corruptions event_drop --severities 1 3 5

Exit status: 0 success; 1 a run with failed cells (or a convert batch with failed sequences, a
check with problems); 2 bad input (an unknown name, a missing or malformed file, a bad option:
the message names the file, field and value; any other exception is a bug and shows its
traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

OWN_PACKAGES = ("datasets", "backends", "benchmarks", "reports")
"""The suite's top-level packages; ``datasets`` is also the import name of Hugging Face's library."""


def shadowed_packages_message(here: Path | None = None) -> str | None:
    """A message when one of :data:`OWN_PACKAGES` would be imported from another place than the
    suite's own folder (``here``, default this file's folder), else ``None``.

    Found with :func:`importlib.util.find_spec` (nothing is imported). An editable install puts
    the repository at the end of ``sys.path`` (or behind a finder after the path finder), so a
    Hugging Face ``datasets`` in ``site-packages`` comes first; running ``python run_bench.py``
    from the repository puts the repository first. A non-editable install into an environment
    with Hugging Face ``datasets`` writes both into one ``site-packages/datasets`` folder: also
    reported (docs/guides/install.md).
    """
    import importlib.util

    here = (here or Path(__file__).resolve().parent).resolve()
    problems = []
    for name in OWN_PACKAGES:
        ours = here / name
        if not (ours / "__init__.py").is_file():
            continue  # an unusual layout: nothing to compare with
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        where = None
        if spec is not None:
            locs = list(spec.submodule_search_locations or [])
            where = Path(spec.origin).parent if spec.origin else (Path(locs[0]) if locs else None)
        if where is None or where.resolve() != ours.resolve():
            problems.append(f"  '{name}' is imported from {where or '(nowhere)'}, not from {ours}")
    if not problems and here.name in ("site-packages", "dist-packages"):
        from importlib.metadata import packages_distributions

        owners = sorted(set(packages_distributions().get("datasets", [])))
        if len(owners) > 1:
            problems.append(f"  {here / 'datasets'} is written by several distributions: "
                            f"{', '.join(owners)}")
    if not problems:
        return None
    return ("error: another installed package shadows a package of NeuroFER-Bench (Hugging Face "
            "'datasets' is also imported as 'datasets'):\n" + "\n".join(problems) + "\n"
            "Way out: install NeuroFER-Bench into its own environment (python -m venv .venv; "
            ".venv/bin/pip install -e .), or run it from the repository, where its own packages "
            f"come first: cd {here} && python run_bench.py ... (see docs/guides/install.md)")


if (_shadowed := shadowed_packages_message()) is not None:  # before the imports it would break
    print(_shadowed, file=sys.stderr)
    raise SystemExit(2)

from benchmarks.results.spec import METHODS, TASKS  # noqa: E402 (pure configuration: no framework import)
from benchmarks.runner.executors import EXECUTORS  # noqa: E402 (no framework import)
from datasets.common import InputError  # noqa: E402
from datasets.registry import DATA_ROOT_ENV, default_data_root  # noqa: E402

if TYPE_CHECKING:
    from datasets.conversion.convert import EmulatorParams
    from datasets.conversion.standardize import CropSpec

log = logging.getLogger("run_bench")

EXIT_OK = 0
EXIT_FAILED = 1
"""A run with failed cells, a check with problems, a convert batch with failed sequences."""
EXIT_ERROR = 2
"""Bad input: nothing was run."""
EXIT_FAILED_SEQUENCES = EXIT_FAILED


class UsageError(InputError, ValueError):
    """A bad combination or value of command-line options."""


_COMMON = argparse.ArgumentParser(add_help=False)
_COMMON.add_argument("-v", "--verbose", action="count", default=0,
                     help="more output: `run` shows INFO logs and each cell's epoch bars with -v, "
                     "debug logs with -vv; the other commands log INFO by default, debug with -v")
_COMMON.add_argument("-q", "--quiet", action="store_true",
                     help="warnings only, no progress bars (and for `run` no line per cell)")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand: each of :data:`COMMANDS` adds its own (and sets
    ``func``, its ``cmd_<cmd>`` handler)."""
    parser = argparse.ArgumentParser(
        prog="run_bench.py",
        description="NeuroFER-Bench: event-based facial expression recognition with SNNs, "
        "the same architectures in several backends, one protocol, one table.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add_parser in COMMANDS:
        add_parser(sub)
    return parser


def log_level(command: str, verbose: int, quiet: bool) -> int:
    """The logging level of a command: ``run`` is quiet by default (warnings and errors; its
    own output is one line per cell and the leaderboard), INFO with ``-v``, DEBUG with ``-vv``;
    the other commands log INFO by default and DEBUG with ``-v``; ``-q`` means warnings only."""
    if quiet and not verbose:
        return logging.WARNING
    steps = [logging.WARNING, logging.INFO, logging.DEBUG] if command == "run" else [logging.INFO, logging.DEBUG]
    return steps[min(verbose, len(steps) - 1)]


def _setup_logging(args) -> None:
    """Logging to stderr (warnings and errors there, the results on stdout); codecarbon's own
    logger follows the level (it logs INFO lines per measurement otherwise)."""
    level = log_level(args.command, args.verbose, args.quiet)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("codecarbon").setLevel(max(level, logging.WARNING))


def _print_cell(done) -> None:
    """Print one finished cell's line on stdout, above the grid's progress bar (on stderr)."""
    from tqdm import tqdm

    tqdm.write(done.line(), file=sys.stdout)


def add_run_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``run`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_run`` on the parsed namespace.
    """
    p = subparsers.add_parser(
        "run", parents=[_COMMON],
        help="run a benchmark grid (default: the built-in CPU grid)",
        description="Run a grid of cells (dataset x fold x backend x arch x seed). "
        "Options override the grid file; cells already recorded in --out are "
        "skipped. Every dataset is checked first; a broken one's cells are "
        "recorded as skipped with the full report (--strict stops instead).")
    p.add_argument("--grid", default="default",
                   help="grid name under benchmarks/grids/ or a TOML path (default: default)")
    p.add_argument("--backends", nargs="+", help="backend names (see `list`)")
    p.add_argument("--datasets", nargs="+",
                   help="dataset names (see `list`; upstream names such as MMIDVS work too)")
    p.add_argument("--archs", nargs="+", help="architecture names (see `list`)")
    p.add_argument("--plugin", action="append", default=None, metavar="FILE",
                   help="a Python file registering native models with backends.register_model "
                   "(repeatable); each native model runs under its framework's backend")
    p.add_argument("--folds", nargs="+", type=int, help="fold indices")
    p.add_argument("--seeds", nargs="+", type=int, help="random seeds")
    p.add_argument("--protocol", choices=["folds", "subject", "official"],
                   help="'folds': the dataset's fold file or published split (NEFER: its "
                        "'official' user split); 'subject': subject-independent folds")
    p.add_argument("--label-set", dest="label_set",
                   help="label set of a dataset that has several (NEFER: expected, reported, "
                        "reported_without_none); part of the cell id")
    p.add_argument("--epochs", type=int, help="training epochs")
    p.add_argument("--batch-size", type=int, help="batch size")
    p.add_argument("--task", choices=list(TASKS),
                   help="what the cells learn: classification (default), va_regression "
                        "(valence-arousal, tanh outputs) or multitask (both)")
    p.add_argument("--method", choices=list(METHODS),
                   help="training method: standard (default), baseline (FER-Zoo's MSE + "
                        "0.5 (PCC + CCC)), elim (FER-Zoo's OT identity matching; needs subjects)")
    p.add_argument("--device", help="torch device, e.g. cpu or cuda")
    p.add_argument("--data-root", type=Path, default=None,
                   help=f"dataset folder (default: ${DATA_ROOT_ENV} or ./data)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<grid name>)")
    p.add_argument("--strict", action="store_true",
                   help="stop before any cell runs if a dataset is absent or fails its check")
    ex = p.add_argument_group(
        "executors", "where the cells run; each cell runs once even when several `run` processes "
        "(on several hosts) share --out: a claim per cell with a heartbeat, one record file per "
        "cell under OUT/cells, merged into OUT/results.jsonl")
    ex.add_argument("--executor", choices=tuple(EXECUTORS), default="local",
                    help="local worker processes (default), a Ray cluster, or Slurm jobs "
                    "(submitit); with ray and slurm, --out and --data-root must be on a "
                    "filesystem the workers share")
    ex.add_argument("--workers", type=int, default=1,
                    help="local: cells at once, one per worker process (default 1: one after "
                    "another in this process)")
    ex.add_argument("--devices", nargs="+", metavar="DEVICE",
                    help="local: device of each worker, cycled, e.g. cuda:0 cuda:1 (the grid's "
                    "device must then be cuda; cell ids do not change); default the grid's device")
    ex.add_argument("--threads", type=int,
                    help="local: torch threads per cell (default cores // workers; with one "
                    "worker torch's default)")
    ex.add_argument("--cpus-per-task", type=int, default=1,
                    help="ray / slurm: CPUs per cell (Ray num_cpus, Slurm --cpus-per-task), also "
                    "its torch thread count (default 1)")
    ex.add_argument("--gpus-per-task", type=int, default=1,
                    help="ray / slurm: GPUs per CUDA cell (default 1; CPU cells ask for none)")
    ex.add_argument("--heartbeat-s", type=float, default=30.0,
                    help="claim heartbeat interval in seconds (default 30)")
    ex.add_argument("--claim-timeout-s", type=float,
                    help="a claim made by this run that has no heartbeat for this long is stale "
                    "and its cell runs again (default 4 heartbeats; older claims keep their own)")
    ex.add_argument("--no-wait", action="store_true",
                    help="do not wait for cells that other processes are running")
    ex.add_argument("--ray-address",
                    help="ray: cluster address (host:port, ray://host:port, auto); default a "
                    "local cluster")
    ex.add_argument("--slurm-partition", help="slurm: partition (default the cluster's default)")
    ex.add_argument("--slurm-time-min", type=int, default=60,
                    help="slurm: time limit per job, minutes (default 60; a timed-out job "
                    "requeues and resumes from its training state)")
    ex.add_argument("--slurm-array-parallelism", type=int,
                    help="slurm: at most this many of the grid's jobs at once")
    ex.add_argument("--slurm-max-requeues", type=int, default=3,
                    help="slurm: requeues after time-outs (default 3)")
    ex.add_argument("--slurm-poll-s", type=float, default=5.0,
                    help="slurm: how often the jobs are checked, seconds (default 5)")
    ex.add_argument("--cell-runner", help=argparse.SUPPRESS)  # tests: MODULE:FUNCTION
    p.set_defaults(func=cmd_run)


def _report_missing(missing: list[str]) -> bool:
    """Name on stderr the planned cells a command ended without a record of; whether any."""
    if missing:
        print(f"error: {len(missing)} planned cell(s) have no record (re-run to run them): "
              + ", ".join(missing), file=sys.stderr)
    return bool(missing)


def cmd_run(args) -> int:
    """Run a grid, print its summary line and the leaderboard.

    Returns:
        0, or 1 if every cell that ran failed, or 130 when interrupted.

    Raises:
        UnknownNameError: a typo in a backend, architecture or dataset name (before anything
            runs or is written).
        GridFileError, RecipeError, UsageError: a bad grid file or option.
        DatasetCheckFailed: with ``--strict``, a dataset that is absent or broken.
        ExecutorUnavailable: no Ray cluster at ``--ray-address``, no ``sbatch``, a bad
            ``--devices`` (before any cell starts).
    """
    from dataclasses import replace

    from benchmarks.runner.executors import executor_from_options
    from benchmarks.runner.grid import load_grid, override, resolve_names, run_grid
    from reports import write_reports

    grid = load_grid(args.grid)
    if args.plugin:
        grid = replace(grid, plugins=tuple(grid.plugins) + tuple(
            str(Path(p).expanduser().resolve()) for p in args.plugin))
    grid = override(grid, backends=args.backends, datasets=args.datasets, archs=args.archs,
                    folds=args.folds, seeds=args.seeds, protocol=args.protocol, device=args.device,
                    epochs=args.epochs, batch_size=args.batch_size, task=args.task,
                    method=args.method, label_set=args.label_set)
    grid = resolve_names(grid)
    data_root = args.data_root or default_data_root()
    if args.folds:
        _check_folds(grid, data_root)
    if grid.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available() and args.executor == "local":
            raise UsageError(f"--device {grid.device} asked for, but torch sees no CUDA device")
        for d in args.devices or []:
            if d.startswith("cuda:") and d[5:].isdigit() and int(d[5:]) >= torch.cuda.device_count():
                raise UsageError(f"--devices {d}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    for name in ("workers", "threads", "cpus_per_task", "gpus_per_task", "slurm_time_min"):
        val = getattr(args, name)
        if val is not None and val < (0 if name == "gpus_per_task" else 1):
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {val}")
    if args.heartbeat_s <= 0:
        raise UsageError(f"--heartbeat-s must be > 0, got {args.heartbeat_s}")
    if args.claim_timeout_s is not None and args.claim_timeout_s <= args.heartbeat_s:
        raise UsageError(f"--claim-timeout-s ({args.claim_timeout_s}) must exceed --heartbeat-s "
                         f"({args.heartbeat_s})")
    executor = executor_from_options(args.executor, vars(args))
    cell_runner = None
    if args.cell_runner:  # a test hook: MODULE:FUNCTION
        import importlib

        module, _, func = args.cell_runner.partition(":")
        cell_runner = getattr(importlib.import_module(module), func)
    out = args.out or Path("runs") / grid.name
    log.info("grid %s: %d cells -> %s (data root %s; %s)", grid.name, len(grid.cells()), out,
             data_root, executor.describe())
    summary = run_grid(grid, out, data_root, progress=not args.quiet, strict=args.strict,
                       executor=executor, cell_runner=cell_runner, heartbeat_s=args.heartbeat_s,
                       claim_timeout_s=args.claim_timeout_s, wait_for_others=not args.no_wait,
                       cell_progress=bool(args.verbose) and not args.quiet,
                       on_cell=None if args.quiet else _print_cell)
    print(summary.line())
    if grid.robustness and not summary.interrupted and (out / "checkpoints").is_dir():
        _small_robustness_sweep(grid, out, data_root, quiet=args.quiet)
    if grid.deploy and not summary.interrupted and (out / "checkpoints").is_dir():
        _small_deployment(grid, out, data_root, quiet=args.quiet)
    paths = write_reports(out)
    leaderboard = out / "leaderboard.md"
    if leaderboard.is_file():
        print()
        print(leaderboard.read_text())
    print(f"reports: {', '.join(str(p) for p in paths)}")
    if summary.interrupted:
        return 130
    if _report_missing(summary.missing):
        return EXIT_FAILED
    return (EXIT_FAILED if summary.failed and not summary.done and not summary.resumed
            and not summary.elsewhere else EXIT_OK)


def _check_folds(grid, data_root: Path) -> None:
    """Check ``--folds`` against each dataset of ``grid`` before any cell: a negative index at
    once, an index past the dataset's folds (under ``grid.protocol``) with the dataset's own
    :meth:`~datasets.base.EventDataset.split`. A dataset that does not open is left to the run
    (its cells are recorded as skipped, with the reason).

    Raises:
        UsageError: the first fold index no dataset of the grid has, naming it and the dataset.
    """
    from benchmarks.runner.data import open_dataset_cached

    for f in grid.folds:
        if f < 0:
            raise UsageError(f"--folds {f}: fold indices count from 0")
    for name in grid.datasets:
        try:
            dataset = open_dataset_cached(name, data_root)
        except InputError:
            continue
        for f in grid.folds:
            try:
                dataset.split(f, grid.protocol)
            except ValueError as exc:
                raise UsageError(f"--folds {f}: dataset {name!r}, protocol {grid.protocol!r}: "
                                 f"{exc}") from exc


def _small_robustness_sweep(grid, out: Path, data_root: Path, *, quiet: bool) -> None:
    """The grid's small robustness sweep (``grid.robustness`` x ``grid.robustness_severities``)
    and the early-decision evaluation of every checkpoint in ``out``, in this process; their
    tables join the leaderboard. Logged with its wall time."""
    import time

    from benchmarks.robustness.early import write_early_decision
    from benchmarks.robustness.sweep import plan_sweep, run_sweep

    t0 = time.perf_counter()
    cells = plan_sweep(out, data_root, grid.robustness, grid.robustness_severities,
                       max_test=grid.robustness_max_test)
    sweep = run_sweep(cells, out, data_root, progress=not quiet)
    write_early_decision(out, sorted({c.checkpoint for c in cells}), data_root,
                         max_test=grid.robustness_max_test)
    log.info("robustness sweep (%s x severities %s, %s) and early decision: %s; %.1f s in all",
             ", ".join(grid.robustness), list(grid.robustness_severities),
             f"at most {grid.robustness_max_test} test recordings per checkpoint"
             if grid.robustness_max_test else "the whole test split", sweep.line(),
             time.perf_counter() - t0)


def _small_deployment(grid, out: Path, data_root: Path, *, quiet: bool) -> None:
    """The grid's deployment evaluation: every SNN checkpoint in ``out`` at the precision of each
    target of ``grid.deploy``, on the robustness sweep's ``grid.robustness_max_test`` test
    recordings, in this process (``run_bench.py deploy``'s cells; a re-run resumes them); the
    table joins the leaderboard. A run without SNN checkpoints has nothing to evaluate (logged).
    Logged with its wall time."""
    import time

    from benchmarks.deploy.evaluate import plan_deploy, run_deploy
    from benchmarks.robustness.sweep import NoCheckpointsError

    t0 = time.perf_counter()
    try:
        cells = plan_deploy(out, data_root, grid.deploy, max_test=grid.robustness_max_test)
    except NoCheckpointsError as exc:
        log.info("no deployment evaluation: %s", exc)
        return
    summary = run_deploy(cells, out, data_root, progress=not quiet)
    log.info("deployment (%s, %s): %s; %.1f s in all", ", ".join(grid.deploy),
             f"at most {grid.robustness_max_test} test recordings per checkpoint"
             if grid.robustness_max_test else "the whole test split", summary.line(),
             time.perf_counter() - t0)


def add_report_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``report`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_report`` on the parsed namespace.
    """
    p = subparsers.add_parser(
        "report", parents=[_COMMON],
        help="re-render tables and figures from run folders' records",
        description="One run folder: re-render its leaderboard.md, figures and "
        "paper tables (markdown, CSV, LaTeX) in place. Several (e.g. from several "
        "machines): merge them into --out. --html also writes one self-contained "
        "page (sortable table, figures, provenance, every record).")
    p.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", type=Path, default=None,
                   help="folder of the merged report (required with several RUN_DIRs)")
    p.add_argument("--html", action="store_true", help="also write leaderboard.html")
    p.add_argument("--merge-policy", choices=["refuse", "first", "latest"], default="refuse",
                   help="a cell present in several folders with different metrics: refuse "
                   "(default), keep the first folder's, or the latest by time")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    """Re-render one run folder in place, or merge several into ``--out``; print the paths.

    Raises:
        UsageError: several run folders without ``--out``.
        RecordSchemaError / merge errors: incompatible records or conflicting cells.
    """
    from reports import write_reports

    if len(args.run_dirs) == 1 and args.out is None:
        (run,) = args.run_dirs
        paths = write_reports(run)
        if args.html:
            from reports.html import write_html

            paths.append(write_html([run], run / "leaderboard.html", merge_policy=args.merge_policy))
    else:
        if args.out is None:
            raise UsageError("several run folders are merged into --out OUT_DIR; give it")
        from reports.html import write_merged_reports

        paths = write_merged_reports(args.run_dirs, args.out, merge_policy=args.merge_policy,
                                     html=args.html)
    for p in paths:
        print(p)
    return EXIT_OK


def add_export_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``export`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_export`` on the parsed namespace.
    """
    p = subparsers.add_parser(
        "export", parents=[_COMMON],
        help="export a trained SNN checkpoint to NIR or lava-dl's HDF5 format",
        description="Write a trained cell's model (RUN_DIR/checkpoints/*.pt) as a "
        "NIR graph (architectures NIR can express, e.g. tiny_nir; the others are "
        "refused with the node NIR lacks) through the framework's own NIR writer "
        "where it has one, else the suite's; or in lava-dl's HDF5 network format.")
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT")
    p.add_argument("out", type=Path, metavar="OUT")
    p.add_argument("--format", dest="fmt", choices=["nir", "lava-hdf5"], default="nir")
    p.add_argument("--loihi2", action="store_true",
                   help="lava-hdf5: SLAYER's 8-bit integer weights (Loihi 2's precision, what "
                   "netx runs unchanged) instead of float weights")
    p.add_argument("--writer", choices=["auto", "suite", "framework"], default="auto",
                   help="nir: the framework's own writer where reliable (auto), the suite's "
                   "writer from the canonical state, or the framework's always")
    p.add_argument("--dt", type=float, default=None,
                   help="nir: the time step in seconds the continuous-time NIR neurons assume "
                   "(default backends.nir_exchange.NIR_DT)")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    """Export a checkpoint; print what was written.

    Raises:
        NIRExportError (an InputError): an architecture NIR cannot express (the node named).
        CheckpointError: not a readable checkpoint.
    """
    from backends.nir_exchange import (
        NIR_DT,
        NIRExportError,
        export_lava_hdf5,
        export_nir,
        nir_versions,
    )
    from benchmarks.runner.checkpoints import load_checkpoint

    loaded = load_checkpoint(args.checkpoint)
    from backends.native.backend import NativeModel

    if isinstance(loaded.model, NativeModel):  # a native model: its framework's writer or none
        from backends.native.export import export_native_nir

        if args.fmt != "nir":
            raise NIRExportError(f"{args.checkpoint}: a native model exports as NIR only, "
                                 f"not {args.fmt}")
        path = export_native_nir(loaded.model, args.out,
                                 dt=args.dt if args.dt is not None else NIR_DT)
        print(f"wrote {path} (nir; {loaded.model.card.framework}'s writer)")
        return EXIT_OK
    if args.fmt == "nir":
        path = export_nir(loaded, path=args.out, writer=args.writer,
                          dt=args.dt if args.dt is not None else NIR_DT)
    else:
        path = export_lava_hdf5(loaded, path=args.out, loihi2=args.loihi2)
    v = nir_versions()
    print(f"wrote {path} ({args.fmt}; nir {v['nir']}, nirtorch {v['nirtorch']})")
    return EXIT_OK


def add_validate_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``validate`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_validate`` on the parsed namespace.
    """
    p = subparsers.add_parser(
        "validate", parents=[_COMMON],
        help="check run folders like a submission checker (every metric "
        "recomputed from the stored predictions)",
        description="Check each run folder: schema and version, provenance, "
        "accuracy / WAR / UAR / per-class recall / confusion matrix / "
        "per-lighting figures / accuracy per step recomputed from the stored "
        "per-sample predictions, energy against the stored operation counts, "
        "latency and throughput, duplicate cells, checkpoints. Prints every "
        "failure; exit 1 if any.")
    p.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    p.add_argument("--allow-missing-predictions", action="store_true",
                   help="accept records without per-sample predictions (runs of version 0.1.0)")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args) -> int:
    """Validate each run folder; print every problem.

    Returns:
        0 if every folder passes, 1 otherwise.

    Raises:
        FileNotFoundError: a RUN_DIR that does not exist (before any folder is validated).
    """
    from benchmarks.results.validate import validate_run

    for d in args.run_dirs:
        if not d.exists():
            raise FileNotFoundError(f"{d}: no such run folder")
    bad = 0
    for d in args.run_dirs:
        problems = validate_run(d, require_predictions=not args.allow_missing_predictions)
        for p in problems:
            print(p)
        print(f"{d}: OK" if not problems else f"{d}: {len(problems)} problem(s)")
        bad += bool(problems)
    return EXIT_FAILED if bad else EXIT_OK


def _add_evaluation_executor_options(p: argparse.ArgumentParser) -> None:
    """The executor options of the commands that evaluate checkpoints (``robustness``,
    ``deploy``): which executor and its main option each (``run`` has the full set)."""
    p.add_argument("--executor", choices=tuple(EXECUTORS), default="local",
                   help="where the cells run (as for `run`)")
    p.add_argument("--workers", type=int, default=1, help="local: cells at once (default 1)")
    p.add_argument("--ray-address", help="ray: cluster address")
    p.add_argument("--slurm-partition", help="slurm: partition")


def add_robustness_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``robustness`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_robustness`` on the parsed namespace.
    """
    p = subparsers.add_parser(
        "robustness", parents=[_COMMON],
        help="evaluate every checkpoint of a run under event corruptions",
        description="Evaluate each checkpoint of RUN_DIR (RUN_DIR/checkpoints/*.pt) "
        "clean and under each corruption at each severity (ImageNet-C style, "
        "physical units: docs/guides/robustness.md); one cell per (checkpoint, "
        "corruption), claimed and resumable, recorded in RUN_DIR/robustness/"
        "results.jsonl; then the robustness report (accuracy per corruption and "
        "severity, mCA, relative robustness, mCE, SNN-vs-ANN drop tests).")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--corruptions", nargs="+", metavar="NAME",
                   help="corruption names (default: all; see datasets/transforms/corruptions.py)")
    p.add_argument("--severities", nargs="+", type=int, metavar="S",
                   help="severity levels 1-5 (default: all five)")
    p.add_argument("--seed", type=int, default=0, help="corruption seed (default 0)")
    p.add_argument("--data-root", type=Path, default=None,
                   help=f"dataset folder (default: ${DATA_ROOT_ENV} or ./data)")
    p.add_argument("--device", help="evaluation device (default: each trained cell's)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="evaluation batch size (default 16, the fastest on a CPU for the "
                   "default grid's models; larger on a GPU)")
    p.add_argument("--max-test", type=int, default=None, metavar="N",
                   help="evaluate at most N test recordings per checkpoint, evenly spaced over "
                   "the test split (default: all; the default grid's own small sweep uses a "
                   "subset, see benchmarks/grids/default.toml)")
    p.add_argument("--test-severity", type=int, default=3,
                   help="severity at which SNN-vs-reference drops are tested (default 3)")
    p.add_argument("--no-early-decision", action="store_true",
                   help="skip the early-decision evaluation (prefixes in time of each test "
                   "recording, recipe.early_bin_ms bins)")
    _add_evaluation_executor_options(p)
    p.add_argument("--heartbeat-s", type=float, default=30.0,
                   help="claim heartbeat interval in seconds (default 30)")
    p.add_argument("--claim-timeout-s", type=float,
                   help="a claim made by this sweep that has no heartbeat for this long is stale "
                   "and its cell runs again (default 4 heartbeats); a claim whose process died "
                   "on this host is taken over at once")
    p.set_defaults(func=cmd_robustness)


def cmd_robustness(args) -> int:
    """Plan (every check before anything runs), run the robustness sweep, write its report.

    Returns:
        0, or 1 when every cell that ran failed or when planned cells have no record (named on
        stderr).

    Raises:
        UnknownNameError, SeverityError, NoCheckpointsError, CheckpointError,
        DatasetNotFoundError, UsageError: bad input, before any evaluation (exit 2).
    """
    from benchmarks.robustness.early import write_early_decision
    from benchmarks.robustness.sweep import EVAL_BATCH_SIZE, plan_sweep, run_sweep
    from benchmarks.runner.executors import executor_from_options
    from datasets.transforms.corruptions import check_severity
    from reports.robustness import write_robustness_reports

    if args.batch_size is None:
        args.batch_size = EVAL_BATCH_SIZE
    if args.workers < 1 or args.batch_size < 1:
        raise UsageError(f"--workers and --batch-size must be >= 1, got {args.workers} and "
                         f"{args.batch_size}")
    if args.max_test is not None and args.max_test < 1:
        raise UsageError(f"--max-test must be >= 1, got {args.max_test}")
    if args.heartbeat_s <= 0:
        raise UsageError(f"--heartbeat-s must be > 0, got {args.heartbeat_s}")
    if args.claim_timeout_s is not None and args.claim_timeout_s <= args.heartbeat_s:
        raise UsageError(f"--claim-timeout-s ({args.claim_timeout_s}) must exceed --heartbeat-s "
                         f"({args.heartbeat_s})")
    check_severity(args.test_severity)
    data_root = args.data_root or default_data_root()
    cells = plan_sweep(args.run_dir, data_root, args.corruptions, args.severities, seed=args.seed,
                       device=args.device, batch_size=args.batch_size, max_test=args.max_test)
    executor = executor_from_options(args.executor, vars(args))
    log.info("robustness: %d cells (%d checkpoints x %d corruptions) -> %s/robustness", len(cells),
             len({c.checkpoint for c in cells}), len({c.corruption for c in cells}), args.run_dir)
    summary = run_sweep(cells, args.run_dir, data_root, executor=executor, progress=not args.quiet,
                        heartbeat_s=args.heartbeat_s, claim_timeout_s=args.claim_timeout_s)
    print(summary.line())
    if not args.no_early_decision:
        write_early_decision(args.run_dir, sorted({c.checkpoint for c in cells}), data_root,
                             device=args.device or "cpu", batch_size=args.batch_size,
                             max_test=args.max_test, heartbeat_s=args.heartbeat_s,
                             claim_timeout_s=args.claim_timeout_s)
    paths = write_robustness_reports(args.run_dir, test_severity=args.test_severity)
    if paths:
        print()
        print(paths[0].read_text())
        print(f"reports: {', '.join(str(p) for p in paths)}")
    if _report_missing(summary.missing):
        return EXIT_FAILED
    return EXIT_FAILED if summary.failed and not summary.done and not summary.resumed else EXIT_OK


def add_speed_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``speed`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_speed`` on the parsed namespace.
    """
    p = subparsers.add_parser(
        "speed", parents=[_COMMON],
        help="the framework speed table (training step and inference per backend)",
        description="Time every backend's training step and inference on the "
        "public framework workload (Linear + LIF, 500 steps, batch 16, 512 to "
        "16,384 neurons; capped at 4,096 on CPU) and on the suite's architectures, "
        "after comparing every framework's spikes with snntorch's; writes "
        "speed.md and speed.png into --out. Minutes on a CPU; not part of CI.")
    p.add_argument("--device", default="cpu")
    p.add_argument("--backends", nargs="+", help="backend names (default: all registered)")
    p.add_argument("--neurons", nargs="+", type=int, help="sizes of the Linear + LIF workload")
    p.add_argument("--archs", nargs="*", default=["tiny", "sew_resnet18"],
                   help="architectures timed too (none: --archs with no value)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("runs/speed"))
    p.set_defaults(func=cmd_speed)


def cmd_speed(args) -> int:
    """Write and print the framework speed table."""
    from benchmarks.measure.speed import run_speed

    run_speed(args.out, device=args.device, backends=args.backends,
              neurons=tuple(args.neurons) if args.neurons else None, archs=tuple(args.archs),
              repeats=args.repeats)
    print((args.out / "speed.md").read_text())
    print(f"wrote {args.out / 'speed.md'} and {args.out / 'speed.png'}")
    return EXIT_OK


def add_estimate_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``estimate`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_estimate`` on the parsed namespace.
    """
    p = subparsers.add_parser(
        "estimate", parents=[_COMMON],
        help="measure a grid's parts here and project its wall time",
        description="Measure a few training steps of each (backend, arch) of "
        "the grid and the data pipeline's rate on this machine's --device, and "
        "print the projected device-hours of the grid and what bounds it (data "
        "or model). It projects only for a device it can measure.")
    p.add_argument("--grid", default="spiking_fer")
    p.add_argument("--plugin", action="append", default=None, metavar="FILE",
                   help="a Python file registering native models the grid names (repeatable)")
    p.add_argument("--device", default=None, help="default: the grid's device")
    p.add_argument("--data-root", type=Path, default=None,
                   help=f"dataset folder (default: ${DATA_ROOT_ENV} or ./data); datasets absent "
                   "there are sized from the published Spiking-FER fold files")
    p.add_argument("--events", type=int, default=300_000,
                   help="events per generated recording for the pipeline rate (default 300k)")
    p.add_argument("--workers", type=int, default=None,
                   help="DataLoader workers (default: the grid recipe's)")
    p.set_defaults(func=cmd_estimate)


def cmd_estimate(args) -> int:
    """Print the projected cost of a grid on this machine.

    Raises:
        UsageError: ``--events`` below 1 or negative ``--workers`` (before anything is measured),
            or a device it cannot measure (from ValueError).
        GridFileError: an unknown grid.
    """
    import dataclasses

    from benchmarks.runner.estimate import estimate_grid
    from benchmarks.runner.grid import load_grid, resolve_names

    if args.events < 1:
        raise UsageError(f"--events must be >= 1 (events per generated recording), got {args.events}")
    if args.workers is not None and args.workers < 0:
        raise UsageError(f"--workers must be >= 0, got {args.workers}")
    grid = load_grid(args.grid)
    if args.plugin:
        grid = dataclasses.replace(grid, plugins=tuple(grid.plugins) + tuple(
            str(Path(p).expanduser().resolve()) for p in args.plugin))
    grid = resolve_names(grid)
    if args.workers is not None:
        grid = dataclasses.replace(grid, recipe=dataclasses.replace(grid.recipe, workers=args.workers))
    device = args.device or grid.device
    try:
        _, report = estimate_grid(grid, device=device, data_root=args.data_root or default_data_root(),
                                  events=args.events)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(report)
    return EXIT_OK


def add_list_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``list`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_list`` on the parsed namespace.
    """
    p = subparsers.add_parser(
        "list", parents=[_COMMON],
        help="list backends, datasets, architectures and grids")
    p.add_argument("--plugin", action="append", default=None, metavar="FILE",
                   help="also list the native models a plugin file registers (repeatable)")
    p.add_argument("--tasks", action="store_true",
                   help="list the tasks (dataset/protocol/label set/task type), their primary "
                   "metric and their versions with digests instead")
    p.set_defaults(func=cmd_list)


def cmd_list(args) -> int:
    """Print the registries: backends (availability, versions), datasets (with their upstream
    aliases), architectures, grids, methods, executors, energy models, corruptions and chip
    targets; with ``--tasks`` the tasks and their versions
    (:func:`benchmarks.results.tasks.format_tasks`)."""
    if args.tasks:
        from benchmarks.results.tasks import format_tasks

        print(format_tasks())
        return EXIT_OK
    from backends.base import backend_status, get_backend
    from backends.native.card import load_plugins
    from backends.specs import arch_names
    from benchmarks.runner.grid import grid_names, load_grid, resolve_names
    from datasets.base import DATASETS
    from datasets.registry import dataset_names

    load_plugins(tuple(args.plugin or ()))  # PluginError (exit 2) names the file
    print("backends:")
    for name, (ok, why) in backend_status().items():
        if ok:
            versions = ", ".join(f"{k} {v}" for k, v in get_backend(name).versions().items())
            print(f"  {name:<12} available    {versions}")
        else:
            print(f"  {name:<12} UNAVAILABLE  {why}")
    print("datasets:")
    for name in dataset_names():
        cls = DATASETS.get(name)
        alias = f"  (also: {', '.join(cls.aliases)})" if cls.aliases else ""
        print(f"  {name:<24} {', '.join(cls.provides)}{alias}")
    print("architectures:")
    from backends.specs import get_arch

    for name in arch_names():
        try:
            arch = get_arch(name)
        except InputError as exc:  # a broken registration is listed, not fatal
            print(f"  {name:<24} BROKEN: {exc}")
            continue
        if getattr(arch, "native", False):  # a native model: its framework, file and citation
            where = arch.plugin or arch.factory.__module__
            print(f"  {name:<24} native {arch.framework} model ({where})"
                  + (f"  {arch.citation}" if arch.citation else ""))
        else:
            print(f"  {name}")
    print("grids:")
    for name in grid_names():
        g = load_grid(name)
        try:  # a pattern such as backends = ["*"] stands for every registered name it matches
            n_cells = f"{len(resolve_names(g).cells()):>4} cells"
        except InputError as exc:  # a grid naming what is not registered here is listed, not fatal
            n_cells = f"BROKEN: {str(exc).splitlines()[0]}"
        print(f"  {name:<18} {n_cells}  {g.description}")
    from backends.targets.target import TARGETS
    from benchmarks.measure.energy import ENERGY_MODELS
    from benchmarks.results.spec import METHODS
    from datasets.transforms.corruptions import CORRUPTIONS

    for title, registry in (("methods", METHODS), ("executors", EXECUTORS),
                            ("energy models", ENERGY_MODELS), ("corruptions", CORRUPTIONS),
                            ("chip targets", TARGETS)):
        print(f"{title}: {', '.join(registry)}")
    return EXIT_OK


def _check_recording(path: Path, sensor_size) -> bool:
    """Read one recording; print what it holds (one line, and a note when its times stepped
    back) or its problem (one line). Returns whether it was read."""
    from datasets.io.recording import read_recording

    try:
        rec = read_recording(path, sensor_size=sensor_size)
    except (InputError, OSError) as exc:
        print(f"{path}: PROBLEM: {str(exc).removeprefix(f'{path}: ')}")
        return False
    w, h, _ = rec.sensor_size
    meta = rec.metadata
    fmt = meta.get("format") or rec.kind
    n_on = int((rec.events["p"] == 1).sum())
    print(f"{path}: ok: {fmt}, {rec.events.shape[0]} events ({n_on} ON), "
          f"{int(rec.events['t'][-1]) / 1e6:.6f} s, sensor {w}x{h} "
          f"({meta.get('sensor_size_source', 'unknown')})")
    t_order = meta.get("t_order") or {}
    if t_order.get("steps_back"):
        print(f"  note: t stepped back {t_order['steps_back']} times (largest "
              f"{t_order['max_step_back_us']} us); read as: {t_order['action']}")
    return True


def add_check_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``check`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_check`` on the parsed namespace.
    """
    p = subparsers.add_parser(
        "check", parents=[_COMMON],
        help="validate every file of datasets and report all problems at once",
        description="Check every file of each dataset (missing, unreadable, every "
        "event-file rule) and print all problems, naming file, field and value. "
        "Results are cached per file (size, mtime): a second check of an "
        "unchanged tree is quick.")
    p.add_argument("datasets", nargs="+", metavar="DATASET",
                   help="dataset names (see `list`), or recording files (.aedat4, v2e .h5, "
                   "Prophesee .raw / .dat) to read and describe")
    p.add_argument("--data-root", type=Path, default=None,
                   help=f"dataset folder (default: ${DATA_ROOT_ENV} or ./data)")
    p.add_argument("--no-cache", action="store_true", help="re-read every file")
    p.add_argument("--sensor-size", type=int, nargs=2, metavar=("W", "H"), default=None,
                   help="recordings: the sensor size of a file that declares none")
    p.set_defaults(func=cmd_check)


def _names_a_file(arg: str) -> bool:
    """Whether a ``check`` argument names a file rather than a dataset: dataset names and their
    aliases have no suffix and no path separator."""
    path = Path(arg)
    return bool(path.suffix) or len(path.parts) > 1 or path.is_file()


def cmd_check(args) -> int:
    """Check each named dataset (and each recording file named); print every problem.

    Returns:
        0 if every dataset and recording is sound, 1 if any has problems.

    Raises:
        UnknownNameError: an unknown dataset name (close matches suggested).
        UnsupportedRecordingError: a file name whose suffix is no recording type (before anything
            is checked).
        DatasetNotFoundError: a dataset is absent (the message says how to obtain it).
    """
    from datasets.check import check_dataset
    from datasets.io.recording import is_recording, read_recording
    from datasets.registry import canonical_dataset_name

    for n in args.datasets:
        if not is_recording(n) and _names_a_file(n):
            read_recording(n)  # its suffix is checked first: UnsupportedRecordingError, one line
    files = [n for n in args.datasets if is_recording(n)]
    names = [canonical_dataset_name(n) for n in args.datasets if n not in files]  # typos first
    data_root = args.data_root or default_data_root()
    bad = sum(not _check_recording(Path(f), args.sensor_size) for f in files)
    for name in names:
        result = check_dataset(name, data_root, use_cache=not args.no_cache,
                               progress=not args.quiet)
        print(result.report())
        bad += not result.ok
    return EXIT_FAILED if bad else EXIT_OK


# --------------------------------------------------------------------------------------------
# convert: video / frames / CK+ -> standardized face -> events
# --------------------------------------------------------------------------------------------


def add_convert_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``convert`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_convert`` on the parsed namespace.
    """
    from datasets.conversion.convert import EmulatorParams
    from datasets.conversion.standardize import CropSpec

    emu, crop = EmulatorParams(), CropSpec()
    p = subparsers.add_parser(
        parents=[_COMMON], name="convert",
        help="convert a video / frame folder / the CK+ dataset to events (Spiking-FER recipe)",
        description="Standardize the face in every frame (dlib 68 landmarks, head-pose "
        "correction, crop from facial proportions, 200x200) and convert the frames to DVS "
        "events with eventcv (v2e pixel model), written in the v2e HDF5 layout. Needs the "
        "'convert' extra (dlib-bin, face_recognition_models, av). The 68-point landmark model "
        "was trained on iBUG 300-W, whose licence excludes commercial use.",
    )
    p.add_argument("input", type=Path,
                   help="a video file or a folder of frames; with --ckplus, the CK+ folder "
                   "holding cohn-kanade-images/ and Emotion/; or an event recording (.aedat4, "
                   "Prophesee .raw / .dat), whose events are written as they are, in the v2e "
                   "layout (no standardization, no emulator)")
    p.add_argument("output", type=Path,
                   help="the .h5 to write (or a folder: <folder>/<input name>.h5); with "
                   "--ckplus, the data root that receives CKPlusDVS/")
    p.add_argument("--ckplus", action="store_true",
                   help="batch mode: convert the CK+ distribution to the FerDVS layout")
    p.add_argument("--save-frames", action="store_true",
                   help="also write the standardized frames as PNGs next to the events")
    p.add_argument("--preview", action="store_true",
                   help="also write a preview PNG (first/last frame, events: ON red, OFF blue)")
    p.add_argument("--overwrite", action="store_true",
                   help="single sequence: replace an existing output file")
    p.add_argument("--sensor-size", type=int, nargs=2, metavar=("W", "H"), default=None,
                   help="event recording input: the sensor size when the file declares none")

    b = p.add_argument_group("CK+ batch")
    b.add_argument("--folds-file", type=Path, default=None,
                   help="a Spiking-FER folds.csv to follow (its rows choose sequences and "
                   "labels) and copy; default: write subject-independent folds")
    b.add_argument("--n-folds", type=int, default=10, help="subject-independent folds (10)")
    b.add_argument("--fold-seed", type=int, default=0, help="seed of the fold assignment (0)")

    e = p.add_argument_group("DVS emulator (defaults: the Spiking-FER v2e command)")
    e.add_argument("--fps", type=float, default=None,
                   help=f"frame rate of the input, Hz (default: {emu.fps:g} for frames, the "
                   "container's rate for a video)")
    e.add_argument("--pos-thres", type=float, default=emu.pos_thres, help="ON threshold (0.2)")
    e.add_argument("--neg-thres", type=float, default=emu.neg_thres, help="OFF threshold (0.2)")
    e.add_argument("--sigma-thres", type=float, default=emu.sigma_thres,
                   help="threshold spread (0.02)")
    e.add_argument("--cutoff-hz", type=float, default=emu.cutoff_hz,
                   help="photoreceptor cut-off, 0 = off (0)")
    e.add_argument("--leak-rate-hz", type=float, default=emu.leak_rate_hz, help="leak rate (0)")
    e.add_argument("--shot-noise-rate-hz", type=float, default=emu.shot_noise_rate_hz,
                   help="shot noise rate (0)")
    e.add_argument("--refractory-us", type=int, default=emu.refractory_us,
                   help="refractory period, µs (500, v2e's default)")
    e.add_argument("--seed", type=int, default=emu.seed, help="emulator seed (0)")
    e.add_argument("--upsample", default=emu.upsample,
                   help="frame-interval subdivision: adaptive (eventcv default), off, or N")
    e.add_argument("--max-upsample", type=int, default=emu.max_upsample,
                   help="cap of the adaptive subdivision (eventcv default 64)")
    e.add_argument("--interpolate", default=emu.interpolate,
                   help="frame-interpolation ONNX model (RIFE-like), as v2e's SuperSloMo")
    e.add_argument("--interpolate-factor", type=int, default=emu.interpolate_factor,
                   help="intervals per source frame pair when interpolating (2)")
    e.add_argument("--emulator-device", default=emu.device, help="eventcv device: cpu or gpu")

    c = p.add_argument_group("standardization")
    c.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), default=crop.output_size,
                   help="output frame size = sensor size (200 200)")
    c.add_argument("--height-factor", type=float, default=crop.height_factor,
                   help="crop height / nose length (8/3: README's 2 x 2/3 on each side of the "
                   "nose; 4/3 is the literal full-height reading)")
    c.add_argument("--width-factor", type=float, default=crop.width_factor,
                   help="crop width / eye-centre distance (8/3)")
    c.add_argument("--rigid", action="store_true",
                   help="head-pose correction without scale (rotation + translation only)")
    c.add_argument("--detector-upsample", type=int, default=1,
                   help="most HOG upsamplings for small faces (1)")

    p.set_defaults(func=cmd_convert)


def _convert_params(args: argparse.Namespace) -> tuple[EmulatorParams, CropSpec]:
    from datasets.conversion.convert import EmulatorParams
    from datasets.conversion.standardize import CropSpec

    emu = EmulatorParams(
        fps=args.fps if args.fps is not None else EmulatorParams().fps,
        pos_thres=args.pos_thres,
        neg_thres=args.neg_thres,
        sigma_thres=args.sigma_thres,
        cutoff_hz=args.cutoff_hz,
        leak_rate_hz=args.leak_rate_hz,
        shot_noise_rate_hz=args.shot_noise_rate_hz,
        refractory_us=args.refractory_us,
        seed=args.seed,
        upsample=args.upsample,
        max_upsample=args.max_upsample,
        interpolate=args.interpolate,
        interpolate_factor=args.interpolate_factor,
        device=args.emulator_device,
    )
    spec = CropSpec(
        output_size=(int(args.size[0]), int(args.size[1])),
        height_factor=args.height_factor,
        width_factor=args.width_factor,
        with_scale=not args.rigid,
    )
    return emu, spec


def _is_event_input(path: Path) -> bool:
    from datasets.io.recording import is_recording

    return is_recording(path) and path.suffix.lower() not in (".h5", ".hdf5")


def _convert_recording(args: argparse.Namespace) -> int:
    """``convert`` of an event recording: its events, ``t`` from the first event, to a v2e .h5."""
    from datasets.io.recording import recording_to_h5

    out = args.output
    if out.is_dir() or out.suffix.lower() not in (".h5", ".hdf5"):
        out = out / f"{args.input.stem}.h5"
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out}: exists; pass --overwrite to replace it")
    path, rec = recording_to_h5(args.input, out, sensor_size=args.sensor_size)
    w, h, _ = rec.sensor_size
    src = rec.metadata.get("sensor_size_source", "")
    print(f"{path}: {rec.events.shape[0]} events, {int(rec.events['t'][-1]) / 1e6:.3f} s, from "
          f"{args.input} ({rec.kind}), sensor {w}x{h} ({src})")
    t_order = rec.metadata.get("t_order") or {}
    if t_order.get("steps_back"):
        print(f"note: t stepped back {t_order['steps_back']} times (largest "
              f"{t_order['max_step_back_us']} us); events were stably sorted by t")
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    """Run the ``convert`` subcommand; print the result on stdout and return the exit status.

    Returns:
        0 on success; 1 if a batch finished with failed sequences; 2 on an error that stopped
        the conversion (the message is printed on stderr).
    """
    from datasets.conversion.convert import convert_ckplus, convert_sequence
    from datasets.conversion.standardize import LandmarkDetector, LandmarkModelMissingError

    progress = not getattr(args, "quiet", False)
    try:
        if not args.ckplus and _is_event_input(args.input):
            return _convert_recording(args)
        emu, spec = _convert_params(args)
        detector = LandmarkDetector(upsample_times=args.detector_upsample)
        if args.ckplus:
            summary = convert_ckplus(
                args.input, args.output, params=emu, spec=spec, folds_file=args.folds_file,
                n_folds=args.n_folds, fold_seed=args.fold_seed, save_frames=args.save_frames,
                preview=args.preview, progress=progress, detector=detector,
            )
            print(summary.format())
            return EXIT_FAILED_SEQUENCES if summary.failed else EXIT_OK
        if args.folds_file is not None:
            raise UsageError("--folds-file is only meaningful with --ckplus")
        out = args.output
        if out.is_dir() or out.suffix.lower() not in (".h5", ".hdf5"):
            out = out / f"{args.input.stem if args.input.is_file() else args.input.name}.h5"
        if out.exists() and not args.overwrite:
            raise FileExistsError(f"{out}: exists; pass --overwrite to replace it")
        stem = out.with_suffix("")
        result = convert_sequence(
            args.input, out, params=emu, spec=spec, detector=detector,
            use_video_fps=args.fps is None,
            frames_dir=Path(f"{stem}_frames") if args.save_frames else None,
            preview_path=Path(f"{stem}_preview.png") if args.preview else None,
            progress=progress,
        )
        print(result.line())
        for extra in (result.frames_dir, result.preview):
            if extra is not None:
                print(extra)
        return EXIT_OK
    except (LandmarkModelMissingError, OSError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR

# --------------------------------------------------------------------------------------------
# score: released predictions (SEEN) -> metrics, published records
# --------------------------------------------------------------------------------------------


def add_score_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``score`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_score`` on the parsed namespace.
    """
    from benchmarks.results.score import DEFAULT_METHOD, FORMATS

    p = subparsers.add_parser(
        parents=[_COMMON], name="score",
        help="score released predictions (e.g. SEEN's) with the suite's metrics",
        description="Read released prediction files, derive the true labels (and lighting) from "
        "the sequence names, and compute WAR, UAR, per-class recall and per-lighting accuracy "
        "and UAR per inference pass with benchmarks.measure.metrics, then mean and std over passes.",
    )
    p.add_argument("pred_dir", type=Path, metavar="PRED_DIR",
                   help="a folder of prediction files (one per pass), or a folder of such "
                   "run folders")
    p.add_argument("--format", dest="fmt", required=True, choices=FORMATS,
                   help="prediction format; 'seen': {\"results\": {sequence: [{label, score}, "
                   "...]}} with SEE sequence names")
    p.add_argument("--record", type=Path, default=None, metavar="RUN_DIR",
                   help="append one published-predictions record per run to "
                   "RUN_DIR/results.jsonl (then `run_bench.py report RUN_DIR`)")
    p.add_argument("--method", default=DEFAULT_METHOD,
                   help="leaderboard row name; {run} is replaced by the run folder's name "
                   f"(default: {DEFAULT_METHOD!r})")
    p.set_defaults(func=cmd_score)


def cmd_score(args: argparse.Namespace) -> int:
    """Score ``args.pred_dir``, print one table per run, and record them if asked.

    Returns:
        0.

    Raises:
        FileNotFoundError: no prediction folder / file.
        PredictionFileError: a malformed file (file named).
    """
    from benchmarks.results.score import format_run, record_run, score_predictions

    scores = score_predictions(args.pred_dir, args.fmt)
    for i, score in enumerate(scores):
        if i:
            print()
        print(format_run(score))
    if args.record is not None:
        for score in scores:
            path = record_run(args.record, score, args.method)
        print(f"\nrecorded {len(scores)} run(s) in {path}; "
              f"render with: run_bench.py report {args.record}")
    return 0

# --------------------------------------------------------------------------------------------
# predict: a trained cell's checkpoint over a recording, in sliding windows
# --------------------------------------------------------------------------------------------


def add_predict_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``predict`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_predict`` on the parsed namespace.
    """
    p = subparsers.add_parser(
        parents=[_COMMON], name="predict",
        help="run a trained checkpoint over a recording in sliding windows",
        description="Load a cell checkpoint (RUN_DIR/checkpoints/*.pt), cut the recording's events "
        "into windows [t0, t0 + window) every stride, bin each window like the training data "
        "(with the recording's sensor size) and print the predicted class and its softmax "
        "probability per window. Windows without events are skipped (listed, no class).",
    )
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT",
                   help="a .pt written by `run`, or a .nir written by `export`")
    p.add_argument("recording", type=Path, metavar="RECORDING",
                   help=".aedat4, v2e-layout .h5, or Prophesee .raw (EVT 2.0 / 3.0) / .dat")
    p.add_argument("--sensor-size", type=int, nargs=2, metavar=("W", "H"), default=None,
                   help="the sensor size of a recording that declares none (a Prophesee file "
                   "without header geometry or known camera plugin; a v2e .h5)")
    p.add_argument("--window-ms", type=float, default=500.0, help="window length in ms (default 500)")
    p.add_argument("--stride-ms", type=float, default=250.0, help="window step in ms (default 250)")
    p.add_argument("--batch-size", type=int, default=32, help="windows per forward pass (default 32)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--backend", default=None,
                   help=".nir only: the backend to run it in (default: the one it was exported "
                   "from, else snntorch)")
    p.add_argument("--nir-reader", choices=["suite", "framework"], default="suite",
                   help=".nir only: the suite's reader (the backend's own compiled model, with "
                   "activity accounting) or the framework's own NIR reader")
    p.add_argument("--csv", type=Path, default=None, help="also write the predictions to this CSV")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    """Print one line per window (and write ``--csv``).

    Returns:
        0.

    Raises:
        FileNotFoundError: no checkpoint or recording file.
        CheckpointError, EventFileError: a bad checkpoint, backend or recording (file named).
        UsageError: a non-positive window, stride or batch size.
    """
    from benchmarks.runner.checkpoints import load_checkpoint
    from benchmarks.runner.predict import (
        format_predictions,
        predict_recording,
        write_predictions_csv,
    )

    if args.window_ms <= 0 or args.stride_ms <= 0:
        raise UsageError(f"--window-ms and --stride-ms must be > 0, got {args.window_ms} and "
                         f"{args.stride_ms}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.checkpoint.suffix.lower() == ".nir":
        from backends.nir_exchange import read_nir
        from benchmarks.runner.checkpoints import load_nir

        backend = args.backend or (read_nir(args.checkpoint).metadata.get("neurofer_bench", {})
                                   .get("exported_from_backend") or "snntorch")
        loaded = load_nir(args.checkpoint, backend, reader=args.nir_reader, device=args.device)
    else:
        loaded = load_checkpoint(args.checkpoint, device=args.device)
    preds = predict_recording(loaded, args.recording, window_ms=args.window_ms,
                              stride_ms=args.stride_ms, batch_size=args.batch_size,
                              sensor_size=args.sensor_size)
    ck = loaded.checkpoint
    print(f"{args.checkpoint}: {ck['backend']}/{ck['arch']} trained on {ck['cell'].get('dataset')}, "
          f"classes {', '.join(loaded.classes)}")
    print(f"{args.recording}: {len(preds)} windows of {args.window_ms:g} ms every {args.stride_ms:g} ms")
    for line in format_predictions(preds):
        print(line)
    n_empty = sum(p.label is None for p in preds)
    if n_empty:
        print(f"note: {n_empty} empty window(s) skipped (no events, no prediction)")
    if args.csv is not None:
        print(f"wrote {write_predictions_csv(args.csv, preds)}")
    return 0


def add_submit_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``submit`` subcommand on ``subparsers``; sets ``func=cmd_submit``."""
    from benchmarks.submissions.bundle import DEFAULT_MAX_CHECKPOINT_MIB

    p = subparsers.add_parser(
        parents=[_COMMON], name="submit",
        help="pack run folders into a submission bundle (manifest, records, checkpoints, plugins)",
        description="Write BUNDLE_DIR: manifest.json (your metadata, the environment, the sha256 "
        "and size of every file), results.jsonl (the ok trained, published, robustness and "
        "deployment records with their predictions, and deployment records skipped for their "
        "fit), checkpoints/ (byte copies), plugins/ (native models' plugin files) and targets/ "
        "(the chip target files of deployment records). The same inputs "
        "give a byte-identical bundle; nothing is half-written. See docs/guides/submitting.md.",
    )
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run folders")
    p.add_argument("--out", type=Path, required=True, metavar="BUNDLE_DIR",
                   help="the bundle folder to write (must not exist)")
    p.add_argument("--meta", type=Path, default=None, metavar="FILE.toml",
                   help="TOML with title, authors, contact, licence, url, notes (flags override)")
    p.add_argument("--title", default=None, help="title of the submission (mandatory)")
    p.add_argument("--authors", default=None, help="authors or team, comma-separated (mandatory)")
    p.add_argument("--contact", default=None, help="contact e-mail or address (mandatory)")
    p.add_argument("--licence", default=None, help="licence of the weights (mandatory)")
    p.add_argument("--url", default=None, help="paper or code link")
    p.add_argument("--notes", default=None, help="free notes")
    p.add_argument("--supersedes", default=None, metavar="BUNDLE_ID",
                   help="the id of a bundle this one replaces")
    p.add_argument("--max-checkpoint-mib", type=float, default=DEFAULT_MAX_CHECKPOINT_MIB,
                   help="checkpoints above this size are listed by digest and URL, not copied "
                   f"(default {DEFAULT_MAX_CHECKPOINT_MIB:g})")
    p.add_argument("--checkpoint-url-base", default=None, metavar="URL",
                   help="where the checkpoints above the limit are published")
    p.set_defaults(func=cmd_submit)


def cmd_submit(args: argparse.Namespace) -> int:
    """Write the bundle and print its id, path and size."""
    from benchmarks.submissions.bundle import bundle_id, bundle_size, read_meta, write_bundle

    meta = read_meta({k: getattr(args, k) for k in ("title", "authors", "contact", "licence",
                                                    "url", "notes")}, args.meta)
    out = write_bundle(args.run_dirs, args.out, meta, supersedes=args.supersedes,
                       max_checkpoint_mib=args.max_checkpoint_mib,
                       checkpoint_url_base=args.checkpoint_url_base)
    print(f"bundle {bundle_id(out)}: {out} ({bundle_size(out) / (1 << 20):.2f} MiB)")
    return EXIT_OK


def add_verify_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``verify`` subcommand on ``subparsers``; sets ``func=cmd_verify``."""
    p = subparsers.add_parser(
        parents=[_COMMON], name="verify",
        help="check submission bundles: digests, records, task, and a replay of every checkpoint",
        description="Check each bundle (structure, digests, manifest, every record as validate "
        "does, the task), replay each checkpoint on the test samples and compare with the stored "
        "outputs; write BUNDLE/verification.json. Several bundles are also checked against each "
        "other. Exit 0 only when nothing is rejected.",
    )
    p.add_argument("bundles", nargs="+", type=Path, metavar="BUNDLE", help="bundle folders")
    p.add_argument("--replay", type=int, default=None, metavar="N",
                   help="replay a deterministic sample of N test samples per record (default: all)")
    p.add_argument("--replicate", action="store_true",
                   help="also train each trained cell again from its recipe and seed (costly)")
    p.add_argument("--trust-plugins", action="store_true",
                   help="import the bundles' plugin files (code) to replay native models")
    p.add_argument("--data-root", type=Path, default=None,
                   help=f"dataset root (default: ${DATA_ROOT_ENV} or ./data, as for run)")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    """Print each bundle's problems and verdicts; 0 when nothing is rejected, else 1."""
    from benchmarks.submissions.verify import verify_bundles

    if args.replay is not None and args.replay < 1:
        raise UsageError(f"--replay = {args.replay}; expected a positive number of samples")
    reports = verify_bundles(args.bundles, replay_n=args.replay, replicate=args.replicate,
                             trust_plugins=args.trust_plugins,
                             data_root=args.data_root or default_data_root())
    for path, rep in zip(args.bundles, reports, strict=True):
        for p in rep["problems"]:
            print(p)
        for r in rep["records"]:
            for p in r["problems"]:
                print(p)
            why = f" ({'; '.join(r['reasons'])})" if r["reasons"] and r["verdict"] != "rejected" else ""
            print(f"  {r['verdict']:<10} {r['cell_id']}{why}")
        print(f"{path}: {rep['verdict']} (bundle {rep['bundle_id']})")
    return EXIT_FAILED if any(r["verdict"] == "rejected" for r in reports) else EXIT_OK


# --------------------------------------------------------------------------------------------
# site: submission bundles -> the static multi-page leaderboard
# --------------------------------------------------------------------------------------------


def add_site_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``site`` subcommand on ``subparsers`` (from ``add_subparsers``)."""
    p = subparsers.add_parser(
        "site", parents=[_COMMON],
        help="build the static leaderboard site of submission bundles",
        description="Build the static site (index, one page per task version, per submission "
        "and per model, leaderboard.json, one CSV per task version) of submission bundles. "
        "Works from file:// and any static server, with no network request. A bundle the "
        "verifier rejected is refused (exit 2). See docs/guides/site.md.")
    p.add_argument("bundles", nargs="+", metavar="BUNDLE_OR_DIR",
                   help="a bundle folder, or a folder with bundles below it")
    p.add_argument("--out", required=True, metavar="SITE_DIR",
                   help="the site folder (replaced as a whole when the build succeeds)")
    p.set_defaults(func=cmd_site)


def cmd_site(args: argparse.Namespace) -> int:
    """``run_bench.py site``: :func:`reports.site.build_site`; prints the index path and counts."""
    from reports.site import build_site

    s = build_site(args.bundles, args.out)
    print(f"site: {s.out / 'index.html'} ({s.n_tasks} task version(s), {s.n_rows} row(s), "
          f"{s.n_shown} of {s.n_bundles} bundle(s) shown, {len(s.files)} files, "
          f"{s.total_bytes} bytes)")
    return 0


def add_deploy_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``deploy`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_deploy`` on the parsed namespace.
    """
    p = subparsers.add_parser(
        "deploy", parents=[_COMMON],
        help="evaluate every SNN checkpoint of a run at neuromorphic chips' precision",
        description="For each SNN checkpoint of RUN_DIR and each chip target (docs/guides/"
        "on-chip.md): the fit verdict, then, where the layers map, accuracy at the chip's "
        "precision against the float model, per-layer spike agreement, spikes, synaptic "
        "operations and time steps to decision; one cell per (checkpoint, target), claimed "
        "and resumable, recorded in RUN_DIR/deployment/results.jsonl.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--targets", nargs="+", metavar="NAME",
                   help="chip targets (default: loihi2 speck; see backends/targets/)")
    p.add_argument("--data-root", type=Path, default=None,
                   help=f"dataset folder (default: ${DATA_ROOT_ENV} or ./data)")
    p.add_argument("--batch-size", type=int, default=None, help="evaluation batch size (default 16)")
    p.add_argument("--max-test", type=int, default=None, metavar="N",
                   help="evaluate at most N test recordings per checkpoint, evenly spaced over "
                   "the test split (default: all)")
    _add_evaluation_executor_options(p)
    p.set_defaults(func=cmd_deploy)


def cmd_deploy(args) -> int:
    """Plan (every check before anything runs), run the deployment cells, print their table.

    Returns:
        0, or 1 when every cell that ran failed or when planned cells have no record (named on
        stderr).

    Raises:
        UnknownNameError, TargetFileError, NoCheckpointsError, CheckpointError,
        DatasetNotFoundError, UsageError: bad input, before any evaluation (exit 2).
    """
    from benchmarks.deploy.evaluate import plan_deploy, run_deploy
    from benchmarks.robustness.sweep import EVAL_BATCH_SIZE
    from benchmarks.runner.executors import executor_from_options
    from reports.deployment import write_deployment_report

    batch = EVAL_BATCH_SIZE if args.batch_size is None else args.batch_size
    if args.workers < 1 or batch < 1:
        raise UsageError(f"--workers and --batch-size must be >= 1, got {args.workers} and {batch}")
    if args.max_test is not None and args.max_test < 1:
        raise UsageError(f"--max-test must be >= 1, got {args.max_test}")
    data_root = args.data_root or default_data_root()
    cells = plan_deploy(args.run_dir, data_root, args.targets, batch_size=batch,
                        max_test=args.max_test)
    executor = executor_from_options(args.executor, vars(args))
    summary = run_deploy(cells, args.run_dir, data_root, executor=executor,
                         progress=not args.quiet)
    print(summary.line())
    path = write_deployment_report(args.run_dir)
    if path is not None:
        print()
        print(path.read_text())
        print(f"report: {path}")
    if _report_missing(summary.missing):
        return EXIT_FAILED
    return EXIT_FAILED if summary.failed and not summary.done and not summary.resumed else EXIT_OK


COMMANDS = (add_run_parser, add_report_parser, add_validate_parser, add_speed_parser,
            add_estimate_parser, add_list_parser, add_check_parser, add_convert_parser,
            add_score_parser, add_predict_parser, add_export_parser, add_robustness_parser,
            add_deploy_parser,
            add_submit_parser, add_verify_parser, add_site_parser)
"""The subcommands, in the order ``--help`` lists them: each ``add_<cmd>_parser(subparsers)``
registers its options beside its handler ``cmd_<cmd>``. A new command is one such pair and one
entry here."""


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; bad input is reported in one line (exit 2)."""
    args = build_parser().parse_args(argv)
    _setup_logging(args)
    try:
        return args.func(args)
    except (InputError, FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
