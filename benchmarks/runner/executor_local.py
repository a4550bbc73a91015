"""The local executor (``--executor local``): cells in this process or in worker processes on
this machine.

:class:`LocalExecutor`: ``workers == 1`` runs the cells one after another in the calling
process. ``workers > 1``, or a pinned GPU, runs them in worker processes (``spawn``), one
:class:`concurrent.futures.ProcessPoolExecutor` of one process per worker slot, slot ``i`` on
``devices[i % len(devices)]``. Each cell runs through
:func:`benchmarks.runner.executors.execute_cell`.

Device assignment: a cell's ``device`` is part of its id and stays the grid's device (``cpu``
or ``cuda``): a CPU grid's cell ids never change with ``--devices``. For ``--devices cuda:0
cuda:1`` the grid's device must be ``cuda``; each slot's process sees only its GPU
(``CUDA_VISIBLE_DEVICES=K``, so ``cuda`` there is physical GPU ``K``), and the record's
``provenance.executor.device`` says which GPU ran the cell.

Threads: each cell runs with ``threads`` torch threads (``torch.set_num_threads`` and
``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` in worker processes); default ``cores // workers``
for ``workers > 1`` (cores: this process's CPU affinity), and for ``workers == 1`` torch's
current setting, left unchanged. The count is in ``provenance.threads``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from benchmarks.results.spec import Cell
from benchmarks.runner.claims import ClaimStore
from benchmarks.runner.executors import (
    CellTask,
    Executor,
    ExecutorUnavailable,
    OnDone,
    Outcome,
    available_cores,
    execute_cell,
    register_executor,
)

log = logging.getLogger(__name__)


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
