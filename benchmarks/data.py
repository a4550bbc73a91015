"""The data of one cell: a dataset's fold split into train / validation / test tensors.

Events are binned once per (dataset, sequence, binning parameters) and cached in memory for the
process, so the cells of a grid that share a dataset and an input format (e.g. three backends of
the same architecture) bin each sequence once. The validation split is taken from the training
*subjects* (whole subjects held out, seeded by the fold so every backend sees the same split); the
test split is never used for model selection (except by the labelled legacy protocol).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_FRAMES_CACHE: dict[tuple, Any] = {}
_DATASET_CACHE: dict[tuple, Any] = {}


@dataclass
class Split:
    """Tensors of one split: ``x`` ``(N, T, 2, H, W)`` float32, ``y`` ``(N,)`` int64, metadata."""

    x: Any
    y: Any
    indices: list[int]
    lighting: list[str | None] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)


@dataclass
class CellData:
    """Train/validation/test splits of a cell plus what training needs to augment samples."""

    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]
    dataset: Any = None
    binner: Any = None
    augment: Any = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def train_batch(self, idx, rng):
        """Training inputs ``(b, T, 2, H, W)`` for positions ``idx`` of the train split.

        Without augmentation these are the cached tensors; with it, each sample's events are
        re-loaded, augmented with the Spiking-FER EDAs (seeded by ``rng``) and re-binned.
        """
        if self.augment is None:
            return self.train.x[idx]
        import torch

        frames = []
        for i in idx:
            seq = self.train.indices[int(i)]
            events = self.dataset.load_events(seq)
            frames.append(torch.from_numpy(self.augment(events, rng)))
        return torch.stack(frames)


def open_dataset_cached(name: str, data_root: str | Path):
    """Open (and for the built-in dataset, generate) a dataset once per process."""
    from datasets.registry import open_dataset

    key = (name, str(Path(data_root).resolve()))
    if key not in _DATASET_CACHE:
        _DATASET_CACHE[key] = open_dataset(name, data_root)
    return _DATASET_CACHE[key]


def make_binner(dataset, arch, binarize: bool):
    """The event-to-tensor transform of an architecture: ``events -> (T, 2, H, W)`` float32."""
    from datasets.binning import ToFrames

    return ToFrames(
        sensor_size=tuple(dataset.sensor_size),
        n_time_bins=arch.n_time_bins,
        mode="spiking_fer",
        binarize=binarize,
        size=tuple(arch.input_size),
    )


def _frames(dataset, index: int, binner) -> Any:
    import torch

    key = (dataset.name, str(dataset.root), index, repr(binner))
    if key not in _FRAMES_CACHE:
        _FRAMES_CACHE[key] = torch.from_numpy(binner(dataset.load_events(index)))
    return _FRAMES_CACHE[key]


def _split(dataset, indices: list[int], binner) -> Split:
    import torch

    xs = [_frames(dataset, i, binner) for i in indices]
    shape = (0, binner.n_time_bins, 2, *binner.size)
    x = torch.stack(xs) if xs else torch.zeros(shape)
    y = torch.tensor([dataset.sequences[i].label for i in indices], dtype=torch.long)
    return Split(
        x=x,
        y=y,
        indices=list(indices),
        lighting=[dataset.sequences[i].lighting for i in indices],
        subjects=[dataset.sequences[i].subject for i in indices],
    )


def load_cell_data(cell, arch, data_root: str | Path) -> CellData:
    """Load, split and bin the data of ``cell`` for ``arch``.

    Raises:
        DatasetNotFoundError: the dataset is absent under ``data_root``.
        ValueError: an unknown protocol or a fold out of range.
    """
    from datasets.folds import validation_split

    dataset = open_dataset_cached(cell.dataset, data_root)
    train_idx, test_idx = dataset.split(cell.fold, cell.protocol)
    subjects = [dataset.sequences[i].subject for i in train_idx]
    tr, va = validation_split(train_idx, subjects, cell.recipe.val_fraction, seed=cell.fold)
    binner = make_binner(dataset, arch, cell.recipe.binarize)
    augment = None
    if cell.recipe.augment:
        from datasets.augment import spiking_fer_augmentations

        augment = spiking_fer_augmentations(
            sensor_size=tuple(dataset.sensor_size),
            n_time_bins=arch.n_time_bins,
            event_count=binner.event_count,
            size=tuple(arch.input_size),
        )
    log.info(
        "%s fold %d (%s): %d train, %d val, %d test sequences",
        cell.dataset, cell.fold, cell.protocol, len(tr), len(va), len(test_idx),
    )
    return CellData(
        train=_split(dataset, tr, binner),
        val=_split(dataset, va, binner),
        test=_split(dataset, test_idx, binner),
        classes=tuple(dataset.classes),
        dataset=dataset,
        binner=binner,
        augment=augment,
    )
