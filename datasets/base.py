"""The dataset abstraction shared by every event FER dataset of the suite.

A dataset is a list of labelled sequences (one event recording each) with metadata, a class list, a
sensor size, and one or more evaluation protocols that split the sequences into train and test per
fold. Loading a sequence returns its events (see :mod:`datasets.io.events`); binning them into tensors
is :mod:`datasets.transforms.binning`'s job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from datasets.common import DatasetError, DatasetNotFoundError, Registry
from datasets.folds import validation_split

LIGHTING_CONDITIONS = ("normal", "overexposure", "low_light", "hdr")
"""Canonical lighting-condition names of the suite: the four conditions of SEE (Zhang et al., "In
the Blink of an Eye: Event-based Emotion Recognition", SIGGRAPH 2023: normal, overexposure, low
light, high dynamic range)."""

__all__ = ["DATASETS", "DatasetError", "DatasetNotFoundError", "EventDataset", "SampleSpec",
           "SequenceInfo", "LIGHTING_CONDITIONS", "register_dataset"]


DATASETS: Registry[type[EventDataset]] = Registry(
    "dataset", package="datasets.loaders", entry_point_group="neurofer_bench.datasets"
)
"""Registry: dataset name -> :class:`EventDataset` subclass. Each dataset module registers its
classes with :func:`register_dataset`; the modules of the ``datasets.loaders`` package are imported on the
first lookup; third-party packages add datasets through the ``neurofer_bench.datasets``
entry-point group. A class's ``aliases`` (e.g. the upstream folder name ``MMIDVS``) are accepted
case-insensitively."""

D = TypeVar("D", bound="type[EventDataset]")


def register_dataset(cls: D) -> D:
    """Class decorator registering an :class:`EventDataset` subclass under its ``name`` and
    ``aliases``.

    Raises:
        ValueError: the name or an alias is already registered.
    """
    DATASETS.register(cls.name, cls, aliases=cls.aliases)
    return cls


@dataclass(frozen=True)
class SequenceInfo:
    """One labelled event recording.

    Attributes:
        subject: subject identifier as written in the dataset (e.g. ``S005``).
        sequence: sequence identifier within the subject (e.g. ``001``).
        label: class index into the dataset's ``classes``.
        path: the event file.
        lighting: lighting condition (one of :data:`LIGHTING_CONDITIONS`) or ``None`` if unknown.
        extra: further metadata (free-form, JSON-serialisable).
    """

    subject: str
    sequence: str
    label: int
    path: Path
    lighting: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class SampleSpec:
    """What a model takes as one sample: the architecture's declared inputs and shapes.

    Attributes:
        arch: the architecture's name (named in errors).
        inputs: the architecture's inputs (``backends.specs.arch_inputs``): ``("events",)`` or
            ``("events", "frames")`` (event frames plus intensity frames).
        n_time_bins: ``T``, time bins of the event tensor.
        size: ``(H, W)`` of every tensor (the architecture's ``input_size``).
        binarize: the recipe's ``binarize`` (event tensors set to 1 where non-zero), for datasets
            that build event tensors themselves (NEFER's TBR frames); event streams are binned by
            ``binner``, which carries its own ``binarize``.
        binner: the event-to-tensor transform of event streams, ``events -> (T, C, H, W)``
            float32 ndarray (:class:`datasets.transforms.binning.ToFrames`), or ``None`` for a
            dataset without event streams.
    """

    arch: str
    inputs: tuple[str, ...]
    n_time_bins: int
    size: tuple[int, int]
    binarize: bool = False
    binner: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def wants_frames(self) -> bool:
        """Whether the architecture also takes intensity frames (``"frames"`` in ``inputs``)."""
        return "frames" in self.inputs


class EventDataset(ABC):
    """Base class of the suite's event FER datasets.

    Class attributes (tonic style): ``name`` (registry name), ``aliases`` (other accepted names,
    e.g. upstream's), ``classes`` (class names, index = label), ``sensor_size`` ``(W, H, 2)``,
    ``provides`` (what a sample can be built from: ``"events"`` for event streams read with
    :meth:`load_events`, ``"frames"`` for event and intensity frames read with ``load_frames``,
    ``"binary_frames"`` for polarity-free binary event frames built by ``event_tensor``,
    ``"intensity"`` for an intensity image per sample built by ``intensity_tensor``),
    ``in_channels`` (channels of one binned event frame, the model's input channels: 2 for ON/OFF
    polarity, 1 for polarity-free frames; every backend builds the first layer for it).
    Instances hold ``root`` and ``sequences``.

    Protocols: ``"folds"`` uses the dataset's own fold file as published; ``"subject"`` is the
    subject-independent k-fold assignment of :func:`datasets.folds.subject_folds`.

    Model inputs: :meth:`split_tensors` gives a split's tensors for a :class:`SampleSpec`, built
    sample by sample with :meth:`sample_tensors`: here event streams binned by the spec's
    ``binner`` (:meth:`event_input`) and, for a two-input architecture, ``intensity_tensor``;
    a dataset of another kind overrides :meth:`event_input` (NEFER's TBR frames) or
    :meth:`sample_tensors` (SEE's event and intensity frames), and :meth:`check_inputs`.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    classes: ClassVar[tuple[str, ...]]
    sensor_size: ClassVar[tuple[int, int, int]]
    provides: ClassVar[tuple[str, ...]] = ("events",)
    in_channels: ClassVar[int] = 2

    @classmethod
    def open(cls, root: str | Path, **params) -> EventDataset:
        """Open the dataset under ``root`` (built-in datasets generate themselves first).

        Raises:
            DatasetNotFoundError: absent; DatasetError: malformed (see the constructor).
        """
        return cls(root, **params)

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.sequences: list[SequenceInfo] = []

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    @abstractmethod
    def n_folds(self) -> int:
        """Number of folds of the ``"folds"`` protocol."""

    @abstractmethod
    def split(self, fold: int, protocol: str = "folds") -> tuple[list[int], list[int]]:
        """Return ``(train_indices, test_indices)`` into ``sequences`` for ``fold``.

        Raises:
            ValueError: unknown protocol or fold out of range.
        """

    def validation_split(
        self, train_indices: list[int], fraction: float = 0.2, seed: int = 0
    ) -> tuple[list[int], list[int]]:
        """Split ``train_indices`` into ``(train, val)`` holding out whole training subjects.

        See :func:`datasets.folds.validation_split`; the test split is never touched.

        Raises:
            ValueError: bad ``fraction`` or fewer than two training subjects.
            IndexError: an index outside ``sequences``.
        """
        subjects = [self.sequences[i].subject for i in train_indices]
        return validation_split(train_indices, subjects, fraction, seed)

    def load_events(self, index: int) -> np.ndarray:
        """Events of sequence ``index`` (validated; see :func:`datasets.io.events.read_v2e_h5`)."""
        from datasets.io.events import read_v2e_h5

        return read_v2e_h5(self.sequences[index].path, self.sensor_size)

    # -- model inputs --------------------------------------------------------------------------

    def check_inputs(self, spec: SampleSpec) -> None:
        """Check that this dataset can feed the architecture of ``spec``.

        Raises:
            ValueError: the architecture takes intensity frames (``"frames"`` in
                ``spec.inputs``) and the dataset provides no ``"intensity"`` (event streams
                only).
        """
        if spec.wants_frames and "intensity" not in self.provides:
            raise ValueError(
                f"architecture {spec.arch!r} takes events and intensity frames (inputs "
                f"{tuple(spec.inputs)}) but dataset {self.name!r} provides event streams only"
            )

    def sample_key(self, index: int, spec: SampleSpec) -> tuple:
        """A hashable key naming the tensors :meth:`sample_tensors` gives for ``(index, spec)``
        (dataset, root, label set, sequence and every choice of ``spec`` that changes them): a
        cache of samples shared by several datasets and specs keys them by it."""
        return (self.name, str(self.root), getattr(self, "label_set", None), index,
                repr(spec.binner), spec.wants_frames and tuple(spec.size))

    def event_input(self, index: int, spec: SampleSpec, store: Any = None) -> Any:
        """The event tensor of sequence ``index``: float32 torch ``(T, C, H, W)``, its events
        (from ``store``, a :class:`datasets.pipeline.EventStore`, when it holds them, else
        :meth:`load_events`) binned by ``spec.binner``.

        Raises:
            ValueError: ``spec.binner`` is ``None``.
        """
        import torch

        if spec.binner is None:
            raise ValueError(f"dataset {self.name!r}: binning event streams needs spec.binner, "
                             "got None")
        events = store.events(index) if store is not None and index in store else (
            self.load_events(index))
        return torch.from_numpy(spec.binner(events))

    def sample_tensors(self, index: int, spec: SampleSpec, store: Any = None) -> tuple[Any, Any]:
        """One sample's model inputs: ``(x, frames)``, ``x`` the :meth:`event_input` float32
        ``(T, C, H, W)``, ``frames`` the intensity frames ``(2, 1, H, W)`` of
        ``intensity_tensor(index, spec.size)`` when ``spec.wants_frames``, else ``None``.

        Raises:
            DatasetError: an unreadable file (named); ValueError: see :meth:`event_input`.
        """
        x = self.event_input(index, spec, store)
        frames = self.intensity_tensor(index, tuple(spec.size)) if spec.wants_frames else None
        return x, frames

    def split_tensors(self, indices: Sequence[int], spec: SampleSpec, *,
                      cache: MutableMapping[tuple, Any] | None = None,
                      store: Any = None) -> tuple[Any, Any]:
        """The model inputs of the sequences ``indices``, stacked.

        Args:
            indices: sequence indices of the split.
            spec: what the architecture takes (:class:`SampleSpec`).
            cache: a mapping keeping each sample's tensors under :meth:`sample_key` (built once
                per key), or ``None``.
            store: decoded event streams (:class:`datasets.pipeline.EventStore`) or ``None``.

        Returns:
            ``(x, frames)``: ``x`` float32 ``(N, T, C, H, W)`` with ``C = in_channels``;
            ``frames`` float32 ``(N, 2, 1, H, W)`` when ``spec.wants_frames``, else ``None``.

        Raises:
            ValueError: :meth:`check_inputs` refuses ``spec``; the samples have another
                channel count than ``in_channels``.
            DatasetError: an unreadable file (named).
        """
        import torch

        self.check_inputs(spec)
        samples = []
        for i in indices:
            if cache is None:
                samples.append(self.sample_tensors(i, spec, store))
                continue
            key = self.sample_key(i, spec)
            if key not in cache:
                cache[key] = self.sample_tensors(i, spec, store)
            samples.append(cache[key])
        channels = int(self.in_channels)
        h, w = spec.size
        x = (torch.stack([s[0] for s in samples]) if samples
             else torch.zeros(0, spec.n_time_bins, channels, h, w))
        frames = None
        if spec.wants_frames:
            frames = (torch.stack([s[1] for s in samples]) if samples
                      else torch.zeros(0, 2, 1, h, w))
        if x.shape[2] != channels:
            raise ValueError(f"dataset {self.name!r} declares in_channels = {channels} but its "
                             f"samples have {x.shape[2]} channels")
        return x, frames
