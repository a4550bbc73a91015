"""The suite's side of the Loihi 2 check (run in the suite's environment, Python 3.11).

Writes, for ``tools/loihi/loihi_check.py`` (Lava, Python 3.10) to replay:

* ``smoke.net`` + ``smoke.npz``: a SLAYER CUBA dense network 16-32-8 (lava-dl's own
  ``block.cuba.Dense``, 8-bit weights, ``delay_shift=False``), exported with lava-dl's
  ``export_hdf5``, with 100 steps of random input spikes and SLAYER's spikes of both layers.
* ``suite.npz`` for a lava-dl checkpoint's file written by ``run_bench.py export --format
  lava-hdf5 --loihi2``: the test samples binned as the checkpoint's training binned them
  (``x`` ``(N, T, 2, H, W)``), and from the suite's lava-dl model at Loihi 2's precision
  (:data:`backends.adapters.lava_dl.LOIHI2_OPTIONS`, the checkpoint's weights) every hidden
  layer's spikes ``(N, T, C, H, W)`` and the readout current ``(N, T, K)``.

Usage::

    python tools/loihi/prepare.py smoke OUT_DIR
    python tools/loihi/prepare.py suite CHECKPOINT OUT_DIR [--max-test N] [--data-root DIR]

Exit 2 with one line on a bad checkpoint (not lava-dl, or an architecture netx cannot load).
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
"""Neurons per layer of the smoke-test network (the network verified by hand in issue 31)."""
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


def suite(checkpoint: Path, out_dir: Path, net: Path, data_root: Path,
          max_test: int | None = None) -> Path:
    """Write ``suite.npz`` for ``checkpoint`` and its exported file ``net``.

    Keys: ``x`` ``(N, T, 2, H, W)`` uint8 event counts, ``indices``
    ``(N,)`` dataset indices, ``layers`` (hidden layer names, input to output), ``kinds``
    (``conv``/``dense``), ``spikes_<layer>`` ``(N, T, C, H, W)`` or ``(N, T, F)`` uint8,
    ``current`` ``(N, T, K)`` float32 (the readout current, the logits before the mean over
    time), ``net`` (the file's path).

    Raises:
        PrepareError: not a lava-dl checkpoint, a layer netx cannot build, input that is not
            event counts.
        FileNotFoundError, CheckpointError: an unreadable checkpoint or file.
    """
    import types

    import h5py
    import torch

    from backends.adapters.lava_dl import LOIHI2_OPTIONS, LavaDLBackend
    from backends.nir_exchange.common import load_canonical_state
    from backends.nir_exchange.export import resolve_source
    from benchmarks.results.spec import Recipe
    from benchmarks.robustness.sweep import binned_test_frames, subsample_test_split
    from benchmarks.runner.checkpoints import load_checkpoint
    from benchmarks.runner.data import dataset_params, open_dataset_cached

    loaded = load_checkpoint(checkpoint)
    if loaded.checkpoint.get("backend") != "lava-dl":
        raise PrepareError(f"{checkpoint}: backend {loaded.checkpoint.get('backend')!r}, the "
                           "Loihi 2 check compares a lava-dl checkpoint")
    with h5py.File(net, "r") as f:
        for k in sorted(f["layer"], key=int):
            g = f["layer"][k]
            kind = g["type"][()]
            kind = (kind[0] if np.ndim(kind) else kind)
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind not in NETX_LAYERS or int(g.attrs.get("max_pool", 0)):
                raise PrepareError(f"{net}: layer {g.attrs.get('name', k)!r} ({kind}"
                                   f"{', max pooling' if g.attrs.get('max_pool', 0) else ''}): "
                                   "lava-dl's netx 0.6.0 cannot build it")
            w = np.asarray(g["weight"][()]) if "weight" in g else np.zeros(1)
            if not np.array_equal(w, np.round(w)):
                raise PrepareError(f"{net}: layer {g.attrs.get('name', k)!r} has float weights: "
                                   "export with `run_bench.py export --format lava-hdf5 --loihi2`")
    src = resolve_source(loaded)
    model = LavaDLBackend(LOIHI2_OPTIONS).build(src.arch, src.input_shape, src.num_classes)
    load_canonical_state(model, src.state)
    model.eval()

    cell = loaded.checkpoint.get("cell") or {}
    recipe = Recipe.from_dict(cell.get("recipe") or {})
    dataset = open_dataset_cached(cell["dataset"], data_root, **dataset_params(
        types.SimpleNamespace(dataset=cell["dataset"], recipe=recipe)))
    _, test_idx = dataset.split(int(cell.get("fold", 0)), str(cell.get("protocol", "folds")))
    test_idx = subsample_test_split(test_idx, max_test)
    binner = loaded.binner_for(tuple(dataset.sensor_size))
    x = binned_test_frames(dataset, test_idx, binner, None, 0, int(cell.get("seed", 0)))
    if not torch.equal(x, x.round()) or x.min() < 0:
        raise PrepareError(f"{checkpoint}: binned input is not event counts (min {x.min()}); "
                           "Loihi's input spikes carry integers")
    spikes: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        current = model.run(x.permute(0, 2, 3, 4, 1).contiguous(), None, spikes)  # (N, K, T)
    hidden = list(model.unit_names[:-1])
    arrays = {f"spikes_{n}": spikes[n].numpy().astype(np.uint8) for n in hidden}
    path = out_dir / "suite.npz"
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path, x=x.numpy().astype(np.uint8),
        indices=np.array(test_idx, dtype=np.int64), layers=np.array(hidden),
        kinds=np.array([model.unit_kinds[n] for n in hidden]),
        current=current.permute(0, 2, 1).numpy().astype(np.float32),
        net=np.array(str(net)), arch=np.array(src.arch.name),
        checkpoint=np.array(str(checkpoint)), dataset=np.array(cell["dataset"]), **arrays)
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
