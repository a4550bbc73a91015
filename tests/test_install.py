"""Living beside Hugging Face ``datasets``: a package of another project that shadows one of the
suite's top-level packages is reported at start-up, naming both places and the way out
(``run_bench.shadowed_packages_message``; docs/guides/install.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# what the console script ``neurofer-bench`` does (pyproject: run_bench:main)
CONSOLE_ENTRY = "import sys; from run_bench import main; sys.exit(main(sys.argv[1:]))"


def stand_in(tmp_path: Path) -> Path:
    """A folder holding a package named ``datasets`` that is not the suite's."""
    d = tmp_path / "other"
    (d / "datasets").mkdir(parents=True)
    (d / "datasets" / "__init__.py").write_text('"""A stand-in for Hugging Face datasets."""\n'
                                                '__version__ = "0.0-stand-in"\n')
    return d


def run(args: list[str], cwd: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath))}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_shadowing_datasets_package_is_reported_with_both_places(tmp_path):
    other = stand_in(tmp_path)
    # the console entry point, started from another folder, the stand-in first on the path
    res = run(["-c", CONSOLE_ENTRY, "list"], cwd=tmp_path, pythonpath=[other, ROOT])
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("error: another installed package shadows a package of NeuroFER-Bench")
    assert lines[1] == f"  'datasets' is imported from {other / 'datasets'}, not from {ROOT / 'datasets'}"
    assert len(lines) == 3  # only datasets is shadowed
    assert "own environment" in lines[2] and f"cd {ROOT} && python run_bench.py" in lines[2]
    assert res.stdout == ""


def test_running_from_the_repository_is_the_way_out(tmp_path):
    other = stand_in(tmp_path)
    # the script's folder comes first on sys.path: the suite's own packages win
    res = run([str(ROOT / "run_bench.py"), "--help"], cwd=tmp_path, pythonpath=[other])
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith("usage: run_bench.py")
    # without the stand-in the console entry starts too
    res = run(["-c", CONSOLE_ENTRY, "--help"], cwd=tmp_path, pythonpath=[ROOT])
    assert res.returncode == 0 and res.stdout.startswith("usage:"), res.stderr[-2000:]


def test_a_shared_site_packages_datasets_folder_is_reported(tmp_path):
    # a non-editable install beside Hugging Face datasets: one site-packages/datasets folder,
    # written by two distributions (their records stood in for by packages_distributions)
    site = tmp_path / "site-packages"
    for name in ("datasets", "backends", "benchmarks", "reports"):
        (site / name).mkdir(parents=True)
        (site / name / "__init__.py").write_text("")
    shutil.copy(ROOT / "run_bench.py", site / "run_bench.py")
    code = ("import importlib.metadata as m, sys; "
            "m.packages_distributions = lambda: {'datasets': ['neurofer-bench', 'datasets']}; "
            f"sys.path.insert(0, {str(site)!r}); import run_bench")
    res = run(["-c", code], cwd=tmp_path, pythonpath=[])
    assert res.returncode == 2, res.stderr[-2000:]
    assert (f"  {site / 'datasets'} is written by several distributions: datasets, neurofer-bench"
            in res.stderr.splitlines())
    # one owner: no message (the import then goes on, to the stub packages or, through the
    # editable install's finder, to the suite's own modules)
    code = code.replace("['neurofer-bench', 'datasets']", "['neurofer-bench']")
    res = run(["-c", code], cwd=tmp_path, pythonpath=[])
    assert "several distributions" not in res.stderr
