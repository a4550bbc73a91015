"""Published numbers from the papers, beside (never mixed into) the suite's own results.

The data file :data:`DATA_FILE` (``published_results.tsv``, tab-separated, UTF-8, ``#`` comment
lines before the header) holds one published number per row, transcribed from the paper named in
the row, with its source. Columns (:data:`COLUMNS`):

``paper``
    short key of the paper (e.g. ``SEEN2023``).
``citation``
    authors, venue, year, and a DOI and/or an arXiv id (required: ``DOI`` or ``arXiv`` in the text).
``source``
    a URL of the paper (DOI resolver or arXiv).
``table``
    where in the paper the number is (``Table 1``, ``Abstract``, ...).
``dataset``
    the suite's dataset name(s) (``see``, ``nefer``, ``ckplus-dvs`` ...; several joined by ``;``)
    or the paper's own name when the suite has no such dataset (``e-ck+``).
``dataset_name``
    the dataset as the paper names it.
``protocol``, ``label_set``
    the paper's split / folds / passes, and its classes, as far as they could be read.
``model``, ``input``, ``spiking``
    the method, what it takes (events, intensity frames, both), ``yes`` / ``no`` / ``hybrid``.
``metric``, ``condition``
    one of :data:`METRICS`; ``condition`` a SEE lighting condition (``normal``, ``overexposure``,
    ``low_light``, ``hdr``) or empty.
``value``, ``unit``, ``qualifier``
    the number as printed (in ``unit``: ``%``, ``GFLOPs``, ``ms`` or ``x``), and ``up to`` when
    the paper gives a best-of bound.
``details``
    what the paper says about the method or the number (settings, table column), optional.
``note``
    why the number is not directly comparable with the suite's (model selection on the test set,
    intensity frames instead of events, protocol not read, ...); required.

The rows are facts from the papers (each carries its source); reports show them as *published*
rows in sections of their own (:mod:`reports.published`), never averaged with, ranked against or
tested against the suite's records.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from datasets.common import InputError

DATA_FILE = Path(__file__).with_name("published_results.tsv")
"""The project's data file of published numbers."""

COLUMNS = ("paper", "citation", "source", "table", "dataset", "dataset_name", "protocol",
           "label_set", "model", "input", "spiking", "metric", "condition", "value", "unit",
           "qualifier", "details", "note")
"""Header of the data file, in order."""

METRICS: dict[str, str] = {
    "war": "WAR",
    "uar": "UAR",
    "accuracy": "accuracy",
    "recognition_rate": "recognition rate",
    "gflops": "FLOPs",
    "inference_ms": "inference time",
    "energy_reduction": "energy reduction, SNN vs ANN",
}
"""Metric keys of the data file -> display names, in display order."""

CONDITIONS = ("normal", "overexposure", "low_light", "hdr")
"""Lighting conditions a row may name (SEE's, as in :data:`datasets.base.LIGHTING_CONDITIONS`)."""

UNITS = ("%", "GFLOPs", "ms", "x")
SPIKING = ("yes", "no", "hybrid")
QUALIFIERS = ("", "up to")


class PublishedDataError(InputError, ValueError):
    """The data file is malformed; the message names the file, the line, the column and the value."""


@dataclass(frozen=True)
class PublishedResult:
    """One published number (one row of the data file; see the module docstring for the fields).

    Attributes:
        value: the number as a float, in ``unit``.
        value_text: the number as written in the file (the paper's rounding).
        datasets: ``dataset`` split on ``;``.
        line: the row's line number in the file (1-based).
    """

    paper: str
    citation: str
    source: str
    table: str
    datasets: tuple[str, ...]
    dataset_name: str
    protocol: str
    label_set: str
    model: str
    input: str
    spiking: str
    metric: str
    condition: str
    value: float
    value_text: str
    unit: str
    qualifier: str
    details: str
    note: str
    line: int

    @property
    def fraction(self) -> float | None:
        """``value / 100`` for a percentage (the records' convention for WAR, UAR, accuracy),
        else ``None``."""
        return self.value / 100.0 if self.unit == "%" else None

    @property
    def header(self) -> str:
        """Column header of the metric: display name, condition and unit, e.g.
        ``"accuracy, low_light (%)"``."""
        name = METRICS[self.metric] + (f", {self.condition}" if self.condition else "")
        return f"{name} ({self.unit})"

    @property
    def text(self) -> str:
        """The value as the paper prints it, with its qualifier (``"up to 76.7"``)."""
        return f"{self.qualifier} {self.value_text}".strip()


def _problem(path: Path, line: int, column: str, value: str, why: str) -> str:
    return f"{path}: line {line}, column '{column}' = {value!r}: {why}"


def _parse_row(path: Path, line: int, row: dict[str, str]) -> tuple[PublishedResult | None, list[str]]:
    problems = []

    def need(col: str, ok: bool, why: str) -> None:
        if not ok:
            problems.append(_problem(path, line, col, row[col], why))

    for col in ("paper", "citation", "source", "table", "dataset", "model", "metric", "value",
                "unit", "note"):
        need(col, bool(row[col]), "must not be empty")
    need("citation", "DOI" in row["citation"] or "arXiv" in row["citation"],
         "the citation must carry a DOI or an arXiv id")
    need("source", row["source"].startswith(("https://", "http://")), "must be a URL")
    need("spiking", row["spiking"] in SPIKING, f"expected one of {SPIKING}")
    need("metric", row["metric"] in METRICS, f"expected one of {tuple(METRICS)}")
    need("condition", row["condition"] in ("", *CONDITIONS), f"expected empty or one of {CONDITIONS}")
    need("unit", row["unit"] in UNITS, f"expected one of {UNITS}")
    need("qualifier", row["qualifier"] in QUALIFIERS, f"expected empty or one of {QUALIFIERS[1:]}")
    try:
        value = float(row["value"])
    except ValueError:
        value = float("nan")
        need("value", False, "not a number")
    if problems:
        return None, problems
    return PublishedResult(
        paper=row["paper"], citation=row["citation"], source=row["source"], table=row["table"],
        datasets=tuple(d.strip() for d in row["dataset"].split(";") if d.strip()),
        dataset_name=row["dataset_name"], protocol=row["protocol"], label_set=row["label_set"],
        model=row["model"], input=row["input"], spiking=row["spiking"], metric=row["metric"],
        condition=row["condition"], value=value, value_text=row["value"], unit=row["unit"],
        qualifier=row["qualifier"], details=row["details"], note=row["note"], line=line,
    ), []


def read_published(path: str | os.PathLike | None = None) -> tuple[PublishedResult, ...]:
    """Read and check the data file of published numbers.

    Args:
        path: the file (default :data:`DATA_FILE`).

    Returns:
        The rows, in file order.

    Raises:
        FileNotFoundError: no such file.
        PublishedDataError: a wrong header, a row with the wrong number of fields, or any bad
            value; the message names the file, line, column and value of the first problem
            and counts all of them (every row is checked in one pass).
    """
    p = Path(path) if path is not None else DATA_FILE
    stat = p.stat()
    return _read_cached(str(p.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _read_cached(path_str: str, _mtime: int, _size: int) -> tuple[PublishedResult, ...]:
    path = Path(path_str)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    start = 0
    while start < len(lines) and (lines[start].startswith("#") or not lines[start].strip()):
        start += 1
    if start == len(lines):
        raise PublishedDataError(f"{path}: no header line")
    header = lines[start].split("\t")
    if tuple(header) != COLUMNS:
        raise PublishedDataError(f"{path}: line {start + 1}: header {header} differs from the "
                                 f"expected columns {list(COLUMNS)}")
    out: list[PublishedResult] = []
    problems: list[str] = []
    reader = csv.reader(lines[start + 1:], delimiter="\t", quoting=csv.QUOTE_NONE)
    for offset, fields in enumerate(reader):
        line = start + 2 + offset
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if len(fields) != len(COLUMNS):
            problems.append(f"{path}: line {line}: {len(fields)} fields, expected {len(COLUMNS)}")
            continue
        res, probs = _parse_row(path, line, dict(zip(COLUMNS, (f.strip() for f in fields),
                                                     strict=True)))
        problems += probs
        if res is not None:
            out.append(res)
    if problems:
        more = f" ({len(problems)} problems in all)" if len(problems) > 1 else ""
        raise PublishedDataError(problems[0] + more)
    return tuple(out)


def published_for(datasets: Iterable[str], path: str | os.PathLike | None = None
                  ) -> dict[str, list[PublishedResult]]:
    """The published rows of each of ``datasets`` (suite dataset names), datasets without rows
    left out; a row naming several datasets is listed under each of them.

    Returns:
        ``{dataset: rows in file order}``, datasets sorted.
    """
    rows = read_published(path)
    out: dict[str, list[PublishedResult]] = {}
    for ds in sorted(set(datasets)):
        hits = [r for r in rows if ds in r.datasets]
        if hits:
            out[ds] = hits
    return out
