"""The output of `run_bench.py run`: by default one grid progress bar (stderr), one line per
finished cell (status, WAR, time, record file), the summary and the leaderboard (stdout), no
INFO logs and no per-epoch bars; `-v` brings the INFO logs and the epoch bars back; no line twice."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.results.spec import Cell, Recipe
from benchmarks.runner.grid import CellDone

ROOT = Path(__file__).resolve().parents[1]
GRID = ('name = "quiet"\ndatasets = ["synthetic-fer-dvs-mini"]\nbackends = {backends}\n'
        'archs = ["tiny"]\nfolds = [0]\nseeds = [0]\n'
        "[recipe]\nepochs = 1\nbatch_size = 8\nlatency_runs = 2\nwarmup_runs = 1\n"
        "throughput_batch_size = 2\ncodecarbon = false\n")
CELL_LINE = re.compile(r"^ok +(?P<model>\S+) synthetic-fer-dvs-mini f0 s0  WAR +(?P<war>[\d.]+) %  +"
                       r"(?P<time>[\d.]+) s  record (?P<record>\S+)$")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    from datasets.registry import open_dataset

    root = tmp_path_factory.mktemp("data")
    open_dataset("synthetic-fer-dvs-mini", root)
    return root


def run_cli(tmp_path: Path, data_root: Path, backends: list[str], *extra: str) -> tuple[Path, subprocess.CompletedProcess]:
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID.format(backends=json.dumps(backends)))
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, str(ROOT / "run_bench.py"), "run", "--grid", str(grid),
                          "--data-root", str(data_root), "--out", str(out), *extra],
                         cwd=tmp_path, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    return out, res


@pytest.mark.slow
def test_default_run_prints_one_line_per_cell_then_the_leaderboard(tmp_path, data_root):
    out, res = run_cli(tmp_path, data_root, ["ann", "snntorch"])
    lines = res.stdout.splitlines()
    # the two cell lines first, then the summary, then the leaderboard as written to its file
    cells = [CELL_LINE.match(line) for line in lines[:2]]
    assert all(cells), lines[:3]
    assert sorted(m["model"] for m in cells) == ["ann/tiny", "snntorch/tiny"]
    assert lines[2].startswith("2 cells run, 0 already recorded, 0 failed, 0 skipped in ")
    leaderboard = (out / "leaderboard.md").read_text()
    assert res.stdout.count(leaderboard) == 1
    assert sum(bool(CELL_LINE.match(line)) for line in lines) == 2  # no cell line twice
    assert lines[-1].startswith("reports: ")
    # the cell lines and the summary, a blank line, the leaderboard, a blank line, the reports
    assert len(lines) == 3 + 1 + len(leaderboard.splitlines()) + 1 + 1
    # each line: WAR and time as recorded in the cell's record file, which it names
    for m in cells:
        rec = json.loads((tmp_path / m["record"]).read_text())
        assert f"{rec['cell']['backend']}/{rec['cell']['arch']}" == m["model"]
        assert m["war"] == f"{100 * rec['metrics']['war']:.1f}"
        assert m["time"] == f"{rec['timings_s']['total_s']:.1f}"
    # stderr: the grid bar only; no INFO logs, no epoch bars, no warnings
    assert "INFO" not in res.stdout + res.stderr
    assert "grid quiet" in res.stderr
    assert "train ann/tiny" not in res.stderr and "train snntorch/tiny" not in res.stderr
    assert "WARNING" not in res.stderr and "ERROR" not in res.stderr


@pytest.mark.slow
def test_verbose_run_brings_back_info_logs_and_epoch_bars(tmp_path, data_root):
    out, res = run_cli(tmp_path, data_root, ["ann"], "-v")
    assert "INFO benchmarks.runner.grid: running 1 cell(s) on local" in res.stderr
    assert "train ann/tiny f0 s0" in res.stderr  # the epoch bar
    assert "INFO" not in res.stdout
    assert sum(bool(CELL_LINE.match(line)) for line in res.stdout.splitlines()) == 1
    # the measured energy's absence (no RAPL/NVML here) is said once per cell, not per batch size
    rec = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    absent = rec["metrics"]["energy_measured_status__batch1"].startswith("not available")
    assert res.stderr.count("measured energy: not available") == (1 if absent else 0)


def test_cell_line_fields():
    cell = Cell(dataset="d", protocol="folds", fold=1, backend="snntorch", arch="tiny", seed=2,
                recipe=Recipe(), device="cpu")
    done = CellDone(cell, "ok", Path("/elsewhere/cells/x.json"), war=0.4286, time_s=12.34)
    assert done.line() == "ok       snntorch/tiny d f1 s2  WAR  42.9 %    12.3 s  record /elsewhere/cells/x.json"
    err = CellDone(cell, "error", None, time_s=1.0, reason="RuntimeError: boom\nTraceback ...")
    assert err.line() == "error    snntorch/tiny d f1 s2     1.0 s  RuntimeError: boom"
    long = CellDone(cell, "skipped", None, reason="x" * 150)
    assert long.line() == "skipped  snntorch/tiny d f1 s2  " + "x" * 99 + "…"
