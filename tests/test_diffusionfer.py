"""DiffusionFER loader and the image-to-events conversion, on fake trees of the published layout.

The tree (written here): ``DiffusionFER/DiffusionEmotion_S{,_cropped}/<expression>/<file>.png``
and ``DiffusionEmotion_S/dataset_sheet.csv`` with the published columns ``subDirectory_filePath,
expression, valence, arousal`` (codes 0..6 = neutral, happy, sad, surprise, fear, disgust,
angry). Expected values are worked out from that format or from the conversion's definition.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from datasets.base import DatasetError, DatasetNotFoundError
from datasets.conversion.image_events import (
    ImageConversionError,
    SaccadeParams,
    convert_images,
    image_to_events,
    render_saccades,
    saccade_path,
)
from datasets.loaders.diffusionfer import (
    DIFFUSIONFER_CLASSES,
    DiffusionFERDataset,
    stratified_folds,
)
from datasets.registry import open_dataset

SMALL = {"size": 16, "amplitude_px": 2.0, "frames_per_saccade": 4}
PER_CLASS = 3


def _face(rng: np.random.Generator, size: int = 40):
    from PIL import Image

    img = np.full((size, size), 90, np.uint8)
    y0, x0 = rng.integers(6, 14, size=2)
    img[y0:y0 + 18, x0:x0 + 14] = 200  # a bright "face" with a dark "mouth"
    img[y0 + 12:y0 + 15, x0 + 4:x0 + 10] = 30
    return Image.fromarray(img)


def make_tree(root: Path, *, rows=None, seed: int = 0) -> Path:
    """A DiffusionFER tree with PER_CLASS images per expression in both variants; returns the
    sheet path. ``rows`` overrides the sheet rows (list of dicts)."""
    rng = np.random.default_rng(seed)
    base = root / "DiffusionFER"
    default_rows = []
    for code, expr in enumerate(DIFFUSIONFER_CLASSES):
        for j in range(PER_CLASS):
            name = f"{expr}_{j:03d}.png"
            img = _face(rng)
            for variant in ("DiffusionEmotion_S", "DiffusionEmotion_S_cropped"):
                (base / variant / expr).mkdir(parents=True, exist_ok=True)
                img.save(base / variant / expr / name)
            default_rows.append({"subDirectory_filePath": f"DiffusionEmotion_S_cropped/{expr}/{name}",
                                 "expression": code, "valence": round(0.9 - 0.25 * code, 3),
                                 "arousal": round(-0.5 + 0.1 * j, 3)})
    sheet = base / "DiffusionEmotion_S" / "dataset_sheet.csv"
    with open(sheet, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["subDirectory_filePath", "expression", "valence", "arousal"])
        w.writeheader()
        w.writerows(default_rows if rows is None else rows)
    return sheet


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dfer")
    make_tree(root)
    return root


def h5_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.h5"))}


# -- the loader --------------------------------------------------------------------------------


def test_index_labels_values_and_variants(tree):
    n = 7 * PER_CLASS
    with open(tree / "DiffusionFER" / "DiffusionEmotion_S" / "dataset_sheet.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for variant, folder in (("cropped", "DiffusionEmotion_S_cropped"), ("original", "DiffusionEmotion_S")):
        ds = DiffusionFERDataset(tree, variant=variant)
        assert len(ds) == n and ds.classes[0] == "neutral" and ds.classes[6] == "angry"
        for s, row in zip(ds.sequences, rows, strict=True):
            expr, name = row["subDirectory_filePath"].split("/")[1:]
            assert DIFFUSIONFER_CLASSES[s.label] == expr and s.label == int(row["expression"])
            assert s.extra["valence"] == float(row["valence"])
            assert s.extra["arousal"] == float(row["arousal"])
            assert Path(s.extra["image"]) == tree / "DiffusionFER" / folder / expr / name
        assert ds.has_identities is False and "valence_arousal" in ds.provides
    # the registry finds it by name and by its upstream name
    assert type(open_dataset("DiffusionFER", tree, saccade=SMALL, progress=False)) is DiffusionFERDataset


def test_every_problem_is_reported_at_once(tmp_path):
    sheet = make_tree(tmp_path)
    with open(sheet, newline="") as f:
        rows = list(csv.DictReader(f))
    rows[1]["valence"] = "1.5"  # line 3: out of range
    rows[2]["arousal"] = "high"  # line 4: not a number
    rows[3]["expression"] = "9"  # line 5: unknown code
    rows[4]["expression"] = "0"  # line 6: disagrees with its folder (happy)
    rows[5]["subDirectory_filePath"] = "DiffusionEmotion_S_cropped/happy/missing.png"  # line 7
    # ... and happy_002.png, which line 7 named before, now has no row
    rows.append(dict(rows[0]))  # line 23: a duplicate of line 2
    removed = rows.pop(10)["subDirectory_filePath"].split("/")[-1]  # its image has no row now
    make_tree(tmp_path, rows=rows)
    with pytest.raises(DatasetError) as err:
        DiffusionFERDataset(tmp_path)
    msg = str(err.value)
    assert "8 problem(s)" in msg
    for fragment in ("line 3: field 'valence' = '1.5'", "line 4: field 'arousal' = 'high'",
                     "line 5: field 'expression' = '9'", "line 6: field 'expression' = 0 (neutral) "
                     "disagrees with the folder 'happy'", "line 7: image "
                     "'DiffusionEmotion_S_cropped/happy/missing.png' not found",
                     "already listed on line 2", f"{removed}: image without a row",
                     "happy_002.png: image without a row"):
        assert fragment in msg, fragment


def test_missing_tree_column_and_sheet(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="huggingface.co/datasets/FER-Universe"):
        DiffusionFERDataset(tmp_path)
    sheet = make_tree(tmp_path)
    text = sheet.read_text().replace("arousal", "aro", 1)
    sheet.write_text(text)
    with pytest.raises(DatasetError, match=r"line 1: missing column\(s\) \['arousal'\]"):
        DiffusionFERDataset(tmp_path)
    sheet.unlink()
    with pytest.raises(DatasetNotFoundError, match="dataset_sheet.csv not found"):
        DiffusionFERDataset(tmp_path)


def test_stratified_folds_partition_and_balance(tree):
    ds = DiffusionFERDataset(tree, k=3)
    seen = []
    for fold in range(3):
        train, test = ds.split(fold)
        assert not set(train) & set(test) and len(train) + len(test) == len(ds)
        # 3 images per class over 3 folds: one of each class per test fold
        assert Counter(ds.sequences[i].label for i in test) == {c: 1 for c in range(7)}
        seen += test
    assert sorted(seen) == list(range(len(ds)))
    with pytest.raises(ValueError, match="protocol 'subject' needs identities"):
        ds.split(0, "subject")
    # round-robin across classes: 10 + 4 labels in 4 folds -> sizes 4, 4, 3, 3
    folds = stratified_folds([0] * 10 + [1] * 4, 4, seed=1)
    assert sorted(Counter(folds).values()) == [3, 3, 4, 4]
    assert stratified_folds([0] * 10 + [1] * 4, 4, seed=1) == folds


def test_elim_refuses_a_dataset_without_identities(tree):
    from benchmarks.runner.methods import check_task_data

    ds = DiffusionFERDataset(tree)
    with pytest.raises(ValueError, match="expression folder"):
        check_task_data(ds, "va_regression", "elim")
    check_task_data(ds, "va_regression", "baseline")  # fine


# -- images to events --------------------------------------------------------------------------


def test_saccade_path_is_the_triangle():
    p = SaccadeParams(amplitude_px=4.0, frames_per_saccade=4)
    path = saccade_path(p)
    assert path.shape == (13, 2)
    # rest at P0, then P1 = (A/2, A), P2 = (A, 0), back to P0 at the end of each leg
    np.testing.assert_allclose(path[[0, 4, 8, 12]], [[0, 0], [2, 4], [4, 0], [0, 0]])
    np.testing.assert_allclose(path[2], [1, 2])  # half way along the first leg
    assert p.fps == pytest.approx(40.0) and p.duration_us == 300_000


def test_static_uniform_image_gives_no_events_and_edges_do():
    p = SaccadeParams(**SMALL)
    flat = np.full((16, 16), 0.5, np.float32)
    assert len(image_to_events(flat, p, seed=0)) == 0  # moving a uniform image changes nothing
    img = np.zeros((16, 16), np.float32)
    img[:, 8:] = 0.9  # a vertical edge
    frames = render_saccades(img, p)
    assert frames.dtype == np.uint8 and frames.shape == (13, 16, 16)
    ev = image_to_events(img, p, seed=0)
    assert len(ev) > 0 and ev["t"].max() <= p.duration_us
    assert set(np.unique(ev["p"])) == {0, 1}  # the edge moves right and back: ON and OFF
    assert np.all(np.abs(ev["x"].astype(int) - 8) <= 3)  # only around the edge (A = 2 px)


def test_conversion_is_deterministic_cached_and_seeded(tree, tmp_path):
    ds = DiffusionFERDataset.open(tree, saccade=SMALL, progress=False)
    folder = ds.event_dir
    first = h5_hashes(folder)
    assert len(first) == len(ds) and ds.sensor_size == (16, 16, 2)
    ev = ds.load_events(0)
    assert ev["x"].max() < 16 and ev["y"].max() < 16
    mtimes = {p: p.stat().st_mtime_ns for p in folder.rglob("*.h5")}
    again = DiffusionFERDataset.open(tree, saccade=SMALL, progress=False)  # cached: nothing written
    assert again.event_dir == folder
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.h5")} == mtimes
    # the same conversion elsewhere gives the same bytes; another seed other bytes
    items = [(f"{DIFFUSIONFER_CLASSES[s.label]}/{s.sequence}", s.extra["image"]) for s in ds.sequences]
    convert_images(items, tmp_path / "a", SaccadeParams(**SMALL), seed=0, progress=False)
    assert h5_hashes(tmp_path / "a") == first
    convert_images(items, tmp_path / "b", SaccadeParams(**SMALL), seed=1, progress=False)
    other = h5_hashes(tmp_path / "b")
    assert sum(other[k] != first[k] for k in first) > len(first) // 2
    manifest = json.loads((tmp_path / "b" / "conversion.json").read_text())
    assert manifest["seed"] == 1 and manifest["params"]["size"] == 16
    with pytest.raises(ImageConversionError, match="other parameters"):
        convert_images(items, tmp_path / "b", SaccadeParams(**{**SMALL, "size": 20}), seed=1,
                       progress=False)


def test_intensity_tensor_for_two_input_architectures(tree):
    ds = DiffusionFERDataset(tree)
    f = ds.intensity_tensor(0, (12, 12))
    assert tuple(f.shape) == (2, 1, 12, 12) and float(f.min()) >= 0 and float(f.max()) <= 1
    assert bool((f[0] == f[1]).all())


def test_a_va_cell_trains_on_diffusionfer(tree):
    """The event pipeline and a backend run on DiffusionFER's converted events (one epoch)."""
    torch = pytest.importorskip("torch")
    from backends.base import get_backend
    from backends.specs import get_arch
    from benchmarks.results.spec import Cell, Recipe
    from benchmarks.runner.data import clear_caches, load_cell_data
    from benchmarks.runner.methods import task_outputs
    from benchmarks.runner.training import train

    DiffusionFERDataset.open(tree, progress=False)  # default conversion (64 px), cached
    clear_caches()
    cell = Cell(dataset="diffusionfer", backend="ann", arch="tiny",
                recipe=Recipe(task="va_regression", method="baseline", epochs=1, batch_size=4,
                              codecarbon=False))
    data = load_cell_data(cell, get_arch("tiny"), tree)
    backend = get_backend("ann")
    model = backend.build(get_arch("tiny"), tuple(data.train.x.shape[1:]), task_outputs("va_regression", 7))
    out = train(backend, model, data, cell, progress=False)
    assert out["selection_metric"] == "va_ccc_mean" and len(out["history"]) == 1
    assert np.isfinite(out["history"][0]["train_loss"])
    clear_caches()
    del torch


@pytest.mark.slow
def test_diffusionfer_runs_end_to_end_in_a_grid(tree, tmp_path):
    """The published layout, end to end: the dataset check, image-to-events, a VA cell through
    the runner (record with VA metrics and per-sample predictions), and validation."""
    from benchmarks.results.records import read_records
    from benchmarks.results.spec import Recipe
    from benchmarks.results.validate import validate_run
    from benchmarks.runner.grid import Grid, run_grid

    grid = Grid(name="dfer", datasets=("DiffusionFER",), backends=("ann",), archs=("tiny",),
                recipe=Recipe(task="va_regression", method="baseline", optimizer="adam",
                              lr=1e-3, epochs=1, batch_size=4, latency_runs=2, warmup_runs=1,
                              throughput_batch_size=2, codecarbon=False))
    summary = run_grid(grid, tmp_path / "run", tree, progress=False)
    (rec,) = read_records(tmp_path / "run")
    assert rec["status"] == "ok", rec["error"]
    assert len(summary.done) == 1 and rec["cell"]["dataset"] == "diffusionfer"
    assert {"va_rmse_valence", "va_ccc_arousal", "va_sagr_valence"} <= set(rec["metrics"])
    assert validate_run(tmp_path / "run") == []
