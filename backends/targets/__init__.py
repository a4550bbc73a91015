"""Neuromorphic chip targets (declarative, sourced data: :mod:`backends.targets.target`) and the
fit of spec'd architectures on them (:mod:`backends.targets.fit`)."""
