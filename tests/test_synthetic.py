"""Tests of datasets/loaders/synthetic/ (synthetic-fer-dvs) and its registry entry.

A tiny dataset (2 fold subjects x 7 classes x 2 takes + 1 held-out test subject x 7 classes x 1
take, at 24x24, 10 frames) is generated per module.
Expected values come from the file formats (parsed with the csv/json modules) or from the pixel
model's definition: a pixel whose intensity never changes emits no events without noise, so every
event there is noise; a clipped (saturated) pixel never changes.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import datasets.loaders.synthetic as syn
from datasets.base import LIGHTING_CONDITIONS, DatasetError, DatasetNotFoundError
from datasets.io.events import read_v2e_h5
from datasets.loaders.synthetic import (
    SYNTHETIC_CLASSES,
    SyntheticFerDVS,
    ensure_synthetic_fer_dvs,
    generate_synthetic_fer_dvs,
    illumination,
    make_spec,
    render_frames,
    simulate_events,
)
from datasets.registry import open_dataset

TINY = dict(n_subjects=2, takes=2, seed=7, size=24, n_frames=10, n_folds=2, test_subjects=1,
            test_takes=1)
N_SEQ = 2 * 7 * 2 + 1 * 7 * 1  # S001, S002: 14 sequences each; S003 (held out): 7


def tree_hashes(root: Path) -> dict[str, str]:
    d = root / "SyntheticFerDVS"
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def read_csv_rows(path: Path, **kw) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f, **kw))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth_a")
    assert generate_synthetic_fer_dvs(root, progress=False, **TINY) == root
    return root


# -- determinism and caching ------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tiny, tmp_path):
    a = tree_hashes(tiny)
    h5 = [k for k in a if k.endswith(".h5")]
    assert len(h5) == N_SEQ
    generate_synthetic_fer_dvs(tmp_path / "b", progress=False, **TINY)
    assert tree_hashes(tmp_path / "b") == a  # every h5, folds.csv, metadata.csv, manifest
    generate_synthetic_fer_dvs(tmp_path / "c", progress=False, **{**TINY, "seed": 8})
    c = tree_hashes(tmp_path / "c")
    assert all(c[k] != a[k] for k in h5)


def test_cached_generation_does_nothing(tiny, monkeypatch):
    d = tiny / "SyntheticFerDVS"
    mtimes = {p: p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()}

    def boom(*a, **k):
        raise AssertionError("generate_sequence must not run on a cached dataset")

    monkeypatch.setattr(syn.cache, "generate_sequence", boom)
    assert ensure_synthetic_fer_dvs(tiny, progress=False, **TINY) == tiny
    assert {p: p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()} == mtimes


def test_interrupted_generation_resumes(tiny, tmp_path, monkeypatch):
    root = tmp_path / "r"
    generate_synthetic_fer_dvs(root, progress=False, **TINY)
    d = root / "SyntheticFerDVS"
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["complete"] = False  # as left by an interrupted run
    (d / "manifest.json").write_text(json.dumps(manifest))
    (d / "metadata.csv").unlink()
    (d / "S001" / "003.h5").unlink()
    (d / "S002" / "014.h5").unlink()
    with pytest.raises(DatasetError, match="incomplete"):
        SyntheticFerDVS(root)
    calls = []
    original = syn.generate_sequence
    monkeypatch.setattr(syn.cache, "generate_sequence", lambda spec, *a: calls.append(spec) or original(spec, *a))
    generate_synthetic_fer_dvs(root, progress=False, **TINY)
    assert sorted((s.subject, s.sequence) for s in calls) == [("S001", "003"), ("S002", "014")]
    assert tree_hashes(root) == tree_hashes(tiny)


def test_other_parameters_restart_cleanly(tmp_path):
    generate_synthetic_fer_dvs(tmp_path, progress=False, **{**TINY, "n_subjects": 3})
    d = tmp_path / "SyntheticFerDVS"
    assert (d / "S004").is_dir()  # 3 fold subjects, then the held-out one
    assert len(list((d / "S003").iterdir())) == 14  # S003 a fold subject: 7 classes x 2 takes
    (d / "notes.txt").write_text("user file")
    generate_synthetic_fer_dvs(tmp_path, progress=False, **TINY)
    assert not (d / "S004").exists()  # previous generation removed
    assert len(list((d / "S003").iterdir())) == 7  # S003 now the held-out subject, 1 take
    assert (d / "notes.txt").read_text() == "user file"  # foreign files left alone
    assert len(read_csv_rows(d / "folds.csv", delimiter=";")) == N_SEQ


@pytest.mark.parametrize(
    "params, error, fragment",
    [
        ({"n_folds": 3, "n_subjects": 2}, ValueError, "exceeds n_subjects"),
        ({"size": 8}, ValueError, "size must be >= 16"),
        ({"size": 32.0}, ValueError, "must be an integer"),
    ],
)
def test_bad_parameters(tmp_path, params, error, fragment):
    with pytest.raises(error, match=fragment):
        generate_synthetic_fer_dvs(tmp_path, progress=False, **params)
    with pytest.raises(TypeError, match="unknown synthetic-fer-dvs parameter"):
        ensure_synthetic_fer_dvs(tmp_path, n_subject=3)


# -- the files ---------------------------------------------------------------------------------


def test_folds_file_balanced_and_subject_independent(tiny):
    rows = read_csv_rows(tiny / "SyntheticFerDVS" / "folds.csv", delimiter=";")
    raw = (tiny / "SyntheticFerDVS" / "folds.csv").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") == N_SEQ  # CRLF, no header
    assert all(len(r) == 3 + 2 for r in rows)
    # per class: 2 fold subjects x 2 takes + 1 held-out subject x 1 take
    assert Counter(int(r[2]) for r in rows) == {lab: 5 for lab in range(1, 8)}
    for r in rows:
        if r[0] == "S003":  # the held-out test subject: in the test split of both folds
            assert r[3:] == ["1", "1"]
        else:
            assert sum(int(f) for f in r[3:]) == 1  # each sequence in exactly one test fold
    for k in range(2):
        test_subj = {r[0] for r in rows if r[3 + k] == "1"}
        train_subj = {r[0] for r in rows if r[3 + k] == "0"}
        assert "S003" in test_subj and len(test_subj) == 2 and len(train_subj) == 1
        assert not test_subj & train_subj


def test_metadata_lighting_balanced_and_manifest(tiny):
    d = tiny / "SyntheticFerDVS"
    with open(d / "metadata.csv", newline="") as f:
        meta = list(csv.DictReader(f))
    assert len(meta) == N_SEQ
    assert set(m["lighting"] for m in meta) == set(LIGHTING_CONDITIONS)
    for label in range(1, 8):
        counts = Counter(m["lighting"] for m in meta if int(m["label"]) == label)
        full = [counts.get(c, 0) for c in LIGHTING_CONDITIONS]
        assert sum(full) == 5 and max(full) - min(full) <= 1
    for m in meta:
        assert SYNTHETIC_CLASSES[int(m["label"]) - 1] == m["class"]
        ev = read_v2e_h5(d / m["subject"] / f"{m['sequence']}.h5", (24, 24, 2))
        assert int(m["n_events"]) == ev.shape[0] > 0
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["params"] == TINY
    assert manifest["n_sequences"] == N_SEQ
    assert manifest["n_events"] == sum(int(m["n_events"]) for m in meta)
    assert manifest["generator_version"] == syn.GENERATOR_VERSION
    assert manifest["simulator"]["package"] == "eventcv"


def test_loader(tiny):
    ds = SyntheticFerDVS(tiny)
    assert len(ds) == N_SEQ and ds.sensor_size == (24, 24, 2) and ds.num_classes == 7
    assert ds.classes[:6] == ("happy", "fear", "surprise", "anger", "disgust", "sadness")
    assert ds.classes[6] == "neutral" and ds.n_folds == 2 and ds.subject_k == 2
    with open(tiny / "SyntheticFerDVS" / "metadata.csv", newline="") as f:
        lighting = {(m["subject"], m["sequence"]): m["lighting"] for m in csv.DictReader(f)}
    t_max = (TINY["n_frames"] - 1) / 30 * 1e6  # last frame time, µs
    for i, s in enumerate(ds.sequences):
        assert s.lighting == lighting[(s.subject, s.sequence)]
        ev = ds.load_events(i)
        assert ev["x"].max() < 24 and ev["y"].max() < 24
        assert set(np.unique(ev["p"])) <= {0, 1}
        assert 0 <= ev["t"].min() and ev["t"].max() <= t_max
    for protocol in ("folds", "subject"):
        train, test = ds.split(0, protocol)
        assert not {ds.sequences[i].subject for i in train} & {ds.sequences[i].subject for i in test}


def test_loader_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="generate_synthetic_fer_dvs"):
        SyntheticFerDVS(tmp_path)
    (tmp_path / "SyntheticFerDVS").mkdir()
    with pytest.raises(DatasetNotFoundError, match="manifest"):
        SyntheticFerDVS(tmp_path)


def test_open_dataset_generates(tiny, tmp_path):
    ds = open_dataset("synthetic-fer-dvs", tmp_path, subject_k=2, **TINY)
    assert isinstance(ds, SyntheticFerDVS) and len(ds) == N_SEQ
    assert tree_hashes(tmp_path) == tree_hashes(tiny)


# -- the rendering and the pixel model ----------------------------------------------------------


def spec(lighting: str, label: int = 2):
    return make_spec(3, 0, label, 0, takes=1, n_frames=12, lighting=lighting)


def test_polarity_and_time_units_of_the_conversion():
    n = 10
    up = np.stack([np.full((8, 8), 0.2 + 0.06 * i, np.float32) for i in range(n)])
    on = simulate_events(up, lighting="normal", seed=0)
    off = simulate_events(up[::-1].copy(), lighting="normal", seed=0)
    assert on.shape[0] > 0 and off.shape[0] > 0
    assert set(on["p"]) == {1} and set(off["p"]) == {0}  # brightening = ON = 1
    last_frame_us = (n - 1) / 30 * 1e6
    assert on["t"].max() <= last_frame_us and on["t"].max() > 0.8 * last_frame_us
    assert np.all(np.diff(on["t"]) >= 0)


def static_mask(frames: np.ndarray) -> np.ndarray:
    """Pixels whose intensity is the same in every frame."""
    return np.all(frames == frames[:1], axis=0)


def test_low_light_adds_shot_noise_where_nothing_moves():
    size, n = 32, 12
    for lighting in ("normal", "low_light"):
        s = spec(lighting)
        frames = render_frames(s, size, n)
        still = static_mask(frames)
        assert still.sum() > 100  # background far from the face
        ev = simulate_events(frames, lighting=lighting, seed=s.sim_seed)
        noise = int(still[ev["y"], ev["x"]].sum())
        if lighting == "normal":
            assert noise == 0  # no noise term: an unchanging pixel never fires
        else:
            # Poisson shot noise at syn.LOW_LIGHT_SHOT_NOISE_HZ per pixel over (n-1)/30 s
            expected = syn.LOW_LIGHT_SHOT_NOISE_HZ * still.sum() * (n - 1) / 30
            assert 0.5 * expected < noise < 1.5 * expected


def test_overexposure_clips_and_clipped_pixels_are_silent():
    size, n = 32, 12
    normal, over = spec("normal"), spec("overexposure")
    f_over = render_frames(over, size, n)
    f_norm = render_frames(normal, size, n)
    clipped = np.all(f_over == 1.0, axis=0)
    assert clipped.mean() > 0.2 and clipped.sum() > np.all(f_norm == 1.0, axis=0).sum()
    ev = simulate_events(f_over, lighting="overexposure", seed=over.sim_seed)
    assert ev.shape[0] > 0 and not clipped[ev["y"], ev["x"]].any()


def test_hdr_illumination_spans_the_drawn_range():
    hdr, normal = spec("hdr"), spec("normal")
    span = hdr.light[2]
    assert 5.0 <= span <= 7.0
    f_h, f_n = render_frames(hdr, 48, 12), render_frames(normal, 48, 12)
    assert (f_h == 1.0).any()  # the bright side clips
    # same scene, other illumination: the per-pixel ratio of linear light is the illumination
    # ratio, which spans 2^span corner to corner (less inside the image's unclipped part)
    lin_h, lin_n = syn.srgb_to_linear(f_h), syn.srgb_to_linear(f_n)
    ok = (f_h < 1.0) & (f_n < 1.0) & (lin_n > 1e-3)
    ratio = lin_h[ok] / lin_n[ok]
    assert ratio.max() / ratio.min() > 2 ** (0.5 * span)
    field = illumination("hdr", hdr.light, 48)
    # pixel centres reach r = +-(S-1)/(2S) along the ramp: extremes 2^(span (S-1)/S) apart
    assert field.max() / field.min() == pytest.approx(2 ** (span * 47 / 48), rel=1e-9)


def test_expression_reaches_apex_and_neutral_does_not_move():
    happy = make_spec(0, 0, 0, 0, takes=1, n_frames=20, lighting="normal")
    neutral = make_spec(0, 0, 6, 0, takes=1, n_frames=20, lighting="normal")
    assert not np.any(syn.expression_at(happy, 0)) and not np.any(syn.expression_at(neutral, 19))
    apex = syn.expression_at(happy, happy.apex_frame)
    assert apex[syn.AU_NAMES.index("mouth_corner")] > 0.3  # smile: corners up
    np.testing.assert_allclose(syn.expression_at(happy, 19), apex)  # held after the apex
    # without head motion or blink, neutral frames are identical over time
    still = replace(neutral, motion=(0.0,) * 9, blink_frame=-1)
    frames = syn.render_reflectance(still, 32, 20)
    assert np.array_equal(frames[0], frames[-1])
    moving = replace(happy, motion=(0.0,) * 9, blink_frame=-1)
    assert not np.array_equal(*syn.render_reflectance(moving, 32, 20)[[0, -1]])


def test_identity_differs_between_subjects_and_specs_are_deterministic():
    a = make_spec(0, 0, 1, 0, takes=2, n_frames=12)
    assert make_spec(0, 0, 1, 0, takes=2, n_frames=12) == a
    b = make_spec(0, 1, 1, 0, takes=2, n_frames=12)
    assert a.identity != b.identity and a.sequence == b.sequence == "003"
    with pytest.raises(ValueError, match="n_frames"):
        make_spec(0, 0, 0, 0, takes=1, n_frames=4)
    with pytest.raises(ValueError, match="unknown lighting"):
        make_spec(0, 0, 0, 0, takes=1, n_frames=12, lighting="dusk")


# -- the default dataset's structure (worked out from its parameters, without generating it) ---


def test_default_dataset_sizes_subjects_and_fold_0_split():
    params = syn.cache._params()
    assert params == {"n_subjects": 16, "takes": 2, "seed": 0, "size": 64, "n_frames": 24,
                      "n_folds": 4, "test_subjects": 36, "test_takes": 1}
    specs = syn.all_specs(params)
    # 16 fold subjects x 7 classes x 2 takes = 224, + 36 held-out subjects x 7 x 1 = 252
    assert len(specs) == 224 + 252 == 476
    subjects = Counter(s.subject for s in specs)
    assert len(subjects) == 52
    assert all(subjects[f"S{i:03d}"] == 14 for i in range(1, 17))
    assert all(subjects[f"S{i:03d}"] == 7 for i in range(17, 53))
    rows = syn.fold_rows(params, specs)
    for k in range(4):
        test = [r for r in rows if r.test_folds[k]]
        train = [r for r in rows if not r.test_folds[k]]
        # 16 fold subjects in 4 folds of 4, plus the 36 held out: 40 test subjects
        assert len({r.subject for r in test}) == 40 and len(test) == 4 * 14 + 36 * 7 == 308
        assert len({r.subject for r in train}) == 12 and len(train) == 12 * 14 == 168
        assert {f"S{i:03d}" for i in range(17, 53)} <= {r.subject for r in test}
    # each held-out subject: one sequence per class (ids 001..007), lighting balanced per class
    # over the 36 held-out subjects: (subject + class) % 4 takes each value 9 times
    held = [s for s in specs if s.subject_index >= 16]
    assert sorted({s.sequence for s in held}) == [f"{i:03d}" for i in range(1, 8)]
    for label in range(7):
        c = Counter(s.lighting for s in held if s.label == label)
        assert c == {g: 9 for g in LIGHTING_CONDITIONS}


def test_held_out_subjects_leave_the_fold_subjects_and_folds_unchanged():
    # the fold subjects' sequences and folds are those of a tree without held-out subjects
    # (generator 1.0): the specs and fold flags of S001..S016 are equal
    with_panel = syn.cache._params()
    without = syn.cache._params(test_subjects=0)
    a, b = syn.all_specs(with_panel), syn.all_specs(without)
    assert a[:224] == b and len(b) == 224
    assert syn.fold_rows(with_panel, a)[:224] == syn.fold_rows(without, b)
    # a held-out subject is a new identity: different from every fold subject's face
    faces = {s.identity for s in a[:224]}
    assert all(s.identity not in faces for s in a[224:])


def test_a_tree_of_generator_1_0_is_regenerated(tiny, tmp_path, monkeypatch):
    root = tmp_path / "old"
    generate_synthetic_fer_dvs(root, progress=False, **TINY)
    d = root / "SyntheticFerDVS"
    manifest = json.loads((d / "manifest.json").read_text())
    # as generator 1.0 wrote it: no held-out subjects, no test_* parameters
    manifest["generator_version"] = "1.0"
    manifest["params"] = {k: v for k, v in TINY.items() if not k.startswith("test_")}
    (d / "manifest.json").write_text(json.dumps(manifest))
    calls = []
    original = syn.generate_sequence
    monkeypatch.setattr(syn.cache, "generate_sequence",
                        lambda spec, *a: calls.append(spec) or original(spec, *a))
    generate_synthetic_fer_dvs(root, progress=False, **TINY)
    assert len(calls) == N_SEQ  # everything regenerated, nothing mixed with the old tree
    assert tree_hashes(root) == tree_hashes(tiny)
