"""The named kinds on the project's ``Registry``: training methods, executors, energy models,
corruptions and zoo models. Each contract below sweeps a registry, so a kind registered in a new
file is covered the day it lands; the names and their order are the published ones (the
docstrings and docs/ list them), since records, record keys and cell ids carry them."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from benchmarks.measure.energy import ENERGY_MODELS, ModelEnergy, energy_key, energy_metrics
from benchmarks.measure.energy.common import EnergyInputs
from benchmarks.results.spec import METHODS, Recipe, RecipeError
from benchmarks.runner.executors import (
    EXECUTORS,
    Executor,
    ExecutorUnavailable,
    make_executor,
)
from benchmarks.runner.methods import Method, get_method
from datasets.common import Registry, UnknownNameError
from datasets.io.events import EVENTS_DTYPE
from datasets.transforms.corruptions import (
    CORRUPTIONS,
    SEVERITIES,
    corrupt_events,
    get_corruption,
)

# --------------------------------------------------------------------------------------------
# the built-in names, in their published order
# --------------------------------------------------------------------------------------------


def test_built_in_names_keep_their_order():
    # benchmarks/results/spec.py docstring, benchmarks/runner/executors.py docstring,
    # docs/metrics-energy.md and the ImageNet-C-style table of docs/robustness (in that order);
    # a plugin's kinds come after them
    assert METHODS.names()[:3] == ["standard", "baseline", "elim"]
    assert EXECUTORS.names()[:3] == ["local", "ray", "slurm"]
    assert ENERGY_MODELS.names()[:4] == ["horowitz2014", "lemaire2022", "lemaire2022_sj",
                                         "loihi2018"]
    assert CORRUPTIONS.names()[:11] == [
        "background_activity", "hot_pixels", "event_drop", "drop_burst", "temporal_jitter",
        "spatial_jitter", "reduced_resolution", "polarity_flip", "slow_motion", "fast_motion",
        "bandwidth_limit"]


@pytest.mark.parametrize("registry", [METHODS, EXECUTORS, ENERGY_MODELS, CORRUPTIONS])
def test_each_kind_is_a_registry_with_an_entry_point_group(registry):
    assert isinstance(registry, Registry)
    assert registry.entry_point_group == f"neurofer_bench.{registry.kind.replace(' ', '_')}s"
    assert list(registry) == registry.names() and len(registry) == len(registry.names())


# --------------------------------------------------------------------------------------------
# unknown names: close matches
# --------------------------------------------------------------------------------------------


def test_unknown_names_suggest_close_matches():
    with pytest.raises(ExecutorUnavailable, match="did you mean 'slurm'"):
        make_executor("slrum")
    with pytest.raises(UnknownNameError, match="did you mean 'horowitz2014'"):
        ENERGY_MODELS["horowitz2041"]
    with pytest.raises(UnknownNameError, match="did you mean 'event_drop'"):
        get_corruption("event_dropp")
    with pytest.raises(RecipeError, match="recipe.method must be one of"):
        Recipe(method="Standard")  # recipes store the exact name
    with pytest.raises(ValueError, match="method must be one of"):
        get_method("elm")


# --------------------------------------------------------------------------------------------
# contracts over every registered object
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_builds_under_its_name(name):
    m = get_method(name)
    assert isinstance(m, Method) and m.name == name


@pytest.mark.parametrize("name", EXECUTORS.names())
def test_every_executor_is_an_executor_under_its_name(name):
    cls = EXECUTORS[name]
    assert issubclass(cls, Executor) and cls.name == name


def test_an_executor_takes_its_command_line_options_by_name():
    """``executor_from_options``: a constructor parameter ``q`` of executor ``n`` comes from the
    option ``n_q``, else ``q``; absent and None options keep the defaults (so a new executor's
    options need no change on the command line's side)."""
    from benchmarks.runner.executors import executor_from_options

    local = executor_from_options("local", {"workers": 3, "threads": None, "ray_address": "x"})
    assert local.workers == 3 and local._threads is None
    slurm = executor_from_options("slurm", {"slurm_partition": "gpu", "slurm_time_min": 7,
                                            "cpus_per_task": 2, "workers": 5})
    assert (slurm.partition, slurm.time_min, slurm.cpus_per_task) == ("gpu", 7, 2)
    ray = executor_from_options("ray", {"ray_address": "auto", "partition": "gpu"})
    assert ray.address == "auto"


def _activity():
    from backends.activity import ConnectionShape
    from backends.base import LayerActivity

    # one Linear(4, 3) layer, 2 steps, 6 spikes, 10 ACs over one sample
    la = LayerActivity("fc", "linear", time_steps=2, neurons=3, spikes=6.0, effective_acs=10.0,
                       effective_macs=0.0, dense_ops=24.0)
    la.input_nonzeros = 5.0
    la.connection = ConnectionShape("linear", (4,), (3,), weights=12)
    return [la]


@pytest.mark.parametrize("name", ENERGY_MODELS.names())
def test_every_energy_model_is_a_record_key(name):
    model = ENERGY_MODELS[name]
    assert model.name == name and set(model.applies_to) <= {"snn", "ann"}
    m = energy_metrics({"effective_acs_per_sample": 10.0, "effective_macs_per_sample": 0.0},
                       _activity(), n_samples=1, spiking=True)
    assert energy_key(name) in m and name in m["energy_models"]
    if "snn" in model.applies_to and m[energy_key(name)] is not None:
        e = model.compute(EnergyInputs(_activity(), 1, True))
        assert isinstance(e, ModelEnergy)
        assert m[energy_key(name)] == pytest.approx(e.total_pj / 1e6)


def test_horowitz_through_the_registry_is_hand_checked():
    # 10 ACs x 0.9 pJ (Horowitz, ISSCC 2014: 32-bit float add)
    e = ENERGY_MODELS["horowitz2014"].compute(EnergyInputs(_activity(), 1, True))
    assert e.total_pj == pytest.approx(9.0)


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_every_corruption_has_five_severities_and_keeps_events_valid(name):
    spec = get_corruption(name)
    assert spec.name == name and len(spec.values) == len(SEVERITIES) == 5
    rng = np.random.default_rng(0)
    ev = np.zeros(200, dtype=EVENTS_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 100_000, 200))
    ev["x"], ev["y"] = rng.integers(0, 32, 200), rng.integers(0, 24, 200)
    ev["p"] = rng.integers(0, 2, 200)
    for severity in SEVERITIES:
        out = corrupt_events(ev, name, severity, (32, 24, 2), seed=1, sample=0)
        assert out.dtype == ev.dtype and np.all(np.diff(out["t"].astype(np.int64)) >= 0)
        assert np.all((out["x"] < 32) & (out["y"] < 24))


# --------------------------------------------------------------------------------------------
# a new kind is one new file: the registry imports the modules that match its pattern
# --------------------------------------------------------------------------------------------


def test_a_registry_imports_only_the_modules_matching_its_pattern(tmp_path, monkeypatch):
    pkg = tmp_path / "fakerunner"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "executors.py").write_text("from fakerunner import REG\nREG.register('local', 1)\n")
    (pkg / "executor_dask.py").write_text("from fakerunner import REG\nREG.register('dask', 2)\n")
    (pkg / "cell.py").write_text("raise RuntimeError('not an executor module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import fakerunner

    fakerunner.REG = Registry("executor", package="fakerunner", include="executor*")
    try:
        import fakerunner.executors  # noqa: F401 (the module of the registry: built-ins first)

        assert fakerunner.REG.names() == ["local", "dask"]
        assert fakerunner.REG.plugin_errors == {}  # cell.py was never imported
        assert fakerunner.REG.module_of("dask") == "builtins"  # an int's module
    finally:
        for m in [m for m in sys.modules if m == "fakerunner" or m.startswith("fakerunner.")]:
            del sys.modules[m]
