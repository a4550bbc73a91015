"""Provenance of a result: code version, time, software versions and hardware.

Every record carries this block so that two results can be compared honestly later (the habit of
pytest-benchmark's machine_info/commit_info and MLPerf's system description).
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str, raw: bool = False) -> str | bytes | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=not raw, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if raw else out.stdout.strip()


@lru_cache(maxsize=1)
def code_version() -> str | None:
    """The version of the code this process runs: the git commit, plus a digest of every
    uncommitted change when the tree is not clean.

    ``"<commit>"`` for a clean tree; ``"<commit>+<sha256[:16]>"`` otherwise, the digest taken over
    ``git diff HEAD`` (tracked files, binary-safe) and the names and contents of untracked files
    that git does not ignore. Two records share a code version only if they were made by the same
    code. Computed once per process (the code a process runs is the code it loaded). ``None``
    outside a git checkout.
    """
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return None
    diff = _git("diff", "HEAD", "--binary", raw=True)
    untracked = _git("ls-files", "--others", "--exclude-standard", "-z", raw=True)
    if diff is None or untracked is None:
        return None
    h = hashlib.sha256(diff)
    for name in sorted(n for n in untracked.split(b"\0") if n):
        h.update(b"\0" + name + b"\0")
        try:
            h.update((REPO_ROOT / name.decode()).read_bytes())
        except OSError:
            h.update(b"<unreadable>")
    if not diff and not any(untracked.split(b"\0")):
        return commit
    return f"{commit}+{h.hexdigest()[:16]}"


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
        ``code_version`` (:func:`code_version`: commit plus a digest of uncommitted changes),
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
        "code_version": code_version(),
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
