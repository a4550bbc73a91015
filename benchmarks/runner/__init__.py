"""Running cells: the grid runner, cost estimates, executors and claims, training, inference, checkpoints, data feeding, methods and predict."""
