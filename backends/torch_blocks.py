"""Torch building blocks shared by the torch-based backends (``ann``, ``snntorch``).

Contents:

* surrogate spike functions (:class:`ATanSpike`, :class:`FastSigmoidSpike`, and the picklable
  callable :class:`SurrogateSpike` that adapters hand to their framework's neurons);
* :func:`canonical_neuron_reference`, a plain-torch loop of the canonical neuron of
  :mod:`backends.specs`, used by adapters to self-check a framework's neuron;
* validation of ``build`` arguments (:func:`check_build_args`) and shape planning
  (:func:`convnet_plan`, :func:`resnet_plan`);
* the layer-name scheme every backend reports activity under (:func:`arch_layer_names`);
* the compiled models, generic in their activation (ReLU for the ANN, a framework's neuron for an
  SNN): :class:`PerStepConvNet` (a :class:`~backends.specs.ConvNetSpec`) and :class:`ResNet` (a
  :class:`~backends.specs.ResNetSpec`: SEW-ResNet when spiking, its ANN twin otherwise);
* :func:`run_forward`, the ``Backend.forward`` shared by these models.

Compiled-model contract (:class:`PerStepConvNet`, :class:`ResNet`)::

    model(x, recorder=None, capture=None) -> I_out
                                            x: (B, T, 2, H, W) float32 (binned events)
                                            I_out: (B, T', K) readout input current per step
                                            capture: a dict that receives "features", the
                                            readout's input (T'*B, F), time-major
    model.apply_readout(f) -> (B, K)        the readout applied to features f (B, F)
    model.time_folded   True when the T frames are folded into 2T channels (T' = 1)
    model.input_shape   (T, 2, H, W) it was built for;  model.num_classes  K;  model.arch  the spec

Internally the stateless layers (conv, batch norm, pooling, linear) run once on the time-major
flattened tensor ``(T*B, ...)``; only the neurons loop over time (see :class:`TimeActivation`).
Batch norm therefore normalises over batch and time together, as spikingjelly's multi-step mode
(``functional.seq_to_ann_forward``) does in the Spiking-FER reference.

Activation modules (the ``make_act(name)`` factories of the adapters) follow the
:class:`TimeActivation` protocol.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from backends.activity import ActivityRecorder
from backends.base import ForwardOutput
from backends.specs import ConvNetSpec, NeuronSpec, ResNetSpec, SEENSpec

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# surrogate spike functions
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# validation and shape planning
# ---------------------------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


MAX_IN_CHANNELS = 2
"""Most channels one event frame may have: 2 (OFF, ON polarity); polarity-free datasets (NEFER's
Temporal Binary Representation frames) have 1. The channel count comes from the dataset
(:attr:`datasets.base.EventDataset.in_channels`) through the binned tensors' shape."""


def check_input_shape(input_shape: Any) -> tuple[int, int, int, int]:
    """Validate one model input's shape ``(T, C, H, W)`` and return it as a tuple of ints.

    ``C`` is the dataset's ``in_channels``: 2 (ON/OFF polarity) or 1 (polarity-free frames).

    Raises:
        TypeError: not a sequence of 4 ints.
        ValueError: a dimension below 1, or more than :data:`MAX_IN_CHANNELS` channels (the value
            is named).
    """
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(
            f"input_shape: expected a tuple (T, 2, H, W), got {type(input_shape).__name__}"
        ) from None
    if len(shape) != 4 or not all(_is_int(v) for v in shape):
        raise TypeError(f"input_shape: expected 4 ints (T, 2, H, W), got {input_shape!r}")
    if min(shape) < 1:
        raise ValueError(f"input_shape: every dimension must be >= 1, got {shape}")
    if shape[1] > MAX_IN_CHANNELS:
        raise ValueError(
            f"input_shape[1] (event channels): expected 1 (polarity-free) or 2 (OFF/ON), "
            f"got {shape[1]}"
        )
    return shape  # type: ignore[return-value]


def check_build_args(arch: Any, input_shape: Any, num_classes: Any) -> tuple[int, int, int, int]:
    """Validate the arguments of ``Backend.build`` and return ``input_shape`` as a tuple.

    Args:
        arch: a :class:`~backends.specs.ConvNetSpec` or :class:`~backends.specs.ResNetSpec`.
        input_shape: ``(T, 2, H, W)``: time bins, polarities, height and width (pixels); must
            match the spec's ``n_time_bins`` and ``input_size`` (use ``dataclasses.replace`` on
            the spec to compile it for another size).
        num_classes: ``K >= 1``.

    Returns:
        ``(T, 2, H, W)`` as a tuple of ints.

    Raises:
        TypeError: ``arch`` is not a supported spec, or ``input_shape`` / ``num_classes`` not ints.
        ValueError: a bad value (the message names the field and the value).
    """
    if not isinstance(arch, (ConvNetSpec, ResNetSpec)):
        raise TypeError(f"arch: expected a ConvNetSpec or ResNetSpec, got {type(arch).__name__}")
    shape = check_input_shape(input_shape)
    t, c, h, w = shape
    if t != arch.n_time_bins or (h, w) != tuple(arch.input_size):
        raise ValueError(
            f"input_shape {shape} does not match architecture {arch.name!r} "
            f"(n_time_bins={arch.n_time_bins}, input_size={tuple(arch.input_size)}); "
            "bin the data for the spec or compile dataclasses.replace(arch, ...)"
        )
    if not _is_int(num_classes):
        raise TypeError(f"num_classes: expected an int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"num_classes: expected >= 1, got {num_classes}")
    if arch.ann_input not in ("per_step", "fold"):
        raise ValueError(
            f"{arch.name}.ann_input: expected 'per_step' or 'fold', got {arch.ann_input!r}"
        )
    check_neuron(arch.neuron)
    return (t, c, h, w)


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling along one axis (no dilation).

    ``floor((size + 2 * padding - kernel) / stride) + 1`` (PyTorch ``nn.Conv2d`` docs, "Shape").
    """
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class ConvPlan:
    """Shapes of one conv layer of a :class:`~backends.specs.ConvNetSpec` (per sample, per step).

    ``in_channels`` -> conv -> ``(out_channels, out_hw)`` -> [pool] -> ``pooled_hw``.
    """

    name: str
    in_channels: int
    out_channels: int
    out_hw: tuple[int, int]
    pooled_hw: tuple[int, int]


@dataclass(frozen=True)
class DensePlan:
    """Shapes of one dense layer; ``readout`` is True for the last (no neuron, K outputs)."""

    name: str
    in_features: int
    out_features: int
    readout: bool


def convnet_plan(
    spec: ConvNetSpec, input_shape: tuple[int, int, int, int], num_classes: int, *, fold: bool
) -> tuple[list[ConvPlan], list[DensePlan]]:
    """Layer shapes of ``spec`` compiled for ``input_shape`` ``(T, 2, H, W)``.

    Args:
        fold: the first conv takes ``2T`` channels (the T frames folded into channels).

    Raises:
        ValueError: no conv or dense layer, a non-positive channel / kernel / stride / pool, a
            negative padding, duplicate layer names, or a feature map that shrinks below 1 pixel
            (the message names the layer).
    """
    t, c, h, w = input_shape
    if not spec.denses:
        raise ValueError(f"{spec.name}.denses: at least one dense layer (the readout) is required")
    names = [layer.name for layer in spec.convs] + [d.name for d in spec.denses]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{spec.name}: duplicate layer names {dup}")
    convs: list[ConvPlan] = []
    ch = c * t if fold else c
    for layer in spec.convs:
        for attr in ("out_channels", "kernel_size", "stride"):
            value = getattr(layer, attr)
            if not _is_int(value) or value < 1:
                raise ValueError(
                    f"{spec.name}.{layer.name}.{attr}: expected an int >= 1, got {value!r}"
                )
        if not _is_int(layer.padding) or layer.padding < 0:
            raise ValueError(
                f"{spec.name}.{layer.name}.padding: expected an int >= 0, got {layer.padding!r}"
            )
        if layer.pool is not None and (not _is_int(layer.pool) or layer.pool < 1):
            raise ValueError(
                f"{spec.name}.{layer.name}.pool: expected None or an int >= 1, got {layer.pool!r}"
            )
        oh = conv_output_size(h, layer.kernel_size, layer.stride, layer.padding)
        ow = conv_output_size(w, layer.kernel_size, layer.stride, layer.padding)
        ph, pw = (oh // layer.pool, ow // layer.pool) if layer.pool else (oh, ow)
        if min(oh, ow, ph, pw) < 1:
            raise ValueError(
                f"{spec.name}.{layer.name}: the feature map shrinks to {ph}x{pw} "
                f"(input {h}x{w}); use a larger input_size or fewer/smaller strides and pools"
            )
        convs.append(ConvPlan(layer.name, ch, layer.out_channels, (oh, ow), (ph, pw)))
        ch, h, w = layer.out_channels, ph, pw
    features = ch * h * w
    denses: list[DensePlan] = []
    for i, d in enumerate(spec.denses):
        readout = i == len(spec.denses) - 1
        out = num_classes if readout else d.out_features
        if not _is_int(out) or out < 1:
            raise ValueError(
                f"{spec.name}.{d.name}.out_features: expected an int >= 1, got {out!r}"
            )
        denses.append(DensePlan(d.name, features, out, readout))
        features = out
    return convs, denses


@dataclass(frozen=True)
class BlockPlan:
    """One BasicBlock of a :class:`~backends.specs.ResNetSpec` (``name`` like ``layer2.0``)."""

    name: str
    in_channels: int
    out_channels: int
    stride: int
    downsample: bool


def resnet_plan(spec: ResNetSpec, input_size: tuple[int, int] | None = None) -> list[BlockPlan]:
    """The BasicBlocks of ``spec`` in order (torchvision's ``_make_layer`` rule: the first block of
    stage ``i > 0`` has stride 2, and a block gets a 1x1 downsample when its stride is not 1 or
    its channel count changes; He et al., CVPR 2016, Table 1).

    Args:
        input_size: ``(H, W)`` to check that the feature map stays >= 1 pixel (default: the spec's).

    Raises:
        ValueError: ``blocks`` / ``channels`` empty or of different lengths, a non-positive entry,
            an unsupported ``connect``, or a feature map that shrinks below 1 pixel.
    """
    if len(spec.blocks) == 0 or len(spec.blocks) != len(spec.channels):
        raise ValueError(
            f"{spec.name}: blocks {spec.blocks} and channels {spec.channels} must be non-empty "
            "and of the same length"
        )
    for attr in ("blocks", "channels"):
        for v in getattr(spec, attr):
            if not _is_int(v) or v < 1:
                raise ValueError(
                    f"{spec.name}.{attr}: entries must be ints >= 1, got {getattr(spec, attr)}"
                )
    for attr in ("stem_channels", "stem_kernel", "stem_stride"):
        if not _is_int(getattr(spec, attr)) or getattr(spec, attr) < 1:
            raise ValueError(
                f"{spec.name}.{attr}: expected an int >= 1, got {getattr(spec, attr)!r}"
            )
    if spec.connect != "ADD":
        raise ValueError(f"{spec.name}.connect: only 'ADD' is supported, got {spec.connect!r}")
    h, w = input_size if input_size is not None else tuple(spec.input_size)
    k, s = spec.stem_kernel, spec.stem_stride
    h, w = conv_output_size(h, k, s, k // 2), conv_output_size(w, k, s, k // 2)
    h, w = conv_output_size(h, 3, 2, 1), conv_output_size(w, 3, 2, 1)  # MaxPool2d(3, 2, 1)
    plans: list[BlockPlan] = []
    in_ch = spec.stem_channels
    for i, (n, ch) in enumerate(zip(spec.blocks, spec.channels, strict=True)):
        for j in range(n):
            stride = 2 if (i > 0 and j == 0) else 1
            h, w = conv_output_size(h, 3, stride, 1), conv_output_size(w, 3, stride, 1)
            if min(h, w) < 1:
                raise ValueError(
                    f"{spec.name}: the feature map shrinks below 1 pixel at layer{i + 1}.{j} "
                    f"(input_size {tuple(spec.input_size)})"
                )
            plans.append(
                BlockPlan(f"layer{i + 1}.{j}", in_ch, ch, stride, stride != 1 or in_ch != ch)
            )
            in_ch = ch
    if min(h, w) < 1:
        raise ValueError(f"{spec.name}: the feature map shrinks below 1 pixel")
    return plans


def arch_layer_names(arch: ConvNetSpec | ResNetSpec) -> list[str]:
    """Names of the connection layers of ``arch`` in forward order: the names under which every
    backend reports :class:`~backends.base.LayerActivity`.

    * ConvNetSpec: the spec's names, convs then denses (tiny: ``conv1``, ``conv2``, ``conv3``,
      ``fc``).
    * ResNetSpec: ``stem``; per BasicBlock ``layer{i}.{j}.conv1``, ``layer{i}.{j}.conv2`` and,
      where the block downsamples, ``layer{i}.{j}.downsample`` (torchvision's module names,
      stages from 1, blocks from 0); ``fc`` (the readout).

    Raises:
        TypeError: ``arch`` is not a supported spec.
    """
    if isinstance(arch, ConvNetSpec):
        return [layer.name for layer in arch.convs] + [d.name for d in arch.denses]
    if isinstance(arch, ResNetSpec):
        names = ["stem"]
        for b in resnet_plan(arch):
            names += [f"{b.name}.conv1", f"{b.name}.conv2"]
            if b.downsample:
                names.append(f"{b.name}.downsample")
        return names + ["fc"]
    raise TypeError(f"arch: expected a ConvNetSpec or ResNetSpec, got {type(arch).__name__}")


# ---------------------------------------------------------------------------------------------
# activations and recording helpers
# ---------------------------------------------------------------------------------------------


@runtime_checkable
class TimeActivation(Protocol):
    """What an activation module of the compiled models provides.

    ``forward(x, steps)``: ``x`` is ``(steps * B, ...)``, time-major (the ``B`` samples of step 0
    first); returns the activation of the same shape (spikes in {0, 1} for a neuron, with the
    neuron state carried over the ``steps`` steps and starting from 0).
    ``step(x_t, state)``: one step on ``(B, ...)``, ``state`` ``None`` at ``t = 0``; returns
    ``(output, new_state)``.
    ``spiking``: True for spiking neurons.
    """

    spiking: bool

    def __call__(self, x: torch.Tensor, steps: int) -> torch.Tensor: ...

    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]: ...


MakeAct = Callable[[str], nn.Module]
"""Factory ``name -> activation module`` (a :class:`TimeActivation`); ``name`` is the layer name."""


class ReLUAct(nn.Module):
    """ReLU as a :class:`TimeActivation` (stateless). Wraps an ``nn.ReLU`` child so that
    NeuroBench's hooks (which look for ``nn.ReLU`` modules) see it."""

    spiking = False

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor, steps: int = 1) -> torch.Tensor:
        """``max(x, 0)`` elementwise, any shape."""
        return self.relu(x)

    def step(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, None]:
        """One step: ``(relu(x), None)``."""
        return self.relu(x), None


def _record_ops(
    rec: ActivityRecorder | None,
    name: str,
    kind: str,
    h: torch.Tensor,
    layer: nn.Module,
    steps: int,
) -> None:
    """Add the synaptic operations of ``layer`` on its time-major input ``h`` ``(steps*B, ...)``,
    one call per time step (NeuroBench counts per call of a layer, i.e. per time step, and
    decides AC vs MAC per call)."""
    if rec is None:
        return
    hv = h.detach().reshape(steps, -1, *h.shape[1:])
    for t in range(steps):
        rec.ops(name, kind, hv[t], layer)


def _record_spikes(
    rec: ActivityRecorder | None, name: str, kind: str, s: torch.Tensor, steps: int
) -> None:
    """Add the non-zero outputs of ``s`` ``(steps*B, ...)`` (time-major) to layer ``name``."""
    if rec is None:
        return
    sv = s.detach().reshape(steps, -1, *s.shape[1:]).transpose(0, 1)  # (B, steps, ...)
    rec.spikes(name, kind, sv, steps=steps)


def _to_time_major(x: torch.Tensor, fold: bool) -> tuple[torch.Tensor, int]:
    """``(B, T, 2, H, W)`` -> ``(T*B, 2, H, W)`` time-major with ``steps = T``, or, when
    ``fold``, -> ``(B, 2T, H, W)`` with ``steps = 1``. The folded channel index is ``2 t + p``
    (Spiking-FER's ``rearrange("frames polarity h w -> (frames polarity) h w")``)."""
    b, t = x.shape[:2]
    if fold:
        return x.reshape(b, t * x.shape[2], *x.shape[3:]), 1
    return x.transpose(0, 1).reshape(t * b, *x.shape[2:]), t


# ---------------------------------------------------------------------------------------------
# conv net (ConvNetSpec)
# ---------------------------------------------------------------------------------------------


class ConvUnit(nn.Module):
    """Conv2d (no bias) -> [BatchNorm2d] -> activation -> [MaxPool2d(pool)] (one ConvLayer).

    A container (no ``forward``): :class:`PerStepConvNet` runs its parts, recording between them.
    """

    def __init__(
        self,
        plan: ConvPlan,
        kernel: int,
        stride: int,
        padding: int,
        batch_norm: bool,
        pool: int | None,
        act: nn.Module,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            plan.in_channels, plan.out_channels, kernel, stride, padding, bias=False
        )
        self.bn = nn.BatchNorm2d(plan.out_channels) if batch_norm else None
        self.act = act
        self.pool = nn.MaxPool2d(pool) if pool else None


class DenseUnit(nn.Module):
    """Linear (no bias) -> activation (``act`` None for the readout).

    A container (no ``forward``): :class:`PerStepConvNet` runs its parts.
    """

    def __init__(self, plan: DensePlan, act: nn.Module | None) -> None:
        super().__init__()
        self.linear = nn.Linear(plan.in_features, plan.out_features, bias=False)
        self.act = act


class PerStepConvNet(nn.Module):
    """A :class:`~backends.specs.ConvNetSpec` compiled with a given activation.

    Layers in ``self.layers`` (an ``nn.ModuleDict`` keyed by the spec's layer names): conv units
    (:class:`ConvUnit`), then dense units (:class:`DenseUnit`); the last dense is the readout.
    Parameters: conv weights ``(C_out, C_in, k, k)``, batch-norm affine ``(C_out,)`` each, dense
    weights ``(out, in)``; no biases. PyTorch's default initialisation.

    Per step (``time_folded=False``) the same layers run on each of the T frames; with
    ``time_folded=True`` (an ANN with ``ann_input="fold"``) the first conv takes the 2T folded
    channels and the model runs once (``T' = 1``).
    """

    def __init__(
        self,
        spec: ConvNetSpec,
        input_shape: tuple[int, int, int, int],
        num_classes: int,
        make_act: MakeAct,
        *,
        fold: bool = False,
    ) -> None:
        super().__init__()
        self.arch = spec
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.time_folded = fold
        convs, denses = convnet_plan(spec, self.input_shape, num_classes, fold=fold)
        self.layers = nn.ModuleDict()
        for plan, layer in zip(convs, spec.convs, strict=True):
            self.layers[plan.name] = ConvUnit(
                plan,
                layer.kernel_size,
                layer.stride,
                layer.padding,
                layer.batch_norm,
                layer.pool,
                make_act(plan.name),
            )
        for plan in denses:
            self.layers[plan.name] = DenseUnit(plan, None if plan.readout else make_act(plan.name))
        self._conv_names = [p.name for p in convs]
        self._dense_names = [p.name for p in denses]

    def forward(self, x: torch.Tensor, recorder: ActivityRecorder | None = None,
                capture: dict | None = None) -> torch.Tensor:
        """Readout current per step.

        Args:
            x: ``(B, T, 2, H, W)`` float32 binned events.
            recorder: if given, per-layer activity is added to it (ops per time step, non-zero
                outputs of the activations before pooling).
            capture: if given, ``capture["features"]`` is set to the readout's input
                ``(T'*B, F)`` (time-major).

        Returns:
            ``(B, T', K)`` readout input current ``I_out[t]`` (``T' = T``, or 1 when folded).
        """
        b = x.shape[0]
        h, steps = _to_time_major(x, self.time_folded)
        for name in self._conv_names:
            unit = self.layers[name]
            _record_ops(recorder, name, "conv", h, unit.conv, steps)
            h = unit.conv(h)
            if unit.bn is not None:
                h = unit.bn(h)
            h = unit.act(h, steps)
            _record_spikes(recorder, name, "conv", h, steps)
            if unit.pool is not None:
                h = unit.pool(h)
        h = h.flatten(1)
        for name in self._dense_names:
            unit = self.layers[name]
            if capture is not None and unit.act is None:  # the readout's input
                capture["features"] = h
            _record_ops(recorder, name, "linear", h, unit.linear, steps)
            h = unit.linear(h)
            if unit.act is not None:
                h = unit.act(h, steps)
                _record_spikes(recorder, name, "linear", h, steps)
        return h.view(steps, b, -1).transpose(0, 1)

    def readout_module(self) -> nn.Linear:
        """The readout (the last dense layer's ``Linear``, bias-free)."""
        return self.layers[self._dense_names[-1]].linear

    def apply_readout(self, features: torch.Tensor) -> torch.Tensor:
        """The readout on time-averaged features ``(B, F)`` -> ``(B, K)``. The readout is linear,
        so on :attr:`ForwardOutput.features <backends.base.ForwardOutput.features>` this equals
        the logits (the mean over time of the readout current)."""
        return self.readout_module()(features)

    def step(
        self, x_t: torch.Tensor, state: list[Any] | None = None
    ) -> tuple[torch.Tensor, list[Any]]:
        """One time step, for streaming inference (and NeuroBench's ``SNNTorchModel``, which calls
        the network once per step).

        Args:
            x_t: ``(B, 2, H, W)`` the frame of step ``t``.
            state: the state returned by the previous call, ``None`` at ``t = 0``.

        Returns:
            ``(I_out[t] (B, K), state)``. In eval mode (batch norm with running statistics) the
            outputs of T calls equal ``forward``'s per-step outputs.

        Raises:
            ValueError: the model is time-folded (it has no time steps).
        """
        if self.time_folded:
            raise ValueError("step: a time-folded model (ann_input='fold') has no time steps")
        n_acts = len(self._conv_names) + len(self._dense_names) - 1
        state = list(state) if state is not None else [None] * n_acts
        h = x_t
        i = 0
        for name in self._conv_names:
            unit = self.layers[name]
            h = unit.conv(h)
            if unit.bn is not None:
                h = unit.bn(h)
            h, state[i] = unit.act.step(h, state[i])
            i += 1
            if unit.pool is not None:
                h = unit.pool(h)
        h = h.flatten(1)
        for name in self._dense_names:
            unit = self.layers[name]
            h = unit.linear(h)
            if unit.act is not None:
                h, state[i] = unit.act.step(h, state[i])
                i += 1
        return h, state


# ---------------------------------------------------------------------------------------------
# ResNet (ResNetSpec): SEW-ResNet (spiking) and its ANN twin
# ---------------------------------------------------------------------------------------------


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """ResNet BasicBlock, spike-element-wise (SEW, ``sew=True``) or standard (``sew=False``).

    SEW (Fang et al., NeurIPS 2021, Fig. 1c; spikingjelly ``sew_resnet.BasicBlock``)::

        out = act2(bn2(conv2(act1(bn1(conv1(x))))))
        identity = x                    or  act_ds(bn_ds(conv1x1_ds(x)))   (downsample)
        y = identity + out              (connect "ADD": spikes add, so y is an integer >= 0)

    Standard (He et al., CVPR 2016; torchvision ``resnet.BasicBlock``)::

        y = act2(bn2(conv2(act1(bn1(conv1(x))))) + identity),  identity = x or bn_ds(conv_ds(x))

    Tensors are time-major ``(steps*B, C, H, W)``.
    """

    def __init__(self, plan: BlockPlan, make_act: MakeAct, *, sew: bool) -> None:
        super().__init__()
        self.name = plan.name
        self.sew = sew
        self.conv1 = _conv3x3(plan.in_channels, plan.out_channels, plan.stride)
        self.bn1 = nn.BatchNorm2d(plan.out_channels)
        self.act1 = make_act(f"{plan.name}.conv1")
        self.conv2 = _conv3x3(plan.out_channels, plan.out_channels)
        self.bn2 = nn.BatchNorm2d(plan.out_channels)
        self.act2 = make_act(f"{plan.name}.conv2")
        if plan.downsample:
            self.downsample = nn.Sequential(
                nn.Conv2d(plan.in_channels, plan.out_channels, 1, stride=plan.stride, bias=False),
                nn.BatchNorm2d(plan.out_channels),
            )
            self.downsample_act = make_act(f"{plan.name}.downsample") if sew else None
        else:
            self.downsample = None
            self.downsample_act = None

    def forward(
        self, x: torch.Tensor, steps: int, recorder: ActivityRecorder | None = None
    ) -> torch.Tensor:
        """``x`` ``(steps*B, C_in, H, W)`` -> ``(steps*B, C_out, H', W')``."""
        n = self.name
        _record_ops(recorder, f"{n}.conv1", "conv", x, self.conv1, steps)
        out = self.act1(self.bn1(self.conv1(x)), steps)
        _record_spikes(recorder, f"{n}.conv1", "conv", out, steps)
        _record_ops(recorder, f"{n}.conv2", "conv", out, self.conv2, steps)
        out = self.bn2(self.conv2(out))
        if self.sew:
            out = self.act2(out, steps)
            _record_spikes(recorder, f"{n}.conv2", "conv", out, steps)
        identity = x
        if self.downsample is not None:
            _record_ops(recorder, f"{n}.downsample", "conv", x, self.downsample[0], steps)
            identity = self.downsample(x)
            if self.downsample_act is not None:
                identity = self.downsample_act(identity, steps)
                _record_spikes(recorder, f"{n}.downsample", "conv", identity, steps)
        if self.sew:
            return identity + out
        out = self.act2(out + identity, steps)
        _record_spikes(recorder, f"{n}.conv2", "conv", out, steps)
        return out

    def step(
        self, x: torch.Tensor, apply_act: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """One time step on ``x`` ``(B, C_in, H, W)``; ``apply_act(module, h)`` runs an activation's
        ``step`` with its state (see :meth:`ResNet.step`)."""
        out = apply_act(self.act1, self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.sew:
            out = apply_act(self.act2, out)
        identity = x
        if self.downsample is not None:
            identity = self.downsample(x)
            if self.downsample_act is not None:
                identity = apply_act(self.downsample_act, identity)
        if self.sew:
            return identity + out
        return apply_act(self.act2, out + identity)


class ResNet(nn.Module):
    """A :class:`~backends.specs.ResNetSpec` compiled with a given activation.

    Stem ``stem_conv`` (``Conv2d(C_in, stem_channels, stem_kernel, stem_stride, stem_kernel//2)``,
    ``C_in = 2``, or ``2T`` when time-folded) -> ``stem_bn`` -> ``stem_act`` ->
    ``MaxPool2d(3, 2, 1)``; stages ``layer1..layerN`` of :class:`BasicBlock`; global average pool
    -> ``fc = Linear(channels[-1], K, bias=False)`` (the readout; Spiking-FER's final classifier
    is bias-free too). Parameter names follow torchvision's where they exist.

    Initialisation (as the Spiking-FER reference and torchvision): convs Kaiming-normal
    (``mode="fan_out"``, ReLU gain), batch norm weight 1 and bias 0; for the SEW model
    (``sew=True``) the last batch norm of each residual branch (``bn2``) starts at 0
    (``zero_init_residual=True`` in Spiking-FER's ``get_encoder_snn``), so that each block starts
    as an identity; the ANN twin keeps torchvision's default (``zero_init_residual=False``).
    """

    def __init__(
        self,
        spec: ResNetSpec,
        input_shape: tuple[int, int, int, int],
        num_classes: int,
        make_act: MakeAct,
        *,
        sew: bool,
        fold: bool,
    ) -> None:
        super().__init__()
        self.arch = spec
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.time_folded = fold
        self.sew = sew
        t, c, h, w = self.input_shape
        plans = resnet_plan(spec, (h, w))
        k = spec.stem_kernel
        self.stem_conv = nn.Conv2d(
            c * t if fold else c,
            spec.stem_channels,
            k,
            stride=spec.stem_stride,
            padding=k // 2,
            bias=False,
        )
        self.stem_bn = nn.BatchNorm2d(spec.stem_channels)
        self.stem_act = make_act("stem")
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for i in range(len(spec.blocks)):
            stage = [
                BasicBlock(p, make_act, sew=sew)
                for p in plans
                if p.name.startswith(f"layer{i + 1}.")
            ]
            self.add_module(f"layer{i + 1}", nn.ModuleList(stage))
        self.n_stages = len(spec.blocks)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(spec.channels[-1], num_classes, bias=False)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if sew:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def blocks(self) -> list[BasicBlock]:
        """All BasicBlocks in forward order."""
        return [b for i in range(self.n_stages) for b in getattr(self, f"layer{i + 1}")]

    def forward(self, x: torch.Tensor, recorder: ActivityRecorder | None = None,
                capture: dict | None = None) -> torch.Tensor:
        """Readout current per step.

        Args:
            x: ``(B, T, 2, H, W)`` float32 binned events.
            recorder: if given, per-layer activity is added to it.
            capture: if given, ``capture["features"]`` is set to the readout's input (the
                global average pool, ``(T'*B, C)``, time-major).

        Returns:
            ``(B, T', K)`` readout input current (``T' = T``, or 1 when time-folded).
        """
        b = x.shape[0]
        h, steps = _to_time_major(x, self.time_folded)
        _record_ops(recorder, "stem", "conv", h, self.stem_conv, steps)
        h = self.stem_act(self.stem_bn(self.stem_conv(h)), steps)
        _record_spikes(recorder, "stem", "conv", h, steps)
        h = self.maxpool(h)
        for block in self.blocks():
            h = block(h, steps, recorder)
        h = self.avgpool(h).flatten(1)
        if capture is not None:
            capture["features"] = h
        _record_ops(recorder, "fc", "linear", h, self.fc, steps)
        h = self.fc(h)
        return h.view(steps, b, -1).transpose(0, 1)

    def readout_module(self) -> nn.Linear:
        """The readout ``fc`` (bias-free)."""
        return self.fc

    def apply_readout(self, features: torch.Tensor) -> torch.Tensor:
        """``fc`` on time-averaged features ``(B, C)`` -> ``(B, K)`` (linear: equals the logits on
        :attr:`ForwardOutput.features <backends.base.ForwardOutput.features>`)."""
        return self.fc(features)

    def step(
        self, x_t: torch.Tensor, state: list[Any] | None = None
    ) -> tuple[torch.Tensor, list[Any]]:
        """One time step (streaming inference; NeuroBench's ``SNNTorchModel`` contract).

        Args:
            x_t: ``(B, 2, H, W)`` the frame of step ``t``.
            state: the state returned by the previous call, ``None`` at ``t = 0``.

        Returns:
            ``(I_out[t] (B, K), state)``; in eval mode T calls equal ``forward``'s per-step output.

        Raises:
            ValueError: the model is time-folded (it has no time steps).
        """
        if self.time_folded:
            raise ValueError("step: a time-folded model (ann_input='fold') has no time steps")
        new_state: list[Any] = []
        old = list(state) if state is not None else None

        def apply_act(module: nn.Module, h: torch.Tensor) -> torch.Tensor:
            prev = old[len(new_state)] if old is not None else None
            out, st = module.step(h, prev)
            new_state.append(st)
            return out

        h = apply_act(self.stem_act, self.stem_bn(self.stem_conv(x_t)))
        h = self.maxpool(h)
        for block in self.blocks():
            h = block.step(h, apply_act)
        h = self.fc(self.avgpool(h).flatten(1))
        return h, new_state


# ---------------------------------------------------------------------------------------------
# SEEN (SEENSpec): frame branch + weight-copied spiking event branch
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SEENPlan:
    """Feature-map sizes of a :class:`~backends.specs.SEENSpec` per sample: ``hw1`` after the
    multi-scale conv1, ``hw2`` after conv2, ``hw3`` after conv3; ``fc1_in = C2 * h3 * w3``."""

    hw1: tuple[int, int]
    hw2: tuple[int, int]
    hw3: tuple[int, int]
    fc1_in: int


def seen_plan(spec: SEENSpec, input_size: tuple[int, int] | None = None) -> SEENPlan:
    """Shapes of ``spec`` for ``input_size`` ``(H, W)`` (default: the spec's).

    Raises:
        ValueError: a non-positive channel/stride/hidden size, an even or non-positive scale, a
            reduction that leaves no attention channel, or a map that shrinks below 1 pixel.
    """
    for attr in ("channels", "strides", "scales"):
        vals = getattr(spec, attr)
        if len(vals) == 0 or not all(_is_int(v) and v >= 1 for v in vals):
            raise ValueError(f"{spec.name}.{attr}: expected ints >= 1, got {vals!r}")
    if len(spec.channels) != 3 or len(spec.strides) != 3:
        raise ValueError(f"{spec.name}: channels and strides need 3 entries (conv1..conv3)")
    if any(k % 2 == 0 for k in spec.scales):
        raise ValueError(f"{spec.name}.scales: odd kernel sizes expected, got {spec.scales}")
    r = spec.attention_reduction
    if not _is_int(r) or r < 1 or spec.channels[0] // r < 1:
        raise ValueError(f"{spec.name}.attention_reduction: expected 1..channels[0], got {r!r}")
    if not _is_int(spec.hidden) or spec.hidden < 1:
        raise ValueError(f"{spec.name}.hidden: expected an int >= 1, got {spec.hidden!r}")
    h, w = input_size if input_size is not None else tuple(spec.input_size)
    s1, s2, s3 = spec.strides
    k0 = spec.scales[0]
    hw1 = (conv_output_size(h, k0, s1, k0 // 2), conv_output_size(w, k0, s1, k0 // 2))
    hw2 = (conv_output_size(hw1[0], 3, s2, 1), conv_output_size(hw1[1], 3, s2, 1))
    hw3 = (conv_output_size(hw2[0], 3, s3, 1), conv_output_size(hw2[1], 3, s3, 1))
    if min(*hw1, *hw2, *hw3) < 1:
        raise ValueError(f"{spec.name}: input {h}x{w} is too small (maps {hw1}, {hw2}, {hw3})")
    return SEENPlan(hw1, hw2, hw3, spec.channels[2] * hw3[0] * hw3[1])


class SEENNet(nn.Module):
    """A :class:`~backends.specs.SEENSpec` compiled with a given activation (LIF neurons for an
    SNN, ReLU for the ANN twin); see the spec for the design and its sources.

    Contract: ``model(x, frames, recorder=None) -> per_step (B, T, K)``, ``x`` ``(B, T, 2, H, W)``
    event frames, ``frames`` ``(B, F, 1, H, W)`` intensity frames (first and last used). The
    per-step output is ``fc2``'s membrane potential (before reset) when spiking, else ``fc2``'s
    output; :func:`readout` averages it over time. ``time_folded`` is False.

    Activity layer names: ``frame.conv0``, ``frame.conv1_k{k}``, ``frame.att_k{k}.reduce`` /
    ``.expand``, ``frame.conv1_cat``, ``frame.conv2``, ``frame.conv3`` (spikes: ``h3``),
    ``event.conv1_k{k}``, ``event.conv1_cat`` (spikes: c1), ``event.conv2`` (c2), ``event.conv3``
    (c3), ``fc1`` (h1), ``fc2`` (output neuron spikes when spiking; the ANN's readout has none).
    """

    time_folded = False

    def __init__(
        self,
        spec: SEENSpec,
        input_shape: tuple[int, int, int, int],
        num_classes: int,
        make_act: MakeAct,
        *,
        spiking: bool,
    ) -> None:
        super().__init__()
        self.arch = spec
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.spiking = spiking
        _t, c, h, w = self.input_shape
        self.plan = seen_plan(spec, (h, w))
        c0, c1, c2 = spec.channels
        s1, s2, s3 = spec.strides
        red = c0 // spec.attention_reduction
        self.scales = tuple(spec.scales)
        self.conv0 = nn.Conv2d(2, c, 1)
        self.conv1 = nn.ModuleDict(
            {f"k{k}": nn.Conv2d(c, c0, k, stride=s1, padding=k // 2) for k in self.scales}
        )
        self.att = nn.ModuleDict(
            {
                f"k{k}": nn.Sequential(
                    nn.AdaptiveAvgPool2d((1, 1)),
                    nn.Conv2d(c0, red, 1),
                    nn.BatchNorm2d(red),
                    nn.ReLU(),
                    nn.Conv2d(red, 1, 1),
                )
                for k in self.scales
            }
        )
        self.conv1_cat = nn.Conv2d(len(self.scales) * c0, c0, 1)
        self.conv2 = nn.Conv2d(c0, c1, 3, stride=s2, padding=1)
        self.conv3 = nn.Conv2d(c1, c2, 3, stride=s3, padding=1)
        self.fc1 = nn.Linear(self.plan.fc1_in, spec.hidden)
        self.fc2 = nn.Linear(spec.hidden, num_classes)
        self.act_h3 = make_act("frame.conv3")
        self.act_c1 = make_act("event.conv1_cat")
        self.act_c2 = make_act("event.conv2")
        self.act_c3 = make_act("event.conv3")
        self.act_h1 = make_act("fc1")
        self.act_out = make_act("fc2") if spiking else None

    def _frame_branch(
        self, frames: torch.Tensor, rec: ActivityRecorder | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``frames`` ``(B, F, 1, H, W)`` -> ``(h3 (B, fc1_in), weights (B, S, 1, 1))``."""
        f = torch.cat([frames[:, 0], frames[:, -1]], dim=1)  # (B, 2, H, W)
        _record_ops(rec, "frame.conv0", "conv", f, self.conv0, 1)
        f = self.conv0(f)
        maps, logits = [], []
        for k in self.scales:
            conv = self.conv1[f"k{k}"]
            _record_ops(rec, f"frame.conv1_k{k}", "conv", f, conv, 1)
            m = conv(f)
            att = self.att[f"k{k}"]
            pooled = att[0](m)
            _record_ops(rec, f"frame.att_k{k}.reduce", "conv", pooled, att[1], 1)
            hidden = att[3](att[2](att[1](pooled)))
            _record_ops(rec, f"frame.att_k{k}.expand", "conv", hidden, att[4], 1)
            maps.append(m)
            logits.append(att[4](hidden))
        weights = torch.softmax(torch.cat(logits, dim=1), dim=1)  # (B, S, 1, 1)
        cat = torch.cat([weights[:, i : i + 1] * m for i, m in enumerate(maps)], dim=1)
        _record_ops(rec, "frame.conv1_cat", "conv", cat, self.conv1_cat, 1)
        f = self.conv1_cat(cat)
        _record_ops(rec, "frame.conv2", "conv", f, self.conv2, 1)
        f = self.conv2(f)
        _record_ops(rec, "frame.conv3", "conv", f, self.conv3, 1)
        f = self.conv3(f).flatten(1)
        h3 = self.act_h3(f, 1)  # one neuron step from rest (spiking), or ReLU
        _record_spikes(rec, "frame.conv3", "conv", h3, 1)
        return h3, weights

    def _copied_conv(self, x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
        """``conv``'s weight (no bias) on ``x``: the weight copy (detached unless the spec says)."""
        wt = conv.weight.detach() if self.arch.detach_event_convs else conv.weight
        return nn.functional.conv2d(x, wt, None, conv.stride, conv.padding)

    def _event_convs(
        self, x: torch.Tensor, weights: torch.Tensor, rec: ActivityRecorder | None
    ) -> torch.Tensor:
        """Event frames ``(B, T, 2, H, W)`` -> conv3 spikes ``(T*B, fc1_in)`` (time-major)."""
        b, t = x.shape[:2]
        e = x.transpose(0, 1).reshape(t * b, *x.shape[2:])
        wts = weights.repeat(t, 1, 1, 1)  # (T*B, S, 1, 1), time-major like e
        maps = []
        for i, k in enumerate(self.scales):
            conv = self.conv1[f"k{k}"]
            _record_ops(rec, f"event.conv1_k{k}", "conv", e, conv, t)
            maps.append(wts[:, i : i + 1] * self._copied_conv(e, conv))
        cat = torch.cat(maps, dim=1)
        _record_ops(rec, "event.conv1_cat", "conv", cat, self.conv1_cat, t)
        h = self.act_c1(self._copied_conv(cat, self.conv1_cat), t)
        _record_spikes(rec, "event.conv1_cat", "conv", h, t)
        _record_ops(rec, "event.conv2", "conv", h, self.conv2, t)
        h = self.act_c2(self._copied_conv(h, self.conv2), t)
        _record_spikes(rec, "event.conv2", "conv", h, t)
        _record_ops(rec, "event.conv3", "conv", h, self.conv3, t)
        h = self.act_c3(self._copied_conv(h, self.conv3), t)
        _record_spikes(rec, "event.conv3", "conv", h, t)
        return h.flatten(1)

    def forward(
        self, x: torch.Tensor, frames: torch.Tensor, recorder: ActivityRecorder | None = None,
        capture: dict | None = None,
    ) -> torch.Tensor:
        """Per-step readout ``(B, T, K)`` (see the class docstring); ``capture["features"]`` (if
        ``capture`` is given) receives ``fc2``'s input ``(T*B, hidden)``, time-major."""
        b, t = x.shape[:2]
        h3, weights = self._frame_branch(frames, recorder)
        if self.arch.detach_event_convs:
            # the reference detaches every event conv output (and with it the attention
            # weights' use there): nothing before fc1 gets a gradient through this branch
            with torch.no_grad():
                ev = self._event_convs(x, weights.detach(), recorder)
        else:
            ev = self._event_convs(x, weights, recorder)
        z = ev + h3.repeat(t, 1)  # reference: x = event_fea + h3_spike, every step
        _record_ops(recorder, "fc1", "linear", z, self.fc1, t)
        h = self.act_h1(self.fc1(z), t)
        _record_spikes(recorder, "fc1", "linear", h, t)
        if capture is not None:
            capture["features"] = h
        _record_ops(recorder, "fc2", "linear", h, self.fc2, t)
        cur = self.fc2(h)  # (T*B, K)
        if self.act_out is None:
            return cur.view(t, b, -1).transpose(0, 1)
        mem, state, spikes = [], None, []
        for step_cur in cur.view(t, b, -1):
            s, state = self.act_out.step(step_cur, state)
            mem.append(state)
            spikes.append(s)
        _record_spikes(recorder, "fc2", "linear", torch.cat(spikes), t)
        return torch.stack(mem, dim=1)

    def readout_module(self) -> nn.Linear:
        """The readout ``fc2``."""
        return self.fc2

    def apply_readout(self, features: torch.Tensor) -> torch.Tensor:
        """``fc2`` on time-averaged features ``(B, hidden)`` -> ``(B, K)``. Equal to the logits
        for the ANN twin (affine readout); for the spiking model the logits are the mean
        membrane of the output neuron, which this (its mean input current) approximates."""
        return self.fc2(features)


# ---------------------------------------------------------------------------------------------
# building and running
# ---------------------------------------------------------------------------------------------

CompiledModel = PerStepConvNet | ResNet | SEENNet


def check_seen_build_args(
    arch: SEENSpec, input_shape: Any, num_classes: Any
) -> tuple[int, int, int, int]:
    """Validate ``build`` arguments for a :class:`~backends.specs.SEENSpec` (as
    :func:`check_build_args` does for the other specs: ``(T, 2, H, W)`` must match the spec's
    ``n_time_bins`` and ``input_size``).

    Raises:
        TypeError: ``input_shape`` not 4 ints or ``num_classes`` not an int.
        ValueError: a mismatch or bad value (see also :func:`seen_plan`, :func:`check_neuron`).
    """
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(f"input_shape: expected (T, 2, H, W), got {input_shape!r}") from None
    if len(shape) != 4 or not all(_is_int(v) for v in shape):
        raise TypeError(f"input_shape: expected 4 ints (T, C, H, W), got {input_shape!r}")
    check_input_shape(shape)
    if shape[0] != arch.n_time_bins or tuple(shape[2:]) != tuple(arch.input_size):
        raise ValueError(
            f"input_shape {shape} does not match architecture {arch.name!r} "
            f"(n_time_bins={arch.n_time_bins}, input_size={tuple(arch.input_size)})"
        )
    if not _is_int(num_classes):
        raise TypeError(f"num_classes: expected an int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"num_classes: expected >= 1, got {num_classes}")
    check_neuron(arch.neuron)
    seen_plan(arch, (shape[2], shape[3]))
    return shape  # type: ignore[return-value]


def build_model(
    arch: ConvNetSpec | ResNetSpec | SEENSpec,
    input_shape: Any,
    num_classes: Any,
    make_act: MakeAct,
    *,
    spiking: bool,
) -> nn.Module:
    """Compile ``arch`` with the activation ``make_act``.

    Spiking models run per step (and a ResNetSpec becomes a SEW-ResNet); ANN models follow the
    spec's ``ann_input`` (``"per_step"`` or ``"fold"``). A SEENSpec becomes a :class:`SEENNet`.

    Raises:
        TypeError, ValueError: see :func:`check_build_args`, :func:`convnet_plan`,
            :func:`resnet_plan`, :func:`check_seen_build_args`.
    """
    if isinstance(arch, SEENSpec):
        shape = check_seen_build_args(arch, input_shape, num_classes)
        model: nn.Module = SEENNet(arch, shape, num_classes, make_act, spiking=spiking)
        log.debug("built SEENNet for %s: %d parameters", arch.name,
                  sum(p.numel() for p in model.parameters()))
        return model
    shape = check_build_args(arch, input_shape, num_classes)
    fold = (not spiking) and arch.ann_input == "fold"
    if isinstance(arch, ConvNetSpec):
        model = PerStepConvNet(arch, shape, num_classes, make_act, fold=fold)
    else:
        model = ResNet(arch, shape, num_classes, make_act, sew=spiking, fold=fold)
    log.debug(
        "built %s for %s, %d classes: %d parameters",
        type(model).__name__,
        arch.name,
        num_classes,
        sum(p.numel() for p in model.parameters()),
    )
    return model


def check_forward_args(model: Any, x: Any, frames: Any = None) -> None:
    """Validate the arguments of ``Backend.forward``.

    Raises:
        TypeError: ``model`` was not compiled by a torch backend here, or ``x`` / ``frames`` is
            not a float32 tensor.
        ValueError: ``x`` is not ``(B, T, 2, H, W)`` with ``B >= 1`` and ``(T, 2, H, W)`` the
            model's ``input_shape``; ``frames`` given to an event-only model, missing for a
            model whose spec takes frames, or not ``(B, F, 1, H, W)`` with ``F >= 1``.
    """
    if not isinstance(model, (PerStepConvNet, ResNet, SEENNet)):
        raise TypeError(
            f"model: expected a model built by a torch backend (PerStepConvNet or ResNet), "
            f"got {type(model).__name__}"
        )
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype != torch.float32:
        raise TypeError(f"x: expected dtype torch.float32, got {x.dtype}")
    if x.dim() != 5 or tuple(x.shape[1:]) != model.input_shape or x.shape[0] < 1:
        raise ValueError(
            f"x: expected shape (B, {', '.join(map(str, model.input_shape))}) with B >= 1, "
            f"got {tuple(x.shape)}"
        )
    takes_frames = "frames" in getattr(model.arch, "inputs", ("events",))
    if frames is None:
        if takes_frames:
            raise ValueError(
                f"frames: architecture {model.arch.name!r} takes intensity frames "
                "(B, F, 1, H, W); pass frames="
            )
        return
    if not takes_frames:
        raise ValueError(
            f"frames: architecture {model.arch.name!r} takes events only; got frames"
        )
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"frames: expected a torch.Tensor, got {type(frames).__name__}")
    if frames.dtype != torch.float32:
        raise TypeError(f"frames: expected dtype torch.float32, got {frames.dtype}")
    h, w = model.input_shape[2:]
    if (
        frames.dim() != 5
        or frames.shape[0] != x.shape[0]
        or frames.shape[1] < 1
        or tuple(frames.shape[2:]) != (1, h, w)
    ):
        raise ValueError(
            f"frames: expected shape ({x.shape[0]}, F, 1, {h}, {w}) with F >= 1, "
            f"got {tuple(frames.shape)}"
        )


def readout(per_step: torch.Tensor, time_folded: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits from the readout current: ``logits = mean_t I_out[t]`` and the cumulative readout
    ``logits_per_step[:, t] = mean_{s <= t} I_out[s]`` (module docstring of
    :mod:`backends.specs`).

    Args:
        per_step: ``(B, T', K)``.
        time_folded: the model has no time axis (``T' = 1``; ``logits_per_step`` is None).

    Returns:
        ``(logits (B, K), logits_per_step (B, T, K) or None)``.
    """
    if time_folded:
        return per_step[:, 0], None
    steps = per_step.shape[1]
    denom = torch.arange(1, steps + 1, device=per_step.device, dtype=per_step.dtype).view(1, -1, 1)
    cumulative = per_step.cumsum(dim=1) / denom
    return cumulative[:, -1], cumulative


def run_forward(
    model: nn.Module,
    x: torch.Tensor,
    *,
    frames: torch.Tensor | None = None,
    record_activity: bool = False,
) -> ForwardOutput:
    """``Backend.forward`` for the models compiled here.

    Args:
        model: a :class:`PerStepConvNet`, :class:`ResNet` or :class:`SEENNet`.
        x: ``(B, T, 2, H, W)`` float32, on the model's device.
        frames: ``(B, F, 1, H, W)`` float32 intensity frames in [0, 1], required by (and only
            by) models whose spec's ``inputs`` include ``"frames"`` (:class:`SEENNet`).
        record_activity: also count spikes / non-zero activations and synaptic operations per
            layer (costs an extra binary convolution per layer and time step).

    Returns:
        :class:`~backends.base.ForwardOutput`; gradients flow through ``logits`` and
        ``features`` (the readout's input averaged over time, ``(B, F)``).

    Raises:
        TypeError, ValueError: see :func:`check_forward_args`.
    """
    check_forward_args(model, x, frames)
    rec = ActivityRecorder() if record_activity else None
    cap: dict[str, torch.Tensor] = {}
    if frames is not None:
        per_step = model(x, frames, rec, capture=cap)
    else:
        per_step = model(x, rec, capture=cap)
    logits, per_step_logits = readout(per_step, model.time_folded)
    return ForwardOutput(
        logits=logits,
        logits_per_step=per_step_logits,
        activity=rec.layers() if rec is not None else [],
        batch_size=x.shape[0],
        features=time_mean_features(cap.get("features"), x.shape[0]),
    )


def time_mean_features(h: torch.Tensor | None, batch: int) -> torch.Tensor | None:
    """The readout's time-major input ``(T'*B, F)`` averaged over its ``T'`` steps: ``(B, F)``
    (``None`` stays ``None``)."""
    if h is None:
        return None
    return h.reshape(-1, batch, h.shape[-1]).mean(dim=0)


def parameter_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """``{parameter name: shape}`` of ``model`` (for cross-backend comparisons)."""
    return {n: tuple(p.shape) for n, p in model.named_parameters()}
