"""The dataset abstraction shared by every event FER dataset of the suite.

A dataset is a list of labelled sequences (one event recording each) with metadata, a class list, a
sensor size, and one or more evaluation protocols that split the sequences into train and test per
fold. Loading a sequence returns its events (see :mod:`datasets.events`); binning them into tensors
is :mod:`datasets.binning`'s job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

LIGHTING_CONDITIONS = ("normal", "overexposure", "low_light", "hdr")
"""Canonical lighting-condition names of the suite (SEE's four conditions; see DESIGN.md)."""


class DatasetError(ValueError):
    """A dataset on disk is malformed; the message names the file, line or field at fault."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is absent under the data root; the message names the searched path and how to get it."""


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

    Class attributes (tonic style): ``name`` (registry name), ``classes`` (class names, index =
    label), ``sensor_size`` ``(W, H, 2)``. Instances hold ``root`` and ``sequences``.

    Protocols: ``"folds"`` uses the dataset's own fold file as published; ``"subject"`` is the
    subject-independent k-fold assignment of :func:`datasets.folds.subject_folds`.
    """

    name: ClassVar[str]
    classes: ClassVar[tuple[str, ...]]
    sensor_size: ClassVar[tuple[int, int, int]]

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
        from datasets.folds import validation_split

        subjects = [self.sequences[i].subject for i in train_indices]
        return validation_split(train_indices, subjects, fraction, seed)

    def load_events(self, index: int) -> np.ndarray:
        """Events of sequence ``index`` (validated; see :func:`datasets.events.read_v2e_h5`)."""
        from datasets.events import read_v2e_h5

        return read_v2e_h5(self.sequences[index].path, self.sensor_size)
