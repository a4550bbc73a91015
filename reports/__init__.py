"""reports package of NeuroFER-Bench: result records -> markdown tables and PNG figures.

Reports read only the records (``RUN_DIR/results.jsonl``); they import nothing from the backends,
the datasets or the benchmark runner. ``render_reports(run_dir)`` writes ``leaderboard.md`` and the
figures into the run folder and returns their paths. matplotlib is imported only when figures are
drawn (:mod:`reports.figures`).
"""

from reports.leaderboard import (
    leaderboard_table,
    load_records,
    render_markdown,
    write_reports,
)

render_reports = write_reports
"""Alias of :func:`reports.leaderboard.write_reports`."""

__all__ = [
    "leaderboard_table", "load_records", "render_markdown", "render_reports", "write_reports"
]
