"""How closely a backend's forward pass follows the canonical neuron, declared and checked.

Every spiking backend declares one **equality class** with the canonical neuron of
:mod:`backends.specs` (``v[t] = beta v[t-1]' + I[t]``, spike at ``v >= threshold``, reset):

* ``"exact"``: the same spikes and membrane, bit for bit, given the same weights and input;
* ``"exact_except_ties"``: the same, except where ``v == threshold`` exactly (a framework that
  fires on ``v > threshold``); with float inputs such ties have probability ~0, on a grid of
  representable values (the self-checks) they are where the two may differ;
* ``"bounded"``: equal up to float rounding or fixed-point arithmetic, with the fraction of
  identical spikes per layer at least ``1 - eps`` on the harness' inputs (``eps`` declared by
  the backend, with the reason).

This module is the one shared harness that checks it (used by the backend contract tests and by
the NIR exchange): :func:`layer_spikes` captures each neuron layer's output spikes through
forward hooks (NeuroBench's habit: no recorder threaded through the model), and
:func:`spike_agreement` runs two backends' models with the same weights
(:func:`copy_weights`) on the same input and reports, per layer, the fraction of identical
spikes, plus the largest logit difference.

Models compiled by :func:`backends.blocks.build.build_model` name their neuron modules after the
spec's layers in every backend, and their synapse and batch-norm parameters alike, so weights
and spikes line up by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

EQUALITY_CLASSES = ("exact", "exact_except_ties", "bounded")


@dataclass(frozen=True)
class Equality:
    """A backend's declared equality class with the canonical neuron.

    Attributes:
        kind: one of :data:`EQUALITY_CLASSES`.
        eps: for ``"bounded"``: the largest fraction of differing spikes allowed per layer;
            0 otherwise.
        reason: why the backend is not exact (framework behaviour, with its source).

    Raises:
        ValueError: an unknown ``kind`` or a negative ``eps``; ``"bounded"`` without ``eps``.
    """

    kind: str = "exact"
    eps: float = 0.0
    reason: str = ""

    def __post_init__(self) -> None:
        if self.kind not in EQUALITY_CLASSES:
            raise ValueError(f"equality kind {self.kind!r}; expected one of {EQUALITY_CLASSES}")
        if self.eps < 0 or (self.kind == "bounded" and self.eps <= 0):
            raise ValueError(f"equality eps {self.eps!r}: 'bounded' needs eps > 0, others eps = 0")

    def min_agreement(self) -> float:
        """The smallest fraction of identical spikes per layer this class allows on float inputs
        (1.0 for exact; ties have probability ~0 with float weights and inputs)."""
        return 1.0 - self.eps


def neuron_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The spiking neuron layers of ``model`` by module name (modules with ``spiking = True``,
    outermost only: a neuron wrapper's framework child is not listed again)."""
    out: dict[str, nn.Module] = {}
    for name, mod in model.named_modules():
        if not name:  # the model itself (a whole spiking net may carry spiking = True)
            continue
        if getattr(mod, "spiking", False) is True and not any(
            name.startswith(p + ".") for p in out
        ):
            out[name] = mod
    return out


def layer_spikes(
    backend: Any, model: nn.Module, x: torch.Tensor, **forward_kwargs: Any
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Each neuron layer's output spikes for input ``x`` ``(B, T, 2, H, W)``.

    Returns:
        A pair
        ``({module name: spikes as the layer returned them (time-major, (T*B, ...))}, logits (B, K))``.
    """
    captured: dict[str, torch.Tensor] = {}
    hooks = []
    for name, mod in neuron_modules(model).items():
        def hook(_m, _inp, out, name=name):
            captured[name] = (out[0] if isinstance(out, tuple) else out).detach().clone()

        hooks.append(mod.register_forward_hook(hook))
    try:
        model.eval()
        with torch.no_grad():
            logits = backend.forward(model, x, **forward_kwargs).logits
    finally:
        for h in hooks:
            h.remove()
    return captured, logits


def drive(model: nn.Module, backend: Any, x: torch.Tensor, gain: float = 3.0, **forward_kwargs: Any) -> None:
    """Make every layer of a freshly initialised ``model`` spike on inputs like ``x``, so that an
    agreement test compares activity, not silence: batch-norm statistics are taken from ``x``
    (one forward in train mode), batch-norm weights set to 1 (SEW-ResNet zero-initialises the
    last BN of each block, which leaves its neurons silent) and conv / linear weights scaled by
    ``gain``. In place; ``model`` is left in eval mode."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration pass
        model.train()
        backend.forward(model, x, **forward_kwargs)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None:
                m.weight.fill_(1.0)
            elif isinstance(m, nn.Conv2d | nn.Linear):
                m.weight.mul_(gain)
    model.eval()


def check_state_matches(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> None:
    """Check that a canonical state (spec-layer-named tensors) fits a model's, before loading.

    Raises:
        KeyError: keys the model needs are missing, or keys it does not know are present (both
            listed).
        ValueError: a tensor's shape differs from the model's (names the key and both shapes).
    """
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise KeyError(
            f"load_canonical_state: missing keys {missing}, unexpected keys {unexpected}"
        )
    for key, ref in expected.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise ValueError(
                f"load_canonical_state: {key} has shape {tuple(state[key].shape)}, expected "
                f"{tuple(ref.shape)}"
            )


def copy_weights(src: nn.Module, dst: nn.Module) -> list[str]:
    """Copy every parameter and batch-norm buffer of ``src`` into ``dst`` where the names and
    shapes match; returns the names copied.

    Raises:
        ValueError: a parameter of ``dst`` found no match in ``src`` (the models do not compile the
            same spec).
    """
    s = src.state_dict()
    d = dst.state_dict()
    copied = []
    for key, value in d.items():
        if key in s and s[key].shape == value.shape and s[key].dtype == value.dtype:
            d[key] = s[key].clone()
            copied.append(key)
    missing = [n for n, _ in dst.named_parameters() if n not in copied]
    if missing:
        raise ValueError(f"copy_weights: no source for parameter(s) {missing[:5]}")
    dst.load_state_dict(d)
    return copied


@dataclass
class Agreement:
    """Result of :func:`spike_agreement`.

    Attributes:
        per_layer: ``{layer: fraction of identical spikes}`` for every neuron layer of the
            reference (1.0 = identical).
        logits_max_abs_diff: ``max |logits_ref - logits_other|``.
        spike_counts: ``{layer: (reference spikes, other spikes)}``.
    """

    per_layer: dict[str, float]
    logits_max_abs_diff: float
    spike_counts: dict[str, tuple[float, float]]

    @property
    def min_agreement(self) -> float:
        return min(self.per_layer.values()) if self.per_layer else 1.0


def spike_agreement(
    ref_backend: Any, ref_model: nn.Module, backend: Any, model: nn.Module, x: torch.Tensor
) -> Agreement:
    """Run both models on ``x`` (after :func:`copy_weights` from the reference, done by the
    caller) and compare their neuron layers' spikes by name.

    Raises:
        ValueError: a layer of the reference is missing in the other model, or shapes differ.
    """
    ref, ref_logits = layer_spikes(ref_backend, ref_model, x)
    got, logits = layer_spikes(backend, model, x)
    per_layer, counts = {}, {}
    for name, a in ref.items():
        if name not in got:
            raise ValueError(f"layer {name!r} of the reference has no counterpart (got {sorted(got)})")
        b = got[name]
        if a.shape != b.shape:
            raise ValueError(f"layer {name!r}: spike shapes {tuple(a.shape)} vs {tuple(b.shape)}")
        per_layer[name] = float((a == b).float().mean())
        counts[name] = (float(a.sum()), float(b.sum()))
    return Agreement(per_layer, float((ref_logits - logits).abs().max()), counts)
