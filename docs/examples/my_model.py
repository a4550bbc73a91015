"""A native model in one file: a small spikingjelly network with learnable time constants.

Run it with::

    python run_bench.py run --plugin docs/examples/my_model.py --archs plif-net \
        --datasets synthetic-fer-dvs-mini --epochs 1

Parametric LIF neurons (Fang et al., "Incorporating Learnable Membrane Time Constant to Enhance
Learning of Spiking Neural Networks", ICCV 2021), multi-step mode: the network takes the whole
sequence ``(T, B, 2, H, W)`` at once and returns logits per time step ``(T, B, K)``.
"""

import torch
from torch import nn

from backends import register_model


@register_model(
    "plif-net", framework="spikingjelly", n_time_bins=8, input_size=(48, 48),
    layout="TBCHW", output="per_step", citation="Fang et al., ICCV 2021",
    code_url="https://github.com/fangwei123456/spikingjelly", licence="MPL-2.0",
    notes="two conv blocks of the paper's design at 48x48 with 2 polarity channels; "
          "membrane kept per step (store_v_seq=True) for the membrane-update count",
)
def plif_net(num_classes: int, in_channels: int) -> nn.Module:
    """conv(in -> 16, 3x3) - BN - PLIF - maxpool 2 (24x24); conv(16 -> 32, 3x3) - BN - PLIF -
    maxpool 2 (12x12); flatten; linear(32*12*12 -> num_classes): logits per step."""
    from spikingjelly.activation_based import layer, neuron, surrogate

    def plif() -> nn.Module:
        return neuron.ParametricLIFNode(init_tau=2.0, surrogate_function=surrogate.ATan(),
                                        detach_reset=True, step_mode="m", store_v_seq=True)

    return nn.Sequential(
        layer.Conv2d(in_channels, 16, 3, padding=1, bias=False, step_mode="m"),
        layer.BatchNorm2d(16, step_mode="m"), plif(), layer.MaxPool2d(2, step_mode="m"),
        layer.Conv2d(16, 32, 3, padding=1, bias=False, step_mode="m"),
        layer.BatchNorm2d(32, step_mode="m"), plif(), layer.MaxPool2d(2, step_mode="m"),
        layer.Flatten(step_mode="m"),
        layer.Linear(32 * 12 * 12, num_classes, step_mode="m"),
    )


if __name__ == "__main__":  # a quick look at the shapes
    net = plif_net(7, 2)
    print(net(torch.zeros(8, 1, 2, 48, 48)).shape)  # (T, B, K) = (8, 1, 7)
