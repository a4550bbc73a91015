"""The ``score`` subcommand of ``run_bench.py``: score released predictions with the suite's metrics.

Usage (see ``run_bench.py score --help``)::

    python run_bench.py score --format seen ours_results/E4_S3            # print the table
    python run_bench.py score --format seen ours_results/ --record runs/see  # every run folder
    python run_bench.py report runs/see                                    # leaderboard with them

``PRED_DIR`` is a run folder of prediction files (one per inference pass), or a folder of run
folders (each scored on its own). With ``--record RUN_DIR`` each run is appended to
``RUN_DIR/results.jsonl`` as a ``kind: "published"`` record (see :func:`benchmarks.score.
published_record`). Wired into ``run_bench.py`` with ``add_score_parser(subparsers)``; the handler
is ``args.func`` and returns the exit status (0; errors propagate as exceptions that
``run_bench.main`` reports: ``FileNotFoundError`` and ``ValueError`` incl.
:class:`benchmarks.score.PredictionFileError`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_score_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``score`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_score`` on the parsed namespace; adds ``-v/--verbose`` and ``-q/--quiet``
    like the other subcommands.
    """
    from benchmarks.score import DEFAULT_METHOD, FORMATS

    p = subparsers.add_parser(
        "score",
        help="score released predictions (e.g. SEEN's) with the suite's metrics",
        description="Read released prediction files, derive the true labels (and lighting) from "
        "the sequence names, and compute WAR, UAR, per-class recall and per-lighting accuracy "
        "and UAR per inference pass with benchmarks.metrics, then mean and std over passes.",
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
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    p.set_defaults(func=cmd_score)


def cmd_score(args: argparse.Namespace) -> int:
    """Score ``args.pred_dir``, print one table per run, and record them if asked.

    Returns:
        0.

    Raises:
        FileNotFoundError: no prediction folder / file.
        ValueError: a malformed file (:class:`benchmarks.score.PredictionFileError`) or an
            unknown format.
    """
    from benchmarks.score import format_run, record_run, score_predictions

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
