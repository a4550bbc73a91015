"""The robustness sweep (benchmarks.robustness.sweep), its records, validation, report and CLI."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import run_bench
from benchmarks.results.plan import planned_cell_ids, write_plan
from benchmarks.results.records import read_records
from benchmarks.results.validate import validate_run
from benchmarks.robustness.sweep import (
    NoCheckpointsError,
    plan_sweep,
    run_robustness_cell,
    run_sweep,
    subsample_test_split,
)
from benchmarks.runner.cell import Cell, Recipe, run_cell
from benchmarks.runner.checkpoints import load_checkpoint
from datasets.common import DatasetNotFoundError, UnknownNameError
from datasets.transforms.corruptions import SeverityError, corrupt_events
from reports.robustness import (
    load_results,
    render_robustness_markdown,
    sign_test,
    sign_test_power,
    write_robustness_reports,
)

RECIPE = Recipe(epochs=1, codecarbon=False, latency_runs=2, warmup_runs=1, throughput_batch_size=2)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Two tiny cells (ANN and its snntorch twin) trained one epoch on the mini dataset."""
    tmp = tmp_path_factory.mktemp("robust")
    data, run_dir = tmp / "data", tmp / "run"
    trained = {}
    for backend in ("ann", "snntorch"):
        cell = Cell(dataset="synthetic-fer-dvs-mini", backend=backend, arch="tiny", recipe=RECIPE)
        trained[backend] = run_cell(cell, data, progress=False, checkpoint_dir=run_dir / "checkpoints")
    cells = plan_sweep(run_dir, data, ["event_drop", "reduced_resolution"], [1, 5])
    summary = run_sweep(cells, run_dir, data, progress=False)
    return data, run_dir, trained, cells, summary


def test_one_cell_per_checkpoint_and_corruption(run):
    _, run_dir, trained, cells, summary = run
    assert len(cells) == 4 and len(summary.done) == 4 and not summary.failed
    recs = read_records(run_dir / "robustness")
    assert len(recs) == 4 and {r["kind"] for r in recs} == {"robustness"}
    for r in recs:
        assert r["corruption"]["severities"] == [1, 5]
        assert r["corruption"]["cell_id"] in {t.cell_id for t in trained.values()}
        assert set(r["metrics"]["accuracy_by_severity"]) == {"1", "5"}


def test_clean_accuracy_equals_the_trained_cells(run):
    _, run_dir, trained, _, _ = run
    by_src = {t.cell_id: t for t in trained.values()}
    for r in read_records(run_dir / "robustness"):
        t = by_src[r["corruption"]["cell_id"]]
        assert r["metrics"]["accuracy_clean"] == pytest.approx(t.metrics["accuracy"], abs=1e-12)
        assert [p["pred"] for p in r["predictions"]] == [p["pred"] for p in t.predictions]


def test_corrupted_predictions_equal_a_hand_built_pipeline(run):
    """Every test sample at severity 5 of event_drop: corrupt, bin and forward by hand."""
    from datasets.registry import open_dataset

    data, run_dir, _, _, _ = run
    rec = next(r for r in read_records(run_dir / "robustness")
               if r["corruption"]["name"] == "event_drop" and r["cell"]["backend"] == "ann")
    loaded = load_checkpoint(run_dir / rec["checkpoint"])
    ds = open_dataset("synthetic-fer-dvs-mini", data)
    _, test_idx = ds.split(0, "folds")
    binner = loaded.binner_for(tuple(ds.sensor_size))
    xs = []
    for i in test_idx:
        ev = corrupt_events(ds.load_events(i), "event_drop", 5, tuple(ds.sensor_size), seed=0,
                            sample=i)
        assert 0.1 < ev.shape[0] / ds.load_events(i).shape[0] < 0.3  # fraction 0.8 dropped
        xs.append(torch.from_numpy(binner(ev)))
    with torch.no_grad():
        logits = loaded.backend.forward(loaded.model, torch.stack(xs)).logits
    assert [p["corrupted"]["5"]["pred"] for p in rec["predictions"]] == logits.argmax(1).tolist()


def test_validate_recomputes_and_catches_a_tampered_metric(run, tmp_path):
    _, run_dir, _, _, _ = run
    assert validate_run(run_dir / "robustness") == []
    lines = (run_dir / "robustness" / "results.jsonl").read_text().splitlines()
    d = json.loads(lines[0])
    d["metrics"]["accuracy_by_severity"]["5"] = 0.123456
    d["predictions"][1]["corrupted"]["1"]["pred"] = (d["predictions"][1]["corrupted"]["1"]["pred"] + 1) % 7
    (tmp_path / "results.jsonl").write_text(json.dumps(d) + "\n")
    problems = validate_run(tmp_path / "results.jsonl")
    assert any("accuracy_by_severity" in p for p in problems)
    assert any("not an argmax" in p for p in problems)


def test_rerun_resumes_without_running_again(run):
    data, run_dir, _, cells, _ = run
    again = run_sweep(cells, run_dir, data, progress=False)
    assert again.done == [] and len(again.resumed) == 4
    assert len(read_records(run_dir / "robustness")) == 4


def test_a_failing_cell_is_recorded_and_the_sweep_goes_on(run, tmp_path):
    from dataclasses import replace

    data, run_dir, _, cells, _ = run
    broken = replace(cells[0], checkpoint=str(tmp_path / "gone.pt"))
    rec = run_robustness_cell(broken, data)
    assert rec.status == "error" and rec.kind == "robustness" and "gone.pt" in rec.error
    assert rec.corruption["name"] == cells[0].corruption


def test_report_tables_and_mce_by_hand(run):
    _, run_dir, _, _, _ = run
    recs = read_records(run_dir / "robustness")
    models = load_results(recs)
    ann = next(m for m in models if m.backend == "ann")
    snn = next(m for m in models if m.backend == "snntorch")
    # mCE of the SNN against its ANN twin, from the stored metrics (independently of the report)
    by = {(r["cell"]["backend"], r["corruption"]["name"]): r["metrics"] for r in recs}
    ces = []
    for c in ("event_drop", "reduced_resolution"):
        e_s = sum(1 - by[("snntorch", c)]["accuracy_by_severity"][s] for s in ("1", "5"))
        e_a = sum(1 - by[("ann", c)]["accuracy_by_severity"][s] for s in ("1", "5"))
        ces.append(e_s / e_a)
    md = render_robustness_markdown(recs)
    row = next(ln for ln in md.splitlines() if ln.startswith(f"| {snn.label} |"))
    assert f"| {100 * np.mean(ces):.1f} | {ann.label} |" in row
    ann_row = next(ln for ln in md.splitlines() if ln.startswith(f"| {ann.label} |"))
    assert "| 100.0 |" in ann_row  # the reference against itself
    paths = write_robustness_reports(run_dir)
    assert [p.name for p in paths] == ["robustness.md", "robustness.tex", "accuracy_vs_severity.png"]


def test_sign_test_by_hand():
    # changes: A gains on 2 samples where B stays, B gains on 1 where A stays -> b = 2, c = 1
    b, c, p = sign_test([1, 1, 0, 0, -1], [0, 0, 1, 0, -1])
    assert (b, c) == (2, 1) and p == pytest.approx(1.0)  # P(|X - 1.5| >= 0.5), X ~ B(3, 1/2)
    b, c, p = sign_test([0] * 8, [-1] * 8)
    assert (b, c) == (8, 0) and p == pytest.approx(2 / 256)


def test_sign_test_power_limits():
    assert sign_test_power(30, 0.0) == 0.0
    # every pair discordant and favouring A (theta = 1): reject whenever 2 * 0.5**n <= 0.05 -> n >= 6
    assert sign_test_power(6, 1.0, effect=1.0) == pytest.approx(1.0)
    assert sign_test_power(5, 1.0, effect=1.0) == pytest.approx(0.0)


# --- bad input: exit 2 before anything runs ---------------------------------------------------


def test_plan_errors(run, tmp_path):
    data, run_dir, _, _, _ = run
    with pytest.raises(UnknownNameError, match="did you mean 'event_drop'"):
        plan_sweep(run_dir, data, ["event_dropp"])
    with pytest.raises(SeverityError):
        plan_sweep(run_dir, data, ["event_drop"], [0])
    with pytest.raises(NoCheckpointsError):
        plan_sweep(tmp_path, data, ["event_drop"])
    # a checkpoint of a cell whose dataset (mmi-dvs) is absent under the data root
    src = next((run_dir / "checkpoints").glob("*.pt"))
    ck = torch.load(src, weights_only=True)
    ck["cell"] = {**ck["cell"], "dataset": "mmi-dvs"}
    (tmp_path / "other" / "checkpoints").mkdir(parents=True)
    torch.save(ck, tmp_path / "other" / "checkpoints" / "mmi.pt")
    with pytest.raises(DatasetNotFoundError, match="mmi.pt: dataset 'mmi-dvs'"):
        plan_sweep(tmp_path / "other", tmp_path / "empty_root", ["event_drop"])


@pytest.mark.parametrize("argv, message", [
    (["--corruptions", "polarity_flipp"], "did you mean 'polarity_flip'"),
    (["--severities", "6"], "outside 1-5"),
])
def test_cli_bad_input_exit_2(run, argv, message, capsys):
    data, run_dir, _, _, _ = run
    rc = run_bench.main(["robustness", str(run_dir), "--data-root", str(data), "-q", *argv])
    assert rc == 2 and message in capsys.readouterr().err


def test_cli_without_checkpoints_exit_2(tmp_path, capsys):
    assert run_bench.main(["robustness", str(tmp_path), "-q"]) == 2
    assert "no checkpoints" in capsys.readouterr().err


def test_cli_runs_and_prints_the_report(run, capsys):
    data, run_dir, _, _, _ = run
    rc = run_bench.main(["robustness", str(run_dir), "--data-root", str(data), "-q",
                         "--corruptions", "event_drop", "--severities", "1", "5"])
    out = capsys.readouterr().out
    assert rc == 0 and "## Robustness to event corruptions" in out and "2 already recorded" in out
    assert "## Early decision" in out and (run_dir / "robustness" / "early_decision.json").is_file()
    assert Path(run_dir / "robustness" / "robustness.md").is_file()


# --- early decision ------------------------------------------------------------------------------


def test_decision_steps_by_hand():
    from benchmarks.robustness.early import (
        causal_decision_step,
        oracle_decision_step,
        prefix_frames,
    )

    preds = np.array([[3, 3, 3], [0, 1, 1], [1, 0, 1], [2, 2, 0]])
    assert oracle_decision_step(preds).tolist() == [1, 2, 3, 3]
    conf = np.array([[0.9, 0.2, 0.2], [0.1, 0.5, 0.95], [0.1, 0.1, 0.1]])
    assert causal_decision_step(conf, 0.5).tolist() == [1, 2, 3]
    assert causal_decision_step(conf, 0.95).tolist() == [3, 3, 3]
    f = np.ones((2, 4, 2, 3, 3), dtype=np.float32)
    p = prefix_frames(f, 2)
    assert p[:, :2].sum() == 2 * 2 * 18 and p[:, 2:].sum() == 0 and f.sum() == 2 * 4 * 18
    with pytest.raises(ValueError, match="1..4"):
        prefix_frames(f, 0)


def test_early_decision_full_prefix_equals_a_hand_run(run):
    from benchmarks.robustness.early import early_decision
    from datasets.registry import open_dataset
    from datasets.transforms.binning import to_frames_time_window

    data, run_dir, trained, _, _ = run
    path = run_dir / trained["snntorch"].checkpoint
    loaded = load_checkpoint(path)
    ds = open_dataset("synthetic-fer-dvs-mini", data)
    _, test_idx = ds.split(0, "folds")
    res = early_decision(loaded, ds, test_idx, 100.0)
    t = loaded.input_shape[0]
    assert res["time_ms"] == [100.0 * (k + 1) for k in range(t)]
    # by hand: the whole T x 100 ms window of the first test recording, unbinarised counts
    # resized like the training binner, run at full length
    ev = ds.load_events(test_idx[0])
    t0 = int(ev["t"][0])
    f = to_frames_time_window(ev, tuple(ds.sensor_size), 100_000, start_time=t0,
                              end_time=t0 + t * 100_000)[:t]
    binner = loaded.binner_for(tuple(ds.sensor_size))
    from datasets.transforms.binning import resize_nearest

    f = resize_nearest(f, tuple(binner.size)) if tuple(binner.size) != f.shape[-2:] else f
    with torch.no_grad():
        lg = loaded.backend.forward(loaded.model, torch.from_numpy(f)[None]).logits
    assert res["preds"][0][-1] == int(lg.argmax())
    acc_t = np.mean([p[-1] == y for p, y in zip(res["preds"], res["labels"], strict=True)])
    assert res["accuracy"][-1] == pytest.approx(acc_t)
    assert all(1 <= m / 100.0 <= t for m in [res["oracle"]["median_ms"]])
    assert res["energy_uj_by_prefix"] and all(len(v) == t for v in res["energy_uj_by_prefix"].values())


def test_web_page_section_has_the_tables(run):
    from reports.html import _robustness_html

    _, run_dir, _, _, _ = run
    html = _robustness_html([run_dir])
    assert "Robustness to event corruptions" in html and "<table" in html and "mCA" in html
    assert "data:image/png;base64," in html


def test_grid_robustness_keys(tmp_path):
    from benchmarks.runner.grid import Grid, GridFileError, load_grid

    default = load_grid("default")  # the small sweep of the default report, on a subset
    assert default.robustness == ("background_activity", "event_drop", "reduced_resolution")
    assert default.robustness_severities == (1, 3, 5) and default.robustness_max_test == 48
    path = tmp_path / "g.toml"
    path.write_text('datasets = ["synthetic-fer-dvs-mini"]\nbackends = ["ann"]\n'
                    'robustness = ["background_activity", "event_drop"]\n'
                    'robustness_severities = [1, 5]\n')
    g = load_grid(str(path))
    assert g.robustness == ("background_activity", "event_drop")
    assert g.robustness_severities == (1, 5)
    with pytest.raises(UnknownNameError, match="did you mean 'event_drop'"):
        Grid(robustness=("event_dropp",))
    with pytest.raises(SeverityError):
        Grid(robustness=("event_drop",), robustness_severities=(0,))
    for bad in (0, -3, True, 2.5):
        with pytest.raises(GridFileError, match="robustness_max_test"):
            Grid(robustness=("event_drop",), robustness_max_test=bad)


def test_run_with_a_grid_sweep_puts_it_in_the_leaderboard(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(
        'name = "rob"\ndatasets = ["synthetic-fer-dvs-mini"]\nbackends = ["ann"]\narchs = ["tiny"]\n'
        'robustness = ["event_drop"]\nrobustness_severities = [2]\n'
        "[recipe]\nepochs = 1\nlatency_runs = 2\nwarmup_runs = 1\nthroughput_batch_size = 2\n"
        "codecarbon = false\n")
    out = tmp_path / "run"
    assert run_bench.main(["run", "--grid", str(grid), "--data-root", str(tmp_path / "data"),
                           "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "## Robustness to event corruptions" in printed and "## Early decision" in printed
    (rec,) = read_records(out / "robustness")
    assert rec["corruption"]["name"] == "event_drop" and rec["corruption"]["severities"] == [2]
    assert validate_run(out) == []  # the run and its sweep


# --- a subset of the test split (the default grid's small sweep) -----------------------------------


def test_subsample_test_split_by_hand():
    # positions round(linspace(0, 9, 4)) = round(0, 3, 6, 9); round(linspace(0, 9, 3)) = 0, 4.5 -> 4
    # (numpy rounds half to even), 9
    assert subsample_test_split(range(10, 20), 4) == [10, 13, 16, 19]
    assert subsample_test_split(range(10, 20), 3) == [10, 14, 19]
    assert subsample_test_split(range(10, 20), 1) == [10]
    assert subsample_test_split([7, 3, 5], None) == [7, 3, 5]  # None or >= M: all, in order
    assert subsample_test_split([7, 3, 5], 3) == [7, 3, 5] == subsample_test_split([7, 3, 5], 9)


def test_a_subset_sweep_is_its_own_cell_and_a_whole_split_one_supersedes_it(run, tmp_path):
    import shutil

    from benchmarks.robustness.early import write_early_decision
    from reports.robustness import read_early, render_early_markdown

    data, run_dir, trained, _, _ = run
    sub = tmp_path / "run"
    shutil.copytree(run_dir / "checkpoints", sub / "checkpoints")
    whole = [p["sequence_id"] for p in trained["ann"].predictions]
    m = len(whole)
    assert m > 3
    cells = plan_sweep(sub, data, ["event_drop"], [1], max_test=3)
    assert all("/seed0/n3/" in c.cell_id for c in cells)
    assert not run_sweep(cells, sub, data, progress=False).failed
    recs = read_records(sub / "robustness")
    picked = [whole[round(q)] for q in np.linspace(0, m - 1, 3)]  # evenly spaced, by hand
    for r in recs:
        assert [p["sequence_id"] for p in r["predictions"]] == picked
        assert r["corruption"]["max_test"] == 3 and r["corruption"]["n_test_split"] == m
        assert r["metrics"]["n_test"] == 3
    assert validate_run(sub / "robustness") == []
    md = render_robustness_markdown(recs)
    assert f"3 of {m} recordings" in md

    write_early_decision(sub, sorted(c.checkpoint for c in cells[:1]), data, max_test=3)
    early = read_early(sub)
    assert [(e["n_test"], e["max_test"], e["n_test_split"]) for e in early] == [(3, 3, m)]
    assert f"3 of {m} (an evenly spaced subset" in render_early_markdown(early)

    # the whole split's cells are other cells; the report then shows them only
    cells = plan_sweep(sub, data, ["event_drop"], [1])
    assert not run_sweep(cells, sub, data, progress=False).failed
    recs = read_records(sub / "robustness")
    assert sorted(len(r["predictions"]) for r in recs) == [3, 3, m, m]
    models = load_results(recs)
    assert [len(x.ids) for x in models] == [m, m]
    assert "recordings); `run_bench.py robustness" not in render_robustness_markdown(recs)


# --- frame datasets -------------------------------------------------------------------------------


def test_nefer_tbr_frames_take_the_frame_forms_that_fit_them(tmp_path):
    from datasets.loaders.nefer import (
        NEFERDataset,
        binary_time_bins,
        synthetic_annotations,
        tbr_binary_frames,
        tbr_time_bins,
        write_nefer_tree,
    )
    from datasets.transforms.corruptions import corruption_rng

    data, run_dir = tmp_path / "data", tmp_path / "run"
    write_nefer_tree(data, annotations=synthetic_annotations(
        ["user_01", "user_02", "user_04"], ["user_03", "user_07"], 3))
    recipe = Recipe(epochs=1, batch_size=4, codecarbon=False, latency_runs=2, warmup_runs=1,
                    throughput_batch_size=2)
    trained = run_cell(Cell(dataset="nefer", backend="ann", arch="tiny", recipe=recipe), data,
                       progress=False, checkpoint_dir=run_dir / "checkpoints")
    names = ["event_drop", "background_activity", "polarity_flip", "temporal_jitter"]
    cells = plan_sweep(run_dir, data, names, [1, 5])
    run_sweep(cells, run_dir, data, progress=False)
    recs = {r["corruption"]["name"]: r for r in read_records(run_dir / "robustness")}
    assert recs["event_drop"]["status"] == "ok"
    # NEFER's frames: one polarity-free channel, of unstated duration
    for name, why in [("background_activity", "does not state how long one of its frames lasts"),
                      ("polarity_flip", "polarity-free"), ("temporal_jitter", "no frame form")]:
        assert recs[name]["status"] == "skipped" and why in recs[name]["error"], name
    rec = recs["event_drop"]
    assert [p["pred"] for p in rec["predictions"]] == [p["pred"] for p in trained.predictions]
    assert validate_run(run_dir / "robustness") == []

    # by hand: the first test recording's binary frames, each 1 kept with probability 1 - 0.8
    # (severity 5) by a binomial draw of the recording's generator, binned and run
    ds = NEFERDataset(data)
    _, test_idx = ds.split(0, "folds")
    i = test_idx[0]
    codes, n = ds.load_tbr(i)
    bits = tbr_binary_frames(np.stack(codes), n).reshape(-1, 1, *codes[0].shape)
    # the two ways of binning binary frames in time agree
    assert np.array_equal(binary_time_bins(bits[:, 0].astype(np.uint8), 4), tbr_time_bins(codes, n, 4))
    kept = corruption_rng(0, i, "event_drop", 5).binomial(bits.astype(np.int64), 0.2)
    loaded = load_checkpoint(run_dir / "checkpoints" / Path(rec["checkpoint"]).name)
    t, _, h, w = loaded.input_shape
    x = ds.event_tensor(i, t, (h, w), recipe.binarize, frame_transform=lambda f: kept)
    assert torch.equal(ds.event_tensor(i, t, (h, w), recipe.binarize),
                       ds.event_tensor(i, t, (h, w), recipe.binarize, frame_transform=lambda f: f))
    with torch.no_grad():
        logits = loaded.backend.forward(loaded.model, x[None]).logits[0]
    stored = rec["predictions"][0]["corrupted"]["5"]
    assert stored["pred"] == int(logits.argmax())
    assert stored["logits"] == pytest.approx(logits.tolist(), abs=1e-5)


# --- nothing lost, nothing silent: kill -9, plans, holes -------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
KILL_CORRUPTIONS = ["event_drop", "hot_pixels", "spatial_jitter", "temporal_jitter"]


def _sweep_argv(run_dir: Path, data: Path) -> list[str]:
    return [sys.executable, str(ROOT / "run_bench.py"), "robustness", str(run_dir), "--data-root",
            str(data), "-q", "--no-early-decision", "--corruptions", *KILL_CORRUPTIONS,
            "--severities", "1"]


def test_a_sweep_killed_mid_cell_resumes_at_once_with_no_hole(run, tmp_path):
    """kill -9 while a cell is claimed; the re-run (well within the 120 s claim timeout) runs
    every planned cell, and validate passes; a record deleted afterwards is a hole validate and
    the report name."""
    data, src, _, _, _ = run
    run_dir = tmp_path / "run"
    shutil.copytree(src / "checkpoints", run_dir / "checkpoints")
    out = run_dir / "robustness"
    first = subprocess.Popen(_sweep_argv(run_dir, data), cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    held, deadline = None, time.monotonic() + 180
    while held is None and first.poll() is None and time.monotonic() < deadline:
        recorded = list((out / "cells").glob("*.json")) if (out / "cells").is_dir() else []
        for p in (out / "claims").glob("*.claim") if recorded else []:
            with contextlib.suppress(OSError, ValueError):
                info = json.loads(p.read_text())
                if info["state"] == "running" and info["cell_id"].startswith("robustness/"):
                    held = info
        time.sleep(0.02)
    assert held is not None, first.stderr.read().decode()[-2000:] if first.poll() is not None else "no claim"
    os.kill(first.pid, signal.SIGKILL)  # mid-sweep: a record written, a cell claimed and running
    first.wait()
    t0 = time.perf_counter()
    res = subprocess.run(_sweep_argv(run_dir, data), cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    waited = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr[-3000:]
    assert "MISSING" not in res.stdout and waited < 120  # no wait for the dead claim's timeout
    planned = planned_cell_ids(out)
    assert len(planned) == 2 * len(KILL_CORRUPTIONS) and held["cell_id"] in planned
    recs = read_records(out / "results.jsonl")
    assert sorted(r["cell_id"] for r in recs if r["status"] == "ok") == sorted(planned)
    assert validate_run(out) == []
    # a hole: the killed cell's record lost; validate and the report say so, nothing stands in
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(
        line for line in lines if json.loads(line)["cell_id"] != held["cell_id"]))
    shutil.rmtree(out / "cells")
    problems = validate_run(out)
    assert len(problems) == 1 and held["cell_id"] in problems[0] and "no record" in problems[0]
    write_robustness_reports(run_dir)
    md = (out / "robustness.md").read_text()
    assert "Missing: 1 planned cell(s) have no record" in md and f"`{held['cell_id']}`" in md
    print(f"\nre-run after kill -9 took {waited:.1f} s (claim timeout 120 s)")


def test_validate_compares_the_plan_with_the_records_and_folders_without_a_plan_pass(run, tmp_path):
    _, src, _, _, _ = run
    run_dir = tmp_path / "run"
    shutil.copytree(src, run_dir)
    out = run_dir / "robustness"
    shutil.rmtree(out / "plans", ignore_errors=True)
    assert validate_run(out) == []  # no plan: nothing to compare
    have = sorted({r["cell_id"] for r in read_records(out / "results.jsonl")})
    write_plan(out, have, command="robustness")
    assert validate_run(out) == []
    write_plan(out, [have[0], "robustness/event_drop/s1/seed9/x"], command="robustness")
    assert planned_cell_ids(out) == [*have, "robustness/event_drop/s1/seed9/x"]
    problems = validate_run(out)
    assert len(problems) == 1 and "robustness/event_drop/s1/seed9/x was planned" in problems[0]
    (out / "plans" / "broken.json").write_text("{")
    assert any("broken.json: unreadable plan file" in p for p in validate_run(out))


def test_a_cell_without_a_record_at_the_end_is_named_and_exits_1(run, tmp_path, monkeypatch, capsys):
    """A record that never reaches the folder (its write lost) leaves a planned cell without a
    record: the command names it on stderr and exits 1."""
    from benchmarks.runner import executors

    data, src, _, _, _ = run
    run_dir = tmp_path / "run"
    shutil.copytree(src / "checkpoints", run_dir / "checkpoints")
    real = executors.write_cell_record

    def lose_hot_pixels(folder, record):
        path = real(folder, record)
        if "/hot_pixels/" in record.cell_id:
            path.unlink()
        return path

    monkeypatch.setattr(executors, "write_cell_record", lose_hot_pixels)
    rc = run_bench.main(["robustness", str(run_dir), "--data-root", str(data), "-q",
                         "--no-early-decision", "--corruptions", "event_drop", "hot_pixels",
                         "--severities", "1"])
    cap = capsys.readouterr()
    assert rc == 1 and "2 MISSING (no record)" in cap.out
    lost = sorted(c.cell_id for c in plan_sweep(run_dir, data, ["hot_pixels"], [1]))
    assert "error: 2 planned cell(s) have no record" in cap.err and all(c in cap.err for c in lost)


def test_concurrent_early_decisions_are_computed_once(run, tmp_path, monkeypatch):
    from benchmarks.robustness import early

    data, src, _, cells, _ = run
    run_dir = tmp_path / "run"
    shutil.copytree(src / "checkpoints", run_dir / "checkpoints")
    real, calls = early.run_early_decision, []

    def counted(*args, **kwargs):
        calls.append(threading.get_ident())
        time.sleep(0.5)  # both callers are inside write_early_decision at once
        return real(*args, **kwargs)

    monkeypatch.setattr(early, "run_early_decision", counted)
    ckpts = sorted({c.checkpoint.replace(str(src), str(run_dir)) for c in cells})
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(early.write_early_decision(
        run_dir, ckpts, data, max_test=4, heartbeat_s=0.2))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(calls) == 1 and len(paths) == 2 and paths[0] == paths[1]
    assert len(json.loads(paths[0].read_text())) == 2
    assert not list((run_dir / "robustness" / "claims").glob("*.claim"))  # released
