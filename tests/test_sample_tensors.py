"""Datasets build their own samples (:meth:`datasets.base.EventDataset.split_tensors`), and the
runner's splits are exactly those tensors: event streams binned with the architecture's binner,
NEFER's TBR event tensors and RGB intensity frames; and every cell record (ok, error, died,
skipped) is written through the one writer, :func:`benchmarks.runner.executors.write_record`.

The expected tensors are built here independently of ``split_tensors``: from the dataset's
readers (``load_events``, ``event_tensor``, ``intensity_tensor``) and a
:class:`datasets.transforms.binning.ToFrames` made in the test.
"""

from __future__ import annotations

import pytest
import torch

from backends.specs import get_arch
from benchmarks.results.spec import Cell, Recipe
from benchmarks.runner.data import clear_caches, load_cell_data
from datasets.base import SampleSpec
from datasets.loaders.nefer import NEFERDataset
from datasets.loaders.nefer_fixture import synthetic_annotations, write_nefer_tree
from datasets.registry import open_dataset
from datasets.transforms.binning import ToFrames

MINI = "synthetic-fer-dvs-mini"


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    open_dataset(MINI, root)  # generated once for the module
    return root


@pytest.fixture(scope="module")
def nefer_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("nefer")
    write_nefer_tree(root, annotations=synthetic_annotations(["user_01", "user_02", "user_03"],
                                                             ["user_04"], 2))
    return root


def test_event_dataset_samples_are_its_events_binned_by_the_arch(mini_root):
    """An event dataset's split: each sample is ``ToFrames(sensor_size, T, size)`` of its
    events (tiny: 8 bins, 48 x 48, Spiking-FER binning, counts not binarized), labels in order."""
    clear_caches()
    arch = get_arch("tiny")
    data = load_cell_data(Cell(MINI, "ann", "tiny", recipe=Recipe(epochs=1)), arch, mini_root)
    ds = data.dataset
    binner = ToFrames(sensor_size=tuple(ds.sensor_size), n_time_bins=8, mode="spiking_fer",
                      binarize=False, size=(48, 48))
    for split in (data.train, data.val, data.test):
        want = torch.stack([torch.from_numpy(binner(ds.load_events(i))) for i in split.indices])
        assert split.x.dtype == torch.float32 and tuple(split.x.shape[1:]) == (8, 2, 48, 48)
        assert torch.equal(split.x, want)
        assert split.y.tolist() == [ds.sequences[i].label for i in split.indices]
        assert split.frames is None
    # the dataset method directly, with and without a cache, and an empty split
    spec = SampleSpec(arch="tiny", inputs=("events",), n_time_bins=8, size=(48, 48),
                      binner=binner)
    idx = data.test.indices[:3]
    cache: dict = {}
    x, frames = ds.split_tensors(idx, spec, cache=cache)
    assert torch.equal(x, data.test.x[:3]) and frames is None and len(cache) == 3
    assert torch.equal(ds.split_tensors(idx, spec)[0], x)
    empty, _ = ds.split_tensors([], spec)
    assert tuple(empty.shape) == (0, 8, 2, 48, 48)
    clear_caches()


def test_event_only_dataset_refuses_a_two_input_arch(mini_root):
    ds = open_dataset(MINI, mini_root)
    spec = SampleSpec(arch="seen", inputs=("events", "frames"), n_time_bins=4, size=(90, 90))
    with pytest.raises(ValueError, match=r"'seen' takes events and intensity frames.*"
                                         r"'synthetic-fer-dvs-mini' provides event streams only"):
        ds.split_tensors([0], spec)


def test_nefer_samples_are_its_tbr_event_tensors_and_rgb_intensity_frames(nefer_root):
    """NEFER (binary frames, 1 channel): ``x[i] = event_tensor(i, T, size, binarize)``; a
    two-input architecture also gets ``frames[i] = intensity_tensor(i, size)``."""
    clear_caches()
    ds = NEFERDataset(nefer_root)
    for arch_name, binarize in (("tiny", False), ("tiny", True), ("seen", False)):
        arch = get_arch(arch_name)
        cell = Cell("nefer", "ann", arch_name, protocol="official",
                    recipe=Recipe(epochs=1, binarize=binarize))
        data = load_cell_data(cell, arch, nefer_root)
        t, (h, w) = arch.n_time_bins, tuple(arch.input_size)
        for split in (data.train, data.test):
            want = torch.stack([ds.event_tensor(i, t, (h, w), binarize) for i in split.indices])
            assert tuple(split.x.shape[1:]) == (t, 1, h, w)
            assert torch.equal(split.x, want)
            if arch_name == "seen":
                frames = torch.stack([ds.intensity_tensor(i, (h, w)) for i in split.indices])
                assert torch.equal(split.frames, frames)
            else:
                assert split.frames is None
        if binarize:
            assert set(torch.unique(data.test.x).tolist()) <= {0.0, 1.0}
    clear_caches()


def test_sample_keys_tell_apart_what_changes_the_tensors(nefer_root, mini_root):
    nefer = NEFERDataset(nefer_root)
    a = SampleSpec(arch="tiny", inputs=("events",), n_time_bins=8, size=(48, 48))
    keys = {nefer.sample_key(0, a), nefer.sample_key(1, a),
            nefer.sample_key(0, SampleSpec("tiny", ("events",), 8, (48, 48), binarize=True)),
            nefer.sample_key(0, SampleSpec("tiny", ("events",), 4, (48, 48))),
            nefer.sample_key(0, SampleSpec("seen", ("events", "frames"), 8, (48, 48))),
            NEFERDataset(nefer_root, label_set="reported").sample_key(0, a)}
    assert len(keys) == 6
    mini = open_dataset(MINI, mini_root)
    b8 = ToFrames(sensor_size=tuple(mini.sensor_size), n_time_bins=8, size=(48, 48))
    b4 = ToFrames(sensor_size=tuple(mini.sensor_size), n_time_bins=4, size=(48, 48))
    assert (mini.sample_key(0, SampleSpec("tiny", ("events",), 8, (48, 48), binner=b8))
            != mini.sample_key(0, SampleSpec("tiny", ("events",), 4, (48, 48), binner=b4)))
