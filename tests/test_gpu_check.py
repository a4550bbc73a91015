"""The GPU check's logic on the CPU: verdicts, the install command, lava-dl's architecture choice,
the time plan of the two calls, the pipeline's size, and the bundle's manifest and size check.
The run itself is rehearsed by `make gpu-rehearsal` (a Python 3.12 environment like the GPU
machine's image)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from tools.gpu import gpu_bundle as B
from tools.gpu import gpu_check as G

# --------------------------------------------------------------------------------------------
# verdicts


def test_verdict_ok_only_for_an_explicit_ok():
    assert G.verdict({"ok": True}) == ("ok", "")
    assert G.verdict({"python": "3.12"}) == ("FAILED", "the section reported no verdict")
    assert G.verdict({"ok": False, "error": "boom"}) == ("FAILED", "boom")
    assert G.verdict({"ok": False}) == ("FAILED", "its check failed")
    assert G.verdict({"skipped": "needs a CUDA device", "needs_cuda": True}) == (
        "SKIPPED", "needs a CUDA device")
    # a skip wins over a stale ok
    assert G.verdict({"ok": True, "skipped": "no time left"})[0] == "SKIPPED"


def test_rehearsal_tolerates_only_skips_for_want_of_cuda():
    sections = {"env": {"ok": True}, "nvml": {"skipped": "needs CUDA", "needs_cuda": True}}
    assert G.rehearsal_problems(sections) == []
    sections["grid"] = {"skipped": "no time left in the call (3 s)"}
    sections["backends"] = {"ok": False, "error": "norse unavailable"}
    assert G.rehearsal_problems(sections) == [
        "grid SKIPPED: no time left in the call (3 s)", "backends FAILED: norse unavailable"]


def test_summary_line_counts_ok_sections():
    line = G.summary_line("call A", [("env", "ok", ""), ("tests", "SKIPPED", "x" * 100),
                                     ("backends", "FAILED", "lava-dl/tiny failed")], 12.4)
    assert line == ("gpu-check call A: 1/3 sections ok in 12 s (env ok; tests SKIPPED: "
                    + "x" * 80 + "; backends FAILED: lava-dl/tiny failed)")


def _fake_status(monkeypatch, status):
    import backends.base

    monkeypatch.setattr(backends.base, "backend_status", lambda: status)


def test_env_fails_on_an_unavailable_backend_and_a_missing_wheel(monkeypatch, tmp_path):
    _fake_status(monkeypatch, {"norse": (False, "No module named 'norse'")})
    manifest = tmp_path / "MANIFEST.json"
    manifest.write_text(json.dumps({"wheels": [{"requirement": "no-such-dist-xyz==1.0"},
                                               {"requirement": f"pytest=={pytest.__version__}"}]}))
    monkeypatch.setenv("GPU_CHECK_BUNDLE", str(manifest))
    res = G.section_env("cpu")
    assert res["ok"] is False
    assert res["backends"]["norse"] == "UNAVAILABLE: No module named 'norse'"
    assert res["bundle"] == {"no-such-dist-xyz==1.0": None,
                             f"pytest=={pytest.__version__}": pytest.__version__}
    assert res["error"] == "backend norse unavailable; no-such-dist-xyz==1.0 not installed (found None)"
    assert G.verdict(res)[0] == "FAILED"


def test_backends_section_counts_an_unavailable_backend_as_failed(monkeypatch):
    _fake_status(monkeypatch, {"lava-dl": (False, "lava-dl failed to import")})
    res = G.section_backends("cpu")
    assert res["lava-dl"] == "UNAVAILABLE: lava-dl failed to import"
    assert res["ok"] is False and res["error"] == "lava-dl unavailable"


def test_cuda_only_sections_skip_on_cpu_with_their_reason():
    for fn in (G.section_precompile, G.section_nvml):
        res = fn("cpu")
        assert res["needs_cuda"] is True and "needs a CUDA device" in res["skipped"]
        assert G.verdict(res)[0] == "SKIPPED"


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="{e}"
failures="{f}" skipped="{s}" tests="{t}"><testcase name="a"><skipped message="needs a CUDA device"/>
</testcase><testcase name="b"><skipped message="needs a CUDA device"/></testcase>
<testcase name="c"><skipped message="no CUDA device"/></testcase></testsuite></testsuites>"""


def test_junit_counts_and_the_tests_verdict():
    c = G.junit_counts(JUNIT.format(e=0, f=0, s=3, t=4))
    assert (c["tests"], c["passed"], c["skips"]) == (4, 1, 3)
    assert c["skip_reasons"] == {"needs a CUDA device": 2, "no CUDA device": 1}
    cpu = G.tests_verdict(c, "cpu")
    assert cpu["skipped"] == "3 of 4 gpu tests skipped: 2 x needs a CUDA device; 1 x no CUDA device"
    assert cpu["needs_cuda"] is True and G.rehearsal_problems({"tests": cpu}) == []
    cuda = G.tests_verdict(c, "cuda")  # on the GPU a skip is a test that did not run: not ok
    assert G.verdict(cuda)[0] == "SKIPPED" and cuda["needs_cuda"] is False
    bad = G.tests_verdict(G.junit_counts(JUNIT.format(e=1, f=1, s=3, t=6)), "cuda")
    assert G.verdict(bad) == ("FAILED", "1 failed, 1 errors of 6 gpu tests")
    assert G.tests_verdict(G.junit_counts(JUNIT.format(e=0, f=0, s=0, t=3)), "cuda")["ok"] is True
    assert G.tests_verdict({**c, "tests": 0, "skips": 0}, "cuda")["ok"] is False


def test_gpu_test_files_are_those_with_the_marker():
    files = G._gpu_test_files()
    assert "tests/test_lava_dl.py" in files and "tests/test_spikingjelly.py" in files
    assert "tests/test_layout.py" not in files


@pytest.mark.gpu
def test_gpu_marked_tests_run_without_tf32():
    """tests/conftest.py: TF32 off in every gpu test (identical spikes on CPU and GPU)."""
    assert torch.backends.cuda.matmul.allow_tf32 is False
    assert torch.backends.cudnn.allow_tf32 is False


def test_tf32_is_restored_after_a_gpu_test():
    assert torch.backends.cudnn.allow_tf32 is True  # torch's default, as the fixture restores


# --------------------------------------------------------------------------------------------
# the install step


def _wheel(folder: Path, name: str, version: str, requires_python: str) -> Path:
    """A minimal pure-Python wheel ``name`` (module ``name`` with ``VALUE = 42``)."""
    w = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": "VALUE = 42\n",
             f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                  f"Requires-Python: {requires_python}\n"),
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(w, "w") as z:
        for n, text in files.items():
            z.writestr(n, text)
    return w


def test_install_command_line():
    cmd = G.install_command("python3", ["a.whl", "b.whl"], Path("/t"))
    assert cmd == ["python3", "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                   "--ignore-requires-python", "--disable-pip-version-check", "--target", "/t",
                   "a.whl", "b.whl"]


@pytest.mark.slow
def test_install_takes_a_wheel_whose_requires_python_excludes_this_python(tmp_path):
    """lava-dl 0.6.0 declares Python < 3.11; without --ignore-requires-python pip refuses it."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    w = _wheel(bundle, "oldpy_pkg", "1.0", "<3.0")
    plain = [a for a in G.install_command(sys.executable, [str(w)], tmp_path / "t0")
             if a != "--ignore-requires-python"]
    assert subprocess.run(plain, capture_output=True).returncode != 0
    (bundle / "MANIFEST.json").write_text(json.dumps({"wheels": [
        {"file": w.name, "requirement": "oldpy_pkg==1.0"}]}))
    res = G.install_bundle(bundle, tmp_path / "site")
    assert res["ok"] is True and res["missing"] == [] and res["wheels"] == 1
    assert (tmp_path / "site" / "oldpy_pkg" / "__init__.py").read_text() == "VALUE = 42\n"
    assert G.install_bundle(bundle, tmp_path / "site").get("reused") is True


def test_install_reports_a_missing_wheel_and_a_missing_manifest(tmp_path):
    assert G.install_bundle(tmp_path, tmp_path / "site")["ok"] is False
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"wheels": [
        {"file": "gone-1.0-py3-none-any.whl", "requirement": "gone==1.0"}]}))
    res = G.install_bundle(tmp_path, tmp_path / "site")
    assert res["ok"] is False and res["missing"] == ["gone-1.0-py3-none-any.whl"]
    assert "gone-1.0-py3-none-any.whl" in res["error"]


def test_unzip_install_without_pip(tmp_path):
    w = _wheel(tmp_path, "nopip_pkg", "2.0", ">=3")
    G._unzip_install([str(w)], tmp_path / "site")
    assert (tmp_path / "site" / "nopip_pkg" / "__init__.py").is_file()
    assert (tmp_path / "site" / "nopip_pkg-2.0.dist-info" / "METADATA").is_file()


# --------------------------------------------------------------------------------------------
# lava-dl on the device's architecture, in float32 under AMP


def test_cuda_arch_list_is_the_device_capability():
    from backends.adapters.lava_dl import cuda_arch_list

    assert cuda_arch_list((9, 0)) == "9.0"  # H100: sm_90, not lava-dl's '8.0'
    assert cuda_arch_list((8, 6)) == "8.6"
    assert cuda_arch_list((12, 0)) == "12.0"
    with pytest.raises(ValueError, match="compute capability"):
        cuda_arch_list((9.0, 0))


@pytest.mark.lava
def test_import_slayer_sets_jitconfig_from_the_device(monkeypatch):
    from backends.adapters import lava_dl

    ok, why = lava_dl.BACKEND.available()
    if not ok:
        pytest.skip(why)
    jit = sys.modules["lava.lib.dl.slayer.jitconfig"]
    monkeypatch.setattr(jit, "TORCH_CUDA_ARCH_LIST", "8.0")  # lava-dl's value for any cc >= 8
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))
    lava_dl.import_slayer()
    assert jit.TORCH_CUDA_ARCH_LIST == "9.0"


def test_lava_dl_runs_float32_when_amp_is_on():
    from backends.base import get_backend
    from benchmarks.runner.training import autocast, effective_amp

    lava, snn = get_backend("lava-dl"), get_backend("snntorch")
    assert lava.amp_support[0] is False
    assert effective_amp(lava, "bf16") == "off" and effective_amp(snn, "bf16") == "bf16"
    assert effective_amp(None, "fp16") == "fp16"
    a = torch.ones(4, 4)
    with autocast("cpu", "bf16", lava):
        assert (a @ a).dtype == torch.float32
    with autocast("cpu", "bf16", snn):
        assert (a @ a).dtype == torch.bfloat16


# --------------------------------------------------------------------------------------------
# the time plan and the pipeline's size


def test_each_call_fits_five_minutes_by_its_budgets():
    assert G.CALL_LIMIT_S == 300
    assert G.CALLS["A"] == ("env", "precompile", "tests", "backends")
    assert G.CALLS["B"] == ("pipeline", "grid", "speed", "nvml")
    assert G.CALLS["C"] == ("zoo",)
    for call in G.CALLS:
        assert G.call_budget_s(call) == G.INSTALL_BUDGET_S + sum(G.BUDGET_S[s] for s in G.CALLS[call])
        assert G.call_budget_s(call) <= G.CALL_LIMIT_S, call
    assert sorted(s for c in G.CALLS.values() for s in c) == sorted(G.SECTIONS) == sorted(G.BUDGET_S)


def test_pipeline_recordings_give_every_worker_several_batches():
    # 16 workers x 2 batches x 32 = 1024 training samples; 1024 / (0.9 * 0.85) = 1338.6
    assert G.PIPELINE_BATCHES_PER_WORKER == 2
    assert G.pipeline_recordings(16, 32) == 1340
    assert 1340 * 0.9 * 0.85 >= 16 * 2 * 32
    assert G.pipeline_recordings(2, 32, per_worker=4) == 336  # 256 / 0.765 = 334.6 -> 335, + 1
    assert G.pipeline_recordings(0, 8, per_worker=1) == 12  # at least one worker: 8 / 0.765


# --------------------------------------------------------------------------------------------
# the bundle


def test_bundle_lists_what_the_image_lacks():
    names = {e.name for e in B.ENTRIES}
    assert {"snntorch", "spikingjelly", "norse", "sinabs", "lava-dl", "neurobench", "tonic",
            "importRosbag", "eventcv", "nir", "nirtorch", "loguru", "pbr"} <= names
    by = {e.name: e for e in B.ENTRIES}
    assert by["norse"].source == "sdist" and by["lava-dl"].source == "repack"
    assert (by["nir"].version, by["nirtorch"].version) == ("1.0.8", "2.6")
    image = (Path(B.ROOT) / "tools" / "gpu" / "gpu_image.txt").read_text()
    assert "torch==2.11.0" in image and not names & {ln.split("=")[0] for ln in image.splitlines()}


def test_download_command_asks_for_cpython_312_wheels():
    cmd = B.download_command("py", B.ENTRIES[:1], Path("d"))
    for flag in ("--no-deps", "--only-binary=:all:", "--ignore-requires-python"):
        assert flag in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    assert "cp312" in cmd and "manylinux_2_28_x86_64" in cmd and cmd[-1] == "snntorch==1.0.0"


def test_repack_drops_folders_and_their_record_lines(tmp_path):
    src = tmp_path / "in" / "lava_dl-0.6.0-py3-none-any.whl"
    src.parent.mkdir()
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("lava/lib/dl/slayer/__init__.py", "x = 1\n")
        z.writestr("lava/lib/dl/slayer/object_detection/models/network.pt", b"\0" * 1000)
        z.writestr("tests/__init__.py", "")
        z.writestr("lava_dl-0.6.0.dist-info/RECORD",
                   "lava/lib/dl/slayer/__init__.py,sha256=a,6\n"
                   "lava/lib/dl/slayer/object_detection/models/network.pt,sha256=b,1000\n"
                   "tests/__init__.py,sha256=c,0\nlava_dl-0.6.0.dist-info/RECORD,,\n")
    (tmp_path / "out").mkdir()
    out = B.repack_without(src, tmp_path / "out", B.LAVA_DROP)
    with zipfile.ZipFile(out) as z:
        assert sorted(z.namelist()) == ["lava/lib/dl/slayer/__init__.py",
                                        "lava_dl-0.6.0.dist-info/RECORD"]
        assert z.read("lava_dl-0.6.0.dist-info/RECORD").decode() == (
            "lava/lib/dl/slayer/__init__.py,sha256=a,6\nlava_dl-0.6.0.dist-info/RECORD,,\n")
    (tmp_path / "bad.whl").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "bad.whl", "w") as z:
        z.writestr("a.py", "")
    with pytest.raises(B.BundleError, match="RECORD"):
        B.repack_without(tmp_path / "bad.whl", tmp_path / "out", B.LAVA_DROP)


def test_manifest_and_size_check(tmp_path):
    entries = (B.Entry("alpha==1.0", "for a"), B.Entry("beta-pkg==2.0", "for b"))
    (tmp_path / "alpha-1.0-py3-none-any.whl").write_bytes(b"a" * 300)
    (tmp_path / "beta_pkg-2.0-cp312-cp312-manylinux_2_28_x86_64.whl").write_bytes(b"b" * 700)
    m = B.make_manifest(tmp_path, entries, source_bytes=24)
    assert [(i["requirement"], i["bytes"]) for i in m["wheels"]] == [("alpha==1.0", 300),
                                                                     ("beta-pkg==2.0", 700)]
    assert (m["wheels_bytes"], m["total_bytes"], m["limit_bytes"]) == (1000, 1024, 64 * 2**20)
    B.check_manifest(m, tmp_path)
    with pytest.raises(B.BundleError, match="over the 0 MiB"):
        B.check_manifest({**m, "limit_bytes": 1023}, tmp_path)
    B.check_manifest({**m, "limit_bytes": 1024}, tmp_path)  # exactly at the limit fits
    (tmp_path / "extra-1.0-py3-none-any.whl").write_bytes(b"")
    with pytest.raises(B.BundleError, match="not in MANIFEST.json: extra-1.0"):
        B.check_manifest(m, tmp_path)
    (tmp_path / "alpha-1.0-py3-none-any.whl").unlink()
    with pytest.raises(B.BundleError, match="alpha-1.0-py3-none-any.whl .alpha==1.0. is missing"):
        B.check_manifest(m, tmp_path)
    with pytest.raises(B.BundleError, match="0 wheels for alpha==1.0"):
        B.make_manifest(tmp_path, entries, source_bytes=0)


def test_a_small_bundle_builds_and_fits(tmp_path, capsys):
    """`build` end to end on one small entry of the bundle (loguru, a 60 KB pure-Python wheel):
    pip downloads it as a CPython 3.12 wheel, the manifest lists it with its size and SHA-256,
    the source tree is counted as `git ls-files` lists it, and `--check` accepts the folder."""
    import hashlib

    (entry,) = [e for e in B.ENTRIES if e.name == "loguru"]
    out = tmp_path / "bundle"
    try:
        m = B.build(out, entries=(entry,))
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"pip cannot download {entry.requirement} here (no package index or wheel "
                    f"cache reachable): {exc}")
    (wheel,) = sorted(out.glob("*.whl"))
    assert wheel.name == "loguru-0.7.3-py3-none-any.whl"
    assert m["wheels"] == [{"file": wheel.name, "requirement": "loguru==0.7.3",
                            "bytes": wheel.stat().st_size,
                            "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
                            "why": entry.why, "source": "wheel"}]
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=B.ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    tree = sum((Path(B.ROOT) / n).stat().st_size for n in listed if n and (Path(B.ROOT) / n).is_file())
    assert m["source_bytes"] == tree
    assert m["total_bytes"] == wheel.stat().st_size + tree <= m["limit_bytes"] == 64 * 2**20
    assert json.loads((out / B.MANIFEST).read_text()) == m
    # --check re-counts the source tree against the folder's wheels; a foreign wheel fails it
    assert B.main(["--out", str(out), "--check"]) == 0
    (out / "stray-1.0-py3-none-any.whl").write_bytes(b"x")
    assert B.main(["--out", str(out), "--check"]) == 2
    assert "wheels not in MANIFEST.json: stray-1.0-py3-none-any.whl" in capsys.readouterr().err


def test_the_built_bundle_fits():
    """The full bundle of `make gpu-bundle`, where built: its manifest matches the folder and,
    with the source tree as it is now, fits the 64 MiB a device call carries. The tests do not
    build it: it downloads about 70 MiB of wheels (lava-dl's alone is 65 MiB before repacking);
    :func:`test_a_small_bundle_builds_and_fits` runs the same build on one small wheel."""
    folder = Path(B.ROOT) / "gpu-bundle"
    if not (folder / B.MANIFEST).is_file():
        pytest.skip("gpu-bundle/ not built (make gpu-bundle: about 70 MiB of downloads)")
    m = json.loads((folder / B.MANIFEST).read_text())
    m["source_bytes"] = B.source_tree_bytes()
    B.check_manifest(m, folder)
    assert {i["requirement"] for i in m["wheels"]} == {e.requirement for e in B.ENTRIES}


def test_pipeline_recordings_beyond_the_distinct_ones_are_hard_links(tmp_path):
    from benchmarks.runner.estimate import _write_recordings
    from datasets.folds import read_folds_csv

    root = _write_recordings(tmp_path, 5, 50, distinct=2)
    files = [root / "CKPlusDVS" / f"S{i:03d}" / "001.h5" for i in range(5)]
    assert [f.stat().st_nlink for f in files] == [3, 2, 3, 2, 3]  # 0, 2, 4 and 1, 3 share inodes
    assert files[4].read_bytes() == files[0].read_bytes() != files[1].read_bytes()
    assert len(read_folds_csv(root / "CKPlusDVS" / "folds.csv")) == 5


# --------------------------------------------------------------------------------------------
# the parent: results file, log, exit status, budgets


@pytest.mark.slow
def test_a_run_writes_its_results_file_and_log(tmp_path, capsys):
    """precompile on a CPU: SKIPPED, so not ok (exit 1), but a rehearsal accepts it (exit 0)."""
    assert G.main(["--only", "precompile", "--device", "cpu", "--out", str(tmp_path)]) == 1
    data = json.loads((tmp_path / "gpu_check.json").read_text())
    assert data["sections"]["precompile"]["needs_cuda"] is True
    assert data["sections"]["precompile"]["budget_s"] == G.BUDGET_S["precompile"]
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("gpu-check sections: 0/1 sections ok in ")
    assert line.endswith("(precompile SKIPPED: needs a CUDA device (lava-dl's CUDA extension), "
                         "device is cpu)")
    assert (tmp_path / "gpu_check.log").read_text().strip().splitlines()[-1] == line
    assert G.main(["--only", "precompile", "--device", "cpu", "--out", str(tmp_path),
                   "--rehearsal"]) == 0
    assert json.loads((tmp_path / "gpu_check.json").read_text())["calls"]["sections"][
        "rehearsal_problems"] == []


@pytest.mark.slow
def test_a_section_over_its_budget_is_killed_and_reported(tmp_path):
    import os

    run = G._Run(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(G.ROOT))
    res = G._run_section(run, "tests", "cpu", env, timeout=2)
    assert res["ok"] is False and res["error"] == "over its 2 s budget"
    assert G.verdict(res) == ("FAILED", "over its 2 s budget")
    assert G.main(["--only", "nope"]) == 2
