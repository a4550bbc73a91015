"""Tests of the ``spikingjelly`` backend (spikingjelly 2.0, ``activation_based``, multi-step mode):
registry and availability, the neuron mapping (hand-computed sequences), the self-check,
cross-backend equality with snntorch, activity, training, state and checkpoints.

Expected values are worked out by hand in the comments, computed with numpy float32 (an
independent float reference), or taken from the snntorch backend on the same weights and input
(a different framework, itself checked against the canonical neuron in tests/test_backends.py).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib.metadata
import io
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from backends.base import BackendUnavailableError, backend_names, backend_status, get_backend
from backends.equality import copy_weights, layer_spikes, spike_agreement
from backends.specs import NeuronSpec, get_arch

pytest.importorskip("spikingjelly.activation_based")

from backends.adapters import spikingjelly_backend as sjb  # noqa: E402

K = 7
TINY_NEURON = NeuronSpec(model="lif", beta=0.5, threshold=1.0, reset="zero")
SEEN_NEURON = get_arch("seen").neuron  # LIF beta 0.2, thr 0.3, zero reset, rect surrogate


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: on the shared 2-core machine torch's threads spin against each other."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def shape_of(arch) -> tuple[int, int, int, int]:
    return (arch.n_time_bins, 2, *arch.input_size)


def small_resnet(t: int = 3, size: int = 32):
    """sew_resnet18 reduced: 32x32 input (maps 16, 8 after the stem, then 8, 4, 2, 1), T = 3."""
    return dataclasses.replace(get_arch("sew_resnet18"), input_size=(size, size), n_time_bins=t)


def counts(b: int, arch, seed: int = 0) -> torch.Tensor:
    """Event counts 0..3 per pixel and bin, (B, T, 2, H, W) float32: dense enough that every
    layer spikes (binary p=0.2 input leaves the deep layers silent with the default init)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 4, (b, *shape_of(arch)), generator=g).float()


def pair(arch, num_classes: int = K, conv_scale: float = 3.0, seed: int = 0):
    """(snntorch model, spikingjelly model) with the same weights: the snntorch model's conv
    weights x ``conv_scale`` and its zero-initialised batch-norm weights (SEW-ResNet's bn2) set to
    1, so that every layer spikes, then copied into the spikingjelly model."""
    torch.manual_seed(seed)
    ref = get_backend("snntorch").build(arch, shape_of(arch), num_classes)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if p.dim() == 4:
                p.mul_(conv_scale)
            elif name.endswith("weight") and p.dim() == 1 and not bool(p.any()):
                p.fill_(1.0)  # a zero_init_residual bn2 weight
    model = get_backend("spikingjelly").build(arch, shape_of(arch), num_classes)
    copy_weights(ref, model)
    return ref, model


def run_layer(neuron: NeuronSpec, current: list[float]) -> tuple[list[float], list[float]]:
    """Drive one neuron with ``current`` (one value per step): (spikes from ``SJNeuron.forward``,
    pre-reset membrane from ``SJNeuron.step``); asserts that step's spikes equal forward's."""
    layer = sjb.SJNeuron(neuron)
    x = torch.tensor(current, dtype=torch.float32).reshape(-1, 1)  # (T*B, 1) with B = 1
    with torch.no_grad():
        spikes = layer(x, len(current)).flatten().tolist()
        state, mem, step_spikes = None, [], []
        for t in range(len(current)):
            s, state = layer.step(x[t], state)
            step_spikes.append(s.item())
            mem.append(state.item())
    assert step_spikes == spikes
    return spikes, mem


# --------------------------------------------------------------------------------------------
# registry, availability, versions
# --------------------------------------------------------------------------------------------


def test_registered_available_and_versions(monkeypatch):
    monkeypatch.delenv("SJ_IF_CUDA_IMPLEMENTATION", raising=False)
    monkeypatch.delenv("SJ_LIF_CUDA_IMPLEMENTATION", raising=False)
    assert "spikingjelly" in backend_names()
    be = get_backend("spikingjelly")
    assert be.name == "spikingjelly" and be.spiking is True
    assert be.available() == (True, "")
    assert be.equality.kind == "exact" and be.equality.min_agreement() == 1.0
    v = be.versions()
    assert v["spikingjelly"] == importlib.metadata.version("spikingjelly")
    assert v["torch"] == torch.__version__
    assert v["spikingjelly_cuda_request"] == "auto"  # neither SJ_*_CUDA_IMPLEMENTATION set


def test_module_does_not_import_spikingjelly_at_top_level():
    """The registry imports every backend module; a top-level ``import spikingjelly`` would make
    a missing spikingjelly break the listing of all backends."""
    tree = ast.parse(Path(sjb.__file__).read_text())
    top = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            top += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            top.append(node.module or "")
    assert top and not [m for m in top if m.startswith("spikingjelly")]


def test_missing_spikingjelly_disables_only_its_backend(monkeypatch):
    before = backend_status()
    for name in [m for m in sys.modules if m == "spikingjelly" or m.startswith("spikingjelly.")]:
        monkeypatch.setitem(sys.modules, name, None)  # `import spikingjelly...` -> ImportError
    monkeypatch.setitem(sys.modules, "spikingjelly", None)
    be = get_backend("spikingjelly")
    ok, why = be.available()
    assert not ok
    assert why.startswith("spikingjelly is not importable") and "None in sys.modules" in why
    status = backend_status()
    assert status["spikingjelly"] == (False, why)
    assert {n: s for n, s in status.items() if n != "spikingjelly"} == {
        n: s for n, s in before.items() if n != "spikingjelly"
    }
    with pytest.raises(BackendUnavailableError, match="spikingjelly"):
        be.build(get_arch("tiny"), (8, 2, 48, 48), K)
    assert be.versions()["spikingjelly"].startswith("unavailable: spikingjelly is not importable")


# --------------------------------------------------------------------------------------------
# neuron mapping
# --------------------------------------------------------------------------------------------


def test_node_classes_and_arguments():
    from spikingjelly.activation_based import neuron, surrogate

    lif = sjb.make_node(TINY_NEURON)
    assert type(lif) is neuron.LIFNode
    # tau = 1 / (1 - beta) = 2; the input is not decayed (canonical input scaling 1)
    assert (lif.tau, lif.decay_input, lif.v_threshold, lif.v_reset) == (2.0, False, 1.0, 0.0)
    assert lif.detach_reset is True and lif.step_mode == "m"
    assert isinstance(lif.surrogate_function, surrogate.ATan)
    assert lif.surrogate_function.alpha == 2.0

    if_soft = sjb.make_node(NeuronSpec(model="if", threshold=0.75, reset="subtract"))
    assert type(if_soft) is neuron.IFNode
    assert (if_soft.v_threshold, if_soft.v_reset) == (0.75, None)  # None = soft reset

    seen = sjb.make_node(SEEN_NEURON)
    assert type(seen).__name__ == "CanonicalLIFNode" and isinstance(seen, neuron.LIFNode)
    assert (seen.beta, seen.v_threshold, seen.v_reset) == (0.2, 0.3, 0.0)
    # rect surrogate: the suite's (height 1, half-width 0.5), not spikingjelly's Rect
    assert type(seen.surrogate_function).__name__ == "SurrogateSpike"


def test_lifnode_tau_only_for_one_minus_power_of_two():
    # 1 - beta = 2^-k  ->  tau = 2^k;  otherwise V / tau rounds and there is none
    assert sjb.lifnode_tau(0.5) == 2.0
    assert sjb.lifnode_tau(0.75) == 4.0
    assert sjb.lifnode_tau(1 - 2**-24) == 2.0**24
    assert sjb.lifnode_tau(1 - 2**-25) is None  # beta not a float32 value
    for beta in (0.2, 0.25, 0.9, 0.95, 1.0):
        assert sjb.lifnode_tau(beta) is None


def test_lif_zero_reset_hand_computed():
    # beta 0.5, thr 1, zero reset; I = 1, .5, .75, 0, 2.5, .25, -.5, .75
    # v: 1 (tie: fires, -> 0) | .5 | .25+.75 = 1 (fires) | 0 | 2.5 (fires) | .25
    #    | .125-.5 = -.375 | -.1875+.75 = .5625
    spikes, mem = run_layer(TINY_NEURON, [1.0, 0.5, 0.75, 0.0, 2.5, 0.25, -0.5, 0.75])
    assert spikes == [1, 0, 1, 0, 1, 0, 0, 0]
    assert mem == [1.0, 0.5, 1.0, 0.0, 2.5, 0.25, -0.375, 0.5625]


def test_lif_subtract_reset_hand_computed():
    # beta 0.5, thr 1, subtract; same I as above
    # v: 1 (fires, -> 0) | .5 | 1 (fires, -> 0) | 0 | 2.5 (fires, -> 1.5)
    #    | .75+.25 = 1 (fires, -> 0) | -.5 | -.25+.75 = .5
    # (snntorch's plain Leaky would give .5*2.5 + .25 - 1 = .5 at step 5: no spike)
    neuron = dataclasses.replace(TINY_NEURON, reset="subtract")
    spikes, mem = run_layer(neuron, [1.0, 0.5, 0.75, 0.0, 2.5, 0.25, -0.5, 0.75])
    assert spikes == [1, 0, 1, 0, 1, 1, 0, 0]
    assert mem == [1.0, 0.5, 1.0, 0.0, 2.5, 1.0, -0.5, 0.5]


def test_if_zero_and_subtract_hand_computed():
    current = [0.5, 0.5, 2.5, -0.25, 0.75, 0.5, 0.0, 1.0]
    # zero: v .5 | 1 (fires) | 2.5 (fires) | -.25 | .5 | 1 (fires) | 0 | 1 (fires)
    spikes, mem = run_layer(NeuronSpec(model="if", reset="zero"), current)
    assert spikes == [0, 1, 1, 0, 0, 1, 0, 1]
    assert mem == [0.5, 1.0, 2.5, -0.25, 0.5, 1.0, 0.0, 1.0]
    # subtract: .5 | 1 (fires, -> 0) | 2.5 (fires, -> 1.5) | 1.25 (fires, -> .25)
    #           | 1 (fires, -> 0) | .5 | .5 | 1.5 (fires)
    spikes, mem = run_layer(NeuronSpec(model="if", reset="subtract"), current)
    assert spikes == [0, 1, 1, 1, 1, 0, 0, 1]
    assert mem == [0.5, 1.0, 2.5, 1.25, 1.0, 0.5, 0.5, 1.5]


def test_seen_neuron_hand_computed():
    # beta 0.2, thr 0.3, zero reset; I = .25, .2, .1, .5, -.1, .35, 0, .3
    # v: .25 | .05+.2 = .25 | .05+.1 = .15 | .03+.5 = .53 (fires) | -.1 | -.02+.35 = .33 (fires)
    #    | 0 | 0+.3 = .3 == thr: fires (H(0) = 1; SEEN's own code uses > and would not)
    spikes, mem = run_layer(SEEN_NEURON, [0.25, 0.2, 0.1, 0.5, -0.1, 0.35, 0.0, 0.3])
    assert spikes == [0, 0, 0, 1, 0, 1, 0, 1]
    assert np.allclose(mem, [0.25, 0.25, 0.15, 0.53, -0.1, 0.33, 0.0, 0.3], atol=1e-6)


def test_plain_lifnode_differs_where_the_adapter_subclasses():
    """Why beta = 0.2 uses CanonicalLIFNode: LIFNode(tau=1.25) charges V - V/1.25, which rounds
    differently from 0.2 * V (reference: numpy float32); and decay_input=True scales the input."""
    from spikingjelly.activation_based import neuron, surrogate

    x = torch.tensor([[0.7], [0.0]])
    f32 = np.float32
    plain_want = f32(0.7) - f32(0.7) / f32(1.25)  # 0.13999999
    canon_want = f32(0.2) * f32(0.7)  # 0.14
    assert plain_want != canon_want
    kw = dict(v_threshold=1.0, v_reset=0.0, surrogate_function=surrogate.ATan(), step_mode="m")
    plain = neuron.LIFNode(tau=1.25, decay_input=False, store_v_seq=True, **kw)
    plain(x)
    canon = sjb.make_node(NeuronSpec(model="lif", beta=0.2))
    canon.store_v_seq = True
    canon(x)
    assert plain.v_seq[1].item() == plain_want
    assert canon.v_seq[1].item() == canon_want
    # decay_input=True (spikingjelly's default): H = V + (X - V) / tau = 0.5 for X = thr = 1
    decayed = neuron.LIFNode(tau=2.0, decay_input=True, **kw)
    assert decayed(torch.tensor([[1.0]])).item() == 0.0
    assert run_layer(TINY_NEURON, [1.0])[0] == [1.0]


def test_many_random_currents_match_an_independent_reference():
    """Bit-identical spikes over 12 steps x 4000 neurons (currents often > 2 thr) against a
    reference written here: v = beta v + I, s = v >= thr, v -> 0 or v - thr."""
    g = torch.Generator().manual_seed(3)
    current = torch.randn(12, 4000, generator=g) * 1.5
    for neuron in (
        TINY_NEURON,
        dataclasses.replace(TINY_NEURON, reset="subtract"),
        NeuronSpec(model="if", reset="subtract"),
        NeuronSpec(model="lif", beta=0.9, reset="subtract"),
    ):
        v = torch.zeros(4000)
        want = []
        for t in range(12):
            v = neuron.decay * v + current[t]
            s = v >= 1.0
            want.append(s.float())
            v = torch.where(s, torch.zeros_like(v) if neuron.reset == "zero" else v - 1.0, v)
        want = torch.stack(want)
        got = sjb.SJNeuron(neuron)(current.reshape(-1, 1), 12).reshape(12, 4000)
        assert torch.equal(got, want), neuron
        assert got.sum() > 0.05 * got.numel()


def test_atan_surrogate_gradient_formula():
    x = torch.tensor([[-1.0, -0.2, 0.0, 0.3]], requires_grad=True)  # one step, thr 1 below
    layer = sjb.SJNeuron(NeuronSpec(model="if", threshold=1.0))
    (layer(x + 1.0, 1)).sum().backward()  # H - thr = x
    alpha = 2.0  # dS/dx = alpha / 2 / (1 + (pi / 2 * alpha * x)^2)
    want = [alpha / 2 / (1 + (math.pi / 2 * alpha * v) ** 2) for v in (-1.0, -0.2, 0.0, 0.3)]
    assert torch.allclose(x.grad, torch.tensor([want]))


# --------------------------------------------------------------------------------------------
# self-check
# --------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_check():
    sjb.check_neuron_semantics.cache_clear()
    yield
    sjb.check_neuron_semantics.cache_clear()


def test_self_check_detects_a_non_canonical_neuron(monkeypatch, fresh_check):
    """Pretend spikingjelly's LIFNode were exact for every beta: the self-check must see that
    V - V/tau is not beta * V for beta 0.2 and 0.9, and the backend turns unavailable."""
    monkeypatch.setattr(sjb, "lifnode_tau", lambda beta: 1.0 / (1.0 - beta))
    for neuron in (SEEN_NEURON, NeuronSpec(model="lif", beta=0.9, reset="subtract")):
        with pytest.raises(BackendUnavailableError, match="does not reproduce the canonical"):
            sjb.check_neuron_semantics(neuron)
    ok, why = get_backend("spikingjelly").available()
    assert not ok and "LIFNode" in why and "2.0.0" in why


def test_self_check_passes_for_every_mapping(fresh_check):
    for neuron in (
        TINY_NEURON,
        NeuronSpec(model="lif", beta=0.75, threshold=0.5, reset="subtract"),
        NeuronSpec(model="if", threshold=2.0, reset="subtract"),
        SEEN_NEURON,
        NeuronSpec(model="lif", beta=0.3, surrogate="fast_sigmoid", surrogate_alpha=5.0),
    ):
        sjb.check_neuron_semantics(neuron)  # raises on a mismatch


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------


def test_tiny_parameter_count_and_checkpoint_keys():
    model = get_backend("spikingjelly").build(get_arch("tiny"), (8, 2, 48, 48), K)
    # conv 2*16*25 = 800 + 16*32*9 = 4,608 + 32*32*9 = 9,216; BN 2*(16+32+32) = 160;
    # fc 32*6*6 * 7 = 8,064
    assert sum(p.numel() for p in model.parameters()) == 22_848
    # no neuron state in the checkpoint: the same keys as the ANN twin (convs, BN, fc)
    ann = get_backend("ann").build(get_arch("tiny"), (8, 2, 48, 48), K)
    assert model.state_dict().keys() == ann.state_dict().keys()


def test_kernels_recorded_on_cpu():
    be = get_backend("spikingjelly")
    tiny = be.build(get_arch("tiny"), (8, 2, 48, 48), K)
    assert be.runtime_info(tiny) == {"spikingjelly_kernels": "not run"}
    be.forward(tiny, counts(1, get_arch("tiny")))
    # CPU: spikingjelly's fused op runs its torch reference loop (neuron_implementation)
    assert be.runtime_info(tiny) == {"spikingjelly_kernels": "LIFNode[torch-reference] x3"}
    rect_if = sjb.SJNeuron(NeuronSpec(model="if", surrogate="rect", surrogate_alpha=0.5))
    rect_if(torch.zeros(2, 3), 1)
    assert rect_if.kernel == "IFNode[autograd-reference]"  # a Python surrogate: no fused op


def test_tiny_spikes_identical_to_snntorch():
    arch = get_arch("tiny")  # 48x48, T = 8
    ref, model = pair(arch)
    agree = spike_agreement(
        get_backend("snntorch"), ref, get_backend("spikingjelly"), model, counts(2, arch)
    )
    assert sorted(agree.per_layer) == ["layers.conv1.act", "layers.conv2.act", "layers.conv3.act"]
    for name, (n_ref, _) in agree.spike_counts.items():
        assert n_ref > 0, name  # every layer spikes
    assert agree.per_layer == {name: 1.0 for name in agree.per_layer}
    assert agree.logits_max_abs_diff == 0.0


def test_tiny_subtract_reset_spikes_identical_to_snntorch():
    arch = dataclasses.replace(get_arch("tiny"), neuron=NeuronSpec(reset="subtract"))
    ref, model = pair(arch)
    agree = spike_agreement(
        get_backend("snntorch"), ref, get_backend("spikingjelly"), model, counts(2, arch, seed=1)
    )
    assert min(n for n, _ in agree.spike_counts.values()) > 0
    assert agree.min_agreement == 1.0 and agree.logits_max_abs_diff == 0.0


def test_reduced_sew_resnet18_spikes_identical_to_snntorch():
    arch = small_resnet()  # 32x32, T = 3, IF neurons
    ref, model = pair(arch)
    agree = spike_agreement(
        get_backend("snntorch"), ref, get_backend("spikingjelly"), model, counts(2, arch)
    )
    # stem + 8 blocks x 2 + 3 downsamples = 20 neuron layers
    assert len(agree.per_layer) == 20
    silent = [name for name, (n_ref, _) in agree.spike_counts.items() if n_ref == 0]
    assert silent == []
    assert agree.per_layer == {name: 1.0 for name in agree.per_layer}
    assert agree.logits_max_abs_diff == 0.0


def test_reduced_seen_spikes_identical_to_snntorch():
    """SEEN's LIF (beta 0.2: CanonicalLIFNode) in the full two-input model, 32x32 frames."""
    arch = dataclasses.replace(get_arch("seen"), input_size=(32, 32))
    ref, model = pair(arch, conv_scale=2.0)  # x1 leaves frame.conv3 (h3) and fc1 silent
    x = counts(2, arch)
    frames = torch.rand(2, 3, 1, 32, 32, generator=torch.Generator().manual_seed(5))
    want, want_logits = layer_spikes(get_backend("snntorch"), ref, x, frames=frames)
    got, logits = layer_spikes(get_backend("spikingjelly"), model, x, frames=frames)
    # fc2's neuron runs through step(), not hooked: the logits (its membrane) cover it
    assert sorted(got) == sorted(want) == ["act_c1", "act_c2", "act_c3", "act_h1", "act_h3"]
    for name in want:
        assert want[name].sum() > 0, name
        assert torch.equal(got[name], want[name]), name
    assert torch.equal(logits, want_logits)


def test_activity_equals_snntorch():
    arch = get_arch("tiny")
    ref, model = pair(arch)
    x = counts(2, arch, seed=2)
    ref.eval(), model.eval()
    with torch.no_grad():
        want = get_backend("snntorch").forward(ref, x, record_activity=True).activity
        got = get_backend("spikingjelly").forward(model, x, record_activity=True).activity
    assert [a.name for a in got] == ["conv1", "conv2", "conv3", "fc"]
    assert all(a.spikes > 0 for a in got if a.name != "fc")
    assert got == want  # spikes, neurons, effective ACs / MACs, dense ops, layer by layer


def test_gradients_finite_and_equal_to_snntorch():
    arch = get_arch("tiny")
    ref, model = pair(arch, conv_scale=1.0)
    x, y = counts(4, arch, seed=3), torch.arange(4) % K
    for be, m in ((get_backend("snntorch"), ref), (get_backend("spikingjelly"), model)):
        torch.nn.functional.cross_entropy(be.forward(m, x).logits, y).backward()
    for (name, p), (name2, q) in zip(ref.named_parameters(), model.named_parameters(), strict=True):
        assert name == name2
        assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0, name
        # the same surrogate and detached reset: equal up to float rounding
        assert torch.allclose(q.grad, p.grad, rtol=1e-5, atol=1e-8), name


def test_sgd_steps_lower_the_loss():
    torch.manual_seed(0)
    arch = get_arch("tiny")
    be = get_backend("spikingjelly")
    model = be.build(arch, shape_of(arch), 4)
    x, y = torch.poisson(torch.full((8, *shape_of(arch)), 0.3)), torch.arange(8) % 4
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = []
    for _ in range(6):
        loss = torch.nn.functional.cross_entropy(be.forward(model, x).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]  # seeds 0-2 reach ~0.72x after 5 steps


def test_checkpoint_round_trip_and_copies():
    arch = get_arch("tiny")
    be = get_backend("spikingjelly")
    torch.manual_seed(0)
    model = be.build(arch, shape_of(arch), K)
    x = counts(2, arch)
    be.forward(model, x).logits.sum().backward()  # a pass with a graph, then copy and save
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    restored = be.build(arch, shape_of(arch), K)
    restored.load_state_dict(torch.load(buf, weights_only=True))
    whole = io.BytesIO()
    torch.save(model, whole)  # pickles CanonicalLIFNode / spikingjelly nodes too
    whole.seek(0)
    loaded = torch.load(whole, weights_only=False)
    clone = copy.deepcopy(model)
    for m in (model, restored, loaded, clone):
        m.eval()
    with torch.no_grad():
        want = be.forward(model, x).logits
        for m in (restored, loaded, clone):
            assert torch.equal(be.forward(m, x).logits, want)


def test_state_does_not_leak_between_passes():
    arch = get_arch("tiny")
    be = get_backend("spikingjelly")
    model = be.build(arch, shape_of(arch), K).eval()
    x = counts(2, arch)
    with torch.no_grad():
        first = be.forward(model, x).logits
        be.forward(model, counts(3, arch, seed=9) * 2)  # another batch size and input
        assert torch.equal(be.forward(model, x).logits, first)
    for layer in sjb.model_kernels(model):
        node = model.get_submodule(layer).node
        assert node.v == 0.0 and node.v_seq is None  # reset after the pass


def test_step_by_step_equals_forward():
    for arch in (get_arch("tiny"), small_resnet()):
        torch.manual_seed(4)
        model = get_backend("spikingjelly").build(arch, shape_of(arch), K).eval()
        x = counts(2, arch)
        with torch.no_grad():
            state, steps = None, []
            for t in range(arch.n_time_bins):
                out, state = model.step(x[:, t], state)
                steps.append(out)
            assert torch.allclose(torch.stack(steps, 1), model(x), atol=1e-5)


def test_seen_full_size_builds_and_runs():
    arch = get_arch("seen")  # 90x90, T = 4
    be = get_backend("spikingjelly")
    model = be.build(arch, shape_of(arch), K)
    x = counts(2, arch)
    out = be.forward(model, x, frames=torch.rand(2, 3, 1, 90, 90))
    assert out.logits.shape == (2, K) and out.logits_per_step.shape == (2, 4, K)
    out.logits.sum().backward()
    # h3, c1, c2, c3, h1 run forward; the output neuron fc2 runs step by step
    assert be.runtime_info(model) == {
        "spikingjelly_kernels": "CanonicalLIFNode[adapter-step] x1, CanonicalLIFNode[torch-loop] x5"
    }


@pytest.mark.slow
def test_sew_resnet18_full_size_builds_and_runs():
    arch = get_arch("sew_resnet18")  # 128x128, T = 6
    be = get_backend("spikingjelly")
    model = be.build(arch, shape_of(arch), K)
    # torchvision's resnet18 11,689,512 - its stem 3*64*49 = 9,408 - its fc 512*1000 + 1000
    # + the 2-channel stem 2*64*49 = 6,272 + the bias-free fc 512*7 = 3,584: 11,176,960
    assert sum(p.numel() for p in model.parameters()) == 11_176_960
    out = be.forward(model, torch.poisson(torch.full((1, *shape_of(arch)), 0.3)))
    assert out.logits.shape == (1, K)
    out.logits.sum().backward()
    assert be.runtime_info(model) == {"spikingjelly_kernels": "IFNode[torch-reference] x20"}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_kernel_spikes_identical_to_snntorch():
    """On CUDA spikingjelly binds its native or Triton kernel (IEEE division, so still exact by
    its source); check it on tiny and the reduced SEW-ResNet, and that a fused kernel ran."""
    for arch in (get_arch("tiny"), small_resnet()):
        ref, model = pair(arch)
        ref, model = ref.cuda(), model.cuda()
        agree = spike_agreement(
            get_backend("snntorch"), ref, get_backend("spikingjelly"), model, counts(2, arch).cuda()
        )
        assert agree.min_agreement == 1.0 and agree.logits_max_abs_diff == 0.0
        kernels = get_backend("spikingjelly").runtime_info(model)["spikingjelly_kernels"]
        assert "[cuda]" in kernels or "[triton]" in kernels, kernels
