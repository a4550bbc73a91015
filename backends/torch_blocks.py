"""Public names of the torch building blocks, re-exported from :mod:`backends.blocks` for users
and plugins that import them from here (``from backends.torch_blocks import SurrogateSpike``,
``canonical_neuron_reference``, ``build_model``, ...); a pickled :class:`~backends.blocks.neurons.SurrogateSpike` made
under this path also loads through it. The code lives in :mod:`backends.blocks` (one module per
concern: neurons, plans, activations, convnet, resnet, seen, build, forward); the suite imports
it from there."""

from __future__ import annotations

from backends.blocks.activations import MakeAct, ReLUAct, TimeActivation
from backends.blocks.build import CompiledModel, build_model, check_seen_build_args
from backends.blocks.convnet import ConvUnit, DenseUnit, PerStepConvNet
from backends.blocks.forward import (
    check_forward_args,
    parameter_shapes,
    readout,
    run_forward,
    time_mean_features,
)
from backends.blocks.neurons import (
    ATanSpike,
    FastSigmoidSpike,
    RectSpike,
    SurrogateSpike,
    canonical_neuron_reference,
    check_neuron,
    surrogate_for,
)
from backends.blocks.plans import (
    MAX_IN_CHANNELS,
    BlockPlan,
    ConvPlan,
    DensePlan,
    arch_layer_names,
    check_build_args,
    check_input_shape,
    conv_output_size,
    convnet_plan,
    resnet_plan,
)
from backends.blocks.resnet import BasicBlock, ResNet
from backends.blocks.seen import SEENNet, SEENPlan, seen_plan

__all__ = [
    "ATanSpike", "BasicBlock", "BlockPlan", "CompiledModel", "ConvPlan", "ConvUnit", "DensePlan",
    "DenseUnit", "FastSigmoidSpike", "MAX_IN_CHANNELS", "MakeAct", "PerStepConvNet", "ReLUAct",
    "RectSpike", "ResNet", "SEENNet", "SEENPlan", "SurrogateSpike", "TimeActivation",
    "arch_layer_names", "build_model", "canonical_neuron_reference", "check_build_args",
    "check_forward_args", "check_input_shape", "check_neuron", "check_seen_build_args",
    "conv_output_size", "convnet_plan", "parameter_shapes", "readout", "resnet_plan",
    "run_forward", "seen_plan", "surrogate_for", "time_mean_features",
]
