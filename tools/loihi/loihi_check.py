"""The Loihi 2 check: lava-dl networks run in Intel's Lava fixed-point simulation of Loihi 2,
compared spike for spike with the rasters ``tools/loihi/prepare.py`` wrote (SLAYER's for the
smoke network; the suite's on-chip evaluation, ``backends/targets/loihi2_fixed.py``, for a
checkpoint). Runs in the check's Python 3.10 environment (``make loihi-env``); ``make
loihi-check`` runs ``tools/loihi/prepare.py`` first and ``tools/loihi/record.py`` after.

For each case (``smoke.npz``, ``suite.npz`` written by ``prepare.py``) the network file is loaded
with ``lava.lib.dl.netx.hdf5.Network`` (the input shape given, since the suite's export writes no
``input`` layer; ``reset_interval`` = one sample's period), the samples are fed back to back from
a ``RingBuffer`` and run in ``Loihi2SimCfg(select_tag="fixed_pt")`` (Lava's bit-accurate models
of Loihi 2's neurons and synapses), every layer's spikes (and the readout's ``u``) are recorded,
aligned (layer ``k`` delayed ``k`` steps, :mod:`compare`) and compared.

Usage: ``python tools/loihi/loihi_check.py DIR [--out DIR/loihi_check.json]`` where DIR holds the
``.npz`` files and the networks they name. Exit 0 when every comparison has zero mismatches, 1
when any differs, 2 when a file is missing or netx cannot build a network (one line).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402
import lava_env  # noqa: E402

log = logging.getLogger("loihi_check")

TAG = "fixed_pt"
"""Lava's process-model tag for its bit-accurate Loihi models (``Loihi2SimCfg(select_tag=...)``)."""


def _period(steps: int, n_layers: int) -> int:
    """Lava steps per sample: its ``steps`` plus the pipeline's delay (one step per layer) plus
    one, rounded up to a power of two (Loihi's reset interval)."""
    need = steps + n_layers + 1
    return 1 << (need - 1).bit_length()


def run_lava(net_path: Path, x: np.ndarray, input_shape: tuple[int, ...] | None,
             n_layers: int) -> tuple[dict, int, float]:
    """Run ``x`` (``(N, T, *input)``, input in the network's layout: ``(W, H, C)`` for conv,
    ``(F,)`` for dense) through the netx network of ``net_path`` in Lava's fixed-point simulation.

    Returns:
        ``(recordings, period, seconds)``: ``recordings[i]`` ``{"s_out": (S, *shape), "u": (S,
        *shape)}`` for layer ``i``, ``S = N * period`` steps; the period; the wall time of the run.

    Raises:
        RuntimeError: netx cannot build the network (lava-dl's message).
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    hdf5 = lava_env.import_netx()
    n, steps = x.shape[:2]
    period = _period(steps, n_layers)
    # event counts above 1 go in as graded spikes (unary spikes are cast to bool by Lava's
    # synapses: a count of 2 would arrive as 1); Lava's fixed-point synapses multiply a graded
    # payload by the weight, as SLAYER multiplies the count
    top = int(x.max(initial=0))
    bits = top.bit_length() + 1 if top > 1 else 0
    net = hdf5.Network(net_config=str(net_path), input_shape=input_shape,
                       reset_interval=period, input_message_bits=bits)
    if len(net.layers) != n_layers:
        raise RuntimeError(f"{net_path}: netx built {len(net.layers)} layers, expected {n_layers}")
    stream = np.zeros((n * period, *x.shape[2:]), dtype=np.int32)
    for i in range(n):  # sample i at steps i * period + 0 .. steps - 1 of the source
        stream[i * period:i * period + steps] = x[i]
    source = RingBuffer(data=np.moveaxis(stream, 0, -1))
    source.s_out.connect(net.inp)
    total = n * period
    monitors = []
    for layer in net.layers:
        m_s, m_u = Monitor(), Monitor()
        m_s.probe(layer.neuron.s_out, total)
        m_u.probe(layer.neuron.u, total)
        monitors.append((layer, m_s, m_u))
    t0 = time.perf_counter()
    try:
        net.run(condition=RunSteps(num_steps=total), run_cfg=Loihi2SimCfg(select_tag=TAG))
        recs = []
        for layer, m_s, m_u in monitors:
            s = m_s.get_data()[layer.neuron.name]["s_out"]
            u = m_u.get_data()[layer.neuron.name]["u"]
            recs.append({"s_out": np.asarray(s), "u": np.asarray(u)})
    finally:
        net.stop()
    return recs, period, time.perf_counter() - t0


def _to_chw(a: np.ndarray) -> np.ndarray:
    """Lava's ``(..., W, H, C)`` conv layout -> the suite's ``(..., C, H, W)``."""
    return np.swapaxes(a, -1, -3)


def check_case(npz: Path) -> dict:
    """Run one case written by ``prepare.py`` and compare it; returns its JSON entry.

    Raises:
        FileNotFoundError: the case or its network file is missing.
        RuntimeError: netx cannot build or run the network.
    """
    d = np.load(npz)
    layers = [str(v) for v in d["layers"]]
    x = d["x"].astype(np.int32)
    smoke = "current" not in d.files
    if smoke:  # dense 16-32-8, every layer spiking
        net_path, input_shape, lava_x = npz.with_suffix(".net"), None, x
        kinds = ["dense"] * len(layers)
        n_layers = len(layers)
    else:  # conv layers, then the readout (no neuron: netx's non-leaky integrator)
        net_path = Path(str(d["net"]))
        _, _, c, h, w = x.shape
        input_shape = (w, h, c)
        lava_x = np.swapaxes(x, -1, -3)  # (N, T, W, H, C)
        kinds = [str(v) for v in d["kinds"]]
        n_layers = len(layers) + 1
    if not net_path.is_file():
        raise FileNotFoundError(f"{net_path}: no such network file")
    n, steps = x.shape[:2]
    recs, period, seconds = run_lava(net_path, lava_x, input_shape, n_layers)
    entry: dict = {"case": npz.stem, "network": str(net_path), "samples": int(n),
                   "time_steps": int(steps), "lava_steps": int(n * period),
                   "period": int(period), "wall_s": round(seconds, 2), "layers": {}}
    for k, (name, kind) in enumerate(zip(layers, kinds, strict=True), start=1):
        got = compare.windows(recs[k - 1]["s_out"], n, period, steps, delay=k)
        if kind == "conv":
            got = _to_chw(got)
        ref = d[f"spikes_{name}"]
        entry["layers"][name] = {"kind": kind, "delay": k, **compare.compare_spikes(ref, got)}
    if not smoke:
        k = n_layers
        u = compare.windows(recs[-1]["u"], n, period, steps, delay=k)
        got = compare.current_from_integrator(u)
        entry["layers"]["readout"] = {"kind": "readout current", "delay": k,
                                      "units": compare.READOUT_UNITS,
                                      **compare.compare_currents(d["current"], got)}
        entry["arch"], entry["dataset"] = str(d["arch"]), str(d["dataset"])
        entry["checkpoint"] = str(d["checkpoint"])
    entry["mismatches"] = int(sum(v["mismatches"] for v in entry["layers"].values()))
    return entry


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring); returns the exit status."""
    p = argparse.ArgumentParser(prog="loihi_check.py", description=__doc__.split("\n")[0])
    p.add_argument("dir", type=Path, help="folder of prepare.py's .npz files")
    p.add_argument("--out", type=Path, default=None, help="JSON result (default DIR/loihi_check.json)")
    p.add_argument("--cases", nargs="+", default=["smoke", "suite"])
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Lava's compiler warns that it skipped lava_env's stand-in for netx.sequential_modules
    warnings.filterwarnings("ignore", message="Cannot import module", category=UserWarning)
    t0 = time.perf_counter()
    cases = []
    for name in args.cases:
        npz = args.dir / f"{name}.npz"
        if not npz.is_file():
            print(f"loihi-check: {npz}: no such file (run tools/loihi/prepare.py {name})",
                  file=sys.stderr)
            return 2
        try:
            cases.append(check_case(npz))
        except (FileNotFoundError, RuntimeError, KeyError, NotImplementedError) as exc:
            print(f"loihi-check: {npz}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    result = {"date": datetime.date.today().isoformat(), "versions": lava_env.versions(),
              "python": sys.version.split()[0], "tag": TAG, "cases": cases,
              "mismatches": int(sum(c["mismatches"] for c in cases)),
              "wall_s": round(time.perf_counter() - t0, 2)}
    out = args.out or args.dir / "loihi_check.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for c in cases:
        per = ", ".join(f"{k} {v['mismatches']}/{v['compared']}" for k, v in c["layers"].items())
        print(f"{c['case']}: {c['samples']} samples x {c['time_steps']} steps, mismatches {per} "
              f"({c['wall_s']} s)")
    print(f"loihi-check: {result['mismatches']} mismatches; wrote {out}")
    return 0 if result["mismatches"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
