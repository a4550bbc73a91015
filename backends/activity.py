"""Activity accounting shared by every backend: spike counts and synaptic operations.

Synaptic operations follow NeuroBench's ``SynapticOperations`` metric (Yik et al., "The neurobench
framework for benchmarking neuromorphic computing algorithms and systems", Nature Communications
2025, Methods "Synaptic operations"; neurobench 2.3.0 ``metrics/utils/layers/macs.py``):

* for one call of a connection layer (Conv2d / Linear) on input ``x``, the *effective* count is the
  number of (non-zero input, non-zero weight) pairs that reach an output, i.e. the sum of the
  layer's output when it is run with ``x != 0`` as input and ``w != 0`` as weights, bias excluded;
* the input is *spiking* (the operations are accumulates, ACs) when every element of ``x`` is in
  {-1, 0, 1}; otherwise they are multiply-accumulates (MACs);
* the *dense* count is the same sum with every input and weight taken as 1 (zero padding excluded).

One extension, for multi-spike neurons (sinabs' default ``MultiSpike``: an integer number of
spikes per neuron and step): when the caller says the input holds spike counts
(``counts=True``: the output of a declared spiking neuron, :mod:`backends.native.hooks`) and every
element is a non-negative integer, the effective count is ``sum_i x_i * R_i`` (each spike drives
its fan-out once, as sinabs' ``SNNAnalyzer`` counts synaptic operations: input spikes x fan-out,
sinabs 3.x ``synopcounter.py`` ``synops_hook``) and the operations are ACs. For a binary input
this is NeuroBench's count exactly; NeuroBench itself would count a count input as MACs, one per
non-zero input and non-zero weight.

Counts are summed over the batch and over time steps; divide by the number of samples for per-sample
figures (:func:`benchmarks.measure.metrics.activity_summary`).

Beyond NeuroBench's synaptic operations the recorder keeps, per connection layer, what the
memory-aware energy models of :mod:`benchmarks.measure.energy` need:

* ``input_nonzeros``: the non-zero elements of the layer's input (for a spiking input: the input
  events, i.e. the spikes that arrive at the layer after pooling), summed over batch and time;
* ``connection``: the layer's :class:`ConnectionShape` (input / output shape per sample and step,
  kernel, stride, groups, number of weights), as the recorder saw the layer, so that every backend
  reports it the same way.

Both are fields of :class:`~backends.base.LayerActivity` (``input_nonzeros``, ``connection``),
set by the recorder; ``dataclasses.replace`` and ``accumulate_activity`` carry them over.

NeuroBench's ``MembraneUpdates`` (neurobench 2.3.0 ``metrics/workload/membrane_updates.py``)
needs the membrane potential, which the recorder does not see: :class:`MembraneProbe` counts it
with forward hooks on the neuron modules (NeuroBench's habit), from the input currents through
the canonical neuron (:func:`backends.blocks.neurons.canonical_neuron_reference`), which every
spiking backend here is held to (``backends.equality``).
"""

from __future__ import annotations

import logging
import math
import weakref
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from backends.base import LayerActivity

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

NEURON_OPS_PER_UPDATE: dict[str, dict[str, int]] = {
    "Leaky": {"subtract": 4, "zero": 4},
    "Synaptic": {"subtract": 6, "zero": 8},
    "Lapicque": {"subtract": 11, "zero": 11},
    "Alpha": {"subtract": 18, "zero": 24},
}
"""Operations per membrane update by snntorch neuron class and reset: NeuroBench's table
``neuron_ops_reset_operations`` (neurobench 2.3.0 ``metrics/workload/neuron_operations.py``).
The canonical neuron of :mod:`backends.specs` (LIF and IF, zero or subtract reset) is snntorch's
``Leaky`` (IF: ``beta = 1``): 4 operations per update."""

CANONICAL_NEURON_OPS = 4
"""Operations per membrane update of the canonical neuron (NeuroBench's ``Leaky``: 4 for both
resets); ``NeuronOperations`` = updates x 4."""


def torch_count_nonzero(x: torch.Tensor) -> int:
    """Number of non-zero elements of ``x`` (exact: an int64 count)."""
    import torch

    return int(torch.count_nonzero(x.detach()).item())


def is_spiking_input(x: torch.Tensor) -> bool:
    """True when every element of ``x`` is -1, 0 or 1 (NeuroBench's test for binary input)."""
    return bool(((x == 0) | (x == 1) | (x == -1)).all())


def is_spike_count_input(x: torch.Tensor) -> bool:
    """True when every element of ``x`` is a finite non-negative integer (spike counts, e.g. of
    sinabs' ``MultiSpike``); binary spikes included."""
    import torch

    return bool((torch.isfinite(x) & (x >= 0) & (x == torch.floor(x))).all())


def _conv1d_as_2d(x: torch.Tensor, layer: Any) -> tuple[torch.Tensor, Any]:
    """A ``Conv1d`` call (``x`` ``(B, C, L)``, weight ``(O, I, k)``) as the equivalent 2-d conv on a
    height-1 input: ``x`` ``(B, C, 1, L)``, weight ``(O, I, 1, k)``, stride / padding / dilation
    ``(1, s)`` / ``(0, p)`` / ``(1, d)`` (the same operations; e.g. Spikformer's pointwise
    ``Conv1d`` layers). Other layers pass through unchanged."""
    import torch

    w = layer.weight
    if not (isinstance(layer, torch.nn.Conv1d) or w.dim() == 3):
        return x, layer
    pad = layer.padding if isinstance(layer.padding, str) else (0, int(layer.padding[0]))
    view = SimpleNamespace(weight=w.unsqueeze(2), stride=(1, int(layer.stride[0])), padding=pad,
                           dilation=(1, int(layer.dilation[0])), groups=layer.groups,
                           bias=getattr(layer, "bias", None))
    return x.unsqueeze(2), view


def connection_ops(x: torch.Tensor, layer: torch.nn.Module, *, counts: bool = False
                   ) -> tuple[int, int, bool]:
    """Synaptic operations of one call of ``layer`` on ``x``.

    Args:
        x: the layer's input for one time step, ``(B, C, H, W)`` for Conv2d, ``(B, C, L)`` for
            Conv1d (counted as a 2-d conv of height 1) or ``(B, F)`` for Linear.
        layer: a ``torch.nn.Conv2d``, ``torch.nn.Conv1d`` or ``torch.nn.Linear`` (or a module with
            the same ``weight`` layout and conv parameters: ``stride``, ``padding``, ``dilation``,
            ``groups``).
        counts: ``x`` is the output of a spiking neuron; if it holds non-negative integers
            (:func:`is_spike_count_input`) they are spike counts: the effective count is
            ``sum_i x_i * R_i`` (below) and the operations are ACs (module docstring).

    Returns:
        ``(effective, dense, spiking)``: effective and dense operation counts summed over the
        batch, and whether the input was spikes (binary, or counts with ``counts``: effective
        ops are then ACs, else MACs).

    Raises:
        TypeError: unsupported layer type.

    How: NeuroBench's effective count is ``sum(layer(x != 0, w != 0))`` (bias excluded). The layer
    is linear in its input, so that sum equals ``sum_i [x_i != 0] * R_i`` where ``R_i`` is the
    number of (non-zero weight, output) pairs input position ``i`` reaches (``R`` = the layer's
    transpose applied to an all-ones output, i.e. the gradient of the output sum;
    :func:`reach_counts`). ``R`` and the dense count per sample depend only on the weights' zero
    pattern and the input shape, so they are computed once per layer and shape and re-used while
    the zero pattern is unchanged (compared exactly on every call); a call then costs one
    element-wise product instead of two convolutions. Every count is an integer computed exactly
    (float32 holds the 0/1 sums below 2**24; the final sum is float64), so the result equals the
    direct two-convolution count bit for bit (``tests/test_activity.py`` checks both).
    """
    import torch

    x2, view = _conv1d_as_2d(x, layer)
    as_counts = counts and is_spike_count_input(x)
    with torch.no_grad(), torch.autocast(device_type=x2.device.type, enabled=False):
        wb = view.weight.detach() != 0
        reach, dense_per_sample = reach_counts(layer, view, wb, tuple(x2.shape[1:]), x2.device)
        if as_counts:  # spikes per position (each drives its fan-out once)
            xs = x2.detach().to(torch.float64).sum(dim=0)
        else:  # non-zeros per position
            xs = torch.count_nonzero(x2.detach(), dim=0).to(torch.float64)
        eff = (xs * reach).sum()
    spiking = as_counts or is_spiking_input(x)
    return int(round(eff.item())), int(dense_per_sample) * int(x2.shape[0]), spiking


_REACH_CACHE: dict[int, tuple[Any, dict]] = {}
"""Per layer (by ``id``, with a weak reference that drops the entry when the layer goes):
``{(input shape, device): (weight zero pattern, R, dense per sample)}``."""


def reach_counts(layer: Any, view: Any, wb: torch.Tensor, in_shape: tuple[int, ...], device: Any
                 ) -> tuple[torch.Tensor, int]:
    """Per input position, the number of (non-zero weight, output) pairs it reaches, and the dense
    operation count of one sample (every input and weight taken as 1, zero padding excluded).

    Args:
        layer: the layer (cache key; held weakly).
        view: the layer or its 2-d view (:func:`_conv1d_as_2d`): ``weight`` and conv parameters.
        wb: ``view.weight != 0`` (bool).
        in_shape: one sample's input shape, ``(C, H, W)`` or ``(F,)``.

    Returns:
        ``(R, dense)``: ``R`` float64 of shape ``in_shape``; ``dense`` an int. Cached per
        (layer, input shape, device) while ``wb`` is unchanged.

    Raises:
        TypeError: unsupported layer type.
    """
    import torch
    import torch.nn.functional as F

    per_layer = _layer_cache(layer)
    key = (in_shape, str(device))
    hit = per_layer.get(key)
    if hit is not None and hit[0].shape == wb.shape and torch.equal(hit[0], wb):
        return hit[1], hit[2]
    w = wb.to(torch.float32)
    x0 = torch.ones((1, *in_shape), dtype=torch.float32, device=device, requires_grad=True)
    with torch.enable_grad():
        if isinstance(layer, torch.nn.Linear) or w.dim() == 2:
            reach_of = lambda v, ww: F.linear(v, ww)  # noqa: E731
        elif isinstance(layer, (torch.nn.Conv2d, torch.nn.Conv1d)) or w.dim() == 4:
            kw = dict(stride=view.stride, padding=view.padding, dilation=view.dilation,
                      groups=view.groups)
            reach_of = lambda v, ww: F.conv2d(v, ww, **kw)  # noqa: E731
        else:
            raise TypeError(f"connection_ops: unsupported layer {type(layer).__name__}")
        (reach,) = torch.autograd.grad(reach_of(x0, w).sum(), x0)
        dense = reach_of(x0.detach(), torch.ones_like(w)).sum(dtype=torch.float64)
    out = (reach[0].to(torch.float64), int(round(dense.item())))
    per_layer[key] = (wb.clone(), *out)
    return out


def _layer_cache(layer: Any) -> dict:
    """The layer's entry of :data:`_REACH_CACHE` (a fresh, uncached dict for an object that
    cannot be weakly referenced)."""
    key = id(layer)
    hit = _REACH_CACHE.get(key)
    if hit is not None and hit[0]() is layer:
        return hit[1]
    try:
        ref = weakref.ref(layer, lambda _r, k=key: _REACH_CACHE.pop(k, None))
    except TypeError:
        return {}
    _REACH_CACHE[key] = (ref, {})
    return _REACH_CACHE[key][1]


@dataclass(frozen=True)
class ConnectionShape:
    """Shape of one connection layer (Conv2d or Linear) per sample and time step.

    Attributes:
        kind: ``"conv"`` or ``"linear"``.
        in_shape: ``(C_in, H, W)`` or ``(F_in,)``: the layer's input per sample and step.
        out_shape: ``(C_out, H_out, W_out)`` or ``(F_out,)``: its output (before any pooling).
        kernel: ``(kh, kw)`` (``(1, 1)`` for a Linear).
        stride: ``(sh, sw)`` (``(1, 1)`` for a Linear).
        groups: conv groups (1 for a Linear).
        weights: number of weights (``weight.numel()``, zeros included).
        bias: whether the layer adds a bias.
    """

    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    groups: int = 1
    weights: int = 0
    bias: bool = False

    @property
    def inputs(self) -> int:
        """Input elements per sample and step (``C_in * H * W`` or ``F_in``)."""
        return math.prod(self.in_shape)

    @property
    def outputs(self) -> int:
        """Output elements per sample and step (``C_out * H_out * W_out`` or ``F_out``)."""
        return math.prod(self.out_shape)

    @property
    def fan_in(self) -> int:
        """Weights per output element: ``C_in / groups * kh * kw`` or ``F_in``."""
        if self.kind == "linear":
            return self.in_shape[0]
        return self.in_shape[0] // self.groups * self.kernel[0] * self.kernel[1]

    @property
    def fan_out(self) -> int:
        """Weights per input element (its kernel footprint, padding ignored):
        ``C_out / groups * kh * kw`` or ``F_out``."""
        if self.kind == "linear":
            return self.out_shape[0]
        return self.out_shape[0] // self.groups * self.kernel[0] * self.kernel[1]

    @property
    def fan_out_strided(self) -> int:
        """Outputs one input element reaches with stride ``s``: ``C_out / groups *
        ceil(kh / sh) * ceil(kw / sw)`` (spikingjelly's synaptic-operation count, padding
        ignored); ``F_out`` for a Linear."""
        if self.kind == "linear":
            return self.out_shape[0]
        kh, kw = self.kernel
        sh, sw = self.stride
        return self.out_shape[0] // self.groups * math.ceil(kh / sh) * math.ceil(kw / sw)


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1]) if len(v) > 1 else int(v[0]))
    return (int(v), int(v))


def connection_shape(x: torch.Tensor, layer: torch.nn.Module) -> ConnectionShape:
    """The :class:`ConnectionShape` of ``layer`` called on ``x`` (``(B, C, H, W)`` or ``(B, F)``).

    The output size of a conv is computed by PyTorch itself on the ``meta`` device (so string
    paddings such as ``"same"`` are handled), without touching data.

    Raises:
        TypeError: unsupported layer type (as :func:`connection_ops`).
    """
    import torch
    import torch.nn.functional as F

    x, layer = _conv1d_as_2d(x, layer)  # a Conv1d: in/out shapes (C, 1, L), kernel (1, k)
    w = layer.weight
    bias = getattr(layer, "bias", None) is not None
    if isinstance(layer, torch.nn.Linear) or w.dim() == 2:
        return ConnectionShape("linear", (int(x.shape[-1]),), (int(w.shape[0]),),
                               weights=int(w.numel()), bias=bias)
    if isinstance(layer, torch.nn.Conv2d) or w.dim() == 4:
        out = F.conv2d(
            torch.empty((1, *x.shape[1:]), device="meta"), torch.empty(w.shape, device="meta"),
            stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
            groups=layer.groups,
        )
        return ConnectionShape(
            "conv", tuple(int(v) for v in x.shape[1:]), tuple(int(v) for v in out.shape[1:]),
            kernel=(int(w.shape[2]), int(w.shape[3])), stride=_pair(layer.stride),
            groups=int(layer.groups), weights=int(w.numel()), bias=bias,
        )
    raise TypeError(f"connection_shape: unsupported layer {type(layer).__name__}")


class ActivityRecorder:
    """Accumulates :class:`LayerActivity` per layer name over the time steps of a forward pass.

    Usage inside an adapter's forward, per time step ``t``::

        rec.ops("conv1", "conv", x_t, conv_module)      # synaptic ops of conv1 on its input x_t
        rec.spikes("conv1", "conv", s_t)                 # spikes (non-zero outputs) of conv1's neurons

    Call :meth:`layers` at the end. ``time_steps`` counts the time steps a layer ran: the steps
    given to :meth:`spikes`, or, for a layer without neurons (the readout), the steps given to
    :meth:`ops` (one per call unless ``steps`` says otherwise); the larger of the two.
    """

    def __init__(self) -> None:
        self._layers: dict[str, LayerActivity] = {}
        self._op_steps: dict[str, int] = {}

    def _get(self, name: str, kind: str) -> LayerActivity:
        if name not in self._layers:
            la = LayerActivity(name=name, kind=kind, time_steps=0)
            # fields of LayerActivity once backends/base.py declares them (see module docstring)
            la.input_nonzeros = 0.0
            la.connection = None
            self._layers[name] = la
        return self._layers[name]

    def ops(
        self, name: str, kind: str, x: torch.Tensor, layer: torch.nn.Module, *, steps: int = 1,
        counts: bool = False,
    ) -> None:
        """Add the synaptic operations of ``layer`` on input ``x`` (see :func:`connection_ops`).

        ``steps``: the number of time steps ``x`` holds (folded into its batch axis); NeuroBench
        decides AC vs MAC per call, so call once per time step to match it exactly.
        ``counts``: ``x`` is a spiking neuron's output, whose non-negative integers are spike
        counts (:func:`connection_ops`).

        Also adds the input events to ``input_nonzeros`` (the non-zero input elements; for spike
        counts, the spikes: the sum of the counts) and sets ``connection`` (the layer's
        :class:`ConnectionShape`) on the first call.
        """
        eff, dense, spiking = connection_ops(x, layer, counts=counts)
        la = self._get(name, kind)
        self._op_steps[name] = self._op_steps.get(name, 0) + steps
        if spiking:
            la.effective_acs += eff
        else:
            la.effective_macs += eff
        la.dense_ops += dense
        if counts and is_spike_count_input(x):
            la.input_nonzeros += float(x.detach().double().sum().item())
        else:
            la.input_nonzeros += float(torch_count_nonzero(x))
        if la.connection is None:
            la.connection = connection_shape(x, layer)

    def spikes(self, name: str, kind: str, s: torch.Tensor, *, steps: int = 1) -> None:
        """Add the non-zero outputs of ``s`` (``(B, ...)`` for one step, or ``steps`` steps)."""
        la = self._get(name, kind)
        la.spikes += float(torch_count_nonzero(s))
        per_sample = s[0].numel() // steps if s.dim() > 0 and s.shape[0] else 0
        la.neurons = per_sample
        la.time_steps += steps

    def layers(self) -> list[LayerActivity]:
        """The accumulated activity, in first-seen order."""
        for name, la in self._layers.items():
            la.time_steps = max(la.time_steps, self._op_steps.get(name, 0))
        return list(self._layers.values())


# --------------------------------------------------------------------------------------------
# NeuroBench's MembraneUpdates, through forward hooks on the neuron modules
# --------------------------------------------------------------------------------------------


def membrane_updates(v_pre: torch.Tensor) -> int:
    """NeuroBench's ``MembraneUpdates`` count for one layer's membrane trace.

    NeuroBench (neurobench 2.3.0 ``metrics/workload/membrane_updates.py`` with the snntorch hook
    of ``hooks/neuron.py``) stores the neuron's ``mem`` before and after every call (one call per
    time step) and counts every element of the first step, then, at each later step, the
    elements whose ``mem`` changed: ``numel(v[0]) + sum_{t >= 1} count_nonzero(v[t] - v[t-1])``.
    snntorch's ``Leaky`` (``reset_delay=True``) keeps the potential *before* its own reset, so
    ``v`` is the canonical pre-reset potential
    (:func:`backends.blocks.neurons.canonical_neuron_reference`).

    Args:
        v_pre: ``(T, B, ...)`` pre-reset membrane potential, time first.

    Returns:
        The count summed over the batch (divide by ``B`` for NeuroBench's per-sample figure).

    Example:
        >>> import torch
        >>> v = torch.tensor([[1.0, 0.0], [0.5, 0.0], [0.5, 2.0]])  # T = 3, 2 neurons
        >>> membrane_updates(v)  # 2 at t = 0, 1 at t = 1, 1 at t = 2
        4
    """
    import torch

    if v_pre.shape[0] == 0:
        return 0
    first = int(v_pre[0].numel())
    if v_pre.shape[0] == 1:
        return first
    return first + int(torch.count_nonzero(v_pre[1:] - v_pre[:-1]).item())
