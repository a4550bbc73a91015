"""datasets package of NeuroFER-Bench."""
