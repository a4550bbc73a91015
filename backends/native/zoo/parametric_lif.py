"""spikingjelly 2.0's own Parametric-LIF networks (``activation_based/model/
parametric_lif_net.py``): Fang et al., "Incorporating Learnable Membrane Time Constant to Enhance
Learning of Spiking Neural Networks", ICCV 2021, for DVS128 Gesture (``DVSGestureNet``) and
CIFAR10-DVS (``CIFAR10DVSNet``), as the native models ``sj_plif_dvsgesture`` and
``sj_plif_cifar10dvs``.

Both networks read 2 polarity channels, are trained on output firing rates with an MSE loss
against one-hot targets (the card's ``output="rates"`` default loss), and vote: the last spiking
layer has ``10 * K`` neurons and ``VotingLayer(10)`` averages each group of 10 into one class.
"""

from __future__ import annotations

from typing import Any

from backends.native.zoo import register_zoo, store_membranes
from backends.native.zoo.sew_resnet import SJ_CODE_URL, SJ_LICENCE

VOTES = 10
"""Neurons per class in the voting layer (the original ``VotingLayer(10)``)."""


def plif_neuron(**kwargs: Any) -> Any:
    """Fang et al.'s neuron: ``ParametricLIFNode(init_tau=2.0, detach_reset=True,
    surrogate_function=ATan())`` (their paper's PLIF with the initial tau of their code)."""
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.ParametricLIFNode(init_tau=2.0, detach_reset=True,
                                    surrogate_function=surrogate.ATan(), **kwargs)


def _rates_module() -> type:
    import torch.nn as nn

    class FiringRates(nn.Module):
        """``net(x).mean(0)``: the voting layer's per-step outputs ``(T, B, K)`` averaged over
        time into firing rates ``(B, K)`` in [0, 1] (Fang et al.'s ``out_fr``)."""

        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: Any) -> Any:
            return self.net(x).mean(0)

    return FiringRates


def _build(cls_name: str, n_pools: int, num_classes: int, in_channels: int,
           input_size: tuple[int, int]) -> Any:
    import torch.nn as nn
    from spikingjelly.activation_based import functional, layer
    from spikingjelly.activation_based.model import parametric_lif_net

    net = getattr(parametric_lif_net, cls_name)(channels=128, spiking_neuron=plif_neuron)
    seq = net.conv_fc
    if in_channels != 2:
        seq[0] = layer.Conv2d(in_channels, 128, kernel_size=3, padding=1, bias=False)
    linears = [i for i, m in enumerate(seq) if isinstance(m, nn.Linear)]
    h, w = input_size
    for _ in range(n_pools):  # MaxPool2d(2, 2) floors
        h, w = h // 2, w // 2
    if min(h, w) < 1:
        raise ValueError(f"{cls_name}: input_size {input_size} is too small for {n_pools} "
                         "2x2 max pools (the feature map shrinks below 1 pixel)")
    seq[linears[0]] = layer.Linear(128 * h * w, 512)
    seq[linears[-1]] = layer.Linear(512, VOTES * num_classes)
    functional.set_step_mode(net, "m")
    return _rates_module()(store_membranes(net))


def build_dvsgesture_net(num_classes: int, in_channels: int, input_size: tuple[int, int],
                         n_time_bins: int) -> Any:
    """``DVSGestureNet(channels=128, spiking_neuron=PLIF)`` (5 conv-BN-PLIF-maxpool stages),
    changed: the flatten size ``128 * 4 * 4`` (fixed for 128x128) rebuilt as ``128 * (H // 32) *
    (W // 32)`` for ``input_size``; the head ``Linear(512, 110)`` (11 gestures x 10 votes)
    replaced by ``Linear(512, 10 K)``; the output averaged over time (rates). Input
    ``(T, B, 2, H, W)``; output ``(B, K)`` firing rates."""
    return _build("DVSGestureNet", 5, num_classes, in_channels, input_size)


def build_cifar10dvs_net(num_classes: int, in_channels: int, input_size: tuple[int, int],
                         n_time_bins: int) -> Any:
    """``CIFAR10DVSNet(channels=128, spiking_neuron=PLIF)`` (4 stages), changed as
    :func:`build_dvsgesture_net`: flatten ``128 * 8 * 8`` -> ``128 * (H // 16) * (W // 16)``,
    head ``Linear(512, 100)`` -> ``Linear(512, 10 K)``, output averaged over time."""
    return _build("CIFAR10DVSNet", 4, num_classes, in_channels, input_size)


_NOTES = ("ParametricLIFNode(init_tau=2, detach_reset, ATan), multi-step; the fixed flatten size "
          "rebuilt for the input size; the voting head Linear(512, {n}) replaced by Linear(512, "
          "10 K) + VotingLayer(10); trained on firing rates with MSE to one-hot targets; T = 16 "
          "and 128 channels as spikingjelly's classify_dvsg example; the first conv takes the "
          "dataset's channels when they are not 2.")

register_zoo(
    "sj_plif_dvsgesture", build_dvsgesture_net, ci_n_time_bins=2, ci_input_size=(32, 32),
    framework="spikingjelly", n_time_bins=16, input_size=(128, 128), layout="TBCHW",
    output="rates", binning="count", citation="Fang et al., ICCV 2021 (PLIF, DVS128 Gesture net)",
    code_url=SJ_CODE_URL + "/blob/master/spikingjelly/activation_based/model/"
                           "parametric_lif_net.py",
    licence=SJ_LICENCE, notes=_NOTES.format(n=110),
)
register_zoo(
    "sj_plif_cifar10dvs", build_cifar10dvs_net, ci_n_time_bins=2, ci_input_size=(32, 32),
    framework="spikingjelly", n_time_bins=16, input_size=(128, 128), layout="TBCHW",
    output="rates", binning="count", citation="Fang et al., ICCV 2021 (PLIF, CIFAR10-DVS net)",
    code_url=SJ_CODE_URL + "/blob/master/spikingjelly/activation_based/model/"
                           "parametric_lif_net.py",
    licence=SJ_LICENCE, notes=_NOTES.format(n=100),
)
