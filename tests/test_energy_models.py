"""Energy models beyond arithmetic and the operation counts they need.

Checked four ways: (1) hand counts and hand energies on tiny networks (the comments give the
arithmetic), (2) NeuroBench 2.3.0's ``MembraneUpdates`` and ``NeuronOperations`` on the snntorch
backend, (3) the other exact backends (spikingjelly, sinabs) held to the same counts through the
suite's accounting, (4) spikingjelly 2.0.0's own ``LemaireEnergyProfiler`` on the spikingjelly
backend against the suite's ``lemaire2022_sj`` figure.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from backends.activity import (
    CANONICAL_NEURON_OPS,
    ConnectionShape,
    connection_shape,
    membrane_updates,
)
from backends.base import LayerActivity, get_backend
from backends.membrane import MembraneProbe
from backends.specs import ConvLayer, ConvNetSpec, DenseLayer, NeuronSpec, get_arch
from benchmarks.measure.energy import (
    DEFAULT_ENERGY_MODEL,
    ENERGY_MODELS,
    break_even_firing_rate,
    energy_key,
    energy_metrics,
    estimate_energy,
    horowitz_energy,
    lemaire_energy,
    loihi_energy,
    op_counts,
    spike_driven_key,
    sram_pj_per_byte,
)
from benchmarks.measure.metrics import activity_summary


@pytest.fixture(autouse=True)
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _layer(name, kind, t, *, neurons=0, spikes=0.0, acs=0.0, macs=0.0, dense=0.0,
           input_nonzeros=0.0, connection=None) -> LayerActivity:
    """A LayerActivity with the recorder's extra attributes (fields once base.py has them)."""
    la = LayerActivity(name, kind, time_steps=t, neurons=neurons, spikes=spikes,
                       effective_acs=acs, effective_macs=macs, dense_ops=dense)
    la.input_nonzeros = input_nonzeros
    la.connection = connection
    return la


# --------------------------------------------------------------------------------------------
# connection shapes and input events
# --------------------------------------------------------------------------------------------


def test_connection_shape_hand_values():
    lin = connection_shape(torch.zeros(3, 20), nn.Linear(20, 20, bias=False))
    # Linear(20, 20): 400 weights; each output reads 20 inputs, each input reaches 20 outputs
    assert (lin.inputs, lin.outputs, lin.fan_in, lin.fan_out, lin.weights) == (20, 20, 20, 20, 400)
    assert lin.fan_out_strided == 20 and lin.bias is False
    conv = connection_shape(torch.zeros(1, 2, 5, 5), nn.Conv2d(2, 3, 3, stride=2, padding=1))
    # 5x5 -> 3x3 with k3 s2 p1; fan-in 2*9 = 18; fan-out 3*9 = 27; with stride 2 one input
    # reaches ceil(3/2)^2 = 4 positions per output channel: 12; 2*3*9 = 54 weights
    assert conv.out_shape == (3, 3, 3) and conv.inputs == 50 and conv.outputs == 27
    assert (conv.fan_in, conv.fan_out, conv.fan_out_strided, conv.weights) == (18, 27, 12, 54)
    assert conv.bias is True and conv.stride == (2, 2) and conv.kernel == (3, 3)
    same = connection_shape(torch.zeros(1, 1, 6, 6), nn.Conv2d(1, 1, 3, padding="same"))
    assert same.out_shape == (1, 6, 6)


HAND = ConvNetSpec(
    name="hand",
    input_size=(4, 4),
    n_time_bins=2,
    convs=(ConvLayer("conv1", 1, 1),),  # 1x1 conv, 2 -> 1 channel
    denses=(DenseLayer("fc1", 3), DenseLayer("fc2", 0)),  # 16 -> 3 -> K = 2
    neuron=NeuronSpec(model="lif", beta=0.5, threshold=1.0, reset="zero"),
)


def _hand(backend: str):
    """The hand network of tests/test_activity.py: weights 1, 4 + 2 input events."""
    be = get_backend(backend)
    model = be.build(HAND, (2, 2, 4, 4), 2)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    x = torch.zeros(1, 2, 2, 4, 4)
    x[0, 0, 0, 0, 0] = x[0, 0, 0, 1, 1] = x[0, 0, 0, 2, 2] = 1.0  # step 0: 3 ON events
    x[0, 0, 1, 1, 1] = 1.0  # step 0: 1 OFF event at (1, 1): conv current 2 there
    x[0, 1, 0, 3, 3] = 1.0  # step 1: ON at (3, 3)
    x[0, 1, 1, 0, 3] = 1.0  # step 1: OFF at (0, 3)
    return be, model, x


@pytest.mark.parametrize("backend", ["snntorch", "spikingjelly", "sinabs", "ann", "lava-dl"])
def test_recorder_input_events_and_shapes_hand(backend):
    be, model, x = _hand(backend)
    ok, why = be.available()
    if not ok:
        pytest.skip(why)
    a = {la.name: la for la in be.forward(model, x, record_activity=True).activity}
    # conv1 reads the 4 + 2 input events; fc1 reads conv1's 3 + 2 spikes (ANN: its 5 non-zero
    # ReLU outputs); fc2 reads fc1's 3 + 3 spikes (ANN: 6 non-zero outputs)
    assert [a[n].input_nonzeros for n in ("conv1", "fc1", "fc2")] == [6, 5, 6]
    assert a["conv1"].connection == ConnectionShape("conv", (2, 4, 4), (1, 4, 4), weights=2)
    assert a["fc1"].connection == ConnectionShape("linear", (16,), (3,), weights=48)
    assert a["fc2"].connection == ConnectionShape("linear", (3,), (2,), weights=6)


# --------------------------------------------------------------------------------------------
# membrane updates (NeuroBench's definition)
# --------------------------------------------------------------------------------------------


def test_membrane_updates_hand():
    v = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.5, 2.0, 0.0]])  # T = 3, 3 neurons
    # t = 0: all 3 count; t = 1: only neuron 0 changed (1 -> 0.5); t = 2: only neuron 1
    assert membrane_updates(v) == 5
    assert membrane_updates(v[:1]) == 3 and membrane_updates(v[:0]) == 0


@pytest.mark.parametrize("backend", ["snntorch", "spikingjelly", "sinabs"])
def test_membrane_probe_hand(backend):
    be, model, x = _hand(backend)
    with MembraneProbe(model) as probe:
        assert probe.found and probe.total() is None  # no pass yet: not observed
        be.forward(model, x)
    # conv1 (16 neurons, beta 0.5, zero reset): t = 0 counts all 16; t = 1: the 3 neurons that
    # fired (potentials 1, 2, 1) restart from 0 with no input (changed), (3, 3) and (0, 3) get 1
    # (changed), the other 11 stay at 0: 5 -> 21. fc1 (3 neurons): 3 at t = 0; currents 3 then 2,
    # all fired at t = 0, so all 3 change at t = 1 -> 6. Total 27.
    assert probe.per_layer() == {"layers.conv1.act": 21, "layers.fc1.act": 6}
    assert probe.total() == 27 and probe.spike_mismatches == 0


def test_membrane_probe_ann_and_lava_have_no_observable_membrane():
    be, model, x = _hand("ann")
    with MembraneProbe(model) as probe:
        be.forward(model, x)
    assert probe.found is False and probe.total() is None
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        MembraneProbe({})


def test_op_counts_hand_snn():
    be, model, x = _hand("snntorch")
    with MembraneProbe(model) as probe:
        out = be.forward(model, x, record_activity=True)
    c = op_counts(out.activity, n_samples=1, spiking=True, membrane_updates=probe.total())
    assert c["membrane_updates_per_sample"] == 27  # see test_membrane_probe_hand
    # dense: conv1 16 neurons x 2 steps + fc1 3 x 2 = 38; x 4 ops per update (Leaky)
    assert c["membrane_updates_dense_per_sample"] == 38
    assert (c["neuron_ops_per_sample"], c["neuron_dense_ops_per_sample"]) == (108, 152)
    # event-driven (binary inputs everywhere): one weight read per synaptic op:
    # conv1 6 + fc1 15 + fc2 12 = 33
    assert c["weight_reads_per_sample"] == 33
    # potentials: one read and one write per synaptic op (33) + per neuron and step (38) = 71
    assert c["membrane_reads_per_sample"] == c["membrane_writes_per_sample"] == 71
    # FIFO reads of input events 6 + 5 + 6 = 17; spike writes 5 + 6 = 11
    assert c["activation_reads_per_sample"] == 17 and c["activation_writes_per_sample"] == 11
    assert c["input_events_per_sample"] == 17
    per = c["op_counts_per_sample_per_layer"]
    assert per["fc1"] == {"weight_reads": 15, "membrane_reads": 15 + 6, "membrane_writes": 21,
                          "activation_reads": 5, "activation_writes": 6, "synops": 15,
                          "input_events": 5, "membrane_updates_dense": 6}


def test_op_counts_hand_ann_is_dense():
    be, model, x = _hand("ann")
    out = be.forward(model, x, record_activity=True)
    c = op_counts(out.activity, n_samples=1, spiking=False)
    assert c["membrane_updates_per_sample"] == 0 and c["membrane_updates_dense_per_sample"] == 0
    assert c["neuron_ops_per_sample"] == 0
    # dense hardware: one weight read per dense op: conv1 64 + fc1 96 + fc2 12 = 172
    assert c["weight_reads_per_sample"] == 172
    # input reads: conv1 one per MAC (64), fc1 16 inputs x 2 steps, fc2 3 x 2: 102
    assert c["activation_reads_per_sample"] == 64 + 32 + 6
    # output writes per step: conv1 16 x 2 + fc1 3 x 2 + fc2 2 x 2 = 42; no membrane
    assert c["activation_writes_per_sample"] == 42
    assert c["membrane_reads_per_sample"] == c["membrane_writes_per_sample"] == 0


def test_linear_20_weight_reads_hand():
    lin = ConnectionShape("linear", (20,), (20,), weights=400)
    dense = _layer("fc", "linear", 1, macs=400.0, dense=400.0, input_nonzeros=20.0,
                   connection=lin)
    # Linear(20, 20) on a dense input  # 400 weight reads per step, 20 input reads, 20 writes
    c = op_counts([dense], n_samples=1, spiking=False)
    assert (c["weight_reads_per_sample"], c["activation_reads_per_sample"],
            c["activation_writes_per_sample"]) == (400, 20, 20)


# --------------------------------------------------------------------------------------------
# NeuroBench cross-checks (snntorch) and the other backends held to the same counts
# --------------------------------------------------------------------------------------------


class _StepNet(nn.Module):
    """NeuroBench's SNNTorchModel contract: ``net(x_t) -> (out, state)`` per step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.state = None

    def reset(self) -> None:
        self.state = None

    def forward(self, x_t: torch.Tensor):
        out, self.state = self.model.step(x_t, self.state)
        return out, out


def _tiny_input(b: int = 2) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.poisson(torch.full((b, 8, 2, 48, 48), 0.3))


@pytest.mark.parametrize("gain", [1.0, 3.0])
def test_membrane_updates_and_neuron_ops_agree_with_neurobench(gain):
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import MembraneUpdates, NeuronOperations
    from neurobench.models import SNNTorchModel
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    be = get_backend("snntorch")
    model = be.build(get_arch("tiny"), (8, 2, 48, 48), 7).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(gain)  # gain 3: spikes in every layer, potentials move everywhere
    x = _tiny_input()
    with MembraneProbe(model) as probe, torch.no_grad():
        out = be.forward(model, x, record_activity=True)
    mine = op_counts(out.activity, n_samples=2, spiking=True, membrane_updates=probe.total())
    loader = DataLoader(TensorDataset(x, torch.zeros(2, dtype=torch.long)), batch_size=2)
    nb = Benchmark(SNNTorchModel(_StepNet(model)), loader, [], [],
                   [[], [MembraneUpdates, NeuronOperations]]).run(quiet=True)
    assert nb["MembraneUpdates"] == mine["membrane_updates_per_sample"]
    assert nb["NeuronOperations"]["Effective Neuron Ops"] == mine["neuron_ops_per_sample"]
    assert nb["NeuronOperations"]["Neuron Dense Ops"] == mine["neuron_dense_ops_per_sample"]
    if gain == 1.0:  # conv3 stays silent at gain 1: its potentials never move after t = 0
        assert mine["membrane_updates_per_sample"] < mine["membrane_updates_dense_per_sample"]
    else:  # at gain 3 every potential moves at every step: effective = dense
        assert mine["membrane_updates_per_sample"] == mine["membrane_updates_dense_per_sample"]
    assert CANONICAL_NEURON_OPS == 4


def test_exact_backends_report_the_same_counts_and_energies():
    from backends.equality import copy_weights

    torch.manual_seed(0)
    arch = get_arch("tiny")
    ref_be = get_backend("snntorch")
    ref = ref_be.build(arch, (8, 2, 48, 48), 7).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.mul_(3.0)
    x = _tiny_input()
    results = {}
    for name in ("snntorch", "spikingjelly", "sinabs"):
        be = get_backend(name)
        model = ref if name == "snntorch" else be.build(arch, (8, 2, 48, 48), 7).eval()
        if model is not ref:
            copy_weights(ref, model)
        with MembraneProbe(model) as probe, torch.no_grad():
            out = be.forward(model, x, record_activity=True)
        summary = activity_summary(out.activity, 2)
        m = energy_metrics(summary, out.activity, n_samples=2, spiking=True, neuron=arch.neuron,
                           membrane_updates=probe.total())
        results[name] = {k: v for k, v in m.items() if k != "energy_models"}
    assert results["spikingjelly"] == results["snntorch"]
    assert results["sinabs"] == results["snntorch"]


# --------------------------------------------------------------------------------------------
# memory-aware model: hand energies, and spikingjelly's implementation
# --------------------------------------------------------------------------------------------


def test_sram_cost_hand_values():
    # Horowitz's points per 32-bit access: 8 KiB 10 pJ, 32 KiB 20 pJ, 1 MiB 100 pJ -> per byte
    assert sram_pj_per_byte(0) == 0.0
    assert sram_pj_per_byte(8192) == 2.5
    assert sram_pj_per_byte(32768) == 5.0
    assert sram_pj_per_byte(1048576) == 25.0
    assert sram_pj_per_byte(4 * 1048576) == 25.0  # clamped above 1 MiB
    assert sram_pj_per_byte(20480) == pytest.approx(3.75)  # halfway between 8 and 32 KiB
    assert sram_pj_per_byte(1600) == 0.48828125  # 1600 * 2.5 / 8192
    with pytest.raises(ValueError, match="capacity_bytes"):
        sram_pj_per_byte(-1)


def test_lemaire_event_layer_hand_energy():
    # Linear(20, 20) readout of an SNN, one step, 5 input spikes: 5 x 20 = 100 synaptic ops
    lin = ConnectionShape("linear", (20,), (20,), weights=400)
    la = _layer("fc", "linear", 1, acs=100.0, dense=400.0, input_nonzeros=5.0, connection=lin)
    e = lemaire_energy([la], n_samples=1, spiking=True)
    # ops: 100 adds x 0.1 = 10 pJ; addressing: 100 adds x 0.1 = 10 pJ
    # inout: 5 FIFO reads x 4 B x (4000 B buffer: 1.220703125 pJ/B) = 24.4140625 pJ
    # params: 100 weight reads x 4 B x (1600 B: 0.48828125 pJ/B) = 195.3125 pJ
    # potential: 100 reads + 100 writes x 4 B x (80 B: 0.0244140625 pJ/B) = 19.53125 pJ
    assert e.breakdown_pj == pytest.approx({"ops": 10.0, "addressing": 10.0,
                                            "inout": 24.4140625, "params": 195.3125,
                                            "potential": 19.53125})
    assert e.total_pj == pytest.approx(259.2578125)
    assert e.spike_driven_pj == 0.0  # the first layer is driven by the data


def test_lemaire_dense_layer_hand_energy():
    # the ANN twin's Linear(20, 20), one step, dense real input: 400 MACs
    lin = ConnectionShape("linear", (20,), (20,), weights=400)
    la = _layer("fc", "linear", 1, macs=400.0, dense=400.0, input_nonzeros=20.0,
                connection=lin)
    e = lemaire_energy([la], n_samples=1, spiking=False)
    # ops: 400 x (3.1 + 0.1) = 1280 pJ; addressing: 20 + 20 adds x 0.1 = 4 pJ
    # inout: 20 reads + 20 writes x 4 B x (80 B: 0.0244140625 pJ/B) = 3.90625 pJ
    # params: 400 x 4 B x 0.48828125 = 781.25 pJ
    assert e.breakdown_pj == pytest.approx({"ops": 1280.0, "addressing": 4.0,
                                            "inout": 3.90625, "params": 781.25})
    assert e.total_pj == pytest.approx(2069.15625)


def test_lemaire_neuron_layer_hand_energy():
    # a hidden LIF layer after the 5-spike Linear(20, 20): 20 neurons x 2 steps, 8 spikes
    lin = ConnectionShape("linear", (20,), (20,), weights=400)
    first = _layer("fc0", "linear", 2, acs=0.0, dense=800.0, input_nonzeros=0.0,
                   connection=lin)  # a silent first layer (no input)
    hid = _layer("fc1", "linear", 2, neurons=20, spikes=8.0, acs=100.0, dense=800.0,
                 input_nonzeros=5.0, connection=lin)
    e = lemaire_energy([first, hid], n_samples=1, spiking=True, neuron="lif")
    event = 259.2578125  # fc1's synaptic part, as in test_lemaire_event_layer_hand_energy
    # neurons: 40 potential reads + 40 writes x 4 B x 0.0244140625 = 7.8125 pJ; 40 leak
    # mult-adds x 3.2 = 128 pJ; 8 spikes: 8 adds x 0.1 = 0.8 pJ + 8 FIFO writes x 4 B x
    # 1.220703125 = 39.0625 pJ
    assert e.total_pj == pytest.approx(event + 7.8125 + 128.0 + 0.8 + 39.0625)
    # spike-driven: fc1's synaptic events (its input is fc0's spikes) and the per-spike costs
    assert e.spike_driven_pj == pytest.approx(event + 0.8 + 39.0625)
    if_ = lemaire_energy([first, hid], n_samples=1, spiking=True, neuron=NeuronSpec(model="if"))
    assert e.total_pj - if_.total_pj == pytest.approx(128.0)  # IF: no leak


def test_lemaire_needs_connection_and_input_events():
    la = _layer("fc", "linear", 1, acs=10.0, dense=20.0, input_nonzeros=None, connection=None)
    from benchmarks.measure.energy import MissingActivityError

    with pytest.raises(MissingActivityError, match="layer 'fc': no 'connection'"):
        lemaire_energy([la], n_samples=1, spiking=True)
    plain = LayerActivity("fc", "linear", time_steps=1, effective_acs=10.0, dense_ops=20.0)
    m = energy_metrics({"effective_acs_per_sample": 10.0, "effective_macs_per_sample": 0.0},
                       [plain], n_samples=1, spiking=True)
    assert m[energy_key("lemaire2022")] is None and m["energy_models_missing"]
    assert m["energy_uj_per_inference"] == pytest.approx(10 * 0.9 / 1e6)


def test_lemaire_sj_conventions_equal_spikingjelly_profiler():
    """The suite's lemaire2022_sj figure on the spikingjelly backend's tiny model equals
    spikingjelly 2.0.0's LemaireEnergyProfiler (strict=False: batch norm and max pooling are
    not costed) on the same model and input, count by count."""
    from spikingjelly.activation_based.op_counter import analytical_energy as ae

    torch.manual_seed(0)
    be = get_backend("spikingjelly")
    arch = get_arch("tiny")
    model = be.build(arch, (8, 2, 48, 48), 7).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)  # spikes reach every layer
    b = 3
    x = _tiny_input(b)
    with torch.no_grad():
        out = be.forward(model, x, record_activity=True)
    prof = ae.LemaireEnergyProfiler(config=ae.LemaireEnergyConfig(strict=False))
    prof.bind_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with prof, torch.no_grad():
            be.forward(model, x)
    rep = prof.get_report()
    assert any("BatchNorm2d" in w for w in rep.warnings)
    assert any("MaxPool2d" in w for w in rep.warnings)
    mine = lemaire_energy(out.activity, n_samples=b, spiking=True, neuron=arch.neuron,
                          conventions="spikingjelly", batch_size=b)
    assert mine.total_pj * b == pytest.approx(rep.total_pj, rel=1e-12)
    want = rep.counts
    got = {k: v * b for k, v in mine.counts.items()}  # per sample x b: the call's counts
    pairs = {"add": "ac", "mult_add": "mac", "addr_add": "acc_addr", "addr_mult_add": "mac_addr"}
    for k, w in pairs.items():
        assert got[k] == pytest.approx(want[w], rel=1e-12), k
    word = {"weight_reads": "read_params_bytes", "membrane_reads": "read_potential_bytes",
            "membrane_writes": "write_potential_bytes", "activation_reads": "read_in_bytes",
            "activation_writes": "write_out_bytes"}
    for k, w in word.items():  # 32-bit accesses = bytes / 4
        assert got[k] * 4 == pytest.approx(want[w], rel=1e-12), k
    for part in ("inout", "params", "potential"):
        assert mine.breakdown_pj[part] * b == pytest.approx(rep.breakdown_pj[f"{part}_pj"],
                                                            rel=1e-12)
    # the suite's own conventions give a different (documented) figure on the same activity
    suite = lemaire_energy(out.activity, n_samples=b, spiking=True, neuron=arch.neuron)
    assert suite.total_pj != pytest.approx(mine.total_pj, rel=1e-3)


# --------------------------------------------------------------------------------------------
# Loihi and Horowitz, break-even, energy_metrics
# --------------------------------------------------------------------------------------------


def test_loihi_hand_energy():
    be, model, x = _hand("snntorch")
    with MembraneProbe(model) as probe:
        out = be.forward(model, x, record_activity=True)
    e = loihi_energy(out.activity, n_samples=1, membrane_updates_per_sample=probe.total())
    # synaptic ops 6 + 15 + 12 = 33 x 23.6 pJ = 778.8 pJ
    # neuron updates: 38 (hidden) + 2 x 2 (readout accumulators) = 42; active: 27 membrane
    # updates + 4 readout = 31 x 81 pJ = 2511 pJ; inactive 11 x 52 = 572 pJ
    # spikes 5 + 6 = 11 x 1.7 pJ = 18.7 pJ
    assert e.breakdown_pj == pytest.approx({"synops": 778.8, "neuron_updates": 3083.0,
                                            "spikes": 18.7})
    assert e.total_pj == pytest.approx(3880.5)
    assert e.spike_driven_pj == pytest.approx(27 * 23.6 + 18.7)  # fc1 + fc2 ops, the spikes
    upper = loihi_energy(out.activity, n_samples=1)  # membrane updates not observed
    assert upper.total_pj == pytest.approx(778.8 + 42 * 81 + 18.7)


def test_horowitz_model_is_the_default_with_a_spike_driven_part():
    be, model, x = _hand("snntorch")
    out = be.forward(model, x, record_activity=True)
    e = horowitz_energy(out.activity, n_samples=1, spiking=True)
    assert e.total_pj == pytest.approx(33 * 0.9)  # 33 ACs
    assert e.spike_driven_pj == pytest.approx(27 * 0.9)  # fc1 + fc2
    m = energy_metrics(activity_summary(out.activity, 1), out.activity, n_samples=1,
                       spiking=True, neuron=HAND.neuron, params=56)
    assert m["energy_uj_per_inference"] == estimate_energy(33, 0)["energy_uj_per_inference"]
    assert m[energy_key(DEFAULT_ENERGY_MODEL)] == m["energy_uj_per_inference"]
    assert m["energy_model"] == "horowitz-isscc2014-45nm"
    assert m[spike_driven_key("horowitz2014")] == pytest.approx(27 * 0.9 / 1e6)
    assert m["energy_weight_memory_bytes"] == 56 * 4  # 2 + 48 + 6 weights, 32-bit
    assert m["membrane_updates_source"] == "not observed"
    assert m[energy_key("loihi2018")] == pytest.approx((778.8 + 42 * 81 + 18.7) / 1e6)


def test_energy_metrics_ann_has_no_loihi_and_every_model_has_sources():
    be, model, x = _hand("ann")
    out = be.forward(model, x, record_activity=True)
    m = energy_metrics(activity_summary(out.activity, 1), out.activity, n_samples=1,
                       spiking=False)
    assert m[energy_key("loihi2018")] is None and m[spike_driven_key("lemaire2022")] is None
    assert m[energy_key("lemaire2022")] > m[energy_key("horowitz2014")] > 0
    assert m["membrane_updates_per_sample"] == 0 and m["membrane_updates_source"] == "none (ANN)"
    assert set(m["energy_models"]) == set(ENERGY_MODELS)
    for name, d in m["energy_models"].items():
        assert d["sources"] and d["constants"], name
    assert "Table 2" in m["energy_models"]["loihi2018"]["sources"][0]
    assert "p. 96" in m["energy_models"]["loihi2018"]["sources"][0]
    assert "Fig. 1.1.9" in m["energy_models"]["horowitz2014"]["sources"][0]
    assert "2210.13107" in m["energy_models"]["lemaire2022"]["sources"][0]


def test_model_table_constants():
    assert ENERGY_MODELS["horowitz2014"].constants == {"ac_pj": 0.9, "mac_pj": 4.6}
    lm = ENERGY_MODELS["lemaire2022"].constants
    assert (lm["add_pj"], lm["mult_pj"], lm["fifo_messages"]) == (0.1, 3.1, 1000.0)
    lo = ENERGY_MODELS["loihi2018"].constants
    assert (lo["synop_pj"], lo["neuron_update_active_pj"], lo["neuron_update_inactive_pj"],
            lo["spike_within_tile_pj"]) == (23.6, 81.0, 52.0, 1.7)
    assert ENERGY_MODELS["loihi2018"].applies_to == ("snn",)


def test_break_even_firing_rate_hand():
    # SNN: 3 uJ at r0 = 0.1, of which 2 uJ scale with spikes (F = 1 uJ fixed); ANN: 4.6 uJ.
    # E(r) = 1 + 2 r / 0.1 = 4.6  ->  r* = 0.1 * 3.6 / 2 = 0.18
    assert break_even_firing_rate(3.0, 2.0, 0.1, 4.6) == pytest.approx(0.18)
    # check by substitution: 1 + 2 * 0.18 / 0.1 = 4.6
    assert 1.0 + 2.0 * 0.18 / 0.1 == pytest.approx(4.6)
    # fixed part alone costs more than the ANN: no break-even
    assert break_even_firing_rate(5.0, 1.0, 0.1, 4.0) is None
    assert break_even_firing_rate(3.0, 0.0, 0.1, 4.6) is None  # nothing scales with spikes
    assert break_even_firing_rate(3.0, 2.0, 0.0, 4.6) is None
    # already cheaper and stays so up to r* > 1 (cheaper at any rate)
    assert break_even_firing_rate(1.5, 0.5, 0.2, 10.0) == pytest.approx(0.2 * 9.0 / 0.5)
    with pytest.raises(ValueError, match="snn_spike_driven"):
        break_even_firing_rate(1.0, 2.0, 0.1, 4.6)
    with pytest.raises(ValueError, match="ann_energy"):
        break_even_firing_rate(1.0, 0.5, 0.1, math.nan)


def test_break_even_in_the_reports_uses_the_same_formula():
    from reports.energy import break_even_rate

    for args in [(3.0, 2.0, 0.1, 4.6), (5.0, 1.0, 0.1, 4.0), (1.5, 0.5, 0.2, 10.0)]:
        assert break_even_rate(*args) == break_even_firing_rate(*args)


# --------------------------------------------------------------------------------------------
# reports.energy: tables and figures from records
# --------------------------------------------------------------------------------------------


def _rec(backend, fold, metrics, arch="tiny", dataset="synthetic"):
    cell = {"dataset": dataset, "protocol": "folds", "fold": fold, "seed": 0, "arch": arch,
            "backend": backend, "device": "cpu", "recipe": {"epochs": 1}}
    return {"status": "ok", "kind": "trained", "cell": cell, "metrics": metrics,
            "cell_id": f"{dataset}/folds/f{fold}/{backend}/{arch}/s0"}


def _energy_records():
    models = {"horowitz2014": {"title": "arith", "sources": ["Horowitz ISSCC 2014"]},
              "lemaire2022": {"title": "memory", "sources": ["Lemaire ICONIP 2022"]},
              "loihi2018": {"title": "loihi", "sources": ["Davies 2018 Table 2"]}}

    def snn(fold, h, hs, lm, ls, lo, acc):
        return _rec("snntorch", fold, {
            "war": acc, "firing_rate": 0.1, "energy_models": models,
            "energy_uj_per_inference__horowitz2014": h,
            "energy_spike_driven_uj_per_inference__horowitz2014": hs,
            "energy_uj_per_inference__lemaire2022": lm,
            "energy_spike_driven_uj_per_inference__lemaire2022": ls,
            "energy_uj_per_inference__loihi2018": lo,
            "energy_breakdown_uj__lemaire2022": {"ops": 1.0},
            "energy_measured_j_per_inference__batch1": 0.02})

    def ann(fold, h, lm, acc):
        return _rec("ann", fold, {
            "war": acc, "energy_models": models,
            "energy_uj_per_inference__horowitz2014": h,
            "energy_uj_per_inference__lemaire2022": lm,
            "energy_uj_per_inference__loihi2018": None})

    return [
        snn(0, 2.0, 1.0, 30.0, 10.0, 5.0, 0.5), ann(0, 8.0, 20.0, 0.6),
        snn(1, 4.0, 2.0, 30.0, 10.0, 7.0, 0.7), ann(1, 8.0, 20.0, 0.6),
        ann(2, 8.0, 20.0, 0.6),  # an ANN cell without an SNN partner
    ]


def test_energy_report_tables_hand():
    from reports.energy import (
        energy_models_in,
        energy_ratio_table,
        energy_table,
        render_energy_markdown,
        snn_ann_pairs,
    )

    recs = _energy_records()
    assert energy_models_in(recs) == ["horowitz2014", "lemaire2022", "loihi2018"]
    assert len(snn_ann_pairs(recs)) == 2
    table = energy_table(recs)
    assert "E horowitz2014 (µJ/inf)" in table and "E loihi2018 (µJ/inf)" in table
    assert "measured batch1 (J/inf)" in table
    # snntorch / tiny: horowitz (2 + 4) / 2 = 3 ± 1.414
    assert "3.00 ± 1.41" in table
    ratio = energy_ratio_table(recs)
    # horowitz ratios 2/8 = 0.25 and 4/8 = 0.5: 0.375 ± 0.177; lemaire 30/20 = 1.5 twice
    assert "0.375 ± 0.177" in ratio and "1.50 ± 0.00" in ratio
    # break-even, horowitz: fold 0: F = 1, S = 1: 0.1 x (8 - 1) / 1 = 0.7; fold 1: F = 2, S = 2:
    # 0.1 x 6 / 2 = 0.3 -> 0.5 ± 0.2828; lemaire: F = 20 >= 20: none ("—")
    assert "0.5000 ± 0.2828" in ratio
    row = [ln for ln in ratio.splitlines() if "snntorch / tiny" in ln][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    header = [c.strip() for c in ratio.splitlines()[0].strip("|").split("|")]
    got = dict(zip(header, cells, strict=True))
    assert got["SNN/ANN loihi2018"] == "—"  # no ANN figure under Loihi
    assert got["break-even rate lemaire2022"] == "—"
    assert got["pairs"] == "2" and got["firing rate"] == "0.1000 ± 0.0000"
    md = render_energy_markdown(recs)
    assert "## Energy per model" in md and "Davies 2018 Table 2" in md


def _errorbar_segments(container) -> list[list[float]]:
    """Per error bar line collection of a matplotlib errorbar container: its segments' end
    points, flat (``[x0, y0, x1, y1, ...]``)."""
    return [[float(v) for seg in lc.get_segments() for pt in seg for v in pt] for lc in container.lines[2]]


def test_energy_report_figures(tmp_path, monkeypatch):
    from matplotlib.container import BarContainer, ErrorbarContainer

    import reports.energy as E

    drawn = {}
    real_save = E._save
    monkeypatch.setattr(E, "_save", lambda fig, path: (drawn.__setitem__(Path(path).name, fig),
                                                      real_save(fig, path))[1])
    paths = E.render_energy_figures(_energy_records(), tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["accuracy_vs_energy__horowitz2014.png", "accuracy_vs_energy__lemaire2022.png",
                     "accuracy_vs_energy__loihi2018.png", "energy_ratio_by_model.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(drawn) == names
    r2 = 2.0 ** 0.5  # sample std (ddof 1) of (2, 4): sqrt(((2 - 3)**2 + (4 - 3)**2) / 1)

    def points(name):
        (ax,) = drawn[name].axes
        return {c.get_label(): c for c in ax.containers if isinstance(c, ErrorbarContainer)}

    # Horowitz: SNN folds at 2 and 4 uJ, WAR 50 % and 70 %: (3 +- sqrt 2, 60 +- 10 sqrt 2);
    # the ANN at 8 uJ and 60 % in all three folds: error bars of length 0
    pts = points("accuracy_vs_energy__horowitz2014.png")
    assert sorted(pts) == ["ann / tiny", "snntorch / tiny"]
    snn = pts["snntorch / tiny"]
    assert list(snn.lines[0].get_xdata()) == [3.0] and list(snn.lines[0].get_ydata()) == [60.0]
    xerr, yerr = _errorbar_segments(snn)
    assert xerr == pytest.approx([3 - r2, 60.0, 3 + r2, 60.0])
    assert yerr == pytest.approx([3.0, 60 - 10 * r2, 3.0, 60 + 10 * r2])
    assert _errorbar_segments(pts["ann / tiny"]) == [[8.0, 60.0, 8.0, 60.0]] * 2
    # Loihi: no ANN value; the SNN at 5 and 7 uJ
    pts = points("accuracy_vs_energy__loihi2018.png")
    assert sorted(pts) == ["snntorch / tiny"]
    assert _errorbar_segments(pts["snntorch / tiny"])[0] == pytest.approx([6 - r2, 60.0, 6 + r2, 60.0])
    # ratios per fold pair: Horowitz 2/8 and 4/8 (0.375 +- sqrt(2)/8), Lemaire 30/20 twice (1.5 +- 0);
    # Loihi has no ANN energy, so no bar
    (ax,) = drawn["energy_ratio_by_model.png"].axes
    bars = {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}
    assert sorted(bars) == ["horowitz2014", "lemaire2022"]
    for model, mean, sd in (("horowitz2014", 0.375, r2 / 8), ("lemaire2022", 1.5, 0.0)):
        (patch,) = bars[model].patches
        assert patch.get_height() == pytest.approx(mean)
        x = patch.get_x() + patch.get_width() / 2
        assert _errorbar_segments(bars[model].errorbar) == [pytest.approx([x, mean - sd, x, mean + sd])]
    assert E.render_energy_figures([], tmp_path / "none") == []
