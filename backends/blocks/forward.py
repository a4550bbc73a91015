"""Running a compiled model: :func:`run_forward` (the ``Backend.forward`` shared by the torch
backends), its argument check (:func:`check_forward_args`), the readout of per-step currents into
logits (:func:`readout`) and the helpers :func:`time_mean_features` and
:func:`parameter_shapes`."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from backends.activity import ActivityRecorder
from backends.base import ForwardOutput
from backends.blocks.convnet import PerStepConvNet
from backends.blocks.resnet import ResNet
from backends.blocks.seen import SEENNet


def check_forward_args(model: Any, x: Any, frames: Any = None) -> None:
    """Validate the arguments of ``Backend.forward``.

    Raises:
        TypeError: ``model`` was not compiled by a torch backend here, or ``x`` / ``frames`` is
            not a float32 tensor.
        ValueError: ``x`` is not ``(B, T, 2, H, W)`` with ``B >= 1`` and ``(T, 2, H, W)`` the
            model's ``input_shape``; ``frames`` given to an event-only model, missing for a
            model whose spec takes frames, or not ``(B, F, 1, H, W)`` with ``F >= 1``.
    """
    if not isinstance(model, (PerStepConvNet, ResNet, SEENNet)):
        raise TypeError(
            f"model: expected a model built by a torch backend (PerStepConvNet or ResNet), "
            f"got {type(model).__name__}"
        )
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype != torch.float32:
        raise TypeError(f"x: expected dtype torch.float32, got {x.dtype}")
    if x.dim() != 5 or tuple(x.shape[1:]) != model.input_shape or x.shape[0] < 1:
        raise ValueError(
            f"x: expected shape (B, {', '.join(map(str, model.input_shape))}) with B >= 1, "
            f"got {tuple(x.shape)}"
        )
    takes_frames = "frames" in getattr(model.arch, "inputs", ("events",))
    if frames is None:
        if takes_frames:
            raise ValueError(
                f"frames: architecture {model.arch.name!r} takes intensity frames "
                "(B, F, 1, H, W); pass frames="
            )
        return
    if not takes_frames:
        raise ValueError(
            f"frames: architecture {model.arch.name!r} takes events only; got frames"
        )
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"frames: expected a torch.Tensor, got {type(frames).__name__}")
    if frames.dtype != torch.float32:
        raise TypeError(f"frames: expected dtype torch.float32, got {frames.dtype}")
    h, w = model.input_shape[2:]
    if (
        frames.dim() != 5
        or frames.shape[0] != x.shape[0]
        or frames.shape[1] < 1
        or tuple(frames.shape[2:]) != (1, h, w)
    ):
        raise ValueError(
            f"frames: expected shape ({x.shape[0]}, F, 1, {h}, {w}) with F >= 1, "
            f"got {tuple(frames.shape)}"
        )


def readout(per_step: torch.Tensor, time_folded: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits from the readout current: ``logits = mean_t I_out[t]`` and the cumulative readout
    ``logits_per_step[:, t] = mean_{s <= t} I_out[s]`` (module docstring of
    :mod:`backends.specs`).

    Args:
        per_step: ``(B, T', K)``.
        time_folded: the model has no time axis (``T' = 1``; ``logits_per_step`` is None).

    Returns:
        ``(logits (B, K), logits_per_step (B, T, K) or None)``.
    """
    if time_folded:
        return per_step[:, 0], None
    steps = per_step.shape[1]
    denom = torch.arange(1, steps + 1, device=per_step.device, dtype=per_step.dtype).view(1, -1, 1)
    cumulative = per_step.cumsum(dim=1) / denom
    return cumulative[:, -1], cumulative


def run_forward(
    model: nn.Module,
    x: torch.Tensor,
    *,
    frames: torch.Tensor | None = None,
    record_activity: bool = False,
) -> ForwardOutput:
    """``Backend.forward`` for the models compiled here.

    Args:
        model: a :class:`PerStepConvNet`, :class:`ResNet` or :class:`SEENNet`.
        x: ``(B, T, 2, H, W)`` float32, on the model's device.
        frames: ``(B, F, 1, H, W)`` float32 intensity frames in [0, 1], required by (and only
            by) models whose spec's ``inputs`` include ``"frames"`` (:class:`SEENNet`).
        record_activity: also count spikes / non-zero activations and synaptic operations per
            layer (costs an extra binary convolution per layer and time step).

    Returns:
        :class:`~backends.base.ForwardOutput`; gradients flow through ``logits`` and
        ``features`` (the readout's input averaged over time, ``(B, F)``).

    Raises:
        TypeError, ValueError: see :func:`check_forward_args`.
    """
    check_forward_args(model, x, frames)
    rec = ActivityRecorder() if record_activity else None
    cap: dict[str, torch.Tensor] = {}
    if frames is not None:
        per_step = model(x, frames, rec, capture=cap)
    else:
        per_step = model(x, rec, capture=cap)
    logits, per_step_logits = readout(per_step, model.time_folded)
    return ForwardOutput(
        logits=logits,
        logits_per_step=per_step_logits,
        activity=rec.layers() if rec is not None else [],
        batch_size=x.shape[0],
        features=time_mean_features(cap.get("features"), x.shape[0]),
    )


def time_mean_features(h: torch.Tensor | None, batch: int) -> torch.Tensor | None:
    """The readout's time-major input ``(T'*B, F)`` averaged over its ``T'`` steps: ``(B, F)``
    (``None`` stays ``None``)."""
    if h is None:
        return None
    return h.reshape(-1, batch, h.shape[-1]).mean(dim=0)


def parameter_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """``{parameter name: shape}`` of ``model`` (for cross-backend comparisons)."""
    return {n: tuple(p.shape) for n, p in model.named_parameters()}
