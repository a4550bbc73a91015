"""The performance and accuracy gates' logic, on a fake clock and hand-written records."""

from __future__ import annotations

import pytest

from benchmarks import perf_gate as PG
from benchmarks.accuracy_gate import grid_accuracies, judge
from benchmarks.grid import Grid
from benchmarks.perf_paths import PerfPath


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
    monkeypatch.setattr(PG.time, "perf_counter", c)
    return c


def test_measure_ratio_exact_on_a_fake_clock(clock):
    # path costs 30 ms, reference 10 ms: k = 3 repetitions of the reference per round, ratio 3
    r = PG.measure_ratio(clock.work(0.030), clock.work(0.010), rounds=5)
    assert r["k"] == 3
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
    # a path without baseline is reported as new, a failing path as an error
    paths.append(PerfPath("c.broken", lambda: (_ for _ in ()).throw(RuntimeError("boom")), "numpy"))
    rows = PG.run_gate(paths, {})
    assert [r["verdict"] for r in rows] == ["new", "new", "error"]
    assert rows[2]["error"] == "RuntimeError: boom"


def test_gate_rejects_a_threshold_that_cannot_work():
    with pytest.raises(ValueError, match="threshold must be > 1, got 1.0"):
        PG.run_gate([], {}, threshold=1.0)


def _rec(backend, acc, status="ok", fold=0):
    from benchmarks.cell import Cell

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
    assert judge({"x": {"accuracy": 0.4, "errors": []}}, {})[0][1] == "new"
