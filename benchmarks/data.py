"""The data of one cell: a dataset's fold split into train / validation / test tensors.

Events are binned once per (dataset, sequence, binning parameters) and cached in memory for the
process, so the cells of a grid that share a dataset and an input format (e.g. three backends of
the same architecture) bin each sequence once. The validation split is taken from the training
*subjects* (whole subjects held out, seeded by the fold so every backend sees the same split); the
test split is never used for model selection (except by the labelled legacy protocol).

Frame datasets (``provides == ("frames",)``, e.g. SEE, which ships 33 ms event-frame JPGs and
intensity frames, no event streams) feed two-input architectures (``arch_inputs(arch) ==
("events", "frames")``, e.g. ``seen``); see :func:`see_tensors` for how their samples are built.
An event-only architecture on a frame dataset, or a two-input one on an event dataset, is a
``ValueError``. Event datasets are loaded exactly as before (``Split.frames`` is ``None``).
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
    """Tensors of one split: ``x`` ``(N, T, 2, H, W)`` float32, ``y`` ``(N,)`` int64, metadata;
    ``frames`` ``(N, 2, 1, H, W)`` float32 intensity frames in [0, 1] for frame datasets (passed
    as ``forward(..., frames=...)``), ``None`` for event datasets."""

    x: Any
    y: Any
    indices: list[int]
    lighting: list[str | None] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    frames: Any = None


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


def _resize(a, size: tuple[int, int]) -> Any:
    """``(N, C, h, w)`` uint8 array -> ``(N, C, H, W)`` float32 in [0, 1], area interpolation."""
    import torch

    t = torch.from_numpy(a).float().div_(255.0)
    return torch.nn.functional.interpolate(t, size=tuple(size), mode="area")


def see_tensors(dataset, index: int, n_time_bins: int, size: tuple[int, int]) -> tuple[Any, Any]:
    """Event frames ``(T, 2, H, W)`` and intensity frames ``(2, 1, H, W)`` (float32, [0, 1]) of
    sequence ``index`` of a frame dataset (``dataset.load_frames(index) -> (intensity, events)``).

    Choices (reference: SEEN's ``code/Videodataset.py``, ``temporal_transforms.py``, ``train.py``,
    ``model_snn_cnn.py``):

    * Time: ``T`` frame indices evenly spaced over the segment, first and last included
      (``round(linspace(0, N - 1, T))``; repeated indices when ``N < T``, as the reference
      loop-pads short clips). The reference takes a *random* window of ``T`` consecutive frames
      (``TemporalRandomCrop(sample_duration)``), a training augmentation; a cached, deterministic
      sample needs one fixed choice, and evenly spaced frames cover the whole expression rather
      than an arbitrary 4 x 33 ms of it.
    * Intensity frames: the first and last of those same indices (the segment's first and last
      frame), as the reference's frame branch uses ``frame[:, :, 0]`` and ``frame[:, :, -1]`` of
      the clip it loaded with the event frames.
    * Size: resized to ``size`` (the arch's ``input_size``) with area interpolation (averaging,
      so downsizing a 346x260 crop does not alias sparse event pixels); the reference uses
      torchvision's bilinear ``Resize(90)``. Aspect ratio is not kept (SEE crops are near-square).
    * Channels: SEE does not document how polarity is drawn in its event JPGs and the reference
      feeds them as RGB. Colour event frames give channel 0 = red, channel 1 = blue (green is
      dropped; if polarity is drawn in red/blue, this separates it); grey event frames give the
      grey value in both channels. Values are scaled to [0, 1] (``/ 255``; the reference's
      ``ScaleValue(1)`` with its mean/std normalisation off).
    """
    import numpy as np

    intensity, events = dataset.load_frames(index)
    n = len(events)
    pick = np.rint(np.linspace(0, n - 1, n_time_bins)).astype(int)
    ev = events[pick]
    ev = ev[..., [0, 2]] if ev.ndim == 4 else np.repeat(ev[..., None], 2, axis=3)
    x = _resize(np.ascontiguousarray(ev.transpose(0, 3, 1, 2)), size)
    f = _resize(np.ascontiguousarray(intensity[[pick[0], pick[-1]]][:, None]), size)
    return x.contiguous(), f.contiguous()


def _see_sample(dataset, index: int, arch) -> tuple[Any, Any]:
    key = (dataset.name, str(dataset.root), index, "load_frames", arch.n_time_bins,
           tuple(arch.input_size))
    if key not in _FRAMES_CACHE:
        _FRAMES_CACHE[key] = see_tensors(dataset, index, arch.n_time_bins, tuple(arch.input_size))
    return _FRAMES_CACHE[key]


def _split(dataset, indices: list[int], binner, arch=None) -> Split:
    import torch

    frames = None
    if arch is not None:  # a frame dataset (see load_cell_data)
        pairs = [_see_sample(dataset, i, arch) for i in indices]
        h, w = arch.input_size
        x = torch.stack([p[0] for p in pairs]) if pairs else torch.zeros(0, arch.n_time_bins, 2, h, w)
        frames = torch.stack([p[1] for p in pairs]) if pairs else torch.zeros(0, 2, 1, h, w)
    else:
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
        frames=frames,
    )


def load_cell_data(cell, arch, data_root: str | Path) -> CellData:
    """Load, split and bin the data of ``cell`` for ``arch``.

    Raises:
        DatasetNotFoundError: the dataset is absent under ``data_root``.
        ValueError: an unknown protocol or a fold out of range; an event-only architecture on a
            frame dataset or a two-input one on an event dataset; ``recipe.augment`` (event-stream
            augmentations) on a frame dataset.
    """
    from backends.specs import arch_inputs
    from datasets.folds import validation_split

    dataset = open_dataset_cached(cell.dataset, data_root)
    frame_data = "frames" in dataset.provides
    wants_frames = "frames" in arch_inputs(arch)
    arch_name = getattr(arch, "name", cell.arch)
    if frame_data and not wants_frames:
        raise ValueError(
            f"architecture {arch_name!r} takes events only (inputs {arch_inputs(arch)}) but dataset "
            f"{cell.dataset!r} provides event and intensity frames, not event streams; use a "
            "two-input architecture such as 'seen'"
        )
    if wants_frames and not frame_data:
        raise ValueError(
            f"architecture {arch_name!r} takes events and intensity frames (inputs "
            f"{arch_inputs(arch)}) but dataset {cell.dataset!r} provides event streams only"
        )
    if frame_data and cell.recipe.augment:
        raise ValueError(
            f"recipe.augment applies event-stream augmentations; dataset {cell.dataset!r} "
            "provides frames, set augment = false"
        )
    train_idx, test_idx = dataset.split(cell.fold, cell.protocol)
    subjects = [dataset.sequences[i].subject for i in train_idx]
    tr, va = validation_split(train_idx, subjects, cell.recipe.val_fraction, seed=cell.fold)
    binner = None if frame_data else make_binner(dataset, arch, cell.recipe.binarize)
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
        train=_split(dataset, tr, binner, arch if frame_data else None),
        val=_split(dataset, va, binner, arch if frame_data else None),
        test=_split(dataset, test_idx, binner, arch if frame_data else None),
        classes=tuple(dataset.classes),
        dataset=dataset,
        binner=binner,
        augment=augment,
    )
