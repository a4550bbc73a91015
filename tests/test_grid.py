"""Grid runner and result records: resume, failing cells, skipped cells, Ctrl-C, grid files."""

from __future__ import annotations

import json

import pytest

from benchmarks.results.records import Record, append_record, finished_cell_ids, read_records
from benchmarks.runner import grid as G
from benchmarks.runner.cell import Cell, Recipe


def fake_runner(calls: list, fail: set[str] = frozenset(), interrupt_at: int | None = None):
    """A cell runner that records its calls; fails on backends in ``fail``."""

    def run(cell: Cell, data_root, progress=True):
        if interrupt_at is not None and len(calls) == interrupt_at:
            raise KeyboardInterrupt
        calls.append(cell.cell_id)
        if cell.backend in fail:
            raise RuntimeError(f"injected failure in {cell.backend}")
        return Record.for_cell(cell, "ok", metrics={"accuracy": 0.5})

    return run


@pytest.fixture
def no_skips(monkeypatch):
    """Made-up backend and dataset names ("a", "b", "d"): no registry lookup, nothing skipped."""
    monkeypatch.setattr(G, "_skip_reasons", lambda cells, root, strict=False: {})
    monkeypatch.setattr(G, "resolve_names", lambda grid: grid)


def small_grid(**kw) -> G.Grid:
    base = dict(name="t", datasets=("d",), backends=("a", "b"), archs=("tiny",), folds=(0, 1),
                seeds=(0,), recipe=Recipe(epochs=1, codecarbon=False))
    base.update(kw)
    return G.Grid(**base)


def test_cells_are_the_product_of_the_lists():
    g = small_grid(seeds=(0, 1, 2))
    cells = g.cells()
    assert len(cells) == 1 * 2 * 1 * 2 * 3  # datasets x backends x archs x folds x seeds
    assert len({c.cell_id for c in cells}) == len(cells)


def test_resume_skips_finished_cells(tmp_path, no_skips):
    calls: list = []
    s1 = G.run_grid(small_grid(), tmp_path, tmp_path / "data", cell_runner=fake_runner(calls), progress=False)
    assert len(calls) == 4 and len(s1.done) == 4
    calls2: list = []
    s2 = G.run_grid(small_grid(), tmp_path, tmp_path / "data", cell_runner=fake_runner(calls2), progress=False)
    assert calls2 == [] and len(s2.resumed) == 4
    # a larger grid trains only the new cells
    calls3: list = []
    G.run_grid(small_grid(folds=(0, 1, 2)), tmp_path, tmp_path / "data", cell_runner=fake_runner(calls3), progress=False)
    assert len(calls3) == 2 and all("/f2/" in c for c in calls3)
    assert len(read_records(tmp_path)) == 6


def test_failing_cell_is_recorded_and_grid_goes_on(tmp_path, no_skips):
    calls: list = []
    s = G.run_grid(small_grid(), tmp_path, tmp_path / "data", cell_runner=fake_runner(calls, fail={"a"}),
                   progress=False)
    assert len(calls) == 4
    assert len(s.failed) == 2 and len(s.done) == 2
    recs = read_records(tmp_path)
    errors = [r for r in recs if r["status"] == "error"]
    assert len(errors) == 2
    assert all("injected failure in a" in r["error"] for r in errors)
    assert all(r["cell"]["backend"] == "a" for r in errors)
    # failed cells are retried on re-run, finished ones are not
    calls2: list = []
    G.run_grid(small_grid(), tmp_path, tmp_path / "data", cell_runner=fake_runner(calls2), progress=False)
    assert sorted(calls2) == sorted(c for c in calls if "/a/" in c)


def test_ctrl_c_keeps_finished_cells(tmp_path, no_skips):
    calls: list = []
    s = G.run_grid(small_grid(), tmp_path, tmp_path / "data",
                   cell_runner=fake_runner(calls, interrupt_at=2), progress=False)
    assert s.interrupted
    assert finished_cell_ids(tmp_path) == set(calls) and len(calls) == 2


def test_run_folder_layout_and_records_rebuilt_from_cell_files(tmp_path, no_skips):
    # each cell: a done claim and one record file; results.jsonl is their merge
    from benchmarks.runner.claims import ClaimStore

    G.run_grid(small_grid(), tmp_path, tmp_path / "data", cell_runner=fake_runner([]), progress=False)
    cells = sorted((tmp_path / "cells").glob("*.json"))
    assert len(cells) == 4 and len(list((tmp_path / "claims").glob("*.claim"))) == 4
    store = ClaimStore(tmp_path)
    for c in small_grid().cells():
        info, _ = store.peek(c.cell_id)
        assert info.state == "done" and (tmp_path / info.record).is_file()
    recs = read_records(tmp_path)
    assert {r["provenance"]["executor"]["attempt"] for r in recs} == {
        json.loads(p.read_text())["provenance"]["executor"]["attempt"] for p in cells}
    # a lost results file is rebuilt from the cell files on the next run; nothing runs again
    (tmp_path / "results.jsonl").unlink()
    calls: list = []
    s = G.run_grid(small_grid(), tmp_path, tmp_path / "data", cell_runner=fake_runner(calls), progress=False)
    assert calls == [] and len(s.resumed) == 4 and len(read_records(tmp_path)) == 4


def test_records_of_earlier_runs_are_kept_and_resumed(tmp_path, no_skips):
    # a results.jsonl written before claims and cell files existed: its cells are not run again
    first = small_grid().cells()[0]
    append_record(tmp_path, Record.for_cell(first, "ok", metrics={"accuracy": 0.5}))
    calls: list = []
    s = G.run_grid(small_grid(), tmp_path, tmp_path / "data", cell_runner=fake_runner(calls), progress=False)
    assert first.cell_id not in calls and len(calls) == 3 and s.resumed == [first.cell_id]
    assert len(read_records(tmp_path)) == 4
    assert s.line().startswith("3 cells run, 1 already recorded, 0 failed, 0 skipped in ")


def test_a_cell_held_by_another_process_is_left_to_it(tmp_path, no_skips):
    # another live process claims a cell: this run does not run it; with --no-wait it says so
    from benchmarks.runner.claims import ClaimStore

    other = ClaimStore(tmp_path).acquire(small_grid().cells()[1].cell_id, "another run")
    calls: list = []
    s = G.run_grid(small_grid(), tmp_path, tmp_path / "data", cell_runner=fake_runner(calls),
                   progress=False, wait_for_others=False)
    assert len(calls) == 3 and s.elsewhere == [small_grid().cells()[1].cell_id]
    assert "1 run by other processes" in s.line()
    other.release()
    calls2: list = []
    G.run_grid(small_grid(), tmp_path, tmp_path / "data", cell_runner=fake_runner(calls2), progress=False)
    assert calls2 == [small_grid().cells()[1].cell_id]  # resume runs it once it is free


def test_unavailable_backend_and_absent_dataset_are_skipped(tmp_path, monkeypatch):
    # a known backend whose framework is missing: its cells are skipped with the reason
    from backends.base import get_backend

    monkeypatch.setattr(get_backend("lava-dl"), "available", lambda: (False, "lava not installed"))
    calls: list = []
    g = small_grid(backends=("ann", "lava-dl"), datasets=("ckplus-dvs",), folds=(0,))
    s = G.run_grid(g, tmp_path / "run", tmp_path / "empty-root", cell_runner=fake_runner(calls), progress=False)
    assert calls == []  # the dataset is absent: nothing runs
    recs = read_records(tmp_path / "run")
    assert [r["status"] for r in recs] == ["skipped", "skipped"]
    by_backend = {r["cell"]["backend"]: r["error"] for r in recs}
    assert "backend 'lava-dl' unavailable: lava not installed" in by_backend["lava-dl"]
    assert str(tmp_path / "empty-root") in by_backend["ann"]
    assert len(s.skipped) == 2


def test_typo_stops_before_anything_runs(tmp_path, capsys):
    # a typo is not a skipped cell: the command stops (exit 2), writes nothing, suggests the name
    import run_bench
    from datasets.common import UnknownNameError

    out = tmp_path / "run"
    g = small_grid(backends=("snntroch",), datasets=("synthetic-fer-dvs-mini",), folds=(0,))
    with pytest.raises(UnknownNameError, match="did you mean 'snntorch'"):
        G.run_grid(g, out, tmp_path / "data", cell_runner=fake_runner([]), progress=False)
    assert not out.exists()
    assert run_bench.main(["run", "--backends", "snntroch", "--datasets", "MMIDV",
                           "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'snntorch'" in err and "did you mean 'mmi-dvs'" in err
    assert not out.exists()


def test_upstream_dataset_names_are_aliases():
    g = G.resolve_names(small_grid(backends=("ann",), datasets=("MMIDVS", "ckplusdvs", "mmi-dvs")))
    assert g.datasets == ("mmi-dvs", "ckplus-dvs")  # canonical, duplicates merged


def test_records_round_trip_and_torn_line(tmp_path):
    cell = Cell(dataset="d", backend="a", arch="tiny")
    append_record(tmp_path, Record.for_cell(cell, "ok", metrics={"accuracy": 0.25, "nan": float("nan")}))
    with open(tmp_path / "results.jsonl", "a") as fh:
        fh.write('{"cell_id": "torn", "sta')  # a crash mid-write
    append_record(tmp_path, Record.for_cell(cell, "error", error="boom"))
    recs = read_records(tmp_path)
    assert [r["status"] for r in recs] == ["ok", "error"]
    assert recs[0]["metrics"] == {"accuracy": 0.25, "nan": None}
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["error"] == "boom"
    with pytest.raises(TypeError, match="takes a Record"):
        append_record(tmp_path, {"cell_id": "x", "status": "ok"})


def test_version_1_records_are_migrated(tmp_path):
    v1 = {"schema_version": 1, "status": "ok", "cell_id": "c", "cell": {"backend": "ann"},
          "metrics": {"accuracy": 0.5}, "torch_threads": 2, "provenance": {"threads": 2}}
    (tmp_path / "results.jsonl").write_text(json.dumps(v1) + "\n")
    (rec,) = read_records(tmp_path)
    assert rec["schema_version"] == 4 and "torch_threads" not in rec
    assert rec["model"] is None and rec["corruption"] is None
    assert rec["provenance"] == {"threads": 2, "code_version": None}  # unknown code: never reused
    assert finished_cell_ids(tmp_path) == {"c"}
    assert finished_cell_ids(tmp_path, code_version="abc") == set()


def test_grid_files_load(tmp_path):
    names = G.grid_names()
    assert {"default", "spiking_fer", "spiking_fer_legacy"} <= set(names)
    d = G.load_grid("default")
    assert d.backends == ("*",) and d.datasets == ("synthetic-fer-dvs",)
    from backends.base import backend_names

    # "*": every registered backend (six here, a plugin's too), in registration order
    assert G.resolve_names(d).backends == tuple(backend_names())
    assert {"ann", "snntorch", "lava-dl", "spikingjelly", "norse", "sinabs"} <= set(backend_names())
    assert G.resolve_names(G.replace(d, backends=("lava*", "ann"))).backends == ("lava-dl", "ann")
    from datasets.common import UnknownNameError

    with pytest.raises(UnknownNameError, match="no backend matches 'zz\\*'"):
        G.resolve_names(G.replace(d, backends=("zz*",)))
    sf = G.load_grid("spiking_fer")
    assert len(sf.cells()) == 4 * 10 * 2  # 4 datasets x 10 folds x (SNN, ANN)
    assert sf.recipe.momentum == 0.9 and sf.recipe.weight_decay == 5e-4
    assert G.load_grid("spiking_fer_legacy").recipe.selection == "best_on_test_legacy"
    bad = tmp_path / "bad.toml"
    bad.write_text('datasets = ["a"]\nbackend = ["x"]\n')
    with pytest.raises(G.GridFileError, match=r"bad.toml: unknown key\(s\) \['backend'\]"):
        G.load_grid(bad)
    bad.write_text('[recipe]\nepoch = 3\n')
    with pytest.raises(G.GridFileError, match=r"\[recipe\]: unknown recipe key\(s\) \['epoch'\]"):
        G.load_grid(bad)
    with pytest.raises(G.GridFileError, match="known grids: default"):
        G.load_grid("no-such-grid")


def test_extra_cells_follow_the_product_with_its_ids_unchanged(tmp_path):
    f = tmp_path / "g.toml"
    f.write_text('datasets = ["synthetic-fer-dvs"]\nbackends = ["ann", "snntorch"]\n'
                 'archs = ["tiny"]\nfolds = [0, 1]\n'
                 '[[extra]]\nbackend = "sinabs"\narch = "tiny_iaf"\n'
                 '[[extra]]\nbackend = "ann"\narch = "tiny"\n')  # the product has ann/tiny
    g = G.resolve_names(G.load_grid(f))
    plain = G.replace(g, extra=())
    cells = g.cells()
    # 2 backends x 2 folds, then the one new pair on each fold; ann/tiny is not run twice
    assert [c.cell_id for c in cells[:4]] == [c.cell_id for c in plain.cells()]
    assert [(c.backend, c.arch, c.fold) for c in cells[4:]] == [("sinabs", "tiny_iaf", 0),
                                                                  ("sinabs", "tiny_iaf", 1)]
    # the default grid: its six cells as before, then sinabs x tiny_iaf
    d = G.resolve_names(G.load_grid("default"))
    assert [(c.backend, c.arch) for c in d.cells()][-1] == ("sinabs", "tiny_iaf")
    assert sum(c.arch == "tiny" for c in d.cells()) == len(d.backends)
    assert d.deploy == ("loihi2", "speck") and d.robustness_max_test == 48
    # naming backends or archs on the command line names the cells: the extra ones go
    assert G.override(d, backends=["ann"]).cells()[-1].backend == "ann"
    assert len(G.override(d, epochs=2).cells()) == len(d.cells())
    f.write_text('[[extra]]\nbackend = "sinabs"\n')
    with pytest.raises(G.GridFileError, match=r"g.toml: extra\[0\].arch must be a name, got None"):
        G.load_grid(f)
    f.write_text('[[extra]]\nbackend = "sinabs"\narch = "tiny"\nfold = 1\n')
    with pytest.raises(G.GridFileError, match=r"extra\[0\]: unknown key\(s\) \['fold'\]"):
        G.load_grid(f)
    from datasets.common import UnknownNameError

    with pytest.raises(UnknownNameError, match=r"\[\[extra\]\] sinabs/tiny_ifa: .*tiny_iaf"):
        G.resolve_names(G.replace(d, extra=(("sinabs", "tiny_ifa"),)))
    with pytest.raises(UnknownNameError, match="loihi"):
        G.replace(d, deploy=("loihi",))


def test_override_options():
    g = G.override(G.load_grid("default"), backends=["ann"], epochs=2, folds=None, batch_size=None)
    assert g.backends == ("ann",) and g.recipe.epochs == 2 and g.folds == (0,)
    assert g.recipe.batch_size == G.load_grid("default").recipe.batch_size


def test_recipe_validation():
    with pytest.raises(ValueError, match="recipe.selection must be one of"):
        Recipe(selection="best")
    with pytest.raises(ValueError, match="recipe.epochs must be >= 1, got 0"):
        Recipe(epochs=0)


def test_cli_help_lists_subcommands(capsys):
    import run_bench

    with pytest.raises(SystemExit) as e:
        run_bench.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("run", "report", "list"):
        assert cmd in out


def test_cli_unknown_grid_is_a_clear_error(capsys, tmp_path):
    import run_bench

    assert run_bench.main(["run", "--grid", "nope", "--out", str(tmp_path)]) == 2
    assert "no grid file 'nope'" in capsys.readouterr().err




def test_the_grid_plans_its_cells_and_names_a_cell_left_without_a_record(tmp_path, no_skips,
                                                                         monkeypatch):
    from benchmarks.results.plan import planned_cell_ids
    from benchmarks.runner import executors

    grid = small_grid()
    real = executors.write_cell_record

    def lose_b_f1(folder, record):  # this one record never reaches the folder
        path = real(folder, record)
        if "/b/" in record.cell_id and "/f1/" in record.cell_id:
            path.unlink()
        return path

    monkeypatch.setattr(executors, "write_cell_record", lose_b_f1)
    s = G.run_grid(grid, tmp_path, tmp_path / "data", cell_runner=fake_runner([]), progress=False)
    lost = [c.cell_id for c in grid.cells() if c.backend == "b" and c.fold == 1]
    assert planned_cell_ids(tmp_path) == [c.cell_id for c in grid.cells()]
    assert s.missing == lost and "1 MISSING (no record)" in s.line()
    monkeypatch.setattr(executors, "write_cell_record", real)
    again = G.run_grid(grid, tmp_path, tmp_path / "data", cell_runner=fake_runner([]), progress=False)
    assert again.missing == [] and again.done == lost
