"""The Loihi 2 check's parts that run without Lava: the alignment of Lava's delayed rasters
(tools/loihi/compare.py), the readout current from netx's integrator, the Loihi-precision export
and its integers against the on-chip evaluation's quantisation (tools/loihi/prepare.py), the
record of the last check (tools/loihi/record.py, backends/targets/lava_check.py) and the
deployment table's Lava column. The Lava run itself is `make loihi-check`
(docs/guides/loihi-check.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"loihi_{name}", ROOT / "tools" / "loihi" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


compare = _load("compare")


def test_windows_undo_the_per_layer_delay():
    # two samples of T = 3 steps, period 8; layer 2 sees the input 2 steps late
    stream = np.zeros((16, 1), dtype=np.int64)
    stream[2:5, 0] = [1, 2, 3]      # sample 0 at steps 0+2 .. 2+2
    stream[10:13, 0] = [4, 5, 6]    # sample 1 at steps 8+2 .. 10+2
    got = compare.windows(stream, n_samples=2, period=8, steps=3, delay=2)
    assert got[..., 0].tolist() == [[1, 2, 3], [4, 5, 6]]
    # the wrong delay reads other steps
    assert compare.windows(stream, 2, 8, 3, delay=1)[..., 0].tolist() == [[0, 1, 2], [0, 4, 5]]
    with pytest.raises(ValueError, match="exceeds the period"):
        compare.windows(stream, 2, 8, 3, delay=6)
    with pytest.raises(ValueError, match="need 24"):
        compare.windows(stream, 3, 8, 3, delay=0)


def test_compare_spikes_counts_mismatches_on_a_shifted_raster():
    rng = np.random.default_rng(0)
    ref = (rng.random((2, 5, 3, 4)) < 0.3).astype(np.uint8)
    same = compare.compare_spikes(ref, ref.astype(bool))
    assert same == {"compared": 120, "spikes_reference": int(ref.sum()),
                    "spikes_lava": int(ref.sum()), "mismatches": 0, "first_mismatch": None}
    # a raster one step late: mismatches where consecutive steps differ, worked out directly
    late = np.zeros_like(ref)
    late[:, 1:] = ref[:, :-1]
    res = compare.compare_spikes(ref, late)
    expected = int((ref[:, 0] != 0).sum() + (ref[:, 1:] != ref[:, :-1]).sum())
    assert res["mismatches"] == expected > 0
    first = res["first_mismatch"]
    assert ref[tuple(first)] != late[tuple(first)]
    with pytest.raises(ValueError, match="shapes differ"):
        compare.compare_spikes(ref, ref[:, :4])


def test_current_from_integrator_and_fixed_point_comparison():
    # a non-leaky integrator's u for currents 3, -1, 4 (and 0, 2, 2) in units of 1/4096
    u = np.array([[[3], [2], [6]], [[0], [2], [4]]])
    assert compare.current_from_integrator(u)[..., 0].tolist() == [[3, -1, 4], [0, 2, 2]]
    ref = np.array([[[3], [-1], [4]], [[0], [2], [2]]]) / 4096.0
    lava = compare.current_from_integrator(u)
    assert compare.compare_currents(ref, lava)["mismatches"] == 0
    # one unit off is a mismatch; a float error under half a unit is not
    off = lava.copy()
    off[1, 2, 0] += 1
    res = compare.compare_currents(ref, off)
    assert res["mismatches"] == 1 and res["first_mismatch"] == [1, 2, 0]
    assert res["max_abs_diff"] == pytest.approx(1 / 4096)
    assert compare.compare_currents(ref + 0.4 / 4096, lava)["mismatches"] == 0


def test_readout_units_are_slayer_weight_scale_times_loihi_shift():
    from backends.adapters.lava_dl import SLAYER_W_SCALE

    # lava-dl writes weight * 64; Lava aligns the synaptic sum 6 bits up (64 * 64)
    assert compare.READOUT_UNITS == SLAYER_W_SCALE * (1 << 6) == 4096


@pytest.fixture(scope="module")
def lava_checkpoint(tmp_path_factory):
    """A lava-dl tiny_nir model saved like a trained cell (random initial weights)."""
    from backends.base import get_backend

    lava = get_backend("lava-dl")
    ok, why = lava.available()
    if not ok:
        pytest.skip(why)
    return lava


def test_loihi2_export_writes_slayer_8bit_integers(lava_checkpoint, tmp_path):
    import h5py
    import torch

    from backends.nir_exchange import canonical_state, export_lava_hdf5
    from backends.specs import get_arch

    shape, k = (8, 2, 48, 48), 7
    model = lava_checkpoint.build(get_arch("tiny_nir"), shape, k)
    torch.manual_seed(0)
    state = canonical_state(model)
    path = export_lava_hdf5(model, "lava-dl", "tiny_nir", tmp_path / "q.net", loihi2=True)
    float_path = export_lava_hdf5(model, "lava-dl", "tiny_nir", tmp_path / "f.net")
    with h5py.File(path) as f, h5py.File(float_path) as g:
        w = f["layer/0/weight"][()]
        w_float = g["layer/0/weight"][()]
    # SLAYER's quantize_8bit: step 2 in units of 1/64, range [-256, 254]
    expected = np.clip(np.round(state["conv1.weight"].numpy() * 64 / 2) * 2, -256, 254)
    assert np.array_equal(w, expected)
    assert np.all(w % 2 == 0) and not np.array_equal(w_float, np.round(w_float))


def test_prepare_missing_checkpoint_is_exit_2(lava_checkpoint, tmp_path):
    prepare = _load("prepare")
    from backends.nir_exchange import export_lava_hdf5
    from backends.specs import get_arch

    model = lava_checkpoint.build(get_arch("tiny_nir"), (8, 2, 48, 48), 7)
    net = export_lava_hdf5(model, "lava-dl", "tiny_nir", tmp_path / "f.net")
    ckpt = tmp_path / "missing.pt"
    assert prepare.main(["suite", str(ckpt), str(net), str(tmp_path)]) == 2


def _copy_with(src: Path, dst: Path, key: str, edit) -> Path:
    """Copy an hdf5 network file and replace dataset ``key`` by ``edit(value)``."""
    import shutil

    import h5py

    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        value = edit(f[key][()])
        del f[key]
        f[key] = value
    return dst


@pytest.mark.parametrize("arch, dv", [("tiny_nir", 2048), ("tiny_iaf", 0)])
def test_loihi2_export_holds_the_on_chip_evaluations_integers(lava_checkpoint, tmp_path, arch, dv):
    import torch

    from backends.nir_exchange import canonical_state, export_lava_hdf5
    from backends.specs import get_arch
    from backends.targets import loihi2_fixed

    prepare = _load("prepare")
    torch.manual_seed(1)
    model = lava_checkpoint.build(get_arch(arch), (8, 2, 48, 48), 7)
    net = export_lava_hdf5(model, "lava-dl", arch, tmp_path / "q.net", loihi2=True)
    quant = loihi2_fixed.quantize(get_arch(arch), canonical_state(model), 7)
    # by hand: CUBA current decay 1 -> du = 4096 - 1; voltage decay 1 - beta on the 1/4096 grid
    # (beta 0.5: 2048; IF, beta 1: 0); threshold 0.25 on the 1/64 grid -> vThMant 16
    assert [(q.neuron.du, q.neuron.dv, q.neuron.vth_mant) for q in quant[:-1]] == [(4095, dv, 16)] * 3
    assert prepare.check_export(net, quant) == ["conv", "conv", "conv", "flatten", "dense"]

    # one weight unit off, a decay or a threshold changed: refused, naming layer and field
    def bump(w):
        w = w.copy()
        w.flat[5] += 2
        return w

    bad = _copy_with(net, tmp_path / "w.net", "layer/1/weight", bump)
    with pytest.raises(prepare.PrepareError, match=r"layer 'conv2' field weight\[0, 0, 1, 2\]"):
        prepare.check_export(bad, quant)
    bad = _copy_with(net, tmp_path / "d.net", "layer/2/neuron/vDecay", lambda v: v + 1)
    with pytest.raises(prepare.PrepareError, match=f"layer 'conv3' field dv: {dv + 1} in the file"):
        prepare.check_export(bad, quant)
    bad = _copy_with(net, tmp_path / "t.net", "layer/0/neuron/vThMant", lambda v: v * 2)
    with pytest.raises(prepare.PrepareError, match="layer 'conv1' field vth_mant: 32"):
        prepare.check_export(bad, quant)
    # the float export (netx would requantise it its own way) is refused
    float_net = export_lava_hdf5(model, "lava-dl", arch, tmp_path / "f.net")
    with pytest.raises(prepare.PrepareError, match="float weights"):
        prepare.check_export(float_net, quant)


@pytest.mark.parametrize("py310", ["/nonexistent/python3.10", sys.executable])
def test_build_env_without_python310_is_one_line_exit_2(py310, tmp_path):
    import os
    import subprocess

    env = {**os.environ, "PY310": py310}
    res = subprocess.run(["bash", str(ROOT / "tools" / "loihi" / "build_env.sh"),
                          str(tmp_path / "venv")], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loihi-env: ")
    assert "3.10" in lines[0] and not (tmp_path / "venv").exists()


# --- the record of the last check, read by the deployment table ----------------------------


def test_quantization_digest_is_sha256_of_the_three_sources_and_changes_with_them(tmp_path):
    import hashlib
    import shutil

    from backends.targets import lava_check

    folder = ROOT / "backends" / "targets"
    h = hashlib.sha256()
    for name in ("loihi2_fixed.py", "fixed.py", "loihi2.toml"):
        h.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    assert lava_check.quantization_digest() == h.hexdigest()
    for name in lava_check.SOURCES:
        shutil.copy(folder / name, tmp_path / name)
    assert lava_check.quantization_digest(tmp_path) == h.hexdigest()
    toml = tmp_path / "loihi2.toml"
    toml.write_text(toml.read_text().replace("value = 12", "value = 11", 1))
    assert lava_check.quantization_digest(tmp_path) != h.hexdigest()


def _check_dir(tmp_path: Path, arch: str, mismatches: int = 0) -> Path:
    """A folder as `make loihi-check` leaves it: loihi_check.json (a suite case) + suite.npz."""
    import json

    d = tmp_path / arch
    d.mkdir()
    np.savez(d / "suite.npz", indices=np.array([3, 40, 77]), n_test_split=np.array(80))
    layers = {"conv1": {"kind": "conv", "delay": 1, "compared": 1000, "spikes_reference": 70,
                        "spikes_lava": 70, "mismatches": 0, "first_mismatch": None},
              "conv2": {"kind": "conv", "delay": 2, "compared": 500, "spikes_reference": 30,
                        "spikes_lava": 30 + mismatches, "mismatches": mismatches,
                        "first_mismatch": [0, 1, 2, 3, 4] if mismatches else None},
              "readout": {"kind": "readout current", "delay": 3, "units": 4096, "compared": 21,
                          "mismatches": 0, "max_abs_diff": 0.0, "first_mismatch": None}}
    result = {"date": "2026-12-08", "versions": {"lava-nc": "0.10.0", "lava-dl": "0.6.0",
                                                  "numpy": "1.26.4"},
              "python": "3.10.13", "tag": "fixed_pt", "mismatches": mismatches, "wall_s": 9.0,
              "cases": [{"case": "suite", "network": str(d / "model.net"), "samples": 3,
                         "time_steps": 8, "wall_s": 8.5, "layers": layers, "arch": arch,
                         "dataset": "synthetic-fer-dvs", "mismatches": mismatches,
                         "checkpoint": f"/tmp/run/checkpoints/{arch}.pt"}]}
    (d / "loihi_check.json").write_text(json.dumps(result))
    return d


def test_record_keeps_one_entry_per_arch_with_the_checks_numbers(tmp_path):
    import json

    from backends.targets.lava_check import quantization_digest

    record_mod = _load("record")
    rec = tmp_path / "record.json"
    assert record_mod.main([str(_check_dir(tmp_path, "tiny_nir")), "--record", str(rec)]) == 0
    assert record_mod.main([str(_check_dir(tmp_path, "tiny_iaf", 2)), "--record", str(rec)]) == 0
    checks = json.loads(rec.read_text())["checks"]
    assert [c["arch"] for c in checks] == ["tiny_iaf", "tiny_nir"]
    iaf = checks[0]
    assert (iaf["date"], iaf["lava-nc"], iaf["lava-dl"], iaf["samples"], iaf["test_split"],
            iaf["indices"], iaf["time_steps"], iaf["checkpoint"]) == (
        "2026-12-08", "0.10.0", "0.6.0", 3, 80, [3, 40, 77], 8, "tiny_iaf.pt")
    # 1000 + 500 spike values and 21 currents; 70 + 30 reference spikes; conv2's 2 mismatches
    assert (iaf["values_compared"], iaf["spikes_compared"], iaf["mismatches"]) == (1521, 100, 2)
    assert iaf["layers"]["conv2"]["mismatches"] == 2
    assert iaf["quantization_sha256"] == quantization_digest()
    # a new check of tiny_iaf replaces its entry and keeps tiny_nir's
    (tmp_path / "tiny_iaf").rename(tmp_path / "old")
    assert record_mod.main([str(_check_dir(tmp_path, "tiny_iaf")), "--record", str(rec)]) == 0
    checks = json.loads(rec.read_text())["checks"]
    assert [(c["arch"], c["mismatches"]) for c in checks] == [("tiny_iaf", 0), ("tiny_nir", 0)]
    assert record_mod.main([str(tmp_path / "nowhere"), "--record", str(rec)]) == 2


def _deployment_record(arch: str, target: str = "loihi2", family: str = "loihi2") -> dict:
    return {"kind": "deployment", "status": "skipped", "error": "not evaluated here",
            "cell": {"arch": arch, "backend": "lava-dl", "seed": 0},
            "deployment": {"target": target, "family": family,
                           "fit": {"verdict": "unknown", "reason": "no per-core limit"}}}


def test_deployment_rows_say_whether_loihi2_was_checked_with_lava(tmp_path, monkeypatch):
    import json

    from backends.targets import lava_check
    from reports.deployment import deployment_markdown, deployment_rows

    record_mod = _load("record")
    rec = tmp_path / "record.json"
    monkeypatch.setattr(lava_check, "RECORD", rec)
    recs = [_deployment_record("tiny_nir"), _deployment_record("tiny_iaf"),
            _deployment_record("tiny_nir", "speck", "dynapcnn")]
    # missing record
    assert [r["lava_check"] for r in deployment_rows(recs)] == [
        "not checked with Lava", "not checked with Lava", "n/a"]
    # current for tiny_nir only
    assert record_mod.main([str(_check_dir(tmp_path, "tiny_nir")), "--record", str(rec)]) == 0
    rows = deployment_rows(recs)
    assert rows[0]["lava_check"] == ("checked with Lava 2026-12-08, lava-nc 0.10.0, lava-dl "
                                     "0.6.0, 0 mismatches on 3 samples")
    assert rows[1]["lava_check"] == "not checked with Lava"
    assert rows[0]["lava_check"] in deployment_markdown(recs)
    # stale: the quantisation changed after the check
    data = json.loads(rec.read_text())
    data["checks"][0]["quantization_sha256"] = "0" * 64
    rec.write_text(json.dumps(data))
    assert deployment_rows(recs)[0]["lava_check"] == (
        "not checked with Lava (stale: the check of 2026-12-08 compared a Loihi 2 quantisation "
        "changed since)")
    rec.write_text("{not json")
    assert deployment_rows(recs)[0]["lava_check"].startswith(
        f"not checked with Lava (unreadable record: {rec}: not JSON")


def test_committed_record_holds_the_checked_archs():
    from backends.targets.lava_check import read_record

    rec = read_record()
    assert rec is not None and {c["arch"] for c in rec["checks"]} >= {"tiny_nir", "tiny_iaf"}
    for c in rec["checks"]:
        assert c["samples"] == len(c["indices"]) <= c["test_split"]
        assert c["values_compared"] == sum(v["compared"] for v in c["layers"].values())
