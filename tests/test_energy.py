"""benchmarks.energy: hand-computed energies, parameter counts and footprints."""

from __future__ import annotations

import pytest

from backends.base import UnknownNameError
from benchmarks.energy import (
    DEFAULT_NODE,
    ENERGY_PER_OP_PJ,
    count_parameters,
    estimate_energy,
    footprint_bytes,
)


def test_default_table_is_horowitz_45nm_fp32() -> None:
    # Horowitz, ISSCC 2014, Fig. 1.1.9: FP32 add 0.9 pJ, FP32 mult 3.7 pJ
    assert DEFAULT_NODE == "45nm"
    row = ENERGY_PER_OP_PJ["45nm"]
    assert row["ac_pj"] == 0.9
    assert row["mac_pj"] == pytest.approx(3.7 + 0.9)
    assert row["energy_model"] == "horowitz-isscc2014-45nm"
    assert "ISSCC 2014" in row["source"]
    for name, r in ENERGY_PER_OP_PJ.items():
        assert r["mac_pj"] > r["ac_pj"] > 0, name


def test_estimate_energy_hand_values() -> None:
    # 1e6 ACs x 0.9 pJ = 0.9e6 pJ = 0.9 µJ
    out = estimate_energy(1e6, 0)
    assert out["energy_uj_per_inference"] == pytest.approx(0.9)
    assert out["energy_model"] == "horowitz-isscc2014-45nm"
    # 1e6 MACs x 4.6 pJ = 4.6 µJ
    assert estimate_energy(0, 1e6)["energy_uj_per_inference"] == pytest.approx(4.6)
    # 2e5 ACs x 0.9 + 5e4 MACs x 4.6 = 180,000 + 230,000 pJ = 0.41 µJ
    assert estimate_energy(2e5, 5e4)["energy_uj_per_inference"] == pytest.approx(0.41)
    # 8-bit int: 1e6 ACs x 0.03 pJ + 1e6 MACs x (0.2 + 0.03) pJ = 0.26 µJ
    int8 = estimate_energy(1e6, 1e6, node="45nm-int8")
    assert int8["energy_uj_per_inference"] == pytest.approx(0.26)
    assert int8["energy_model"] == "horowitz-isscc2014-45nm-int8"
    assert estimate_energy(0, 0)["energy_uj_per_inference"] == 0.0


def test_estimate_energy_errors() -> None:
    with pytest.raises(UnknownNameError, match="unknown energy node '7nm'; known: 45nm"):
        estimate_energy(1, 1, node="7nm")
    with pytest.raises(KeyError):  # UnknownNameError is a KeyError
        estimate_energy(1, 1, node="45mn")
    with pytest.raises(ValueError, match="effective_acs: expected a finite number .* got -1"):
        estimate_energy(-1, 0)
    with pytest.raises(ValueError, match="effective_macs"):
        estimate_energy(0, float("nan"))
    with pytest.raises(ValueError, match="effective_acs"):
        estimate_energy("many", 0)


def test_count_parameters_and_footprint_by_hand() -> None:
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, bias=False),  # 2*4*3*3 = 72 params
        torch.nn.BatchNorm2d(4),  # 8 params; buffers: 4 + 4 float32, 1 int64
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 6 * 6, 5),  # 144*5 + 5 = 725 params
    )
    assert count_parameters(net) == 72 + 8 + 725
    # float32 params 805 * 4 = 3220 bytes; BN running mean/var 8 * 4 = 32; num_batches_tracked 8
    assert footprint_bytes(net) == 3220 + 32 + 8
    net[0].weight.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == 8 + 725
    half = torch.nn.Linear(20, 20).half()  # 420 params * 2 bytes
    assert footprint_bytes(half) == 840
    shared = torch.nn.Linear(3, 3, bias=False)
    assert count_parameters(torch.nn.Sequential(shared, shared)) == 9  # shared counts once
    with pytest.raises(TypeError, match="expected a torch.nn.Module, got dict"):
        footprint_bytes({})


def test_footprint_agrees_with_neurobench() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("neurobench")
    from neurobench.metrics.static import Footprint, ParameterCount
    from neurobench.models import TorchModel

    net = torch.nn.Sequential(torch.nn.Conv2d(2, 8, 3), torch.nn.BatchNorm2d(8),
                              torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 7))
    model = TorchModel(net)
    assert footprint_bytes(net) == Footprint()(model)
    assert count_parameters(net) == ParameterCount()(model)
