"""The SEE loader (datasets.loaders.see) on a tiny tree in the released layout, written here.

Layout and split-file format from SEEN's Dataset_Instructions.md: SEE/{frame,event}/<emotion>/
<sequence>/NNNNN.jpg (emotion folders as released, ``neutraL`` included) and emotion.json.
Expected values come from the tree this file writes (pixel values chosen per frame).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets.base import DatasetError, DatasetNotFoundError
from datasets.loaders.see import (
    MissingSequenceFoldersError,
    SEEDataset,
    SequenceNameError,
    parse_sequence_name,
)
from datasets.registry import dataset_names, open_dataset

W, H = 12, 8  # tiny frames (the real ones are DAVIS346 crops)
JPEG_TOL = 3  # a constant-colour JPEG decodes within a few grey levels

# name, subset, segment, event frames stored grey?
SEQS = [
    ("1_001_man_24_Master_normal_angry_45_take000", "training", [0, 3], False),
    ("2_001_man_24_Master_Overexposed_angry_50_take001", "testing", [1, 4], True),
    ("3_002_woman_30_Doctor_Low_neutraL_40_take000", "training", [0, 2], False),
    ("4_002_woman_30_Doctor_HDR_neutral_41_take001", "testing", [0, 2], False),
    ("5_003_man_19_undergraduate_normal_happiness_30_take000", "training", [0, 2], False),
    ("6_003_man_19_undergraduate_Low_happiness_33_take001", "testing", [0, 0], False),  # skipped
]
FOLDER = {"angry": "angry", "neutral": "neutraL", "happiness": "happiness"}


def _grey_value(seq_no: int, i: int) -> int:
    return 40 + 20 * seq_no + 10 * i


def _event_rgb(seq_no: int, i: int) -> tuple[int, int, int]:
    return (200, 20 + 10 * i, 30 * seq_no)


def _write_tree(root: Path, split_name: str = "emotion.json") -> Path:
    see = root / "SEE"
    database = {}
    for name, subset, seg, grey_events in SEQS:
        no = int(name.split("_")[0])
        emo = name.split("_")[6].lower()
        for kind in ("frame", "event"):
            d = see / kind / FOLDER[emo] / name
            d.mkdir(parents=True)
            for i in range(max(seg[1], 1) + 1):  # one frame more than the segment needs
                if kind == "frame":
                    img = Image.fromarray(np.full((H, W), _grey_value(no, i), np.uint8), "L")
                elif grey_events:
                    img = Image.fromarray(np.full((H, W), 100 + i, np.uint8), "L")
                else:
                    img = Image.fromarray(np.full((H, W, 3), _event_rgb(no, i), np.uint8), "RGB")
                img.save(d / f"{i:05d}.jpg", quality=95)
        database[name] = {"subset": subset, "annotations": {"label": emo, "segment": seg}}
    (see / split_name).write_text(json.dumps({"labels": ["angry", "happiness", "neutral"],
                                              "database": database}))
    return see


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    _write_tree(tmp_path)
    return tmp_path


def test_sequence_name_fields_and_lighting_mapping() -> None:
    p = parse_sequence_name("1_001_man_24_Master_normal_angry_45_take000")  # the instructions' example
    assert (p.number, p.subject, p.sex, p.age, p.degree) == (1, "001", "man", 24, "Master")
    assert (p.lighting, p.emotion, p.length, p.take, p.label) == ("normal", "angry", 45, 0, 0)
    for raw, canon in [("normal", "normal"), ("Overexposed", "overexposure"), ("Low", "low_light"),
                       ("HDR", "hdr"), ("hdr", "hdr"), ("OVEREXPOSED", "overexposure")]:
        assert parse_sequence_name(f"9_007_woman_30_Doctor_{raw}_fear_10_take002").lighting == canon
    q = parse_sequence_name("3_002_woman_30_Doctor_Low_neutraL_40_take011")
    assert (q.emotion, q.label, q.take) == ("neutral", 4, 11)
    with pytest.raises(SequenceNameError, match="'x_y'.*expected 9"):
        parse_sequence_name("x_y")
    with pytest.raises(SequenceNameError, match="field 'lighting' = 'dim'"):
        parse_sequence_name("1_001_man_24_Master_dim_angry_45_take000")
    with pytest.raises(SequenceNameError, match="field 'emotion' = 'joy'"):
        parse_sequence_name("1_001_man_24_Master_normal_joy_45_take000")
    with pytest.raises(SequenceNameError, match="field 'length' = '4x'"):
        parse_sequence_name("1_001_man_24_Master_normal_angry_4x_take000")


def test_index_metadata_and_fixed_split(tree: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="datasets.loaders.see"):
        ds = SEEDataset(tree)
    assert len(ds) == 5 and ds.skipped == [SEQS[5][0]]  # empty segment [0, 0] left out, logged
    assert any("empty segment" in m for m in caplog.messages)
    by_name = {s.sequence: s for s in ds.sequences}
    s = by_name[SEQS[1][0]]
    assert (s.subject, s.label, s.lighting) == ("001", 0, "overexposure")
    assert s.extra["subset"] == "test" and s.extra["segment"] == [1, 4]
    assert s.path == tree / "SEE" / "event" / "angry" / SEQS[1][0]
    n = by_name[SEQS[2][0]]  # emotion folder 'neutraL' found case-insensitively
    assert n.label == 4 and n.lighting == "low_light"
    assert n.path == tree / "SEE" / "event" / "neutraL" / SEQS[2][0]
    assert Path(n.extra["frame_dir"]) == tree / "SEE" / "frame" / "neutraL" / SEQS[2][0]
    train, test = ds.split(0, "fixed")
    names = [x.sequence for x in ds.sequences]
    assert [names[i] for i in train] == [SEQS[0][0], SEQS[2][0], SEQS[4][0]]
    assert [names[i] for i in test] == [SEQS[1][0], SEQS[3][0]]
    assert ds.split(0, "folds") == (train, test)  # the dataset's own split
    assert ds.n_folds == 1 and ds.subjects() == ["001", "002", "003"]
    with pytest.raises(ValueError, match="only fold 0"):
        ds.split(1, "fixed")
    with pytest.raises(ValueError, match="unknown protocol 'loso'"):
        ds.split(0, "loso")


def test_subject_protocol_keeps_subjects_apart(tree: Path) -> None:
    ds = SEEDataset(tree, subject_k=3)
    for fold in range(3):
        train, test = ds.split(fold, "subject")
        assert sorted(train + test) == list(range(len(ds)))
        assert not {ds.sequences[i].subject for i in train} & {ds.sequences[i].subject
                                                               for i in test}


def test_load_frames_shapes_dtypes_and_values(tree: Path) -> None:
    ds = SEEDataset(tree)
    i0 = next(i for i, s in enumerate(ds.sequences) if s.sequence == SEQS[0][0])
    intensity, events = ds.load_frames(i0)
    assert intensity.shape == (3, H, W) and intensity.dtype == np.uint8
    assert events.shape == (3, H, W, 3) and events.dtype == np.uint8  # RGB event frames
    for i in range(3):
        assert np.abs(intensity[i].astype(int) - _grey_value(1, i)).max() <= JPEG_TOL
        assert np.abs(events[i].astype(int) - np.array(_event_rgb(1, i))).max() <= JPEG_TOL
    i1 = next(i for i, s in enumerate(ds.sequences) if s.sequence == SEQS[1][0])
    intensity, events = ds.load_frames(i1)  # segment [1, 4): frames 00001..00003
    assert intensity.shape == (3, H, W) and events.shape == (3, H, W)  # grey event frames
    assert np.abs(intensity[0].astype(int) - _grey_value(2, 1)).max() <= JPEG_TOL
    assert np.abs(events[2].astype(int) - 103).max() <= JPEG_TOL
    with pytest.raises(NotImplementedError, match="load_frames"):
        ds.load_events(i0)


def test_missing_frames_error_or_skip(tree: Path, caplog) -> None:
    gone = tree / "SEE" / "event" / "angry" / SEQS[0][0] / "00001.jpg"
    gone.unlink()
    ds = SEEDataset(tree)
    i0 = next(i for i, s in enumerate(ds.sequences) if s.sequence == SEQS[0][0])
    with pytest.raises(DatasetError, match="1 frame files.*00001.jpg"):
        ds.load_frames(i0)
    skip = SEEDataset(tree, missing_frames="skip")
    with caplog.at_level(logging.WARNING, logger="datasets.loaders.see"):
        intensity, events = skip.load_frames(i0)
    assert intensity.shape[0] == events.shape[0] == 2  # index 1 dropped from both
    assert np.abs(intensity[1].astype(int) - _grey_value(1, 2)).max() <= JPEG_TOL
    assert any("00001.jpg" in m for m in caplog.messages)


def test_registry_opens_see(tree: Path) -> None:
    assert "see" in dataset_names()
    ds = open_dataset("see", tree)
    assert isinstance(ds, SEEDataset) and len(ds) == 5


def test_absent_dataset_names_path_and_source(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as exc:
        SEEDataset(tmp_path)
    assert str(tmp_path / "SEE") in str(exc.value) and "dluticcd.com" in str(exc.value)
    see = tmp_path / "SEE"
    (see / "frame").mkdir(parents=True)
    (see / "event").mkdir()
    with pytest.raises(DatasetNotFoundError, match="split file not found.*emotion.json"):
        SEEDataset(tmp_path)


def test_missing_sequence_folders_listed(tree: Path) -> None:
    d = tree / "SEE" / "frame" / "happiness" / SEQS[4][0]
    for f in d.iterdir():
        f.unlink()
    d.rmdir()
    with pytest.raises(MissingSequenceFoldersError) as exc:
        SEEDataset(tree)
    assert exc.value.missing == [d] and str(d) in str(exc.value)
    assert len(SEEDataset(tree, check_files=False)) == 5


def _edit_split(tree: Path, name: str, **changes) -> Path:
    path = tree / "SEE" / "emotion.json"
    data = json.loads(path.read_text())
    entry = data["database"][name]
    for key, value in changes.items():
        if key == "subset":
            entry["subset"] = value
        else:
            entry["annotations"][key] = value
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("changes, needle", [
    ({"subset": "validation"}, "field 'subset' = 'validation'"),
    ({"label": "joy"}, "field 'annotations.label' = 'joy'"),
    ({"label": "fear"}, "disagrees with the emotion field 'angry'"),
    ({"segment": [3, "x"]}, "field 'annotations.segment' = [3, 'x']"),
])
def test_malformed_split_file_names_file_sequence_field(tree: Path, changes, needle) -> None:
    path = _edit_split(tree, SEQS[0][0], **changes)
    with pytest.raises(DatasetError) as exc:
        SEEDataset(tree)
    msg = str(exc.value)
    assert str(path) in msg and SEQS[0][0] in msg and needle in msg


def test_bad_sequence_name_in_split_file(tree: Path) -> None:
    path = tree / "SEE" / "emotion.json"
    data = json.loads(path.read_text())
    data["database"]["not_a_see_name"] = {"subset": "training",
                                          "annotations": {"label": "angry", "segment": [0, 1]}}
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="'not_a_see_name'.*expected 9"):
        SEEDataset(tree)
    path.write_text("{broken")
    with pytest.raises(DatasetError, match="cannot read the split file"):
        SEEDataset(tree)
