"""Alignment and comparison of Lava's Loihi 2 rasters with the suite's (numpy only).

Imported by both sides of the Loihi 2 check: ``tools/loihi/prepare.py`` (the suite's Python) and
``tools/loihi/loihi_check.py`` (the Python 3.10 environment with Lava), so it needs nothing but
numpy and runs under both.

How a Lava run lines up with the suite's (see docs/guides/loihi-check.md):

* Samples are run back to back in one Lava run, one every ``period`` steps; netx's
  ``reset_interval`` zeroes every neuron's state at the start of its layer's window.
* Lava delivers a process's output to the next process one time step later, so layer ``k``
  (1 for the first synaptic layer) sees an input step ``k`` steps after the input source sent
  it. The suite's lava-dl blocks use ``delay_shift=False`` (no such delay), so Lava's layer-k
  value at stream step ``n * period + k + t`` is the suite's value of sample ``n`` at step ``t``
  (the ``delay`` argument below).
* The readout (``cuba.Affine(dynamics=False)``) has no neuron: its *current* is the logit. netx
  gives a dense layer without a ``neuron`` group a non-leaky integrator (``iDecay`` 0), so its
  ``u`` is the running sum of the readout current within a sample: the per-step current is the
  difference of consecutive ``u`` (:func:`current_from_integrator`).
"""

from __future__ import annotations

import numpy as np

READOUT_UNITS = 1 << 12
"""Loihi's fixed-point units of the readout current per unit of the suite's float current: lava-dl
exports weights as ``weight * 64`` (SLAYER's ``scale`` ``1 << 6``) and Lava's synapse shifts the
weighted sum left by 6 more bits to align it with the 24-bit state (``Dense`` with
``weight_exponent`` 0, ``lava/proc/dense/models.py``), so one unit of float current is
``64 * 64 = 4096`` units of ``u``."""


def windows(stream: np.ndarray, n_samples: int, period: int, steps: int, delay: int) -> np.ndarray:
    """Cut a Lava recording into per-sample windows aligned with the suite's time steps.

    Args:
        stream: ``(S, ...)``: one value per Lava time step (step 1 first), ``S >= n_samples *
            period``.
        n_samples: samples run back to back.
        period: Lava steps per sample (the reset interval).
        steps: the suite's time steps per sample, ``T``.
        delay: Lava steps between the input source and this layer (layer k: ``k``).

    Returns:
        ``(n_samples, steps, ...)``: ``out[n, t] = stream[n * period + delay + t]``.

    Raises:
        ValueError: ``delay + steps > period`` (a sample's window would overlap the next one) or
            ``stream`` is too short.
    """
    if delay < 0 or delay + steps > period:
        raise ValueError(f"delay {delay} + steps {steps} exceeds the period {period}")
    if stream.shape[0] < n_samples * period:
        raise ValueError(f"stream: {stream.shape[0]} steps, need {n_samples * period}")
    idx = (np.arange(n_samples)[:, None] * period + delay + np.arange(steps)[None, :])
    return stream[idx]


def current_from_integrator(u: np.ndarray) -> np.ndarray:
    """Per-step input of a non-leaky integrator from its state ``u`` ``(N, T, ...)`` (reset to 0
    before each sample): ``c[:, 0] = u[:, 0]``, ``c[:, t] = u[:, t] - u[:, t - 1]``."""
    u = np.asarray(u, dtype=np.int64)
    return np.diff(u, axis=1, prepend=np.zeros_like(u[:, :1]))


def compare_spikes(reference: np.ndarray, lava: np.ndarray) -> dict:
    """Compare two spike rasters of one layer, ``(N, T, ...)`` each (any nonzero is a spike).

    Returns:
        ``{"compared", "spikes_reference", "spikes_lava", "mismatches", "first_mismatch"}``:
        values compared (neurons x steps x samples), spikes in each, positions that differ, and
        the first differing ``[n, t, *neuron]`` (``None`` when identical).

    Raises:
        ValueError: the shapes differ.
    """
    ref, got = np.asarray(reference) != 0, np.asarray(lava) != 0
    if ref.shape != got.shape:
        raise ValueError(f"raster shapes differ: reference {ref.shape}, Lava {got.shape}")
    diff = ref != got
    first = np.argwhere(diff)
    return {
        "compared": int(ref.size),
        "spikes_reference": int(ref.sum()),
        "spikes_lava": int(got.sum()),
        "mismatches": int(diff.sum()),
        "first_mismatch": [int(v) for v in first[0]] if len(first) else None,
    }


def compare_currents(reference: np.ndarray, lava_units: np.ndarray,
                     units: int = READOUT_UNITS) -> dict:
    """Compare the suite's float readout current with Lava's fixed-point one.

    Args:
        reference: ``(N, T, K)`` the suite's current (float; on Loihi's grid when the model's
            weights are).
        lava_units: ``(N, T, K)`` Lava's current in integer units (:func:`current_from_integrator`).
        units: fixed-point units per unit of float current (:data:`READOUT_UNITS`).

    Returns:
        ``{"compared", "mismatches", "max_abs_diff", "first_mismatch"}``: a mismatch is a value
        whose difference exceeds half a unit of the fixed-point representation
        (``|reference * units - lava| > 0.5``); ``max_abs_diff`` in float current units.

    Raises:
        ValueError: the shapes differ.
    """
    ref = np.asarray(reference, dtype=np.float64) * units
    got = np.asarray(lava_units, dtype=np.float64)
    if ref.shape != got.shape:
        raise ValueError(f"current shapes differ: reference {ref.shape}, Lava {got.shape}")
    err = np.abs(ref - got)
    bad = err > 0.5
    first = np.argwhere(bad)
    return {
        "compared": int(ref.size),
        "mismatches": int(bad.sum()),
        "max_abs_diff": float(err.max() / units) if err.size else 0.0,
        "first_mismatch": [int(v) for v in first[0]] if len(first) else None,
    }
