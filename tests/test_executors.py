"""Executors and the shared run folder: claims, heartbeats, per-cell record files and their merge;
local worker processes, a real local Ray cluster, a real single-node Slurm cluster (`.ci/slurm.sh`),
two `run` processes on one folder, a killed worker, a dying worker, `scancel` and a requeue.

Fake cell runners live in a small module written to a temporary folder (`fake_runners`), so that
worker processes, Ray workers and Slurm jobs can import them; they are steered by a JSON file
(`fake.json`) in the data root they are given: seconds to sleep, backends that fail or whose
worker dies, a hold file that keeps the first attempt of a cell waiting while it exists, and a file
where every call is logged (one line per call, appended by a single write).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.results.records import Record, read_records
from benchmarks.results.spec import Cell, Recipe
from benchmarks.runner import grid as G
from benchmarks.runner.claims import (
    Claim,
    ClaimInfo,
    ClaimStore,
    Held,
    holder_dead,
    host_key,
    merge_cell_records,
    new_attempt_id,
    process_start_ticks,
    safe_cell_id,
    write_cell_record,
)
from benchmarks.runner.executors import (
    ExecutorUnavailable,
    LocalExecutor,
    RayExecutor,
    SlurmExecutor,
    _squeue_states,
    available_cores,
)

ROOT = Path(__file__).resolve().parents[1]

FAKE_RUNNERS = textwrap.dedent('''
    """Fake cell runners for tests/test_executors.py (written there; steered by DATA_ROOT/fake.json)."""
    import json, os, time
    from pathlib import Path

    from benchmarks.results.records import Record


    def fake_cell(cell, data_root, progress=True):
        ctl = json.loads((Path(data_root) / "fake.json").read_text())
        line = f"{cell.cell_id}|{os.getpid()}\\n".encode()
        fd = os.open(ctl["calls"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, line)
        os.close(fd)
        n_calls = sum(1 for l in Path(ctl["calls"]).read_text().splitlines()
                      if l.split("|")[0] == cell.cell_id)
        hold = ctl.get("hold")
        if hold and cell.backend in ctl.get("hold_backends", [cell.backend]) and n_calls == 1:
            while os.path.exists(hold):
                time.sleep(0.05)
        time.sleep(ctl.get("sleep", 0.0))
        if cell.backend in ctl.get("die", []):
            os._exit(3)
        if cell.backend in ctl.get("fail", []):
            raise RuntimeError(f"injected failure in {cell.backend}")
        import torch
        return Record.for_cell(cell, "ok", metrics={"accuracy": 0.5, "threads": torch.get_num_threads()},
                               provenance={"threads": torch.get_num_threads()})
''')

SLOW_FIELDS = ("latency", "throughput_samples", "train_time_s", "codecarbon")


@pytest.fixture(scope="session")
def fake_dir(tmp_path_factory) -> Path:
    """A folder holding the ``fake_runners`` module, on ``sys.path`` and ``PYTHONPATH``."""
    d = tmp_path_factory.mktemp("fake_runners")
    (d / "fake_runners.py").write_text(FAKE_RUNNERS)
    old = os.environ.get("PYTHONPATH")
    sys.path.insert(0, str(d))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(d), old) if p)
    yield d
    sys.path.remove(str(d))
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def fake(data_root: Path, **ctl) -> None:
    """Write the fake runners' control file into ``data_root``."""
    data_root.mkdir(parents=True, exist_ok=True)
    ctl.setdefault("calls", str(data_root / "calls.txt"))
    (data_root / "fake.json").write_text(json.dumps(ctl))


def calls(data_root: Path) -> list[str]:
    p = data_root / "calls.txt"
    return [line.split("|")[0] for line in p.read_text().splitlines()] if p.exists() else []


@pytest.fixture
def no_skips(monkeypatch):
    """Made-up backend and dataset names: no registry lookup, nothing skipped."""
    monkeypatch.setattr(G, "_skip_reasons", lambda cells, root, strict=False: {})
    monkeypatch.setattr(G, "resolve_names", lambda grid: grid)


def fake_grid(**kw) -> G.Grid:
    base = dict(name="t", datasets=("d",), backends=("a", "b"), archs=("tiny",), folds=(0, 1),
                seeds=(0,), recipe=Recipe(epochs=1, codecarbon=False))
    base.update(kw)
    return G.Grid(**base)


def by_cell(run_dir: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in read_records(run_dir):
        out.setdefault(r["cell_id"], []).append(r)
    return out


# --------------------------------------------------------------------------------------------
# claims, heartbeats, merge
# --------------------------------------------------------------------------------------------


def test_a_claim_is_exclusive_under_a_race(tmp_path):
    store = ClaimStore(tmp_path, heartbeat_s=5)
    won: list[tuple[str, str]] = []
    barrier = threading.Barrier(16)

    def race(i: int) -> None:
        barrier.wait()
        for c in range(10):
            got = store.acquire(f"cell{c}", f"owner{i}")
            if isinstance(got, Claim):
                won.append((f"cell{c}", f"owner{i}"))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(c for c, _ in won) == [f"cell{c}" for c in range(10)]  # one winner per cell
    assert not [p for p in (tmp_path / "claims").iterdir() if p.name.endswith(".tmp")]


def test_heartbeat_keeps_a_claim_and_a_stale_one_is_taken_over(tmp_path):
    a = ClaimStore(tmp_path, heartbeat_s=0.1, timeout_s=0.4).acquire("c", "A")
    b = ClaimStore(tmp_path, heartbeat_s=0.1, timeout_s=0.4)
    assert isinstance(a, Claim)
    time.sleep(0.8)  # two timeouts: the heartbeat keeps the claim fresh
    held = b.acquire("c", "B")
    assert isinstance(held, Held) and held.reason == "running" and held.info.owner == "A"
    a._stop_heartbeat()  # A's worker "dies": no more heartbeats
    time.sleep(0.6)
    info, mtime = b.peek("c")
    assert b.is_stale(info, mtime)
    got = b.acquire("c", "B")
    assert isinstance(got, Claim) and got.info.owner == "B"
    assert not a.owned()
    a.release()  # a worker that lost its claim does not remove its successor's
    assert b.peek("c")[0].owner == "B"
    got.release()
    assert b.peek("c") is None


HOLDER = textwrap.dedent("""
    import sys, time
    from benchmarks.runner.claims import Claim, ClaimStore
    got = ClaimStore(sys.argv[1], heartbeat_s=30).acquire("c", "holder")
    assert isinstance(got, Claim)
    print("held", flush=True)
    time.sleep(600)
""")


def test_a_claim_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path):
    store = ClaimStore(tmp_path, heartbeat_s=30)  # timeout 120 s: only death can free the cell
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        info, mtime = store.peek("c")
        assert (info.pid, info.host_key) == (child.pid, host_key())
        assert info.pid_start == process_start_ticks(child.pid) is not None
        assert not holder_dead(info) and not store.is_stale(info, mtime)
        held = store.acquire("c", "me")  # a live holder keeps its cell
        assert isinstance(held, Held) and held.reason == "running"
    finally:
        child.kill()
        child.wait()
    assert holder_dead(info) and store.is_stale(*store.peek("c"))
    t0 = time.perf_counter()
    got = store.acquire("c", "me")
    assert isinstance(got, Claim) and got.info.owner == "me" and time.perf_counter() - t0 < 5
    got.release()


def test_a_reused_pid_or_another_host_or_namespace_is_not_taken_for_the_holder(tmp_path):
    me = ClaimInfo(cell_id="c", owner="o", token="t", host=socket.gethostname(), pid=os.getpid(),
                   host_key=host_key(), pid_start=process_start_ticks(os.getpid()))
    assert not holder_dead(me)  # this very process is alive
    # the same pid started at another time: the claimer died and its pid was reused
    assert holder_dead(replace(me, pid_start=me.pid_start + 1))
    # a host or pid namespace that is not ours: nothing to know, the heartbeat decides
    assert not holder_dead(replace(me, pid=2 ** 22 + 7, host=me.host + "-other"))
    assert not holder_dead(replace(me, pid=2 ** 22 + 7, host_key="other-boot/pid:[1]"))
    assert not holder_dead(replace(me, pid=2 ** 22 + 7, host_key=None))  # a claim without a key
    assert holder_dead(replace(me, pid=2 ** 22 + 7))  # above pid_max: no such process here
    assert not holder_dead(replace(me, pid_start=me.pid_start + 1, state="done"))


def test_done_claims_last_and_own_claims_are_taken_over(tmp_path):
    store = ClaimStore(tmp_path, heartbeat_s=10)
    # a requeued job keeps its owner: it takes its own (unexpired) claim over at once
    first = store.acquire("c", "job-7", code_version="v1")
    first._stop_heartbeat()
    again = store.acquire("c", "job-7", code_version="v1")
    assert isinstance(again, Claim) and again.info.token != first.info.token
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "r.json").write_text("{}")
    again.complete("cells/r.json")
    held = store.acquire("c", "other", code_version="v1")
    assert isinstance(held, Held) and held.reason == "done"
    # same_code_only: a cell done by other code runs again; so does one whose record is gone
    assert isinstance(store.acquire("c", "x", code_version="v2", same_code_only=True), Claim)
    store.acquire("d", "y").complete("cells/missing.json")
    assert isinstance(store.acquire("d", "z"), Claim)


def test_cell_files_merge_once_and_without_duplicate_ok_records(tmp_path):
    cell = Cell(dataset="d", backend="a", arch="tiny")

    def rec(status: str, code: str = "v1") -> Record:
        r = Record.for_cell(cell, status, metrics={"accuracy": 0.5} if status == "ok" else {},
                            error=None if status == "ok" else "boom",
                            provenance={"code_version": code, "executor": {"attempt": new_attempt_id()}})
        return r

    write_cell_record(tmp_path, rec("error"))
    time.sleep(0.01)
    write_cell_record(tmp_path, rec("ok"))
    assert merge_cell_records(tmp_path) == 2
    assert merge_cell_records(tmp_path) == 0  # idempotent
    write_cell_record(tmp_path, rec("ok"))  # a second ok record of the same code: not merged
    write_cell_record(tmp_path, rec("ok", code="v2"))  # of other code: merged
    assert merge_cell_records(tmp_path) == 1
    assert [r["status"] for r in read_records(tmp_path)] == ["error", "ok", "ok"]
    # a fresh process (empty index) merges nothing twice either
    from benchmarks.runner import claims

    claims._INDEX.clear()
    assert merge_cell_records(tmp_path) == 0
    assert safe_cell_id("a/b") != safe_cell_id("a__b")


# --------------------------------------------------------------------------------------------
# local executor: worker processes
# --------------------------------------------------------------------------------------------


def test_local_workers_run_each_cell_once_and_isolate_errors(tmp_path, fake_dir, no_skips):
    import fake_runners

    data = tmp_path / "data"
    fake(data, sleep=0.1, fail=["b"])
    g = fake_grid(folds=(0, 1, 2))
    s = G.run_grid(g, tmp_path / "run", data, cell_runner=fake_runners.fake_cell, progress=False,
                   executor=LocalExecutor(workers=2))
    assert sorted(calls(data)) == sorted(c.cell_id for c in g.cells())  # each exactly once
    assert len(s.done) == 3 and len(s.failed) == 3
    recs = by_cell(tmp_path / "run")
    assert all(len(v) == 1 for v in recs.values()) and len(recs) == 6
    for cid, (r,) in recs.items():
        assert r["status"] == ("error" if "/b/" in cid else "ok")
        ex = r["provenance"]["executor"]
        assert ex["name"] == "local" and ex["threads"] == max(1, available_cores() // 2)
        assert ex["pid"] != os.getpid()  # ran in a worker process
    assert all("injected failure in b" in v[0]["error"] for k, v in recs.items() if "/b/" in k)


def test_a_dying_local_worker_is_recorded_and_the_grid_goes_on(tmp_path, fake_dir, no_skips):
    import fake_runners

    data = tmp_path / "data"
    fake(data, die=["b"])
    s = G.run_grid(fake_grid(), tmp_path / "run", data, cell_runner=fake_runners.fake_cell,
                   progress=False, executor=LocalExecutor(workers=2))
    assert len(s.done) == 2 and len(s.failed) == 2
    errors = [r for r in read_records(tmp_path / "run") if r["status"] == "error"]
    assert len(errors) == 2 and all("worker process died" in r["error"] for r in errors)
    assert not [p for p in (tmp_path / "run" / "claims").iterdir() if "__b__" in p.name]  # freed
    fake(data)  # resume: the dead cells run again
    s2 = G.run_grid(fake_grid(), tmp_path / "run", data, cell_runner=fake_runners.fake_cell,
                    progress=False, executor=LocalExecutor(workers=2))
    assert len(s2.done) == 2 and len(s2.resumed) == 2


def test_the_default_runner_gets_the_run_folders_checkpoint_and_train_state_dirs(tmp_path):
    import inspect

    from benchmarks.runner.cell import run_cell
    from benchmarks.runner.executors import CellTask, _runner_and_kwargs

    task = CellTask(cell=Cell(dataset="d", backend="a", arch="tiny"), data_root="/d",
                    run_dir=str(tmp_path), owner="o")
    runner, kwargs = _runner_and_kwargs(task)
    assert runner is run_cell and kwargs["checkpoint_dir"] == tmp_path / "checkpoints"
    if "train_state_dir" in inspect.signature(run_cell).parameters:
        assert kwargs["train_state_dir"] == tmp_path / "train_state"
    assert _runner_and_kwargs(CellTask(**{**task.__dict__, "runner": len})) == (len, {})


def test_devices_must_match_the_grid_device():
    cells = fake_grid().cells()
    with pytest.raises(ExecutorUnavailable, match="--devices cuda:0 cannot run cell device 'cpu'"):
        LocalExecutor(workers=2, devices=["cuda:0", "cuda:1"]).start(cells)
    with pytest.raises(ExecutorUnavailable, match="not a device"):
        LocalExecutor(devices=["gpu0"])
    LocalExecutor(workers=2, devices=["cpu"]).start(cells)
    cuda = fake_grid(device="cuda").cells()
    LocalExecutor(workers=2, devices=["cuda:0", "cuda:1"]).start(cuda)
    assert LocalExecutor(workers=3, devices=["cuda:0", "cuda:1"]).device_of(2) == "cuda:0"
    assert not LocalExecutor(workers=1, devices=["cuda:1"]).in_process()
    assert LocalExecutor(workers=1).in_process()


# --------------------------------------------------------------------------------------------
# several `run` processes on one folder; a killed worker
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mini_root(tmp_path_factory) -> Path:
    """A data root with the built-in ``synthetic-fer-dvs-mini`` generated once."""
    from datasets.registry import open_dataset

    root = tmp_path_factory.mktemp("data")
    open_dataset("synthetic-fer-dvs-mini", root)
    return root


def linked_root(tmp_path: Path, mini_root: Path) -> Path:
    """A per-test data root sharing the generated dataset (for a per-test fake.json)."""
    root = tmp_path / "data"
    root.mkdir()
    for p in mini_root.iterdir():
        (root / p.name).symlink_to(p)
    return root


def cli(out: Path, data: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "run_bench.py"), "run", "--datasets", "synthetic-fer-dvs-mini",
            "--backends", "ann", "snntorch", "--folds", "0", "1", "--seeds", "0", "1", "--epochs", "1",
            "--data-root", str(data), "--out", str(out), "-q", "--cell-runner", "fake_runners:fake_cell",
            *extra]


def test_two_run_processes_share_a_folder(tmp_path, fake_dir, mini_root):
    data = linked_root(tmp_path, mini_root)
    fake(data, sleep=0.4)
    out = tmp_path / "run"
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cli(out, data, "--heartbeat-s", "1", *extra), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for extra in ([], ["--workers", "2"])]
    results = [p.communicate(timeout=240) for p in procs]
    wall = time.perf_counter() - t0
    for p, (_, e) in zip(procs, results, strict=True):
        assert p.returncode == 0, e[-3000:]
    ran = calls(data)
    assert len(ran) == 8 and len(set(ran)) == 8  # 2 backends x 2 folds x 2 seeds, each once
    recs = by_cell(out)
    assert len(recs) == 8 and all(len(v) == 1 and v[0]["status"] == "ok" for v in recs.values())
    lines = [o.strip().splitlines()[0] for o, _ in results]
    n_run = [int(line.split()[0]) for line in lines]
    assert sum(n_run) == 8, lines
    print(f"\ntwo concurrent runs: {lines} ({wall:.1f} s wall)")


def test_a_killed_workers_claim_expires_and_its_cell_runs_on_resume(tmp_path, fake_dir, mini_root):
    data = linked_root(tmp_path, mini_root)
    hold = tmp_path / "hold"
    hold.write_text("")
    fake(data, hold=str(hold), hold_backends=["snntorch"])
    out = tmp_path / "run"
    args = cli(out, data, "--heartbeat-s", "0.5", "--claim-timeout-s", "3")
    first = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = ClaimStore(out)
    deadline = time.monotonic() + 120
    held = None
    while time.monotonic() < deadline and held is None:
        for p in (out / "claims").glob("*snntorch*.claim") if (out / "claims").is_dir() else []:
            got = store.peek(json.loads(p.read_text())["cell_id"])
            if got and got[0].state == "running":
                held = got[0]
        time.sleep(0.1)
    assert held is not None, first.stderr.read() if first.poll() is not None else "no claim"
    os.kill(first.pid, signal.SIGKILL)  # kill -9 the process holding the claim
    first.wait()
    info, mtime = store.peek(held.cell_id)
    assert info.token == held.token and time.time() - mtime < info.timeout_s  # not yet expired,
    assert store.is_stale(info, mtime)  # but its worker is dead on this host: stale at once
    hold.unlink()
    t0 = time.perf_counter()
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=240)
    waited = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr[-3000:]
    recs = by_cell(out)
    assert len(recs) == 8 and all(len(v) == 1 and v[0]["status"] == "ok" for v in recs.values())
    assert recs[held.cell_id][0]["provenance"]["executor"]["pid"] != held.pid  # run by the resume
    assert calls(data).count(held.cell_id) == 2  # killed once, then run again
    print(f"\nresume after kill -9 took {waited:.1f} s (claim timeout 3 s)")


# CI runs the Ctrl-C scenario 3 times; `tests/stress_ctrl_c.py` runs it N times under CPU load.
CTRL_C_REPEATS = int(os.environ.get("NEUROFER_CTRL_C_REPEATS", "3"))


@pytest.mark.parametrize("attempt", range(CTRL_C_REPEATS))
def test_ctrl_c_stops_local_workers_and_keeps_finished_cells(tmp_path, fake_dir, mini_root, attempt):
    data = linked_root(tmp_path, mini_root)
    hold = tmp_path / "hold"
    hold.write_text("")
    fake(data, hold=str(hold), hold_backends=["snntorch"])
    out = tmp_path / "run"
    args = cli(out, data, "--workers", "2", "--seeds", "0")
    # PYTHONFAULTHANDLER: a driver that hangs is made to print every thread's stack (SIGABRT)
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # both ann cells recorded, the snntorch cells holding
        n_ok = len((out / "results.jsonl").read_text().splitlines()) if (out / "results.jsonl").exists() else 0
        if n_ok == 2 and sum("|snntorch|" in f"|{c.split('/')[3]}|" for c in calls(data)) == 2:
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError(f"the grid did not reach its held cells: {proc.communicate()[1][-2000:]}")
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        alive = proc.poll() is None
        if alive:
            proc.send_signal(signal.SIGABRT)  # faulthandler: the stacks of the hung driver
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"no exit 60 s after SIGINT (driver {'alive' if alive else 'gone'}); "
                             f"stderr:\n{err[-6000:]}") from None
    assert proc.returncode == 130, err[-2000:]
    recs = read_records(out)
    assert sorted(r["cell"]["backend"] for r in recs) == ["ann", "ann"]
    assert not list((out / "claims").glob("*snntorch*.claim"))  # interrupted cells are free again
    hold.unlink()
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0 and res.stdout.startswith("2 cells run, 2 already recorded"), res.stdout


# --------------------------------------------------------------------------------------------
# real tiny cells: --workers 2, Ray and Slurm against a sequential run
# --------------------------------------------------------------------------------------------


def real_grid() -> G.Grid:
    return G.Grid(name="exec", datasets=("synthetic-fer-dvs-mini",), backends=("ann", "snntorch"),
                  archs=("tiny",), folds=(0, 1), seeds=(0,),
                  recipe=Recipe(epochs=1, codecarbon=False, latency_runs=3, warmup_runs=1,
                                throughput_batch_size=8))


def comparable(run_dir: Path) -> dict[str, dict]:
    """Per cell: the metrics without timing fields, plus the thread count and status."""
    out = {}
    for cid, (r, *more) in by_cell(run_dir).items():
        assert not more, f"{cid}: {len(more) + 1} records"
        assert r["status"] == "ok", r.get("error")
        m = {k: v for k, v in r["metrics"].items() if not any(f in k for f in SLOW_FIELDS)}
        out[cid] = {"metrics": m, "threads": r["provenance"]["threads"]}
    return out


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, mini_root):
    """The 4-cell grid run one cell after another in this process, 1 torch thread."""
    out = tmp_path_factory.mktemp("sequential")
    t0 = time.perf_counter()
    s = G.run_grid(real_grid(), out, mini_root, progress=False, executor=LocalExecutor(threads=1))
    assert len(s.done) == 4, s.line()
    return comparable(out), time.perf_counter() - t0


@pytest.mark.slow
def test_two_local_workers_match_one(tmp_path, mini_root, sequential):
    ref, t_seq = sequential
    t0 = time.perf_counter()
    s = G.run_grid(real_grid(), tmp_path, mini_root, progress=False,
                   executor=LocalExecutor(workers=2, threads=1))
    t_par = time.perf_counter() - t0
    assert len(s.done) == 4
    got = comparable(tmp_path)
    assert got == ref  # same seeds, same pinned thread count
    print(f"\n--workers 2: {t_par:.1f} s; --workers 1 --threads 1: {t_seq:.1f} s; "
          f"ratio {t_par / t_seq:.2f}")


@pytest.fixture(scope="module")
def ray_cluster(fake_dir):
    ray = pytest.importorskip("ray")
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    startup = time.perf_counter() - t0
    print(f"\nRay local cluster start-up: {startup:.1f} s")
    yield startup
    ray.shutdown()


@pytest.mark.slow
def test_ray_matches_sequential(tmp_path, mini_root, sequential, ray_cluster):
    ref, t_seq = sequential
    t0 = time.perf_counter()
    s = G.run_grid(real_grid(), tmp_path, mini_root, progress=False,
                   executor=RayExecutor(cpus_per_task=1))
    t_ray = time.perf_counter() - t0
    assert len(s.done) == 4, s.line()
    assert comparable(tmp_path) == ref
    recs = read_records(tmp_path)
    assert all(r["provenance"]["executor"]["name"] == "ray" and r["provenance"]["executor"]["job_id"]
               for r in recs)
    print(f"\nRay grid: {t_ray:.1f} s (sequential {t_seq:.1f} s; cluster start-up {ray_cluster:.1f} s)")


@pytest.mark.slow
def test_a_dying_ray_worker_is_recorded(tmp_path, fake_dir, ray_cluster, no_skips):
    import fake_runners

    data = tmp_path / "data"
    fake(data, die=["b"])
    s = G.run_grid(fake_grid(), tmp_path / "run", data, cell_runner=fake_runners.fake_cell,
                   progress=False, executor=RayExecutor())
    assert len(s.done) == 2 and len(s.failed) == 2
    errors = [r for r in read_records(tmp_path / "run") if r["status"] == "error"]
    assert len(errors) == 2 and all("Ray worker died: WorkerCrashedError" in r["error"] for r in errors)


def test_unreachable_ray_address_stops_before_anything(tmp_path, capsys, mini_root):
    import run_bench

    out = tmp_path / "run"
    t0 = time.perf_counter()
    with pytest.raises(ExecutorUnavailable, match="no Ray cluster reachable"):
        G.run_grid(real_grid(), out, mini_root, progress=False,
                   executor=RayExecutor(address="127.0.0.1:9"))
    assert time.perf_counter() - t0 < 30 and not out.exists()
    assert run_bench.main(["run", "--datasets", "synthetic-fer-dvs-mini", "--backends", "ann",
                           "--data-root", str(mini_root), "--out", str(out), "-q",
                           "--executor", "ray", "--ray-address", "127.0.0.1:9"]) == 2
    assert "no Ray cluster reachable" in capsys.readouterr().err and not out.exists()


def test_missing_sbatch_stops_before_anything(tmp_path, monkeypatch, capsys, mini_root):
    import run_bench

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "run"
    assert run_bench.main(["run", "--datasets", "synthetic-fer-dvs-mini", "--backends", "ann",
                           "--data-root", str(mini_root), "--out", str(out), "-q",
                           "--executor", "slurm"]) == 2
    assert "'sbatch' is not on PATH" in capsys.readouterr().err and not out.exists()


def need_slurm(*, node: bool = True) -> None:
    """Skip without Slurm; under CI (``CI`` set) fail instead: `.ci/run` starts a cluster.

    ``node``: also need a node that can run jobs (idle, mixed or allocated); without it only the
    controller must answer (a node still completing the previous test's jobs is fine)."""
    why = None
    if shutil.which("sbatch") is None:
        why = "no sbatch on PATH (start a single-node cluster with .ci/slurm.sh)"
    elif node:
        r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
        if r.returncode != 0 or not any(s in r.stdout for s in ("idle", "mixed", "alloc")):
            why = f"the Slurm cluster does not answer or has no usable node: {r.stderr.strip() or r.stdout.strip()}"
    else:
        r = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True)
        if r.returncode != 0:
            why = f"the Slurm controller does not answer: {r.stderr.strip() or r.stdout.strip()}"
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but Slurm is unavailable: {why}")
        pytest.skip(why)


@pytest.fixture(scope="module")
def slurm() -> None:
    """Slurm is there (module scope: checked before the sequential run is made)."""
    need_slurm()


@pytest.mark.slow
def test_slurm_matches_sequential(slurm, tmp_path, mini_root, sequential):
    ref, t_seq = sequential
    t0 = time.perf_counter()
    s = G.run_grid(real_grid(), tmp_path, mini_root, progress=False,
                   executor=SlurmExecutor(cpus_per_task=1, poll_s=0.5))
    t_slurm = time.perf_counter() - t0
    assert len(s.done) == 4, s.line()
    assert comparable(tmp_path) == ref
    job_ids = [r["provenance"]["executor"]["job_id"] for r in read_records(tmp_path)]
    assert all(j and "_" in j for j in job_ids) and len(set(job_ids)) == 4  # array tasks
    print(f"\nSlurm grid: {t_slurm:.1f} s (sequential {t_seq:.1f} s)")


def _wait_for_running_claim(run_dir: Path, backend: str, timeout_s: float = 120):
    store = ClaimStore(run_dir)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p in (run_dir / "claims").glob(f"*__{backend}__*.claim") if (run_dir / "claims").is_dir() else []:
            got = store.peek(json.loads(p.read_text())["cell_id"])
            if got and got[0].state == "running" and got[0].job_id:
                return got[0]
        time.sleep(0.2)
    raise AssertionError(f"no running claim of backend {backend} in {run_dir}")


def _run_in_thread(**kw):
    box: dict = {}

    def target():
        try:
            box["summary"] = G.run_grid(**kw)
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


@pytest.mark.slow
def test_scancelled_slurm_job_is_recorded_and_runs_again(tmp_path, fake_dir, no_skips, monkeypatch):
    need_slurm()
    import fake_runners

    data, run = tmp_path / "data", tmp_path / "run"
    hold = tmp_path / "hold"
    hold.write_text("")
    fake(data, hold=str(hold), hold_backends=["b"])
    g = fake_grid(folds=(0,))
    kw = dict(grid=g, run_dir=run, data_root=data, cell_runner=fake_runners.fake_cell, progress=False,
              executor=SlurmExecutor(poll_s=0.5, grace_s=2))
    t, box = _run_in_thread(**kw)
    try:
        claim = _wait_for_running_claim(run, "b")
        subprocess.run(["scancel", claim.job_id], check=True)
        t.join(timeout=120)
    finally:
        hold.unlink(missing_ok=True)
    assert not t.is_alive() and "error" not in box, box.get("error")
    s = box["summary"]
    assert len(s.done) == 1 and len(s.failed) == 1
    (err,) = [r for r in read_records(run) if r["status"] == "error"]
    assert "CANCELLED" in err["error"] and err["provenance"]["executor"]["job_id"] == claim.job_id
    s2 = G.run_grid(**kw)  # resume: the cancelled cell runs again
    assert len(s2.done) == 1 and len(s2.resumed) == 1
    assert [r["status"] for r in by_cell(run)[claim.cell_id]] == ["error", "ok"]


@pytest.mark.slow
def test_preempted_slurm_job_requeues_itself_and_continues(tmp_path, fake_dir, no_skips):
    need_slurm()
    import fake_runners

    data, run = tmp_path / "data", tmp_path / "run"
    hold = tmp_path / "hold"
    hold.write_text("")  # the first attempt waits (until preempted); the requeued one does not
    fake(data, hold=str(hold), hold_backends=["a"])
    ex = SlurmExecutor(poll_s=0.5, grace_s=5)
    t, box = _run_in_thread(grid=fake_grid(folds=(0,), backends=("a",)), run_dir=run, data_root=data,
                            cell_runner=fake_runners.fake_cell, progress=False, executor=ex)
    try:
        claim = _wait_for_running_claim(run, "a")
        deadline = time.monotonic() + 60
        while claim.cell_id not in calls(data) and time.monotonic() < deadline:
            time.sleep(0.1)  # the cell itself has started (not only its claim)
        (job,) = ex.jobs
        job._interrupt()  # what Slurm does on preemption: SIGTERM, then USR2 to submitit
        t.join(timeout=180)
    finally:
        hold.unlink(missing_ok=True)
        for j in ex.jobs:
            j.cancel(check=False)
    assert not t.is_alive() and "error" not in box, box.get("error")
    assert len(box["summary"].done) == 1, box["summary"].line()
    (rec,) = read_records(run)
    assert rec["status"] == "ok" and rec["provenance"]["executor"]["job_id"] == claim.job_id
    assert calls(data).count(claim.cell_id) == 2  # preempted once, requeued, finished
    assert "requeue" in Path(job.paths.stderr).read_text().lower()


def test_squeue_states_of_unknown_jobs_is_empty(tmp_path, monkeypatch):
    # a stand-in squeue that answers as Slurm's does for a job id the controller does not know
    # (exit 1, "slurm_load_jobs error: Invalid job id specified"), logging its arguments
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    argv = tmp_path / "argv.txt"
    script = bin_dir / "squeue"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {argv}\n"
                      "echo 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert _squeue_states([]) == {}  # nothing to ask: squeue is not called
    assert not argv.exists()
    assert _squeue_states(["999999991_0", "999999991_1", "999999992"]) == {}
    assert argv.read_text().split() == ["-h", "-r", "-t", "all", "-o", "%i|%T", "-j", "999999991,999999992"]
    # a failing squeue with another message is not "unknown jobs" but no answer (None)
    script.write_text("#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2\n"
                      "exit 1\n")
    assert _squeue_states(["999999991_0"]) is None


def test_squeue_states_of_unknown_jobs_on_a_real_cluster():
    need_slurm(node=False)  # with its controller down squeue answers like the fake above: None
    assert _squeue_states(["999999991_0"]) == {}
