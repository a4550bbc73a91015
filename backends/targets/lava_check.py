"""The record of the last check of the suite's Loihi 2 evaluation against Intel's Lava.

``make loihi-check`` (docs/guides/loihi-check.md) runs lava-dl checkpoints in Lava's
bit-accurate fixed-point simulation of Loihi 2 and compares every hidden layer's spikes and the
readout's current with the suite's on-chip evaluation (:mod:`backends.targets.loihi2_fixed`,
:mod:`backends.targets.fixed`). Its result goes, one entry per architecture, into
``backends/targets/loihi2_lava_check.json`` (:data:`RECORD`), which the deployment table reads
(:func:`lava_check_status`) to say whether a Loihi 2 row's architecture was checked.

An entry holds the check's date, Lava's versions (``lava-nc``, ``lava-dl``), the dataset, the
samples compared (and the test split's size), the time steps, values and spikes compared per
layer, the mismatches, and :func:`quantization_digest` of the quantisation the check compared: an
entry whose digest differs from the checkout's is *stale* (the suite's Loihi 2 precision changed
after the check, so the check no longer vouches for it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RECORD = HERE / "loihi2_lava_check.json"
"""The committed record of the last Lava check (JSON; written by ``tools/loihi/record.py``)."""
SOURCES = ("loihi2_fixed.py", "fixed.py", "loihi2.toml")
"""The files of ``backends/targets/`` that make the suite's Loihi 2 precision: the quantisation
and neuron (``loihi2_fixed.py``), the integer forward (``fixed.py``) and the target's numbers
(``loihi2.toml``)."""


class LavaRecordError(ValueError):
    """A record file that is not valid JSON or lacks a field (the message names the file)."""


def quantization_digest(folder: Path = HERE) -> str:
    """SHA-256 (hex) of :data:`SOURCES` in ``folder``: each file's name, a NUL byte, its bytes,
    a NUL byte, in the order of :data:`SOURCES`.

    Raises:
        FileNotFoundError: a source file is missing.
    """
    h = hashlib.sha256()
    for name in SOURCES:
        h.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return h.hexdigest()


def read_record(path: Path | None = None) -> dict[str, Any] | None:
    """The record at ``path`` (default :data:`RECORD`: ``{"checks": [entry, ...]}``), or None
    when there is no file.

    Raises:
        LavaRecordError: not JSON, or ``checks`` is not a list of objects with ``arch`` and
            ``quantization_sha256``.
    """
    path = RECORD if path is None else path
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LavaRecordError(f"{path}: not JSON ({exc})") from exc
    checks = rec.get("checks") if isinstance(rec, dict) else None
    if not isinstance(checks, list) or not all(
            isinstance(c, dict) and "arch" in c and "quantization_sha256" in c for c in checks):
        raise LavaRecordError(f"{path}: field 'checks': expected a list of entries with 'arch' "
                              "and 'quantization_sha256'")
    return rec


def lava_check_status(arch: str, path: Path | None = None, digest: str | None = None
                      ) -> tuple[str, dict[str, Any] | None]:
    """Whether ``arch``'s Loihi 2 evaluation was checked with Lava.

    Args:
        arch: the architecture's name (e.g. ``"tiny_nir"``).
        path: the record (default :data:`RECORD`).
        digest: the current quantisation's digest (default :func:`quantization_digest`).

    Returns:
        ``("current", entry)`` when the record has an entry for ``arch`` with the current
        digest, ``("stale", entry)`` when its digest differs, ``("missing", None)`` when the
        record or the entry is absent.

    Raises:
        LavaRecordError: see :func:`read_record`.
    """
    rec = read_record(path)
    entry = next((c for c in (rec or {}).get("checks", []) if c["arch"] == arch), None)
    if entry is None:
        return "missing", None
    now = digest if digest is not None else quantization_digest()
    return ("current" if entry["quantization_sha256"] == now else "stale"), entry
