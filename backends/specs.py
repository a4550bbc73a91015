"""Architecture specs: declared once here, compiled by every backend.

A spec is plain data (frozen dataclasses). Each backend adapter turns it into a ``torch.nn.Module``
with its own framework's layers and neurons; tests check that every backend's compiled model has the
same layer shapes and parameter count.

Canonical neuron (the reference dynamics every backend maps to; discrete time, one step per bin):

    v[t] = beta * v[t-1] + I[t]            (IF: beta = 1)
    s[t] = H(v[t] - threshold)             (Heaviside; surrogate gradient in the backward pass)
    v[t] <- 0 if s[t] (reset="zero")  or  v[t] - threshold * s[t] (reset="subtract")

where ``I[t]`` is the synaptic input of step ``t`` (the output of the layer's conv/linear, after
batch norm if any). The output layer has no neuron: its logits are the mean over time of its input
current (``logits = mean_t I_out[t]``), and the readout after ``t`` steps is the mean over the first
``t`` steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from datasets.common import InputError, Registry


@dataclass(frozen=True)
class NeuronSpec:
    """Spiking neuron parameters (see the module docstring for the dynamics).

    Attributes:
        model: ``"lif"`` (leaky) or ``"if"`` (non-leaky, beta = 1).
        threshold: firing threshold (dimensionless, in units of the synaptic input).
        beta: membrane decay factor per time step, in (0, 1]; ignored (taken as 1) for ``"if"``.
        reset: ``"zero"`` (hard reset) or ``"subtract"`` (soft reset).
        surrogate: surrogate-gradient family, ``"atan"`` (Fang et al., ICCV 2021, spikingjelly's
            ``ATan``: dS/dv = alpha / 2 / (1 + (pi/2 * alpha * v)^2)), ``"fast_sigmoid"``
            (Zenke & Ganguli, 2018) or ``"rect"`` (rectangular window, dS/dv = 1 where
            ``|v - threshold| < alpha``, else 0: SEEN's ``ActFun`` with ``alpha = lens``; Wu et
            al., "Spatio-temporal backpropagation", Front. Neurosci. 2018).
        surrogate_alpha: the surrogate's slope parameter.
    """

    model: Literal["lif", "if"] = "lif"
    threshold: float = 1.0
    beta: float = 0.5
    reset: Literal["zero", "subtract"] = "zero"
    surrogate: Literal["atan", "fast_sigmoid", "rect"] = "atan"
    surrogate_alpha: float = 2.0

    @property
    def decay(self) -> float:
        """Effective beta: 1.0 for IF neurons."""
        return 1.0 if self.model == "if" else self.beta


@dataclass(frozen=True)
class ConvLayer:
    """Conv2d (no bias) -> [BatchNorm2d] -> neuron -> [MaxPool2d(pool)], applied per time step."""

    name: str
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    batch_norm: bool = False
    pool: int | None = None


@dataclass(frozen=True)
class DenseLayer:
    """Linear (no bias) -> neuron; the last DenseLayer of a spec is the readout (no neuron)."""

    name: str
    out_features: int


@dataclass(frozen=True)
class ConvNetSpec:
    """A plain conv net: conv layers, flatten, dense layers, readout.

    Attributes:
        name: registry name.
        input_size: ``(H, W)`` of the binned frames the model takes.
        n_time_bins: ``T``.
        convs, denses: the layers in order; ``denses[-1]`` is the readout (``out_features`` is
            replaced by the dataset's number of classes when compiled).
        neuron: the neuron of every hidden layer.
        ann_input: how the ANN twin sees time: ``"per_step"`` runs the same layers on each time
            step with ReLU and averages the logits over time (same parameters as the SNN);
            ``"fold"`` folds the T frames into 2T input channels (Spiking-FER's ANN mode).
    """

    name: str
    input_size: tuple[int, int]
    n_time_bins: int
    convs: tuple[ConvLayer, ...]
    denses: tuple[DenseLayer, ...]
    neuron: NeuronSpec = field(default_factory=NeuronSpec)
    ann_input: Literal["per_step", "fold"] = "per_step"
    inputs: ClassVar[tuple[str, ...]] = ("events",)


@dataclass(frozen=True)
class ResNetSpec:
    """A spike-element-wise (SEW) ResNet and its ANN twin (Fang et al., "Deep Residual Learning in
    Spiking Neural Networks", NeurIPS 2021, Fig. 1 and Table 1; ResNet-18 layout of He et al., CVPR
    2016, Table 1).

    Stem: Conv(2 -> stem_channels, stem_kernel, stride stem_stride, padding stem_kernel // 2, no
    bias) -> BN -> neuron -> MaxPool(3, 2, padding 1). Stages: ``blocks[i]`` BasicBlocks with
    ``channels[i]`` channels, the first of stages 2..4 with stride 2. SEW BasicBlock:
    conv3x3-BN-neuron-conv3x3-BN-neuron, then ``connect`` (ADD) with the identity, or with
    conv1x1(stride)-BN-neuron when the shape changes. Head: global average pool -> flatten ->
    Linear(channels[-1] -> num_classes) readout, averaged over time.
    The ANN twin (``ann_input="fold"``) uses ReLU for the neurons, the standard residual addition
    (``relu(F(x) + x)``), and a stem conv taking ``2 * n_time_bins`` channels.
    """

    name: str
    input_size: tuple[int, int]
    n_time_bins: int
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    channels: tuple[int, ...] = (64, 128, 256, 512)
    stem_channels: int = 64
    stem_kernel: int = 7
    stem_stride: int = 2
    connect: Literal["ADD"] = "ADD"
    neuron: NeuronSpec = field(default_factory=lambda: NeuronSpec(model="if", threshold=1.0))
    ann_input: Literal["per_step", "fold"] = "fold"
    inputs: ClassVar[tuple[str, ...]] = ("events",)


@dataclass(frozen=True)
class SEENSpec:
    """SEEN, the two-input spiking network of Zhang et al., "In the Blink of an Eye: Event-based
    Emotion Recognition" (SIGGRAPH 2023, Sec. 4 and Fig. 3), as in the authors' code
    (github.com/zhanghaiwei1234/Single-eye-Emotion-Recognition, ``code/model_snn_cnn.py``,
    class ``SNNCNN3``; constants from ``code/opts.py``).

    Inputs (``inputs = ("events", "frames")``): event frames ``(B, T, 2, H, W)`` and intensity
    frames ``(B, F, 1, H, W)`` in [0, 1]; the frame branch uses the first and the last frame.

    Frame branch (non-spiking except its last neuron): ``conv0`` 1x1 (2 -> 2, bias) on the first
    and last frame stacked as channels; three parallel convs ``conv1_k{k}`` for ``k`` in
    ``scales`` (2 -> channels[0], stride strides[0], padding k // 2, bias); an attention MLP per
    scale (``att_k{k}``: global average pool -> 1x1 conv C -> C // attention_reduction (bias) ->
    BatchNorm -> ReLU -> 1x1 conv -> 1 (bias)); a softmax over the scales gives per-sample weights
    ``w_k``; ``conv1_cat`` 1x1 (len(scales) * C -> C, bias) on the concatenated weighted maps;
    ``conv2`` 3x3 (channels[0] -> channels[1], stride strides[1], padding 1, bias); ``conv3``
    3x3 (channels[1] -> channels[2], stride strides[2], padding 1, bias); flatten; one neuron
    step from rest (``h3``: spikes where the feature exceeds the threshold). There is no
    nonlinearity between the frame convs (as in the reference).

    Event branch, per time step ``t`` (weight copy, paper Sec. 4.2 "weight-copy scheme"): the
    frame branch's ``conv1_k{k}``, ``conv1_cat``, ``conv2``, ``conv3`` weights (without their
    biases, as the reference's ``F.conv2d(..., bias=None)``) on the event frame, the scale maps
    weighted by the frame branch's ``w_k``, LIF neurons after ``conv1_cat``, ``conv2`` and
    ``conv3``; then ``fc1`` (Linear, bias) on ``c3_spikes[t] + h3`` -> LIF -> ``fc2`` (Linear,
    bias, K outputs) -> LIF; logits = mean over ``T`` of ``fc2``'s membrane potential (before
    reset), i.e. ``h2_summem / time_window`` in the reference.

    With ``detach_event_convs=True`` (the reference: ``weight.data`` and ``.detach()``) the copied
    weights get no gradient from the event branch: the convs learn only through the frame
    branch's ``h3``; ``fc1``/``fc2`` learn from both. ``False`` shares the weights with gradients
    from both branches (an option, not the paper's).

    Neurons (``neuron``): the reference's ``mem_update``: ``v = decay * v * (1 - s) + I``,
    ``s = (v > thresh)``, ``decay = 0.2``, ``thresh = 0.3``, rectangular surrogate of half-width
    ``lens = 0.5`` with height 1. Mapped to the canonical neuron (LIF, ``beta = 0.2``,
    ``threshold = 0.3``, zero reset, ``surrogate = "rect"``, ``surrogate_alpha = 0.5``). One
    difference: the canonical neuron fires at ``v == threshold`` (``>=``), the reference does not
    (``>``); it matters only on exact equality.

    Choices where the paper/code are ambiguous or do not fit this suite:

    * Channels: the reference's event and frame JPGs are loaded as RGB (3 channels; the frames
      are grey replicated), ``conv0`` maps 6 -> 3 so that ``conv1`` takes 3 channels like the
      event frames. Here events have 2 polarity channels and frames 1 intensity channel, so
      ``conv0`` maps 2 (first, last frame) -> 2 and ``conv1`` takes 2 channels. In general
      ``conv0`` maps 2 -> ``C`` and ``conv1`` takes ``C``, the dataset's event channels
      (``input_shape[1]``: 2, or 1 for a polarity-free dataset such as NEFER).
    * Size: the reference resizes to 90x90 (``--sample_size 90``) with T = 4
      (``--sample_duration 4``); ``input_size = (90, 90)``, ``n_time_bins = 4``, giving maps of
      45x45, 23x23 and 6x6 and ``fc1`` in-features 6 * 6 * 512 = 18,432.
    * Initialisation: PyTorch defaults, as the reference.
    * ANN twin (``ann`` backend): every LIF becomes a ReLU (``h3``, ``c1..c3``, ``h1``) and the
      output is the mean over T of ``fc2``'s output (no neuron).
    * Normalisation of inputs (the reference normalises by dataset mean/std) is left to the
      data pipeline.

    Parameters (with biases), for ``C = channels``, ``S = scales``, ``r = attention_reduction``,
    hidden ``N``, map ``h x w`` after conv3 and K classes: conv0 2*2 + 2; conv1_k: sum_k
    (2 k^2 C0 + C0); att: len(S) * (C0 (C0/r) + C0/r + 2 C0/r + C0/r + 1); conv1_cat
    len(S) C0 C0 + C0; conv2 9 C0 C1 + C1; conv3 9 C1 C2 + C2; fc1 C2 h w N + N; fc2 N K + K.
    For the default spec and K = 7: 6,073,328 (checked by tests/test_seen.py).
    """

    name: str
    input_size: tuple[int, int] = (90, 90)
    n_time_bins: int = 4
    channels: tuple[int, int, int] = (64, 256, 512)
    scales: tuple[int, ...] = (3, 5, 7)
    strides: tuple[int, int, int] = (2, 2, 4)
    attention_reduction: int = 8
    hidden: int = 256
    detach_event_convs: bool = True
    neuron: NeuronSpec = field(
        default_factory=lambda: NeuronSpec(
            model="lif",
            beta=0.2,
            threshold=0.3,
            reset="zero",
            surrogate="rect",
            surrogate_alpha=0.5,
        )
    )
    ann_input: Literal["per_step"] = "per_step"
    inputs: ClassVar[tuple[str, ...]] = ("events", "frames")


ArchSpec = ConvNetSpec | ResNetSpec | SEENSpec


def arch_inputs(arch: object) -> tuple[str, ...]:
    """What a spec's model takes: ``("events",)`` or ``("events", "frames")`` (the spec's
    ``inputs``; specs without it take events only)."""
    return tuple(getattr(arch, "inputs", ("events",)))

class NotASpecError(InputError, TypeError):
    """An architecture factory returned something that is neither a spec nor a model card."""


ARCHS: Registry[Callable[[], ArchSpec]] = Registry(
    "architecture", package="backends.native.zoo", entry_point_group="neurofer_bench.archs"
)
"""Registry: architecture name -> zero-argument spec factory. The built-in specs register below;
the frameworks' model zoos (native models, :mod:`backends.native.zoo`) register on the first
lookup; third-party packages add theirs through the ``neurofer_bench.archs`` entry-point group."""


def register_arch(name: str) -> Callable[[Callable[[], ArchSpec]], Callable[[], ArchSpec]]:
    """Decorator registering a zero-argument spec factory under ``name``.

    Raises:
        ValueError: ``name`` is already registered.
    """
    return ARCHS.register(name)


def arch_names(pattern: str = "*") -> list[str]:
    """Registered architecture names matching the shell-style wildcard ``pattern``, sorted."""
    return sorted(ARCHS.names(pattern))


def get_arch(name: str) -> ArchSpec:
    """Return the spec registered as ``name``.

    Raises:
        UnknownNameError: unknown name (lists known names and close matches).
        TypeError: the factory registered under ``name`` returned no spec and no model card
            (e.g. a ``torch.nn.Module``, which must be registered with
            ``backends.register_model`` instead); the message says so.
    """
    arch = ARCHS.get(name)()
    if not hasattr(arch, "n_time_bins") or not hasattr(arch, "input_size"):
        raise NotASpecError(
            f"architecture {name!r} (registered by {ARCHS.module_of(name)}) returned a "
            f"{type(arch).__name__}, not a spec or a model card; register a torch.nn.Module with "
            "backends.register_model(name, framework=..., n_time_bins=..., input_size=...)")
    return arch


@register_arch("tiny")
def tiny() -> ConvNetSpec:
    """Small conv SNN for CI and the default CPU benchmark: 48x48 input, T = 8.

    conv1 2->16 k5 p2, pool 2 (24x24); conv2 16->32 k3 p1, pool 2 (12x12); conv3 32->32 k3 p1,
    pool 2 (6x6); fc 1152->K readout (logits = mean over time of its current). Batch norm after
    each conv (per time step, statistics over batch and time, as Spiking-FER's SEW-ResNet does).
    LIF, beta 0.5, threshold 1, hard reset, ATan surrogate.

    Parameters for K classes (no biases): conv 800 + 4,608 + 9,216, batch norm 2 x (16 + 32 + 32)
    = 160, fc 1,152 K: 22,848 for K = 7.

    Why one dense layer: with a hidden LIF layer fc1 (1152->128) the network trained on the
    built-in dataset stayed near chance for a CPU-sized budget (fc1 fired at ~3% and starved the
    readout of gradient), while this readout straight from conv3's spikes learns in ~20 epochs;
    without batch norm the convs fell silent (conv3 fired 0% at initialisation).
    """
    return ConvNetSpec(
        name="tiny",
        input_size=(48, 48),
        n_time_bins=8,
        convs=(
            ConvLayer("conv1", 16, 5, padding=2, batch_norm=True, pool=2),
            ConvLayer("conv2", 32, 3, padding=1, batch_norm=True, pool=2),
            ConvLayer("conv3", 32, 3, padding=1, batch_norm=True, pool=2),
        ),
        denses=(DenseLayer("fc", 0),),
        neuron=NeuronSpec(model="lif", beta=0.5, threshold=1.0, reset="zero", surrogate="atan"),
        ann_input="per_step",
    )


@register_arch("tiny_nir")
def tiny_nir() -> ConvNetSpec:
    """``tiny`` in a form NIR (the Neuromorphic Intermediate Representation, nir 1.0.8) can
    express, so that a model trained in one framework runs in another
    (:mod:`backends.nir_exchange`): 48x48 input, T = 8.

    conv1 2->16 k5 stride 2 p2 (24x24); conv2 16->32 k3 stride 2 p1 (12x12); conv3 32->32 k3
    stride 2 p1 (6x6); fc 1152->K readout (logits = mean over time of its current). LIF, beta
    0.5, threshold 0.25, hard (zero) reset, ATan surrogate. The same maps as ``tiny``, with
    three changes, each for a node NIR lacks or a reader does not read:

    * no max pooling (NIR has no max-pool node): each stride-1 conv + 2x2 pool of ``tiny``
      becomes a stride-2 conv. Sum or average pooling are NIR nodes, but the suite's
      ``ConvLayer.pool`` is a max pool in every backend, and the readers differ on them: norse
      1.1.0's reader builds no module for ``AvgPool2d`` (and wires the next node to the graph's
      input), snntorch's and spikingjelly's read ``SumPool2d`` only through nirtorch's default
      map (``LPPool2d(norm_type=1)``, no padding); ``Conv2d`` is read alike by all four;
    * no batch norm (NIR has no batch-norm node; folding it gives biases, and the suite's
      specs have none);
    * threshold 0.25 instead of 1: without batch norm the deeper layers of ``tiny``'s
      threshold stay silent at initialisation (measured on event counts 0..3 at 48x48, seeds
      0..2: conv3 fires 0 % at threshold 1, 0.2-1 % at 0.5, 12-24 % at 0.25). 0.25 is on
      lava-dl's threshold grid (1/64).

    Parameters for K classes (no biases): conv 800 + 4,608 + 9,216, fc 1,152 K: 22,688 for
    K = 7.
    """
    return ConvNetSpec(
        name="tiny_nir",
        input_size=(48, 48),
        n_time_bins=8,
        convs=(
            ConvLayer("conv1", 16, 5, stride=2, padding=2),
            ConvLayer("conv2", 32, 3, stride=2, padding=1),
            ConvLayer("conv3", 32, 3, stride=2, padding=1),
        ),
        denses=(DenseLayer("fc", 0),),
        neuron=NeuronSpec(model="lif", beta=0.5, threshold=0.25, reset="zero", surrogate="atan"),
        ann_input="per_step",
    )


@register_arch("tiny_iaf")
def tiny_iaf() -> ConvNetSpec:
    """``tiny_nir`` with non-leaky integrate-and-fire neurons, made to deploy on DYNAP-CNN /
    Speck (:mod:`backends.targets`): 48x48 input, T = 8.

    The same layers as ``tiny_nir`` (conv1 2->16 k5 stride 2 p2 (24x24); conv2 16->32 k3
    stride 2 p1 (12x12); conv3 32->32 k3 stride 2 p1 (6x6); fc 1152->K readout), no batch norm,
    no pooling, threshold 0.25, hard (zero) reset, ATan surrogate; the neuron is IF (beta 1),
    the only neuron sinabs 3.1.3 maps to DYNAP-CNN (``DynapcnnLayer`` takes ``IAFSqueeze``
    only). ``tiny_nir`` itself (LIF, zero reset, threshold 0.25 on lava-dl's 1/64 grid) is the
    architecture made for Loihi 2 (CUBA LIF with current decay 1 and voltage decay 1 - beta).

    Memory on DYNAP-CNN (sinabs' ``DynapcnnLayer.memory_summary``), kernel / neuron words:
    conv1 2 * 2^(5 + 4) = 1,024 / 16 * 2^(5 + 5) = 16,384; conv2 16 * 2^(4 + 5) = 8,192 /
    32 * 2^(4 + 4) = 8,192; conv3 32 * 2^(4 + 5) = 16,384 / 32 * 2^(3 + 3) = 2,048; fc as a 6x6
    convolution, K = 7: 32 * 2^(6 + 3) = 16,384 / 7: four of the nine cores.

    Parameters for K classes (no biases): 22,688 for K = 7, as ``tiny_nir``.
    """
    return ConvNetSpec(
        name="tiny_iaf",
        input_size=(48, 48),
        n_time_bins=8,
        convs=(
            ConvLayer("conv1", 16, 5, stride=2, padding=2),
            ConvLayer("conv2", 32, 3, stride=2, padding=1),
            ConvLayer("conv3", 32, 3, stride=2, padding=1),
        ),
        denses=(DenseLayer("fc", 0),),
        neuron=NeuronSpec(model="if", beta=1.0, threshold=0.25, reset="zero", surrogate="atan"),
        ann_input="per_step",
    )


@register_arch("sew_resnet18")
def sew_resnet18() -> ResNetSpec:
    """Spiking-FER's model (Barchid et al., CBMI 2023): SEW-ResNet-18, ADD connection, IF neurons
    (threshold 1, hard reset, ATan surrogate), T = 6, 128x128 input, 2 input channels."""
    return ResNetSpec(name="sew_resnet18", input_size=(128, 128), n_time_bins=6)


@register_arch("seen")
def seen() -> SEENSpec:
    """SEEN (Zhang et al., SIGGRAPH 2023) at the reference's size: 90x90, T = 4, first and last
    intensity frames; see :class:`SEENSpec`."""
    return SEENSpec(name="seen")
