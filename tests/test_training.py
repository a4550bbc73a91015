"""Training options and training-state checkpoints: a killed cell resumes and ends as if it had
never stopped; the round-2 recipe fields keep the cell ids of round 1."""

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


def test_round2_recipe_fields_keep_round1_cell_ids():
    # The round-1 digest: SHA-1 of the sorted JSON of the 15 round-1 fields (values written out
    # here by hand from round 1's defaults, with the default grid's epochs 30 / batch 16).
    round1 = {"epochs": 30, "batch_size": 16, "optimizer": "sgd", "lr": 0.01, "momentum": 0.9,
              "weight_decay": 5e-4, "schedule": "cosine", "val_fraction": 0.15, "selection": "val",
              "augment": False, "binarize": False, "latency_runs": 30, "warmup_runs": 5,
              "throughput_batch_size": 32, "codecarbon": True}
    want = hashlib.sha1(json.dumps(round1, sort_keys=True).encode()).hexdigest()[:8]
    assert Recipe().digest() == want
    assert Recipe(workers=2, checkpoint_every=10).digest() == want  # how a cell runs, not what
    assert Recipe(amp="bf16").digest() != want  # what it computes


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
