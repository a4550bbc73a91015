"""The compiled SEEN of a :class:`~backends.specs.SEENSpec`: a frame branch and a weight-copied
spiking event branch (:class:`SEENNet`), with its shape plan (:func:`seen_plan`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from backends.activity import ActivityRecorder
from backends.blocks.activations import MakeAct, _record_ops, _record_spikes
from backends.blocks.plans import _is_int, conv_output_size
from backends.specs import SEENSpec


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
