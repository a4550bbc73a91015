"""An ANN baseline stronger than the suite's twins: a ResNet-18 feature extractor applied to each
time bin, followed by an LSTM, trained from scratch on event frames (the temporal model family
of evTransFER: Verschae & Bugueno-Cordova, "evTransFER", 2025; SEEN's "Resnet18 + LSTM" row,
Zhang et al., SIGGRAPH 2023, is the same family on intensity frames), as the native model
``ann_resnet18_lstm`` (framework ``torch``).
"""

from __future__ import annotations

import functools
from typing import Any

from backends.native.zoo import register_zoo

LSTM_HIDDEN = 512


@functools.cache
def _resnet_lstm_class() -> type:
    import torch
    from torch import nn

    from backends.blocks.activations import ReLUAct
    from backends.blocks.resnet import ResNet
    from backends.specs import ResNetSpec

    class ResNet18LSTM(nn.Module):
        """ResNet-18 (He et al., CVPR 2016; the suite's :class:`backends.blocks.resnet.ResNet` with
        ReLU, standard residuals, run per time bin) -> global average pool (512 features per
        bin) -> ``nn.LSTM(512, 512)`` over the bins -> ``Linear(512, K)`` on the last hidden
        state.

        Input ``(B, T, C, H, W)`` (batch-major); output ``(B, K)`` logits (final).
        """

        def __init__(self, num_classes: int, in_channels: int, input_size: tuple[int, int],
                     n_time_bins: int) -> None:
            super().__init__()
            spec = ResNetSpec(name="ann_resnet18_lstm", input_size=tuple(input_size),
                              n_time_bins=n_time_bins, ann_input="per_step")
            self.backbone = ResNet(spec, (n_time_bins, in_channels, *input_size), num_classes,
                                   lambda name: ReLUAct(), sew=False, fold=False)
            self.backbone.fc = nn.Identity()  # features, not logits, per bin
            self.lstm = nn.LSTM(spec.channels[-1], LSTM_HIDDEN)
            self.fc = nn.Linear(LSTM_HIDDEN, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            feats = self.backbone(x)  # (B, T, 512)
            out, _ = self.lstm(feats.transpose(0, 1))  # (T, B, hidden)
            return self.fc(out[-1])

    ResNet18LSTM.__module__ = __name__
    ResNet18LSTM.__qualname__ = "ResNet18LSTM"
    return ResNet18LSTM


def __getattr__(name: str) -> Any:
    """Module attribute ``ResNet18LSTM`` (made lazily; lets pickle find the class)."""
    if name == "ResNet18LSTM":
        return _resnet_lstm_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_resnet18_lstm(num_classes: int, in_channels: int, input_size: tuple[int, int],
                        n_time_bins: int) -> Any:
    """A ``ResNet18LSTM`` for ``(B, T, in_channels, H, W)`` inputs (see the class)."""
    return _resnet_lstm_class()(num_classes, in_channels, tuple(input_size), n_time_bins)


register_zoo(
    "ann_resnet18_lstm", build_resnet18_lstm, ci_n_time_bins=2, ci_input_size=(32, 32),
    framework="torch", n_time_bins=6, input_size=(128, 128), layout="BTCHW", output="final",
    binning="count",
    citation="He et al., CVPR 2016 (ResNet-18) + LSTM; the temporal family of evTransFER "
             "(Verschae & Bugueno-Cordova, 2025)",
    code_url=None, licence="Apache-2.0 (this suite)",
    notes="Trained from scratch (no ImageNet weights) on event-count frames: the stem takes the "
          "2 polarities; ResNet-18 per time bin, LSTM(512, 512) over the bins, Linear on the "
          "last hidden state; T = 6 at 128x128 as Spiking-FER's input, for comparison with "
          "sew_resnet18.",
)
