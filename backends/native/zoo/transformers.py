"""spikingjelly 2.0's own spiking vision transformers, at their papers' DVS configuration
(depth 2, width 256, 16 heads, T = 16, 128x128), as the native models ``sj_spikformer`` and
``sj_sdt``:

* ``Spikformer`` (``activation_based/model/spikformer.py``): Zhou et al., "Spikformer: When
  Spiking Neural Network Meets Transformer", ICLR 2023 (spiking self-attention without softmax,
  ``SSA(Q, K, V) = SN(Q K^T V * s)``, their Eq. 6-8; ``s = 0.125``);
* ``SpikeDrivenTransformer`` (``activation_based/model/spike_driven_transformer.py``): Yao et
  al., "Spike-driven Transformer", NeurIPS 2023 (spike-driven self-attention ``SDSA(Q, K, V) = Q
  ⊗ SN(SUM_c(K ⊗ V))``, their Eq. 16-17), which returns time-averaged logits only.

Both keep spikingjelly's paper-default neurons (``spiking_neuron=None``). The attention products
are element-wise / matrix products of spike tensors, not ``nn.Conv``/``nn.Linear`` layers, so
hook-based SynOps counting lists them as unmeasured.
"""

from __future__ import annotations

from typing import Any

from backends.native.zoo import register_zoo, store_membranes
from backends.native.zoo.sew_resnet import SJ_CODE_URL, SJ_LICENCE

EMBED_DIMS = 256
NUM_HEADS = 16
DEPTHS = 2
MLP_RATIO = 4.0


def spikformer_patch_size(input_size: tuple[int, int]) -> int:
    """Spikformer's patch size for an input: 16 (four pooling stages, the papers' 128x128 DVS
    setting) when both sides are >= 128, else 4 (two pooling stages, its CIFAR setting; the
    48x48 event frames of the suite). spikingjelly's ``SpikformerPatchStem`` accepts only 4 or
    16."""
    return 16 if min(input_size) >= 128 else 4


def build_spikformer(num_classes: int, in_channels: int, input_size: tuple[int, int],
                     n_time_bins: int) -> Any:
    """spikingjelly's ``Spikformer(T, in_channels, H, W, patch_size, num_classes,
    embed_dims=256, num_heads=16, mlp_ratio=4, depths=2)``; changed for event frames: the input
    channels are the dataset's (2 polarities) instead of 3, and the sequence input ``(T, B, C, H,
    W)`` is the binned events (no repetition of a static image). Output ``(T, B, num_classes)``
    per-step logits (its head is applied per step)."""
    from spikingjelly.activation_based.model.spikformer import Spikformer

    h, w = input_size
    net = Spikformer(T=n_time_bins, in_channels=in_channels, img_size_h=h, img_size_w=w,
                     patch_size=spikformer_patch_size(input_size), num_classes=num_classes,
                     embed_dims=EMBED_DIMS, num_heads=NUM_HEADS, mlp_ratio=MLP_RATIO,
                     depths=DEPTHS)
    return store_membranes(net)


def build_sdt(num_classes: int, in_channels: int, input_size: tuple[int, int],
              n_time_bins: int) -> Any:
    """spikingjelly's ``SpikeDrivenTransformer(T, in_channels, num_classes, embed_dims=256,
    num_heads=16, depths=2, mlp_ratio=4, pooling_stat="1111")`` (four 2x max-pooling stages in
    the patch embedding: 128x128 -> 8x8 tokens); changed for event frames: 2 input channels,
    sequence input. Output ``(B, num_classes)``: the head on time-averaged spikes (final)."""
    from spikingjelly.activation_based.model.spike_driven_transformer import (
        SpikeDrivenTransformer,
    )

    if min(input_size) < 16:
        raise ValueError(f"sj_sdt: input_size {input_size} is below 16x16 (four 2x poolings)")
    net = SpikeDrivenTransformer(T=n_time_bins, in_channels=in_channels,
                                 num_classes=num_classes, embed_dims=EMBED_DIMS,
                                 num_heads=NUM_HEADS, depths=DEPTHS, mlp_ratio=MLP_RATIO,
                                 pooling_stat="1111")
    return store_membranes(net)


register_zoo(
    "sj_spikformer", build_spikformer, ci_n_time_bins=2, ci_input_size=(32, 32),
    framework="spikingjelly", n_time_bins=16, input_size=(128, 128), layout="TBCHW",
    output="per_step", binning="count", citation="Zhou et al., ICLR 2023 (Spikformer)",
    code_url=SJ_CODE_URL + "/blob/master/spikingjelly/activation_based/model/spikformer.py",
    licence=SJ_LICENCE,
    notes="spikingjelly 2.0 Spikformer-2-256 (16 heads, MLP ratio 4, paper-default LIF "
          "neurons), the papers' DVS configuration: T = 16, 128x128, patch size 16 (4 below "
          "128x128); in_channels = the dataset's 2 polarities; per-step head on the binned "
          "event sequence.",
)
register_zoo(
    "sj_sdt", build_sdt, ci_n_time_bins=2, ci_input_size=(32, 32),
    framework="spikingjelly", n_time_bins=16, input_size=(128, 128), layout="TBCHW",
    output="final", binning="count", citation="Yao et al., NeurIPS 2023 (Spike-driven Transformer)",
    code_url=SJ_CODE_URL + "/blob/master/spikingjelly/activation_based/model/"
                           "spike_driven_transformer.py",
    licence=SJ_LICENCE,
    notes="spikingjelly 2.0 SpikeDrivenTransformer-2-256 (16 heads, MLP ratio 4, pooling "
          "'1111', paper-default LIF neurons), the paper's DVS configuration: T = 16, 128x128; "
          "in_channels = the dataset's 2 polarities; returns time-averaged logits (B, K) only, "
          "so no per-step readout or early decision.",
)
