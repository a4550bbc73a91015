"""Submission bundles (benchmarks.submissions): ``submit`` writes a byte-reproducible bundle that
leaks no path; ``verify`` replays it, and rejects tampered bundles that ``validate`` alone
accepts. The tampering is done here by hand, each kind on its own copy of the bundle, with the
manifest's digests brought up to date the way a careful forger would (except for the stale
digest case)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import run_bench
from benchmarks.measure import metrics as M
from benchmarks.results.records import append_record
from benchmarks.results.validate import validate_run
from benchmarks.robustness.sweep import plan_sweep, run_sweep
from benchmarks.runner.cell import Cell, Recipe, run_cell
from benchmarks.submissions.bundle import MANIFEST, RESULTS, manifest_bytes, sha256_file
from benchmarks.submissions.replay import REPLAY_REL_TOL
from benchmarks.submissions.verify import verify_bundles

RECIPE = Recipe(epochs=1, codecarbon=False, latency_runs=2, warmup_runs=1, throughput_batch_size=2)
META = ["--title", "Tiny test", "--authors", "A. One, B. Two", "--contact", "a@example.org",
        "--licence", "CC-BY-4.0"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Two tiny cells (ANN and snntorch) trained one epoch on the mini dataset, with their
    records and checkpoints, and one robustness cell per checkpoint (event_drop, severity 3)."""
    tmp = tmp_path_factory.mktemp("submit")
    data, run_dir = tmp / "data", tmp / "run"
    for backend in ("ann", "snntorch"):
        cell = Cell(dataset="synthetic-fer-dvs-mini", backend=backend, arch="tiny", recipe=RECIPE)
        rec = run_cell(cell, data, progress=False, checkpoint_dir=run_dir / "checkpoints")
        append_record(run_dir, rec)
    summary = run_sweep(plan_sweep(run_dir, data, ["event_drop"], [3]), run_dir, data,
                        progress=False)
    assert not summary.failed
    return tmp, data, run_dir


@pytest.fixture(scope="module")
def bundle(run):
    tmp, _, run_dir = run
    out = tmp / "bundle"
    assert run_bench.main(["submit", str(run_dir), "--out", str(out), *META]) == 0
    return out


@pytest.fixture(scope="module")
def verified(run, bundle):
    _, data, _ = run
    reports = verify_bundles([bundle], data_root=data)
    return reports[0]


def _copy(bundle: Path, tmp: Path, name: str) -> Path:
    out = tmp / name
    shutil.copytree(bundle, out)
    (out / "verification.json").unlink(missing_ok=True)
    return out


def _redigest(bundle: Path) -> None:
    """List every file of the bundle with its current digest and size (a consistent forgery)."""
    manifest = json.loads((bundle / MANIFEST).read_text())
    files = sorted(p for p in bundle.rglob("*") if p.is_file()
                   and p.name not in (MANIFEST, "verification.json"))
    manifest["files"] = [{"path": p.relative_to(bundle).as_posix(), "sha256": sha256_file(p),
                          "size": p.stat().st_size} for p in files]
    (bundle / MANIFEST).write_bytes(manifest_bytes(manifest))


def _records(bundle: Path) -> list[dict]:
    return [json.loads(line) for line in (bundle / RESULTS).read_text().splitlines()]


def _write_records(bundle: Path, recs: list[dict]) -> None:
    (bundle / RESULTS).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in recs))


def test_submit_is_byte_identical_for_the_same_inputs(run, bundle):
    tmp, _, run_dir = run
    again = tmp / "bundle-again"
    assert run_bench.main(["submit", str(run_dir), "--out", str(again), *META]) == 0
    a = {p.relative_to(bundle): p.read_bytes() for p in bundle.rglob("*") if p.is_file()
         and p.name != "verification.json"}
    b = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert sorted(a) == sorted(b) and all(a[k] == b[k] for k in a)
    ckpts = sorted((run_dir / "checkpoints").glob("*.pt"))
    assert len(ckpts) == 2
    for c in ckpts:  # byte copies, never re-saved
        assert (bundle / "checkpoints" / c.name).read_bytes() == c.read_bytes()


def test_bundle_layout_and_no_path_leaks(run, bundle):
    tmp, data, run_dir = run
    manifest = json.loads((bundle / MANIFEST).read_text())
    assert manifest["authors"] == ["A. One", "B. Two"] and manifest["licence"] == "CC-BY-4.0"
    assert manifest["bundle_format"] == "neurofer-bundle" and manifest["withdrawn"] is False
    listed = {f["path"] for f in manifest["files"]}
    assert listed == {"results.jsonl", *(f"checkpoints/{p.name}" for p in
                                         (run_dir / "checkpoints").glob("*.pt"))}
    assert all(p.split("==")[0] for p in manifest["environment"]["packages"])
    assert "torch==" + __import__("torch").__version__ in manifest["environment"]["packages"]
    recs = _records(bundle)
    assert sorted(r["kind"] for r in recs) == ["robustness", "robustness", "trained", "trained"]
    assert all(r["checkpoint"].startswith("checkpoints/") for r in recs)
    text = (bundle / MANIFEST).read_text() + (bundle / RESULTS).read_text()
    for leak in (str(tmp), str(tmp.resolve()), str(run_dir.resolve()), str(data.resolve())):
        assert leak not in text


def test_missing_metadata_is_a_one_line_error_and_writes_nothing(run, capsys):
    tmp, _, run_dir = run
    out = tmp / "no-licence"
    args = ["submit", str(run_dir), "--out", str(out), *META[:-2]]
    assert run_bench.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'licence'" in err
    assert not out.exists() and not list(tmp.glob(".no-licence.tmp-*"))
    meta = tmp / "meta.toml"
    meta.write_text('title = "T"\nauthors = ["X"]\ncontact = "x@y"\nlicence = "MIT"\n')
    assert run_bench.main(["submit", str(run_dir), "--out", str(out), "--meta", str(meta)]) == 0
    assert json.loads((out / MANIFEST).read_text())["authors"] == ["X"]


def test_large_checkpoints_are_listed_by_url(run):
    tmp, _, run_dir = run
    out = tmp / "external"
    assert run_bench.main(["submit", str(run_dir), "--out", str(out), *META,
                           "--max-checkpoint-mib", "0.000001"]) == 2  # no URL base given
    assert run_bench.main(["submit", str(run_dir), "--out", str(out), *META,
                           "--max-checkpoint-mib", "0.000001",
                           "--checkpoint-url-base", "https://example.org/w/"]) == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert not (out / "checkpoints").exists()
    ext = manifest["external_checkpoints"]
    assert len(ext) == 2
    for e in ext:
        name = Path(e["path"]).name
        assert e["url"] == f"https://example.org/w/{name}"
        assert e["sha256"] == sha256_file(run_dir / "checkpoints" / name)


def test_verify_replays_every_record(verified, bundle):
    assert verified["verdict"] == "verified", verified
    assert verified["problems"] == []
    assert len(verified["records"]) == 4
    for r in verified["records"]:
        assert r["verdict"] == "verified" and r["problems"] == []
        assert r["replay"]["n_samples"] > 0
        assert r["replay"]["max_rel_logit_diff"] <= REPLAY_REL_TOL
        assert r["replay"]["changed_predictions"] == 0
    on_disk = json.loads((bundle / "verification.json").read_text())
    assert on_disk["bundle_id"] == verified["bundle_id"] and on_disk["verdict"] == "verified"


def test_verify_cli_with_a_sample_of_the_test_split(run, bundle, capsys):
    _, data, _ = run
    assert run_bench.main(["verify", str(bundle), "--replay", "3", "--data-root", str(data)]) == 0
    rep = json.loads((bundle / "verification.json").read_text())
    assert {r["replay"]["n_samples"] for r in rep["records"]} == {3}
    assert "verified" in capsys.readouterr().out


def _rejected(tampered: Path, data: Path, needle: str) -> None:
    assert validate_run(tampered) == []  # validate alone accepts the tampered bundle
    rep = verify_bundles([tampered], data_root=data)[0]
    assert rep["verdict"] == "rejected"
    msgs = rep["problems"] + [p for r in rep["records"] for p in r["problems"]]
    assert any(needle in m for m in msgs), msgs
    assert run_bench.main(["verify", str(tampered), "--data-root", str(data)]) == 1


def _edit_a_prediction(rec: dict) -> None:
    """Move one sample's top logit to another class (logits and every step's readout), set its
    pred, and recompute every classification metric from the edited predictions."""
    preds = rec["predictions"]
    k = len(rec["classes"])
    p = preds[0]
    a, b = int(np.argmax(p["logits"])), (int(np.argmax(p["logits"])) + 1) % k
    for row in [p["logits"], *p.get("logits_per_step", [])]:
        row[a], row[b] = row[b], row[a]
    p["pred"] = int(np.argmax(p["logits"]))
    y = np.array([q["label"] for q in preds])
    pr = np.array([q["pred"] for q in preds])
    m = rec["metrics"]
    m["accuracy"] = m["war"] = M.accuracy(pr, y)
    m["uar"] = M.uar(pr, y, num_classes=k)
    m["per_class_recall"] = dict(zip(rec["classes"], M.per_class_recall(pr, y, k).tolist(),
                                     strict=True))
    m["confusion_matrix"] = M.confusion_matrix(pr, y, k).tolist()
    if m.get("accuracy_per_step") is not None:
        m["accuracy_per_step"] = M.accuracy_per_step(
            np.array([q["logits_per_step"] for q in preds]), y).tolist()
    if "per_lighting_accuracy" in m:
        groups = [q.get("lighting") or "unknown" for q in preds]
        m["per_lighting_accuracy"] = M.per_group_accuracy(pr, y, groups)
        m["per_lighting_uar"] = M.per_group_uar(pr, y, groups, num_classes=k)


def test_a_consistently_edited_prediction_is_rejected(run, bundle):
    tmp, data, _ = run
    t = _copy(bundle, tmp, "t-pred")
    recs = _records(t)
    _edit_a_prediction(next(r for r in recs if r["kind"] == "trained"))
    _write_records(t, recs)
    _redigest(t)
    _rejected(t, data, "replayed logits differ")


def test_a_swapped_checkpoint_is_rejected(run, bundle):
    tmp, data, _ = run
    t = _copy(bundle, tmp, "t-swap")
    a, b = sorted((t / "checkpoints").glob("*.pt"))
    shutil.copyfile(b, a)  # one cell's checkpoint replaced by the other cell's
    _redigest(t)
    _rejected(t, data, "replayed logits differ")


def test_a_stale_digest_is_rejected(run, bundle):
    tmp, data, _ = run
    t = _copy(bundle, tmp, "t-stale")
    recs = _records(t)
    recs[0]["provenance"]["cpu"] = "another CPU"
    _write_records(t, recs)
    _rejected(t, data, "sha256 does not match")


def test_an_added_file_is_rejected(run, bundle):
    tmp, data, _ = run
    t = _copy(bundle, tmp, "t-extra")
    (t / "checkpoints" / "extra.pt").write_bytes(b"x")
    _rejected(t, data, "extra file")


def test_a_missing_manifest_field_is_rejected(run, bundle):
    tmp, data, _ = run
    t = _copy(bundle, tmp, "t-field")
    manifest = json.loads((t / MANIFEST).read_text())
    del manifest["licence"]
    (t / MANIFEST).write_bytes(manifest_bytes(manifest))
    _rejected(t, data, "field 'licence': missing")


def test_two_bundles_claiming_one_record_with_different_results(run, bundle):
    tmp, data, _ = run
    t = _copy(bundle, tmp, "t-claim")
    recs = _records(t)
    _edit_a_prediction(next(r for r in recs if r["kind"] == "trained"))
    _write_records(t, recs)
    _redigest(t)
    good, bad = verify_bundles([bundle, t], data_root=data, replay_n=2, write=False)
    assert good["verdict"] == bad["verdict"] == "rejected"
    assert any("claimed by bundle" in p for p in good["problems"])
