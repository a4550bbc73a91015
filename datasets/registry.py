"""Registry of the suite's datasets by name.

Names: ``synthetic-fer-dvs`` (built in, generated on first use), ``ckplus-dvs``, ``adfes-dvs``,
``casia-dvs``, ``mmi-dvs`` (the Spiking-FER FerDVS datasets; see :mod:`datasets.ferdvs`),
``see`` (SEEN's SEE frames dataset; see :mod:`datasets.see`).

This module must not import :mod:`backends` (data flows datasets -> backends), so it carries its
own unknown-name error with close-match suggestions (``difflib.get_close_matches``).
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from datasets.base import EventDataset
from datasets.ferdvs import ADFESDVS, CASIADVS, MMIDVS, CKPlusDVS
from datasets.see import SEEDataset
from datasets.synthetic import SyntheticFerDVS, SyntheticFerDVSMini, ensure_synthetic_fer_dvs

log = logging.getLogger(__name__)

_REGISTRY: dict[str, type[EventDataset]] = {}

_LOADER_OPTIONS = ("subject_k", "subject_seed", "check_files")
"""Keyword arguments of the FerDVS constructors (the rest go to the synthetic generator)."""

T = TypeVar("T", bound=type[EventDataset])


class UnknownDatasetError(KeyError):
    """An unknown dataset name; the message lists the known names and the closest matches."""

    def __str__(self) -> str:  # KeyError repr-quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


def unknown_dataset_error(name: str, known: list[str]) -> UnknownDatasetError:
    """Build the error for an unknown dataset ``name``: lists ``known`` and up to three close
    matches (``difflib.get_close_matches`` with cutoff 0.5)."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return UnknownDatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(known))}{hint}")


def register_dataset(name: str) -> Callable[[T], T]:
    """Class decorator registering an :class:`EventDataset` subclass under ``name``.

    Raises:
        ValueError: ``name`` is already registered.
    """

    def deco(cls: T) -> T:
        if name in _REGISTRY:
            raise ValueError(
                f"dataset {name!r} is already registered (by {_REGISTRY[name].__qualname__})"
            )
        _REGISTRY[name] = cls
        return cls

    return deco


for _cls in (SyntheticFerDVS, SyntheticFerDVSMini, CKPlusDVS, ADFESDVS, CASIADVS, MMIDVS,
             SEEDataset):
    register_dataset(_cls.name)(_cls)


def dataset_names() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(_REGISTRY)


def dataset_class(name: str) -> type[EventDataset]:
    """The class registered under ``name``.

    Raises:
        UnknownDatasetError: unknown name (message lists the known names and close matches).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_dataset_error(name, list(_REGISTRY)) from None


def open_dataset(name: str, data_root: str | os.PathLike, **params: Any) -> EventDataset:
    """Open dataset ``name`` under ``data_root``.

    For ``synthetic-fer-dvs`` the dataset is generated first if absent or made with other
    parameters (``params`` are :func:`datasets.synthetic.generate_synthetic_fer_dvs`'s keyword
    arguments, none meaning the defaults, plus the loader options ``subject_k``, ``subject_seed``,
    ``check_files``). For the other datasets ``params`` go to the constructor
    (e.g. ``subject_k``, ``subject_seed``).

    Raises:
        UnknownDatasetError: unknown name.
        DatasetNotFoundError: a real dataset is absent (the message says how to obtain it).
        DatasetError: a dataset on disk is malformed.
    """
    cls = dataset_class(name)
    root = Path(data_root)
    if issubclass(cls, SyntheticFerDVS):
        loader = {k: params.pop(k) for k in _LOADER_OPTIONS if k in params}
        ensure_synthetic_fer_dvs(root, **{**cls.generation_params, **params, "folder": cls.folder})
        return cls(root, **loader)
    return cls(root, **params)
