"""The ``predict`` subcommand of ``run_bench.py``: a trained cell's model over a raw recording.

Usage (see ``run_bench.py predict --help``)::

    python run_bench.py predict runs/default/checkpoints/<cell>.pt davis346.aedat4
    python run_bench.py predict CKPT clip.h5 --window-ms 1000 --stride-ms 500 --csv out/clip.csv

Checkpoints are written by ``run_bench.py run`` under ``RUN_DIR/checkpoints/`` (one per cell; the
record's ``"checkpoint"`` names it). The recording is an ``.aedat4`` file (DAVIS346 etc.) or a
v2e-layout ``.h5``. Windows, binning and the empty-window policy (skipped, reported without a
class) are described in :mod:`benchmarks.predict`. Wired into ``run_bench.py`` with
``add_predict_parser(subparsers)``; the handler is ``args.func``, returns 0, and raises
``FileNotFoundError`` / ``ValueError`` (incl. :class:`benchmarks.predict.CheckpointError` and
:class:`datasets.events.EventFileError`, each naming the file) for ``run_bench.main`` to report.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_predict_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``predict`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_predict``; adds ``-v/--verbose`` and ``-q/--quiet`` like the other subcommands.
    """
    p = subparsers.add_parser(
        "predict",
        help="run a trained checkpoint over a recording in sliding windows",
        description="Load a cell checkpoint (RUN_DIR/checkpoints/*.pt), cut the recording's events "
        "into windows [t0, t0 + window) every stride, bin each window like the training data "
        "(with the recording's sensor size) and print the predicted class and its softmax "
        "probability per window. Windows without events are skipped (listed, no class).",
    )
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="a .pt written by `run`")
    p.add_argument("recording", type=Path, metavar="RECORDING", help=".aedat4 or v2e-layout .h5")
    p.add_argument("--window-ms", type=float, default=500.0, help="window length in ms (default 500)")
    p.add_argument("--stride-ms", type=float, default=250.0, help="window step in ms (default 250)")
    p.add_argument("--batch-size", type=int, default=32, help="windows per forward pass (default 32)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--csv", type=Path, default=None, help="also write the predictions to this CSV")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    """Print one line per window (and write ``--csv``).

    Returns:
        0.

    Raises:
        FileNotFoundError: no checkpoint or recording file.
        ValueError: a bad checkpoint, backend or recording, or a non-positive window/stride.
    """
    from benchmarks.predict import (
        format_predictions,
        load_checkpoint,
        predict_recording,
        write_predictions_csv,
    )

    if args.window_ms <= 0 or args.stride_ms <= 0:
        raise ValueError(f"--window-ms and --stride-ms must be > 0, got {args.window_ms} and {args.stride_ms}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    loaded = load_checkpoint(args.checkpoint, device=args.device)
    preds = predict_recording(loaded, args.recording, window_ms=args.window_ms,
                              stride_ms=args.stride_ms, batch_size=args.batch_size)
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
