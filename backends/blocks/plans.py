"""Argument checks and shape planning of the compiled models: :func:`check_input_shape` and
:func:`check_build_args` validate ``build``'s arguments, :func:`convnet_plan` and
:func:`resnet_plan` work out every layer's channels and spatial size, and
:func:`arch_layer_names` gives the layer-name scheme every backend reports activity under."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.blocks.neurons import check_neuron
from backends.specs import ConvNetSpec, ResNetSpec


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
