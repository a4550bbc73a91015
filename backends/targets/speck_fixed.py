"""DYNAP-CNN (Speck) precision: a spec'd model quantised as sinabs 3.1.3's ``discretize`` does it.

Per layer, one scale (``sinabs/backend/dynapcnn/discretize.py``, ``_discretize_conv_spk_``):
``scale = min(s(weights, 8), s(biases, 8), s((min_v_mem, threshold), 16))`` with
``s(obj, bits)`` = :func:`discretization_scale` (``determine_discretization_scale``); weights,
threshold and ``min_v_mem`` are multiplied by it and rounded (``discretize_tensor``:
``torch.round``, half to even). The suite's specs have no biases (a zero bias gives an infinite
scale and does not bind). Bit widths from the target file (``precision.weight_bits`` = 8,
``precision.state_bits`` = 16).

``min_v_mem``: sinabs' discretize takes ``-2**15`` when the layer has none, which makes the
threshold's scale 1 and rounds sub-unit weights and thresholds to zero; a model converted with
sinabs' ``from_model`` has ``min_v_mem = -1.0`` (``sinabs/from_torch.py``, its default), the value
the target file gives as ``precision.conversion_min_v_mem``. The membrane is bounded below by it
on the chip (:class:`IAFNeuron`), where the float model has no bound.

Dynamics (:class:`IAFNeuron`, sinabs' ``IAF`` with the suite's ``SingleSpike`` and
``MembraneReset``): ``v = v + I`` (integers), spike when ``v >= threshold``, reset to zero (or
subtract the threshold), then ``v = max(v, min_v_mem)``. The readout (a layer without a neuron in
the spec) accumulates its integer input at its own weight scale; its value is ``I / scale``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from backends.specs import ConvNetSpec
from backends.targets.fixed import NeuronModel, QuantLayer, spec_layers
from backends.targets.target import Target, TargetFileError, get_target


def discretization_scale(obj: torch.Tensor, bits: int) -> float:
    """How much ``obj`` can be scaled to fit signed ``bits``-bit integers (sinabs'
    ``determine_discretization_scale``): ``|(2^(b-1) - 1) / max|`` when ``|min| <= |max| *
    2^(b-1) / (2^(b-1) - 1)``, else ``|2^(b-1) / min|``; ``inf`` for an all-zero tensor. Computed
    in float32, as sinabs computes it on float32 parameters."""
    obj = obj.detach().cpu().to(torch.float32)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    mn, mx = torch.min(obj), torch.max(obj)
    with torch.no_grad():
        if abs(mn) <= abs(mx) * abs(lo / hi):
            return float(abs(hi / mx))
        return float(abs(lo / mn))


@dataclass(frozen=True)
class IAFNeuron(NeuronModel):
    """Integer IAF of one layer (see the module docstring).

    Attributes:
        threshold: the discretized threshold (integer >= 1).
        min_v_mem: the discretized lower bound of the membrane.
        reset: ``"zero"`` or ``"subtract"``.
    """

    threshold: int
    min_v_mem: int
    reset: str = "zero"

    def init(self, current: torch.Tensor) -> torch.Tensor:
        return torch.zeros(current.shape, dtype=torch.int64)

    def step(self, state: torch.Tensor, current: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = state + torch.round(current).to(torch.int64)
        s = v >= self.threshold
        v = torch.where(s, torch.zeros_like(v), v) if self.reset == "zero" else v - self.threshold * s
        return s, v.clamp(min=self.min_v_mem)


def layer_scale(weight: torch.Tensor, threshold: float | None, min_v_mem: float,
                weight_bits: int = 8, state_bits: int = 16) -> float:
    """The layer's scale: ``min(s(weight, weight_bits), s((min_v_mem, threshold), state_bits))``;
    the readout (``threshold`` None): ``s(weight, weight_bits)``."""
    scale = discretization_scale(weight, weight_bits)
    if threshold is not None:
        scale = min(scale, discretization_scale(torch.tensor([min_v_mem, threshold]), state_bits))
    return scale


def quantize(spec: ConvNetSpec, state: dict[str, torch.Tensor], num_classes: int,
             target: str | Target = "speck", in_channels: int = 2) -> list[QuantLayer]:
    """The layers of ``spec`` with ``state``'s float weights at DYNAP-CNN precision.

    Raises:
        TargetFileError: the target lacks ``precision.weight_bits``, ``precision.state_bits`` or
            ``precision.conversion_min_v_mem``.
        ValueError: a neuron that is not IAF (``neuron.model``), a layer whose weights are all
            zero, a threshold that rounds to zero, or see
            :func:`backends.targets.fixed.spec_layers`.
    """
    tgt = get_target(target) if isinstance(target, str) else target
    vals = {}
    for key in ("precision.weight_bits", "precision.state_bits", "precision.conversion_min_v_mem"):
        if tgt.value(key) is None or isinstance(tgt.value(key), str):
            raise TargetFileError(f"{tgt.path}: field {key!r}: missing or not a number "
                                  f"({tgt.value(key)!r}), needed for DYNAP-CNN's fixed point")
        vals[key] = tgt.value(key)
    wb, sb = int(vals["precision.weight_bits"]), int(vals["precision.state_bits"])
    min_v = float(vals["precision.conversion_min_v_mem"])
    nrn = spec.neuron
    if nrn.model != "if":
        raise ValueError(f"spec {spec.name}: neuron {nrn.model!r} is not IAF "
                         f"(neuron.model = {tgt.value('neuron.model')!r})")
    pairs = spec_layers(spec, state, num_classes, in_channels)
    out = []
    for i, (la, w) in enumerate(pairs):
        readout = i == len(pairs) - 1
        thr = None if readout else float(nrn.threshold)
        scale = layer_scale(w, thr, min_v, wb, sb)
        if not math.isfinite(scale):
            raise ValueError(f"spec {spec.name}: layer {la.name}: all weights are zero")
        wq = torch.round(w.to(torch.float32) * scale).to(torch.float64)
        neuron = None
        if not readout:
            t_q, m_q = (int(v) for v in torch.round(torch.tensor([thr, min_v]) * scale))
            if t_q < 1:
                raise ValueError(f"spec {spec.name}: layer {la.name}: threshold {thr} rounds to "
                                 f"{t_q} at scale {scale:.4g}")
            neuron = IAFNeuron(t_q, m_q, nrn.reset)
        out.append(QuantLayer(la, wq, neuron, 1.0 / scale))
    return out
