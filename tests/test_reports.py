"""reports: tables and figures rendered from a hand-written results.jsonl.

The records below are written by hand with chosen numbers; the expected strings are worked out in
the comments (mean and sample std, ddof = 1, over 2 folds x 2 seeds).
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks.results.records import read_records as load_records
from reports import write_reports
from reports.figures import (
    pareto_front,
    plot_accuracy_vs_steps,
    plot_latency,
)
from reports.leaderboard import (
    failed_cells_table,
    leaderboard_table,
    lighting_table,
    render_markdown,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASSES = ["happy", "fear", "neutral"]


def _prov(minute: int) -> dict:
    return {"git_commit": "0123456789abcdef0123", "git_dirty": False,
            "utc_time": f"2025-01-01T10:{minute:02d}:00Z", "python": "3.11.7", "torch": "2.13.0",
            "backend_versions": {"snntorch": "0.9.1"}, "cpu": "Test CPU", "threads": 2,
            "gpu": None}


def _trained(backend: str, arch: str, fold: int, seed: int, metrics: dict, minute: int) -> dict:
    recipe = {"epochs": 10, "batch_size": 16, "lr": 0.1, "optimizer": "sgd"}
    return {
        "schema_version": 1, "status": "ok", "error": None, "kind": "trained", "method": None,
        "cell_id": f"synthetic-fer-dvs/folds/f{fold}/{backend}/{arch}/s{seed}/abc123/cpu",
        "cell": {"dataset": "synthetic-fer-dvs", "protocol": "folds", "fold": fold,
                 "backend": backend, "arch": arch, "seed": seed, "device": "cpu",
                 "recipe": recipe},
        "classes": CLASSES,
        "metrics": metrics,
        "provenance": _prov(minute),
    }


# snntorch / tiny, 2 folds x 2 seeds:        WAR    UAR   energy  p50  p95  spikes  synops
SNN_CELLS = [  # (fold, seed)
    ((0, 0), 0.60, 0.55, 1.0, 2.0, 3.0, 1000.0, 10000.0, {"normal": 0.8, "hdr": 0.4}),
    ((0, 1), 0.70, 0.65, 1.2, 3.0, 4.0, 1100.0, 12000.0, {"normal": 0.9, "hdr": 0.5}),
    ((1, 0), 0.80, 0.75, 1.4, 4.0, 5.0, 1200.0, 14000.0, {"normal": 0.7, "hdr": 0.6}),
    ((1, 1), 0.50, 0.45, 1.6, 5.0, 6.0, 1300.0, 16000.0, {"normal": 0.6}),  # no hdr samples
]
# Worked out by hand (sample std, ddof = 1):
#   WAR  60, 70, 80, 50 %  -> mean 65.0, deviations -5, 5, 15, -15 -> std sqrt(500/3) = 12.91
#   UAR  55, 65, 75, 45 %  -> mean 60.0, same deviations          -> std 12.91
#   energy 1.0..1.6 µJ     -> mean 1.30, std sqrt(0.2/3) = 0.258  -> "1.30 ± 0.26"
#   latency p50 2..5 ms    -> mean 3.50, std sqrt(5/3) = 1.291    -> "3.50 ± 1.29"
#   spikes 1000..1300      -> mean 1150, std sqrt(50000/3) = 129.1 -> "1,150 ± 129"
#   synops 10000..16000    -> mean 13000, std 2582.0               -> "13,000 ± 2,582"
#   lighting normal 80, 90, 70, 60 % -> 75.0 ± 12.9; hdr 40, 50, 60 % (3 cells) -> 50.0 ± 10.0
EXPECTED_SNN = ["65.0 ± 12.9", "60.0 ± 12.9", "1.30 ± 0.26", "3.50 ± 1.29", "1,150 ± 129", "—",
                "13,000 ± 2,582", "1,000"]  # spikes, then no activations/sample: it spikes


# the ann cell's 20 test samples: 11 correct (WAR 0.55)
ANN_TARGET = [0] * 7 + [1] * 7 + [2] * 6
ANN_PREDS = [0] * 5 + [1, 2] + [1] * 3 + [0] * 4 + [2] * 3 + [0] * 3


def _predictions(target: list[int], preds: list[int]) -> list[dict]:
    return [{"sequence_id": f"s{i // 10}/{i:03d}", "label": t, "pred": p,
             "logits": [1.0 if k == p else 0.0 for k in range(3)]}
            for i, (t, p) in enumerate(zip(target, preds, strict=True))]


def _snn_metrics(war, uar, energy, p50, p95, spikes, synops, lighting) -> dict:
    return {
        "accuracy": war, "war": war, "uar": uar,
        "per_class_recall": {"happy": 0.9, "fear": 0.5, "neutral": 0.4},
        "per_lighting_accuracy": lighting,
        "per_lighting_uar": {k: v - 0.05 for k, v in lighting.items()},
        "confusion_matrix": [[9, 1, 0], [3, 5, 2], [2, 4, 4]],
        "accuracy_per_step": [war - 0.2, war - 0.1, war],
        "latency_ms_p50": p50, "latency_ms_p95": p95,
        "throughput_samples_per_s": 900.0, "throughput_batch_size": 32,
        "spikes_per_sample": spikes, "spikes_per_sample_per_layer": {"conv1": spikes},
        "firing_rate": 0.08, "effective_acs_per_sample": synops, "effective_macs_per_sample": 0.0,
        "dense_ops_per_sample": 4 * synops, "synops_per_sample": synops,
        "energy_uj_per_inference": energy, "energy_model": "horowitz-isscc2014-45nm",
        "params": 1000, "footprint_bytes": 4000, "train_time_s": 40.2, "best_epoch": 7,
        "val_accuracy": 0.6, "n_train": 150, "n_val": 20, "n_test": 50,
    }


def _records() -> list[dict]:
    recs = []
    for i, ((fold, seed), *vals) in enumerate(SNN_CELLS):
        recs.append(_trained("snntorch", "tiny", fold, seed, _snn_metrics(*vals), minute=i))
    # ann / tiny: one cell, no accuracy_per_step, no lighting; more energy (MACs); its
    # "spikes_per_sample" (a record without membrane_updates_source) holds non-zero activations
    ann = _trained("ann", "tiny", 0, 0, {
        "accuracy": 0.55, "war": 0.55, "uar": 0.5, "accuracy_per_step": None,
        "confusion_matrix": [[8, 2, 0], [4, 4, 2], [3, 3, 4]],
        "latency_ms_p50": 1.0, "latency_ms_p95": 1.5, "energy_uj_per_inference": 5.0,
        "spikes_per_sample": 247317.0, "synops_per_sample": 1.0e6, "params": 1000,
    }, minute=10)
    ann["predictions"] = _predictions(ANN_TARGET, ANN_PREDS)
    recs.append(ann)
    # a failed cell: listed, never averaged
    failed = _trained("snntorch", "tiny", 2, 0, {}, minute=20)
    failed.update(status="error", error="RuntimeError: out of | memory\nTraceback ...",
                  metrics={})
    recs.append(failed)
    # a published row: released predictions, no latency / energy
    recs.append({
        "schema_version": 1, "status": "ok", "error": None, "kind": "published",
        "method": "SEEN (released predictions)",
        "cell_id": "see/fixed/f0/published/seen/s0/none/cpu",
        "cell": {"dataset": "see", "protocol": "fixed", "fold": 0, "backend": "published",
                 "arch": "seen", "seed": 0, "device": "cpu", "recipe": {}},
        "classes": CLASSES,
        "metrics": {"accuracy": 0.836, "war": 0.836, "war_std": 0.0099, "uar": 0.8,
                    "per_lighting_accuracy": {"normal": 0.9, "low_light": 0.7}},
        "provenance": {},
    })
    return recs


def _write_results(run_dir: Path, records: list[dict]) -> Path:
    path = run_dir / "results.jsonl"
    lines = [json.dumps(r) for r in records]
    lines.append('{"schema_version": 1, "status": "ok", "cell_id": "trunc')  # killed mid-write
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    _write_results(tmp_path, _records())
    return tmp_path


def _row(table: str, name: str) -> str:
    (line,) = [ln for ln in table.splitlines() if ln.startswith(f"| {name} ")]
    return line


# ------------------------------------------------------------------ loading


def test_load_records_skips_corrupt_last_line_with_warning(run_dir: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="benchmarks.results.records"):
        records = load_records(run_dir / "results.jsonl")
    assert len(records) == 7
    assert any("results.jsonl:8" in m and "not valid JSON" in m for m in caplog.messages)
    assert load_records(run_dir) == records  # a run folder works too
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_records(run_dir / "nope.jsonl")


# ------------------------------------------------------------------ tables


def _section(table: str, heading: str) -> str:
    """The text of one ``### heading`` section of the leaderboard."""
    parts = table.split("### ")
    (sec,) = [p for p in parts if p.startswith(heading + "\n")]
    return sec


def test_leaderboard_mean_std_worked_out_by_hand(run_dir: Path) -> None:
    from reports.stats import bootstrap_ci

    table = leaderboard_table(load_records(run_dir))
    # compact: the dataset column is a section heading, never repeated in a column header
    # headings name the task and version (the hand-made predictions match no pinned version)
    assert table.startswith("### see/fixed/default/classification v1\n")
    synth = _section(table, "synthetic-fer-dvs/folds/default/classification (unknown version)")
    header = [ln for ln in synth.splitlines() if ln.startswith("| model")][0]
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols == ["model", "source", "n", "seeds x folds", "WAR (%)", "WAR 95% CI (%)", "UAR (%)",
                    "UAR 95% CI (%)", "energy (µJ/inf)", "latency p50 (ms)", "spikes/sample",
                    "activations/sample", "SynOps/sample", "params"]
    assert "synthetic-fer-dvs" not in header and not re.search(r"\bsee\b", header)
    snn = [c.strip() for c in _row(table, "snntorch / tiny").strip("|").split("|")]
    assert snn[:3] == ["snntorch / tiny", "trained", "4"]  # the error record is not counted
    assert snn[3] == "2 x 2"  # 2 seeds x 2 folds (SNN_CELLS)
    snn = snn[:3] + snn[4:]
    # 95% CI over 4 cells: 65.0 +- t(0.975, 3) * 12.910 / 2 = 65.0 +- 3.1824 * 6.455 = +-20.54
    assert snn[3:7] == ["65.0 ± 12.9", "[44.5, 85.5]", "60.0 ± 12.9", "[39.5, 80.5]"]
    assert snn[7:] == EXPECTED_SNN[2:]
    ann = [c.strip() for c in _row(table, "ann / tiny").strip("|").split("|")]
    # one cell with predictions: the percentile bootstrap over its 20 test samples
    assert ann[3] == "1 x 1, single seed"
    ann = ann[:3] + ann[4:]
    assert ann[2:4] == ["1", "55.0"]
    assert ann[4] == bootstrap_ci(ANN_PREDS, ANN_TARGET).format(scale=100.0)
    assert ann[5:] == ["50.0", bootstrap_ci(ANN_PREDS, ANN_TARGET, "uar").format(scale=100.0),
                       "5.00", "1.00", "—", "247,317", "1,000,000", "1,000"]
    seen = [c.strip() for c in _row(table, "SEEN (released predictions)").strip("|").split("|")]
    # one record: WAR's std is the one over inference passes (0.0099 -> 0.99 points, 1 decimal);
    # no per-sample predictions: no interval
    assert seen[3] == "—"  # a published row: its cells are not the suite's
    seen = seen[:3] + seen[4:]
    assert seen[1:4] == ["published", "1", "83.6 ± 1.0"] and seen[4] == "—"
    assert seen[5:7] == ["80.0", "—"]
    assert seen[7:] == ["—"] * 6  # no energy, latency, spikes, activations, synops, params
    # row order within a section: trained rows sorted by (backend, arch), then published
    order = [ln.split("|")[1].strip() for ln in synth.splitlines() if ln.startswith("| ")][1:]
    assert order == ["ann / tiny", "snntorch / tiny"]


def test_spikes_column_only_for_spiking_models() -> None:
    """A non-spiking model's "spikes_per_sample" (non-zero activations) is read as
    activations/sample: by its membrane_updates_source, or by its backend in older records."""
    from reports.leaderboard import is_spiking_record, metric_value

    ann_old = _trained("ann", "tiny", 0, 0, {"spikes_per_sample": 247317.0}, minute=0)
    ann_new = _trained("my-torch", "net", 0, 0, {"spikes_per_sample": 12.0,
                                                 "membrane_updates_source": "none (ANN)"}, 0)
    snn = _trained("sinabs", "tiny", 0, 0, {"spikes_per_sample": 800.0,
                                            "membrane_updates_source": "not observed"}, 0)
    assert [is_spiking_record(r) for r in (ann_old, ann_new, snn)] == [False, False, True]
    assert [metric_value(r, "spikes_per_sample") for r in (ann_old, ann_new, snn)] == [
        None, None, 800.0]
    assert [metric_value(r, "activations_per_sample") for r in (ann_old, ann_new, snn)] == [
        247317.0, 12.0, None]


def test_lighting_and_failed_tables(run_dir: Path) -> None:
    records = load_records(run_dir)
    light = lighting_table(records)
    assert "**synthetic-fer-dvs/folds/default/classification (unknown version)**" in light and "**see/fixed/default/classification v1**" in light
    snn = _row(light, "snntorch / tiny")
    assert "75.0 ± 12.9" in snn  # normal WAR
    assert "70.0 ± 12.9" in snn  # normal UAR = WAR - 5 points
    assert "50.0 ± 10.0 (n=3)" in snn  # hdr WAR: 3 of 4 cells have it
    assert "ann / tiny" not in light  # no per-lighting metrics
    failed = failed_cells_table(records)
    assert "synthetic-fer-dvs/folds/f2/snntorch/tiny/s0/abc123/cpu" in failed
    assert "RuntimeError: out of \\| memory Traceback ..." in failed  # one line, pipe escaped
    assert "2025-01-01T10:20:00Z" in failed


def test_render_markdown_sections_provenance_and_determinism(run_dir: Path) -> None:
    records = load_records(run_dir)
    md = render_markdown(records)
    for section in ("## Leaderboard", "## Per-lighting accuracy", "## Failed cells",
                    "## Provenance"):
        assert section in md
    assert "`0123456789ab` (6 records)" in md  # 5 ok trained + 1 error; published has none
    for section in ("## Pairwise comparisons (WAR)", "## Ranking across datasets"):
        assert section in md
    assert "cpu: Test CPU; threads: 2; gpu: none (6 records)" in md
    assert "snntorch 0.9.1" in md
    assert "time range (UTC): 2025-01-01T10:00:00Z to 2025-01-01T10:20:00Z" in md
    shuffled = records[:]
    random.Random(0).shuffle(shuffled)
    assert render_markdown(shuffled) == md  # order of the records does not matter


def _core(paths) -> list[str]:
    """The leaderboard and the core figures (the paper tables under tables/ and the per-energy-
    model figures of reports.energy are tested in their own modules)."""
    return [p.name for p in paths if p.suffix in (".md", ".png") and p.parent.name != "tables"
            and "__" not in p.name and not p.name.startswith("energy_ratio")]


def test_write_reports_writes_markdown_and_valid_pngs(run_dir: Path, monkeypatch) -> None:
    import reports.figures as F

    drawn = {}
    real_save = F._save
    monkeypatch.setattr(F, "_save", lambda fig, path: (drawn.__setitem__(Path(path).name, fig),
                                                      real_save(fig, path))[1])
    paths = write_reports(run_dir)
    names = _core(paths)
    assert names == ["leaderboard.md", "accuracy_vs_energy.png", "lighting_accuracy.png",
                     "confusion_matrices.png", "latency.png", "accuracy_vs_steps.png"]
    first = (run_dir / "leaderboard.md").read_bytes()
    assert "65.0 ± 12.9".encode() in first
    for p in (p for p in paths if p.suffix == ".png"):
        data = p.read_bytes()
        assert data[:8] == PNG_MAGIC, p
        assert len(data) > 10_000, p  # a drawn figure, not an empty canvas
    # what the figures show, against the fixture's values worked out by hand (SNN_CELLS):
    # latency: snntorch p50 mean (2+3+4+5)/4 = 3.5 ms, p95 mean 4.5 (whisker +1.0); ann 1.0, 1.5
    (ax,) = drawn["latency.png"].axes
    from matplotlib.container import BarContainer, ErrorbarContainer

    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert sorted(b.get_height() for b in bars.patches) == pytest.approx([1.0, 3.5])
    (whiskers,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    tops = sorted(float(seg[1][1] - seg[0][1]) for seg in whiskers.lines[2][0].get_segments())
    assert tops == pytest.approx([0.5, 1.0])
    # accuracy vs steps: snntorch only (ann has none): WAR - 20, - 10, + 0 points, mean WAR 65 %
    (ax,) = drawn["accuracy_vs_steps.png"].axes
    (line,) = [ln for ln in ax.lines if ln.get_label() == "snntorch / tiny"]
    assert line.get_xdata().tolist() == [1, 2, 3]
    assert line.get_ydata().tolist() == pytest.approx([45.0, 55.0, 65.0])
    # confusion matrices in % of the true class: the rows of the counts, each summing to 10
    mats = {ax.get_title().split("\n")[0]: np.asarray(ax.images[0].get_array()).ravel().tolist()
            for ax in drawn["confusion_matrices.png"].axes if ax.images}
    assert mats["snntorch / tiny"] == pytest.approx([90, 10, 0, 30, 50, 20, 20, 40, 40])
    assert mats["ann / tiny"] == pytest.approx([80, 20, 0, 40, 40, 20, 30, 30, 40])
    assert write_reports(run_dir)[0].read_bytes() == first  # same records -> same bytes


def test_figures_are_skipped_with_a_reason_when_data_is_missing(tmp_path: Path, caplog) -> None:
    published = [r for r in _records() if r["kind"] == "published"]
    with caplog.at_level(logging.INFO, logger="reports.figures"):
        assert plot_latency(published, tmp_path / "latency.png") is None
        assert plot_accuracy_vs_steps(published, tmp_path / "steps.png") is None
    assert any("latency skipped: no record has latency_ms_p50" in m for m in caplog.messages)
    assert not (tmp_path / "latency.png").exists()
    _write_results(tmp_path, published)
    assert _core(write_reports(tmp_path)) == ["leaderboard.md", "lighting_accuracy.png"]


def test_malformed_records_do_not_crash_the_reports(tmp_path: Path, caplog) -> None:
    cell = {"dataset": "d", "protocol": "folds", "fold": 0}  # no backend, no arch
    odd = [
        {"schema_version": 1, "status": "ok", "cell_id": "x", "metrics": "not a dict", "cell": {}},
        {"schema_version": 1, "status": "ok", "cell_id": "y", "cell": cell,
         "metrics": {"war": "high", "latency_ms_p50": float("nan"), "confusion_matrix": [1, 2]}},
        {"schema_version": 2, "status": "ok", "cell_id": "z"},  # no cell: breaks the schema
        [1, 2, 3],  # skipped: not an object
    ]
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in odd) + "\n")
    with caplog.at_level(logging.WARNING, logger="benchmarks.results.records"):
        records = load_records(tmp_path)
    # the schema-valid record with odd metric values is kept; each broken one is named by line
    assert [r["cell_id"] for r in records] == ["y"]
    assert any("results.jsonl:1" in m and "'metrics'" in m for m in caplog.messages)
    assert any("results.jsonl:3" in m and "['cell']" in m for m in caplog.messages)
    assert any("results.jsonl:4" in m and "not a JSON object" in m for m in caplog.messages)
    assert _core(write_reports(tmp_path)) == ["leaderboard.md"]
    assert "| ? / ? " in (tmp_path / "leaderboard.md").read_text(encoding="utf-8")


def test_newer_schema_version_is_refused_not_dropped(tmp_path: Path) -> None:
    # a record of a newer schema must stop the report loudly, not silently empty the leaderboard
    from benchmarks.results.records import SCHEMA_VERSION, RecordSchemaError

    rec = {"schema_version": SCHEMA_VERSION + 1, "status": "ok", "cell_id": "future",
           "cell": {}, "metrics": {"war": 0.5}}
    (tmp_path / "results.jsonl").write_text(json.dumps(rec) + "\n")
    with pytest.raises(RecordSchemaError, match=r"results.jsonl:1: .*newer than this code"):
        load_records(tmp_path)
    with pytest.raises(RecordSchemaError):
        write_reports(tmp_path)


# ------------------------------------------------------------------ Pareto front


def test_pareto_front_by_hand() -> None:
    points = [
        (1.0, 0.5),  # 0: front
        (2.0, 0.4),  # 1: dominated by 0 (less energy, more accuracy)
        (3.0, 0.9),  # 2: front
        (0.5, 0.2),  # 3: front (least energy)
        (3.0, 0.9),  # 4: duplicate of 2: neither dominates the other -> front
        (4.0, 0.9),  # 5: dominated by 2 (same accuracy, more energy)
        (1.0, 0.3),  # 6: dominated by 0 (same energy, less accuracy)
    ]
    assert pareto_front(points) == [3, 0, 2, 4]
    assert pareto_front([]) == []
    assert pareto_front([(2.0, 0.1)]) == [0]
    with pytest.raises(ValueError, match=r"points\[1\]: expected finite numbers"):
        pareto_front([(1.0, 0.5), (float("nan"), 0.4)])


# ------------------------------------------------------------------ comparisons and ranking


def _cell_rec(dataset: str, backend: str, fold: int, war: float, *, seed: int = 0,
              preds: list[dict] | None = None, energy: float = 1.0) -> dict:
    return {
        "schema_version": 2, "status": "ok", "kind": "trained",
        "cell_id": f"{dataset}/folds/f{fold}/{backend}/tiny/s{seed}/abc123/cpu",
        "cell": {"dataset": dataset, "protocol": "folds", "fold": fold, "backend": backend,
                 "arch": "tiny", "seed": seed, "device": "cpu",
                 "recipe": {"selection": "val"}},
        "classes": CLASSES,
        "metrics": {"accuracy": war, "war": war, "uar": war, "energy_uj_per_inference": energy,
                    "energy_model": "horowitz-isscc2014-45nm", "energy_ac_pj": 0.9,
                    "energy_mac_pj": 4.6, "latency_ms_p50": 2.0, "params": 1000,
                    "throughput_samples_per_s": 100.0, "synops_per_sample": 10.0,
                    "selection": "val"},
        "provenance": {"suite_version": "0.1.0"},
        "predictions": preds,
    }


def test_pairwise_table_marks_a_significant_wilcoxon_and_a_mcnemar() -> None:
    from scipy.stats import binomtest, ttest_rel

    from reports.leaderboard import comparisons, comparisons_table

    # six folds: A beats B on every one (differences 10..15 points, all distinct): exact
    # two-sided Wilcoxon p = 2 / 2**6 = 0.03125; with one pair Holm leaves it unchanged
    recs = [_cell_rec("d", "aaa", f, 0.70 + f / 100) for f in range(6)]
    recs += [_cell_rec("d", "bbb", f, 0.60 - f / 200) for f in range(6)]
    (c,) = comparisons(recs)["d (folds)"]
    assert c.test == "Wilcoxon signed-rank (exact)" and c.n == 6
    assert c.p == pytest.approx(2 / 64) and c.p_holm == pytest.approx(2 / 64)
    assert c.effect == ("rank-biserial r", 1.0) and c.significant()
    table = comparisons_table(recs)
    row = _row(table, "aaa / tiny − bbb / tiny")
    assert "Wilcoxon signed-rank (exact)" in row and "0.031" in row and "**yes**" in row
    assert "rank-biserial r = 1.00" in row
    tp = ttest_rel([0.70 + f / 100 for f in range(6)], [0.60 - f / 200 for f in range(6)]).pvalue
    assert c.t_p == pytest.approx(tp)
    assert ("< 0.001" if tp < 0.001 else f"{tp:.3f}") in row  # the paired t-test alongside
    assert "significant at 0.05 after Holm's correction: aaa / tiny − bbb / tiny" in table
    # the leaderboard itself says which differences are significant, and by which test
    assert ("Significant WAR differences at 0.05 (Holm-corrected over 1 tested pair(s)): "
            "aaa / tiny > bbb / tiny (Wilcoxon signed-rank (exact), Holm p = 0.031).") \
        in leaderboard_table(recs)

    # one cell each, same 20 test samples: exact McNemar on b = 6, c = 0 (p = 2 / 64), and a
    # third row equal to B; Holm over the 3 pairs multiplies the smallest p by 3
    tgt = [0] * 20
    pa = _predictions(tgt, [0] * 18 + [1] * 2)  # 18 right
    pb = _predictions(tgt, [1] * 6 + [0] * 12 + [1] * 2)  # 12 right, wrong where A is right
    recs = [_cell_rec("e", "aaa", 0, 0.9, preds=pa), _cell_rec("e", "bbb", 0, 0.6, preds=pb),
            _cell_rec("e", "ccc", 0, 0.6, preds=pb)]
    ab, ac, bc = comparisons(recs)["e (folds)"]
    assert ab.test == "McNemar exact" and ab.n_samples == 20
    assert ab.p == pytest.approx(binomtest(6, 6, 0.5).pvalue) == pytest.approx(2 / 64)
    assert ab.p_holm == pytest.approx(3 * 2 / 64)  # smallest of 3: times 3 (ab and ac tie)
    assert bc.p == 1.0 and bc.p_holm == 1.0
    assert ab.diff == pytest.approx(6 / 20)
    assert not ab.significant()  # 0.094 after Holm
    # two rows without a common cell: no test, with the reason under the table
    lone = comparisons_table([_cell_rec("f", "aaa", 0, 0.5), _cell_rec("f", "bbb", 1, 0.6)])
    assert "no test for aaa / tiny − bbb / tiny: no common cells" in lone


def test_ranking_over_datasets_with_friedman_and_cd_diagram(tmp_path: Path) -> None:
    from scipy.stats import friedmanchisquare

    from reports.figures import plot_critical_difference
    from reports.leaderboard import ranking, ranking_table

    wars = {"aaa": [0.9, 0.8, 0.7, 0.9], "bbb": [0.8, 0.7, 0.8, 0.6], "ccc": [0.5, 0.6, 0.6, 0.5]}
    recs = [_cell_rec(f"d{i}", b, 0, w) for b, ws in wars.items() for i, w in enumerate(ws)]
    rk = ranking(recs)
    # ranks per dataset: d0 (1, 2, 3), d1 (1, 2, 3), d2 (2, 1, 3), d3 (1, 2, 3)
    assert rk.models == ("aaa / tiny", "bbb / tiny", "ccc / tiny")
    assert rk.avg_ranks == pytest.approx((1.25, 1.75, 3.0))
    ref = friedmanchisquare(*[wars[b] for b in wars])
    assert rk.friedman.chi2 == pytest.approx(ref.statistic)
    assert rk.cd == pytest.approx(2.343 * math.sqrt(3 * 4 / (6 * 4)))  # q_0.05(3) = 2.343
    # CD = 1.657: aaa-bbb (0.5) and bbb-ccc (1.25) not significant, aaa-ccc (1.75) is
    assert rk.cliques == ((0, 1), (1, 2))
    text = ranking_table(recs)
    assert "| aaa / tiny | 1.25" in text and "CD = 1.66" in text and "Friedman test" in text
    path = plot_critical_difference(recs, tmp_path / "cd.png")
    assert path is not None and path.read_bytes()[:8] == PNG_MAGIC
    assert ranking([_cell_rec("d0", "aaa", 0, 0.5)]) is None


def test_energy_figure_draws_overlapping_points_side_by_side() -> None:
    from reports.figures import DODGE_RADIUS_PX, _energy_panel, _new_figure, dodge_offsets

    # by hand: two points 3 px apart and one far away -> the pair 12 px apart, centred
    assert dodge_offsets([(50.0, 50.0), (53.0, 50.0), (300.0, 10.0)], radius=10.0) == [
        -6.0, 6.0, 0.0]
    # a chain of close points is one cluster, spread in input order
    assert dodge_offsets([(0.0, 0.0), (8.0, 0.0), (16.0, 0.0)], radius=10.0) == [
        -12.0, 0.0, 12.0]
    # lava-dl and snntorch on the same spot (same accuracy and energy), ann elsewhere
    fig, (ax,) = _new_figure(1)
    pts = [("ann / tiny", 100.0, float("nan"), 55.0, None),
           ("lava-dl / tiny", 2.9, float("nan"), 60.0, None),
           ("snntorch / tiny", 2.9, float("nan"), 60.0, None)]
    (x0, _), (x1, y1), (x2, y2) = _energy_panel(fig, ax, "d", pts, [])
    assert y1 == y2 and abs(x1 - x2) >= DODGE_RADIUS_PX  # both markers visible
    labels = [t.get_text() for t in ax.texts]
    assert "lava-dl / tiny" in labels and "snntorch / tiny" in labels  # named on the plot


# ------------------------------------------------------------------ paper tables


def _paper_records() -> list[dict]:
    recs = []
    for f in range(3):  # 3 folds: mean +- std over cells, t intervals
        recs.append(_cell_rec("synthetic-fer-dvs", "snntorch", f, 0.60 + 0.05 * f, energy=2.0))
        recs.append(_cell_rec("synthetic-fer-dvs", "ann", f, 0.70 + 0.05 * f, energy=100.0))
    return recs


def test_paper_tables_markdown_csv_and_caption(tmp_path: Path) -> None:
    import io

    import pandas as pd

    from reports.tables import paper_tables, write_tables

    (t,) = paper_tables(_paper_records())
    assert (t.dataset, t.protocol) == ("synthetic-fer-dvs", "folds")
    md = t.to_markdown()
    # ann: WAR 70, 75, 80 -> 75.0 +- 5.0 (best, bold); snntorch 65.0 +- 5.0; energy 2.00 best
    assert "| ann / tiny " in md and "**75.0 ± 5.0**" in md and "| 65.0 ± 5.0 " in md
    # energy 2.00 (snntorch) is best; ann's 100 not bold; equal throughputs are both bold
    assert "**2.00 ± 0.00**" in md and "| 100 ± 0 " in md and md.count("**100 ± 0**") == 2
    # t interval over 3 cells: 75 +- t(0.975, 2) * 5 / sqrt(3) = 75 +- 4.3027 * 2.8868 = +-12.42
    assert "[62.6, 87.4]" in md
    for words in ("protocol folds", "folds 0, 1, 2", "seeds 0", "model selection: val",
                  "horowitz-isscc2014-45nm (AC 0.9 pJ, MAC 4.6 pJ)", "NeuroFER-Bench 0.1.0",
                  "percentile bootstrap"):
        assert words in t.caption, words
    frame = pd.read_csv(io.StringIO(t.to_csv()))
    ann = frame[frame["model"] == "ann / tiny"].iloc[0]
    assert ann["n"] == 3 and ann["WAR mean (%)"] == pytest.approx(75.0)
    assert ann["WAR std (%)"] == pytest.approx(5.0)
    assert ann["WAR 95% CI low (%)"] == pytest.approx(75 - 4.302653 * 5 / math.sqrt(3))
    assert ann["energy mean (µJ/inf)"] == pytest.approx(100.0)
    names = sorted(p.name for p in write_tables(_paper_records(), tmp_path))
    assert names == ["synthetic-fer-dvs_folds.csv", "synthetic-fer-dvs_folds.md",
                     "synthetic-fer-dvs_folds.tex"]


def test_latex_table_compiles_with_pdflatex(tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess

    from reports.tables import paper_tables

    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        msg = ("pdflatex is not installed (.ci/publish_deps.sh installs "
               "texlive-latex-recommended)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    recs = _paper_records()
    recs[0]["cell"]["backend"] = "snn_torch & co"  # LaTeX specials in a row name
    (t,) = paper_tables(recs)
    tex = t.to_latex()
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\caption{", "\\label{tab:"):
        assert rule in tex
    assert "\\textbf{75.0 $\\pm$ 5.0}" in tex and "snn\\_torch \\& co" in tex
    (tmp_path / "table.tex").write_text(tex, encoding="utf-8")
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        "\\input{table.tex}\n\\end{document}\n", encoding="utf-8")
    proc = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error",
                           "-no-shell-escape", "doc.tex"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
    log_text = (tmp_path / "doc.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log_text and "Missing $" not in log_text
