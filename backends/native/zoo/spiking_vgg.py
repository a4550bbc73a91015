"""spikingjelly 2.0's own spiking VGG-11 with batch norm (``activation_based/model/
spiking_vgg.py``, after Simonyan & Zisserman, ICLR 2015) with a small head, as the native model
``sj_spiking_vgg11_bn``."""

from __future__ import annotations

from typing import Any

from backends.native.zoo import register_zoo, store_membranes
from backends.native.zoo._torchvision_shim import import_model_module
from backends.native.zoo.sew_resnet import SJ_CODE_URL, SJ_LICENCE


def build_spiking_vgg11_bn(num_classes: int, in_channels: int, input_size: tuple[int, int],
                           n_time_bins: int) -> Any:
    """spikingjelly's ``spiking_vgg11_bn`` with ``LIFNode(tau=2, detach_reset=True,
    surrogate_function=ATan())`` in multi-step mode, changed for event frames: ``features[0]``
    (3 input channels hard-coded) replaced by ``layer.Conv2d(in_channels, 64, 3, padding=1)``
    (Kaiming-normal, as the original); the ImageNet head (``AdaptiveAvgPool2d(7)`` and three
    Linear layers 25088 -> 4096 -> 4096 -> 1000 with neurons and dropout: 123.6 M of its 132.9 M
    parameters at 1000 classes) replaced by a global average pool and ``layer.Linear(512,
    num_classes)``.

    Input ``(T, B, in_channels, H, W)`` with ``H, W >= 32`` (five 2x2 max pools); output
    ``(T, B, num_classes)`` per-step logits.
    """
    import torch.nn as nn
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    vgg = import_model_module("spikingjelly.activation_based.model.spiking_vgg")
    net = vgg.spiking_vgg11_bn(pretrained=False, spiking_neuron=neuron.LIFNode,
                               num_classes=num_classes, tau=2.0, detach_reset=True,
                               surrogate_function=surrogate.ATan())
    net.features[0] = layer.Conv2d(in_channels, 64, kernel_size=3, padding=1)
    nn.init.kaiming_normal_(net.features[0].weight, mode="fan_out", nonlinearity="relu")
    nn.init.constant_(net.features[0].bias, 0)
    net.avgpool = layer.AdaptiveAvgPool2d((1, 1))
    net.classifier = layer.Linear(512, num_classes)
    nn.init.normal_(net.classifier.weight, 0, 0.01)  # the original's Linear init
    nn.init.constant_(net.classifier.bias, 0)
    functional.set_step_mode(net, "m")
    return store_membranes(net)


register_zoo(
    "sj_spiking_vgg11_bn", build_spiking_vgg11_bn, ci_n_time_bins=2, ci_input_size=(32, 32),
    framework="spikingjelly", n_time_bins=10, input_size=(48, 48), layout="TBCHW",
    output="per_step", binning="count",
    citation="Simonyan & Zisserman, ICLR 2015 (VGG); spikingjelly's spiking_vgg11_bn",
    code_url=SJ_CODE_URL + "/blob/master/spikingjelly/activation_based/model/spiking_vgg.py",
    licence=SJ_LICENCE,
    notes="spikingjelly 2.0 spiking_vgg11_bn (LIFNode tau 2 + ATan, detach_reset), multi-step; "
          "features[0] replaced for the 2 event polarities; the ImageNet head (7x7 pool, "
          "25088-4096-4096-1000) replaced by a global average pool and Linear(512, K); T = 10 "
          "at 48x48 follows the usual CIFAR10-DVS VGG setting (Deng et al., ICLR 2022, TET).",
)
