"""The GPU check: one short script to run on a lent GPU machine, in sections selectable by name.

    python -m benchmarks.gpu_check                         # every section, at most ~4 minutes
    python -m benchmarks.gpu_check --only backends,pipeline
    python -m benchmarks.gpu_check --device cpu --only env,backends   # a dry run here

Sections (each in its own subprocess with a time limit, so one hang or crash costs only its own
section; at most :data:`SECTION_LIMIT_S` each and :data:`TOTAL_LIMIT_S` in all):

* ``env``: torch, CUDA device, and every backend's availability and versions;
* ``tests``: the ``gpu``-marked tests (``pytest -m gpu``);
* ``backends``: every backend's forward and backward on the device for ``tiny`` and
  ``sew_resnet18`` (batch 32, bf16 autocast), timed with ``torch.cuda.synchronize``; lava-dl's
  first CUDA call compiles its extension: that call is timed on its own (``first_call_s``);
* ``pipeline``: the training data pipeline's rate (samples/s, Spiking-FER EDAs + binary T=6
  frames at 128x128 from 300k-event recordings on a 200x200 sensor) against the model's
  training rate (``sew_resnet18`` in snntorch and its ANN twin, batch 32, bf16): the ratio must
  be >= 3 for the data not to bound the model;
* ``grid``: a short ``spiking_fer``-recipe grid (SEW-ResNet-18 SNN + ANN twin, 128x128, T=6,
  EDAs, binary frames, bf16, 2 epochs, one fold) on the built-in data;
* ``speed``: the framework speed table (:mod:`benchmarks.speed`) on the device;
* ``nvml``: the GPU energy counter read through NVML around repeated inference
  (:func:`benchmarks.measured_energy.section_nvml`);
* ``zoo``: one epoch of every zoo model at its paper-scale card (:func:`section_zoo`).

Other issues add their sections to :data:`SECTIONS` (one function each). The last line printed
is one summary line: ``gpu-check: <ok>/<n> sections ok in <s> s (<name> <verdict>, ...)``.

On the GPU machine ``make setup`` cannot run (its own image: Python 3.12, torch with CUDA, no
network); the project's pure-Python dependencies travel as wheels: ``make gpu-wheels`` downloads
them into ``gpu-wheels/`` here (no torch), and ``--wheels gpu-wheels`` installs them there with
``pip install --no-deps --no-index --target`` into a private folder put first on ``sys.path``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

SECTION_LIMIT_S = 120
TOTAL_LIMIT_S = 240
ROOT = Path(__file__).resolve().parents[1]


def _device_ok(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device}: torch {torch.__version__} sees no CUDA device")


def section_env(device: str) -> dict:
    """torch, the device, and every backend's availability."""
    import torch

    from backends.base import backend_status, get_backend

    out = {"torch": torch.__version__, "python": sys.version.split()[0],
           "cuda": torch.version.cuda, "device": device,
           "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    out["backends"] = {}
    for name, (ok, why) in backend_status().items():
        out["backends"][name] = get_backend(name).versions() if ok else f"UNAVAILABLE: {why}"
    return out


def section_tests(device: str) -> dict:
    """The ``gpu``-marked tests."""
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
                          "tests"], cwd=ROOT, capture_output=True, text=True,
                         timeout=SECTION_LIMIT_S - 10)
    tail = res.stdout.strip().splitlines()[-1:] or [""]
    return {"returncode": res.returncode, "summary": tail[0], "ok": res.returncode in (0, 5)}


def _time(fn, sync, reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def _step_fns(backend, model, x, y, device: str, opt=None):
    """``(forward, train step)`` closures of one model under bf16 autocast; the step also runs the
    optimiser when ``opt`` is given."""
    import torch

    def amp():
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)

    def fwd():
        with torch.no_grad(), amp():
            backend.forward(model, x)

    def step():
        with amp():
            loss = torch.nn.functional.cross_entropy(backend.forward(model, x).logits.float(), y)
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        if opt is not None:
            opt.step()

    return fwd, step


def section_backends(device: str) -> dict:
    """Forward and backward of every available backend on ``tiny`` and ``sew_resnet18``."""
    import torch

    from backends.base import backend_status, get_backend
    from backends.specs import get_arch

    _device_ok(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    batch = 32 if device.startswith("cuda") else 2
    out: dict = {}
    for name, (ok, why) in backend_status().items():
        if not ok:
            out[name] = f"UNAVAILABLE: {why}"
            continue
        backend = get_backend(name)
        for arch_name in ("tiny", "sew_resnet18"):
            key = f"{name}/{arch_name}"
            try:
                arch = get_arch(arch_name)
                shape = (arch.n_time_bins, 2, *arch.input_size)
                model = backend.build(arch, shape, 7).to(device)
                x = (torch.rand(batch, *shape, device=device) < 0.2).float()
                y = torch.randint(0, 7, (batch,), device=device)
                fwd, fwd_bwd = _step_fns(backend, model, x, y, device)
                t0 = time.perf_counter()
                fwd()
                sync()
                first = time.perf_counter() - t0  # lava-dl: includes compiling its CUDA extension
                out[key] = {"first_call_s": round(first, 2),
                            "forward_ms": round(1e3 * _time(fwd, sync), 2),
                            "forward_backward_ms": round(1e3 * _time(fwd_bwd, sync), 2),
                            "batch": batch}
            except Exception as exc:
                out[key] = f"FAILED: {type(exc).__name__}: {str(exc)[:200]}"
    out["ok"] = not any(isinstance(v, str) and v.startswith("FAILED") for v in out.values())
    return out


def section_pipeline(device: str) -> dict:
    """The data pipeline's rate against the model's training rate (see the module docstring)."""
    import torch

    from backends.base import get_backend
    from backends.specs import get_arch
    from benchmarks.estimate import measure_pipeline_rate

    _device_ok(device)
    workers = max(1, min(8, (os.cpu_count() or 2) - 2))
    pipe = measure_pipeline_rate(events=300_000, workers=workers, seconds=20.0)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    batch = 32 if device.startswith("cuda") else 2
    arch = get_arch("sew_resnet18")
    shape = (arch.n_time_bins, 2, *arch.input_size)
    out = {"pipeline_samples_per_s": round(pipe, 1), "workers": workers, "models": {}}
    for name in ("snntorch", "ann"):
        backend = get_backend(name)
        model = backend.build(arch, shape, 7).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        x = (torch.rand(batch, *shape, device=device) < 0.2).float()
        y = torch.randint(0, 7, (batch,), device=device)
        _, step = _step_fns(backend, model, x, y, device, opt)
        step()
        rate = batch / _time(step, sync)
        out["models"][name] = {"train_samples_per_s": round(rate, 1),
                               "pipeline_over_model": round(pipe / rate, 2)}
    out["ok"] = all(m["pipeline_over_model"] >= 3 for m in out["models"].values())
    return out


GRID_TOML = """
name = "gpu-check"
description = "spiking_fer recipe on the built-in data, 2 epochs (GPU check)"
datasets = ["synthetic-fer-dvs"]
backends = ["snntorch", "ann"]
archs = ["sew_resnet18"]
folds = [0]
seeds = [0]
device = "{device}"
[recipe]
epochs = 2
batch_size = 32
lr = 0.005
augment = true
binarize = true
amp = "bf16"
latency_runs = 20
workers = {workers}
codecarbon = false
"""


def section_grid(device: str) -> dict:
    """A short ``spiking_fer``-recipe grid on the built-in data."""
    import tempfile

    from benchmarks.grid import load_grid, run_grid
    from benchmarks.records import read_records

    _device_ok(device)
    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    grid_file = tmp / "grid.toml"
    grid_file.write_text(GRID_TOML.format(device=device, workers=max(0, min(4, (os.cpu_count() or 2) - 2))))
    t0 = time.perf_counter()
    summary = run_grid(load_grid(grid_file), tmp / "run", ROOT / "data", progress=False)
    recs = read_records(tmp / "run")
    return {"summary": summary.line(), "wall_s": round(time.perf_counter() - t0, 1),
            "cells": {r["cell"]["backend"]: {"status": r["status"], "error": r["error"],
                                             "accuracy": r["metrics"].get("accuracy"),
                                             "train_s": r["timings_s"].get("train_s")}
                      for r in recs},
            "ok": not summary.failed and bool(summary.done)}


def section_speed(device: str) -> dict:
    """The framework speed table on the device (workload (a) only, a few sizes)."""
    import tempfile

    from benchmarks.speed import run_speed

    _device_ok(device)
    out = Path(tempfile.mkdtemp(prefix="gpu-speed-"))
    sizes = (512, 4096, 16384) if device.startswith("cuda") else (512,)
    rows = run_speed(out, device=device, neurons=sizes, archs=(), repeats=3)
    return {"table": (out / "speed.md").read_text(),
            "ok": all(r.note == "" or r.note.startswith("unavailable") for r in rows)}


def section_nvml(device: str) -> dict:
    """Measured GPU energy per inference through NVML (:mod:`benchmarks.measured_energy`)."""
    from benchmarks.measured_energy import section_nvml as run

    return run(device)


def section_zoo(device: str) -> dict:
    """One epoch of every zoo model (:mod:`backends.models.zoo`) on ``synthetic-fer-dvs-mini``,
    each under its own framework's backend: at its paper-scale card on CUDA (memory and kernels
    at the real size), at its CI size on the CPU (a dry run). Batch 8, 3 latency runs. Models
    not started before the section's time limit are listed as not run (the section fails).
    The CPU dry run on the shared 2-core development machine did not fit all eight in the
    limit (2 of 8 ran, under a load average of about 14); on CUDA it is untested here."""
    import tempfile

    from backends.models.zoo import register_ci, zoo_names
    from backends.specs import get_arch
    from benchmarks.cell import run_cell
    from benchmarks.spec import Cell, Recipe

    _device_ok(device)
    root = Path(tempfile.mkdtemp(prefix="gpu-check-zoo-"))
    recipe = Recipe(epochs=1, batch_size=8, latency_runs=3, warmup_runs=1,
                    throughput_batch_size=8, codecarbon=False)
    cells: dict[str, dict] = {}
    t_start = time.perf_counter()
    for name in zoo_names():
        arch = name if device.startswith("cuda") else register_ci(name)
        if time.perf_counter() - t_start > SECTION_LIMIT_S - 25:  # report what ran, in time
            cells[arch] = {"status": "not run (section time limit)"}
            continue
        card = get_arch(arch)
        t0 = time.perf_counter()
        try:
            rec = run_cell(Cell(dataset="synthetic-fer-dvs-mini", backend=card.backend, arch=arch,
                                device=device, recipe=recipe), root, progress=False)
            r = rec.to_dict()
            m = r["metrics"]
            cells[arch] = {"status": r["status"], "cell_s": round(time.perf_counter() - t0, 1),
                           "params": m.get("params"), "synops": m.get("synops_per_sample"),
                           "spikes": m.get("spikes_per_sample")}
        except Exception as exc:  # one model's failure is its own row
            cells[arch] = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"cells": cells, "ok": all(c["status"] == "ok" for c in cells.values())}


SECTIONS: dict[str, Callable[[str], dict]] = {
    "env": section_env,
    "tests": section_tests,
    "backends": section_backends,
    "pipeline": section_pipeline,
    "grid": section_grid,
    "speed": section_speed,
    "nvml": section_nvml,
    "zoo": section_zoo,
}
"""Section name -> function ``(device) -> result dict`` (``"ok": False`` marks a failed check)."""


def _install_wheels(folder: Path) -> Path:
    """Install the wheels of ``folder`` into a private target folder and put it on the path."""
    target = folder.resolve() / "_site"
    wheels = sorted(str(p) for p in folder.glob("*.whl"))
    if wheels and not target.is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                        "--target", str(target), *wheels], check=True)
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--wheels", type=Path, default=None, help="folder of wheels to install first")
    ap.add_argument("--section", help=argparse.SUPPRESS)  # internal: run one section in-process
    args = ap.parse_args(argv)
    if args.section:
        result = SECTIONS[args.section](args.device)
        print("RESULT " + json.dumps(result, default=str))
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"error: unknown section(s) {unknown}; known: {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if args.wheels is not None:
        site = _install_wheels(args.wheels)
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")])
    else:
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    t_start = time.perf_counter()
    verdicts = []
    for name in names:
        left = TOTAL_LIMIT_S - (time.perf_counter() - t_start)
        if left < 10:
            verdicts.append((name, "not run (time)"))
            continue
        t0 = time.perf_counter()
        try:
            res = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--section", name,
                                  "--device", args.device], cwd=ROOT, env=env, capture_output=True,
                                 text=True, timeout=min(SECTION_LIMIT_S, left))
            lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
            result = json.loads(lines[-1][7:]) if lines else {
                "ok": False, "error": (res.stderr or res.stdout)[-1500:]}
        except subprocess.TimeoutExpired:
            result = {"ok": False, "error": f"over its {min(SECTION_LIMIT_S, left):.0f} s limit"}
        dt = time.perf_counter() - t0
        verdict = "ok" if result.get("ok", True) else "FAILED"
        verdicts.append((name, verdict))
        print(f"== {name}: {verdict} in {dt:.1f} s")
        print(json.dumps(result, indent=1, default=str))
    n_ok = sum(v == "ok" for _, v in verdicts)
    print(f"gpu-check: {n_ok}/{len(verdicts)} sections ok in {time.perf_counter() - t_start:.0f} s ("
          + ", ".join(f"{n} {v}" for n, v in verdicts) + ")")
    return 0 if n_ok == len(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
