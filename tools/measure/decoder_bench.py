"""Prophesee decoders compared on real recordings: speed (M events/s) and agreement with a reference.

Run: ``python -m tools.measure.decoder_bench [--real DIR] [--repeats N]`` (a few seconds).
``DIR`` (default ``../shared/real/prophesee``) holds recordings with their decoded references
(``<stem>.raw`` / ``<stem>.dat`` beside ``<stem>.npy``: a structured array ``t, x, y, p``). Not
part of CI; the numbers go in ``docs/guides/prophesee.md``.

Candidates: the suite's reader (:func:`datasets.io.prophesee.read_prophesee`) and, when they are
importable, ``expelliarmus`` (GPL-2.0, ``Wizard(encoding, fpath).read()``), ``faery`` (LGPL-3.0,
``events_stream_from_file(path).to_array()``) and ``evlib`` (MIT, ``load_events(path,
sort=False).collect()``, a polars frame with polarity -1/1). None of them is a dependency of the
suite: install them into a separate folder and put it on ``PYTHONPATH`` to measure them.

Per candidate and file: the best wall time of ``--repeats`` whole-file decodes (file read
included), the rate ``reference events / best time`` in M events/s, and the agreement: the event
count, and when it matches, how many events differ from the reference in ``t``, ``x``, ``y``,
``p``, and whether all four columns are equal ("exact"). A candidate that cannot read a file is
listed with its error.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

DAT_SENSOR = (120, 100)
"""Sensor size given to the suite's reader for DAT files without geometry: N-CARS samples are
120x100 crops (Sironi et al., "HATS", CVPR 2018, Sec. 6.1)."""


def _suite(path: Path) -> dict[str, np.ndarray]:
    from datasets.io.prophesee import read_prophesee

    ev = read_prophesee(path, sensor_size=DAT_SENSOR if path.suffix == ".dat" else None).events
    return {k: ev[k] for k in "txyp"}


def _expelliarmus(path: Path) -> dict[str, np.ndarray]:
    from expelliarmus import Wizard

    raw = path.read_bytes()
    if path.suffix == ".dat":
        encoding = "dat"
    else:
        encoding = "evt3" if b"% evt 3.0" in raw[:4096] else "evt2"
    ev = Wizard(encoding=encoding, fpath=path).read()
    return {k: ev[k] for k in "txyp"}


def _faery(path: Path) -> dict[str, np.ndarray]:
    import faery

    ev = faery.events_stream_from_file(path).to_array()
    return {"t": ev["t"], "x": ev["x"], "y": ev["y"], "p": ev["on"]}


def _evlib(path: Path) -> dict[str, np.ndarray]:
    import evlib

    df = evlib.load_events(str(path), sort=False).collect()
    return {"t": df["t"].cast(int).to_numpy(), "x": df["x"].to_numpy(), "y": df["y"].to_numpy(),
            "p": (df["polarity"].to_numpy() > 0)}


CANDIDATES: dict[str, tuple[str, Callable[[Path], dict]]] = {
    "suite (numpy, this repository)": ("Apache-2.0", _suite),
    "expelliarmus": ("GPL-2.0", _expelliarmus),
    "faery": ("LGPL-3.0", _faery),
    "evlib": ("MIT", _evlib),
}


def agreement(got: dict[str, np.ndarray], ref: np.ndarray) -> str:
    """One-line agreement of decoded columns with the reference structured array."""
    n = len(got["t"])
    if n != ref.shape[0]:
        return f"{n} events, reference {ref.shape[0]}: not comparable event by event"
    diffs = {k: int((np.asarray(got[k]).astype(np.int64) != ref[k].astype(np.int64)).sum())
             for k in "txyp"}
    if not any(diffs.values()):
        return f"exact ({n} events)"
    return "differs: " + ", ".join(f"{k} {v}" for k, v in diffs.items() if v) + f" of {n} events"


def measure(real: Path, repeats: int) -> list[tuple[str, str, str, str, str]]:
    """Rows ``(file, candidate, licence, M events/s, agreement)`` for every file and candidate."""
    rows = []
    for ref_path in sorted(real.glob("*.npy")):
        rec = next((p for p in (ref_path.with_suffix(".raw"), ref_path.with_suffix(".dat"))
                    if p.is_file()), None)
        if rec is None:
            continue
        ref = np.load(ref_path)
        for name, (licence, fn) in CANDIDATES.items():
            try:
                got = fn(rec)
                best = float("inf")
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    fn(rec)
                    best = min(best, time.perf_counter() - t0)
                rate, agree = f"{ref.shape[0] / best / 1e6:.1f}", agreement(got, ref)
            except ImportError as exc:
                rate, agree = "-", f"not installed ({exc.name})"
            except Exception as exc:  # noqa: BLE001 - a candidate's failure is a result here
                rate, agree = "-", f"cannot read: {type(exc).__name__}: {str(exc)[:90]}"
            rows.append((rec.name, name, licence, rate, agree))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the table (markdown)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--real", type=Path, default=Path("../shared/real/prophesee"))
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if not args.real.is_dir():
        ap.error(f"{args.real}: no such folder of reference recordings")
    print("| file | decoder | licence | M events/s | agreement with the reference |")
    print("| --- | --- | --- | --- | --- |")
    for row in measure(args.real, args.repeats):
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
