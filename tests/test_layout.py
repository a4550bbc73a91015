"""The design card's structure, checked on the source: the data flows one way (datasets ->
backends -> benchmarks -> reports -> the command line) and no two modules import each other,
directly or through others (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"datasets": 0, "backends": 1, "benchmarks": 2, "reports": 3, "run_bench": 4}


def _modules() -> dict[str, Path]:
    mods = {"run_bench": ROOT / "run_bench.py"}
    for pkg in ("datasets", "backends", "benchmarks", "reports"):
        for f in sorted((ROOT / pkg).glob("*.py")):
            mods[pkg if f.stem == "__init__" else f"{pkg}.{f.stem}"] = f
    return mods


def _imports(path: Path, known: set[str]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        out |= {n for n in names if n in known}
    return out


GRAPH = {m: _imports(p, set(_modules())) - {m} for m, p in _modules().items()}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_import_against_the_data_flow(module):
    layer = LAYERS[module.split(".")[0]]
    upward = sorted(d for d in GRAPH[module] if LAYERS[d.split(".")[0]] > layer)
    assert not upward, f"{module} imports {upward}, against datasets -> backends -> benchmarks -> reports"


def test_no_import_cycles():
    # a module's package __init__ is imported with it; ignore that edge (it is not a cycle of code)
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in GRAPH.items()}
    cycles, state = [], {}

    def visit(m, stack):
        state[m] = "open"
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack + [d])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
