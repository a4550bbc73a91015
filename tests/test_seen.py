"""SEEN (``seen``): two-input protocol, weight copy, parameter counts, every backend.

Small spec (16x16 input, T = 3, narrow channels) so the file runs in a few seconds.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from backends.base import get_backend
from backends.specs import SEENSpec, arch_inputs, get_arch

K = 5


def small_spec(**kw) -> SEENSpec:
    base = dict(input_size=(16, 16), n_time_bins=3, channels=(8, 16, 16), hidden=12)
    base.update(kw)
    return dataclasses.replace(get_arch("seen"), **base)


def shape(spec: SEENSpec) -> tuple[int, int, int, int]:
    return (spec.n_time_bins, 2, *spec.input_size)


def inputs(spec: SEENSpec, b: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(b, spec.n_time_bins, 2, *spec.input_size, generator=g) < 0.3).float()
    f = torch.rand(b, 2, 1, *spec.input_size, generator=g)
    return x, f


def hand_count(spec: SEENSpec, k: int) -> int:
    """Parameters from the spec's docstring formula."""
    c0, c1, c2 = spec.channels
    r = c0 // spec.attention_reduction
    s1, s2, s3 = spec.strides
    h, w = spec.input_size

    def out(n: int, kk: int, s: int, p: int) -> int:
        return (n + 2 * p - kk) // s + 1

    h1, w1 = out(h, 3, s1, 1), out(w, 3, s1, 1)
    h2, w2 = out(h1, 3, s2, 1), out(w1, 3, s2, 1)
    h3, w3 = out(h2, 3, s3, 1), out(w2, 3, s3, 1)
    n = spec.hidden
    total = 2 * 2 + 2  # conv0
    total += sum(2 * kk * kk * c0 + c0 for kk in spec.scales)  # conv1_k*
    total += len(spec.scales) * (c0 * r + r + 2 * r + r + 1)  # attention MLPs
    total += len(spec.scales) * c0 * c0 + c0  # conv1_cat
    total += 9 * c0 * c1 + c1 + 9 * c1 * c2 + c2  # conv2, conv3
    total += c2 * h3 * w3 * n + n + n * k + k  # fc1, fc2
    return total


def test_spec_declares_two_inputs() -> None:
    assert arch_inputs(get_arch("seen")) == ("events", "frames")
    assert arch_inputs(get_arch("tiny")) == ("events",)
    assert arch_inputs(get_arch("sew_resnet18")) == ("events",)


@pytest.mark.parametrize("backend", ["ann", "snntorch"])
def test_forward_backward_and_param_count(backend: str) -> None:
    spec = small_spec()
    be = get_backend(backend)
    torch.manual_seed(0)
    model = be.build(spec, shape(spec), K)
    assert sum(p.numel() for p in model.parameters()) == hand_count(spec, K)
    x, f = inputs(spec)
    out = be.forward(model, x, frames=f, record_activity=True)
    assert out.logits.shape == (2, K)
    assert out.logits_per_step.shape == (2, spec.n_time_bins, K)
    assert torch.allclose(out.logits, out.logits_per_step[:, -1])
    out.logits.sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is None or torch.isfinite(g).all() for g in grads.values())
    assert grads["fc1.weight"] is not None and grads["fc2.weight"] is not None
    names = [la.name for la in out.activity]
    for name in ("frame.conv0", "frame.conv3", "event.conv1_cat", "event.conv3", "fc1", "fc2"):
        assert name in names
    ev = {la.name: la for la in out.activity}
    assert ev["event.conv3"].time_steps == spec.n_time_bins
    assert ev["frame.conv3"].time_steps == 1


def test_default_param_count() -> None:
    spec = get_arch("seen")
    assert hand_count(spec, 7) == 6_073_328
    model = get_backend("ann").build(spec, shape(spec), 7)
    assert sum(p.numel() for p in model.parameters()) == 6_073_328


def test_both_backends_have_the_same_parameter_shapes() -> None:
    spec = small_spec()
    a = get_backend("ann").build(spec, shape(spec), K)
    s = get_backend("snntorch").build(spec, shape(spec), K)
    assert {n: p.shape for n, p in a.named_parameters()} == {
        n: p.shape for n, p in s.named_parameters()
    }


@pytest.mark.parametrize("backend", ["ann", "snntorch"])
def test_weight_copy(backend: str) -> None:
    """The event branch runs the frame branch's conv weights: changing a frame conv weight
    changes the event branch's output; the copied weights get no gradient from it (detached)."""
    spec = small_spec()
    be = get_backend(backend)
    torch.manual_seed(1)
    model = be.build(spec, shape(spec), K).eval()
    x, f = inputs(spec, seed=3)
    x = x * 4.0  # enough input for the event LIFs to fire
    with torch.no_grad():
        ev0 = model._event_convs(x, torch.full((2, 3, 1, 1), 1 / 3), None)
        model.conv1_cat.weight.mul_(3.0)
        ev1 = model._event_convs(x, torch.full((2, 3, 1, 1), 1 / 3), None)
    assert not torch.equal(ev0, ev1)
    # gradient: with detach_event_convs=True (the reference's .data / .detach()) the copied
    # weights are used detached: the event branch's output has no graph back to the convs
    h3, w = model._frame_branch(f, None)
    ev = model._event_convs(x, w.detach(), None)
    assert not ev.requires_grad
    # the weight-sharing option: gradients of the event branch reach the frame convs
    shared = get_backend(backend).build(small_spec(detach_event_convs=False), shape(spec), K)
    _, w2 = shared._frame_branch(f, None)
    ev2 = shared._event_convs(x * 4.0, w2, None)
    assert ev2.requires_grad
    ev2.sum().backward()
    assert shared.conv1_cat.weight.grad is not None


def test_frames_argument_is_checked() -> None:
    spec = small_spec()
    be = get_backend("ann")
    model = be.build(spec, shape(spec), K)
    x, f = inputs(spec)
    with pytest.raises(ValueError, match="frames"):
        be.forward(model, x)
    with pytest.raises(ValueError, match="frames"):
        be.forward(model, x, frames=f[:, :, :, :8])
    tiny = get_arch("tiny")
    tshape = (tiny.n_time_bins, 2, *tiny.input_size)
    for name in ("ann", "snntorch"):
        b = get_backend(name)
        m = b.build(tiny, tshape, K)
        xt = torch.zeros(1, *tshape)
        assert b.forward(m, xt).logits.shape == (1, K)  # event-only: unchanged call
        with pytest.raises(ValueError, match="events only"):
            b.forward(m, xt, frames=torch.zeros(1, 2, 1, *tiny.input_size))


def test_lava_dl_raises_documented_error() -> None:
    from backends.adapters.lava_dl import SEEN_UNSUPPORTED, build_model

    spec = small_spec()
    with pytest.raises(ValueError) as info:
        build_model(spec, shape(spec), K)
    assert str(info.value) == SEEN_UNSUPPORTED
    be = get_backend("lava-dl")
    ok, _ = be.available()
    if ok:
        with pytest.raises(ValueError, match="not expressible"):
            be.build(spec, shape(spec), K)


def test_rect_surrogate_matches_reference() -> None:
    from backends.torch_blocks import SurrogateSpike

    v = torch.tensor([-0.6, -0.4, 0.0, 0.4, 0.6], requires_grad=True)
    s = SurrogateSpike("rect", 0.5)(v)
    s.sum().backward()
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert v.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
