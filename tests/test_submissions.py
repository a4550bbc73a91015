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


# --------------------------------------------------------------------------------------------
# each record kind replayed: native models (plugins), cells transferred through NIR,
# valence-arousal heads, robustness records, --replicate; each also tampered
# --------------------------------------------------------------------------------------------

NATIVE_PLUGIN = '''
import torch
from torch import nn
from backends import register_model


@register_model("nm-bundled", framework="snntorch", n_time_bins=4, input_size=(16, 16),
                layout="TBCHW")
def bundled_net(k, c):
    import snntorch as snn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(c, 8, 3, padding=1)
            self.lif = snn.Leaky(beta=0.5, init_hidden=True)
            self.fc = nn.Linear(8 * 16 * 16, k)

        def forward(self, x):
            return torch.stack([self.fc(self.lif(self.conv(x[t])).flatten(1))
                                for t in range(x.shape[0])])
    return Net()
'''


@pytest.fixture(scope="module")
def _registry():
    """The architecture registry as it was before this module's native model, restored after
    it (other test modules list every architecture)."""
    from backends.native import card
    from backends.specs import ARCHS

    ARCHS.names()
    saved = dict(ARCHS._items), dict(ARCHS._modules), dict(card._PLUGINS)
    yield
    for live, old in zip((ARCHS._items, ARCHS._modules, card._PLUGINS), saved, strict=True):
        live.clear()
        live.update(old)


def _bundle_of(tmp: Path, data: Path, name: str, cells: list[Cell]) -> tuple[Path, Path]:
    """Run ``cells`` into ``tmp/name-run`` and submit it as ``tmp/name``; returns (run, bundle)."""
    run_dir = tmp / f"{name}-run"
    for cell in cells:
        rec = run_cell(cell, data, progress=False, checkpoint_dir=run_dir / "checkpoints")
        assert rec.status == "ok", rec.error
        append_record(run_dir, rec)
    out = tmp / name
    assert run_bench.main(["submit", str(run_dir), "--out", str(out), *META]) == 0
    return run_dir, out


def _verdicts(bundle: Path, data: Path, **kw) -> dict:
    return verify_bundles([bundle], data_root=data, write=False, **kw)[0]


def _problems(rep: dict) -> list[str]:
    return rep["problems"] + [p for r in rep["records"] for p in r["problems"]]


def _reject(tampered: Path, data: Path, needle: str, *, validate_accepts: bool = True,
            **kw) -> dict:
    if validate_accepts:
        assert validate_run(tampered) == []
    rep = _verdicts(tampered, data, **kw)
    assert rep["verdict"] == "rejected", rep
    assert any(needle in m for m in _problems(rep)), _problems(rep)
    return rep


@pytest.fixture(scope="module")
def native(run, _registry):
    tmp, data, _ = run
    plugin = tmp / "my_model.py"
    plugin.write_text(NATIVE_PLUGIN)
    cell = Cell(dataset="synthetic-fer-dvs-mini", backend="snntorch", arch="nm-bundled",
                plugins=(str(plugin),), recipe=RECIPE)
    return _bundle_of(tmp, data, "native", [cell])


def test_a_native_model_is_consistent_without_trust_and_verified_with_it(run, native):
    _, data, _ = run
    _, bundle = native
    assert (bundle / "plugins" / "my_model.py").read_text() == NATIVE_PLUGIN
    (rec,) = _records(bundle)
    assert rec["cell"]["plugins"] == ["plugins/my_model.py"]
    plain = _verdicts(bundle, data)
    assert plain["verdict"] == "consistent", plain
    (r,) = plain["records"]
    assert r["verdict"] == "consistent" and r["replay"] is None
    assert any("plugin not run" in why for why in r["reasons"])
    trusted = _verdicts(bundle, data, trust_plugins=True)
    assert trusted["verdict"] == "verified", _problems(trusted)
    (r,) = trusted["records"]
    assert r["replay"]["max_rel_logit_diff"] <= REPLAY_REL_TOL and r["replay"]["n_samples"] > 0
    # the CLI: exit 0 either way (consistent is not rejected)
    assert run_bench.main(["verify", str(bundle), "--data-root", str(data)]) == 0


def test_a_native_model_is_rebuilt_from_the_bundles_plugin_file(run, native):
    """The plugin edited so that its model differs (same weights, the conv's output doubled
    before the neurons): the submitter's own file, loaded in this process, must not stand in
    for the bundle's. (snntorch keeps beta in the state dict, so the checkpoint would undo an
    edited decay.)"""
    tmp, data, _ = run
    _, bundle = native
    t = _copy(bundle, tmp, "t-plugin")
    f = t / "plugins" / "my_model.py"
    f.write_text(f.read_text().replace("self.lif(self.conv(x[t]))", "self.lif(2 * self.conv(x[t]))"))
    _redigest(t)
    _reject(t, data, "replayed logits differ", trust_plugins=True)
    assert _verdicts(t, data)["verdict"] == "consistent"  # not run: nothing to see without trust


def test_a_plugin_that_fails_to_import_or_lacks_the_model(run, native):
    tmp, data, _ = run
    _, bundle = native
    t = _copy(bundle, tmp, "t-plugin-broken")
    (t / "plugins" / "my_model.py").write_text("import not_a_module_anywhere\n")
    _redigest(t)
    _reject(t, data, "plugin fails to import", trust_plugins=True)
    t2 = _copy(bundle, tmp, "t-plugin-renamed")
    f = t2 / "plugins" / "my_model.py"
    f.write_text(f.read_text().replace('"nm-bundled"', '"nm-other"'))
    _redigest(t2)
    _reject(t2, data, "'nm-bundled' is not registered by the bundle's plugin files",
            trust_plugins=True)


def test_a_checkpoint_that_does_not_match_its_architecture(run, native):
    """The plugin's model made wider (the conv and the layer after it): the bundled weights no
    longer fit it; a checkpoint file that is not one does not load."""
    tmp, data, _ = run
    _, bundle = native
    t = _copy(bundle, tmp, "t-plugin-arch")
    f = t / "plugins" / "my_model.py"
    f.write_text(f.read_text().replace("nn.Conv2d(c, 8,", "nn.Conv2d(c, 9,").replace(
        "nn.Linear(8 * 16", "nn.Linear(9 * 16"))
    _redigest(t)
    _reject(t, data, "does not load or does not fit its architecture", trust_plugins=True)
    t2 = _copy(bundle, tmp, "t-ckpt-garbage")
    (ck,) = (t2 / "checkpoints").glob("*.pt")
    ck.write_bytes(b"not a checkpoint")
    _redigest(t2)
    _reject(t2, data, "does not load", trust_plugins=True)


def test_a_robustness_record_edited_consistently_is_rejected(run, bundle):
    """One sample's severity-3 prediction moved to another class (its corrupted logits swapped
    to match) and every robustness metric recomputed: validate accepts it, the replay through
    the sweep's seeded corruption does not."""
    tmp, data, _ = run
    t = _copy(bundle, tmp, "t-rob")
    recs = _records(t)
    rec = next(r for r in recs if r["kind"] == "robustness")
    k = len(rec["classes"])
    e = rec["predictions"][0]["corrupted"]["3"]
    a = int(np.argmax(e["logits"]))
    b = (a + 1) % k
    e["logits"][a], e["logits"][b] = e["logits"][b], e["logits"][a]
    e["pred"] = int(np.argmax(e["logits"]))
    y = np.array([q["label"] for q in rec["predictions"]])
    ps = np.array([q["corrupted"]["3"]["pred"] for q in rec["predictions"]])
    m = rec["metrics"]
    m["accuracy_by_severity"]["3"] = M.accuracy(ps, y)
    m["uar_by_severity"]["3"] = M.uar(ps, y, num_classes=k)
    m["mean_corruption_accuracy"] = m["accuracy_by_severity"]["3"]
    _write_records(t, recs)
    _redigest(t)
    rep = _reject(t, data, "replayed severity 3 logits differ")
    bad = [r for r in rep["records"] if r["verdict"] == "rejected"]
    assert [r["cell_id"] for r in bad] == [rec["cell_id"]]
    assert rec["predictions"][0]["sequence_id"] in " ".join(bad[0]["problems"])


def test_a_robustness_record_of_another_corruption_seed_is_rejected(run, bundle):
    """The corruption seed changed in the record (its metrics untouched): the stored
    corrupted logits are not those of the seed it names."""
    tmp, data, _ = run
    t = _copy(bundle, tmp, "t-rob-seed")
    recs = _records(t)
    rec = next(r for r in recs if r["kind"] == "robustness")
    rec["corruption"]["seed"] += 1
    _write_records(t, recs)
    _redigest(t)
    _reject(t, data, "severity 3 logits", validate_accepts=False)


@pytest.fixture(scope="module")
def transferred(run):
    """tiny_nir trained in snntorch, evaluated in spikingjelly through NIR (one epoch)."""
    tmp, data, _ = run
    cell = Cell(dataset="synthetic-fer-dvs-mini", backend="snntorch", arch="tiny_nir",
                run_backend="spikingjelly", transfer_via="nir", recipe=RECIPE)
    return _bundle_of(tmp, data, "transfer", [cell])


def test_a_transferred_cell_replays_through_the_same_transfer(run, transferred):
    _, data, _ = run
    _, bundle = transferred
    (rec,) = _records(bundle)
    assert "/snntorch>spikingjelly@nir/" in rec["cell_id"]
    rep = _verdicts(bundle, data)
    assert rep["verdict"] == "verified", _problems(rep)
    assert rep["records"][0]["replay"]["max_rel_logit_diff"] <= REPLAY_REL_TOL


def test_a_transferred_cell_with_another_run_backend_is_rejected(run, transferred):
    """run_backend changed to norse, the cell id, the transfer block and the task made to
    match: validate accepts it, but the checkpoint is the spikingjelly cell's."""
    from benchmarks.submissions.replay import _cell

    tmp, data, _ = run
    _, bundle = transferred
    t = _copy(bundle, tmp, "t-transfer")
    (rec,) = _records(t)
    rec["cell"]["run_backend"] = "norse"
    rec["cell_id"] = _cell(rec["cell"]).cell_id
    rec["metrics"]["transfer"]["run_backend"] = "norse"
    _write_records(t, [rec])
    _redigest(t)
    rep = _reject(t, data, "holds cell", validate_accepts=False)
    assert "snntorch>norse@nir" in " ".join(_problems(rep))


@pytest.fixture(scope="module")
def valence_arousal(run):
    """A valence-arousal cell and a multitask cell (class head and valence-arousal), ann tiny,
    one epoch on the mini dataset (its sequences carry valence and arousal)."""
    import dataclasses

    tmp, data, _ = run
    cells = [Cell(dataset="synthetic-fer-dvs-mini", backend="ann", arch="tiny",
                  recipe=dataclasses.replace(RECIPE, task=task, method="baseline"))
             for task in ("va_regression", "multitask")]
    return _bundle_of(tmp, data, "va", cells)


def test_valence_arousal_records_replay_their_predicted_values(run, valence_arousal):
    _, data, _ = run
    _, bundle = valence_arousal
    recs = _records(bundle)
    assert sorted(r["cell"]["recipe"]["task"] for r in recs) == ["multitask", "va_regression"]
    assert all(len(p["va_pred"]) == 2 for r in recs for p in r["predictions"])
    rep = _verdicts(bundle, data)
    assert rep["verdict"] == "verified", _problems(rep)


@pytest.mark.parametrize("task", ["va_regression", "multitask"])
def test_a_nudged_valence_arousal_prediction_is_rejected(run, valence_arousal, task):
    """One sample's predicted valence moved by 0.01 (far beyond the tolerance, within
    [-1, 1]) and every valence-arousal metric recomputed: validate accepts it."""
    tmp, data, _ = run
    _, bundle = valence_arousal
    t = _copy(bundle, tmp, f"t-va-{task}")
    recs = _records(t)
    rec = next(r for r in recs if r["cell"]["recipe"]["task"] == task)
    p = rec["predictions"][0]
    p["va_pred"][0] += 0.01 if p["va_pred"][0] < 0 else -0.01
    va = M.va_metrics(np.array([q["va_pred"] for q in rec["predictions"]], dtype=np.float64),
                      np.array([q["va_target"] for q in rec["predictions"]], dtype=np.float64))
    rec["metrics"].update(va)
    _write_records(t, recs)
    _redigest(t)
    rep = _reject(t, data, "replayed logits differ")
    assert p["sequence_id"] in " ".join(_problems(rep))
    assert [r["verdict"] for r in rep["records"]].count("rejected") == 1


def _only(bundle: Path, tmp: Path, name: str, keep) -> Path:
    """A copy of ``bundle`` holding only the records ``keep(rec)`` accepts and their checkpoints
    (a genuine, smaller bundle)."""
    t = _copy(bundle, tmp, name)
    recs = [r for r in _records(t) if keep(r)]
    used = {r["checkpoint"] for r in recs}
    for f in (t / "checkpoints").glob("*.pt"):
        if f"checkpoints/{f.name}" not in used:
            f.unlink()
    _write_records(t, recs)
    _redigest(t)
    return t


def test_replicate_trains_the_cell_again_and_rejects_a_relabelled_seed(run, bundle):
    """--replicate on the ann record: the same machine class gives the same accuracy. A forged
    record: the checkpoint and record relabelled as seed 1 (checkpoint re-saved with the new
    cell, so the replay matches): only the re-run from seed 1 shows it."""
    import torch

    from benchmarks.results import tasks
    from benchmarks.submissions.replay import _cell

    tmp, data, _ = run
    t = _only(bundle, tmp, "t-replicate", lambda r: r["kind"] == "trained"
              and r["cell"]["backend"] == "ann")
    rep = _verdicts(t, data, replicate=True)
    assert rep["verdict"] == "verified", _problems(rep)
    (r,) = rep["records"]
    info = r["replay"]["replicate"]
    assert info["accuracy"] == info["stored_accuracy"] and "same machine class" in info["rule"]
    assert r["problems"] == []  # its test outputs too
    assert run_bench.main(["verify", str(t), "--replicate", "--replay", "2",
                           "--data-root", str(data)]) == 0

    (rec,) = _records(t)
    rec["cell"]["seed"] = 1
    rec["cell_id"] = _cell(rec["cell"]).cell_id
    rec["task"] = tasks.task_reference(rec["cell"], predictions=rec["predictions"])
    ck = t / rec["checkpoint"]
    saved = torch.load(ck, map_location="cpu", weights_only=False)
    saved["cell"]["seed"], saved["cell_id"] = 1, rec["cell_id"]
    torch.save(saved, ck)
    _write_records(t, [rec])
    _redigest(t)
    assert _verdicts(t, data)["verdict"] == "verified"  # the replay alone cannot tell
    _reject(t, data, "replayed logits of the re-run on the same machine class differ",
            validate_accepts=False, replicate=True)


def test_a_missing_file_is_rejected(run, bundle):
    tmp, data, _ = run
    t = _copy(bundle, tmp, "t-missing")
    ck = sorted((t / "checkpoints").glob("*.pt"))[0]
    ck.unlink()
    rep = _verdicts(t, data)
    assert rep["verdict"] == "rejected"
    assert any(f"{ck}: missing (listed in manifest.json 'files')" in m for m in _problems(rep))


@pytest.mark.parametrize("edit, needle", [
    (lambda task: task.update(id="synthetic-fer-dvs-mini/nope/7cls/classification"), "task.id"),
    (lambda task: task.update(version="9.9"), "task.version"),
])
def test_a_record_of_an_unknown_task_or_task_version_is_rejected(run, bundle, edit, needle):
    tmp, data, _ = run
    t = _copy(bundle, tmp, f"t-task-{needle}")
    recs = _records(t)
    rec = next(r for r in recs if r["kind"] == "trained")
    edit(rec["task"])
    _write_records(t, recs)
    _redigest(t)
    rep = _reject(t, data, needle, validate_accepts=False)
    assert any(rec["cell_id"] in m and needle in m for m in _problems(rep))


def test_predictions_for_samples_not_in_the_test_split_or_missing_some(run, bundle):
    """A sample renamed to one not in the split, and (on another copy) a sample dropped, each
    with the metrics and the task's digest recomputed from the edited predictions (the way a
    careful forger would): rejected, the sample named."""
    from benchmarks.results import tasks

    tmp, data, _ = run
    for name in ("renamed", "dropped"):
        t = _copy(bundle, tmp, f"t-samples-{name}")
        recs = _records(t)
        rec = next(r for r in recs if r["kind"] == "trained")
        first = rec["predictions"][0]["sequence_id"]
        if name == "renamed":
            rec["predictions"][0]["sequence_id"] = "s99/not-a-sequence"
        else:
            del rec["predictions"][0]
            _edit_a_prediction(rec)
            _edit_a_prediction(rec)  # twice: back to the stored classes, metrics recomputed
            rec["metrics"]["n_test"] = len(rec["predictions"])
        rec["task"] = tasks.task_reference(rec["cell"], predictions=rec["predictions"])
        _write_records(t, recs)
        _redigest(t)
        rep = _verdicts(t, data)
        assert rep["verdict"] == "rejected", name
        msgs = " ".join(p for r in rep["records"] if r["cell_id"] == rec["cell_id"]
                        for p in r["problems"])
        assert "unknown version" in msgs  # the ids/labels digest is the task's no longer
        if name == "renamed":
            assert "1 sample(s) not in the task's test split, first ['s99/not-a-sequence']" in msgs
        assert f"1 sample(s) of the task's test split missing, first ['{first}']" in msgs


def test_a_checkpoint_given_by_url_only_is_consistent_with_the_reason(run):
    tmp, data, run_dir = run
    out = tmp / "by-url"
    assert run_bench.main(["submit", str(run_dir), "--out", str(out), *META,
                           "--max-checkpoint-mib", "0.000001",
                           "--checkpoint-url-base", "https://example.org/w/"]) == 0
    rep = _verdicts(out, data)
    assert rep["verdict"] == "consistent", _problems(rep)
    assert all(r["verdict"] == "consistent" and r["replay"] is None and
               any("given by URL only (not downloaded)" in why for why in r["reasons"])
               for r in rep["records"])


# --------------------------------------------------------------------------------------------
# deployment records: evaluations of a bundled checkpoint at a chip target's precision
# --------------------------------------------------------------------------------------------

DEPLOY_MAX_TEST = 6


@pytest.fixture(scope="module")
def deployed(run):
    """sinabs tiny_iaf (IAF, stride-2 convolutions: fits speck, maps on loihi2) and sinabs tiny
    (LIF, batch norm, max pooling: fits neither), one epoch on the mini dataset, deployed on
    both targets on 6 test recordings, and submitted."""
    tmp, data, _ = run
    run_dir = tmp / "deploy-run"
    for arch in ("tiny_iaf", "tiny"):
        cell = Cell(dataset="synthetic-fer-dvs-mini", backend="sinabs", arch=arch, recipe=RECIPE)
        rec = run_cell(cell, data, progress=False, checkpoint_dir=run_dir / "checkpoints")
        assert rec.status == "ok", rec.error
        append_record(run_dir, rec)
    assert run_bench.main(["deploy", str(run_dir), "--max-test", str(DEPLOY_MAX_TEST),
                           "--data-root", str(data)]) == 0
    out = tmp / "deploy-bundle"
    assert run_bench.main(["submit", str(run_dir), "--out", str(out), *META]) == 0
    return run_dir, out


def _deployment(recs: list[dict], target: str, arch: str) -> dict:
    (rec,) = [r for r in recs if r["kind"] == "deployment" and r["deployment"]["target"] == target
              and r["cell"]["arch"] == arch]
    return rec


def test_bundled_status_admits_ok_records_and_skipped_deployments_with_their_reason():
    from benchmarks.submissions.bundle import bundled_status

    fit = {"target": "speck", "fit": {"verdict": "does_not_fit"}}
    assert bundled_status({"status": "ok", "kind": "trained"})
    assert bundled_status({"status": "skipped", "kind": "deployment", "error": "max pooling",
                           "deployment": fit})
    assert not bundled_status({"status": "skipped", "kind": "deployment", "error": "",
                               "deployment": fit})
    assert not bundled_status({"status": "skipped", "kind": "deployment", "error": "x",
                               "deployment": {"target": "speck"}})
    assert not bundled_status({"status": "error", "kind": "deployment", "error": "boom",
                               "deployment": fit})
    assert not bundled_status({"status": "skipped", "kind": "robustness", "error": "no events"})


def test_deployment_records_are_bundled_with_their_checkpoints_and_target_files(deployed):
    from backends.targets.target import HERE

    run_dir, bundle = deployed
    recs = _records(bundle)
    assert sorted((r["kind"], r["status"]) for r in recs) == [
        ("deployment", "ok"), ("deployment", "ok"), ("deployment", "skipped"),
        ("deployment", "skipped"), ("trained", "ok"), ("trained", "ok")]
    for target in ("speck", "loihi2"):
        assert (bundle / "targets" / f"{target}.toml").read_bytes() == \
            (HERE / f"{target}.toml").read_bytes()
        skipped = _deployment(recs, target, "tiny")
        assert skipped["status"] == "skipped" and skipped["deployment"]["fit"]["verdict"] == \
            "does_not_fit" and "max pooling" in skipped["error"]
        assert skipped["checkpoint"] == f"checkpoints/{skipped['deployment']['checkpoint']}"
        ok = _deployment(recs, target, "tiny_iaf")
        assert len(ok["predictions"]) == DEPLOY_MAX_TEST
    assert _deployment(recs, "speck", "tiny_iaf")["deployment"]["fit"]["verdict"] == "fits"
    listed = {f["path"] for f in json.loads((bundle / MANIFEST).read_text())["files"]}
    assert {"targets/speck.toml", "targets/loihi2.toml"} <= listed
    assert validate_run(bundle) == []


def test_deployment_records_replay_exactly_and_their_fit_is_recomputed(run, deployed):
    _, data, _ = run
    _, bundle = deployed
    rep = _verdicts(bundle, data, replay_n=2)
    assert rep["verdict"] == "verified", _problems(rep)
    dep = [r for r in rep["records"] if r["kind"] == "deployment"]
    assert len(dep) == 4
    for r in dep:
        assert r["verdict"] == "verified" and r["problems"] == []
        if "/tiny_iaf/" in r["cell_id"]:  # the whole declared subset; integer logits: exact
            assert r["replay"]["n_samples"] == DEPLOY_MAX_TEST
            assert r["replay"]["max_rel_logit_diff"] == 0.0
            assert r["replay"]["changed_predictions"] == 0
        else:
            assert r["replay"]["n_samples"] == 0 and r["replay"]["fit"] == "does_not_fit"


def test_a_consistently_edited_chip_prediction_is_rejected(run, deployed):
    """One sample's chip-precision top logit swapped with its lowest, its pred set, and the
    accuracies at chip precision recomputed: validate accepts it, the replay does not."""
    tmp, data, _ = run
    _, bundle = deployed
    t = _copy(bundle, tmp, "t-dep-pred")
    recs = _records(t)
    rec = _deployment(recs, "speck", "tiny_iaf")
    k = len(rec["classes"])
    p = next(q for q in rec["predictions"] if sorted(q["logits"])[-1] > sorted(q["logits"])[-2])
    a, b = int(np.argmax(p["logits"])), int(np.argmin(p["logits"]))
    for row in [p["logits"], *p.get("logits_per_step", [])]:
        row[a], row[b] = row[b], row[a]
    p["pred"] = int(np.argmax(p["logits"]))
    y = np.array([q["label"] for q in rec["predictions"]])
    pr = np.array([q["pred"] for q in rec["predictions"]])
    m = rec["metrics"]
    m["accuracy"], m["uar"] = M.accuracy(pr, y), M.uar(pr, y, num_classes=k)
    m["accuracy_change"] = m["accuracy"] - m["accuracy_float"]
    _write_records(t, recs)
    _redigest(t)
    rep = _reject(t, data, "replayed chip-precision logits differ")
    assert p["sequence_id"] in " ".join(_problems(rep))
    assert [r["cell_id"] for r in rep["records"] if r["verdict"] == "rejected"] == [rec["cell_id"]]


def test_a_swapped_target_is_rejected(run, deployed):
    """The speck record of tiny_iaf relabelled as a loihi2 record (target, title, family and
    cell id; the genuine loihi2 record dropped): validate accepts it; the fit on Loihi 2 and the
    Loihi 2 fixed point are not what it stores."""
    from backends.targets.target import get_target

    tmp, data, _ = run
    _, bundle = deployed
    t = _only(bundle, tmp, "t-dep-target", lambda r: not (
        r["kind"] == "deployment" and r["deployment"]["target"] == "loihi2"))
    recs = _records(t)
    rec = _deployment(recs, "speck", "tiny_iaf")
    loihi2 = get_target("loihi2")
    rec["deployment"].update(target="loihi2", title=loihi2.title, family=loihi2.family)
    rec["cell_id"] = rec["cell_id"].replace("deployment/speck/", "deployment/loihi2/")
    _write_records(t, recs)
    _redigest(t)
    rep = _reject(t, data, "deployment.fit.verdict: stored 'fits', but backends/targets/fit.py "
                           "gives 'unknown' for 'tiny_iaf' on loihi2.toml")
    assert any("replayed chip-precision logits differ" in m for m in _problems(rep))


@pytest.mark.parametrize("arch, verdict", [("tiny", "needs_chips"), ("tiny_iaf", "unknown")])
def test_an_edited_fit_verdict_is_rejected(run, deployed, arch, verdict):
    """A skipped record's verdict (tiny: does_not_fit) and an evaluated one's (tiny_iaf on
    speck: fits) edited to another verdict its kind admits: fit.py gives the stored one."""
    tmp, data, _ = run
    _, bundle = deployed
    t = _copy(bundle, tmp, f"t-dep-fit-{arch}")
    recs = _records(t)
    rec = _deployment(recs, "speck", arch)
    stored = rec["deployment"]["fit"]["verdict"]
    rec["deployment"]["fit"]["verdict"] = verdict
    _write_records(t, recs)
    _redigest(t)
    rep = _reject(t, data, f"deployment.fit.verdict: stored {verdict!r}, but "
                           f"backends/targets/fit.py gives {stored!r}")
    assert [r["cell_id"] for r in rep["records"] if r["verdict"] == "rejected"] == [rec["cell_id"]]


def test_edited_spike_counts_are_rejected(run, deployed):
    """Spikes per inference at chip precision halved: no per-sample field holds them, so
    validate cannot tell; the replay counts them again."""
    tmp, data, _ = run
    _, bundle = deployed
    t = _copy(bundle, tmp, "t-dep-spikes")
    recs = _records(t)
    rec = _deployment(recs, "loihi2", "tiny_iaf")
    rec["metrics"]["spikes_per_inference"] /= 2
    _write_records(t, recs)
    _redigest(t)
    _reject(t, data, "metrics.spikes_per_inference: stored")


def test_a_target_file_changed_since_the_record_is_said(run, deployed):
    """The bundled speck.toml differs from the suite's (a core fewer: the file the record was
    made with is not the one registered here): the speck records are consistent, with the
    reason; the bundle is not rejected. Without its target file a record is rejected."""
    tmp, data, _ = run
    _, bundle = deployed
    t = _copy(bundle, tmp, "t-dep-changed")
    f = t / "targets" / "speck.toml"
    text = f.read_text()
    assert "[limits.cores]\nvalue = 9\n" in text
    f.write_text(text.replace("[limits.cores]\nvalue = 9\n", "[limits.cores]\nvalue = 8\n"))
    _redigest(t)
    rep = _verdicts(t, data)
    assert rep["verdict"] == "consistent", _problems(rep)
    for r in rep["records"]:
        if r["cell_id"].startswith("deployment/speck/"):
            assert r["verdict"] == "consistent" and r["replay"] is None
            assert any("the target file changed since the record (targets/speck.toml" in why
                       and "the current file gives the stored fit and outputs" in why
                       for why in r["reasons"]), r["reasons"]
        else:
            assert r["verdict"] == "verified"
    f.unlink()
    _redigest(t)
    _reject(t, data, "targets/speck.toml is not in the bundle")
