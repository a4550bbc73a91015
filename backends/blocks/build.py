"""Compiling a spec into a model: :func:`build_model` turns a ConvNetSpec, ResNetSpec or SEENSpec
into :class:`~backends.blocks.convnet.PerStepConvNet`, :class:`~backends.blocks.resnet.ResNet` or
:class:`~backends.blocks.seen.SEENNet` with the adapter's activation."""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from backends.blocks.activations import MakeAct
from backends.blocks.convnet import PerStepConvNet
from backends.blocks.neurons import check_neuron
from backends.blocks.plans import _is_int, check_build_args, check_input_shape
from backends.blocks.resnet import ResNet
from backends.blocks.seen import SEENNet, seen_plan
from backends.specs import ConvNetSpec, ResNetSpec, SEENSpec

log = logging.getLogger(__name__)


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
