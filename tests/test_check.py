"""Tests of datasets/check.py (one-pass dataset check with a cache) and of
datasets.io.events.event_file_problems (every rule violation of one file).

The MMI tree is built in a temporary folder from the REAL published fold file
(../shared/real/spiking-fer-folds/MMIDVS/folds.csv); valid files are written with write_v2e_h5,
corrupt ones with h5py directly (write_v2e_h5 validates). The expected problems are worked out in
the tests from what each test wrote, not from the checker's output.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import datasets.check as check_mod
from datasets.base import DatasetNotFoundError
from datasets.check import CACHE_FILE, DatasetCheck, Problem, check_dataset
from datasets.io.events import (
    EventFileError,
    EventProblem,
    event_file_problems,
    make_events,
    read_v2e_h5,
    write_v2e_h5,
)

REAL_FOLDS = Path(__file__).resolve().parents[2] / "shared" / "real" / "spiking-fer-folds"
MMI_FOLDS = REAL_FOLDS / "MMIDVS" / "folds.csv"
MMI_SENSOR = (200, 200, 2)  # v2e output of the Spiking-FER recipe
SENSOR = (32, 24, 2)  # W, H, 2 for hand-made single files: non-square so that x/y mix-ups show

needs_mmi = pytest.mark.skipif(
    not MMI_FOLDS.is_file(),
    reason=f"real MMI fold file not found at {MMI_FOLDS} (../shared/real beside the checkout)",
)


# -- helpers --------------------------------------------------------------------------------


def small_events(n: int = 20, seed: int = 0, sensor=MMI_SENSOR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(np.sort(rng.integers(0, 100_000, n)), rng.integers(0, sensor[0], n),
                       rng.integers(0, sensor[1], n), rng.integers(0, 2, n))


def raw_of(ev: np.ndarray) -> np.ndarray:
    """The v2e (N, 4) uint32 [t, x, y, p] array of an event record."""
    return np.stack([ev["t"], ev["x"], ev["y"], ev["p"]], axis=1).astype(np.uint32)


def write_raw(path: Path, data, name: str = "events") -> Path:
    """Write ``data`` as dataset ``name`` with h5py (no validation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset(name, data=data)
    return path


def folds_rows(path: Path) -> list[list[str]]:
    """The fold file parsed with the csv module (separator ';', no header)."""
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=";"))


class Tree:
    """An MMI tree in a tmp folder with known corrupt files.

    Attributes: ``root`` (data root), ``directory`` (root/MMIDVS), ``paths`` (every row's file, in
    fold-file order), ``expected`` (set of (file, field) pairs the checker must report).
    """

    def __init__(self, root: Path):
        self.root = root
        self.directory = root / "MMIDVS"
        self.directory.mkdir(parents=True)
        shutil.copyfile(MMI_FOLDS, self.directory / "folds.csv")
        rows = folds_rows(MMI_FOLDS)
        self.paths = [self.directory / r[0] / f"{r[1]}.h5" for r in rows]
        n = len(self.paths)
        # indices of the corrupt rows, spread over the file (every other row is valid)
        self.missing = [self.paths[3], self.paths[n - 1]]
        self.x_out = self.paths[10]
        self.pol2 = self.paths[50]
        self.truncated = self.paths[100]
        self.x_and_t = self.paths[150]
        for i, path in enumerate(self.paths):
            if path in self.missing:
                continue
            raw = raw_of(small_events(seed=i))
            if path == self.x_out:
                raw[5, 1] = 200  # x = W is outside 0..199
                write_raw(path, raw)
            elif path == self.pol2:
                raw[7, 3] = 2
                write_raw(path, raw)
            elif path == self.truncated:
                write_v2e_h5(path, small_events(5000, seed=i), compression=None)
                data = path.read_bytes()
                path.write_bytes(data[: len(data) // 2])
            elif path == self.x_and_t:
                raw[2, 1] = 250
                raw[:, 0] = np.arange(raw.shape[0]) * 10
                raw[9, 0] = 5  # 80 -> 5 at event 9
                write_raw(path, raw)
            else:
                write_v2e_h5(path, small_events(seed=i), compression=None)
        self.expected = {
            (self.missing[0], "file"), (self.missing[1], "file"),
            (self.x_out, "x"), (self.pol2, "p"), (self.truncated, "file"),
            (self.x_and_t, "x"), (self.x_and_t, "t"),
        }


@pytest.fixture()
def tree(tmp_path: Path) -> Tree:
    if not MMI_FOLDS.is_file():
        pytest.skip(f"real MMI fold file not found at {MMI_FOLDS}")
    return Tree(tmp_path / "data")


@pytest.fixture()
def counting(monkeypatch):
    """Replace the checker's event_file_problems with a wrapper that records each path read."""
    calls: list[Path] = []

    def wrapper(path, *args, **kwargs):
        calls.append(Path(path))
        return event_file_problems(path, *args, **kwargs)

    monkeypatch.setattr(check_mod, "event_file_problems", wrapper)
    return calls


# -- one pass over the MMI tree -------------------------------------------------------------


@needs_mmi
def test_one_check_reports_every_bad_file_and_field(tree: Tree, counting) -> None:
    result = check_dataset("mmi-dvs", tree.root)
    assert isinstance(result, DatasetCheck)
    assert result.dataset == "mmi-dvs" and result.directory == tree.directory
    assert result.n_files == 207  # rows of the published file (shared/real/README.md)
    assert not result.ok
    assert {(p.file, p.field) for p in result.problems} == tree.expected
    assert len(result.problems) == 7  # 6 bad files, one of them with two problems
    assert set(result.bad_files) == {f for f, _ in tree.expected} and len(result.bad_files) == 6
    assert len(counting) == 207 and result.n_cached == 0
    by_key = {(p.file, p.field): p for p in result.problems}
    assert by_key[(tree.x_out, "x")].value == 200
    assert "= 200 at event 5" in by_key[(tree.x_out, "x")].message
    assert "got 2 at event 7" in by_key[(tree.pol2, "p")].message
    assert "decreases at event 9 (80 -> 5 us)" in by_key[(tree.x_and_t, "t")].message
    assert "cannot read HDF5 file" in by_key[(tree.truncated, "file")].message
    # problems follow the fold file's order; within a file, x comes before t
    order = [tree.paths.index(p.file) for p in result.problems]
    assert order == sorted(order)
    fields = [p.field for p in result.problems if p.file == tree.x_and_t]
    assert fields == ["x", "t"]


@needs_mmi
def test_report_names_every_bad_file(tree: Tree) -> None:
    text = check_dataset("mmi-dvs", tree.root).report()
    lines = text.splitlines()
    assert lines[0].startswith("mmi-dvs: 7 problems in 207 files")
    assert str(tree.directory) in lines[0]
    assert len(lines) == 1 + 7
    for path, _ in tree.expected:
        assert str(path) in text


@needs_mmi
def test_valid_tree_is_ok(tree: Tree) -> None:
    for path in tree.missing:
        write_v2e_h5(path, small_events())
    for path in (tree.x_out, tree.pol2, tree.truncated, tree.x_and_t):
        write_v2e_h5(path, small_events())
    result = check_dataset("mmi-dvs", tree.root, use_cache=False)
    assert result.ok and result.problems == []
    assert result.report() == f"mmi-dvs: no problems in 207 files ({tree.directory})"
    assert not (tree.directory / CACHE_FILE).exists()  # use_cache=False leaves no cache


# -- cache ----------------------------------------------------------------------------------


@needs_mmi
def test_second_check_reads_no_file(tree: Tree, counting) -> None:
    first = check_dataset("mmi-dvs", tree.root)
    assert len(counting) == 207
    assert (tree.directory / CACHE_FILE).is_file()
    counting.clear()
    second = check_dataset("mmi-dvs", tree.root)
    assert counting == []
    assert second.n_cached == second.n_files == 207
    assert second.problems == first.problems
    assert second.report() == first.report()
    # use_cache=False reads everything again
    counting.clear()
    third = check_dataset("mmi-dvs", tree.root, use_cache=False)
    assert len(counting) == 207 and third.n_cached == 0 and third.problems == first.problems


@needs_mmi
def test_a_touched_or_modified_file_is_rechecked_alone(tree: Tree, counting) -> None:
    check_dataset("mmi-dvs", tree.root)
    good = tree.paths[20]
    st = good.stat()
    os.utime(good, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touched, 5 s later
    counting.clear()
    result = check_dataset("mmi-dvs", tree.root)
    assert counting == [good]
    assert result.n_cached == 206
    assert {(p.file, p.field) for p in result.problems} == tree.expected
    # a valid file turned bad (polarity 3): only that file is read, its problem appears
    raw = raw_of(small_events(seed=99))
    raw[4, 3] = 3
    write_raw(tree.paths[30], raw)
    counting.clear()
    result = check_dataset("mmi-dvs", tree.root)
    assert counting == [tree.paths[30]]
    assert {(p.file, p.field) for p in result.problems} == tree.expected | {(tree.paths[30], "p")}
    # a missing file that appears is read; the fixed file's problem disappears
    write_v2e_h5(tree.missing[0], small_events())
    counting.clear()
    result = check_dataset("mmi-dvs", tree.root)
    assert counting == [tree.missing[0]]
    assert (tree.missing[0], "file") not in {(p.file, p.field) for p in result.problems}


@needs_mmi
def test_rows_removed_from_folds_are_dropped_from_the_cache(tree: Tree) -> None:
    check_dataset("mmi-dvs", tree.root)
    data = json.loads((tree.directory / CACHE_FILE).read_text())
    assert len(data["files"]) == 207
    lines = MMI_FOLDS.read_text().splitlines(keepends=True)
    (tree.directory / "folds.csv").write_text("".join(lines[:-10]))  # drop the last 10 rows
    result = check_dataset("mmi-dvs", tree.root)
    assert result.n_files == 197 and result.n_cached == 197
    data = json.loads((tree.directory / CACHE_FILE).read_text())
    dropped = {p.relative_to(tree.directory).as_posix() for p in tree.paths[-10:]}
    assert len(data["files"]) == 197 and not dropped & set(data["files"])
    assert (tree.missing[1], "file") not in {(p.file, p.field) for p in result.problems}


@needs_mmi
def test_read_only_folder_uses_the_xdg_cache(tree: Tree, counting, monkeypatch, tmp_path) -> None:
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    # tests run as root, where chmod does not stop writes: replace the writability test
    monkeypatch.setattr(check_mod, "_dir_writable", lambda d: Path(d) != tree.directory)
    first = check_dataset("mmi-dvs", tree.root)
    assert not (tree.directory / CACHE_FILE).exists()
    digest = hashlib.sha1(str(tree.directory.resolve()).encode()).hexdigest()
    expected = xdg / "neurofer-bench" / "check" / f"{digest}.json"
    assert expected.is_file()
    assert [p.name for p in expected.parent.iterdir()] == [expected.name]  # no temp file left
    counting.clear()
    second = check_dataset("mmi-dvs", tree.root)
    assert counting == [] and second.n_cached == 207 and second.problems == first.problems


@needs_mmi
def test_corrupt_cache_is_ignored_with_a_warning(tree: Tree, counting, caplog) -> None:
    first = check_dataset("mmi-dvs", tree.root)
    cache = tree.directory / CACHE_FILE
    cache.write_text('{"format": 1, "files": {"S001/001.h5": ')  # cut short
    counting.clear()
    with caplog.at_level(logging.WARNING, logger="datasets.check"):
        second = check_dataset("mmi-dvs", tree.root)
    assert any("corrupt check cache" in r.getMessage() and str(cache) in r.getMessage()
               for r in caplog.records)
    assert len(counting) == 207 and second.n_cached == 0 and second.problems == first.problems
    assert json.loads(cache.read_text())["format"] == check_mod.CACHE_FORMAT  # rewritten


@needs_mmi
def test_cache_of_another_version_or_sensor_is_not_used(tree: Tree, counting) -> None:
    check_dataset("mmi-dvs", tree.root)
    cache = tree.directory / CACHE_FILE
    for key, value in (("format", check_mod.CACHE_FORMAT + 1), ("rules", -1),
                       ("sensor_size", [346, 260, 2])):
        data = json.loads(cache.read_text())
        data[key] = value
        cache.write_text(json.dumps(data))
        counting.clear()
        result = check_dataset("mmi-dvs", tree.root)
        assert len(counting) == 207 and result.n_cached == 0, key


# -- index errors, absent datasets, frames datasets ------------------------------------------


@needs_mmi
def test_malformed_folds_csv_is_a_problem_naming_file_and_line(tree: Tree) -> None:
    folds = tree.directory / "folds.csv"
    lines = folds.read_text().splitlines(keepends=True)
    fields = lines[2].split(";")
    fields[2] = "x"  # label of line 3
    lines[2] = ";".join(fields)
    folds.write_text("".join(lines))
    result = check_dataset("mmi-dvs", tree.root)
    assert not result.ok and len(result.problems) == 1
    (p,) = result.problems
    assert p.file == folds and p.field == "label"
    assert str(folds) in p.message and "line 3" in p.message and "'x'" in p.message
    assert result.n_files == 0
    assert "line 3" in result.report()


def test_absent_dataset_raises_not_found(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="MMIDVS"):
        check_dataset("mmi-dvs", tmp_path)


SEE_SEQS = [
    "1_001_man_24_Master_normal_angry_45_take000",
    "2_001_man_24_Master_Low_angry_50_take001",
    "3_002_woman_30_Doctor_HDR_happiness_40_take000",
]


def test_see_missing_sequence_folders_are_problems(tmp_path: Path) -> None:
    see = tmp_path / "SEE"
    database = {}
    for name in SEE_SEQS:
        emo = name.split("_")[6]
        for kind in ("frame", "event"):
            (see / kind / emo / name).mkdir(parents=True)  # folders only: nothing is decoded
        database[name] = {"subset": "training", "annotations": {"label": emo, "segment": [0, 2]}}
    (see / "emotion.json").write_text(json.dumps({"database": database}))
    gone = [see / "event" / "angry" / SEE_SEQS[1], see / "frame" / "happiness" / SEE_SEQS[2]]
    for d in gone:
        d.rmdir()
    result = check_dataset("see", tmp_path)
    assert result.n_files == 6  # 3 sequences x (event, frame) folder
    assert {(p.file, p.field) for p in result.problems} == {(d, "folder") for d in gone}
    text = result.report()
    assert text.startswith("see: 2 problems in 6 folders")
    assert all(str(d) in text for d in gone)


def test_problem_from_event_problem() -> None:
    ep = EventProblem(Path("/a/b.h5"), "x", 7, "/a/b.h5: field 'x' = 7 ...")
    assert Problem.from_event_problem(ep) == Problem(Path("/a/b.h5"), "x", 7, ep.message)


# -- event_file_problems: one rule at a time, then several ------------------------------------


def _raw10() -> np.ndarray:
    raw = raw_of(small_events(10, sensor=SENSOR))
    raw[:, 0] = np.arange(10) * 100  # t = 0, 100, ..., 900
    return raw


def test_valid_file_has_no_problem(tmp_path: Path) -> None:
    assert event_file_problems(write_raw(tmp_path / "ok.h5", _raw10()), SENSOR) == []


@pytest.mark.parametrize("col,field,limit", [(1, "x", SENSOR[0]), (2, "y", SENSOR[1])])
def test_rule_coordinate_outside_sensor(tmp_path: Path, col, field, limit) -> None:
    raw = _raw10()
    raw[4, col] = limit + 3  # first bad: event 4
    raw[8, col] = limit  # second bad
    path = write_raw(tmp_path / "c.h5", raw)
    (p,) = event_file_problems(path, SENSOR)
    assert (p.path, p.field, p.value) == (path, field, limit + 3)
    assert str(path) in p.message
    assert f"field '{field}' = {limit + 3} at event 4 lies outside the sensor" in p.message
    assert "2 events outside in all" in p.message


def test_rule_coordinate_beyond_int16_without_sensor(tmp_path: Path) -> None:
    raw = _raw10()
    raw[6, 2] = 40_000
    path = write_raw(tmp_path / "big.h5", raw)
    (p,) = event_file_problems(path)
    assert (p.field, p.value) == ("y", 40_000)
    assert "= 40000 at event 6" in p.message and "int16" in p.message and "1 events" in p.message
    assert event_file_problems(write_raw(tmp_path / "ok.h5", _raw10())) == []


def test_rule_polarity(tmp_path: Path) -> None:
    raw = _raw10()
    raw[3, 3] = 5
    raw[4, 3] = 2
    raw[9, 3] = 2
    path = write_raw(tmp_path / "p.h5", raw)
    (p,) = event_file_problems(path, SENSOR)
    assert (p.field, p.value) == ("p", 5)
    assert "field 'p' must be 0 or 1, got 5 at event 3 (3 bad values in all)" in p.message


def test_rule_time_decreasing(tmp_path: Path) -> None:
    raw = _raw10()
    raw[5, 0] = 50  # 400 -> 50 at event 5 (then 50 -> 600 is fine)
    raw[8, 0] = 0  # 700 -> 0 at event 8
    path = write_raw(tmp_path / "t.h5", raw)
    (p,) = event_file_problems(path, SENSOR)
    assert (p.field, p.value) == ("t", 50)
    assert "field 't' decreases at event 5 (400 -> 50 us)" in p.message
    assert "2 decreases in all" in p.message


def test_rule_time_decrease_does_not_wrap(tmp_path: Path) -> None:
    # uint32 differences would wrap: 4_000_000_000 -> 1 must still be a decrease
    raw = _raw10()[:2]
    raw[:, 0] = [4_000_000_000, 1]
    (p,) = event_file_problems(write_raw(tmp_path / "w.h5", raw), SENSOR)
    assert "decreases at event 1 (4000000000 -> 1 us)" in p.message


def test_rule_empty(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "e.h5", np.zeros((0, 4), np.uint32))
    (p,) = event_file_problems(path, SENSOR)
    assert (p.field, p.value) == ("events", 0) and "empty (0 events)" in p.message
    assert event_file_problems(path, SENSOR, allow_empty=True) == []


def test_rule_missing_and_unreadable(tmp_path: Path) -> None:
    (p,) = event_file_problems(tmp_path / "none.h5")
    assert (p.field, p.value) == ("file", "missing") and "no such event file" in p.message
    text = tmp_path / "text.h5"
    text.write_text("t,x,y,p\n")
    (p,) = event_file_problems(text)
    assert p.field == "file" and str(text) in p.message and "cannot read HDF5 file" in p.message


def test_rule_structure(tmp_path: Path) -> None:
    (p,) = event_file_problems(write_raw(tmp_path / "a.h5", np.zeros((2, 4), np.uint32), "frames"))
    assert p.field == "events" and "no dataset 'events' (has ['frames'])" in p.message
    group = tmp_path / "g.h5"
    with h5py.File(group, "w") as f:
        f.create_group("events")
    (p,) = event_file_problems(group)
    assert p.field == "events" and "is a group" in p.message
    # wrong shape AND wrong dtype: both reported, shape first
    ps = event_file_problems(write_raw(tmp_path / "s.h5", np.zeros((5, 3), np.float32)))
    assert [(q.field, q.value) for q in ps] == [("events", "(5, 3)"), ("events", "float32")]
    assert "has shape (5, 3)" in ps[0].message and "dtype float32, expected uint32" in ps[1].message


def test_several_problems_in_one_file_and_read_v2e_h5_names_them_all(tmp_path: Path) -> None:
    raw = _raw10()
    raw[2, 1] = SENSOR[0]  # x outside at event 2
    raw[7, 3] = 9  # p at event 7
    raw[6, 0] = 10  # 500 -> 10 at event 6
    path = write_raw(tmp_path / "many.h5", raw)
    ps = event_file_problems(path, SENSOR)
    assert [(q.field, q.value) for q in ps] == [("x", SENSOR[0]), ("p", 9), ("t", 10)]
    with pytest.raises(EventFileError) as e:
        read_v2e_h5(path, SENSOR)
    msg = str(e.value)
    assert msg.startswith(f"{path}: field 'x' = {SENSOR[0]} at event 2")  # first one first
    assert "2 more problem(s)" in msg
    assert "got 9 at event 7" in msg and "decreases at event 6 (500 -> 10 us)" in msg
    assert e.value.problems == tuple(ps)


# -- the grid and the command line: a broken dataset never blocks the sound ones -------------


@needs_mmi
def test_run_skips_a_broken_dataset_with_its_full_report_and_runs_the_others(tree: Tree) -> None:
    from benchmarks.results.records import Record, read_records
    from benchmarks.results.spec import Recipe
    from benchmarks.runner import grid as G

    ran: list[str] = []

    def fake_runner(cell, data_root, progress=True):
        ran.append(cell.dataset)
        return Record.for_cell(cell, "ok", metrics={"accuracy": 0.5})

    run = tree.root.parent / "run"
    g = G.Grid(name="t", datasets=("MMIDVS", "synthetic-fer-dvs-mini"), backends=("ann",),
               recipe=Recipe(epochs=1, codecarbon=False))
    summary = G.run_grid(g, run, tree.root, cell_runner=fake_runner, progress=False)
    assert ran == ["synthetic-fer-dvs-mini"]  # the sound dataset ran
    recs = {r["cell"]["dataset"]: r for r in read_records(run)}
    assert recs["mmi-dvs"]["status"] == "skipped" and len(summary.skipped) == 1
    report = recs["mmi-dvs"]["error"]
    for path, _field in tree.expected:  # every bad file, not only the first
        assert str(path.relative_to(tree.directory)) in report
    assert "7 problems" in report

    # --strict stops before any cell runs
    run2 = tree.root.parent / "run2"
    with pytest.raises(G.DatasetCheckFailed, match="7 problems"):
        G.run_grid(g, run2, tree.root, cell_runner=fake_runner, progress=False, strict=True)
    assert not (run2 / "results.jsonl").exists()


@needs_mmi
def test_cli_check_lists_all_problems_and_is_quick_the_second_time(tree: Tree, counting, capsys) -> None:
    import run_bench

    assert run_bench.main(["check", "MMIDVS", "--data-root", str(tree.root), "-q"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("mmi-dvs: 7 problems in 207 files")
    n_read = len(counting)
    assert n_read == 207
    assert run_bench.main(["check", "mmi-dvs", "--data-root", str(tree.root), "-q"]) == 1
    assert len(counting) == n_read  # unchanged tree: every verdict from the cache
    assert run_bench.main(["check", "mmi_dv", "--data-root", str(tree.root)]) == 2
    assert "did you mean 'mmi-dvs'" in capsys.readouterr().err
