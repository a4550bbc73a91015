"""The registered ``lava-dl`` backend (SLAYER, CUBA neurons)."""

from __future__ import annotations

from typing import Any

import torch

from backends.adapters.lava_dl.build import SEEN_UNSUPPORTED, _check_model, build_model
from backends.adapters.lava_dl.forward import _forward
from backends.adapters.lava_dl.models import LavaDLNet
from backends.adapters.lava_dl.neurons import LavaDLOptions
from backends.adapters.lava_dl.slayer import LAVA_DL_DIST, _dist_version, import_slayer
from backends.base import ForwardOutput, register_backend
from backends.equality import Equality


class LavaDLBackend:
    """The ``lava-dl`` backend (SLAYER, CUBA neurons); see docs/backends.md, "The lava-dl adapter".

    Args:
        options: :class:`LavaDLOptions` (default: float weights, SLAYER's default scale).
    """

    name = "lava-dl"
    unsupported = {"seen": SEEN_UNSUPPORTED}  # arch name -> why it cannot be compiled
    spiking = True
    amp_support = (False, "SLAYER's CUDA kernels take float32 only (data<float>() in "
                          "leaky_integrator.cu): trained and run in float32")
    equality = Equality(
        "bounded", eps=0.1,
        reason="SLAYER keeps decays as round(4096 d) and truncates states to 1/4096 each step; neurons within ~T/4096 of threshold can flip and a flip propagates (measured with float weights: tiny >= 0.99, sew_resnet18 >= 0.92 identical spikes per layer; exact on the fixed-point grid)",
    )

    def __init__(self, options: LavaDLOptions | None = None) -> None:
        self.options = options or LavaDLOptions()

    def available(self) -> tuple[bool, str]:
        """``(True, "")`` if ``lava.lib.dl.slayer`` imports, else ``(False, reason)``; never
        raises."""
        try:
            import_slayer()
        except Exception as exc:
            return False, str(exc)
        return True, ""

    def build(
        self, arch: Any, input_shape: tuple[int, int, int, int], num_classes: int
    ) -> LavaDLNet:
        """See :func:`build_model` (raises ``BackendUnavailableError``, ``ValueError``)."""
        return build_model(arch, input_shape, num_classes, self.options)

    def forward(
        self,
        model: torch.nn.Module,
        x: torch.Tensor,
        *,
        frames: torch.Tensor | None = None,
        record_activity: bool = False,
    ) -> ForwardOutput:
        """Run ``model`` on ``x`` ``(B, T, 2, H, W)``. Every architecture this adapter builds
        takes events only, so ``frames`` must be None (else ValueError).

        Returns:
            :class:`ForwardOutput` with ``logits`` ``(B, K)`` = mean over the T steps of the
            readout's current, ``logits_per_step`` ``(B, T, K)`` (mean over the first t steps)
            and, with ``record_activity``, one :class:`LayerActivity` per spec layer (summed over
            the batch; the readout has ops but no spikes).

        Raises:
            TypeError: ``model`` was not built by this adapter or ``x`` is not a tensor.
            ValueError: ``x`` has the wrong shape or dtype, or ``frames`` was given.
        """
        net = _check_model(model)
        if frames is not None:
            raise ValueError(
                f"frames: architecture {net.arch_name!r} takes events only; got frames"
            )
        return _forward(net, x, record_activity, None)

    def versions(self) -> dict[str, str]:
        """``{"lava-dl": ..., "torch": ...}``; never raises."""
        return {"lava-dl": _dist_version(LAVA_DL_DIST), "torch": torch.__version__}


BACKEND = register_backend(LavaDLBackend())
"""The registered ``lava-dl`` backend (float weights)."""
