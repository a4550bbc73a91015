"""reports: tables and figures rendered from a hand-written results.jsonl.

The records below are written by hand with chosen numbers; the expected strings are worked out in
the comments (mean and sample std, ddof = 1, over 2 folds x 2 seeds).
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest

from benchmarks.records import read_records as load_records
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
EXPECTED_SNN = ["65.0 ± 12.9", "60.0 ± 12.9", "1.30 ± 0.26", "3.50 ± 1.29", "1,150 ± 129",
                "13,000 ± 2,582", "1,000"]


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
    # ann / tiny: one cell, no accuracy_per_step, no lighting; more energy (MACs)
    recs.append(_trained("ann", "tiny", 0, 0, {
        "accuracy": 0.55, "war": 0.55, "uar": 0.5, "accuracy_per_step": None,
        "confusion_matrix": [[8, 2, 0], [4, 4, 2], [3, 3, 4]],
        "latency_ms_p50": 1.0, "latency_ms_p95": 1.5, "energy_uj_per_inference": 5.0,
        "spikes_per_sample": None, "synops_per_sample": 1.0e6, "params": 1000,
    }, minute=10))
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
    with caplog.at_level(logging.WARNING, logger="benchmarks.records"):
        records = load_records(run_dir / "results.jsonl")
    assert len(records) == 7
    assert any("results.jsonl:8" in m and "not valid JSON" in m for m in caplog.messages)
    assert load_records(run_dir) == records  # a run folder works too
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_records(run_dir / "nope.jsonl")


# ------------------------------------------------------------------ tables


def test_leaderboard_mean_std_worked_out_by_hand(run_dir: Path) -> None:
    table = leaderboard_table(load_records(run_dir))
    header = table.splitlines()[0]
    for col in ("WAR (%)", "UAR (%)", "energy (µJ/inf)", "latency p50 (ms)", "spikes/sample",
                "SynOps/sample", "params", "synthetic-fer-dvs (folds): n", "see (fixed): n"):
        assert col in header
    snn = [c.strip() for c in _row(table, "snntorch / tiny").strip("|").split("|")]
    # columns: model, source, then see (fixed) x 8 (missing), then synthetic-fer-dvs x 8
    assert snn[:2] == ["snntorch / tiny", "trained"]
    assert snn[2:10] == ["—"] * 8
    assert snn[10] == "4"  # n: the error record is not counted
    assert snn[11:] == EXPECTED_SNN
    ann = [c.strip() for c in _row(table, "ann / tiny").strip("|").split("|")]
    assert ann[10:] == ["1", "55.0", "50.0", "5.00", "1.00", "—", "1,000,000", "1,000"]
    seen = [c.strip() for c in _row(table, "SEEN (released predictions)").strip("|").split("|")]
    # one record: WAR's std is the one over inference passes (0.0099 -> 0.99 points, 1 decimal)
    assert seen[1:4] == ["published", "1", "83.6 ± 1.0"] and seen[4] == "80.0"
    assert seen[5:10] == ["—"] * 5  # no energy, latency, spikes, synops, params
    # row order: trained rows sorted by (backend, arch), then published
    order = [ln.split("|")[1].strip() for ln in table.splitlines()[2:]]
    assert order == ["ann / tiny", "snntorch / tiny", "SEEN (released predictions)"]


def test_lighting_and_failed_tables(run_dir: Path) -> None:
    records = load_records(run_dir)
    light = lighting_table(records)
    assert "**synthetic-fer-dvs (folds)**" in light and "**see (fixed)**" in light
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
    assert "cpu: Test CPU; threads: 2; gpu: none (6 records)" in md
    assert "snntorch 0.9.1" in md
    assert "time range (UTC): 2025-01-01T10:00:00Z to 2025-01-01T10:20:00Z" in md
    shuffled = records[:]
    random.Random(0).shuffle(shuffled)
    assert render_markdown(shuffled) == md  # order of the records does not matter


def test_write_reports_writes_markdown_and_valid_pngs(run_dir: Path) -> None:
    paths = write_reports(run_dir)
    names = [p.name for p in paths]
    assert names == ["leaderboard.md", "accuracy_vs_energy.png", "lighting_accuracy.png",
                     "confusion_matrices.png", "latency.png", "accuracy_vs_steps.png"]
    first = (run_dir / "leaderboard.md").read_bytes()
    assert "65.0 ± 12.9".encode() in first
    for p in paths[1:]:
        data = p.read_bytes()
        assert data[:8] == PNG_MAGIC, p
        assert len(data) > 10_000, p  # a drawn figure, not an empty canvas
    assert write_reports(run_dir)[0].read_bytes() == first  # same records -> same bytes


def test_figures_are_skipped_with_a_reason_when_data_is_missing(tmp_path: Path, caplog) -> None:
    published = [r for r in _records() if r["kind"] == "published"]
    with caplog.at_level(logging.INFO, logger="reports.figures"):
        assert plot_latency(published, tmp_path / "latency.png") is None
        assert plot_accuracy_vs_steps(published, tmp_path / "steps.png") is None
    assert any("latency skipped: no record has latency_ms_p50" in m for m in caplog.messages)
    assert not (tmp_path / "latency.png").exists()
    _write_results(tmp_path, published)
    assert [p.name for p in write_reports(tmp_path)] == ["leaderboard.md", "lighting_accuracy.png"]


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
    with caplog.at_level(logging.WARNING, logger="benchmarks.records"):
        records = load_records(tmp_path)
    # the schema-valid record with odd metric values is kept; each broken one is named by line
    assert [r["cell_id"] for r in records] == ["y"]
    assert any("results.jsonl:1" in m and "'metrics'" in m for m in caplog.messages)
    assert any("results.jsonl:3" in m and "['cell']" in m for m in caplog.messages)
    assert any("results.jsonl:4" in m and "not a JSON object" in m for m in caplog.messages)
    assert [p.name for p in write_reports(tmp_path)] == ["leaderboard.md"]
    assert "| ? / ? " in (tmp_path / "leaderboard.md").read_text(encoding="utf-8")


def test_newer_schema_version_is_refused_not_dropped(tmp_path: Path) -> None:
    # a record of a newer schema must stop the report loudly, not silently empty the leaderboard
    from benchmarks.records import SCHEMA_VERSION, RecordSchemaError

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
