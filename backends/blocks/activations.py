"""The activation protocol of the compiled models (:class:`TimeActivation`, made by a
:data:`MakeAct` factory: ReLU for the ANN, a framework's neuron for an SNN), the stateless
:class:`ReLUAct`, and the helpers the models share to lay inputs out time-major and to report
synaptic operations and spikes to an :class:`~backends.activity.ActivityRecorder`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from backends.activity import ActivityRecorder


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
