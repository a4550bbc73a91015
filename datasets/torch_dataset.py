"""Every registered dataset as a ``torch.utils.data.Dataset``, for use outside the suite.

``open_torch_dataset(name, root)`` opens a registered dataset
(:func:`datasets.registry.open_dataset`; built-in data is generated first) and wraps it in :class:`TorchEventDataset`,
whose item ``i`` is ``(data, label, metadata)``:

* a dataset with event streams (``"events"`` in ``provides``: the synthetic datasets, the
  FerDVS datasets, DiffusionFER) gives its events as tonic's structured array ``(t, x, y, p)``
  (``t`` int64 in microseconds, ``x``, ``y`` int16, ``p`` int8 with 1 = ON), so tonic's
  transforms apply to it unchanged (``transform=tonic.transforms.ToFrame(...)`` etc.);
* a dataset that ships frames gives its frames: SEE (``"frames"``) its event frames, uint8
  ``(N, H, W)`` or ``(N, H, W, 3)`` as stored (:meth:`datasets.loaders.see.SEEDataset.load_frames`);
  NEFER (``"binary_frames"``) its Temporal Binary Representation images decoded into binary
  frames, bool ``(F * N, 1, H, W)`` (:meth:`datasets.loaders.nefer.NEFERDataset.load_frames`).

``metadata`` is a dict: ``index``, ``subject``, ``sequence``, ``lighting``, ``class_name``,
``kind`` (``"events"`` or ``"frames"``), ``sensor_size`` ``(W, H, C)`` and the sequence's own
metadata (``extra``, e.g. SEE's segment, NEFER's split and RGB sequence, the synthetic
datasets' valence and arousal).

>>> import tempfile
>>> from datasets.torch_dataset import open_torch_dataset
>>> ds = open_torch_dataset("synthetic-fer-dvs-mini", tempfile.mkdtemp())
>>> events, label, meta = ds[0]
>>> events.dtype.names, meta["kind"], meta["class_name"] == ds.classes[label]
(('t', 'x', 'y', 'p'), 'events', True)
>>> import tonic
>>> frames = tonic.transforms.ToFrame(sensor_size=ds.sensor_size, n_time_bins=4)(events)
>>> frames.shape == (4, 2, ds.sensor_size[1], ds.sensor_size[0])
True
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from torch.utils.data import Dataset

from datasets.base import EventDataset

__all__ = ["TorchEventDataset", "open_torch_dataset"]


class TorchEventDataset(Dataset):
    """A registered dataset as a torch ``Dataset``: ``[i] -> (data, label, metadata)``.

    Args:
        dataset: an opened :class:`~datasets.base.EventDataset`.
        transform: applied to ``data`` (e.g. a tonic transform on events), or ``None``.
        target_transform: applied to the integer label, or ``None``.

    Attributes:
        dataset: the dataset, as passed.
        transform: the data transform, as passed.
        target_transform: the label transform, as passed.
        classes: the dataset's class names (index = label).
        sensor_size: ``(W, H, C)`` of the dataset.
        kind: ``"events"`` (tonic structured arrays) or ``"frames"``.
    """

    def __init__(self, dataset: EventDataset, transform: Callable | None = None,
                 target_transform: Callable | None = None):
        self.dataset = dataset
        self.transform = transform
        self.target_transform = target_transform
        self.classes = tuple(dataset.classes)
        self.sensor_size = tuple(int(v) for v in dataset.sensor_size)
        self.kind = "events" if "events" in dataset.provides else "frames"

    def __len__(self) -> int:
        return len(self.dataset)

    def _data(self, index: int) -> Any:
        ds = self.dataset
        if self.kind == "events":
            return ds.load_events(index)
        frames = ds.load_frames(index)
        return frames[1] if isinstance(frames, tuple) else frames  # SEE: (intensity, events)

    def __getitem__(self, index: int) -> tuple[Any, Any, dict[str, Any]]:
        """``(data, label, metadata)`` of sequence ``index`` (see the module docstring).

        Raises:
            IndexError: ``index`` out of range.
            DatasetError: an unreadable file (named).
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} sequences")
        index %= len(self)
        s = self.dataset.sequences[index]
        data = self._data(index)
        if self.transform is not None:
            data = self.transform(data)
        label: Any = int(s.label)
        meta = {
            "index": index, "subject": s.subject, "sequence": s.sequence, "lighting": s.lighting,
            "class_name": self.classes[s.label], "kind": self.kind,
            "sensor_size": tuple(int(v) for v in self.dataset.sensor_size), **dict(s.extra),
        }
        if self.target_transform is not None:
            label = self.target_transform(label)
        return data, label, meta


def open_torch_dataset(name: str, root: str | os.PathLike, transform: Callable | None = None,
                       target_transform: Callable | None = None, **params: Any
                       ) -> TorchEventDataset:
    """Open registered dataset ``name`` under ``root`` as a :class:`TorchEventDataset`.

    Args:
        name: a registry name or alias (``"synthetic-fer-dvs-mini"``, ``"MMIDVS"``, ``"nefer"``).
        root: the data root (built-in datasets are generated there if absent).
        transform, target_transform: see :class:`TorchEventDataset`.
        **params: constructor options of the dataset (e.g. NEFER's ``label_set``).

    Raises:
        UnknownNameError: unknown name; DatasetNotFoundError: absent; DatasetError: malformed.
    """
    from datasets.registry import open_dataset

    return TorchEventDataset(open_dataset(name, root, **params), transform, target_transform)
