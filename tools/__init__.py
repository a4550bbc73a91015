"""Scripts that serve the project, not its users: the GPU check and its wheel bundle (``gpu/``),
measurement scripts behind the numbers the docs quote (``measure/``) and the tree metrics
(``house_metrics``). Run from the repository root as ``python -m tools.<folder>.<script>``; they
import the packages, the packages never import them, and the wheel does not ship them."""
