"""Training options and training-state checkpoints: a killed cell resumes and ends as if it had
never stopped; recipe fields added after version 0.1.0 keep the cell ids of 0.1.0."""

from __future__ import annotations

import hashlib
import json

import pytest

import benchmarks.runner.training as T
from benchmarks.results.spec import Cell, Recipe
from benchmarks.runner.cell import run_cell

FAST = dict(codecarbon=False, latency_runs=2, warmup_runs=1, throughput_batch_size=2)


class Killed(Exception):
    """Stands in for the process being killed right after a checkpoint."""


def _comparable(rec) -> dict:
    m = dict(rec.to_dict()["metrics"])  # JSON-plain values, as stored
    for k in list(m):  # wall-clock quantities differ between any two runs
        if "latency" in k or "throughput" in k or k.endswith("_time_s") or k == "resumed_from_epoch":
            m.pop(k)
    hist = [{k: v for k, v in e.items()} for e in rec.history]
    return {"metrics": m, "history": hist}


def test_killed_cell_resumes_from_its_last_checkpoint_with_identical_results(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)  # the same float summation order in both runs
    cell = Cell(dataset="synthetic-fer-dvs-mini", backend="ann", arch="tiny",
                recipe=Recipe(epochs=4, batch_size=8, checkpoint_every=2, **FAST))
    data = tmp_path / "data"
    whole = run_cell(cell, data, progress=False)

    state_dir = tmp_path / "state"
    save = T._save_state

    def save_then_die(path, state):
        save(path, state)
        raise Killed(f"killed after the checkpoint of epoch {state['epoch']}")

    monkeypatch.setattr(T, "_save_state", save_then_die)
    with pytest.raises(Killed, match="epoch 1"):
        run_cell(cell, data, progress=False, train_state_dir=state_dir)
    assert len(list(state_dir.iterdir())) == 1  # the checkpoint of epochs 0-1 survived
    monkeypatch.setattr(T, "_save_state", save)
    resumed = run_cell(cell, data, progress=False, train_state_dir=state_dir)
    assert resumed.metrics["resumed_from_epoch"] == 2 and whole.metrics["resumed_from_epoch"] is None
    assert [e["epoch"] for e in resumed.history] == [0, 1, 2, 3]
    assert _comparable(resumed) == _comparable(whole)
    assert not list(state_dir.iterdir())  # removed once training ended


def test_state_of_another_cell_is_not_used(tmp_path):
    cell = Cell(dataset="d", backend="ann", arch="tiny")
    other = Cell(dataset="d", backend="snntorch", arch="tiny")
    path = T._state_path(tmp_path, cell)
    T._save_state(path, {"cell_id": other.cell_id, "epoch": 3})
    assert T._load_state(path, cell) is None
    path.write_bytes(b"not a torch file")
    assert T._load_state(path, cell) is None  # unreadable: start at epoch 0, never crash


# The 15 recipe fields of version 0.1.0 at their defaults, written out by hand from 0.1.0's
# ``Recipe`` (benchmarks/results/spec.py at 694f2c8), with the default grid's epochs 30 / batch 16.
V010_DEFAULTS = {"epochs": 30, "batch_size": 16, "optimizer": "sgd", "lr": 0.01, "momentum": 0.9,
                 "weight_decay": 5e-4, "schedule": "cosine", "val_fraction": 0.15,
                 "selection": "val", "augment": False, "binarize": False, "latency_runs": 30,
                 "warmup_runs": 5, "throughput_batch_size": 32, "codecarbon": True}
# Every field added since 0.1.0 that changes what a cell computes, with a value off its default.
LATER_FIELDS_OFF_DEFAULT = {"amp": "bf16", "channels_last": True, "compile": True,
                            "task": "va_regression", "method": "baseline",
                            "adam_betas": [0.5, 0.99], "label_set": "reported"}
# Fields that change how a cell runs, not what it computes: never in the digest.
HOW_NOT_WHAT = {"workers": 2, "checkpoint_every": 10, "early_bin_ms": 50.0}


def _sha(d):
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


def test_recipe_fields_added_after_0_1_0_keep_its_cell_ids():
    from dataclasses import fields

    # a new Recipe field must be classified here (and keep the ids while at its default)
    names = {f.name for f in fields(Recipe)}
    assert names == set(V010_DEFAULTS) | set(LATER_FIELDS_OFF_DEFAULT) | set(HOW_NOT_WHAT)
    want = _sha(V010_DEFAULTS)
    # the digest and a default cell's id as the 0.1.0 code (694f2c8) printed them
    assert want == "3ee59d60"
    assert Recipe().digest() == want
    assert Cell(dataset="synthetic-fer-dvs", backend="snntorch", arch="tiny").cell_id == (
        "synthetic-fer-dvs/folds/f0/snntorch/tiny/s0/3ee59d60/cpu")
    defaults = {f.name: f.default for f in fields(Recipe)}
    for name, off in LATER_FIELDS_OFF_DEFAULT.items():
        # named explicitly at its default: the 0.1.0 id; off it: the field enters the digest
        assert Recipe(**{name: defaults[name]}).digest() == want, name
        assert Recipe(**{name: off}).digest() == _sha({**V010_DEFAULTS, name: off}), name
    assert Recipe(**LATER_FIELDS_OFF_DEFAULT).digest() == _sha(
        {**V010_DEFAULTS, **LATER_FIELDS_OFF_DEFAULT})
    for name, value in HOW_NOT_WHAT.items():
        assert Recipe(**{name: value}).digest() == want, name


def test_paper_scale_grid_cell_ids_are_those_of_0_1_0():
    from benchmarks.runner.grid import load_grid

    # first cell of each paper-scale grid as the 0.1.0 code (694f2c8) listed it
    assert load_grid("spiking_fer").cells()[0].cell_id == (
        "ckplus-dvs/folds/f0/snntorch/sew_resnet18/s0/0a6cb9e7/cuda")
    assert load_grid("spiking_fer_legacy").cells()[0].cell_id == (
        "ckplus-dvs/folds/f0/snntorch/sew_resnet18/s0/632755f0/cuda")


def test_recipe_rejects_bad_training_options():
    from benchmarks.results.spec import RecipeError

    with pytest.raises(RecipeError, match="recipe.amp must be one of"):
        Recipe(amp="int8")
    with pytest.raises(RecipeError, match="recipe.workers must be >= 0"):
        Recipe(workers=-1)


def test_fp16_needs_cuda():
    from backends.base import get_backend

    cell = Cell(dataset="d", backend="ann", arch="tiny", recipe=Recipe(amp="fp16"))
    with pytest.raises(ValueError, match="needs a CUDA device"):
        T.prepare_model(get_backend("ann"), object(), cell)
