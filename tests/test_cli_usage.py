"""Bad command lines exit 2 at once with one line naming the value (nothing run, nothing
written); `list` counts the cells a grid runs; every subcommand's parser sits beside its handler;
torch's "Triton not available" line never reaches a default run's terminal, while other
records of its logger still do."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import run_bench

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_bench.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def one_error_line(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout[-2000:], res.stderr[-2000:])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory) -> Path:
    from datasets.registry import open_dataset

    root = tmp_path_factory.mktemp("data")
    assert open_dataset("synthetic-fer-dvs-mini", root).n_folds == 2
    return root


# --------------------------------------------------------------------------------------------
# bad command lines


@pytest.mark.parametrize("fold, expected", [
    ("-1", "error: --folds -1: fold indices count from 0"),
    # the mini dataset has folds 0 and 1 (its folds.csv)
    ("2", "error: --folds 2: dataset 'synthetic-fer-dvs-mini', protocol 'folds': fold must be "
          "in 0..1, got 2"),
])
def test_run_with_a_fold_the_dataset_lacks_exits_2_before_any_cell(tmp_path, mini_root, fold,
                                                                   expected):
    out = tmp_path / "run"
    res = cli("run", "--datasets", "synthetic-fer-dvs-mini", "--backends", "ann", "--folds", fold,
              "--data-root", str(mini_root), "--out", str(out), cwd=tmp_path)
    assert one_error_line(res) == expected
    assert not out.exists()  # no cell recorded, not even an error cell


def test_validate_of_a_missing_folder_exits_2_naming_it(tmp_path):
    missing = tmp_path / "no_such_run"
    res = cli("validate", str(missing), cwd=tmp_path)
    assert one_error_line(res) == f"error: {missing}: no such run folder"


def test_estimate_refuses_a_non_positive_event_count_at_once(tmp_path):
    for n in ("-5", "0"):
        res = cli("estimate", "--device", "cpu", "--events", n, cwd=tmp_path, timeout=60)
        assert one_error_line(res) == (f"error: --events must be >= 1 (events per generated "
                                       f"recording), got {n}")


@pytest.mark.parametrize("arg, suffix", [("file.txt", "'.txt'"), ("sub/recording", "''")])
def test_check_of_a_file_that_is_no_recording_says_so(tmp_path, arg, suffix):
    res = cli("check", arg, cwd=tmp_path, timeout=60)
    line = one_error_line(res)
    assert line.startswith(f"error: {arg}: unsupported recording type {suffix} (expected one of: "
                           ".aedat4"), line
    assert "unknown dataset" not in line


def test_check_of_a_dataset_typo_still_suggests_names(tmp_path):
    line = one_error_line(cli("check", "synthetic-fer-dv", cwd=tmp_path, timeout=60))
    assert line.startswith("error: unknown dataset 'synthetic-fer-dv'"), line


# --------------------------------------------------------------------------------------------
# list


def test_list_counts_the_cells_each_grid_runs(tmp_path):
    from backends.base import BACKENDS

    res = cli("list", cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = {ln.split()[0]: ln for ln in res.stdout.split("grids:\n", 1)[1].splitlines()}
    # default.toml: backends = ["*"] x synthetic-fer-dvs x tiny x fold 0 x seed 0: one cell per
    # registered backend (six: ann, lava-dl, norse, sinabs, snntorch, spikingjelly), and one
    # [[extra]] cell (sinabs x tiny_iaf)
    n_backends = len(BACKENDS.names())
    assert n_backends == 6
    assert rows["default"].split()[1:3] == [str(n_backends + 1), "cells"], rows["default"]
    # spiking_fer.toml: 4 datasets x 10 folds x (snntorch, ann) x sew_resnet18 x 1 seed
    assert rows["spiking_fer"].split()[1:3] == ["80", "cells"]


# --------------------------------------------------------------------------------------------
# one parser per command


def test_every_command_adds_its_parser_beside_its_handler():
    parser = run_bench.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    names = [f.__name__.removeprefix("add_").removesuffix("_parser") for f in run_bench.COMMANDS]
    assert list(sub.choices) == names
    for name, p in sub.choices.items():
        assert p.get_default("func") is getattr(run_bench, f"cmd_{name}")


def test_choices_come_from_the_tables():
    from backends.nir_exchange.writers import WRITERS
    from benchmarks.runner.executors import EXECUTORS
    from reports.leaderboard import MERGE_POLICIES

    parser = run_bench.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))

    def choices(cmd: str, dest: str):
        return next(a.choices for a in sub.choices[cmd]._actions if a.dest == dest)

    assert tuple(choices("run", "executor")) == tuple(choices("robustness", "executor")) == tuple(EXECUTORS)
    assert tuple(choices("report", "merge_policy")) == MERGE_POLICIES
    assert tuple(choices("export", "writer")) == WRITERS


# --------------------------------------------------------------------------------------------
# torch's Triton line


TRITON_LINE = "Triton not available, find_triton_kernels = []"


def test_list_prints_no_triton_line(tmp_path):
    # `list` builds every backend's model class, spikingjelly's fused LIF included, which
    # registers torch.library.triton_op kernels: on this CPU build torch logged the line 4 times
    res = cli("list", cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "Triton not available" not in res.stderr, res.stderr[:2000]


def test_the_filter_drops_only_the_triton_line(capfd):
    import backends  # noqa: F401  (importing the package installs the filter)
    from backends.quiet_logs import TRITON_LOGGER, quiet_third_party_logs

    log = logging.getLogger(TRITON_LOGGER)
    quiet_third_party_logs()  # a second call adds no second filter
    assert len([f for f in log.filters if type(f).__name__ == "_DropTritonUnavailable"]) == 1
    handler = logging.StreamHandler(sys.stderr)
    log.addHandler(handler)
    try:
        log.warning(TRITON_LINE)
        log.warning("a kernel failed to compile: results may differ")
    finally:
        log.removeHandler(handler)
    err = capfd.readouterr().err
    assert "Triton not available" not in err
    assert "a kernel failed to compile: results may differ" in err
