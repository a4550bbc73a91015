"""Temporal Binary Representation (TBR) images: the PNG codec of NEFER's event frames (Innocenti
et al., "Temporal Binary Representation for Event-Based Action Recognition", ICPR 2020).

A TBR image packs ``N`` binary frames (did each pixel fire in that time slice) into one
``N``-bit code per pixel, ``sum_i b_i 2^i`` (Eq. 1; bit ``i`` = binary frame ``i``, least
significant bit earliest). This module reads such images (:func:`png_header`, :func:`read_tbr`),
decodes codes into binary frames (:func:`tbr_binary_frames`) and counts binary frames in equal
time bins, from decoded frames (:func:`binary_time_bins`) or directly from the codes
(:func:`tbr_time_bins`). The dataset that uses it is :mod:`datasets.loaders.nefer`.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from datasets.common import DatasetError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPES = {0: "grey", 2: "rgb", 3: "palette", 4: "grey+alpha", 6: "rgba"}
_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def png_header(path: str | Path) -> dict[str, Any]:
    """Width, height, bit depth and colour type of a PNG, read from its IHDR chunk (PNG
    specification, W3C 2003, section 11.2.2: signature, then the IHDR chunk with width and height
    as big-endian uint32, bit depth and colour type as bytes).

    Returns:
        ``{"width", "height", "bit_depth", "color_type", "color"}`` (``color`` = ``"grey"``,
        ``"rgb"``, ``"palette"``, ``"grey+alpha"`` or ``"rgba"``).

    Raises:
        DatasetError: not a PNG, or the file is shorter than its header (file named).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(29)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the frame ({exc})") from exc
    if len(head) < 29 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise DatasetError(f"{path}: field 'header' = {head[:16]!r}: not a PNG image (or truncated)")
    width, height, depth, color = struct.unpack(">IIBB", head[16:26])
    return {"width": int(width), "height": int(height), "bit_depth": int(depth),
            "color_type": int(color), "color": _PNG_COLOR_TYPES.get(int(color), str(color))}


def read_tbr(path: str | Path) -> tuple[np.ndarray, int]:
    """One Temporal Binary Representation image as its integer codes and bit count.

    The bit count ``N`` is the PNG's sample bit depth (IHDR), then checked against the values
    present: Pillow scales 1-, 2- and 4-bit grey samples to 0..255, so each value must be a
    multiple of ``255 / (2^N - 1)`` (and is divided back); 8- and 16-bit samples are the codes
    themselves. Colour PNGs are accepted when their colour channels are equal (grey stored as
    RGB); an alpha channel is ignored.

    Returns:
        ``(codes, N)``: ``codes`` ``(H, W)`` uint8 (``N <= 8``) or uint16 (``N = 16``), each
        pixel's N-bit code ``sum_i b_i 2^i`` (Innocenti et al., ICPR 2020, Eq. 1, with binary
        frame ``i`` of the N weighted by ``2^i``).

    Raises:
        DatasetError: not a readable PNG, a palette image, colour channels that differ, or values
            that are not N-bit codes (file, field and value named).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    head = png_header(path)
    n = head["bit_depth"]
    if head["color"] == "palette":
        raise DatasetError(f"{path}: field 'color_type' = 3 (palette): a TBR frame must be grey")
    try:
        with Image.open(path) as img:
            a = np.asarray(img)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot decode the frame ({exc})") from exc
    if a.ndim == 3:
        colour = a[..., :3] if a.shape[2] >= 3 else a[..., :1]
        if colour.shape[2] == 3 and not (np.array_equal(colour[..., 0], colour[..., 1])
                                         and np.array_equal(colour[..., 0], colour[..., 2])):
            raise DatasetError(f"{path}: field 'color_type' = {head['color_type']}: the colour "
                               "channels differ, so the image is not a grey TBR frame")
        a = colour[..., 0]
    if n < 8:
        scale = 255 // (2**n - 1)
        if np.any(a % scale):
            bad = int(a[a % scale != 0][0])
            raise DatasetError(f"{path}: field 'value' = {bad}: not a {n}-bit code (the PNG "
                               f"declares {n}-bit samples, read as multiples of {scale})")
        a = (a // scale).astype(np.uint8)
    elif n == 8:
        a = a.astype(np.uint8, copy=False)
    else:
        a = a.astype(np.uint16, copy=False)
    if int(a.max(initial=0)) >= 2**n:
        raise DatasetError(f"{path}: field 'value' = {int(a.max())}: exceeds the {n}-bit codes "
                           "the PNG declares")
    return np.ascontiguousarray(a), n


def tbr_binary_frames(codes: np.ndarray, n_bits: int) -> np.ndarray:
    """Decode TBR codes into their binary frames.

    Args:
        codes: ``(..., H, W)`` unsigned integer codes of ``n_bits`` bits.
        n_bits: ``N``.

    Returns:
        bool ``(..., N, H, W)``: binary frame ``i`` is bit ``i`` of the code (least significant
        bit = the earliest frame; Innocenti et al., ICPR 2020, Eq. 1, weights frame ``i`` by
        ``2^i``).

    Raises:
        ValueError: ``n_bits`` not in 1..16 or a code with a bit at or above ``n_bits``.

    >>> tbr_binary_frames(np.array([[5]], dtype=np.uint8), 3)[:, 0, 0].tolist()
    [True, False, True]
    """
    if not 1 <= int(n_bits) <= 16:
        raise ValueError(f"n_bits must be in 1..16, got {n_bits}")
    codes = np.asarray(codes)
    if codes.size and int(codes.max()) >= 2**n_bits:
        raise ValueError(f"codes: value {int(codes.max())} has a bit at or above n_bits={n_bits}")
    shifts = np.arange(n_bits, dtype=codes.dtype).reshape((n_bits,) + (1,) * codes.ndim)
    bits = (codes[None] >> shifts) & 1  # (N, ..., H, W)
    return np.moveaxis(bits.astype(bool), 0, -3)


def binary_time_bins(binary: np.ndarray, n_time_bins: int) -> np.ndarray:
    """Count binary frames ``(K, H, W)`` (0/1, in time order) in ``n_time_bins`` equal time bins:
    frame ``k`` goes to bin ``k * T // K``, as :func:`tbr_time_bins` (which does the same from
    the TBR codes without decoding them).

    Returns:
        uint16 ``(T, H, W)``.

    Raises:
        ValueError: no frame or ``n_time_bins < 1``.

    >>> binary_time_bins(np.ones((5, 1, 1), dtype=np.uint8), 2)[:, 0, 0].tolist()
    [3, 2]
    """
    k = int(binary.shape[0])
    if k == 0 or n_time_bins < 1:
        raise ValueError(f"need >= 1 frame and n_time_bins >= 1, got {k}, {n_time_bins}")
    which = np.arange(k) * int(n_time_bins) // k
    out = np.zeros((int(n_time_bins), *binary.shape[1:]), dtype=np.uint16)
    for b in range(int(n_time_bins)):
        out[b] = binary[which == b].sum(axis=0, dtype=np.uint16)
    return out


def _popcount(codes: np.ndarray) -> np.ndarray:
    if codes.dtype == np.uint8:
        return np.take(_POPCOUNT8, codes)
    return np.take(_POPCOUNT8, codes & 0xFF) + np.take(_POPCOUNT8, codes >> 8)


def tbr_time_bins(frames: list[np.ndarray], n_bits: int, n_time_bins: int) -> np.ndarray:
    """Count the binary frames of a TBR sequence in ``n_time_bins`` equal time bins.

    The ``F`` images hold ``F * N`` binary frames of equal duration, in time order (image ``f``,
    bit ``i`` is binary frame ``f * N + i``); binary frame ``k`` goes to bin
    ``k * T // (F * N)``. Each image adds, to every bin its N frames touch, the population count
    of its code masked to that bin's bits (one table look-up per bin touched, not one pass per
    bit).

    Args:
        frames: ``F`` code images ``(H, W)`` (see :func:`read_tbr`).
        n_bits: ``N``.
        n_time_bins: ``T >= 1``.

    Returns:
        uint16 ``(T, H, W)``: per pixel, the number of binary frames of each bin with a 1.

    Raises:
        ValueError: no frame or ``n_time_bins < 1``.
    """
    if not frames or n_time_bins < 1:
        raise ValueError(f"need >= 1 frame and n_time_bins >= 1, got {len(frames)}, {n_time_bins}")
    total = len(frames) * n_bits
    h, w = frames[0].shape
    acc = np.zeros((n_time_bins, h, w), dtype=np.uint16)
    for f, codes in enumerate(frames):
        masks: dict[int, int] = {}
        for i in range(n_bits):
            b = (f * n_bits + i) * n_time_bins // total
            masks[b] = masks.get(b, 0) | (1 << i)
        for b, mask in masks.items():
            acc[b] += _popcount(codes if len(masks) == 1 else codes & codes.dtype.type(mask))
    return acc
