"""Spiking neurons of the compiled models: the surrogate spike functions (:class:`ATanSpike`,
:class:`FastSigmoidSpike`, :class:`RectSpike` and the picklable callable :class:`SurrogateSpike`
that adapters hand to their framework's neurons), the check of a
:class:`~backends.specs.NeuronSpec` (:func:`check_neuron`) and
:func:`canonical_neuron_reference`, a plain-torch loop of the canonical neuron of
:mod:`backends.specs` that adapters self-check a framework's neuron against."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from backends.specs import NeuronSpec


class _HeavisideSpike(torch.autograd.Function):
    """Forward shared by the surrogate spike functions: ``S = H(x) = 1 if x >= 0 else 0``,
    keeping ``x`` and the surrogate's ``alpha`` for the subclass's ``backward``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, alpha: float) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)


class ATanSpike(_HeavisideSpike):
    """Heaviside spike with the arc-tangent surrogate gradient.

    Forward: ``S = H(x) = 1 if x >= 0 else 0`` with ``x = v - threshold``; ``H(0) = 1`` as in
    spikingjelly (``surrogate.heaviside``: ``x >= 0``) and lava-dl (``voltage >= threshold``).
    (snntorch's own ``surrogate.ATan`` uses ``x > 0``, so it does not fire at ``v == threshold``.)

    Backward: ``dS/dx = alpha / 2 / (1 + (pi / 2 * alpha * x)^2)``, the derivative of
    ``S(x) = arctan(pi / 2 * alpha * x) / pi + 1 / 2`` (Fang et al., ICCV 2021, "Incorporating
    learnable membrane time constants...", spikingjelly ``surrogate.ATan``, default ``alpha = 2``).
    """

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        grad = a / 2.0 / (1.0 + (math.pi / 2.0 * a * x) ** 2)
        return grad_output * grad, None


class FastSigmoidSpike(_HeavisideSpike):
    """Heaviside spike (``x >= 0``) with the fast-sigmoid surrogate gradient.

    Backward: ``dS/dx = 1 / (1 + alpha * |x|)^2`` (Zenke & Ganguli, "SuperSpike", Neural
    Computation 2018, eq. 7, with slope ``alpha``; snntorch ``surrogate.fast_sigmoid(slope)``).
    """

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        (x,) = ctx.saved_tensors
        return grad_output / (1.0 + ctx.alpha * x.abs()) ** 2, None


class RectSpike(_HeavisideSpike):
    """Heaviside spike (``x >= 0``) with a rectangular surrogate gradient.

    Backward: ``dS/dx = 1 if |x| < alpha else 0`` (height 1, half-width ``alpha``): SEEN's
    ``ActFun`` (``abs(input - thresh) < lens``, github.com/zhanghaiwei1234/
    Single-eye-Emotion-Recognition ``code/model_snn_cnn.py``; Wu et al., Front. Neurosci. 2018).
    """

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        (x,) = ctx.saved_tensors
        return grad_output * (x.abs() < ctx.alpha).to(grad_output.dtype), None


_SURROGATES: dict[str, type[torch.autograd.Function]] = {
    "atan": ATanSpike,
    "fast_sigmoid": FastSigmoidSpike,
    "rect": RectSpike,
}


@dataclass(frozen=True)
class SurrogateSpike:
    """A picklable spike function ``x -> H(x)`` with a surrogate gradient.

    ``x`` is the membrane potential minus the threshold (any shape); the output has the same
    shape and dtype, values in {0, 1}. Usable as snntorch's ``spike_grad``.

    Attributes:
        kind: ``"atan"`` (:class:`ATanSpike`), ``"fast_sigmoid"`` (:class:`FastSigmoidSpike`) or
            ``"rect"`` (:class:`RectSpike`).
        alpha: the surrogate's slope parameter (> 0).

    Raises:
        ValueError: unknown ``kind`` or ``alpha`` not a positive finite number.
    """

    kind: str = "atan"
    alpha: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in _SURROGATES:
            raise ValueError(
                f"surrogate: unknown kind {self.kind!r}; known: {', '.join(sorted(_SURROGATES))}"
            )
        if not (
            isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha > 0
        ):
            raise ValueError(
                f"surrogate_alpha: expected a positive finite number, got {self.alpha!r}"
            )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _SURROGATES[self.kind].apply(x, float(self.alpha))


def check_neuron(neuron: NeuronSpec) -> None:
    """Validate a :class:`~backends.specs.NeuronSpec`.

    Raises:
        TypeError: ``neuron`` is not a NeuronSpec.
        ValueError: a field is out of range (message names the field and value): ``model`` not
            in {lif, if}; ``threshold`` not a positive finite number; ``beta`` not in (0, 1] for
            LIF; ``reset`` not in {zero, subtract}; unknown ``surrogate``; ``surrogate_alpha``
            not positive.
    """
    if not isinstance(neuron, NeuronSpec):
        raise TypeError(f"neuron: expected a NeuronSpec, got {type(neuron).__name__}")
    if neuron.model not in ("lif", "if"):
        raise ValueError(f"neuron.model: expected 'lif' or 'if', got {neuron.model!r}")
    thr = neuron.threshold
    if not (isinstance(thr, (int, float)) and math.isfinite(thr) and thr > 0):
        raise ValueError(f"neuron.threshold: expected a positive finite number, got {thr!r}")
    if neuron.model == "lif" and not (
        isinstance(neuron.beta, (int, float)) and 0.0 < neuron.beta <= 1.0
    ):
        raise ValueError(f"neuron.beta: expected a number in (0, 1], got {neuron.beta!r}")
    if neuron.reset not in ("zero", "subtract"):
        raise ValueError(f"neuron.reset: expected 'zero' or 'subtract', got {neuron.reset!r}")
    SurrogateSpike(neuron.surrogate, neuron.surrogate_alpha)


def surrogate_for(neuron: NeuronSpec) -> SurrogateSpike:
    """The spike function of ``neuron`` (its ``surrogate`` and ``surrogate_alpha``).

    Raises:
        ValueError: see :class:`SurrogateSpike`.
    """
    return SurrogateSpike(neuron.surrogate, float(neuron.surrogate_alpha))


def canonical_neuron_reference(
    current: torch.Tensor, neuron: NeuronSpec
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the canonical neuron of :mod:`backends.specs` over time, in plain torch.

    ``v[t] = beta * v[t-1] + I[t]``; ``s[t] = H(v[t] - threshold)`` with ``H(0) = 1``; then
    ``v[t] <- 0`` where ``s[t]`` (reset ``"zero"``) or ``v[t] - threshold * s[t]``
    (``"subtract"``); ``v[-1] = 0``. No gradient tricks: this is the reference of the forward
    dynamics that adapters are checked against.

    Args:
        current: ``I``, shape ``(T, ...)`` (time first).
        neuron: the neuron parameters.

    Returns:
        ``(spikes, v_pre_reset)``, both ``(T, ...)``: the spikes and the membrane potential
        ``v[t]`` before the reset of step ``t``.
    """
    beta = neuron.decay
    thr = neuron.threshold
    v = torch.zeros_like(current[0])
    spikes, pre = [], []
    for t in range(current.shape[0]):
        v = beta * v + current[t]
        s = (v - thr >= 0).to(current.dtype)
        spikes.append(s)
        pre.append(v)
        v = v * (1 - s) if neuron.reset == "zero" else v - thr * s
    return torch.stack(spikes), torch.stack(pre)
