"""The event simulation of a rendered sequence: eventcv's v2e-style pixel model with the
Spiking-FER settings, seeded from the sequence's stream."""

from __future__ import annotations

import math

import numpy as np

from datasets.conversion.pixel_model import SIMULATOR_SETTINGS
from datasets.io.events import EVENTS_DTYPE
from datasets.loaders.synthetic.identities import FPS, LOW_LIGHT_SHOT_NOISE_HZ, SequenceSpec
from datasets.loaders.synthetic.rendering import render_frames


def simulate_events(frames: np.ndarray, *, lighting: str, seed: int) -> np.ndarray:
    """Convert grey video to events with ``eventcv.simulate`` (v2e pixel model).

    Settings: :data:`SIMULATOR_SETTINGS`, ``fps = 30``, shot noise :data:`LOW_LIGHT_SHOT_NOISE_HZ`
    in ``low_light`` and 0 otherwise. eventcv returns an ``EventStream`` whose ``numpy()`` is an
    ``(N, 4)`` uint64 array with columns ``stream.columns == ('x', 'y', 't', 'p')``, ``t`` in units
    of ``timestamp_scale_ms = 0.001`` ms (= µs) from the first frame, and ``p`` 1 for ON
    (brightening) and 0 for OFF; both conventions are checked at run time.

    Args:
        frames: float array in 0..1, shape ``(N_frames, H, W)``.
        lighting: the lighting condition (selects the shot noise).
        seed: eventcv seed.

    Returns:
        Events (:data:`datasets.io.events.EVENTS_DTYPE`), sorted by ``t`` (µs), shape ``(N,)``.

    Raises:
        RuntimeError: eventcv's columns or time unit are not the ones above.
    """
    import eventcv

    noise = LOW_LIGHT_SHOT_NOISE_HZ if lighting == "low_light" else 0.0
    stream = eventcv.simulate(
        np.ascontiguousarray(frames, dtype=np.float32),
        fps=FPS,
        shot_noise_rate_hz=noise,
        seed=seed,
        **SIMULATOR_SETTINGS,
    )
    cols = tuple(stream.columns)
    if cols != ("x", "y", "t", "p") or not math.isclose(stream.timestamp_scale_ms, 0.001):
        raise RuntimeError(
            f"eventcv.simulate returned columns {cols} with timestamp_scale_ms="
            f"{stream.timestamp_scale_ms}; expected ('x', 'y', 't', 'p') in µs (0.001 ms)"
        )
    raw = stream.numpy()
    ev = np.empty(raw.shape[0], dtype=EVENTS_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3]
    order = np.argsort(ev["t"], kind="stable")
    return ev[order]


def generate_sequence(spec: SequenceSpec, size: int, n_frames: int) -> np.ndarray:
    """Render and convert one sequence; returns its events (µs, sensor ``(S, S, 2)``)."""
    return simulate_events(render_frames(spec, size, n_frames), lighting=spec.lighting,
                           seed=spec.sim_seed)


