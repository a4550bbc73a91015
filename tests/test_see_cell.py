"""A ``seen`` cell in a grid on a small SEE-layout tree (benchmarks.runner.data / benchmarks.runner.cell feeding
SEE's event and intensity frames to a two-input architecture).

The tree (written here, layout of SEEN's Dataset_Instructions.md): 4 subjects x 7 emotions, 2
lightings, 12x10 JPGs, 8 frames per sequence, emotion.json with a training/testing split. The arch
is ``seen_test``, a narrow 16x16, T = 3 SEEN spec registered by this module.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import benchmarks.runner.data
from backends.specs import ARCHS, arch_inputs, get_arch, register_arch
from benchmarks.results.records import read_records
from benchmarks.runner.cell import Cell, Recipe
from benchmarks.runner.data import load_cell_data
from benchmarks.runner.grid import Grid, run_grid
from datasets.base import EventDataset, SampleSpec
from datasets.loaders.see import SEE_CLASSES, SEEDataset

W, H, N_FRAMES = 12, 10, 8
SUBJECTS = ("001", "002", "003", "004")
LIGHTINGS = ("normal", "Low")
FOLDER = {e: ("neutraL" if e == "neutral" else e) for e in SEE_CLASSES}
ARCH = "seen_test"

if ARCH not in ARCHS:  # guard against a second import of this module

    @register_arch(ARCH)
    def _seen_test():
        return dataclasses.replace(get_arch("seen"), name=ARCH, input_size=(16, 16),
                                   n_time_bins=3, channels=(8, 16, 16), hidden=12)


def _write_tree(root: Path) -> Path:
    """Write the tree; subject 004's sequences and every ``Low`` take of subject 003 are testing."""
    see = root / "SEE"
    rng = np.random.default_rng(0)
    database = {}
    no = 0
    for subj in SUBJECTS:
        for label, emo in enumerate(SEE_CLASSES):
            for light in LIGHTINGS:
                no += 1
                name = f"{no}_{subj}_man_24_Master_{light}_{FOLDER[emo]}_{N_FRAMES}_take00{no % 10}"
                test = subj == "004" or (subj == "003" and light == "Low")
                for kind in ("frame", "event"):
                    d = see / kind / FOLDER[emo] / name
                    d.mkdir(parents=True)
                    for i in range(N_FRAMES):
                        if kind == "frame":
                            a = np.full((H, W), 30 * label + 3 * i, np.uint8)
                            img = Image.fromarray(a, "L")
                        else:  # colour event frames: sparse red / blue pixels on black
                            a = np.zeros((H, W, 3), np.uint8)
                            a[..., 0] = (rng.random((H, W)) < 0.1 + 0.1 * label) * 255
                            a[..., 2] = (rng.random((H, W)) < 0.1) * 255
                            img = Image.fromarray(a, "RGB")
                        img.save(d / f"{i:05d}.jpg", quality=95)
                database[name] = {"subset": "testing" if test else "training",
                                  "annotations": {"label": FOLDER[emo], "segment": [0, N_FRAMES]}}
    path = see / "emotion.json"
    path.write_text(json.dumps({"labels": list(SEE_CLASSES), "database": database}))
    return path


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("see_cell")
    _write_tree(root)
    return root


def test_see_tensors_shapes_channels_and_time(tree: Path) -> None:
    ds = SEEDataset(tree)
    x, f = ds.sample_tensors(0, SampleSpec(arch=ARCH, inputs=("events", "frames"), n_time_bins=3,
                                           size=(16, 16)))
    assert x.shape == (3, 2, 16, 16) and x.dtype == torch.float32
    assert f.shape == (2, 1, 16, 16) and f.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    intensity, events = ds.load_frames(0)
    # first and last intensity frame (constant images): their grey values / 255
    want = torch.tensor([intensity[0].mean(), intensity[-1].mean()], dtype=torch.float32) / 255.0
    assert torch.allclose(f[:, 0].mean((1, 2)), want, atol=1e-4)
    # channel 0 = red, channel 1 = blue of the first and last event frames, area-resized
    for t, i in ((0, 0), (2, N_FRAMES - 1)):
        for c, rgb in ((0, 0), (1, 2)):
            src = torch.from_numpy(events[i, ..., rgb].astype(np.float32) / 255.0)[None, None]
            want = torch.nn.functional.interpolate(src, size=(16, 16), mode="area")[0, 0]
            assert torch.allclose(x[t, c], want, atol=1e-5)


def test_input_mismatch_is_a_clear_error(tree: Path, monkeypatch) -> None:
    cell = Cell(dataset="see", backend="ann", arch="tiny", protocol="fixed")
    with pytest.raises(ValueError, match=r"'tiny' takes events only.*'see' provides"):
        load_cell_data(cell, get_arch("tiny"), tree)

    class EventOnly(EventDataset):  # an event dataset: it provides event streams, no frames
        name = "synthetic-fer-dvs"
        classes = ("a", "b")
        sensor_size = (16, 16, 2)
        n_folds = 1

        def split(self, fold, protocol="folds"):
            return [0], [1]

    monkeypatch.setattr(benchmarks.runner.data, "open_dataset_cached", lambda name, root: EventOnly(root))
    assert arch_inputs(get_arch(ARCH)) == ("events", "frames")
    cell = Cell(dataset="synthetic-fer-dvs", backend="ann", arch=ARCH)
    with pytest.raises(ValueError, match=rf"'{ARCH}' takes events and intensity.*'synthetic-fer-dvs'"):
        load_cell_data(cell, get_arch(ARCH), tree)


def test_seen_cells_in_a_grid(tree: Path, tmp_path: Path) -> None:
    split = json.loads((tree / "SEE" / "emotion.json").read_text())["database"]
    n_test = sum(e["subset"] == "testing" for e in split.values())
    grid = Grid(
        name="see-test", datasets=("see",), backends=("snntorch", "ann", "lava-dl"), archs=(ARCH,),
        protocol="fixed",
        recipe=Recipe(epochs=1, batch_size=4, latency_runs=2, warmup_runs=1,
                      throughput_batch_size=2, codecarbon=False),
    )
    summary = run_grid(grid, tmp_path / "run", tree, progress=False)
    records = {r["cell"]["backend"]: r for r in read_records(tmp_path / "run")}
    assert set(records) == {"snntorch", "ann", "lava-dl"}
    for backend in ("snntorch", "ann"):
        r = records[backend]
        assert r["status"] == "ok", r.get("error")
        m = r["metrics"]
        assert m["n_test"] == n_test
        assert set(m["per_lighting_accuracy"]) == {"normal", "low_light"}
        assert m["throughput_samples_per_s"] > 0
    lava = records["lava-dl"]
    if lava["status"] != "skipped":  # lava-dl not installed: skipped by the grid
        from backends.adapters.lava_dl import SEEN_UNSUPPORTED

        assert lava["status"] == "error"
        assert lava["error"] == f"ValueError: {SEEN_UNSUPPORTED}"
    assert len(summary.done) == 2
