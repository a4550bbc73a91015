"""norse 1.1's own ``norse.torch.models.conv.ConvNet4`` (a LIF convolutional network: conv 5x5
-> LIF -> max pool, conv 5x5 (x10) -> LIF -> max pool, Linear -> LIF, leaky-integrator readout)
with a K-class readout, as the native model ``norse_convnet4``.

Pehle & Pedersen, "Norse - A deep learning library for spiking neural networks", Zenodo, 2021
(norse's MNIST example network).
"""

from __future__ import annotations

import functools
from typing import Any

from backends.native.zoo import register_zoo


def _features(size: int) -> int:
    """Side of ConvNet4's last feature map: conv 5 (valid) -> pool 2 -> conv 5 -> pool 2 (norse's
    ``int(((feature_size - 4) / 2 - 4) / 2)`` for a square input)."""
    return ((size - 4) // 2 - 4) // 2


@functools.cache
def _convnet4_class() -> type:
    import torch
    import torch.nn.functional as F
    from norse.torch.models.conv import ConvNet4
    from norse.torch.module.leaky_integrator import LILinearCell

    class ConvNet4K(ConvNet4):
        """norse's ``ConvNet4(num_channels, feature_size, method="super")`` with the 10-class
        readout ``LILinearCell(1024, 10)`` replaced by ``LILinearCell(1024, num_classes)`` and
        ``fc1`` sized for a non-square ``(H, W)``. ``forward`` runs norse's modules in norse's
        order (its own ``forward`` allocates a 10-wide output): input ``(T, B, C, H, W)``,
        output ``(T, B, num_classes)``, the readout's membrane voltage per step."""

        def __init__(self, num_classes: int, num_channels: int, input_size: tuple[int, int],
                     method: str = "super") -> None:
            h, w = input_size
            if min(_features(h), _features(w)) < 1:
                raise ValueError(f"norse_convnet4: input_size {input_size} is below 16x16 (two "
                                 "5x5 valid convolutions and two 2x2 poolings)")
            super().__init__(num_channels=num_channels, feature_size=h, method=method)
            self.num_classes = num_classes
            self.fh, self.fw = _features(h), _features(w)
            if self.fw != self.fh:
                self.fc1 = torch.nn.Linear(self.fh * self.fw * 64, 1024)
            self.out = LILinearCell(1024, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s0 = s1 = s2 = so = None
            outputs = []
            for x_t in x:
                z, s0 = self.lif0(self.conv1(x_t), s0)
                z = F.max_pool2d(z, 2, 2)
                z, s1 = self.lif1(10 * self.conv2(z), s1)
                z = F.max_pool2d(z, 2, 2).flatten(1)
                z, s2 = self.lif2(self.fc1(z), s2)
                v, so = self.out(F.relu(z), so)
                outputs.append(v)
            return torch.stack(outputs)

    ConvNet4K.__module__ = __name__
    ConvNet4K.__qualname__ = "ConvNet4K"
    return ConvNet4K


def __getattr__(name: str) -> Any:
    """Module attribute ``ConvNet4K`` (made lazily; lets pickle find the class)."""
    if name == "ConvNet4K":
        return _convnet4_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_convnet4(num_classes: int, in_channels: int, input_size: tuple[int, int],
                   n_time_bins: int) -> Any:
    """``ConvNet4K(num_classes, in_channels, input_size)``: norse's ConvNet4 for event frames
    (``num_channels`` = the dataset's polarities, ``feature_size`` = the input size, a K-class
    readout). Input ``(T, B, C, H, W)``; output ``(T, B, K)``."""
    return _convnet4_class()(num_classes, in_channels, tuple(input_size))


register_zoo(
    "norse_convnet4", build_convnet4, ci_n_time_bins=2, ci_input_size=(32, 32),
    framework="norse", n_time_bins=8, input_size=(48, 48), layout="TBCHW", output="per_step",
    binning="count", citation="Pehle & Pedersen, Norse (2021), norse.torch.models.conv.ConvNet4",
    code_url="https://github.com/norse/norse/blob/main/norse/torch/models/conv.py",
    licence="LGPL-3.0 (norse; used as an installed library, not copied)",
    notes="norse 1.1 ConvNet4 (LIFCell, SuperSpike, v_th 0.7; LILinearCell readout), "
          "num_channels = 2 polarities, feature_size = the input size; the 10-class readout "
          "replaced by LILinearCell(1024, K); per-step readout voltages as logits. The MNIST "
          "network has no DVS configuration: T = 8 at 48x48 is the suite's default input.",
)
