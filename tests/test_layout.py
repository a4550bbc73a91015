"""The design card's structure, checked on the source: the data flows one way (datasets ->
backends -> benchmarks -> reports -> the command line), inside each package its sub-packages
import only those below them (:data:`SUBLAYERS`), no two modules import each other, directly or
through others (imports inside functions count too), every module opens with a sentence
saying what it is for, no module is over :data:`MAX_MODULE_LINES` lines without a recorded
reason, and scripts live in ``tools/`` (which nothing imports and the wheel leaves out), not in
the packages."""

from __future__ import annotations

import ast
import fnmatch
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
                 "models": 5, "targets": 6},
    "benchmarks": {"measure": 0, "results": 1, "runner": 2, "robustness": 3, "deploy": 4,
                   "submissions": 5, "gates": 6},
    "reports": {"inference": 0, "top": 1, "site": 2},
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


# --------------------------------------------------------------------------------------------
# files a person can read in one sitting; scripts outside the packages

MAX_MODULE_LINES = 800
"""A module longer than this needs a recorded reason in :data:`LONG_MODULES`."""

#: Modules over :data:`MAX_MODULE_LINES`, each with why it may be. Remove a line when its module
#: is split; the test fails on a line whose module is no longer over the limit (or gone).
LONG_MODULES = {
    "run_bench.py": "the one home of the command line: one add_<cmd>_parser + cmd_<cmd> pair per "
                    "command, each short; the work is in the packages",
    "tools/gpu/gpu_check.py": "the GPU check's sections, run as two calls of one script on the "
                              "device (docs/guides/gpu.md)",
}


def _sized_modules() -> dict[str, int]:
    """Lines of every module of the packages, ``run_bench.py`` and ``tools/``, by relative path."""
    files = list(MODULES.values()) + sorted((ROOT / "tools").rglob("*.py"))
    return {str(f.relative_to(ROOT)): len(f.read_text().splitlines()) for f in files}


def _over_the_limit(sizes: dict[str, int], allowed: dict[str, str]) -> tuple[list[str], list[str]]:
    """``(too long without a reason, reasons no longer needed)``."""
    long = sorted(f"{m} ({n} lines)" for m, n in sizes.items()
                  if n > MAX_MODULE_LINES and m not in allowed)
    stale = sorted(m for m in allowed if sizes.get(m, 0) <= MAX_MODULE_LINES)
    return long, stale


def test_no_module_over_the_limit_without_a_reason():
    long, stale = _over_the_limit(_sized_modules(), LONG_MODULES)
    assert not long, (f"over {MAX_MODULE_LINES} lines: {', '.join(long)}: split along its seams, "
                      "or record why in LONG_MODULES")
    assert not stale, f"no longer over {MAX_MODULE_LINES} lines (remove from LONG_MODULES): {stale}"


def test_the_size_rule_catches_a_long_module_and_a_stale_reason():
    sizes = {"a.py": MAX_MODULE_LINES + 1, "b.py": MAX_MODULE_LINES, "c.py": 2000}
    assert _over_the_limit(sizes, {"c.py": "why", "b.py": "why"}) == (["a.py (801 lines)"], ["b.py"])


def _is_script(path: Path) -> bool:
    """Whether a module has an ``if __name__ == "__main__":`` block."""
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"):
            return True
    return False


def _imported(module: str, importers: dict[str, set[str]]) -> bool:
    return any(module in deps for m, deps in importers.items() if m != module)


def test_no_script_style_module_inside_the_packages():
    """A module of the packages run as ``python -m`` must also be imported (by another module or
    a test: it is a library with a command line); a script only run is a tool (``tools/``)."""
    tests = {f"tests.{f.stem}": f for f in sorted((ROOT / "tests").rglob("*.py"))}
    known = set(MODULES)
    importers = dict(GRAPH) | {t: _imports(f, known) for t, f in tests.items()}
    scripts = sorted(m for m, f in MODULES.items()
                     if m != "run_bench" and _is_script(f) and not _imported(m, importers))
    assert not scripts, f"script-style modules inside the packages (move them to tools/): {scripts}"


def test_the_script_rule_catches_a_script(tmp_path):
    script = tmp_path / "s.py"
    script.write_text('"""A script."""\n\nif __name__ == "__main__":\n    print(1)\n')
    assert _is_script(script) and not _is_script(ROOT / "benchmarks" / "runner" / "grid.py")
    assert not _imported("benchmarks.x", {"benchmarks.x": {"benchmarks.y"}, "tests.t": set()})
    assert _imported("benchmarks.x", {"tests.t": {"benchmarks.x"}})


def test_nothing_imports_tools_and_the_wheel_leaves_them_out():
    tools = {f"tools.{'.'.join(f.relative_to(ROOT / 'tools').with_suffix('').parts)}"
             for f in (ROOT / "tools").rglob("*.py")} | {"tools"}
    users = sorted(m for m, f in MODULES.items() if _imports(f, tools | {"tools.gpu", "tools.measure"}))
    assert not users, f"modules of the packages import tools/: {users}"
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    assert not any(fnmatch.fnmatch(name, pat) for name in ("tools", "tools.gpu") for pat in include)
