"""benchmarks.measure.energy: hand-computed energies, parameter counts and footprints."""

from __future__ import annotations

import pytest

from backends.base import UnknownNameError
from benchmarks.measure.energy import (
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


# --------------------------------------------------------------------------------------------
# measured energy (benchmarks.measure.measured_energy): a fake NVML and a fake RAPL tree
# --------------------------------------------------------------------------------------------


class _FakeWorld:
    """A fake clock, sleep and workload: idle ``idle_w`` watts, ``busy_w`` while a batch runs
    (``batch_s`` seconds per call)."""

    def __init__(self, idle_w: float, busy_w: float, batch_s: float) -> None:
        self.t = 0.0
        self.idle_w, self.busy_w, self.batch_s = idle_w, busy_w, batch_s
        self.joules = 0.0
        self.calls = 0

    def clock(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += dt
        self.joules += self.idle_w * dt
        self.tick(self.idle_w * dt)

    def run_batch(self) -> None:
        self.calls += 1
        self.t += self.batch_s
        self.joules += self.busy_w * self.batch_s
        self.tick(self.busy_w * self.batch_s)

    def tick(self, joules: float) -> None:  # overridden by the RAPL fake
        pass


def _fake_nvml(world: _FakeWorld):
    import types

    calls = {"init": 0}

    def init():
        calls["init"] += 1

    return types.SimpleNamespace(
        nvmlInit=init,
        nvmlDeviceGetHandleByIndex=lambda i: ("gpu", i),
        nvmlDeviceGetName=lambda h: b"Fake GPU 9000",
        # millijoules since the driver was loaded, an unsigned integer
        nvmlDeviceGetTotalEnergyConsumption=lambda h: int(round(world.joules * 1000)),
        calls=calls,
    )


def test_measured_energy_with_fake_nvml(monkeypatch) -> None:
    import sys

    from benchmarks.measure.measured_energy import measure_inference_energy

    world = _FakeWorld(idle_w=50.0, busy_w=200.0, batch_s=0.25)
    fake = _fake_nvml(world)
    monkeypatch.setitem(sys.modules, "pynvml", fake)  # the module measure_... imports
    out = measure_inference_energy(world.run_batch, device="cuda:0", batch_size=4,
                                   min_seconds=2.0, idle_seconds=1.0, warmup=2,
                                   sync=lambda: None, clock=world.clock, sleep=world.sleep)
    # idle: 50 W over the 1 s sleep; window: 8 calls of 0.25 s = 2.0 s at 200 W = 400 J for
    # 8 x 4 = 32 inferences: 12.5 J gross; net of idle (400 - 50 W x 2 s) / 32 = 9.375 J
    assert out["energy_measured_status"] == "measured"
    assert out["energy_measured_idle_w"] == pytest.approx(50.0)
    assert out["energy_measured_window_s"] == pytest.approx(2.0)
    assert out["energy_measured_inferences"] == 32
    assert out["energy_measured_j_per_inference"] == pytest.approx(12.5)
    assert out["energy_measured_net_j_per_inference"] == pytest.approx(9.375)
    assert out["energy_measured_avg_w"] == pytest.approx(200.0)
    assert out["energy_measured_source"] == (
        "nvml:nvmlDeviceGetTotalEnergyConsumption (Fake GPU 9000)")
    assert world.calls == 2 + 8 and fake.calls["init"] == 1
    # a label suffixes every key (batch 1 and the throughput batch in one record)
    lab = measure_inference_energy(world.run_batch, device="cuda", batch_size=1, label="batch1",
                                   sync=lambda: None, nvml=fake, clock=world.clock,
                                   sleep=world.sleep)
    assert lab["energy_measured_status__batch1"] == "measured"
    assert lab["energy_measured_j_per_inference__batch1"] == pytest.approx(200.0 * 0.25)


def test_measured_energy_errors_and_unavailable(tmp_path, monkeypatch) -> None:
    import sys
    import types

    from benchmarks.measure.measured_energy import measure_inference_energy

    world = _FakeWorld(1.0, 2.0, 0.5)
    kw = dict(sync=lambda: None, clock=world.clock, sleep=world.sleep)
    with pytest.raises(ValueError, match="min_seconds: expected >= 2.0"):
        measure_inference_energy(world.run_batch, device="cpu", batch_size=1, min_seconds=1.0,
                                 rapl_root=tmp_path, **kw)
    with pytest.raises(ValueError, match="batch_size"):
        measure_inference_energy(world.run_batch, device="cpu", batch_size=0, **kw)
    out = measure_inference_energy(world.run_batch, device="cpu", batch_size=1,
                                   rapl_root=tmp_path, **kw)
    assert out == {"energy_measured_status": f"not available: no RAPL domain under {tmp_path}"}
    out = measure_inference_energy(world.run_batch, device="mps", batch_size=1, **kw)
    assert out["energy_measured_status"].startswith("not available: no energy counter")

    def no_counter(h):
        raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")

    old_gpu = types.SimpleNamespace(nvmlInit=lambda: None,
                                    nvmlDeviceGetHandleByIndex=lambda i: i,
                                    nvmlDeviceGetName=lambda h: "Old GPU",
                                    nvmlDeviceGetTotalEnergyConsumption=no_counter)
    out = measure_inference_energy(world.run_batch, device="cuda", batch_size=1, nvml=old_gpu,
                                   **kw)
    assert out["energy_measured_status"].startswith("not available: NVML energy counter")
    assert "NOT_SUPPORTED" in out["energy_measured_status"]
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    out = measure_inference_energy(world.run_batch, device="cuda", batch_size=1, **kw)
    assert "nvidia-ml-py" in out["energy_measured_status"]
    assert world.calls == 0  # nothing ran where nothing could be measured


def test_measured_energy_with_fake_rapl_tree_and_wrap_around(tmp_path) -> None:
    from benchmarks.measure.measured_energy import RaplCounter, measure_inference_energy

    max_uj = 50_000_000  # each package counter wraps at 50 J
    pkgs = []
    for i, start in ((0, 47_000_000), (1, 1_000_000)):
        d = tmp_path / f"intel-rapl:{i}"
        d.mkdir()
        (d / "name").write_text(f"package-{i}\n")
        (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
        (d / "energy_uj").write_text(f"{start}\n")
        pkgs.append(d)
    sub = tmp_path / "intel-rapl:0:0"  # a sub-domain (core): part of package 0, not added
    sub.mkdir()
    (sub / "max_energy_range_uj").write_text(f"{max_uj}\n")
    (sub / "energy_uj").write_text("123\n")

    class RaplWorld(_FakeWorld):
        def tick(self, joules: float) -> None:  # the energy is split over the two packages
            for d in pkgs:
                v = int((d / "energy_uj").read_text()) + int(round(joules / 2 * 1e6))
                (d / "energy_uj").write_text(f"{v % max_uj}\n")
            (sub / "energy_uj").write_text("999999999\n")

    # two packages: idle 5 W each, 15 W each while running; one call takes 0.5 s
    world = RaplWorld(idle_w=10.0, busy_w=30.0, batch_s=0.5)
    counter = RaplCounter(tmp_path)
    assert counter.source == "rapl:package-0+package-1"
    out = measure_inference_energy(world.run_batch, device="cpu", batch_size=1, warmup=0,
                                   counter=counter, sync=lambda: None, clock=world.clock,
                                   sleep=world.sleep)
    # idle 1 s: package 0 goes 47 J -> 52 J = wraps to 2 J: (50 - 47) + 2 = 5 J, package 1 5 J
    # -> 10 W; window 4 calls x 0.5 s = 2 s at 30 W = 60 J for 4 inferences: 15 J gross,
    # (60 - 10 W x 2 s) / 4 = 10 J net
    assert out["energy_measured_idle_w"] == pytest.approx(10.0)
    assert out["energy_measured_j_per_inference"] == pytest.approx(15.0)
    assert out["energy_measured_net_j_per_inference"] == pytest.approx(10.0)
    assert out["energy_measured_source"] == "rapl:package-0+package-1"
    # via the device name, on a fresh counter
    out2 = measure_inference_energy(world.run_batch, device="cpu", batch_size=1, warmup=0,
                                    rapl_root=tmp_path, sync=lambda: None, clock=world.clock,
                                    sleep=world.sleep)
    assert out2["energy_measured_j_per_inference"] == pytest.approx(15.0)
