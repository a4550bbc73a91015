"""Train once, run anywhere, from the command line and in a grid: a transfer cell (trained in
snntorch, run in spikingjelly through NIR), export of a checkpoint to NIR, prediction with the
exported file in another backend, and the refusal of an architecture NIR cannot express."""

from __future__ import annotations

import json

import numpy as np
import pytest

import run_bench
from benchmarks.results.records import read_records
from benchmarks.results.spec import Cell, Recipe, RecipeError
from benchmarks.runner import grid as G
from datasets.io.events import make_events, write_v2e_h5

FAST = Recipe(epochs=1, batch_size=8, latency_runs=2, warmup_runs=1, throughput_batch_size=2,
              codecarbon=False)


def test_transfer_cell_ids_and_validation():
    plain = Cell(dataset="d", backend="snntorch", arch="tiny_nir")
    moved = Cell(dataset="d", backend="snntorch", arch="tiny_nir", run_backend="norse",
                 transfer_via="nir")
    assert "/snntorch/" in plain.cell_id and not plain.transferred
    assert "/snntorch>norse@nir/" in moved.cell_id and moved.transferred
    assert Cell(dataset="d", backend="snntorch", arch="t", run_backend="snntorch").cell_id == (
        Cell(dataset="d", backend="snntorch", arch="t").cell_id)  # same backend: ordinary cell
    with pytest.raises(RecipeError, match="transfer_via"):
        Cell(dataset="d", backend="a", arch="t", transfer_via="onnx")


@pytest.mark.slow
def test_trained_in_snntorch_run_in_spikingjelly_through_nir(tmp_path, capsys):
    grid = G.Grid(name="t", datasets=("synthetic-fer-dvs-mini",), backends=("snntorch",),
                  run_backends=("snntorch", "spikingjelly", "ann"), transfer_via="nir",
                  archs=("tiny_nir",), recipe=FAST)
    run = tmp_path / "run"
    summary = G.run_grid(grid, run, tmp_path / "data", progress=False)
    assert len(summary.done) == 2 and len(summary.skipped) == 1  # ann: not spiking
    recs = {r["cell_id"].split("/")[3]: r for r in read_records(run)}
    assert "only between spiking backends" in recs["snntorch>ann@nir"]["error"]
    moved, plain = recs["snntorch>spikingjelly@nir"], recs["snntorch"]
    t = moved["metrics"]["transfer"]
    assert (t["trained_backend"], t["run_backend"], t["via"]) == ("snntorch", "spikingjelly", "nir")
    assert t["spike_agreement_min"] == 1.0 and t["logits_max_abs_diff"] == 0.0  # both exact
    assert t["nir"] == "1.0.8"
    # the run backend is what was measured and evaluated; the accuracy is the trained model's
    assert "spikingjelly" in moved["provenance"]["backend_versions"]
    assert moved["metrics"]["accuracy"] == plain["metrics"]["accuracy"]
    assert moved["metrics"]["accuracy"] == pytest.approx(t["trained_backend_accuracy"])
    from reports import write_reports

    write_reports(run)
    board = (run / "leaderboard.md").read_text()
    assert "trained in snntorch, run in spikingjelly, via nir" in board

    # export the snntorch checkpoint to NIR, predict with it in norse
    ckpt = run / plain["checkpoint"]
    out = tmp_path / "model.nir"
    assert run_bench.main(["export", str(ckpt), str(out), "-q"]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    rng = np.random.default_rng(0)
    n = 20_000
    ev = make_events(np.sort(rng.integers(0, 2_000_000, n)), rng.integers(0, 32, n),
                     rng.integers(0, 32, n), rng.integers(0, 2, n))
    rec = write_v2e_h5(tmp_path / "rec.h5", ev)
    assert run_bench.main(["predict", str(out), str(rec), "--backend", "norse", "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("windows of 500 ms" in ln for ln in lines)
    # an architecture NIR cannot express is refused with the node it lacks (exit 2)
    grid2 = G.Grid(name="t2", datasets=("synthetic-fer-dvs-mini",), backends=("snntorch",),
                   archs=("tiny",), recipe=FAST)
    G.run_grid(grid2, tmp_path / "run2", tmp_path / "data", progress=False)
    (r2,) = read_records(tmp_path / "run2")
    assert run_bench.main(["export", str(tmp_path / "run2" / r2["checkpoint"]),
                           str(tmp_path / "tiny.nir")]) == 2
    assert "MaxPool" in capsys.readouterr().err
    json.dumps(t)  # the transfer block is plain JSON in the record
