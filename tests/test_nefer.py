"""NEFER (datasets/loaders/nefer.py, nefer_index.py, nefer_fixture.py; datasets/io/tbr.py): the
annotation files as released, TBR decoding, label sets, protocols, the one-pass check, bad input,
the cell path and a one-epoch run.

Trees are written in the published layout by :func:`write_nefer_tree`: from the real annotation
files (``../shared/real/nefer``; skipped when absent) and from a small synthetic annotation set
(always). Frames are generated: 8-bit grey PNG TBR images (N = 8, the bit count an 8-bit PNG
holds), 32x24 pixels to keep the tests fast; the loader reads size and bit depth from the files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from datasets.io.tbr import read_tbr, tbr_binary_frames, tbr_time_bins
from datasets.loaders.nefer import NEFERDataset, NEFERRawDataset
from datasets.loaders.nefer_fixture import synthetic_annotations, write_nefer_tree
from datasets.loaders.nefer_index import NEFERError, index_nefer

REAL = Path(__file__).resolve().parents[2] / "shared" / "real" / "nefer"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real/nefer (the NEFER "
                                "annotation files) is absent")
TRAIN, VALIDATION = ["user_01", "user_02", "user_04"], ["user_03", "user_07"]


def _synthetic_tree(root: Path, clips: int = 3) -> Path:
    return write_nefer_tree(root, annotations=synthetic_annotations(TRAIN, VALIDATION, clips))


# --------------------------------------------------------------------------------------------
# the real annotation files
# --------------------------------------------------------------------------------------------


@needs_real
def test_real_annotations_as_the_release_describes(tmp_path):
    ann = tmp_path / "NEFER" / "annotations"
    for folder in ("expected_emotions", "reported_emotions"):
        shutil.copytree(REAL / folder, ann / folder)
    directory = tmp_path / "NEFER"
    emotions = ["Anger", "Contempt", "Disgust", "Fear", "Happiness", "Sadness", "Surprise"]
    exp, problems, _ = index_nefer(directory, "expected", frames="none")
    assert problems == []
    # ../shared/real/README.md: 420 train + 125 validation sequences; 20 + 6 users; 60 train /
    # 18 validation sequences per emotion (Surprise 17)
    splits = Counter(s["split"] for s in exp)
    assert splits == {"train": 420, "validation": 125}
    assert len({s["user"] for s in exp if s["split"] == "train"}) == 20
    assert sorted({s["user"] for s in exp if s["split"] == "validation"}) == [
        "user_03", "user_07", "user_17", "user_19", "user_27", "user_28"]
    counts = Counter((s["split"], s["label"]) for s in exp)
    assert [counts["train", e] for e in emotions] == [60] * 7
    assert [counts["validation", e] for e in emotions] == [18] * 6 + [17]
    rep, problems, _ = index_nefer(directory, "reported", frames="none")
    assert problems == []
    counts = Counter((s["split"], s["label"]) for s in rep)
    assert [counts["train", e] for e in [*emotions, "None"]] == [38, 45, 56, 28, 66, 73, 87, 27]
    assert [counts["validation", e] for e in [*emotions, "None"]] == [14, 20, 17, 12, 18, 15, 21, 8]
    agree = Counter(e["split"] for e, r in zip(exp, rep, strict=True) if e["label"] == r["label"])
    assert agree == {"train": 261, "validation": 94}
    without, _, _ = index_nefer(directory, "reported_without_none", frames="none")
    assert len(without) == 545 - 27 - 8
    # every event sequence pairs with a GoPro sequence; the frames are 51 per sequence
    assert all(s["rgb_sequence"].startswith("GOPR") and len(s["frames"]) == 51 for s in exp)


@needs_real
def test_real_annotations_tree_opens_with_generated_frames(tmp_path):
    write_nefer_tree(tmp_path, annotation_dir=REAL, users={"user_01", "user_03"})
    ds = NEFERDataset(tmp_path)
    train, test = ds.split(0, "official")
    assert (len(train), len(test)) == (21, 20)  # user_03 lacks the 21st clip
    assert {ds.sequences[i].subject for i in test} == {"user_03"}
    fmt = ds.data_format["event_frames"]
    assert (fmt["width"], fmt["height"], fmt["bit_depth"], fmt["tbr_bits"]) == (32, 24, 8, 8)
    assert ds.sensor_size == (32, 24, 1) and ds.in_channels == 1
    # the validation RGB frames are under ../gopro_frame/ as the CSV says, training ones rgb_frames/
    assert "gopro_frame" in ds.sequences[test[0]].extra["rgb_dir"]
    assert "rgb_frames" in ds.sequences[train[0]].extra["rgb_dir"]


# --------------------------------------------------------------------------------------------
# TBR decoding
# --------------------------------------------------------------------------------------------


def test_tbr_bits_by_hand(tmp_path):
    from PIL import Image

    # 177 = 0b10110001: binary frames 0..7 (least significant bit first) are 1,0,0,0,1,1,0,1
    bits = tbr_binary_frames(np.array([[177, 0]], dtype=np.uint8), 8)
    assert bits.shape == (8, 1, 2)
    assert bits[:, 0, 0].astype(int).tolist() == [1, 0, 0, 0, 1, 1, 0, 1]
    assert not bits[:, 0, 1].any()
    # two 2-bit images [3] and [2]: binary frames 1,1 then 0,1. T = 1: 3 ones; T = 2: 2, 1;
    # T = 4: one frame per bin 1,1,0,1; T = 3: frames 0,1 -> bins 0,0 (k*3//4), frame 2 -> 1,
    # frame 3 -> 2: 2, 0, 1
    frames = [np.array([[3]], np.uint8), np.array([[2]], np.uint8)]
    assert tbr_time_bins(frames, 2, 1)[:, 0, 0].tolist() == [3]
    assert tbr_time_bins(frames, 2, 2)[:, 0, 0].tolist() == [2, 1]
    assert tbr_time_bins(frames, 2, 4)[:, 0, 0].tolist() == [1, 1, 0, 1]
    assert tbr_time_bins(frames, 2, 3)[:, 0, 0].tolist() == [2, 0, 1]
    # the bit count is read from the PNG: 2-bit samples (Pillow scales them to 0..255 on read)
    Image.fromarray(np.array([[0, 1, 2, 3]], np.uint8), mode="L").save(tmp_path / "b2.png", bits=2)
    codes, n = read_tbr(tmp_path / "b2.png")
    assert n == 2 and codes.tolist() == [[0, 1, 2, 3]]
    Image.fromarray(np.array([[0, 40000, 65535]], np.uint16)).save(tmp_path / "b16.png")
    codes, n = read_tbr(tmp_path / "b16.png")
    assert n == 16 and codes.tolist() == [[0, 40000, 65535]]
    # grey stored as RGB is accepted; colour is not a TBR frame
    Image.fromarray(np.full((2, 2, 3), 9, np.uint8), mode="RGB").save(tmp_path / "g.png")
    assert read_tbr(tmp_path / "g.png")[0].tolist() == [[9, 9], [9, 9]]
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb, mode="RGB").save(tmp_path / "c.png")
    with pytest.raises(NEFERError.__mro__[1], match="colour channels differ"):
        read_tbr(tmp_path / "c.png")


def test_event_tensor_counts_the_binary_frames(tmp_path):
    from PIL import Image

    _synthetic_tree(tmp_path)  # 8-bit TBR frames, 32x24
    ds = NEFERDataset(tmp_path)
    s = ds.sequences[0]
    # an independent decode: each PNG's pixel values are 8-bit codes; bit i of image f is binary
    # frame f * 8 + i (least significant bit first); K = 51 * 8 = 408 frames, frame k in bin
    # k * T // K; T = 7 does not divide K, so the bins hold 59 or 58 frames
    codes = np.stack([np.asarray(Image.open(Path(s.path) / name)) for name in s.extra["frames"]])
    binary = np.unpackbits(codes[:, None], axis=1, bitorder="little")  # (51, 8, 24, 32)
    binary = binary.reshape(-1, 24, 32)
    k, t = binary.shape[0], 7
    which = np.arange(k) * t // k
    assert np.bincount(which).tolist() == [59, 58, 58, 59, 58, 58, 58]
    want = np.stack([binary[which == b].sum(axis=0) for b in range(t)]).astype(np.float32)
    assert want.sum() > 0 and (want.max(axis=(1, 2)) > 1).all()  # counts, not only presence
    x = ds.event_tensor(0, t, (24, 32)).numpy()  # native size: no resampling
    assert x.shape == (t, 1, 24, 32)
    np.testing.assert_array_equal(x[:, 0], want)
    # half size: area interpolation is the mean of each 2x2 block
    half = want.reshape(t, 12, 2, 16, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(ds.event_tensor(0, t, (12, 16)).numpy()[:, 0], half, rtol=1e-6)
    np.testing.assert_array_equal(ds.event_tensor(0, t, (24, 32), binarize=True).numpy()[:, 0],
                                  (want > 0).astype(np.float32))
    # the frame-transform path: counts set back to presence, binned as the direct path
    doubled = ds.event_tensor(0, t, (24, 32), frame_transform=lambda b: 2 * b).numpy()
    np.testing.assert_array_equal(doubled[:, 0], want)
    frames = ds.load_frames(0)
    assert frames.shape == (k, 1, 24, 32)
    np.testing.assert_array_equal(frames[:, 0], binary.astype(bool))


# --------------------------------------------------------------------------------------------
# label sets, protocols, folder names
# --------------------------------------------------------------------------------------------


def test_label_sets_and_protocols(tmp_path):
    _synthetic_tree(tmp_path)
    exp = NEFERDataset(tmp_path)
    rep = NEFERDataset(tmp_path, label_set="reported")
    without = NEFERDataset(tmp_path, label_set="reported_without_none")
    assert len(exp.classes) == 7 and len(rep.classes) == 8 and rep.classes[-1] == "None"
    # synthetic_annotations: (user index + clip) % 3 == 2 is reported None: users 0..2 x clips
    # 0..2 -> 3 of 9 train, users 0..1 x 3 clips -> 2 of 6 validation
    assert len(exp) == len(rep) == 15 and len(without) == 10
    train, test = exp.split(0, "official")
    assert {exp.sequences[i].subject for i in test} == set(VALIDATION)
    assert exp.split(0, "folds") == (train, test)
    users = set()
    for fold in range(5):
        tr, te = exp.split(fold, "subject")
        assert not {exp.sequences[i].subject for i in tr} & {exp.sequences[i].subject for i in te}
        users |= {exp.sequences[i].subject for i in te}
    assert users == set(TRAIN + VALIDATION)
    with pytest.raises(ValueError, match="unknown protocol"):
        exp.split(0, "nope")
    with pytest.raises(ValueError, match="label_set must be one of"):
        NEFERDataset(tmp_path, label_set="felt")


def test_both_folder_name_variants(tmp_path):
    d = _synthetic_tree(tmp_path)
    (d / "event_frame_NEW").rename(d / "event_frames")  # the repository README's names
    shutil.copytree(d / "gopro_frame", d / "rgb_frames", dirs_exist_ok=True)
    shutil.rmtree(d / "gopro_frame")
    ds = NEFERDataset(tmp_path)
    assert all("event_frames" in str(s.path) for s in ds.sequences)
    assert all("rgb_frames" in s.extra["rgb_dir"] for s in ds.sequences)


def test_label_set_is_part_of_the_cell_id_and_defaults_keep_ids():
    from benchmarks.results.spec import Cell, Recipe, RecipeError

    # the 0.1.0 digest written out by hand (as tests/test_training.py): label_set at its
    # default (None) leaves it unchanged
    round1 = {"epochs": 30, "batch_size": 16, "optimizer": "sgd", "lr": 0.01, "momentum": 0.9,
              "weight_decay": 5e-4, "schedule": "cosine", "val_fraction": 0.15, "selection": "val",
              "augment": False, "binarize": False, "latency_runs": 30, "warmup_runs": 5,
              "throughput_batch_size": 32, "codecarbon": True}
    want = hashlib.sha1(json.dumps(round1, sort_keys=True).encode()).hexdigest()[:8]
    assert Recipe().digest() == want
    ids = {ls: Cell("nefer", "ann", "tiny", protocol="official",
                    recipe=Recipe(label_set=ls)).cell_id for ls in (None, "expected", "reported")}
    assert len(set(ids.values())) == 3
    with pytest.raises(RecipeError, match="label_set"):
        Recipe(label_set="")


# --------------------------------------------------------------------------------------------
# bad input and the one-pass check
# --------------------------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_check_names_every_problem_in_one_pass(tmp_path):
    from datasets.check import check_dataset

    d = _synthetic_tree(tmp_path)
    ann = d / "annotations" / "expected_emotions"
    (ann / "validation_gopro.csv").unlink()  # a missing annotation file
    ev = ann / "train_event.csv"
    lines = _lines(ev)
    lines[4] = ",".join(lines[4].split(",")[:3])  # line 5: 3 columns
    lines[60] = lines[60].rsplit(",", 1)[0] + ",Joy"  # line 61: a label outside the set
    ev.write_text("".join(f"{ln}\n" for ln in lines))
    missing = d / "event_frame_NEW" / "user_02" / "user02_2022-06-08_12-00-01_cd" / "frame_07.png"
    missing.unlink()  # a frame path that does not exist
    bad_png = d / "event_frame_NEW" / "user_04" / "user04_2022-06-08_12-00-00_cd" / "frame_03.png"
    bad_png.write_bytes(bad_png.read_bytes()[:40])  # truncated: unreadable
    result = check_dataset("NEFER", tmp_path)
    assert result.dataset == "nefer" and not result.ok
    got = {(p.file.name, p.field, p.value) for p in result.problems}
    assert ("validation_gopro.csv", "file", "missing") in got
    assert ("train_event.csv", "columns", 3) in got
    assert ("train_event.csv", "label", "Joy") in got
    assert (missing.name, "frame", "missing") in got
    assert (bad_png.name, "frame", "unreadable") in got
    msgs = "\n".join(p.message for p in result.problems)
    assert f"{ev}, line 5: field 'columns' = 3" in msgs
    assert f"{ev}, line 61: field 'label' = 'Joy'" in msgs
    # the two broken rows leave their sequences with 50 frame rows; the validation events have no
    # RGB file to pair with: every one of those is named too
    assert sum(p.field == "frames" and p.value == 50 for p in result.problems) == 2
    assert sum(p.field == "pairing" for p in result.problems) == 6  # 2 users x 3 clips
    # opening the dataset fails with one error that names the first problems and the count
    with pytest.raises(NEFERError, match=r"nefer: \d+ problems: .*train_event.csv, line 5: field "
                       r"'columns' = 3.* and \d+ more \(run `check nefer`") as err:
        NEFERDataset(tmp_path)
    assert len(err.value.problems) == len(result.problems) - 1  # frames are verified by check only


def test_check_reads_every_label_set(tmp_path):
    # a damaged reported_emotions file: `run --label-set reported` would fail on it, so `check
    # nefer` must name it, in the same pass as the expected-label files
    from datasets.check import check_dataset

    d = _synthetic_tree(tmp_path)
    rep = d / "annotations" / "reported_emotions" / "train_event_subjective.csv"
    lines = _lines(rep)
    lines[9] = lines[9].rsplit(",", 1)[0] + ",Angr"  # line 10: a label outside the set
    rep.write_text("".join(f"{ln}\n" for ln in lines))
    (d / "annotations" / "reported_emotions" / "validation_gopro_subjective.csv").unlink()
    result = check_dataset("nefer", tmp_path)
    assert not result.ok
    got = {(p.file.name, p.field, p.value) for p in result.problems}
    assert ("train_event_subjective.csv", "label", "Angr") in got
    assert ("validation_gopro_subjective.csv", "file", "missing") in got
    assert f"{rep}, line 10: field 'label' = 'Angr'" in "\n".join(p.message for p in result.problems)
    # the expected labels are intact: the default dataset opens, the reported one does not
    assert len(NEFERDataset(tmp_path).sequences) == 15
    with pytest.raises(NEFERError, match="train_event_subjective.csv, line 10: field 'label'"):
        NEFERDataset(tmp_path, label_set="reported")
    # a frame that is missing is named once, not once per label set
    frame = d / "event_frame_NEW" / "user_01" / "user01_2022-06-08_12-00-00_cd" / "frame_00.png"
    frame.unlink()
    again = check_dataset("nefer", tmp_path, use_cache=False).problems
    assert sum(p.file == frame for p in again) == 1
    # one label set only, when asked
    _, _, only = NEFERDataset.dataset_problems(tmp_path, label_set="expected")
    assert {p.file.name for p in only} == {frame.name}


def test_annotation_files_with_a_byte_order_mark(tmp_path):
    # spreadsheet tools save UTF-8 with a byte-order mark (EF BB BF): the first row must read as
    # without it, for every label set
    d = _synthetic_tree(tmp_path)
    plain = [(s.subject, s.sequence, s.label) for s in NEFERDataset(tmp_path).sequences]
    for csv_file in sorted((d / "annotations").rglob("*.csv")):
        csv_file.write_bytes(b"\xef\xbb\xbf" + csv_file.read_bytes())
    assert [(s.subject, s.sequence, s.label) for s in NEFERDataset(tmp_path).sequences] == plain
    reported = NEFERDataset(tmp_path, label_set="reported")
    assert reported.sequences[0].subject == "user_01"
    assert NEFERDataset.dataset_problems(tmp_path)[2] == []


def test_problem_messages_escape_invisible_characters(tmp_path):
    # a value that differs from the expected one by an invisible character (zero-width space,
    # byte-order mark inside the file, word joiner) is shown escaped, so the difference is seen
    d = _synthetic_tree(tmp_path)
    ev = d / "annotations" / "expected_emotions" / "train_event.csv"
    lines = _lines(ev)
    lines[3] = lines[3].replace("user_01,", "user_01\u200b,", 1)  # line 4: the user column
    lines[60] = "\ufeff" + lines[60]  # line 61: a BOM that is not at the start of the file
    lines[120] = lines[120].rsplit(",", 1)[0] + ",Fear\u2060"  # line 121: a word joiner
    ev.write_text("".join(f"{ln}\n" for ln in lines), encoding="utf-8")
    _, _, problems = NEFERDataset.dataset_problems(tmp_path, label_set="expected")
    by_line = {p.line: p for p in problems if p.file == ev}
    assert "user_01\\u200b/" in by_line[4].message  # the expected path names the user as read
    assert "\\ufeffuser_01/" in by_line[61].message
    assert by_line[121].field == "label" and by_line[121].value == "Fear\u2060"
    assert "'Fear\\u2060'" in by_line[121].message
    for p in problems:
        assert p.message.isprintable(), p.message


def test_pairing_and_frame_counts(tmp_path):
    from datasets.check import check_dataset

    d = _synthetic_tree(tmp_path)
    ann = d / "annotations" / "expected_emotions"
    rgb = ann / "train_gopro.csv"
    lines = _lines(rgb)
    lines = [ln.rsplit(",", 1)[0] + ",Fear" if ln.startswith("user_02,GOPR0705") else ln
             for ln in lines]  # user_02's 2nd RGB clip disagrees with its event clip (Contempt)
    lines += [ln.replace("GOPR0703", "GOPR0999") for ln in lines[102:153]]  # extra RGB clip
    rgb.write_text("".join(f"{ln}\n" for ln in lines))
    ev = ann / "validation_event.csv"
    ev.write_text("".join(f"{ln}\n" for ln in _lines(ev)[:-1]))  # 50 frames in the last clip
    problems = check_dataset("nefer", tmp_path).problems
    pairing = [p for p in problems if p.field == "pairing"]
    assert any(p.value == "Contempt" and "GOPR0705" in p.message and "'Fear'" in p.message
               for p in pairing)
    assert any(p.value == "GOPR0999" and "no event sequence" in p.message for p in pairing)
    assert [(p.file.name, p.value) for p in problems if p.field == "frames"] == [
        ("validation_event.csv", 50)]


def test_absent_dataset_says_how_to_get_it(tmp_path):
    from datasets.base import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match="miccunifi/NEFER"):
        NEFERDataset(tmp_path)


# --------------------------------------------------------------------------------------------
# the cell path and a one-epoch run
# --------------------------------------------------------------------------------------------


def test_cell_data_one_channel_and_intensity(tmp_path):
    from backends.specs import get_arch
    from benchmarks.results.spec import Cell, Recipe
    from benchmarks.runner.data import clear_caches, load_cell_data

    _synthetic_tree(tmp_path)
    clear_caches()
    cell = Cell("nefer", "ann", "tiny", protocol="official", recipe=Recipe(label_set="reported"))
    data = load_cell_data(cell, get_arch("tiny"), tmp_path)
    assert tuple(data.train.x.shape[1:]) == (8, 1, 48, 48) and data.train.frames is None
    assert data.num_classes == 8 and len(data.test.y) == 6
    seen = load_cell_data(Cell("nefer", "ann", "seen", protocol="official"), get_arch("seen"),
                          tmp_path)
    assert tuple(seen.test.x.shape[1:]) == (4, 1, 90, 90)
    assert tuple(seen.test.frames.shape[1:]) == (2, 1, 90, 90)
    with pytest.raises(ValueError, match="single label set"):
        load_cell_data(Cell("synthetic-fer-dvs-mini", "ann", "tiny",
                            recipe=Recipe(label_set="reported")), get_arch("tiny"), tmp_path)
    clear_caches()


def test_one_epoch_run_end_to_end(tmp_path, capsys):
    import run_bench
    from benchmarks.results.records import read_records

    _synthetic_tree(tmp_path / "data")
    out = tmp_path / "run"
    grid = tmp_path / "g.toml"
    grid.write_text('name = "n"\n[recipe]\nepochs = 1\nbatch_size = 4\nlatency_runs = 2\n'
                    "warmup_runs = 1\nthroughput_batch_size = 2\ncodecarbon = false\n")
    args = ["run", "--grid", str(grid), "--datasets", "nefer", "--backends", "ann", "--archs",
            "tiny", "--folds", "0", "--seeds", "0", "--data-root", str(tmp_path / "data"),
            "--out", str(out), "-q"]
    assert run_bench.main(args) == 0
    recs = read_records(out)
    assert [r["status"] for r in recs] == ["ok"]
    r = recs[0]
    assert r["metrics"]["n_test"] == 6 and r["classes"][0] == "Anger"
    assert r["cell"]["protocol"] == "folds"  # the dataset's own split: NEFER's official one
    assert r["provenance"]["data_format"]["event_frames"]["tbr_bits"] == 8
    # tiny on 1 channel: conv1 1*16*25 = 400 weights, not 800
    assert r["metrics"]["params"] == 400 + 4608 + 9216 + 1152 * 7 + 160
    assert run_bench.main(["check", "nefer", "--data-root", str(tmp_path / "data"), "-q"]) == 0
    assert "nefer: no problems in 1530 frames" in capsys.readouterr().out  # 15 x 51 x 2


# --------------------------------------------------------------------------------------------
# raw events (when a Prophesee reader is installed)
# --------------------------------------------------------------------------------------------


def test_raw_events_through_the_prophesee_reader(tmp_path):
    pytest.importorskip("datasets.io.prophesee",
                        reason="datasets.io.prophesee (the Prophesee reader) is not installed")
    sample = REAL.parent / "prophesee"
    if not (sample / "evt3_sample.raw").is_file():
        pytest.skip("../shared/real/prophesee is absent")
    d = _synthetic_tree(tmp_path)
    raw = d / "event_raw" / "user_01" / "user01_2022-06-08_12-00-00_cd.raw"
    raw.parent.mkdir(parents=True)
    shutil.copyfile(sample / "evt3_sample.raw", raw)
    ds = NEFERDataset(tmp_path)
    assert ds.data_format["raw"]["files"] == 1
    events = ds.load_events(0)
    ref = np.load(sample / "evt3_sample.npy")
    assert len(events) == len(ref)
    for f in ("t", "x", "y", "p"):
        assert np.array_equal(events[f].astype(np.int64), ref[f].astype(np.int64))
    assert ds.data_format["raw"]["sensor_size"][:2] == [1280, 720]


# --------------------------------------------------------------------------------------------
# discovery of loaders in sub-packages
# --------------------------------------------------------------------------------------------


def test_registry_imports_sub_packages(tmp_path, monkeypatch):
    import sys

    from datasets.base import DATASETS
    from datasets.common import Registry

    assert DATASETS.module_of("NEFER") == "datasets.loaders.nefer"
    pkg = tmp_path / "fakepkg"
    (pkg / "sub" / "_private").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "top.py").write_text("from fakepkg import REG\nREG.register('top', 1)\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "deep.py").write_text("from fakepkg import REG\nREG.register('deep', 2)\n")
    (pkg / "sub" / "broken.py").write_text("raise RuntimeError('boom')\n")
    (pkg / "sub" / "_private" / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("thing", package="fakepkg")
    import fakepkg

    fakepkg.REG = reg
    try:
        assert sorted(reg.names()) == ["deep", "top"]
        assert list(reg.plugin_errors) == ["fakepkg.sub.broken"]
    finally:
        for m in [m for m in sys.modules if m == "fakepkg" or m.startswith("fakepkg.")]:
            del sys.modules[m]


# --------------------------------------------------------------------------------------------
# nefer-raw: the raw recordings binned like every event dataset (wiring, with a stand-in reader)
# --------------------------------------------------------------------------------------------


def _fake_reader(monkeypatch, sensor=(64, 48, 2)):
    """A stand-in for datasets.io.prophesee whose recordings are .npy files of suite events."""
    import sys
    import types

    mod = types.ModuleType("datasets.io.prophesee")

    def read_prophesee(path, sensor_size=None):
        return types.SimpleNamespace(events=np.load(path), sensor_size=sensor)

    mod.read_prophesee = read_prophesee
    monkeypatch.setitem(sys.modules, "datasets.io.prophesee", mod)


def _write_raw(directory: Path, user: str, sequence: str, seed: int) -> np.ndarray:
    from datasets.io.events import make_events

    rng = np.random.default_rng(seed)
    n = 500
    ev = make_events(np.sort(rng.integers(0, 100_000, n)), rng.integers(0, 64, n),
                     rng.integers(0, 48, n), rng.integers(0, 2, n))
    path = directory / "event_raw" / user / f"{sequence}.raw"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.save(fh, ev)
    return ev


def test_nefer_raw_bins_events_with_two_channels(tmp_path, monkeypatch):
    from backends.specs import get_arch
    from benchmarks.results.spec import Cell
    from benchmarks.runner.data import clear_caches, load_cell_data
    from datasets.check import check_dataset

    _fake_reader(monkeypatch)
    d = _synthetic_tree(tmp_path, clips=2)
    ds = NEFERDataset(tmp_path)
    written = {}
    for i, s in enumerate(ds.sequences):
        if i == 3:
            continue  # one sequence without its recording
        written[s.sequence] = _write_raw(d, s.subject, s.sequence, i)
    with pytest.raises(NEFERError, match="1 problem: .*no raw recording") as err:
        NEFERRawDataset(tmp_path)
    assert [p.field for p in err.value.problems] == ["raw"]
    problems = check_dataset("nefer-raw", tmp_path).problems
    assert [(p.field, p.value) for p in problems] == [("raw", "missing")]
    missing = ds.sequences[3]
    written[missing.sequence] = _write_raw(d, missing.subject, missing.sequence, 3)
    raw = NEFERRawDataset(tmp_path)
    assert raw.name == "nefer-raw" and raw.sensor_size == (64, 48, 2) and raw.in_channels == 2
    assert raw.data_format["raw"] == {"files": 10, "format": "raw", "sensor_size": [64, 48, 2]}
    assert np.array_equal(raw.load_events(5), written[raw.sequences[5].sequence])
    clear_caches()
    data = load_cell_data(Cell("nefer-raw", "ann", "tiny", protocol="official"),
                          get_arch("tiny"), tmp_path)
    assert tuple(data.train.x.shape[1:]) == (8, 2, 48, 48)
    # both polarities arrive (the written events are ~half ON, half OFF), one channel each
    x = data.test.x[0]
    assert float(x[:, 0].sum()) > 0 and float(x[:, 1].sum()) > 0
    clear_caches()
