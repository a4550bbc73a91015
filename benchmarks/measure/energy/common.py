"""What the energy models of :mod:`benchmarks.measure.energy` share: their registry
(:data:`ENERGY_MODELS`), the description of a model (:class:`EnergyModel`) and what it is
computed from (:class:`EnergyInputs`), the energy of one inference with its parts
(:class:`ModelEnergy`), the per-sample view of a cell's per-layer activity (:func:`_per_sample`)
and the error raised when that activity lacks what a model needs."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datasets.common import Registry

if TYPE_CHECKING:
    from backends.base import LayerActivity

PJ_PER_UJ = 1e6
"""Picojoules per microjoule: energies are computed in pJ and recorded in µJ."""


@dataclass(frozen=True)
class EnergyInputs:
    """What every energy model is computed from: one cell's activity.

    Attributes:
        activity: per-layer activity summed over ``n_samples`` samples.
        n_samples: the number of samples ``activity`` covers.
        spiking: the network is an SNN (``backend.spiking``).
        neuron: the architecture's neuron spec (``arch.neuron``) or ``"lif"`` / ``"if"``.
        membrane_updates_per_sample: NeuroBench's membrane updates per sample, ``None`` if not
            observed.
        batch_size: the batch of a model that sizes its buffers by the forward call.
    """

    activity: Sequence[LayerActivity]
    n_samples: int
    spiking: bool
    neuron: Any = "lif"
    membrane_updates_per_sample: float | None = None
    batch_size: int = 1


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
        compute: ``(EnergyInputs) -> ModelEnergy`` (pJ per inference); called only for the
            networks of ``applies_to``; may raise :class:`MissingActivityError`.
    """

    name: str
    title: str
    applies_to: tuple[str, ...]
    constants: Mapping[str, float]
    sources: tuple[str, ...]
    counts: str
    not_counted: str
    compute: Callable[[EnergyInputs], ModelEnergy] = field(compare=False, repr=False)

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for records (title, sources, constants, applies_to)."""
        return {"title": self.title, "applies_to": list(self.applies_to),
                "constants": dict(self.constants), "sources": list(self.sources)}


ENERGY_MODELS: Registry[EnergyModel] = Registry(
    "energy model", package="benchmarks.measure.energy",
    entry_point_group="neurofer_bench.energy_models",
)
"""Registry: energy model name -> :class:`EnergyModel`, in registration order (``horowitz2014``,
``lemaire2022``, ``lemaire2022_sj``, ``loihi2018``: the order of the package's imports, which is
the order of the record keys). A model of one's own is one new module of
:mod:`benchmarks.measure.energy` (every module of the package is imported on the first lookup) or
a third-party package's ``neurofer_bench.energy_models`` entry point, either calling
:func:`register_energy_model`; every record then carries its figure."""


def register_energy_model(model: EnergyModel) -> EnergyModel:
    """Register ``model`` in :data:`ENERGY_MODELS` under its ``name``; returns it.

    Raises:
        ValueError: the name is already registered.
    """
    return ENERGY_MODELS.register(model.name, model)


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
