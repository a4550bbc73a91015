"""reports.html: the self-contained web leaderboard, checked in a real headless browser
(Debian's chromium + chromium-driver through selenium, installed by .ci/publish_deps.sh), and
the merging of several run folders into one leaderboard."""

from __future__ import annotations

import html.parser
import io
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.results.records import SCHEMA_VERSION, RecordSchemaError
from reports.html import write_html, write_merged_reports
from reports.leaderboard import MergeConflictError, merge_runs

CLASSES = ["happy", "fear", "neutral"]


def _rec(dataset: str, backend: str, war: float, *, fold: int = 0, minute: int = 0,
         energy: float = 1.0) -> dict:
    return {
        "schema_version": SCHEMA_VERSION, "status": "ok", "kind": "trained",
        "cell_id": f"{dataset}/folds/f{fold}/{backend}/tiny/s0/abc123/cpu",
        "cell": {"dataset": dataset, "protocol": "folds", "fold": fold, "backend": backend,
                 "arch": "tiny", "seed": 0, "device": "cpu", "recipe": {}},
        "classes": CLASSES,
        "metrics": {"accuracy": war, "war": war, "uar": war - 0.05,
                    "energy_uj_per_inference": energy, "latency_ms_p50": 2.0, "params": 1000,
                    "per_lighting_accuracy": {"normal": war, "hdr": war - 0.1}},
        "provenance": {"git_commit": "0123456789abcdef", "utc_time": f"2025-01-01T10:{minute:02d}:00Z",
                       "suite_version": "0.1.0", "cpu": "Test CPU", "threads": 2},
        "predictions": [{"sequence_id": f"s/{i:03d}", "label": 0, "pred": int(i >= war * 20),
                         "logits": [0.0, 0.0, 0.0], "lighting": "normal" if i % 2 else "hdr"}
                        for i in range(20)],
    }


def _write(run: Path, records: list[dict]) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


RECORDS = [_rec("d", "aaa", 0.60), _rec("d", "bbb", 0.90, energy=2.0),
           _rec("d", "ccc", 0.75, energy=2.0), _rec("e", "aaa", 0.55), _rec("e", "bbb", 0.80)]


# ------------------------------------------------------------------ the page, offline


class _Refs(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href", "action", "data") and v is not None:
                self.refs.append((tag, k, v))


def test_page_is_one_self_contained_file(tmp_path: Path) -> None:
    out = write_html([_write(tmp_path / "run", RECORDS)], tmp_path / "site" / "index.html")
    text = out.read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(text)
    assert parser.refs, "expected the figures as <img src=data:...>"
    for tag, attr, value in parser.refs:
        assert value.startswith("data:"), (tag, attr, value[:80])  # nothing fetched
    imgs = [v for t, _, v in parser.refs if t == "img"]
    assert len(imgs) >= 3 and all(v.startswith("data:image/png;base64,") for v in imgs)
    assert "<script src" not in text and "http://" not in text and "https://" not in text
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    for section in ("Leaderboard", "Pairwise comparisons", "Ranking across datasets", "Figures",
                    "Per-lighting accuracy", "Provenance", "Cell records"):
        assert f">{section}" in text
    assert text.count("<details>") == len(RECORDS)  # one collapsible record per cell


# ------------------------------------------------------------------ merging run folders


def test_ann_activations_are_not_shown_as_spikes() -> None:
    """The ANN's non-zero activations (its record's "spikes_per_sample") are in the
    activations/sample column; its spikes/sample cell is empty; a spiking row the reverse."""
    from reports.html import _leaderboard_html

    ann, snn = _rec("d", "ann", 0.6), _rec("d", "snntorch", 0.7)
    ann["metrics"]["spikes_per_sample"] = 247317.0
    snn["metrics"]["spikes_per_sample"] = 1200.0
    page = _leaderboard_html([ann, snn])
    heads = [h.split('"')[0] for h in page.split('data-key="')[1:]]
    spikes, acts = heads.index("spikes_per_sample"), heads.index("activations_per_sample")
    rows = {r.split('<td class="text">')[2].split("<")[0]: r.split('<td data-value="')[1:]
            for r in page.split("<tr data-dataset=")[1:]}
    cell = lambda row, i: row[i].split(">", 1)[1].split("<")[0]  # noqa: E731
    assert (cell(rows["ann / tiny"], spikes), cell(rows["ann / tiny"], acts)) == ("—", "247,317")
    assert (cell(rows["snntorch / tiny"], spikes), cell(rows["snntorch / tiny"], acts)) == (
        "1,200", "—")


def test_merge_keeps_agreeing_cells_once_and_refuses_disagreeing(tmp_path: Path) -> None:
    a = _write(tmp_path / "a", RECORDS[:3])
    same = _write(tmp_path / "same", [RECORDS[0], _rec("f", "zzz", 0.5)])  # machine 2
    merged = merge_runs([a, same])
    assert [r["cell_id"] for r in merged].count(RECORDS[0]["cell_id"]) == 1
    assert len(merged) == 4
    newer = _rec("d", "aaa", 0.65, minute=30)  # the same cell, other metrics, later
    b = _write(tmp_path / "b", [newer])
    with pytest.raises(MergeConflictError, match=r"d/folds/f0/aaa/tiny.* in .*a and .*b: "
                                                 r"metrics differ \(accuracy, .*war"):
        merge_runs([a, b])
    with pytest.raises(MergeConflictError):
        write_html([a, b], tmp_path / "x.html")
    by_first = {r["cell_id"]: r for r in merge_runs([a, b], "first")}
    assert by_first[newer["cell_id"]]["metrics"]["war"] == 0.60
    by_latest = {r["cell_id"]: r for r in merge_runs([b, a], "latest")}
    assert by_latest[newer["cell_id"]]["metrics"]["war"] == 0.65  # 10:30 beats 10:00
    with pytest.raises(ValueError, match="merge_policy"):
        merge_runs([a], "newest")


def test_merged_reports_of_two_machines(tmp_path: Path) -> None:
    m1, m2 = _write(tmp_path / "m1", RECORDS[:3]), _write(tmp_path / "m2", RECORDS[3:])
    paths = write_merged_reports([m1, m2], tmp_path / "merged")
    names = {p.name for p in paths}
    assert {"leaderboard.md", "leaderboard.html", "accuracy_vs_energy.png",
            "critical_difference.png", "d_folds.tex", "e_folds.csv"} <= names
    md = (tmp_path / "merged" / "leaderboard.md").read_text(encoding="utf-8")
    assert "### d (folds)" in md and "### e (folds)" in md and "| bbb / tiny | 1.00" in md  # best on both


def test_merge_refuses_incompatible_schemas(tmp_path: Path) -> None:
    a = _write(tmp_path / "a", RECORDS[:1])
    future = dict(RECORDS[1], schema_version=SCHEMA_VERSION + 1)
    with pytest.raises(RecordSchemaError, match=r"results.jsonl:1: .*newer than this code"):
        merge_runs([a, _write(tmp_path / "future", [future])])
    broken = dict(RECORDS[1])
    del broken["cell"]
    with pytest.raises(RecordSchemaError, match=r"broken.*results.jsonl:1: missing field"):
        write_html([a, _write(tmp_path / "broken", [broken])], tmp_path / "x.html")


# ------------------------------------------------------------------ in a real browser


def _models(d) -> list[str]:
    from selenium.webdriver.common.by import By

    return [r.find_elements(By.TAG_NAME, "td")[1].text
            for r in d.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr") if r.is_displayed()]


def test_page_in_a_headless_browser(tmp_path: Path, browser) -> None:
    from PIL import Image

    page = write_html([_write(tmp_path / "m1", RECORDS[:3]), _write(tmp_path / "m2", RECORDS[3:])],
                      tmp_path / "leaderboard.html")
    d = browser
    from selenium.webdriver.common.by import By

    d.get(page.resolve().as_uri())  # file://, no server
    assert d.title == "NeuroFER-Bench leaderboard"
    rows = d.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
    assert len(rows) == 5
    assert _models(d) == ["aaa / tiny", "bbb / tiny", "ccc / tiny", "aaa / tiny",
                          "bbb / tiny"]
    assert d.find_element(By.ID, "row-count").text == "5 of 5 rows"
    heads = d.find_elements(By.CSS_SELECTOR, "#leaderboard thead th")
    war = next(h for h in heads if h.text.replace("\n", " ") == "WAR (%)")
    war.find_element(By.TAG_NAME, "button").click()  # ascending
    assert _models(d) == ["aaa / tiny", "aaa / tiny", "ccc / tiny", "bbb / tiny",
                          "bbb / tiny"]  # 55, 60, 75, 80, 90
    assert war.get_attribute("aria-sort") == "ascending"
    war.find_element(By.TAG_NAME, "button").click()  # descending
    assert _models(d) == ["bbb / tiny", "bbb / tiny", "ccc / tiny", "aaa / tiny",
                          "aaa / tiny"]
    # filtering: text, then the dataset menu
    box = d.find_element(By.ID, "filter")
    box.send_keys("ccc")
    assert _models(d) == ["ccc / tiny"]
    assert d.find_element(By.ID, "row-count").text == "1 of 5 rows"
    box.clear()
    box.send_keys(" ")  # fires input; an all-blank query shows everything
    from selenium.webdriver.support.ui import Select

    Select(d.find_element(By.ID, "dataset-filter")).select_by_value("e (folds)")
    assert sorted(_models(d)) == ["aaa / tiny", "bbb / tiny"]
    # the table is drawn: a non-empty box whose pixels are not blank
    table = d.find_element(By.ID, "leaderboard")
    assert table.is_displayed()
    assert table.size["width"] > 200 and table.size["height"] > 40
    shot = Image.open(io.BytesIO(table.screenshot_as_png)).convert("L")
    w, h = shot.size
    assert w > 0 and h > 0
    crop = np.asarray(shot.crop((0, 0, w, min(h, 200))), dtype=np.float64)
    assert crop.var() > 100.0, crop.var()  # text and borders on a white background
    # every figure decoded and laid out
    imgs = d.find_elements(By.CSS_SELECTOR, "figure img")
    assert imgs and all(d.execute_script("return arguments[0].naturalWidth", i) > 100
                        for i in imgs)
    # no console errors (CSP violations, script errors); and the log does record errors
    severe = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    assert severe == [], severe
    d.execute_script("console.error('probe')")
    assert any("probe" in e.get("message", "") for e in d.get_log("browser"))
