"""Checkpoints of trained cells and ``run_bench.py predict`` over raw recordings."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import benchmarks.runner.cell as cell_module
from benchmarks.runner.cell import Cell, Recipe, run_cell
from benchmarks.runner.checkpoints import CheckpointError, load_checkpoint
from benchmarks.runner.predict import predict_recording, window_starts
from datasets.io.events import make_events, write_v2e_h5

DAVIS346 = Path(__file__).resolve().parents[2] / "shared" / "real" / "davis346" / "davis346.aedat4"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real tiny ANN cell trained for one epoch on the built-in mini dataset, with checkpoint."""
    tmp = tmp_path_factory.mktemp("predict")
    recipe = Recipe(epochs=1, codecarbon=False, latency_runs=2, warmup_runs=1, throughput_batch_size=2)
    cell = Cell(dataset="synthetic-fer-dvs-mini", backend="ann", arch="tiny", recipe=recipe)
    # Capture the trained model's logits on a fixed input at the moment the cell saves it, so the
    # test compares the reloaded checkpoint with the model itself (not one load with another).
    from backends.base import get_backend

    backend = get_backend("ann")
    save = cell_module.save_checkpoint  # the name the cell calls
    before = {}

    def spy(checkpoint_dir, cell_, model, data):
        x = torch.rand(3, *data.train.x.shape[1:], generator=torch.Generator().manual_seed(7))
        model.eval()
        with torch.no_grad():
            before["x"], before["logits"] = x, backend.forward(model, x).logits.clone()
        return save(checkpoint_dir, cell_, model, data)

    cell_module.save_checkpoint = spy
    try:
        record = run_cell(cell, tmp / "data", progress=False,
                          checkpoint_dir=tmp / "run" / "checkpoints")
    finally:
        cell_module.save_checkpoint = save
    return tmp, cell, record, before


def test_checkpoint_written_and_reloads_to_identical_logits(trained):
    tmp, cell, record, before = trained
    assert record.checkpoint.startswith("checkpoints/") and record.checkpoint.endswith(".pt")
    path = tmp / "run" / record.checkpoint
    assert path.is_file()
    loaded = load_checkpoint(path)
    ck = loaded.checkpoint
    assert ck["backend"] == "ann" and ck["arch"] == "tiny" and ck["cell"] == cell.to_dict()
    assert ck["classes"] == record.classes
    assert tuple(ck["input_shape"]) == (8, 2, 48, 48)
    assert len(ck["sensor_size"]) == 3 and ck["binner"]["n_time_bins"] == 8

    # the reloaded model reproduces the trained model's logits (taken before saving) exactly
    assert not loaded.model.training
    with torch.no_grad():
        after = loaded.backend.forward(loaded.model, before["x"]).logits
    assert torch.equal(after, before["logits"])


def test_run_cell_without_checkpoint_dir_writes_nothing(trained, tmp_path):
    # the record of the default call carries checkpoint None (the fixture's call passed a dir)
    _, cell, _, _ = trained
    rec = run_cell(cell, trained[0] / "data", progress=False)
    assert rec.checkpoint is None
    assert not list(tmp_path.rglob("*.pt"))


def test_window_starts_hand_computed():
    assert window_starts(2_360_000, 500_000, 250_000).tolist() == [k * 250_000 for k in range(8)]
    assert window_starts(100, 500_000, 250_000).tolist() == [0]
    assert window_starts(500_000, 500_000, 250_000).tolist() == [0]
    with pytest.raises(ValueError):
        window_starts(10, 0, 1)


@pytest.mark.skipif(not DAVIS346.is_file(), reason=f"real recording absent: {DAVIS346}")
def test_predict_davis346(trained, tmp_path, capsys):
    import run_bench
    from datasets.io.aedat import read_aedat4

    tmp, _, record, _ = trained
    ckpt = tmp / "run" / record.checkpoint
    rec = read_aedat4(DAVIS346)
    assert rec.sensor_size == (346, 260, 2)
    t = rec.events["t"]
    # by hand: whole windows [s, s+500 ms) with s = 0, 250, ... ms and s + 500 ms <= last event
    n_expected = int(np.floor((int(t[-1]) - 500_000) / 250_000)) + 1
    loaded = load_checkpoint(ckpt)
    preds = predict_recording(loaded, DAVIS346, window_ms=500, stride_ms=250)
    assert len(preds) == n_expected
    for k, p in enumerate(preds):
        assert p.start_ms == 250 * k and p.end_ms == 250 * k + 500
        assert p.n_events == int(((t >= p.start_ms * 1000) & (t < p.end_ms * 1000)).sum())
        assert p.n_events > 0 and p.label in loaded.classes
        assert 0.0 <= p.probability <= 1.0

    out_csv = tmp_path / "pred.csv"
    rc = run_bench.main(["predict", str(ckpt), str(DAVIS346), "--window-ms", "500", "--stride-ms", "250",
                         "--csv", str(out_csv), "-q"])
    assert rc == 0
    import re

    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if re.match(r"^\s*\d+\.\d-\d+\.\d\s", ln)]
    assert len(lines) == n_expected
    for ln in lines:
        assert ln.split()[2] in loaded.classes
        assert 0.0 <= float(ln.split()[3]) <= 1.0
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["class"] for r in rows] == [p.label for p in preds]


def test_predict_v2e_h5_with_empty_window(trained, tmp_path):
    tmp, _, record, _ = trained
    rng = np.random.default_rng(0)
    # 200 x 150 sensor, events in [0, 400) ms and [800, 1200] ms: the window [400, 800) is empty
    t = np.sort(np.concatenate([rng.integers(0, 400_000, 3000), rng.integers(800_000, 1_200_001, 3000)]))
    t[0], t[-1] = 0, 1_200_000
    ev = make_events(t, rng.integers(0, 200, t.size), rng.integers(0, 150, t.size), rng.integers(0, 2, t.size))
    ev["x"][0], ev["y"][0] = 199, 149  # fixes the inferred sensor size
    h5 = write_v2e_h5(tmp_path / "clip.h5", ev)
    loaded = load_checkpoint(tmp / "run" / record.checkpoint)
    preds = predict_recording(loaded, h5, window_ms=400, stride_ms=400)
    assert [p.start_ms for p in preds] == [0, 400, 800]
    assert [p.n_events for p in preds] == [3000, 0, 2999]  # the event at 1200 ms is outside [800, 1200)
    assert preds[1].label is None and math.isnan(preds[1].probability)
    assert preds[0].label in loaded.classes and preds[2].label in loaded.classes


def test_predict_errors_name_the_file(trained, tmp_path, capsys):
    import run_bench

    tmp, _, record, _ = trained
    ckpt = tmp / "run" / record.checkpoint
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bogus.pt"):
        load_checkpoint(bogus)
    notours = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, notours)
    with pytest.raises(CheckpointError, match="other.pt.*not a NeuroFER-Bench checkpoint"):
        load_checkpoint(notours)
    ck = torch.load(ckpt, weights_only=True)
    ck["backend"] = "no-such-backend"
    torch.save(ck, tmp_path / "badbackend.pt")
    with pytest.raises(CheckpointError, match="badbackend.pt.*no-such-backend"):
        load_checkpoint(tmp_path / "badbackend.pt")
    loaded = load_checkpoint(ckpt)
    broken = tmp_path / "broken.aedat4"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="broken.aedat4"):
        predict_recording(loaded, broken)
    with pytest.raises(ValueError, match="unsupported recording type"):
        predict_recording(loaded, bogus)
    assert run_bench.main(["predict", str(ckpt), str(tmp_path / "missing.aedat4"), "-q"]) == 2
    assert "missing.aedat4" in capsys.readouterr().err


def test_empty_windows_are_one_warning_with_their_count(trained, tmp_path, caplog):
    """A recording with one event 600 s late: windows of 500 ms every 250 ms over [0, 600 s]
    number (600000 - 500) // 250 + 1 = 2399 (window_starts' rule); the first (events in
    [0, 400) ms) and the second ([250, 750) ms holds those in [250, 400)) have events, the
    remaining 2397 have none (the late event at 600 s lies in no whole window). One warning says
    so, instead of one per window."""
    import logging

    tmp, _, record, _ = trained
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(0, 400_000, 2000))
    t[0] = 0
    t = np.append(t, 600_000_000)
    ev = make_events(t, rng.integers(0, 64, t.size), rng.integers(0, 64, t.size), rng.integers(0, 2, t.size))
    ev["x"][0], ev["y"][0] = 63, 63
    h5 = write_v2e_h5(tmp_path / "late.h5", ev)
    loaded = load_checkpoint(tmp / "run" / record.checkpoint)
    with caplog.at_level(logging.WARNING, logger="benchmarks.runner.predict"):
        preds = predict_recording(loaded, h5, window_ms=500, stride_ms=250)
    assert len(preds) == 2399
    assert sum(p.n_events == 0 for p in preds) == 2397
    warnings = [r for r in caplog.records if r.name == "benchmarks.runner.predict"]
    assert len(warnings) == 1
    assert "2397 of 2399 windows have no event" in warnings[0].getMessage()
