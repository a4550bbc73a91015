"""Tests of datasets/folds.py, datasets/loaders/ferdvs.py and datasets/registry.py.

The real Spiking-FER fold files are read from ../shared/real (beside the checkout); the tests that
need them skip when it is absent. Every expected value is derived independently of the code under
test: from the published files via the csv module, or by hand.
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from datasets.base import DatasetError, DatasetNotFoundError, register_dataset
from datasets.folds import (
    FoldRow,
    format_folds_csv,
    parse_folds_csv,
    read_folds_csv,
    subject_folds,
    validation_split,
    write_folds_csv,
)
from datasets.io.events import make_events, write_v2e_h5
from datasets.loaders.ferdvs import (
    ADFESDVS,
    FERDVS_DATASETS,
    MMIDVS,
    CKPlusDVS,
    MissingEventFilesError,
)
from datasets.registry import (
    UnknownDatasetError,
    dataset_class,
    dataset_names,
    open_dataset,
)

REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
FOLDS_DIR = REAL / "spiking-fer-folds"
needs_real = pytest.mark.skipif(
    not FOLDS_DIR.is_dir(),
    reason=f"real Spiking-FER fold files not found at {FOLDS_DIR} (../shared/real beside the "
    "checkout; CI has it)",
)

# rows / subjects per dataset: from shared/real/README.md (counted from the published files)
REAL_COUNTS = {"CKPlusDVS": (357, 99), "ADFESDVS": (131, 22), "CASIADVS": (478, 80),
               "MMIDVS": (207, 31)}


def independent_parse(path: Path) -> list[list[str]]:
    """The published file parsed with the csv module (separator ';', no header)."""
    with open(path, newline="") as f:
        return [row for row in csv.reader(f, delimiter=";")]


# -- folds.csv: the real files -------------------------------------------------------------


@needs_real
@pytest.mark.parametrize("folder", sorted(REAL_COUNTS))
def test_real_fold_files(folder):
    path = FOLDS_DIR / folder / "folds.csv"
    rows = read_folds_csv(path, n_classes=6)
    ref = independent_parse(path)
    n_rows, n_subjects = REAL_COUNTS[folder]
    assert len(rows) == len(ref) == n_rows
    assert len({r.subject for r in rows}) == n_subjects
    assert all(len(r.test_folds) == 10 for r in rows)
    for r, q in zip(rows, ref, strict=True):
        assert (r.subject, r.sequence, r.label, r.class_index) == (q[0], q[1], int(q[2]), int(q[2]) - 1)
        assert len(r.sequence) == 3  # kept as written, e.g. "001"
    for k in range(10):
        expected = [i for i, q in enumerate(ref) if q[3 + k] == "1"]
        assert [i for i, r in enumerate(rows) if r.test_folds[k]] == expected


@needs_real
@pytest.mark.parametrize("folder", sorted(REAL_COUNTS))
def test_writer_reproduces_the_published_bytes(folder, tmp_path):
    path = FOLDS_DIR / folder / "folds.csv"
    out = write_folds_csv(tmp_path / "folds.csv", read_folds_csv(path))
    data = out.read_bytes()
    assert data == path.read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n") == REAL_COUNTS[folder][0]


@needs_real
def test_real_folds_are_not_subject_independent():
    # README: the upstream folds are random hold-outs; some subject has sequences on both sides
    rows = read_folds_csv(FOLDS_DIR / "CKPlusDVS" / "folds.csv")
    test_subjects = {r.subject for r in rows if r.test_folds[0]}
    train_subjects = {r.subject for r in rows if not r.test_folds[0]}
    assert test_subjects & train_subjects


# -- folds.csv: format and errors ----------------------------------------------------------

GOOD = "S001;001;1;0;1\r\nS001;002;6;1;0\r\nS002;001;3;0;1\r\n"


def test_parse_accepts_lf_and_trailing_blank_lines():
    a = parse_folds_csv(GOOD)
    b = parse_folds_csv(GOOD.replace("\r\n", "\n") + "\n\n")
    assert [(r.subject, r.sequence, r.label, r.test_folds) for r in a] == \
           [(r.subject, r.sequence, r.label, r.test_folds) for r in b]
    assert a[1] == FoldRow("S001", "002", 6, (True, False), 2)


@pytest.mark.parametrize(
    "bad_line, fragment",
    [
        ("S002;002;x;0;1", "field 'label' must be an integer, got 'x'"),
        ("S002;002;7;0;1", "field 'label' = 7 is out of range (expected 1..6)"),
        ("S002;002;0;0;1", "field 'label' = 0 is out of range"),
        ("S002;002;2;0;2", "field 'fold1' must be 0 or 1, got '2'"),
        ("S002;002;2;0", "expected 5 fields"),
        ("S002;002;2;0;1;1", "expected 5 fields"),
        (";002;2;0;1", "field 'subject' is empty"),
        ("S002;;2;0;1", "field 'sequence' is empty"),
        ("S001;002;2;0;1", "duplicate (subject, sequence) = ('S001', '002') (first on line 2)"),
        ("", "blank line"),
    ],
)
def test_malformed_row_names_file_line_and_value(tmp_path, bad_line, fragment):
    lines = GOOD.split("\r\n")[:3]
    lines.insert(3, bad_line)  # becomes line 4
    path = tmp_path / "folds.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\nS003;001;1;1;0\r\n").encode())
    with pytest.raises(DatasetError) as e:
        read_folds_csv(path, n_classes=6)
    msg = str(e.value)
    assert str(path) in msg and "line 4" in msg and fragment in msg


def test_header_row_is_reported(tmp_path):
    path = tmp_path / "folds.csv"
    path.write_text("subject;sequence;label;fold0\r\nS001;001;1;0\r\n")
    with pytest.raises(DatasetError, match=r"line 1: field 'label' .* no header row"):
        read_folds_csv(path)


def test_empty_and_missing_fold_files(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"\r\n")
    with pytest.raises(DatasetError, match="empty.csv: the fold file is empty"):
        read_folds_csv(tmp_path / "empty.csv")
    with pytest.raises(DatasetError, match="cannot read"):
        read_folds_csv(tmp_path / "absent.csv")


def test_format_rejects_bad_rows():
    with pytest.raises(ValueError, match="contains"):
        format_folds_csv([FoldRow("S;1", "001", 1, (True,))])
    with pytest.raises(ValueError, match="2 fold flags, expected 1"):
        format_folds_csv([FoldRow("S1", "001", 1, (True,)), FoldRow("S1", "002", 1, (True, False))])
    assert format_folds_csv([FoldRow("S1", "001", 2, (False, True))]) == "S1;001;2;0;1\r\n"


# -- subject folds and validation split ------------------------------------------------------


@needs_real
@pytest.mark.parametrize("folder", sorted(REAL_COUNTS))
def test_subject_folds_on_real_subjects(folder):
    subjects = [r.subject for r in read_folds_csv(FOLDS_DIR / folder / "folds.csv")]
    counts = Counter(subjects)
    a = subject_folds(subjects, 10, seed=0)
    assert set(a) == set(counts) and set(a.values()) == set(range(10))
    load = Counter()
    for s, f in a.items():
        load[f] += counts[s]
    assert sum(load.values()) == len(subjects)
    # balanced: the spread of fold sizes is at most the largest subject's sequence count
    assert max(load.values()) - min(load.values()) <= max(counts.values())
    # deterministic and independent of the input order; another seed gives another assignment
    assert subject_folds(subjects[::-1], 10, seed=0) == a
    assert subject_folds(subjects, 10, seed=1) != a


def test_subject_folds_equal_counts_round_robin():
    subjects = [f"S{i:02d}" for i in range(23) for _ in range(3)]  # 23 subjects x 3 sequences
    a = subject_folds(subjects, 5, seed=3)
    sizes = sorted(Counter(a.values()).values())
    assert sizes == [4, 4, 5, 5, 5]  # 23 = 5 + 5 + 5 + 4 + 4


@pytest.mark.parametrize("k", [1, 0, 4])
def test_subject_folds_bad_k(k):
    with pytest.raises(ValueError, match="k"):
        subject_folds(["a", "b", "c"], k)


def test_validation_split_holds_out_whole_training_subjects():
    subject_of = {i: f"S{i // 4}" for i in range(40)}  # 10 subjects x 4 sequences
    train_idx = [i for i in range(40) if i // 4 not in (0, 1)]  # subjects S0, S1 are "test"
    subjects = [subject_of[i] for i in train_idx]  # aligned with train_idx
    train, val = validation_split(train_idx, subjects, fraction=0.25, seed=5)
    assert sorted(train + val) == train_idx and not set(train) & set(val)
    assert train == sorted(train) and val == sorted(val)  # order of train_idx kept
    val_subj = {subject_of[i] for i in val}
    assert not val_subj & {subject_of[i] for i in train}
    assert len(val_subj) == 2  # round(0.25 * 8 training subjects)
    assert not val_subj & {"S0", "S1"}  # never a test subject
    assert validation_split(train_idx, subjects, 0.25, 5) == (train, val)
    with pytest.raises(ValueError, match="fraction"):
        validation_split(train_idx, subjects, 1.0)
    with pytest.raises(ValueError, match="aligned"):
        validation_split(train_idx, list(subject_of.values()))
    with pytest.raises(ValueError, match=">= 2 training subjects"):
        validation_split([0, 1, 2], ["S0", "S0", "S0"])


# -- a FerDVS tree on disk ------------------------------------------------------------------


def write_tree(root: Path, folder: str, fold_file: Path, seed: int = 0) -> dict:
    """Copy the real fold file and write a small random v2e file per row; return the events."""
    d = root / folder
    d.mkdir(parents=True)
    shutil.copy(fold_file, d / "folds.csv")
    rng = np.random.default_rng(seed)
    written = {}
    for q in independent_parse(fold_file):
        n = int(rng.integers(5, 40))
        ev = make_events(np.sort(rng.integers(0, 500_000, n)), rng.integers(0, 200, n),
                         rng.integers(0, 200, n), rng.integers(0, 2, n))
        write_v2e_h5(d / q[0] / f"{q[1]}.h5", ev, compression=None)
        written[(q[0], q[1])] = ev
    return written


@pytest.fixture(scope="module")
def adfes_tree(tmp_path_factory):
    if not FOLDS_DIR.is_dir():
        pytest.skip(f"real Spiking-FER fold files not found at {FOLDS_DIR}")
    root = tmp_path_factory.mktemp("ferdvs")
    written = write_tree(root, "ADFESDVS", FOLDS_DIR / "ADFESDVS" / "folds.csv")
    return root, written


def test_ferdvs_tree_loads_with_the_published_splits(adfes_tree):
    root, written = adfes_tree
    ds = ADFESDVS(root)
    ref = independent_parse(FOLDS_DIR / "ADFESDVS" / "folds.csv")
    assert len(ds) == 131 and ds.n_folds == 10 and ds.num_classes == 6
    assert ds.sensor_size == (200, 200, 2)
    assert ds.classes == ("happy", "fear", "surprise", "anger", "disgust", "sadness")
    for s, q in zip(ds.sequences, ref, strict=True):
        assert (s.subject, s.sequence, s.label) == (q[0], q[1], int(q[2]) - 1)
        assert s.path == root / "ADFESDVS" / q[0] / f"{q[1]}.h5" and s.lighting is None
    for k in range(10):
        train, test = ds.split(k, "folds")
        assert test == [i for i, q in enumerate(ref) if q[3 + k] == "1"]
        assert train == [i for i, q in enumerate(ref) if q[3 + k] == "0"]
    for i in (0, 57, 130):
        s = ds.sequences[i]
        np.testing.assert_array_equal(ds.load_events(i)["t"], written[(s.subject, s.sequence)]["t"])


def test_subject_protocol_partitions_subjects(adfes_tree):
    root, _ = adfes_tree
    ds = ADFESDVS(root, subject_k=5, subject_seed=2)
    seen = []
    for k in range(5):
        train, test = ds.split(k, "subject")
        assert sorted(train + test) == list(range(len(ds)))
        test_subj = {ds.sequences[i].subject for i in test}
        assert test_subj and not test_subj & {ds.sequences[i].subject for i in train}
        seen += test
        tr, val = ds.validation_split(train, 0.2, seed=0)
        assert sorted(tr + val) == sorted(train) and not set(val) & set(test)
        assert not {ds.sequences[i].subject for i in val} & {ds.sequences[i].subject for i in tr}
    assert sorted(seen) == list(range(len(ds)))  # every sequence in exactly one test fold
    with pytest.raises(ValueError, match="fold must be in 0..4"):
        ds.split(5, "subject")
    with pytest.raises(ValueError, match="fold must be in 0..9"):
        ds.split(10, "folds")
    with pytest.raises(ValueError, match="unknown protocol 'loso'"):
        ds.split(0, "loso")


def test_missing_event_files_reported_all_at_once(tmp_path):
    if not FOLDS_DIR.is_dir():
        pytest.skip(f"real Spiking-FER fold files not found at {FOLDS_DIR}")
    write_tree(tmp_path, "MMIDVS", FOLDS_DIR / "MMIDVS" / "folds.csv")
    ref = independent_parse(FOLDS_DIR / "MMIDVS" / "folds.csv")
    gone = [(ref[i][0], ref[i][1]) for i in (3, 100, 206)]
    for sub, seq in gone:
        (tmp_path / "MMIDVS" / sub / f"{seq}.h5").unlink()
    with pytest.raises(MissingEventFilesError) as e:
        MMIDVS(tmp_path)
    assert isinstance(e.value, DatasetError)
    assert e.value.missing == gone
    msg = str(e.value)
    assert "3 of 207 event files" in msg
    assert all(f"{sub}/{seq}.h5" in msg for sub, seq in gone)
    assert len(MMIDVS(tmp_path, check_files=False)) == 207


def test_malformed_row_in_a_dataset_reports_its_line(tmp_path):
    d = tmp_path / "CKPlusDVS"
    d.mkdir()
    (d / "folds.csv").write_bytes(b"S005;001;5;0;0;0;1;1;0;0;1;0;0\r\nS010;001;9;0;1;0;1;0;0;1;0;0;1\r\n")
    with pytest.raises(DatasetError, match=r"folds.csv, line 2: field 'label' = 9 is out of range"):
        CKPlusDVS(tmp_path)


@pytest.mark.parametrize("cls", FERDVS_DATASETS)
def test_absent_dataset_says_where_it_looked_and_how_to_get_it(tmp_path, cls):
    with pytest.raises(DatasetNotFoundError) as e:
        cls(tmp_path)
    msg = str(e.value)
    assert str(tmp_path / cls.folder) in msg and "v2e" in msg and "run_bench.py convert" in msg
    (tmp_path / cls.folder).mkdir()
    with pytest.raises(DatasetNotFoundError, match="folds.csv"):
        cls(tmp_path)


# -- registry -----------------------------------------------------------------------------


def test_registry_names_and_unknown_names():
    assert set(dataset_names()) >= {"synthetic-fer-dvs", "ckplus-dvs", "adfes-dvs", "casia-dvs",
                                    "mmi-dvs"}
    assert dataset_class("casia-dvs").folder == "CASIADVS"
    with pytest.raises(UnknownDatasetError) as e:
        dataset_class("ckplus")
    msg = str(e.value)
    assert "did you mean 'ckplus-dvs'" in msg and "mmi-dvs" in msg and "synthetic-fer-dvs" in msg
    with pytest.raises(UnknownDatasetError, match="known:") as e:
        open_dataset("zzz", "/nonexistent")
    assert "did you mean" not in str(e.value)
    with pytest.raises(ValueError, match="already registered"):
        register_dataset(MMIDVS)


def test_open_dataset_real(adfes_tree, tmp_path):
    root, _ = adfes_tree
    ds = open_dataset("adfes-dvs", root, subject_k=4)
    assert isinstance(ds, ADFESDVS) and len(ds) == 131 and ds.subject_k == 4
    with pytest.raises(DatasetNotFoundError):
        open_dataset("mmi-dvs", tmp_path)
