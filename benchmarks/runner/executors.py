"""Executors: where a grid's cells run. Local worker processes, a Ray cluster, or Slurm through
submitit; all of them share one run folder through :mod:`benchmarks.runner.claims`.

Every executor runs :func:`execute_cell` on a :class:`CellTask`: it claims the cell
(:class:`benchmarks.runner.claims.ClaimStore`, heartbeat thread), pins the thread count, runs the cell
runner (default :func:`benchmarks.runner.cell.run_cell` with ``checkpoint_dir=RUN_DIR/checkpoints`` and,
where its signature has it, ``train_state_dir=RUN_DIR/train_state``), turns an exception into an
``"error"`` record, writes the record to ``RUN_DIR/cells/`` and marks the claim done (``ok``) or
removes it. The driver (:func:`benchmarks.runner.grid.run_grid`) merges the cell files into
``results.jsonl`` as outcomes come back.

* :class:`LocalExecutor` (``--executor local``): ``workers == 1`` runs the cells one after another
  in the calling process. ``workers > 1``, or a pinned GPU, runs them in
  worker processes (``spawn``), one :class:`concurrent.futures.ProcessPoolExecutor` of one process
  per worker slot, slot ``i`` on ``devices[i % len(devices)]``.

  Device assignment: a cell's ``device`` is part of its id and stays the grid's device (``cpu``
  or ``cuda``): a CPU grid's cell ids never change with ``--devices``. For ``--devices cuda:0
  cuda:1`` the grid's device must be ``cuda``; each slot's process sees only its GPU
  (``CUDA_VISIBLE_DEVICES=K``, so ``cuda`` there is physical GPU ``K``), and the record's
  ``provenance.executor.device`` says which GPU ran the cell.

  Threads: each cell runs with ``threads`` torch threads (``torch.set_num_threads`` and
  ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` in worker processes); default ``cores // workers``
  for ``workers > 1`` (cores: this process's CPU affinity), and for ``workers == 1`` torch's
  current setting, left unchanged. The count is in ``provenance.threads``.
* :class:`RayExecutor` (``--executor ray``): one Ray task per cell (``num_cpus=cpus_per_task``,
  ``num_gpus=1`` for a CUDA cell, ``max_retries=0``), on the cluster at ``address`` or on a local
  one (``ray.init()``); Ray sets ``OMP_NUM_THREADS`` and ``CUDA_VISIBLE_DEVICES`` per task, and
  the cell runs with ``cpus_per_task`` torch threads. A task whose worker dies is recorded as an
  error with Ray's reason.
* :class:`SlurmExecutor` (``--executor slurm``): one Slurm array task per cell through
  ``submitit.AutoExecutor(cluster="slurm")`` (partition, time limit, CPUs and GPUs per job,
  array parallelism); logs under ``RUN_DIR/slurm``. The job is checkpointable (:class:`CellJob`):
  on preemption or time-out submitit requeues it and the cell continues from its training
  state; the requeued job keeps its claim's owner, so it takes its own claim over at once. The
  driver follows the jobs with ``squeue`` (accounting not needed); a job that ends without a
  result (``scancel``, node failure, killed) is recorded as an error naming its state.

Where job ids go: every record written through an executor has ``provenance["executor"]``:
``name``, ``attempt`` (unique id of this attempt), ``owner`` (the submission), ``host``,
``pid``, ``job_id`` (Slurm ``<array id>_<index>``, Ray task id, ``None`` locally), ``device``,
``threads`` and ``cuda_visible_devices``. The record schema is unchanged (``provenance`` is an
open object).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
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
``ray``, ``slurm``, registered below with :func:`register_executor`). An executor of one's own is
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


# --------------------------------------------------------------------------------------------
# local
# --------------------------------------------------------------------------------------------


def _parse_devices(devices: Sequence[str] | None) -> list[str] | None:
    if not devices:
        return None
    out = []
    for d in devices:
        if d != "cpu" and d != "cuda" and not (d.startswith("cuda:") and d[5:].isdigit()):
            raise ExecutorUnavailable(f"--devices: {d!r} is not a device; expected cpu, cuda or cuda:K")
        out.append(d)
    return out


def _init_worker(device: str, threads: int | None) -> None:
    """Initializer of a local worker process: its GPU, its threads, and Ctrl-C left to the driver
    (the worker starts with SIGINT blocked, see :func:`_sigint_blocked`; here it is ignored too)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if device.startswith("cuda:"):
        os.environ["CUDA_VISIBLE_DEVICES"] = device.split(":", 1)[1]
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)



@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in the calling thread while worker processes are spawned.

    A spawned process inherits the signal mask across ``exec``: the worker starts with SIGINT
    blocked, so a Ctrl-C sent to the whole process group (a terminal) while it is still
    importing, before :func:`_init_worker` runs, cannot kill it; the driver gets the signal as
    soon as the block is lifted (it stays pending, it is not lost). This is what
    ``multiprocessing.resource_tracker`` does for its own process (CPython bpo-33613).
    """
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def _sigint_as_flag() -> Iterator[threading.Event]:
    """While the driver waits on worker processes, SIGINT only sets an event.

    Python raises ``KeyboardInterrupt`` at whatever bytecode the main thread runs when the signal
    arrives; inside :func:`concurrent.futures.wait` or ``ProcessPoolExecutor.submit`` that can be
    between two lock acquisitions, which leaves a future's lock held by the main thread: the
    pool's manager thread then blocks forever when it marks that future, and the interpreter's
    exit, which joins the manager threads without a timeout, hangs with the workers waiting.
    With this handler the driver polls the event between waits (:data:`_POLL_S`) and raises
    ``KeyboardInterrupt`` itself, at a point where it holds no lock. Outside the main thread
    (where handlers cannot be set) the event is never set and nothing changes.
    """
    import signal

    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: flag.set())
    try:
        yield flag
    finally:  # None: a handler set outside Python; the default is the closest we can restore
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


_POLL_S = 0.2
"""How often (seconds) the driver of local worker processes looks at its Ctrl-C flag."""


@register_executor
class LocalExecutor(Executor):
    """Cells in this process (``workers == 1``) or in ``workers`` worker processes.

    Args:
        workers: concurrent cells.
        devices: device of each worker slot, cycled (``["cuda:0", "cuda:1"]``); default the
            grid's device for every slot.
        threads: torch threads per cell; default ``cores // workers`` with several workers,
            torch's current setting with one.

    Raises:
        ValueError: ``workers < 1`` or ``threads < 1``.
    """

    name = "local"

    def __init__(self, workers: int = 1, devices: Sequence[str] | None = None,
                 threads: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.workers = workers
        self.devices = _parse_devices(devices)
        self._threads = threads

    def threads(self) -> int | None:
        if self._threads is not None:
            return self._threads
        return None if self.workers == 1 else max(1, available_cores() // self.workers)

    def _pinned(self) -> bool:
        return bool(self.devices) and any(d.startswith("cuda:") for d in self.devices)

    def in_process(self) -> bool:
        """One worker and no GPU to pin: the cells run in the calling process."""
        return self.workers == 1 and not self._pinned()

    def device_of(self, slot: int) -> str | None:
        return self.devices[slot % len(self.devices)] if self.devices else None

    def start(self, cells: Sequence[Cell]) -> None:
        if not self.devices:
            return
        for c in cells:
            for d in self.devices:
                if (d == "cpu") != (c.device == "cpu"):
                    raise ExecutorUnavailable(
                        f"--devices {d} cannot run cell device {c.device!r}: pass --device "
                        f"{'cpu' if d == 'cpu' else 'cuda'} for the grid")
                if d.startswith("cuda:") and c.device != "cuda":
                    raise ExecutorUnavailable(
                        f"--devices {d}: the grid's device must be 'cuda' (each worker sees only "
                        f"its GPU, as cuda), got {c.device!r}")

    def describe(self) -> str:
        return (f"local, {self.workers} worker(s)"
                + (f" on {', '.join(self.devices)}" if self.devices else "")
                + (f", {self.threads()} thread(s) per cell" if self.threads() else ""))

    def run(self, tasks: Sequence[CellTask], on_done: OnDone) -> None:
        if self.in_process():
            for task in tasks:
                on_done(task, execute_cell(task))
            return
        self._run_pool(tasks, on_done)

    def _run_pool(self, tasks: Sequence[CellTask], on_done: OnDone) -> None:
        import multiprocessing
        import pickle
        from collections import deque
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        if tasks:
            try:
                pickle.dumps(tasks[0].runner)
            except Exception as exc:  # noqa: BLE001 (pickling raises several types)
                raise TypeError(f"--workers {self.workers}: the cell runner {tasks[0].runner!r} "
                                f"cannot be sent to worker processes ({exc}); use a module-level "
                                "function") from exc
        ctx = multiprocessing.get_context("spawn")
        n_slots = min(self.workers, len(tasks))
        slot_device = [self.device_of(i) or (tasks[0].cell.device if tasks else "cpu") for i in range(n_slots)]

        def new_pool(i: int) -> ProcessPoolExecutor:
            return ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init_worker,
                                       initargs=(slot_device[i], self.threads()))

        pools: list[ProcessPoolExecutor | None] = [None] * n_slots
        free = list(range(n_slots))[::-1]
        queue = deque(tasks)
        pending: dict[Any, tuple[int, CellTask]] = {}
        with _sigint_as_flag() as interrupted:
            try:
                while queue or pending:
                    while queue and free and not interrupted.is_set():
                        i = free.pop()
                        t = queue.popleft()
                        t = replace(t, device=slot_device[i], threads=self.threads(), progress=False)
                        with _sigint_blocked():  # submit spawns the slot's worker the first time
                            if pools[i] is None:
                                pools[i] = new_pool(i)
                            pending[pools[i].submit(execute_cell, t)] = (i, t)
                    if interrupted.is_set():
                        raise KeyboardInterrupt
                    done, _ = wait(list(pending), timeout=_POLL_S, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i, t = pending.pop(fut)
                        try:
                            outcome = fut.result()
                        except BrokenProcessPool as exc:
                            outcome = Outcome(t.cell.cell_id, "died",
                                              error=f"local worker process died while running the "
                                              f"cell (killed, or crashed: {exc})")
                            pools[i].shutdown(wait=False, cancel_futures=True)
                            pools[i] = None
                        except Exception as exc:  # noqa: BLE001 (e.g. a task that does not pickle)
                            outcome = Outcome(t.cell.cell_id, "died",
                                              error=f"local worker failed: {type(exc).__name__}: {exc}")
                        free.append(i)
                        on_done(t, outcome)
                    if interrupted.is_set():
                        raise KeyboardInterrupt
            except BaseException:
                for fut in pending:
                    fut.cancel()
                for p in pools:
                    if p is not None:
                        _terminate_pool(p)
                store = ClaimStore(tasks[0].run_dir) if tasks else None
                for _, t in pending.values():
                    if store is not None:
                        store.release_if_owner(t.cell.cell_id, t.owner)
                raise
        for p in pools:
            if p is not None:
                p.shutdown(wait=True)


def _terminate_pool(pool: Any, grace_s: float = 5.0) -> None:
    """Stop a process pool now: its processes get SIGTERM, then SIGKILL after ``grace_s``
    seconds (their cells are not recorded); never raises, never waits longer than about
    ``2 * grace_s``."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # no public API before 3.14
    with contextlib.suppress(Exception):
        pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(timeout=grace_s)
            if p.is_alive():
                log.warning("local worker pid %s ignored SIGTERM for %.0f s; killing it", p.pid, grace_s)
                p.kill()
                p.join(timeout=grace_s)


# --------------------------------------------------------------------------------------------
# Ray
# --------------------------------------------------------------------------------------------


def _ray_execute(task: CellTask) -> Outcome:
    """A Ray task: :func:`execute_cell` with the Ray task id as job id."""
    import ray

    try:
        job_id = ray.get_runtime_context().get_task_id()
    except Exception:  # noqa: BLE001
        job_id = None
    return execute_cell(task, job_id=job_id)


def _check_tcp(address: str, timeout_s: float = 5.0) -> None:
    """Raise :class:`ExecutorUnavailable` unless ``host:port`` (``ray://`` allowed) accepts a
    TCP connection within ``timeout_s`` (``ray.init`` itself waits a minute or more)."""
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ExecutorUnavailable(f"--ray-address {address}: no Ray cluster reachable there ({exc})") from exc


@register_executor
class RayExecutor(Executor):
    """One Ray task per cell.

    Args:
        address: the cluster (``host:port``, ``ray://host:port``, ``auto``); default: join a Ray
            already initialised in this process, else start a local cluster (``ray.init()``).
        cpus_per_task: ``num_cpus`` of each task, and its torch thread count.
        gpus_per_task: ``num_gpus`` of a CUDA cell's task (CPU cells ask for none).
        init_kwargs: more ``ray.init`` arguments (a local cluster's ``num_cpus``).
    """

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_task: int = 1, gpus_per_task: float = 1,
                 init_kwargs: dict[str, Any] | None = None) -> None:
        if cpus_per_task < 1:
            raise ValueError(f"cpus_per_task must be >= 1, got {cpus_per_task}")
        self.address = address
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.init_kwargs = dict(init_kwargs or {})
        self._started = False
        self.startup_s: float | None = None

    def threads(self) -> int | None:
        return self.cpus_per_task

    def describe(self) -> str:
        return f"ray ({self.address or 'local cluster'}), {self.cpus_per_task} CPU(s) per task"

    def start(self, cells: Sequence[Cell]) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ExecutorUnavailable(f"--executor ray needs the 'ray' package: {exc}") from exc
        if self.address and self.address != "auto":
            _check_tcp(self.address)  # an unreachable address is an error even if Ray is up here
        if ray.is_initialized():
            log.info("using the Ray cluster this process is connected to: %s", ray.cluster_resources())
            self._check_gpus(ray, cells)
            return
        t0 = time.perf_counter()
        kwargs = {"include_dashboard": False, "logging_level": logging.WARNING, **self.init_kwargs}
        try:
            ray.init(address=self.address, **kwargs)
        except Exception as exc:  # noqa: BLE001 (ConnectionError, RuntimeError, ...)
            raise ExecutorUnavailable(
                f"cannot start or join Ray at {self.address or 'a local cluster'}: "
                f"{type(exc).__name__}: {exc}") from exc
        self._started = True
        self.startup_s = time.perf_counter() - t0
        log.info("Ray %s up in %.1f s: %s", "joined" if self.address else "local cluster",
                 self.startup_s, ray.cluster_resources())
        self._check_gpus(ray, cells)

    def _check_gpus(self, ray: Any, cells: Sequence[Cell]) -> None:
        if any(c.device.startswith("cuda") for c in cells) and not ray.cluster_resources().get("GPU"):
            log.warning("CUDA cells, but the Ray cluster has no GPU now: their tasks wait until "
                        "a node with a GPU joins")

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def run(self, tasks: Sequence[CellTask], on_done: OnDone) -> None:
        import ray
        from ray.exceptions import RayError

        remote = ray.remote(_ray_execute)
        refs: dict[Any, CellTask] = {}
        for t in tasks:
            gpus = self.gpus_per_task if t.cell.device.startswith("cuda") else 0
            t = replace(t, threads=self.cpus_per_task, progress=False)
            ref = remote.options(num_cpus=self.cpus_per_task, num_gpus=gpus, max_retries=0,
                                 name=f"cell {t.cell.cell_id}").remote(t)
            refs[ref] = t
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                for ref in ready:
                    t = refs.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except RayError as exc:
                        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                        outcome = Outcome(t.cell.cell_id, "died",
                                          error=f"Ray worker died: {type(exc).__name__}: {first}")
                    on_done(t, outcome)
        except BaseException:
            store = ClaimStore(tasks[0].run_dir) if tasks else None
            for ref, t in refs.items():
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
                if store is not None:
                    store.release_if_owner(t.cell.cell_id, t.owner)
            raise


# --------------------------------------------------------------------------------------------
# Slurm (submitit)
# --------------------------------------------------------------------------------------------


class CellJob:
    """The Slurm job of one cell: a checkpointable callable (submitit calls :meth:`checkpoint`
    on preemption or time-out and requeues what it returns, as ``helpers.Checkpointable``)."""

    def __call__(self, task: CellTask) -> Outcome:
        import submitit

        try:
            job_id = submitit.JobEnvironment().job_id
        except Exception:  # noqa: BLE001 (run outside a submitit job)
            job_id = os.environ.get("SLURM_JOB_ID")
        return execute_cell(task, job_id=job_id)

    def checkpoint(self, task: CellTask) -> Any:
        """Requeue the same cell: the training state in ``RUN_DIR/train_state`` and the claim
        (same owner) carry over to the requeued job."""
        from submitit.helpers import DelayedSubmission

        log.warning("cell %s: preempted or timed out; requeueing", task.cell.cell_id)
        return DelayedSubmission(self, task)


SLURM_ENDED = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
               "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT"}
"""Slurm job states after which no more output comes (PREEMPTED without requeue)."""


def _squeue_states(job_ids: Sequence[str]) -> dict[str, str] | None:
    """``{job id: state}`` from ``squeue`` for jobs still known to the controller (``-t all``,
    array tasks one per line); ``None`` when squeue fails."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    if not arrays:
        return {}
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T", "-j", ",".join(arrays)],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("squeue failed: %s", exc)
        return None
    if out.returncode != 0:
        if "Invalid job id" in out.stderr:
            return {}
        log.warning("squeue failed: %s", out.stderr.strip())
        return None
    states = {}
    for line in out.stdout.splitlines():
        jid, _, state = line.strip().partition("|")
        if jid:
            states[jid] = state.split()[0] if state else ""
    return states


@register_executor
class SlurmExecutor(Executor):
    """One Slurm job (array task) per cell, through submitit.

    Args:
        partition: Slurm partition (default the cluster's default).
        time_min: time limit per job, minutes.
        cpus_per_task: CPUs per job, and the cell's torch thread count.
        gpus_per_task: GPUs per job of a CUDA cell (CPU cells ask for none).
        array_parallelism: at most this many of the array's jobs run at once.
        folder: submitit's folder (default ``RUN_DIR/slurm``).
        max_requeues: requeues after time-outs (submitit's ``slurm_max_num_timeout``).
        poll_s: how often the driver checks the jobs.
        grace_s: how long a job that left the queue may take to show its result file (network
            filesystems), before it counts as dead.
        extra: more ``AutoExecutor.update_parameters`` arguments (``slurm_mem_gb``, ...).
    """

    name = "slurm"

    def __init__(self, partition: str | None = None, time_min: int = 60, cpus_per_task: int = 1,
                 gpus_per_task: int = 1, array_parallelism: int | None = None,
                 folder: str | Path | None = None, max_requeues: int = 3, poll_s: float = 5.0,
                 grace_s: float = 15.0, extra: dict[str, Any] | None = None) -> None:
        self.partition = partition
        self.time_min = time_min
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.array_parallelism = array_parallelism
        self.folder = Path(folder) if folder else None
        self.max_requeues = max_requeues
        self.poll_s = poll_s
        self.grace_s = grace_s
        self.extra = dict(extra or {})
        self.jobs: list[Any] = []

    def threads(self) -> int | None:
        return self.cpus_per_task

    def describe(self) -> str:
        return (f"slurm (partition {self.partition or 'default'}, {self.time_min} min, "
                f"{self.cpus_per_task} CPU(s) per job)")

    def start(self, cells: Sequence[Cell]) -> None:
        if shutil.which("sbatch") is None:
            raise ExecutorUnavailable("--executor slurm: 'sbatch' is not on PATH (no Slurm client "
                                      "here; run on a login node of the cluster)")
        try:
            import submitit  # noqa: F401
        except ImportError as exc:
            raise ExecutorUnavailable(f"--executor slurm needs the 'submitit' package: {exc}") from exc
        try:
            out = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ExecutorUnavailable(f"--executor slurm: sinfo failed: {exc}") from exc
        if out.returncode != 0:
            raise ExecutorUnavailable(f"--executor slurm: the Slurm controller does not answer "
                                      f"(sinfo: {out.stderr.strip()})")
        partitions = [p.rstrip("*") for p in out.stdout.split()]
        if self.partition and self.partition not in partitions:
            raise ExecutorUnavailable(f"--slurm-partition {self.partition!r}: no such partition; "
                                      f"known: {', '.join(partitions)}")

    def _submit(self, tasks: Sequence[CellTask]) -> list[tuple[Any, CellTask]]:
        import submitit

        folder = self.folder or Path(tasks[0].run_dir) / "slurm"
        submitted: list[tuple[Any, CellTask]] = []
        groups: dict[int, list[CellTask]] = {}
        for t in tasks:
            gpus = self.gpus_per_task if t.cell.device.startswith("cuda") else 0
            groups.setdefault(gpus, []).append(replace(t, threads=self.cpus_per_task, progress=False))
        for gpus, group in groups.items():
            ex = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm",
                                       slurm_max_num_timeout=self.max_requeues)
            params: dict[str, Any] = {"timeout_min": self.time_min, "cpus_per_task": self.cpus_per_task,
                                      "name": "neurofer-cell"}
            if gpus:
                params["gpus_per_node"] = gpus
            if self.partition:
                params["slurm_partition"] = self.partition
            if self.array_parallelism:
                params["slurm_array_parallelism"] = self.array_parallelism
            params.update(self.extra)
            ex.update_parameters(**params)
            try:
                jobs = ex.map_array(CellJob(), group)
            except Exception as exc:  # noqa: BLE001 (sbatch failed: nothing was submitted)
                raise ExecutorUnavailable(f"--executor slurm: sbatch failed: {exc}") from exc
            submitted.extend(zip(jobs, group, strict=True))
            log.info("submitted %d cell(s) as Slurm array %s", len(jobs),
                     jobs[0].job_id.split("_")[0] if jobs else "-")
        return submitted

    def run(self, tasks: Sequence[CellTask], on_done: OnDone) -> None:
        if not tasks:
            return
        pending = {job.job_id: (job, t) for job, t in self._submit(tasks)}
        self.jobs.extend(job for job, _ in pending.values())
        gone_since: dict[str, float] = {}
        try:
            while pending:
                states = _squeue_states(list(pending))
                for jid, (job, t) in list(pending.items()):
                    outcome = None
                    if job.paths.result_pickle.exists():
                        try:
                            outcome = job.result()
                        except Exception as exc:  # noqa: BLE001 (the job's own failure)
                            first = str(exc).strip().splitlines()
                            outcome = Outcome(t.cell.cell_id, "died", job_id=jid,
                                              error=f"slurm job {jid} failed: {first[-1] if first else exc}")
                    elif states is not None:
                        state = states.get(jid)
                        if state is None or state in SLURM_ENDED:
                            since = gone_since.setdefault(jid, time.monotonic())
                            if time.monotonic() - since > self.grace_s:
                                how = f"ended in state {state}" if state else "left the queue"
                                outcome = Outcome(t.cell.cell_id, "died", job_id=jid,
                                                  error=f"slurm job {jid} {how} without a result "
                                                  f"(log: {job.paths.stderr})")
                        else:
                            gone_since.pop(jid, None)
                    if outcome is not None:
                        del pending[jid]
                        on_done(t, outcome)
                if pending:
                    time.sleep(self.poll_s)
        except BaseException:
            store = ClaimStore(tasks[0].run_dir)
            for job, t in pending.values():
                with contextlib.suppress(Exception):
                    job.cancel(check=False)
                store.release_if_owner(t.cell.cell_id, t.owner)
            log.warning("cancelled %d Slurm job(s) still pending or running", len(pending))
            raise


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
