"""The Slurm executor (``--executor slurm``): one Slurm array task per cell, through submitit.

:class:`SlurmExecutor`: one Slurm array task per cell through
``submitit.AutoExecutor(cluster="slurm")`` (partition, time limit, CPUs and GPUs per job, array
parallelism); logs under ``RUN_DIR/slurm``. The job is checkpointable (:class:`CellJob`): on
preemption or time-out submitit requeues it and the cell continues from its training state;
the requeued job keeps its claim's owner, so it takes its own claim over at once. The driver
follows the jobs with ``squeue`` (accounting not needed); a job that ends without a result
(``scancel``, node failure, killed) is recorded as an error naming its state. The job id in the
record is Slurm's ``<array id>_<index>``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
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
