"""The ``loihi2018`` energy model: per-operation energies of Intel's Loihi (Davies et al., IEEE
Micro 2018, Table 2, p. 96): synaptic spike op 23.6 pJ, neuron update 81 pJ active / 52 pJ
inactive, within-tile spike 1.7 pJ. SNNs only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchmarks.measure.energy.common import (
    EnergyInputs,
    EnergyModel,
    ModelEnergy,
    _need,
    _per_sample,
    register_energy_model,
)

if TYPE_CHECKING:
    from backends.base import LayerActivity

_DAVIES = (
    "M. Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip Learning', IEEE "
    "Micro 38(1), 2018, pp. 82-99, DOI 10.1109/MM.2018.112130359, Table 2 'Loihi pre-silicon "
    "performance and energy measurements' (SDF and SPICE simulation, consistent with early "
    "post-silicon characterization), p. 96: energy per synaptic spike op (min) 23.6 pJ, per "
    "synaptic update (pairwise STDP) 120 pJ, per neuron update (active / inactive) 81 / 52 pJ, "
    "within-tile spike energy 1.7 pJ, per tile hop (E-W / N-S) 3.0 / 4.0 pJ"
)


def _compute(inputs: EnergyInputs) -> ModelEnergy:
    return loihi_energy(inputs.activity, n_samples=inputs.n_samples,
                        membrane_updates_per_sample=inputs.membrane_updates_per_sample)


MODEL = register_energy_model(EnergyModel(
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
    compute=_compute,
))
"""The ``loihi2018`` row of ``ENERGY_MODELS``."""


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
    c = MODEL.constants
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
