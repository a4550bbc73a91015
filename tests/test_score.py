"""Scoring released SEEN predictions (benchmarks.results.score, the `score` subcommand).

Expected values are worked out independently: on the real files with plain ``json`` +
``collections.Counter`` and scikit-learn (as SEEN's ``read_20json_result.py`` defines WAR / UAR /
per-lighting accuracy), on a hand-written prediction folder by hand (comments give the counts).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.results.records import read_records
from benchmarks.results.score import (
    PredictionFileError,
    find_runs,
    published_record,
    read_seen_predictions,
    score_pass,
    score_predictions,
    score_seen_run,
)

REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
SEEN = REAL / "seen-predictions"
needs_seen = pytest.mark.skipif(
    not SEEN.is_dir(),
    reason=f"{SEEN} is absent (the released SEEN predictions live in ../shared/real, beside the "
    "checkout, in CI only)",
)
LIGHT = {"normal": "normal", "Overexposed": "overexposure", "Low": "low_light", "HDR": "hdr"}
EMOTIONS = ("angry", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")


def _by_hand(path: Path) -> dict:
    """WAR, UAR, per-class recall and per-lighting accuracy of one file, as read_20json_result.py
    computes them: true emotion = name field 6, lighting = field 5, prediction = first entry."""
    results = json.loads(path.read_text())["results"]
    total, correct, l_total, l_correct = Counter(), Counter(), Counter(), Counter()
    y_true, y_pred = [], []
    for name, entries in results.items():
        fields = name.split("_")
        true, light, pred = fields[6], fields[5], entries[0]["label"]
        y_true.append(true)
        y_pred.append(pred)
        total[true] += 1
        l_total[light] += 1
        if pred == true:
            correct[true] += 1
            l_correct[light] += 1
    recall = {e: correct[e] / total[e] for e in total}
    return {
        "n": len(results),
        "war": sum(correct.values()) / len(results),
        "uar": sum(recall.values()) / 7,
        "recall": recall,
        "lighting": {LIGHT[k]: l_correct[k] / l_total[k] for k in l_total},
        "y_true": y_true,
        "y_pred": y_pred,
    }


# --------------------------------------------------------------------------------------------
# real files
# --------------------------------------------------------------------------------------------


@needs_seen
def test_one_real_pass_matches_counting_by_hand_and_sklearn() -> None:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    path = SEEN / "E4_S3" / "test_epoch_163_1.json"
    ref = _by_hand(path)
    assert ref["n"] == 767  # shared/real/README.md: 767 test sequences
    assert len(ref["recall"]) == 7 and len(ref["lighting"]) == 4
    ps = score_pass(path)
    m = ps.metrics
    assert len(ps.sequences) == 767
    assert m["war"] == pytest.approx(ref["war"], abs=1e-12)
    assert m["war"] == pytest.approx(accuracy_score(ref["y_true"], ref["y_pred"]), abs=1e-12)
    assert m["uar"] == pytest.approx(ref["uar"], abs=1e-12)
    assert m["uar"] == pytest.approx(balanced_accuracy_score(ref["y_true"], ref["y_pred"]),
                                     abs=1e-12)
    for emotion, r in ref["recall"].items():
        assert m["per_class_recall"][emotion] == pytest.approx(r, abs=1e-12)
    assert set(m["per_lighting_accuracy"]) == {"normal", "overexposure", "low_light", "hdr"}
    for cond, acc in ref["lighting"].items():
        assert m["per_lighting_accuracy"][cond] == pytest.approx(acc, abs=1e-12)
    # per-lighting UAR against sklearn on the subset of each condition
    names = list(json.loads(path.read_text())["results"])
    for raw, cond in LIGHT.items():
        idx = [i for i, n in enumerate(names) if n.split("_")[5] == raw]
        expected = balanced_accuracy_score([ref["y_true"][i] for i in idx],
                                           [ref["y_pred"][i] for i in idx])
        assert m["per_lighting_uar"][cond] == pytest.approx(expected, abs=1e-12)
    assert int(m["confusion_matrix"].sum()) == 767


@needs_seen
@pytest.mark.parametrize("run", ["E4_S3", "E7_S1"])
def test_real_run_mean_and_std_over_the_20_passes(run: str) -> None:
    files = sorted((SEEN / run).glob("*.json"))
    assert len(files) == 20  # shared/real/README.md: 20 passes per run
    refs = [_by_hand(f) for f in files]
    score = score_seen_run(SEEN / run)
    s = score.summary
    assert s["n_passes"] == 20 and s["n_test"] == 767
    for key in ("war", "uar"):
        vals = [r[key] for r in refs]
        assert s[key] == pytest.approx(statistics.fmean(vals), abs=1e-12)
        assert s[f"{key}_std"] == pytest.approx(statistics.stdev(vals), abs=1e-12)
    for cond in ("normal", "overexposure", "low_light", "hdr"):
        vals = [r["lighting"][cond] for r in refs]
        assert s["per_lighting_accuracy"][cond] == pytest.approx(statistics.fmean(vals), abs=1e-12)
        assert s["per_lighting_accuracy_std"][cond] == pytest.approx(statistics.stdev(vals),
                                                                     abs=1e-12)
    for e in EMOTIONS:
        vals = [r["recall"][e] for r in refs]
        assert s["per_class_recall"][e] == pytest.approx(statistics.fmean(vals), abs=1e-12)
    # passes come in natural order of their numbers (..._2 before ..._10)
    ks = [int(p.path.stem.rsplit("_", 1)[1]) for p in score.passes]
    assert ks == list(range(1, 21))


@needs_seen
def test_released_seen_war_is_the_published_83_6() -> None:
    # SEEN's released E4_S3 predictions: WAR 83.6 (mean over the 20 passes), the value the SEEN
    # repository's own read_20json_result.py prints for these files (cross-checked for version 0.1.0)
    s = score_seen_run(SEEN / "E4_S3").summary
    assert round(100 * s["war"], 1) == 83.6


@needs_seen
def test_cli_scores_every_run_records_and_report_shows_them(tmp_path: Path, capsys) -> None:
    import run_bench
    from benchmarks.results.records import read_records as load_for_report
    from reports import report_markdown as render_markdown

    assert find_runs(SEEN) == [SEEN / "E4_S3", SEEN / "E7_S1"]
    run_dir = tmp_path / "run"
    rc = run_bench.main(["score", "--format", "seen", str(SEEN), "--record", str(run_dir), "-q"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "E4_S3: 20 passes x 767 test sequences" in out
    assert "E7_S1: 20 passes x 767 test sequences" in out
    wars_e4 = [_by_hand(f)["war"] for f in (SEEN / "E4_S3").glob("*.json")]
    war_e4 = statistics.fmean(wars_e4)
    assert f"{100 * war_e4:.2f}" in out
    recs = read_records(run_dir)
    assert [r["method"] for r in recs] == ["SEEN (released predictions, E4_S3)",
                                           "SEEN (released predictions, E7_S1)"]
    for r in recs:
        assert r["kind"] == "published" and r["status"] == "ok"
        assert r["cell"]["dataset"] == "see" and r["cell"]["protocol"] == "fixed"
        assert r["cell"]["backend"] is None
        assert r["metrics"]["n_passes"] == 20
        assert "latency_ms_p50" not in r["metrics"]
        assert "energy_uj_per_inference" not in r["metrics"]
        assert len(r["source"]["files"]) == 20
    assert run_bench.main(["report", str(run_dir), "-q"]) == 0
    md = (run_dir / "leaderboard.md").read_text()
    assert md == render_markdown(load_for_report(run_dir))
    row = next(line for line in md.splitlines() if "SEEN (released predictions, E4_S3)" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    # one record; its std is the sample std over the 20 passes, computed by hand here
    std_e4 = statistics.stdev(wars_e4)
    # columns: model, source, n, seeds x folds ("—" for a published row), WAR
    assert cells[1:5] == ["published", "1", "—", f"{100 * war_e4:.1f} ± {100 * std_e4:.1f}"]


# --------------------------------------------------------------------------------------------
# a hand-written prediction folder
# --------------------------------------------------------------------------------------------

# (name, prediction of pass 1, prediction of pass 2); true emotion and lighting are in the name
HAND = [
    ("1_001_man_24_Master_normal_angry_45_take000", "angry", "disgust"),
    ("2_001_man_24_Master_Overexposed_angry_50_take001", "angry", "angry"),
    ("3_002_woman_30_Doctor_Low_neutraL_40_take000", "Neutral", "neutral"),
    ("4_002_woman_30_Doctor_HDR_neutral_41_take001", "NEUTRAL", "sadness"),
    ("5_003_man_19_undergraduate_normal_happiness_30_take000", "happiness", "happiness"),
    ("6_003_man_19_undergraduate_low_happiness_33_take001", "sadness", "happiness"),
    ("7_004_woman_22_Master_hdr_Surprise_60_take000", "surprise", "fear"),
    ("8_004_woman_22_Master_OVEREXPOSED_fear_52_take001", "surprise", "angry"),
]


def _write_pass(path: Path, preds: dict[str, str]) -> None:
    results = {name: [{"label": p, "score": 0.7}, {"label": "disgust" if p.lower() != "disgust"
                                                   else "fear", "score": 0.2}]
               for name, p in preds.items()}
    path.write_text(json.dumps({"results": results}))


@pytest.fixture()
def hand_dir(tmp_path: Path) -> Path:
    d = tmp_path / "run_A"
    d.mkdir()
    _write_pass(d / "test_epoch_1_1.json", {n: p1 for n, p1, _ in HAND})
    _write_pass(d / "test_epoch_1_2.json", {n: p2 for n, _, p2 in HAND})
    return d


def test_hand_written_folder_by_hand(hand_dir: Path) -> None:
    score = score_seen_run(hand_dir)
    p1, p2 = (ps.metrics for ps in score.passes)
    # pass 1: wrong on 6 (sadness for happiness) and 8 (surprise for fear): 6/8
    assert p1["war"] == 0.75
    # recalls present: angry 2/2, neutral 2/2, happiness 1/2, surprise 1/1, fear 0/1 -> 3.5/5
    assert p1["uar"] == pytest.approx(0.7)
    assert p1["per_lighting_accuracy"] == {"hdr": 1.0, "low_light": 0.5, "normal": 1.0,
                                           "overexposure": 0.5}
    assert math.isnan(p1["per_class_recall"]["disgust"])  # no true disgust sequence
    # pass 2: right on 2, 3, 5, 6: 4/8; recalls angry 1/2, neutral 1/2, happiness 2/2,
    # surprise 0/1, fear 0/1 -> 2/5
    assert p2["war"] == 0.5
    assert p2["uar"] == pytest.approx(0.4)
    assert p2["per_lighting_accuracy"] == {"hdr": 0.0, "low_light": 1.0, "normal": 0.5,
                                           "overexposure": 0.5}
    s = score.summary
    assert s["war"] == pytest.approx(0.625)
    assert s["war_std"] == pytest.approx(0.25 / math.sqrt(2))  # sample std of {0.75, 0.5}
    assert s["uar"] == pytest.approx(0.55)
    assert list(s["per_lighting_accuracy"]) == ["normal", "overexposure", "low_light", "hdr"]
    assert s["per_lighting_accuracy"] == pytest.approx(
        {"normal": 0.75, "overexposure": 0.5, "low_light": 0.75, "hdr": 0.5})
    assert s["per_lighting_accuracy_std"]["overexposure"] == 0.0
    assert s["per_class_recall"]["neutral"] == pytest.approx(0.75)  # neutraL/NEUTRAL matched
    assert math.isnan(s["per_class_recall"]["sadness"])
    rec = published_record(score, provenance={}).to_dict()
    assert rec["method"] == "SEEN (released predictions, run_A)"
    assert rec["metrics"]["n_test"] == 8
    json.dumps(rec, allow_nan=True)  # serialisable (append_record turns NaN into null)


def test_top1_is_the_first_entry_and_labels_are_canonical(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    name = HAND[2][0]
    path.write_text(json.dumps({"results": {name: [{"label": "NeutraL", "score": 0.6},
                                                   {"label": "fear", "score": 0.6},
                                                   {"label": "angry", "score": 0.1}]}}))
    assert read_seen_predictions(path) == {name: "neutral"}


@pytest.mark.parametrize("content, needle", [
    ("{not json", "not valid JSON"),
    ('{"predictions": {}}', "field 'results'"),
    ('{"results": {}}', "non-empty"),
    ('{"results": {"1_001_man_24_Master_normal_angry_45_take000": []}}', "non-empty list"),
    ('{"results": {"1_001_man_24_Master_normal_angry_45_take000": '
     '[{"label": "contempt", "score": 0.9}]}}', "field 'label' = 'contempt'"),
    ('{"results": {"1_001_man_24_Master_normal_angry_45_take000": '
     '[{"label": "angry", "score": "high"}]}}', "field 'score' = 'high'"),
    ('{"results": {"1_001_man_24_Master_normal_angry_45_take000": '
     '[{"label": "angry", "score": 0.1}, {"label": "fear", "score": 0.8}]}}', "decreasing"),
    ('{"results": {"1_001_man_24_Master_normal_angry_45_take000": '
     '[{"label": "angry", "score": 0.8}, {"label": "ANGRY", "score": 0.1}]}}', "listed twice"),
])
def test_malformed_files_name_file_and_field(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "test_epoch_9_1.json"
    path.write_text(content)
    with pytest.raises(PredictionFileError) as exc:
        score_pass(path)
    assert str(path) in str(exc.value) and needle in str(exc.value)


@pytest.mark.parametrize("name, needle", [
    ("foo_bar", "expected 9"),
    ("1_001_man_24_Master_dark_angry_45_take000", "field 'lighting' = 'dark'"),
    ("1_001_man_24_Master_normal_contempt_45_take000", "field 'emotion' = 'contempt'"),
    ("1_001_man_xx_Master_normal_angry_45_take000", "field 'age' = 'xx'"),
    ("1_001_man_24_Master_normal_angry_45_t000", "field 'take#' = 't000'"),
])
def test_unparseable_sequence_name_is_named(tmp_path: Path, name: str, needle: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"results": {name: [{"label": "angry", "score": 1.0}]}}))
    with pytest.raises(PredictionFileError) as exc:
        score_pass(path)
    msg = str(exc.value)
    assert str(path) in msg and repr(name) in msg and needle in msg


def test_passes_over_different_sequences_are_refused(hand_dir: Path) -> None:
    _write_pass(hand_dir / "test_epoch_1_3.json", {n: p for n, p, _ in HAND[:-1]})
    with pytest.raises(PredictionFileError, match="test_epoch_1_3.json.*missing here"):
        score_seen_run(hand_dir)


def test_missing_or_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such prediction folder"):
        score_predictions(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no .json prediction file"):
        score_predictions(tmp_path)
    with pytest.raises(ValueError, match="unknown prediction format 'csv'"):
        score_predictions(tmp_path, "csv")


def test_cli_reports_errors_with_exit_status_2(tmp_path: Path, capsys) -> None:
    import run_bench

    bad = tmp_path / "test_epoch_1_1.json"
    bad.write_text('{"results": {"1_001_man_24_Master_normal_angry_45_take000": '
                   '[{"label": "joy", "score": 1.0}]}}')
    assert run_bench.main(["score", "--format", "seen", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "'joy'" in err


def test_cli_method_template_and_record(hand_dir: Path, tmp_path: Path, capsys) -> None:
    import run_bench

    out = tmp_path / "runs"
    rc = run_bench.main(["score", "--format", "seen", str(hand_dir), "--record", str(out),
                         "--method", "my model ({run})", "-q"])
    assert rc == 0
    assert "62.50" in capsys.readouterr().out  # WAR mean 0.625 (see test above)
    (rec,) = read_records(out)
    assert rec["method"] == "my model (run_A)"
    assert rec["cell_id"] == "see/fixed/f0/published/my model (run_A)"
    assert rec["metrics"]["per_class_recall"]["sadness"] is None  # NaN -> null
    assert rec["metrics"]["war_std"] == pytest.approx(0.25 / math.sqrt(2))
