"""benchmarks.results.tasks: digests by hand, pinned synthetic-fer-dvs versions regenerated, a
record's task (written, migrated from schema 3, edited), validate's task checks, reports that never
mix task versions, and `run_bench.py list --tasks`."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import tomllib

import run_bench
from benchmarks.results import tasks as T
from benchmarks.results.records import read_records
from benchmarks.results.validate import validate_run

PINNED = tomllib.loads(T.TASKS_FILE.read_text())


def _pinned(dataset: str, version: str, protocol: str) -> list[tuple[str, str]]:
    (entry,) = [v for v in PINNED["dataset"][dataset]["version"] if v["version"] == version]
    splits = sorted((s for s in entry["split"] if s["protocol"] == protocol),
                    key=lambda s: s["fold"])
    return [(s["ids_labels_digest"], s["content_digest"]) for s in splits]


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_ids_labels_digest_by_hand() -> None:
    text = "S001/001\t3\nS002/001\t0\nS010/002\t6\n"  # sorted by id, one line per sample
    want = hashlib.sha256(text.encode()).hexdigest()
    assert T.ids_labels_digest([("S010/002", 6), ("S001/001", 3), ("S002/001", 0)]) == want
    assert T.ids_labels_digest([("S010/002", 5), ("S001/001", 3), ("S002/001", 0)]) != want
    with pytest.raises(T.TaskError, match="'S001/001' appears twice"):
        T.ids_labels_digest([("S001/001", 1), ("S001/001", 1)])
    folds = ["a" * 64, "b" * 64]
    assert T.combine_fold_digests(folds) == hashlib.sha256(
        f"f0\t{'a' * 64}\nf1\t{'b' * 64}\n".encode()).hexdigest()
    assert T.combine_fold_digests(["a" * 64, None]) is None


def test_every_registered_dataset_has_its_tasks() -> None:
    from datasets.registry import dataset_names

    names = T.task_names()
    for ds in dataset_names():
        assert any(n.startswith(f"{ds}/") for n in names), ds
    assert "synthetic-fer-dvs/folds/default/valence_arousal" in names
    assert "nefer/official/reported/classification" in names
    assert "see/fixed/default/valence_arousal" not in names  # SEE has no VA targets
    t = T.get_task("synthetic-fer-dvs/folds/default/valence_arousal")
    assert (t.dataset, t.protocol, t.split, t.label_set, t.task_type, t.primary_metric) == (
        "synthetic-fer-dvs", "folds", "test", "default", "valence_arousal", "va_ccc_mean")
    assert [v.version for v in T.known_versions("synthetic-fer-dvs/folds/default/classification")] \
        == ["1.0", "1.1"]
    (see,) = T.known_versions("see/fixed/default/classification")
    assert see.version == "1" and see.ids_labels_digest is None and not see.pinned
    assert T.task_id_of_cell({"dataset": "NEFER", "protocol": "folds", "recipe": {}}) == \
        "nefer/official/expected/classification"  # alias, protocol alias, default label set
    assert T.task_id_of_cell({"dataset": "synthetic-fer-dvs", "protocol": "subject",
                              "recipe": {"task": "va_regression"}}) == \
        "synthetic-fer-dvs/subject/default/valence_arousal"


def test_resolve_tells_versions_and_edited_data_apart() -> None:
    tid = "synthetic-fer-dvs/folds/default/classification"
    (ids10, c10), (ids11, c11) = _pinned("synthetic-fer-dvs", "1.0", "folds")[2], \
        _pinned("synthetic-fer-dvs", "1.1", "folds")[2]
    assert T.resolve(tid, ids10, c10).version == "1.0"
    assert T.resolve(tid, ids11, c11).version == "1.1"
    assert T.resolve(tid, ids11, None).version == "1.1"  # an older record: ids and labels only
    assert T.resolve(tid, ids11, c10) is None  # same ids and labels, other recordings
    assert T.resolve(tid, "0" * 64) is None
    assert T.resolve("see/fixed/default/classification", "0" * 64).version == "1"  # unpinned


def test_the_mini_dataset_regenerates_to_its_pinned_digests(tmp_path: Path) -> None:
    from datasets.registry import open_dataset

    ds = open_dataset("synthetic-fer-dvs-mini", tmp_path)
    for protocol in ("folds", "subject"):
        assert T.fold_digests(ds, protocol) == _pinned("synthetic-fer-dvs-mini", "1.0", protocol)


@pytest.mark.slow
def test_the_full_dataset_regenerates_to_its_pinned_digests(tmp_path: Path) -> None:
    """Generator 1.1 (defaults, ~25 s on two cores) and 1.0 (its subjects only, ~13 s)."""
    from datasets.loaders.synthetic import SyntheticFerDVS, ensure_synthetic_fer_dvs

    ds = SyntheticFerDVS.open(tmp_path / "v11")
    for protocol in ("folds", "subject"):
        assert T.fold_digests(ds, protocol) == _pinned("synthetic-fer-dvs", "1.1", protocol)
    ensure_synthetic_fer_dvs(tmp_path / "v10", test_subjects=0)
    ds = SyntheticFerDVS(tmp_path / "v10")
    assert T.fold_digests(ds, "folds") == _pinned("synthetic-fer-dvs", "1.0", "folds")


def test_an_edited_recording_changes_the_content_digest_only(tmp_path: Path) -> None:
    from datasets.io.events import read_v2e_h5, write_v2e_h5
    from datasets.registry import open_dataset

    ds = open_dataset("synthetic-fer-dvs-mini", tmp_path)
    test = ds.split(0, "folds")[1]
    ids, content = T.split_digests(ds, test)
    path = ds.sequences[test[0]].path
    ev = read_v2e_h5(path, ds.sensor_size)
    ev["x"][0] = (ev["x"][0] + 1) % ds.sensor_size[0]  # one event moved by one pixel
    write_v2e_h5(path, ev)
    ids2, content2 = T.split_digests(ds, test)
    assert ids2 == ids and content2 != content


# ------------------------------------------------------------------ records, validate, reports


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory) -> Path:
    """One cell of the mini dataset (ann, 1 epoch), run once."""
    from benchmarks.results.spec import Recipe
    from benchmarks.runner.grid import Grid, run_grid

    base = tmp_path_factory.mktemp("tasks")
    grid = Grid(name="tasks", datasets=("synthetic-fer-dvs-mini",), backends=("ann",),
                recipe=Recipe(epochs=1, batch_size=8, latency_runs=3, warmup_runs=1,
                              throughput_batch_size=4, codecarbon=False))
    summary = run_grid(grid, base / "run", base / "data", progress=False)
    assert len(summary.done) == 1 and not summary.failed
    return base / "run"


def _rewrite(run: Path, tmp_path: Path, fn) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    path = dst / "results.jsonl"
    recs = [json.loads(ln) for ln in path.read_text().splitlines()]
    for r in recs:
        fn(r)
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in recs))
    return dst


def test_a_fresh_record_names_its_task_version(fresh_run: Path) -> None:
    (rec,) = read_records(fresh_run)
    ids, content = _pinned("synthetic-fer-dvs-mini", "1.0", "folds")[0]  # fold 0
    assert rec["schema_version"] == 4
    assert rec["task"] == {"id": "synthetic-fer-dvs-mini/folds/default/classification",
                           "version": "1.0", "ids_labels_digest": ids, "content_digest": content}
    assert rec["timings_s"]["task_digest_s"] < 5.0
    assert validate_run(fresh_run) == []


def test_a_schema_3_record_migrates_and_validates(fresh_run: Path, tmp_path: Path) -> None:
    run = _rewrite(fresh_run, tmp_path, lambda r: (r.pop("task"), r.update(schema_version=3)))
    (rec,) = read_records(run)
    ids, _ = _pinned("synthetic-fer-dvs-mini", "1.0", "folds")[0]
    assert rec["task"] == {"id": "synthetic-fer-dvs-mini/folds/default/classification",
                           "version": "1.0", "ids_labels_digest": ids, "content_digest": None}
    assert validate_run(run) == []


def test_a_schema_3_record_with_edited_ids_is_of_unknown_version(fresh_run: Path,
                                                                 tmp_path: Path) -> None:
    def edit(r):
        r.pop("task")
        r["schema_version"] = 3
        r["predictions"][0]["sequence_id"] = "S999/001"

    run = _rewrite(fresh_run, tmp_path, edit)
    (rec,) = read_records(run)
    assert rec["task"]["version"] == "unknown"
    problems = validate_run(run)
    assert len(problems) == 1 and "task.version: unknown version" in problems[0], problems
    from reports.leaderboard import leaderboard_table

    assert "### synthetic-fer-dvs-mini/folds/default/classification (unknown version)" in \
        leaderboard_table([rec])


def test_an_edited_stored_task_fails_validation(fresh_run: Path, tmp_path: Path) -> None:
    run = _rewrite(fresh_run, tmp_path, lambda r: r["task"].update(ids_labels_digest="0" * 64))
    text = "\n".join(validate_run(run))
    assert "task.ids_labels_digest" in text and "task.version: = '1.0' but the stored digests " \
        "match no declared version" in text
    run = _rewrite(fresh_run, tmp_path / "b", lambda r: r["task"].update(version="9.9"))
    assert "is not a declared version" in "\n".join(validate_run(run))
    run = _rewrite(fresh_run, tmp_path / "c", lambda r: r["task"].update(id="nope/x/y/z"))
    assert "task.id: unknown task 'nope/x/y/z'" in "\n".join(validate_run(run))


def test_two_task_versions_never_share_a_table_or_a_test(fresh_run: Path) -> None:
    from reports.leaderboard import comparisons, group_records, leaderboard_table

    (rec,) = read_records(fresh_run)
    tid = "synthetic-fer-dvs/folds/default/classification"

    def variant(backend: str, version: str) -> dict:
        r = json.loads(json.dumps(rec))
        r["cell"]["backend"] = backend
        r["cell_id"] = r["cell_id"].replace("/ann/", f"/{backend}/")
        r["task"] = {**r["task"], "id": tid, "version": version}
        return r

    recs = [variant("ann", "1.0"), variant("snntorch", "1.0"), variant("ann", "1.1"),
            variant("snntorch", "1.1")]
    groups = group_records(recs)
    assert sorted({g.dataset for g in groups}) == [f"{tid} v1.0", f"{tid} v1.1"]
    assert all(len(g.records) == 1 for g in groups)  # never pooled over versions
    table = leaderboard_table(recs)
    assert table.count("### ") == 2 and f"### {tid} v1.0" in table and f"### {tid} v1.1" in table
    comps = comparisons(recs)
    assert sorted(comps) == [f"{tid} v1.0", f"{tid} v1.1"]
    assert all(len(cs) == 1 for cs in comps.values())  # one pair (ann, snntorch) per version


def test_list_tasks(capsys) -> None:
    assert run_bench.main(["list", "--tasks"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(T.task_names())
    (line,) = [ln for ln in out if ln.startswith("synthetic-fer-dvs/folds/default/classification ")]
    v11 = T.combine_fold_digests([c for _, c in _pinned("synthetic-fer-dvs", "1.1", "folds")])
    assert "primary=accuracy" in line and f"1.1 [{v11[:12]}]" in line


def test_a_version_3_subset_record_migrates_without_a_derived_version(fresh_run: Path) -> None:
    """A robustness record written before schema 4 holds predictions on a subset of the test split
    (``--max-test``): its task comes from its cell alone (no digest from a subset), and validate
    does not call its underivable version a problem; the same record as a trained one (whole
    split expected) with a subset of its predictions is reported as an unknown version."""
    from benchmarks.results.checks.task import _check_task
    from benchmarks.results.records import migrate
    from benchmarks.results.tasks import SUBSET_KINDS, task_for_record

    (rec,) = read_records(fresh_run)
    old = {k: v for k, v in rec.items() if k != "task"}
    old.update(schema_version=3, predictions=rec["predictions"][:5])  # a 5-sample subset
    problems: list[str] = []
    for kind in SUBSET_KINDS:
        sub = migrate(dict(old, kind=kind))
        assert sub["task"]["id"] == rec["task"]["id"]
        assert sub["task"]["ids_labels_digest"] is None and sub["task"]["content_digest"] is None
        _check_task(sub, lambda field, msg: problems.append(f"{field}: {msg}"))
    assert problems == []
    trained = migrate(dict(old))
    assert task_for_record(dict(old))["version"] == trained["task"]["version"] == "unknown"
    _check_task(trained, lambda field, msg: problems.append(f"{field}: {msg}"))
    assert len(problems) == 1 and problems[0].startswith("task.version: unknown version")
