"""The pixel model's settings shared by every conversion of frames to events in the suite.

The built-in dataset (:mod:`datasets.loaders.synthetic`) and the image-to-events conversion
(:mod:`datasets.conversion.image_events`) both drive eventcv's v2e-style pixel model with these
settings; they live here, below both, so that neither imports the other.
"""

from __future__ import annotations

from typing import Any

SIMULATOR_SETTINGS: dict[str, Any] = {
    "pos_thres": 0.2,
    "neg_thres": 0.2,
    "sigma_thres": 0.02,
    "cutoff_hz": 0.0,
    "leak_rate_hz": 0.0,
    "refractory_us": 500,
    "upsample": "adaptive",
}
"""eventcv.simulate settings: the Spiking-FER v2e command line (thresholds 0.2, sigma 0.02, no
cutoff, no leak); upsampling pinned to eventcv 1.0.8's default so that a
change of defaults cannot change the data silently. The refractory period is v2e's default
``--refractory_period 0.0005`` s (v2ecore/v2e_args.py), which the Spiking-FER command line leaves
unchanged. Shot noise: see :data:`LOW_LIGHT_SHOT_NOISE_HZ`."""
