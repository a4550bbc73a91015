"""The training data pipeline: event streams decoded once, a tonic-style ``Dataset`` per split,
and seeded batches that do not depend on the number of ``DataLoader`` workers.

* :class:`EventStore`: the decoded event streams of a dataset, in memory, as four contiguous
  columns per recording (``t`` int64 µs, ``x``, ``y`` int16, ``p`` int8: 13 bytes per event, the
  size of :data:`datasets.io.events.EVENTS_DTYPE`). Each recording is read and validated once
  (:meth:`datasets.base.EventDataset.load_events`) and never again in the process. Forked
  ``DataLoader`` workers share the columns copy-on-write: the arrays are only read, so their
  pages are never copied.
* :class:`EventSplit`: a split as a ``torch.utils.data.Dataset``: ``split[i] -> (frames,
  label)`` with an explicit ``transform(events, rng)``; the generator of sample ``i`` in epoch
  ``epoch`` is :func:`datasets.transforms.functional.common.make_rng` ``(seed, epoch, i)``, so a sample's
  augmentation depends on nothing else (not on the worker that makes it, nor on the order).
  ``split[(epoch, i)]`` names the epoch explicitly (what the loader's sampler sends workers).
  :meth:`EventSplit.metadata` gives subject, lighting, sequence.
* :class:`FrameSplit`: a split of cached tensors (evaluation, unaugmented training) as a
  ``Dataset``.
* :class:`TrainLoader`: the batches of one epoch in a given order through a ``DataLoader``
  (persistent workers, ``fork`` start, pinned memory and non-blocking copies on CUDA). Frames
  travel as uint8 (workers: bit-packed, :class:`PackBits`, 1/32 of float32's bytes) and are made
  float32 in the main process or on the device: the same values as the float32 transform.

The transform used for training is :class:`datasets.transforms.fused.FusedSpikingFer`, bit-identical to
the reference :func:`datasets.transforms.edas.spiking_fer_augmentations` for the same generator.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from datasets.io.events import EVENTS_DTYPE
from datasets.transforms.augment import Columns, FusedSpikingFer, make_rng

log = logging.getLogger(__name__)

PIPELINE_VERSION = 2
"""Version of the training data pipeline, recorded in every record (``provenance.pipeline``).
1: version 0.1.0 (numpy EDAs per sample in the main process, one random stream per cell shared by
shuffling and augmentation); 2: this module, since version 0.2.0 (decoded-once store, fused EDAs
bit-identical to the numpy reference, augmentation streams per (seed, epoch, sample), DataLoader
workers)."""


def pipeline_info(augment: bool, workers: int) -> dict[str, Any]:
    """The pipeline block of a record: implementation, version and worker count."""
    impl = ("datasets.pipeline + datasets.transforms.fused.FusedSpikingFer" if augment
            else "cached binned tensors (no augmentation)")
    return {"implementation": impl, "version": PIPELINE_VERSION, "workers": workers if augment else 0}


BYTES_PER_EVENT = EVENTS_DTYPE.itemsize
"""Bytes held per event by :class:`EventStore`: 8 (t) + 2 (x) + 2 (y) + 1 (p) = 13."""


# --------------------------------------------------------------------------------------------
# Decoded event streams
# --------------------------------------------------------------------------------------------


class EventStore:
    """Decoded event streams of ``dataset``, each read once (``dataset.load_events``).

    Args:
        dataset: an :class:`datasets.base.EventDataset` providing ``"events"``.

    Attributes:
        reads: how many recordings this store has decoded (each at most once).
    """

    def __init__(self, dataset: Any):
        self.dataset = dataset
        self._columns: dict[int, Columns] = {}
        self.reads = 0

    def ensure(self, indices: Sequence[int]) -> None:
        """Decode the recordings of ``indices`` that are not held yet.

        Raises:
            Whatever ``dataset.load_events`` raises for a bad file (it names the file).
        """
        for i in indices:
            self.add(int(i))

    def add(self, index: int, events: np.ndarray | None = None) -> Columns:
        """Hold recording ``index`` (decoded here unless ``events`` is given); return its columns."""
        if index not in self._columns:
            if events is None:
                events = self.dataset.load_events(index)
                self.reads += 1
            self._columns[index] = tuple(  # type: ignore[assignment]
                np.ascontiguousarray(events[f], dtype=EVENTS_DTYPE[f]) for f in "txyp"
            )
        return self._columns[index]

    def __contains__(self, index: object) -> bool:
        return index in self._columns

    def __len__(self) -> int:
        return len(self._columns)

    def __getitem__(self, index: int) -> Columns:
        """Columns ``(t, x, y, p)`` of recording ``index``, ``(N,)`` each.

        Raises:
            KeyError: the recording was not decoded (call :meth:`ensure` first).
        """
        try:
            return self._columns[int(index)]
        except KeyError:
            raise KeyError(
                f"recording {index} of {getattr(self.dataset, 'name', self.dataset)!r} is not in "
                "the event store; call ensure([...]) before reading it"
            ) from None

    def events(self, index: int) -> np.ndarray:
        """Recording ``index`` as a structured array of :data:`EVENTS_DTYPE` (a new array)."""
        cols = self[index]
        out = np.empty(cols[0].shape[0], dtype=EVENTS_DTYPE)
        for f, c in zip("txyp", cols, strict=True):
            out[f] = c
        return out

    @property
    def n_events(self) -> int:
        """Events held, all recordings together."""
        return sum(int(c[0].shape[0]) for c in self._columns.values())

    @property
    def nbytes(self) -> int:
        """Bytes of the held columns (``13 * n_events``)."""
        return sum(sum(int(a.nbytes) for a in c) for c in self._columns.values())


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------


@dataclass
class EventSplit(Dataset):
    """A split of event recordings, tonic-style: ``split[i] -> (frames, label)``.

    ``transform(events, rng)`` turns sample ``i``'s events (:data:`datasets.transforms.fused.Columns`)
    into frames with ``rng = make_rng(seed, epoch, i)``; without a transform the item is the
    events themselves (a structured array). ``split[(epoch, i)]`` uses that epoch instead of
    :attr:`epoch` (what :class:`TrainLoader` asks workers for, so that persistent workers need
    no state from the main process).

    Attributes:
        store: the decoded recordings (must hold every ``indices`` entry).
        indices: dataset sequence index of each sample.
        labels: class index of each sample.
        transform: ``(events, rng) -> frames`` or ``None``.
        seed, epoch: the generator key of the samples (see above).
        subjects, lighting, sequences: metadata per sample (may be empty).
        classes, sensor_size: of the dataset.

    Raises:
        ValueError: at construction, lists of different lengths.
    """

    store: EventStore
    indices: list[int]
    labels: list[int]
    transform: Callable[[Any, np.random.Generator], Any] | None = None
    seed: int = 0
    epoch: int = 0
    subjects: list[str] = field(default_factory=list)
    lighting: list[str | None] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)
    classes: tuple[str, ...] = ()
    sensor_size: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        self.indices = [int(i) for i in self.indices]
        self.labels = [int(v) for v in self.labels]
        n = len(self.indices)
        for name in ("labels", "subjects", "lighting", "sequences"):
            v = getattr(self, name)
            if v and len(v) != n:
                raise ValueError(f"{name} has {len(v)} entries, indices has {n}")

    def __len__(self) -> int:
        return len(self.indices)

    def _key(self, key) -> tuple[int, int]:
        if isinstance(key, tuple):
            epoch, i = key
        else:
            epoch, i = self.epoch, key
        i = int(i)
        if not 0 <= i < len(self.indices):
            raise IndexError(f"sample {i} out of range for a split of {len(self.indices)}")
        return int(epoch), i

    def __getitem__(self, key) -> tuple[Any, int]:
        """``(frames, label)`` of sample ``key`` (``i`` or ``(epoch, i)``)."""
        epoch, i = self._key(key)
        seq = self.indices[i]
        if self.transform is None:
            return self.store.events(seq), self.labels[i]
        return self.transform(self.store[seq], make_rng(self.seed, epoch, i)), self.labels[i]

    def metadata(self, i: int) -> dict[str, Any]:
        """``{"index", "label", "subject", "lighting", "sequence"}`` of sample ``i``."""
        return {
            "index": self.indices[i],
            "label": self.labels[i],
            "subject": self.subjects[i] if self.subjects else None,
            "lighting": self.lighting[i] if self.lighting else None,
            "sequence": self.sequences[i] if self.sequences else None,
        }

    def with_transform(self, transform) -> EventSplit:
        """A copy with another transform (the store is shared, not copied)."""
        return replace(self, transform=transform)


class FrameSplit(Dataset):
    """A split of cached tensors: ``split[i] -> (x[i], y[i])``, or ``((x[i], frames[i]), y[i])``
    when intensity frames are given (two-input architectures).

    Args:
        x: ``(N, T, 2, H, W)`` float32; y: ``(N,)`` int64; frames: ``(N, F, 1, H, W)`` or ``None``;
        metadata: one dict per sample (subject, lighting, ...), or ``None``.
    """

    def __init__(self, x, y, frames=None, metadata: list[dict] | None = None):
        if len(x) != len(y) or (frames is not None and len(frames) != len(y)):
            raise ValueError(
                f"x, y and frames must be equally long, got {len(x)}, {len(y)}, "
                f"{None if frames is None else len(frames)}"
            )
        self.x, self.y, self.frames = x, y, frames
        self._metadata = metadata or [{} for _ in range(len(y))]

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        if self.frames is None:
            return self.x[i], self.y[i]
        return (self.x[i], self.frames[i]), self.y[i]

    def metadata(self, i: int) -> dict:
        return dict(self._metadata[i])


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


class EpochBatchSampler(Sampler):
    """Batches of ``(epoch, i)`` keys in the order set by :meth:`set_epoch` (last batch shorter).

    It runs in the main process, so persistent workers see each epoch's order and number."""

    def __init__(self, batch_size: int):
        if int(batch_size) <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.order = np.zeros(0, dtype=np.int64)
        self.epoch = 0

    def set_epoch(self, epoch: int, order: np.ndarray) -> None:
        self.epoch, self.order = int(epoch), np.asarray(order, dtype=np.int64)

    def chunks(self) -> list[np.ndarray]:
        b = self.batch_size
        return [self.order[i : i + b] for i in range(0, len(self.order), b)]

    def __iter__(self):
        for chunk in self.chunks():
            yield [(self.epoch, int(i)) for i in chunk]

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)


def collate_frames(items: list[tuple[np.ndarray, int]]) -> torch.Tensor:
    """Stack the frames of ``items`` into one tensor ``(b, T, 2, H, W)`` (labels are dropped:
    the caller holds them)."""
    return torch.from_numpy(np.stack([np.asarray(f) for f, _ in items]))


@dataclass(frozen=True)
class PackBits:
    """``transform`` followed by ``np.packbits(frames, axis=-1)``: binary frames ``(..., W)`` ->
    uint8 ``(..., ceil(W / 8))``, eight times fewer bytes to send from a worker (undone by
    :func:`unpack_bits`). Only for transforms whose frames are 0/1."""

    transform: Callable[[Any, np.random.Generator], Any]

    def __call__(self, events, rng: np.random.Generator) -> np.ndarray:
        return np.packbits(np.asarray(self.transform(events, rng), dtype=np.uint8), axis=-1)


def unpack_bits(packed: torch.Tensor, width: int) -> torch.Tensor:
    """float32 ``(..., width)`` 0/1 frames from :class:`PackBits` output ``(..., ceil(width/8))``
    (bit order of ``np.packbits``: most significant bit first), on ``packed``'s device."""
    if packed.device.type == "cpu":  # numpy: one thread, no contention with torch's pool
        bits = np.unpackbits(packed.numpy(), axis=-1, count=width)
        return torch.from_numpy(bits.astype(np.float32))
    return _unpack_bits_torch(packed, width)


def _unpack_bits_torch(packed: torch.Tensor, width: int) -> torch.Tensor:
    """:func:`unpack_bits` with torch operations (for the device)."""
    shifts = torch.arange(7, -1, -1, device=packed.device, dtype=torch.uint8)
    bits = (packed.unsqueeze(-1) >> shifts) & 1
    return bits.reshape(*packed.shape[:-1], -1)[..., :width].to(torch.float32)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # numpy work; one thread per worker process


def _start_method() -> str | None:
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else None


class TrainLoader:
    """Batches of an :class:`EventSplit`, in a given order, through a ``DataLoader``.

    Args:
        split: the training split (its transform is used; a :class:`FusedSpikingFer` is switched
            to uint8 output, bit-packed when sent by workers, and made float32 on ``device``).
        batch_size: samples per batch.
        workers: ``DataLoader`` worker processes (0: in the main process). Workers are
            persistent (kept across epochs), forked where possible (they share the store).
        device: where the batches go; on CUDA the batches are pinned and copied non-blocking.
        prefetch_factor: batches each worker prepares ahead.
    """

    def __init__(self, split: EventSplit, batch_size: int, *, workers: int = 0,
                 device: str = "cpu", prefetch_factor: int = 2):
        if int(workers) < 0:
            raise ValueError(f"workers must be >= 0, got {workers!r}")
        t = split.transform
        self._width: int | None = None
        if isinstance(t, FusedSpikingFer):  # binary frames: uint8, bit-packed for workers
            t = replace(t, dtype=np.uint8)
            if int(workers) > 0:
                self._width = int(t.size[1])
                t = PackBits(t)
            split = split.with_transform(t)
        self.split = split
        self.device = torch.device(device)
        self.workers = int(workers)
        self.sampler = EpochBatchSampler(batch_size)
        cuda = self.device.type == "cuda" and torch.cuda.is_available()
        kwargs: dict[str, Any] = {}
        if self.workers:
            kwargs = {"persistent_workers": True, "prefetch_factor": prefetch_factor,
                      "worker_init_fn": _worker_init,
                      "multiprocessing_context": _start_method()}
        self.loader = DataLoader(split, batch_sampler=self.sampler, num_workers=self.workers,
                                 collate_fn=collate_frames, pin_memory=cuda, **kwargs)
        self._non_blocking = cuda

    def epoch(self, order: np.ndarray, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(idx (b,) int64 CPU, x (b, T, 2, H, W) float32 on device)`` per batch of ``order``."""
        self.sampler.set_epoch(epoch, order)
        chunks = self.sampler.chunks()
        for idx, xb in zip(chunks, self.loader, strict=True):
            if self.device.type != "cpu":  # uint8 over the bus (pinned, non-blocking)
                xb = xb.to(self.device, non_blocking=self._non_blocking)
            if self._width is not None:
                x = unpack_bits(xb, self._width)
            elif xb.device.type == "cpu":  # numpy: one thread, no contention with torch's pool
                x = torch.from_numpy(xb.numpy().astype(np.float32))
            else:
                x = xb.to(torch.float32)
            yield torch.from_numpy(idx), x

    def close(self) -> None:
        """Stop the workers (a later :meth:`epoch` starts new ones)."""
        it = getattr(self.loader, "_iterator", None)
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
        self.loader._iterator = None

