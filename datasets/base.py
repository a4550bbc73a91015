"""The dataset abstraction shared by every event FER dataset of the suite.

A dataset is a list of labelled sequences (one event recording each) with metadata, a class list, a
sensor size, and one or more evaluation protocols that split the sequences into train and test per
fold. Loading a sequence returns its events (see :mod:`datasets.io.events`); binning them into tensors
is :mod:`datasets.transforms.binning`'s job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

import numpy as np

from datasets.common import DatasetError, DatasetNotFoundError, Registry
from datasets.folds import validation_split

LIGHTING_CONDITIONS = ("normal", "overexposure", "low_light", "hdr")
"""Canonical lighting-condition names of the suite: the four conditions of SEE (Zhang et al., "In
the Blink of an Eye: Event-based Emotion Recognition", SIGGRAPH 2023: normal, overexposure, low
light, high dynamic range)."""

__all__ = ["DATASETS", "DatasetError", "DatasetNotFoundError", "EventDataset", "SequenceInfo",
           "LIGHTING_CONDITIONS", "register_dataset"]


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
