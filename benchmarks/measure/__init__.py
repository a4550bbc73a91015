"""Measurements: metrics, energy, speed and decoder benchmarks."""
