"""reports.site: the merged leaderboard site built from submission bundles laid out by hand in
the bundle format (manifest.json with every file's sha256, results.jsonl, verification.json),
its values checked against numbers worked out here, and the pages in a headless browser."""

from __future__ import annotations

import csv
import hashlib
import html.parser
import json
import math
from dataclasses import fields
from pathlib import Path

import pytest
from scipy import stats as sps
from sklearn.metrics import balanced_accuracy_score

import run_bench
from benchmarks.results.records import SCHEMA_VERSION, Record
from reports.site import SiteError, build_site

CLASSES = ["happy", "fear", "neutral"]
N = 30  # test samples per record
HAS_TASK_FIELD = "task" in {f.name for f in fields(Record)}


def _rec(backend: str, n_correct: int, *, seed: int = 0, fold: int = 0, dataset: str = "d",
         version: str = "1.0", ids: str = "s") -> dict:
    """An ok trained record whose first ``n_correct`` of N predictions are right (WAR =
    n_correct / N); samples i belong to subject i % 5."""
    labels = [i % 3 for i in range(N)]
    preds = [y if i < n_correct else (y + 1) % 3 for i, y in enumerate(labels)]
    rec = {
        "schema_version": SCHEMA_VERSION, "status": "ok", "kind": "trained",
        "cell_id": f"{dataset}/folds/f{fold}/{backend}/tiny/s{seed}/abc123/cpu",
        "cell": {"dataset": dataset, "protocol": "folds", "fold": fold, "backend": backend,
                 "arch": "tiny", "seed": seed, "device": "cpu", "recipe": {}},
        "classes": CLASSES,
        "metrics": {"accuracy": n_correct / N, "war": n_correct / N,
                    "uar": float(balanced_accuracy_score(labels, preds)), "params": 1000,
                    "energy_uj_per_inference": 1.5},
        "provenance": {"git_commit": "0123456789abcdef", "suite_version": "0.4.0"},
        "predictions": [{"sequence_id": f"{ids}/{i:03d}", "label": y, "pred": p,
                         "logits": [float(p == k) for k in range(3)], "subject": f"p{i % 5}"}
                        for i, (y, p) in enumerate(zip(labels, preds, strict=True))],
    }
    if HAS_TASK_FIELD:
        rec["task"] = {"id": f"{dataset}/folds/default/classification", "version": version,
                       "ids_labels_digest": hashlib.sha256(ids.encode()).hexdigest(),
                       "content_digest": None}
    return rec


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bundle(path: Path, records: list[dict], *, title: str, verdict: str | None = "verified",
            record_verdict: str | None = None, supersedes: str | None = None,
            withdrawn: bool = False, problems: tuple[str, ...] = ()) -> str:
    """Lay out a bundle folder in the submission format and return its id (first 16 hex of
    sha256 of the manifest bytes)."""
    path.mkdir(parents=True)
    results = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
    (path / "results.jsonl").write_bytes(results)
    (path / "checkpoints").mkdir()
    ckpt = b"not a real checkpoint: bytes with a digest"
    (path / "checkpoints" / "a.pt").write_bytes(ckpt)
    manifest = {
        "bundle_format": "neurofer-bundle", "bundle_version": 1, "title": title,
        "authors": ["A. Author", "B. Author"], "contact": "a@example.org",
        "url": "https://example.org/paper", "licence": "CC-BY-4.0", "notes": "hand-laid",
        "supersedes": supersedes, "withdrawn": withdrawn, "suite_version": "0.4.0",
        "code_versions": ["0.4.0+g0123456"],
        "environment": {"python": "3.11.9", "platform": "Linux", "packages": ["torch==2.5.1"]},
        "datasets": [{"name": "d", "licence": "MIT", "version": "1.0"}],
        "files": [{"path": "checkpoints/a.pt", "sha256": _sha(ckpt), "size": len(ckpt)},
                  {"path": "results.jsonl", "sha256": _sha(results), "size": len(results)}],
        "external_checkpoints": [],
    }
    raw = (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode()
    (path / "manifest.json").write_bytes(raw)
    bid = _sha(raw)[:16]
    if verdict is not None:
        rv = record_verdict or verdict
        ver = {"bundle_id": bid, "verdict": verdict, "date": "2026-01-02",
               "suite_version": "0.4.0", "code_version": "0.4.0+g0123456",
               "records": [{"cell_id": r["cell_id"], "kind": "trained", "task": r.get("task"),
                            "verdict": rv, "reasons": [f"{rv} by hand"],
                            "problems": list(problems), "replay": None} for r in records],
               "problems": []}
        (path / "verification.json").write_text(json.dumps(ver, sort_keys=True, indent=2))
    return bid


def _two_bundles(root: Path) -> tuple[str, str]:
    # aaa: three seeds on fold 0 with WAR 18/30, 21/30, 24/30 = 60, 70, 80 %; replayed
    a = _bundle(root / "a", [_rec("aaa", 18, seed=0), _rec("aaa", 21, seed=1),
                             _rec("aaa", 24, seed=2)], title="Three seeds")
    # bbb: one seed, WAR 27/30 = 90 %; checked without replay
    b = _bundle(root / "b", [_rec("bbb", 27, seed=0)], title="One seed", verdict="consistent")
    return a, b


def _json(site: Path) -> dict:
    return json.loads((site / "leaderboard.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------ values


def test_rows_values_seeds_and_verification(tmp_path: Path) -> None:
    a, b = _two_bundles(tmp_path / "bundles")
    s = build_site([tmp_path / "bundles"], tmp_path / "site")
    assert (s.n_bundles, s.n_shown, s.n_tasks, s.n_rows) == (2, 2, 1, 2)
    doc = _json(tmp_path / "site")
    assert doc["schema"] == "neurofer-leaderboard" and doc["version"] == 1
    (task,) = doc["tasks"]
    rows = {r["model"]: r for r in task["rows"]}
    ra, rb = rows["aaa / tiny"], rows["bbb / tiny"]
    # mean, sample std and the Student-t interval over the 3 cells, worked out by hand
    half = sps.t.ppf(0.975, 2) * 10.0 / math.sqrt(3)
    war = ra["metrics"]["war"]
    assert war["mean"] == pytest.approx(70.0) and war["std"] == pytest.approx(10.0)
    assert war["ci_low"] == pytest.approx(70.0 - half) and war["ci_high"] == pytest.approx(70.0 + half)
    assert war["ci_method"] == "t" and ra["interval_over"] == "cells (t, n=3)"
    assert (ra["n_cells"], ra["n_seeds"], ra["n_folds"], ra["single_seed"]) == (3, 3, 1, False)
    assert ra["verification"] == "verified" and ra["bundle_id"] == a
    # one seed: marked, its interval is the bootstrap over the 5 test subjects
    assert (rb["n_cells"], rb["n_seeds"], rb["single_seed"]) == (1, 1, True)
    assert rb["metrics"]["war"]["mean"] == pytest.approx(90.0) and rb["metrics"]["war"]["std"] is None
    assert rb["metrics"]["war"]["ci_method"] == "cluster bootstrap"
    assert rb["interval_over"] == "test subjects (bootstrap)"
    assert rb["metrics"]["war"]["ci_low"] <= 90.0 <= rb["metrics"]["war"]["ci_high"]
    assert rb["verification"] == "consistent" and rb["bundle_id"] == b
    # the one pair shares one cell (fold 0, seed 0): the exact sign-flip test over subjects;
    # aaa seed 0 is right on samples 0-17, bbb on 0-26: 9 discordant samples, all for bbb
    (c,) = task["comparisons"]
    assert {c["row_a"], c["row_b"]} == {"aaa / tiny · Three seeds", "bbb / tiny · One seed"}
    assert c["n_pairs"] == 1 and c["test"] == "subject sign-flip (exact)"
    assert abs(c["diff"]) == pytest.approx(9 / 30)
    # the CSV says the same
    with open(tmp_path / "site" / task["csv"], encoding="utf-8") as fh:
        by_model = {r["model"]: r for r in csv.DictReader(fh)}
    assert float(by_model["aaa / tiny"]["war_mean"]) == pytest.approx(70.0)
    assert float(by_model["aaa / tiny"]["war_ci_high"]) == pytest.approx(70.0 + half)
    assert by_model["bbb / tiny"]["single_seed"] == "True"
    assert by_model["bbb / tiny"]["war_std"] == ""
    # the page: one "single seed" mark, both badges, both submissions linked
    page = (tmp_path / "site" / task["page"]).read_text(encoding="utf-8")
    assert page.count('class="single-seed"') == 1
    assert ">verified</span>" in page and ">consistent</span>" in page
    assert f'href="submission-{a}.html"' in page and f'href="submission-{b}.html"' in page
    assert "70.0 ± 10.0" in page


def test_same_bundles_same_bytes_and_policy_needs_three_seeds(tmp_path: Path) -> None:
    _bundle(tmp_path / "b" / "x", [_rec("aaa", 18, seed=0), _rec("aaa", 21, seed=1)],
            title="Two seeds")
    build_site([tmp_path / "b"], tmp_path / "s1")
    build_site([tmp_path / "b"], tmp_path / "s2")
    for p in (tmp_path / "s1").iterdir():
        assert p.read_bytes() == (tmp_path / "s2" / p.name).read_bytes(), p.name
    (row,) = _json(tmp_path / "s1")["tasks"][0]["rows"]
    assert row["verification"] == "consistent" and "2 seed(s) < 3" in row["verification_note"]


def test_verification_of_another_manifest_reads_as_not_verified(tmp_path: Path) -> None:
    _bundle(tmp_path / "b", [_rec("aaa", 18)], title="Edited card")
    m = tmp_path / "b" / "manifest.json"
    m.write_text(m.read_text().replace("hand-laid", "edited after verifying"))
    build_site([tmp_path / "b"], tmp_path / "site")
    (row,) = _json(tmp_path / "site")["tasks"][0]["rows"]
    assert row["verification"] == "not verified"
    assert "verification.json is for bundle" in row["verification_note"]


@pytest.mark.skipif(not HAS_TASK_FIELD, reason="records of this schema carry no task field "
                    "(benchmarks.results.tasks, record schema 4)")
def test_two_task_versions_never_share_a_table(tmp_path: Path) -> None:
    _bundle(tmp_path / "b" / "v10", [_rec("aaa", 18, version="1.0", ids="s"),
                                     _rec("aaa", 21, seed=1, version="1.0", ids="s")], title="Old")
    _bundle(tmp_path / "b" / "v11", [_rec("bbb", 27, version="1.1", ids="t")], title="New")
    build_site([tmp_path / "b"], tmp_path / "site")
    tasks = {t["version"]: t for t in _json(tmp_path / "site")["tasks"]}
    assert sorted(tasks) == ["1.0", "1.1"]
    assert [r["model"] for r in tasks["1.0"]["rows"]] == ["aaa / tiny"]
    assert [r["model"] for r in tasks["1.1"]["rows"]] == ["bbb / tiny"]
    assert tasks["1.0"]["comparisons"] == [] and tasks["1.1"]["comparisons"] == []
    assert tasks["1.0"]["page"] != tasks["1.1"]["page"]
    old = (tmp_path / "site" / tasks["1.0"]["page"]).read_text(encoding="utf-8")
    assert "aaa / tiny" in old and "bbb / tiny" not in old


def test_withdrawn_and_superseded_are_listed_not_shown(tmp_path: Path) -> None:
    first = _bundle(tmp_path / "b" / "1", [_rec("aaa", 18)], title="First try")
    second = _bundle(tmp_path / "b" / "2", [_rec("aaa", 24)], title="Second try",
                     supersedes=first)
    gone = _bundle(tmp_path / "b" / "3", [_rec("ccc", 12)], title="Gone", withdrawn=True)
    s = build_site([tmp_path / "b"], tmp_path / "site")
    assert (s.n_bundles, s.n_shown) == (3, 1)
    doc = _json(tmp_path / "site")
    (row,) = doc["tasks"][0]["rows"]
    assert row["bundle_id"] == second and row["metrics"]["war"]["mean"] == pytest.approx(80.0)
    assert {h["bundle_id"]: h["why"] for h in doc["hidden_bundles"]} == {
        first: f"superseded by {second}", gone: "withdrawn"}
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    withdrawn = index[index.index('id="withdrawn"'):]
    assert "First try" in withdrawn and f"superseded by {second}" in withdrawn
    assert "Gone" in withdrawn and ": withdrawn" in withdrawn
    for bid in (first, second, gone):
        assert (tmp_path / "site" / f"submission-{bid}.html").is_file()
    old = (tmp_path / "site" / f"submission-{first}.html").read_text(encoding="utf-8")
    assert f'href="submission-{second}.html"' in old and "not shown in the tables" in old


# ------------------------------------------------------------------ refused bundles


def test_rejected_bundle_is_refused_naming_it_and_why(tmp_path: Path, capsys) -> None:
    _two_bundles(tmp_path / "b")
    _bundle(tmp_path / "b" / "bad", [_rec("zzz", 3)], title="Tampered", verdict="rejected",
            problems=("results.jsonl (d/folds/f0/zzz): logits: replay differs on sample s/000",))
    with pytest.raises(SiteError, match=r"b/bad: rejected by the verifier \(verification.json\): "
                                        r"results.jsonl \(d/folds/f0/zzz\): logits: replay"):
        build_site([tmp_path / "b"], tmp_path / "site")
    assert not (tmp_path / "site").exists()  # nothing half-written
    assert run_bench.main(["site", str(tmp_path / "b"), "--out", str(tmp_path / "site")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "rejected by the verifier" in err and "b/bad" in err


def test_edited_results_and_conflicting_claims_are_refused(tmp_path: Path) -> None:
    _bundle(tmp_path / "e", [_rec("aaa", 18)], title="Edited")
    res = tmp_path / "e" / "results.jsonl"
    res.write_text(res.read_text().replace('"war": 0.6', '"war": 0.9'))
    with pytest.raises(SiteError, match=r"e: file results.jsonl: sha256 differs from "
                                        r"manifest.json field 'files\[1\].sha256'"):
        build_site([tmp_path / "e"], tmp_path / "site")
    _bundle(tmp_path / "c" / "1", [_rec("aaa", 18)], title="Mine")
    _bundle(tmp_path / "c" / "2", [_rec("aaa", 20)], title="Also mine")
    with pytest.raises(SiteError, match=r"c/2: results.jsonl: record d/folds/f0/aaa/tiny/s0/"
                                        r"abc123/cpu is also claimed by bundle .*c/1 with "
                                        r"different results"):
        build_site([tmp_path / "c"], tmp_path / "site")
    _bundle(tmp_path / "r", [_rec("aaa", 18)], title="Odd", verdict="consistent",
            record_verdict="rejected")
    with pytest.raises(SiteError, match=r"r/verification.json: record d/folds/f0/aaa/tiny/s0/"
                                        r"abc123/cpu: verdict 'rejected'"):
        build_site([tmp_path / "r"], tmp_path / "site")
    with pytest.raises(SiteError, match="no bundle"):
        build_site([tmp_path / "e" / "checkpoints"], tmp_path / "site")


def test_cli_builds_the_site(tmp_path: Path, capsys) -> None:
    _two_bundles(tmp_path / "b")
    assert run_bench.main(["site", str(tmp_path / "b" / "a"), str(tmp_path / "b" / "b"),
                           "--out", str(tmp_path / "site")]) == 0
    out = capsys.readouterr().out
    assert "1 task version(s), 2 row(s), 2 of 2 bundle(s) shown" in out
    assert (tmp_path / "site" / "index.html").is_file()


# ------------------------------------------------------------------ offline, in a browser


class _Refs(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href", "action", "data", "srcset") and v is not None:
                self.refs.append((tag, k, v))


def test_pages_load_nothing_from_outside(tmp_path: Path) -> None:
    _two_bundles(tmp_path / "b")
    s = build_site([tmp_path / "b"], tmp_path / "site")
    pages = [n for n in s.files if n.endswith(".html")]
    assert len(pages) == 1 + 1 + 2 + 2  # index, task, two submissions, two models
    for name in pages:
        text = (tmp_path / "site" / name).read_text(encoding="utf-8")
        assert "Content-Security-Policy" in text and "default-src 'none'" in text
        p = _Refs()
        p.feed(text)
        for tag, attr, value in p.refs:
            if value.startswith(("http://", "https://", "//")):
                # only a link the reader may follow (the submitter's url), never a resource
                assert (tag, attr) == ("a", "href"), (name, tag, attr, value)
            elif not value.startswith("data:"):
                assert "/" not in value and (tmp_path / "site" / value).is_file(), (name, value)


def _visible_models(d) -> list[str]:
    from selenium.webdriver.common.by import By

    return [r.find_elements(By.TAG_NAME, "td")[0].text
            for r in d.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr") if r.is_displayed()]


def test_site_in_a_headless_browser(tmp_path: Path, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    a, _ = _two_bundles(tmp_path / "b")
    _bundle(tmp_path / "b" / "c", [_rec("ccc", 12, seed=s) for s in range(3)], title="Weak",
            verdict=None)
    build_site([tmp_path / "b"], tmp_path / "site")
    d = browser
    site = (tmp_path / "site").resolve()
    d.get((site / "index.html").as_uri())
    assert d.title == "NeuroFER-Bench leaderboard"
    d.find_element(By.CSS_SELECTOR, "#tasks tbody a").click()  # index -> task
    assert d.title == "d/folds/default/classification v1.0" if HAS_TASK_FIELD else \
        d.title.startswith("d/folds/default/classification")
    assert d.find_element(By.ID, "row-count").text == "3 of 3 rows"
    heads = d.find_elements(By.CSS_SELECTOR, "#leaderboard thead th")
    war = next(h for h in heads if h.text.replace("\n", " ") == "WAR (%)")
    war.find_element(By.TAG_NAME, "button").click()  # ascending: 40, 70, 90
    assert _visible_models(d) == ["ccc / tiny", "aaa / tiny", "bbb / tiny"]
    war.find_element(By.TAG_NAME, "button").click()
    assert _visible_models(d) == ["bbb / tiny", "aaa / tiny", "ccc / tiny"]
    Select(d.find_element(By.ID, "dataset-filter")).select_by_value("not verified")
    assert _visible_models(d) == ["ccc / tiny"]
    Select(d.find_element(By.ID, "dataset-filter")).select_by_value("")
    d.find_element(By.ID, "filter").send_keys("three seeds")
    assert _visible_models(d) == ["aaa / tiny"]
    assert d.find_element(By.ID, "row-count").text == "1 of 3 rows"
    row = d.find_element(By.CSS_SELECTOR, "#leaderboard tbody tr:not([hidden])")
    row.find_elements(By.TAG_NAME, "a")[1].click()  # task -> submission
    assert d.title == "Submission: Three seeds"
    assert d.current_url.endswith(f"submission-{a}.html")
    assert "CC-BY-4.0" in d.find_element(By.CSS_SELECTOR, "dl.card").text
    d.find_element(By.CSS_SELECTOR, "#rows tbody a[href^='model-']").click()  # -> model
    assert d.title == "Model: aaa / tiny"
    assert len(d.find_elements(By.CSS_SELECTOR, "#model-rows tbody tr")) == 1
    # everything the browser fetched came from the site's folder; no console errors
    for url in d.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".concat([location.href])"):
        assert url.startswith(site.as_uri() + "/") or url.startswith("data:"), url
    network = [json.loads(e["message"])["message"] for e in d.get_log("performance")]
    requested = [m["params"]["request"]["url"] for m in network
                 if m.get("method") == "Network.requestWillBeSent"]
    assert requested and all(u.startswith(("file://", "data:")) for u in requested), requested
    severe = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    assert severe == [], severe

