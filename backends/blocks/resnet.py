"""The compiled ResNet of a :class:`~backends.specs.ResNetSpec`: SEW-ResNet when spiking, its ANN
twin otherwise (:class:`ResNet`, built of :class:`BasicBlock`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from backends.activity import ActivityRecorder
from backends.blocks.activations import MakeAct, _record_ops, _record_spikes, _to_time_major
from backends.blocks.plans import BlockPlan, resnet_plan
from backends.specs import ResNetSpec


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
