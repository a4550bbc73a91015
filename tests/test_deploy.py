"""Chip-precision evaluation: Loihi 2 and DYNAP-CNN quantisation against lava-dl's and sinabs' own
code and hand-worked cases; the fixed-point forward against SLAYER's fixed point."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from backends.specs import get_arch
from backends.targets import loihi2_fixed, speck_fixed
from backends.targets.fixed import float_layers, run_layers, spike_agreement


def _slayer():
    from backends.adapters.lava_dl import import_slayer
    from backends.base import BackendUnavailableError

    try:
        return import_slayer()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))


def _sinabs_discretize():
    """sinabs' ``discretize.py`` loaded from its file (plain Python over torch and sinabs.layers;
    the package ``sinabs.backend.dynapcnn`` needs samna)."""
    sinabs = pytest.importorskip("sinabs")
    path = Path(sinabs.__file__).parent / "backend" / "dynapcnn" / "discretize.py"
    spec = importlib.util.spec_from_file_location("_sinabs_discretize", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------------------------------ Loihi 2


def test_loihi2_weights_decays_threshold_equal_lava_dl():
    cuba = _slayer().neuron.cuba
    n = cuba.Neuron(threshold=0.25, current_decay=1.0, voltage_decay=0.5)
    w = torch.randn(5000, generator=torch.Generator().manual_seed(0)) * 2
    assert torch.equal(loihi2_fixed.quantize_weight(w),
                       n.quantize_8bit(w, descale=True).round().to(torch.int64))
    du, dv = loihi2_fixed.decays(0.5)
    # netx passes du = iDecay - 1, dv = vDecay (lava/lib/dl/netx/hdf5.py)
    assert (du + 1, dv) == (int(n.cx_current_decay), int(n.cx_voltage_decay))
    assert loihi2_fixed.threshold_mantissa(0.25) == n.v_th_mant == 16


def test_loihi2_neuron_by_hand():
    nrn = loihi2_fixed.Loihi2Neuron(du=4095, dv=2048, vth_mant=16)  # threshold 1024 after << 6
    state = nrn.init(torch.zeros(4))
    a = [torch.tensor([10.0, 16.0, 0.0, 0.0]), torch.tensor([20.0, 0.0, 0.0, 0.0])]
    s, state = nrn.step(state, a[0])
    # u = a << 6: 640, 1024; v = u; 1024 is not > 1024 (Loihi's strict comparison)
    assert state[1].tolist() == [640, 1024, 0, 0] and not s.any()
    s, state = nrn.step(state, a[1])
    # neuron 0: u = 0 + 1280, v = (640 * 2048 >> 12) + 1280 = 1600 > 1024: spike, reset
    # neuron 1: u = 0, v = 1024 * 2048 >> 12 = 512
    assert s.tolist() == [True, False, False, False]
    assert state[1].tolist() == [0, 512, 0, 0]
    # a negative voltage decays toward zero: sign(v) * (|v| * 2048 >> 12), -5 -> -2 (floor: -3)
    u0 = torch.zeros(1, dtype=torch.int64)
    _, (_, v) = nrn.step((u0, torch.tensor([-5])), torch.zeros(1))
    assert v.tolist() == [-2]


def test_loihi2_forward_equals_slayer_fixed_point():
    """SLAYER's CUBA blocks with 8-bit weights and Loihi's strict threshold compute Loihi's
    fixed point (the route the Lava check runs, docs/guides/loihi-check.md); the suite's integer forward gives
    the same spikes in every layer at every step and the same readout."""
    _slayer()
    from backends.adapters import lava_dl

    spec = get_arch("tiny_nir")
    opts = lava_dl.LavaDLOptions(quantize_weights=True, strict_threshold=True)
    torch.manual_seed(0)
    model = lava_dl.build_model(spec, (8, 2, 48, 48), 7, opts)
    with torch.no_grad():
        for name in model.unit_names:
            model.unit(name).synapse.weight.mul_(3.0)  # livelier layers than the initialisation
    x = (torch.rand(3, 8, 2, 48, 48, generator=torch.Generator().manual_seed(1)) < 0.1).float()
    with torch.no_grad():
        ref, ref_spikes = lava_dl.forward_with_spikes(model, x)
    state = lava_dl.canonical_state(model)
    out = run_layers(loihi2_fixed.quantize(spec, state, 7), x)
    for name, s in ref_spikes.items():
        assert s.sum() > 0, name
        assert torch.equal(out.spikes[name], s.bool()), name
    assert torch.allclose(out.logits.float(), ref.logits, atol=1e-5)


# ------------------------------------------------------------------------------------ DYNAP-CNN


def test_speck_discretization_equals_sinabs():
    disc = _sinabs_discretize()
    import sinabs.layers as sl

    gen = torch.Generator().manual_seed(2)
    for scale_w in (0.05, 0.3, 3.0):
        conv = torch.nn.Conv2d(2, 4, 3, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * scale_w)
        iaf = sl.IAF(spike_threshold=0.25, min_v_mem=-1.0)
        q_conv, q_iaf = disc.discretize_conv_spike(conv, iaf, to_int=False)
        mine = speck_fixed.layer_scale(conv.weight, 0.25, -1.0)
        ref = min(disc.determine_discretization_scale(conv.weight, 8),
                  disc.determine_discretization_scale(torch.tensor((-1.0, 0.25)), 16))
        assert mine == float(ref.detach())
        assert torch.equal(torch.round(conv.weight * mine), q_conv.weight)
        assert int(torch.round(torch.tensor(0.25) * mine)) == int(q_iaf.spike_threshold)
        assert int(torch.round(torch.tensor(-1.0) * mine)) == int(q_iaf.min_v_mem)
    # without a lower bound sinabs takes -2**15: the threshold's scale is 1
    assert float(disc.determine_discretization_scale(torch.tensor((-(2.0 ** 15), 0.25)), 16)) \
        == speck_fixed.discretization_scale(torch.tensor((-(2.0 ** 15), 0.25)), 16) == 1.0


def test_speck_neuron_by_hand():
    nrn = speck_fixed.IAFNeuron(threshold=32, min_v_mem=-127)
    v = nrn.init(torch.zeros(3))
    s, v = nrn.step(v, torch.tensor([31.0, 32.0, -200.0]))
    assert s.tolist() == [False, True, False] and v.tolist() == [31, 0, -127]
    s, v = nrn.step(v, torch.tensor([1.0, 5.0, 100.0]))
    assert s.tolist() == [True, False, False] and v.tolist() == [0, 5, -27]


def test_speck_quantize_tiny_iaf_layers():
    spec = get_arch("tiny_iaf")
    torch.manual_seed(0)
    state = {
        "conv1.weight": torch.randn(16, 2, 5, 5) * 0.2, "conv2.weight": torch.randn(32, 16, 3, 3) * 0.1,
        "conv3.weight": torch.randn(32, 32, 3, 3) * 0.1, "fc.weight": torch.randn(7, 1152) * 0.05,
    }
    layers = speck_fixed.quantize(spec, state, 7)
    for q in layers:
        assert q.weight.abs().max() <= 128 and torch.equal(q.weight, q.weight.round())
    w1 = state["conv1.weight"]
    # scale of conv1: 127 / max(w) when |min| <= |max| * 128/127, else 128 / |min|
    mx, mn = float(w1.max()), float(w1.min())
    want = 127 / mx if abs(mn) <= mx * 128 / 127 else 128 / abs(mn)
    assert 1 / layers[0].unit == pytest.approx(want, rel=1e-6)
    assert layers[0].neuron.threshold == round(0.25 * want)
    with pytest.raises(ValueError, match="not IAF"):
        speck_fixed.quantize(get_arch("tiny_nir"), state, 7)


def test_float_forward_and_agreement():
    spec = get_arch("tiny_iaf")
    torch.manual_seed(0)
    state = {
        "conv1.weight": torch.randn(16, 2, 5, 5) * 0.3, "conv2.weight": torch.randn(32, 16, 3, 3) * 0.3,
        "conv3.weight": torch.randn(32, 32, 3, 3) * 0.3, "fc.weight": torch.randn(7, 1152) * 0.05,
    }
    x = (torch.rand(2, 8, 2, 48, 48) < 0.1).float()
    ref = run_layers(float_layers(spec, state, 7), x)
    same = run_layers(float_layers(spec, state, 7), x)
    assert spike_agreement(ref, same) == {"conv1": 1.0, "conv2": 1.0, "conv3": 1.0}
    chip = run_layers(speck_fixed.quantize(spec, state, 7), x)
    agree = spike_agreement(ref, chip)
    assert all(0.5 < v <= 1.0 for v in agree.values())
    # synops of conv1: each input event reaches 16 channels x the output positions it falls in
    ones = torch.nn.functional.conv2d(x.flatten(0, 1).double(), torch.ones(1, 2, 5, 5,
                                      dtype=torch.float64), stride=2, padding=2)
    assert ref.synops["conv1"] == int(ones.sum()) * 16
    assert ref.logits_per_step[:, -1].allclose(ref.logits)


# ------------------------------------------------------------------------------- command line


def test_deploy_bad_input_exits_2_before_evaluating(tmp_path, capsys):
    import run_bench

    assert run_bench.main(["deploy", str(tmp_path), "--targets", "loihi"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "loihi2" in err[0]  # close match suggested
    assert run_bench.main(["deploy", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no SNN checkpoints" in err[0]
    assert not (tmp_path / "deployment").exists()


def test_decision_steps_by_hand():
    from benchmarks.deploy.evaluate import decision_steps

    # sample 0: argmax 1, 0, 0 -> final class 0 from step 2; sample 1: 2, 2, 2 -> step 1
    per_step = torch.tensor([[[0.0, 1.0, 0.0], [2.0, 1.0, 0.0], [3.0, 1.0, 0.0]],
                             [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])
    assert decision_steps(per_step) == [2, 1]


# --------------------------------------------------------------------- end to end, on a tiny run


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """sinabs x tiny_iaf (IF: DYNAP-CNN) and lava-dl x tiny_nir (CUBA LIF: Loihi 2) trained one
    epoch on the mini dataset, then deployed on both targets (four cells)."""
    from benchmarks.deploy.evaluate import plan_deploy, run_deploy
    from benchmarks.runner.cell import Cell, Recipe, run_cell

    # the robustness tests' recipe: one epoch, two latency runs, no CodeCarbon
    recipe = Recipe(epochs=1, codecarbon=False, latency_runs=2, warmup_runs=1,
                    throughput_batch_size=2)

    tmp = tmp_path_factory.mktemp("deploy")
    data, run_dir = tmp / "data", tmp / "run"
    for backend, arch in (("sinabs", "tiny_iaf"), ("lava-dl", "tiny_nir")):
        cell = Cell(dataset="synthetic-fer-dvs-mini", backend=backend, arch=arch, recipe=recipe)
        rec = run_cell(cell, data, progress=False, checkpoint_dir=run_dir / "checkpoints")
        assert rec.status == "ok", rec.error
    cells = plan_deploy(run_dir, data, ["loihi2", "speck"])
    summary = run_deploy(cells, run_dir, data, progress=False)
    return data, run_dir, cells, summary


def _by(recs, arch, target):
    (rec,) = [r for r in recs if r["cell"]["arch"] == arch and r["deployment"]["target"] == target]
    return rec


def test_deploy_records_validate_and_skip_with_the_reason(deployed):
    from benchmarks.results.records import read_records
    from benchmarks.results.validate import validate_run

    _, run_dir, cells, summary = deployed
    assert len(cells) == 4 and len(summary.done) == 3 and len(summary.failed) == 1
    recs = read_records(run_dir / "deployment")
    assert len(recs) == 4 and {r["kind"] for r in recs} == {"deployment"}
    # tiny_nir's LIF neurons: DYNAP-CNN takes IAF only; recorded as skipped, not converted
    skipped = _by(recs, "tiny_nir", "speck")
    assert skipped["status"] == "skipped" and "does_not_fit" in skipped["error"]
    assert "lif" in skipped["error"].lower() and not skipped.get("metrics")
    fits = _by(recs, "tiny_iaf", "speck")
    assert fits["status"] == "ok" and fits["deployment"]["fit"]["verdict"] == "fits"
    assert _by(recs, "tiny_nir", "loihi2")["deployment"]["fit"]["verdict"] == "unknown"
    for r in recs:
        if r["status"] == "ok":  # the accuracies from the stored per-sample predictions
            y = np.array([p["label"] for p in r["predictions"]])
            chip = np.array([p["pred"] for p in r["predictions"]])
            flt = np.array([p["float"]["pred"] for p in r["predictions"]])
            m = r["metrics"]
            assert m["accuracy"] == pytest.approx((chip == y).mean())
            assert m["accuracy_change"] == pytest.approx((chip == y).mean() - (flt == y).mean())
            assert all(0.0 <= v <= 1.0 for v in m["spike_agreement"].values())
            assert m["n_test"] == len(y) > 0
    assert validate_run(run_dir / "deployment") == []


def test_deploy_report_web_page_and_latex(deployed):
    from reports.deployment import deployment_markdown, deployment_records, deployment_table
    from reports.html import _deployment_html
    from reports.tables import deployment_latex, write_tables

    _, run_dir, _, _ = deployed
    recs = deployment_records(run_dir)
    md = deployment_markdown(recs)
    headers, rows = deployment_table(recs)
    assert md.startswith("## Deployment") and len(rows) == 4
    row = dict(zip(headers, [r for r in rows if r[0].startswith("tiny_iaf")
                             and r[1] == "speck"][0], strict=True))
    rec = _by(recs, "tiny_iaf", "speck")
    assert row["fit"] == "fits (1 chip)"
    assert row["accuracy at chip precision [95% CI]"].startswith(f"{rec['metrics']['accuracy']:.3f} [")
    assert row["energy, latency (power: estimate)"].startswith("no sourced figure")
    skipped = [r for r in rows if r[0].startswith("tiny_nir") and r[1] == "speck"][0]
    assert skipped[2].startswith("does_not_fit: ") and skipped[3] == ""
    page = _deployment_html([run_dir])
    assert page.count("<tr>") == 1 + 4 and "fits (1 chip)" in page and "<table" in page
    tex = deployment_latex(recs)
    assert tex.count(" \\\\\n") == 1 + 4 and "\\begin{tabular}" in tex and "tiny\\_iaf" in tex
    paths = write_tables([], run_dir)
    assert sorted(p.name for p in paths) == ["deployment.md", "deployment.tex"]
    assert (run_dir / "tables" / "deployment.tex").read_text() == tex


def test_deploy_resumes_and_a_failing_cell_is_an_error_record(deployed, tmp_path):
    from dataclasses import replace

    from benchmarks.deploy.evaluate import run_deploy
    from benchmarks.results.records import read_records

    data, run_dir, cells, _ = deployed
    ok = sorted(r["cell_id"] for r in read_records(run_dir / "deployment") if r["status"] == "ok")
    again = run_deploy(cells, run_dir, data, progress=False)
    # the three evaluated cells are not run again; the skipped one is decided again by its fit
    assert again.done == [] and sorted(again.resumed) == ok and len(ok) == 3
    assert len(again.failed) == 1 and again.failed[0].startswith("deployment/speck/")
    assert sorted(r["cell_id"] for r in read_records(run_dir / "deployment")
                  if r["status"] == "ok") == ok
    # a checkpoint that is gone: an error record, and the next cell still runs
    speck = [c for c in cells if c.target == "speck"]
    broken = replace(speck[0], checkpoint=str(tmp_path / "gone.pt"))
    other = tmp_path / "other"
    s = run_deploy([broken, speck[1]], other, data, progress=False)
    recs = {r["cell_id"]: r for r in read_records(other / "deployment")}
    assert len(recs) == 2 and s.failed and recs[broken.cell_id]["status"] == "error"
    assert "gone.pt" in recs[broken.cell_id]["error"]
    assert recs[speck[1].cell_id]["status"] in ("ok", "skipped")


def test_a_target_file_without_conversion_min_v_mem_is_refused_in_one_line(deployed, tmp_path,
                                                                            monkeypatch, capsys):
    import run_bench
    from backends.targets import target as T

    src = (Path(T.__file__).parent / "speck.toml").read_text()
    head, _, rest = src.partition("[precision.conversion_min_v_mem]\n")
    rest = rest.split("\n", 2)[2]  # drop its value and source lines
    bad = tmp_path / "speck_nominv.toml"
    bad.write_text(head.replace('name = "speck"', 'name = "speck_nominv"') + rest)
    monkeypatch.setitem(T.TARGETS._items, "speck_nominv", lambda: T.load_target(bad))
    data, run_dir, _, _ = deployed
    before = (run_dir / "deployment" / "results.jsonl").read_text()
    assert run_bench.main(["deploy", str(run_dir), "--data-root", str(data),
                           "--targets", "speck_nominv"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'precision.conversion_min_v_mem': missing" in err[0]
    assert "speck_nominv.toml" in err[0]
    assert (run_dir / "deployment" / "results.jsonl").read_text() == before


# ------------------------------------------------------------- energy ratio table, per target


def _pair(fold, snn_e, spike_e, ann_e, rate=0.1):
    """An (SNN, ANN) pair of trained records under the energy model ``m``."""
    def rec(backend, metrics):
        cell = {"dataset": "d", "protocol": "folds", "fold": fold, "seed": 0, "arch": "tiny",
                "backend": backend, "device": "cpu", "recipe": {"epochs": 1}}
        return {"status": "ok", "kind": "trained", "cell": cell, "metrics": metrics,
                "cell_id": f"d/folds/f{fold}/{backend}/tiny/s0"}

    return [rec("snntorch", {"war": 0.5, "firing_rate": rate,
                             "energy_uj_per_inference__m": snn_e,
                             "energy_spike_driven_uj_per_inference__m": spike_e}),
            rec("ann", {"war": 0.6, "energy_uj_per_inference__m": ann_e})]


def test_energy_ratio_table_says_per_target_whether_the_rate_is_below_break_even():
    from reports.energy import energy_ratio_table, target_energy_models

    # fold 0: F = 1, S = 1 at r0 = 0.1, ANN 8: r* = 0.1 x (8 - 1) / 1 = 0.7 > 0.1: below
    # fold 1: F = 2, S = 2, ANN 2.5: r* = 0.1 x (2.5 - 2) / 2 = 0.025 < 0.1: not below
    recs = _pair(0, 2.0, 1.0, 8.0) + _pair(1, 4.0, 2.0, 2.5)

    def column(table, name):
        lines = table.splitlines()
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        return [c.strip() for c in lines[2].strip("|").split("|")][header.index(name)]

    both = energy_ratio_table(recs, {"chip_m": "m", "chip_x": "x", "bare": None})
    assert column(both, "below break-even on chip_m") == "1 of 2 pairs"
    assert column(both, "below break-even on chip_x") == "—"  # no record has energy under x
    assert column(both, "below break-even on bare") == "no sourced figure"
    assert column(energy_ratio_table(_pair(0, 2.0, 1.0, 8.0), {"c": "m"}),
                  "below break-even on c") == "yes"
    # F = 3 >= ANN 2.5: no break-even exists, the SNN never costs less
    assert column(energy_ratio_table(_pair(0, 4.0, 1.0, 2.5), {"c": "m"}),
                  "below break-even on c") == "no"
    # the built-in targets give no sourced energy figure
    assert target_energy_models() == {"loihi2": None, "speck": None}
    default = energy_ratio_table(recs)
    assert column(default, "below break-even on loihi2") == "no sourced figure"
    assert column(default, "below break-even on speck") == "no sourced figure"


def test_run_with_grid_deploy_puts_the_deployment_table_in_the_leaderboard(tmp_path, capsys):
    import run_bench
    from benchmarks.results.records import read_records

    grid = tmp_path / "grid.toml"
    grid.write_text(
        'name = "dep"\ndatasets = ["synthetic-fer-dvs-mini"]\nbackends = ["ann"]\narchs = ["tiny"]\n'
        'deploy = ["speck"]\nrobustness_max_test = 5\n'
        "[recipe]\nepochs = 1\nlatency_runs = 2\nwarmup_runs = 1\nthroughput_batch_size = 2\n"
        'codecarbon = false\n[[extra]]\nbackend = "sinabs"\narch = "tiny_iaf"\n')
    out = tmp_path / "run"
    assert run_bench.main(["run", "--grid", str(grid), "--data-root", str(tmp_path / "data"),
                           "--out", str(out), "-q"]) == 0
    trained = read_records(out)
    assert sorted((r["cell"]["backend"], r["cell"]["arch"]) for r in trained) == [
        ("ann", "tiny"), ("sinabs", "tiny_iaf")]
    (rec,) = read_records(out / "deployment")  # the one SNN checkpoint, on the one target
    assert rec["status"] == "ok" and rec["metrics"]["n_test"] == 5
    assert rec["cell_id"].startswith("deployment/speck/n5/")
    board = (out / "leaderboard.md").read_text()
    assert "## Deployment" in board and "| tiny_iaf / sinabs / seed 0 | speck | fits (1 chip) |" in board
    assert (out / "tables" / "deployment.tex").is_file()
