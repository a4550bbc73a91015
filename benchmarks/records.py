"""Result records: one JSON object per line of ``RUN_DIR/results.jsonl``.

Schema (``SCHEMA_VERSION`` 1): ``schema_version``, ``status`` (``"ok"``/``"error"``), ``error``,
``kind`` (``"trained"`` or ``"published"``), ``method``, ``cell_id``, ``cell`` (the full cell spec),
``classes``, ``metrics`` (units in key names), ``timings_s`` and ``provenance``. Appends are atomic
at line granularity: each record is written with one ``os.write`` of a complete line on a file
opened with ``O_APPEND`` and fsync'ed, so a crash or Ctrl-C never leaves half a line of a finished
cell (a torn last line from a crash mid-write is skipped, with a warning, by :func:`read_records`).
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RESULTS_FILE = "results.jsonl"


def _clean(obj: Any) -> Any:
    """Make ``obj`` JSON-safe: numpy scalars/arrays to Python, NaN/inf to None."""
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


def append_record(run_dir: str | os.PathLike, record: dict) -> Path:
    """Append ``record`` as one line to ``run_dir/results.jsonl`` atomically.

    Args:
        run_dir: the run folder (created if needed).
        record: a JSON-serialisable dict (numpy values and NaN are converted; NaN -> null).

    Returns:
        The results file.

    Raises:
        TypeError: the record is not JSON-serialisable.
    """
    path = Path(run_dir) / RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(_clean(record), sort_keys=True, allow_nan=False) + "\n").encode()
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


def read_records(path: str | os.PathLike) -> list[dict]:
    """Read every valid record of a ``results.jsonl`` (or of ``RUN_DIR/results.jsonl``).

    A line that is not valid JSON (a torn line after a crash, a hand edit) is skipped with a
    warning naming the file and line number; it never aborts the read.

    Raises:
        FileNotFoundError: no results file at ``path``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results file")
    out = []
    with open(path, encoding="utf-8") as fh:
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
            out.append(rec)
    return out


def finished_cell_ids(run_dir: str | os.PathLike) -> set[str]:
    """Ids of the cells already recorded with ``status == "ok"`` in ``run_dir`` (for resume).

    Cells recorded as errors are retried on re-run.
    """
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        return set()
    return {r["cell_id"] for r in read_records(path) if r.get("status") == "ok" and "cell_id" in r}
