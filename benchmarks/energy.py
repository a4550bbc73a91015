"""Estimated energy per inference from operation counts, and static model size metrics.

Energy model (the usual one in SNN papers, e.g. Spiking-FER, CBMI 2023):

.. math:: E = N_{AC} \\cdot E_{AC} + N_{MAC} \\cdot E_{MAC}

with ``N_AC`` / ``N_MAC`` the effective accumulates / multiply-accumulates per inference
(NeuroBench's "Effective_ACs" / "Effective_MACs", see :func:`benchmarks.metrics.activity_summary`)
and ``E_AC`` / ``E_MAC`` the energy of one operation from :data:`ENERGY_PER_OP_PJ`.

All energies per operation come from ONE source: M. Horowitz, "1.1 Computing's energy problem
(and what we can do about it)", IEEE ISSCC 2014, pp. 10-14, DOI 10.1109/ISSCC.2014.6757323,
Fig. 1.1.9 "Rough energy costs for various operations in 45nm 0.9V":

============  =========  ==========
operation     add (pJ)   mult (pJ)
============  =========  ==========
8-bit int     0.03       0.2
32-bit int    0.1        3.1
16-bit float  0.4        1.1
32-bit float  0.9        3.7
============  =========  ==========

An AC is one add; a MAC is one multiply plus one add (so 32-bit float: 3.7 + 0.9 = 4.6 pJ). The
model counts arithmetic only: no memory access, data movement or static power, which dominate on
real hardware. It is an estimate for comparing models, not a measurement.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from datasets.common import unknown_name_error

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

__all__ = ["ENERGY_PER_OP_PJ", "DEFAULT_NODE", "estimate_energy", "count_parameters",
           "footprint_bytes"]

_HOROWITZ = (
    "Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, "
    "pp. 10-14, Fig. 1.1.9 (45nm, 0.9V)"
)

ENERGY_PER_OP_PJ: dict[str, dict[str, Any]] = {
    "45nm": {
        "ac_pj": 0.9,  # 32-bit float add
        "mac_pj": 4.6,  # 32-bit float multiply 3.7 + add 0.9
        "arithmetic": "32-bit float",
        "energy_model": "horowitz-isscc2014-45nm",
        "source": _HOROWITZ,
    },
    "45nm-fp16": {
        "ac_pj": 0.4,  # 16-bit float add
        "mac_pj": 1.5,  # 16-bit float multiply 1.1 + add 0.4
        "arithmetic": "16-bit float",
        "energy_model": "horowitz-isscc2014-45nm-fp16",
        "source": _HOROWITZ,
    },
    "45nm-int32": {
        "ac_pj": 0.1,  # 32-bit int add
        "mac_pj": 3.2,  # 32-bit int multiply 3.1 + add 0.1
        "arithmetic": "32-bit int",
        "energy_model": "horowitz-isscc2014-45nm-int32",
        "source": _HOROWITZ,
    },
    "45nm-int8": {
        "ac_pj": 0.03,  # 8-bit int add
        "mac_pj": 0.23,  # 8-bit int multiply 0.2 + add 0.03
        "arithmetic": "8-bit int",
        "energy_model": "horowitz-isscc2014-45nm-int8",
        "source": _HOROWITZ,
    },
}
"""Energy per operation in picojoules, by named process node / arithmetic (see module docstring)."""

DEFAULT_NODE = "45nm"
"""The default: 45 nm, 32-bit float (MAC 4.6 pJ, AC 0.9 pJ)."""

_PJ_PER_UJ = 1e6


def _check_count(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number of operations >= 0, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a number of operations >= 0, got {value!r}") from exc
    if not (v >= 0.0) or v == float("inf"):  # also rejects NaN
        raise ValueError(f"{name}: expected a finite number of operations >= 0, got {value!r}")
    return v


def estimate_energy(
    effective_acs: float, effective_macs: float, node: str = DEFAULT_NODE
) -> dict[str, Any]:
    """Estimated energy of one inference: ``ACs * E_AC + MACs * E_MAC`` (see module docstring).

    Args:
        effective_acs: effective accumulates per inference (per sample), ``>= 0``.
        effective_macs: effective multiply-accumulates per inference (per sample), ``>= 0``.
        node: a key of :data:`ENERGY_PER_OP_PJ` (default ``"45nm"``: 32-bit float).

    Returns:
        ``{"energy_uj_per_inference": float (µJ), "energy_model": str, "energy_node": node,
        "energy_ac_pj": E_AC, "energy_mac_pj": E_MAC}``.

    Raises:
        UnknownNameError (a ``KeyError``): unknown ``node``; the message lists the known nodes.
        ValueError: a count that is negative, NaN, infinite or not a number.

    Example:
        >>> estimate_energy(1e6, 0)["energy_uj_per_inference"]  # 1e6 * 0.9 pJ = 0.9 µJ
        0.9
    """
    if node not in ENERGY_PER_OP_PJ:
        raise unknown_name_error("energy node", str(node), list(ENERGY_PER_OP_PJ))
    acs = _check_count(effective_acs, "effective_acs")
    macs = _check_count(effective_macs, "effective_macs")
    row = ENERGY_PER_OP_PJ[node]
    energy_pj = acs * row["ac_pj"] + macs * row["mac_pj"]
    return {
        "energy_uj_per_inference": energy_pj / _PJ_PER_UJ,
        "energy_model": row["energy_model"],
        "energy_node": node,
        "energy_ac_pj": row["ac_pj"],
        "energy_mac_pj": row["mac_pj"],
    }


def _check_module(model: Any, fn: str) -> torch.nn.Module:
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{fn}: expected a torch.nn.Module, got {type(model).__name__}")
    return model


def count_parameters(model: torch.nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (elements) of ``model``, as NeuroBench's ``ParameterCount``.

    Shared parameters count once (``model.parameters()`` deduplicates them); buffers (e.g.
    batch-norm running statistics) are not parameters and do not count.

    Args:
        model: a ``torch.nn.Module``.
        trainable_only: count only parameters with ``requires_grad``.

    Returns:
        The number of scalar parameters.

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``.

    Example:
        >>> import torch
        >>> count_parameters(torch.nn.Linear(20, 20))  # 400 weights + 20 biases
        420
    """
    m = _check_module(model, "count_parameters")
    return int(sum(p.numel() for p in m.parameters() if p.requires_grad or not trainable_only))


def footprint_bytes(model: torch.nn.Module) -> int:
    """Memory footprint of ``model``: bytes of all parameters plus all buffers.

    .. math:: \\sum_{p \\in params} numel(p) \\cdot element\\_size(p)
        + \\sum_{b \\in buffers} numel(b) \\cdot element\\_size(b)

    as NeuroBench's ``Footprint`` (neurobench 2.3.0 ``metrics/static/footprint.py``). Buffers
    include batch-norm running mean/var and ``num_batches_tracked`` (int64) and any neuron state
    a framework registers as a buffer. Shared tensors count once.

    Args:
        model: a ``torch.nn.Module``.

    Returns:
        Size in bytes.

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``.

    Example:
        >>> import torch
        >>> footprint_bytes(torch.nn.Linear(20, 20))  # 420 float32 parameters * 4 bytes
        1680
    """
    m = _check_module(model, "footprint_bytes")
    params = sum(p.numel() * p.element_size() for p in m.parameters())
    buffers = sum(b.numel() * b.element_size() for b in m.buffers())
    return int(params + buffers)
