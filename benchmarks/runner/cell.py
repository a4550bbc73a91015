"""One benchmark cell: train, evaluate and measure, then assemble the cell's record.

A cell (:class:`benchmarks.results.spec.Cell`) trains a model on the training split
(:mod:`benchmarks.runner.training`; model selection on a validation split taken from the training
*subjects*, never on the test split), evaluates it on the test split
(:mod:`benchmarks.runner.inference`), measures latency, throughput, spikes, synaptic operations and
estimated energy, and returns one :class:`benchmarks.results.records.Record`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from backends.membrane import MembraneProbe
from backends.native.backend import backend_for
from backends.native.card import is_native, load_plugins
from backends.specs import get_arch
from benchmarks.measure import metrics as M
from benchmarks.measure.carbon import CarbonTracker
from benchmarks.measure.energy import count_parameters, energy_metrics, footprint_bytes
from benchmarks.results.provenance import provenance
from benchmarks.results.records import Record
from benchmarks.results.spec import Cell, Recipe  # noqa: F401 (the cell's types, re-exported)
from benchmarks.results.tasks import task_reference
from benchmarks.results.validate import sample_predictions
from benchmarks.runner.checkpoints import save_checkpoint
from benchmarks.runner.data import load_cell_data
from benchmarks.runner.inference import measure_latency, predict
from benchmarks.runner.methods import (
    check_task_data,
    split_va,
    task_heads,
    task_outputs,
    va_sample_fields,
    va_test_metrics,
)
from benchmarks.runner.training import autocast, effective_amp, prepare_model, set_seed, train
from datasets.pipeline import pipeline_info

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
    there as ``<safe cell id>.pt`` (:func:`benchmarks.runner.checkpoints.save_checkpoint`) and the record's
    ``"checkpoint"`` is ``"<checkpoint_dir name>/<file>"`` (relative to the run folder); without it
    (default) no file is written and ``"checkpoint"`` is ``None``. The thread count is in the
    record's provenance (``threads``) and in the latency metrics.

    With ``train_state_dir`` the training state is checkpointed there every
    ``recipe.checkpoint_every`` epochs and a re-run of a killed or preempted cell resumes from it
    (:func:`benchmarks.runner.training.train`); the record's ``metrics.resumed_from_epoch`` says so.
    Mixed precision (``recipe.amp``) applies to training, evaluation and the latency measurement.

    Raises:
        Any exception of the data, backend or training code; :func:`benchmarks.runner.grid.run_grid`
        records it as an error and carries on.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    run = _train(cell, data_root, progress, train_state_dir, timings, t0)
    ev = _evaluate(cell, run, timings)
    ev.metrics.update(_measure(cell, run, ev, timings))
    checkpoint = None
    if checkpoint_dir is not None:
        ckpt_path = save_checkpoint(checkpoint_dir, cell, run.train_net, run.data)  # A's model
        checkpoint = f"{ckpt_path.parent.name}/{ckpt_path.name}"
    t3 = time.perf_counter()
    task_ref = task_reference(cell.to_dict(), dataset=run.data.dataset,
                              test_indices=run.data.test.indices)
    timings["task_digest_s"] = time.perf_counter() - t3
    timings["total_s"] = time.perf_counter() - t0
    prov, model_card = _provenance(cell, run)
    return Record.for_cell(
        cell, "ok", kind="trained", classes=list(run.data.classes), metrics=ev.metrics,
        history=run.tr["history"], timings_s=timings, provenance=prov, checkpoint=checkpoint,
        predictions=ev.predictions, model=model_card, task=task_ref,
    )


@dataclass
class _Trained:
    """What :func:`_train` leaves for evaluation and measurement: the architecture, the backend
    and model that run the test (B's after a transfer), the model trained (A's), the cell's
    data, :func:`benchmarks.runner.training.train`'s result, the carbon tracker and the
    transfer's record (``None`` without one)."""

    arch: Any
    native: bool
    backend: Any
    net: Any
    model: Any
    train_net: Any
    data: Any
    tr: dict[str, Any]
    carbon: Any
    transfer_info: dict[str, Any] | None


@dataclass
class _Evaluated:
    """The test split's evaluation: per-sample ``predictions``, the metrics so far, the
    activity recorded during it (summed over the samples), the membrane probe, the number of
    test samples and the per-step class logits (``None`` without a class head or per-step
    readout)."""

    predictions: list[dict[str, Any]]
    metrics: dict[str, Any]
    activity: Any
    probe: Any
    n_test: int
    per_step: Any
    has_class_head: bool


def _train(cell: Cell, data_root, progress: bool, train_state_dir: Path | None,
           timings: dict[str, float], t0: float) -> _Trained:
    """Step 1 of :func:`run_cell`: resolve the architecture and backend, load the data, build
    and train the model (and move it to the run backend for a transferred cell); adds
    ``data_s`` and ``train_s`` to ``timings``.

    Raises:
        RuntimeError: the backend is unavailable. ValueError: a native model to transfer, or
            data the task or method cannot use.
    """
    load_plugins(cell.plugins)  # the plugin files of native models (workers import them here)
    arch = get_arch(cell.arch)
    native = is_native(arch)
    backend = backend_for(cell.backend, arch)
    ok, why = backend.available()
    if not ok:
        raise RuntimeError(f"backend {cell.backend!r} is unavailable: {why}")
    if native and cell.transferred:
        raise ValueError(f"native model {cell.arch!r} runs in its own framework only; it "
                         "cannot be transferred to another backend")
    data = load_cell_data(cell, arch, data_root)
    timings["data_s"] = time.perf_counter() - t0

    task = cell.recipe.task
    check_task_data(data.dataset, task, cell.recipe.method)  # a VA task needs VA targets, ELIM ids
    set_seed(cell.seed)
    net = backend.build(arch, tuple(data.train.x.shape[1:]),
                        task_outputs(task, data.num_classes)).to(cell.device)
    model = prepare_model(backend, net, cell)  # channels_last / torch.compile per the recipe
    with CarbonTracker(cell.recipe.codecarbon) as carbon:
        tr = train(backend, model, data, cell, progress=progress, state_dir=train_state_dir)
    timings["train_s"] = tr["train_time_s"]
    train_net = net
    transfer_info = None
    if cell.transferred:  # trained in A, run in B: B's latency, spikes and energy are reported
        backend, net, model, transfer_info = _transfer(cell, backend, net, model, arch, data,
                                                       timings)
    return _Trained(arch, native, backend, net, model, train_net, data, tr, carbon,
                    transfer_info)


def _evaluate(cell: Cell, run: _Trained, timings: dict[str, float]) -> _Evaluated:
    """Step 2 of :func:`run_cell`: predict the test split (activity and membrane recorded),
    the per-sample predictions (class logits, VA outputs), the class and VA metrics and the
    training figures; adds ``evaluate_s`` to ``timings``."""
    backend, data, task, tr = run.backend, run.data, cell.recipe.task, run.tr
    t1 = time.perf_counter()
    amp = autocast(cell.device, cell.recipe.amp, backend)
    with amp, MembraneProbe(run.net) as probe:
        logits, per_step, activity = predict(
            backend, run.model, data.test.x, cell.recipe.batch_size, cell.device,
            record_activity=True, frames=data.test.frames,
        )
    outputs = logits.float()  # (N, task_outputs): class logits and/or the VA outputs
    k = data.num_classes
    heads = task_heads(outputs, task, k)
    logits = heads.class_logits  # (N, K), None for va_regression
    per_step = per_step.float()[..., :k] if per_step is not None and logits is not None else None
    timings["evaluate_s"] = time.perf_counter() - t1
    y = data.test.y.numpy()
    seqs = [data.dataset.sequences[i] for i in data.test.indices]
    ids = [f"{s.subject}/{s.sequence}" for s in seqs]
    lighting = list(data.test.lighting) if any(g is not None for g in data.test.lighting) else None
    subjects = [s.subject for s in seqs] if all(s.subject for s in seqs) else None
    names = list(data.classes)
    if logits is None:  # va_regression: no class head; keep the true class for breakdowns
        predictions = [{"sequence_id": i, "label": int(lab),
                        **({"lighting": g} if lighting is not None else {}),
                        **({"subject": s} if s else {})}
                       for i, lab, g, s in zip(ids, y, lighting or [None] * len(ids),
                                               subjects or [None] * len(ids), strict=True)]
        metrics: dict[str, Any] = {}
    else:
        pred = logits.argmax(1).numpy()
        predictions = sample_predictions(ids, y, logits, per_step, lighting=lighting,
                                         subjects=subjects)
        metrics = _class_metrics(pred, y, k, names, per_step, data)
    if task != "classification":
        va_target = split_va(data.dataset, data.test.indices, dtype=torch.float64)
        metrics.update(va_test_metrics(outputs, va_target, task, k))
        for p, f in zip(predictions, va_sample_fields(outputs, va_target, task, k), strict=True):
            p.update(f)  # va_pred, va_target: [valence, arousal]
    metrics.update({
        "n_train": len(data.train.y), "n_val": len(data.val.y), "n_test": len(y),
        "best_epoch": tr["best_epoch"], "val_accuracy": tr["val_accuracy"],
        "val_score": tr["val_score"], "selection_metric": tr["selection_metric"],
        "train_time_s": tr["train_time_s"],
        "resumed_from_epoch": tr["resumed_from_epoch"],
        "selection": cell.recipe.selection,
    })
    return _Evaluated(predictions, metrics, activity, probe, len(y), per_step,
                      logits is not None)


def _measure(cell: Cell, run: _Trained, ev: _Evaluated,
             timings: dict[str, float]) -> dict[str, Any]:
    """Step 3 of :func:`run_cell`: the measured metrics: latency and throughput, the activity
    summary (spikes, synaptic operations), parameters, every energy model, what a native
    model's hooks measured, the footprint, carbon and the transfer; adds ``measure_s`` to
    ``timings``."""
    backend, net, arch, data, n = run.backend, run.net, run.arch, run.data, ev.n_test
    metrics: dict[str, Any] = {}
    t2 = time.perf_counter()
    test_frames = data.test.frames[:1] if data.test.frames is not None else None
    with autocast(cell.device, cell.recipe.amp, backend):
        metrics.update(measure_latency(backend, run.model, data.test.x[:1], cell,
                                       frames=test_frames))
    timings["measure_s"] = time.perf_counter() - t2
    summary = M.activity_summary(ev.activity, n)
    metrics.update(summary)
    metrics["params"] = count_parameters(net)
    hooks = backend.measurement(net) if run.native else None
    membrane = (hooks["membrane_updates"] if hooks is not None else ev.probe.total()) \
        if backend.spiking else None
    metrics.update(energy_metrics(  # every energy model, each with its source (benchmarks/measure/energy/)
        summary, ev.activity, n_samples=n, params=metrics["params"], spiking=backend.spiking,
        neuron=getattr(arch, "neuron", "lif"), membrane_updates=membrane))
    if run.native and ev.per_step is None and ev.has_class_head:  # no early-decision readout
        metrics["per_step_readout"] = (
            f"skipped: model {arch.name!r} declares output={arch.output!r}, which gives no "
            "per-step logits")
    if hooks is not None:  # what the forward hooks measured, and what they could not
        if backend.spiking and "neuron_ops_per_sample" in metrics:
            metrics["neuron_ops_per_sample"] = (
                None if hooks["neuron_ops"] is None else hooks["neuron_ops"] / n)
        metrics["unmeasured"] = hooks["unmeasured"]
        metrics["non_binary_neurons"] = hooks["non_binary"]
        metrics["neuron_modules"] = hooks["neurons"]
    metrics["footprint_bytes"] = footprint_bytes(net)
    metrics.update(run.carbon.result)
    if run.transfer_info is not None:
        metrics["transfer"] = run.transfer_info
    return metrics


def _provenance(cell: Cell, run: _Trained) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Step 4 of :func:`run_cell`: the record's provenance (versions, device, the backend's
    run-time choices, the data pipeline, the dataset's own format, the effective precision)
    and, for a native model, its model card."""
    backend, arch = run.backend, run.arch
    prov = provenance(backend.versions(), cell.device)
    runtime_info = getattr(backend, "runtime_info", None)
    prov["backend_runtime"] = runtime_info(run.net) if callable(runtime_info) else {}
    prov["pipeline"] = pipeline_info(cell.recipe.augment, cell.recipe.workers)
    data_format = getattr(run.data.dataset, "data_format", None)
    if data_format is not None:  # what the dataset's files said about themselves (NEFER)
        prov["data_format"] = data_format
    model_card = (arch.to_record(backend.versions().get(arch.framework)) if run.native
                  else None)
    prov["amp_effective"] = effective_amp(backend, cell.recipe.amp)  # lava-dl: float32 always
    return prov, model_card


def _transfer(cell: Cell, backend_a, net_a, model_a, arch, data, timings: dict) -> tuple:
    """Move the model trained in ``cell.backend`` to ``cell.run_backend`` (through
    :func:`backends.nir_exchange.transfer`) and compare the two on a few test samples.

    Returns:
        ``(backend_b, net_b, model_b, info)``; ``info`` records both sides: the backends and
        their versions, the route (``via``, nir/nirtorch versions), the trained model's test
        accuracy in A, and the per-layer fraction of identical spikes between A and B on up to 8
        test samples (``spike_agreement``, its minimum and the largest logit difference).

    Raises:
        RuntimeError: the run backend is unavailable; ValueError: the model cannot travel that way
            (e.g. NIR lacks a node of the architecture: the message names it).
    """
    from backends.base import get_backend
    from backends.nir_exchange import (
        nir_versions,
        spike_agreement_by_layer,
        spikes_by_layer,
        transfer,
    )

    t = time.perf_counter()
    backend_b = get_backend(cell.run_backend)
    ok, why = backend_b.available()
    if not ok:
        raise RuntimeError(f"run backend {cell.run_backend!r} is unavailable: {why}")
    shape = tuple(data.train.x.shape[1:])
    net_b = transfer(net_a, cell.backend, cell.run_backend, arch, shape, data.num_classes,
                     via=cell.transfer_via).to(cell.device)
    model_b = prepare_model(backend_b, net_b, cell)
    logits_a, _, _ = predict(backend_a, model_a, data.test.x, cell.recipe.batch_size, cell.device,
                             frames=data.test.frames)
    probe = data.test.x[:8].to(cell.device)
    spikes_a, out_a = spikes_by_layer(backend_a, net_a, probe)
    spikes_b, out_b = spikes_by_layer(backend_b, net_b, probe)
    agreement = spike_agreement_by_layer(spikes_a, spikes_b)
    timings["transfer_s"] = time.perf_counter() - t
    info = {
        "trained_backend": cell.backend, "run_backend": cell.run_backend, "via": cell.transfer_via,
        **nir_versions(), "trained_backend_versions": backend_a.versions(),
        "trained_backend_accuracy": float((logits_a.argmax(1) == data.test.y).float().mean()),
        "spike_agreement": agreement,
        "spike_agreement_min": min(agreement.values()) if agreement else None,
        "logits_max_abs_diff": float((torch.as_tensor(out_a) - torch.as_tensor(out_b)).abs().max()),
    }
    return backend_b, net_b, model_b, info


def _class_metrics(pred, y, k: int, names: list[str], per_step, data) -> dict[str, Any]:
    """The classification metrics of the test predictions: accuracy, WAR, UAR, per-class
    recall, confusion matrix, accuracy per step, and accuracy and UAR per lighting condition
    where the data has one."""
    metrics: dict[str, Any] = {
        "accuracy": M.accuracy(pred, y),
        "war": M.war(pred, y),
        "uar": M.uar(pred, y, num_classes=k),
        "per_class_recall": dict(zip(names, M.per_class_recall(pred, y, num_classes=k), strict=True)),
        "confusion_matrix": M.confusion_matrix(pred, y, num_classes=k),
        "accuracy_per_step": (M.accuracy_per_step(per_step.numpy(), y) if per_step is not None else None),
    }
    if any(g is not None for g in data.test.lighting):
        groups = [g if g is not None else "unknown" for g in data.test.lighting]
        metrics["per_lighting_accuracy"] = M.per_group_accuracy(pred, y, groups)
        metrics["per_lighting_uar"] = M.per_group_uar(pred, y, groups, num_classes=k)
    return metrics
