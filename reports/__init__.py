"""reports package of NeuroFER-Bench: result records -> markdown tables and PNG figures.

Reports read only the records (``RUN_DIR/results.jsonl``, through the one schema module
:mod:`benchmarks.records`); they import nothing from the backends, the datasets' loaders or the
benchmark runner. :func:`write_reports` writes ``leaderboard.md`` and the figures into the run
folder and returns their paths. matplotlib is imported only when figures are drawn
(:mod:`reports.figures`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from benchmarks.records import read_records
from datasets.common import atomic_write_text
from reports.leaderboard import LEADERBOARD_FILE, leaderboard_table, render_markdown

log = logging.getLogger(__name__)

__all__ = ["leaderboard_table", "render_markdown", "write_reports"]


def write_reports(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Render ``RUN_DIR/results.jsonl`` into ``RUN_DIR/leaderboard.md`` and the figures.

    Args:
        run_dir: the run folder.

    Returns:
        The paths written: ``leaderboard.md`` first, then the figures that had data (see
        :func:`reports.figures.render_figures`), then the paper tables (markdown, CSV, LaTeX per
        dataset and protocol: :func:`reports.tables.write_tables`).

    Raises:
        FileNotFoundError: ``run_dir`` has no ``results.jsonl``.
        RecordSchemaError: a record of a newer schema version than this code reads.
    """
    from reports.figures import render_figures  # lazy: matplotlib only when drawing
    from reports.tables import write_tables

    run = Path(run_dir)
    records = read_records(run)
    md = run / LEADERBOARD_FILE
    atomic_write_text(md, render_markdown(records))
    log.info("wrote %s (%d records)", md, len(records))
    return [md, *render_figures(records, run), *write_tables(records, run)]
