"""Robustness report: accuracy under event corruptions, mCA, relative robustness, mCE and SNN-vs-reference drop tests.

Reads the ``"robustness"`` records of ``RUN_DIR/robustness/results.jsonl``
(:mod:`benchmarks.robustness.sweep`); every number is recomputed from their per-sample predictions.
Planned cells of the sweep (``RUN_DIR/robustness/plans``, :mod:`benchmarks.results.plan`) without
a record are listed as missing; no other record stands in for them.

Definitions (one *model* = one trained cell, i.e. one checkpoint; ``acc(m, c, s)`` its accuracy
under corruption ``c`` at severity ``s``):

- mean corruption accuracy ``mCA(m) = mean_{c, s} acc(m, c, s)`` over the corruptions and
  severities evaluated, with a 95 % percentile-bootstrap interval over the test samples (each
  sample's mean correctness over the (c, s) pairs resampled; 2,000 resamples, seed 0);
- relative robustness ``mCA / clean accuracy``;
- corruption error, as ImageNet-C (Hendrycks & Dietterich, ICLR 2019, Sec. 3, normalised by
  AlexNet there): ``CE_c(m) = sum_s err(m, c, s) / sum_s err(ref, c, s)`` and
  ``mCE(m) = 100 mean_c CE_c(m)`` (%), where ``ref`` is the model's reference: its ANN twin (the
  ``ann`` backend's cell of the same dataset, protocol, fold, seed and architecture); a model
  without one has no mCE (the reason is printed);
- drop test, per SNN and corruption: the per-sample change of correctness from clean
  (``+1`` gained, ``0``, ``-1`` lost) of the SNN against its reference's; samples where the two
  changes differ are the discordant pairs, ``b`` those where the SNN fares better; an exact
  two-sided binomial test of ``b ~ Binomial(b + c, 1/2)`` (a sign test; with 0/1 outcomes it is
  McNemar's exact test, :func:`reports.inference.paired.mcnemar_exact`). Made at the stated severity and on
  the mean change over the severities, each family Holm-corrected over the corruptions
  (:func:`reports.inference.paired.holm`). The power printed is that of the same test at alpha = 0.05 for
  the test-set size, the observed discordance rate and a 10-point difference of drops
  (:func:`sign_test_power`).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results.plan import PlanError, planned_cell_ids
from benchmarks.results.records import read_records
from datasets.common import atomic_write_text
from reports.stats import holm

log = logging.getLogger(__name__)

ROBUSTNESS_DIR = "robustness"
REPORT_FILE = "robustness.md"
N_RESAMPLES = 2000
ALPHA = 0.05
POWER_EFFECT = 0.10
"""Difference of drops (fraction of the test set) at which the power of the drop test is given."""


@dataclass
class ModelResult:
    """One model's per-sample correctness, clean and per (corruption, severity)."""

    key: str
    label: str
    backend: str
    group: tuple
    ids: tuple[str, ...]
    clean: np.ndarray
    corrupted: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean.mean())

    def accuracy(self, corruption: str, severity: int) -> float:
        return float(self.corrupted[corruption][severity].mean())

    def pairs(self) -> list[tuple[str, int]]:
        return [(c, s) for c in sorted(self.corrupted) for s in sorted(self.corrupted[c])]


def _label(cell: dict[str, Any]) -> str:
    b = cell.get("backend", "?")
    if cell.get("run_backend") not in (None, b):
        b = f"{b}>{cell['run_backend']}"
    return f"{b}/{cell.get('arch', '?')}"


def load_results(records: list[dict[str, Any]]) -> list[ModelResult]:
    """The ok ``"robustness"`` records as one :class:`ModelResult` per trained cell.

    A model evaluated both on a subset of its test split (``corruption.max_test``, e.g. the
    default grid's small sweep) and on more of it is reported from the records with the most
    test recordings only (the others are superseded; logged).

    Raises:
        ValueError: two records of the same model whose clean predictions disagree or whose
            samples differ (they were not evaluated on the same test split).
    """
    models: dict[str, ModelResult] = {}
    usable = [r for r in records if r.get("kind") == "robustness" and r.get("status") == "ok"
              and r.get("predictions")]
    largest: dict[str, int] = {}
    for r in usable:
        key = str(r["corruption"]["cell_id"])
        largest[key] = max(largest.get(key, 0), len(r["predictions"]))
    kept = [r for r in usable if len(r["predictions"]) == largest[str(r["corruption"]["cell_id"])]]
    if len(kept) < len(usable):
        log.info("robustness report: %d records on a subset of the test split are superseded by "
                 "records of the same models on more test recordings", len(usable) - len(kept))
    for r in kept:
        cor = r["corruption"]
        cell = r.get("cell") or {}
        key = str(cor["cell_id"])
        preds = r["predictions"]
        ids = tuple(str(p["sequence_id"]) for p in preds)
        clean = np.array([p["pred"] == p["label"] for p in preds], dtype=bool)
        if key not in models:
            group = (cell.get("dataset"), cell.get("protocol"), cell.get("fold"), cell.get("seed"),
                     cell.get("arch"), (cell.get("recipe") or {}).get("epochs"))
            models[key] = ModelResult(key, _label(cell), str(cell.get("backend")), group, ids, clean)
        m = models[key]
        if m.ids != ids or not np.array_equal(m.clean, clean):
            raise ValueError(f"robustness records of {key} disagree on the clean test predictions")
        for s in cor["severities"]:
            m.corrupted.setdefault(str(cor["name"]), {})[int(s)] = np.array(
                [p["corrupted"][str(s)]["pred"] == p["label"] for p in preds], dtype=bool)
    return sorted(models.values(), key=lambda m: (m.group[0] or "", m.label))


def reference_of(m: ModelResult, models: list[ModelResult]) -> ModelResult | None:
    """The model's ANN twin (same dataset, protocol, fold, seed, architecture and epochs; backend
    ``ann``), or ``None``. An ANN is its own reference."""
    for r in models:
        if r.backend == "ann" and r.group == m.group:
            return r
    return None


def _mean_correct(m: ModelResult, pairs: list[tuple[str, int]]) -> np.ndarray:
    return np.mean([m.corrupted[c][s] for c, s in pairs], axis=0)


def bootstrap_mean_ci(values: np.ndarray, *, n_resamples: int = N_RESAMPLES, seed: int = 0
                      ) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of ``mean(values)`` (resampling the entries)."""
    v = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, (n_resamples, v.size))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def corruption_error(m: ModelResult, ref: ModelResult, corruption: str) -> float | None:
    """``CE_c = sum_s err(m) / sum_s err(ref)`` over the severities both have (``None`` if the
    reference makes no error there)."""
    levels = sorted(set(m.corrupted.get(corruption, {})) & set(ref.corrupted.get(corruption, {})))
    num = sum(1 - m.accuracy(corruption, s) for s in levels)
    den = sum(1 - ref.accuracy(corruption, s) for s in levels)
    return None if not levels or den == 0 else num / den


def sign_test(change_a: np.ndarray, change_b: np.ndarray) -> tuple[int, int, float]:
    """Exact two-sided sign test of paired per-sample changes: ``(b, c, p)`` with ``b`` the
    samples where A's change exceeds B's, ``c`` the reverse, ``p`` of ``Binomial(b + c, 1/2)``
    (1 when no pair differs)."""
    from scipy.stats import binomtest

    d = np.asarray(change_a, dtype=np.float64) - np.asarray(change_b, dtype=np.float64)
    b, c = int(np.sum(d > 0)), int(np.sum(d < 0))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return b, c, min(1.0, p)


def sign_test_power(n: int, p_discordant: float, effect: float = POWER_EFFECT,
                    alpha: float = ALPHA) -> float:
    """Power of the exact two-sided sign test on ``n`` paired samples, each discordant with
    probability ``p_discordant``, when the expected difference ``(b - c) / n`` is ``effect``
    (so a discordant pair favours A with probability ``1/2 + effect / (2 p_discordant)``, capped
    at 1): ``sum_k P(K = k) P(reject | k)``, ``K ~ Binomial(n, p_discordant)``.

    Returns:
        The power in [0, 1] (0 when ``p_discordant`` is 0).
    """
    from scipy.stats import binom

    if p_discordant <= 0 or n <= 0:
        return 0.0
    theta = min(1.0, 0.5 + effect / (2 * p_discordant))
    power = 0.0
    for k in range(1, n + 1):
        pk = float(binom.pmf(k, n, p_discordant))
        if pk < 1e-12:
            continue
        # rejection region of the two-sided exact test with k discordant pairs (p = 1/2 is
        # symmetric: p-value = min(1, 2 min(P(X <= j), P(X >= j))), as scipy's binomtest)
        j = np.arange(k + 1)
        pv = np.minimum(1.0, 2 * np.minimum(binom.cdf(j, k, 0.5), binom.sf(j - 1, k, 0.5)))
        reject = pv <= alpha
        if reject.any():
            power += pk * float(binom.pmf(j[reject], k, theta).sum())
    return min(1.0, power)


@dataclass
class DropTest:
    """One SNN-vs-reference drop test (see the module docstring)."""

    model: str
    reference: str
    corruption: str
    severity: str
    drop: float
    drop_ref: float
    b: int
    c: int
    p: float
    p_holm: float | None = None
    power: float | None = None


def drop_tests(models: list[ModelResult], test_severity: int = 3) -> list[DropTest]:
    """Every SNN's drop test against its reference, per corruption, at ``test_severity`` (where
    evaluated) and on the mean over severities (``severity = "mean"``); Holm-corrected per
    (model, family) over the corruptions."""
    out: list[DropTest] = []
    for m in models:
        ref = reference_of(m, models)
        if ref is None or ref is m or m.backend == "ann":
            continue
        if ref.ids != m.ids:
            log.warning("%s and its reference %s were tested on different samples: no drop test",
                        m.label, ref.label)
            continue
        for family in (str(test_severity), "mean"):
            tests = []
            for c in sorted(set(m.corrupted) & set(ref.corrupted)):
                levels = sorted(set(m.corrupted[c]) & set(ref.corrupted[c]))
                if family != "mean":
                    if int(family) not in levels:
                        continue
                    levels = [int(family)]
                cm = _mean_correct(m, [(c, s) for s in levels]) - m.clean
                cr = _mean_correct(ref, [(c, s) for s in levels]) - ref.clean
                b, cc, p = sign_test(cm, cr)
                n = len(m.ids)
                tests.append(DropTest(m.label, ref.label, c, family, drop=-float(cm.mean()),
                                      drop_ref=-float(cr.mean()), b=b, c=cc, p=p,
                                      power=sign_test_power(n, (b + cc) / n)))
            for t, a in zip(tests, holm([t.p for t in tests]), strict=True):
                t.p_holm = a
            out.extend(tests)
    return out


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x + 0.0:.1f}"


def summary_rows(models: list[ModelResult]) -> list[dict[str, Any]]:
    """Per model: clean accuracy, mCA with its interval, relative robustness, mCE and its
    reference, sorted by mCA (best first)."""
    rows = []
    for m in models:
        pairs = m.pairs()
        if not pairs:
            continue
        u = _mean_correct(m, pairs)
        lo, hi = bootstrap_mean_ci(u)
        ref = reference_of(m, models)
        mce, why = None, "no ANN twin in the run"
        if ref is not None:
            ces = [corruption_error(m, ref, c) for c in sorted(m.corrupted)]
            ces = [e for e in ces if e is not None]
            mce = 100 * float(np.mean(ces)) if ces else None
            why = ref.label
        rows.append({"model": m.label, "dataset": m.group[0], "clean": m.clean_accuracy,
                     "mca": float(u.mean()), "mca_ci": (lo, hi),
                     "relative": float(u.mean()) / m.clean_accuracy if m.clean_accuracy else None,
                     "mce": mce, "reference": why, "n_test": len(m.ids)})
    return sorted(rows, key=lambda r: -r["mca"])


def _subset_note(records: list[dict[str, Any]], models: list[ModelResult]) -> str:
    """A sentence when some reported model was evaluated on a subset of its test split."""
    n_of = {m.key: len(m.ids) for m in models}
    sizes = sorted({(n_of[k], int(cor["n_test_split"])) for r in records
                    if r.get("kind") == "robustness" and r.get("status") == "ok"
                    for cor in [r.get("corruption") or {}]
                    for k in [str(cor.get("cell_id"))]
                    if k in n_of and isinstance(cor.get("n_test_split"), int)
                    and n_of[k] < cor["n_test_split"]})
    if not sizes:
        return ""
    return (" Evaluated on a subset of each test split, evenly spaced over it ("
            + ", ".join(f"{n} of {m}" for n, m in sizes)
            + " recordings); `run_bench.py robustness RUN_DIR` evaluates all of them.")


def missing_cells(records: list[dict[str, Any]], planned: list[str]) -> list[str]:
    """The planned robustness cell ids (:func:`benchmarks.results.plan.planned_cell_ids`) that
    have no record of any status in ``records``, in plan order."""
    have = {str(r.get("cell_id")) for r in records}
    return [c for c in planned if c not in have]


def _missing_section(missing: list[str]) -> list[str]:
    """Markdown lines naming planned cells without a record (empty for none)."""
    if not missing:
        return []
    return ([f"**Missing: {len(missing)} planned cell(s) have no record** (their worker was "
             "killed or lost; `run_bench.py robustness RUN_DIR` with the same options runs them). "
             "The tables below leave them out: a model's mCA, relative robustness and mCE are over "
             "the corruptions it has records of, and no other record stands in for a missing "
             "cell.", ""]
            + [f"- `{c}`" for c in missing] + [""])


def render_robustness_markdown(records: list[dict[str, Any]], *, test_severity: int = 3,
                               planned: list[str] | None = None) -> str:
    """The robustness section (markdown): the planned cells without a record (``planned``:
    the sweep's planned cell ids, :mod:`benchmarks.results.plan`; ``None``: not compared), the
    ranking by mCA, accuracy per corruption and severity, and the drop tests. Empty string when
    there are neither robustness records nor missing cells."""
    models = load_results(records)
    missing = missing_cells(records, planned or [])
    if not models:
        return "\n".join(["## Robustness to event corruptions", "", *_missing_section(missing)]
                         ) if missing else ""
    lines = ["## Robustness to event corruptions", "", *_missing_section(missing),
             "Test recordings corrupted before binning (datasets/transforms/corruptions.py; "
             "severities 1-5 in physical units). Accuracies in %; mCA = mean corruption "
             "accuracy over the corruptions and severities evaluated, [95 % bootstrap interval "
             "over test samples]; relative = mCA / clean; mCE = 100 x mean over corruptions of "
             "sum_s err / sum_s err(reference) (ImageNet-C), reference = the ANN twin."
             + _subset_note(records, models), "",
             "| model | dataset | clean | mCA [95% CI] | relative | mCE (%) | reference | n test |",
             "|---|---|---:|---|---:|---:|---|---:|"]
    for r in summary_rows(models):
        lo, hi = r["mca_ci"]
        lines.append(f"| {r['model']} | {r['dataset']} | {_pct(r['clean'])} | {_pct(r['mca'])} "
                     f"[{_pct(lo)}, {_pct(hi)}] | {_ratio(r['relative'])} | "
                     f"{_num(r['mce'])} | {r['reference']} | "
                     f"{r['n_test']} |")
    corruptions = sorted({c for m in models for c in m.corrupted})
    levels = sorted({s for m in models for c in m.corrupted for s in m.corrupted[c]})
    lines += ["", "### Accuracy per corruption and severity (%)", "",
              "| corruption | model | clean | " + " | ".join(f"s{s}" for s in levels) + " |",
              "|---|---|---:|" + "---:|" * len(levels)]
    for c in corruptions:
        for m in models:
            if c not in m.corrupted:
                continue
            vals = [_pct(m.accuracy(c, s)) if s in m.corrupted[c] else "-" for s in levels]
            lines.append(f"| {c} | {m.label} | {_pct(m.clean_accuracy)} | " + " | ".join(vals) + " |")
    tests = drop_tests(models, test_severity)
    lines += ["", f"### Does an SNN's drop differ from its ANN twin's? (severity {test_severity}, "
              "and the mean over severities)", ""]
    if not tests:
        lines.append("No SNN with an ANN twin in the robustness records: no test.")
    else:
        lines += ["Exact sign test (McNemar's exact test on the samples whose correctness changes "
                  "differently), two-sided, Holm-corrected over the corruptions per model and "
                  f"severity family; power at alpha {ALPHA} for a {100 * POWER_EFFECT:.0f}-point "
                  "difference of drops at the observed discordance.", "",
                  "| model | reference | corruption | severity | drop | drop ref | b/c | p | p Holm "
                  "| power | verdict |",
                  "|---|---|---|---|---:|---:|---|---:|---:|---:|---|"]
        for t in tests:
            sig = t.p_holm is not None and t.p_holm <= ALPHA
            verdict = ("SNN drops less" if t.b > t.c else "SNN drops more") if sig else "n.s."
            lines.append(f"| {t.model} | {t.reference} | {t.corruption} | {t.severity} | "
                         f"{_pct(t.drop)} | {_pct(t.drop_ref)} | {t.b}/{t.c} | {t.p:.3g} | "
                         f"{t.p_holm:.3g} | {t.power:.2f} | {verdict} |")
    return "\n".join(lines) + "\n"


def robustness_latex(records: list[dict[str, Any]]) -> str:
    """The ranking table as LaTeX (booktabs), empty without robustness records."""
    from reports.tables import latex_escape

    models = load_results(records)
    if not models:
        return ""
    rows = summary_rows(models)
    out = ["\\begin{table}", "\\centering",
           "\\caption{Robustness to event corruptions: clean accuracy, mean corruption accuracy "
           "(mCA, 95\\% bootstrap interval), mCA / clean and mCE (\\%, normalised by the ANN "
           "twin, ImageNet-C style).}", "\\begin{tabular}{llrlrr}", "\\toprule",
           "Model & Dataset & Clean (\\%) & mCA (\\%) & Relative & mCE (\\%) \\\\", "\\midrule"]
    for r in rows:
        lo, hi = r["mca_ci"]
        mce = "--" if r["mce"] is None else f"{r['mce']:.1f}"
        out.append(f"{latex_escape(r['model'])} & {latex_escape(r['dataset'])} & {_pct(r['clean'])} & "
                   f"{_pct(r['mca'])} [{_pct(lo)}, {_pct(hi)}] & {_ratio(r['relative'])} & {mce} \\\\")
    out += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(out)


def plot_accuracy_vs_severity(records: list[dict[str, Any]], path: str | os.PathLike[str]
                              ) -> Path | None:
    """Accuracy (%) against severity (0 = clean), one panel per corruption, one line per model."""
    from reports.figures import _colors, _new_figure, _save

    models = load_results(records)
    corruptions = sorted({c for m in models for c in m.corrupted})
    if not corruptions:
        return None
    fig, axes = _new_figure(len(corruptions), panel_size=(4.0, 3.2),
                            ncols=min(4, len(corruptions)))
    colors = _colors(len(models))
    for ax, c in zip(axes, corruptions, strict=True):
        for m, col in zip(models, colors, strict=True):
            if c not in m.corrupted:
                continue
            levels = sorted(m.corrupted[c])
            ax.plot([0, *levels], [100 * m.clean_accuracy, *(100 * m.accuracy(c, s) for s in levels)],
                    marker="o", color=col, label=m.label)
        ax.set_title(c)
        ax.set_xlabel("severity (0 = clean)")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
    axes[0].legend(fontsize="small")
    return _save(fig, path)


EARLY_FILE = "early_decision.json"
"""``RUN_DIR/robustness/early_decision.json``: :func:`benchmarks.robustness.early.run_early_decision`'s
list, one entry per checkpoint."""


def read_early(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The early-decision results of a run (``[]`` when there are none)."""
    import json

    path = Path(run_dir) / ROBUSTNESS_DIR / EARLY_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def render_early_markdown(early: list[dict[str, Any]]) -> str:
    """The early-decision section: accuracy against observed time, oracle and causal
    time-to-decision, energy to the decision (empty without results)."""
    if not early:
        return ""
    ok = [e for e in early if "skipped" not in e]
    lines = ["## Early decision (prefixes in time)", "",
             "Fixed-duration bins from each test recording's first event; prefix k keeps the "
             "first k bins, later bins zeroed (benchmarks/robustness/early.py). Oracle: shortest "
             "prefix after which the prediction no longer changes (an upper bound); causal: first "
             "prefix whose softmax confidence reaches tau. Energy: the default energy model's "
             "uJ per inference of the deciding prefix run (an upper bound for SNNs); every "
             "energy model's figures are in early_decision.json." + _early_n_note(ok), ""]
    if ok:
        times = ok[0]["time_ms"]
        lines += ["| model | " + " | ".join(f"{t:g} ms" for t in times)
                  + " | oracle median ms [95% CI] | energy to oracle decision (uJ) |",
                  "|---|" + "---:|" * len(times) + "---|---:|"]
        for e in ok:
            lo, hi = e["oracle"]["ci_ms"]
            en = e["oracle_energy_uj"].get(_default_energy(e))
            lines.append(f"| {e['model']} | " + " | ".join(_pct(a) for a in e["accuracy"])
                         + f" | {e['oracle']['median_ms']:g} [{lo:g}, {hi:g}] | "
                         + ("-" if en is None else f"{en:.4g}") + " |")
        lines += ["", "Causal accuracy-latency curve (accuracy % / median decision ms / energy uJ):",
                  "", "| model | " + " | ".join(f"tau {c['tau']:g}" for c in ok[0]["causal"]) + " |",
                  "|---|" + "---|" * len(ok[0]["causal"])]
        for e in ok:
            m = _default_energy(e)
            cells = [f"{_pct(c['accuracy'])} / {c['median_ms']:g} / "
                     + ("-" if c["energy_uj"].get(m) is None else f"{c['energy_uj'][m]:.3g}")
                     for c in e["causal"]]
            lines.append(f"| {e['model']} | " + " | ".join(cells) + " |")
    for e in early:
        if "skipped" in e:
            lines.append(f"\n- {e['model']}: skipped: {e['skipped']}")
    return "\n".join(lines) + "\n"


def _early_n_note(ok: list[dict[str, Any]]) -> str:
    """How many test recordings the early-decision results used (and whether a subset)."""
    sizes = sorted({(int(e["n_test"]), int(e.get("n_test_split") or e["n_test"])) for e in ok
                    if e.get("n_test") is not None})
    if not sizes:
        return ""
    if all(n == m for n, m in sizes):
        return f" Test recordings per model: {', '.join(str(n) for n, _ in sizes)}."
    return (" Test recordings per model: " + ", ".join(f"{n} of {m}" for n, m in sizes)
            + " (an evenly spaced subset of the test split; `run_bench.py robustness RUN_DIR` "
            "evaluates all of them).")


def _default_energy(e: dict[str, Any]) -> str | None:
    """The suite's default energy model where the result has it, else the first by name."""
    from benchmarks.measure.energy import DEFAULT_ENERGY_MODEL

    models = sorted(e.get("energy_uj_by_prefix") or {})
    return DEFAULT_ENERGY_MODEL if DEFAULT_ENERGY_MODEL in models else (models[0] if models else None)


def plot_accuracy_vs_time(early: list[dict[str, Any]], path: str | os.PathLike[str]) -> Path | None:
    """Accuracy (%) against observed time (ms), one line per model, with the 95 % intervals."""
    from reports.figures import _colors, _new_figure, _save

    ok = [e for e in early if "skipped" not in e]
    if not ok:
        return None
    fig, (ax,) = _new_figure(1)
    for e, col in zip(ok, _colors(len(ok)), strict=True):
        ci = np.asarray(e["accuracy_ci"]) * 100
        ax.plot(e["time_ms"], np.asarray(e["accuracy"]) * 100, marker="o", color=col, label=e["model"])
        ax.fill_between(e["time_ms"], ci[:, 0], ci[:, 1], color=col, alpha=0.15)
    ax.set_xlabel("observed time (ms)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize="small")
    return _save(fig, path)


def robustness_records(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``RUN_DIR/robustness/results.jsonl`` (``[]`` when there is none)."""
    path = Path(run_dir) / ROBUSTNESS_DIR / "results.jsonl"
    return read_records(path) if path.is_file() else []


def write_robustness_reports(run_dir: str | os.PathLike[str], *, test_severity: int = 3
                             ) -> list[Path]:
    """Write ``RUN_DIR/robustness/robustness.md``, ``robustness.tex`` and
    ``accuracy_vs_severity.png``, and with early-decision results their section (in the same
    markdown) and ``accuracy_vs_time.png``; return their paths (``[]`` without either). Planned
    cells of ``RUN_DIR/robustness/plans`` without a record are listed as missing."""
    records = robustness_records(run_dir)
    early = read_early(run_dir)
    try:
        planned = planned_cell_ids(Path(run_dir) / ROBUSTNESS_DIR)
    except PlanError as exc:
        log.warning("robustness report: %s; planned cells not compared", exc)
        planned = []
    md = render_robustness_markdown(records, test_severity=test_severity, planned=planned)
    md_early = render_early_markdown(early)
    if not md and not md_early:
        return []
    out = Path(run_dir) / ROBUSTNESS_DIR
    paths = [atomic_write_text(out / REPORT_FILE, "\n".join(x for x in (md, md_early) if x))]
    if md and load_results(records):
        paths.append(atomic_write_text(out / "robustness.tex", robustness_latex(records)))
    for fig in (plot_accuracy_vs_severity(records, out / "accuracy_vs_severity.png"),
                plot_accuracy_vs_time(early, out / "accuracy_vs_time.png")):
        if fig is not None:
            paths.append(fig)
    return paths
