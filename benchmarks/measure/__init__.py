"""Measurement: accuracy and activity metrics, energy models, measured energy, carbon, speed tables and cost estimates."""
