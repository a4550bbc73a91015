"""The Ray executor (``--executor ray``): one Ray task per cell.

:class:`RayExecutor`: one Ray task per cell (``num_cpus=cpus_per_task``, ``num_gpus=1`` for a
CUDA cell, ``max_retries=0``), on the cluster at ``address`` or on a local one
(``ray.init()``); Ray sets ``OMP_NUM_THREADS`` and ``CUDA_VISIBLE_DEVICES`` per task, and the
cell runs with ``cpus_per_task`` torch threads. Each task runs
:func:`benchmarks.runner.executors.execute_cell` with the Ray task id as job id. A task whose
worker dies is recorded as an error with Ray's reason. Ray itself is imported only when the
executor starts.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Sequence
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
    execute_cell,
    register_executor,
)

log = logging.getLogger(__name__)


def _ray_execute(task: CellTask) -> Outcome:
    """A Ray task: :func:`benchmarks.runner.executors.execute_cell` with the Ray task id as job id."""
    import ray

    try:
        job_id = ray.get_runtime_context().get_task_id()
    except Exception:  # noqa: BLE001
        job_id = None
    return execute_cell(task, job_id=job_id)


def _check_tcp(address: str, timeout_s: float = 5.0) -> None:
    """Raise :class:`benchmarks.runner.executors.ExecutorUnavailable` unless ``host:port``
    (``ray://`` allowed) accepts a TCP connection within ``timeout_s`` (``ray.init`` itself waits
    a minute or more)."""
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
