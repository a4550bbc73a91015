"""Tables for papers: one table per dataset and protocol, as markdown, CSV and LaTeX.

Rows are the leaderboard's rows (``backend / arch`` of trained cells, then published methods);
columns are the metrics of :data:`PAPER_COLUMNS`, each with its unit. A value is ``mean ± std``
over the row's cells (folds x seeds; sample std, ``ddof = 1``, omitted for one cell), ``n`` the
number of cells; WAR and UAR are followed by their 95% intervals
(:func:`reports.stats.group_interval`: Student t over cells for n >= 2, percentile bootstrap
over the test subjects, or samples, of a single cell). The best mean of a column whose direction is known
(``Column.better``) is bold; ties are all bold. The caption states the protocol, folds, seeds,
model selection, energy model, interval methods and the suite version, so that a table copied
into a paper says what it is.

Formats: GitHub markdown (tabulate), CSV (numbers, not text: ``mean``, ``std``, interval bounds
and ``n`` in separate columns whose names carry the units) and LaTeX (booktabs rules, through
pandas' ``Styler.to_latex``; needs ``\\usepackage{booktabs}``).
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datasets.common import atomic_write_text
from reports import stats as S
from reports.leaderboard import (
    MISSING,
    Column,
    Group,
    _escape,
    _table,
    by_dataset,
    ci_header,
    format_mean_std,
    group_records,
    metric_value,
)
from reports.published import PublishedTable, published_tables

log = logging.getLogger(__name__)

__all__ = ["PAPER_COLUMNS", "PaperTable", "paper_tables", "write_tables", "latex_escape",
           "published_latex", "deployment_latex", "TABLES_DIR"]

TABLES_DIR = "tables"

PAPER_COLUMNS: tuple[Column, ...] = (
    Column("war", "WAR (%)", scale=100.0, decimals=1, ci=True, better="max"),
    Column("uar", "UAR (%)", scale=100.0, decimals=1, ci=True, better="max"),
    Column("energy_uj_per_inference", "energy (µJ/inf)", better="min"),
    Column("latency_ms_p50", "latency p50 (ms)", better="min"),
    Column("throughput_samples_per_s", "throughput (samples/s)", better="max"),
    Column("synops_per_sample", "SynOps/sample", better="min"),
    Column("params", "params", decimals=0, static=True),
)
"""Metric columns of the paper tables (``better``: which mean is bold)."""

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "µ": r"$\mu$", "±": r"$\pm$", "–": "--",
                  "—": "---", "−": "$-$", "<": "$<$", ">": "$>$", "≥": r"$\geq$",
                  "≤": r"$\leq$", "×": r"$\times$"}


def latex_escape(text: Any) -> str:
    """``text`` safe for LaTeX body text: special characters escaped; ``µ``, ``±``, ``×``,
    ``≥``, ``<``, ``>`` and dashes as math or ligatures (so that pdflatex needs no Unicode or
    font-encoding setup).

    Example:
        >>> latex_escape("WAR (%) ± low_light µJ")
        'WAR (\\\\%) $\\\\pm$ low\\\\_light $\\\\mu$J'
    """
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


@dataclass(frozen=True)
class _Cellv:
    text: str
    mean: float | None
    std: float | None
    ci: S.Interval | None = None


@dataclass(frozen=True)
class PaperTable:
    """One dataset and protocol's table (:func:`paper_tables`).

    Attributes:
        dataset, protocol: what the rows were evaluated on.
        rows: ``[(model, source)]`` in leaderboard order.
        cells: per row, ``{column key: value}`` (see :data:`PAPER_COLUMNS`; ``"n"``).
        best: per column key, the indices of the rows in bold.
        caption: what the table shows (protocol, folds, seeds, selection, energy model, ...).
        label: a LaTeX label, ``tab:<dataset>-<protocol>``.
    """

    dataset: str
    protocol: str
    rows: tuple[tuple[str, str], ...]
    cells: tuple[dict[str, Any], ...]
    best: dict[str, tuple[int, ...]]
    caption: str
    label: str

    @property
    def slug(self) -> str:
        """File name stem: ``<dataset>_<protocol>`` with unsafe characters as ``-``."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{self.dataset}_{self.protocol}")

    def _headers(self) -> list[tuple[str, str]]:
        out = [("n", "n")]
        for c in PAPER_COLUMNS:
            out.append((c.key, c.header))
            if c.ci:
                out.append((f"{c.key}_ci", ci_header(c)))
        return out

    def _text(self, i: int, key: str, *, bold: str) -> str:
        v = self.cells[i][key]
        text = v.text if isinstance(v, _Cellv) else str(v)
        if bold and key in self.best and i in self.best[key]:
            return bold.format(text)
        return text

    def to_markdown(self) -> str:
        """The table as GitHub markdown with the caption above it; best values in ``**bold**``."""
        headers = self._headers()
        body = [[_escape(m), src] + [_escape(self._text(i, k, bold="**{}**")) for k, _ in headers]
                for i, (m, src) in enumerate(self.rows)]
        return (f"**Table: {_escape(self.dataset)} ({_escape(self.protocol)}).** "
                f"{_escape(self.caption)}\n\n"
                + _table(["model", "source"] + [h for _, h in headers], body))

    def to_frame(self) -> pd.DataFrame:
        """The numbers behind the table, one row per model (for CSV): ``n`` and, per metric,
        ``"<name> mean (<unit>)"``, ``"<name> std (<unit>)"`` and for WAR/UAR the interval
        bounds ``"<name> 95% CI low/high (<unit>)"`` (NaN when missing)."""
        out = []
        for (model, src), cells in zip(self.rows, self.cells, strict=True):
            row: dict[str, Any] = {"dataset": self.dataset, "protocol": self.protocol,
                                   "model": model, "source": src, "n": cells["n"]}
            for c in PAPER_COLUMNS:
                name = c.header.split(" (")[0]
                unit = c.header[len(name):].strip()
                unit = f" {unit}" if unit else ""
                v: _Cellv = cells[c.key]
                row[f"{name} mean{unit}"] = np.nan if v.mean is None else v.mean
                row[f"{name} std{unit}"] = np.nan if v.std is None else v.std
                if c.ci:
                    iv = cells[f"{c.key}_ci"].ci
                    row[f"{name} 95% CI low{unit}"] = np.nan if iv is None else iv.low * c.scale
                    row[f"{name} 95% CI high{unit}"] = np.nan if iv is None else iv.high * c.scale
            out.append(row)
        return pd.DataFrame(out)

    def to_csv(self) -> str:
        """:meth:`to_frame` as CSV (UTF-8 text; floats in their shortest exact form; empty for
        missing values)."""
        buf = io.StringIO()
        self.to_frame().to_csv(buf, index=False, lineterminator="\n")
        return buf.getvalue()

    def to_latex(self) -> str:
        """The table as a LaTeX ``table`` float (booktabs ``\\toprule/\\midrule/\\bottomrule``)
        via pandas' ``Styler.to_latex``, with caption and label; best values in ``\\textbf``.
        Needs ``\\usepackage{booktabs}`` in the document."""
        headers = self._headers()
        cols = ["model"] + [latex_escape(h) for _, h in headers]
        body = []
        for i, (model, _src) in enumerate(self.rows):
            body.append([latex_escape(model)]
                        + [self._text_latex(i, k) for k, _ in headers])
        frame = pd.DataFrame(body, columns=cols)
        styler = frame.style.hide(axis="index").set_table_styles(
            [{"selector": "small", "props": ":;"}], overwrite=False)
        return styler.to_latex(
            hrules=True, caption=latex_escape(self.caption), label=self.label,
            position_float="centering", environment="table",
            column_format="l" + "r" * len(headers))

    def _text_latex(self, i: int, key: str) -> str:
        v = self.cells[i][key]
        text = latex_escape(v.text if isinstance(v, _Cellv) else str(v))
        if key in self.best and i in self.best[key]:
            text = rf"\textbf{{{text}}}"
        return text


def _values_str(values: Iterable[Any]) -> str:
    vals = sorted({v for v in values if v is not None}, key=lambda v: (str(type(v)), v))
    return ", ".join(str(v) for v in vals) if vals else "unknown"


def _caption(dataset: str, protocol: str, groups: list[Group]) -> str:
    recs = [r for g in groups for r in g.records]
    cells = [r.get("cell") or {} for r in recs]
    selection = set()
    for r in recs:
        m = r.get("metrics") or {}
        sel = m.get("selection") or ((r.get("cell") or {}).get("recipe") or {}).get("selection")
        if sel:
            selection.add(str(sel))
    sel = ", ".join(sorted(selection)) or "not recorded"
    if "best_on_test_legacy" in selection:
        sel += " (legacy protocol: best test accuracy over epochs, optimistic)"
    energy = set()
    for r in recs:
        m = r.get("metrics") or {}
        if m.get("energy_model"):
            energy.add(f"{m['energy_model']} (AC {m.get('energy_ac_pj')} pJ, "
                       f"MAC {m.get('energy_mac_pj')} pJ)")
    devices = _values_str(c.get("device") for c in cells)
    versions = _values_str((r.get("provenance") or {}).get("suite_version") for r in recs)
    return (f"Dataset {dataset}, protocol {protocol}; folds {_values_str(c.get('fold') for c in cells)}; "
            f"seeds {_values_str(c.get('seed') for c in cells)}; model selection: {sel}. "
            "Values are mean ± std over the n cells (folds × seeds) of a row (sample std; none "
            "for one cell); 95% CI: Student t over cells for n ≥ 2, percentile bootstrap "
            "(2,000 resamples) over the test subjects (or, without subjects, the test samples) "
            "of a single cell. Best mean in bold. "
            f"Energy: estimate from operation counts, {'; '.join(sorted(energy)) or 'none'}; "
            f"latency: batch 1 on {devices}. NeuroFER-Bench {versions}.")


def _best(cells: list[dict[str, Any]], c: Column) -> tuple[int, ...]:
    if c.better is None:
        return ()
    means = [(i, d[c.key].mean) for i, d in enumerate(cells) if d[c.key].mean is not None]
    if len(means) < 2:
        return ()
    target = max(m for _, m in means) if c.better == "max" else min(m for _, m in means)
    return tuple(i for i, m in means if math.isclose(m, target, rel_tol=1e-12, abs_tol=1e-12))


def _group_cells(g: Group) -> dict[str, Any]:
    n = len(g.records)
    out: dict[str, Any] = {"n": n}
    for c in PAPER_COLUMNS:
        vals = g.values(c.key)
        std_pub = metric_value(g.records[0], f"{c.key}_std") if n == 1 else None
        text = format_mean_std(vals, scale=c.scale, decimals=c.decimals, static=c.static,
                               n_expected=n, std=std_pub)
        mean = float(np.mean(vals)) * c.scale if vals else None
        std = (float(np.std(vals, ddof=1)) * c.scale if len(vals) >= 2
               else (std_pub * c.scale if std_pub is not None else None))
        out[c.key] = _Cellv(text, mean, std)
        if c.ci:
            iv = S.group_interval(g.records, c.key)
            out[f"{c.key}_ci"] = _Cellv(
                iv.format(scale=c.scale, decimals=c.decimals or 1) if iv else MISSING,
                None, None, iv)
    return out


def paper_tables(records: Iterable[dict[str, Any]]) -> list[PaperTable]:
    """One :class:`PaperTable` per dataset and protocol of the ok records (sorted).

    Args:
        records: records as :func:`benchmarks.results.records.read_records` returns them.
    """
    out = []
    for ds_label, gs in by_dataset(group_records(records)).items():
        first = gs[0].records[0].get("cell") or {}
        dataset = str(first.get("dataset", ds_label))
        protocol = str(first.get("protocol") or "")
        cells = [_group_cells(g) for g in gs]
        best = {c.key: _best(cells, c) for c in PAPER_COLUMNS}
        out.append(PaperTable(
            dataset=dataset, protocol=protocol, rows=tuple((g.row, g.kind) for g in gs),
            cells=tuple(cells), best=best, caption=_caption(dataset, protocol, gs),
            label=f"tab:{re.sub(r'[^A-Za-z0-9-]+', '-', dataset)}-{protocol}"))
    return out


def published_latex(table: PublishedTable) -> str:
    """A dataset's published table (:class:`reports.published.PublishedTable`) as a LaTeX
    ``table`` float (booktabs rules; needs ``\\usepackage{booktabs}``), its footnotes and
    sources in the caption."""
    frame = pd.DataFrame([[latex_escape(c) for c in r] for r in table.rows],
                         columns=[latex_escape(h) for h in table.headers])
    notes = " ".join(f"[{k}] {t}" for k, t in enumerate(table.footnotes, 1))
    cites = "; ".join(f"{p}: {c}, {u}" for p, c, u, _ in table.sources)
    caption = latex_escape(f"Published results on {table.dataset}, from the papers (not measured "
                           f"by the suite; not comparable one to one). {notes} Sources: {cites}.")
    n_text = 4  # model, input, spiking, source
    return frame.style.hide(axis="index").to_latex(
        hrules=True, caption=caption, label=f"tab:{re.sub(r'[^A-Za-z0-9-]+', '-', table.dataset)}-published",
        position_float="centering", environment="table",
        column_format="l" * n_text + "r" * (len(table.headers) - n_text - 1) + "l")


def deployment_latex(records: list[dict[str, Any]]) -> str:
    """The Deployment table (:func:`reports.deployment.deployment_table`: model x chip target)
    as LaTeX (booktabs, ``p{}`` columns for the long texts, page-wide ``table*``), ``""``
    without deployment records."""
    from reports.deployment import deployment_table

    headers, rows = deployment_table(records)
    if not rows:
        return ""
    width = f"{0.95 / len(headers):.3f}"
    out = ["\\begin{table*}", "\\centering", "\\scriptsize",
           "\\caption{Deployment: each SNN at each chip target's precision, simulated in integers "
           "as the chip's toolchain quantises it (not measured on a chip): fit, accuracy at chip "
           "precision with its 95\\% percentile-bootstrap interval, change from the float model "
           "(exact McNemar test), spike agreement per layer, spikes and SynOps per inference, "
           "steps to decision; energy and latency only from a target's sourced figures.}",
           "\\label{tab:deployment}",
           "\\begin{tabular}{" + "".join(f"p{{{width}\\linewidth}}" for _ in headers) + "}",
           "\\toprule", " & ".join(latex_escape(h) for h in headers) + " \\\\", "\\midrule"]
    out += [" & ".join(latex_escape(c) for c in r) + " \\\\" for r in rows]
    out += ["\\bottomrule", "\\end{tabular}", "\\end{table*}", ""]
    return "\n".join(out)


def write_tables(records: Iterable[dict[str, Any]], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write every paper table to ``out_dir/tables/<dataset>_<protocol>.{md,csv,tex}`` and, in
    files of their own, the published numbers of each dataset that has some
    (:func:`reports.published.published_tables`) to ``out_dir/tables/<dataset>_published.{md,csv,tex}``;
    when ``out_dir`` is a run folder with a deployment evaluation (``out_dir/deployment/``), its
    table to ``out_dir/tables/deployment.{md,tex}`` (:func:`deployment_latex`).

    Returns:
        The paths written (three per paper table, two for the deployment table), ``[]`` without
        ok records.
    """
    from reports.deployment import deployment_markdown, deployment_records

    folder = Path(out_dir) / TABLES_DIR
    paths = []
    deployment = deployment_records(out_dir)
    tex = deployment_latex(deployment)
    if tex:
        folder.mkdir(parents=True, exist_ok=True)
        for ext, text in (("md", deployment_markdown(deployment)), ("tex", tex)):
            paths.append(atomic_write_text(folder / f"deployment.{ext}", text))
    files = [(t.slug, t.to_markdown() + "\n", t.to_csv(), t.to_latex()) for t in paper_tables(records)]
    files += [(re.sub(r"[^A-Za-z0-9._-]+", "-", f"{t.dataset}_published"),
               t.to_markdown("##") + "\n", t.to_csv(), published_latex(t))
              for t in published_tables(records)]
    for slug, md, csv_text, tex in files:
        for ext, text in (("md", md), ("csv", csv_text), ("tex", tex)):
            p = folder / f"{slug}.{ext}"
            p.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(p, text)
            paths.append(p)
    if paths:
        log.info("wrote %d table file(s) to %s", len(paths), folder)
    return paths
