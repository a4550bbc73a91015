"""The suite's side of the Loihi 2 check (run in the suite's environment, Python 3.11).

Writes, for ``tools/loihi/loihi_check.py`` (Lava, Python 3.10) to replay:

* ``smoke.net`` + ``smoke.npz``: a SLAYER CUBA dense network 16-32-8 (lava-dl's own
  ``block.cuba.Dense``, 8-bit weights, ``delay_shift=False``), exported with lava-dl's
  ``export_hdf5``, with 100 steps of random input spikes and SLAYER's spikes of both layers.
* ``suite.npz`` for a lava-dl checkpoint's file written by ``run_bench.py export --format
  lava-hdf5 --loihi2``: the test samples binned as the checkpoint's training binned them
  (``x`` ``(N, T, 2, H, W)``), and, from the suite's on-chip evaluation itself (the forward of
  ``run_bench.py deploy``: :func:`backends.targets.loihi2_fixed.quantize` and
  :func:`backends.targets.fixed.run_layers`), every hidden layer's spikes ``(N, T, C, H, W)`` and
  the readout current ``(N, T, K)``. The file's integers (weights, decays, thresholds) are
  checked equal to that quantisation first, so Lava runs what the suite evaluates.

Usage::

    python tools/loihi/prepare.py smoke OUT_DIR
    python tools/loihi/prepare.py suite CHECKPOINT NET OUT_DIR [--max-test N] [--data-root DIR]

Exit 2 with one line on a bad checkpoint (not lava-dl, an architecture netx cannot load, a file
whose integers differ from the suite's quantisation).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

log = logging.getLogger("tools.loihi.prepare")

SMOKE_SHAPE = (16, 32, 8)
"""Neurons per layer of the smoke-test network (a 16-32-8 dense network: SLAYER and Lava agree on it before the suite's models are compared)."""
SMOKE_STEPS = 100
SMOKE_RATE = 0.2
"""Input spike probability per neuron and step of the smoke test (seeded, ``SMOKE_SEED``)."""
SMOKE_SEED = 0
SMOKE_NEURON = {"threshold": 1.25, "current_decay": 0.25, "voltage_decay": 0.03}
"""CUBA parameters of the smoke test (lava-dl's tutorials' values, on the 1/64 and 1/4096 grids)."""

NETX_LAYERS = ("conv", "flatten", "dense")
"""hdf5 layer types lava-dl 0.6.0's netx builds (``netx/hdf5.py``: pool, average, concat, convT
and unpool raise NotImplementedError)."""


class PrepareError(ValueError):
    """A checkpoint the check cannot run (message names the file and the reason)."""


def smoke(out_dir: Path) -> Path:
    """Build, export and run the smoke-test network; write ``smoke.net`` and ``smoke.npz``
    (``x`` ``(1, 100, 16)``, ``spikes_hidden`` ``(1, 100, 32)``, ``spikes_out`` ``(1, 100, 8)``,
    ``layers`` ``["hidden", "out"]``)."""
    import h5py
    import torch

    from backends.adapters.lava_dl import import_slayer

    slayer = import_slayer()
    torch.manual_seed(SMOKE_SEED)
    params = dict(SMOKE_NEURON)
    blocks = torch.nn.ModuleList(
        slayer.block.cuba.Dense(params, n_in, n_out, weight_scale=2, delay_shift=False)
        for n_in, n_out in zip(SMOKE_SHAPE[:-1], SMOKE_SHAPE[1:], strict=True))
    rng = np.random.default_rng(SMOKE_SEED)
    x = (rng.random((1, SMOKE_STEPS, SMOKE_SHAPE[0])) < SMOKE_RATE).astype(np.uint8)
    h = torch.from_numpy(x.astype(np.float32)).permute(0, 2, 1)  # (N, F, T)
    spikes = []
    with torch.no_grad():
        for block in blocks:
            h = block(h)
            spikes.append(h.permute(0, 2, 1).numpy().astype(np.uint8))
    out_dir.mkdir(parents=True, exist_ok=True)
    net = out_dir / "smoke.net"
    with h5py.File(net, "w") as f:
        layers = f.create_group("layer")
        for i, block in enumerate(blocks):
            block.export_hdf5(layers.create_group(str(i)))
    path = out_dir / "smoke.npz"
    np.savez_compressed(path, x=x, layers=np.array(["hidden", "out"]),
                        spikes_hidden=spikes[0], spikes_out=spikes[1])
    log.info("smoke: %s, %s (%d, %d input/output spikes)", net, path, x.sum(), spikes[1].sum())
    return path


def _field(group, key: str) -> object:
    """A scalar of an hdf5 group (bytes decoded, 1-element arrays unwrapped)."""
    v = group[key][()]
    v = v[0] if np.ndim(v) else v
    return v.decode() if isinstance(v, bytes) else v


def check_export(net: Path, layers: list) -> list[str]:
    """Check that the network file ``net`` holds exactly the integers of ``layers``
    (:func:`backends.targets.loihi2_fixed.quantize`): every weight layer's weights, and every
    hidden layer's CUBA neuron as netx hands it to Lava's LIF (``du = iDecay - 1``, ``dv =
    vDecay``, ``vThMant``; ``netx/hdf5.py``, ``Network.get_neuron_params``), the readout without a
    neuron; and that netx can build every layer.

    Returns:
        The file's layer types in order (``conv``, ``flatten``, ``dense``).

    Raises:
        PrepareError: a layer netx 0.6.0 cannot build, float weights, or any integer that differs
            from the suite's quantisation (the message names the file, layer, field and both
            values).
    """
    import h5py

    kinds: list[str] = []
    weighted = []
    with h5py.File(net, "r") as f:
        for k in sorted(f["layer"], key=int):
            g = f["layer"][k]
            name = g.attrs.get("name", k)
            kind = str(_field(g, "type"))
            if kind not in NETX_LAYERS or int(g.attrs.get("max_pool", 0)):
                raise PrepareError(f"{net}: layer {name!r} ({kind}"
                                   f"{', max pooling' if g.attrs.get('max_pool', 0) else ''}): "
                                   "lava-dl's netx 0.6.0 cannot build it")
            kinds.append(kind)
            if "weight" not in g:
                continue
            w = np.asarray(g["weight"][()], dtype=np.float64)
            if not np.array_equal(w, np.round(w)):
                raise PrepareError(f"{net}: layer {name!r} has float weights: export with "
                                   "`run_bench.py export --format lava-hdf5 --loihi2`")
            neuron = None
            if "neuron" in g:
                n = g["neuron"]
                neuron = {"type": str(_field(n, "type")), "du": int(_field(n, "iDecay")) - 1,
                          "dv": int(_field(n, "vDecay")), "vth_mant": int(_field(n, "vThMant"))}
            weighted.append((str(name), w, neuron))
    if len(weighted) != len(layers):
        raise PrepareError(f"{net}: {len(weighted)} weight layers, the suite's quantisation has "
                           f"{len(layers)} ({', '.join(q.shape.name for q in layers)})")
    for (name, w, neuron), q in zip(weighted, layers, strict=True):
        ref = q.weight.numpy()
        if name != q.shape.name or w.shape != ref.shape:
            raise PrepareError(f"{net}: layer {name!r} weight {w.shape}, the suite's layer "
                               f"{q.shape.name!r} {ref.shape}")
        if not np.array_equal(w, ref):
            bad = tuple(int(i) for i in np.argwhere(w != ref)[0])
            raise PrepareError(f"{net}: layer {name!r} field weight{list(bad)}: {w[bad]:g} "
                               f"in the file, {ref[bad]:g} in loihi2_fixed "
                               f"({int((w != ref).sum())} of {w.size} differ)")
        if (neuron is None) != (q.neuron is None):
            raise PrepareError(f"{net}: layer {name!r}: neuron "
                               f"{'absent' if neuron is None else neuron['type']} in the file, "
                               f"{'none (readout)' if q.neuron is None else 'CUBA'} in the suite")
        if neuron is None:
            continue
        if neuron["type"] != "CUBA":
            raise PrepareError(f"{net}: layer {name!r} field neuron/type: {neuron['type']!r}, "
                               "the suite's Loihi 2 neuron is CUBA")
        for key in ("du", "dv", "vth_mant"):
            if neuron[key] != getattr(q.neuron, key):
                raise PrepareError(f"{net}: layer {name!r} field {key}: {neuron[key]} in the file "
                                   f"(netx's), {getattr(q.neuron, key)} in loihi2_fixed")
    return kinds


def suite(checkpoint: Path, out_dir: Path, net: Path, data_root: Path,
          max_test: int | None = None, batch_size: int = 16) -> Path:
    """Write ``suite.npz`` for ``checkpoint`` and its exported file ``net``.

    The reference is the suite's on-chip evaluation itself (:mod:`benchmarks.deploy.evaluate`):
    the checkpoint's canonical state quantised by :func:`backends.targets.loihi2_fixed.quantize`
    (target ``loihi2``) and run by :func:`backends.targets.fixed.run_layers` on the test split
    binned as the checkpoint's training binned it; the file is first checked to hold exactly
    those integers (:func:`check_export`).

    Keys: ``x`` ``(N, T, 2, H, W)`` uint8 event counts, ``indices``
    ``(N,)`` dataset indices, ``layers`` (hidden layer names, input to output), ``kinds``
    (``conv``/``dense``), ``spikes_<layer>`` ``(N, T, C, H, W)`` or ``(N, T, F)`` uint8,
    ``current`` ``(N, T, K)`` float64 (the readout current in float units, ``sum(w_int s) /
    64``; the logits are its mean over time), ``net`` (the file's path), ``arch``,
    ``checkpoint``, ``dataset``, ``n_test_split`` (recordings in the whole test split).

    Raises:
        PrepareError: not a lava-dl checkpoint, a layer netx cannot build, a file whose integers
            are not the suite's quantisation, input that is not event counts.
        FileNotFoundError, CheckpointError: an unreadable checkpoint or file.
    """
    import types

    import torch

    from backends.nir_exchange.common import canonical_state
    from backends.specs import get_arch
    from backends.targets import loihi2_fixed
    from backends.targets.fixed import run_layers
    from benchmarks.results.spec import Recipe
    from benchmarks.robustness.sweep import binned_test_frames, subsample_test_split
    from benchmarks.runner.checkpoints import load_checkpoint
    from benchmarks.runner.data import dataset_params, open_dataset_cached

    loaded = load_checkpoint(checkpoint, "cpu")
    if loaded.checkpoint.get("backend") != "lava-dl":
        raise PrepareError(f"{checkpoint}: backend {loaded.checkpoint.get('backend')!r}, the "
                           "Loihi 2 check compares a lava-dl checkpoint")
    spec = get_arch(str(loaded.checkpoint["arch"]))
    try:
        quant = loihi2_fixed.quantize(spec, canonical_state(loaded.model), len(loaded.classes),
                                      "loihi2", int(loaded.input_shape[1]))
    except ValueError as exc:
        raise PrepareError(f"{checkpoint}: {exc}") from exc
    check_export(net, quant)

    cell = loaded.checkpoint.get("cell") or {}
    recipe = Recipe.from_dict(cell.get("recipe") or {})
    dataset = open_dataset_cached(cell["dataset"], data_root, **dataset_params(
        types.SimpleNamespace(dataset=cell["dataset"], recipe=recipe)))
    _, split = dataset.split(int(cell.get("fold", 0)), str(cell.get("protocol", "folds")))
    test_idx = subsample_test_split(split, max_test)
    binner = loaded.binner_for(tuple(dataset.sensor_size))
    x = binned_test_frames(dataset, test_idx, binner, None, 0, 0)
    if not torch.equal(x, x.round()) or x.min() < 0 or x.max() > 255:
        raise PrepareError(f"{checkpoint}: binned input is not event counts in [0, 255] (min "
                           f"{x.min():g}, max {x.max():g}); Loihi's input spikes carry integers")
    outs = [run_layers(quant, x[b:b + batch_size]) for b in range(0, x.shape[0], batch_size)]
    hidden = [q.shape.name for q in quant[:-1]]
    arrays = {f"spikes_{n}": torch.cat([o.spikes[n] for o in outs]).numpy().astype(np.uint8)
              for n in hidden}
    current = torch.cat([o.readout for o in outs]).numpy()
    path = out_dir / "suite.npz"
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path, x=x.numpy().astype(np.uint8),
        indices=np.array(test_idx, dtype=np.int64), layers=np.array(hidden),
        kinds=np.array([q.shape.kind for q in quant[:-1]]), current=current,
        net=np.array(str(net)), arch=np.array(spec.name), checkpoint=np.array(str(checkpoint)),
        dataset=np.array(cell["dataset"]), n_test_split=np.array(len(split)), **arrays)
    log.info("suite: %s (%d samples, T = %d)", path, x.shape[0], x.shape[1])
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring); returns the exit status."""
    from datasets.common import InputError
    from datasets.registry import default_data_root

    p = argparse.ArgumentParser(prog="prepare.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("smoke")
    s.add_argument("out_dir", type=Path)
    s = sub.add_parser("suite")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("net", type=Path, help="the file `run_bench.py export --loihi2` wrote")
    s.add_argument("out_dir", type=Path)
    s.add_argument("--max-test", type=int, default=None,
                   help="an evenly spaced subset of N test recordings (default: all)")
    s.add_argument("--data-root", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.cmd == "smoke":
            smoke(args.out_dir)
        else:
            suite(args.checkpoint, args.out_dir, args.net, args.data_root or default_data_root(),
                  args.max_test)
    except (PrepareError, InputError, FileNotFoundError) as exc:
        print(f"loihi-check: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
