"""The run-level energy estimate of a cell: codecarbon's offline tracker (an estimate, labelled)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class CarbonTracker:
    """codecarbon's offline tracker as a context manager; failures only disable the estimate."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.result: dict[str, Any] = {}

    def __enter__(self):
        self.tracker = None
        if not self.enabled:
            return self
        try:
            from codecarbon import OfflineEmissionsTracker

            logging.getLogger("codecarbon").setLevel(logging.ERROR)
            self.tracker = OfflineEmissionsTracker(
                country_iso_code="USA", log_level="error", save_to_file=False,
                measure_power_secs=5, tracking_mode="process",
            )
            self.tracker.start()
        except Exception as exc:  # the estimate is optional; never fail a cell for it
            log.warning("codecarbon unavailable, no energy estimate for this cell: %s", exc)
            self.tracker = None
        return self

    def __exit__(self, *exc_info):
        if self.tracker is None:
            return False
        try:
            emissions = self.tracker.stop()
            data = self.tracker.final_emissions_data
            self.result = {
                "codecarbon_energy_kwh_estimate": float(data.energy_consumed),
                "codecarbon_emissions_kg_estimate": float(emissions or 0.0),
                "codecarbon_note": "estimate: codecarbon offline mode; CPU power from a default TDP "
                "where RAPL is unavailable, grid intensity of country USA",
            }
        except Exception as exc:
            log.warning("codecarbon failed to stop: %s", exc)
        return False
