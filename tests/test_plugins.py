"""Third-party packages add backends, architectures and datasets through entry points: a tiny
plugin package installed into a temporary path shows up in ``list`` and runs in a grid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
"""A demo plugin: one backend, one architecture, one dataset."""
import dataclasses

from backends.adapters.ann import AnnBackend
from backends.base import register_backend
from backends.specs import get_arch, register_arch
from datasets.base import register_dataset
from datasets.loaders.synthetic import SyntheticFerDVSMini


class DemoBackend(AnnBackend):
    name = "demo-ann"


BACKEND = register_backend(DemoBackend())


@register_arch("tiny_demo")
def tiny_demo():
    return dataclasses.replace(get_arch("tiny"), name="tiny_demo")


@register_dataset
class DemoFer(SyntheticFerDVSMini):
    name = "demo-fer"
    aliases = ("DemoFER",)
'''

ENTRY_POINTS = """[neurofer_bench.backends]
demo = neurofer_demo_plugin

[neurofer_bench.archs]
demo = neurofer_demo_plugin

[neurofer_bench.datasets]
demo = neurofer_demo_plugin
"""


def _install(site: Path) -> None:
    """What ``pip install`` leaves for a package with entry points: the module and a dist-info."""
    (site / "neurofer_demo_plugin.py").write_text(PLUGIN)
    info = site / "neurofer_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: neurofer-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)


def _run(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    return subprocess.run([sys.executable, str(ROOT / "run_bench.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_plugin_package_is_listed_and_runs_in_a_grid(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _install(site)
    listing = _run(["list"], site, tmp_path)
    assert listing.returncode == 0, listing.stderr
    out = listing.stdout
    assert "demo-ann" in out and "tiny_demo" in out and "demo-fer" in out
    run = tmp_path / "run"
    res = _run(["run", "--backends", "demo-ann", "--datasets", "DemoFER", "--archs", "tiny_demo",
                "--epochs", "1", "--out", str(run), "--data-root", str(tmp_path / "data"), "-q"],
               site, tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    (rec,) = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert rec["status"] == "ok", rec.get("error")
    assert (rec["cell"]["backend"], rec["cell"]["arch"], rec["cell"]["dataset"]) == (
        "demo-ann", "tiny_demo", "demo-fer")
    # without the plugin on the path the names are unknown: a clear error, exit 2
    res = _run(["run", "--backends", "demo-ann", "--out", str(tmp_path / "r2")], tmp_path / "none",
               tmp_path)
    assert res.returncode == 2 and "unknown backend 'demo-ann'" in res.stderr
