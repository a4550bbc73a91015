"""The compiled conv net of a :class:`~backends.specs.ConvNetSpec`: :class:`PerStepConvNet`
(conv and dense units, spiking or ANN, per step or with the T frames folded into channels)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from backends.activity import ActivityRecorder
from backends.blocks.activations import MakeAct, _record_ops, _record_spikes, _to_time_major
from backends.blocks.plans import ConvPlan, DensePlan, convnet_plan
from backends.specs import ConvNetSpec


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
