"""Tasks and task versions: what result rows must share to be compared.

A *task* is a dataset, an evaluation protocol, the split scored (the test split of each of the
protocol's folds), a label set, a task type (``"classification"``, ``"valence_arousal"``) and its
primary metric. Its id is ``<dataset>/<protocol>/<label set>/<task type>``, e.g.
``synthetic-fer-dvs/folds/default/classification``; ``default`` names the label set of a dataset
that has one. Tasks exist for every registered dataset (:mod:`datasets.registry`) x protocol x
label set x task type the dataset supports (a dataset whose ``provides`` has
``"valence_arousal"`` has a valence-arousal task too); they are listed by :func:`task_names`.

A *task version* changes when the task's data or split changes (synthetic-fer-dvs generator 1.0
-> 1.1 added 36 held-out test subjects to every fold's test split). Versions are declared in
``tasks.toml`` (next to this module) per dataset, each with the dataset's own version and, where
someone with the data computed them, the digests of each fold's test split:

* **ids/labels digest**: SHA-256 (hex) of the UTF-8 text of one line ``<sequence_id>\\t<label>\\n``
  per test sample, sorted by ``sequence_id`` (:func:`ids_labels_digest`); ``sequence_id`` is
  ``<subject>/<sequence>`` and ``label`` the class index, as in a record's ``predictions``;
* **content digest**: SHA-256 of one line ``<sequence_id>\\t<label>\\t<recording digest>\\n`` per
  test sample in the same order (:func:`content_digest`), where the recording digest is the
  SHA-256 of what the model is built from: for datasets with event streams the decoded events
  (``dataset.load_events``) as packed little-endian ``t`` int64, ``x`` int16, ``y`` int16,
  ``p`` int8 (independent of the file's compression or HDF5 layout); for frame datasets the bytes
  of the recording's file, or of every file under its folder (relative path, NUL, bytes, in
  sorted path order). Ids and labels alone cannot tell regenerated data from edited data; the
  content digest can. Its cost, measured on ``synthetic-fer-dvs`` fold 0 (308 test recordings,
  2.1 M events): 0.38 s on one CPU core, of which 0.35 s is decoding; it is computed once per
  process, dataset and split (:func:`split_digests` caches it by the files' sizes and mtimes).

A version's own ``ids_labels_digest`` and ``content_digest`` combine its folds: SHA-256 of one
line ``f<fold>\\t<digest>\\n`` per fold in fold order (``None`` where a fold's digest is unknown).
A dataset the suite cannot generate (NEFER, SEE, the FerDVS datasets, DiffusionFER) declares its
version from the dataset's own release with digests ``None`` until someone with the data pins
them; its records still carry the digests they computed.

Every record names its task (:func:`task_reference`): ``{"id", "version", "ids_labels_digest",
"content_digest"}``, the digests of the test split it was scored on, and the version they match
(:func:`resolve`), or ``"unknown"``. An older record's task is derived from its cell and its
predictions' ids and labels (:func:`task_for_record`; no content digest).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from datasets.common import InputError, Registry

log = logging.getLogger(__name__)

TASKS_FILE = Path(__file__).with_name("tasks.toml")
"""The declared task versions (see the module docstring)."""
TASK_TYPES = ("classification", "valence_arousal")
"""Task types: the expression class, or valence and arousal in [-1, 1]."""
PRIMARY_METRICS = {"classification": "accuracy", "valence_arousal": "va_ccc_mean"}
"""Primary metric per task type (a key of a record's ``metrics``): accuracy (= WAR, the metric
every event-FER paper reports) and the mean of the valence and arousal CCC (FER-Zoo's ranking
metric for valence-arousal regression)."""
DEFAULT_LABEL_SET = "default"
"""Label-set name of a dataset with a single label set."""
UNKNOWN_VERSION = "unknown"
"""A record's ``task.version`` when its digests match no declared version of its task."""
SUBSET_KINDS = ("robustness", "deployment")
"""Record kinds whose predictions may cover a subset of the test split (``--max-test``)."""


class TaskError(InputError, ValueError):
    """A malformed ``tasks.toml`` or an unknown task id; the message names the file or id."""


@dataclass(frozen=True)
class Task:
    """A task (see the module docstring).

    Attributes:
        id: ``<dataset>/<protocol>/<label_set>/<task_type>``.
        dataset: registered dataset name.
        protocol: the dataset's protocol (``"folds"``, ``"subject"``, ``"fixed"``, ``"official"``).
        split: the split scored: ``"test"`` (the test split of each of the protocol's folds).
        label_set: the dataset's label set (:data:`DEFAULT_LABEL_SET` when it has one).
        task_type: one of :data:`TASK_TYPES`.
        primary_metric: the record metric that ranks rows (:data:`PRIMARY_METRICS`).
    """

    id: str
    dataset: str
    protocol: str
    split: str
    label_set: str
    task_type: str
    primary_metric: str


@dataclass(frozen=True)
class TaskVersion:
    """One version of a task.

    Attributes:
        task_id: the task's id.
        version: the version (a string, e.g. ``"1.1"``).
        dataset_version: the dataset's own version this task version was declared from.
        ids_labels_digest: the folds' ids/labels digests combined (hex), or ``None`` if unknown.
        content_digest: the folds' content digests combined (hex), or ``None`` if unknown.
        source: how the digests were obtained (or why they are unknown).
        folds: per fold (index = fold), the pair ``(ids_labels_digest, content_digest)``; empty
            when the digests are unknown.
    """

    task_id: str
    version: str
    dataset_version: str
    ids_labels_digest: str | None
    content_digest: str | None
    source: str
    folds: tuple[tuple[str | None, str | None], ...] = ()

    @property
    def pinned(self) -> bool:
        """Whether the version's digests are known."""
        return bool(self.folds)


# ---------------------------------------------------------------------------------------------
# Digests
# ---------------------------------------------------------------------------------------------


def _sha(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8"))
    return h.hexdigest()


def ids_labels_digest(pairs: Iterable[tuple[str, int]]) -> str:
    """SHA-256 (hex) of a test split's ``(sequence_id, label)`` pairs, sorted by id (the module
    docstring gives the text hashed).

    Raises:
        TaskError: a sequence id twice (a split lists each recording once).
    """
    pairs = sorted((str(s), int(y)) for s, y in pairs)
    ids = [s for s, _ in pairs]
    if len(set(ids)) != len(ids):
        dup = next(s for a, s in zip(ids, ids[1:], strict=False) if a == s)
        raise TaskError(f"sequence_id {dup!r} appears twice in one test split")
    return _sha(f"{s}\t{y}\n" for s, y in pairs)


def combine_fold_digests(digests: Sequence[str | None]) -> str | None:
    """A version's digest from its folds' (``f<fold>\\t<digest>\\n`` lines); ``None`` if any is."""
    if not digests or any(d is None for d in digests):
        return None
    return _sha(f"f{i}\t{d}\n" for i, d in enumerate(digests))


_EVENT_DTYPE = [("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")]


def recording_digest(dataset: Any, index: int) -> str:
    """SHA-256 (hex) of recording ``index`` of ``dataset``: its decoded events where the dataset
    provides event streams, else its file bytes (see the module docstring).

    Raises:
        The dataset's read errors (e.g. :class:`datasets.io.events.EventFileError`).
    """
    import numpy as np

    if "events" in getattr(dataset, "provides", ()):
        ev = dataset.load_events(index)
        packed = np.empty(len(ev), dtype=_EVENT_DTYPE)
        for name, _ in _EVENT_DTYPE:
            packed[name] = ev[name]
        return hashlib.sha256(packed.tobytes()).hexdigest()
    path = Path(dataset.sequences[index].path)
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


_SPLIT_CACHE: dict[tuple, tuple[str, str]] = {}


def _stat_key(path: Path) -> tuple:
    try:
        st = os.stat(path)
        return (str(path), st.st_size, st.st_mtime_ns)
    except OSError:
        return (str(path), None, None)


def split_digests(dataset: Any, indices: Sequence[int]) -> tuple[str, str]:
    """``(ids_labels_digest, content_digest)`` of the recordings ``indices`` of ``dataset``
    (cached per process by dataset, label set and the recordings' paths, sizes and mtimes).

    Raises:
        The dataset's read errors.
    """
    seqs = [dataset.sequences[i] for i in indices]
    key = (getattr(dataset, "name", ""), getattr(dataset, "label_set", None),
           tuple((s.subject, s.sequence, int(s.label), _stat_key(Path(s.path))) for s in seqs))
    if key not in _SPLIT_CACHE:
        pairs = [(f"{s.subject}/{s.sequence}", int(s.label)) for s in seqs]
        rec = {sid: (y, recording_digest(dataset, i))
               for (sid, y), i in zip(pairs, indices, strict=True)}
        ids = ids_labels_digest(pairs)
        content = _sha(f"{sid}\t{rec[sid][0]}\t{rec[sid][1]}\n" for sid in sorted(rec))
        _SPLIT_CACHE[key] = (ids, content)
    return _SPLIT_CACHE[key]


def content_digest(dataset: Any, indices: Sequence[int]) -> str:
    """The content digest of the recordings ``indices`` of ``dataset`` (module docstring)."""
    return split_digests(dataset, indices)[1]


# ---------------------------------------------------------------------------------------------
# The declared tasks and versions
# ---------------------------------------------------------------------------------------------


def _module_attr(cls: type, name: str) -> Any:
    """``name`` from the module of ``cls`` or of its nearest base that defines it."""
    for klass in cls.__mro__:
        value = getattr(sys.modules.get(klass.__module__), name, None)
        if value is not None:
            return value
    return None


def dataset_protocols(cls: type) -> tuple[str, ...]:
    """The protocols of a dataset class (its loader module's ``PROTOCOLS``; ``("folds",)``)."""
    return tuple(_module_attr(cls, "PROTOCOLS") or ("folds",))


def dataset_label_sets(cls: type) -> tuple[tuple[str, ...], str]:
    """``(label set names, default)`` of a dataset class: its loader module's ``LABEL_SETS``
    keys and its constructor's ``label_set`` default, or ``((DEFAULT_LABEL_SET,),
    DEFAULT_LABEL_SET)`` for a dataset with one label set."""
    param = inspect.signature(cls.__init__).parameters.get("label_set")
    sets = _module_attr(cls, "LABEL_SETS")
    if param is None or not sets:
        return (DEFAULT_LABEL_SET,), DEFAULT_LABEL_SET
    return tuple(sets), str(param.default)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # pragma: no cover (Python 3.10)
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TaskError(f"{path}: cannot read the task versions: {exc}") from exc


@dataclass(frozen=True)
class _Declared:
    protocol_aliases: dict[str, dict[str, str]]
    versions: dict[str, list[dict[str, Any]]]  # dataset -> version entries in file order


@lru_cache(maxsize=4)
def _declared(path: Path = TASKS_FILE) -> _Declared:
    data = _read_toml(path)
    aliases: dict[str, dict[str, str]] = {}
    versions: dict[str, list[dict[str, Any]]] = {}
    for name, entry in (data.get("dataset") or {}).items():
        if not isinstance(entry, dict):
            raise TaskError(f"{path}: field 'dataset.{name}' must be a table")
        aliases[name] = dict(entry.get("protocol_aliases") or {})
        vs = entry.get("version") or []
        for i, v in enumerate(vs):
            for key in ("version", "dataset_version", "source"):
                if not isinstance(v.get(key), str) or not v[key]:
                    raise TaskError(f"{path}: field 'dataset.{name}.version[{i}].{key}' = "
                                    f"{v.get(key)!r}; expected a non-empty string")
            for j, s in enumerate(v.get("split") or []):
                for key in ("protocol", "label_set", "fold", "ids_labels_digest"):
                    if key not in s:
                        raise TaskError(f"{path}: field 'dataset.{name}.version[{i}].split[{j}]."
                                        f"{key}' missing")
        versions[name] = list(vs)
    return _Declared(aliases, versions)


TASKS: Registry[Task] = Registry("task")
"""Registry: task id -> :class:`Task`, filled from the dataset registry on first use
(:func:`task_names`)."""
_VERSIONS: dict[str, list[TaskVersion]] = {}


def _task_id(dataset: str, protocol: str, label_set: str, task_type: str) -> str:
    return f"{dataset}/{protocol}/{label_set}/{task_type}"


def _ensure_tasks() -> None:
    if _VERSIONS or len(TASKS.names()):
        return
    from datasets.registry import dataset_class, dataset_names

    declared = _declared()
    for name in dataset_names():
        cls = dataset_class(name)
        label_sets, _ = dataset_label_sets(cls)
        types = ["classification"] + (["valence_arousal"]
                                      if "valence_arousal" in getattr(cls, "provides", ()) else [])
        for protocol in dataset_protocols(cls):
            for label_set in label_sets:
                for task_type in types:
                    task = Task(_task_id(name, protocol, label_set, task_type), name, protocol,
                                "test", label_set, task_type, PRIMARY_METRICS[task_type])
                    TASKS.register(task.id, task)
                    _VERSIONS[task.id] = [_task_version(task, v)
                                          for v in declared.versions.get(name, [])]


def _task_version(task: Task, entry: Mapping[str, Any]) -> TaskVersion:
    splits = [s for s in entry.get("split") or []
              if s["protocol"] == task.protocol and s["label_set"] == task.label_set]
    folds: list[tuple[str | None, str | None]] = []
    for s in sorted(splits, key=lambda s: int(s["fold"])):
        if int(s["fold"]) != len(folds):
            raise TaskError(f"{TASKS_FILE}: dataset {task.dataset!r} version {entry['version']!r}, "
                            f"protocol {task.protocol!r}: field 'fold' = {s['fold']!r}; folds "
                            "must run 0, 1, ... without gaps")
        folds.append((s["ids_labels_digest"], s.get("content_digest")))
    return TaskVersion(
        task_id=task.id, version=entry["version"], dataset_version=entry["dataset_version"],
        ids_labels_digest=combine_fold_digests([f[0] for f in folds]),
        content_digest=combine_fold_digests([f[1] for f in folds]),
        source=entry["source"], folds=tuple(folds))


def task_names() -> list[str]:
    """Every task id, sorted."""
    _ensure_tasks()
    return sorted(TASKS.names())


def get_task(task_id: str) -> Task:
    """The task ``task_id``.

    Raises:
        datasets.common.UnknownNameError: unknown id (close matches suggested).
    """
    _ensure_tasks()
    return TASKS.get(task_id)


def known_versions(task_id: str) -> list[TaskVersion]:
    """The declared versions of ``task_id`` in declaration order (``[]`` for an unknown id)."""
    _ensure_tasks()
    return list(_VERSIONS.get(task_id, []))


def resolve(task_id: str, ids_labels_digest: str | None,
            content_digest: str | None = None) -> TaskVersion | None:
    """The declared version of ``task_id`` whose test split (of some fold) has these digests.

    A pinned version matches when a fold's ids/labels digest equals ``ids_labels_digest`` and,
    where both are known, its content digest equals ``content_digest`` (same ids and labels but
    other recordings is another version). Where no pinned version matches and the task has
    versions whose digests are unknown (data the suite cannot generate), the last of those is
    returned: nothing can tell it apart. ``None``: no version matches.
    """
    versions = known_versions(task_id)
    if ids_labels_digest is not None:
        for v in versions:
            for ids, content in v.folds:
                if ids == ids_labels_digest and (content is None or content_digest is None
                                                 or content == content_digest):
                    return v
    unpinned = [v for v in versions if not v.pinned]
    return unpinned[-1] if unpinned else None


# ---------------------------------------------------------------------------------------------
# A record's task
# ---------------------------------------------------------------------------------------------


def task_id_of_cell(cell: Mapping[str, Any] | None) -> str | None:
    """The task id of a cell spec (a record's ``cell``: :meth:`benchmarks.results.spec.Cell.to_dict`
    or a published record's), or ``None`` when it names no dataset.

    The dataset name is made canonical where it is registered and the protocol mapped through the
    dataset's ``protocol_aliases`` in ``tasks.toml``; ``recipe.label_set`` ``None`` is the
    dataset's default label set; ``recipe.task`` ``"va_regression"`` is the valence-arousal task,
    ``"classification"`` and ``"multitask"`` (class head and valence-arousal) the classification
    task.
    """
    if not isinstance(cell, Mapping) or not cell.get("dataset"):
        return None
    from datasets.common import UnknownNameError
    from datasets.registry import canonical_dataset_name, dataset_class

    name = str(cell["dataset"])
    recipe = cell.get("recipe") if isinstance(cell.get("recipe"), Mapping) else {}
    label_set = recipe.get("label_set")
    try:
        name = canonical_dataset_name(name)
        if label_set is None:
            label_set = dataset_label_sets(dataset_class(name))[1]
    except UnknownNameError:
        label_set = label_set or DEFAULT_LABEL_SET
    protocol = str(cell.get("protocol") or "folds")
    protocol = _declared().protocol_aliases.get(name, {}).get(protocol, protocol)
    task_type = "valence_arousal" if recipe.get("task") == "va_regression" else "classification"
    return _task_id(name, protocol, str(label_set), task_type)


def _reference(task_id: str, ids: str | None, content: str | None) -> dict[str, Any]:
    v = resolve(task_id, ids, content)
    return {"id": task_id, "version": v.version if v is not None else UNKNOWN_VERSION,
            "ids_labels_digest": ids, "content_digest": content}


def task_reference(cell: Mapping[str, Any], *, dataset: Any = None,
                   test_indices: Sequence[int] | None = None,
                   predictions: Sequence[Mapping[str, Any]] | None = None
                   ) -> dict[str, Any] | None:
    """A record's ``task`` field: ``{"id", "version", "ids_labels_digest", "content_digest"}``.

    With ``dataset`` and ``test_indices`` (the cell's test split) both digests are computed from
    the data (:func:`split_digests`); else with ``predictions`` (a record's) the ids/labels
    digest is computed from their ``sequence_id`` and ``label`` and the content digest is
    ``None``; else both are ``None``. ``version`` is :func:`resolve`'s, or
    :data:`UNKNOWN_VERSION`. ``None`` when the cell names no dataset.
    """
    task_id = task_id_of_cell(cell)
    if task_id is None:
        return None
    ids = content = None
    if dataset is not None and test_indices is not None:
        ids, content = split_digests(dataset, test_indices)
    elif predictions:
        ids = predictions_digest(predictions)
    return _reference(task_id, ids, content)


def predictions_digest(predictions: Sequence[Mapping[str, Any]]) -> str | None:
    """The ids/labels digest of a record's ``predictions`` (``None`` where a sample lacks a
    string ``sequence_id`` or an integer ``label``, or an id repeats)."""
    pairs = []
    for p in predictions:
        sid, y = p.get("sequence_id"), p.get("label")
        if not isinstance(sid, str) or isinstance(y, bool) or not isinstance(y, int):
            return None
        pairs.append((sid, y))
    try:
        return ids_labels_digest(pairs)
    except TaskError:
        return None


def task_for_record(rec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The record's task reference: its ``task`` field where it has one (schema 4), else derived
    from its cell and its predictions' ids and labels (:func:`task_reference`); ``None`` for a
    record that is not ``"ok"`` or names no dataset. A robustness or deployment record
    (:data:`SUBSET_KINDS`) may hold a subset of the test split, so its task is derived from its
    cell alone: digests ``None``, the version :func:`resolve` gives without them."""
    task = rec.get("task")
    if isinstance(task, Mapping):
        return dict(task)
    if rec.get("status") != "ok":
        return None
    if rec.get("kind") in SUBSET_KINDS:  # predictions on a subset: no split digest from them
        return task_reference(rec.get("cell") or {})
    return task_reference(rec.get("cell") or {}, predictions=rec.get("predictions") or None)


def task_label(task: Mapping[str, Any] | None) -> str:
    """``"<id> v<version>"`` (``"<id> (unknown version)"``), for headings and messages."""
    if not task:
        return "no task"
    version = task.get("version")
    if version in (None, UNKNOWN_VERSION):
        return f"{task.get('id')} (unknown version)"
    return f"{task.get('id')} v{version}"


def format_tasks() -> str:
    """Every task and its versions, one line each (``run_bench.py list --tasks``): id, primary
    metric, and per version its first 12 hex digits of content digest or "digests not
    pinned"."""
    lines = []
    for tid in task_names():
        versions = ", ".join(
            f"{v.version} [{v.content_digest[:12] if v.content_digest else 'digests not pinned'}]"
            for v in known_versions(tid)) or "no declared version"
        lines.append(f"{tid}  primary={get_task(tid).primary_metric}  versions: {versions}")
    return "\n".join(lines)


def fold_digests(dataset: Any, protocol: str) -> list[tuple[str, str]]:
    """``(ids_labels_digest, content_digest)`` of the test split of every fold of ``protocol``
    on an opened ``dataset``: what a ``tasks.toml`` version pins (one ``split`` entry per fold).

    Raises:
        ValueError: an unknown protocol (the dataset's). The dataset's read errors.
    """
    n = dataset.folds_for(protocol) if hasattr(dataset, "folds_for") else dataset.n_folds
    return [split_digests(dataset, dataset.split(fold, protocol)[1]) for fold in range(n)]
