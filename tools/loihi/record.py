"""Write the result of a Loihi 2 check into the committed record the leaderboard reads.

Run in the suite's environment after ``tools/loihi/loihi_check.py DIR --cases suite`` (``make
loihi-check`` does): reads ``DIR/loihi_check.json`` and ``DIR/suite.npz`` (the samples the check
compared) and replaces the record's entry for the checked architecture
(:data:`backends.targets.lava_check.RECORD`, one entry per architecture; the others are kept),
with the digest of the checkout's quantisation sources
(:func:`backends.targets.lava_check.quantization_digest`), so that a later change of the
quantisation makes the entry stale.

Usage: ``python tools/loihi/record.py DIR [--record PATH]``. Exit 0 written, 2 with one line when
a file is missing or holds no suite case.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class RecordError(ValueError):
    """A check folder the record cannot be written from (the message names the file)."""


def entry_from_check(result: dict, case: dict, npz: Path, digest: str) -> dict:
    """The record's entry for one suite case of a check's JSON ``result``.

    Args:
        result: ``loihi_check.json`` (date, versions, python, tag, cases).
        case: its suite case (arch, dataset, checkpoint, samples, time_steps, layers).
        npz: the ``suite.npz`` the case ran (``indices``, ``n_test_split``).
        digest: :func:`backends.targets.lava_check.quantization_digest` of the checkout.

    Returns:
        ``{arch, date, lava-nc, lava-dl, python, tag, dataset, checkpoint, samples,
        test_split, indices, time_steps, layers: {name: {kind, compared, spikes_reference,
        spikes_lava, mismatches}}, values_compared, spikes_compared, mismatches, wall_s,
        quantization_sha256}``; ``spikes_compared`` sums the reference spikes of the hidden
        layers, ``values_compared`` every layer's compared values (readout currents included).
    """
    d = np.load(npz)
    layers = {name: {k: v[k] for k in ("kind", "compared", "spikes_reference", "spikes_lava",
                                        "mismatches") if k in v}
              for name, v in case["layers"].items()}
    return {
        "arch": case["arch"], "date": result["date"],
        "lava-nc": result["versions"]["lava-nc"], "lava-dl": result["versions"]["lava-dl"],
        "python": result["python"], "tag": result["tag"], "dataset": case["dataset"],
        "checkpoint": Path(case["checkpoint"]).name, "samples": case["samples"],
        "test_split": int(d["n_test_split"]),
        "indices": [int(i) for i in d["indices"]], "time_steps": case["time_steps"],
        "layers": layers,
        "values_compared": int(sum(v["compared"] for v in layers.values())),
        "spikes_compared": int(sum(v.get("spikes_reference", 0) for v in layers.values())),
        "mismatches": int(case["mismatches"]), "wall_s": case["wall_s"],
        "quantization_sha256": digest,
    }


def write_record(check_dir: Path, record: Path) -> dict:
    """Merge the suite case of ``check_dir``'s check into ``record``; returns the new entry.

    Raises:
        RecordError: ``loihi_check.json`` or ``suite.npz`` missing, or no suite case in it.
        LavaRecordError: an existing record that is not valid.
    """
    from backends.targets.lava_check import SOURCES, quantization_digest, read_record

    result_path, npz = check_dir / "loihi_check.json", check_dir / "suite.npz"
    for p in (result_path, npz):
        if not p.is_file():
            raise RecordError(f"{p}: no such file (run tools/loihi/loihi_check.py {check_dir})")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    case = next((c for c in result.get("cases", []) if c.get("case") == "suite"), None)
    if case is None:
        raise RecordError(f"{result_path}: no 'suite' case (the check ran --cases smoke only)")
    entry = entry_from_check(result, case, npz, quantization_digest())
    old = read_record(record) or {}
    checks = [c for c in old.get("checks", []) if c["arch"] != entry["arch"]] + [entry]
    out = {"description": "The last check of the suite's Loihi 2 evaluation against Lava's "
                          "fixed-point simulation, per architecture (make loihi-check, "
                          "docs/guides/loihi-check.md)",
           "quantization_sources": [f"backends/targets/{n}" for n in SOURCES],
           "checks": sorted(checks, key=lambda c: c["arch"])}
    record.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return entry


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring); returns the exit status."""
    from backends.targets.lava_check import RECORD, LavaRecordError

    p = argparse.ArgumentParser(prog="record.py", description=__doc__.split("\n")[0])
    p.add_argument("dir", type=Path, help="a folder checked by loihi_check.py --cases suite")
    p.add_argument("--record", type=Path, default=RECORD)
    args = p.parse_args(argv)
    try:
        entry = write_record(args.dir, args.record)
    except (RecordError, LavaRecordError) as exc:
        print(f"loihi-check: {exc}", file=sys.stderr)
        return 2
    print(f"loihi-check: recorded {entry['arch']} ({entry['mismatches']} mismatches on "
          f"{entry['samples']} samples) in {args.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
