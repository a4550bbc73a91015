"""The forward pass of a compiled network: layout conversion, logits over time, activity and
spikes."""

from __future__ import annotations

import torch

from backends.activity import ActivityRecorder
from backends.adapters.lava_dl.build import _check_model
from backends.adapters.lava_dl.models import LavaDLNet
from backends.base import ForwardOutput, LayerActivity


def _to_slayer_layout(model: LavaDLNet, x: torch.Tensor) -> torch.Tensor:
    """Validate ``x`` ``(B, T, 2, H, W)`` and return it as ``(B, 2, H, W, T)`` float32 on the
    model's device."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 5 or tuple(x.shape[1:]) != tuple(model.input_shape):
        raise ValueError(
            f"x: expected shape (B, {', '.join(map(str, model.input_shape))}), got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(f"x: expected a floating-point tensor, got dtype {x.dtype}")
    device = next(model.parameters()).device
    return x.to(device=device, dtype=torch.float32).permute(0, 2, 3, 4, 1).contiguous()


def _output(current: torch.Tensor, batch: int, activity: list[LayerActivity],
            features: torch.Tensor | None = None) -> ForwardOutput:
    """Readout current ``(B, K, T)`` -> :class:`ForwardOutput` (cumulative means over time);
    ``features`` ``(B, F, T)`` (the readout's input) is averaged over time to ``(B, F)``."""
    steps = current.shape[-1]
    counts = torch.arange(1, steps + 1, device=current.device, dtype=current.dtype)
    per_step = (current.cumsum(dim=-1) / counts).permute(0, 2, 1)  # (B, T, K)
    return ForwardOutput(
        logits=per_step[:, -1], logits_per_step=per_step, activity=activity, batch_size=batch,
        features=features.mean(dim=-1) if features is not None else None,
    )


def forward_with_spikes(
    model: torch.nn.Module, x: torch.Tensor, *, record_activity: bool = False
) -> tuple[ForwardOutput, dict[str, torch.Tensor]]:
    """Like :meth:`LavaDLBackend.forward`, also returning every hidden layer's spike train.

    Returns:
        ``(output, spikes)``: ``spikes[name]`` is ``(B, T, C, H, W)`` (conv) or ``(B, T, F)``
        (dense), detached, for every spec layer but the readout.
    """
    net = _check_model(model)
    spikes: dict[str, torch.Tensor] = {}
    out = _forward(net, x, record_activity, spikes)
    return out, spikes


def _forward(
    net: LavaDLNet, x: torch.Tensor, record_activity: bool, spikes: dict[str, torch.Tensor] | None
) -> ForwardOutput:
    xs = _to_slayer_layout(net, x)
    rec = ActivityRecorder() if record_activity else None
    cap: dict[str, torch.Tensor] = {}
    current = net.run(xs, rec, spikes, cap)  # (B, K, T)
    # the readout has ops but no neurons: neurons 0, time_steps from its ops (activity.py)
    activity: list[LayerActivity] = rec.layers() if rec is not None else []
    return _output(current, xs.shape[0], activity, cap.get("features"))


