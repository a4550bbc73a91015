"""backends package of NeuroFER-Bench."""
