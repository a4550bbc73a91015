"""Figures: result records -> PNG files (pure functions; reads only the records).

Every plot function takes the records and an output path, draws with matplotlib's Agg canvas on a
``matplotlib.figure.Figure`` (no pyplot, so no global backend or figure registry is touched), and
returns the path written, or ``None`` (with a logged reason) when no record has the data.
Groups (rows x dataset columns) and their means are those of :mod:`reports.leaderboard`: one
point / bar / line per (row, dataset) pair, mean over its cells. Accuracy error bars are the 95%
intervals of :func:`reports.stats.group_interval`; other error bars and bands one sample std.

Figures: accuracy vs estimated energy with the Pareto front (overlapping markers drawn side by
side and labelled), per-lighting accuracy bars, confusion matrices, batch-1 latency, accuracy vs
time steps, and the critical-difference diagram of the ranking across datasets.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reports.leaderboard import (
    Group,
    group_records,
    lighting_conditions,
    lighting_values,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

__all__ = [
    "pareto_front",
    "plot_accuracy_vs_energy",
    "plot_lighting_accuracy",
    "plot_confusion_matrices",
    "plot_latency",
    "plot_accuracy_vs_steps",
    "plot_critical_difference",
    "dodge_offsets",
    "FIGURES",
    "render_figures",
]

DPI = 120
MAX_CONFUSION_PANELS = 24


# --------------------------------------------------------------------------------------------
# Pareto front
# --------------------------------------------------------------------------------------------


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the Pareto-optimal points for (lower energy, higher accuracy).

    A point ``(e_i, a_i)`` is *dominated* when another point ``(e_j, a_j)`` has ``e_j <= e_i``
    and ``a_j >= a_i`` with at least one inequality strict; the front is the set of points that
    are not dominated (so exact duplicates are both on it).

    Args:
        points: ``(energy, accuracy)`` pairs (any units; only the order matters).

    Returns:
        Indices into ``points`` of the front, sorted by energy ascending (then accuracy
        descending, then index); along it accuracy increases strictly with energy (up to ties).
        ``[]`` for no points.

    Raises:
        ValueError: a point that is not a pair of finite numbers (the message gives its index).

    Example:
        >>> pareto_front([(1.0, 0.5), (2.0, 0.4), (3.0, 0.9), (0.5, 0.2)])
        [3, 0, 2]
    """
    pts: list[tuple[float, float]] = []
    for i, p in enumerate(points):
        try:
            e, a = (float(v) for v in p)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"points[{i}]: expected an (energy, accuracy) pair, got {p!r}"
            ) from exc
        if not (math.isfinite(e) and math.isfinite(a)):
            raise ValueError(f"points[{i}]: expected finite numbers, got {p!r}")
        pts.append((e, a))
    front = []
    for i, (e, a) in enumerate(pts):
        dominated = any(
            ej <= e and aj >= a and (ej < e or aj > a) for j, (ej, aj) in enumerate(pts) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (pts[i][0], -pts[i][1], i))


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _new_figure(n_panels: int, *, panel_size: tuple[float, float] = (5.5, 4.2),
                ncols: int | None = None) -> tuple[Figure, list[Axes]]:
    """A figure with ``n_panels`` axes on a grid, drawn by the Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = ncols or min(n_panels, 2)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=DPI, format="png", metadata={"Software": None})
    log.info("wrote %s", p)
    return p


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof = 1; NaN for a single value, so that no error bar is drawn)."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else float("nan")


def _by_dataset(groups: list[Group]) -> dict[str, list[Group]]:
    out: dict[str, list[Group]] = {}
    for g in groups:
        out.setdefault(g.dataset, []).append(g)
    return dict(sorted(out.items()))


def _skip(name: str, reason: str) -> None:
    log.info("figure %s skipped: %s", name, reason)


def _energy_models(g: Group) -> set[str]:
    out = set()
    for r in g.records:
        m = r.get("metrics") if isinstance(r.get("metrics"), dict) else {}
        if isinstance(m.get("energy_model"), str):
            out.add(m["energy_model"])
    return out


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")
"""Bar hatches cycled over the rows (bars stay apart in greyscale)."""

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
"""Marker shapes cycled over the rows of a panel (with the colours), so that rows stay apart
in greyscale prints and where markers touch."""

DODGE_RADIUS_PX = 10.0
"""Markers whose centres are closer than this (display pixels) are spread apart."""


def dodge_offsets(points_px: Sequence[tuple[float, float]], radius: float = DODGE_RADIUS_PX
                  ) -> list[float]:
    """Horizontal offsets (pixels) that keep overlapping markers visible.

    Points closer than ``radius`` to each other (transitively: a chain of close points is one
    cluster) are spread side by side, ``1.2 * radius`` apart, centred on the cluster, in input
    order; an isolated point is not moved.

    Args:
        points_px: marker centres in display pixels.
        radius: the distance under which two markers overlap.

    Returns:
        One x offset per point (0.0 for isolated points).

    Example:
        >>> dodge_offsets([(0.0, 0.0), (1.0, 0.0), (100.0, 0.0)], radius=10.0)
        [-6.0, 6.0, 0.0]
    """
    n = len(points_px)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            (xi, yi), (xj, yj) = points_px[i], points_px[j]
            if math.hypot(xi - xj, yi - yj) < radius:
                parent[find(i)] = find(j)
    clusters: dict[int, list[int]] = {}
    for i in range(n):
        clusters.setdefault(find(i), []).append(i)
    out = [0.0] * n
    for members in clusters.values():
        m = len(members)
        for rank, i in enumerate(sorted(members)):
            out[i] = (rank - (m - 1) / 2) * 1.2 * radius if m > 1 else 0.0
    return out


def _ci_err(mean: float, iv: Any, scale: float = 100.0) -> list[list[float]] | None:
    """Asymmetric error bar ``[[below], [above]]`` of interval ``iv`` around ``mean``."""
    if iv is None:
        return None
    return [[max(0.0, mean - iv.low * scale)], [max(0.0, iv.high * scale - mean)]]


def _energy_panel(fig: Figure, ax: Axes, ds: str, pts: list[tuple[str, float, float, float, Any]],
                  energy_models: list[str]) -> list[tuple[float, float]]:
    """Draw one accuracy-vs-energy panel; return the marker centres in display pixels (after
    the side-by-side offsets of :func:`dodge_offsets`)."""
    from matplotlib.transforms import offset_copy

    energies = [p[1] for p in pts]
    if min(energies) > 0 and max(energies) / min(energies) > 100:
        ax.set_xscale("log")
    front = pareto_front([(p[1], p[3]) for p in pts])
    fx = [pts[i][1] for i in front]
    fy = [pts[i][3] for i in front]
    ax.plot(fx, fy, "--", color="0.3", drawstyle="steps-post", linewidth=1.2,
            label="Pareto front", zorder=0)
    # fix the limits first (points, error bars), then find the markers that would overlap
    # on screen; artists drawn with an offset transform do not update the data limits
    extent = []
    for _, em, esd, am, iv in pts:
        dx = esd if np.isfinite(esd) else 0.0
        lo, hi = (iv.low * 100.0, iv.high * 100.0) if iv is not None else (am, am)
        extent += [(em - dx, min(lo, am)), (em + dx, max(hi, am))]
    ax.update_datalim(extent)
    ax.margins(0.12)
    ax.autoscale_view()
    ax.set_xlim(ax.get_xlim())
    ax.set_ylim(ax.get_ylim())
    fig.draw_without_rendering()  # settle the layout, so that pixel distances are final
    px = ax.transData.transform([(p[1], p[3]) for p in pts])
    offsets = dodge_offsets([tuple(q) for q in px])
    to_pt = 72.0 / fig.dpi
    colors = _colors(len(pts))
    for i, ((label, em, esd, am, iv), color) in enumerate(zip(pts, colors, strict=True)):
        tr = offset_copy(ax.transData, fig=fig, x=offsets[i] * to_pt, y=0.0, units="points")
        on_front = i in front
        ax.errorbar(em, am, xerr=esd if np.isfinite(esd) else None, yerr=_ci_err(am, iv),
                    fmt=MARKERS[i % len(MARKERS)], color=color, capsize=3, markersize=7,
                    markeredgecolor="black" if on_front else color, transform=tr,
                    label=label + (" (Pareto)" if on_front else ""), zorder=3)
        if offsets[i] != 0.0:
            ax.annotate(label, xy=(em, am), xycoords=tr, xytext=(0, 9 + 9 * (i % 2)),
                        textcoords="offset points", ha="center", fontsize="x-small",
                        color=color)
    ax.annotate("better", xy=(0.03, 0.97), xytext=(0.18, 0.84), xycoords="axes fraction",
                textcoords="axes fraction", ha="center", fontsize="small", color="0.4",
                arrowprops={"arrowstyle": "->", "color": "0.4"})
    em_names = ", ".join(energy_models) or "unknown energy model"
    ax.set_xlabel(f"estimated energy per inference (µJ)\n[{em_names}]")
    ax.set_ylabel("accuracy / WAR (%)")
    ax.set_title(f"{ds}: accuracy vs energy")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    if any(o != 0.0 for o in offsets):
        ax.text(0.99, 0.01, "overlapping points drawn side by side", fontsize="x-small",
                color="0.4", ha="right", va="bottom", transform=ax.transAxes)
    return [(float(x) + o, float(y)) for (x, y), o in zip(px, offsets, strict=True)]


def plot_accuracy_vs_energy(records: Sequence[dict[str, Any]],
                            path: str | os.PathLike[str]) -> Path | None:
    """Accuracy (WAR, %) vs estimated energy per inference (µJ), one panel per dataset column,
    with the Pareto front (lower energy, higher accuracy; :func:`pareto_front`) as a dashed
    staircase. Vertical error bars: the 95% interval of :func:`reports.stats.group_interval`
    (t over cells, or the bootstrap over one cell's test subjects or samples); horizontal: one sample std
    of the energy over cells. Each row has its own colour and marker; markers that would
    overlap (:func:`dodge_offsets`) are drawn side by side and labelled with their row, so no
    point hides another. Energy axis logarithmic when it spans more than two decades.

    Returns:
        ``path``, or ``None`` when no group has both ``war``/``accuracy`` and
        ``energy_uj_per_inference``.
    """
    from reports.stats import group_interval

    data: dict[str, list[tuple[str, float, float, float, Any]]] = {}
    models: dict[str, set[str]] = {}
    for ds, gs in _by_dataset(group_records(records)).items():
        for g in gs:
            acc, en = g.values("war"), g.values("energy_uj_per_inference")
            if acc and en:
                am = 100.0 * float(np.mean(acc))
                em, esd = _mean_std(en)
                data.setdefault(ds, []).append((g.row, em, esd, am,
                                                group_interval(g.records, "war")))
                models.setdefault(ds, set()).update(_energy_models(g))
    if not data:
        _skip("accuracy_vs_energy", "no record has both accuracy and energy_uj_per_inference")
        return None
    fig, axes = _new_figure(len(data))
    for ax, (ds, pts) in zip(axes, data.items(), strict=True):
        _energy_panel(fig, ax, ds, pts, sorted(models.get(ds, set())))
    fig.suptitle("Accuracy vs estimated energy\nerror bars: WAR 95% CI, energy ± std over "
                 "cells\nblack marker edge: on the Pareto front", fontsize="medium")
    return _save(fig, path)


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_lighting_accuracy(records: Sequence[dict[str, Any]],
                           path: str | os.PathLike[str]) -> Path | None:
    """Per-lighting accuracy (%, bars grouped by lighting condition, one bar per row), one panel
    per dataset column that has ``per_lighting_accuracy``. Error bars: the 95% interval of
    :func:`reports.stats.group_interval` (t over cells, or the bootstrap over one cell's test
    subjects or samples of that lighting condition; none when neither is available).

    Returns:
        ``path``, or ``None`` when no record has ``per_lighting_accuracy``.
    """
    from reports.stats import group_interval

    panels: dict[str, tuple[list[str], list[Group]]] = {}
    for ds, gs in _by_dataset(group_records(records)).items():
        gs = [g for g in gs if any(lighting_values(g, "per_lighting_accuracy", c)
                                   for c in lighting_conditions([g]))]
        if gs:
            panels[ds] = (lighting_conditions(gs), gs)
    if not panels:
        _skip("lighting_accuracy", "no record has per_lighting_accuracy")
        return None
    fig, axes = _new_figure(len(panels), panel_size=(6.5, 4.2))
    for ax, (ds, (conditions, gs)) in zip(axes, panels.items(), strict=True):
        x = np.arange(len(conditions), dtype=float)
        width = 0.8 / len(gs)
        for k, (g, color) in enumerate(zip(gs, _colors(len(gs)), strict=True)):
            means, err = [], [[], []]
            for c in conditions:
                vals = lighting_values(g, "per_lighting_accuracy", c)
                m = 100.0 * float(np.mean(vals)) if vals else np.nan
                iv = group_interval(g.records, "per_lighting_accuracy", c) if vals else None
                e = _ci_err(m, iv) if iv is not None else [[np.nan], [np.nan]]
                means.append(m)
                err[0].append(e[0][0])
                err[1].append(e[1][0])
            ax.bar(x - 0.4 + width * (k + 0.5), means, width, yerr=err, capsize=3,
                   color=color, label=g.row, hatch=HATCHES[k % len(HATCHES)],
                   edgecolor="black", linewidth=0.5)
        ax.set_xticks(x, [c.replace("_", " ") for c in conditions])
        ax.set_xlabel("lighting condition")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{ds}: accuracy per lighting condition")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize="small", loc="upper right")
    fig.suptitle("Per-lighting accuracy (mean over cells, error bars: 95% CI)")
    return _save(fig, path)


def _normalised_confusion(g: Group) -> tuple[np.ndarray, list[str]] | None:
    """Mean over the cells of ``g`` of the row-normalised confusion matrices, in %.

    Each cell's matrix is divided by its row sums (true-class counts) first, so every cell weighs
    the same; rows with no true sample are NaN and left out of the mean of that row.
    """
    mats, classes = [], None
    for r in g.records:
        m = r.get("metrics") if isinstance(r.get("metrics"), dict) else {}
        cm = m.get("confusion_matrix")
        if cm is None:
            continue
        try:
            a = np.asarray(cm, dtype=np.float64)
        except (TypeError, ValueError):
            log.warning("cell %s: confusion_matrix is not numeric; ignored", r.get("cell_id"))
            continue
        if a.ndim != 2 or a.shape[0] != a.shape[1] or a.size == 0:
            log.warning("cell %s: confusion_matrix shape %s is not (K, K); ignored",
                        r.get("cell_id"), a.shape)
            continue
        if mats and a.shape != mats[0].shape:
            log.warning("%s on %s: confusion matrices of different shapes; figure skips the group",
                        g.row, g.dataset)
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            mats.append(a / a.sum(axis=1, keepdims=True))
        cls = r.get("classes")
        if classes is None and isinstance(cls, list) and len(cls) == a.shape[0]:
            classes = [str(c) for c in cls]
    if not mats:
        return None
    stack = np.stack(mats)
    with np.errstate(invalid="ignore"):
        valid = ~np.isnan(stack)
        total = np.where(valid, stack, 0.0).sum(axis=0)
        count = valid.sum(axis=0)
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return 100.0 * mean, classes or [str(i) for i in range(mean.shape[0])]


def plot_confusion_matrices(records: Sequence[dict[str, Any]],
                            path: str | os.PathLike[str]) -> Path | None:
    """Confusion matrices, one panel per (row, dataset) group: mean over the group's cells of the
    matrices normalised per true class (rows sum to 100 %); cells annotated when K <= 10. At most
    :data:`MAX_CONFUSION_PANELS` panels (the rest are skipped with a logged warning).

    Returns:
        ``path``, or ``None`` when no record has ``confusion_matrix``.
    """
    panels = []
    for g in group_records(records):
        res = _normalised_confusion(g)
        if res is not None:
            panels.append((g, *res))
    if not panels:
        _skip("confusion_matrices", "no record has a usable confusion_matrix")
        return None
    if len(panels) > MAX_CONFUSION_PANELS:
        log.warning("confusion matrices: %d groups, drawing the first %d", len(panels),
                    MAX_CONFUSION_PANELS)
        panels = panels[:MAX_CONFUSION_PANELS]
    k_max = max(p[1].shape[0] for p in panels)
    side = max(3.6, 0.45 * k_max + 1.6)
    fig, axes = _new_figure(len(panels), panel_size=(side, side), ncols=min(len(panels), 3))
    image = None
    for ax, (g, mat, classes) in zip(axes, panels, strict=True):
        image = ax.imshow(mat, vmin=0.0, vmax=100.0, cmap="Blues")
        k = mat.shape[0]
        ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize="small")
        ax.set_yticks(range(k), classes, fontsize="small")
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(f"{g.row}\n{g.dataset} (n={len(g.records)})", fontsize="medium")
        if k <= 10:
            for i in range(k):
                for j in range(k):
                    v = mat[i, j]
                    if np.isfinite(v):
                        ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize="small",
                                color="white" if v > 60 else "black")
    fig.colorbar(image, ax=axes, shrink=0.8, label="% of the true class")
    fig.suptitle("Confusion matrices (mean over cells, normalised per true class)")
    return _save(fig, path)


def plot_latency(records: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path | None:
    """Batch-1 latency per row: bar = mean p50 over cells, whisker up to the mean p95, one panel
    per dataset column; the tick label names the device(s).

    Returns:
        ``path``, or ``None`` when no record has ``latency_ms_p50``.
    """
    panels: dict[str, list[tuple[str, float, float]]] = {}
    for ds, gs in _by_dataset(group_records(records)).items():
        for g in gs:
            p50 = g.values("latency_ms_p50")
            if not p50:
                continue
            p95 = g.values("latency_ms_p95")
            m50 = float(np.mean(p50))
            m95 = float(np.mean(p95)) if p95 else m50
            devices = sorted({str(r["cell"].get("device", "?")) if isinstance(r.get("cell"), dict)
                              else "?" for r in g.records})
            panels.setdefault(ds, []).append((f"{g.row}\n({', '.join(devices)})", m50, m95))
    if not panels:
        _skip("latency", "no record has latency_ms_p50")
        return None
    fig, axes = _new_figure(len(panels))
    for ax, (ds, bars) in zip(axes, panels.items(), strict=True):
        x = np.arange(len(bars))
        m50 = np.array([b[1] for b in bars])
        up = np.clip(np.array([b[2] for b in bars]) - m50, 0.0, None)
        ax.bar(x, m50, 0.6, color=_colors(len(bars)), label="p50")
        ax.errorbar(x, m50, yerr=[np.zeros_like(up), up], fmt="none", ecolor="black",
                    capsize=4, label="p95")
        ax.set_xticks(x, [b[0] for b in bars], fontsize="small")
        ax.set_ylabel("batch-1 latency per inference (ms)")
        ax.set_title(f"{ds}: latency")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("Latency: bar = p50, whisker = p95 (means over cells)")
    return _save(fig, path)


def plot_accuracy_vs_steps(records: Sequence[dict[str, Any]],
                           path: str | os.PathLike[str]) -> Path | None:
    """Accuracy (%) of the readout after t = 1..T time steps (``accuracy_per_step``), one line
    per row (mean over cells, band = ± one sample std), one panel per dataset column. Cells with
    different T are aligned on t; each t averages the cells that reach it.

    Returns:
        ``path``, or ``None`` when no record has ``accuracy_per_step``.
    """
    panels: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    for ds, gs in _by_dataset(group_records(records)).items():
        for g in gs:
            curves = []
            for r in g.records:
                m = r.get("metrics") if isinstance(r.get("metrics"), dict) else {}
                v = m.get("accuracy_per_step")
                if isinstance(v, list) and v and all(
                        isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                    curves.append(100.0 * np.asarray(v, dtype=np.float64))
            if not curves:
                continue
            steps = max(len(c) for c in curves)
            stack = np.full((len(curves), steps), np.nan)
            for i, c in enumerate(curves):
                stack[i, : len(c)] = c
            count = (~np.isnan(stack)).sum(axis=0)
            mean = np.nanmean(stack, axis=0)
            centred = np.where(np.isnan(stack), 0.0, stack - mean)
            std = np.sqrt((centred**2).sum(axis=0) / np.maximum(count - 1, 1))
            std[count < 2] = 0.0
            panels.setdefault(ds, []).append((g.row, mean, std))
    if not panels:
        _skip("accuracy_vs_steps", "no record has accuracy_per_step")
        return None
    fig, axes = _new_figure(len(panels))
    for ax, (ds, lines) in zip(axes, panels.items(), strict=True):
        for (label, mean, std), color in zip(lines, _colors(len(lines)), strict=True):
            t = np.arange(1, len(mean) + 1)
            ax.plot(t, mean, "o-", color=color, label=label)
            ax.fill_between(t, mean - std, mean + std, color=color, alpha=0.2)
        ax.set_xlabel("time steps t (readout after the first t bins)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{ds}: accuracy vs time steps")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="lower right")
    fig.suptitle("Accuracy vs time steps (mean ± std over cells)")
    return _save(fig, path)


def plot_critical_difference(records: Sequence[dict[str, Any]],
                             path: str | os.PathLike[str]) -> Path | None:
    """Critical-difference diagram (Demsar, JMLR 7, 2006, Fig. 1) of the ranking across dataset
    columns (:func:`reports.comparison_tables.ranking`): the average rank of each model on an axis
    from 1 (best, left) to k, the Nemenyi critical difference (alpha = 0.05) as a bar, and a
    thick line joining each group of models whose ranks differ by less than CD (not
    significantly different).

    Returns:
        ``path``, or ``None`` when there are fewer than 2 dataset columns or fewer than 2
        models evaluated on all of them.
    """
    from reports.leaderboard import ranking

    rk = ranking(records)
    if rk is None:
        _skip("critical_difference", "needs 2 dataset columns and 2 models evaluated on all")
        return None
    k = len(rk.models)
    order = [int(i) for i in np.argsort(rk.avg_ranks, kind="stable")]
    half = (k + 1) // 2
    height = 1.6 + 0.32 * max(half, k - half) + 0.25 * len(rk.cliques)
    fig, (ax,) = _new_figure(1, panel_size=(7.5, height), ncols=1)
    ax.set_xlim(0.5, k + 0.5)
    ax.set_ylim(-(1.0 + 0.32 * max(half, k - half) + 0.25 * len(rk.cliques)), 1.2)
    ax.axis("off")
    ax.plot([1, k], [0, 0], color="black", linewidth=1.2)
    for t in range(1, k + 1):
        ax.plot([t, t], [0, 0.08], color="black", linewidth=1.0)
        ax.text(t, 0.14, str(t), ha="center", va="bottom", fontsize="small")
    # the critical difference, above the axis
    ax.plot([1, 1 + rk.cd], [0.75, 0.75], color="black", linewidth=2)
    for x0 in (1, 1 + rk.cd):
        ax.plot([x0, x0], [0.68, 0.82], color="black", linewidth=1)
    ax.text(1 + rk.cd / 2, 0.86, f"CD = {rk.cd:.2f}", ha="center", va="bottom",
            fontsize="small")
    # the models: better half to the left, the rest to the right
    for pos, j in enumerate(order):
        r = rk.avg_ranks[j]
        level = pos if pos < half else k - 1 - pos
        y = -0.45 - 0.32 * level - 0.25 * len(rk.cliques)
        left = pos < half
        x_text = 0.55 if left else k + 0.45
        ax.plot([r, r, x_text], [0, y, y], color="0.3", linewidth=0.8)
        ax.text(x_text + (-0.03 if left else 0.03), y, f"{rk.models[j]} ({r:.2f})",
                ha="right" if left else "left", va="center", fontsize="small")
    for c_i, clique in enumerate(rk.cliques):
        lo = min(rk.avg_ranks[j] for j in clique)
        hi = max(rk.avg_ranks[j] for j in clique)
        y = -0.18 - 0.25 * c_i
        ax.plot([lo - 0.03, hi + 0.03], [y, y], color="black", linewidth=4,
                solid_capstyle="round")
    n = len(rk.datasets)
    test = (f"Friedman p = {rk.friedman.p_chi2:.3g}" if rk.friedman is not None
            else "Friedman test needs k >= 3")
    fig.suptitle(f"Average rank by WAR over N = {n} dataset columns ({test}; Nemenyi, "
                 "alpha = 0.05)", fontsize="medium")
    return _save(fig, path)


FIGURES: dict[str, Callable[[Sequence[dict[str, Any]], str | os.PathLike[str]], Path | None]] = {
    "accuracy_vs_energy.png": plot_accuracy_vs_energy,
    "lighting_accuracy.png": plot_lighting_accuracy,
    "confusion_matrices.png": plot_confusion_matrices,
    "latency.png": plot_latency,
    "accuracy_vs_steps.png": plot_accuracy_vs_steps,
    "critical_difference.png": plot_critical_difference,
}
"""File name -> plot function, in drawing order."""


def render_figures(records: Sequence[dict[str, Any]],
                   out_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw every figure of :data:`FIGURES` into ``out_dir``.

    Returns:
        The paths written (figures without data are skipped, with a logged reason).
    """
    records = list(records)
    out = Path(out_dir)
    written = []
    for name, fn in FIGURES.items():
        p = fn(records, out / name)
        if p is not None:
            written.append(p)
    return written
