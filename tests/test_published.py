"""Published numbers from the papers: the data file, its agreement with SEEN's released predictions,
and their own sections in the leaderboard, the paper tables and the web page."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.results.published import (
    COLUMNS,
    DATA_FILE,
    PublishedDataError,
    published_for,
    read_published,
)

SEEN = Path(__file__).resolve().parents[2] / "shared" / "real" / "seen-predictions"
needs_seen = pytest.mark.skipif(not SEEN.is_dir(), reason=f"SEEN predictions absent: {SEEN}")


def test_every_row_carries_its_source():
    rows = read_published()
    assert len(rows) == 155
    for r in rows:
        assert ("DOI 10." in r.citation) or ("arXiv 2" in r.citation), r.line
        assert r.source.startswith("https://") and r.table and r.note, r.line
    papers = {r.paper for r in rows}
    assert papers == {"SEEN2023", "evTransFER2025", "SpikingFER2023"}
    nefer = published_for(["nefer"])["nefer"]
    assert [(r.model.split(" ")[0], r.value, r.qualifier) for r in nefer] == [("evTransFER", 76.7, "up to")]


PUBLISHED_REAL = Path(__file__).resolve().parents[2] / "shared" / "real" / "published" / "results.tsv"

# the real file's "metric" column (metric and SEE lighting in words) -> (metric, condition) here
_REAL_METRIC = {
    "WAR": ("war", ""), "UAR": ("uar", ""), "accuracy": ("accuracy", ""),
    "accuracy, Normal lighting": ("accuracy", "normal"),
    "accuracy, Overexposure": ("accuracy", "overexposure"),
    "accuracy, Low-light": ("accuracy", "low_light"), "accuracy, HDR": ("accuracy", "hdr"),
    "FLOPs": ("gflops", ""), "inference time": ("inference_ms", ""),
    "recognition rate": ("recognition_rate", ""),
    "energy consumption reduction, SNN vs ANN": ("energy_reduction", ""),
}


def _real_value(text: str) -> tuple[str, str, str]:
    """``"up to 76.7%"`` -> ``("76.7", "%", "up to")``; ``"8.3 GFLOPs"`` -> ``("8.3", "GFLOPs", "")``."""
    import re

    m = re.fullmatch(r"(up to )?([0-9.]+) ?(%|GFLOPs|ms|x)", text)
    assert m, text
    return m.group(2), m.group(3), (m.group(1) or "").strip()


@pytest.mark.skipif(not PUBLISHED_REAL.is_file(),
                    reason=f"the real published-results file is absent: {PUBLISHED_REAL} "
                           "(../shared/real beside the checkout)")
def test_every_value_agrees_with_the_real_published_file():
    import csv

    with PUBLISHED_REAL.open(encoding="utf-8", newline="") as fh:
        real = list(csv.DictReader(fh, delimiter="\t"))
    assert len(real) == 155
    # the real file marks SEEN's own rows spiking "yes" and says "Hybrid: CNN ... + CNN-SNN"
    # in their note; the data file's column has the value "hybrid" for exactly those rows
    def spiking(r: dict) -> str:
        return "hybrid" if r["spiking"] == "yes" and "Hybrid:" in r["note"] else r["spiking"]

    # the real file's dataset names -> the suite's dataset keys
    datasets = {"SEE": ("see",), "NEFER": ("nefer",), "e-CK+": ("e-ck+",),
                "event-converted": ("ckplus-dvs", "adfes-dvs", "casia-dvs", "mmi-dvs")}
    want = sorted((r["paper"], datasets[r["dataset"]], r["model"], spiking(r),
                   *_REAL_METRIC[r["metric"]], *_real_value(r["value"])) for r in real)
    ours = sorted((r.paper, r.datasets, r.model, r.spiking, r.metric, r.condition,
                   r.value_text, r.unit, r.qualifier) for r in read_published())
    assert ours == want
    # the numbers, not only their text: value is value_text as a float
    for r in read_published():
        assert r.value == float(r.value_text), r.line


# the paper's Table 1 rows of the two released runs (SEEN, SIGGRAPH 2023), as transcribed
RUNS = {"E4_S3": "SEEN (Ours, E4-S3)", "E7_S1": "SEEN (Ours, E7-S1)"}


@needs_seen
@pytest.mark.parametrize("run", sorted(RUNS))
def test_seen_rows_agree_with_score_on_the_released_predictions(run):
    from benchmarks.results.score import score_seen_run

    summary = score_seen_run(SEEN / run).summary
    rows = [r for r in published_for(["see"])["see"] if r.model == RUNS[run] and r.unit == "%"]
    assert {(r.metric, r.condition) for r in rows} == {
        ("war", ""), ("uar", ""), *(("accuracy", c) for c in ("normal", "overexposure", "low_light", "hdr"))}
    for r in rows:
        ours = summary[r.metric] if not r.condition else summary["per_lighting_accuracy"][r.condition]
        # the paper prints one decimal: ours must round to it (half a unit of the last digit)
        assert abs(100 * ours - r.value) <= 0.05 + 1e-9, (r.metric, r.condition, 100 * ours, r.value)


def _write(tmp_path: Path, rows: list[list[str]]) -> Path:
    p = tmp_path / "pub.tsv"
    p.write_text("# comment\n" + "\t".join(COLUMNS) + "\n" + "".join("\t".join(r) + "\n" for r in rows))
    return p


GOOD = ["P1", "A. B.; Venue 2024 (DOI 10.1/x)", "https://doi.org/10.1/x", "Table 3", "see", "SEE", "fixed",
        "7", "M", "events", "yes", "war", "", "71.25", "%", "", "", "epochs picked on the test set"]


def test_bad_rows_are_named_by_line_column_and_value(tmp_path):
    ok = read_published(_write(tmp_path, [GOOD]))
    assert ok[0].fraction == pytest.approx(0.7125) and ok[0].header == "WAR (%)"
    bad_value = GOOD.copy()
    bad_value[13] = "71,3"
    bad_cite = GOOD.copy()
    bad_cite[1] = "A. B.; Venue 2024"
    with pytest.raises(PublishedDataError, match=r"line 4, column 'value' = '71,3': not a number \(2 problems in all\)"):
        read_published(_write(tmp_path, [GOOD, bad_value, bad_cite]))
    with pytest.raises(PublishedDataError, match=r"line 3: 3 fields, expected 18"):
        read_published(_write(tmp_path, [["a", "b", "c"]]))
    bad_metric = GOOD.copy()
    bad_metric[11] = "f1"
    with pytest.raises(PublishedDataError, match=r"column 'metric' = 'f1'"):
        read_published(_write(tmp_path, [bad_metric]))


def _see_records(tmp_path: Path) -> list[dict]:
    from benchmarks.results.records import read_records
    from benchmarks.results.score import record_run, score_seen_run

    record_run(tmp_path, score_seen_run(SEEN / "E4_S3"))
    return read_records(tmp_path)


@needs_seen
def test_leaderboard_tables_and_page_show_published_rows_apart(tmp_path):
    from reports import report_markdown
    from reports.html import render_html
    from reports.leaderboard import leaderboard_table, ranking_table
    from reports.tables import write_tables

    records = _see_records(tmp_path)
    md = report_markdown(records)
    pub = md[md.index("## Published results (from the papers)"):]
    pub = pub[:pub.index("\n## ", 5)]
    row = next(ln for ln in pub.splitlines() if ln.startswith("| SEEN (Ours, E4-S3)"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:10] == ["83.6", "84.1", "83.3", "85.6", "80.8", "84.8"]  # Table 1, as printed
    assert cells[-1] == "[4] [5]" and "[4] Events and 2 intensity frames" in pub
    assert "epoch likely picked on the test set" in pub and "DOI 10.1145/3588432.3591511" in pub
    eyemotion = next(ln for ln in pub.splitlines() if ln.startswith("| Eyemotion "))
    assert "17.5 [" in eyemotion  # the timing caveat marks the inference-time cell alone
    # never mixed into the statistics: the leaderboard and the ranking know only the record
    assert "Resnet18 + LSTM" not in leaderboard_table(records) + ranking_table(records)
    assert md.count("Resnet18 + LSTM") == 1
    paths = write_tables(records, tmp_path)
    names = sorted(p.name for p in paths)
    assert "see_published.md" in names and "see_published.csv" in names and "see_published.tex" in names
    csv_text = (tmp_path / "tables" / "see_published.csv").read_text()
    assert "see,\"SEEN (Ours, E7-S1)\",\"SEEN2023, Table 1\",UAR (%),82.7,%," in csv_text
    page = render_html([(tmp_path, r) for r in records], [tmp_path])
    assert '<section id="published">' in page and "Former DFER w/o pre-train" in page
    assert page.index('id="leaderboard-section"') < page.index('id="published"')


def test_no_published_section_without_published_datasets():
    from reports.published import published_section

    rec = {"status": "ok", "kind": "trained", "cell": {"dataset": "synthetic-fer-dvs-mini"}}
    assert published_section([rec]) == ""
    assert published_for(["synthetic-fer-dvs-mini"]) == {}
    nefer = {"status": "ok", "kind": "trained", "cell": {"dataset": "nefer"}}
    text = published_section([nefer])
    assert "### nefer (published)" in text and "up to 76.7" in text
    assert "arXiv 2508.03609" in text and "https://arxiv.org/abs/2508.03609v2" in text
    assert read_published(DATA_FILE) is read_published()  # read once while the file is unchanged
