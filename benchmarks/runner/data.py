"""The data of one cell: a dataset's fold split into train / validation / test tensors, and the
training batches.

Events are binned once per (dataset, sequence, binning parameters) and cached in memory for the
process, so the cells of a grid that share a dataset and an input format (e.g. three backends of
the same architecture) bin each sequence once. The validation split is taken from the training
*subjects* (whole subjects held out, seeded by the fold so every backend sees the same split); the
test split is never used for model selection (except by the labelled legacy protocol).

Training batches (:meth:`CellData.train_batches`): without augmentation they are the cached
tensors, indexed in the caller's shuffle order (bit-identical to indexing ``train.x``). With
``recipe.augment`` the training recordings are decoded once per process into an
:class:`datasets.pipeline.EventStore` (never re-read from disk), and every sample is augmented
with the Spiking-FER EDAs by :class:`datasets.transforms.fused.FusedSpikingFer` (bit-identical to the
reference :func:`datasets.transforms.edas.spiking_fer_augmentations` for the same generator) with its
own generator ``make_rng(seed, epoch, i)``, in ``DataLoader`` workers or in the main process:
the batches are the same whatever the number of workers.

The samples are built by the dataset: :func:`sample_spec` says what the architecture takes
(its declared ``inputs``, ``n_time_bins``, ``input_size``, ``binarize`` and, for a dataset with
event streams, the binner of :func:`make_binner`) and
:meth:`datasets.base.EventDataset.split_tensors` returns each split's tensors (event streams
binned; NEFER's TBR frames, :meth:`datasets.loaders.nefer.NEFERDataset.event_input`; SEE's event
and intensity frames, :meth:`datasets.loaders.see.SEEDataset.sample_tensors`; intensity frames
for two-input architectures such as ``seen``), each sample cached in the process under the
dataset's :meth:`~datasets.base.EventDataset.sample_key`. An architecture the dataset cannot
feed is a ``ValueError`` (:meth:`~datasets.base.EventDataset.check_inputs`). The model's input
channels are the dataset's ``in_channels`` (the tensors' channel axis; checked there).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_FRAMES_CACHE: dict[tuple, Any] = {}
_DATASET_CACHE: dict[tuple, Any] = {}
_STORE_CACHE: dict[tuple, Any] = {}


def clear_caches() -> None:
    """Forget every cached dataset, binned tensor and decoded event stream of the process."""
    _FRAMES_CACHE.clear()
    _DATASET_CACHE.clear()
    _STORE_CACHE.clear()


def event_store(dataset):
    """The process's :class:`datasets.pipeline.EventStore` of ``dataset`` (one per dataset)."""
    from datasets.pipeline import EventStore

    key = (dataset.name, str(dataset.root))
    if key not in _STORE_CACHE:
        _STORE_CACHE[key] = EventStore(dataset)
    return _STORE_CACHE[key]


@dataclass
class Split:
    """Tensors of one split: ``x`` ``(N, T, C, H, W)`` float32 (``C`` the dataset's
    ``in_channels``), ``y`` ``(N,)`` int64, metadata; ``frames`` ``(N, 2, 1, H, W)`` float32
    intensity frames in [0, 1] for a two-input architecture (passed as
    ``forward(..., frames=...)``), else ``None``."""

    x: Any
    y: Any
    indices: list[int]
    lighting: list[str | None] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    frames: Any = None

    def dataset(self):
        """This split as a ``torch.utils.data.Dataset`` of its cached tensors
        (:class:`datasets.pipeline.FrameSplit`: ``[i] -> (x[i], y[i])``, or
        ``((x[i], frames[i]), y[i])`` with intensity frames), with subject and lighting metadata."""
        from datasets.pipeline import FrameSplit

        meta = [
            {"index": i, "subject": s, "lighting": g}
            for i, s, g in zip(self.indices, self.subjects or [None] * len(self.indices),
                               self.lighting or [None] * len(self.indices), strict=True)
        ]
        return FrameSplit(self.x, self.y, self.frames, meta)


@dataclass
class CellData:
    """Train/validation/test splits of a cell plus what training needs to augment samples.

    Attributes:
        train, val, test: the splits (tensors binned once, unaugmented).
        classes: class names (index = label).
        dataset: the opened dataset.
        binner: the evaluation transform (:class:`datasets.transforms.binning.ToFrames`), ``None`` for a
            frame dataset.
        augment: the reference augmentation pipeline (``events, rng -> frames``) or ``None``.
        train_transform: its fast, bit-identical form (:class:`datasets.transforms.fused.FusedSpikingFer`)
            used by :meth:`train_batches`, or ``None``.
        store: the decoded training recordings (:class:`datasets.pipeline.EventStore`) when
            augmenting, else ``None``.
    """

    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]
    dataset: Any = None
    binner: Any = None
    augment: Any = None
    train_transform: Any = None
    store: Any = None
    _loader: Any = field(default=None, init=False, repr=False, compare=False)
    _loader_key: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def train_dataset(self, seed: int = 0, epoch: int = 0):
        """The training split as a ``torch.utils.data.Dataset``: with augmentation an
        :class:`datasets.pipeline.EventSplit` (``[i] -> (frames, label)`` augmented with
        ``make_rng(seed, epoch, i)``), else :meth:`Split.dataset` of the cached tensors."""
        if self.train_transform is None:
            return self.train.dataset()
        from datasets.pipeline import EventSplit

        ds = self.dataset
        return EventSplit(
            store=self.store,
            indices=list(self.train.indices),
            labels=[int(v) for v in self.train.y],
            transform=self.train_transform,
            seed=int(seed),
            epoch=int(epoch),
            subjects=list(self.train.subjects),
            lighting=list(self.train.lighting),
            sequences=[ds.sequences[i].sequence for i in self.train.indices],
            classes=tuple(self.classes),
            sensor_size=tuple(ds.sensor_size),
        )

    def train_batches(
        self,
        order_rng,
        epoch: int,
        seed: int,
        batch_size: int,
        *,
        workers: int = 0,
        device: str = "cpu",
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """The training batches of epoch ``epoch``.

        The order is ``order_rng.permutation(n_train)``, drawn here, once, when this is called
        (not when iteration starts); batches are consecutive slices of it (the last one
        shorter). Without augmentation ``x`` is ``train.x[idx]``, bit-identical to today's
        ``batches(n, batch_size, rng)`` + ``train_batch``. With augmentation sample ``i``
        (position in the train split) is augmented with ``make_rng(seed, epoch, i)``: the same
        batches for any ``workers`` and any order.

        Args:
            order_rng: the caller's ``np.random.Generator`` for shuffling (it owns and
                checkpoints it).
            epoch: epoch number (>= 0), part of the augmentation seed.
            seed: the cell's seed (>= 0).
            batch_size: samples per batch.
            workers: ``DataLoader`` worker processes for the augmentation (0: in this process);
                persistent across epochs; ignored without augmentation.
            device: where ``x``, ``y`` and ``frames`` go (pinned, non-blocking copies on CUDA).

        Returns:
            An iterator of ``(idx, x, y, frames)``: ``idx`` ``(b,)`` int64 CPU tensor of
            positions in the train split, ``x`` ``(b, T, 2, H, W)`` float32, ``y`` ``(b,)``
            int64, ``frames`` ``(b, F, 1, H, W)`` float32 for a frame dataset, else ``None``.

        Raises:
            ValueError: negative ``epoch`` or ``seed``, ``batch_size <= 0``, ``workers < 0``.
        """
        if int(batch_size) <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if int(epoch) < 0 or int(seed) < 0:
            raise ValueError(f"epoch and seed must be >= 0, got epoch={epoch!r}, seed={seed!r}")
        if int(workers) < 0:
            raise ValueError(f"workers must be >= 0, got {workers!r}")
        order = order_rng.permutation(len(self.train.y))
        if self.train_transform is None:
            return self._cached_batches(order, int(batch_size), device)
        return self._augmented_batches(order, int(epoch), int(seed), int(batch_size),
                                       int(workers), device)

    def _cached_batches(self, order, batch_size: int, device: str):
        import torch

        for i in range(0, len(order), batch_size):
            idx = torch.from_numpy(order[i : i + batch_size])
            x = self.train.x[idx].to(device)
            y = self.train.y[idx].to(device)
            f = self.train.frames[idx].to(device) if self.train.frames is not None else None
            yield idx, x, y, f

    def _augmented_batches(self, order, epoch: int, seed: int, batch_size: int, workers: int,
                           device: str):
        from datasets.pipeline import TrainLoader

        key = (seed, batch_size, workers, str(device))
        if self._loader_key != key:
            self.close()
            self._loader = TrainLoader(self.train_dataset(seed), batch_size, workers=workers,
                                       device=device)
            self._loader_key = key
        for idx, x in self._loader.epoch(order, epoch):
            f = self.train.frames[idx].to(device) if self.train.frames is not None else None
            yield idx, x, self.train.y[idx].to(device), f

    def close(self) -> None:
        """Stop the ``DataLoader`` workers of :meth:`train_batches`, if any."""
        if self._loader is not None:
            self._loader.close()
        self._loader, self._loader_key = None, None


def open_dataset_cached(name: str, data_root: str | Path, **params: Any):
    """Open (and for the built-in dataset, generate) a dataset once per process and ``params``
    (constructor options such as NEFER's ``label_set``)."""
    from datasets.registry import open_dataset

    key = (name, str(Path(data_root).resolve()), tuple(sorted(params.items())))
    if key not in _DATASET_CACHE:
        _DATASET_CACHE[key] = open_dataset(name, data_root, **params)
    return _DATASET_CACHE[key]


def dataset_params(cell) -> dict[str, Any]:
    """Constructor options a cell's recipe asks of its dataset: ``label_set`` when set.

    Raises:
        ValueError: ``recipe.label_set`` for a dataset without label sets (its constructor has
            no ``label_set`` option).
    """
    import inspect

    from datasets.registry import dataset_class

    label_set = getattr(cell.recipe, "label_set", None)
    if label_set is None:
        return {}
    cls = dataset_class(cell.dataset)
    if "label_set" not in inspect.signature(cls.__init__).parameters:
        raise ValueError(f"recipe.label_set = {label_set!r}: dataset {cell.dataset!r} has a single "
                         "label set")
    return {"label_set": label_set}


def make_binner(dataset, arch, binarize: bool):
    """The event-to-tensor transform of an architecture: ``events -> (T, 2, H, W)`` float32."""
    from datasets.transforms.binning import ToFrames

    return ToFrames(
        sensor_size=tuple(dataset.sensor_size),
        n_time_bins=arch.n_time_bins,
        mode=getattr(arch, "binning_mode", "spiking_fer"),  # a native model's card may choose
        binarize=binarize or bool(getattr(arch, "binarize", False)),
        size=tuple(arch.input_size),
    )


def sample_spec(arch, name: str, binarize: bool, binner=None):
    """What ``arch`` (named ``name`` in errors) takes as one sample: a
    :class:`datasets.base.SampleSpec` of its declared inputs (:func:`backends.specs.arch_inputs`),
    ``n_time_bins``, ``input_size``, the recipe's ``binarize`` and the event binner
    (:func:`make_binner`, ``None`` for a dataset without event streams)."""
    from backends.specs import arch_inputs
    from datasets.base import SampleSpec

    return SampleSpec(arch=str(name), inputs=arch_inputs(arch),
                      n_time_bins=int(arch.n_time_bins), size=tuple(arch.input_size),
                      binarize=bool(binarize), binner=binner)


def _split(dataset, indices: list[int], spec, store=None) -> Split:
    import torch

    x, frames = dataset.split_tensors(indices, spec, cache=_FRAMES_CACHE, store=store)
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

    With ``recipe.augment`` the training recordings are decoded once into the process's
    :func:`event_store` of the dataset (kept in memory, shared by later cells of the same
    dataset; :func:`clear_caches` frees it) and the training split's cached tensors are binned
    from it: a training recording is read once per process, however many epochs and cells use
    it (validation and test recordings are read once each, for their cached tensors).

    Raises:
        DatasetNotFoundError: the dataset is absent under ``data_root``.
        ValueError: an unknown protocol or a fold out of range; an event-only architecture on a
            frame dataset or a two-input one on an event dataset; ``recipe.augment`` (event-stream
            augmentations) on a frame dataset.
    """
    from datasets.folds import validation_split

    dataset = open_dataset_cached(cell.dataset, data_root, **dataset_params(cell))
    streams = "events" in dataset.provides  # event streams, binned here by the arch's binner
    binner = make_binner(dataset, arch, cell.recipe.binarize) if streams else None
    spec = sample_spec(arch, getattr(arch, "name", cell.arch), cell.recipe.binarize, binner)
    dataset.check_inputs(spec)
    if cell.recipe.augment and not streams:
        raise ValueError(
            f"recipe.augment applies event-stream augmentations; dataset {cell.dataset!r} "
            "provides frames, set augment = false"
        )
    train_idx, test_idx = dataset.split(cell.fold, cell.protocol)
    subjects = [dataset.sequences[i].subject for i in train_idx]
    tr, va = validation_split(train_idx, subjects, cell.recipe.val_fraction, seed=cell.fold)
    augment = fused = store = None
    if cell.recipe.augment:
        from datasets.transforms.augment import FusedSpikingFer

        fused = FusedSpikingFer(
            sensor_size=tuple(dataset.sensor_size),
            n_time_bins=arch.n_time_bins,
            event_count=binner.event_count,
            size=tuple(arch.input_size),
        )
        augment = fused.reference()
        store = event_store(dataset)
        store.ensure(tr)  # each training recording decoded once per process, kept in memory
    log.info(
        "%s fold %d (%s): %d train, %d val, %d test sequences",
        cell.dataset, cell.fold, cell.protocol, len(tr), len(va), len(test_idx),
    )
    return CellData(
        train=_split(dataset, tr, spec, store),
        val=_split(dataset, va, spec, store),
        test=_split(dataset, test_idx, spec, store),
        classes=tuple(dataset.classes),
        dataset=dataset,
        binner=binner,
        augment=augment,
        train_transform=fused,
        store=store,
    )
