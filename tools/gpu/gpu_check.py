"""The GPU check: what a lent GPU machine must measure, in two calls of at most 5 minutes each.

    python -m tools.gpu.gpu_check --call A --wheels gpu-bundle     # env, precompile, tests, backends
    python -m tools.gpu.gpu_check --call B --wheels gpu-bundle     # pipeline, grid, speed, nvml
    python -m tools.gpu.gpu_check --only backends,pipeline         # chosen sections
    python -m tools.gpu.gpu_check --call A --device cpu --rehearsal   # the rehearsal (CPU)

The guide ``docs/guides/gpu.md`` gives the two commands as the device tool runs them and what
each section checks. Sections (each in its own subprocess, in its own process group, killed at
its budget :data:`BUDGET_S`; the budgets of a call, with :data:`INSTALL_BUDGET_S`, sum to at most
:data:`CALL_LIMIT_S`):

* ``env``: Python, torch, the device (name, compute capability), TF32 defaults, every backend's
  availability, and every wheel of the bundle's manifest installed at its version (an
  UNAVAILABLE backend or a missing wheel fails it);
* ``precompile``: lava-dl's CUDA extension built for the device's own architecture
  (:func:`backends.adapters.lava_dl.cuda_arch_list`), timed, in a fresh ``TORCH_EXTENSIONS_DIR`` created
  for this run (no stale lock from a killed build), then run once; the later sections load it;
* ``tests``: the ``gpu``-marked tests (``pytest -m gpu`` on the files that have them; TF32 off in
  them: tests/conftest.py), counted from pytest's JUnit XML;
* ``backends``: every backend's first call, forward and forward + backward on the device for
  ``tiny`` and ``sew_resnet18`` (batch 32, bf16 autocast where the backend supports it: lava-dl
  runs float32, :func:`benchmarks.runner.training.effective_amp`; TF32 on), each result printed and
  saved as soon as it is measured;
* ``pipeline``: the training data pipeline's rate (Spiking-FER EDAs + binary T=6 frames at
  128x128 from 300k-event recordings on a 200x200 sensor; one worker per core;
  :data:`PIPELINE_BATCHES_PER_WORKER` batches per worker per epoch) against the model's training
  rate (``sew_resnet18`` in snntorch and its ANN twin, batch 32, bf16): the ratio must be >= 3;
* ``grid``: a short ``spiking_fer``-recipe grid (SEW-ResNet-18 SNN + ANN twin, 2 epochs, bf16)
  on the built-in data;
* ``speed``: the framework speed table (:mod:`benchmarks.measure.speed`) on the device (TF32 on);
* ``nvml``: the GPU energy counter read through NVML around repeated inference
  (:func:`section_nvml`).

Verdicts (:func:`verdict`): ``ok`` only for a section that says ``"ok": True``; ``SKIPPED`` (with
its reason) and ``FAILED`` (with its error) are not ok. A section skipped because the device is
not CUDA says ``"needs_cuda": True``; ``--rehearsal`` (a CPU run) exits 0 when every other
section is ok. Each call ends with one summary line: ``gpu-check call A: <ok>/<n> sections ok
in <s> s (<name> <verdict>; ...)``.

Results: ``--out DIR`` (default ``$OUT`` if set, else ``runs/gpu_check``) receives
``gpu_check.json`` (every section's result, the install step, the call summaries; rewritten after
each section and each partial result, merged across calls A and B) and ``gpu_check.log`` (all
printed output).

Dependencies on the GPU machine: its image has Python 3.12, torch with CUDA and no network, so
``make setup`` cannot run there; ``make gpu-bundle`` builds ``gpu-bundle/`` here
(:mod:`tools.gpu.gpu_bundle`) and ``--wheels gpu-bundle`` installs it there with
:func:`install_command` into ``.gpu-site/``, put first on the sections' ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CALL_LIMIT_S = 300
"""One call to the lent device: at most 5 minutes (two calls and two start-ups fit the ~15
minutes of device time a task is lent)."""

INSTALL_BUDGET_S = 20
"""Installing the bundle (about 22 MiB of wheels) into ``.gpu-site/`` (6-12 s on two busy cores
here; none when ``.gpu-site/`` already holds the same manifest's install)."""

BUDGET_S: dict[str, int] = {
    "env": 35, "precompile": 90, "tests": 75, "backends": 80,
    "pipeline": 70, "grid": 90, "speed": 70, "nvml": 30, "zoo": 270,
}
"""Each section's time limit in seconds (its subprocess is killed there). Estimates on an H100:
env ~15 s (13-20 s on two busy cores here; a fresh machine's first ``import torch`` is slower),
lava-dl's compile ~60 s, the gpu tests ~50 s once compiled, backends ~60 s, pipeline ~40 s, grid
~40 s plus generating the built-in data (~10 s on two idle cores), speed ~60 s, nvml ~15 s."""

CALLS: dict[str, tuple[str, ...]] = {
    "A": ("env", "precompile", "tests", "backends"),
    "B": ("pipeline", "grid", "speed", "nvml"),
    "C": ("zoo",),
}
"""The sections of each call, in order. Calls A and B are the GPU check proper (two calls fit the
~15 minutes of device time a task is lent); call C (one epoch of every zoo model at its paper
scale) is for a lease with a third 5-minute slot left."""

MIN_SECTION_S = 10
"""A section is not started with less time left than this in its call."""

PIPELINE_BATCHES_PER_WORKER = 2
"""Batches per DataLoader worker in one epoch of the pipeline section, so that every worker
delivers batches in every epoch (timed over several epochs). Not more: each training recording
is decoded into memory first (``benchmarks.runner.data.load_cell_data``, ~20-60 ms per 300k-event file),
so 16 workers x 2 x 32 samples already take 1340 recordings."""

PIPELINE_DISTINCT = 32
"""Distinct generated recordings in the pipeline section; the others are hard links to them
(the pipeline reads and bins each file anew; writing thousands of 300k-event files would take
the section's whole budget)."""

TRAIN_FRACTION = 0.9 * 0.85
"""Training share of the pipeline section's recordings: fold 0 holds out 1/10 for test, then
``val_fraction`` 0.15 (:func:`benchmarks.runner.estimate.measure_pipeline_rate`)."""

SITE = ROOT / ".gpu-site"
"""Where ``--wheels`` installs the bundle (ignored by git, so not carried)."""


# --------------------------------------------------------------------------------------------
# verdicts and plans


def verdict(result: dict) -> tuple[str, str]:
    """``(verdict, reason)`` of a section's result dict: ``("ok", "")`` only for ``"ok": True``;
    ``("SKIPPED", reason)`` for a result with ``"skipped"``; else ``("FAILED", reason)`` (its
    ``error`` or ``reason``, or that it gave no verdict)."""
    if result.get("skipped"):
        return "SKIPPED", str(result["skipped"])
    ok = result.get("ok")
    if ok is True:
        return "ok", ""
    if ok is None:
        return "FAILED", "the section reported no verdict"
    return "FAILED", str(result.get("error") or result.get("reason") or "its check failed")


def rehearsal_problems(sections: dict[str, dict]) -> list[str]:
    """What fails a rehearsal (a run without CUDA): every section not ok, except those skipped
    because they need a CUDA device (``"needs_cuda": True``). Empty: the rehearsal passes."""
    out = []
    for name, res in sections.items():
        v, why = verdict(res)
        if v == "ok" or (v == "SKIPPED" and res.get("needs_cuda")):
            continue
        out.append(f"{name} {v}: {why}")
    return out


def call_budget_s(call: str) -> int:
    """The declared seconds of ``call``: the install step and its sections' budgets."""
    return INSTALL_BUDGET_S + sum(BUDGET_S[s] for s in CALLS[call])


def summary_line(label: str, verdicts: list[tuple[str, str, str]], wall_s: float) -> str:
    """``gpu-check <label>: <ok>/<n> sections ok in <s> s (<name> <verdict>[: reason]; ...)``;
    ``verdicts`` are ``(name, verdict, reason)``, reasons cut to 80 characters."""
    n_ok = sum(v == "ok" for _, v, _ in verdicts)
    parts = [f"{n} {v}" + (f": {why[:80]}" if why else "") for n, v, why in verdicts]
    return f"gpu-check {label}: {n_ok}/{len(verdicts)} sections ok in {wall_s:.0f} s ({'; '.join(parts)})"


def pipeline_recordings(workers: int, batch_size: int,
                        per_worker: int = PIPELINE_BATCHES_PER_WORKER) -> int:
    """Recordings the pipeline section generates so that one epoch has ``per_worker`` training
    batches of ``batch_size`` for each of ``workers`` workers (at least one worker), given the
    training share :data:`TRAIN_FRACTION`."""
    import math

    samples = max(1, workers) * per_worker * batch_size
    return math.ceil(samples / TRAIN_FRACTION) + 1


# --------------------------------------------------------------------------------------------
# installing the bundle


def install_command(python: str, wheels: list[str], target: Path) -> list[str]:
    """The pip command line installing ``wheels`` into ``target``: no dependencies (the bundle
    lists each one), no index (no network there), ``--ignore-requires-python`` (lava-dl 0.6.0
    declares Python < 3.11; it runs on 3.12), ``--target`` (the image's Python is externally
    managed; ``--target`` is exempt)."""
    return [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
            "--ignore-requires-python", "--disable-pip-version-check", "--target", str(target),
            *wheels]


def _unzip_install(wheels: list[str], target: Path) -> None:
    """Install wheels by extracting them (a wheel is a zip of its import tree), for a Python
    without pip; ``*.data/purelib`` and ``platlib`` go to the top level."""
    for w in wheels:
        with zipfile.ZipFile(w) as z:
            for info in z.infolist():
                name = info.filename
                parts = name.split("/")
                if parts[0].endswith(".data"):
                    if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                        continue
                    name = "/".join(parts[2:])
                dest = target / name
                if info.is_dir():
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(info))
                mode = info.external_attr >> 16
                if mode:
                    dest.chmod(mode & 0o777 | 0o600)


def install_bundle(folder: Path, target: Path = SITE) -> dict:
    """Install the wheels listed in ``folder/MANIFEST.json`` into ``target`` (again only when the
    manifest changed), with :func:`install_command` (or by extraction where pip is missing).

    Returns:
        ``{"ok", "seconds", "target", "wheels", "missing", "error"?}``; never raises: a missing
        manifest or wheel, or pip failing, gives ``ok`` False with the reason (the ``env``
        section then names the packages that did not install).
    """
    import importlib.metadata

    t0 = time.perf_counter()
    out: dict = {"target": str(target), "missing": []}
    manifest_path = folder / "MANIFEST.json"
    if not manifest_path.is_file():
        return {**out, "ok": False, "error": f"{manifest_path}: no manifest (run `make gpu-bundle`)",
                "seconds": 0.0}
    manifest = json.loads(manifest_path.read_text())
    files = [folder / i["file"] for i in manifest["wheels"]]
    out["missing"] = [p.name for p in files if not p.is_file()]
    present = [str(p) for p in files if p.is_file()]
    out["wheels"] = len(present)
    stamp = target / ".bundle-sha256"
    sha = hashlib.sha256(manifest_path.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == sha and not out["missing"]:
        out["reused"] = True
    else:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        try:
            have_pip = True
            try:  # not importlib.util.find_spec("pip"): setuptools' distutils hack acts on that
                importlib.metadata.version("pip")
            except importlib.metadata.PackageNotFoundError:
                have_pip = False
            if not present:
                pass
            elif have_pip:
                res = subprocess.run(install_command(sys.executable, present, target),
                                     capture_output=True, text=True, timeout=INSTALL_BUDGET_S * 4)
                if res.returncode != 0:
                    out["error"] = f"pip rc {res.returncode}: {(res.stderr or res.stdout)[-800:]}"
            else:
                out["method"] = "unzip (no pip)"
                _unzip_install(present, target)
        except Exception as exc:  # a broken wheel, a timeout: recorded, the run goes on
            out["error"] = f"{type(exc).__name__}: {exc}"
        if "error" not in out and not out["missing"]:
            stamp.write_text(sha)
    if out["missing"]:
        out["error"] = "; ".join([f"wheels missing from {folder}: {', '.join(out['missing'])}"]
                                 + ([out["error"]] if "error" in out else []))
    out["ok"] = "error" not in out
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


# --------------------------------------------------------------------------------------------
# helpers of the sections (run in the section's subprocess)


def emit(key: str, value) -> None:
    """Report one partial result of the running section at once (the parent prints and saves
    it, so a section killed at its budget keeps what it measured)."""
    print("PARTIAL " + key + " " + json.dumps(value, default=str), flush=True)


def _is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def _needs_cuda(device: str, what: str) -> dict | None:
    """A skip result for a CUDA-only section on another device; raises if CUDA was asked for and
    torch sees none."""
    import torch

    if not _is_cuda(device):
        return {"skipped": f"needs a CUDA device ({what}), device is {device}", "needs_cuda": True}
    if not torch.cuda.is_available():
        raise RuntimeError(f"--device {device}: torch {torch.__version__} sees no CUDA device")
    return None


def _device_ok(device: str) -> None:
    import torch

    if _is_cuda(device) and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device}: torch {torch.__version__} sees no CUDA device")


def set_tf32(on: bool) -> dict:
    """Allow (or forbid) TF32 in CUDA matmuls and cuDNN convolutions; returns the settings
    (recorded with every timed result: Hopper's cuDNN uses TF32 by default)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    return {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32}


def _time(fn, sync, reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def _step_fns(backend, model, x, y, device: str, opt=None, amp: str = "bf16"):
    """``(forward, train step)`` closures of one model under ``amp`` autocast where the backend
    supports it (:func:`benchmarks.runner.training.autocast`); the step also runs the optimiser when
    ``opt`` is given."""
    import torch

    from benchmarks.runner.training import autocast

    def fwd():
        with torch.no_grad(), autocast(device, amp, backend):
            backend.forward(model, x)

    def step():
        with autocast(device, amp, backend):
            loss = torch.nn.functional.cross_entropy(backend.forward(model, x).logits.float(), y)
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        if opt is not None:
            opt.step()

    return fwd, step


# --------------------------------------------------------------------------------------------
# the sections


def section_env(device: str) -> dict:
    """torch, the device, every backend's availability and the bundle's packages."""
    import importlib.metadata

    import torch

    from backends.base import backend_status, get_backend

    cuda = torch.cuda.is_available()
    out: dict = {"python": sys.version.split()[0], "torch": torch.__version__,
                 "cuda": torch.version.cuda, "device": device, "cpu_count": os.cpu_count(),
                 "gpu": torch.cuda.get_device_name(0) if cuda else None,
                 "capability": ".".join(map(str, torch.cuda.get_device_capability(0))) if cuda else None,
                 "tf32_default": {"matmul": torch.backends.cuda.matmul.allow_tf32,
                                  "cudnn": torch.backends.cudnn.allow_tf32},
                 "backends": {}}
    problems = []
    if _is_cuda(device) and not cuda:
        problems.append(f"torch {torch.__version__} sees no CUDA device")
    for name, (ok, why) in backend_status().items():
        if ok:
            out["backends"][name] = get_backend(name).versions()
        else:
            out["backends"][name] = f"UNAVAILABLE: {why}"
            problems.append(f"backend {name} unavailable")
    manifest = os.environ.get("GPU_CHECK_BUNDLE")
    if manifest:
        wanted = [i["requirement"] for i in json.loads(Path(manifest).read_text())["wheels"]]
        out["bundle"] = {}
        for req in wanted:
            name, version = req.split("==")
            try:
                got = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                got = None
            out["bundle"][req] = got
            if got != version:
                problems.append(f"{req} not installed (found {got})")
    out["ok"] = not problems
    if problems:
        out["error"] = "; ".join(problems)
    return out


def section_precompile(device: str) -> dict:
    """lava-dl's CUDA extension built for the device's architecture, timed, then run once."""
    skip = _needs_cuda(device, "lava-dl's CUDA extension")
    if skip:
        return skip
    import importlib

    import torch

    from backends.adapters.lava_dl import cuda_arch_list, import_slayer

    slayer = import_slayer()  # sets jitconfig.TORCH_CUDA_ARCH_LIST from the device
    jitconfig = importlib.import_module("lava.lib.dl.slayer.jitconfig")
    cap = torch.cuda.get_device_capability(0)
    out = {"capability": f"{cap[0]}.{cap[1]}", "arch_list": cuda_arch_list(cap),
           "jitconfig": jitconfig.TORCH_CUDA_ARCH_LIST,
           "extensions_dir": os.environ.get("TORCH_EXTENSIONS_DIR")}
    nvcc = shutil.which("nvcc")
    if nvcc:
        out["nvcc"] = subprocess.run([nvcc, "--version"], capture_output=True,
                                     text=True).stdout.strip().splitlines()[-1:]
    from lava.lib.dl.slayer.neuron.dynamics import leaky_integrator

    t0 = time.perf_counter()
    leaky_integrator.Accelerated.leaky_integrator  # noqa: B018  (the property compiles and loads)
    out["compile_s"] = round(time.perf_counter() - t0, 1)
    emit("compile_s", out["compile_s"])
    # one forward of a CUBA neuron on the device: the sm code runs here
    neuron = slayer.neuron.cuba.Neuron(threshold=1.0, current_decay=1.0, voltage_decay=0.1).to(device)
    spikes = neuron(torch.ones(1, 4, 8, device=device))
    torch.cuda.synchronize()
    out["spikes"] = int(spikes.sum().item())
    out["ok"] = out["spikes"] > 0 and out["jitconfig"] == out["arch_list"]
    if not out["ok"]:
        out["error"] = (f"jitconfig {out['jitconfig']!r}, device {out['arch_list']!r}; "
                        f"{out['spikes']} spikes from a constant input above threshold")
    return out


def _gpu_test_files() -> list[str]:
    """The test files holding ``gpu``-marked tests (collecting only these: the others need
    packages of the full set-up)."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")
                  if "pytest.mark.gpu" in p.read_text())


def junit_counts(xml_text: str) -> dict:
    """``{"tests", "failures", "errors", "skips", "passed", "skip_reasons"}`` from pytest's
    JUnit XML (``--junitxml``); ``skip_reasons`` maps each reason to its count."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml_text)
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    c = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors")}
    c["skips"] = sum(int(s.get("skipped", 0)) for s in suites)
    reasons: dict[str, int] = {}
    for s in root.iter("skipped"):
        why = s.get("message", "")
        reasons[why] = reasons.get(why, 0) + 1
    c["passed"] = c["tests"] - c["failures"] - c["errors"] - c["skips"]
    c["skip_reasons"] = reasons
    return c


def tests_verdict(counts: dict, device: str) -> dict:
    """The ``tests`` section's verdict from :func:`junit_counts`: ok on CUDA only when every gpu
    test ran and passed; on another device the skips (they need CUDA) make it SKIPPED, any
    failure or error FAILED."""
    out = dict(counts)
    if counts["failures"] or counts["errors"] or counts["tests"] == 0:
        out["ok"] = False
        out["error"] = (f"{counts['failures']} failed, {counts['errors']} errors of "
                        f"{counts['tests']} gpu tests")
    elif counts["skips"]:
        why = "; ".join(f"{n} x {r}" for r, n in counts["skip_reasons"].items())
        out["skipped"] = f"{counts['skips']} of {counts['tests']} gpu tests skipped: {why}"
        out["needs_cuda"] = not _is_cuda(device)
        out["ok"] = False
    else:
        out["ok"] = True
    return out


def section_tests(device: str) -> dict:
    """The ``gpu``-marked tests, counted from pytest's JUnit XML."""
    files = _gpu_test_files()
    with tempfile.TemporaryDirectory(prefix="gpu-check-tests-") as tmp:
        xml = Path(tmp) / "junit.xml"
        res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p",
                              "no:cacheprovider", "--junitxml", str(xml), *files], cwd=ROOT,
                             capture_output=True, text=True)
        tail = res.stdout.strip().splitlines()[-15:]
        if not xml.is_file():
            return {"ok": False, "returncode": res.returncode, "files": files,
                    "error": f"pytest rc {res.returncode}, no report: " + " | ".join(tail[-3:]),
                    "tail": tail}
        counts = junit_counts(xml.read_text())
    out = tests_verdict(counts, device)
    out.update({"returncode": res.returncode, "files": files, "tail": tail})
    return out


def section_backends(device: str) -> dict:
    """First call, forward and forward + backward of every available backend on ``tiny`` and
    ``sew_resnet18``; each result emitted as soon as it is measured."""
    import torch

    from backends.base import backend_status, get_backend
    from backends.specs import get_arch
    from benchmarks.runner.training import effective_amp

    _device_ok(device)
    cuda = _is_cuda(device)
    out: dict = {"tf32": set_tf32(True) if cuda else None, "amp": "bf16"}
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    batch = 32 if cuda else 2
    archs = ("tiny", "sew_resnet18") if cuda else ("tiny",)  # CPU: a rehearsal of the path
    problems = []
    for name, (ok, why) in backend_status().items():
        if not ok:
            out[name] = f"UNAVAILABLE: {why}"
            problems.append(f"{name} unavailable")
            emit(name, out[name])
            continue
        backend = get_backend(name)
        for arch_name in archs:
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
                first = time.perf_counter() - t0  # lava-dl: loads its extension (precompiled)
                reps = 3 if cuda else 1
                out[key] = {"first_call_s": round(first, 2),
                            "forward_ms": round(1e3 * _time(fwd, sync, reps), 2),
                            "forward_backward_ms": round(1e3 * _time(fwd_bwd, sync, reps), 2),
                            "batch": batch, "amp": effective_amp(backend, "bf16")}
            except Exception as exc:
                out[key] = f"FAILED: {type(exc).__name__}: {str(exc)[:300]}"
                problems.append(f"{key} failed")
            emit(key, out[key])
    out["ok"] = not problems
    if problems:
        out["error"] = "; ".join(problems)
    return out


def section_pipeline(device: str) -> dict:
    """The data pipeline's rate against the model's training rate (see the module docstring)."""
    import torch

    from backends.base import get_backend
    from backends.specs import get_arch
    from benchmarks.runner.estimate import measure_pipeline_rate
    from benchmarks.runner.grid import load_grid

    _device_ok(device)
    cuda = _is_cuda(device)
    workers = os.cpu_count() or 1
    recipe = load_grid("spiking_fer").recipe
    n_rec = pipeline_recordings(workers, recipe.batch_size)
    out: dict = {"workers": workers, "recordings": n_rec, "distinct_recordings": PIPELINE_DISTINCT,
                 "pipeline_batch": recipe.batch_size, "events_per_recording": 300_000,
                 "tf32": set_tf32(True) if cuda else None, "models": {}}
    t0 = time.perf_counter()
    emit("plan", {k: out[k] for k in ("workers", "recordings", "pipeline_batch")})
    pipe = measure_pipeline_rate(events=300_000, workers=workers, seconds=12.0 if cuda else 8.0,
                                 recipe=recipe, n_recordings=n_rec, distinct=PIPELINE_DISTINCT)
    out["pipeline_samples_per_s"] = round(pipe, 1)
    out["pipeline_wall_s"] = round(time.perf_counter() - t0, 1)
    emit("pipeline_samples_per_s", out["pipeline_samples_per_s"])
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    batch = 32 if cuda else 2
    arch = get_arch("sew_resnet18")
    shape = (arch.n_time_bins, 2, *arch.input_size)
    for name in ("snntorch", "ann"):
        backend = get_backend(name)
        model = backend.build(arch, shape, 7).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        x = (torch.rand(batch, *shape, device=device) < 0.2).float()
        y = torch.randint(0, 7, (batch,), device=device)
        _, step = _step_fns(backend, model, x, y, device, opt)
        step()
        rate = batch / _time(step, sync, 3 if cuda else 1)
        out["models"][name] = {"train_samples_per_s": round(rate, 1), "batch": batch,
                               "pipeline_over_model": round(pipe / rate, 2)}
        emit(name, out["models"][name])
    out["ok"] = all(m["pipeline_over_model"] >= 3 for m in out["models"].values())
    if not out["ok"]:
        out["error"] = "the pipeline delivers under 3x the model's training rate"
    return out


GRID_TOML = """
name = "gpu-check"
description = "spiking_fer recipe on the built-in data, {epochs} epoch(s) (GPU check)"
datasets = ["synthetic-fer-dvs"]
backends = ["snntorch", "ann"]
archs = ["{arch}"]
folds = [0]
seeds = [0]
device = "{device}"
[recipe]
epochs = {epochs}
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
    """A short ``spiking_fer``-recipe grid on the built-in data (on a CPU: ``tiny``, 1 epoch, a
    rehearsal of the path)."""
    from benchmarks.results.records import read_records
    from benchmarks.runner.grid import load_grid, run_grid

    _device_ok(device)
    cuda = _is_cuda(device)
    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    grid_file = tmp / "grid.toml"
    workers = min(8, os.cpu_count() or 1) if cuda else 0
    arch, epochs = ("sew_resnet18", 2) if cuda else ("tiny", 1)
    grid_file.write_text(GRID_TOML.format(device=device, workers=workers, arch=arch, epochs=epochs))
    out: dict = {"arch": arch, "epochs": epochs, "workers": workers,
                 "tf32": set_tf32(True) if cuda else None}
    from datasets.loaders.synthetic import generate_synthetic_fer_dvs

    t0 = time.perf_counter()
    generate_synthetic_fer_dvs(ROOT / "data", progress=False)  # the built-in data (cached)
    out["data_s"] = round(time.perf_counter() - t0, 1)
    emit("data_s", out["data_s"])
    t0 = time.perf_counter()
    summary = run_grid(load_grid(grid_file), tmp / "run", ROOT / "data", progress=False)
    recs = read_records(tmp / "run")
    out.update({"summary": summary.line(), "wall_s": round(time.perf_counter() - t0, 1),
                "cells": {r["cell"]["backend"]: {
                    "status": r["status"], "error": r["error"],
                    "accuracy": r["metrics"].get("accuracy"),
                    "train_s": r["timings_s"].get("train_s"),
                    "amp_effective": r["provenance"].get("amp_effective")} for r in recs},
                "ok": not summary.failed and bool(summary.done)})
    if not out["ok"]:
        out["error"] = summary.line()
    return out


def section_speed(device: str) -> dict:
    """The framework speed table (:mod:`benchmarks.measure.speed`, workload (a): Linear + LIF, batch 16)
    on the device: 512, 4096 and 16384 neurons over 500 steps on CUDA (on a CPU: 512 neurons over
    50 steps, a rehearsal of the path); each row emitted as soon as it is measured."""
    import torch

    from backends.base import backend_names, get_backend
    from benchmarks.measure.speed import (
        LINEAR_LIF_BATCH,
        LINEAR_LIF_STEPS,
        READOUT_CLASSES,
        linear_lif_spec,
        render_speed_table,
        time_backend,
    )

    _device_ok(device)
    cuda = _is_cuda(device)
    tf32 = set_tf32(True) if cuda else None
    sizes, steps = ((512, 4096, 16384), LINEAR_LIF_STEPS) if cuda else ((512,), 50)
    rows = []
    for n in sizes:
        spec = linear_lif_spec(n, steps)
        sn = get_backend("snntorch")
        torch.manual_seed(0)
        reference = (sn, sn.build(spec, (steps, 2, *spec.input_size), READOUT_CLASSES).to(device))
        for b in backend_names():
            row = time_backend(b, spec, LINEAR_LIF_BATCH, device, 3, reference)
            rows.append(row)
            emit(f"{b}/{n}", vars(row))
    bad = [f"{r.backend}/{r.neurons}: {r.note}" for r in rows
           if r.note and not r.note.startswith("unavailable")]
    unavailable = sorted({r.backend for r in rows if r.note.startswith("unavailable")})
    out = {"tf32": tf32, "steps": steps, "table": render_speed_table(rows, device=device),
           "rows": [vars(r) for r in rows], "ok": not bad and not unavailable}
    if not out["ok"]:
        out["error"] = "; ".join(bad + [f"{b} unavailable" for b in unavailable])
    return out


def section_nvml(device: str) -> dict:
    """Measured GPU energy per inference through NVML
    (:func:`benchmarks.measure.measured_energy.measure_inference_energy`), for ``tiny`` in the
    ``snntorch`` backend and its ANN twin, at batch 1 and batch 32 (about 14 s).

    Checks: the counter is readable, every measurement is ``"measured"`` with positive gross
    joules per inference, and batch 32 costs less per inference than batch 1.
    """
    skip = _needs_cuda(device, "NVML energy counter")
    if skip:
        return skip
    import torch

    from backends.base import get_backend
    from backends.specs import get_arch
    from benchmarks.measure.measured_energy import (
        EnergyCounterUnavailable,
        NvmlCounter,
        measure_inference_energy,
    )

    out: dict = {"tf32": set_tf32(True)}
    try:
        counter = NvmlCounter(device)
    except EnergyCounterUnavailable as exc:
        return {**out, "ok": False, "error": str(exc)}
    out["source"] = counter.source
    arch = get_arch("tiny")
    shape = (arch.n_time_bins, 2, *arch.input_size)
    ok = True
    for name in ("snntorch", "ann"):
        be = get_backend(name)
        model = be.build(arch, shape, 7).to(device).eval()
        for b, label in ((1, "batch1"), (32, "batch32")):
            x = torch.poisson(torch.full((b, *shape), 0.3, device=device))

            def run(model=model, x=x, be=be) -> None:
                with torch.no_grad():
                    be.forward(model, x)

            res = measure_inference_energy(run, device=device, batch_size=b, min_seconds=2.0,
                                           idle_seconds=1.0, counter=counter)
            out[f"{name}/{label}"] = res
            ok = ok and res.get("energy_measured_status") == "measured" and (
                res.get("energy_measured_j_per_inference", 0) > 0)
        j1 = out[f"{name}/batch1"].get("energy_measured_j_per_inference")
        j32 = out[f"{name}/batch32"].get("energy_measured_j_per_inference")
        out[f"{name}/batch32_cheaper_per_inference"] = bool(j1 and j32 and j32 < j1)
        ok = ok and out[f"{name}/batch32_cheaper_per_inference"]
    out["ok"] = ok
    if not ok:
        out["error"] = "a measurement was not 'measured' or batch 32 cost more"
    return out


def section_zoo(device: str) -> dict:
    """One epoch of every zoo model (:mod:`backends.native.zoo`) on ``synthetic-fer-dvs-mini``,
    each under its own framework's backend: at its paper-scale card on CUDA (memory and kernels
    at the real size), at its CI size on a CPU (a dry run of the path). Batch 8, 3 latency runs.
    Models not started before the section's time limit are listed as not run (the section then
    fails); each model's result is emitted as soon as it is measured."""
    from backends.native.zoo import register_ci, zoo_names
    from backends.specs import get_arch
    from benchmarks.results.spec import Cell, Recipe
    from benchmarks.runner.cell import run_cell

    _device_ok(device)
    cuda = _is_cuda(device)
    tf32 = set_tf32(True) if cuda else None
    root = Path(tempfile.mkdtemp(prefix="gpu-check-zoo-"))
    recipe = Recipe(epochs=1, batch_size=8, latency_runs=3, warmup_runs=1,
                    throughput_batch_size=8, codecarbon=False)
    cells: dict[str, dict] = {}
    t_start = time.perf_counter()
    for name in zoo_names():
        arch = name if cuda else register_ci(name)
        if time.perf_counter() - t_start > BUDGET_S["zoo"] - 25:  # report what ran, in time
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
        emit(arch, cells[arch])
    out = {"tf32": tf32, "cells": cells, "ok": all(c["status"] == "ok" for c in cells.values())}
    if not out["ok"]:
        out["error"] = "; ".join(f"{a}: {c.get('error') or c['status']}" for a, c in cells.items()
                                 if c["status"] != "ok")
    return out


SECTIONS: dict[str, Callable[[str], dict]] = {
    "env": section_env,
    "precompile": section_precompile,
    "tests": section_tests,
    "backends": section_backends,
    "pipeline": section_pipeline,
    "grid": section_grid,
    "speed": section_speed,
    "nvml": section_nvml,
    "zoo": section_zoo,
}
"""Section name -> function ``(device) -> result dict`` (see :func:`verdict`)."""


# --------------------------------------------------------------------------------------------
# the parent: runs the sections, prints, writes the results file


class _Run:
    """The results file and log of one run (``out/gpu_check.json``, ``out/gpu_check.log``)."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.json_path, self.log_path = out / "gpu_check.json", out / "gpu_check.log"
        self.data = {"sections": {}, "calls": {}}
        if self.json_path.is_file():  # call B adds to call A's file
            try:
                self.data = json.loads(self.json_path.read_text())
            except json.JSONDecodeError:
                self.data = {"sections": {}, "calls": {}}
        self.log = self.log_path.open("a")

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.log.write(text + "\n")
        self.log.flush()

    def save(self) -> None:
        tmp = self.json_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        tmp.replace(self.json_path)


def _run_section(run: _Run, name: str, device: str, env: dict, timeout: float) -> dict:
    """Run one section in a subprocess (its own process group, killed at ``timeout``), printing
    and saving each partial result as it arrives."""
    partial: dict = {}
    lines: list[str] = []
    run.data["sections"][name] = {"running": True, "partial": partial}
    proc = subprocess.Popen([sys.executable, "-m", "tools.gpu.gpu_check", "--section", name,
                             "--device", device], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("PARTIAL "):
                key, _, js = line[8:].strip().partition(" ")
                partial[key] = json.loads(js)
                run.say(f"   {name} {key}: {js}")
                run.save()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the section and its workers / compilers
        except ProcessLookupError:
            pass
        proc.wait()
    reader.join(timeout=5)
    results = [ln for ln in lines if ln.startswith("RESULT ")]
    if results:
        return json.loads(results[-1][7:])
    out = {"ok": False, "partial": partial, "tail": lines[-20:]}
    out["error"] = (f"over its {timeout:.0f} s budget" if timed_out
                    else f"exited {proc.returncode} without a result: " + " | ".join(lines[-3:]))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring). Exit 0 when every section is ok (with
    ``--rehearsal``: ok or skipped for want of CUDA), 1 otherwise, 2 on a bad option."""
    ap = argparse.ArgumentParser(prog="python -m tools.gpu.gpu_check",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--call", choices=sorted(CALLS), help="the sections of call A or B (C: the zoo, when a lease has time left)")
    ap.add_argument("--only", default=None, help=f"comma-separated: {', '.join(SECTIONS)}")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--wheels", type=Path, default=None, help="the bundle folder to install first")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default $OUT if set, else runs/gpu_check)")
    ap.add_argument("--rehearsal", action="store_true",
                    help="a run without CUDA: sections that need CUDA may be skipped")
    ap.add_argument("--section", help=argparse.SUPPRESS)  # internal: run one section in-process
    args = ap.parse_args(argv)
    if args.section:
        result = SECTIONS[args.section](args.device)
        print("RESULT " + json.dumps(result, default=str), flush=True)
        return 0
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
    else:
        names = list(CALLS[args.call]) if args.call else [s for c in sorted(CALLS) for s in CALLS[c]]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"error: unknown section(s) {unknown}; known: {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    label = f"call {args.call}" if args.call and not args.only else "sections"
    out_dir = args.out or Path(os.environ.get("OUT") or ROOT / "runs" / "gpu_check")
    run = _Run(out_dir)
    t_start = time.perf_counter()
    run.say(f"gpu-check {label}: {', '.join(names)} on {args.device} "
            f"({time.strftime('%Y-%m-%d %H:%M:%S %Z')}); results in {run.json_path}")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    paths = [str(ROOT)]
    install = None
    if args.wheels is not None:
        install = install_bundle(args.wheels.resolve())
        run.data["install"] = install
        run.say(f"== install: {'ok' if install['ok'] else 'FAILED: ' + install['error']} "
                f"in {install['seconds']} s ({install.get('wheels', 0)} wheels -> {install['target']})")
        paths.insert(0, install["target"])
        env["GPU_CHECK_BUNDLE"] = str(args.wheels.resolve() / "MANIFEST.json")
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    # a fresh extensions folder: lava-dl's kernel is built by `precompile` and loaded later; a
    # killed build's lock in ~/.cache/torch_extensions would make every later load wait forever
    ext_dir = tempfile.mkdtemp(prefix="gpu-check-ext-")
    env["TORCH_EXTENSIONS_DIR"] = ext_dir
    verdicts: list[tuple[str, str, str]] = []
    if install is not None and not install["ok"]:
        verdicts.append(("install", "FAILED", install["error"]))
    for name in names:
        left = CALL_LIMIT_S - (time.perf_counter() - t_start)
        if left < MIN_SECTION_S:
            result = {"skipped": f"no time left in the call ({left:.0f} s)"}
        else:
            t0 = time.perf_counter()
            result = _run_section(run, name, args.device, env, min(BUDGET_S[name], left))
            result["seconds"] = round(time.perf_counter() - t0, 1)
        result["budget_s"] = BUDGET_S[name]
        v, why = verdict(result)
        if name == "precompile" and v == "FAILED":  # a killed build may hold its lock: start afresh
            env["TORCH_EXTENSIONS_DIR"] = tempfile.mkdtemp(prefix="gpu-check-ext-")
        verdicts.append((name, v, why))
        run.data["sections"][name] = result
        run.save()
        shown = {k: v for k, v in result.items() if k not in ("tail", "table", "rows")}
        run.say(f"== {name}: {v}{': ' + why if why else ''} in {result.get('seconds', 0)} s "
                f"(budget {BUDGET_S[name]} s)")
        run.say(json.dumps(shown, indent=1, default=str))
        if "table" in result:
            run.say(result["table"])
    wall = time.perf_counter() - t_start
    line = summary_line(label, verdicts, wall)
    problems = rehearsal_problems({n: run.data["sections"][n] for n in names})
    if install is not None and not install["ok"]:
        problems.insert(0, f"install FAILED: {install['error']}")
    run.data["calls"][args.call or "sections"] = {
        "sections": names, "device": args.device, "summary": line, "wall_s": round(wall, 1),
        "rehearsal_problems": problems if args.rehearsal else None}
    run.save()
    if args.rehearsal:
        run.say("rehearsal: " + ("passed (every section ok or skipped for want of CUDA)"
                                 if not problems else "FAILED: " + "; ".join(problems)))
    run.say(line)
    run.log.close()
    shutil.rmtree(ext_dir, ignore_errors=True)
    if args.rehearsal:
        return 0 if not problems else 1
    return 0 if all(v == "ok" for _, v, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
