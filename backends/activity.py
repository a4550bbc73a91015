"""Activity accounting shared by every backend: spike counts and synaptic operations.

Synaptic operations follow NeuroBench's ``SynapticOperations`` metric (Yik et al., "The neurobench
framework for benchmarking neuromorphic computing algorithms and systems", Nature Communications
2025, Methods "Synaptic operations"; neurobench 2.3.0 ``metrics/utils/layers/macs.py``):

* for one call of a connection layer (Conv2d / Linear) on input ``x``, the *effective* count is the
  number of (non-zero input, non-zero weight) pairs that reach an output, i.e. the sum of the
  layer's output when it is run with ``x != 0`` as input and ``w != 0`` as weights, bias excluded;
* the input is *spiking* (the operations are accumulates, ACs) when every element of ``x`` is in
  {-1, 0, 1}; otherwise they are multiply-accumulates (MACs);
* the *dense* count is the same sum with every input and weight taken as 1 (zero padding excluded).

Counts are summed over the batch and over time steps; divide by the number of samples for per-sample
figures (:func:`benchmarks.metrics.activity_summary`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backends.base import LayerActivity

if TYPE_CHECKING:
    import torch


def is_spiking_input(x: torch.Tensor) -> bool:
    """True when every element of ``x`` is -1, 0 or 1 (NeuroBench's test for binary input)."""
    return bool(((x == 0) | (x == 1) | (x == -1)).all())


def connection_ops(x: torch.Tensor, layer: torch.nn.Module) -> tuple[int, int, bool]:
    """Synaptic operations of one call of ``layer`` on ``x``.

    Args:
        x: the layer's input for one time step, ``(B, C, H, W)`` for Conv2d or ``(B, F)`` for Linear.
        layer: a ``torch.nn.Conv2d`` or ``torch.nn.Linear`` (or a module with the same ``weight``
            layout and conv parameters: ``stride``, ``padding``, ``dilation``, ``groups``).

    Returns:
        ``(effective, dense, spiking)``: effective and dense operation counts summed over the
        batch, and whether the input was binary (effective ops are then ACs, else MACs).

    Raises:
        TypeError: unsupported layer type.
    """
    import torch
    import torch.nn.functional as F

    # The 0/1 products are computed in float32 with autocast off (in float16/bfloat16 a count
    # above 2048/256 is not exact), and summed in float64 (a float32 sum of more than 2**24 is
    # not exact: SEW-ResNet-18 at batch 32 reaches ~1e9 per layer call).
    with torch.no_grad(), torch.autocast(device_type=x.device.type, enabled=False):
        w = layer.weight.detach()
        wb = (w != 0).to(torch.float32)
        xb = (x.detach() != 0).to(torch.float32)
        ones_w = torch.ones_like(wb)
        ones_x = torch.ones_like(xb)
        if isinstance(layer, torch.nn.Linear) or w.dim() == 2:
            eff = F.linear(xb, wb).sum(dtype=torch.float64)
            dense = F.linear(ones_x, ones_w).sum(dtype=torch.float64)
        elif isinstance(layer, torch.nn.Conv2d) or w.dim() == 4:
            kw = dict(
                stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups
            )
            eff = F.conv2d(xb, wb, **kw).sum(dtype=torch.float64)
            dense = F.conv2d(ones_x, ones_w, **kw).sum(dtype=torch.float64)
        else:
            raise TypeError(f"connection_ops: unsupported layer {type(layer).__name__}")
    return int(round(eff.item())), int(round(dense.item())), is_spiking_input(x)


class ActivityRecorder:
    """Accumulates :class:`LayerActivity` per layer name over the time steps of a forward pass.

    Usage inside an adapter's forward, per time step ``t``::

        rec.ops("conv1", "conv", x_t, conv_module)      # synaptic ops of conv1 on its input x_t
        rec.spikes("conv1", "conv", s_t)                 # spikes (non-zero outputs) of conv1's neurons

    Call :meth:`layers` at the end. ``time_steps`` counts the time steps a layer ran: the steps
    given to :meth:`spikes`, or, for a layer without neurons (the readout), the steps given to
    :meth:`ops` (one per call unless ``steps`` says otherwise); the larger of the two.
    """

    def __init__(self) -> None:
        self._layers: dict[str, LayerActivity] = {}
        self._op_steps: dict[str, int] = {}

    def _get(self, name: str, kind: str) -> LayerActivity:
        if name not in self._layers:
            self._layers[name] = LayerActivity(name=name, kind=kind, time_steps=0)
        return self._layers[name]

    def ops(
        self, name: str, kind: str, x: torch.Tensor, layer: torch.nn.Module, *, steps: int = 1
    ) -> None:
        """Add the synaptic operations of ``layer`` on input ``x`` (see :func:`connection_ops`).

        ``steps``: the number of time steps ``x`` holds (folded into its batch axis); NeuroBench
        decides AC vs MAC per call, so call once per time step to match it exactly.
        """
        eff, dense, spiking = connection_ops(x, layer)
        la = self._get(name, kind)
        self._op_steps[name] = self._op_steps.get(name, 0) + steps
        if spiking:
            la.effective_acs += eff
        else:
            la.effective_macs += eff
        la.dense_ops += dense

    def spikes(self, name: str, kind: str, s: torch.Tensor, *, steps: int = 1) -> None:
        """Add the non-zero outputs of ``s`` (``(B, ...)`` for one step, or ``steps`` steps)."""
        la = self._get(name, kind)
        la.spikes += float((s.detach() != 0).sum().item())
        per_sample = s[0].numel() // steps if s.dim() > 0 and s.shape[0] else 0
        la.neurons = per_sample
        la.time_steps += steps

    def layers(self) -> list[LayerActivity]:
        """The accumulated activity, in first-seen order."""
        for name, la in self._layers.items():
            la.time_steps = max(la.time_steps, self._op_steps.get(name, 0))
        return list(self._layers.values())
