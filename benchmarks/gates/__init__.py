"""Regression gates and check scripts: the performance and accuracy gates, the pipeline benchmark and the GPU check."""
