"""Tests of the ``sinabs`` backend: registry, availability, neuron mapping, agreement with the
snntorch backend, activity, training, checkpoints.

Expected neuron outputs are worked out by hand in the comments (canonical neuron of
:mod:`backends.specs`: ``v[t] = beta v[t-1]' + I[t]``, spike at ``v >= thr``, then reset); the
per-layer spikes, activity counts, logits and gradients are checked against the snntorch backend
(an independent framework) on the same weights and input.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.metadata
import io
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from backends.base import BackendUnavailableError, backend_names, backend_status, get_backend
from backends.blocks.neurons import canonical_neuron_reference
from backends.equality import copy_weights, neuron_modules, spike_agreement
from backends.specs import NeuronSpec, get_arch

K = 7
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread (a shared 2-core machine: OpenMP threads spin against each other)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def sinabs_be():
    return get_backend("sinabs")


def snntorch_be():
    return get_backend("snntorch")


def shape_of(arch) -> tuple[int, int, int, int]:
    return (arch.n_time_bins, 2, *arch.input_size)


def small_resnet(t: int = 3, size: int = 32):
    """sew_resnet18 with a reduced input (the full 128x128 is heavy on a 2-core CPU)."""
    return dataclasses.replace(get_arch("sew_resnet18"), input_size=(size, size), n_time_bins=t)


def small_seen():
    """seen with a small input and narrow channels (as tests/test_seen.py)."""
    return dataclasses.replace(
        get_arch("seen"), input_size=(16, 16), n_time_bins=3, channels=(8, 16, 16), hidden=12
    )


def events(b: int, arch, seed: int = 0) -> torch.Tensor:
    """Event counts 0..3 per pixel, bin and polarity, ``(B, T, 2, H, W)`` float32."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 4, (b, *shape_of(arch)), generator=g).float()


def sinabs_neuron(neuron: NeuronSpec):
    from backends.adapters.sinabs_backend import SinabsNeuron

    return SinabsNeuron(neuron)


def run_layer(neuron: NeuronSpec, current: list[float]) -> tuple[list[float], list[float]]:
    """Drive one sinabs neuron (through the adapter's sinabs layer, sinabs' ``LIF.forward``)
    step by step; returns ``(spikes, post-reset v_mem)`` per step."""
    layer = sinabs_neuron(neuron).layer
    spikes, post, v = [], [], torch.zeros(1, 1)
    with torch.no_grad():
        for i in current:
            layer.v_mem = v
            spikes.append(layer(torch.tensor([[[i]]])).item())
            v = layer.v_mem
            post.append(v.item())
    return spikes, post


def calibrated_pair(arch, x: torch.Tensor, seed: int = 0):
    """An snntorch and a sinabs model of ``arch`` with the same weights, made to spike in every
    layer: SEW blocks' ``bn2`` get weight 1 (the spec's zero-init makes ``conv2`` silent) and
    every batch norm's running statistics are those of ``x`` (one forward in train mode with a
    cumulative average), so each neuron sees a unit-variance current in eval mode."""
    torch.manual_seed(seed)
    ref = snntorch_be().build(arch, shape_of(arch), K)
    got = sinabs_be().build(arch, shape_of(arch), K)
    with torch.no_grad():
        for name, m in ref.named_modules():
            if name.endswith("bn2"):
                m.weight.fill_(1.0)
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None
        ref.train()
        snntorch_be().forward(ref, x)
    ref.eval()
    copy_weights(ref, got)
    return ref, got.eval()


# --------------------------------------------------------------------------------------------
# registry, availability, missing sinabs
# --------------------------------------------------------------------------------------------


def test_registered_available_and_versions():
    assert "sinabs" in backend_names()
    be = sinabs_be()
    assert be.name == "sinabs" and be.spiking is True
    assert be.available() == (True, "")
    assert backend_status()["sinabs"] == (True, "")
    v = be.versions()
    assert v == {"torch": torch.__version__, "sinabs": importlib.metadata.version("sinabs")}
    assert v["sinabs"] == "3.1.3"  # the version the mapping was checked against
    assert be.equality.kind == "exact" and be.equality.min_agreement() == 1.0


def test_missing_sinabs_disables_only_this_backend(monkeypatch):
    monkeypatch.setitem(sys.modules, "sinabs", None)  # `import sinabs` now raises ImportError
    be = sinabs_be()
    ok, why = be.available()
    assert not ok
    # ModuleNotFoundError (an ImportError) with Python's message for a None entry
    assert why.startswith("sinabs is not importable: ModuleNotFoundError")
    assert "None in sys.modules" in why
    status = backend_status()
    assert status["sinabs"] == (False, why)
    assert status["snntorch"] == (True, "") and status["ann"] == (True, "")
    with pytest.raises(BackendUnavailableError, match="sinabs is not importable"):
        be.build(get_arch("tiny"), (8, 2, 48, 48), K)
    assert be.versions()["sinabs"].startswith("unavailable: sinabs is not importable")
    snn = snntorch_be()  # another spiking backend still builds and runs
    model = snn.build(get_arch("tiny"), (8, 2, 48, 48), K)
    assert snn.forward(model, events(1, get_arch("tiny"))).logits.shape == (1, K)


def test_module_imports_without_sinabs():
    """A fresh interpreter where sinabs cannot be imported: the adapter module still imports and
    registers, and only reports itself unavailable."""
    code = (
        "import sys; sys.modules['sinabs'] = None\n"
        "from backends.base import backend_status\n"
        "st = backend_status()\n"
        "assert st['sinabs'][0] is False and 'sinabs is not importable' in st['sinabs'][1], st\n"
        "assert st['snntorch'] == (True, ''), st\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# --------------------------------------------------------------------------------------------
# neuron mapping, hand-computed sequences
# --------------------------------------------------------------------------------------------


def test_lif_zero_reset_hand_sequence():
    # beta 0.5, thr 1, hard reset; I = 0.5, 0.75, 1.5, 2.5, 0, -0.5, 1.25
    # v: 0.5 (no) | 0.25+0.75 = 1.0 (tie: fires) -> 0 | 1.5 -> 0 | 2.5 (> 2 thr: ONE spike) -> 0
    #    | 0 | -0.5 (kept, no floor) | -0.25+1.25 = 1.0 (tie: fires) -> 0
    spikes, post = run_layer(NeuronSpec(beta=0.5, reset="zero"), [0.5, 0.75, 1.5, 2.5, 0, -0.5, 1.25])
    assert spikes == [0, 1, 1, 1, 0, 0, 1]
    assert post == [0.5, 0, 0, 0, 0, -0.5, 0]


def test_lif_subtract_reset_hand_sequence():
    # beta 0.5, thr 1, soft reset (the canonical one decays the subtracted threshold):
    # v: 0.5 | 0.25+0.75 = 1.0 fires -> 0 | 1.5 fires -> 0.5 | 0.25+2.5 = 2.75 fires once -> 1.75
    #    | 0.875 (no) | 0.4375-0.5 = -0.0625 | -0.03125+1.25 = 1.21875 fires -> 0.21875
    # (snntorch's plain subtract, beta * v + I - thr, gives 0.5 * 1.0 + 1.5 - 1 = 1.0 at step 3)
    spikes, post = run_layer(
        NeuronSpec(beta=0.5, reset="subtract"), [0.5, 0.75, 1.5, 2.5, 0, -0.5, 1.25]
    )
    assert spikes == [0, 1, 1, 1, 0, 0, 1]
    assert post == [0.5, 0, 0.5, 1.75, 0.875, -0.0625, 0.21875]


def test_if_subtract_single_spike_vs_sinabs_multi_spike():
    import sinabs.layers as sl

    current = [2.5, 0.0, 0.5, -1.0, 0.5]
    # mapped (SingleSpike): v 2.5 fires -> 1.5 | 1.5 fires -> 0.5 | 1.0 fires -> 0 | -1 | -0.5
    spikes, post = run_layer(NeuronSpec(model="if", reset="subtract"), current)
    assert spikes == [1, 1, 1, 0, 0]
    assert post == [1.5, 0.5, 0.0, -1.0, -0.5]
    # sinabs' default IAF (MultiSpike, MembraneSubtract): trunc(2.5 / 1) = 2 spikes at once ->
    # 0.5 | 0.5 | 1.0 -> 1 spike -> 0 | -1 | -0.5: the same 3 spikes, 2 of them in one step
    with torch.no_grad():
        out = sl.IAF()(torch.tensor(current).reshape(1, -1, 1))
    assert out.flatten().tolist() == [2, 0, 1, 0, 0]


def test_if_zero_reset_hand_sequence():
    # IF thr 1, hard reset: 2.5 fires -> 0 | 0 | 0.5 | 0.5+0.5 = 1.0 (tie) fires -> 0 | -1 | 0
    spikes, post = run_layer(NeuronSpec(model="if", reset="zero"), [2.5, 0.0, 0.5, 0.5, -1.0, 1.0])
    assert spikes == [1, 0, 0, 1, 0, 0]
    assert post == [0, 0, 0.5, 0, -1.0, 0]


def test_sinabs_lif_defaults_differ_from_canonical_by_hand():
    import sinabs.layers as sl

    # sinabs LIF defaults with tau_mem for beta 0.5 (exp(-1/tau) = 0.5 exactly in float32):
    # norm_input scales the input by 1 - 0.5: v = 2.5 -> MultiSpike trunc(2.5) = 2 spikes,
    # subtract -> 0.5 | 0.25 | 0.125 + 0.5 = 0.625 (no)
    with torch.no_grad():
        out = sl.LIF(tau_mem=1 / math.log(2))(torch.tensor([5.0, 0.0, 1.0]).reshape(1, 3, 1))
    assert out.flatten().tolist() == [2, 0, 0]
    # mapped: v = 5 -> one spike, reset 0 | 0 | 1.0 (tie) fires
    spikes, _ = run_layer(NeuronSpec(beta=0.5, reset="zero"), [5.0, 0.0, 1.0])
    assert spikes == [1, 0, 1]


def test_seen_neuron_exact_beta_and_threshold_tie():
    """seen's LIF (beta 0.2, thr 0.3): exp(-1/tau_mem) in float32 is one ulp below
    float32(0.2), which loses a spike exactly at the threshold; the adapter's decay is beta."""
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    from backends.adapters.sinabs_backend import tau_mem_for

    neuron = get_arch("seen").neuron
    tau = tau_mem_for(0.2)  # -1 / ln 0.2 = 0.62133...
    assert tau == pytest.approx(0.6213349345596119, rel=1e-12)
    alpha = torch.exp(-1.0 / torch.tensor(tau, dtype=torch.float32))
    assert alpha.item() != torch.tensor(0.2).item()  # 0.19999999 vs 0.20000000298
    assert sinabs_neuron(neuron).layer.alpha_mem_calculated == 0.2
    # I = 0.29, 0.242: v = 0.29 (no) | 0.2 * 0.29 + 0.242 = 0.3 = thr: fires (H(0) = 1)
    current = [0.29, 0.242]
    spikes, _ = run_layer(neuron, current)
    assert spikes == [0, 1]
    want, _ = canonical_neuron_reference(torch.tensor(current).reshape(2, 1), neuron)
    assert want.flatten().tolist() == [0, 1]
    plain = sl.LIF(tau_mem=tau, spike_threshold=torch.tensor(0.3), spike_fn=SingleSpike,
                   reset_fn=MembraneReset(), norm_input=False)
    with torch.no_grad():
        got = plain(torch.tensor(current).reshape(1, 2, 1))
    assert got.flatten().tolist() == [0, 0]  # sinabs with tau_mem: v = 0.29999998 < 0.3


@pytest.mark.parametrize("model_kind,beta", [("lif", 0.5), ("lif", 0.9), ("if", 1.0)])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_neuron_matches_canonical_reference_on_random_currents(model_kind, beta, reset):
    neuron = NeuronSpec(model=model_kind, beta=beta, threshold=1.0, reset=reset)
    g = torch.Generator().manual_seed(3)
    t_steps, n = 12, 4000
    current = torch.randn(t_steps, n, generator=g) * 1.5  # often >= 2 thr
    want, _ = canonical_neuron_reference(current, neuron)
    with torch.no_grad():
        got = sinabs_neuron(neuron)(current.reshape(t_steps * n, 1), t_steps).reshape(t_steps, n)
    assert torch.equal(got, want)
    assert 0.05 * got.numel() < got.sum() < 0.95 * got.numel()


def test_step_state_is_pre_reset_membrane():
    # LIF beta 0.5 zero reset, I = 1.5, 0.5: v 1.5 fires (state 1.5, pre-reset) | 0 + 0.5
    act = sinabs_neuron(NeuronSpec(beta=0.5, reset="zero"))
    s0, v0 = act.step(torch.tensor([1.5]), None)
    s1, v1 = act.step(torch.tensor([0.5]), v0)
    assert (s0.item(), v0.item(), s1.item(), v1.item()) == (1.0, 1.5, 0.0, 0.5)


def test_surrogate_gradient_is_atan_through_single_spike():
    act = sinabs_neuron(NeuronSpec(beta=0.5, threshold=1.0, surrogate="atan", surrogate_alpha=2.0))
    xs = [-1.0, -0.2, 0.0, 0.3]  # v - thr
    cur = torch.tensor([1.0 + x for x in xs], requires_grad=True)
    spikes = act(cur.reshape(4, 1), 1)
    assert spikes.flatten().tolist() == [0, 0, 1, 1]
    spikes.sum().backward()
    # spikingjelly ATan: alpha / 2 / (1 + (pi / 2 * alpha * x)^2)
    want = [2.0 / 2 / (1 + (math.pi / 2 * 2.0 * x) ** 2) for x in xs]
    assert torch.allclose(cur.grad, torch.tensor(want), rtol=1e-6, atol=0)


def test_subtract_reset_is_detached_from_the_graph():
    import sinabs.layers as sl
    from sinabs.activation import SingleSpike

    from backends.adapters.sinabs_backend import SurrogateGrad

    # IF thr 1, soft reset, I = 2.5: v' = 2.5 - s = 1.5. With the spike detached dv'/dI = 1;
    # sinabs' MembraneSubtract keeps it: 1 - ATan'(1.5) = 1 - 1 / (1 + (1.5 pi)^2) = 0.95691
    for layer, want in (
        (sinabs_neuron(NeuronSpec(model="if", reset="subtract")).layer, 1.0),
        (sl.IAF(spike_fn=SingleSpike, surrogate_grad_fn=SurrogateGrad("atan", 2.0)),
         1 - 1 / (1 + (1.5 * math.pi) ** 2)),
    ):
        i = torch.tensor([[[2.5]]], requires_grad=True)
        layer.v_mem = torch.zeros(1, 1)
        layer(i)
        assert layer.v_mem.item() == 1.5
        layer.v_mem.sum().backward()
        assert i.grad.item() == pytest.approx(want, rel=1e-6)
    assert want == pytest.approx(0.956908, abs=1e-6)


def test_defaults_vs_mapping_on_linear_500_steps():
    """Each framework's defaults on the same input currents (Linear(100, 50), PyTorch init,
    seed 0; inputs U(0, 1), 500 steps; beta 0.9 = exp(-1 / tau_mem)).

    Measured rates (sinabs 3.1.3, snntorch 1.0.0): sinabs LIF defaults 0.0000 (norm_input
    scales the input by 0.1: no neuron reaches threshold), sinabs LIF with norm_input=False
    (still MultiSpike + subtract) 0.0537, snntorch Leaky defaults (subtract, fires at v > thr)
    0.0494, canonical hard-reset neuron 0.0474 = the adapter."""
    import sinabs.layers as sl
    import snntorch as snn

    torch.manual_seed(0)
    fc = torch.nn.Linear(100, 50)
    x = torch.rand(500, 1, 100)
    neuron = NeuronSpec(model="lif", beta=0.9, reset="zero")
    with torch.no_grad():
        cur = fc(x)  # (T, 1, 50)
        want, _ = canonical_neuron_reference(cur, neuron)
        mapped = sinabs_neuron(neuron)(cur.reshape(500, 50), 500).reshape(500, 1, 50)
        tau = -1 / math.log(0.9)
        sin_default = sl.LIF(tau_mem=tau)(cur.transpose(0, 1)).transpose(0, 1)
        sin_no_norm = sl.LIF(tau_mem=tau, norm_input=False)(cur.transpose(0, 1)).transpose(0, 1)
        leaky, mem, out = snn.Leaky(beta=0.9), torch.zeros(1, 50), []
        for t in range(500):
            spk, mem = leaky(cur[t], mem)
            out.append(spk)
        snn_default = torch.stack(out)
    assert torch.equal(mapped, want)
    rate = want.mean().item()
    assert 0.01 < rate < 0.2
    assert sin_default.sum() == 0
    assert not torch.equal(sin_no_norm, want) and sin_no_norm.mean() > rate
    assert not torch.equal(snn_default, want)


# --------------------------------------------------------------------------------------------
# compiled models
# --------------------------------------------------------------------------------------------


def test_tiny_parameter_count_and_no_neuron_parameters():
    model = sinabs_be().build(get_arch("tiny"), (8, 2, 48, 48), K)
    # conv 2*16*25 = 800, 16*32*9 = 4608, 32*32*9 = 9216; BN 2*(16+32+32) = 160; fc 1152*7 = 8064
    assert sum(p.numel() for p in model.parameters()) == 800 + 4608 + 9216 + 160 + 8064 == 22848
    neurons = neuron_modules(model)
    assert sorted(neurons) == ["layers.conv1.act", "layers.conv2.act", "layers.conv3.act"]
    for mod in neurons.values():
        assert list(mod.parameters()) == []
        assert [tuple(b.shape) for b in mod.buffers()] == [(0,)]  # v_mem, empty between passes


def test_every_arch_builds_runs_and_has_finite_gradients():
    be = sinabs_be()
    for arch in (get_arch("tiny"), small_resnet(), small_seen()):
        torch.manual_seed(0)
        model = be.build(arch, shape_of(arch), K)
        x = events(2, arch)
        kw = {"frames": torch.rand(2, 2, 1, *arch.input_size)} if arch.name == "seen" else {}
        out = be.forward(model, x, **kw)
        assert out.logits.shape == (2, K) and out.logits_per_step.shape == (2, arch.n_time_bins, K)
        out.logits.sum().backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)


def test_full_size_seen_and_sew_resnet18_build_and_run():
    be = sinabs_be()
    for arch in (get_arch("seen"), get_arch("sew_resnet18")):
        model = be.build(arch, shape_of(arch), K).eval()
        kw = {"frames": torch.rand(1, 2, 1, *arch.input_size)} if arch.name == "seen" else {}
        with torch.no_grad():
            assert be.forward(model, events(1, arch), **kw).logits.shape == (1, K)


def test_spike_agreement_with_snntorch_tiny():
    arch = get_arch("tiny")
    x = events(4, arch, seed=1)
    ref, got = calibrated_pair(arch, x)
    ag = spike_agreement(snntorch_be(), ref, sinabs_be(), got, x)
    assert sorted(ag.per_layer) == ["layers.conv1.act", "layers.conv2.act", "layers.conv3.act"]
    for name, (n_ref, n_got) in ag.spike_counts.items():
        assert n_ref > 0, name  # every layer spikes
        assert n_got == n_ref
    assert ag.min_agreement >= sinabs_be().equality.min_agreement() == 1.0
    assert ag.logits_max_abs_diff == 0.0


def test_spike_agreement_with_snntorch_reduced_sew_resnet18():
    arch = small_resnet(t=3, size=32)
    x = events(2, arch, seed=2)
    ref, got = calibrated_pair(arch, x)
    ag = spike_agreement(snntorch_be(), ref, sinabs_be(), got, x)
    assert len(ag.per_layer) == 1 + 8 * 2 + 3  # stem, 2 neurons per block, 3 downsamples
    for name, (n_ref, n_got) in ag.spike_counts.items():
        assert n_ref > 0, name
        assert n_got == n_ref
    assert ag.min_agreement == 1.0
    assert ag.logits_max_abs_diff == 0.0


def test_spike_agreement_with_snntorch_seen():
    arch = small_seen()
    x = events(2, arch, seed=3)
    frames = torch.rand(2, 2, 1, *arch.input_size, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(0)
    ref = snntorch_be().build(arch, shape_of(arch), K).eval()
    got = sinabs_be().build(arch, shape_of(arch), K).eval()
    copy_weights(ref, got)
    with torch.no_grad():
        a = snntorch_be().forward(ref, x, frames=frames, record_activity=True)
        b = sinabs_be().forward(got, x, frames=frames, record_activity=True)
    assert torch.equal(a.logits, b.logits)
    assert a.activity == b.activity
    assert sum(la.spikes for la in b.activity) > 0


def test_activity_counts_equal_snntorch():
    for arch, seed in ((get_arch("tiny"), 1), (small_resnet(), 2)):
        x = events(2, arch, seed=seed)
        ref, got = calibrated_pair(arch, x)
        with torch.no_grad():
            a = snntorch_be().forward(ref, x, record_activity=True).activity
            b = sinabs_be().forward(got, x, record_activity=True).activity
        assert [la.name for la in b] == [la.name for la in a]
        assert b == a  # spikes, neurons, effective ACs / MACs, dense ops, time steps
        assert all(la.spikes > 0 for la in b if la.kind != "linear")


def test_gradients_equal_snntorch_and_sgd_lowers_loss():
    """Train mode (batch statistics), same weights and batch: the gradients equal snntorch's
    (same surrogate, same detached reset); 5 SGD steps lower the loss on the fixed batch."""
    arch = get_arch("tiny")
    x = events(8, arch, seed=4)
    y = torch.arange(8) % K
    torch.manual_seed(0)
    ref = snntorch_be().build(arch, shape_of(arch), K)
    model = sinabs_be().build(arch, shape_of(arch), K)
    copy_weights(ref, model)
    for be, m in ((snntorch_be(), ref), (sinabs_be(), model)):
        torch.nn.functional.cross_entropy(be.forward(m, x).logits, y).backward()
    ref_grads = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        assert torch.isfinite(p.grad).all()
        assert torch.allclose(p.grad, ref_grads[name].grad, rtol=1e-5, atol=1e-8), name
    model.zero_grad()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(6):
        loss = torch.nn.functional.cross_entropy(sinabs_be().forward(model, x).logits, y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.8 * losses[0], losses


def test_checkpoint_round_trip_gives_identical_logits():
    arch = get_arch("tiny")
    be = sinabs_be()
    torch.manual_seed(0)
    model = be.build(arch, shape_of(arch), K)
    x = events(2, arch)
    be.forward(model, x).logits.sum().backward()  # state after a training step's forward
    model.eval()
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    buf.seek(0)
    torch.manual_seed(1)  # different initial weights
    fresh = be.build(arch, shape_of(arch), K)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(be.forward(fresh, x).logits, be.forward(model, x).logits)


def test_model_is_copyable_and_picklable_after_forward():
    arch = dataclasses.replace(get_arch("tiny"), neuron=NeuronSpec(reset="subtract"))
    be = sinabs_be()
    model = be.build(arch, shape_of(arch), K)
    x = events(2, arch)
    be.forward(model, x).logits.sum().backward()
    model.eval()
    clone = copy.deepcopy(model)
    assert all(not m.training for m in clone.modules())
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    with torch.no_grad():
        ref = be.forward(model, x).logits
        assert torch.equal(be.forward(clone, x).logits, ref)
        assert torch.equal(be.forward(loaded, x).logits, ref)


def test_state_does_not_leak_between_forward_passes():
    arch = get_arch("tiny")
    be = sinabs_be()
    model = be.build(arch, shape_of(arch), K)
    x = events(2, arch)
    first = be.forward(model, x).logits
    for mod in neuron_modules(model).values():  # nothing kept: no state, no graph
        assert mod.layer.v_mem.numel() == 0
        assert not hasattr(mod.layer, "firing_rate") and not hasattr(mod.layer, "recordings")
    be.forward(model, events(3, arch, seed=9))  # another batch size and input
    assert torch.equal(be.forward(model, x).logits, first)


def test_step_by_step_equals_forward():
    for arch in (get_arch("tiny"), small_resnet(t=3)):
        torch.manual_seed(4)
        model = sinabs_be().build(arch, shape_of(arch), K).eval()
        x = events(2, arch)
        with torch.no_grad():
            state, steps = None, []
            for t in range(arch.n_time_bins):
                out, state = model.step(x[:, t], state)
                steps.append(out)
            assert torch.allclose(torch.stack(steps, 1), model(x), atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.gpu
def test_cuda_agrees_with_cpu():
    arch = get_arch("tiny")
    x = events(2, arch)
    ref, got = calibrated_pair(arch, x)
    be = sinabs_be()
    with torch.no_grad():
        cpu = be.forward(got, x, record_activity=True)
        gpu = be.forward(got.cuda(), x.cuda(), record_activity=True)
    assert [a.spikes for a in gpu.activity] == [a.spikes for a in cpu.activity]
    assert torch.allclose(gpu.logits.cpu(), cpu.logits, atol=1e-4)


# --------------------------------------------------------------------------------------------
# a native sinabs network with sinabs' default multi-spike neurons, measured by the hooks
# --------------------------------------------------------------------------------------------


def test_multispike_network_counts_equal_sinabs_snn_analyzer():
    """A network written as sinabs' tutorials write it (IAFSqueeze with the default MultiSpike,
    sum pooling, flatten): the hooks' spikes and synaptic operations per sample equal sinabs'
    own ``SNNAnalyzer`` (synops = input spikes x fan-out) on the same network and input."""
    import sinabs
    import sinabs.layers as sl
    from torch import nn

    from backends.native.hooks import HookMeter

    B, T = 3, 4
    torch.manual_seed(0)

    def squeeze():
        return sl.IAFSqueeze(batch_size=B, num_timesteps=T)

    net = nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1, bias=False), squeeze(), sl.SumPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, stride=2, bias=False), squeeze(),
        nn.Flatten(), nn.Linear(16 * 2 * 2, 5, bias=False), squeeze())
    with torch.no_grad():
        for m in net:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(4.0)  # several spikes per step
    x = torch.bernoulli(torch.full((B * T, 2, 8, 8), 0.4))  # binary input (batch-major fold)

    analyzer = sinabs.SNNAnalyzer(net)
    with torch.no_grad():
        ref_out = net(x)
    stats = analyzer.get_layer_statistics()
    ref_synops = float(analyzer.get_model_statistics()["synops"])  # per sample
    ref_spikes = sum(float(v["output"].sum()) for v in stats["spiking"].values()) / B
    for h in analyzer.handles:
        h.remove()

    for m in net.modules():
        if isinstance(m, sl.StatefulLayer):
            m.reset_states()
    meter = HookMeter(net, n_time_bins=T, layout="BTCHW")
    with torch.no_grad(), meter.measure(B) as p:
        out = net(x)
    assert torch.equal(out, ref_out)
    acs = sum(la.effective_acs for la in p.layers) / B
    macs = sum(la.effective_macs for la in p.layers) / B
    spikes = sum(la.spikes for la in p.layers) / B
    assert macs == 0.0  # binary input, then spike counts: accumulates only
    assert ref_synops > 0 and acs == pytest.approx(ref_synops, rel=1e-6)
    assert spikes == pytest.approx(ref_spikes, rel=1e-6)
    assert ref_out.max() > 1 and set(meter.spike_counts) == {"1", "4", "7"}
    assert meter.non_binary == {}
