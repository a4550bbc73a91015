"""Every registered dataset from Python as a torch Dataset (datasets/torch_dataset.py): events as
tonic's structured array where the dataset has events (tonic's transforms apply), its frames where
it ships frames (SEE's event frames, NEFER's TBR frames decoded into binary frames)."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.torch_dataset import TorchEventDataset, open_torch_dataset


def test_events_as_tonic_structured_arrays(tmp_path):
    import tonic
    from torch.utils.data import DataLoader

    from datasets.io.events import read_v2e_h5

    ds = open_torch_dataset("synthetic-fer-dvs-mini", tmp_path)
    assert len(ds) == 56 and ds.kind == "events"
    events, label, meta = ds[3]
    # the same events the file holds (read independently through the v2e reader)
    ref = read_v2e_h5(ds.dataset.sequences[3].path, ds.dataset.sensor_size)
    assert np.array_equal(events, ref) and events.dtype.names == ("t", "x", "y", "p")
    assert meta["subject"] == ds.dataset.sequences[3].subject and meta["index"] == 3
    assert meta["class_name"] == ds.classes[label] and "valence" in meta
    # tonic transforms apply unchanged: Downsample halves x and y (floor), ToFrame with one
    # frame of all the events counts each event once, at its pixel and polarity
    half = tonic.transforms.Downsample(spatial_factor=0.5)(events)
    assert np.array_equal(half["x"], events["x"] // 2) and np.array_equal(half["y"], events["y"] // 2)
    to_frame = tonic.transforms.ToFrame(sensor_size=ds.sensor_size, event_count=len(events))
    tds = TorchEventDataset(ds.dataset, transform=to_frame, target_transform=lambda y: y + 100)
    frames, label2, _ = tds[3]
    assert frames.shape == (1, 2, ds.sensor_size[1], ds.sensor_size[0]) and label2 == label + 100
    e = events[0]
    assert int(frames.sum()) == len(events) and frames[0, e["p"], e["y"], e["x"]] >= 1
    assert ds[-1][2]["index"] == 55
    with pytest.raises(IndexError):
        ds[56]
    batch = next(iter(DataLoader(tds, batch_size=2, collate_fn=list)))
    assert len(batch) == 2


def test_frames_of_see_and_nefer(tmp_path):
    import json

    from PIL import Image

    from datasets.loaders.nefer_fixture import synthetic_annotations, write_nefer_tree

    # a one-sequence SEE tree: 3 grey intensity frames, 3 RGB event frames of 12x8 pixels
    name = "1_001_man_24_Master_normal_angry_45_take000"
    for kind, mode, value in (("frame", "L", 50), ("event", "RGB", (200, 0, 30))):
        d = tmp_path / "see" / "SEE" / kind / "angry" / name
        d.mkdir(parents=True)
        for i in range(3):
            shape = (8, 12) if mode == "L" else (8, 12, 3)
            Image.fromarray(np.full(shape, value, np.uint8), mode).save(d / f"{i:05d}.jpg")
    (tmp_path / "see" / "SEE" / "emotion.json").write_text(json.dumps({"database": {name: {
        "subset": "training", "annotations": {"label": "angry", "segment": [0, 3]}}}}))
    see = open_torch_dataset("see", tmp_path / "see")
    frames, label, meta = see[0]
    assert see.kind == "frames" and frames.dtype == np.uint8 and frames.shape == (3, 8, 12, 3)
    assert np.array_equal(frames, see.dataset.load_frames(0)[1])  # the event frames
    assert meta["lighting"] == see.dataset.sequences[0].lighting and meta["subset"] in ("train",
                                                                                        "test")
    write_nefer_tree(tmp_path / "nefer", annotations=synthetic_annotations(["user_01", "user_02"],
                                                                           ["user_03"], 2))
    nefer = open_torch_dataset("NEFER", tmp_path / "nefer", label_set="reported")
    frames, label, meta = nefer[1]
    assert frames.shape == (51 * 8, 1, 24, 32) and frames.dtype == bool
    assert meta["split"] == "train" and meta["rgb_sequence"].startswith("GOPR")
    assert nefer.classes[label] == meta["emotion"] and len(nefer.classes) == 8
    assert nefer.sensor_size == (32, 24, 1)
