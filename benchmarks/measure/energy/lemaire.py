"""The memory-aware energy model of Lemaire et al. (ICONIP 2022, arXiv 2210.13107), under two
conventions:

* ``lemaire2022``: ``E = E_ops + E_addr + E_inout + E_params + E_potential`` with 32-bit integer
  arithmetic (Horowitz: add 0.1 pJ, mult 3.1 pJ) and every 32-bit SRAM access costed by the size
  of the buffer it hits, linearly interpolated between Horowitz's 8 KB 10 pJ, 32 KB 20 pJ and
  1 MB 100 pJ (:func:`sram_pj_per_byte`), under this suite's conventions (see
  :func:`lemaire_energy`): counts from NeuroBench's effective operations, buffers sized per
  sample and time step.
* ``lemaire2022_sj``: the same model under spikingjelly 2.0.0's conventions
  (``spikingjelly.activation_based.op_counter.LemaireEnergyProfiler``); tests check that it
  equals spikingjelly's own figure on the same model and input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.measure.energy.common import (
    EnergyInputs,
    EnergyModel,
    ModelEnergy,
    _leaks,
    _need,
    _per_sample,
    register_energy_model,
)

if TYPE_CHECKING:
    from backends.base import LayerActivity

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


LEMAIRE_CONSTANTS: dict[str, float] = {
    "add_pj": 0.1,  # Horowitz Fig. 1.1.9: 32-bit int add
    "mult_pj": 3.1,  # 32-bit int mult (a MAC: 3.1 + 0.1)
    "sram_8kib_pj_per_access": 10.0,  # 32-bit access of an 8 KiB buffer
    "sram_32kib_pj_per_access": 20.0,
    "sram_1mib_pj_per_access": 100.0,  # and above (clamped)
    "word_bytes": 4.0,  # weights, potentials, activations and spike messages are 32-bit words
    "fifo_messages": 1000.0,  # spike FIFO per layer (Lemaire et al.'s experiments)
}


def _compute(inputs: EnergyInputs) -> ModelEnergy:
    return lemaire_energy(inputs.activity, n_samples=inputs.n_samples, spiking=inputs.spiking,
                          neuron=inputs.neuron, conventions="suite", batch_size=1)


def _compute_sj(inputs: EnergyInputs) -> ModelEnergy:
    return lemaire_energy(inputs.activity, n_samples=inputs.n_samples, spiking=inputs.spiking,
                          neuron=inputs.neuron, conventions="spikingjelly",
                          batch_size=inputs.batch_size)


MODEL = register_energy_model(EnergyModel(
    name="lemaire2022",
    title="memory-aware, 45 nm int32 + SRAM by buffer size (Lemaire 2022, suite conventions)",
    applies_to=("snn", "ann"),
    constants=dict(LEMAIRE_CONSTANTS),
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
    compute=_compute,
))
"""The ``lemaire2022`` row of ``ENERGY_MODELS`` (the suite's conventions)."""

MODEL_SJ = register_energy_model(EnergyModel(
    name="lemaire2022_sj",
    title="memory-aware (Lemaire 2022) under spikingjelly 2.0 conventions, batch 1",
    applies_to=("snn", "ann"),
    constants=dict(LEMAIRE_CONSTANTS),
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
    compute=_compute_sj,
))
"""The ``lemaire2022_sj`` row of ``ENERGY_MODELS`` (spikingjelly's conventions)."""


def sram_pj_per_byte(capacity_bytes: float,
                     constants: Mapping[str, float] = LEMAIRE_CONSTANTS) -> float:
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
    k = LEMAIRE_CONSTANTS
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
