"""The deployment table: model x chip target, from ``RUN_DIR/deployment/results.jsonl``.

One row per deployment record (:mod:`benchmarks.deploy.evaluate`): the fit (fits on k chips,
needs k chips, unknown with the bound the sourced limits give, or why not), accuracy at the
chip's precision with its 95 % percentile-bootstrap interval over the test samples
(:func:`reports.inference.intervals.bootstrap_ci`), its change from the float model with the exact
McNemar test on the same samples (:func:`reports.inference.paired.mcnemar_exact`), the mean per-layer
spike agreement, spikes and synaptic operations per inference at chip precision, the mean time
steps to decision, and energy and latency in NeuroBench's system-track terms (how power was
obtained; availability): only from a target's sourced figures (``energy``/``latency`` sections
of its file), else "no sourced figure".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results.records import RESULTS_FILE, read_records
from reports.inference import bootstrap_ci, mcnemar_exact

DEPLOY_DIR = "deployment"
REPORT_FILE = "deployment.md"


def _fit_text(fit: dict[str, Any]) -> str:
    verdict = fit.get("verdict")
    if verdict == "fits":
        return f"fits ({fit.get('chips') or 1} chip)"
    if verdict == "needs_chips":
        return f"needs {fit.get('chips')} chips"
    if verdict == "unknown":
        bound = fit.get("chips_at_least")
        return f"unknown (>= {bound} chip; {fit.get('reason')})" if bound else \
            f"unknown ({fit.get('reason')})"
    return f"{verdict}: {fit.get('reason')}"


def _energy_text(target: str) -> str:
    from backends.targets.target import get_target

    try:
        tgt = get_target(target)
    except Exception:  # noqa: BLE001 (a target not registered here: nothing to cite)
        return "no sourced figure"
    figs = [(k, v) for k, v in tgt.fields.items() if k.startswith(("energy.", "latency."))]
    if not figs:
        return "no sourced figure"
    return "; ".join(f"{k} {v.value} (estimate from {v.source})" for k, v in figs)


def lava_check_text(dep: dict[str, Any], arch: str) -> str:
    """Whether a row's Loihi 2 evaluation was checked with Lava, from the committed record
    (:func:`backends.targets.lava_check.lava_check_status`): "checked with Lava DATE, lava-nc X,
    lava-dl Y, M mismatches on N samples" for a current entry of the row's architecture, "not
    checked with Lava" without one (and why when the entry is stale or the record unreadable);
    "n/a" for a target of another family."""
    from backends.targets.lava_check import LavaRecordError, lava_check_status

    if dep.get("family") != "loihi2":
        return "n/a"
    try:
        state, entry = lava_check_status(arch)
    except LavaRecordError as exc:
        return f"not checked with Lava (unreadable record: {exc})"
    if state == "missing":
        return "not checked with Lava"
    if state == "stale":
        return (f"not checked with Lava (stale: the check of {entry['date']} compared a Loihi 2 "
                "quantisation changed since)")
    return (f"checked with Lava {entry['date']}, lava-nc {entry['lava-nc']}, lava-dl "
            f"{entry['lava-dl']}, {entry['mismatches']} mismatches on {entry['samples']} samples")


def deployment_rows(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The table's rows (strings), one per deployment record, in record order."""
    rows = []
    for rec in records:
        if rec.get("kind") != "deployment":
            continue
        dep = rec.get("deployment") or {}
        cell = rec.get("cell") or {}
        model = f"{cell.get('arch')} / {cell.get('run_backend') or cell.get('backend')} " \
                f"/ seed {cell.get('seed')}"
        row = {"model": model, "target": str(dep.get("target")),
               "fit": _fit_text(dep.get("fit") or {}), "accuracy": "", "change": "",
               "agreement": "", "spikes": "", "steps": "",
               "energy": f"{_energy_text(str(dep.get('target')))}; availability: "
                         "simulated at chip precision, not run on the chip",
               "lava_check": lava_check_text(dep, str(cell.get("arch")))}
        if rec.get("status") == "ok":
            m, preds = rec["metrics"], rec.get("predictions") or []
            y = np.array([p["label"] for p in preds])
            chip = np.array([p["pred"] for p in preds])
            flt = np.array([p["float"]["pred"] for p in preds])
            ci = bootstrap_ci(chip, y)
            test = mcnemar_exact(chip == y, flt == y)
            agree = m.get("spike_agreement") or {}
            row.update(
                accuracy=f"{m['accuracy']:.3f} [{ci.low:.3f}, {ci.high:.3f}]",
                change=f"{m['accuracy_change']:+.3f} (McNemar p = {test.p:.3g}, n = {test.n})",
                agreement=", ".join(f"{k} {v:.3f}" for k, v in agree.items()),
                spikes=f"{m['spikes_per_inference']:.0f} / {m['synops_per_inference']:.3g}",
                steps=f"{m['decision_steps_mean']:.2f}")
        elif rec.get("status") == "error":
            row["fit"] = f"{row['fit']} (evaluation failed: {rec.get('error')})"
        rows.append(row)
    return rows


HEADER = ("| model | target | fit | accuracy at chip precision [95% CI] | change from float "
          "(paired test) | spike agreement per layer | spikes / SynOps per inference | steps to "
          "decision | energy, latency (power: estimate) | checked with Lava |")


def deployment_markdown(records: list[dict[str, Any]]) -> str:
    """The "Deployment" section (Markdown), or ``""`` without deployment records."""
    rows = deployment_rows(records)
    if not rows:
        return ""
    lines = ["## Deployment", "",
             "Each SNN at each chip target's precision (docs/guides/on-chip.md): simulated in "
             "integers as the chip's toolchain quantises it, not measured on a chip.", "",
             HEADER, "|" + "---|" * 10]
    keys = ("model", "target", "fit", "accuracy", "change", "agreement", "spikes", "steps",
            "energy", "lava_check")
    lines += ["| " + " | ".join(r[k].replace("|", "/") for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def deployment_records(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of ``RUN_DIR/deployment/results.jsonl``; ``[]`` when the run has none."""
    path = Path(run_dir) / DEPLOY_DIR / RESULTS_FILE
    return read_records(path) if path.is_file() else []


def write_deployment_report(run_dir: str | Path) -> Path | None:
    """Write ``RUN_DIR/deployment/deployment.md`` from the deployment records; None without
    any."""
    path = Path(run_dir) / DEPLOY_DIR / RESULTS_FILE
    if not path.is_file():
        return None
    text = deployment_markdown(read_records(path))
    if not text:
        return None
    out = path.parent / REPORT_FILE
    out.write_text(text, encoding="utf-8")
    return out


def deployment_table(records: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The Deployment table as ``(headers, rows)`` of plain strings, read back from
    :func:`deployment_markdown` so that the web page (:mod:`reports.html`) and the LaTeX table
    (:func:`reports.tables.deployment_latex`) show exactly the leaderboard's columns;
    ``([], [])`` without deployment records."""
    lines = [ln for ln in deployment_markdown(records).splitlines()
             if ln.startswith("|") and not set(ln) <= set("|-: ")]
    cells = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
    return (cells[0], cells[1:]) if cells else ([], [])
