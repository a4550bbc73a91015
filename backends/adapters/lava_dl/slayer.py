"""SLAYER's constants (fixed-point scales, spike-function multipliers) and its import without
its object-detection subpackage (which needs torchvision and OpenCV)."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import sys
import types

import torch

from backends.base import BackendUnavailableError

log = logging.getLogger(__name__)


LAVA_DL_DIST = "lava-dl"
"""Distribution name of lava-dl on PyPI (for :func:`versions`)."""

SLAYER_W_SCALE = 1 << 6
"""SLAYER's ``scale`` = ``w_scale``: weights and threshold in units of 1/64 (``neuron/cuba.py``,
``Neuron.__init__`` default ``scale=1 << 6``; ``neuron/base.py`` quantizes the threshold with
it)."""

SLAYER_S_SCALE = SLAYER_W_SCALE * (1 << 6)
"""SLAYER's state scale ``s_scale = scale * (1 << 6)`` = 4096 (``neuron/cuba.py``)."""

SLAYER_P_SCALE = 1 << 12
"""SLAYER's parameter scale for decays, 4096 (``neuron/cuba.py``, ``p_scale=1 << 12``)."""

TAU_RHO_MULT = 100.0
"""Multiplier of ``tau_rho`` in SLAYER's spike function (``neuron/cuba.py``, ``TAU_RHO_MULT``)."""

SCALE_RHO_MULT = 0.1
"""Multiplier of ``scale_rho`` in SLAYER's spike function (``neuron/cuba.py``,
``SCALE_RHO_MULT``)."""

_OBD_MODULE = "lava.lib.dl.slayer.object_detection"


def import_slayer() -> types.ModuleType:
    """Import and return ``lava.lib.dl.slayer``.

    ``lava/lib/dl/slayer/__init__.py`` imports its ``object_detection`` subpackage, which imports
    torchvision and OpenCV; neither is a dependency of this project (and they must not be
    installed just for this). We never use object detection, so an empty module is registered
    under that name in ``sys.modules`` before the import, which then succeeds without them.

    Raises:
        BackendUnavailableError: lava-dl is missing or fails to import (message says why), or its
            spike-function constants differ from those this adapter's mapping assumes.
    """
    if "lava.lib.dl.slayer" not in sys.modules and _OBD_MODULE not in sys.modules:
        stub = types.ModuleType(_OBD_MODULE)
        stub.__doc__ = "Empty stand-in registered by backends.adapters.lava_dl (needs torchvision, cv2)."
        sys.modules[_OBD_MODULE] = stub
        log.debug("registered an empty %s (it needs torchvision and OpenCV)", _OBD_MODULE)
    try:
        slayer = importlib.import_module("lava.lib.dl.slayer")
    except Exception as exc:  # ImportError, or anything lava-dl raises on import
        raise BackendUnavailableError(
            f"lava-dl (lava.lib.dl.slayer) failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    cuba = slayer.neuron.cuba
    if (cuba.TAU_RHO_MULT, cuba.SCALE_RHO_MULT) != (TAU_RHO_MULT, SCALE_RHO_MULT):
        raise BackendUnavailableError(
            "lava-dl's spike-function constants changed: TAU_RHO_MULT, SCALE_RHO_MULT = "
            f"{cuba.TAU_RHO_MULT}, {cuba.SCALE_RHO_MULT} (expected {TAU_RHO_MULT}, "
            f"{SCALE_RHO_MULT}); update backends/adapters/lava_dl/slayer.py"
        )
    if torch.cuda.is_available():
        jitconfig = importlib.import_module("lava.lib.dl.slayer.jitconfig")
        jitconfig.TORCH_CUDA_ARCH_LIST = cuda_arch_list(torch.cuda.get_device_capability(0))
    return slayer


def cuda_arch_list(capability: tuple[int, int]) -> str:
    """``TORCH_CUDA_ARCH_LIST`` for SLAYER's JIT-compiled kernels on a device of compute
    ``capability`` ``(major, minor)``: that architecture itself (``(9, 0)`` -> ``"9.0"``, code for
    ``sm_90``), replacing lava-dl's ``jitconfig`` value ``"8.0"`` for every capability >= 8 (the
    ``sm_80`` code does not run on ``sm_90``, and it carries no PTX to compile there).

    Raises:
        ValueError: a capability that is not two non-negative integers.
    """
    major, minor = capability
    if not (isinstance(major, int) and isinstance(minor, int) and major >= 0 and minor >= 0):
        raise ValueError(f"compute capability: expected (major, minor) integers, got {capability!r}")
    return f"{major}.{minor}"


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


