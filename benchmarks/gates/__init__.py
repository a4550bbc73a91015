"""Regression gates: the accuracy gate (``accuracy_gate``) and the performance gate
(``perf_gate`` over the timed paths of ``perf_paths``), with their JSON floors and baselines."""
