"""End to end: run_bench.py runs a 2-cell grid on a tiny generated dataset, records and reports it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import run_bench
from benchmarks.results.records import SCHEMA_VERSION, read_records


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared: avoid OpenMP oversubscription
    yield
    torch.set_num_threads(n)


@pytest.mark.slow
def test_two_cell_grid_end_to_end(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(
        'name = "e2e"\ndatasets = ["synthetic-fer-dvs-mini"]\nbackends = ["ann", "snntorch"]\n'
        'archs = ["tiny"]\nfolds = [0]\nseeds = [0]\n'
        "[recipe]\nepochs = 2\nbatch_size = 8\nlatency_runs = 3\nwarmup_runs = 1\n"
        "throughput_batch_size = 4\ncodecarbon = false\n"
    )
    out = tmp_path / "run"
    args = ["run", "--grid", str(grid), "--data-root", str(tmp_path / "data"), "--out", str(out), "-q"]
    assert run_bench.main(args) == 0
    printed = capsys.readouterr().out
    assert "2 cells run, 0 already recorded, 0 failed, 0 skipped" in printed
    assert "## Leaderboard" in printed and "snntorch / tiny" in printed

    recs = read_records(out)
    assert [r["status"] for r in recs] == ["ok", "ok"]
    by_backend = {r["cell"]["backend"]: r for r in recs}
    n_test = None
    for name, r in by_backend.items():
        m = r["metrics"]
        # the mini dataset: 4 subjects x 7 classes x 2 takes, 2 subject-independent folds
        assert m["n_train"] + m["n_val"] + m["n_test"] == 56
        n_test = n_test or m["n_test"]
        assert m["n_test"] == n_test == 28  # half of the subjects
        cm = np.array(m["confusion_matrix"])  # rows: true class, columns: predicted class
        assert cm.shape == (7, 7) and cm.sum() == m["n_test"]
        # recompute the scores from the stored confusion matrix: accuracy = trace / N; WAR =
        # sum_c n_c / N * recall_c with recall_c = cm[c, c] / n_c; UAR = mean of the row recalls
        n_c = cm.sum(axis=1)
        assert (n_c == 4).all()  # 2 test subjects x 2 takes of each class
        recall = np.diag(cm) / n_c
        assert m["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
        assert m["war"] == pytest.approx(np.sum(n_c / cm.sum() * recall))
        assert m["uar"] == pytest.approx(recall.mean())
        assert [m["per_class_recall"][c] for c in r["classes"]] == pytest.approx(recall)
        assert set(m["per_lighting_accuracy"]) <= {"normal", "overexposure", "low_light", "hdr"}
        assert m["latency_ms_p50"] > 0 and m["latency_ms_p95"] >= m["latency_ms_p50"]
        # tiny, K = 7: conv 2*16*25 + 16*32*9 + 32*32*9, fc 1152*7, BN 2*(16+32+32)
        assert m["params"] == 800 + 4608 + 9216 + 1152 * 7 + 160
        assert m["energy_uj_per_inference"] > 0
        prov = r["provenance"]
        for key in ("git_commit", "git_dirty", "utc_time", "python", "torch", "cpu", "threads"):
            assert key in prov
        assert r["cell"]["recipe"]["epochs"] == 2
        assert name in ("ann", "snntorch")
    # spiking backend: per-step readout and binary inputs to every layer after the first
    snn = by_backend["snntorch"]["metrics"]
    assert len(snn["accuracy_per_step"]) == 8
    assert snn["effective_acs_per_sample"] > 0
    assert 0 < snn["firing_rate"] < 1
    ann = by_backend["ann"]["metrics"]
    assert ann["effective_acs_per_sample"] == 0  # real-valued activations: all MACs

    assert (out / "leaderboard.md").is_file()
    assert any(p.suffix == ".png" for p in out.iterdir())

    # re-running the same command trains nothing and keeps the records
    assert run_bench.main(args) == 0
    assert "0 cells run, 2 already recorded" in capsys.readouterr().out
    assert len(read_records(out)) == 2

    # `report` re-renders from the records alone
    (out / "leaderboard.md").unlink()
    assert run_bench.main(["report", str(out)]) == 0
    assert (out / "leaderboard.md").is_file()

    # the file on disk, read with the plain json module: one complete JSON object per line, each
    # stamped with the schema version the records module documents, one line per cell (the
    # re-run above appended nothing)
    text = (out / "results.jsonl").read_text()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == 2
    on_disk = [json.loads(line) for line in lines]
    assert all(isinstance(d, dict) and d["schema_version"] == SCHEMA_VERSION for d in on_disk)
    assert {d["cell"]["backend"] for d in on_disk} == {"ann", "snntorch"}


def test_list_shows_registries(capsys):
    assert run_bench.main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("ann", "snntorch", "lava-dl", "synthetic-fer-dvs", "ckplus-dvs", "tiny",
                 "sew_resnet18", "default", "spiking_fer"):
        assert word in out
