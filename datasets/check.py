"""Check every file of a dataset in one pass and report all problems at once, with a cache.

Reading a dataset stops at the first bad file (:func:`datasets.io.events.read_v2e_h5` raises on the
first :class:`~datasets.io.events.EventFileError`); :func:`check_dataset` instead opens the dataset
without its file check and applies :func:`datasets.io.events.event_file_problems` to every event file:
missing files, unreadable (truncated) HDF5 files and every event rule (coordinates inside the
sensor, polarity 0/1, sorted time, not empty), all collected in one :class:`DatasetCheck`. A
malformed index file (``folds.csv``) becomes a :class:`Problem` too; a wholly absent dataset
raises :class:`~datasets.common.DatasetNotFoundError` (absent is not broken). Frames datasets (SEE)
are checked for missing sequence folders only; no image is decoded. A dataset class with a
``dataset_problems(root)`` classmethod (NEFER) checks itself: its problems are reported as they
are (no cache).

Cache: the result per event file is stored with the file's ``(size, mtime_ns)``, the sensor size,
:data:`CACHE_FORMAT` and :data:`datasets.io.events.EVENT_RULES_VERSION`, as JSON (see
:func:`cache_path` for where). A later check re-reads only the files whose size or mtime changed.
A rewrite that keeps both the size and the mtime (e.g. within the file system's timestamp
granularity, or a copy that preserves times) goes unnoticed; ``use_cache=False`` checks everything.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets.base import DatasetError, DatasetNotFoundError, EventDataset
from datasets.common import atomic_write_text
from datasets.io.events import EVENT_RULES_VERSION, EventProblem, event_file_problems
from datasets.registry import dataset_class, open_dataset

log = logging.getLogger(__name__)

CACHE_FILE = ".neurofer-check.json"
"""Name of the cache file in a writable dataset directory."""

CACHE_FORMAT = 1
"""Version of the cache file's layout; a cache of another version is ignored (re-checked)."""

_LEADING_PATH = re.compile(r"^(?P<path>.+?)(?:, line \d+)?: ")
_FIELD = re.compile(r"field '(?P<field>[^']+)'")


@dataclass(frozen=True)
class Problem:
    """One problem of a dataset on disk.

    Attributes:
        file: the file (or folder) at fault.
        field: what is at fault, as in :class:`~datasets.io.events.EventProblem` (``"file"``,
            ``"events"``, ``"t"``, ``"x"``, ``"y"``, ``"p"``), ``"folder"`` for a missing
            sequence folder, the field named by an index-file error (e.g. ``"label"``), or
            ``None`` when the message names none.
        value: the (first) bad value (a JSON scalar: ``int``, ``str`` or ``None``).
        message: a full sentence naming the file, field and value (and line or event index).
    """

    file: Path
    field: str | None
    value: object
    message: str

    @classmethod
    def from_event_problem(cls, problem: EventProblem) -> Problem:
        """The :class:`Problem` of an :class:`~datasets.io.events.EventProblem` (same content)."""
        return cls(problem.path, problem.field, problem.value, problem.message)


@dataclass
class DatasetCheck:
    """The result of :func:`check_dataset`.

    Attributes:
        dataset: the registry name.
        directory: the dataset's folder.
        n_files: files (or, for a frames dataset, sequence folders) checked; 0 when the dataset
            could not be indexed.
        problems: every problem found, in sequence order, each file's problems in rule order.
        n_cached: how many of the ``n_files`` results came from the cache (not re-read).
        unit: what ``n_files`` counts, for the report (``"files"``, or ``"folders"`` for a
            frames dataset).
    """

    dataset: str
    directory: Path
    n_files: int
    problems: list[Problem]
    n_cached: int = 0
    unit: str = "files"

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def bad_files(self) -> list[Path]:
        """The distinct files with at least one problem, in report order."""
        return list(dict.fromkeys(p.file for p in self.problems))

    def report(self) -> str:
        """A human-readable report: a headline, then one line per problem.

        Example headline: ``mmi-dvs: 5 problems in 207 files (/data/MMIDVS)``, followed by
        ``  <message>`` lines; ``mmi-dvs: no problems in 207 files (/data/MMIDVS)`` when ok.
        """
        what = self.unit
        if self.ok:
            return f"{self.dataset}: no problems in {self.n_files} {what} ({self.directory})"
        k = len(self.problems)
        head = f"{self.dataset}: {k} problem{'s' if k != 1 else ''} in {self.n_files} {what}"
        if self.n_files:
            head += f", {len(self.bad_files)} bad"
        lines = [f"{head} ({self.directory})"]
        lines += [f"  {p.message}" for p in self.problems]
        return "\n".join(lines)


# -- cache location and file --------------------------------------------------------------


def _dir_writable(directory: Path) -> bool:
    """Whether a cache file may be written into ``directory`` (``os.access`` with ``W_OK``).

    A separate function so that tests (which run as root, where permissions do not stop writes)
    can replace it.
    """
    return os.access(directory, os.W_OK)


def user_cache_path(directory: str | os.PathLike) -> Path:
    """The per-user cache file of ``directory``:
    ``${XDG_CACHE_HOME:-~/.cache}/neurofer-bench/check/<sha1 of the absolute directory>.json``.

    ``XDG_CACHE_HOME`` is used only when it is an absolute path (the XDG base directory
    specification ignores relative ones).
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    digest = hashlib.sha1(str(Path(directory).resolve()).encode("utf-8")).hexdigest()
    return base / "neurofer-bench" / "check" / f"{digest}.json"


def cache_path(directory: str | os.PathLike) -> Path:
    """Where the check cache of ``directory`` lives: ``<directory>/.neurofer-check.json`` when the
    folder is writable, else :func:`user_cache_path` (e.g. for read-only reference trees)."""
    directory = Path(directory)
    return directory / CACHE_FILE if _dir_writable(directory) else user_cache_path(directory)


def _file_key(path: Path, directory: Path) -> str:
    """The cache key of ``path``: relative to ``directory`` (POSIX separators), else absolute."""
    try:
        return path.relative_to(directory).as_posix()
    except ValueError:
        return str(path.absolute())


def _signature(path: Path) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of ``path``, or ``None`` if it cannot be stat-ed (missing)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _cache_header(directory: Path, sensor_size: tuple[int, ...]) -> dict[str, Any]:
    return {
        "format": CACHE_FORMAT,
        "rules": EVENT_RULES_VERSION,
        "directory": str(directory.resolve()),
        "sensor_size": list(sensor_size),
    }


def _valid_entry(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("problems"), list):
        return False
    sig = (entry.get("size"), entry.get("mtime_ns"))
    if sig != (None, None) and not all(isinstance(v, int) for v in sig):
        return False
    return all(
        isinstance(q, dict) and isinstance(q.get("message"), str)
        and isinstance(q.get("field"), str) for q in entry["problems"]
    )


def _load_cache(path: Path, header: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``files`` mapping of the cache at ``path`` if it matches ``header``, else ``{}``.

    A missing cache is silent, one of another format, rules version, directory or sensor size is
    logged at INFO, an unreadable or malformed one at WARNING; none of them raises.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        log.warning("%s: cannot read the check cache (%s); checking every file", path, exc)
        return {}
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        log.warning("%s: corrupt check cache ignored (%s); checking every file", path, exc)
        return {}
    if not isinstance(data, dict):
        log.warning("%s: corrupt check cache ignored (a JSON %s, expected an object)", path,
                    type(data).__name__)
        return {}
    for key, want in header.items():
        if data.get(key) != want:
            log.info("%s: check cache of another %s (%r, now %r) ignored", path, key,
                     data.get(key), want)
            return {}
    files = data.get("files")
    if not isinstance(files, dict) or not all(_valid_entry(e) for e in files.values()):
        log.warning("%s: corrupt check cache ignored (field 'files' malformed); checking every "
                    "file", path)
        return {}
    return files


def _save_cache(path: Path, directory: Path, data: dict[str, Any]) -> Path | None:
    """Store the cache at ``path``; if that fails in the dataset directory, fall back to
    :func:`user_cache_path`. Returns where it was written, or ``None`` (logged at WARNING)."""
    targets = [path]
    fallback = user_cache_path(directory)
    if fallback != path:
        targets.append(fallback)
    text = json.dumps(data, indent=1, sort_keys=True, default=str)
    for target in targets:
        try:
            atomic_write_text(target, text)  # temp file in the same folder, then os.replace
            return target
        except OSError as exc:
            log.warning("%s: cannot write the check cache (%s)", target, exc)
    return None


# -- checks ---------------------------------------------------------------------------------


def _problem_of_open_error(exc: DatasetError, directory: Path) -> Problem:
    """A :class:`Problem` for a :class:`DatasetError` raised while indexing a dataset: ``file`` is
    the path the message starts with (``"<file>, line N: ..."`` or ``"<file>: ..."``) when it
    exists, else ``directory``; ``field`` is the first ``field '<name>'`` the message names."""
    msg = str(exc)
    m = _LEADING_PATH.match(msg)
    file = Path(m["path"]) if m and Path(m["path"]).exists() else directory
    f = _FIELD.search(msg)
    return Problem(file, f["field"] if f else None, None, msg)


def _provides_frames(dataset: EventDataset) -> bool:
    """Whether ``dataset`` has no event files to check: its ``provides`` lacks ``"events"``
    (SEE declares ``("frames",)``)."""
    return "events" not in dataset.provides


def _check_frames(name: str, dataset: EventDataset, directory: Path) -> DatasetCheck:
    """Missing sequence folders of a frames dataset (SEE: event- and intensity-frame folder of
    every sequence), from its ``check_files``; no image is decoded."""
    from datasets.loaders.see import MissingSequenceFoldersError

    problems: list[Problem] = []
    try:
        dataset.check_files()
    except MissingSequenceFoldersError as exc:
        source = getattr(dataset, "split_path", None)
        named = f" named in {source}" if source is not None else ""
        problems = [
            Problem(Path(d), "folder", "missing", f"{d}: no such sequence folder{named}")
            for d in exc.missing
        ]
    n = 2 * len(dataset.sequences)
    log.info("%s: %d problems in %d sequence folders (%s)", name, len(problems), n, directory)
    return DatasetCheck(name, directory, n, problems, 0, unit="folders")


def _check_own(name: str, own, root: Path) -> DatasetCheck:
    """The result of a dataset's own one-pass check, ``cls.dataset_problems(root) ->
    (directory, n_files, problems)`` (each problem with ``file``, ``line``, ``field``, ``value``,
    ``message``; see :meth:`datasets.loaders.nefer.NEFERDataset.dataset_problems`)."""
    directory, n, found = own(root)
    problems = [Problem(Path(q.file), q.field, q.value, q.message) for q in found]
    log.info("%s: %d problems in %d frames (%s)", name, len(problems), n, directory)
    return DatasetCheck(name, Path(directory), n, problems, 0, unit="frames")


def check_dataset(
    name: str,
    data_root: str | os.PathLike,
    *,
    use_cache: bool = True,
    progress: bool = False,
) -> DatasetCheck:
    """Check every file of dataset ``name`` under ``data_root`` in one pass; report all problems.

    The dataset is opened with ``open_dataset(name, data_root, check_files=False)`` (a synthetic
    dataset is generated first if absent, as :func:`datasets.registry.open_dataset` does). For an
    event dataset every sequence's file goes through
    :func:`datasets.io.events.event_file_problems` with the dataset's ``sensor_size`` (missing,
    unreadable, every event rule). For a frames dataset (SEE) the missing sequence folders are
    reported. A :class:`~datasets.common.DatasetError` at open (e.g. a malformed ``folds.csv``;
    its message names the file, line and field) becomes the single problem of the result.

    Args:
        name: registry name, e.g. ``"mmi-dvs"``, or an alias of it (``"MMIDVS"``); the result
            carries the registered name.
        data_root: the data root holding the dataset's folder.
        use_cache: reuse the results stored for files whose ``(size, mtime_ns)`` and sensor size
            are unchanged, and store the new results (:func:`cache_path`; written atomically;
            files no longer in the dataset are dropped; a corrupt cache is ignored with a
            warning). ``False`` re-reads every file and leaves the cache alone.
        progress: show a tqdm progress bar over the files.

    Returns:
        A :class:`DatasetCheck` (``ok``, ``problems``, ``report()``).

    Raises:
        UnknownDatasetError: unknown ``name`` (see :mod:`datasets.registry`).
        DatasetNotFoundError: the dataset is absent under ``data_root`` (re-raised unchanged).
    """
    from tqdm import tqdm

    cls = dataset_class(name)
    name = cls.name  # the registered name, also when an alias (e.g. "MMIDVS") was given
    root = Path(data_root)
    own = getattr(cls, "dataset_problems", None)
    if callable(own):  # a dataset that checks itself in one pass (NEFER: annotations and frames)
        return _check_own(name, own, root)
    try:
        dataset = open_dataset(name, root, check_files=False)
    except DatasetNotFoundError:
        raise
    except DatasetError as exc:
        directory = root / getattr(cls, "folder", "")
        problem = _problem_of_open_error(exc, directory)
        log.warning("%s: cannot index the dataset: %s", name, exc)
        return DatasetCheck(name, directory, 0, [problem], 0)
    directory = Path(getattr(dataset, "directory", dataset.root))
    if _provides_frames(dataset):
        return _check_frames(name, dataset, directory)

    sensor = tuple(int(v) for v in dataset.sensor_size)
    header = _cache_header(directory, sensor)
    where = cache_path(directory) if use_cache else None
    cached = _load_cache(where, header) if where is not None else {}
    entries: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    n_cached = 0
    paths = [Path(s.path) for s in dataset.sequences]
    for path in tqdm(paths, desc=f"check {name}", unit="file", disable=not progress):
        key = _file_key(path, directory)
        sig = _signature(path)  # before reading: a change during the read is seen next time
        size, mtime_ns = sig if sig is not None else (None, None)
        entry = cached.get(key)
        if entry is not None and (entry["size"], entry["mtime_ns"]) == (size, mtime_ns):
            found = [Problem(path, q["field"], q.get("value"), q["message"])
                     for q in entry["problems"]]
            n_cached += 1
        else:
            found = [Problem.from_event_problem(q) for q in event_file_problems(path, sensor)]
            entry = {
                "size": size,
                "mtime_ns": mtime_ns,
                "problems": [{"field": q.field, "value": q.value, "message": q.message}
                             for q in found],
            }
        entries[key] = entry
        problems.extend(found)
    if where is not None and entries != cached:
        written = _save_cache(where, directory, {**header, "dataset": name, "files": entries})
        if written is not None:
            log.debug("%s: check cache written to %s", name, written)
    n_bad = len({p.file for p in problems})
    log.info("%s: %d problems in %d of %d files (%d from the cache) in %s", name, len(problems),
             n_bad, len(paths), n_cached, directory)
    return DatasetCheck(name, directory, len(paths), problems, n_cached)
