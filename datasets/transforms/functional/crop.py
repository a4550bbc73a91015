"""Random resized crop of frames ``(..., H, W)``: torchvision's ``RandomResizedCrop`` parameter
draw and the crop with a nearest resize."""

from __future__ import annotations

import math

import numpy as np

from datasets.transforms.binning import resize_nearest
from datasets.transforms.functional.common import _check_frames


def random_resized_crop_params(
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[int, int, int, int]:
    """Draw a crop box ``(top, left, h, w)`` with torchvision's ``RandomResizedCrop.get_params``.

    Up to 10 tries: area ``a ~ U(scale) * H * W``, aspect ``r = exp(U(log ratio))``,
    ``w = round(sqrt(a r))``, ``h = round(sqrt(a / r))``; accepted if ``0 < w <= W`` and
    ``0 < h <= H``, then ``top ~ U{0..H-h}``, ``left ~ U{0..W-w}``. Otherwise a central crop of the
    whole image clamped to the ratio range. (torchvision/transforms/transforms.py; random numbers
    from ``rng`` instead of torch's global generator.)

    Raises:
        ValueError: non-positive size, or a scale/ratio range that is not ``0 < low <= high``.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive, got {(height, width)!r}")
    for name, rg in (("scale", scale), ("ratio", ratio)):
        if len(rg) != 2 or not 0 < rg[0] <= rg[1]:
            raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {rg!r}")
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def resized_crop(
    frames: np.ndarray, top: int, left: int, h: int, w: int, size: tuple[int, int]
) -> np.ndarray:
    """Crop ``frames[..., top:top+h, left:left+w]`` and resize it to ``size = (H_out, W_out)``
    with :func:`datasets.transforms.binning.resize_nearest` (torchvision ``resized_crop`` with
    NEAREST).

    Raises:
        ValueError: the box is empty or leaves the frame, or a bad ``size``.
    """
    frames = _check_frames(frames)
    height, width = frames.shape[-2:]
    if h <= 0 or w <= 0 or top < 0 or left < 0 or top + h > height or left + w > width:
        raise ValueError(
            f"crop box (top={top}, left={left}, h={h}, w={w}) must lie inside the frame "
            f"(H={height}, W={width})"
        )
    return resize_nearest(frames[..., top : top + h, left : left + w], size)
