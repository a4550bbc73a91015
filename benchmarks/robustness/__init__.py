"""Robustness evaluation: a run's checkpoints evaluated again under the event corruptions of datasets.transforms.corruptions."""
