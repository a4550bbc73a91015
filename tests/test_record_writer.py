"""Every cell record a grid writes (ok, error, a dead worker's error, skipped) goes through the one
writer, :func:`benchmarks.runner.executors.write_record`, which stamps
``provenance["executor"]``."""

from __future__ import annotations

from benchmarks.results.records import Record, read_records
from benchmarks.runner import executors as X
from benchmarks.runner import grid as G
from benchmarks.runner.cell import Cell, Recipe


def _runner(cell: Cell, data_root, progress=True) -> Record:
    if cell.backend == "bad":
        raise RuntimeError("injected failure")
    return Record.for_cell(cell, "ok", metrics={"accuracy": 0.5})


class _DeadWorkerForBackendDies(X.LocalExecutor):
    """Runs cells in this process; the worker of backend ``dies`` dies before recording."""

    def run(self, tasks, on_done):
        for task in tasks:
            if task.cell.backend == "dies":
                on_done(task, X.Outcome(task.cell.cell_id, "died", error="worker killed (test)"))
            else:
                on_done(task, X.execute_cell(task))


def test_every_record_kind_goes_through_the_one_writer(tmp_path, monkeypatch):
    grid = G.Grid(name="w", datasets=("d",), backends=("good", "bad", "dies", "gone"),
                  archs=("tiny",), folds=(0,), seeds=(0,), recipe=Recipe(epochs=1, codecarbon=False))
    cells = {c.backend: c for c in grid.cells()}
    monkeypatch.setattr(G, "resolve_names", lambda g: g)
    monkeypatch.setattr(G, "_skip_reasons",
                        lambda todo, root, strict=False: {cells["gone"]: "backend 'gone' unavailable"})
    written: list[tuple[str, str]] = []
    real = X.write_cell_record

    def spy(folder, record):  # the file write under the one writer
        written.append((record.cell["backend"], record.status))
        return real(folder, record)

    monkeypatch.setattr(X, "write_cell_record", spy)
    s = G.run_grid(grid, tmp_path, tmp_path / "data", cell_runner=_runner, progress=False,
                   executor=_DeadWorkerForBackendDies())
    assert sorted(written) == [("bad", "error"), ("dies", "error"), ("gone", "skipped"),
                               ("good", "ok")]
    assert len(list((tmp_path / "cells").glob("*.json"))) == 4  # no record written elsewhere
    assert s.done == [cells["good"].cell_id] and s.skipped == [cells["gone"].cell_id]
    recs = {r["cell"]["backend"]: r for r in read_records(tmp_path)}
    assert {b: r["status"] for b, r in recs.items()} == {
        "good": "ok", "bad": "error", "dies": "error", "gone": "skipped"}
    assert "RuntimeError: injected failure" in recs["bad"]["error"]
    assert recs["dies"]["error"] == "worker killed (test)"
    assert recs["gone"]["error"] == "backend 'gone' unavailable"
    for b, r in recs.items():
        block = r["provenance"]["executor"]
        assert block["name"] == "local" and len(block["attempt"]) == 16, b
    died = recs["dies"]["provenance"]["executor"]
    assert died["died"] is True and died["host"] == "unknown" and died["pid"] == -1
    assert died["cuda_visible_devices"] is None
    assert "died" not in recs["bad"]["provenance"]["executor"]
