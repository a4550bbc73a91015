"""Energy reports: result records -> markdown tables and PNG figures (pure functions).

Reads only the records (``benchmarks.results.records.read_records``): the energy per inference of every
model a record carries (keys ``energy_uj_per_inference__<model>``, written by
``benchmarks.measure.energy.energy_metrics``, with the models' titles and sources in the record's
``energy_models``), and, where measured, ``energy_measured_*`` (``benchmarks.measure.measured_energy``).

* :func:`energy_table`: energy per inference under each model (one column per model), mean ± std
  over the cells of each (backend / arch, dataset) group, as :mod:`reports.leaderboard` groups.
* :func:`energy_ratio_table`: the SNN / ANN energy ratio per model, each SNN cell paired with
  the ``ann`` cell of the same dataset, protocol, fold, seed and architecture, the break-even
  firing rate per model (the rate at which the SNN would cost what the ANN costs), and per chip
  target (:mod:`backends.targets`) whether the SNN's firing rate is below the break-even rate under
  that target's energy model (:func:`target_energy_models`).
* :func:`plot_accuracy_vs_energy_by_model`: accuracy vs energy with the Pareto front, one PNG
  per model; :func:`plot_energy_ratio_by_model`: the ratio per model as grouped bars, so that a
  reader sees how the comparison turns with the model.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from reports.figures import _mean_std, _new_figure, _save  # one set of figure helpers
from reports.leaderboard import (
    MISSING,
    _cell,
    _escape,
    _metrics,
    _table,
    format_mean_std,
    group_records,
    metric_value,
    ok_records,
)

log = logging.getLogger(__name__)

__all__ = [
    "ENERGY_PREFIX",
    "energy_models_in",
    "model_titles",
    "break_even_rate",
    "target_energy_models",
    "snn_ann_pairs",
    "energy_table",
    "energy_ratio_table",
    "render_energy_markdown",
    "plot_accuracy_vs_energy_by_model",
    "plot_energy_ratio_by_model",
    "render_energy_figures",
]

ENERGY_PREFIX = "energy_uj_per_inference__"
SPIKE_PREFIX = "energy_spike_driven_uj_per_inference__"
ANN_BACKEND = "ann"
MODEL_ORDER = ("horowitz2014", "lemaire2022", "lemaire2022_sj", "loihi2018")
"""Display order of the suite's models; any other model found follows, sorted by name."""
MEASURED_KEY = re.compile(r"^energy_measured_j_per_inference(?:__(?P<label>[A-Za-z0-9_]+))?$")


# --------------------------------------------------------------------------------------------
# what the records hold
# --------------------------------------------------------------------------------------------


def energy_models_in(records: Iterable[dict[str, Any]]) -> list[str]:
    """The energy models with a numeric ``energy_uj_per_inference__<model>`` in some ok record,
    in :data:`MODEL_ORDER` then by name."""
    found = set()
    for rec in ok_records(records):
        for k in _metrics(rec):
            if k.startswith(ENERGY_PREFIX) and "__" not in k[len(ENERGY_PREFIX):] \
                    and metric_value(rec, k) is not None:
                found.add(k[len(ENERGY_PREFIX):])
    return [m for m in MODEL_ORDER if m in found] + sorted(found - set(MODEL_ORDER))


def model_titles(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{model: {"title", "sources", ...}}`` from the records' ``energy_models`` (first seen)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in ok_records(records):
        em = _metrics(rec).get("energy_models")
        if isinstance(em, dict):
            for name, d in em.items():
                if isinstance(d, dict) and name not in out:
                    out[name] = d
    return out


def _measured_labels(records: Iterable[dict[str, Any]]) -> list[str]:
    labels = set()
    for rec in ok_records(records):
        for k in _metrics(rec):
            m = MEASURED_KEY.match(k)
            if m and metric_value(rec, k) is not None:
                labels.add(m.group("label") or "")
    return sorted(labels)


def _measured_key(label: str) -> str:
    return "energy_measured_j_per_inference" + (f"__{label}" if label else "")


# --------------------------------------------------------------------------------------------
# SNN / ANN pairs and the break-even firing rate
# --------------------------------------------------------------------------------------------


def break_even_rate(snn: float, spike_driven: float, firing_rate: float,
                    ann: float) -> float | None:
    """Break-even firing rate ``r* = r0 (E_ANN - F) / S`` with ``F = E_SNN - S`` (the formula of
    ``benchmarks.measure.energy.break_even_firing_rate``: the SNN's spike-proportional part ``S``
    scales with the firing rate, its fixed part ``F`` does not). ``None`` when the fixed part
    alone reaches the ANN's energy or nothing scales with spikes.

    Example:
        >>> round(break_even_rate(3.0, 2.0, 0.1, 4.6), 12)
        0.18
    """
    fixed = snn - spike_driven
    if spike_driven <= 0 or firing_rate <= 0 or fixed >= ann:
        return None
    return firing_rate * (ann - fixed) / spike_driven


NO_SOURCED_FIGURE = "no sourced figure"
"""What the per-target break-even column says for a target whose file names no energy model."""


def target_energy_models() -> dict[str, str | None]:
    """``{target name: energy model}`` for every registered chip target: the suite energy model
    (a ``energy_uj_per_inference__<model>`` of the records) that the target file's sourced
    ``energy.model`` field names, the source being what shows that model's per-operation
    constants are that chip's; ``None`` for a target whose file names none. Neither built-in
    target does: no peer-reviewed per-operation energy is public for Loihi 2 or DYNAP-CNN /
    Speck (``backends/targets/*.toml``), and ``loihi2018`` (Davies et al. 2018) is Loihi 1's.
    A target file that does not load is left out (``run_bench.py deploy`` reports it)."""
    from backends.targets.target import get_target, target_names
    from datasets.common import InputError

    out: dict[str, str | None] = {}
    for name in target_names():
        try:
            model = get_target(name).value("energy.model")
        except InputError as exc:
            log.warning("target %s left out of the break-even columns: %s", name, exc)
            continue
        out[name] = None if model is None else str(model)
    return out


def _pair_key(rec: dict[str, Any]) -> tuple:
    c = _cell(rec)
    return (c.get("dataset"), c.get("protocol"), c.get("fold"), c.get("seed"), c.get("arch"))


def snn_ann_pairs(records: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(SNN record, ANN record)`` pairs of trained ok cells with the same dataset, protocol,
    fold, seed and architecture (SNN: any backend but ``ann``). When several ANN cells match,
    the one with the SNN's recipe and device is taken, else the first by ``cell_id``."""
    recs = [r for r in ok_records(records) if r.get("kind", "trained") == "trained"]
    anns: dict[tuple, list[dict[str, Any]]] = {}
    for r in recs:
        if _cell(r).get("backend") == ANN_BACKEND:
            anns.setdefault(_pair_key(r), []).append(r)
    pairs = []
    for r in sorted(recs, key=lambda r: str(r.get("cell_id", ""))):
        if _cell(r).get("backend") == ANN_BACKEND:
            continue
        cands = sorted(anns.get(_pair_key(r), []), key=lambda a: str(a.get("cell_id", "")))
        if not cands:
            continue
        same = [a for a in cands if _cell(a).get("recipe") == _cell(r).get("recipe")
                and _cell(a).get("device") == _cell(r).get("device")]
        pairs.append((r, (same or cands)[0]))
    return pairs


def _dataset_label(rec: dict[str, Any]) -> str:
    c = _cell(rec)
    return f"{c.get('dataset', '?')} ({c.get('protocol')})" if c.get("protocol") else str(
        c.get("dataset", "?"))


def _ratio_rows(records: Sequence[dict[str, Any]], models: list[str]) -> dict[tuple, dict]:
    """``{(dataset label, "backend / arch"): {"ratio": {model: [..]}, "break_even": {...},
    "below": {model: [bool per pair]}, "firing_rate": [..]}}``; ``below``: the pair's firing rate
    is below its break-even rate (``False`` where none exists: the SNN never costs less)."""
    out: dict[tuple, dict] = {}
    for snn, ann in snn_ann_pairs(records):
        c = _cell(snn)
        key = (_dataset_label(snn), f"{c.get('backend', '?')} / {c.get('arch', '?')}")
        row = out.setdefault(key, {"ratio": {m: [] for m in models},
                                   "break_even": {m: [] for m in models},
                                   "below": {m: [] for m in models},
                                   "firing_rate": [], "pairs": 0})
        row["pairs"] += 1
        r0 = metric_value(snn, "firing_rate")
        if r0 is not None:
            row["firing_rate"].append(r0)
        for m in models:
            es, ea = metric_value(snn, ENERGY_PREFIX + m), metric_value(ann, ENERGY_PREFIX + m)
            if es is None or ea is None or ea <= 0:
                continue
            row["ratio"][m].append(es / ea)
            s = metric_value(snn, SPIKE_PREFIX + m)
            if s is not None and r0 is not None:
                be = break_even_rate(es, s, r0, ea)
                row["below"][m].append(be is not None and r0 < be)
                if be is not None:
                    row["break_even"][m].append(be)
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def energy_table(records: Iterable[dict[str, Any]]) -> str:
    """Energy per inference under every model found (columns ``E <model> (µJ/inf)``), and the
    measured joules per inference where recorded (``measured <label> (J/inf)``), one row per
    (backend / arch, dataset) group, ``mean ± std`` over its cells.

    Returns:
        Markdown text; a one-line note when no record carries a model's energy.
    """
    records = list(records)
    models = energy_models_in(records)
    labels = _measured_labels(records)
    if not models and not labels:
        return "_No record carries energy per model._"
    headers = ["dataset", "model", "n"] + [f"E {m} (µJ/inf)" for m in models] + [
        f"measured{' ' + lab if lab else ''} (J/inf)" for lab in labels]
    body = []
    for g in group_records(records):
        n = len(g.records)
        line = [_escape(g.dataset), _escape(g.row), str(n)]
        line += [format_mean_std(g.values(ENERGY_PREFIX + m), n_expected=n) for m in models]
        line += [format_mean_std(g.values(_measured_key(lab)), n_expected=n) for lab in labels]
        body.append(line)
    body.sort(key=lambda row: (row[0], row[1]))
    return _table(headers, body)


def _below_text(row: dict[str, Any], model: str | None, models: list[str]) -> str:
    """Whether the pairs of ``row`` fire below the break-even rate under ``model``: ``yes``,
    ``no``, ``k of n pairs``; :data:`NO_SOURCED_FIGURE` without a model, ``—`` when no pair has
    an energy under it."""
    if model is None:
        return NO_SOURCED_FIGURE
    flags = row["below"].get(model, []) if model in models else []
    if not flags:
        return MISSING
    k = sum(flags)
    return "yes" if k == len(flags) else "no" if k == 0 else f"{k} of {len(flags)} pairs"


def energy_ratio_table(records: Iterable[dict[str, Any]],
                       targets: dict[str, str | None] | None = None) -> str:
    """SNN / ANN energy ratio per model (``< 1``: the SNN costs less) and the break-even firing
    rate per model, ``mean ± std`` over the (SNN, ANN) pairs (:func:`snn_ann_pairs`), with the
    SNN's measured firing rate. A model that does not apply to the ANN (Loihi) shows ``—``;
    a missing break-even means none exists (the SNN's fixed part alone costs more than the ANN).

    Then one column per chip target (``targets``, default :func:`target_energy_models`): whether
    each pair's firing rate is below its break-even rate under the target's energy model (``yes``,
    ``no`` or ``k of n pairs``); "no sourced figure" for a target whose file gives no energy
    model, since a break-even rate on a chip needs that chip's energy per operation.

    Returns:
        Markdown text; a one-line note when there is no pair.
    """
    records = list(records)
    models = energy_models_in(records)
    rows = _ratio_rows(records, models)
    if not rows:
        return "_No SNN cell has an ANN twin (same dataset, protocol, fold, seed, arch)._"
    targets = target_energy_models() if targets is None else targets
    headers = ["dataset", "SNN", "pairs", "firing rate"]
    headers += [f"SNN/ANN {m}" for m in models] + [f"break-even rate {m}" for m in models]
    headers += [f"below break-even on {t}" for t in targets]
    body = []
    for (ds, snn), row in rows.items():
        line = [_escape(ds), _escape(snn), str(row["pairs"]),
                format_mean_std(row["firing_rate"], decimals=4)]
        line += [format_mean_std(row["ratio"][m]) for m in models]
        line += [format_mean_std(row["break_even"][m], decimals=4) for m in models]
        line += [_below_text(row, model, models) for model in targets.values()]
        body.append(line)
    return _table(headers, body)


def render_energy_markdown(records: Iterable[dict[str, Any]]) -> str:
    """The energy section for ``leaderboard.md``: the models found with their sources, the
    energy table and the SNN/ANN ratio table."""
    records = list(records)
    titles = model_titles(records)
    lines = ["## Energy per model", ""]
    models = energy_models_in(records)
    if models:
        lines.append("Estimated energy per inference under each model (counts from the run; "
                     "constants and sources in each record's `energy_models`):")
        lines.append("")
        refs: list[str] = []
        for m in models:
            d = titles.get(m, {})
            nums = []
            for src in d.get("sources", []):
                if str(src) not in refs:
                    refs.append(str(src))
                nums.append(f"[{refs.index(str(src)) + 1}]")
            cite = " ".join(nums) or "(source not recorded)"
            lines.append(f"- `{m}`: {_escape(d.get('title', m))} {cite}")
        lines.append("")
        lines += [f"[{i}] {_escape(src)}  " for i, src in enumerate(refs, 1)]
        lines.append("")
    lines += [energy_table(records), "", "### SNN / ANN energy ratio and break-even firing rate",
              "", "Ratio < 1: the SNN costs less than its ANN twin under that model. Break-even "
              "rate: the firing rate at which the SNN would cost what the ANN costs (its "
              "spike-driven energy scaled linearly with the rate). Below break-even on a chip "
              "target: whether the SNN's firing rate is below the break-even rate under the "
              "energy model the target's file names with its source (none does: \"no sourced "
              "figure\").", "",
              energy_ratio_table(records), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


def plot_accuracy_vs_energy_by_model(records: Sequence[dict[str, Any]],
                                     out_dir: str | os.PathLike[str]) -> list[Path]:
    """One PNG per model, ``accuracy_vs_energy__<model>.png``: accuracy (WAR, %) vs energy per
    inference under that model (µJ, log axis when it spans more than two decades), one panel
    per dataset column, Pareto front (lower energy, higher accuracy) as a dashed staircase.

    Returns:
        The paths written (models without accuracy and energy in any group are skipped).
    """
    from reports.figures import pareto_front

    records = list(records)
    titles = model_titles(records)
    written = []
    for m in energy_models_in(records):
        data: dict[str, list[tuple[str, float, float, float, float]]] = {}
        for g in group_records(records):
            acc, en = g.values("war"), g.values(ENERGY_PREFIX + m)
            if acc and en:
                am, asd = _mean_std([100.0 * a for a in acc])
                em, esd = _mean_std(en)
                data.setdefault(g.dataset, []).append((g.row, em, esd, am, asd))
        if not data:
            log.info("figure accuracy_vs_energy__%s skipped: no group with accuracy and energy", m)
            continue
        fig, axes = _new_figure(len(data))
        for ax, (ds, pts) in zip(axes, sorted(data.items()), strict=True):
            from matplotlib import colormaps

            cmap = colormaps["tab10"]
            for i, (label, em, esd, am, asd) in enumerate(pts):
                ax.errorbar(em, am, xerr=esd, yerr=asd, fmt="o", color=cmap(i % 10), capsize=3,
                            markersize=7, label=label)
            front = pareto_front([(p[1], p[3]) for p in pts])
            ax.plot([pts[i][1] for i in front], [pts[i][3] for i in front], "--o", color="0.3",
                    drawstyle="steps-post", linewidth=1.2, markersize=14,
                    markerfacecolor="none", label="Pareto front (ringed)", zorder=0)
            es = [p[1] for p in pts]
            if min(es) > 0 and max(es) / min(es) > 100:
                ax.set_xscale("log")
            ax.set_xlabel(f"energy per inference (µJ), model {m}")
            ax.set_ylabel("accuracy / WAR (%)")
            ax.set_title(f"{ds}")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize="small", loc="best")
        fig.suptitle(f"Accuracy vs energy: {titles.get(m, {}).get('title', m)}")
        written.append(_save(fig, Path(out_dir) / f"accuracy_vs_energy__{m}.png"))
    return written


def plot_energy_ratio_by_model(records: Sequence[dict[str, Any]],
                               path: str | os.PathLike[str]) -> Path | None:
    """SNN / ANN energy ratio per model as grouped bars (log axis, a line at 1), one group per
    (dataset, SNN) row of :func:`energy_ratio_table`, error bars one std over the pairs.

    Returns:
        ``path``, or ``None`` when there is no pair with a ratio.
    """
    records = list(records)
    models = energy_models_in(records)
    rows = {k: v for k, v in _ratio_rows(records, models).items()
            if any(v["ratio"][m] for m in models)}
    models = [m for m in models if any(v["ratio"][m] for v in rows.values())]
    if not rows:
        log.info("figure energy_ratio_by_model skipped: no SNN/ANN pair with an energy ratio")
        return None
    from matplotlib import colormaps

    fig, (ax,) = _new_figure(1, panel_size=(max(6.0, 1.6 * len(rows) * max(1, len(models)) / 2), 4.5))
    width = 0.8 / max(1, len(models))
    cmap = colormaps["tab10"]
    for j, m in enumerate(models):
        xs, ys, es = [], [], []
        for i, row in enumerate(rows.values()):
            if row["ratio"][m]:
                mu, sd = _mean_std(row["ratio"][m])
                xs.append(i + (j - (len(models) - 1) / 2) * width)
                ys.append(mu)
                es.append(0.0 if math.isnan(sd) else sd)
        ax.bar(xs, ys, width=width, yerr=es, capsize=3, color=cmap(j % 10), label=m)
    ax.axhline(1.0, color="0.3", linewidth=1.0, linestyle="--")
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{snn}\n{ds}" for ds, snn in rows], fontsize="small")
    ax.set_ylabel("SNN / ANN energy per inference")
    ax.set_title("SNN / ANN energy ratio by energy model (< 1: SNN cheaper)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def render_energy_figures(records: Sequence[dict[str, Any]],
                          out_dir: str | os.PathLike[str]) -> list[Path]:
    """All energy figures into ``out_dir``: ``accuracy_vs_energy__<model>.png`` per model and
    ``energy_ratio_by_model.png``."""
    records = list(records)
    out = plot_accuracy_vs_energy_by_model(records, out_dir)
    p = plot_energy_ratio_by_model(records, Path(out_dir) / "energy_ratio_by_model.png")
    return out + ([p] if p is not None else [])

