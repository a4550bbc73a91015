"""The site's HTML pages: index, one per task version, one per submission, one per model.

Every page is a static file in the site's root folder that links to the others by relative
file names, so the site works from ``file://`` and from any static server. Style, the
sort/filter script and the Content-Security-Policy (nothing may be loaded from anywhere) are
those of the one-page leaderboard (:mod:`reports.html`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from reports import html as H
from reports import leaderboard as L
from reports import published as P
from reports.site.bundles import Bundle
from reports.site.rows import MIN_VERIFIED_SEEDS, Row, TaskTable

__all__ = ["page", "index_page", "task_page", "submission_page", "model_page",
           "submission_file"]

_e = H._e

_SITE_STYLE = """
nav { font-size: 0.9rem; margin-bottom: 1rem; }
.badge { padding: 0 0.3rem; border-radius: 0.2rem; font-size: 0.8rem; white-space: nowrap; }
.verified { background: #d6f0d6; } .consistent { background: #fff1c2; }
.not-verified { background: #eee; } .single-seed { color: #8a4b00; font-size: 0.8rem; }
dl.card dt { font-weight: 600; } dl.card dd { margin: 0 0 0.4rem 1rem; }
td.digest { font-family: monospace; font-size: 0.75rem; text-align: left; }
"""


def submission_file(bundle: Bundle) -> str:
    """The file name of a submission's page."""
    return f"submission-{bundle.id}.html"


def page(title: str, body: str) -> str:
    """A complete page: the Content-Security-Policy, the style and the sort/filter script of
    :mod:`reports.html`, a link back to the index, ``body``."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{H._CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(title)}</title><style>{H._STYLE}{_SITE_STYLE}</style></head><body>"
        '<nav><a href="index.html">NeuroFER-Bench leaderboard</a> · '
        '<a href="leaderboard.json">leaderboard.json</a></nav>'
        f"<h1>{_e(title)}</h1>{body}<script>{H._SCRIPT}</script></body></html>\n")


def _badge(verdict: str, note: str = "") -> str:
    cls = verdict.replace(" ", "-")
    title = f' title="{_e(note)}"' if note else ""
    return f'<span class="badge {cls}"{title}>{_e(verdict)}</span>'


def _link(href: str, text: str) -> str:
    return f'<a href="{_e(href)}">{_e(text)}</a>'


def _section(sid: str, title: str, content: str) -> str:
    return f'<section id="{sid}"><h2>{_e(title)}</h2>{content}</section>'


def _rows_table(table: TaskTable, model_pages: dict[str, str]) -> str:
    cols = [(k, h) for k, h in L.leaderboard_headers() if k != "seeds_folds"]  # own columns
    text_heads = ["model", "submission", "source", "verification", "seeds", "folds"]
    head = [f'<th class="text" data-type="{"num" if h in ("seeds", "folds") else "text"}">'
            f'<button type="button">{_e(h)}</button></th>' for h in text_heads]
    head += [f'<th data-type="num" data-key="{_e(k)}"><button type="button">{_e(h)}</button></th>'
             for k, h in cols]
    head.append('<th class="text" data-type="text"><button type="button">interval over</button>'
                "</th>")
    body = []
    for row in table.rows:
        seeds = str(row.n_seeds) + (' <span class="single-seed">single seed</span>'
                                    if row.single_seed else "")
        tds = [f'<td class="text">{_link(model_pages[row.model], row.model)}</td>',
               f'<td class="text">{_link(submission_file(row.bundle), row.bundle.title)}</td>',
               f'<td class="text">{_e(row.kind)}</td>',
               f'<td class="text" data-value="{_e(row.verdict)}">'
               f'{_badge(row.verdict, row.verdict_note)}</td>',
               f'<td data-value="{row.n_seeds}">{seeds}</td>',
               f'<td data-value="{row.n_folds}">{row.n_folds}</td>']
        for k, _ in cols:
            v = row.entries[k].value
            val = "" if v is None else repr(float(v))
            tds.append(f'<td data-value="{_e(val)}">{_e(row.entries[k].text)}</td>')
        tds.append(f'<td class="text">{_e(row.interval_over or L.MISSING)}</td>')
        body.append(f'<tr data-verification="{_e(row.verdict)}">{"".join(tds)}</tr>')
    options = "".join(f'<option value="{_e(v)}">{_e(v)}</option>'
                      for v in sorted({r.verdict for r in table.rows}))
    return ('<div class="controls">'
            '<label>Filter <input id="filter" type="search" placeholder="model, submission, ...">'
            '</label><label>Verification <select id="dataset-filter" '
            'data-row-attr="data-verification"><option value="">all</option>'
            f'{options}</select></label><span id="row-count"></span></div>'
            f'<table id="leaderboard"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _comparisons(table: TaskTable) -> str:
    if not table.comparisons:
        return "<p><em>One row: nothing to compare.</em></p>"
    rows = [[c.replace("**", "") for c in L.comparison_cells(x)] for x in table.comparisons]
    notes = [f"<li>no test for {_e(c.row_a)} − {_e(c.row_b)}: {_e(c.reason)}</li>"
             for c in table.comparisons if c.p is None]
    return (H._table_html(L.COMPARISON_HEADERS, rows, text_cols=3, attrs=' id="comparisons"')
            + '<p class="note">' + _e(L.significance_line(table.comparisons).replace("\\|", "|"))
            + "</p>" + (f'<ul class="note">{"".join(notes)}</ul>' if notes else ""))


def _methods() -> str:
    items = [
        "A row is one model of one submission on this task version; its values are the mean ± "
        "std (ddof = 1) over its cells (folds × seeds); n is the number of cells.",
        "95% CI: for n ≥ 2 cells the Student-t interval over the cells; for one cell the "
        "percentile bootstrap over its test subjects (or test samples when the predictions name "
        "no subjects). A row marked single seed was trained once per fold: its interval says "
        "nothing about the variance of training.",
        f"verified: the verifier replayed every cell from its checkpoint and the row has at "
        f"least {MIN_VERIFIED_SEEDS} seeds; consistent: checked without replaying every cell "
        "(or fewer seeds); not verified: no verification of this bundle.",
        "Pairwise comparisons (WAR) are made on the cells two rows share (same fold and seed), "
        "Holm-corrected over the pairs of this task version only.",
    ]
    return '<ul class="note">' + "".join(f"<li>{_e(t)}</li>" for t in items) + "</ul>"


def task_page(table: TaskTable, model_pages: dict[str, str]) -> str:
    """The page of one task version: the leaderboard (sort, filter), the papers' numbers (a
    section of their own), the pairwise comparisons, the methods, the CSV."""
    parts = [f'<p class="note">Task <code>{_e(table.id)}</code>, version '
             f"<code>{_e(table.version)}</code>: {len(table.rows)} row(s). Rows of other "
             "versions of this task are on their own pages and never compared with these. "
             f'Machine-readable: {_link(table.csv_name, table.csv_name)}.</p>',
             _section("leaderboard-section", "Leaderboard", _rows_table(table, model_pages))]
    if P.published_tables(table.records):
        parts.append(_section("published", P.SECTION_TITLE, H._published_html(table.records)))
    parts.append(_section("comparisons-section", "Pairwise comparisons (WAR)",
                          _comparisons(table)))
    parts.append(_section("methods", "Methods", _methods()))
    return page(table.label, "".join(parts))


def _card(b: Bundle) -> str:
    m = b.manifest
    url = str(m.get("url") or "")
    url_html = (f'<a href="{_e(url)}" rel="noopener noreferrer">{_e(url)}</a>'
                if url.startswith(("https://", "http://")) else _e(url or L.MISSING))
    authors = m.get("authors")
    authors = ", ".join(map(str, authors)) if isinstance(authors, list) else str(authors)
    items = [("title", _e(b.title)), ("authors", _e(authors)), ("contact", _e(m.get("contact"))),
             ("url", url_html), ("licence of the weights", _e(m.get("licence"))),
             ("notes", _e(m.get("notes") or L.MISSING)), ("bundle id", f"<code>{b.id}</code>")]
    return '<dl class="card">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _provenance(b: Bundle) -> str:
    m = b.manifest
    env = m.get("environment") if isinstance(m.get("environment"), dict) else {}
    pkgs = env.get("packages") if isinstance(env.get("packages"), list) else []
    ds = [[str(d.get("name")), str(d.get("version")), str(d.get("licence"))]
          for d in m.get("datasets") or [] if isinstance(d, dict)]
    return ("<ul>"
            f"<li>suite version: {_e(m.get('suite_version') or L.MISSING)}</li>"
            f"<li>code versions: {_e(', '.join(map(str, m.get('code_versions') or [])) or L.MISSING)}"
            f"</li><li>python: {_e(env.get('python') or L.MISSING)}; platform: "
            f"{_e(env.get('platform') or L.MISSING)}</li></ul>"
            + (H._table_html(["dataset", "version", "licence"], ds, text_cols=3) if ds else "")
            + f"<details><summary>{len(pkgs)} installed packages</summary><pre>"
            + _e("\n".join(map(str, pkgs))) + "</pre></details>")


def _verification(b: Bundle) -> str:
    v = b.verification
    if v is None:
        return f"<p>{_badge(b.verdict)} ({_e(b.verification_note)})</p>"
    rows = [[str(r.get("cell_id")), str(r.get("verdict")), "; ".join(map(str, r.get("reasons") or []))
             or L.MISSING] for r in v.get("records") or [] if isinstance(r, dict)]
    return (f"<p>{_badge(b.verdict)} on {_e(v.get('date') or '?')} by NeuroFER-Bench "
            f"{_e(v.get('suite_version') or '?')} ({_e(v.get('code_version') or '?')}).</p>"
            + H._table_html(["cell", "verdict", "reasons"], rows, text_cols=3))


def _files(b: Bundle) -> str:
    m = b.manifest
    rows = "".join(f'<tr><td class="text">{_e(f.get("path"))}</td><td>{_e(f.get("size"))}</td>'
                   f'<td class="digest">{_e(f.get("sha256"))}</td></tr>'
                   for f in m.get("files") or [] if isinstance(f, dict))
    ext = [f for f in m.get("external_checkpoints") or [] if isinstance(f, dict)]
    out = ('<table><thead><tr><th class="text">file</th><th>bytes</th><th class="text">sha256'
           f"</th></tr></thead><tbody>{rows}</tbody></table>")
    if ext:
        out += "<h3>Checkpoints given by URL (not in the bundle)</h3>" + "".join(
            f'<p><code>{_e(f.get("path"))}</code> sha256 <code>{_e(f.get("sha256"))}</code>, '
            f"{_e(f.get('size'))} bytes: {_e(f.get('url'))}</p>" for f in ext)
    return out


def submission_page(b: Bundle, tables: Sequence[TaskTable], model_pages: dict[str, str],
                    hidden_why: str | None, superseded_by: str | None) -> str:
    """The page of one submission: its card, status (shown, withdrawn, superseded), its rows,
    provenance, verification (verdict, date, per cell) and files with their digests."""
    status = "shown in the tables"
    if hidden_why:
        status = hidden_why
        if superseded_by:
            status = (f"superseded by {_link(f'submission-{superseded_by}.html', superseded_by)}; "
                      "not shown in the tables")
        else:
            status = _e(status) + "; not shown in the tables"
    if b.supersedes:
        status += f" (supersedes {_e(b.supersedes)})"
    rows = [[t, r] for t in tables for r in t.rows if r.bundle.id == b.id]
    body = "".join(
        f'<tr><td class="text">{_link(t.page, t.label)}</td><td class="text">'
        f"{_link(model_pages[r.model], r.model)}</td><td>{_badge(r.verdict, r.verdict_note)}</td>"
        f"<td>{len(r.group.records)}</td><td>{_e(r.entries['war'].text)}</td></tr>"
        for t, r in rows)
    rows_html = ('<table><thead><tr><th class="text">task</th><th class="text">model</th>'
                 "<th>verification</th><th>cells</th><th>WAR (%)</th></tr></thead>"
                 f"<tbody>{body}</tbody></table>") if rows else "<p><em>Not in the tables.</em></p>"
    return page(f"Submission: {b.title}", "".join([
        _card(b), f"<p>Status: {status}.</p>",
        _section("rows", "Rows", rows_html),
        _section("verification", "Verification", _verification(b)),
        _section("provenance", "Provenance", _provenance(b)),
        _section("files", "Files and digests", _files(b)),
    ]))


def model_page(model: str, tables: Sequence[TaskTable], rows: Sequence[tuple[TaskTable, Row]]
               ) -> str:
    """The page of one model: every task version and submission it has a row in."""
    body = "".join(
        f'<tr><td class="text">{_link(t.page, t.label)}</td><td class="text">'
        f"{_link(submission_file(r.bundle), r.bundle.title)}</td>"
        f"<td>{_badge(r.verdict, r.verdict_note)}</td><td>{len(r.group.records)}</td>"
        f"<td>{r.n_seeds}</td><td>{_e(r.entries['war'].text)}</td>"
        f"<td>{_e(r.entries['war_ci'].text)}</td></tr>" for t, r in rows)
    card = next((rec.get("model") for _, r in rows for rec in r.group.records
                 if isinstance(rec.get("model"), dict)), None)
    card_html = ("<details><summary>model card</summary><pre>"
                 + _e(json.dumps(card, indent=1, sort_keys=True)) + "</pre></details>"
                 if card else "")
    return page(f"Model: {model}", card_html + _section("tasks", "Tasks", (
        '<table id="model-rows"><thead><tr><th class="text">task</th><th class="text">'
        "submission</th><th>verification</th><th>cells</th><th>seeds</th><th>WAR (%)</th>"
        f"<th>WAR 95% CI (%)</th></tr></thead><tbody>{body}</tbody></table>")))


def index_page(tables: Sequence[TaskTable], shown: Sequence[Bundle], hidden: Sequence[Bundle],
               hidden_why: dict[str, str], model_pages: dict[str, str]) -> str:
    """The index: the task versions (rows, submissions, links), the submissions, the models,
    the withdrawn and superseded bundles, and the machine-readable files."""
    trows = [
        f'<tr><td class="text">{_link(t.page, t.id)}</td><td class="text">{_e(t.version)}</td>'
        f"<td>{len(t.rows)}</td><td>{len({r.bundle.id for r in t.rows})}</td>"
        f'<td class="text">{_link(t.csv_name, "CSV")}</td></tr>' for t in tables]
    tasks = ('<table id="tasks"><thead><tr><th class="text">task</th><th class="text">version'
             '</th><th>rows</th><th>submissions</th><th class="text">data</th></tr></thead>'
             f'<tbody>{"".join(trows)}</tbody></table>') if tables else \
        "<p><em>No task has a row.</em></p>"
    subs = "".join(f'<li>{_link(submission_file(b), b.title)} <code>{b.id}</code> '
                   f"{_badge(b.verdict, b.verification_note)}</li>" for b in shown)
    models = "".join(f"<li>{_link(f, m)}</li>" for m, f in sorted(model_pages.items()))
    gone = "".join(f"<li>{_link(submission_file(b), b.title)} <code>{b.id}</code>: "
                   f"{_e(hidden_why[b.id])}</li>" for b in hidden)
    return page("NeuroFER-Bench leaderboard", "".join([
        '<p class="note">Results of submitted bundles, one table per task version (rows of two '
        "versions are never compared). Every value is recomputed from the bundles' records; "
        "see each submission for what was verified. Machine-readable: "
        f'{_link("leaderboard.json", "leaderboard.json")} and one CSV per task version.</p>',
        _section("tasks-section", "Tasks", tasks),
        _section("submissions", "Submissions", f"<ul>{subs}</ul>" if subs else
                 "<p><em>None.</em></p>"),
        _section("models", "Models", f"<ul>{models}</ul>" if models else "<p><em>None.</em></p>"),
        _section("withdrawn", "Withdrawn and superseded submissions",
                 f"<ul>{gone}</ul>" if gone else "<p><em>None.</em></p>"),
    ]))
