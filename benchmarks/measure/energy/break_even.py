"""The break-even firing rate (:func:`break_even_firing_rate`): the firing rate at which an SNN's
energy under a model would equal its ANN twin's, from the split of the SNN's energy into a part
proportional to its spikes and a fixed part."""

from __future__ import annotations

import math


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
