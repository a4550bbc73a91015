"""Published numbers (from the papers) as report sections of their own, with footnotes.

The numbers come from the project's data file through
:func:`benchmarks.results.published.published_for`; they are shown for the datasets of the records at hand, one table per dataset,
**never** mixed into the suite's statistics (no mean, interval, comparison or rank uses them).

Table layout (:class:`PublishedTable`): one row per ``(paper, model)``; columns ``model``,
``input``, ``spiking``, ``source`` (paper key and table), then one column per metric present,
in :data:`benchmarks.results.published.METRICS` order (per-condition accuracies after the plain
ones), with the value as the paper prints it (``up to`` kept), then ``notes``. Notes are
numbered footnotes, one per clause of the data file's ``note`` (split at ``"; "``): the clauses
all of a row's numbers share are its ``notes`` entry; a number with a further clause carries
its own marker (e.g. ``5.0 [3]``). Each table lists its papers' citations and sources.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from benchmarks.results.published import (
    CONDITIONS,
    METRICS,
    PublishedResult,
    published_for,
    read_published,
)
from reports.leaderboard import _escape, _table

__all__ = ["PublishedTable", "build_table", "published_tables", "published_section",
           "record_datasets", "SECTION_TITLE"]

SECTION_TITLE = "Published results (from the papers)"

_COND_ORDER = {c: i for i, c in enumerate(("", *CONDITIONS))}
_METRIC_ORDER = {m: i for i, m in enumerate(METRICS)}


@dataclass(frozen=True)
class PublishedTable:
    """The published rows of one dataset.

    Attributes:
        dataset: the suite's dataset name.
        dataset_names: how the papers name it.
        headers: column headers (see the module docstring).
        rows: cell texts, one list per ``(paper, model)``.
        values: per row, ``{header: (value, unit, qualifier)}`` of its numbers (for CSV).
        footnotes: numbered notes, ``footnotes[k - 1]`` for marker ``[k]``.
        sources: ``(paper, citation, source URL, tables)`` per paper, in order of appearance.
        protocols: ``(paper, protocol, label set)`` per paper.
    """

    dataset: str
    dataset_names: tuple[str, ...]
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    values: tuple[dict[str, tuple[float, str, str]], ...]
    footnotes: tuple[str, ...]
    sources: tuple[tuple[str, str, str, str], ...]
    protocols: tuple[tuple[str, str, str], ...]

    def to_markdown(self, heading: str = "###") -> str:
        """The table under a ``heading`` line, then its footnotes, protocols and sources."""
        lines = [f"{heading} {self.dataset} (published)", "",
                 _table(list(self.headers), [[_escape(c) for c in r] for r in self.rows]), ""]
        lines += [f"[{k}] {_escape(t)}  " for k, t in enumerate(self.footnotes, 1)]
        lines.append("")
        for paper, protocol, labels in self.protocols:
            lines.append(f"- {paper}: protocol: {_escape(protocol)}; labels: {_escape(labels)}")
        for paper, citation, url, tables in self.sources:
            lines.append(f"- {paper}: {_escape(citation)}; {url} ({tables})")
        return "\n".join(lines)

    def to_csv(self) -> str:
        """One line per row and metric: ``dataset, model, paper, metric, value, unit,
        qualifier`` (numbers as numbers)."""
        out = []
        i_model = self.headers.index("model")
        i_src = self.headers.index("source")
        for row, vals in zip(self.rows, self.values, strict=True):
            for header, (value, unit, qual) in vals.items():
                out.append({"dataset": self.dataset, "model": row[i_model], "source": row[i_src],
                            "metric": header, "value": value, "unit": unit, "qualifier": qual})
        buf = io.StringIO()
        pd.DataFrame(out).to_csv(buf, index=False, lineterminator="\n")
        return buf.getvalue()


def _segments(note: str) -> list[str]:
    """A note's clauses (split at ``"; "``), each a footnote of its own, so that shared
    caveats are numbered once."""
    return [g.strip() for g in note.split("; ") if g.strip()]


def _column_key(r: PublishedResult) -> tuple[int, int, str]:
    return (_METRIC_ORDER[r.metric], _COND_ORDER.get(r.condition, 99), r.unit)


def build_table(dataset: str, results: list[PublishedResult]) -> PublishedTable:
    """The :class:`PublishedTable` of ``results`` (rows of one dataset, file order)."""
    metric_cols: dict[str, tuple] = {}
    for r in sorted(results, key=_column_key):
        metric_cols.setdefault(r.header, _column_key(r))
    headers = ("model", "input", "spiking", "source", *metric_cols, "notes")
    by_row: dict[tuple[str, str], list[PublishedResult]] = {}
    for r in results:
        by_row.setdefault((r.paper, r.model), []).append(r)
    footnotes: list[str] = []

    def mark(note: str) -> int:
        if note not in footnotes:
            footnotes.append(note)
        return footnotes.index(note) + 1

    rows, values = [], []
    for (paper, model), rs in by_row.items():
        segs = [_segments(r.note) for r in rs]
        common = [g for g in segs[0] if all(g in other for other in segs)]
        row_marks = " ".join(f"[{mark(g)}]" for g in common)  # numbered before the cells' own
        cells = {h: "" for h in metric_cols}
        vals = {}
        for r, sg in zip(rs, segs, strict=True):
            extra = "".join(f" [{mark(g)}]" for g in sg if g not in common)
            cells[r.header] = r.text + extra
            vals[r.header] = (r.value, r.unit, r.qualifier)
        tables = ", ".join(dict.fromkeys(r.table for r in rs))
        rows.append((model, rs[0].input, rs[0].spiking, f"{paper}, {tables}",
                     *cells.values(), row_marks))
        values.append(vals)
    sources: dict[str, tuple[str, str, str, str]] = {}
    protocols: dict[str, tuple[str, str, str]] = {}
    for r in results:
        tabs = ", ".join(dict.fromkeys(x.table for x in results if x.paper == r.paper))
        sources.setdefault(r.paper, (r.paper, r.citation, r.source, tabs))
        protocols.setdefault(r.paper, (r.paper, r.protocol, r.label_set))
    return PublishedTable(
        dataset=dataset, dataset_names=tuple(dict.fromkeys(r.dataset_name for r in results)),
        headers=headers, rows=tuple(rows), values=tuple(values), footnotes=tuple(footnotes),
        sources=tuple(sources.values()), protocols=tuple(protocols.values()))


def record_datasets(records: Iterable[dict]) -> list[str]:
    """The dataset names of the ok records (sorted, unique)."""
    return sorted({str((r.get("cell") or {}).get("dataset")) for r in records
                   if r.get("status") == "ok" and (r.get("cell") or {}).get("dataset")})


def published_tables(records: Iterable[dict]) -> list[PublishedTable]:
    """One :class:`PublishedTable` per dataset of ``records`` that has published rows."""
    return [build_table(ds, rows) for ds, rows in published_for(record_datasets(records)).items()]


def published_section(records: Iterable[dict]) -> str:
    """The leaderboard's section ``## Published results (from the papers)``: an introduction,
    one table per dataset of the records with published rows, and a line naming the data file's
    other datasets; ``""`` when no dataset of the records has published rows."""
    records = list(records)
    tables = published_tables(records)
    if not tables:
        return ""
    shown = {t.dataset for t in tables}
    others = sorted({d for r in read_published() for d in r.datasets} - shown)
    parts = [f"## {SECTION_TITLE}", "",
             "Numbers printed in the papers, transcribed with their source (data file "
             "`benchmarks/results/published_results.tsv`). They are not measured by the suite, "
             "are not part of any mean, interval, comparison or rank of this report, and are "
             "rarely comparable one to one: the footnotes say why.", ""]
    for t in tables:
        parts += [t.to_markdown(), ""]
    if others:
        parts.append(f"The data file also holds published numbers for: {', '.join(others)}.")
    return "\n".join(parts).rstrip()
