"""What a run folder was asked to hold: the planned cell ids, written before any cell runs.

A record file tells what was recorded, not what was meant to be; without a plan nothing tells a
hole (a cell killed, interrupted or lost) from a smaller request. So every command that runs
cells into a folder (``run_bench.py run``: ``RUN_DIR``; ``run_bench.py robustness``:
``RUN_DIR/robustness``) first writes its planned cell ids there, and
:func:`benchmarks.results.validate.validate_run` and the robustness report compare them with
the records.

Layout: ``<folder>/plans/<UTC time>-<16 hex digits>.json``, one file per command invocation,
``{"command": str, "created": float (s since the epoch), "host": str, "pid": int,
"cell_ids": [str, ...]}``, written atomically (:func:`datasets.common.atomic_write_text`: a
temporary file renamed into place). One file per invocation rather than appended lines because
appends from several hosts to one file are not atomic on NFS (see
:mod:`benchmarks.runner.claims`), while a rename is. The folder's plan is the union of its plan
files; a folder without ``plans/`` (written before plans existed) has no plan, and nothing is
compared.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from datasets.common import InputError, atomic_write_text

PLANS_DIR = "plans"


class PlanError(InputError, ValueError):
    """A plan file that cannot be read; the message names the file and what is wrong."""


def write_plan(folder: str | os.PathLike, cell_ids: Iterable[str], *, command: str) -> Path:
    """Write one plan file (see the module docstring) naming ``cell_ids`` under ``folder``.

    Args:
        folder: the run folder (``RUN_DIR`` or ``RUN_DIR/robustness``); created if absent.
        cell_ids: the cell ids this invocation means to record.
        command: what planned them (``"run"``, ``"robustness"``), for a reader.

    Returns:
        The plan file's path.
    """
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    path = Path(folder) / PLANS_DIR / f"{stamp}-{uuid.uuid4().hex[:16]}.json"
    body = {"command": command, "created": now, "host": socket.gethostname(), "pid": os.getpid(),
            "cell_ids": [str(c) for c in dict.fromkeys(cell_ids)]}
    return atomic_write_text(path, json.dumps(body, sort_keys=True) + "\n")


def has_plan(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` has a ``plans/`` folder with at least one plan file."""
    d = Path(folder) / PLANS_DIR
    return d.is_dir() and any(d.glob("*.json"))


def planned_cell_ids(folder: str | os.PathLike) -> list[str]:
    """The union of the cell ids of ``folder``'s plan files, in the order first planned
    (files by their ``created`` time, then name); ``[]`` without a plan.

    Raises:
        PlanError: a plan file that is not JSON or lacks a ``cell_ids`` list of strings.
    """
    d = Path(folder) / PLANS_DIR
    if not d.is_dir():
        return []
    plans = []
    for path in d.glob("*.json"):
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PlanError(f"{path}: unreadable plan file ({exc})") from exc
        cells = body.get("cell_ids") if isinstance(body, dict) else None
        if not isinstance(cells, list) or not all(isinstance(c, str) for c in cells):
            raise PlanError(f"{path}: cell_ids: expected a list of cell id strings, got "
                            f"{type(cells).__name__}")
        created = body.get("created")
        plans.append((created if isinstance(created, (int, float)) else 0.0, path.name, cells))
    ids: dict[str, None] = {}
    for _, _, cells in sorted(plans):
        ids.update(dict.fromkeys(cells))
    return list(ids)
