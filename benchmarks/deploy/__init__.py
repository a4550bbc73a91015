"""Chip-precision evaluation of a run's SNN checkpoints on neuromorphic targets
(:mod:`benchmarks.deploy.evaluate`)."""
