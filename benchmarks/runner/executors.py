"""Executors: where a grid's cells run. Local worker processes, a Ray cluster, or Slurm through
submitit; all of them share one run folder through :mod:`benchmarks.runner.claims`.

Every executor runs :func:`execute_cell` on a :class:`CellTask`: it claims the cell
(:class:`benchmarks.runner.claims.ClaimStore`, heartbeat thread), pins the thread count, runs the cell
runner (default :func:`benchmarks.runner.cell.run_cell` with ``checkpoint_dir=RUN_DIR/checkpoints`` and,
where its signature has it, ``train_state_dir=RUN_DIR/train_state``), turns an exception into an
``"error"`` record, writes the record to ``RUN_DIR/cells/`` and marks the claim done (``ok``) or
removes it. The driver (:func:`benchmarks.runner.grid.run_grid`) merges the cell files into
``results.jsonl`` as outcomes come back.

The executors, one module each (the files :data:`EXECUTORS` imports, ``executor_*.py``):

* ``--executor local``: :class:`benchmarks.runner.executor_local.LocalExecutor`, the cells in
  this process or in worker processes of this machine, one per worker slot and GPU;
* ``--executor ray``: :class:`benchmarks.runner.executor_ray.RayExecutor`, one Ray task per cell;
* ``--executor slurm``: :class:`benchmarks.runner.executor_slurm.SlurmExecutor`, one Slurm array
  task per cell through submitit, requeued on preemption.

This module holds what they share: the registry, the :class:`Executor` base, the task and its
:class:`Outcome`, :func:`execute_cell` and the one record writer :func:`write_record`. The
executor classes are importable from here too (``from benchmarks.runner.executors import
LocalExecutor``, through this module's ``__getattr__``).

Where job ids go: every record written through an executor has ``provenance["executor"]``:
``name``, ``attempt`` (unique id of this attempt), ``owner`` (the submission), ``host``,
``pid``, ``job_id`` (Slurm ``<array id>_<index>``, Ray task id, ``None`` locally), ``device``,
``threads`` and ``cuda_visible_devices``. The record schema is unchanged (``provenance`` is an
open object).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import os
import socket
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.results.records import Record
from benchmarks.results.spec import Cell
from benchmarks.runner.claims import (
    DEFAULT_HEARTBEAT_S,
    Claim,
    ClaimStore,
    Held,
    new_attempt_id,
    write_cell_record,
)
from datasets.common import InputError, Registry, UnknownNameError

log = logging.getLogger(__name__)

EXECUTORS: Registry[type[Executor]] = Registry(
    "executor", package="benchmarks.runner", include="executor_*",
    entry_point_group="neurofer_bench.executors",
)
"""Registry: executor name -> :class:`Executor` subclass, in registration order (``local``,
``ray``, ``slurm``, registered with :func:`register_executor` by their modules
``executor_local.py``, ``executor_ray.py`` and ``executor_slurm.py``). An executor of one's own is
one new module ``benchmarks/runner/executor_<name>.py`` (imported on the first lookup) or a
third-party package's ``neurofer_bench.executors`` entry point; :func:`make_executor` builds one
by name."""

E = TypeVar("E", bound="type[Executor]")


def register_executor(cls: E) -> E:
    """Class decorator registering an :class:`Executor` subclass in :data:`EXECUTORS` under its
    ``name`` attribute; returns the class.

    Raises:
        ValueError: the name is already registered.
    """
    return EXECUTORS.register(cls.name, cls)


class ExecutorUnavailable(InputError, RuntimeError):
    """An executor that cannot start (no Ray cluster at the address, no ``sbatch``, a Slurm
    controller that does not answer, an unknown partition); raised before any cell starts."""


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------------------------
# one cell, wherever it runs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellTask:
    """Everything a worker needs to run one cell (picklable: sent to processes, Ray, Slurm).

    Attributes:
        cell: the cell.
        data_root, run_dir: absolute paths (as strings).
        owner: the submission's claim owner (unique per submission; kept by a requeued job).
        executor: executor name, for the record.
        runner: the cell runner, or ``None`` for :func:`benchmarks.runner.cell.run_cell` (given the
            run folder's ``checkpoints`` and, if it takes one, ``train_state`` folder).
        progress: show the cell's progress bars.
        threads: torch threads for the cell, or ``None`` to leave the process's setting.
        device: the device slot that runs it (``cpu``, ``cuda:1``), for the record.
        heartbeat_s, timeout_s: claim heartbeat interval and timeout, seconds.
        code_version: the driver's code version when ``same_code_only``, else ``None``: a done
            claim of other code does not count.
    """

    cell: Cell
    data_root: str
    run_dir: str
    owner: str
    executor: str = "local"
    runner: Callable[..., Record] | None = None
    progress: bool = False
    threads: int | None = None
    device: str | None = None
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    timeout_s: float | None = None
    code_version: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of a task.

    ``status``: ``"ok"`` / ``"error"`` (a record was written: ``record_file``), ``"done"``
    (already recorded by another worker), ``"running"`` (another live worker holds it),
    ``"lost"`` (this worker's claim was taken over; its result was discarded) or ``"died"``
    (the worker died; set by the driver, which records the error).
    """

    cell_id: str
    status: str
    record_file: str | None = None
    error: str | None = None
    job_id: str | None = None
    holder: str | None = None


def make_owner(executor: str) -> str:
    """A claim owner token for one submission."""
    return f"{executor}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:10]}"


def _pin_threads(threads: int | None) -> int | None:
    """Set the torch (and OpenMP/MKL) thread count; return the previous torch count."""
    if threads is None:
        return None
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    return prev


def _runner_and_kwargs(task: CellTask) -> tuple[Callable[..., Record], dict[str, Any]]:
    if task.runner is not None:
        return task.runner, {}
    from benchmarks.runner.cell import run_cell

    run_dir = Path(task.run_dir)
    kwargs: dict[str, Any] = {"checkpoint_dir": run_dir / "checkpoints"}
    if "train_state_dir" in inspect.signature(run_cell).parameters:
        kwargs["train_state_dir"] = run_dir / "train_state"
    return run_cell, kwargs


def executor_block(task: CellTask, attempt: str, job_id: str | None, *,
                   host: str | None = None, pid: int | None = None) -> dict[str, Any]:
    """The record's ``provenance["executor"]`` (see the module docstring)."""
    threads = None
    with contextlib.suppress(ImportError):
        import torch

        threads = torch.get_num_threads()
    return {
        "name": task.executor, "attempt": attempt, "owner": task.owner,
        "host": host if host is not None else socket.gethostname(),
        "pid": pid if pid is not None else os.getpid(), "job_id": job_id,
        "device": task.device or task.cell.device, "threads": threads,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def status_record(cell: Cell, status: str, message: str, tb: str | None = None) -> Record:
    """A record of ``cell`` without results: ``status`` ``"error"`` (the cell failed or its
    worker died) or ``"skipped"`` (it could not run), ``message`` its reason, ``tb`` the
    traceback or ``None``; with this machine's provenance."""
    from benchmarks.results.provenance import provenance

    return Record.for_cell(cell, status, error=message, traceback=tb,
                           provenance=provenance(None, cell.device))


def write_record(task: CellTask, record: Record, job_id: str | None = None, *,
                 died: bool = False) -> Path:
    """Write ``record`` of ``task``'s cell to ``RUN_DIR/cells/`` (:func:`write_cell_record`):
    the one place a cell record is written, for every status (``ok`` and ``error`` by
    :func:`execute_cell`, ``error`` of a dead worker and ``skipped`` by
    :func:`benchmarks.runner.grid.run_grid`).

    It sets ``record.provenance["executor"]`` (:func:`executor_block`, a new attempt id). With
    ``died`` the record is written by the driver for a worker that died: ``host`` ``"unknown"``,
    ``pid`` -1, the task's ``threads``, ``cuda_visible_devices`` ``None`` and ``died: true``.

    Returns:
        The record file's path.
    """
    if died:
        block = {**executor_block(task, new_attempt_id(), job_id, host="unknown", pid=-1),
                 "threads": task.threads, "cuda_visible_devices": None, "died": True}
    else:
        block = executor_block(task, new_attempt_id(), job_id)
    record.provenance = {**record.provenance, "executor": block}
    return write_cell_record(task.run_dir, record)


def execute_cell(task: CellTask, job_id: str | None = None) -> Outcome:
    """Claim, run and record one cell (see the module docstring); runs in the worker.

    Returns:
        The :class:`Outcome`. Exceptions of the cell runner become an ``"error"`` record;
        ``KeyboardInterrupt`` releases the claim and propagates; other ``BaseException``\\ s
        (``SystemExit`` of a preempted Slurm job being requeued) keep the claim, which the
        requeued job takes over.
    """
    from benchmarks.results.provenance import code_version

    cell = task.cell
    store = ClaimStore(task.run_dir, task.heartbeat_s, task.timeout_s)
    got = store.acquire(cell.cell_id, task.owner, code_version=task.code_version or code_version(),
                        same_code_only=task.code_version is not None, job_id=job_id)
    if isinstance(got, Held):
        holder = f"{got.info.host} pid {got.info.pid}" + (f" job {got.info.job_id}" if got.info.job_id else "")
        return Outcome(cell.cell_id, got.reason, job_id=job_id, holder=holder)
    claim: Claim = got
    prev_threads = None
    try:
        prev_threads = _pin_threads(task.threads)
        runner, kwargs = _runner_and_kwargs(task)
        try:
            record = runner(cell, Path(task.data_root), progress=task.progress, **kwargs)
            if not isinstance(record, Record):
                raise TypeError(f"the cell runner returned {type(record).__name__}, not a Record")
        except Exception as exc:  # noqa: BLE001 (a failing cell is recorded; the grid goes on)
            log.error("cell %s failed: %s: %s", cell.cell_id, type(exc).__name__, exc)
            record = status_record(cell, "error", f"{type(exc).__name__}: {exc}",
                                   traceback.format_exc(limit=8))
        if claim.lost.is_set() or not claim.owned():
            log.warning("cell %s: the claim was taken over by another worker (this one stalled "
                        "past the %.0f s timeout); discarding this result", cell.cell_id,
                        claim.info.timeout_s)
            claim.release()
            return Outcome(cell.cell_id, "lost", job_id=job_id)
        path = write_record(task, record, job_id)
        rel = str(path.relative_to(task.run_dir))
        if record.status == "ok":
            claim.complete(rel)
        else:
            claim.release()
        return Outcome(cell.cell_id, record.status, record_file=rel, error=record.error, job_id=job_id)
    except KeyboardInterrupt:
        claim.release()
        raise
    except BaseException:
        claim._stop_heartbeat()  # SystemExit of a requeued job: keep the claim for its successor
        raise
    finally:
        if prev_threads is not None:
            import torch

            torch.set_num_threads(prev_threads)


OnDone = Callable[[CellTask, Outcome], None]


class Executor:
    """Base of the executors: :meth:`start` (checks, raises :class:`ExecutorUnavailable`
    before any cell starts), :meth:`run` (calls ``on_done(task, outcome)`` in the driver as each
    task ends, ``"died"`` for a worker that died), :meth:`close`."""

    name = "base"

    def threads(self) -> int | None:
        """Torch threads per cell (``None``: leave the process's setting)."""
        return None

    def device_of(self, slot: int) -> str | None:
        return None

    def start(self, cells: Sequence[Cell]) -> None:
        """Check that the executor can run ``cells`` (before any cell starts)."""

    def run(self, tasks: Sequence[CellTask], on_done: OnDone) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what :meth:`start` took (a Ray cluster it started)."""

    def describe(self) -> str:
        return self.name


def make_executor(name: str = "local", **options: Any) -> Executor:
    """An executor of :data:`EXECUTORS` by name (``local``, ``ray``, ``slurm``, ...) with its
    constructor's options (``None`` values dropped).

    Raises:
        ExecutorUnavailable: an unknown name (close matches suggested).
    """
    try:
        cls = EXECUTORS[name]
    except UnknownNameError as exc:
        raise ExecutorUnavailable(str(exc)) from None
    return cls(**{k: v for k, v in options.items() if v is not None})


def executor_from_options(name: str, options: Mapping[str, Any]) -> Executor:
    """An executor of :data:`EXECUTORS` by name, each parameter ``q`` of its constructor taken
    from ``options`` (a command line's parsed options, ``vars(args)``) as ``<name>_<q>`` where
    that key is present (``slurm_partition`` -> ``partition``), else ``q`` (``workers``); absent
    keys and ``None`` values keep the constructor's default. A new executor's options reach it
    by these names without a change here or on the command line's side.

    Raises:
        ExecutorUnavailable: an unknown name (close matches suggested).
    """
    try:
        cls = EXECUTORS[name]
    except UnknownNameError as exc:
        raise ExecutorUnavailable(str(exc)) from None
    kwargs = {}
    for q in list(inspect.signature(cls.__init__).parameters)[1:]:
        for key in (f"{name.replace('-', '_')}_{q}", q):
            if key in options:
                kwargs[q] = options[key]
                break
    return make_executor(name, **kwargs)


_EXECUTOR_MODULES = {"LocalExecutor": "executor_local", "RayExecutor": "executor_ray",
                     "SlurmExecutor": "executor_slurm", "CellJob": "executor_slurm",
                     "SLURM_ENDED": "executor_slurm", "_squeue_states": "executor_slurm"}
"""Names of the executor modules importable from this one (name -> module of this package)."""


def __getattr__(name: str) -> Any:
    """``benchmarks.runner.executors.<name>`` for a name of ``_EXECUTOR_MODULES``: the object
    of its executor module, imported on first use (those modules import this one, so this one
    cannot import them at its top). The built-in executors are registered first, in their
    order (:data:`EXECUTORS`).

    Raises:
        AttributeError: any other name.
    """
    module = _EXECUTOR_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    EXECUTORS.names()
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)
