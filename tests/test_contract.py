"""One contract over every registered backend x every registered architecture (timm's habit:
``parametrize`` over the registries, so a new backend or architecture is covered the day it lands).

For each pair: build; forward shapes; the parameter count the spec implies (counted here from the
spec's layer list by the formulas in the comments, independently of the backends' module code);
activity accounting (spike counts equal the spikes the neuron layers emitted; operations
non-negative); the backend's declared equality class with the canonical neuron (spikes per layer
against the snntorch backend, which is bit-exact by its own self-check, on the same weights and
input); a few training steps lower the loss; a state-dict round trip gives identical logits.
A pair is skipped only with the backend's own documented reason (``backend.unsupported``).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from backends.base import backend_names, get_backend
from backends.equality import EQUALITY_CLASSES, copy_weights, drive, layer_spikes, spike_agreement
from backends.specs import ConvNetSpec, ResNetSpec, SEENSpec, arch_names, get_arch

K = 7
REFERENCE = "snntorch"


def _small(arch):
    """The spec at a size a 2-core CI runs in seconds (the parameter count does not depend on it)."""
    if isinstance(arch, ResNetSpec):
        return dataclasses.replace(arch, input_size=(32, 32), n_time_bins=3)
    return arch


def _shape(arch, channels: int = 2) -> tuple[int, int, int, int]:
    return (arch.n_time_bins, channels, *arch.input_size)


def _inputs(arch, batch: int = 2, seed: int = 0, channels: int = 2):
    """Event-count frames 0..3 and, for a two-input spec, intensity frames in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 4, (batch, *_shape(arch, channels)), generator=g).float()
    kw = {}
    if "frames" in getattr(arch, "inputs", ("events",)):
        h, w = arch.input_size
        kw["frames"] = torch.rand(batch, 2, 1, h, w, generator=g)
    return x, kw


def expected_params(arch, num_classes: int, *, ann: bool, in_channels: int = 2) -> int | None:
    """Parameters a spec implies (no biases anywhere; batch norm has weight + bias):

    * ConvNetSpec: sum over convs of ``c_in * c_out * k^2`` (+ ``2 c_out`` with batch norm), then
      ``in * out`` per dense layer, ``in`` = channels x the map left after each conv/pool;
    * ResNetSpec: stem ``c_in * 64 * 7^2 + 2*64`` (``c_in`` = 2, or 2T for the ANN twin's fold),
      per BasicBlock ``9 c_in c + 2c + 9 c c + 2c`` (+ ``c_in c + 2c`` for a 1x1 downsample),
      readout ``512 * K``.
    ``c_in`` is ``in_channels`` (the dataset's: 2 polarities, 1 for polarity-free frames), or
    ``in_channels * T`` for the ANN twin's fold.
    ``None`` for other specs (SEEN: compared with the reference backend instead).
    """
    if isinstance(arch, ConvNetSpec):
        (h, w), c, total = arch.input_size, in_channels, 0
        if ann and arch.ann_input == "fold":
            c = in_channels * arch.n_time_bins
        for layer in arch.convs:
            total += c * layer.out_channels * layer.kernel_size**2
            total += 2 * layer.out_channels if layer.batch_norm else 0
            h = (h + 2 * layer.padding - layer.kernel_size) // layer.stride + 1
            w = (w + 2 * layer.padding - layer.kernel_size) // layer.stride + 1
            if layer.pool:
                h, w = h // layer.pool, w // layer.pool
            c = layer.out_channels
        features = c * h * w
        for i, d in enumerate(arch.denses):
            out = num_classes if i == len(arch.denses) - 1 else d.out_features
            total += features * out
            features = out
        return total
    if isinstance(arch, ResNetSpec):
        c_in = in_channels * (arch.n_time_bins if ann and arch.ann_input == "fold" else 1)
        total = c_in * arch.stem_channels * arch.stem_kernel**2 + 2 * arch.stem_channels
        c = arch.stem_channels
        for i, (n, width) in enumerate(zip(arch.blocks, arch.channels, strict=True)):
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                total += 9 * c * width + 2 * width + 9 * width * width + 2 * width
                if stride != 1 or c != width:
                    total += c * width + 2 * width
                c = width
        return total + c * num_classes
    return None


def test_expected_params_by_hand():
    # tiny, K = 7: conv 2*16*25 = 800, 16*32*9 = 4,608, 32*32*9 = 9,216; BN 2*(16+32+32) = 160;
    # fc 32*6*6*7 = 8,064 -> 22,848. SEW-ResNet-18 (2 input channels, K = 7): 11,176,960 (since 0.1.0,
    # checked against torchvision's resnet18 layout: 11,689,512 - 3*64*49 + 2*64*49 - 512*1000 -
    # 1000 + 512*7).
    assert expected_params(get_arch("tiny"), 7, ann=False) == 22_848
    assert expected_params(get_arch("sew_resnet18"), 7, ann=False) == 11_176_960
    # one input channel (NEFER's polarity-free frames): tiny's conv1 1*16*25 = 400 instead of 800;
    # SEW-ResNet-18's stem 1*64*49 = 3,136 instead of 6,272; its ANN twin folds T = 6 frames of
    # 1 channel: stem 6*64*49 = 18,816 instead of 12*64*49 = 37,632.
    assert expected_params(get_arch("tiny"), 7, ann=False, in_channels=1) == 22_848 - 400
    assert expected_params(get_arch("sew_resnet18"), 7, ann=False, in_channels=1) == 11_176_960 - 3_136
    assert (expected_params(get_arch("sew_resnet18"), 7, ann=True, in_channels=1)
            == expected_params(get_arch("sew_resnet18"), 7, ann=True) - 18_816)
    assert 11_689_512 - 3 * 64 * 49 + 2 * 64 * 49 - 512 * 1000 - 1000 + 512 * 7 == 11_176_960


# spec'd architectures (compiled by every backend); native models (model cards, e.g. the zoo's)
# run only in their own framework and have their own tests (tests/test_zoo.py)
PAIRS = [(b, a) for b in backend_names() for a in arch_names()
         if not getattr(get_arch(a), "native", False)]


def _build(backend_name: str, arch_name: str):
    backend = get_backend(backend_name)
    ok, why = backend.available()
    if not ok:
        pytest.skip(f"{backend_name} unavailable: {why}")
    reason = getattr(backend, "unsupported", {}).get(arch_name)
    arch = _small(get_arch(arch_name))
    if reason is not None:
        with pytest.raises(ValueError) as err:  # the declared reason is what build says
            backend.build(arch, _shape(arch), K)
        assert reason in str(err.value)
        pytest.skip(f"{backend_name} cannot compile {arch_name} (declared): {reason[:80]}...")
    torch.manual_seed(0)
    return backend, arch, backend.build(arch, _shape(arch), K)


@pytest.mark.parametrize(("backend_name", "arch_name"), PAIRS)
def test_build_forward_and_parameter_count(backend_name, arch_name):
    backend, arch, model = _build(backend_name, arch_name)
    x, kw = _inputs(arch)
    model.eval()
    with torch.no_grad():
        out = backend.forward(model, x, record_activity=True, **kw)
    assert out.logits.shape == (2, K) and out.logits.dtype == torch.float32
    assert torch.isfinite(out.logits).all()
    if backend.spiking:
        assert out.logits_per_step is not None and out.logits_per_step.shape == (2, arch.n_time_bins, K)
    n = sum(p.numel() for p in model.parameters())
    want = expected_params(arch, K, ann=not backend.spiking)
    if want is None:  # SEEN: every backend compiles the same parameters as the reference
        ref_backend = get_backend(REFERENCE)
        want = sum(p.numel() for p in ref_backend.build(arch, _shape(arch), K).parameters())
    assert n == want
    assert out.activity, "no per-layer activity recorded"
    for a in out.activity:
        assert a.spikes >= 0 and a.effective_acs >= 0 and a.effective_macs >= 0 and a.dense_ops > 0


@pytest.mark.parametrize(("backend_name", "arch_name"), PAIRS)
def test_declared_equality_with_the_canonical_neuron(backend_name, arch_name):
    backend, arch, model = _build(backend_name, arch_name)
    if not backend.spiking:
        assert backend.equality is None
        return
    assert backend.equality.kind in EQUALITY_CLASSES
    ref_backend = get_backend(REFERENCE)
    torch.manual_seed(0)
    ref = ref_backend.build(arch, _shape(arch), K)
    x, kw = _inputs(arch, seed=1)
    drive(ref, ref_backend, x, **kw)  # every layer spikes: compare activity, not silence
    try:
        copy_weights(ref, model)
    except ValueError as exc:
        pytest.skip(f"{backend_name} does not share the torch_blocks layout ({exc}); its agreement "
                    "is checked through its own canonical state in its adapter tests")
    if kw:  # two-input specs: compare through the full forward (frames too)
        spikes_ref, logits_ref = layer_spikes(ref_backend, ref, x, **kw)
        spikes, logits = layer_spikes(backend, model, x, **kw)
        per_layer = {n: float((spikes_ref[n] == spikes[n]).float().mean()) for n in spikes_ref}
        diff = float((logits_ref - logits).abs().max())
    else:
        ag = spike_agreement(ref_backend, ref, backend, model, x)
        per_layer, diff = ag.per_layer, ag.logits_max_abs_diff
        silent = [n for n, (r, _) in ag.spike_counts.items() if r == 0]
        assert not silent, f"layers without spikes in the reference: {silent}"
    assert per_layer, "no neuron layer found (modules with spiking = True)"
    floor = backend.equality.min_agreement()
    worst = min(per_layer.values())
    assert worst >= floor, f"{backend_name}/{arch_name}: {per_layer} below the declared {floor}"
    if backend.equality.kind == "exact":
        assert diff == 0.0


@pytest.mark.parametrize(("backend_name", "arch_name"), PAIRS)
def test_training_steps_lower_the_loss_and_state_round_trips(backend_name, arch_name):
    backend, arch, model = _build(backend_name, arch_name)
    if isinstance(arch, ResNetSpec | SEENSpec) and backend_name != REFERENCE:
        pytest.skip("deep specs: training is covered on tiny for every backend (CPU time)")
    x, kw = _inputs(arch, batch=4)
    y = torch.arange(4) % K
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for _ in range(6):
        loss = torch.nn.functional.cross_entropy(backend.forward(model, x, **kw).logits, y)
        opt.zero_grad()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    model.eval()
    twin = backend.build(arch, _shape(arch), K)
    twin.load_state_dict(model.state_dict())
    twin.eval()
    with torch.no_grad():
        assert torch.equal(backend.forward(model, x, **kw).logits, backend.forward(twin, x, **kw).logits)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize(("backend_name", "arch_name"), PAIRS)
def test_input_channels_follow_the_dataset(backend_name, arch_name, channels):
    """Every backend compiles every architecture for the dataset's event channels (2 ON/OFF
    polarities, 1 for polarity-free frames such as NEFER's): the first layer takes ``C`` channels
    (parameter count as the spec implies for ``C``, worked out by :func:`expected_params`), the
    forward runs, and a tensor with the other channel count is refused."""
    backend, arch, _ = _build(backend_name, arch_name)
    torch.manual_seed(0)
    model = backend.build(arch, _shape(arch, channels), K)
    x, kw = _inputs(arch, channels=channels)
    model.eval()
    with torch.no_grad():
        out = backend.forward(model, x, **kw)
    assert out.logits.shape == (2, K) and torch.isfinite(out.logits).all()
    n = sum(p.numel() for p in model.parameters())
    want = expected_params(arch, K, ann=not backend.spiking, in_channels=channels)
    if want is None:  # SEEN: conv0 2 -> C (2C + C), conv1_k C -> C0 (k^2 C C0 per scale)
        c0 = arch.channels[0]
        per_channel = 2 + 1 + sum(k * k * c0 for k in arch.scales)
        ref = get_backend(REFERENCE).build(arch, _shape(arch, 2), K)
        want = sum(p.numel() for p in ref.parameters()) - (2 - channels) * per_channel
    assert n == want
    other, _ = _inputs(arch, channels=3 - channels)
    with pytest.raises((ValueError, RuntimeError)):
        backend.forward(model, other, **kw)
