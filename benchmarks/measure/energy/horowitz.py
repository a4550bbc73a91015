"""The default energy model, ``horowitz2014``: arithmetic only, the usual estimate in SNN papers
(e.g. Spiking-FER, CBMI 2023), kept as ``energy_uj_per_inference``:

.. math:: E = N_{AC} \\cdot E_{AC} + N_{MAC} \\cdot E_{MAC}

with ``N_AC`` / ``N_MAC`` the effective accumulates / multiply-accumulates per inference
(NeuroBench's "Effective_ACs" / "Effective_MACs", see :func:`benchmarks.measure.metrics.activity_summary`)
and ``E_AC`` / ``E_MAC`` the energy of one operation from :data:`ENERGY_PER_OP_PJ`.

All energies per operation of the default come from ONE source: M. Horowitz, "1.1 Computing's
energy problem (and what we can do about it)", IEEE ISSCC 2014, pp. 10-14, DOI
10.1109/ISSCC.2014.6757323, Fig. 1.1.9 "Rough energy costs for various operations in 45nm 0.9V":

============  =========  ==========
operation     add (pJ)   mult (pJ)
============  =========  ==========
8-bit int     0.03       0.2
32-bit int    0.1        3.1
16-bit float  0.4        1.1
32-bit float  0.9        3.7
============  =========  ==========

An AC is one add; a MAC is one multiply plus one add (so 32-bit float: 3.7 + 0.9 = 4.6 pJ). The
default counts arithmetic only: no memory access, data movement or static power, which dominate on
real hardware (Dampfhoffer et al., IEEE TETCI 2023; Lemaire et al., ICONIP 2022). It is an
estimate for comparing models, not a measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.measure.energy.common import (
    PJ_PER_UJ,
    EnergyInputs,
    EnergyModel,
    ModelEnergy,
    _per_sample,
    register_energy_model,
)
from datasets.common import unknown_name_error

if TYPE_CHECKING:
    from backends.base import LayerActivity

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
        The dict
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
        "energy_uj_per_inference": energy_pj / PJ_PER_UJ,
        "energy_model": row["energy_model"],
        "energy_node": node,
        "energy_ac_pj": row["ac_pj"],
        "energy_mac_pj": row["mac_pj"],
    }


def _compute(inputs: EnergyInputs) -> ModelEnergy:
    return horowitz_energy(inputs.activity, n_samples=inputs.n_samples, spiking=inputs.spiking)


MODEL = register_energy_model(EnergyModel(
    name="horowitz2014",
    title="arithmetic only, 45 nm FP32 (Horowitz 2014)",
    applies_to=("snn", "ann"),
    constants={"ac_pj": 0.9, "mac_pj": 4.6},
    sources=(_HOROWITZ + ": 32-bit float add 0.9 pJ, mult 3.7 pJ",),
    counts="effective ACs x 0.9 pJ + effective MACs x 4.6 pJ (NeuroBench SynapticOperations, "
           "zero inputs and zero weights skipped, padding excluded)",
    not_counted="memory accesses (weights, potentials, activations), neuron updates, "
                "addressing, data movement, static power",
    compute=_compute,
))
"""The ``horowitz2014`` row of ``ENERGY_MODELS``."""


def horowitz_energy(activity: Sequence[LayerActivity], *, n_samples: int,
                    spiking: bool) -> ModelEnergy:
    """``horowitz2014``: effective ACs x 0.9 pJ + effective MACs x 4.6 pJ per sample (the same
    numbers as :func:`estimate_energy` with the default node). Spike-driven part (SNN): the
    operations of every layer but the first (whose input is the data)."""
    c = MODEL.constants
    e = ModelEnergy()
    for L in _per_sample(activity, n_samples):
        drv = spiking and L.index > 0
        e.add("acs", L.acs * c["ac_pj"], drv)
        e.add("macs", L.macs * c["mac_pj"], drv)
        e.count("acs", L.acs)
        e.count("macs", L.macs)
    return e
