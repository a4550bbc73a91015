"""Measured energy per inference: the GPU's energy counter (NVML) or the CPU's RAPL counters.

Unlike :mod:`benchmarks.measure.energy` (estimates from operation counts), these are **measurements** of
the whole device while the model runs, labelled ``measured`` in the records:

* **CUDA**: NVML's ``nvmlDeviceGetTotalEnergyConsumption`` (millijoules since the driver was
  loaded; Volta and later), read through the ``pynvml`` module of the ``nvidia-ml-py`` package
  (NVIDIA's own binding). The counter covers the whole board (memory, fans, other processes'
  kernels), and is refreshed by the driver at a coarse interval (tens of ms), hence a window of
  at least 2 s.
* **CPU**: Linux's powercap RAPL interface, ``/sys/class/powercap/intel-rapl:<N>/energy_uj``
  (microjoules; one top-level domain per CPU package, the sub-domains ``intel-rapl:<N>:<M>``
  are parts of it and are not added again), which wraps at ``max_energy_range_uj``. The
  counter covers the whole package: every process on it, so a busy shared machine inflates it
  (the net figure subtracts the idle power measured just before, not other users' load). Where
  the kernel exposes no RAPL domain (virtual machines, this project's CI) or only to root
  (``energy_uj`` is mode 0400 since Linux 5.10), the result says ``not available`` and why.

:func:`measure_inference_energy` runs a callable (one batch of inference) repeatedly for at
least ``min_seconds`` after measuring the idle power for ``idle_seconds``, and returns joules per
inference, gross and net of idle (``(E - P_idle * t) / n``).

Reference: NVML API reference, "Device Queries", ``nvmlDeviceGetTotalEnergyConsumption``
("Retrieves total energy consumption for this GPU in millijoules (mJ) since the driver was last
reloaded"); Linux kernel documentation, "Power Capping Framework" (``Documentation/power/
powercap/powercap.rst``: ``energy_uj``, ``max_energy_range_uj``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = [
    "MIN_WINDOW_S",
    "RAPL_ROOT",
    "EnergyCounter",
    "NvmlCounter",
    "RaplCounter",
    "EnergyCounterUnavailable",
    "counter_for",
    "measure_inference_energy",
]

MIN_WINDOW_S = 2.0
"""The shortest measurement window accepted (s): NVML refreshes its counter every few tens of
milliseconds, so 2 s keeps the quantisation error around 1-5 %."""

RAPL_ROOT = Path("/sys/class/powercap")


class EnergyCounterUnavailable(RuntimeError):
    """No energy counter can be read for this device; the message says why."""


class EnergyCounter:
    """A monotonic energy counter in joules (``read()``); ``source`` names it."""

    source: str = ""

    def read(self) -> float:  # pragma: no cover (interface)
        raise NotImplementedError


def _cuda_index(device: str) -> int:
    if ":" in device:
        return int(device.split(":", 1)[1])
    try:
        import torch

        return int(torch.cuda.current_device()) if torch.cuda.is_available() else 0
    except Exception:  # pragma: no cover (torch without CUDA)
        return 0


class NvmlCounter(EnergyCounter):
    """NVML's total energy counter of one GPU (``nvmlDeviceGetTotalEnergyConsumption``, mJ).

    The GPU is found by its UUID as torch reports it (CUDA and NVML number devices differently
    when ``CUDA_VISIBLE_DEVICES`` or ``CUDA_DEVICE_ORDER`` reorder them), else by index.

    Args:
        device: ``"cuda"`` or ``"cuda:<i>"``.
        nvml: the ``pynvml`` module (tests pass a fake one); imported when ``None``.

    Raises:
        EnergyCounterUnavailable: ``pynvml`` is missing, NVML does not initialise, or the GPU has
            no energy counter (before Volta).
    """

    def __init__(self, device: str = "cuda", nvml: Any = None) -> None:
        if nvml is None:
            try:
                import pynvml as nvml
            except ImportError as exc:
                raise EnergyCounterUnavailable(
                    "not available: the pynvml module (package nvidia-ml-py) is not installed"
                ) from exc
        self.nvml = nvml
        try:
            nvml.nvmlInit()
            self.handle = self._handle(device)
            name = nvml.nvmlDeviceGetName(self.handle)
            self.name = name.decode() if isinstance(name, bytes) else str(name)
            nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        except EnergyCounterUnavailable:
            raise
        except Exception as exc:  # pynvml.NVMLError and friends
            raise EnergyCounterUnavailable(
                f"not available: NVML energy counter of {device}: {type(exc).__name__}: {exc}"
            ) from exc
        self.source = f"nvml:nvmlDeviceGetTotalEnergyConsumption ({self.name})"

    def _handle(self, device: str) -> Any:
        idx = _cuda_index(device)
        try:
            import torch

            if torch.cuda.is_available():
                uuid = str(torch.cuda.get_device_properties(idx).uuid)
                uuid = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
                return self.nvml.nvmlDeviceGetHandleByUUID(uuid)
        except Exception as exc:  # an NVML without the UUID call, or torch without uuid
            log.debug("NVML handle by UUID failed (%s); using index %d", exc, idx)
        return self.nvml.nvmlDeviceGetHandleByIndex(idx)

    def read(self) -> float:
        """Joules since the driver was loaded."""
        return float(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)) / 1e3


class RaplCounter(EnergyCounter):
    """The sum of the top-level RAPL package domains under ``root`` (``intel-rapl:<N>``), in J,
    with wrap-around at each domain's ``max_energy_range_uj`` handled between reads.

    Raises:
        EnergyCounterUnavailable: no domain, or a counter that cannot be read (permissions).
    """

    def __init__(self, root: str | Path = RAPL_ROOT) -> None:
        root = Path(root)
        doms = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
        if not doms:
            raise EnergyCounterUnavailable(f"not available: no RAPL domain under {root}")
        self.domains = []
        for d in doms:
            try:
                max_uj = int((d / "max_energy_range_uj").read_text().strip())
                int((d / "energy_uj").read_text().strip())
            except PermissionError as exc:
                raise EnergyCounterUnavailable(
                    f"not available: permission denied reading {d / 'energy_uj'} "
                    "(root only since Linux 5.10)") from exc
            except (OSError, ValueError) as exc:
                raise EnergyCounterUnavailable(f"not available: {d}: {exc}") from exc
            self.domains.append((d, max_uj))
        names = []
        for d, _ in self.domains:
            try:
                names.append((d / "name").read_text().strip())
            except OSError:
                names.append(d.name)
        self.source = f"rapl:{'+'.join(names)}"
        self._last = [self._raw(d) for d, _ in self.domains]
        self._total_uj = 0

    @staticmethod
    def _raw(d: Path) -> int:
        return int((d / "energy_uj").read_text().strip())

    def read(self) -> float:
        """Joules accumulated since this counter was created (wrap-around unrolled)."""
        for i, (d, max_uj) in enumerate(self.domains):
            now = self._raw(d)
            prev = self._last[i]
            self._total_uj += now - prev if now >= prev else (max_uj - prev) + now
            self._last[i] = now
        return self._total_uj / 1e6


def counter_for(device: str, *, nvml: Any = None, rapl_root: str | Path = RAPL_ROOT) -> EnergyCounter:
    """The energy counter of ``device``: NVML for ``cuda*``, RAPL for ``cpu``.

    Raises:
        EnergyCounterUnavailable: none for this device (the message starts with
            ``"not available"``).
    """
    if str(device).startswith("cuda"):
        return NvmlCounter(str(device), nvml=nvml)
    if str(device) == "cpu":
        return RaplCounter(rapl_root)
    raise EnergyCounterUnavailable(f"not available: no energy counter for device {device!r}")


def measure_inference_energy(
    run_batch: Callable[[], None],
    *,
    device: str,
    batch_size: int,
    min_seconds: float = MIN_WINDOW_S,
    idle_seconds: float = 1.0,
    warmup: int = 2,
    sync: Callable[[], None] | None = None,
    label: str | None = None,
    counter: EnergyCounter | None = None,
    nvml: Any = None,
    rapl_root: str | Path = RAPL_ROOT,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Measured energy per inference of ``run_batch`` (one batch of ``batch_size`` inferences).

    Procedure: ``warmup`` calls; idle power ``P_idle = (E(t1) - E(t0)) / (t1 - t0)`` over
    ``idle_seconds`` of sleep (after ``sync()``); then ``run_batch(); sync()`` repeated until
    at least ``min_seconds`` have passed, reading the counter before and after:
    ``gross = E / n`` and ``net = (E - P_idle * t) / n`` joules per inference, ``n`` = calls x
    ``batch_size``.

    Args:
        run_batch: runs one batch of inference (e.g. ``lambda: backend.forward(model, xb)``
            under ``torch.no_grad()``).
        device: ``"cuda"``, ``"cuda:<i>"`` or ``"cpu"``.
        batch_size: inferences per call (1 for latency, the throughput batch otherwise).
        min_seconds: the measurement window, at least :data:`MIN_WINDOW_S`.
        idle_seconds: the idle window before it (> 0).
        warmup: calls before measuring.
        sync: waits for the device (``torch.cuda.synchronize`` on CUDA; the default for a
            ``cuda`` device), a no-op on CPU.
        label: suffix of every key (``energy_measured_j_per_inference__<label>``), e.g.
            ``"batch1"`` and ``"throughput"``.
        counter: an :class:`EnergyCounter` to use instead of :func:`counter_for` (tests).
        nvml, rapl_root: passed to :func:`counter_for`.
        clock, sleep: time sources (tests pass fakes).

    Returns:
        ``energy_measured_status`` (``"measured"`` or ``"not available: <why>"``) and, when
        measured, ``energy_measured_j_per_inference``, ``energy_measured_net_j_per_inference``,
        ``energy_measured_idle_w``, ``energy_measured_avg_w``, ``energy_measured_window_s``,
        ``energy_measured_inferences``, ``energy_measured_batch_size``,
        ``energy_measured_source``; keys suffixed with ``__<label>`` when a label is given.

    Raises:
        ValueError: ``batch_size < 1``, ``min_seconds`` below :data:`MIN_WINDOW_S`,
            ``idle_seconds <= 0``, or a counter that went backwards (driver reloaded).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    if not (min_seconds >= MIN_WINDOW_S):
        raise ValueError(f"min_seconds: expected >= {MIN_WINDOW_S} s, got {min_seconds!r}")
    if not (idle_seconds > 0):
        raise ValueError(f"idle_seconds: expected > 0, got {idle_seconds!r}")
    sfx = f"__{label}" if label else ""

    def keyed(d: dict[str, Any]) -> dict[str, Any]:
        return {f"{k}{sfx}": v for k, v in d.items()}

    if counter is None:
        try:
            counter = counter_for(device, nvml=nvml, rapl_root=rapl_root)
        except EnergyCounterUnavailable as exc:
            log.info("measured energy: %s", exc)
            return keyed({"energy_measured_status": str(exc)})
    if sync is None:
        if str(device).startswith("cuda"):
            import torch

            sync = torch.cuda.synchronize
        else:
            def sync() -> None:
                return None
    for _ in range(max(0, warmup)):
        run_batch()
    sync()
    t0, e0 = clock(), counter.read()
    sleep(idle_seconds)
    t1, e1 = clock(), counter.read()
    calls = 0
    while True:
        run_batch()
        sync()
        calls += 1
        t2 = clock()
        if t2 - t1 >= min_seconds:
            break
    e2 = counter.read()
    if e1 < e0 or e2 < e1:
        raise ValueError(f"measured energy: the counter {counter.source} went backwards "
                         f"({e0} -> {e1} -> {e2} J); was the driver reloaded?")
    idle_w = (e1 - e0) / (t1 - t0) if t1 > t0 else 0.0
    window = t2 - t1
    energy = e2 - e1
    n = calls * batch_size
    return keyed({
        "energy_measured_status": "measured",
        "energy_measured_j_per_inference": energy / n,
        "energy_measured_net_j_per_inference": (energy - idle_w * window) / n,
        "energy_measured_idle_w": idle_w,
        "energy_measured_avg_w": energy / window if window > 0 else None,
        "energy_measured_window_s": window,
        "energy_measured_inferences": n,
        "energy_measured_batch_size": batch_size,
        "energy_measured_source": counter.source,
    })
