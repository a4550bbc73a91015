"""Tests of the ``ann`` and ``snntorch`` backends: registry, build, forward, backward, shapes,
neuron dynamics, training.

Expected numbers are worked out by hand in the comments (parameter counts from the layer shapes,
ResNet-18's from torchvision's published total), or by an independent reference written here.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import math
import random
import sys

import numpy as np
import pytest
import torch

from backends.base import (
    BackendUnavailableError,
    ForwardOutput,
    UnknownNameError,
    backend_status,
    get_backend,
)
from backends.specs import ConvLayer, ConvNetSpec, DenseLayer, NeuronSpec, get_arch

BACKENDS = ["ann", "snntorch"]
K = 7


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run these tests on one intra-op thread: on a shared 2-core machine under load, torch's
    OpenMP threads spin against each other and a small forward pass gets ~50x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def seed_all(seed: int = 0) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def small_resnet(t: int = 2, size: int = 32):
    """sew_resnet18 with a reduced input (the full 128x128 is heavy on a 2-core CPU)."""
    return dataclasses.replace(get_arch("sew_resnet18"), input_size=(size, size), n_time_bins=t)


def shape_of(arch) -> tuple[int, int, int, int]:
    return (arch.n_time_bins, 2, *arch.input_size)


def events(b: int, arch, rate: float = 0.3) -> torch.Tensor:
    """Random event counts (B, T, 2, H, W) float32."""
    return torch.poisson(torch.full((b, *shape_of(arch)), rate))


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------


def test_unknown_backend_lists_known_names_and_closest_match():
    with pytest.raises(UnknownNameError) as err:
        get_backend("snntorc")
    msg = str(err.value)
    for name in ("ann", "snntorch", "lava-dl"):
        assert name in msg
    assert "did you mean 'snntorch'" in msg


def test_backends_satisfy_protocol_fields():
    for name in BACKENDS:
        be = get_backend(name)
        assert be.name == name
        assert be.spiking is (name == "snntorch")
        assert be.available() == (True, "")
        v = be.versions()
        assert v["torch"] == torch.__version__
    import snntorch

    assert get_backend("snntorch").versions()["snntorch"] == snntorch.__version__


def test_missing_snntorch_disables_only_its_backend(monkeypatch):
    monkeypatch.setitem(sys.modules, "snntorch", None)  # `import snntorch` now raises ImportError
    be = get_backend("snntorch")
    ok, why = be.available()
    assert not ok
    assert why.startswith("snntorch is not importable") and "None in sys.modules" in why
    status = backend_status()
    assert status["snntorch"] == (False, why)
    assert status["ann"] == (True, "")
    with pytest.raises(BackendUnavailableError, match="snntorch"):
        be.build(get_arch("tiny"), (8, 2, 48, 48), K)
    assert be.versions()["snntorch"].startswith("unavailable")
    # the ann backend still builds and runs
    ann = get_backend("ann")
    model = ann.build(get_arch("tiny"), (8, 2, 48, 48), K)
    assert ann.forward(model, events(1, get_arch("tiny"))).logits.shape == (1, K)


# --------------------------------------------------------------------------------------------
# build, forward, backward
# --------------------------------------------------------------------------------------------


def _check_forward(backend: str, arch, b: int) -> tuple[torch.nn.Module, ForwardOutput]:
    seed_all(0)
    be = get_backend(backend)
    model = be.build(arch, shape_of(arch), K)
    x = events(b, arch)
    out = be.forward(model, x)
    assert isinstance(out, ForwardOutput)
    assert out.logits.shape == (b, K)
    assert out.logits.dtype == torch.float32
    assert torch.isfinite(out.logits).all()
    assert out.batch_size == b
    assert out.activity == []  # not recorded unless asked
    folded = backend == "ann" and arch.ann_input == "fold"
    if folded:
        assert out.logits_per_step is None
    else:
        assert out.logits_per_step.shape == (b, arch.n_time_bins, K)
        assert torch.allclose(out.logits_per_step[:, -1], out.logits)
    return model, out


def _check_backward(model: torch.nn.Module, out: ForwardOutput) -> None:
    loss = torch.nn.functional.cross_entropy(out.logits, torch.arange(out.batch_size) % K)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_forward_backward(backend):
    model, out = _check_forward(backend, get_arch("tiny"), b=3)
    _check_backward(model, out)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sew_resnet18_reduced_forward_backward(backend):
    model, out = _check_forward(backend, small_resnet(t=2, size=32), b=2)
    _check_backward(model, out)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_sew_resnet18_full_size_forward_backward(backend):
    model, out = _check_forward(backend, get_arch("sew_resnet18"), b=1)
    _check_backward(model, out)


def test_ann_resnet_per_step_variant_has_time_axis():
    arch = dataclasses.replace(small_resnet(t=2, size=32), ann_input="per_step")
    model, out = _check_forward("ann", arch, b=2)
    assert model.stem_conv.weight.shape == (64, 2, 7, 7)


def test_ann_convnet_fold_variant():
    arch = dataclasses.replace(get_arch("tiny"), ann_input="fold")
    model, out = _check_forward("ann", arch, b=2)
    assert model.layers["conv1"].conv.weight.shape == (16, 16, 5, 5)  # 2T = 16 input channels


def test_cumulative_readout_is_mean_over_first_steps():
    seed_all(1)
    arch = get_arch("tiny")
    for backend in BACKENDS:
        be = get_backend(backend)
        model = be.build(arch, shape_of(arch), K)
        x = events(2, arch)
        out = be.forward(model, x)
        per_step = model(x)  # (B, T, K) readout current
        for t in range(arch.n_time_bins):
            want = sum(per_step[:, s] for s in range(t + 1)) / (t + 1)
            assert torch.allclose(out.logits_per_step[:, t], want, atol=1e-6)


def test_fold_channel_order_is_time_major():
    """The ANN stem sees channel 2t + p = frame t, polarity p (Spiking-FER's rearrange)."""
    arch = small_resnet(t=3, size=32)
    model = get_backend("ann").build(arch, shape_of(arch), K)
    seen = {}
    model.stem_conv.register_forward_pre_hook(lambda m, inp: seen.setdefault("x", inp[0]))
    x = events(2, arch)
    get_backend("ann").forward(model, x)
    for t in range(3):
        for p in range(2):
            assert torch.equal(seen["x"][:, 2 * t + p], x[:, t, p])


# --------------------------------------------------------------------------------------------
# same layers in both backends
# --------------------------------------------------------------------------------------------


def test_tiny_same_layer_shapes_and_parameter_count():
    arch = get_arch("tiny")
    models = {b: get_backend(b).build(arch, shape_of(arch), K) for b in BACKENDS}
    shapes = {b: {n: tuple(p.shape) for n, p in m.named_parameters()} for b, m in models.items()}
    assert shapes["ann"] == shapes["snntorch"]
    # By hand from the spec's layer list (input 2 x 48 x 48, each conv followed by pool 2):
    # conv1 16*2*5*5 = 800; conv2 32*16*3*3 = 4608; conv3 32*32*3*3 = 9216;
    # batch norm affine (weight + bias) 2 * (16 + 32 + 32) = 160;
    # fc 7 * (32 channels * 6*6 after three pools = 1152) = 8064; no biases.
    # Total 800 + 4608 + 9216 + 160 + 8064 = 22848 (the number in the `tiny` docstring).
    for m in models.values():
        assert n_params(m) == 22848
    # the same count from the spec read here: each conv's in/out channels and kernel, the
    # spatial size halved by each pool, and the readout over the flattened last conv
    c_in, (h, w), from_spec = 2, arch.input_size, 0
    for conv in arch.convs:
        from_spec += conv.out_channels * c_in * conv.kernel_size**2  # no bias
        from_spec += 2 * conv.out_channels if conv.batch_norm else 0  # affine weight, bias
        c_in, h, w = conv.out_channels, h // conv.pool, w // conv.pool
    from_spec += c_in * h * w * K
    assert from_spec == 22848
    # and from the layer shapes in each model's state dict: the conv / batch-norm / linear
    # weights and biases (its other entries are buffers: batch-norm running statistics and
    # counters, snntorch's fixed neuron constants)
    for m in models.values():
        state = m.state_dict()
        layer_shapes = [t.shape for n, t in state.items() if n.endswith((".weight", ".bias"))]
        assert len(layer_shapes) == 3 + 3 * 2 + 1  # 3 convs, 3 batch norms (weight, bias), fc
        assert sum(math.prod(shape) for shape in layer_shapes) == 22848
    want = {
        "layers.conv1.conv.weight": (16, 2, 5, 5),
        "layers.conv2.conv.weight": (32, 16, 3, 3),
        "layers.conv3.conv.weight": (32, 32, 3, 3),
        "layers.fc.linear.weight": (K, 1152),
    }
    for conv, c in (("conv1", 16), ("conv2", 32), ("conv3", 32)):
        want[f"layers.{conv}.bn.weight"] = want[f"layers.{conv}.bn.bias"] = (c,)
    assert shapes["ann"] == want
    buffers = {
        b: {n: tuple(t.shape) for n, t in m.named_buffers() if "running" in n}
        for b, m in models.items()
    }
    assert buffers["ann"] == buffers["snntorch"]  # the same batch-norm layers
    assert buffers["ann"] == {
        f"layers.{conv}.bn.{stat}": (c,)
        for conv, c in (("conv1", 16), ("conv2", 32), ("conv3", 32))
        for stat in ("running_mean", "running_var")
    }


def test_sew_resnet18_same_layer_shapes_and_parameter_count():
    arch = get_arch("sew_resnet18")
    models = {b: get_backend(b).build(arch, shape_of(arch), K) for b in BACKENDS}
    shapes = {b: {n: tuple(p.shape) for n, p in m.named_parameters()} for b, m in models.items()}
    assert shapes["ann"].keys() == shapes["snntorch"].keys()
    differ = sorted(n for n in shapes["ann"] if shapes["ann"][n] != shapes["snntorch"][n])
    assert differ == ["stem_conv.weight"]  # by design: the ANN stem takes 2T = 12 channels
    assert shapes["snntorch"]["stem_conv.weight"] == (64, 2, 7, 7)
    assert shapes["ann"]["stem_conv.weight"] == (64, 12, 7, 7)
    # torchvision resnet18: 11,689,512 parameters, of which conv1 64*3*7*7 = 9408 and
    # fc 1000*512 + 1000 = 513,000. Ours: stem 64*C*7*7 and a bias-free fc 7*512 = 3584.
    body = 11_689_512 - 9_408 - 513_000
    assert n_params(models["snntorch"]) == body + 64 * 2 * 49 + K * 512  # 11,176,960
    assert n_params(models["ann"]) == body + 64 * 12 * 49 + K * 512  # 11,208,320
    buffers = {
        b: {n: tuple(t.shape) for n, t in m.named_buffers() if "running" in n}
        for b, m in models.items()
    }
    assert buffers["ann"] == buffers["snntorch"]  # the same batch-norm layers
    assert len(buffers["ann"]) == 2 * (1 + 8 * 2 + 3)  # stem, 2 per block, 3 downsamples


def test_build_rejects_bad_arguments():
    be = get_backend("ann")
    arch = get_arch("tiny")
    with pytest.raises(ValueError, match="input_shape"):
        be.build(arch, (8, 2, 64, 64), K)
    with pytest.raises(ValueError, match=r"input_shape\[1\]"):
        be.build(arch, (8, 3, 48, 48), K)
    with pytest.raises(ValueError, match="num_classes"):
        be.build(arch, (8, 2, 48, 48), 0)
    with pytest.raises(TypeError, match="arch"):
        be.build("tiny", (8, 2, 48, 48), K)
    bad = dataclasses.replace(arch, neuron=NeuronSpec(beta=1.5))
    with pytest.raises(ValueError, match="neuron.beta"):
        get_backend("snntorch").build(bad, (8, 2, 48, 48), K)
    shrink = dataclasses.replace(arch, input_size=(6, 6))
    with pytest.raises(ValueError, match="shrinks"):
        be.build(shrink, (8, 2, 6, 6), K)


def test_forward_rejects_bad_input():
    be = get_backend("snntorch")
    arch = get_arch("tiny")
    model = be.build(arch, shape_of(arch), K)
    with pytest.raises(TypeError, match="float32"):
        be.forward(model, events(1, arch).double())
    with pytest.raises(ValueError, match="x: expected shape"):
        be.forward(model, torch.zeros(1, 8, 2, 40, 48))
    with pytest.raises(TypeError, match="model"):
        be.forward(torch.nn.Linear(2, 2), events(1, arch))


# --------------------------------------------------------------------------------------------
# the snntorch neuron runs the canonical dynamics
# --------------------------------------------------------------------------------------------


def reference_neuron(current: torch.Tensor, beta: float, thr: float, reset: str):
    """The canonical neuron (backends/specs.py docstring), written independently:
    v[t] = beta v[t-1] + I[t]; s[t] = 1 iff v[t] >= thr; v[t] -> 0 or v[t] - thr after a spike."""
    v = torch.zeros_like(current[0])
    spikes = []
    for t in range(current.shape[0]):
        v = beta * v + current[t]
        s = v >= thr
        spikes.append(s.float())
        v = (
            torch.where(s, torch.zeros_like(v), v)
            if reset == "zero"
            else torch.where(s, v - thr, v)
        )
    return torch.stack(spikes)


@pytest.mark.parametrize("model_kind,beta", [("lif", 0.5), ("lif", 0.9), ("if", 1.0)])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_snntorch_neuron_matches_canonical_dynamics(model_kind, beta, reset):
    from backends.adapters.snntorch_backend import LeakyNeuron

    neuron = NeuronSpec(model=model_kind, beta=beta, threshold=1.0, reset=reset)
    seed_all(3)
    t_steps, n = 12, 4000
    current = torch.randn(t_steps, n) * 1.5  # often >= 2 thr: exercises the double reset
    current[:, :4] = torch.tensor([[1.0, 2.5, 0.5, 3.0]] + [[0.0, 0.0, 0.25, 0.0]] * (t_steps - 1))
    layer = LeakyNeuron(neuron)
    got = layer(current.reshape(t_steps * n, 1), t_steps).reshape(t_steps, n)
    want = reference_neuron(current, neuron.decay, 1.0, reset)
    assert torch.equal(got, want)
    assert got[0, 0] == 1  # v == threshold fires (H(0) = 1)
    assert got.sum() > 0.05 * got.numel()


def test_plain_snntorch_leaky_subtract_differs_from_canonical():
    """Why the adapter subclasses Leaky for the subtract reset: snntorch subtracts thr after the
    decay (canonical: beta * thr), and with reset_delay=False it suppresses a spike."""
    import snntorch as snn

    # v: 2.5 (spike) -> canonical 0.5*(2.5-1) + 0.5 = 1.25 (spike)
    current = torch.tensor([[2.5], [0.5], [0.0]])
    want = reference_neuron(current, 0.5, 1.0, "subtract")
    assert want.flatten().tolist() == [1.0, 1.0, 0.0]
    for delay in (True, False):
        lif = snn.Leaky(beta=0.5, threshold=1.0, reset_mechanism="subtract", reset_delay=delay)
        mem, spikes = torch.zeros(1), []
        for t in range(3):
            spk, mem = lif(current[t], mem)
            spikes.append(spk.item())
        assert spikes != want.flatten().tolist()


def test_surrogate_gradient_is_spikingjelly_atan():
    from backends.blocks.neurons import SurrogateSpike

    x = torch.tensor([-1.0, -0.2, 0.0, 0.3], requires_grad=True)
    alpha = 2.0
    s = SurrogateSpike("atan", alpha)(x)
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0]
    s.sum().backward()
    # spikingjelly ATan: alpha / 2 / (1 + (pi / 2 * alpha * x)^2)
    want = [alpha / 2 / (1 + (math.pi / 2 * alpha * v) ** 2) for v in (-1.0, -0.2, 0.0, 0.3)]
    assert torch.allclose(x.grad, torch.tensor(want))


def test_snntorch_model_is_copyable_and_picklable_after_forward():
    arch = dataclasses.replace(get_arch("tiny"), neuron=NeuronSpec(reset="subtract"))
    be = get_backend("snntorch")
    model = be.build(arch, shape_of(arch), K)
    x = events(2, arch)
    out = be.forward(model, x)
    out.logits.sum().backward()
    clone = copy.deepcopy(model)
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    model.eval(), clone.eval(), loaded.eval()
    with torch.no_grad():
        ref = be.forward(model, x).logits
        assert torch.equal(be.forward(clone, x).logits, ref)
        assert torch.equal(be.forward(loaded, x).logits, ref)


def test_snntorch_build_does_not_leak_neurons_into_class_registry():
    import snntorch as snn

    before = len(snn.SpikingNeuron.instances)
    for _ in range(3):
        get_backend("snntorch").build(get_arch("tiny"), (8, 2, 48, 48), K)
    assert len(snn.SpikingNeuron.instances) == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_by_step_equals_forward(backend):
    for arch in (get_arch("tiny"), dataclasses.replace(small_resnet(t=3), ann_input="per_step")):
        seed_all(4)
        model = get_backend(backend).build(arch, shape_of(arch), K).eval()
        x = events(2, arch)
        with torch.no_grad():
            state, steps = None, []
            for t in range(arch.n_time_bins):
                out, state = model.step(x[:, t], state)
                steps.append(out)
            assert torch.allclose(torch.stack(steps, 1), model(x), atol=1e-5)


def test_state_does_not_leak_between_forward_passes():
    arch = get_arch("tiny")
    be = get_backend("snntorch")
    model = be.build(arch, shape_of(arch), K)
    x = events(2, arch)
    first = be.forward(model, x).logits
    be.forward(model, events(2, arch, rate=1.0))
    assert torch.equal(be.forward(model, x).logits, first)


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_overfits_eight_samples(backend):
    """8 fixed samples, Adam(lr 5e-3): 100% training accuracy within 100 steps (gradients flow
    through the surrogate). Stops at the first step whose forward pass classifies all 8 (seeds
    0-4 need <= 18 steps for snntorch and <= 13 for ann)."""
    seed_all(0)
    arch = get_arch("tiny")
    be = get_backend(backend)
    model = be.build(arch, shape_of(arch), 4)
    x = events(8, arch)
    y = torch.arange(8) % 4
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    acc = 0.0
    for _ in range(101):  # the 101st forward pass checks the model after 100 steps
        out = be.forward(model, x)
        acc = (out.logits.argmax(1) == y).float().mean().item()
        if acc == 1.0:
            break
        loss = torch.nn.functional.cross_entropy(out.logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert acc == 1.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.gpu
@pytest.mark.parametrize("backend", BACKENDS)
def test_cuda_training_step(backend):
    seed_all(0)
    for arch in (get_arch("tiny"), small_resnet(t=2)):
        be = get_backend(backend)
        model = be.build(arch, shape_of(arch), K).to("cuda")
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x = events(2, arch).to("cuda")
        out = be.forward(model, x, record_activity=True)
        assert out.logits.device.type == "cuda"
        loss = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1], device="cuda"))
        loss.backward()
        opt.step()
        assert all(torch.isfinite(p).all() for p in model.parameters())
        cpu = be.forward(model.cpu().eval(), x.cpu(), record_activity=True)
        gpu = be.forward(model.to("cuda").eval(), x, record_activity=True)
        assert [a.dense_ops for a in cpu.activity] == [a.dense_ops for a in gpu.activity]


def test_small_custom_convnet_with_batch_norm_builds_in_both():
    spec = ConvNetSpec(
        name="bn_net",
        input_size=(16, 16),
        n_time_bins=3,
        convs=(ConvLayer("conv1", 4, 3, padding=1, batch_norm=True, pool=2),),
        denses=(DenseLayer("fc1", 8), DenseLayer("fc2", 0)),
    )
    shapes = {}
    for backend in BACKENDS:
        model, out = _check_forward(backend, spec, b=2)
        _check_backward(model, out)
        shapes[backend] = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert shapes["ann"] == shapes["snntorch"]
    # conv1 4*2*3*3 = 72, bn 4 + 4, fc1 8 * 4*8*8 = 2048, fc2 7*8 = 56
    assert sum(math.prod(s) for s in shapes["ann"].values()) == 72 + 8 + 2048 + 56
