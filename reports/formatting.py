"""How the reports print numbers and tables: metric columns (:class:`Column`), ``mean ± std``
text with fixed rules (:func:`format_mean_std`), interval headers and GitHub-markdown tables
(tabulate), so that every table of ``leaderboard.md`` and the paper tables formats alike and
the same records give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tabulate import tabulate

__all__ = ["MISSING", "TABLE_FORMAT", "Column", "ci_header", "format_mean_std"]

TABLE_FORMAT = "github"
MISSING = "—"


@dataclass(frozen=True)
class Column:
    """One metric column of the leaderboard and the paper tables."""

    key: str  # metric key in the record
    header: str  # with units
    scale: float = 1.0  # multiply values by this before display (fraction -> %)
    decimals: int | None = None  # fixed decimals; None: 3 significant digits of the mean
    static: bool = False  # expected equal across cells: show the value (or a min–max range)
    ci: bool = False  # followed by its 95% interval (reports.stats.group_interval)
    better: str | None = None  # "max" / "min": which value is best (bold in paper tables)


def ci_header(c: Column) -> str:
    """Header of the interval column that follows ``c``: ``"WAR 95% CI (%)"``."""
    name = c.header.split(" (")[0]
    unit = c.header[len(name):].strip()
    return f"{name} 95% CI {unit}".strip()


def _decimals(x: float, sig: int = 3) -> int:
    """Decimals that show ``x`` with ``sig`` significant digits (0 for |x| >= 10**(sig-1))."""
    if x == 0 or not math.isfinite(x):
        return sig - 1
    return min(9, max(0, sig - 1 - math.floor(math.log10(abs(x)))))


def _fmt_number(x: float, decimals: int) -> str:
    """``x`` with ``decimals`` decimals and thousands separators; never ``"-0.0"``."""
    s = f"{x:,.{decimals}f}"
    if s.startswith("-") and float(s[1:].replace(",", "")) == 0.0:
        s = s[1:]
    return s


def format_mean_std(values: Sequence[float], *, scale: float = 1.0, decimals: int | None = None,
                    static: bool = False, n_expected: int | None = None,
                    std: float | None = None) -> str:
    """``"mean ± std"`` of ``values`` (sample std, ddof = 1; only the mean when there is one value).

    Args:
        values: per-cell values.
        scale: factor applied before display (100 for fractions shown in %).
        decimals: fixed decimals; ``None`` for 3 significant digits of the mean (std uses the
            same decimals).
        static: show the single value when all are equal, else ``"min–max"`` (for parameters).
        n_expected: the group's number of cells; when fewer cells have the value, ``" (n=k)"``
            is appended.
        std: for a single value, a std known from elsewhere (a published row's std over its
            inference passes, unscaled); shown as ``"mean ± std"``.

    Returns:
        The text, or ``"—"`` when there is no value.
    """
    if not values:
        return MISSING
    s = pd.Series([float(v) * scale for v in values], dtype="float64")
    mean = float(s.mean())
    d = _decimals(mean) if decimals is None else decimals
    if static:
        lo, hi = float(s.min()), float(s.max())
        text = _fmt_number(lo, d) if lo == hi else f"{_fmt_number(lo, d)}–{_fmt_number(hi, d)}"
    elif len(s) >= 2:
        text = f"{_fmt_number(mean, d)} ± {_fmt_number(float(s.std(ddof=1)), d)}"
    elif std is not None:
        text = f"{_fmt_number(mean, d)} ± {_fmt_number(float(std) * scale, d)}"
    else:
        text = _fmt_number(mean, d)
    if n_expected is not None and len(s) < n_expected:
        text += f" (n={len(s)})"
    return text


def _escape(text: Any) -> str:
    """One-line markdown-safe cell text."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    return tabulate(rows, headers=headers, tablefmt=TABLE_FORMAT, disable_numparse=True)
