"""The design card's structure, checked on the source: the data flows one way (datasets ->
backends -> benchmarks -> reports -> the command line), inside each package its sub-packages
import only those below them (:data:`SUBLAYERS`), no two modules import each other, directly or
through others (imports inside functions count too), and every module opens with a sentence
saying what it is for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("datasets", "backends", "benchmarks", "reports")
LAYERS = {"datasets": 0, "backends": 1, "benchmarks": 2, "reports": 3, "run_bench": 4}

#: Inside a package, a module of a sub-package may import only modules of the package's top level
#: (its core: e.g. ``datasets.common``, ``backends.base``) or of sub-packages of a lower rank;
#: a top-level module may import any sub-package of a lower rank than ``"top"``'s. Equal ranks
#: may not import each other. New sub-packages must be given a rank here.
SUBLAYERS = {
    "datasets": {"io": 0, "transforms": 1, "conversion": 1, "loaders": 2, "top": 3},
    "backends": {"blocks": 0, "top": 1, "adapters": 2, "nir_exchange": 3, "native": 4,
                 "models": 5},
    "benchmarks": {"measure": 0, "results": 1, "runner": 2, "robustness": 3, "gates": 4},
    "reports": {"top": 0, "site": 1},
}
#: Top-level modules of a package that sit *below* its sub-packages (its core, imported by all).
CORE = {"datasets": {"common", "folds", "base"}, "backends": {"base", "specs", "activity"},
        "benchmarks": set(), "reports": set()}


def _modules() -> dict[str, Path]:
    mods = {"run_bench": ROOT / "run_bench.py"}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = f
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


MODULES = _modules()
GRAPH = {m: _imports(p, set(MODULES)) - {m} for m, p in MODULES.items()}


def _sub(module: str) -> str | None:
    """The sub-package of a module (``"runner"`` for ``benchmarks.runner.grid``), ``"top"`` for a
    top-level module, ``"core"`` for one in :data:`CORE`, ``"init"`` for a package's
    ``__init__`` (a facade that may re-export from its own sub-packages), None for
    ``run_bench``."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    if len(parts) == 1:
        return "init"
    if (ROOT / parts[0] / parts[1]).is_dir():
        return parts[1]
    return "core" if parts[1] in CORE[parts[0]] else "top"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_import_against_the_data_flow(module):
    layer = LAYERS[module.split(".")[0]]
    upward = sorted(d for d in GRAPH[module] if LAYERS[d.split(".")[0]] > layer)
    assert not upward, f"{module} imports {upward}, against datasets -> backends -> benchmarks -> reports"


def _sub_violations(module: str, deps: set[str]) -> list[str]:
    """The imports of ``module`` (within its package) that break :data:`SUBLAYERS`."""
    pkg, sub = module.split(".")[0], _sub(module)
    ranks = SUBLAYERS[pkg]
    assert sub in ranks, f"{module}: sub-package {sub!r} has no rank in SUBLAYERS[{pkg!r}]"
    bad = []
    for d in deps:
        dsub = _sub(d)
        if (d.split(".")[0] != pkg or dsub in ("core", "init") or dsub == sub
                or module.startswith(d + ".")):
            continue  # another package (the flow test), the core, the same sub-package, a parent
        if dsub not in ranks or ranks[dsub] >= ranks[sub]:
            bad.append(d)
    return sorted(bad)


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _sub(m) not in (None, "core", "init")))
def test_sub_packages_import_only_those_below_them(module):
    bad = _sub_violations(module, GRAPH[module])
    pkg = module.split(".")[0]
    assert not bad, (f"{module} ({pkg}.{_sub(module)}) imports {bad} of an equal or higher rank "
                     f"(SUBLAYERS[{pkg!r}] = {SUBLAYERS[pkg]})")


def test_the_rules_catch_an_upward_import():
    # made-up edges: event IO importing a loader, a measurement importing the runner
    assert _sub_violations("datasets.io.events", {"datasets.loaders.see", "datasets.common"}) \
        == ["datasets.loaders.see"]
    assert _sub_violations("benchmarks.measure.energy", {"benchmarks.runner.grid"}) \
        == ["benchmarks.runner.grid"]
    assert _sub_violations("benchmarks.runner.grid", {"benchmarks.measure.energy"}) == []
    assert _sub("backends") == "init" and _sub("datasets.common") == "core"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_says_what_it_is_for(module):
    doc = ast.get_docstring(ast.parse(MODULES[module].read_text()))
    assert doc and len(doc.split()) >= 4, f"{MODULES[module]}: no opening sentence (module docstring)"


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
