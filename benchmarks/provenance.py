"""Provenance of a result: code version, time, software versions and hardware.

Every record carries this block so that two results can be compared honestly later (the habit of
pytest-benchmark's machine_info/commit_info and MLPerf's system description).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name: str) -> str | None:
    """Installed distribution version of ``name``, or ``None``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def provenance(backend_versions: dict[str, str] | None = None, device: str = "cpu") -> dict:
    """The provenance block of a record.

    Returns:
        dict with ``git_commit``, ``git_dirty`` (uncommitted changes to tracked files),
        ``utc_time`` (ISO 8601), ``python``, ``torch``, ``numpy``, ``suite_version``,
        ``backend_versions``, ``platform``, ``cpu``, ``cpu_count``, ``threads``
        (``torch.get_num_threads()``), ``device`` and ``gpu`` (CUDA device name or ``None``).
    """
    import torch

    gpu = None
    if device.startswith("cuda") and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(torch.device(device))
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "utc_time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": package_version("numpy"),
        "suite_version": package_version("neurofer-bench"),
        "backend_versions": dict(backend_versions or {}),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": device,
        "gpu": gpu,
        "argv": list(sys.argv),
    }
