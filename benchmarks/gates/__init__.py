"""Regression gates and device checks: the performance and accuracy gates, the GPU check and its bundle."""
