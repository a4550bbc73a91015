"""A run folder that several processes, on several hosts, can share: per-cell claims with a
heartbeat, one record file per cell attempt, and their merge into ``results.jsonl``.

Layout of a run folder (besides ``results.jsonl``, the one file users and tools read)::

    RUN_DIR/claims/<safe id>.claim          who runs (or ran) a cell: JSON, see ClaimInfo
    RUN_DIR/cells/<safe id>.<attempt>.json  one record per cell attempt, written by the worker
    RUN_DIR/results.jsonl                   the merge of the cell files (and any older records)

Why files and not appends or ``flock``: on a network filesystem shared by several nodes (NFS),
``O_APPEND`` from different clients is not atomic and advisory locks are unreliable; what is
atomic there is creating a hard link (``link`` fails with ``EEXIST``) and ``rename``. So:

* **Claims.** A worker claims a cell before running it by writing its claim to a temporary file
  and hard-linking it to ``claims/<safe id>.claim`` (:func:`_create_exclusive`; after a lost NFS
  reply the link count of the temporary file tells whether the link was made). The claim holds the
  cell id, an ``owner`` (a token chosen by whoever submitted the work, stable across a Slurm
  requeue), the worker's host and pid, a unique ``token``, the time and the heartbeat settings.
  A thread of the worker refreshes the claim's mtime every ``heartbeat_s`` (``os.utime``); a
  *running* claim whose mtime is older than its own ``timeout_s`` is **stale** (its worker was
  killed) and may be taken over. A running claim whose worker is **dead** is taken over at once:
  the claim names the worker's host, the host's boot and pid namespace (:func:`host_key`) and
  the process's start time (:func:`process_start_ticks`), so a process on the same host and in
  the same pid namespace tells a dead worker (no such pid, a zombie, or the pid reused by a
  process that started later) from a live one (:func:`holder_dead`); a claim of another host is
  judged by its heartbeat only. When the cell finishes ``ok`` the claim is replaced
  (``os.replace``) by a **done** claim naming the record file; done claims never expire (unless
  ``same_code_only`` asks for a cell recorded by other code, or the record file is gone). When the
  cell fails, or is interrupted, the claim is removed, so a re-run retries it.
* **Take-over** of a stale claim: rename it to a name of one's own (only one racer can), check
  that the renamed file is the stale claim that was inspected (its token), else put it back; then
  claim normally. A worker checks that it still owns its claim before it writes its record, so a
  worker that lost its claim (stalled past the timeout) discards its result: exactly one record.
* **Records.** A worker writes its record to ``cells/<safe id>.<attempt>.json`` atomically
  (temporary file + rename, :func:`datasets.common.atomic_write_text`); files are never rewritten.
  The driver merges them into ``results.jsonl`` (:func:`merge_cell_records`) under a merge lock
  (itself a claim with a heartbeat), so only one process at a time appends to the results file:
  it appends each cell file not yet there (by its attempt id, ``provenance.executor.attempt``),
  and never a second ``ok`` record of a cell made by the same code version. Merging is idempotent
  and any process can do it; the cell files stay as the source of truth.

Clock note: staleness compares the claim file's mtime (set by the file server on NFS) with the
reader's clock; keep the claim timeout well above the clock skew between hosts (the default is
four heartbeats of 30 s).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.results.records import (
    RESULTS_FILE,
    Record,
    RecordSchemaError,
    append_record,
    read_records,
)
from datasets.common import atomic_write_text

log = logging.getLogger(__name__)

CLAIMS_DIR = "claims"
CELLS_DIR = "cells"
MERGE_LOCK = ".merge"
DEFAULT_HEARTBEAT_S = 30.0
TIMEOUT_HEARTBEATS = 4
"""Default claim timeout, in heartbeat intervals."""


def safe_cell_id(cell_id: str) -> str:
    """A file-name-safe, unique form of a cell id: ``/`` as ``__``, any character outside
    ``[A-Za-z0-9._-]`` as ``_`` (the rule of :func:`benchmarks.runner.checkpoints.checkpoint_filename`),
    plus ``-`` and 8 hex digits of the id's SHA-1, so that two ids never share a file."""
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", cell_id.replace("/", "__"))
    return f"{readable}-{hashlib.sha1(cell_id.encode()).hexdigest()[:8]}"


def default_timeout_s(heartbeat_s: float) -> float:
    """The claim timeout for a heartbeat interval: :data:`TIMEOUT_HEARTBEATS` intervals."""
    return TIMEOUT_HEARTBEATS * heartbeat_s


@dataclass(frozen=True)
class ClaimInfo:
    """The content of a claim file.

    Attributes:
        cell_id: the claimed cell.
        owner: the submission that claims it (a requeued Slurm job keeps its owner).
        token: unique to this claim (tells a claim from its successor).
        state: ``"running"`` or ``"done"``.
        host, pid: the worker process.
        created: claim time, seconds since the epoch (the claimer's clock).
        heartbeat_s: the worker's heartbeat interval; timeout_s: after this long without a
            heartbeat (file mtime) a running claim is stale.
        code_version: the worker's code version (for ``same_code_only``).
        job_id: the scheduler's job id (Slurm ``1234_5``, Ray task id), if any.
        record: done claims: the record file, relative to the run folder.
        host_key: the worker's boot id and pid namespace (:func:`host_key`), ``None`` where
            unknown (not Linux, or a claim written without it).
        pid_start: the worker process's start time in clock ticks since boot
            (:func:`process_start_ticks`), ``None`` where unknown.
    """

    cell_id: str
    owner: str
    token: str
    state: str = "running"
    host: str = ""
    pid: int = 0
    created: float = 0.0
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    timeout_s: float = DEFAULT_HEARTBEAT_S * TIMEOUT_HEARTBEATS
    code_version: str | None = None
    job_id: str | None = None
    record: str | None = None
    host_key: str | None = None
    pid_start: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ClaimInfo:
        d = json.loads(text)
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def process_start_ticks(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (field 22, ``starttime``, of
    ``/proc/<pid>/stat``, proc(5)), or ``None`` when it cannot be read (no such process, not
    Linux). With the pid it names one process for the host's uptime: a reused pid has a later
    start time."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3, the state, first),
    or ``None``. The name is in parentheses and may hold spaces: split after the last ``)``."""
    try:
        text = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    return text[text.rfind(")") + 1:].split()


_HOST_KEY: dict[int, str | None] = {}


def host_key() -> str | None:
    """This process's boot and pid namespace: ``<boot id>/<pid namespace>`` (the kernel's
    ``/proc/sys/kernel/random/boot_id`` and the ``/proc/self/ns/pid`` link), or ``None`` off
    Linux. Two processes see each other's pids only when their keys match (same boot, same pid
    namespace; containers sharing a host name do not)."""
    pid = os.getpid()
    if pid not in _HOST_KEY:
        try:
            boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
            _HOST_KEY[pid] = f"{boot}/{os.readlink('/proc/self/ns/pid')}"
        except OSError:
            _HOST_KEY[pid] = None
    return _HOST_KEY[pid]


def holder_dead(info: ClaimInfo) -> bool:
    """Whether the worker of a running claim is known to be dead: the claim was made on this host
    (same host name and :func:`host_key`) and its pid names no process, a zombie, or a process
    that started at another time than the claimer (:func:`process_start_ticks`: the pid was
    reused). ``False`` whenever it cannot be known (another host, no key, no pid)."""
    if info.state != "running" or info.pid <= 0 or info.host != socket.gethostname():
        return False
    key = host_key()
    if key is None or info.host_key != key:
        return False
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a live process of another user
        pass
    fields = _proc_stat(info.pid)
    if fields is None:
        return False
    if fields[0] in ("Z", "X"):  # exited, not yet reaped by its parent
        return True
    return info.pid_start is not None and len(fields) > 19 and int(fields[19]) != info.pid_start


def _read_claim(path: Path) -> tuple[ClaimInfo, float] | None:
    """The claim at ``path`` and its mtime (last heartbeat), or ``None`` if there is none.
    An unreadable claim (a torn file cannot happen; a foreign file can) counts as stale."""
    try:
        with open(path, encoding="utf-8") as fh:
            mtime = os.fstat(fh.fileno()).st_mtime
            text = fh.read()
    except FileNotFoundError:
        return None
    try:
        return ClaimInfo.from_json(text), mtime
    except (ValueError, TypeError) as exc:
        log.warning("%s: unreadable claim (%s); treating it as stale", path, exc)
        return ClaimInfo(cell_id="?", owner="?", token="?", timeout_s=0.0), 0.0


def _create_exclusive(path: Path, content: str) -> bool:
    """Create ``path`` with ``content`` unless it exists, atomically also on NFS: write a
    temporary file, hard-link it to ``path`` (``link`` fails if ``path`` exists) and check the
    temporary file's link count (a retransmitted NFS ``LINK`` may report ``EEXIST`` for a link it
    made). Returns whether this call created ``path``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, content.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links: O_EXCL (atomic on local fs, NFSv3+)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            try:
                os.write(fd, content.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            return True
        return os.stat(tmp).st_nlink == 2
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _break(path: Path, seen_token: str) -> None:
    """Remove the claim at ``path`` if it is still the one with ``seen_token`` (a stale or
    otherwise breakable claim). Racers: only one rename succeeds; if the renamed file turns out to
    be a newer claim (someone broke and re-claimed in between), it is put back."""
    tomb = path.with_name(f".{path.name}.broken.{uuid.uuid4().hex}")
    try:
        os.rename(path, tomb)
    except FileNotFoundError:
        return
    try:
        got = _read_claim(tomb)
        if got is not None and got[0].token != seen_token:
            try:
                os.link(tomb, path)
            except FileExistsError:  # a third process claimed meanwhile: its owner wins
                log.warning("%s: a live claim was displaced while breaking a stale one; its "
                            "holder will find it lost and discard its result", path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tomb)


@dataclass(frozen=True)
class Held:
    """Why a claim was not acquired: ``reason`` ``"done"`` (recorded) or ``"running"``
    (another live worker runs the cell), with that claim's content."""

    reason: str
    info: ClaimInfo


class Claim:
    """A claim this process holds on a cell; heartbeats from a daemon thread while held.

    Use :meth:`complete` after writing the cell's ``ok`` record, :meth:`release` otherwise
    (both stop the heartbeat); :meth:`owned` tells whether it is still this process's.
    """

    def __init__(self, path: Path, info: ClaimInfo) -> None:
        self.path = path
        self.info = info
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {path.name}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.info.heartbeat_s):
            if not self.owned():
                log.warning("claim %s was taken over by another worker", self.path.name)
                self.lost.set()
                return
            with contextlib.suppress(FileNotFoundError):
                os.utime(self.path)

    def owned(self) -> bool:
        """Whether the claim file is still this claim (same token)."""
        got = _read_claim(self.path)
        return got is not None and got[0].token == self.info.token

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def complete(self, record_relpath: str) -> None:
        """Mark the cell done (the claim now names its record file and never expires)."""
        self._stop_heartbeat()
        done = ClaimInfo(**{**asdict(self.info), "state": "done", "record": record_relpath})
        atomic_write_text(self.path, done.to_json())
        self.info = done

    def release(self) -> None:
        """Remove the claim if it is still this one and running (the cell may run again)."""
        self._stop_heartbeat()
        got = _read_claim(self.path)
        if got is not None and got[0].token == self.info.token and got[0].state == "running":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


class ClaimStore:
    """The claims of a run folder (``RUN_DIR/claims``).

    Args:
        run_dir: the run folder.
        heartbeat_s: heartbeat interval of claims made here, seconds.
        timeout_s: a running claim made here is stale after this long without a heartbeat
            (default :func:`default_timeout_s`). Readers judge a claim by the timeout written in
            it, not by their own.

    Raises:
        ValueError: ``heartbeat_s <= 0`` or ``timeout_s <= heartbeat_s``.
    """

    def __init__(self, run_dir: str | os.PathLike, heartbeat_s: float = DEFAULT_HEARTBEAT_S,
                 timeout_s: float | None = None) -> None:
        if heartbeat_s <= 0:
            raise ValueError(f"heartbeat_s must be > 0, got {heartbeat_s}")
        timeout_s = default_timeout_s(heartbeat_s) if timeout_s is None else timeout_s
        if timeout_s <= heartbeat_s:
            raise ValueError(f"claim timeout_s ({timeout_s}) must exceed heartbeat_s ({heartbeat_s})")
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / CLAIMS_DIR
        self.heartbeat_s = float(heartbeat_s)
        self.timeout_s = float(timeout_s)

    def path(self, cell_id: str) -> Path:
        return self.dir / (MERGE_LOCK + ".lock" if cell_id == MERGE_LOCK else f"{safe_cell_id(cell_id)}.claim")

    def peek(self, cell_id: str) -> tuple[ClaimInfo, float] | None:
        """The current claim of a cell and its last heartbeat time, or ``None``."""
        return _read_claim(self.path(cell_id))

    def is_stale(self, info: ClaimInfo, mtime: float) -> bool:
        """A running claim whose heartbeat is older than its timeout, or whose worker is dead
        (:func:`holder_dead`)."""
        return info.state == "running" and (time.time() - mtime > info.timeout_s
                                            or holder_dead(info))

    def _done_counts(self, info: ClaimInfo, code_version: str | None) -> bool:
        if code_version is not None and info.code_version != code_version:
            return False
        return info.record is not None and (self.run_dir / info.record).is_file()

    def acquire(self, cell_id: str, owner: str, *, code_version: str | None = None,
                same_code_only: bool = False, job_id: str | None = None) -> Claim | Held:
        """Claim ``cell_id`` for ``owner``.

        Args:
            cell_id: the cell.
            owner: the submission claiming it; a claim of the same owner (a requeued job's
                earlier run) is taken over at once.
            code_version: this worker's code version (written in the claim).
            same_code_only: a done claim counts only if made by ``code_version``.
            job_id: the scheduler's job id, for the claim and for whoever cancels it.

        Returns:
            A :class:`Claim` (heartbeating), or :class:`Held` when the cell is done or a live
            worker of another owner runs it.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.path(cell_id)
        for _ in range(5):
            info = ClaimInfo(cell_id=cell_id, owner=owner, token=uuid.uuid4().hex,
                             host=socket.gethostname(), pid=os.getpid(), created=time.time(),
                             heartbeat_s=self.heartbeat_s, timeout_s=self.timeout_s,
                             code_version=code_version, job_id=job_id, host_key=host_key(),
                             pid_start=process_start_ticks(os.getpid()))
            if _create_exclusive(path, info.to_json()):
                return Claim(path, info)
            got = _read_claim(path)
            if got is None:
                continue  # released meanwhile: try again
            other, mtime = got
            if other.state == "done":
                if self._done_counts(other, code_version if same_code_only else None):
                    return Held("done", other)
                log.info("cell %s: its done claim does not count (other code or no record); "
                         "running it again", cell_id)
            elif other.owner != owner and not self.is_stale(other, mtime):
                return Held("running", other)
            else:
                why = ("own" if other.owner == owner else "dead worker's" if holder_dead(other)
                       else "stale")
                log.info("cell %s: taking over the %s claim of %s pid %s", cell_id, why,
                         other.host, other.pid)
            _break(path, other.token)
        got = _read_claim(path)
        return Held("running", got[0] if got else ClaimInfo(cell_id=cell_id, owner="?", token="?"))

    def release_if_owner(self, cell_id: str, owner: str) -> bool:
        """Remove the running claim of ``cell_id`` if ``owner`` holds it (a worker that died:
        its driver frees the cell at once instead of waiting for the timeout)."""
        got = self.peek(cell_id)
        if got is None or got[0].owner != owner or got[0].state != "running":
            return False
        _break(self.path(cell_id), got[0].token)
        return True


def wait_for_holders(store: ClaimStore, cell_ids: Iterable[str]) -> dict[str, str]:
    """Block while other processes hold running claims on every one of ``cell_ids``; return as
    soon as at least one has changed, ``{cell id: "done" | "released" | "stale"}``: a done
    claim (recorded ok elsewhere), no claim (its holder released it: it recorded an error, or
    was interrupted), or a stale claim (no heartbeat for its timeout, or a dead worker:
    :meth:`ClaimStore.is_stale`). Polls every ``min(heartbeat_s, 2)`` seconds. ``{}`` for no
    ids."""
    ids = list(cell_ids)
    while ids:
        changed = {}
        for cid in ids:
            got = store.peek(cid)
            if got is None:
                changed[cid] = "released"
            elif got[0].state == "done":
                changed[cid] = "done"
            elif store.is_stale(*got):
                log.warning("cell %s: the claim of %s pid %s went stale (%s); running it here", cid,
                            got[0].host, got[0].pid, "its worker is dead" if holder_dead(got[0])
                            else f"no heartbeat for {got[0].timeout_s:.0f} s")
                changed[cid] = "stale"
        if changed:
            return changed
        time.sleep(min(store.heartbeat_s, 2.0))
    return {}


def recorded_cell_ids(run_dir: str | os.PathLike) -> set[str]:
    """Ids of the cells with a record of any status in ``RUN_DIR/results.jsonl`` after merging
    the cell files (:func:`merge_cell_records`); a planned cell outside this set is a hole."""
    merge_cell_records(run_dir)
    path = Path(run_dir) / RESULTS_FILE
    return {r["cell_id"] for r in read_records(path)} if path.is_file() else set()


# --------------------------------------------------------------------------------------------
# per-cell record files and their merge
# --------------------------------------------------------------------------------------------


def new_attempt_id() -> str:
    """A unique id of one attempt at a cell (the record's ``provenance.executor.attempt``)."""
    return uuid.uuid4().hex[:16]


def record_attempt(d: dict[str, Any]) -> str | None:
    """The attempt id of a record dict, or ``None`` (records written before executors)."""
    ex = (d.get("provenance") or {}).get("executor")
    return ex.get("attempt") if isinstance(ex, dict) else None


def write_cell_record(run_dir: str | os.PathLike, record: Record) -> Path:
    """Write ``record`` to ``RUN_DIR/cells/<safe id>.<attempt>.json`` atomically.

    The record must carry ``provenance["executor"]["attempt"]`` (:func:`new_attempt_id`).

    Raises:
        ValueError: no attempt id.
    """
    d = record.to_dict()
    attempt = record_attempt(d)
    if not attempt:
        raise ValueError(f"record of {record.cell_id}: no provenance.executor.attempt")
    path = Path(run_dir) / CELLS_DIR / f"{safe_cell_id(record.cell_id)}.{attempt}.json"
    atomic_write_text(path, json.dumps(d, sort_keys=True, allow_nan=False) + "\n")
    return path


@dataclass
class _MergeIndex:
    """What this process knows of a results file: read up to ``offset`` of inode ``inode``."""

    inode: int = -1
    offset: int = 0
    attempts: set[str] | None = None
    ok: set[tuple[str, Any]] | None = None
    merged: set[str] | None = None
    """Cell files already looked at (appended, or found to be there)."""


_INDEX: dict[Path, _MergeIndex] = {}
_INDEX_LOCK = threading.Lock()


def _scan_results(path: Path, idx: _MergeIndex) -> None:
    """Update ``idx`` with the complete lines of ``path`` past ``idx.offset``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:  # (re)start from nothing: every cell file is merged again
        idx.inode, idx.offset, idx.attempts, idx.ok, idx.merged = -1, 0, set(), set(), set()
        return
    if st.st_ino != idx.inode or st.st_size < idx.offset or idx.attempts is None:
        idx.inode, idx.offset, idx.attempts, idx.ok, idx.merged = st.st_ino, 0, set(), set(), set()
    with open(path, "rb") as fh:
        fh.seek(idx.offset)
        data = fh.read()
    end = data.rfind(b"\n") + 1  # a torn last line is read again next time
    for line in data[:end].splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if not isinstance(d, dict):
            continue
        attempt = record_attempt(d)
        if attempt:
            idx.attempts.add(attempt)
        if d.get("status") == "ok":
            idx.ok.add((d.get("cell_id"), (d.get("provenance") or {}).get("code_version")))
    idx.offset += end


def merge_cell_records(run_dir: str | os.PathLike, *, store: ClaimStore | None = None) -> int:
    """Append to ``RUN_DIR/results.jsonl`` every cell record file not merged yet.

    Under the merge lock (a claim on :data:`MERGE_LOCK`, waited for), so one process appends at a
    time. A file is skipped if its attempt is already in the results file, or if it is an ``ok``
    record of a cell that already has one from the same code version (logged). Files are merged
    in the order they were written (mtime, then name). Idempotent.

    Returns:
        The number of records appended.
    """
    run_dir = Path(run_dir)
    cells = run_dir / CELLS_DIR
    if not cells.is_dir():
        return 0
    store = store or ClaimStore(run_dir, heartbeat_s=5.0)
    lock = _acquire_merge_lock(store)
    try:
        with _INDEX_LOCK:
            idx = _INDEX.setdefault(run_dir.resolve(), _MergeIndex())
            results = run_dir / RESULTS_FILE
            _scan_results(results, idx)
            names = [p for p in cells.glob("*.json") if p.name not in idx.merged]
            files = []
            for p in names:
                with contextlib.suppress(FileNotFoundError):
                    files.append((p.stat().st_mtime, p.name, p))
            added = 0
            for _, name, p in sorted(files):
                try:
                    d = json.loads(p.read_text(encoding="utf-8"))
                    record = Record.from_dict(d)
                except (OSError, ValueError, TypeError, RecordSchemaError) as exc:
                    log.warning("%s: skipping an unreadable cell record: %s", p, exc)
                    idx.merged.add(name)
                    continue
                attempt = record_attempt(d)
                key = (record.cell_id, record.provenance.get("code_version"))
                if attempt in idx.attempts:
                    idx.merged.add(name)
                    continue
                if record.status == "ok" and key in idx.ok:
                    log.warning("%s: cell %s already has an ok record of this code; not merged",
                                p, record.cell_id)
                    idx.merged.add(name)
                    continue
                append_record(run_dir, record)
                idx.attempts.add(attempt)
                if record.status == "ok":
                    idx.ok.add(key)
                idx.merged.add(name)
                added += 1
            return added
    finally:
        lock.release()


def _acquire_merge_lock(store: ClaimStore) -> Claim:
    owner = f"merge:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    delay = 0.02
    while True:
        got = store.acquire(MERGE_LOCK, owner)
        if isinstance(got, Claim):
            return got
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
