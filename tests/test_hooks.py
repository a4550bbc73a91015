"""Measurement of any module graph by forward hooks (backends.native.hooks.HookMeter).

Three proofs: (a) the suite's own compiled ``tiny`` and ``sew_resnet18``, wrapped as native
models, give per-layer counts identical to the suite's recorder (ActivityRecorder +
MembraneProbe); (b) on a snntorch native model the counts equal the ``neurobench`` package's
(SynapticOperations, ActivationSparsity, MembraneUpdates, NeuronOperations); (c) a hand-counted
small network per framework (each comment gives the arithmetic).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from backends.native.hooks import HookMeter

# one small dense layer shared by the hand counts: 4 inputs, 2 outputs, no bias
W = torch.tensor([[1.5, 0.0, 1.5, 0.0], [0.0, 0.5, 0.0, 0.0]])
# two time steps, batch 1: t0 = [1, 1, 0, 0], t1 = [0, 0, 1, 0]  (T, B, 4)
X = torch.tensor([[[1.0, 1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0, 0.0]]])
# Synaptic operations of W on X (the same in every framework below):
#   t0: input 0 meets W[0,0] = 1.5 (1 op), input 1 meets W[1,1] = 0.5 (1 op) -> 2 ACs
#   t1: input 2 meets W[0,2] = 1.5 -> 1 AC;  effective ACs = 3, MACs = 0 (binary inputs)
#   dense = 2 outputs x 4 inputs x 2 steps = 16;  input non-zeros = 2 + 1 = 3
HAND_OPS = {"effective_acs": 3.0, "effective_macs": 0.0, "dense_ops": 16.0, "input_nonzeros": 3.0}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _linear() -> nn.Linear:
    lin = nn.Linear(4, 2, bias=False)
    lin.weight.data = W.clone()
    return lin


def _row(layers, **expected) -> None:
    assert len(layers) == 1
    la = layers[0]
    for k, v in {**HAND_OPS, **expected}.items():
        assert getattr(la, k) == v, (k, getattr(la, k), v)


# --------------------------------------------------------------------------------------------
# (c) hand counts, one small network per framework
# --------------------------------------------------------------------------------------------


def test_hand_counted_snntorch():
    snn = pytest.importorskip("snntorch")
    from snntorch import utils

    net = nn.Sequential(_linear(), snn.Leaky(beta=0.5, threshold=1.0, init_hidden=True))
    meter = HookMeter(net, n_time_bins=2)
    utils.reset(net)
    with meter.measure(1) as p:
        for t in range(2):  # one call per step (snntorch's habit)
            net(X[t])
    # currents: t0 [1.5, 0.5], t1 [1.5, 0]. Leaky (subtract reset, fires when mem > 1):
    #   t0: mem [1.5, 0.5] -> spikes [1, 0];  t1: mem = 0.5 * mem + I - spk * 1 = [1.25, 0.25]
    #   -> spikes [1, 0]. Spikes = 2; neurons 2 per step, 2 steps.
    # MembraneUpdates (NeuroBench): 2 elements at t0, + 2 changed at t1 (1.5 -> 1.25, 0.5 ->
    #   0.25) = 4;  NeuronOperations = 4 updates x 4 (Leaky, subtract) = 16.
    _row(p.layers, spikes=2.0, neurons=2, time_steps=2)
    assert meter.membrane == {"1": 4}
    assert meter.neuron_ops == {"1": 16}
    assert meter.membrane_total == 4 and meter.neuron_ops_total == 16


def test_hand_counted_spikingjelly_multistep():
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import layer, neuron

    lin = layer.Linear(4, 2, bias=False, step_mode="m")
    lin.weight.data = W.clone()
    net = nn.Sequential(lin, neuron.IFNode(v_threshold=1.0, v_reset=0.0, step_mode="m",
                                           store_v_seq=True))
    meter = HookMeter(net, n_time_bins=2)
    with meter.measure(1) as p:
        net(X)  # one call on the whole sequence (T, B, 4): split into 2 steps by the hooks
    # IF, hard reset to 0, fires when v >= 1: t0 v [1.5, 0.5] -> spike [1, 0], v -> [0, 0.5];
    #   t1 v [1.5, 0.5] -> spike [1, 0], v -> [0, 0.5]. Spikes = 2.
    # v_seq holds the potential after reset: [0, 0.5], [0, 0.5]: updates = 2 + 0 = 2.
    # IFNode has no NeuroBench operations entry: neuron ops unmeasured, listed.
    _row(p.layers, spikes=2.0, neurons=2, time_steps=2)
    assert meter.membrane == {"1": 2}
    assert meter.neuron_ops_total is None and "1 (neuron ops)" in meter.unmeasured


def test_hand_counted_sinabs():
    sinabs = pytest.importorskip("sinabs")
    import sinabs.layers as sl

    net = nn.Sequential(_linear(), sl.IAF(spike_threshold=1.0, record_states=True,
                                          spike_fn=sinabs.activation.SingleSpike))
    meter = HookMeter(net, n_time_bins=2, layout="BTCHW")
    with meter.measure(1) as p:
        net(X.transpose(0, 1))  # sinabs is batch-major: (B, T, 4)
    # IAF, subtract reset (sinabs' default MembraneSubtract), single spikes, fires at v >= 1:
    #   t0 v [1.5, 0.5] -> spike [1, 0], v -> [0.5, 0.5];  t1 v [2.0, 0.5] -> spike [1, 0],
    #   v -> [1.0, 0.5]. Spikes = 2. Updates: 2 + 1 changed (0.5 -> 1.0) = 3.
    _row(p.layers, spikes=2.0, neurons=2, time_steps=2)
    assert meter.membrane == {"1": 3}


def test_hand_counted_norse_cell():
    pytest.importorskip("norse")
    import norse.torch as nt

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = _linear()
            self.lin.weight.data = W * 20
            self.cell = nt.LIFCell()

        def forward(self, x):
            state, out = None, []
            for t in range(x.shape[0]):
                z, state = self.cell(self.lin(x[t]), state)
                out.append(z)
            return torch.stack(out)

    net = Net()
    meter = HookMeter(net, n_time_bins=2)
    with meter.measure(1) as p:
        out = net(X)
    # weights x 20: currents t0 [30, 10], t1 [30, 0]. norse 1.1 LIFCell (dt 1e-3, tau_mem_inv
    # 100, tau_syn_inv 200, v_th 1, reset to 0): the synaptic current jumps by the input, then
    # v += 0.1 * (i - v):  t0 v [3.0, 1.0] -> spike [1, 0] (v > 1 strictly), v -> [0, 1.0];
    #   t1 i = 0.8 * [30, 10] + [30, 0] = [54, 8]: v [5.4, 1.0 + 0.1 * (8 - 1)] = [5.4, 1.7]
    #   -> spikes [1, 1], v -> [0, 0]. Spikes = 3 (= the output's sum).
    # Returned state v per step: [0, 1], [0, 0]: updates = 2 + 1 = 3.
    assert int(out.sum()) == 3
    _row(p.layers, spikes=3.0, neurons=2, time_steps=2)
    assert meter.membrane == {"cell": 3}


def test_hand_counted_lava_dl_dense_block_and_pool_is_no_synapse():
    from backends.base import BackendUnavailableError

    try:
        from backends.adapters.lava_dl import import_slayer

        slayer = import_slayer()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    params = {"threshold": 1.0, "current_decay": 1.0, "voltage_decay": 0.0}
    block = slayer.block.cuba.Dense(params, 4, 2, weight_norm=False)
    block.synapse.weight.data = W.clone().reshape(2, 4, 1, 1, 1)
    net = nn.Sequential(block)
    meter = HookMeter(net, n_time_bins=2, layout="BCHWT")
    with meter.measure(1) as p:
        net(X.permute(1, 2, 0))  # lava-dl is time-last: (B, 4, T)
    # the synapse is an nn.Conv3d (weight (2, 4, 1, 1, 1)) on (B, 4, T): split into T steps
    # and counted as a dense layer: the hand counts above. CUBA with current decay 1 (the current
    # is the input of the step) and no voltage decay: t0 v [1.5, 0.5] -> spike [1, 0], reset;
    # t1 v [1.5, 0.5] -> spike [1, 0]: 2 spikes at the neuron (the block's output is delayed
    # one step, which drops the last). The neuron's potential is not observable: listed.
    _row(p.layers, spikes=2.0, neurons=2, time_steps=2)
    assert list(meter.neurons) == ["0.neuron"]
    assert "0.neuron (membrane)" in meter.unmeasured and meter.membrane_total is None
    pool_meter = HookMeter(nn.Sequential(slayer.block.cuba.Pool(params, 2)), n_time_bins=2)
    assert pool_meter.connections == {}  # synapse.Pool subclasses Conv3d but pools


def test_hand_counted_snntorch_recurrent_neuron():
    snn = pytest.importorskip("snntorch")
    from snntorch import utils

    rleaky = snn.RLeaky(beta=0.5, linear_features=2, all_to_all=True, init_hidden=True,
                        threshold=1.0)
    rleaky.recurrent.weight.data = torch.tensor([[-1.0, 0.5], [0.25, 0.0]])
    rleaky.recurrent.bias.data.zero_()
    net = nn.Sequential(_linear(), rleaky)
    meter = HookMeter(net, n_time_bins=2)
    utils.reset(net)
    with meter.measure(1) as p:
        for t in range(2):
            net(X[t])
    # feed-forward currents t0 [1.5, 0.5], t1 [1.5, 0]; the recurrent Linear runs on the
    # previous step's spikes (zero at t0):
    #   t0 mem [1.5, 0.5] -> spikes [1, 0];  recurrent on [0, 0]: 0 ops, dense 4
    #   t1 recurrent on [1, 0]: column 0 has 2 non-zero weights -> 2 ACs, dense 4; current
    #   [-1, 0.25]; mem = 0.5 * mem + I + rec - spk * 1 = [0.75 + 1.5 - 1 - 1, 0.25 + 0 + 0.25]
    #   = [0.25, 0.5] -> no spike. Spikes = 1; updates 2 + 1 (0.5 unchanged) = 3.
    ff, rec = p.layers
    assert (ff.spikes, ff.effective_acs, ff.dense_ops) == (1.0, 3.0, 16.0)
    assert (rec.name, rec.effective_acs, rec.effective_macs, rec.dense_ops) == (
        "1.recurrent", 2.0, 0.0, 8.0)
    assert meter.membrane == {"1": 3}
    one_to_one = HookMeter(nn.Sequential(snn.RLeaky(beta=0.5, all_to_all=False,
                                                    init_hidden=True)), n_time_bins=2)
    assert "0 (recurrent)" in one_to_one.unmeasured


def test_hand_counted_lstm():
    lstm = nn.LSTM(3, 2)  # gates 4H = 8 rows; every weight non-zero (random init)
    meter = HookMeter(lstm, n_time_bins=2)
    x = torch.tensor([[[1.0, 0.0, 1.0]], [[0.0, 0.0, 1.0]]])  # (T=2, B=1, I=3)
    with meter.measure(1) as p:
        lstm(x)
    # input part W_ih x_t (binary x: ACs): t0 2 non-zero inputs x 8 = 16, t1 1 x 8 = 8 -> 24.
    # hidden part W_hh h_{t-1} (real h: MACs): h_{-1} = 0 -> 0; h_0 has 2 non-zero x 8 = 16.
    # dense: per step 8 x (3 + 2) = 40, x 2 steps = 80. Input non-zeros: 2 + 1 + 0 + 2 = 5.
    la = p.layers[0]
    assert (la.effective_acs, la.effective_macs, la.dense_ops) == (24.0, 16.0, 80.0)
    assert la.input_nonzeros == 5.0 and la.time_steps == 2 and la.kind == "recurrent"


def test_two_layer_gru_counts_every_layer():
    gru = nn.GRU(3, 2, num_layers=2)  # gates stacked: 3H = 6 rows per weight matrix
    with torch.no_grad():  # zeros that tell the four weight matrices apart in the counts
        gru.weight_hh_l0[0] = 0.0  # layer 0 hidden: 5 of 6 rows non-zero in each column
        gru.weight_ih_l1[:, 0] = 0.0  # layer 1 input: column 0 all zero, column 1 6 non-zero
        gru.weight_hh_l1[:2, 1] = 0.0  # layer 1 hidden: column 0 6, column 1 4 non-zero
    meter = HookMeter(gru, n_time_bins=3)
    with meter.measure(2) as p:
        gru(torch.ones(3, 2, 3))  # (T = 3, B = 2, I = 3), all ones: binary
    # Per time step and sample (x 3 steps x 2 samples = x 6 unless said), effective ops =
    # sum over the non-zero inputs of the non-zero weights in their column:
    #   layer 0, W_ih (6 x 3) on x_t = ones (binary -> ACs): 3 x 6 = 18 -> 108 ACs;
    #     dense 6 x 3 = 18 -> 108
    #   layer 0, W_hh (6 x 2) on h_{t-1} (real -> MACs): h_{-1} = 0 -> 0; at t = 1, 2 two
    #     non-zero h x 5 = 10 -> 10 x 2 steps x 2 samples = 40 MACs; dense 12 -> 72
    #   layer 1, W_ih (6 x 2) on layer 0's h_t (real -> MACs): only column 1 counts: 6 -> 36
    #     MACs; dense 12 -> 72
    #   layer 1, W_hh (6 x 2): 0 at t = 0, then 6 + 4 = 10 -> 40 MACs; dense 12 -> 72
    # totals: 108 ACs, 40 + 36 + 40 = 116 MACs, dense 108 + 3 x 72 = 324. Non-zero inputs:
    # 18 (x) + 8 (h of layer 0 at t = 1, 2) + 12 (layer 0's outputs) + 8 (h of layer 1) = 46.
    (la,) = p.layers
    assert la.kind == "recurrent"
    assert la.effective_acs == 108.0
    assert la.effective_macs == 116.0
    assert la.dense_ops == 324.0
    assert la.input_nonzeros == 46.0
    # a one-layer GRU with the same layer 0 gives exactly layer 0's share: 108 ACs, 40 MACs,
    # dense 108 + 72 = 180
    one = nn.GRU(3, 2)
    with torch.no_grad():
        one.weight_ih_l0.copy_(gru.weight_ih_l0)
        one.weight_hh_l0.copy_(gru.weight_hh_l0)
    meter1 = HookMeter(one, n_time_bins=3)
    with meter1.measure(2) as p1:
        one(torch.ones(3, 2, 3))
    (l0,) = p1.layers
    assert (l0.effective_acs, l0.effective_macs, l0.dense_ops) == (108.0, 40.0, 180.0)


# --------------------------------------------------------------------------------------------
# what cannot be measured is listed, never a silent zero
# --------------------------------------------------------------------------------------------


def test_unattributable_modules_are_listed():
    pytest.importorskip("norse")
    import norse.torch as nt

    model = nn.ModuleDict({"readout": nt.LILinearCell(4, 2), "att": nn.MultiheadAttention(4, 1),
                           "fc": nn.Linear(4, 2), "bn": nn.BatchNorm1d(4)})
    meter = HookMeter(model, n_time_bins=2)
    assert set(meter.unmeasured) == {"readout", "att"}
    assert "LILinearCell" in meter.unmeasured["readout"]
    assert "fc" in meter.connections and "att.out_proj" in meter.connections
    assert meter.neurons == {}  # LILinearCell is a non-spiking leaky integrator


def test_hand_counted_sinabs_multispike():
    """sinabs' default spike function (MultiSpike) emits spike counts: counted as spikes, and the
    next connection's work as accumulates per spike (input spikes x fan-out)."""
    pytest.importorskip("sinabs")
    import sinabs.layers as sl

    out = nn.Linear(2, 3, bias=False)
    out.weight.data = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 1.0]])  # fan-out [3, 2]
    net = nn.Sequential(_linear(), sl.IAF(spike_threshold=1.0, record_states=True), out)
    meter = HookMeter(net, n_time_bins=2, layout="BTCHW")
    with meter.measure(1) as p:
        net(X.transpose(0, 1) * 3)  # event counts 3: data, not spikes
    # layer 0 on the data [3, 3, 0, 0], [0, 0, 3, 0]: non-binary input, NeuroBench's rule:
    #   2 + 1 = 3 effective MACs; dense 16; input non-zeros 3.
    # currents t0 [4.5, 1.5], t1 [4.5, 0]. IAF, MultiSpike (trunc(v / thr) where v > 0),
    #   subtract reset: t0 v [4.5, 1.5] -> spikes [4, 1], v -> [0.5, 0.5];
    #   t1 v [5.0, 0.5] -> spikes [5, 0], v -> [0.0, 0.5]. Spikes = 10.
    #   Recorded (post-reset) v: [0.5, 0.5], [0.0, 0.5]: updates 2 + 1 = 3.
    # layer 2 on the counts: input 0 carries 4 + 5 spikes to 3 outputs, input 1 carries 1
    #   spike to 2 outputs: ACs = 9 * 3 + 1 * 2 = 29 (NeuroBench: 3 non-zero inputs -> 8
    #   MACs); dense 3 x 2 x 2 steps = 12; input events = 10 spikes.
    l0, l2 = p.layers
    assert (l0.name, l0.effective_acs, l0.effective_macs, l0.dense_ops, l0.input_nonzeros,
            l0.spikes, l0.neurons, l0.time_steps) == ("0", 0.0, 3.0, 16.0, 3.0, 10.0, 2, 2)
    assert (l2.name, l2.effective_acs, l2.effective_macs, l2.dense_ops, l2.input_nonzeros) == (
        "2", 29.0, 0.0, 12.0, 10.0)
    assert meter.non_binary == {} and meter.spike_counts == {"1": "IAF"}
    assert meter.membrane == {"1": 3}


def test_counts_followed_through_pooling_and_flatten_not_data():
    """Spike counts reach a connection through parameter-free modules (sum pooling, flatten);
    integer event counts of the data are not spikes (MACs)."""
    pytest.importorskip("sinabs")
    import sinabs.layers as sl

    conv = nn.Conv2d(1, 1, 1, bias=False)
    conv.weight.data.fill_(2.0)
    fc = nn.Linear(4, 1, bias=False)
    fc.weight.data.fill_(1.0)
    net = nn.Sequential(conv, sl.IAFSqueeze(batch_size=1, num_timesteps=1), sl.SumPool2d(2),
                        nn.Flatten(), fc)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)  # counts 0..15 (data)
    meter = HookMeter(net, n_time_bins=1, layout="BTCHW")
    with meter.measure(1) as p:
        net(x)
    # conv: 15 non-zero data inputs x 1 weight = 15 MACs. IAF (threshold 1, one step):
    #   spikes = 2 * x (v > 0), sum = 2 * 120 = 240. SumPool2d(2) of 2x: [[20, 36], [84, 100]];
    #   fc: 240 spikes x fan-out 1 = 240 ACs.
    conv_row, fc_row = p.layers
    assert (conv_row.effective_macs, conv_row.effective_acs, conv_row.spikes) == (15.0, 0.0, 240.0)
    assert (fc_row.effective_acs, fc_row.effective_macs, fc_row.input_nonzeros) == (240.0, 0.0, 240.0)


class _Graded(nn.Module):
    """A declared neuron whose output is not spike counts: its input times ``scale``."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


@pytest.mark.parametrize("scale", [0.5, -1.0])
def test_non_binary_neuron_is_reported_not_counted(scale):
    # outputs [0.75, 0.25] / [0.75, 0] (fractional) or [-1.5, -0.5] / [-1.5, 0] (negative)
    net = nn.Sequential(_linear(), _Graded(scale), nn.Linear(2, 1, bias=False))
    meter = HookMeter(net, n_time_bins=2, extra_neurons=(_Graded,))
    with meter.measure(1) as p:
        for t in range(2):
            net(X[t])
    assert meter.non_binary == {"1": "_Graded"} and meter.spike_counts == {}
    assert p.layers[0].spikes == 0.0 and p.layers[0].neurons == 0
    assert p.layers[1].effective_acs == 0.0 and p.layers[1].effective_macs == 3.0  # 2 + 1 MACs


def test_excluded_classes_are_not_neurons():
    pytest.importorskip("sinabs")
    pytest.importorskip("norse")
    import norse.torch as nt
    import sinabs.layers as sl

    meter = HookMeter(nn.Sequential(sl.ExpLeak(tau_mem=2.0), nt.LICell(), nt.LI(),
                                    sl.LIF(tau_mem=2.0), nt.LIFCell()), n_time_bins=2)
    assert sorted(meter.neurons) == ["3", "4"]


# --------------------------------------------------------------------------------------------
# (a) the suite's compiled models wrapped as native models: identical counts
# --------------------------------------------------------------------------------------------


class _Wrap(nn.Module):
    """A compiled suite model as a user would hand it over: batch-major in, per step out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)  # (B, T, K)


_FIELDS = ("spikes", "effective_acs", "effective_macs", "dense_ops", "input_nonzeros", "neurons",
           "time_steps", "kind", "connection")


@pytest.mark.parametrize("arch_name,batch", [("tiny", 3), ("sew_resnet18", 1)])
def test_suite_models_wrapped_as_native_give_identical_counts(arch_name, batch):
    from backends.base import get_backend
    from backends.membrane import MembraneProbe
    from backends.native.backend import NativeBackend
    from backends.native.card import ModelCard
    from backends.specs import get_arch

    arch = get_arch(arch_name)
    shape = (arch.n_time_bins, 2, *arch.input_size)
    be = get_backend("snntorch")
    torch.manual_seed(0)
    net = be.build(arch, shape, 7).eval()
    card = ModelCard(name=f"wrapped-{arch_name}", factory=lambda k, c: _Wrap(net),
                     framework="snntorch", n_time_bins=arch.n_time_bins,
                     input_size=tuple(arch.input_size), layout="BTCHW", output="per_step")
    native = NativeBackend(card)
    model = native.build(card, shape, 7, check=False).eval()
    x = torch.poisson(torch.full((batch, *shape), 0.4), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        with MembraneProbe(net) as probe:
            ref = be.forward(net, x, record_activity=True)
        out = native.forward(model, x, record_activity=True)
    assert torch.equal(ref.logits, out.logits)
    assert len(ref.activity) == len(out.activity)
    for a, b in zip(ref.activity, out.activity, strict=True):
        for f in _FIELDS:
            assert getattr(a, f) == getattr(b, f), (a.name, b.name, f)
    m = native.measurement(model)
    assert m["membrane_updates"] == probe.total() > 0
    assert m["neuron_ops"] == probe.total() * 4
    assert m["unmeasured"] == {} and m["non_binary"] == {}


# --------------------------------------------------------------------------------------------
# (b) a snntorch native model against the neurobench package
# --------------------------------------------------------------------------------------------


class _SnnStep(nn.Module):
    """A snntorch network in NeuroBench's SNNTorchModel contract: ``net(x_t) -> (spk, mem)``."""

    def __init__(self, k: int) -> None:
        super().__init__()
        import snntorch as snn

        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.lif1 = snn.Leaky(beta=0.6, threshold=0.5, init_hidden=True)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(4 * 4 * 4, 16)
        self.lif2 = snn.Synaptic(alpha=0.7, beta=0.8, threshold=0.5, init_hidden=True,
                                 reset_mechanism="zero")
        self.fc2 = nn.Linear(16, k)
        self.lif3 = snn.Leaky(beta=0.9, threshold=0.5, init_hidden=True, output=True)

    def forward(self, x_t):
        h = self.pool(self.lif1(self.conv(x_t)))
        h = self.lif2(self.fc1(h.flatten(1)))
        return self.lif3(self.fc2(h))


class _SnnSeq(nn.Module):
    """The same network as a native model: ``(B, T, 2, H, W)`` -> membrane per step ``(B, T, K)``."""

    def __init__(self, step: _SnnStep) -> None:
        super().__init__()
        self.step = step

    def forward(self, x):
        return torch.stack([self.step(x[:, t])[1] for t in range(x.shape[1])], dim=1)


def test_snntorch_native_model_counts_equal_neurobench():
    pytest.importorskip("snntorch")
    pytest.importorskip("neurobench")
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import (
        ActivationSparsity,
        MembraneUpdates,
        NeuronOperations,
        SynapticOperations,
    )
    from neurobench.models import SNNTorchModel
    from torch.utils.data import DataLoader, TensorDataset

    from backends.native.backend import NativeBackend
    from backends.native.card import ModelCard
    from benchmarks.measure.metrics import activity_summary

    torch.manual_seed(0)
    step = _SnnStep(5)
    card = ModelCard(name="snn-nb", factory=lambda k, c: _SnnSeq(step), framework="snntorch",
                     n_time_bins=4, input_size=(8, 8), layout="BTCHW", output="per_step")
    native = NativeBackend(card)
    model = native.build(card, (4, 2, 8, 8), 5, check=False).eval()
    # binary frames in the first two steps, event counts (some > 1: MACs) in the last two
    g = torch.Generator().manual_seed(3)
    x = torch.poisson(torch.full((6, 4, 2, 8, 8), 0.8), generator=g)
    x[:, :2] = (torch.rand((6, 2, 2, 8, 8), generator=g) < 0.4).float()
    with torch.no_grad():
        out = native.forward(model, x, record_activity=True)
    mine = activity_summary(out.activity, len(x))
    hooks = native.measurement(model)

    loader = DataLoader(TensorDataset(x, torch.zeros(len(x), dtype=torch.long)), batch_size=len(x))
    nb = Benchmark(SNNTorchModel(step), loader, [], [],
                   [[], [SynapticOperations, ActivationSparsity, MembraneUpdates,
                         NeuronOperations]]).run(quiet=True)
    n = len(x)
    assert nb["SynapticOperations"]["Effective_ACs"] == mine["effective_acs_per_sample"]
    assert nb["SynapticOperations"]["Effective_MACs"] == mine["effective_macs_per_sample"]
    assert nb["SynapticOperations"]["Dense"] == mine["dense_ops_per_sample"]
    assert mine["effective_macs_per_sample"] > 0 and mine["effective_acs_per_sample"] > 0
    assert nb["ActivationSparsity"] == pytest.approx(mine["activation_sparsity"], abs=1e-12)
    assert nb["MembraneUpdates"] == hooks["membrane_updates"] / n
    assert nb["NeuronOperations"]["Effective Neuron Ops"] == hooks["neuron_ops"] / n


def test_spikingjelly_neurons_outside_basenode_are_neurons():
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import neuron

    mods = nn.ModuleDict({
        "psn": neuron.PSN(T=4), "masked": neuron.MaskedPSN(k=2, T=4),
        "sliding": neuron.SlidingPSN(k=2), "gated": neuron.GatedLIFNode(T=4),
        "dsr_if": neuron.DSRIFNode(T=4), "dsr_lif": neuron.DSRLIFNode(T=4),
        "plif": neuron.ParametricLIFNode(), "non_spiking": neuron.NonSpikingLIFNode(),
    })
    for c in (neuron.PSN, neuron.GatedLIFNode, neuron.DSRIFNode):
        assert not issubclass(c, neuron.BaseNode)  # outside the BaseNode family
    meter = HookMeter(mods, n_time_bins=4)
    assert sorted(meter.neurons) == sorted(["psn", "masked", "sliding", "gated", "dsr_if",
                                            "dsr_lif", "plif"])
    from backends.native.hooks import neuron_classes

    assert "FlexSN" in [c.__name__ for c in neuron_classes()]


def test_psn_spikes_counted_on_a_sequence():
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import neuron

    psn = neuron.PSN(T=2)
    with torch.no_grad():  # identity weights, threshold 1: spikes where the input is >= 1
        psn.weight.copy_(torch.eye(2))
        psn.bias.fill_(-1.0)
    meter = HookMeter(nn.Sequential(_linear(), psn), n_time_bins=2)
    with meter.measure(1) as p:
        out = meter.model(X)
    # currents [1.5, 0.5] and [1.5, 0]; h = I - 1 -> spikes where h >= 0: [1, 0], [1, 0]
    assert int(out.sum()) == 2
    _row(p.layers, spikes=2.0, neurons=2, time_steps=2)
    assert "1 (membrane)" in meter.unmeasured  # a PSN keeps no membrane potential to read


def test_linear_on_token_sequences_counts_per_step():
    """A Linear on time-major tokens (T, B, N, D), as spiking transformers run: split per step,
    so AC vs MAC is decided per step."""
    lin = nn.Linear(3, 2, bias=False)
    lin.weight.data = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]])
    meter = HookMeter(lin, n_time_bins=2)
    x = torch.tensor([[[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]],     # t0: binary, 3 non-zeros
                      [[[0.5, 0.0, 0.0], [0.0, 2.0, 0.0]]]])    # t1: real, 2 non-zeros
    with meter.measure(1) as p:
        lin(x)  # (T=2, B=1, N=2, D=3)
    # t0 (ACs): token 0 inputs 0, 1 meet W[0,0], W[1,1] -> 2; token 1 input 2 meets W[0,2] -> 1
    # t1 (MACs): input 0 meets W[0,0] -> 1; input 1 meets W[1,1] -> 1.  Dense: 2 x 3 x 2 x 2 = 24.
    la = p.layers[0]
    assert (la.effective_acs, la.effective_macs, la.dense_ops, la.time_steps) == (3.0, 2.0, 24.0, 2)
