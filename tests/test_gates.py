"""The performance and accuracy gates' logic, on a fake clock and hand-written records."""

from __future__ import annotations

import pytest

from benchmarks.gates import perf_gate as PG
from benchmarks.gates.accuracy_gate import grid_accuracies, judge
from benchmarks.gates.perf_paths import PerfPath
from benchmarks.runner.grid import Grid


class FakeClock:
    """A clock that only moves when fake work runs (so timings are exact and repeatable)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def work(self, cost: float, jitter=None):
        state = {"i": 0}

        def fn():
            j = jitter[state["i"] % len(jitter)] if jitter else 1.0
            state["i"] += 1
            self.now += cost * j

        return fn


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(PG.time, "process_time", c)
    return c


def test_measure_ratio_exact_on_a_fake_clock(clock):
    # path costs 30 ms: repeated ceil(100 / 30) = 4 times per timed call (MIN_TIMED_S = 0.1 s),
    # 120 ms; reference 10 ms: k = 12 repetitions per round; ratio 3
    assert PG.MIN_TIMED_S == 0.1
    r = PG.measure_ratio(clock.work(0.030), clock.work(0.010), rounds=5)
    assert (r["inner"], r["k"]) == (4, 12)
    assert r["ratio"] == pytest.approx(3.0)
    assert r["path_ms"] == pytest.approx(30.0) and r["reference_ms"] == pytest.approx(10.0)
    assert r["ratio_spread"] == pytest.approx(0.0)
    # the test hook doubles the path's work
    r2 = PG.measure_ratio(clock.work(0.030), clock.work(0.010), rounds=5, slowdown=2)
    assert r2["ratio"] == pytest.approx(6.0)


def test_machine_load_cancels_in_the_ratio(clock):
    # a load that slows both sides by the same factor in a round leaves the ratio unchanged
    load = [1.0, 1.0, 1.7, 1.7, 2.0, 2.0, 1.0, 1.0]
    # both callables see the same factor in the same round: path, ref alternate in pairs
    r = PG.measure_ratio(clock.work(0.020, load), clock.work(0.020, load), rounds=3)
    assert r["ratio"] == pytest.approx(1.0)


def test_gate_flags_a_2x_slowdown_and_passes_unchanged(clock, monkeypatch):
    monkeypatch.setattr(PG, "REFERENCES", {"numpy": lambda: clock.work(0.010)})
    paths = [PerfPath("a.fast", lambda: clock.work(0.005), "numpy", rounds=5),
             PerfPath("b.slow", lambda: clock.work(0.040), "numpy", rounds=5)]
    baseline = {"a.fast": 0.5, "b.slow": 4.0}
    rows = PG.run_gate(paths, baseline)
    assert [r["verdict"] for r in rows] == ["ok", "ok"]
    rows = PG.run_gate(paths, baseline, inject="b.*")
    by = {r["name"]: r for r in rows}
    assert by["a.fast"]["verdict"] == "ok"
    assert by["b.slow"]["verdict"] == "REGRESSION" and by["b.slow"]["change"] == pytest.approx(2.0)
    md = PG.report_markdown(rows, machine="test", threshold=1.5)
    assert "| b.slow" in md and "REGRESSION (injected 2x)" in md
    # a path without baseline is "new" (which fails), a failing path an error; a baseline entry
    # that nothing measured is "missing" (which fails too)
    paths.append(PerfPath("c.broken", lambda: (_ for _ in ()).throw(RuntimeError("boom")), "numpy"))
    rows = PG.run_gate(paths, {"a.fast": 0.5, "z.gone": 1.0})
    assert [r["verdict"] for r in rows] == ["ok", "new", "error", "missing"]
    assert rows[2]["error"] == "RuntimeError: boom"
    assert all(r["verdict"] in PG.FAILING_VERDICTS for r in rows[1:])
    rows = PG.run_gate(paths[:2], {"a.fast": 0.5, "z.gone": 1.0}, accept_new=True, selected="a.*")
    assert [r["verdict"] for r in rows] == ["ok", "new (accepted)"]  # z.gone not selected


def test_a_suspected_regression_is_measured_again_before_it_fails(clock, monkeypatch):
    monkeypatch.setattr(PG, "REFERENCES", {"numpy": lambda: clock.work(0.010)})
    # a burst of load on the path only, during its whole first measurement: 2 warm-up calls,
    # 2 calibration calls, then 5 rounds of ceil(0.1 / 0.04) = 3 calls = 19 calls at 4x
    burst = [4.0] * 19 + [1.0] * 500
    transient = PerfPath("a.burst", lambda: clock.work(0.010, burst), "numpy", rounds=5)
    (row,) = PG.run_gate([transient], {"a.burst": 1.0})
    assert row["first"]["ratio"] == pytest.approx(4.0) and row["first"]["change"] == pytest.approx(4.0)
    assert row["verdict"] == "ok (not confirmed)" and row["ratio"] == pytest.approx(1.0)
    assert row["verdict"] not in PG.FAILING_VERDICTS
    md = PG.report_markdown([row], machine="test", threshold=1.5)
    assert "ok (not confirmed) (first measurement: ratio 4.000, 4.00x, spread 0.00)" in md
    # a lasting slowdown is confirmed by the second measurement
    lasting = PerfPath("b.slow", lambda: clock.work(0.020), "numpy", rounds=5)
    (row,) = PG.run_gate([lasting], {"b.slow": 1.0})
    assert row["verdict"] == "REGRESSION" and row["change"] == pytest.approx(2.0)
    assert row["first"]["change"] == pytest.approx(2.0)


def test_gate_rejects_a_threshold_that_cannot_work():
    with pytest.raises(ValueError, match="threshold must be > 1, got 1.0"):
        PG.run_gate([], {}, threshold=1.0)


def _rec(backend, acc, status="ok", fold=0):
    from benchmarks.runner.cell import Cell

    g = Grid(backends=("ann", "snntorch"), folds=(0, 1))
    cell = Cell(dataset=g.datasets[0], backend=backend, arch="tiny", fold=fold, recipe=g.recipe)
    return {"cell_id": cell.cell_id, "status": status, "classes": list("abcdefg"),
            "metrics": {"accuracy": acc}, "error": None if status == "ok" else "boom"}


def test_accuracy_gate_judges_against_floors():
    g = Grid(backends=("ann", "snntorch"), folds=(0, 1))
    recs = [_rec("ann", 0.5), _rec("ann", 0.7, fold=1), _rec("snntorch", 0.3),
            _rec("snntorch", None, status="error", fold=1)]
    accs = grid_accuracies(recs, g)
    assert accs["ann"]["accuracy"] == pytest.approx(0.6)  # (0.5 + 0.7) / 2
    assert accs["snntorch"]["accuracy"] == pytest.approx(0.3) and accs["snntorch"]["errors"] == ["boom"]
    rows = dict((b, (v, m)) for b, v, m in judge(accs, {"ann": 0.55, "snntorch": 0.35}))
    assert rows["ann"][0] == "ok"
    assert rows["snntorch"] == ("FAIL", "accuracy 0.3000 < floor 0.3500")
    assert judge({"x": {"accuracy": None, "errors": ["boom"]}}, {})[0][1] == "FAIL"
    # no floor: nothing to compare with, so it fails unless new entries are accepted explicitly
    assert judge({"x": {"accuracy": 0.4, "errors": []}}, {})[0][1] == "FAIL"
    assert judge({"x": {"accuracy": 0.4, "errors": []}}, {}, accept_new=True)[0][1] == "new"


def test_accuracy_gate_keeps_an_extra_cell_apart_from_its_backend():
    from benchmarks.runner.cell import Cell

    g = Grid(backends=("ann", "sinabs"), extra=(("sinabs", "tiny_iaf"),))
    iaf = Cell(dataset=g.datasets[0], backend="sinabs", arch="tiny_iaf", fold=0, recipe=g.recipe)
    recs = [_rec("ann", 0.6), _rec("sinabs", 0.5),
            {"cell_id": iaf.cell_id, "status": "ok", "classes": list("abcdefg"),
             "metrics": {"accuracy": 0.3}}]
    accs = grid_accuracies(recs, g)
    assert list(accs) == ["ann", "sinabs", "sinabs/tiny_iaf"]
    assert accs["sinabs"]["accuracy"] == pytest.approx(0.5)  # not (0.5 + 0.3) / 2
    assert accs["sinabs/tiny_iaf"]["accuracy"] == pytest.approx(0.3)
    assert accs["sinabs/tiny_iaf"]["cells"] == 1


def test_perf_gate_fails_on_a_machine_without_baseline(tmp_path, capsys):
    empty = tmp_path / "baseline.json"
    empty.write_text('{"machines": {}}')
    rc = PG.main(["--paths", "h5.read", "--baseline-file", str(empty), "--out", str(tmp_path)])
    assert rc == 1
    captured = capsys.readouterr()
    assert "no baseline for this machine class" in captured.err and "--update-baseline" in captured.err
    assert "perf-gate: 0 passed, 1 failed" in captured.out


def test_perf_gate_reports_an_unavailable_backend_instead_of_dropping_it(monkeypatch):
    from backends.base import get_backend
    from benchmarks.gates.perf_paths import perf_paths

    monkeypatch.setattr(get_backend("lava-dl"), "available", lambda: (False, "simulated: not installed"))
    paths = {p.name: p for p in perf_paths()}
    assert "forward.lava-dl.b1" in paths  # still listed
    rows = PG.run_gate([paths["forward.lava-dl.b1"]], {"forward.lava-dl.b1": 6.0})
    assert rows[0]["verdict"] == "error" and "simulated: not installed" in rows[0]["error"]


TINY_GRID = """
name = "gate-test"
datasets = ["synthetic-fer-dvs-mini"]
backends = ["ann"]
archs = ["tiny"]
[recipe]
epochs = 1
codecarbon = false
latency_runs = 2
warmup_runs = 1
throughput_batch_size = 2
"""


def test_accuracy_gate_never_reuses_results_of_other_code(tmp_path, capsys):
    import json

    from benchmarks.gates import accuracy_gate as AG
    from benchmarks.results.provenance import code_version
    from benchmarks.results.records import Record, append_record, read_records
    from benchmarks.runner.grid import load_grid

    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(TINY_GRID)
    (cell,) = load_grid(grid_file).cells()
    floors = tmp_path / "floors.json"
    floors.write_text(json.dumps({"floors": {"ann": 0.98}}))
    run = tmp_path / "run"
    args = ["--grid", str(grid_file), "--run-dir", str(run), "--data-root", str(tmp_path / "data"),
            "--floors-file", str(floors)]

    def fake(code):  # a finished cell with an accuracy the real 1-epoch cell cannot reach
        return Record.for_cell(cell, "ok", classes=list("abcdefg"), metrics={"accuracy": 0.99},
                               provenance={"code_version": code})

    # made by this very code: reused, nothing is trained, the gate judges it
    append_record(run, fake(code_version()))
    assert AG.main(args) == 0
    assert len(read_records(run)) == 1
    # a stale folder (another commit, or other uncommitted changes): ignored, the cell runs again
    # and the gate judges what the code does now (1 epoch: far below the 0.98 floor)
    run.joinpath("results.jsonl").unlink()
    append_record(run, fake("0123abcd+ffff"))
    assert AG.main(args) == 1
    recs = read_records(run)
    assert len(recs) == 2 and recs[1]["provenance"]["code_version"] == code_version()
    assert recs[1]["metrics"]["accuracy"] < 0.98
    assert "< floor 0.9800" in capsys.readouterr().err
