"""The result record: one schema, versioned, used by every writer and every reader of the suite.

A run folder's ``results.jsonl`` holds one JSON object per line, one per cell (or per scored set
of published predictions). Every writer builds a :class:`Record` (the grid runner, the cell, the
scorer) and every reader (resume, the gates, the reports) goes through :func:`read_records`, which
validates each line against this schema, migrates records of older versions, and refuses records
of newer versions with an error naming the file and line.

Schema (:data:`SCHEMA_VERSION` 4), the fields of :class:`Record`:

* ``schema_version`` (int), ``status`` (``"ok"``, ``"error"`` or ``"skipped"``), ``error`` (the
  message of a failed or skipped cell, else ``None``), ``traceback`` (of a failed cell);
* ``kind`` (``"trained"``: a cell the suite trained and measured; ``"published"``: metrics scored
  from released predictions; ``"robustness"``: a trained cell's checkpoint evaluated again under
  event corruptions; ``"deployment"``: a trained SNN's checkpoint evaluated at a neuromorphic chip
  target's precision, :mod:`benchmarks.deploy.evaluate`), ``method`` (row name of a published
  record);
* ``model`` (version 3): the card of a native model (a ``torch.nn.Module`` registered with
  ``backends.register_model``: name, framework and its version, input contract, output, loss,
  citation, code URL, licence), or ``None`` for the suite's spec'd architectures;
* ``corruption`` (version 3): for a ``"robustness"`` record, the corruption evaluated (its name,
  the severities, the seed and the ``cell_id`` of the trained cell whose checkpoint was
  evaluated), else ``None``;
* ``task`` (version 4): the task the record was scored on (:mod:`benchmarks.results.tasks`):
  ``{"id", "version", "ids_labels_digest", "content_digest"}``, the digests of the test split
  scored and the declared task version they match (``"unknown"`` when none); a robustness record
  names its trained cell's task (the whole test split, whatever subset it evaluated); ``None``
  for a record without a task (a failed or skipped cell);
* ``deployment`` (added within version 4; a record without it reads as ``None``): for a
  ``"deployment"`` record, the target, the fit verdict and its reason, the trained cell's
  ``cell_id``, the checkpoint, ``max_test``, the test split's size and the quantisation per
  layer (:mod:`benchmarks.deploy.evaluate`), else ``None``;
* ``cell_id`` (identifies the cell for resume), ``cell`` (the full cell spec:
  :meth:`benchmarks.results.spec.Cell.to_dict`), ``classes`` (class names, index order);
* ``metrics`` (units in key names: ``latency_ms_p50``, ``energy_uj_per_inference``, ...),
  ``history`` (per-epoch training log), ``timings_s`` (phase wall times, seconds);
* ``provenance`` (:func:`benchmarks.results.provenance.provenance`: git commit, dirty flag and
  ``code_version``, UTC time, Python/torch/backend versions, CPU, threads, device, GPU);
* ``checkpoint`` (path of the cell's saved model relative to the run folder, or ``None``);
* ``source`` (published records: the files scored and their digests);
* ``predictions`` (optional, ``None`` when not stored): the per-sample test predictions behind
  the metrics, one object per test sample in test-split order, as
  :func:`benchmarks.results.validate.sample_predictions` builds them: ``sequence_id`` (str, unique within
  the record, e.g. ``"<subject>/<sequence>"``), ``label`` and ``pred`` (class indices into
  ``classes``), ``logits`` (K floats, the scores whose argmax is ``pred``), ``logits_per_step``
  (T x K, the readout after t = 1..T steps; only where the backend has one), ``lighting``
  (the sample's lighting condition, or ``None``) and ``subject`` (the person of the sample, so
  that the reports resample subjects rather than sequences; added within version 3, absent in
  older records and where the dataset has no subjects). :mod:`benchmarks.results.validate` recomputes every
  accuracy metric from them; the reports compute intervals and paired tests from them. Added
  within version 2: a record without the field reads as ``predictions = None``.

Migration: version 3 records read as version 4 with ``task`` derived from their cell and their
predictions' ids and labels (:func:`benchmarks.results.tasks.task_for_record`: no content digest;
version ``"unknown"`` when the ids and labels match no declared version, e.g. a robustness
record of a subset of the test split); a record that is not ``"ok"`` gets ``task = None``.
Version 2 records (NeuroFER-Bench 0.2) read as version 3 with ``model = None`` and
``corruption = None`` (a spec'd architecture evaluated on clean data, which is all 0.2 could
record). Version 1 (NeuroFER-Bench 0.1) kept the torch thread count twice (top-level ``torch_threads`` and
``provenance.threads``) and had no ``provenance.code_version``; :func:`migrate` drops the former
and sets the latter to ``None`` (unknown), so a version-1 record is never mistaken for one of the
current code.

Appends are atomic at line granularity: each record is one ``os.write`` of a complete line on a
file opened with ``O_APPEND`` and fsync'ed, so a crash never leaves half a line of a finished cell
(a torn last line from a crash mid-write is skipped, with a warning, by :func:`read_records`).
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from datasets.common import InputError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
"""Version of the record schema this code writes; older records are migrated on reading."""
RESULTS_FILE = "results.jsonl"
STATUSES = ("ok", "error", "skipped")
KINDS = ("trained", "published", "robustness", "deployment")


class RecordSchemaError(InputError, ValueError):
    """A record that does not follow the schema, or of a newer schema version than this code
    reads; the message names the file, line and field."""


@dataclass
class Record:
    """One result record (see the module docstring for the meaning of each field).

    Raises (on construction):
        RecordSchemaError: an unknown ``status`` or ``kind``, an empty ``cell_id``, an
            ``"ok"`` trained record without metrics, or ``predictions`` that is neither null
            nor an array of objects.
    """

    cell_id: str
    status: str
    cell: dict[str, Any]
    kind: str = "trained"
    method: str | None = None
    error: str | None = None
    traceback: str | None = None
    classes: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    source: dict[str, Any] | None = None
    predictions: list[dict[str, Any]] | None = None
    model: dict[str, Any] | None = None
    corruption: dict[str, Any] | None = None
    task: dict[str, Any] | None = None
    deployment: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise RecordSchemaError(f"field 'status' = {self.status!r}; expected one of {STATUSES}")
        if self.kind not in KINDS:
            raise RecordSchemaError(f"field 'kind' = {self.kind!r}; expected one of {KINDS}")
        if not isinstance(self.cell_id, str) or not self.cell_id:
            raise RecordSchemaError(f"field 'cell_id' = {self.cell_id!r}; expected a non-empty string")
        if not isinstance(self.cell, dict):
            raise RecordSchemaError(f"field 'cell' = {self.cell!r}; expected an object")
        for name, typ in (("metrics", dict), ("timings_s", dict), ("provenance", dict),
                          ("classes", list), ("history", list)):
            if not isinstance(getattr(self, name), typ):
                raise RecordSchemaError(
                    f"field {name!r} = {getattr(self, name)!r:.60}; expected a JSON "
                    f"{'object' if typ is dict else 'array'}")
        if self.predictions is not None and not (
                isinstance(self.predictions, list)
                and all(isinstance(p, dict) for p in self.predictions)):
            raise RecordSchemaError(
                f"field 'predictions' = {self.predictions!r:.60}; expected null or a JSON array "
                "of objects (one per test sample)")
        for name in ("model", "corruption", "task", "deployment"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), dict):
                raise RecordSchemaError(
                    f"field {name!r} = {getattr(self, name)!r:.60}; expected null or a JSON object")
        if self.kind == "robustness" and self.corruption is None:
            raise RecordSchemaError("a 'robustness' record needs field 'corruption'")
        if self.kind == "deployment" and self.deployment is None:
            raise RecordSchemaError("a 'deployment' record needs field 'deployment'")
        if self.status == "ok" and not self.metrics:
            raise RecordSchemaError("an 'ok' record needs a non-empty field 'metrics'")
        if self.status != "ok" and not self.error:
            raise RecordSchemaError(f"a {self.status!r} record needs its reason in field 'error'")

    @classmethod
    def for_cell(cls, cell: Any, status: str, **fields_: Any) -> Record:
        """A record of ``cell`` (a :class:`benchmarks.results.spec.Cell`): its id and spec filled in."""
        return cls(cell_id=cell.cell_id, cell=cell.to_dict(), status=status, **fields_)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to ``results.jsonl`` (numpy values made plain, NaN -> null)."""
        return _clean(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        """Validate (and migrate, see :func:`migrate`) a parsed record.

        Raises:
            RecordSchemaError: a newer schema version, missing or unknown fields, bad values.
        """
        d = migrate(d)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise RecordSchemaError(f"unknown field(s) {unknown}")
        missing = sorted(n for n in ("cell_id", "status", "cell") if n not in d)
        if missing:
            raise RecordSchemaError(f"missing field(s) {missing}")
        return cls(**d)


def migrate(d: dict[str, Any]) -> dict[str, Any]:
    """Bring a parsed record of an older schema version to :data:`SCHEMA_VERSION` (a new dict).

    Raises:
        RecordSchemaError: ``schema_version`` missing, not an integer, or newer than this code.
    """
    version = d.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordSchemaError(f"field 'schema_version' = {version!r}; expected an integer >= 1")
    if version > SCHEMA_VERSION:
        raise RecordSchemaError(
            f"field 'schema_version' = {version} is newer than this code reads ({SCHEMA_VERSION}); "
            "update NeuroFER-Bench to read this run"
        )
    d = dict(d)
    if version == 1:
        d.pop("torch_threads", None)
        prov = dict(d.get("provenance") or {})
        prov.setdefault("code_version", None)
        d["provenance"] = prov
        d["schema_version"] = version = 2
    if version == 2:
        d.setdefault("model", None)
        d.setdefault("corruption", None)
        d["schema_version"] = version = 3
    if version == 3:
        from benchmarks.results.tasks import task_for_record

        d["task"] = task_for_record(d)
        d["schema_version"] = 4
    return d


def _clean(obj: Any) -> Any:
    """Make ``obj`` JSON-safe: numpy scalars/arrays to Python, NaN/inf to None, paths to str."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if np is not None:
        if isinstance(obj, np.ndarray):
            return _clean(obj.tolist())
        if isinstance(obj, np.generic):
            obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def record_line(record: Record) -> bytes:
    """One line of ``results.jsonl`` for ``record`` (sorted keys, UTF-8, ending in ``\\n``)."""
    return (json.dumps(record.to_dict(), sort_keys=True, allow_nan=False) + "\n").encode()


def append_record(run_dir: str | os.PathLike, record: Record) -> Path:
    """Append ``record`` as one line to ``run_dir/results.jsonl`` atomically.

    Args:
        run_dir: the run folder (created if needed).
        record: the :class:`Record`.

    Returns:
        The results file.

    Raises:
        TypeError: ``record`` is not a :class:`Record`, or a value is not JSON-serialisable.
    """
    if not isinstance(record, Record):
        raise TypeError(f"append_record takes a Record, got {type(record).__name__}")
    path = Path(run_dir) / RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = record_line(record)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        # Start on a fresh line if an earlier crash left a torn last line.
        if os.fstat(fd).st_size:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    os.write(fd, b"\n")
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_records(path: str | os.PathLike, *, strict: bool = False) -> list[dict[str, Any]]:
    """Read, validate and migrate every record of a ``results.jsonl`` (or ``RUN_DIR/results.jsonl``).

    A line that is not valid JSON (a torn line after a crash) or not a JSON object is skipped with
    a warning naming the file and line. A record that breaks the schema is skipped with a warning
    naming file, line and field, or raises with ``strict``. A record of a *newer* schema version
    always raises: silently dropping it would empty a leaderboard without saying why.

    Returns:
        The records as plain dicts of the current schema (:meth:`Record.to_dict`), in file order.

    Raises:
        FileNotFoundError: no results file at ``path``.
        RecordSchemaError: a record of a newer schema version; with ``strict``, any invalid record.
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results file")
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                log.warning("%s:%d: skipping a line that is not valid JSON (%s)", path, lineno, exc)
                continue
            if not isinstance(rec, dict):
                log.warning("%s:%d: skipping a line that is not a JSON object", path, lineno)
                continue
            try:
                out.append(Record.from_dict(rec).to_dict())
            except (RecordSchemaError, TypeError) as exc:
                newer = isinstance(rec.get("schema_version"), int) and rec["schema_version"] > SCHEMA_VERSION
                if strict or newer:
                    raise RecordSchemaError(f"{path}:{lineno}: {exc}") from exc
                log.warning("%s:%d: skipping a record that breaks the schema: %s", path, lineno, exc)
    return out


def finished_cell_ids(
    run_dir: str | os.PathLike, *, code_version: str | None = None
) -> set[str]:
    """Ids of the cells already recorded with ``status == "ok"`` in ``run_dir`` (for resume).

    Args:
        run_dir: the run folder.
        code_version: if given, only records made by that code version
            (``provenance.code_version``, see :func:`benchmarks.results.provenance.code_version`) count:
            the gates never reuse results of another commit or of other uncommitted changes.

    Cells recorded as errors or skipped are retried on re-run.
    """
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        return set()
    return {
        r["cell_id"]
        for r in read_records(path)
        if r["status"] == "ok"
        and (code_version is None or r["provenance"].get("code_version") == code_version)
    }
