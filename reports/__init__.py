"""reports package of NeuroFER-Bench."""
