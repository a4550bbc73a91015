"""The suite's datasets by name, and where they live on disk.

Names: ``synthetic-fer-dvs`` and ``synthetic-fer-dvs-mini`` (built in, generated on first use),
``ckplus-dvs``, ``adfes-dvs``, ``casia-dvs``, ``mmi-dvs`` (the Spiking-FER FerDVS datasets; their
upstream names ``CKPlusDVS``, ``ADFESDVS``, ``CASIADVS``, ``MMIDVS`` are accepted too, in any
case; see :mod:`datasets.loaders.ferdvs`), ``see`` (SEEN's SEE frames dataset; see :mod:`datasets.loaders.see`).
Each dataset module registers its classes itself (:func:`datasets.base.register_dataset`); this
module only looks them up (:data:`datasets.base.DATASETS`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from datasets.base import DATASETS, EventDataset
from datasets.common import UnknownNameError

log = logging.getLogger(__name__)

DATA_ROOT_ENV = "NEUROFER_DATA"
"""Environment variable naming the default data root."""

UnknownDatasetError = UnknownNameError
"""An unknown dataset name (the registry's :class:`datasets.common.UnknownNameError`)."""


def default_data_root() -> Path:
    """``$NEUROFER_DATA`` if set, else ``./data``."""
    return Path(os.environ.get(DATA_ROOT_ENV, "data"))


def dataset_names() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(DATASETS.names())


def canonical_dataset_name(name: str) -> str:
    """The registered name for ``name`` (itself, an upstream alias such as ``MMIDVS``, or a
    case-insensitive match).

    Raises:
        UnknownDatasetError: unknown name (message lists the known names and close matches).
    """
    return DATASETS.resolve(name)


def dataset_class(name: str) -> type[EventDataset]:
    """The class registered under ``name`` (or an alias of it).

    Raises:
        UnknownDatasetError: unknown name (message lists the known names and close matches).
    """
    return DATASETS.get(name)


def open_dataset(name: str, data_root: str | os.PathLike, **params: Any) -> EventDataset:
    """Open dataset ``name`` under ``data_root`` (:meth:`EventDataset.open`).

    The built-in datasets are generated first if absent or made with other parameters (see
    :meth:`datasets.loaders.synthetic.dataset.SyntheticFerDVS.open`). For the other datasets ``params`` go to the
    constructor (e.g. ``subject_k``, ``subject_seed``, ``check_files``).

    Raises:
        UnknownDatasetError: unknown name.
        DatasetNotFoundError: a real dataset is absent (the message says how to obtain it).
        DatasetError: a dataset on disk is malformed.
    """
    return dataset_class(name).open(Path(data_root), **params)
