"""The forward pass of a spec'd conv net at a chip's precision, step by step, in integers.

One forward for every target: the layers of a :class:`~backends.specs.ConvNetSpec` (conv,
flatten, dense, readout; :func:`backends.targets.fit.conv_layers`) with integer weights, each
hidden layer's synaptic input computed exactly (integer convolution / matrix product in float64,
exact below 2**53) and handed to the target's neuron model (:class:`NeuronModel`:
:mod:`backends.targets.loihi2_fixed`, :mod:`backends.targets.speck_fixed`), the readout's input
accumulated without a neuron. With :class:`FloatNeuron` the same code runs the spec's canonical
neuron (``backends/specs.py``, module docstring) in float64 on the float weights: the float model
the chip-precision model is compared with, so that a difference is the quantisation's alone.

Time alignment: every layer sees the spikes of the layer below at the same step, as the suite's
backends compute it. Loihi 2 delays each layer by one step (Lava's ``Dense`` sends the
accumulation of step ``t - 1``), so Lava's raster of layer ``k`` equals this one shifted by ``k``
steps.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from backends.specs import ConvNetSpec
from backends.targets.fit import LayerShape, conv_layers


class NeuronModel(abc.ABC):
    """A layer's neuron dynamics at some precision (per step, on the whole batch)."""

    @abc.abstractmethod
    def init(self, current: torch.Tensor) -> Any:
        """The state before step 0 for synaptic input shaped like ``current``."""

    @abc.abstractmethod
    def step(self, state: Any, current: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """One step: synaptic input ``current`` (in the layer's units) -> ``(spikes, state)``,
        spikes a bool tensor shaped like ``current``."""


@dataclass(frozen=True)
class FloatNeuron(NeuronModel):
    """The spec's canonical neuron in float64: ``v = beta v + I``, spike when ``v >= threshold``,
    reset to zero or subtract (``backends/specs.py``, module docstring)."""

    beta: float
    threshold: float
    reset: str = "zero"

    def init(self, current: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(current, dtype=torch.float64)

    def step(self, state: torch.Tensor, current: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.beta * state + current
        s = v >= self.threshold
        v = torch.where(s, torch.zeros_like(v), v) if self.reset == "zero" else v - self.threshold * s
        return s, v


@dataclass(frozen=True)
class QuantLayer:
    """One weight layer as a target holds it.

    Attributes:
        shape: the layer's :class:`~backends.targets.fit.LayerShape`.
        weight: ``(O, C, kh, kw)`` (conv) or ``(O, F)`` (dense) float64 tensor: integers at chip
            precision, the float weights for the float model.
        neuron: its :class:`NeuronModel`; None for the readout.
        unit: the value of one weight unit in the float model's units (readout values are
            ``current * unit``): ``1 / 64`` on Loihi 2, ``1 / scale`` on DYNAP-CNN, 1 for float.
    """

    shape: LayerShape
    weight: torch.Tensor
    neuron: NeuronModel | None
    unit: float = 1.0


@dataclass
class FixedPointOutput:
    """What a forward pass at some precision gives.

    Attributes:
        spikes: hidden layer name -> bool spikes ``(N, T, C, H, W)`` or ``(N, T, F)``.
        readout: ``(N, T, K)`` the readout's input current per step, in the float model's units.
        synops: layer name -> synaptic operations summed over the batch and the steps (each input
            event or spike times the outputs it reaches; event counts count each event).
    """

    spikes: dict[str, torch.Tensor]
    readout: torch.Tensor
    synops: dict[str, int] = field(default_factory=dict)

    @property
    def logits(self) -> torch.Tensor:
        """``(N, K)``: the mean over time of the readout current (the spec's readout)."""
        return self.readout.mean(dim=1)

    @property
    def logits_per_step(self) -> torch.Tensor:
        """``(N, T, K)``: the mean over the first ``t`` steps."""
        steps = torch.arange(1, self.readout.shape[1] + 1, dtype=self.readout.dtype)
        return self.readout.cumsum(dim=1) / steps[None, :, None]

    def spike_counts(self) -> dict[str, int]:
        """Hidden layer name -> spikes summed over the batch and the steps."""
        return {k: int(v.sum()) for k, v in self.spikes.items()}


def spec_layers(spec: ConvNetSpec, state: dict[str, torch.Tensor], num_classes: int,
                in_channels: int = 2) -> list[tuple[LayerShape, torch.Tensor]]:
    """The spec's weight layers with their float weights from ``state`` (keys ``{layer}.weight``,
    :func:`backends.nir_exchange.common.canonical_state`).

    Raises:
        ValueError: a layer with batch norm or pooling (no chip here takes them: see
            :mod:`backends.targets.fit`), a missing weight or one of the wrong shape (the message
            names the layer, expected and found shapes).
    """
    out = []
    for la in conv_layers(spec, in_channels, num_classes):
        if la.batch_norm or la.pool:
            raise ValueError(f"spec {spec.name}: layer {la.name}: batch norm or pooling has no "
                             "fixed-point form on the targets")
        w = state.get(f"{la.name}.weight")
        if w is None:
            raise ValueError(f"spec {spec.name}: layer {la.name}: no weight in the model state")
        want = ((la.out_shape[0], la.in_shape[0], *la.kernel) if la.kind == "conv"
                else (la.out_shape[0], math.prod(la.in_shape)))
        if tuple(w.shape) != want:
            raise ValueError(f"spec {spec.name}: layer {la.name}: weight shape {tuple(w.shape)}, "
                             f"expected {want}")
        out.append((la, w.detach().cpu().to(torch.float64)))
    return out


def _apply(layer: QuantLayer, x: torch.Tensor) -> torch.Tensor:
    """Synaptic input of one step: ``x`` ``(N, C, H, W)`` (or ``(N, F)``) -> float64 current."""
    la = layer.shape
    if la.kind == "conv":
        return F.conv2d(x, layer.weight, stride=la.stride, padding=la.padding)
    return x.reshape(x.shape[0], -1) @ layer.weight.T


def _synops(layer: QuantLayer, x: torch.Tensor) -> int:
    """Synaptic operations of one step: every input event times the outputs it reaches."""
    la = layer.shape
    if la.kind == "conv":
        ones = torch.ones((1, *layer.weight.shape[1:]), dtype=torch.float64)
        return int(F.conv2d(x, ones, stride=la.stride, padding=la.padding).sum()
                   * layer.weight.shape[0])
    return int(x.sum() * layer.weight.shape[0])


def run_layers(layers: list[QuantLayer], x: torch.Tensor) -> FixedPointOutput:
    """Run ``layers`` (hidden layers with a neuron, the readout last) on ``x``.

    Args:
        layers: from :func:`backends.targets.loihi2_fixed.quantize`,
            :func:`backends.targets.speck_fixed.quantize` or :func:`float_layers`.
        x: ``(N, T, C, H, W)`` binned events (counts; integers at chip precision).

    Raises:
        ValueError: ``x`` is not 5-D, or not integer-valued where the first layer's weights are
            integers (a chip receives events, not fractions of them).
    """
    if x.dim() != 5:
        raise ValueError(f"x: expected (N, T, C, H, W), got shape {tuple(x.shape)}")
    x = x.detach().cpu().to(torch.float64)
    if layers[0].unit != 1.0 and not torch.equal(x, x.round()):
        raise ValueError("x: a chip takes event counts; the input has non-integer values")
    n, steps = x.shape[:2]
    spikes: dict[str, list[torch.Tensor]] = {la.shape.name: [] for la in layers[:-1]}
    synops = {la.shape.name: 0 for la in layers}
    states: list[Any] = [None] * len(layers)
    readout = []
    for t in range(steps):
        h = x[:, t]
        for i, layer in enumerate(layers):
            synops[layer.shape.name] += _synops(layer, h)
            current = _apply(layer, h)
            if layer.neuron is None:
                readout.append(current * layer.unit)
                break
            if states[i] is None:
                states[i] = layer.neuron.init(current)
            s, states[i] = layer.neuron.step(states[i], current)
            spikes[layer.shape.name].append(s)
            h = s.to(torch.float64)
    return FixedPointOutput({k: torch.stack(v, 1) for k, v in spikes.items()},
                            torch.stack(readout, 1), synops)


def float_layers(spec: ConvNetSpec, state: dict[str, torch.Tensor], num_classes: int,
                 in_channels: int = 2) -> list[QuantLayer]:
    """The float model: the checkpoint's weights with the spec's canonical neuron in float64."""
    nrn = spec.neuron
    model = FloatNeuron(nrn.decay, float(nrn.threshold), nrn.reset)
    pairs = spec_layers(spec, state, num_classes, in_channels)
    return [QuantLayer(la, w, None if i == len(pairs) - 1 else model)
            for i, (la, w) in enumerate(pairs)]


def spike_agreement(a: FixedPointOutput, b: FixedPointOutput) -> dict[str, float]:
    """Per hidden layer, the fraction of (sample, step, neuron) entries whose spike is the same
    in ``a`` and ``b`` (1.0: identical rasters)."""
    return {k: float((a.spikes[k] == b.spikes[k]).double().mean()) for k in a.spikes}
