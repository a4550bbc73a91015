"""reports package of NeuroFER-Bench: result records -> markdown tables and PNG figures.

Reports read only the records (``RUN_DIR/results.jsonl``, through the one schema module
:mod:`benchmarks.results.records`); they import nothing from the backends, the datasets' loaders or the
benchmark runner. :func:`write_reports` writes ``leaderboard.md`` and the figures into the run
folder and returns their paths. matplotlib is imported only when figures are drawn
(:mod:`reports.figures`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from benchmarks.results.records import read_records
from datasets.common import atomic_write_text
from reports.leaderboard import LEADERBOARD_FILE, leaderboard_table, render_markdown

log = logging.getLogger(__name__)

__all__ = ["leaderboard_table", "render_markdown", "report_markdown", "report_figures",
           "write_reports"]


def report_markdown(records: list[dict], robustness: list[dict] | None = None,
                    early: list[dict] | None = None, deployment: list[dict] | None = None) -> str:
    """``leaderboard.md``'s text: :func:`reports.leaderboard.render_markdown` with the published
    numbers of the records' datasets (:func:`reports.published.published_section`), the energy
    tables of every energy model (:func:`reports.energy.render_energy_markdown`), for
    valence-arousal cells the VA tables (:func:`reports.va.va_table_markdown`) and, given the
    records of a robustness sweep, its tables (:func:`reports.robustness.render_robustness_markdown`),
    and given early-decision results, their tables (:func:`reports.robustness.render_early_markdown`),
    and given deployment records, the "Deployment" section
    (:func:`reports.deployment.deployment_markdown`), after the leaderboard."""
    from reports.energy import render_energy_markdown
    from reports.published import published_section
    from reports.robustness import render_early_markdown, render_robustness_markdown
    from reports.va import has_va, va_table_markdown

    published = published_section(records)  # numbers from the papers, a section of their own
    extra = ([published] if published else []) + [render_energy_markdown(records)]
    if any(has_va(r) for r in records):  # valence-arousal cells: RMSE / CCC / PCC / SAGR tables
        extra.append("\n".join("#" + ln if ln.startswith("#") else ln  # one heading level down
                               for ln in va_table_markdown(records).splitlines()))
    if robustness:
        extra.append(render_robustness_markdown(robustness))
    if early:
        extra.append(render_early_markdown(early))
    if deployment:
        from reports.deployment import deployment_markdown

        extra.append(deployment_markdown(deployment))
    return render_markdown(records, extra_sections=extra)


def report_figures(records: list[dict], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Every figure: :func:`reports.figures.render_figures` then the per-energy-model figures
    (:func:`reports.energy.render_energy_figures`); matplotlib is imported only here."""
    from reports.energy import render_energy_figures
    from reports.figures import render_figures

    return [*render_figures(records, out_dir), *render_energy_figures(records, out_dir)]


def write_reports(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Render ``RUN_DIR/results.jsonl`` into ``RUN_DIR/leaderboard.md`` and the figures.

    Args:
        run_dir: the run folder.

    Returns:
        The paths written: ``leaderboard.md`` first, then the figures that had data (see
        :func:`reports.figures.render_figures`), then the paper tables (markdown, CSV, LaTeX per
        dataset and protocol, and the published numbers of the records' datasets:
        :func:`reports.tables.write_tables`), then, when the run has a robustness sweep
        (``RUN_DIR/robustness/``), its report, LaTeX table and figure
        (:func:`reports.robustness.write_robustness_reports`; its tables are also in
        ``leaderboard.md``).

    Raises:
        FileNotFoundError: ``run_dir`` has no ``results.jsonl``.
        RecordSchemaError: a record of a newer schema version than this code reads.
    """
    from reports.robustness import read_early, robustness_records, write_robustness_reports
    from reports.tables import write_tables
    from reports.va import write_va_reports

    run = Path(run_dir)
    records = read_records(run)
    md = run / LEADERBOARD_FILE
    from reports.deployment import deployment_records

    atomic_write_text(md, report_markdown(records, robustness_records(run), read_early(run),
                                          deployment_records(run)))
    log.info("wrote %s (%d records)", md, len(records))
    return [md, *report_figures(records, run), *write_tables(records, run),
            *write_va_reports(records, run), *write_robustness_reports(run)]
