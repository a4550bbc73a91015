"""Activity accounting: synaptic operations and spike counts.

Checked three ways: (1) hand counts on tiny networks (the comments give the arithmetic),
(2) spike counts against the sum of the spike tensors captured by forward hooks, (3) the
``neurobench`` package (2.3.0): its ``SynapticOperations`` (Effective_ACs, Effective_MACs, Dense)
and ``ActivationSparsity`` run through its ``Benchmark`` on our compiled models.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from backends.activity import ActivityRecorder, connection_ops
from backends.base import get_backend
from backends.specs import ConvLayer, ConvNetSpec, DenseLayer, NeuronSpec, get_arch
from backends.torch_blocks import arch_layer_names

BACKENDS = ["ann", "snntorch"]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a shared 2-core machine under load torch's OpenMP threads spin
    against each other and small passes get much slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def shape_of(arch) -> tuple[int, int, int, int]:
    return (arch.n_time_bins, 2, *arch.input_size)


def small_resnet(t: int = 2, size: int = 32):
    return dataclasses.replace(get_arch("sew_resnet18"), input_size=(size, size), n_time_bins=t)


def tiny_plain() -> ConvNetSpec:
    """tiny's earlier structure: the same convs without batch norm, a hidden LIF layer fc1
    (1152 -> 128) and the readout fc2; keeps a hidden dense layer under the whole-model counts."""
    tiny = get_arch("tiny")
    return dataclasses.replace(
        tiny,
        name="tiny_plain",
        convs=tuple(dataclasses.replace(c, batch_norm=False) for c in tiny.convs),
        denses=(DenseLayer("fc1", 128), DenseLayer("fc2", 0)),
    )


# --------------------------------------------------------------------------------------------
# connection_ops: hand counts
# --------------------------------------------------------------------------------------------


def test_linear_ops_hand_counts():
    lin = nn.Linear(20, 20, bias=False)
    nn.init.constant_(lin.weight, 0.5)
    x = torch.ones(1, 20)
    assert connection_ops(x, lin) == (400, 400, True)  # Linear(20, 20): 400 ops, binary input

    x = torch.zeros(2, 20)
    x[0, :5] = 1.0  # 5 active inputs in sample 0, 2 in sample 1
    x[1, 7:9] = 1.0
    with torch.no_grad():
        lin.weight[3] = 0.0  # output 3 has no non-zero synapse: 19 live outputs
    # effective: (5 + 2) active inputs x 19 outputs = 133; dense: 2 samples x 400 = 800
    assert connection_ops(x, lin) == (133, 800, True)

    x[0, 0] = 0.5  # a real value: multiply-accumulates
    assert connection_ops(x, lin)[2] is False
    x[0, 0] = -1.0  # NeuroBench counts {-1, 0, 1} as spikes
    assert connection_ops(x, lin)[2] is True


def test_conv_ops_hand_counts():
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    nn.init.constant_(conv.weight, 1.0)
    # 4x4 input, 3x3 kernel, zero padding 1: taps inside the image per output pixel are
    # 4 at the 4 corners, 6 at the 8 edge pixels, 9 at the 4 inner pixels: 16 + 48 + 36 = 100
    assert connection_ops(torch.ones(1, 1, 4, 4), conv) == (100, 100, True)
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, 0] = 1.0  # a corner pixel reaches the 4 outputs around it
    x[0, 0, 1, 1] = 3.0  # an inner pixel reaches 9 outputs; 3.0 is not binary
    assert connection_ops(x, conv) == (4 + 9, 100, False)

    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False)
    nn.init.constant_(conv.weight, 1.0)
    # 5x5 input -> 3x3 output; taps inside the image per axis: 2 (rows -1..1), 3 (1..3),
    # 2 (3..5): 7; 7 * 7 = 49 per (in, out) channel pair, x 2 in x 3 out = 294
    assert connection_ops(torch.ones(1, 2, 5, 5), conv)[1] == 294


def test_ops_are_exact_beyond_float32_integer_range():
    lin = nn.Linear(1, 4099, bias=False)
    nn.init.constant_(lin.weight, 1.0)
    # 4097 samples x 4099 outputs x 1 input = 16,793,603: odd and > 2**24, so not representable
    # as a float32 (a float32 sum cannot return it)
    eff, dense, _ = connection_ops(torch.ones(4097, 1), lin)
    assert dense == eff == 16_793_603



def _direct_ops(x, layer):
    """NeuroBench's definition computed literally: the layer run with ``x != 0`` and ``w != 0``
    (effective) and with all-ones input and weights (dense), summed in float64."""
    import torch.nn.functional as F

    w = layer.weight.detach()
    xb, wb = (x != 0).double(), (w != 0).double()
    if isinstance(layer, nn.Linear):
        return int(F.linear(xb, wb).sum()), int(F.linear(torch.ones_like(xb), torch.ones_like(wb)).sum())
    conv = F.conv1d if isinstance(layer, nn.Conv1d) else F.conv2d
    kw = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
    return (int(conv(xb, wb, **kw).sum()),
            int(conv(torch.ones_like(xb), torch.ones_like(wb), **kw).sum()))


@pytest.mark.parametrize("seed", range(4))
def test_ops_equal_the_direct_definition_and_follow_weight_changes(seed):
    g = torch.Generator().manual_seed(seed)
    layers = [
        (nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False), (5, 4, 11, 9)),
        (nn.Conv2d(4, 8, (3, 5), padding="same", dilation=(1, 2), groups=2), (3, 4, 10, 12)),
        (nn.Conv2d(3, 5, 2, stride=(1, 3), padding="valid"), (2, 3, 7, 8)),
        (nn.Conv1d(6, 4, 3, padding=2, stride=2), (4, 6, 13)),
        (nn.Linear(30, 7), (6, 30)),
    ]
    for layer, shape in layers:
        for trial in range(3):  # the same layer, its zero pattern changed in place each trial
            with torch.no_grad():
                layer.weight.mul_((torch.rand(layer.weight.shape, generator=g) > 0.3).float())
            x = torch.where(torch.rand(shape, generator=g) > 0.6,
                            torch.randint(-1, 2, shape, generator=g).float(), torch.zeros(shape))
            eff, dense, _ = connection_ops(x, layer)
            assert (eff, dense) == _direct_ops(x, layer), (layer, trial)
            # a different batch size re-uses the layer's cached counts
            assert connection_ops(x[:1], layer)[:2] == _direct_ops(x[:1], layer)


def test_recorder_counts_readout_time_steps_and_neurons():
    rec = ActivityRecorder()
    lin = nn.Linear(4, 3, bias=False)
    nn.init.constant_(lin.weight, 1.0)
    for _ in range(5):  # 5 time steps of a readout: ops only, no neurons
        rec.ops("fc", "linear", torch.ones(2, 4), lin)
    s = torch.zeros(2, 5, 6)  # (B, steps, neurons)
    s[0, 1, 2] = s[1, 4, 0] = 1.0
    rec.spikes("fc0", "linear", s, steps=5)
    fc, fc0 = {a.name: a for a in rec.layers()}["fc"], {a.name: a for a in rec.layers()}["fc0"]
    assert (fc.time_steps, fc.neurons, fc.spikes) == (5, 0, 0.0)
    assert fc.effective_acs == fc.dense_ops == 5 * 2 * 12  # Linear(4, 3): 12 ops x 2 samples
    assert (fc0.time_steps, fc0.neurons, fc0.spikes) == (5, 6, 2.0)


def test_recorder_input_events_and_connection_shape():
    from backends.activity import ConnectionShape

    rec = ActivityRecorder()
    lin = nn.Linear(4, 3, bias=False)
    x = torch.zeros(2, 4)
    x[0, 1] = x[1, 3] = 1.0  # 2 input events per step
    for _ in range(5):
        rec.ops("fc", "linear", x, lin)
    conv = nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False)
    xc = torch.zeros(1, 2, 6, 6)
    xc[0, 0, :2, :2] = 1.0  # 4 input events
    rec.ops("conv", "conv", xc, conv)
    fc, cv = rec.layers()
    assert fc.input_nonzeros == 5 * 2  # 5 steps x 2 events
    # Linear(4, 3): 12 weights; each input reaches 3 outputs
    assert fc.connection == ConnectionShape("linear", (4,), (3,), weights=12)
    assert cv.input_nonzeros == 4
    # 6x6 -> 3x3 (k3 s2 p1); 2*4*9 = 72 weights; fan-in 2*9 = 18, fan-out 4*9 = 36
    assert cv.connection == ConnectionShape("conv", (2, 6, 6), (4, 3, 3), kernel=(3, 3),
                                            stride=(2, 2), weights=72)
    assert (cv.connection.fan_in, cv.connection.fan_out) == (18, 36)


# --------------------------------------------------------------------------------------------
# whole models: hand counts
# --------------------------------------------------------------------------------------------

HAND = ConvNetSpec(
    name="hand",
    input_size=(4, 4),
    n_time_bins=2,
    convs=(ConvLayer("conv1", 1, 1),),  # 1x1 conv, 2 -> 1 channel
    denses=(DenseLayer("fc1", 3), DenseLayer("fc2", 0)),  # 16 -> 3 -> K = 2
    neuron=NeuronSpec(model="lif", beta=0.5, threshold=1.0, reset="zero"),
)


def _hand_model_and_input(backend: str):
    be = get_backend(backend)
    model = be.build(HAND, shape_of(HAND), 2)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    x = torch.zeros(1, 2, 2, 4, 4)
    x[0, 0, 0, 0, 0] = x[0, 0, 0, 1, 1] = x[0, 0, 0, 2, 2] = 1.0  # step 0: 3 ON events
    x[0, 0, 1, 1, 1] = 1.0  # step 0: 1 OFF event at (1, 1): conv current 2 there
    x[0, 1, 0, 3, 3] = 1.0  # step 1: ON at (3, 3)
    x[0, 1, 1, 0, 3] = 1.0  # step 1: OFF at (0, 3)
    return be, model, x


def test_snn_hand_counts():
    be, model, x = _hand_model_and_input("snntorch")
    out = be.forward(model, x, record_activity=True)
    a = {la.name: la for la in out.activity}
    assert list(a) == ["conv1", "fc1", "fc2"]
    # conv1: 1x1 conv 2 -> 1 on 4x4: dense 16 pixels x 2 inputs = 32 per step, x 2 steps = 64;
    # effective: each of the 4 + 2 input events reaches 1 output: 6 ACs (binary input).
    # currents 1, 2, 1 (step 0) and 1, 1 (step 1) >= threshold 1: 3 + 2 = 5 spikes
    assert (a["conv1"].effective_acs, a["conv1"].effective_macs, a["conv1"].dense_ops) == (6, 0, 64)
    assert (a["conv1"].spikes, a["conv1"].neurons, a["conv1"].time_steps) == (5, 16, 2)
    # fc1: Linear(16, 3): dense 48 per step = 96; effective (3 + 2) spikes x 3 = 15 ACs;
    # currents 3 and 2 >= 1: all 3 neurons fire at both steps: 6 spikes
    assert (a["fc1"].effective_acs, a["fc1"].effective_macs, a["fc1"].dense_ops) == (15, 0, 96)
    assert (a["fc1"].spikes, a["fc1"].neurons, a["fc1"].time_steps) == (6, 3, 2)
    # fc2 (readout): Linear(3, 2): dense 6 per step = 12; effective (3 + 3) x 2 = 12 ACs
    assert (a["fc2"].effective_acs, a["fc2"].effective_macs, a["fc2"].dense_ops) == (12, 0, 12)
    assert (a["fc2"].spikes, a["fc2"].neurons, a["fc2"].time_steps) == (0, 0, 2)
    # readout current 3 at both steps: logits 3
    assert out.logits.tolist() == [[3.0, 3.0]]


def test_ann_hand_counts():
    be, model, x = _hand_model_and_input("ann")
    out = be.forward(model, x, record_activity=True)
    a = {la.name: la for la in out.activity}
    # conv1 as in the SNN: binary input, 6 ACs, dense 64; ReLU outputs 1, 2, 1 and 1, 1: 5 non-zero
    assert (a["conv1"].effective_acs, a["conv1"].effective_macs, a["conv1"].dense_ops) == (6, 0, 64)
    assert a["conv1"].spikes == 5
    # fc1 input: step 0 holds a 2 (real-valued: 3 inputs x 3 = 9 MACs); step 1 only 1s
    # (binary: 2 x 3 = 6 ACs). Outputs 4 and 2 at each of 3 units: 6 non-zero
    assert (a["fc1"].effective_acs, a["fc1"].effective_macs, a["fc1"].dense_ops) == (6, 9, 96)
    assert a["fc1"].spikes == 6
    # fc2 input 4s then 2s: 3 x 2 MACs per step = 12; logits (12 + 6) / 2 = 9
    assert (a["fc2"].effective_acs, a["fc2"].effective_macs, a["fc2"].dense_ops) == (0, 12, 12)
    assert out.logits.tolist() == [[9.0, 9.0]]


# Taps inside the image per axis, summed over output positions (zero padding excluded):
# 48 px, k5 p2: 48*5 - (2+1)*2 = 234; 24 px, k3 p1: 24*3 - 2 = 70; 12 px: 12*3 - 2 = 34.
# Dense ops per time step and sample (batch norm is no connection: no ops):
TINY_CONV_OPS = {
    "conv1": 234**2 * 2 * 16,  # 1,752,192
    "conv2": 70**2 * 16 * 32,  # 2,508,800
    "conv3": 34**2 * 32 * 32,  # 1,183,744
}
DENSE_OPS_PER_STEP = {
    # tiny: readout fc (32*6*6 = 1152) -> 7: 8,064
    "tiny": ({**TINY_CONV_OPS, "fc": 1152 * 7}, 5_452_800),
    # earlier structure: fc1 1152 -> 128: 147,456; fc2 128 -> 7: 896
    "tiny_plain": ({**TINY_CONV_OPS, "fc1": 1152 * 128, "fc2": 128 * 7}, 5_593_088),
}


@pytest.mark.parametrize("arch_name", ["tiny", "tiny_plain"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_dense_ops_hand_count(backend, arch_name):
    arch = get_arch("tiny") if arch_name == "tiny" else tiny_plain()
    be = get_backend(backend)
    model = be.build(arch, shape_of(arch), 7)
    b, t = 2, arch.n_time_bins
    out = be.forward(
        model, torch.poisson(torch.full((b, *shape_of(arch)), 0.3)), record_activity=True
    )
    per_step, total = DENSE_OPS_PER_STEP[arch_name]
    assert sum(per_step.values()) == total
    assert {a.name: a.dense_ops for a in out.activity} == {
        k: v * b * t for k, v in per_step.items()
    }


def test_layer_names_are_the_spec_names():
    tiny = get_arch("tiny")
    plain = tiny_plain()
    resnet = small_resnet()
    want_resnet = ["stem"]
    for stage in range(1, 5):
        for block in range(2):
            want_resnet += [f"layer{stage}.{block}.conv1", f"layer{stage}.{block}.conv2"]
            if stage > 1 and block == 0:  # stride 2 and more channels: a 1x1 downsample
                want_resnet.append(f"layer{stage}.{block}.downsample")
    want_resnet.append("fc")
    assert arch_layer_names(tiny) == ["conv1", "conv2", "conv3", "fc"]
    assert arch_layer_names(plain) == ["conv1", "conv2", "conv3", "fc1", "fc2"]
    assert arch_layer_names(resnet) == want_resnet
    for backend in BACKENDS:
        be = get_backend(backend)
        for arch in (tiny, plain, resnet):
            model = be.build(arch, shape_of(arch), 3).eval()
            out = be.forward(model, torch.rand(1, *shape_of(arch)), record_activity=True)
            assert [a.name for a in out.activity] == arch_layer_names(arch)


# --------------------------------------------------------------------------------------------
# spike counts = sum of the spike tensors
# --------------------------------------------------------------------------------------------


def _activation_layer_names(model: nn.Module) -> dict[str, str]:
    """Module path of each activation module -> the layer name its outputs are recorded under."""
    out = {}
    for path, _ in model.named_modules():
        parts = path.split(".")
        if parts[-1] == "act" and parts[0] == "layers":  # PerStepConvNet: layers.<name>.act
            out[path] = parts[1]
        elif path == "stem_act":
            out[path] = "stem"
        elif parts[-1] in ("act1", "act2", "downsample_act"):
            block = ".".join(parts[:-1])
            out[path] = (
                f"{block}."
                + {"act1": "conv1", "act2": "conv2", "downsample_act": "downsample"}[parts[-1]]
            )
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("arch_name", ["tiny", "sew_resnet18_small"])
def test_spike_counts_equal_sum_of_spike_tensors(backend, arch_name):
    torch.manual_seed(0)
    arch = get_arch("tiny") if arch_name == "tiny" else small_resnet()
    be = get_backend(backend)
    model = be.build(arch, shape_of(arch), 5)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)  # livelier network: spikes in every layer
    captured: dict[str, list[torch.Tensor]] = {}
    names = _activation_layer_names(model)
    assert names  # every activation module is mapped
    for path, module in model.named_modules():
        if path in names:
            module.register_forward_hook(
                lambda m, inp, out, n=names[path]: captured.setdefault(n, []).append(out.detach())
            )
    b = 2
    out = be.forward(
        model, torch.poisson(torch.full((b, *shape_of(arch)), 0.3)), record_activity=True
    )
    recorded = {a.name: a for a in out.activity if a.neurons > 0}
    assert set(recorded) == set(captured)
    for name, tensors in captured.items():
        (s,) = tensors  # one call on the (T*B, ...) tensor
        if be.spiking:
            assert set(s.unique().tolist()) <= {0.0, 1.0}
        assert recorded[name].spikes == int(torch.count_nonzero(s))
        assert recorded[name].neurons == s[0].numel()
        assert recorded[name].time_steps * b == s.shape[0]
    assert sum(a.spikes for a in recorded.values()) > 0


# --------------------------------------------------------------------------------------------
# agreement with the neurobench package
# --------------------------------------------------------------------------------------------


class _StepNet(nn.Module):
    """NeuroBench's ``SNNTorchModel`` contract: ``net(x_t) -> (out, state)`` once per time step,
    ``net.reset()`` before a sequence. Runs our compiled model step by step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.state = None

    def reset(self) -> None:
        self.state = None

    def forward(self, x_t: torch.Tensor):
        out, self.state = self.model.step(x_t, self.state)
        return out, out


class _WholeNet(nn.Module):
    """For NeuroBench's ``TorchModel``: the whole sequence in one call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def neurobench_results(nb_model, x: torch.Tensor) -> dict:
    """Run NeuroBench's Benchmark with SynapticOperations, ActivationSparsity and ParameterCount
    on ``x`` as one batch (one batch keeps ActivationSparsity's batch weighting exact)."""
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ParameterCount
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(x, torch.zeros(len(x), dtype=torch.long)), batch_size=len(x))
    bench = Benchmark(
        nb_model, loader, [], [], [[ParameterCount], [SynapticOperations, ActivationSparsity]]
    )
    return bench.run(quiet=True)


def ours(be, model, x: torch.Tensor) -> dict:
    """Our counts in NeuroBench's units: per sample, summed over layers; sparsity over the
    layers with outputs."""
    model.eval()
    with torch.no_grad():
        out = be.forward(model, x, record_activity=True)
    n = len(x)
    total = sum(a.neurons * a.time_steps * n for a in out.activity if a.neurons > 0)
    spikes = sum(int(a.spikes) for a in out.activity if a.neurons > 0)
    return {
        "Effective_ACs": sum(int(a.effective_acs) for a in out.activity) / n,
        "Effective_MACs": sum(int(a.effective_macs) for a in out.activity) / n,
        "Dense": sum(int(a.dense_ops) for a in out.activity) / n,
        "ActivationSparsity": (total - spikes) / total,
        "activity": out.activity,
    }


def _assert_agree(nb: dict, mine: dict, model: nn.Module) -> None:
    assert nb["SynapticOperations"]["Effective_ACs"] == mine["Effective_ACs"]
    assert nb["SynapticOperations"]["Effective_MACs"] == mine["Effective_MACs"]
    assert nb["SynapticOperations"]["Dense"] == mine["Dense"]
    assert nb["ActivationSparsity"] == mine["ActivationSparsity"]
    assert nb["ParameterCount"] == sum(p.numel() for p in model.parameters())


def _mixed_events(b: int, arch) -> torch.Tensor:
    """Binary frames in the first half of the steps, event counts (some > 1) in the second: the
    AC/MAC decision differs between steps."""
    torch.manual_seed(1)
    t = arch.n_time_bins
    x = torch.poisson(torch.full((b, *shape_of(arch)), 0.5))
    x[:, : t // 2] = (torch.rand(b, t // 2, 2, *arch.input_size) < 0.3).float()
    return x


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_agrees_with_neurobench_step_by_step(backend):
    """NeuroBench's own snntorch path (SNNTorchModel: one call per time step)."""
    from neurobench.models import SNNTorchModel

    torch.manual_seed(0)
    arch = get_arch("tiny")
    be = get_backend(backend)
    model = be.build(arch, shape_of(arch), 7)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)  # spikes reach every layer
    x = _mixed_events(2, arch)
    mine = ours(be, model, x)
    nb = neurobench_results(SNNTorchModel(_StepNet(model)), x)
    _assert_agree(nb, mine, model)
    conv1 = mine["activity"][0]
    assert conv1.effective_acs > 0 and conv1.effective_macs > 0  # both kinds of step occurred
    if be.spiking:  # hidden layers see spikes: ACs only
        assert all(a.effective_macs == 0 for a in mine["activity"][1:])
        assert all(a.spikes > 0 for a in mine["activity"][:-1])
    assert 0.0 < mine["ActivationSparsity"] < 1.0


def test_tiny_ann_agrees_with_neurobench_torch_model():
    """NeuroBench's TorchModel calls the per-step ANN once on the whole sequence (conv on the
    (T*B, ...) tensor): with real-valued input at every step the AC/MAC decision is the same."""
    from neurobench.models import TorchModel

    torch.manual_seed(0)
    arch = get_arch("tiny")
    be = get_backend("ann")
    model = be.build(arch, shape_of(arch), 7)
    x = torch.rand(2, *shape_of(arch)) * 2.0
    mine = ours(be, model, x)
    nb = neurobench_results(TorchModel(_WholeNet(model)), x)
    _assert_agree(nb, mine, model)
    assert mine["Effective_ACs"] == 0 and mine["Effective_MACs"] > 0


def test_sew_resnet_agrees_with_neurobench_step_by_step():
    """SEW-ResNet (reduced input): the ADD connection makes block outputs in {0, 1, 2, ...}, so
    the next conv1 / downsample counts MACs at the steps where a 2 occurs."""
    from neurobench.models import SNNTorchModel

    torch.manual_seed(0)
    arch = small_resnet(t=3, size=32)
    be = get_backend("snntorch")
    model = be.build(arch, shape_of(arch), 5)
    x = _mixed_events(1, arch)
    with torch.no_grad():
        for block in model.blocks():
            block.bn2.weight.fill_(1.0)  # undo the zero-init of the residual branch
        for m in model.modules():  # running statistics = this batch's, gain 2: spikes everywhere
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None
                m.reset_running_stats()
                m.weight.mul_(2.0)
        be.forward(model.train(), x)
    mine = ours(be, model, x)
    nb = neurobench_results(SNNTorchModel(_StepNet(model)), x)
    _assert_agree(nb, mine, model)
    a = {la.name: la for la in mine["activity"]}
    assert a["layer1.0.conv1"].effective_macs == 0  # its input is the stem's (binary) spikes
    assert a["layer1.1.conv1"].effective_macs > 0  # its input is layer1.0's ADD output
    assert all(la.spikes > 0 for la in mine["activity"][:-1])


def test_ann_fold_resnet_agrees_with_neurobench_torch_model():
    from neurobench.models import TorchModel

    torch.manual_seed(0)
    arch = small_resnet(t=3, size=32)
    be = get_backend("ann")
    model = be.build(arch, shape_of(arch), 5)
    x = (torch.rand(2, *shape_of(arch)) < 0.3).float()  # binary frames, as Spiking-FER's
    mine = ours(be, model, x)
    nb = neurobench_results(TorchModel(_WholeNet(model)), x)
    _assert_agree(nb, mine, model)
    stem = mine["activity"][0]
    assert stem.name == "stem" and stem.effective_acs > 0 and stem.effective_macs == 0
