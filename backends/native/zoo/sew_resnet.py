"""spikingjelly 2.0's own SEW-ResNet-18 (``activation_based/model/sew_resnet.py``) with
Spiking-FER's head, as the native model ``sj_sew_resnet18``.

Fang et al., "Deep Residual Learning in Spiking Neural Networks", NeurIPS 2021; used for facial
expressions by Barchid et al., "Spiking-FER", CBMI 2023 (T = 6, 128x128, ADD connection, IF
neurons, detach_reset, ATan surrogate, ``zero_init_residual=True``, a bias-free classifier averaged
over time). The suite's own ``sew_resnet18`` spec (:mod:`backends.specs`) describes the same
network; ``tests/test_zoo.py`` checks that the two give identical spikes and logits with the same
weights.
"""

from __future__ import annotations

from typing import Any

from backends.native.zoo import register_zoo, store_membranes
from backends.native.zoo._torchvision_shim import import_model_module

SJ_CODE_URL = "https://github.com/fangwei123456/spikingjelly"
SJ_LICENCE = "Apache-2.0 (spikingjelly 2.0)"


def if_neuron(**kwargs: Any) -> Any:
    """Spiking-FER's neuron: spikingjelly's ``IFNode(v_threshold=1, v_reset=0,
    surrogate_function=ATan(alpha=2), detach_reset=True)`` (``kwargs`` as spikingjelly passes them,
    e.g. ``step_mode``)."""
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.IFNode(v_threshold=1.0, v_reset=0.0, surrogate_function=surrogate.ATan(),
                         detach_reset=True, **kwargs)


def build_sew_resnet18(num_classes: int, in_channels: int, input_size: tuple[int, int],
                       n_time_bins: int) -> Any:
    """spikingjelly's ``sew_resnet18(cnf="ADD", spiking_neuron=IF)`` in multi-step mode, changed
    for event frames: ``conv1`` (3 channels hard-coded) replaced by ``layer.Conv2d(in_channels,
    64, 7, 2, 3, bias=False)`` (Kaiming-normal, fan_out, as the original); ``fc`` (1000 ImageNet
    classes) replaced by Spiking-FER's bias-free ``layer.Linear(512, num_classes)``; each block's
    ``bn2`` weight set to 0 (Spiking-FER's ``zero_init_residual=True``, which ``sew_resnet18``
    does not expose).

    Input ``(T, B, in_channels, H, W)``; output ``(T, B, num_classes)`` per-step logits (the fc
    of each step; Spiking-FER averages them over time). ``input_size`` and ``n_time_bins`` do not
    change the network (the global average pool takes any size whose feature map stays >= 1
    pixel: H, W >= 17).
    """
    import torch.nn as nn
    from spikingjelly.activation_based import functional, layer

    sew = import_model_module("spikingjelly.activation_based.model.sew_resnet")
    net = sew.sew_resnet18(pretrained=False, cnf="ADD", spiking_neuron=if_neuron)
    net.conv1 = layer.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    net.fc = layer.Linear(512, num_classes, bias=False)
    for m in net.modules():
        if isinstance(m, sew.BasicBlock):
            nn.init.constant_(m.bn2.weight, 0)
    functional.set_step_mode(net, "m")
    return store_membranes(net)


register_zoo(
    "sj_sew_resnet18", build_sew_resnet18, ci_n_time_bins=2, ci_input_size=(32, 32),
    framework="spikingjelly", n_time_bins=6, input_size=(128, 128), layout="TBCHW",
    output="per_step", binning="count",
    citation="Fang et al., NeurIPS 2021 (SEW ResNet); Barchid et al., CBMI 2023 (Spiking-FER)",
    code_url=SJ_CODE_URL + "/blob/master/spikingjelly/activation_based/model/sew_resnet.py",
    licence=SJ_LICENCE,
    notes="spikingjelly 2.0 sew_resnet18 (ADD, IFNode + ATan, detach_reset), multi-step; conv1 "
          "replaced for the 2 event polarities; Spiking-FER's head: bias-free Linear(512, K), "
          "logits averaged over time; zero_init_residual (bn2 = 0) as Spiking-FER.",
)
