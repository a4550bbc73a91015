"""ann backend: the ANN twin of each architecture spec, in plain PyTorch.

* ConvNetSpec with ``ann_input="per_step"``: the same layers as the SNN with ReLU in place of the
  neurons, run on every time step (stateless, so on the ``(T*B, ...)`` tensor at once); the
  logits are the mean over time of the readout (same parameters as the SNN). With
  ``ann_input="fold"`` the first conv takes the ``2T`` folded channels instead.
* ResNetSpec with ``ann_input="fold"``: a standard ResNet (BasicBlock, ``relu(F(x) + x)``, He et
  al., CVPR 2016) whose stem takes the T binary frames folded into ``2T`` channels, as
  Spiking-FER's ANN baseline (torchvision ``resnet18`` with ``conv1 = Conv2d(2T, 64, 7, 2, 3)``
  and a bias-free ``Linear(512, K)`` head; Barchid et al., CBMI 2023). With
  ``ann_input="per_step"`` the stem takes 2 channels and the logits are averaged over time.

Activity: ``spikes`` counts the non-zero ReLU outputs (before pooling); a downsample branch of
the ResNet has no activation of its own (its output is added before the block's ReLU), so its
entry has synaptic operations but no outputs (``neurons = 0``), and ``layer{i}.{j}.conv2``
counts the block's output ReLU (after the residual addition).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch
from torch import nn

from backends.base import ForwardOutput, register_backend
from backends.blocks.activations import ReLUAct
from backends.blocks.build import build_model
from backends.blocks.forward import run_forward

if TYPE_CHECKING:
    from backends.specs import ConvNetSpec, ResNetSpec, SEENSpec

log = logging.getLogger(__name__)


class AnnBackend:
    """The ``ann`` backend (plain PyTorch, ReLU activations)."""

    name = "ann"
    spiking = False
    equality = None  # not spiking

    def available(self) -> tuple[bool, str]:
        """Always ``(True, "")``: it needs only torch, a dependency of the project."""
        return True, ""

    def build(
        self,
        arch: ConvNetSpec | ResNetSpec | SEENSpec,
        input_shape: tuple[int, int, int, int],
        num_classes: int,
    ) -> nn.Module:
        """Compile the ANN twin of ``arch`` for inputs ``(T, 2, H, W)`` (on CPU; move it with
        ``.to(device)``).

        Raises:
            TypeError, ValueError: bad arguments (see
                :func:`backends.blocks.plans.check_build_args`).
        """
        return build_model(arch, input_shape, num_classes, lambda name: ReLUAct(), spiking=False)

    def forward(
        self,
        model: nn.Module,
        x: torch.Tensor,
        *,
        frames: torch.Tensor | None = None,
        record_activity: bool = False,
    ) -> ForwardOutput:
        """Run ``model`` on ``x`` ``(B, T, 2, H, W)`` float32 (and ``frames`` ``(B, F, 1, H, W)``
        for a two-input spec such as ``seen``, ValueError otherwise); see
        :func:`backends.blocks.forward.run_forward`. ``logits_per_step`` is None for a
        time-folded model; ``activity[i].spikes`` counts non-zero activations."""
        return run_forward(model, x, frames=frames, record_activity=record_activity)

    def versions(self) -> dict[str, str]:
        """``{"torch": torch.__version__}``."""
        return {"torch": torch.__version__}


BACKEND = register_backend(AnnBackend())
