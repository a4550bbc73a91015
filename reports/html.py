"""The web leaderboard: one self-contained static HTML page from one or several run folders.

:func:`write_html` merges the run folders (:func:`reports.merge.merge_runs`: incompatible
schemas refused, a cell recorded in two folders refused unless the records agree, or kept by an
explicit ``merge_policy``) and writes ONE file that works from ``file://`` with no server and no
network: styles and a small vanilla-JS sorter/filter are inline, every figure is embedded as a
``data:`` URI, and a Content-Security-Policy forbids loading anything else.

The page: the leaderboard (one table over all dataset columns; click a header to sort, type to
filter, choose a dataset column), the published numbers of its datasets from the papers (a
section of their own, with footnotes: :mod:`reports.published`), the methods, the pairwise comparisons, the ranking across
datasets, the figures, the per-lighting tables, the paper tables' captions, failed cells,
provenance (per run folder and overall) and each cell's record (collapsible; the per-sample
predictions shortened to their first entries).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets.common import atomic_write_text
from reports import leaderboard as L
from reports import published as P

log = logging.getLogger(__name__)

__all__ = ["HTML_FILE", "write_html", "render_html", "write_merged_reports"]

HTML_FILE = "leaderboard.html"
PREDICTIONS_SHOWN = 3
"""Per-sample predictions shown in a cell's record on the page (the rest are counted)."""

_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5rem;
       color: #1a1a1a; background: #ffffff; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
th, td { border: 1px solid #b8b8b8; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #e8edf3; }
td.text, th.text { text-align: left; }
tbody tr:nth-child(even) { background: #f5f7fa; }
#leaderboard th button { font: inherit; font-weight: 600; background: none; border: none;
       cursor: pointer; padding: 0; color: inherit; }
#leaderboard th[aria-sort="ascending"] button::after { content: " \\25B2"; }
#leaderboard th[aria-sort="descending"] button::after { content: " \\25BC"; }
.controls { margin: 0.5rem 0; display: flex; gap: 1rem; align-items: center; }
.note { color: #444; font-size: 0.85rem; max-width: 60rem; }
figure { display: inline-block; margin: 0.5rem 1rem 1rem 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
details { margin: 0.2rem 0; }
pre { background: #f3f3f3; padding: 0.5rem; overflow-x: auto; font-size: 0.75rem; }
.sig { font-weight: 700; color: #8a1c1c; }
"""

_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("leaderboard");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var filter = document.getElementById("filter");
  var dataset = document.getElementById("dataset-filter");
  // the row attribute the menu filters on: the select's data-row-attr, else data-dataset
  var attr = dataset.getAttribute("data-row-attr") || "data-dataset";
  var count = document.getElementById("row-count");
  var state = { col: -1, dir: 1 };

  function keyOf(row, col, type) {
    var td = row.cells[col];
    var v = td.getAttribute("data-value");
    if (type === "num") {
      var x = (v === null || v === "") ? NaN : parseFloat(v);
      return x;
    }
    return (v !== null ? v : td.textContent).toLowerCase();
  }

  function sortBy(col) {
    var type = heads[col].getAttribute("data-type");
    var dir = (state.col === col) ? -state.dir : 1;
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.forEach(function (r, i) { r.setAttribute("data-order", String(i)); });
    rows.sort(function (a, b) {
      var ka = keyOf(a, col, type), kb = keyOf(b, col, type);
      var ma = (type === "num") ? isNaN(ka) : ka === "", mb = (type === "num") ? isNaN(kb) : kb === "";
      if (ma || mb) { return ma === mb ? 0 : (ma ? 1 : -1); }  // missing values last
      if (ka < kb) { return -dir; }
      if (ka > kb) { return dir; }
      return parseInt(a.getAttribute("data-order"), 10) - parseInt(b.getAttribute("data-order"), 10);
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    heads[col].setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    state = { col: col, dir: dir };
  }

  function applyFilter() {
    var q = filter.value.trim().toLowerCase();
    var ds = dataset.value;
    var shown = 0;
    Array.prototype.forEach.call(tbody.rows, function (r) {
      var ok = (!q || r.textContent.toLowerCase().indexOf(q) !== -1) &&
               (!ds || r.getAttribute(attr) === ds);
      r.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + tbody.rows.length + " rows";
  }

  heads.forEach(function (h, i) {
    var b = h.querySelector("button");
    if (b) { b.addEventListener("click", function () { sortBy(i); }); }
  });
  filter.addEventListener("input", applyFilter);
  dataset.addEventListener("change", applyFilter);
  applyFilter();
})();
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _table_html(headers: Sequence[str], rows: Sequence[Sequence[str]], *, text_cols: int = 1,
                attrs: str = "") -> str:
    """A static HTML table; cells already escaped by the caller where marked."""
    th = "".join(f'<th class="{"text" if i < text_cols else ""}">{_e(h)}</th>'
                 for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"text" if i < text_cols else ""}">{_e(c)}</td>'
                         for i, c in enumerate(r)) + "</tr>"
        for r in rows)
    return f"<table{attrs}><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _leaderboard_html(records: list[dict[str, Any]]) -> str:
    # dataset columns in order, rows within each in leaderboard order
    groups = [g for gs in L.by_dataset(L.group_records(records)).values() for g in gs]
    if not groups:
        return "<p><em>No successful cells.</em></p>"
    cols = L.leaderboard_headers()
    head = ['<th class="text" data-type="text"><button type="button">dataset</button></th>',
            '<th class="text" data-type="text"><button type="button">model</button></th>',
            '<th class="text" data-type="text"><button type="button">source</button></th>']
    head += [f'<th data-type="num" data-key="{_e(k)}"><button type="button">{_e(h)}</button></th>'
             for k, h in cols]
    body = []
    for g in groups:
        e = L.leaderboard_entries(g)
        tds = [f'<td class="text">{_e(g.dataset)}</td>', f'<td class="text">{_e(g.row)}</td>',
               f'<td class="text">{_e(g.kind)}</td>']
        for k, _ in cols:
            v = e[k].value
            val = "" if v is None else repr(float(v))
            tds.append(f'<td data-value="{_e(val)}">{_e(e[k].text)}</td>')
        body.append(f'<tr data-dataset="{_e(g.dataset)}">{"".join(tds)}</tr>')
    options = "".join(f'<option value="{_e(d)}">{_e(d)}</option>'
                      for d in sorted({g.dataset for g in groups}))
    return (
        '<div class="controls">'
        '<label>Filter <input id="filter" type="search" placeholder="model, dataset, ..."></label>'
        '<label>Dataset <select id="dataset-filter"><option value="">all</option>'
        f'{options}</select></label><span id="row-count"></span></div>'
        f'<table id="leaderboard"><thead><tr>{"".join(head)}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table>')


def _published_html(records: list[dict[str, Any]]) -> str:
    """Per dataset of the records, the published numbers (:mod:`reports.published`) with their
    footnotes, protocols and sources; never part of the leaderboard's table or statistics."""
    tables = P.published_tables(records)
    parts = ['<p class="note">Numbers printed in the papers, transcribed with their source; not '
             "measured by the suite, not part of any mean, interval, comparison or rank on this "
             "page, and rarely comparable one to one (see the notes).</p>"]
    for t in tables:
        parts.append(f"<h3>{_e(t.dataset)} (published)</h3>")
        parts.append(_table_html(t.headers, t.rows, text_cols=4, attrs=' class="published"'))
        parts.append("<ol class=\"note\">" + "".join(f"<li>{_e(n)}</li>" for n in t.footnotes)
                     + "</ol>")
        items = [_e(f"{p}: protocol: {pr}; labels: {lab}") for p, pr, lab in t.protocols]
        items += [f'{_e(p)}: {_e(c)}; <a href="{_e(u)}">{_e(u)}</a> ({_e(tab)})'
                  for p, c, u, tab in t.sources]
        parts.append('<ul class="note">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
    return "".join(parts)
def _models_html(records: list[dict[str, Any]]) -> str:
    """The native models' cards; a model's name links to its code (http(s) URLs only)."""
    th = "".join(f'<th class="text">{_e(h)}</th>'
                 for h in ("model", "framework", "citation", "licence", "notes"))
    body = []
    for c in L.native_models(records):
        url = str(c.get("code_url") or "")
        name = (f'<a href="{_e(url)}" rel="noopener">{_e(c["name"])}</a>'
                if url.startswith(("https://", "http://")) else _e(c["name"]))
        cells = [name, _e(f"{c.get('framework', '?')} {c.get('framework_version') or ''}".strip()),
                 _e(c.get("citation") or "—"), _e(c.get("licence") or "—"),
                 _e(c.get("notes") or "")]
        body.append("<tr>" + "".join(f'<td class="text">{x}</td>' for x in cells) + "</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _comparisons_html(records: list[dict[str, Any]]) -> str:
    parts = []
    for ds, cs in L.comparisons(records).items():
        parts.append(f"<h3>{_e(ds)}</h3>")
        if not cs:
            parts.append("<p><em>One row: nothing to compare.</em></p>")
            continue
        rows = [[c.replace("**", "") for c in L.comparison_cells(x)] for x in cs]
        parts.append(_table_html(L.COMPARISON_HEADERS, rows, text_cols=3))
        notes = [f"<li>no test for {_e(c.row_a)} − {_e(c.row_b)}: {_e(c.reason)}</li>"
                 for c in cs if c.p is None]
        sig = [c for c in cs if c.p is not None and c.significant()]
        parts.append('<p class="note">Significant at 0.05 after Holm\'s correction: '
                     + (", ".join(f'<span class="sig">{_e(c.row_a)} − {_e(c.row_b)}</span> '
                                  f"({_e(c.test)})" for c in sig) or "none") + ".</p>")
        if notes:
            parts.append(f'<ul class="note">{"".join(notes)}</ul>')
    return "".join(parts) or "<p><em>No successful cells.</em></p>"


def _ranking_html(records: list[dict[str, Any]]) -> str:
    rk = L.ranking(records)
    if rk is None:
        return ("<p><em>Needs at least 2 dataset columns and 2 models evaluated on all of "
                "them.</em></p>")
    md = L.ranking_table(records)
    notes = [ln[2:] for ln in md.splitlines() if ln.startswith("- ")]
    order = sorted(range(len(rk.models)), key=lambda j: rk.avg_ranks[j])
    rows = [[rk.models[j], f"{rk.avg_ranks[j]:.2f}"]
            + [f"{100 * rk.scores[i, j]:.1f}" for i in range(len(rk.datasets))] for j in order]
    return (_table_html(["model", "average rank"] + [f"{d} WAR (%)" for d in rk.datasets], rows)
            + "<ul class=\"note\">" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")


def _lighting_html(records: list[dict[str, Any]]) -> str:
    groups = [g for g in L.group_records(records)
              if any(isinstance((r.get("metrics") or {}).get("per_lighting_accuracy"), dict)
                     for r in g.records)]
    if not groups:
        return "<p><em>No per-lighting metrics in these records.</em></p>"
    # the markdown tables carry the formatting rules; parse them back into cells
    md = L.lighting_table(records)
    parts = []
    for block in md.split("\n\n"):
        lines = block.strip().splitlines()
        if len(lines) == 1 and lines[0].startswith("**"):
            parts.append(f"<h3>{_e(lines[0].strip('*'))}</h3>")
        elif len(lines) >= 2 and lines[0].startswith("|"):
            cells = [[c.strip().replace("\\|", "|") for c in ln.strip().strip("|").split("|")]
                     for ln in lines if not set(ln) <= set("|-: ")]
            parts.append(_table_html(cells[0], cells[1:], text_cols=2))
    return "".join(parts)


def _failed_html(records: list[dict[str, Any]]) -> str:
    failed = L.error_records(records)
    if not failed:
        return "<p><em>No failed cells.</em></p>"
    rows = [[r.get("cell_id", "?"), r.get("status", "?"), " ".join(str(r.get("error")).split())[:300],
             (r.get("provenance") or {}).get("utc_time", "")] for r in failed]
    return _table_html(["cell", "status", "error", "utc time"], rows, text_cols=4)


def _provenance_html(sources: list[tuple[Path, dict[str, Any]]], run_dirs: list[Path]) -> str:
    rows = []
    for d in run_dirs:
        recs = [r for p, r in sources if p == d]
        prov = [r.get("provenance") or {} for r in recs]
        commits = sorted({str(p.get("git_commit") or "unknown")[:12] for p in prov})
        machines = sorted({f"{p.get('cpu') or '?'} / {p.get('gpu') or 'no gpu'}" for p in prov})
        versions = sorted({str(p.get("suite_version")) for p in prov})
        rows.append([str(d), str(len(recs)), ", ".join(commits), "; ".join(machines),
                     ", ".join(versions)])
    table = _table_html(["run folder", "records used", "git commits", "machines",
                         "suite version"], rows, text_cols=1)
    summary = L.provenance_summary([r for _, r in sources])
    items = "".join(f"<li>{_e(ln[2:].replace('`', ''))}</li>" for ln in summary.splitlines()
                    if ln.startswith("- "))
    return table + f"<ul>{items}</ul>"


def _record_for_page(rec: dict[str, Any]) -> dict[str, Any]:
    out = dict(rec)
    preds = rec.get("predictions")
    if isinstance(preds, list) and len(preds) > PREDICTIONS_SHOWN:
        out["predictions"] = {
            "n": len(preds),
            f"first_{PREDICTIONS_SHOWN}": preds[:PREDICTIONS_SHOWN],
            "note": "shortened on this page; the full list is in the run's results.jsonl",
        }
    return out


def _records_html(sources: list[tuple[Path, dict[str, Any]]]) -> str:
    parts = []
    for run, rec in sorted(sources, key=lambda s: str(s[1].get("cell_id"))):
        text = json.dumps(_record_for_page(rec), indent=1, sort_keys=True, default=str)
        parts.append(f"<details><summary>{_e(rec.get('cell_id'))} ({_e(rec.get('status'))}, "
                     f"from {_e(run)})</summary><pre>{_e(text)}</pre></details>")
    return "".join(parts)


def _figures_html(records: list[dict[str, Any]]) -> str:
    from reports import report_figures

    with tempfile.TemporaryDirectory(prefix="neurofer-html-") as tmp:
        paths = report_figures(records, tmp)
        parts = []
        for p in paths:
            data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
            name = Path(p).stem.replace("_", " ")
            parts.append(f'<figure><img alt="{_e(name)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{_e(name)}</figcaption></figure>")
    return "".join(parts) or "<p><em>No figure has data.</em></p>"


def _robustness_html(run_dirs: Sequence[Path]) -> str:
    """The robustness tables (:func:`reports.robustness.render_robustness_markdown`) of each run
    folder with a sweep, as HTML tables, and its accuracy-vs-severity figure."""
    from reports.robustness import (
        plot_accuracy_vs_severity,
        render_robustness_markdown,
        robustness_records,
    )

    parts = []
    for run in run_dirs:
        recs = robustness_records(run)
        md = render_robustness_markdown(recs)
        if not md:
            continue
        rows: list[list[str]] = []
        for line in md.splitlines() + [""]:
            if line.startswith("|"):
                if not set(line) <= set("|-: "):
                    rows.append([c.strip() for c in line.strip("|").split("|")])
                continue
            if rows:
                parts.append(_table_html(rows[0], rows[1:], text_cols=2))
                rows = []
            if line.startswith("#"):
                parts.append(f"<h3>{_e(line.lstrip('#').strip())}</h3>")
            elif line.strip():
                parts.append(f'<p class="note">{_e(line)}</p>')
        with tempfile.TemporaryDirectory(prefix="neurofer-html-") as tmp:
            fig = plot_accuracy_vs_severity(recs, Path(tmp) / "accuracy_vs_severity.png")
            if fig is not None:
                data = base64.b64encode(fig.read_bytes()).decode("ascii")
                parts.append(f'<figure><img alt="accuracy vs severity" src="data:image/png;base64,'
                             f'{data}"><figcaption>accuracy vs severity ({_e(str(run))})'
                             "</figcaption></figure>")
    return "".join(parts) or "<p><em>No robustness sweep in these run folders "\
        "(<code>run_bench.py robustness RUN_DIR</code>).</em></p>"


def _deployment_html(run_dirs: Sequence[Path]) -> str:
    """The Deployment table (:func:`reports.deployment.deployment_table`: model x chip target,
    fit, accuracy at chip precision and its change, spike agreement, energy) of each run folder
    with deployment records, under the run folder's name when there are several."""
    from reports.deployment import deployment_records, deployment_table

    parts = []
    for run in run_dirs:
        headers, rows = deployment_table(deployment_records(run))
        if not rows:
            continue
        if len(run_dirs) > 1:
            parts.append(f"<h3>{_e(str(run))}</h3>")
        parts.append(_table_html(headers, rows, text_cols=len(headers)))
    if not parts:
        return ("<p><em>No deployment evaluation in these run folders "
                "(<code>run_bench.py deploy RUN_DIR</code>).</em></p>")
    return ('<p class="note">Each SNN at each chip target\'s precision (docs/guides/on-chip.md): '
            "simulated in integers as the chip's toolchain quantises it, not measured on a chip; "
            "energy and latency only from a target's sourced figures.</p>" + "".join(parts))


def _methods_html() -> str:
    text = [
        "Values are mean ± std over the cells (folds × seeds) of a row (sample std, ddof = 1; "
        "none for a single cell); n is the number of cells.",
        "95% CI: for n ≥ 2 cells the Student-t interval of the mean over cells; for a single "
        "cell the percentile bootstrap (2,000 resamples, seed 0) from the per-sample "
        "predictions stored in the record: over its test subjects when the predictions name "
        "them (a subject's sequences are not independent), else over its test samples (— when "
        "it has none).",
        "Pairwise comparisons (WAR) on the cells two rows share (same fold and seed): Wilcoxon "
        "signed-rank over cells with ≥ 6 pairs (effect: mean paired difference with its "
        "t-interval, matched-pairs rank-biserial r; paired t-test alongside); with fewer pairs "
        "the exact sign-flip test over subjects on the per-sample predictions (the exact "
        "McNemar test when they name no subjects); p-values Holm-corrected over the "
        "pairs of each dataset column.",
        "Ranking: average rank by mean WAR over the dataset columns, Friedman test and Nemenyi "
        "critical difference (Demsar, JMLR 7, 2006).",
        "spikes/sample counts the spikes of spiking models; a non-spiking model (ANN) has none, "
        "and its non-zero activations per sample are under activations/sample.",
        "Energy is an estimate from operation counts (arithmetic only), not a measurement; "
        "latency is batch-1.",
    ]
    return '<ul class="note">' + "".join(f"<li>{_e(t)}</li>" for t in text) + "</ul>"


def render_html(sources: list[tuple[Path, dict[str, Any]]], run_dirs: Sequence[Path]) -> str:
    """The page's HTML text for merged records (``(run folder, record)`` pairs, as
    :func:`reports.merge.merge_runs_with_sources` returns them)."""
    records = [r for _, r in sources]
    versions = sorted({str((r.get("provenance") or {}).get("suite_version"))
                       for r in records if (r.get("provenance") or {}).get("suite_version")})
    n_ok = len(L.ok_records(records))
    sections = [
        ("leaderboard-section", "Leaderboard", _leaderboard_html(records)),
        *([("published", P.SECTION_TITLE, _published_html(records))]
          if P.published_tables(records) else []),
        *([("models", "Models", _models_html(records))] if L.native_models(records) else []),
        ("methods", "Methods", _methods_html()),
        ("comparisons", "Pairwise comparisons (WAR)", _comparisons_html(records)),
        ("ranking", "Ranking across datasets", _ranking_html(records)),
        ("figures", "Figures", _figures_html(records)),
        ("lighting", "Per-lighting accuracy", _lighting_html(records)),
        ("robustness", "Robustness to event corruptions", _robustness_html(run_dirs)),
        ("deployment", "Deployment", _deployment_html(run_dirs)),
        ("failed", "Failed cells", _failed_html(records)),
        ("provenance", "Provenance", _provenance_html(sources, list(run_dirs))),
        ("records", "Cell records", _records_html(sources)),
    ]
    body = "".join(f'<section id="{sid}"><h2>{_e(title)}</h2>{content}</section>'
                   for sid, title, content in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        "<title>NeuroFER-Bench leaderboard</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>NeuroFER-Bench leaderboard</h1>"
        f'<p class="note">Generated from {n_ok} ok records ({len(records)} in all) of '
        f"{len(run_dirs)} run folder(s) by <code>reports.html</code>; NeuroFER-Bench "
        f"{_e(', '.join(versions) or 'version unknown')} (cite it with its CITATION.cff). "
        "Do not edit by hand.</p>"
        f"{body}<script>{_SCRIPT}</script></body></html>\n"
    )


def write_html(run_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
               merge_policy: str = "refuse") -> Path:
    """Write the web leaderboard of ``run_dirs`` to the single file ``out``.

    Args:
        run_dirs: run folders (from one or several machines), in priority order.
        out: the HTML file to write (its folder is created).
        merge_policy: ``"refuse"`` (default), ``"first"`` or ``"latest"``: see
            :data:`reports.merge.MERGE_POLICIES`.

    Returns:
        ``out``.

    Raises:
        FileNotFoundError: a folder without ``results.jsonl``.
        RecordSchemaError: a record of an incompatible schema (invalid, or a newer version).
        MergeConflictError: a cell recorded in several folders with different metrics, under
            the ``"refuse"`` policy.
        ValueError: an unknown policy or no folder.
    """
    dirs = [Path(d) for d in run_dirs]
    sources = L.merge_runs_with_sources(dirs, merge_policy)
    text = render_html(sources, dirs)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    log.info("wrote %s (%d records from %d run folder(s))", path, len(sources), len(dirs))
    return path


def write_merged_reports(run_dirs: Sequence[str | os.PathLike[str]],
                         out_dir: str | os.PathLike[str], *, merge_policy: str = "refuse",
                         html: bool = True) -> list[Path]:
    """Merge ``run_dirs`` (:func:`reports.merge.merge_runs`) and write every report of
    the merged records into ``out_dir``: ``leaderboard.md``, the figures, the paper tables
    (``tables/``) and, with ``html``, ``leaderboard.html``.

    Returns:
        The paths written, ``leaderboard.md`` first.

    Raises:
        See :func:`write_html`.
    """
    from reports import report_figures, report_markdown
    from reports.tables import write_tables

    dirs = [Path(d) for d in run_dirs]
    sources = L.merge_runs_with_sources(dirs, merge_policy)
    records = [r for _, r in sources]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = out / L.LEADERBOARD_FILE
    atomic_write_text(md, report_markdown(records))
    paths = [md, *report_figures(records, out), *write_tables(records, out)]
    if html:
        page = out / HTML_FILE
        atomic_write_text(page, render_html(sources, dirs))
        paths.append(page)
    log.info("wrote %d report files to %s (%d records from %d run folder(s))", len(paths), out,
             len(records), len(dirs))
    return paths
