"""Estimated energy per inference from operation counts, and static model size metrics.

One module per energy model, each with its constants, sources and formula, registering itself in
:data:`ENERGY_MODELS` (:func:`register_energy_model`; a new model is one new module here); this
package computes all of them for every record (:func:`energy_metrics`, keys
``energy_uj_per_inference__<model>``):

* ``horowitz2014`` (:mod:`benchmarks.measure.energy.horowitz`): arithmetic only, the default
  (``energy_uj_per_inference``, :func:`estimate_energy`, :data:`ENERGY_PER_OP_PJ`);
* ``lemaire2022`` and ``lemaire2022_sj`` (:mod:`benchmarks.measure.energy.lemaire`): the
  memory-aware model of Lemaire et al. (ICONIP 2022) under the suite's and spikingjelly's
  conventions;
* ``loihi2018`` (:mod:`benchmarks.measure.energy.loihi`): Loihi's per-operation energies (Davies
  et al., IEEE Micro 2018). SNNs only.

What they share is in :mod:`benchmarks.measure.energy.common`; the break-even firing rate in
:mod:`benchmarks.measure.energy.break_even`; parameter count and footprint in
:mod:`benchmarks.measure.energy.size`.

Layers a chip does not have: batch norm is folded into the weights and the threshold (no cost
under any model); max pooling and ReLU are comparisons that no model here costs (spikes are
counted before pooling, synaptic operations on the pooled input); the time-averaged readout
(logits = mean over time of the readout current) is costed as accumulators: its synaptic
operations and, in the memory-aware models, the reads/writes of its K accumulators (or, for a
real-valued input, the writes of its K outputs per step); the final division by T is not
costed. The ANN twin runs on the same memory model as dense hardware: every layer processes
all its inputs (dense MACs, one input read and one weight read per MAC for a conv, activations
written per step); the Loihi model does not apply to it (``None``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

# the built-in models register on import, in this order: the order of the record keys
from benchmarks.measure.energy import horowitz, lemaire, loihi  # noqa: F401
from benchmarks.measure.energy.break_even import break_even_firing_rate
from benchmarks.measure.energy.common import (
    ENERGY_MODELS,
    PJ_PER_UJ,
    EnergyInputs,
    EnergyModel,
    MissingActivityError,
    ModelEnergy,
    _per_sample,
    register_energy_model,
)
from benchmarks.measure.energy.horowitz import (
    DEFAULT_NODE,
    ENERGY_PER_OP_PJ,
    estimate_energy,
    horowitz_energy,
)
from benchmarks.measure.energy.lemaire import LEMAIRE_CONSTANTS, lemaire_energy, sram_pj_per_byte
from benchmarks.measure.energy.loihi import loihi_energy
from benchmarks.measure.energy.size import count_parameters, footprint_bytes

if TYPE_CHECKING:
    from backends.base import LayerActivity

log = logging.getLogger(__name__)

__all__ = ["ENERGY_PER_OP_PJ", "DEFAULT_NODE", "estimate_energy", "count_parameters",
           "footprint_bytes", "EnergyModel", "ENERGY_MODELS", "DEFAULT_ENERGY_MODEL",
           "ModelEnergy", "sram_pj_per_byte", "horowitz_energy", "lemaire_energy",
           "loihi_energy", "op_counts", "break_even_firing_rate", "energy_metrics",
           "energy_key", "spike_driven_key", "MissingActivityError", "EnergyInputs",
           "register_energy_model"]


DEFAULT_ENERGY_MODEL = "horowitz2014"
"""The model of the plain ``energy_uj_per_inference`` key (the numbers of :func:`estimate_energy`
at the default node)."""


def energy_key(model: str) -> str:
    """The record key of ``model``'s energy per inference: ``energy_uj_per_inference__<model>``."""
    return f"energy_uj_per_inference__{model}"


def spike_driven_key(model: str) -> str:
    """The record key of the spike-proportional part of an SNN's energy under ``model``."""
    return f"energy_spike_driven_uj_per_inference__{model}"


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
    inputs = EnergyInputs(
        activity, n_samples, spiking, neuron,
        None if membrane_updates is None else float(membrane_updates) / n_samples, batch_size)
    network = "snn" if spiking else "ann"
    results: dict[str, ModelEnergy | None] = {}
    missing: list[str] = []
    for name, model in ENERGY_MODELS.items():
        if network not in model.applies_to:
            results[name] = None  # e.g. Loihi's model for the ANN twin
            continue
        try:
            results[name] = model.compute(inputs)
        except MissingActivityError as exc:
            log.warning("energy model %s not computed: %s", name, exc)
            missing.append(f"{name}: {exc}")
            results[name] = None
    for name in ENERGY_MODELS:
        r = results.get(name)
        out[energy_key(name)] = None if r is None else r.total_pj / PJ_PER_UJ
        out[spike_driven_key(name)] = (
            r.spike_driven_pj / PJ_PER_UJ if (r is not None and spiking) else None)
        out[f"energy_breakdown_uj__{name}"] = (
            None if r is None else {k_: v / PJ_PER_UJ for k_, v in r.breakdown_pj.items()})
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
        out["energy_weight_memory_bytes"] = int(params) * int(LEMAIRE_CONSTANTS["word_bytes"])
    return out
