"""Estimated energy per inference from operation counts, and static model size metrics.

Default model (the usual one in SNN papers, e.g. Spiking-FER, CBMI 2023), kept as
``energy_uj_per_inference``:

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

Further models (:data:`ENERGY_MODELS`, one table with sources; :func:`energy_metrics` computes all
of them for every record, keys ``energy_uj_per_inference__<model>``):

* ``horowitz2014``: the default above, repeated under its model name.
* ``lemaire2022``: the memory-aware model of Lemaire et al. (ICONIP 2022, arXiv 2210.13107):
  ``E = E_ops + E_addr + E_inout + E_params + E_potential`` with 32-bit integer arithmetic
  (Horowitz: add 0.1 pJ, mult 3.1 pJ) and every 32-bit SRAM access costed by the size of the
  buffer it hits, linearly interpolated between Horowitz's 8 KB 10 pJ, 32 KB 20 pJ and 1 MB
  100 pJ (:func:`sram_pj_per_byte`), under this suite's conventions (see
  :func:`lemaire_energy`): counts from NeuroBench's effective operations, buffers sized per
  sample and time step.
* ``lemaire2022_sj``: the same model under spikingjelly 2.0.0's conventions
  (``spikingjelly.activation_based.op_counter.LemaireEnergyProfiler``); tests check that it
  equals spikingjelly's own figure on the same model and input.
* ``loihi2018``: per-operation energies of Intel's Loihi (Davies et al., IEEE Micro 2018,
  Table 2, p. 96): synaptic spike op 23.6 pJ, neuron update 81 pJ active / 52 pJ inactive,
  within-tile spike 1.7 pJ. SNNs only.

Layers a chip does not have: batch norm is folded into the weights and the threshold (no cost
under any model); max pooling and ReLU are comparisons that no model here costs (spikes are
counted before pooling, synaptic operations on the pooled input); the time-averaged readout
(logits = mean over time of the readout current) is costed as accumulators: its synaptic
operations and, in the memory-aware models, the reads/writes of its K accumulators (or, for a
real-valued input, the writes of its K outputs per step); the final division by T is not
costed. The ANN twin runs on the same memory model as dense hardware: every layer processes
all its inputs (dense MACs, one input read and one weight read per MAC for a conv, activations
written per step); the Loihi model does not apply to it (``None``).

The break-even firing rate (:func:`break_even_firing_rate`) is the firing rate at which an SNN's
energy under a model would equal its ANN twin's, from the split of the SNN's energy into a part
proportional to its spikes and a fixed part.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datasets.common import unknown_name_error

if TYPE_CHECKING:
    import torch

    from backends.base import LayerActivity

log = logging.getLogger(__name__)

__all__ = ["ENERGY_PER_OP_PJ", "DEFAULT_NODE", "estimate_energy", "count_parameters",
           "footprint_bytes", "EnergyModel", "ENERGY_MODELS", "DEFAULT_ENERGY_MODEL",
           "ModelEnergy", "sram_pj_per_byte", "horowitz_energy", "lemaire_energy",
           "loihi_energy", "op_counts", "break_even_firing_rate", "energy_metrics",
           "energy_key", "spike_driven_key", "MissingActivityError"]

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


# ============================================================================================
# Energy models beyond arithmetic: one table with sources
# ============================================================================================

_LEMAIRE = (
    "E. Lemaire, L. Cordone, A. Castagnetti, P.-E. Novac, J. Courtois, B. Miramond, 'An "
    "Analytical Estimation of Spiking Neural Networks Energy Efficiency', ICONIP 2022, LNCS "
    "13623, Springer 2023, DOI 10.1007/978-3-031-30105-6_48, arXiv:2210.13107: Sec. 3, "
    "E = E_ops + E_addr + E_inout + E_params + E_potential, SRAM access cost interpolated on "
    "buffer size, FIFO of 1000 messages per layer in its experiments"
)
_HOROWITZ_MEMORY = (
    "Horowitz, ISSCC 2014, pp. 10-14, Fig. 1.1.9 (45nm, 0.9V): 32-bit int add 0.1 pJ, mult "
    "3.1 pJ; SRAM (64-bit access) 8KB 10 pJ, 32KB 20 pJ, 1MB 100 pJ, the points Lemaire et al. "
    "interpolate (taken per 32-bit word, as they and spikingjelly do)"
)
_SPIKINGJELLY_LEMAIRE = (
    "spikingjelly 2.0.0, spikingjelly/activation_based/op_counter/analytical_energy.py "
    "(LemaireEnergyProfiler, LemaireEnergyCostConfig): the executable form of the equations "
    "used here; its docstring notes that the paper's Eq. (2) multiplies the FC fan-out by N_in "
    "once too often and follows Eqs. (8), (10), (15), (17) instead"
)
_DAVIES = (
    "M. Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip Learning', IEEE "
    "Micro 38(1), 2018, pp. 82-99, DOI 10.1109/MM.2018.112130359, Table 2 'Loihi pre-silicon "
    "performance and energy measurements' (SDF and SPICE simulation, consistent with early "
    "post-silicon characterization), p. 96: energy per synaptic spike op (min) 23.6 pJ, per "
    "synaptic update (pairwise STDP) 120 pJ, per neuron update (active / inactive) 81 / 52 pJ, "
    "within-tile spike energy 1.7 pJ, per tile hop (E-W / N-S) 3.0 / 4.0 pJ"
)


@dataclass(frozen=True)
class EnergyModel:
    """One named energy model of :data:`ENERGY_MODELS`.

    Attributes:
        name: the key suffix in records (``energy_uj_per_inference__<name>``).
        title: one line for tables and figures.
        applies_to: ``("snn", "ann")`` or ``("snn",)``: for which networks it gives a figure.
        constants: the model's constants, units in the names (``*_pj``, ``*_bytes``).
        sources: citations (paper, table or figure, page) of every constant and formula.
        counts: what the model includes.
        not_counted: what it leaves out.
    """

    name: str
    title: str
    applies_to: tuple[str, ...]
    constants: Mapping[str, float]
    sources: tuple[str, ...]
    counts: str
    not_counted: str

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for records (title, sources, constants, applies_to)."""
        return {"title": self.title, "applies_to": list(self.applies_to),
                "constants": dict(self.constants), "sources": list(self.sources)}


_LEMAIRE_CONSTANTS: dict[str, float] = {
    "add_pj": 0.1,  # Horowitz Fig. 1.1.9: 32-bit int add
    "mult_pj": 3.1,  # 32-bit int mult (a MAC: 3.1 + 0.1)
    "sram_8kib_pj_per_access": 10.0,  # 32-bit access of an 8 KiB buffer
    "sram_32kib_pj_per_access": 20.0,
    "sram_1mib_pj_per_access": 100.0,  # and above (clamped)
    "word_bytes": 4.0,  # weights, potentials, activations and spike messages are 32-bit words
    "fifo_messages": 1000.0,  # spike FIFO per layer (Lemaire et al.'s experiments)
}

ENERGY_MODELS: dict[str, EnergyModel] = {
    "horowitz2014": EnergyModel(
        name="horowitz2014",
        title="arithmetic only, 45 nm FP32 (Horowitz 2014)",
        applies_to=("snn", "ann"),
        constants={"ac_pj": 0.9, "mac_pj": 4.6},
        sources=(_HOROWITZ + ": 32-bit float add 0.9 pJ, mult 3.7 pJ",),
        counts="effective ACs x 0.9 pJ + effective MACs x 4.6 pJ (NeuroBench SynapticOperations, "
               "zero inputs and zero weights skipped, padding excluded)",
        not_counted="memory accesses (weights, potentials, activations), neuron updates, "
                    "addressing, data movement, static power",
    ),
    "lemaire2022": EnergyModel(
        name="lemaire2022",
        title="memory-aware, 45 nm int32 + SRAM by buffer size (Lemaire 2022, suite conventions)",
        applies_to=("snn", "ann"),
        constants=dict(_LEMAIRE_CONSTANTS),
        sources=(_LEMAIRE, _HOROWITZ_MEMORY, _SPIKINGJELLY_LEMAIRE),
        counts="SNN, binary input (event-driven): per synaptic op one add, one address add, one "
               "weight read, one potential read and write; per input event one FIFO read "
               "(+ 2 address mults for a conv); per neuron and step one potential read and "
               "write (+ one leak mult-add for LIF); per spike one add and one FIFO write. "
               "Real-valued input and the ANN twin (dense): per MAC one mult-add, one weight "
               "read, one input read (conv; a Linear reads each input once per step); output "
               "writes of layers without spiking neurons; address adds per step. Counts are "
               "NeuroBench's effective / dense operations; buffers are sized per sample and step "
               "(weights: the layer's; potentials: the layer's outputs; inputs: one frame; "
               "spikes: a 1000-message FIFO)",
        not_counted="batch norm (folded), pooling and ReLU (comparisons), the final 1/T of the "
                    "readout, DRAM and off-chip traffic, static power",
    ),
    "lemaire2022_sj": EnergyModel(
        name="lemaire2022_sj",
        title="memory-aware (Lemaire 2022) under spikingjelly 2.0 conventions, batch 1",
        applies_to=("snn", "ann"),
        constants=dict(_LEMAIRE_CONSTANTS),
        sources=(_LEMAIRE, _HOROWITZ_MEMORY, _SPIKINGJELLY_LEMAIRE),
        counts="as spikingjelly's LemaireEnergyProfiler (strict=False) on the suite's models: "
               "synaptic ops of a spike input = events x C_out x ceil(k/s)^2, weight and "
               "potential accesses = events x C_out x k^2 (padding included); a dense conv reads "
               "one input per weight use (output elements x C_in k^2, padding included); a "
               "layer is spike-driven when its whole input is binary; buffers sized by the "
               "forward call (inputs and conv potentials: the whole B x T tensor; neuron "
               "potentials: B x neurons), here for batch 1; outputs written only by models "
               "without spiking neurons",
        not_counted="batch norm, pooling, ReLU (spikingjelly omits unsupported modules with a "
                    "warning), DRAM, static power",
    ),
    "loihi2018": EnergyModel(
        name="loihi2018",
        title="Loihi per-operation energies (Davies 2018, Table 2)",
        applies_to=("snn",),
        constants={"synop_pj": 23.6, "neuron_update_active_pj": 81.0,
                   "neuron_update_inactive_pj": 52.0, "spike_within_tile_pj": 1.7,
                   "synaptic_update_stdp_pj": 120.0},
        sources=(_DAVIES,),
        counts="synaptic ops (effective ACs; a real-valued input's effective MACs as one graded "
               "op each) x 23.6 pJ; neuron updates x 81 pJ when the membrane changed "
               "(NeuroBench's MembraneUpdates, where observed; otherwise every update is costed "
               "active) and x 52 pJ otherwise, the readout's K accumulators updated every step; "
               "spikes x 1.7 pJ (within-tile delivery)",
        not_counted="inter-tile hops (3.0-4.0 pJ each; placement unknown), off-chip input, "
                    "learning (120 pJ per synaptic update), static/leakage power, the x86 cores; "
                    "23.6 pJ is the table's minimum. Not applicable to the ANN twin",
    ),
}
"""Energy models by name (see the module docstring and :class:`EnergyModel`)."""

DEFAULT_ENERGY_MODEL = "horowitz2014"
"""The model of the plain ``energy_uj_per_inference`` key (same numbers as before)."""

_PJ_PER_UJ_F = 1e6


def energy_key(model: str) -> str:
    """The record key of ``model``'s energy per inference: ``energy_uj_per_inference__<model>``."""
    return f"energy_uj_per_inference__{model}"


def spike_driven_key(model: str) -> str:
    """The record key of the spike-proportional part of an SNN's energy under ``model``."""
    return f"energy_spike_driven_uj_per_inference__{model}"


def sram_pj_per_byte(capacity_bytes: float,
                     constants: Mapping[str, float] = _LEMAIRE_CONSTANTS) -> float:
    """Energy of accessing one byte of an SRAM buffer of ``capacity_bytes`` (pJ per byte).

    Piecewise linear through ``(0, 0)``, ``(8 KiB, 10 pJ / 4 B)``, ``(32 KiB, 20 pJ / 4 B)``,
    ``(1 MiB, 100 pJ / 4 B)`` and constant above 1 MiB: Lemaire et al. (ICONIP 2022) interpolate
    Horowitz's SRAM figures (ISSCC 2014, Fig. 1.1.9) by buffer size; the per-byte form and the
    clamp are spikingjelly 2.0.0's (``LemaireEnergyCostConfig.memory_cost_pj``).

    Raises:
        ValueError: a negative or non-finite capacity.

    Example:
        >>> sram_pj_per_byte(8192)  # an 8 KiB buffer: 10 pJ per 32-bit access
        2.5
        >>> sram_pj_per_byte(4000)  # the 1000-message spike FIFO: 4000 * 2.5 / 8192
        1.220703125
    """
    c = float(capacity_bytes)
    if not math.isfinite(c) or c < 0:
        raise ValueError(f"capacity_bytes: expected a finite number >= 0, got {capacity_bytes!r}")
    w = constants["word_bytes"]
    pts = ((0.0, 0.0), (8192.0, constants["sram_8kib_pj_per_access"] / w),
           (32768.0, constants["sram_32kib_pj_per_access"] / w),
           (1048576.0, constants["sram_1mib_pj_per_access"] / w))
    c = min(c, pts[-1][0])
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if c <= x1:
            return y0 + (y1 - y0) / (x1 - x0) * (c - x0)
    return pts[-1][1]  # pragma: no cover (c is clamped)


@dataclass
class ModelEnergy:
    """Energy of one inference under one model, with its parts.

    Attributes:
        total_pj: energy per inference (pJ).
        spike_driven_pj: the part proportional to the network's own spikes (synaptic events of
            every layer but the first, per-spike costs); the rest is fixed (see
            :func:`break_even_firing_rate`).
        breakdown_pj: by component (``ops``, ``addressing``, ``inout``, ``params``,
            ``potential``, ``synops``, ``neuron_updates``, ``spikes``, ...).
        counts: per-sample counts the model used (operations, 32-bit accesses).
        per_layer: ``{layer: {count: value}}`` per sample (memory-aware model only).
    """

    total_pj: float = 0.0
    spike_driven_pj: float = 0.0
    breakdown_pj: dict[str, float] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)
    per_layer: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, component: str, pj: float, spike_driven: bool = False) -> None:
        """Add ``pj`` picojoules to ``component`` (and to the spike-driven part if so)."""
        self.total_pj += pj
        self.breakdown_pj[component] = self.breakdown_pj.get(component, 0.0) + pj
        if spike_driven:
            self.spike_driven_pj += pj

    def count(self, name: str, value: float, layer: str | None = None) -> None:
        """Add ``value`` to count ``name`` (and to ``layer``'s own counts)."""
        self.counts[name] = self.counts.get(name, 0.0) + value
        if layer is not None:
            d = self.per_layer.setdefault(layer, {})
            d[name] = d.get(name, 0.0) + value


class MissingActivityError(ValueError):
    """The per-layer activity lacks what a model needs (``connection`` / ``input_nonzeros``,
    recorded by :class:`backends.activity.ActivityRecorder`); the message names the layer."""


@dataclass(frozen=True)
class _Layer:
    """One layer's activity per sample (see :func:`_per_sample`)."""

    name: str
    index: int
    acs: float
    macs: float
    dense: float
    input_events: float | None
    spikes: float
    neurons: int
    time_steps: int
    connection: Any

    @property
    def binary(self) -> bool:
        """All of its input was in {-1, 0, 1} (no effective MAC was recorded)."""
        return self.macs == 0

    @property
    def has_ops(self) -> bool:
        return self.connection is not None or self.dense > 0 or self.acs > 0 or self.macs > 0


def _per_sample(activity: Sequence[LayerActivity], n_samples: int) -> list[_Layer]:
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples: expected a positive int, got {n_samples!r}")
    n_samples = int(n_samples)
    out = []
    for i, la in enumerate(activity):
        for attr in ("spikes", "effective_acs", "effective_macs", "dense_ops"):
            v = float(getattr(la, attr))
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"layer {la.name!r}: {attr} must be finite and >= 0, got {v!r}")
        nz = getattr(la, "input_nonzeros", None)
        out.append(_Layer(
            name=la.name, index=i, acs=float(la.effective_acs) / n_samples,
            macs=float(la.effective_macs) / n_samples, dense=float(la.dense_ops) / n_samples,
            input_events=None if nz is None else float(nz) / n_samples,
            spikes=float(la.spikes) / n_samples, neurons=int(la.neurons),
            time_steps=int(la.time_steps), connection=getattr(la, "connection", None),
        ))
    return out


def _need(layer: _Layer, what: str) -> None:
    if what == "connection" and layer.connection is None:
        raise MissingActivityError(
            f"layer {layer.name!r}: no 'connection' shape recorded (ActivityRecorder.ops sets it; "
            "accumulate_activity must keep it)")
    if what == "input_events" and layer.input_events is None:
        raise MissingActivityError(
            f"layer {layer.name!r}: no 'input_nonzeros' recorded (ActivityRecorder.ops sets it; "
            "accumulate_activity must sum it)")


def _leaks(neuron: Any) -> bool:
    """LIF (a leak multiply per neuron and step) unless the spec says IF (beta = 1)."""
    model = getattr(neuron, "model", neuron)
    return str(model).lower() != "if"


def horowitz_energy(activity: Sequence[LayerActivity], *, n_samples: int,
                    spiking: bool) -> ModelEnergy:
    """``horowitz2014``: effective ACs x 0.9 pJ + effective MACs x 4.6 pJ per sample (the same
    numbers as :func:`estimate_energy` with the default node). Spike-driven part (SNN): the
    operations of every layer but the first (whose input is the data)."""
    c = ENERGY_MODELS["horowitz2014"].constants
    e = ModelEnergy()
    for L in _per_sample(activity, n_samples):
        drv = spiking and L.index > 0
        e.add("acs", L.acs * c["ac_pj"], drv)
        e.add("macs", L.macs * c["mac_pj"], drv)
        e.count("acs", L.acs)
        e.count("macs", L.macs)
    return e


def lemaire_energy(activity: Sequence[LayerActivity], *, n_samples: int, spiking: bool,
                   neuron: Any = "lif", conventions: str = "suite",
                   batch_size: int = 1) -> ModelEnergy:
    """Memory-aware energy per inference (Lemaire et al., ICONIP 2022), in pJ.

    ``E = E_ops + E_addr + E_inout + E_params + E_potential``: arithmetic (``ops``: adds 0.1 pJ,
    mult-adds 3.2 pJ), address computation (``addressing``: the same costs), and 32-bit SRAM
    accesses of the input/output buffers (``inout``), the weights (``params``) and the membrane
    potentials (``potential``), each access costed by its buffer's size
    (:func:`sram_pj_per_byte`). Per layer, with ``E`` its synaptic events, ``A`` its input
    events, ``D`` its dense operations, ``n`` neurons, ``T`` steps, ``I`` / ``O`` inputs /
    outputs per step, ``W`` weights, ``F_in`` / ``F_out`` its fan-in / fan-out:

    ``conventions="suite"`` (model ``lemaire2022``, per sample):

    * SNN layer with binary input (event-driven): ``E`` = effective ACs adds and address adds,
      ``2 A`` address mult-adds (conv), ``A`` FIFO reads (4000-byte buffer), ``E`` weight
      reads (``4 W`` bytes), ``E`` potential reads and ``E`` writes (``4 O`` bytes);
    * dense layer (real-valued input, and every layer of the ANN twin): ``D`` mult-adds and
      weight reads, ``D`` input reads for a conv (``T I`` for a Linear; ``4 I`` bytes),
      ``T (I + O [+ C_out k^2])`` address adds, ``T O`` output writes (``4 O`` bytes) when the
      layer has no spiking neuron (the ANN's ReLU layers, a real-valued readout);
    * spiking neurons: ``n T`` potential reads and writes (``4 n`` bytes), ``n T`` leak
      mult-adds for LIF, one add and one FIFO write per spike;
    * a bias (none in the suite's specs) adds ``T O`` adds and weight reads.

    ``conventions="spikingjelly"`` (model ``lemaire2022_sj``): spikingjelly 2.0.0's
    ``LemaireEnergyProfiler`` on one forward call of ``batch_size`` samples (``N = B T``
    frames; the figure is divided by ``B``): spike input: ``A F_out_strided`` adds
    (``C_out ceil(k/s)^2``), ``A F_out`` address adds, weight reads and potential reads/writes
    (potential buffer ``4 N O`` bytes, the conv's whole output tensor); dense input:
    ``N O F_in`` mult-adds, weight reads and (conv) input reads from a ``4 N I``-byte buffer,
    ``N (I + O) + C_out k^2`` address adds, output writes only in a model without spiking
    neurons (spike path too for an ANN layer whose input is binary); neurons: potential
    buffer ``4 B n`` bytes.

    Args:
        activity: per-layer activity summed over ``n_samples`` (with ``connection`` and
            ``input_nonzeros``, :class:`backends.activity.ActivityRecorder`).
        n_samples: samples the activity covers.
        spiking: an SNN (event-driven layers, neurons with potentials) or the ANN twin.
        neuron: the neuron spec (``NeuronSpec``) or ``"lif"`` / ``"if"``: LIF pays a leak
            mult-add per neuron and step.
        conventions: ``"suite"`` or ``"spikingjelly"``.
        batch_size: ``B`` of the forward call (``"spikingjelly"`` only: its buffer sizes).

    Returns:
        :class:`ModelEnergy` (``counts`` in operations and 32-bit accesses per sample;
        ``per_layer`` for the suite conventions).

    Raises:
        MissingActivityError: a layer without ``connection`` or ``input_nonzeros``.
        ValueError: bad ``conventions``, ``batch_size`` or counts.
    """
    if conventions not in ("suite", "spikingjelly"):
        raise ValueError(f"conventions: expected 'suite' or 'spikingjelly', got {conventions!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    k = _LEMAIRE_CONSTANTS
    add, mac = k["add_pj"], k["mult_pj"] + k["add_pj"]
    wb = k["word_bytes"]
    fifo = k["fifo_messages"] * wb
    leak = spiking and _leaks(neuron)
    e = ModelEnergy()
    layers = _per_sample(activity, n_samples)
    sj = conventions == "spikingjelly"
    b = batch_size if sj else 1

    def ops(kind: str, n: float, drv: bool, layer: str) -> None:
        cost = add if kind in ("add", "addr_add") else mac
        e.add("addressing" if kind.startswith("addr") else "ops", n * cost / b, drv)
        e.count(kind, n / b, layer)

    def mem(kind: str, count: str, words: float, cap_bytes: float, drv: bool, layer: str) -> None:
        e.add(kind, words * wb * sram_pj_per_byte(cap_bytes, k) / b, drv)
        e.count(count, words / b, layer)

    for L in layers:
        c = L.connection
        drv = spiking and L.index > 0  # the first layer's input is the data, not spikes
        if L.has_ops:
            _need(L, "connection")
            t = L.time_steps
            frames = b * t  # frames of the call (sj) / of one sample (suite)
            event = (L.binary and spiking) if not sj else L.binary
            w_cap = wb * (c.weights + (c.out_shape[0] if c.bias else 0))
            if event:
                _need(L, "input_events")
                a = L.input_events * b
                if sj:
                    synops, fanout = a * c.fan_out_strided, a * c.fan_out
                    pot_cap = wb * frames * c.outputs
                else:
                    synops = fanout = L.acs
                    pot_cap = wb * c.outputs
                ops("add", synops, drv, L.name)
                ops("addr_add", fanout, drv, L.name)
                if c.kind == "conv":
                    ops("addr_mult_add", 2 * a, drv, L.name)
                mem("inout", "activation_reads", a, fifo, drv, L.name)
                mem("params", "weight_reads", fanout, w_cap, drv, L.name)
                mem("potential", "membrane_reads", fanout, pot_cap, drv, L.name)
                mem("potential", "membrane_writes", fanout, pot_cap, drv, L.name)
            else:
                if sj:
                    uses = frames * c.outputs * c.fan_in
                    in_cap = wb * frames * c.inputs
                    addr = frames * (c.inputs + c.outputs)
                    if c.kind == "conv":
                        addr += c.out_shape[0] * c.kernel[0] * c.kernel[1]
                    writes = (not spiking)
                else:
                    uses = L.dense
                    in_cap = wb * c.inputs
                    addr = t * (c.inputs + c.outputs)
                    if c.kind == "conv":
                        addr += t * c.out_shape[0] * c.kernel[0] * c.kernel[1]
                    writes = not (spiking and L.neurons > 0)
                ops("mult_add", uses, False, L.name)
                ops("addr_add", addr, False, L.name)
                reads = uses if c.kind == "conv" else frames * c.inputs
                mem("inout", "activation_reads", reads, in_cap, False, L.name)
                mem("params", "weight_reads", uses, w_cap, False, L.name)
                if writes:
                    out_cap = wb * (frames * c.outputs if sj else c.outputs)
                    mem("inout", "activation_writes", frames * c.outputs, out_cap, False, L.name)
            if c.bias:
                ops("add", frames * c.outputs, False, L.name)
                mem("params", "weight_reads", frames * c.outputs, w_cap, False, L.name)
        if spiking and L.neurons > 0:
            n, t = L.neurons, L.time_steps
            steps = n * t * b
            pot_cap = wb * n * b
            mem("potential", "membrane_reads", steps, pot_cap, False, L.name)
            mem("potential", "membrane_writes", steps, pot_cap, False, L.name)
            e.count("membrane_updates_dense", n * t, L.name)
            if leak:
                ops("mult_add", steps, False, L.name)
            ops("add", L.spikes * b, True, L.name)
            mem("inout", "activation_writes", L.spikes * b, fifo, True, L.name)
    return e


def loihi_energy(activity: Sequence[LayerActivity], *, n_samples: int,
                 membrane_updates_per_sample: float | None = None) -> ModelEnergy:
    """``loihi2018``: an SNN on Loihi, per sample (constants: Davies et al., IEEE Micro 2018,
    Table 2, p. 96).

    ``E = 23.6 pJ x synaptic ops + 81 pJ x active + 52 pJ x inactive neuron updates + 1.7 pJ x
    spikes``, where synaptic ops are the effective ACs plus, for a real-valued input (event
    counts), its effective MACs (one graded event per non-zero input and weight); neuron
    updates are every neuron of every spiking layer at every step plus the readout's K
    accumulators at every step; *active* are NeuroBench's membrane updates (the potential
    changed; ``membrane_updates_per_sample``, from :class:`backends.membrane.MembraneProbe`) plus
    the readout's updates, the rest *inactive*; without ``membrane_updates_per_sample`` every
    update is costed active (an upper bound). Spike-driven part: synaptic ops of every layer but
    the first, and the spikes.

    Raises:
        MissingActivityError: a readout layer without ``connection``.
    """
    c = ENERGY_MODELS["loihi2018"].constants
    e = ModelEnergy()
    neuron_steps = readout_steps = 0.0
    for L in _per_sample(activity, n_samples):
        syn = L.acs + L.macs
        e.add("synops", syn * c["synop_pj"], L.index > 0)
        e.count("synops", syn)
        if L.neurons > 0:
            neuron_steps += L.neurons * L.time_steps
            e.add("spikes", L.spikes * c["spike_within_tile_pj"], True)
            e.count("spikes", L.spikes)
        elif L.has_ops:
            _need(L, "connection")
            readout_steps += L.connection.outputs * L.time_steps
    active = neuron_steps if membrane_updates_per_sample is None else min(
        float(membrane_updates_per_sample), neuron_steps)
    active += readout_steps
    inactive = neuron_steps + readout_steps - active
    e.add("neuron_updates", active * c["neuron_update_active_pj"]
          + inactive * c["neuron_update_inactive_pj"])
    e.count("neuron_updates_active", active)
    e.count("neuron_updates_inactive", inactive)
    return e


def op_counts(activity: Sequence[LayerActivity], *, n_samples: int, spiking: bool,
              membrane_updates: float | None = None) -> dict[str, Any]:
    """Per-sample operation and memory-access counts beyond synaptic operations.

    * ``membrane_updates_per_sample``: NeuroBench's ``MembraneUpdates`` (neurobench 2.3.0
      ``metrics/workload/membrane_updates.py``): ``membrane_updates`` (summed over the samples,
      from :class:`backends.membrane.MembraneProbe`) / ``n_samples``; 0 for the ANN twin (no
      membrane; NeuroBench hooks only spiking neurons); ``None`` when not observed;
    * ``membrane_updates_dense_per_sample``: every neuron at every step, ``sum neurons x T``
      (NeuroBench's "Neuron Dense Ops" / 4; equals ``MembraneUpdates`` when every potential
      changes at every step);
    * ``neuron_ops_per_sample`` / ``neuron_dense_ops_per_sample``: NeuroBench's
      ``NeuronOperations`` "Effective Neuron Ops" / "Neuron Dense Ops": the two above x 4
      (``backends.activity.CANONICAL_NEURON_OPS``: snntorch ``Leaky``, both resets);
    * ``weight_reads_per_sample``, ``membrane_reads_per_sample``, ``membrane_writes_per_sample``,
      ``activation_reads_per_sample``, ``activation_writes_per_sample``: 32-bit accesses of the
      memory-aware model (``lemaire2022``, :func:`lemaire_energy`); ``input_events_per_sample``:
      the non-zero inputs of every connection layer;
    * ``op_counts_per_sample_per_layer``: ``{layer: {count: value}}`` of the above.

    Raises:
        MissingActivityError: see :func:`lemaire_energy`.
    """
    from backends.activity import CANONICAL_NEURON_OPS

    layers = _per_sample(activity, n_samples)
    dense = sum(L.neurons * L.time_steps for L in layers) if spiking else 0.0
    if not spiking:
        eff: float | None = 0.0
    elif membrane_updates is None:
        eff = None
    else:
        eff = float(membrane_updates) / n_samples
    mem = lemaire_energy(activity, n_samples=n_samples, spiking=spiking)
    names = ("weight_reads", "membrane_reads", "membrane_writes", "activation_reads",
             "activation_writes")
    per_layer: dict[str, dict[str, float]] = {}
    for L in layers:
        d = {n: mem.per_layer.get(L.name, {}).get(n, 0.0) for n in names}
        d["synops"] = L.acs + L.macs
        d["input_events"] = L.input_events if L.input_events is not None else 0.0
        d["membrane_updates_dense"] = float(L.neurons * L.time_steps) if spiking else 0.0
        per_layer[L.name] = d
    out: dict[str, Any] = {
        "membrane_updates_per_sample": eff,
        "membrane_updates_dense_per_sample": float(dense),
        "neuron_ops_per_sample": None if eff is None else eff * CANONICAL_NEURON_OPS,
        "neuron_dense_ops_per_sample": float(dense) * CANONICAL_NEURON_OPS,
        "input_events_per_sample": sum(d["input_events"] for d in per_layer.values()),
    }
    for n in names:
        out[f"{n}_per_sample"] = mem.counts.get(n, 0.0)
    out["op_counts_per_sample_per_layer"] = per_layer
    return out


def break_even_firing_rate(snn_energy: float, snn_spike_driven: float, firing_rate: float,
                           ann_energy: float) -> float | None:
    """Firing rate at which the SNN's energy would equal its ANN twin's (closed form).

    The SNN's energy splits into a fixed part ``F`` (the first layer, which the data drives;
    per-neuron-and-step costs; dense layers) and a part ``S`` proportional to the network's
    spikes (synaptic events of the later layers, per-spike costs). Scaling every layer's spikes
    by ``r / r0`` (``r0`` the measured firing rate) gives ``E(r) = F + S r / r0``, so

    .. math:: r^* = r_0 \\frac{E_{ANN} - F}{S}, \\qquad F = E_{SNN} - S

    (linear, so no bisection is needed). ``r* > r0``: the SNN is already cheaper and stays so
    up to ``r*`` (which may exceed 1: cheaper at any rate); ``r* < r0``: it must fire less.

    Args:
        snn_energy: ``E_SNN`` at the measured rate (any unit, the same for all energies).
        snn_spike_driven: ``S``.
        firing_rate: ``r0``, spikes per neuron and step (> 0).
        ann_energy: ``E_ANN`` of the ANN twin under the same model.

    Returns:
        ``r*``, or ``None`` when there is none: the fixed part alone reaches the ANN's energy
        (``F >= E_ANN``), or nothing scales with spikes (``S <= 0`` or ``r0 <= 0``).

    Raises:
        ValueError: a negative or non-finite energy, or ``S > E_SNN``.

    Example:
        >>> # F = 1 uJ fixed, S = 2 uJ at r0 = 0.1; ANN 4.6 uJ: r* = 0.1 * (4.6 - 1) / 2
        >>> round(break_even_firing_rate(3.0, 2.0, 0.1, 4.6), 12)
        0.18
    """
    vals = {"snn_energy": snn_energy, "snn_spike_driven": snn_spike_driven,
            "firing_rate": firing_rate, "ann_energy": ann_energy}
    for k_, v in vals.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{k_}: expected a finite number >= 0, got {v!r}")
    if snn_spike_driven > snn_energy * (1 + 1e-12):
        raise ValueError(f"snn_spike_driven {snn_spike_driven!r} exceeds snn_energy {snn_energy!r}")
    fixed = snn_energy - snn_spike_driven
    if snn_spike_driven <= 0 or firing_rate <= 0 or fixed >= ann_energy:
        return None
    return firing_rate * (ann_energy - fixed) / snn_spike_driven


def energy_metrics(
    summary: Mapping[str, Any],
    activity: Sequence[LayerActivity],
    *,
    n_samples: int,
    params: int | None = None,
    spiking: bool,
    neuron: Any = "lif",
    membrane_updates: float | None = None,
    batch_size: int = 1,
) -> dict[str, Any]:
    """Every energy model and the extra operation counts of one cell, as flat record metrics.

    Args:
        summary: :func:`benchmarks.measure.metrics.activity_summary` of ``activity`` (its
            ``effective_acs_per_sample`` / ``effective_macs_per_sample`` give the default).
        activity: per-layer activity summed over ``n_samples`` samples.
        n_samples: the number of samples ``activity`` covers.
        params: the model's parameter count (recorded as the 32-bit weight storage
            ``energy_weight_memory_bytes`` the memory model assumes); optional.
        spiking: the backend is an SNN (``backend.spiking``).
        neuron: the architecture's neuron spec (``arch.neuron``) or ``"lif"`` / ``"if"``.
        membrane_updates: NeuroBench's membrane updates summed over the samples
            (:meth:`backends.membrane.MembraneProbe.total`), or ``None`` if not observed.
        batch_size: the batch of the ``lemaire2022_sj`` figure (spikingjelly sizes its buffers
            by the forward call); 1 = one inference at a time.

    Returns:
        The flat record metrics, as follows.

        * the default (unchanged): ``energy_uj_per_inference``, ``energy_model``,
          ``energy_node``, ``energy_ac_pj``, ``energy_mac_pj``;
        * per model of :data:`ENERGY_MODELS`: ``energy_uj_per_inference__<model>`` (µJ; ``None``
          where the model does not apply or the activity lacks what it needs),
          ``energy_spike_driven_uj_per_inference__<model>`` (SNN), and
          ``energy_breakdown_uj__<model>`` (dict of µJ by component);
        * ``energy_models``: ``{model: EnergyModel.describe()}`` (names, constants, sources);
        * the counts of :func:`op_counts` and ``membrane_updates_source``
          (``"neurobench-hooks-replay"``, ``"none (ANN)"`` or ``"not observed"``).

    Raises:
        ValueError: bad ``n_samples`` or counts.
    """
    acs = summary.get("effective_acs_per_sample", 0.0)
    macs = summary.get("effective_macs_per_sample", 0.0)
    out: dict[str, Any] = dict(estimate_energy(acs, macs))
    per_sample_mu = None if membrane_updates is None else float(membrane_updates) / n_samples
    results: dict[str, ModelEnergy | None] = {}
    results["horowitz2014"] = horowitz_energy(activity, n_samples=n_samples, spiking=spiking)
    missing: list[str] = []
    for name, conv in (("lemaire2022", "suite"), ("lemaire2022_sj", "spikingjelly")):
        try:
            results[name] = lemaire_energy(activity, n_samples=n_samples, spiking=spiking,
                                           neuron=neuron, conventions=conv,
                                           batch_size=batch_size if conv == "spikingjelly" else 1)
        except MissingActivityError as exc:
            log.warning("energy model %s not computed: %s", name, exc)
            missing.append(f"{name}: {exc}")
            results[name] = None
    if spiking:
        try:
            results["loihi2018"] = loihi_energy(activity, n_samples=n_samples,
                                                membrane_updates_per_sample=per_sample_mu)
        except MissingActivityError as exc:
            log.warning("energy model loihi2018 not computed: %s", exc)
            missing.append(f"loihi2018: {exc}")
            results["loihi2018"] = None
    else:
        results["loihi2018"] = None  # not applicable to the ANN twin
    for name in ENERGY_MODELS:
        r = results.get(name)
        out[energy_key(name)] = None if r is None else r.total_pj / _PJ_PER_UJ_F
        out[spike_driven_key(name)] = (
            r.spike_driven_pj / _PJ_PER_UJ_F if (r is not None and spiking) else None)
        out[f"energy_breakdown_uj__{name}"] = (
            None if r is None else {k_: v / _PJ_PER_UJ_F for k_, v in r.breakdown_pj.items()})
    # the default key and its named copy carry the same number (estimate_energy's arithmetic)
    out[energy_key(DEFAULT_ENERGY_MODEL)] = out["energy_uj_per_inference"]
    out["energy_models"] = {name: m.describe() for name, m in ENERGY_MODELS.items()}
    if missing:
        out["energy_models_missing"] = missing
    try:
        out.update(op_counts(activity, n_samples=n_samples, spiking=spiking,
                             membrane_updates=membrane_updates))
    except MissingActivityError as exc:
        log.warning("memory-access counts not computed: %s", exc)
    out["membrane_updates_source"] = (
        "none (ANN)" if not spiking else
        "neurobench-hooks-replay" if membrane_updates is not None else "not observed")
    if params is not None:
        out["energy_weight_memory_bytes"] = int(params) * int(_LEMAIRE_CONSTANTS["word_bytes"])
    return out
