"""benchmarks.results.validate: a fresh run folder passes; hand edits and broken folders fail, each
problem reported; the predictions field of the record schema; CITATION.cff."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import run_bench
from benchmarks.results.records import SCHEMA_VERSION, Record, RecordSchemaError, read_records
from benchmarks.results.validate import sample_predictions, validate_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared: avoid OpenMP oversubscription
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory) -> Path:
    """A tiny grid (2 backends x 1 cell of the mini built-in dataset, 1 epoch), run once."""
    from benchmarks.results.spec import Recipe
    from benchmarks.runner.grid import Grid, run_grid

    base = tmp_path_factory.mktemp("validate")
    grid = Grid(name="validate", datasets=("synthetic-fer-dvs-mini",), backends=("ann", "snntorch"),
                recipe=Recipe(epochs=1, batch_size=8, latency_runs=3, warmup_runs=1,
                              throughput_batch_size=4, codecarbon=False))
    summary = run_grid(grid, base / "run", base / "data", progress=False)
    assert len(summary.done) == 2 and not summary.failed
    return base / "run"


def _copy(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def _edit(run: Path, lineno: int, fn) -> None:
    path = run / "results.jsonl"
    lines = path.read_text().splitlines()
    rec = json.loads(lines[lineno - 1])
    fn(rec)
    lines[lineno - 1] = json.dumps(rec, sort_keys=True)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_a_fresh_run_passes(fresh_run: Path, capsys) -> None:
    recs = read_records(fresh_run, strict=True)
    assert len(recs) == 2
    for r in recs:
        preds = r["predictions"]
        assert len(preds) == r["metrics"]["n_test"] == 28
        assert {"sequence_id", "label", "pred", "logits", "logits_per_step", "lighting",
                "subject"} <= set(preds[0])
        assert all(p["sequence_id"].split("/")[0] == p["subject"] for p in preds)
        assert len(preds[0]["logits"]) == len(r["classes"])
    assert validate_run(fresh_run) == []
    assert run_bench.main(["validate", str(fresh_run)]) == 0
    assert f"{fresh_run}: OK" in capsys.readouterr().out


@pytest.mark.slow
def test_a_run_of_schema_version_2_still_validates(fresh_run: Path, tmp_path: Path) -> None:
    # written by NeuroFER-Bench 0.2: no `model` / `corruption` fields, schema_version 2
    run = _copy(fresh_run, tmp_path)
    for lineno in (1, 2):
        _edit(run, lineno, lambda r: (r.pop("model"), r.pop("corruption"),
                                      r.update(schema_version=2)))
    assert all(json.loads(ln)["schema_version"] == 2
               for ln in (run / "results.jsonl").read_text().splitlines())
    assert validate_run(run) == []


def test_a_hand_edited_accuracy_fails(fresh_run: Path, tmp_path: Path, capsys) -> None:
    run = _copy(fresh_run, tmp_path)
    _edit(run, 1, lambda r: r["metrics"].update(accuracy=r["metrics"]["accuracy"] + 0.1))
    problems = validate_run(run)
    assert len(problems) == 1, problems
    assert "results.jsonl:1" in problems[0] and "metrics.accuracy" in problems[0]
    assert "the predictions give" in problems[0]
    assert run_bench.main(["validate", str(run)]) == 1
    assert "1 problem(s)" in capsys.readouterr().out


@pytest.mark.slow
def test_every_failure_is_reported(fresh_run: Path, tmp_path: Path) -> None:
    run = _copy(fresh_run, tmp_path)

    def first(r):
        m = r["metrics"]
        m["war"] = 0.99  # k / 28 is never 0.99
        m["accuracy_per_step"][0] = 1.5  # impossible values: never equal to the real ones
        m["per_lighting_uar"]["hdr"] = 1.5
        m["energy_uj_per_inference"] *= 2
        m["latency_ms_p50"] = -1.0
        del r["provenance"]["code_version"]
        r["predictions"][0]["pred"] = (r["predictions"][0]["pred"] + 1) % len(r["classes"])
        r["predictions"][1]["subject"] = ""

    _edit(run, 1, first)

    def second(r):
        r["metrics"]["confusion_matrix"][0][0] += 1
        r["metrics"]["throughput_samples_per_s"] = 0.0
        r["metrics"]["energy_ac_pj"] = 0.5

    _edit(run, 2, second)
    lines = (run / "results.jsonl").read_text().splitlines()
    models = [k.split("__", 1)[1] for k, v in json.loads(lines[1])["metrics"].items()
              if k.startswith("energy_breakdown_uj__") and v]
    if models:  # the further energy models, where the cell records them
        _edit(run, 2, lambda r: r["metrics"].update(
            {f"energy_uj_per_inference__{models[0]}":
             2 * r["metrics"][f"energy_uj_per_inference__{models[0]}"] + 1.0}))
    ckpt = json.loads((run / "results.jsonl").read_text().splitlines()[1])["checkpoint"]
    (run / ckpt).unlink()
    with open(run / "results.jsonl", "a") as fh:
        fh.write((run / "results.jsonl").read_text().splitlines()[0] + "\n")  # a duplicate cell
        fh.write('{"schema_version": 2, "status": "ok", "cell_id": "torn')  # killed mid-write
    text = "\n".join(validate_run(run))
    if models:
        assert f"metrics.energy_breakdown_uj__{models[0]}: components sum to" in text
    for expected in (
        "results.jsonl:1", "metrics.war: stored 0.99",
        "metrics.accuracy_per_step", "metrics.per_lighting_uar",
        "metrics.energy_uj_per_inference", "metrics.latency_ms_p50: = -1.0",
        "provenance.code_version: missing", "predictions[0]: pred",
        "predictions[1]: subject = ''; expected a non-empty string",
        "results.jsonl:2", "metrics.confusion_matrix", "metrics.throughput_samples_per_s",
        "metrics.energy_ac_pj", f"checkpoint: {ckpt} is referenced but absent",
        "recorded 2 times with status ok (lines 1, 3)", "results.jsonl:4: not valid JSON",
    ):
        assert expected in text, expected


def _record(**kw) -> dict:
    base = {"schema_version": SCHEMA_VERSION, "status": "ok", "cell_id": "x", "cell": {},
            "metrics": {"war": 0.5}}
    base.update(kw)
    return base


def test_schema_versions_and_failed_cells_are_problems(tmp_path: Path) -> None:
    lines = [
        _record(schema_version=SCHEMA_VERSION + 1),
        _record(schema_version=1, cell_id="old"),
        _record(cell_id="bad", predictions="not a list"),
        _record(cell_id="failed", status="error", error="RuntimeError: boom", metrics={}),
    ]
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    text = "\n".join(validate_run(tmp_path))
    assert f"results.jsonl:1: schema_version: {SCHEMA_VERSION + 1}" in text
    assert "results.jsonl:2: schema_version: 1; this checker needs records of version 2" in text
    assert "results.jsonl:3: breaks the record schema: field 'predictions'" in text
    assert "(failed): status: the cell failed or was skipped and has no ok record: " \
           "RuntimeError: boom" in text
    assert "(old): predictions: absent" in text
    assert validate_run(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere' / 'results.jsonl'}: "
                                                  "no results file"]


def test_missing_predictions_can_be_allowed(tmp_path: Path) -> None:
    rec = _record(cell_id="p")
    (tmp_path / "results.jsonl").write_text(json.dumps(rec) + "\n")
    assert any("predictions: absent" in p for p in validate_run(tmp_path))
    assert not any("predictions: absent" in p
                   for p in validate_run(tmp_path, require_predictions=False))


# ------------------------------------------------------------------ sample_predictions


def test_sample_predictions_by_hand() -> None:
    import torch

    logits = torch.tensor([[0.1, 0.7, 0.2], [0.3, 0.3, 0.4]], dtype=torch.float32)
    per_step = torch.stack([logits * 0.5, logits], dim=1)  # (N, T=2, K)
    out = sample_predictions(["a/001", "b/001"], torch.tensor([1, 0]), logits, per_step,
                             lighting=["hdr", None])
    assert [p["pred"] for p in out] == [1, 2] and [p["label"] for p in out] == [1, 0]
    assert out[1]["lighting"] is None and out[0]["lighting"] == "hdr"
    assert np.asarray(out[0]["logits_per_step"]).shape == (2, 3)
    # 9 significant digits round-trip float32 exactly: the stored logits are the model's
    stored = np.asarray([p["logits"] for p in out], dtype=np.float32)
    assert np.array_equal(stored, logits.numpy())
    assert json.loads(json.dumps(out)) == out  # plain JSON
    assert "logits_per_step" not in sample_predictions(["a"], [0], [[1.0, 0.0]])[0]
    with pytest.raises(ValueError, match="duplicates"):
        sample_predictions(["a", "a"], [0, 0], [[1.0], [1.0]])
    with pytest.raises(ValueError, match=r"logits: expected shape \(2, K\)"):
        sample_predictions(["a", "b"], [0, 0], [[1.0, 0.0]])
    with pytest.raises(ValueError, match="finite"):
        sample_predictions(["a"], [0], [[float("nan"), 0.0]])


def test_sample_predictions_carry_the_subject() -> None:
    out = sample_predictions(["S001/001", "S017/003"], [0, 1], [[1.0, 0.0], [0.0, 1.0]],
                             subjects=["S001", "S017"])
    assert [p["subject"] for p in out] == ["S001", "S017"]
    assert "subject" not in sample_predictions(["a"], [0], [[1.0, 0.0]])[0]
    with pytest.raises(ValueError, match="subjects: expected 2 entries"):
        sample_predictions(["a", "b"], [0, 0], [[1.0, 0.0], [1.0, 0.0]], subjects=["s"])
    with pytest.raises(ValueError, match="empty subject"):
        sample_predictions(["a"], [0], [[1.0, 0.0]], subjects=[""])


def test_predictions_field_keeps_schema_version_2_readable(tmp_path: Path) -> None:
    # a version-2 line written before the field existed, and a version-1 line: both read,
    # with predictions = None
    v2 = _record(schema_version=2, cell_id="v2")
    v1 = _record(schema_version=1, cell_id="v1", torch_threads=2)
    (tmp_path / "results.jsonl").write_text(json.dumps(v2) + "\n" + json.dumps(v1) + "\n")
    recs = read_records(tmp_path, strict=True)
    assert [r["predictions"] for r in recs] == [None, None]
    assert [r["schema_version"] for r in recs] == [SCHEMA_VERSION] * 2 == [4, 4]
    assert [(r["model"], r["corruption"]) for r in recs] == [(None, None)] * 2
    with pytest.raises(RecordSchemaError, match="predictions"):
        Record(cell_id="x", status="ok", cell={}, metrics={"war": 1.0}, predictions=[1, 2])
    r = Record(cell_id="x", status="ok", cell={}, metrics={"war": 1.0},
               predictions=[{"sequence_id": "a", "label": 0, "pred": 0, "logits": [1.0]}])
    assert Record.from_dict(r.to_dict()) == r


def test_citation_cff_names_the_benchmark_version() -> None:
    import yaml

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert cff["cff-version"] == "1.2.0"
    assert cff["title"] == "NeuroFER-Bench"
    assert str(cff["version"]) == project["version"]
    assert cff["message"] and cff["authors"]
    # the version's release (0.3.0 for 0.3.0.dev0) has its section in the changelog
    release = re.fullmatch(r"(\d+\.\d+\.\d+)(\.dev\d+)?", project["version"])
    assert release, project["version"]
    headings = re.findall(r"^## (\d+\.\d+\.\d+)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings and headings[0] == release.group(1)  # the newest section comes first


@pytest.mark.slow
def test_valence_arousal_metrics_are_recomputed(tmp_path: Path) -> None:
    from benchmarks.results.spec import Recipe
    from benchmarks.runner.grid import Grid, run_grid

    grid = Grid(name="va", datasets=("synthetic-fer-dvs-mini",), backends=("ann",), archs=("tiny",),
                folds=(0,), recipe=Recipe(epochs=1, batch_size=8, latency_runs=2, warmup_runs=1,
                                          throughput_batch_size=2, codecarbon=False,
                                          task="va_regression"))
    run = tmp_path / "run"
    run_grid(grid, run, tmp_path / "data", progress=False)
    assert validate_run(run) == []
    (rec,) = read_records(run)
    assert all(len(p["va_pred"]) == 2 and len(p["va_target"]) == 2 for p in rec["predictions"])
    _edit(run, 1, lambda r: r["metrics"].update(va_ccc_valence=r["metrics"]["va_ccc_valence"] + 0.01))
    problems = validate_run(run)
    assert len(problems) == 1 and "metrics.va_ccc_valence" in problems[0]
