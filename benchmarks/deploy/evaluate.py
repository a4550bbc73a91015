"""Deployment: every SNN checkpoint of a run evaluated at each chip target's precision.

Plan (:func:`plan_deploy`, before anything is evaluated): every target name must be registered
(an unknown name suggests close matches) and its file must give every number the target's
fixed point needs (:func:`check_target`); the run folder must hold SNN checkpoints
(``RUN_DIR/checkpoints/*.pt`` of a spiking backend) whose datasets are present. Any of these is an
:class:`~datasets.common.InputError` (exit 2 on the command line) and nothing runs.

Cells: one :class:`DeployCell` per (checkpoint, target), claimed, recorded once in
``RUN_DIR/deployment/cells/`` and merged into ``RUN_DIR/deployment/results.jsonl`` through the
grid's machinery (:mod:`benchmarks.runner.claims`, :mod:`benchmarks.runner.executors`); a re-run
resumes. A cell that fails is an ``"error"`` record and the others go on.

One cell (:func:`run_deploy_cell`): the fit (:func:`backends.targets.fit.fit`) decides first: a
model the target cannot take (``does_not_fit``, ``unmapped``) is a ``"skipped"`` record whose
``error`` is the fit's reason; a model it can take (``fits``, or ``unknown`` where a limit has no
source but the layers map) is run on the test split (the trained cell's dataset, fold and
protocol; ``max_test`` evenly spaced recordings, as the robustness sweep takes them) twice with the
checkpoint's weights: the float model (the spec's canonical neuron in float64) and the chip
precision (:mod:`backends.targets.loihi2_fixed`, :mod:`backends.targets.speck_fixed`), by the same
code (:func:`backends.targets.fixed.run_layers`).

Record (kind ``"deployment"``, :mod:`benchmarks.results.records`): ``deployment`` = ``{target,
title, family, fit: {verdict, reason, chips, chips_at_least}, cell_id (the trained cell),
checkpoint, max_test, n_test_split, quantization}``; ``metrics``: ``accuracy``, ``uar`` (chip
precision), ``accuracy_float``, ``uar_float``, ``accuracy_change`` (chip - float),
``spike_agreement`` (hidden layer -> fraction of equal (sample, step, neuron) spikes),
``spikes_per_inference`` and ``synops_per_inference`` (chip precision, all hidden layers;
``*_float`` for the float model), ``decision_steps_mean`` (the mean over samples of the first step
from which the chip model's running readout keeps its final class), ``n_test``; ``predictions``:
the chip precision's per-sample predictions (:func:`benchmarks.results.validate.sample_predictions`)
with ``float = {"pred", "logits"}`` and ``decision_step`` per sample, from which ``validate``
recomputes the accuracies and the reports compute intervals and paired tests.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.results.records import Record
from benchmarks.robustness.sweep import (
    EVAL_BATCH_SIZE,
    CellsSummary,
    NoCheckpointsError,
    read_checkpoint_meta,
    run_claimed_cells,
    subsample_test_split,
)

log = logging.getLogger(__name__)

DEPLOY_DIR = "deployment"
"""Sub-folder of the run folder that holds the deployment records, claims and reports."""
DEFAULT_TARGETS = ("loihi2", "speck")
"""The targets evaluated when none are named."""
EVALUATED = ("fits", "needs_chips", "unknown")
"""Fit verdicts whose models are evaluated at chip precision (the layers map)."""


@dataclass(frozen=True)
class DeployCell:
    """One deployment cell: a checkpoint at one target's precision.

    Attributes:
        checkpoint: absolute path of the ``.pt`` file.
        source_cell_id: the trained cell's id; source_cell: its spec (``Cell.to_dict``).
        dataset: the trained cell's dataset; target: the target's name.
        batch_size: evaluation batch size; max_test: at most this many test recordings
            (``None``: all).
    """

    checkpoint: str
    source_cell_id: str
    dataset: str
    target: str
    batch_size: int = EVAL_BATCH_SIZE
    max_test: int | None = None
    source_cell: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    device: str = "cpu"  # the integer forward runs on the CPU (the executors record it)

    @property
    def cell_id(self) -> str:
        """``deployment/<target>/<trained cell id>``, ``/n<max_test>`` after the target when the
        cell evaluates a subset of the test split."""
        subset = f"/n{self.max_test}" if self.max_test is not None else ""
        return f"deployment/{self.target}{subset}/{self.source_cell_id}"

    def to_dict(self) -> dict[str, Any]:
        """The trained cell's spec (a record's ``cell`` field)."""
        return dict(self.source_cell)

    def deployment_field(self) -> dict[str, Any]:
        """The record's ``deployment`` field without the fit and the quantisation."""
        return {"target": self.target, "cell_id": self.source_cell_id,
                "checkpoint": Path(self.checkpoint).name, "max_test": self.max_test}


def check_target(name: str):
    """The target ``name``, with every number its fixed point needs present and sourced.

    Raises:
        UnknownNameError: an unknown target (close matches suggested).
        TargetFileError: the target's file is malformed or lacks a number the quantisation needs.
    """
    import torch

    from backends.specs import ConvLayer, ConvNetSpec, DenseLayer, NeuronSpec
    from backends.targets import loihi2_fixed, speck_fixed
    from backends.targets.target import get_target

    tgt = get_target(name)
    probe = ConvNetSpec("probe", (4, 4), 1, (ConvLayer("c", 1, 3, padding=1),),
                        (DenseLayer("fc", 0),),
                        NeuronSpec(model="if" if tgt.family == "dynapcnn" else "lif",
                                   threshold=1.0))
    state = {"c.weight": torch.ones(1, 2, 3, 3), "fc.weight": torch.ones(1, 16)}
    (speck_fixed if tgt.family == "dynapcnn" else loihi2_fixed).quantize(probe, state, 1, tgt)
    return tgt


def _is_snn(src: dict[str, Any]) -> bool:
    from backends.base import get_backend

    try:
        return bool(get_backend(str(src.get("run_backend") or src.get("backend"))).spiking)
    except Exception:  # noqa: BLE001 (a backend this process cannot load: not evaluated here)
        return False


def plan_deploy(run_dir: str | Path, data_root: str | Path, targets: Sequence[str] | None = None,
                *, batch_size: int = EVAL_BATCH_SIZE, max_test: int | None = None
                ) -> list[DeployCell]:
    """Every (SNN checkpoint, target) cell, after checking the whole request.

    Raises:
        UnknownNameError, TargetFileError: a bad target (see :func:`check_target`).
        NoCheckpointsError: no SNN checkpoint in ``RUN_DIR/checkpoints``.
        CheckpointError: an unreadable checkpoint.
        DatasetNotFoundError: a checkpoint's dataset is absent.
        ValueError: ``max_test`` or ``batch_size`` below 1.
    """
    from benchmarks.runner.data import open_dataset_cached
    from datasets.common import DatasetNotFoundError

    names = list(dict.fromkeys(targets or DEFAULT_TARGETS))
    for n in names:
        check_target(n)
    if max_test is not None and int(max_test) < 1:
        raise ValueError(f"--max-test must be a positive integer, got {max_test!r}")
    if int(batch_size) < 1:
        raise ValueError(f"--batch-size must be a positive integer, got {batch_size!r}")
    ck_dir = Path(run_dir) / "checkpoints"
    paths = sorted(ck_dir.glob("*.pt")) if ck_dir.is_dir() else []
    metas = [(p, read_checkpoint_meta(p)) for p in paths]
    metas = [(p, m) for p, m in metas if _is_snn(m["cell"])]
    if not metas:
        raise NoCheckpointsError(f"{Path(run_dir)}: no SNN checkpoints (expected {ck_dir}/*.pt "
                                 "of a spiking backend, written by `run_bench.py run`)")
    cells = []
    for path, meta in metas:
        src = meta["cell"]
        try:
            open_dataset_cached(src["dataset"], data_root)
        except DatasetNotFoundError as exc:
            raise DatasetNotFoundError(f"{path}: dataset {src['dataset']!r} of this checkpoint is "
                                       f"missing: {exc}") from exc
        for n in names:
            cells.append(DeployCell(str(path.absolute()), str(meta["cell_id"]), str(src["dataset"]),
                                    n, int(batch_size), None if max_test is None else int(max_test),
                                    dict(src)))
    return cells


def _record(cell: DeployCell, status: str, message: str | None = None, **kw: Any) -> Record:
    from benchmarks.results.provenance import provenance

    dep = {**cell.deployment_field(), **kw.pop("deployment", {})}
    return Record(cell_id=cell.cell_id, cell=cell.to_dict(), status=status, kind="deployment",
                  error=message, deployment=dep,
                  provenance=kw.pop("provenance", None) or provenance(None, "cpu"), **kw)


def run_deploy_cell(cell: DeployCell, data_root: str | Path, *, progress: bool = False) -> Record:
    """Evaluate one (checkpoint, target) cell (see the module docstring); a failure is an
    ``"error"`` record with its message and traceback."""
    try:
        return _evaluate(cell, data_root)
    except Exception as exc:  # noqa: BLE001 (a failing cell is recorded; the others go on)
        log.error("deployment cell %s failed: %s: %s", cell.cell_id, type(exc).__name__, exc)
        return _record(cell, "error", f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc(limit=8))


def decision_steps(per_step) -> list[int]:
    """Per sample, the first step (1-based) from which the argmax of the running readout
    ``per_step`` ``(N, T, K)`` equals its final one at every later step."""
    pred = per_step.argmax(-1)  # (N, T)
    same = pred == pred[:, -1:]
    out = []
    for row in same.tolist():
        t = len(row)
        while t > 0 and row[t - 1]:
            t -= 1
        out.append(t + 1)
    return out


def _evaluate(cell: DeployCell, data_root: str | Path) -> Record:
    import types

    import torch

    from backends.nir_exchange.common import canonical_state
    from backends.specs import ConvNetSpec, get_arch
    from backends.targets import loihi2_fixed, speck_fixed
    from backends.targets.fit import fit
    from backends.targets.fixed import float_layers, run_layers
    from benchmarks.measure import metrics as M
    from benchmarks.results.provenance import provenance
    from benchmarks.results.spec import Recipe
    from benchmarks.results.tasks import task_reference
    from benchmarks.results.validate import sample_predictions
    from benchmarks.robustness.sweep import binned_test_frames
    from benchmarks.runner.checkpoints import load_checkpoint
    from benchmarks.runner.data import dataset_params, open_dataset_cached

    t0 = time.perf_counter()
    tgt = check_target(cell.target)
    src = cell.source_cell
    spec = get_arch(str(src["arch"]))
    loaded = load_checkpoint(cell.checkpoint, "cpu")
    k = len(loaded.classes)
    in_ch = int(loaded.input_shape[1])
    res = fit(spec, tgt, in_channels=in_ch, num_classes=k)
    dep: dict[str, Any] = {"title": tgt.title, "family": tgt.family,
                           "fit": {"verdict": res.verdict, "reason": res.reason, "chips": res.chips,
                                   "chips_at_least": res.chips_at_least}}
    if res.verdict not in EVALUATED or not isinstance(spec, ConvNetSpec):
        return _record(cell, "skipped", f"{spec.name} on {tgt.name}: {res.verdict}: {res.reason}",
                       deployment=dep)
    # the data only for a model the target takes: a refused one is recorded without opening it
    recipe = Recipe.from_dict(src.get("recipe") or {})
    dataset = open_dataset_cached(cell.dataset, data_root, **dataset_params(
        types.SimpleNamespace(dataset=cell.dataset, recipe=recipe)))
    if "events" not in dataset.provides:
        return _record(cell, "skipped", f"dataset {cell.dataset!r} provides no event streams",
                       deployment=dep)
    state = canonical_state(loaded.model)
    quant = (speck_fixed if tgt.family == "dynapcnn" else loihi2_fixed).quantize(
        spec, state, k, tgt, in_ch)
    ref_layers = float_layers(spec, state, k, in_ch)
    dep["quantization"] = {q.shape.name: {"unit": q.unit, **({
        key: getattr(q.neuron, key) for key in ("du", "dv", "vth_mant", "threshold", "min_v_mem")
        if hasattr(q.neuron, key)} if q.neuron is not None else {})} for q in quant}
    _, test_idx = dataset.split(int(src.get("fold", 0)), str(src.get("protocol", "folds")))
    n_split = len(test_idx)
    task_ref = task_reference(src, dataset=dataset, test_indices=test_idx)
    test_idx = subsample_test_split(test_idx, cell.max_test)
    binner = loaded.binner_for(tuple(dataset.sensor_size))
    x_all = binned_test_frames(dataset, test_idx, binner, None, 0, 0)
    y = torch.tensor([dataset.sequences[i].label for i in test_idx], dtype=torch.long).numpy()
    ids = [f"{dataset.sequences[i].subject}/{dataset.sequences[i].sequence}" for i in test_idx]
    lighting = [dataset.sequences[i].lighting for i in test_idx]
    lighting = lighting if any(g is not None for g in lighting) else None
    chip_logits, chip_steps, ref_logits = [], [], []
    equal: dict[str, float] = {}
    total: dict[str, float] = {}
    spikes = {"chip": 0, "float": 0}
    synops = {"chip": 0, "float": 0}
    for b in range(0, len(test_idx), cell.batch_size):
        x = x_all[b:b + cell.batch_size]
        chip, ref = run_layers(quant, x), run_layers(ref_layers, x)
        chip_logits.append(chip.logits)
        chip_steps.append(chip.logits_per_step)
        ref_logits.append(ref.logits)
        for name, s in chip.spikes.items():
            equal[name] = equal.get(name, 0.0) + float((s == ref.spikes[name]).sum())
            total[name] = total.get(name, 0.0) + s.numel()
        for key, out in (("chip", chip), ("float", ref)):
            spikes[key] += sum(out.spike_counts().values())
            synops[key] += sum(out.synops.values())
    logits, per_step = torch.cat(chip_logits).float(), torch.cat(chip_steps).float()
    flogits = torch.cat(ref_logits).float()
    n = len(ids)
    predictions = sample_predictions(ids, y, logits, per_step, lighting=lighting)
    steps = decision_steps(per_step)
    for p, fl, st in zip(predictions, sample_predictions(ids, y, flogits), steps, strict=True):
        p["float"] = {"pred": fl["pred"], "logits": fl["logits"]}
        p["decision_step"] = st
    pred, fpred = logits.argmax(1).numpy(), flogits.argmax(1).numpy()
    acc, facc = M.accuracy(pred, y), M.accuracy(fpred, y)
    metrics = {"n_test": n, "accuracy": acc, "uar": M.uar(pred, y, num_classes=k),
               "accuracy_float": facc, "uar_float": M.uar(fpred, y, num_classes=k),
               "accuracy_change": acc - facc,
               "spike_agreement": {name: equal[name] / total[name] for name in equal},
               "spikes_per_inference": spikes["chip"] / n,
               "spikes_per_inference_float": spikes["float"] / n,
               "synops_per_inference": synops["chip"] / n,
               "synops_per_inference_float": synops["float"] / n,
               "decision_steps_mean": sum(steps) / n}
    dep["n_test_split"] = n_split
    return _record(cell, "ok", classes=list(loaded.classes), metrics=metrics,
                   timings_s={"total_s": time.perf_counter() - t0}, deployment=dep,
                   provenance=provenance(loaded.backend.versions(), "cpu"),
                   predictions=predictions, task=task_ref,
                   checkpoint=f"checkpoints/{Path(cell.checkpoint).name}")


@dataclass
class DeploySummary(CellsSummary):
    """What a deployment run did (:class:`benchmarks.robustness.sweep.CellsSummary`)."""

    noun: ClassVar[str] = "deployment"


def _error_record(cell: DeployCell, message: str) -> Record:
    return _record(cell, "error", message)


def run_deploy(cells: Sequence[DeployCell], run_dir: str | Path, data_root: str | Path, *,
               executor=None, progress: bool = True) -> DeploySummary:
    """Run every cell of ``cells`` not yet recorded ``ok`` in ``RUN_DIR/deployment``, each once
    even when several processes share the folder (claims), on ``executor`` (default: here), by
    the robustness sweep's loop (:func:`benchmarks.robustness.sweep.run_claimed_cells`: plan,
    waiting for cells other processes hold, holes in ``missing``).

    Raises:
        ExecutorUnavailable: the executor cannot start (before any cell runs).
    """
    summary = DeploySummary()
    run_claimed_cells(cells, Path(run_dir).absolute() / DEPLOY_DIR, Path(data_root).absolute(),
                      run_deploy_cell, _error_record, summary, command="deploy",
                      executor=executor, progress=progress)
    return summary
