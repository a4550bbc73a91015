"""benchmarks package of NeuroFER-Bench."""
