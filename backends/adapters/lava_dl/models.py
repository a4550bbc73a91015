"""The networks compiled into SLAYER blocks: the plain ConvNet and the SEW-ResNet, run over time
with per-layer activity and spikes."""

from __future__ import annotations

import abc
import functools
import types
from typing import Any

import torch
import torch.nn.functional as F

from backends.activity import ActivityRecorder
from backends.adapters.lava_dl.neurons import (
    CubaMapping,
    FloatWeights,
    LavaDLOptions,
    _ConnectionGeometry,
    _prepare_neuron,
    cuba_mapping,
)
from backends.blocks.plans import convnet_plan, resnet_plan
from backends.specs import ConvNetSpec, ResNetSpec


class LavaDLNet(torch.nn.Module, abc.ABC):
    """Common part of the compiled SLAYER models.

    Attributes:
        arch_name: the spec's name.
        input_shape: ``(T, 2, H, W)`` the model was built for.
        num_classes: ``K``.
        unit_names: spec layer names in execution order (the readout last).
        unit_kinds: ``{name: "conv" | "linear"}``.
        mapping: the :class:`CubaMapping` of the hidden neurons.
        options: the :class:`LavaDLOptions` it was built with.
    """

    arch_name: str
    input_shape: tuple[int, int, int, int]
    num_classes: int
    unit_names: tuple[str, ...]
    unit_kinds: dict[str, str]
    mapping: CubaMapping
    options: LavaDLOptions

    def unit(self, name: str) -> torch.nn.Module:
        """The SLAYER block of spec layer ``name``.

        Raises:
            KeyError: unknown layer name.
        """
        if name not in self.unit_kinds:
            raise KeyError(f"layer {name!r} is not in {self.arch_name}: {list(self.unit_names)}")
        return self.get_submodule(name)

    def _run_unit(
        self,
        name: str,
        h: torch.Tensor,
        rec: ActivityRecorder | None,
        spikes: dict[str, torch.Tensor] | None,
        capture: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Run block ``name`` on ``h`` (``(N, C, H, W, T)`` or ``(N, F, T)``), recording the
        synaptic operations on its input and the spikes of its output; the readout's input goes
        to ``capture["features"]`` (``(N, F, T)``) when ``capture`` is given."""
        block = self.get_submodule(name)
        kind = self.unit_kinds[name]
        if capture is not None and name == self.unit_names[-1]:
            capture["features"] = h
        if rec is not None:
            geom = _ConnectionGeometry(block.synapse, kind)
            for t in range(h.shape[-1]):
                rec.ops(name, kind, h[..., t], geom)
        out = block(h)
        if rec is not None and name != self.unit_names[-1]:
            rec.spikes(name, kind, out, steps=out.shape[-1])
        if spikes is not None and name != self.unit_names[-1]:
            spikes[name] = out.detach().movedim(-1, 1)
        return out

    @abc.abstractmethod
    def run(
        self,
        x: torch.Tensor,
        recorder: ActivityRecorder | None = None,
        spikes: dict[str, torch.Tensor] | None = None,
        capture: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Run on SLAYER-layout input ``x`` ``(N, 2, H, W, T)``; return the readout current
        ``(N, K, T)``. ``recorder`` collects activity; ``spikes`` (if given) receives each hidden
        layer's spike tensor in boundary layout ``(N, T, C, H, W)`` / ``(N, T, F)``; ``capture``
        (if given) receives the readout's input ``(N, F, T)`` as ``"features"``."""

    def apply_readout(self, features: torch.Tensor) -> torch.Tensor:
        """The readout block on time-averaged features ``(N, F)`` -> ``(N, K)``: the block runs on
        a one-step input ``(N, F, 1)``. The readout is a synapse without neuron dynamics
        (``cuba.Affine(dynamics=False)``), linear in its input, so on
        :attr:`ForwardOutput.features <backends.base.ForwardOutput.features>` this equals the
        logits (the mean over time of the readout current)."""
        block = self.get_submodule(self.unit_names[-1])
        return block(features.unsqueeze(-1))[..., 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(N, 2, H, W, T)`` (SLAYER layout) -> readout current ``(N, K, T)``."""
        return self.run(x)


class SlayerConvNet(LavaDLNet):
    """A :class:`ConvNetSpec` compiled to SLAYER CUBA blocks (see docs/backends.md, "The lava-dl adapter").

    Submodules are named after the spec layers (tiny: ``conv1``, ``conv2``, ``conv3``, ``fc``);
    each is a ``slayer.block.cuba`` block with ``.synapse`` and ``.neuron``.
    """

    def __init__(
        self,
        slayer: types.ModuleType,
        spec: ConvNetSpec,
        input_shape: tuple[int, int, int, int],
        num_classes: int,
        options: LavaDLOptions,
    ) -> None:
        super().__init__()
        self.arch_name = spec.name
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.options = options
        self.mapping = cuba_mapping(spec.neuron, options.scale)
        if not spec.denses:
            raise ValueError(f"{spec.name}.denses: expected at least the readout layer, got ()")
        hook = {} if options.quantize_weights else {"pre_hook_fx": FloatWeights(options.scale)}
        cuba = slayer.block.cuba
        try:  # layer shapes as every torch backend plans them (one place: backends.blocks.plans)
            conv_plans, dense_plans = convnet_plan(spec, input_shape, num_classes, fold=False)
        except ValueError as exc:
            raise ValueError(f"input_shape {input_shape}: {exc}") from exc
        names: list[str] = []
        kinds: dict[str, str] = {}
        self.pools: dict[str, int] = {}
        for layer, plan in zip(spec.convs, conv_plans, strict=True):
            params = self.mapping.neuron_params()
            if layer.batch_norm:
                params["norm"] = functools.partial(torch.nn.BatchNorm3d, layer.out_channels)
            block = cuba.Conv(
                neuron_params=params,
                in_features=plan.in_channels,
                out_features=layer.out_channels,
                kernel_size=layer.kernel_size,
                stride=layer.stride,
                padding=layer.padding,
                delay_shift=False,
                **hook,
            )
            _prepare_neuron(block.neuron, options.strict_threshold)
            self.add_module(layer.name, block)
            names.append(layer.name)
            kinds[layer.name] = "conv"
            if layer.pool:
                self.pools[layer.name] = layer.pool
        self.flatten = cuba.Flatten()
        for layer, plan in zip(spec.denses, dense_plans, strict=True):
            readout, features, out = plan.readout, plan.in_features, plan.out_features
            if readout:
                block = cuba.Affine(
                    neuron_params=self.mapping.neuron_params(),
                    in_neurons=features,
                    out_neurons=out,
                    dynamics=False,
                    **hook,
                )
            else:
                block = cuba.Dense(
                    neuron_params=self.mapping.neuron_params(),
                    in_neurons=features,
                    out_neurons=out,
                    delay_shift=False,
                    **hook,
                )
            _prepare_neuron(block.neuron, options.strict_threshold)
            self.add_module(layer.name, block)
            names.append(layer.name)
            kinds[layer.name] = "linear"
        self.unit_names = tuple(names)
        self.unit_kinds = kinds
        self._conv_names = tuple(layer.name for layer in spec.convs)
        self._dense_names = tuple(layer.name for layer in spec.denses)

    def run(
        self,
        x: torch.Tensor,
        recorder: ActivityRecorder | None = None,
        spikes: dict[str, torch.Tensor] | None = None,
        capture: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """See :meth:`LavaDLNet.run`: ``(N, 2, H, W, T)`` -> ``(N, K, T)``."""
        h = x
        for name in self._conv_names:
            h = self._run_unit(name, h, recorder, spikes)
            if name in self.pools:
                p = self.pools[name]
                h = F.max_pool3d(h, kernel_size=(p, p, 1), stride=(p, p, 1))
        h = self.flatten(h)  # (N, C*H*W, T), PyTorch's flatten order (C, H, W)
        for name in self._dense_names:
            h = self._run_unit(name, h, recorder, spikes, capture)
        return h


class SEWBasicBlock(torch.nn.Module):
    """SEW BasicBlock (Fang et al., NeurIPS 2021, Fig. 1b, ADD): ``conv1``, ``conv2`` and an
    optional ``downsample``, each a ``slayer.block.cuba.Conv`` with a BatchNorm3d in its
    neuron's ``norm`` hook. The graph is run by :class:`SlayerSEWResNet`."""

    def __init__(
        self, conv1: torch.nn.Module, conv2: torch.nn.Module, downsample: torch.nn.Module | None
    ) -> None:
        super().__init__()
        self.conv1 = conv1
        self.conv2 = conv2
        self.downsample = downsample


class SlayerSEWResNet(LavaDLNet):
    """A :class:`ResNetSpec` (SEW-ResNet, ADD) compiled to SLAYER CUBA blocks.

    Submodules: ``stem``, ``layer{i}`` (a ``ModuleList`` of :class:`SEWBasicBlock`) and ``fc``,
    so that ``model.get_submodule("layer2.0.downsample")`` is the spec layer of that name.
    """

    def __init__(
        self,
        slayer: types.ModuleType,
        spec: ResNetSpec,
        input_shape: tuple[int, int, int, int],
        num_classes: int,
        options: LavaDLOptions,
    ) -> None:
        super().__init__()
        if spec.connect != "ADD":
            raise ValueError(f"{spec.name}.connect: only 'ADD' is supported, got {spec.connect!r}")
        if len(spec.blocks) != len(spec.channels):
            raise ValueError(
                f"{spec.name}.blocks / channels: expected the same length, got "
                f"{spec.blocks} and {spec.channels}"
            )
        self.arch_name = spec.name
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.options = options
        self.mapping = cuba_mapping(spec.neuron, options.scale)
        hook = {} if options.quantize_weights else {"pre_hook_fx": FloatWeights(options.scale)}
        cuba = slayer.block.cuba
        names: list[str] = []
        kinds: dict[str, str] = {}

        def conv(name: str, cin: int, cout: int, k: int, stride: int, padding: int) -> Any:
            params = self.mapping.neuron_params()
            params["norm"] = functools.partial(torch.nn.BatchNorm3d, cout)
            block = cuba.Conv(
                neuron_params=params,
                in_features=cin,
                out_features=cout,
                kernel_size=k,
                stride=stride,
                padding=padding,
                delay_shift=False,
                **hook,
            )
            _prepare_neuron(block.neuron, options.strict_threshold)
            names.append(name)
            kinds[name] = "conv"
            return block

        _, c_in, h, w = input_shape
        try:  # the blocks as every torch backend plans them (one place: backends.blocks.plans)
            plans = resnet_plan(spec, (h, w))
        except ValueError as exc:
            raise ValueError(f"input_shape {input_shape}: {exc}") from exc
        k = spec.stem_kernel
        self.stem = conv("stem", c_in, spec.stem_channels, k, spec.stem_stride, k // 2)
        self._stage_names: list[str] = []
        stages: dict[str, list] = {}
        for plan in plans:
            stage = plan.name.split(".")[0]
            c1 = conv(f"{plan.name}.conv1", plan.in_channels, plan.out_channels, 3, plan.stride, 1)
            c2 = conv(f"{plan.name}.conv2", plan.out_channels, plan.out_channels, 3, 1, 1)
            ds = (conv(f"{plan.name}.downsample", plan.in_channels, plan.out_channels, 1,
                       plan.stride, 0) if plan.downsample else None)
            stages.setdefault(stage, []).append(SEWBasicBlock(c1, c2, ds))
        for stage, blocks in stages.items():
            self.add_module(stage, torch.nn.ModuleList(blocks))
            self._stage_names.append(stage)
        c = plans[-1].out_channels
        self.fc = cuba.Affine(
            neuron_params=self.mapping.neuron_params(),
            in_neurons=c,
            out_neurons=num_classes,
            dynamics=False,
            **hook,
        )
        _prepare_neuron(self.fc.neuron, options.strict_threshold)
        names.append("fc")
        kinds["fc"] = "linear"
        self.unit_names = tuple(names)
        self.unit_kinds = kinds

    def run(
        self,
        x: torch.Tensor,
        recorder: ActivityRecorder | None = None,
        spikes: dict[str, torch.Tensor] | None = None,
        capture: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """See :meth:`LavaDLNet.run`: ``(N, 2, H, W, T)`` -> ``(N, K, T)``."""
        h = self._run_unit("stem", x, recorder, spikes)
        h = F.max_pool3d(h, kernel_size=(3, 3, 1), stride=(2, 2, 1), padding=(1, 1, 0))
        for stage in self._stage_names:
            for j, _ in enumerate(self.get_submodule(stage)):
                p = f"{stage}.{j}"
                out = self._run_unit(f"{p}.conv1", h, recorder, spikes)
                out = self._run_unit(f"{p}.conv2", out, recorder, spikes)
                if f"{p}.downsample" in self.unit_kinds:
                    identity = self._run_unit(f"{p}.downsample", h, recorder, spikes)
                else:
                    identity = h
                h = out + identity  # SEW ADD (values 0, 1, 2)
        h = h.mean(dim=(2, 3))  # global average pool: (N, C, T)
        return self._run_unit("fc", h, recorder, spikes, capture)


