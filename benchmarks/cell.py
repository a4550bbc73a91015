"""One benchmark cell: train, evaluate and measure, then assemble the cell's record.

A cell (:class:`benchmarks.spec.Cell`) trains a model on the training split
(:mod:`benchmarks.training`; model selection on a validation split taken from the training
*subjects*, never on the test split), evaluates it on the test split
(:mod:`benchmarks.inference`), measures latency, throughput, spikes, synaptic operations and
estimated energy, and returns one :class:`benchmarks.records.Record`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from benchmarks.records import Record
from benchmarks.spec import Cell, Recipe  # noqa: F401 (the cell's types, re-exported)

log = logging.getLogger(__name__)


def run_cell(
    cell: Cell,
    data_root,
    *,
    progress: bool = True,
    checkpoint_dir: Path | None = None,
    train_state_dir: Path | None = None,
) -> Record:
    """Train, evaluate and measure one cell; return its record (``status: "ok"``).

    With ``checkpoint_dir`` (a ``Path``, e.g. ``RUN_DIR/checkpoints``) the selected model is saved
    there as ``<safe cell id>.pt`` (:func:`benchmarks.checkpoints.save_checkpoint`) and the record's
    ``"checkpoint"`` is ``"<checkpoint_dir name>/<file>"`` (relative to the run folder); without it
    (default) no file is written and ``"checkpoint"`` is ``None``. The thread count is in the
    record's provenance (``threads``) and in the latency metrics.

    With ``train_state_dir`` the training state is checkpointed there every
    ``recipe.checkpoint_every`` epochs and a re-run of a killed or preempted cell resumes from it
    (:func:`benchmarks.training.train`); the record's ``metrics.resumed_from_epoch`` says so.
    Mixed precision (``recipe.amp``) applies to training, evaluation and the latency measurement.

    Raises:
        Any exception of the data, backend or training code; :func:`benchmarks.grid.run_grid`
        records it as an error and carries on.
    """
    from backends.activity import MembraneProbe
    from backends.base import get_backend
    from backends.specs import get_arch
    from benchmarks import metrics as M
    from benchmarks.carbon import CarbonTracker
    from benchmarks.data import load_cell_data
    from benchmarks.energy import count_parameters, energy_metrics, footprint_bytes
    from benchmarks.inference import measure_latency, predict
    from benchmarks.provenance import provenance
    from benchmarks.training import autocast, prepare_model, set_seed, train
    from benchmarks.validate import sample_predictions

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    backend = get_backend(cell.backend)
    ok, why = backend.available()
    if not ok:
        raise RuntimeError(f"backend {cell.backend!r} is unavailable: {why}")
    arch = get_arch(cell.arch)
    data = load_cell_data(cell, arch, data_root)
    timings["data_s"] = time.perf_counter() - t0

    set_seed(cell.seed)
    net = backend.build(arch, tuple(data.train.x.shape[1:]), data.num_classes).to(cell.device)
    model = prepare_model(backend, net, cell)  # channels_last / torch.compile per the recipe
    with CarbonTracker(cell.recipe.codecarbon) as carbon:
        tr = train(backend, model, data, cell, progress=progress, state_dir=train_state_dir)
    timings["train_s"] = tr["train_time_s"]

    t1 = time.perf_counter()
    amp = autocast(cell.device, cell.recipe.amp)
    with amp, MembraneProbe(net) as probe:
        logits, per_step, activity = predict(
            backend, model, data.test.x, cell.recipe.batch_size, cell.device,
            record_activity=True, frames=data.test.frames,
        )
    logits = logits.float()
    per_step = per_step.float() if per_step is not None else None
    timings["evaluate_s"] = time.perf_counter() - t1
    y = data.test.y.numpy()
    pred = logits.argmax(1).numpy()
    seqs = [data.dataset.sequences[i] for i in data.test.indices]
    lighting = list(data.test.lighting) if any(g is not None for g in data.test.lighting) else None
    predictions = sample_predictions(  # per test sample, so that every metric can be recomputed
        [f"{s.subject}/{s.sequence}" for s in seqs], y, logits, per_step, lighting=lighting)
    k = data.num_classes
    names = list(data.classes)
    metrics: dict[str, Any] = {
        "accuracy": M.accuracy(pred, y),
        "war": M.war(pred, y),
        "uar": M.uar(pred, y, num_classes=k),
        "per_class_recall": dict(zip(names, M.per_class_recall(pred, y, num_classes=k), strict=True)),
        "confusion_matrix": M.confusion_matrix(pred, y, num_classes=k),
        "accuracy_per_step": (M.accuracy_per_step(per_step.numpy(), y) if per_step is not None else None),
        "n_train": len(data.train.y), "n_val": len(data.val.y), "n_test": len(y),
        "best_epoch": tr["best_epoch"], "val_accuracy": tr["val_accuracy"],
        "train_time_s": tr["train_time_s"],
        "resumed_from_epoch": tr["resumed_from_epoch"],
        "selection": cell.recipe.selection,
    }
    if any(g is not None for g in data.test.lighting):
        groups = [g if g is not None else "unknown" for g in data.test.lighting]
        metrics["per_lighting_accuracy"] = M.per_group_accuracy(pred, y, groups)
        metrics["per_lighting_uar"] = M.per_group_uar(pred, y, groups, num_classes=k)

    t2 = time.perf_counter()
    test_frames = data.test.frames[:1] if data.test.frames is not None else None
    with autocast(cell.device, cell.recipe.amp):
        metrics.update(measure_latency(backend, model, data.test.x[:1], cell, frames=test_frames))
    timings["measure_s"] = time.perf_counter() - t2
    summary = M.activity_summary(activity, len(y))
    metrics.update(summary)
    metrics["params"] = count_parameters(net)
    metrics.update(energy_metrics(  # every energy model, each with its source (benchmarks/energy.py)
        summary, activity, n_samples=len(y), params=metrics["params"], spiking=backend.spiking,
        neuron=getattr(arch, "neuron", "lif"),
        membrane_updates=probe.total() if backend.spiking else None))
    metrics["footprint_bytes"] = footprint_bytes(net)
    metrics.update(carbon.result)
    checkpoint = None
    if checkpoint_dir is not None:
        from benchmarks.checkpoints import save_checkpoint

        ckpt_path = save_checkpoint(checkpoint_dir, cell, net, data)
        checkpoint = f"{ckpt_path.parent.name}/{ckpt_path.name}"
    timings["total_s"] = time.perf_counter() - t0

    prov = provenance(backend.versions(), cell.device)
    runtime_info = getattr(backend, "runtime_info", None)
    prov["backend_runtime"] = runtime_info(net) if callable(runtime_info) else {}
    return Record.for_cell(
        cell, "ok", kind="trained", classes=names, metrics=metrics, history=tr["history"],
        timings_s=timings, provenance=prov, checkpoint=checkpoint, predictions=predictions,
    )
