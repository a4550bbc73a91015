"""The robustness sweep: every checkpoint of a run evaluated under each corruption and severity.

Plan (:func:`plan_sweep`, before anything is evaluated): the corruption names and the severities
are checked (an unknown name suggests close matches, a severity outside 1-5 is an error), the run
folder must have checkpoints (``RUN_DIR/checkpoints/*.pt``, written by ``run_bench.py run``), and
every checkpoint's dataset must be present under the data root; any of these is an
:class:`~datasets.common.InputError` (exit 2 on the command line) and nothing runs.

Cells: one :class:`RobustnessCell` per (checkpoint, corruption) covers the requested severities.
They run through the grid's machinery (:mod:`benchmarks.runner.claims`,
:mod:`benchmarks.runner.executors`): each is claimed before it runs, recorded once in
``RUN_DIR/robustness/cells/`` and merged into ``RUN_DIR/robustness/results.jsonl``; a re-run
resumes (cells already recorded ``ok`` are not run again) on any executor. A cell that fails is
recorded as ``status: "error"`` (kind ``"robustness"``, with its corruption) and the sweep goes on.
Before any cell runs, the sweep's cell ids are written to ``RUN_DIR/robustness/plans/``
(:mod:`benchmarks.results.plan`). Cells that another process holds are waited for, as
``run_bench.py run`` does: a claim whose worker died on this host is taken over at once, one
without a heartbeat for its timeout when it goes stale, and one released without a record runs
here. A planned cell still without a record at the end is listed in
:attr:`SweepSummary.missing` (the command names them and exits 1; ``validate`` reports them).

One cell (:func:`run_robustness_cell`): the checkpoint's model
(:func:`benchmarks.runner.checkpoints.load_checkpoint`) is run on its cell's test split (same dataset, fold and protocol), clean and at
each severity. Each test recording's events are corrupted with
:func:`datasets.transforms.corruptions.corrupt_events` (generator of (seed, dataset index of the
recording, corruption, severity): every model sees the same corrupted recordings) and binned like
the training data; the binned frames are cached per process, keyed by dataset, recording, binning,
corruption, severity and seed, so models that share a binning bin each corrupted recording once.

Record (kind ``"robustness"``, :mod:`benchmarks.results.records`): ``cell`` is the trained cell's
spec; ``corruption`` = ``{name, severities, values, unit, seed, cell_id (the trained cell),
checkpoint, max_test (``None``: the whole test split), n_test_split (the test split's size)}``;
``metrics``: ``accuracy_clean``, ``uar_clean``, ``accuracy_by_severity`` and ``uar_by_severity``
(keys ``"1"``..``"5"``), ``n_test``; ``predictions``: the clean per-sample predictions
(:func:`benchmarks.results.validate.sample_predictions`) with, per sample,
``corrupted[<severity>] = {"pred", "logits"}``, from which ``validate`` recomputes every metric.
Frame datasets: a binary-frame dataset (NEFER's TBR frames) is evaluated with the frame forms
of the corruptions that apply to its frames (:func:`corruption_skip_reason`), applied to each
test recording's binary frames before they are binned (:func:`binary_test_frames`); the other
corruptions, and every corruption on SEE's rendered event frames, are recorded as skipped with
the reason.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.results.plan import write_plan
from benchmarks.results.records import Record, finished_cell_ids
from benchmarks.runner.claims import (
    DEFAULT_HEARTBEAT_S,
    ClaimStore,
    merge_cell_records,
    new_attempt_id,
    recorded_cell_ids,
    wait_for_holders,
    write_cell_record,
)
from benchmarks.runner.executors import (
    CellTask,
    Executor,
    LocalExecutor,
    Outcome,
    executor_block,
    make_owner,
)
from datasets.common import InputError
from datasets.transforms.corruptions import (
    SEVERITIES,
    check_severity,
    corruption_names,
    get_corruption,
)

log = logging.getLogger(__name__)

ROBUSTNESS_DIR = "robustness"
"""Sub-folder of the run folder that holds the sweep's records, claims and reports."""

EVAL_BATCH_SIZE = 16
"""Default evaluation batch size of the sweep and the early-decision passes. Measured on the
2-core CPU (the six ``tiny`` models of the default grid, 64 test recordings of 8 x 2 x 48 x 48,
one run): 1.87 s per pass over all six at 16, 2.50 s at 32, 1.74 s at 8; a larger batch
only helps on a GPU (``--batch-size``)."""

_FRAME_CACHE: dict[tuple, Any] = {}
_CLEAN_CACHE: dict[tuple, Any] = {}  # clean logits of the last checkpoint evaluated


class NoCheckpointsError(InputError, FileNotFoundError):
    """A run folder without checkpoints; the message names the folder."""


@dataclass(frozen=True)
class RobustnessCell:
    """One evaluation cell: a checkpoint under one corruption at several severities.

    Attributes:
        checkpoint: absolute path of the ``.pt`` file.
        source_cell_id: the trained cell's id.
        source_cell: the trained cell's spec (``Cell.to_dict``), as stored in the checkpoint.
        dataset: the trained cell's dataset.
        corruption: corruption name.
        severities: the severity levels (1..5), ascending.
        seed: corruption seed.
        device: torch device of the evaluation.
        batch_size: evaluation batch size.
        max_test: evaluate at most this many test recordings (:func:`subsample_test_split`); ``None``:
            the whole test split.
    """

    checkpoint: str
    source_cell_id: str
    dataset: str
    corruption: str
    severities: tuple[int, ...]
    seed: int = 0
    device: str = "cpu"
    batch_size: int = EVAL_BATCH_SIZE
    max_test: int | None = None
    source_cell: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def cell_id(self) -> str:
        """``robustness/<corruption>/s<levels>/seed<seed>/<trained cell id>``, with ``/n<max_test>``
        after the seed when the cell evaluates a subset of the test split."""
        levels = "".join(str(s) for s in self.severities)
        subset = f"/n{self.max_test}" if self.max_test is not None else ""
        return (f"robustness/{self.corruption}/s{levels}/seed{self.seed}{subset}/"
                f"{self.source_cell_id}")

    def to_dict(self) -> dict[str, Any]:
        """The trained cell's spec (a record's ``cell`` field)."""
        return dict(self.source_cell)

    def corruption_field(self) -> dict[str, Any]:
        """The record's ``corruption`` field."""
        spec = get_corruption(self.corruption)
        return {"name": self.corruption, "severities": list(self.severities),
                "values": [spec.value(s) for s in self.severities], "unit": spec.unit,
                "seed": self.seed, "cell_id": self.source_cell_id,
                "checkpoint": Path(self.checkpoint).name, "max_test": self.max_test}


# --------------------------------------------------------------------------------------------
# plan
# --------------------------------------------------------------------------------------------


def check_request(corruptions: Sequence[str] | None, severities: Sequence[int] | None
                  ) -> tuple[list[str], tuple[int, ...]]:
    """The corruption names (default all) and sorted unique severities (default 1..5).

    Raises:
        UnknownNameError: an unknown corruption (close matches suggested).
        SeverityError: a severity outside 1..5.
    """
    names = list(corruptions) if corruptions else corruption_names()
    for n in names:
        get_corruption(n)
    levels = tuple(sorted({check_severity(s) for s in severities})) if severities else SEVERITIES
    return list(dict.fromkeys(names)), levels


def read_checkpoint_meta(path: Path) -> dict[str, Any]:
    """The checkpoint dict without its weights (cell, dataset, classes).

    Raises:
        CheckpointError: unreadable or not a NeuroFER-Bench checkpoint.
    """
    import torch

    from benchmarks.runner.checkpoints import CHECKPOINT_SCHEMA, CheckpointError

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (torch.load raises many types)
        raise CheckpointError(f"{path}: not a checkpoint ({type(exc).__name__})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("schema") != CHECKPOINT_SCHEMA:
        raise CheckpointError(f"{path}: not a NeuroFER-Bench checkpoint (no schema {CHECKPOINT_SCHEMA!r})")
    cell = ckpt.get("cell") or {}
    if not cell.get("dataset") or not ckpt.get("cell_id"):
        raise CheckpointError(f"{path}: checkpoint lacks its cell's dataset or cell_id")
    return {k: v for k, v in ckpt.items() if k != "state_dict"}


def plan_sweep(
    run_dir: str | Path,
    data_root: str | Path,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] | None = None,
    *,
    seed: int = 0,
    device: str | None = None,
    batch_size: int = EVAL_BATCH_SIZE,
    max_test: int | None = None,
) -> list[RobustnessCell]:
    """Every (checkpoint, corruption) cell of the sweep, after checking the whole request.

    Args:
        run_dir: the run folder (its ``checkpoints/*.pt``).
        data_root: where the datasets live.
        corruptions, severities: default every corruption, severities 1..5.
        seed: corruption seed (>= 0).
        device: evaluation device (default each trained cell's device).
        batch_size: evaluation batch size.
        max_test: at most this many test recordings per checkpoint (:func:`subsample_test_split`);
            ``None``: all.

    Returns:
        The cells, checkpoints in file-name order, corruptions in the order given.

    Raises:
        UnknownNameError, SeverityError: a bad corruption or severity.
        NoCheckpointsError: no ``checkpoints/*.pt`` in ``run_dir``.
        CheckpointError: an unreadable checkpoint.
        DatasetNotFoundError: a checkpoint's dataset is absent (the message names the checkpoint).
        ValueError: a negative seed or a ``max_test`` below 1.
    """
    from benchmarks.runner.data import open_dataset_cached
    from datasets.common import DatasetNotFoundError

    names, levels = check_request(corruptions, severities)
    if int(seed) < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {seed!r}")
    if max_test is not None and int(max_test) < 1:
        raise ValueError(f"--max-test must be a positive integer, got {max_test!r}")
    ck_dir = Path(run_dir) / "checkpoints"
    paths = sorted(ck_dir.glob("*.pt")) if ck_dir.is_dir() else []
    if not paths:
        raise NoCheckpointsError(
            f"{Path(run_dir)}: no checkpoints (expected {ck_dir}/*.pt, written by `run_bench.py run`)")
    cells = []
    for path in paths:
        meta = read_checkpoint_meta(path)
        src = meta["cell"]
        try:
            open_dataset_cached(src["dataset"], data_root)
        except DatasetNotFoundError as exc:
            raise DatasetNotFoundError(f"{path}: dataset {src['dataset']!r} of this checkpoint is "
                                       f"missing: {exc}") from exc
        for name in names:
            cells.append(RobustnessCell(
                checkpoint=str(path.absolute()), source_cell_id=str(meta["cell_id"]),
                dataset=str(src["dataset"]), corruption=name, severities=levels, seed=int(seed),
                device=device or str(src.get("device") or "cpu"), batch_size=int(batch_size),
                max_test=None if max_test is None else int(max_test), source_cell=dict(src)))
    return cells


# --------------------------------------------------------------------------------------------
# one cell
# --------------------------------------------------------------------------------------------


def subsample_test_split(test_idx: Sequence[int], max_test: int | None) -> list[int]:
    """At most ``max_test`` of the test split's dataset indices, evenly spaced over it in its
    order (positions ``round(linspace(0, M - 1, max_test))``; a split ordered by subject keeps
    recordings of every part of it), or all of them when ``max_test`` is ``None`` or ``>= M``.

    Example:
        >>> subsample_test_split(list(range(10, 20)), 4)
        [10, 13, 16, 19]
    """
    import numpy as np

    idx = [int(i) for i in test_idx]
    if max_test is None or max_test >= len(idx):
        return idx
    pos = np.unique(np.round(np.linspace(0, len(idx) - 1, int(max_test))).astype(np.int64))
    return [idx[p] for p in pos]


def clear_frame_cache() -> None:
    """Forget the process's binned (clean and corrupted) test frames and clean logits."""
    _FRAME_CACHE.clear()
    _CLEAN_CACHE.clear()


def _cached_stack(variant: tuple, indices: Sequence[int], corruption: str | None, severity: int,
                  seed: int, build):
    """``torch.stack`` of ``build(i)`` over ``indices``, each cached in the process under
    (``variant``, recording ``i``, corruption, severity, seed); severity and seed are 0 for the
    clean input."""
    import torch

    tag = (corruption, int(severity) if corruption else 0, int(seed) if corruption else 0)
    xs = []
    for i in indices:
        key = (*variant, int(i), *tag)
        if key not in _FRAME_CACHE:
            _FRAME_CACHE[key] = build(int(i))
        xs.append(_FRAME_CACHE[key])
    return torch.stack(xs)


def binned_test_frames(dataset, indices: Sequence[int], binner, corruption: str | None, severity: int,
                seed: int):
    """Binned test frames ``(N, T, 2, H, W)`` float32 (a torch tensor), clean (``corruption``
    ``None``) or corrupted, cached per (dataset, recording, binning, corruption, severity, seed)."""
    import torch

    from datasets.transforms.corruptions import corrupt_events

    def build(i: int):
        events = dataset.load_events(i)
        if corruption is not None:
            events = corrupt_events(events, corruption, severity, tuple(dataset.sensor_size),
                                    seed=seed, sample=i)
        return torch.from_numpy(binner(events))

    return _cached_stack((dataset.name, str(dataset.root), repr(binner)), indices, corruption,
                         severity, seed, build)


def _error(cell: RobustnessCell, status: str, message: str, tb: str | None = None) -> Record:
    from benchmarks.results.provenance import provenance

    return Record(cell_id=cell.cell_id, cell=cell.to_dict(), status=status, kind="robustness",
                  error=message, traceback=tb, corruption=cell.corruption_field(),
                  provenance=provenance(None, cell.device))


def run_robustness_cell(cell: RobustnessCell, data_root: str | Path, *, progress: bool = False
                        ) -> Record:
    """Evaluate one (checkpoint, corruption) cell clean and at each of its severities.

    Returns:
        Its record (see the module docstring): ``"ok"``; ``"skipped"`` for a frame dataset or a
        model without a class head (with the reason); ``"error"`` with the message and
        traceback when anything fails (the sweep goes on).
    """
    try:
        return _evaluate(cell, data_root)
    except Exception as exc:  # noqa: BLE001 (a failing cell is recorded; the sweep goes on)
        log.error("robustness cell %s failed: %s: %s", cell.cell_id, type(exc).__name__, exc)
        return _error(cell, "error", f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=8))


def corruption_skip_reason(dataset: Any, corruption: str) -> str | None:
    """Why ``corruption`` cannot be evaluated on ``dataset`` (``None``: it can).

    Event-stream datasets take every corruption. Binary-frame datasets (``"binary_frames"`` in
    ``provides``, e.g. NEFER's TBR frames, built by ``dataset.event_tensor``) take the frame forms
    that apply to their frames (:func:`datasets.transforms.corruptions.frame_dataset_skip_reason`:
    their channels and ``dataset.frame_us``). Other frame datasets (SEE's rendered event frames)
    give their ``corruption_skip_reason``.
    """
    from datasets.transforms.corruptions import frame_dataset_skip_reason

    if "events" in dataset.provides:
        return None
    if "binary_frames" in dataset.provides and hasattr(dataset, "event_tensor"):
        return frame_dataset_skip_reason(corruption, channels=int(getattr(dataset, "in_channels", 2)),
                                         frame_us=getattr(dataset, "frame_us", None))
    return (getattr(dataset, "corruption_skip_reason", None)
            or "the dataset provides neither event streams nor count frames")


def binary_test_frames(dataset, indices: Sequence[int], shape: tuple[int, int, int], binarize: bool,
                       corruption: str | None, severity: int, seed: int):
    """A binary-frame dataset's test inputs ``(N, T, C, H, W)`` (``shape`` = ``(T, H, W)``), clean
    or with ``corruption``'s frame form applied to each recording's binary frames
    (``dataset.event_tensor(..., frame_transform=...)``; frames of ``dataset.frame_us`` µs; the
    generator of (seed, dataset index, corruption, severity) as for events); cached like
    :func:`binned_test_frames`."""
    import functools

    from datasets.transforms.corruptions import corrupt_frames

    t, h, w = (int(v) for v in shape)

    def build(i: int):
        transform = None if corruption is None else functools.partial(
            corrupt_frames, name=corruption, severity=severity,
            sensor_size=tuple(dataset.sensor_size),
            bin_us=float(getattr(dataset, "frame_us", None) or 0.0), seed=seed, sample=i)
        return dataset.event_tensor(i, t, (h, w), bool(binarize), frame_transform=transform)

    variant = (dataset.name, str(dataset.root), getattr(dataset, "label_set", None), "binary", t,
               h, w, bool(binarize))
    return _cached_stack(variant, indices, corruption, severity, seed, build)


def _evaluate(cell: RobustnessCell, data_root: str | Path) -> Record:
    import types

    import torch

    from benchmarks.measure import metrics as M
    from benchmarks.results.provenance import provenance
    from benchmarks.results.spec import Recipe
    from benchmarks.results.tasks import task_reference
    from benchmarks.results.validate import sample_predictions
    from benchmarks.runner.checkpoints import load_checkpoint
    from benchmarks.runner.data import dataset_params, open_dataset_cached
    from benchmarks.runner.inference import predict

    t0 = time.perf_counter()
    src = cell.source_cell
    recipe = Recipe.from_dict(src.get("recipe") or {})
    dataset = open_dataset_cached(cell.dataset, data_root, **dataset_params(
        types.SimpleNamespace(dataset=cell.dataset, recipe=recipe)))
    reason = corruption_skip_reason(dataset, cell.corruption)
    if reason is not None:
        return _error(cell, "skipped", f"dataset {cell.dataset!r}, corruption "
                                       f"{cell.corruption!r}: {reason}")
    if recipe.task == "va_regression":
        return _error(cell, "skipped", "a valence-arousal model has no class head to score")
    loaded = load_checkpoint(cell.checkpoint, cell.device)
    k = len(loaded.classes)
    _, test_idx = dataset.split(int(src.get("fold", 0)), str(src.get("protocol", "folds")))
    n_split = len(test_idx)
    task_ref = task_reference(src, dataset=dataset, test_indices=test_idx)  # the trained cell's
    test_idx = subsample_test_split(test_idx, cell.max_test)
    if "events" in dataset.provides:
        binner = loaded.binner_for(tuple(dataset.sensor_size))

        def inputs(corruption: str | None, severity: int):
            return binned_test_frames(dataset, test_idx, binner, corruption, severity, cell.seed)
    else:
        n_bins, _, height, width = loaded.input_shape

        def inputs(corruption: str | None, severity: int):
            return binary_test_frames(dataset, test_idx, (n_bins, height, width), recipe.binarize,
                                      corruption, severity, cell.seed)
    still = _intensity_frames(dataset, test_idx, loaded)
    y = torch.tensor([dataset.sequences[i].label for i in test_idx], dtype=torch.long).numpy()
    ids = [f"{dataset.sequences[i].subject}/{dataset.sequences[i].sequence}" for i in test_idx]
    lighting = [dataset.sequences[i].lighting for i in test_idx]
    lighting = lighting if any(g is not None for g in lighting) else None

    def run(corruption: str | None, severity: int):
        x = inputs(corruption, severity)
        logits, per_step, _ = predict(loaded.backend, loaded.model, x, cell.batch_size, cell.device,
                                      frames=still)
        per_step = per_step.float()[..., :k] if per_step is not None else None
        return logits.float()[:, :k], per_step

    timings: dict[str, float] = {}
    t = time.perf_counter()
    ck_path = Path(cell.checkpoint)
    clean_key = (str(ck_path), ck_path.stat().st_mtime_ns, cell.device, cell.batch_size,
                 cell.max_test)
    if clean_key not in _CLEAN_CACHE:  # the clean pass is shared by the checkpoint's cells
        _CLEAN_CACHE.clear()
        _CLEAN_CACHE[clean_key] = run(None, 0)
    clean_logits, clean_steps = _CLEAN_CACHE[clean_key]
    predictions = sample_predictions(ids, y, clean_logits, clean_steps, lighting=lighting)
    timings["clean_s"] = time.perf_counter() - t
    pred = clean_logits.argmax(1).numpy()
    metrics: dict[str, Any] = {"n_test": len(ids), "accuracy_clean": M.accuracy(pred, y),
                               "uar_clean": M.uar(pred, y, num_classes=k),
                               "accuracy_by_severity": {}, "uar_by_severity": {}}
    for s in cell.severities:
        t = time.perf_counter()
        logits, _ = run(cell.corruption, s)
        stored = sample_predictions(ids, y, logits)
        for p, c in zip(predictions, stored, strict=True):
            p.setdefault("corrupted", {})[str(s)] = {"pred": c["pred"], "logits": c["logits"]}
        ps = logits.argmax(1).numpy()
        metrics["accuracy_by_severity"][str(s)] = M.accuracy(ps, y)
        metrics["uar_by_severity"][str(s)] = M.uar(ps, y, num_classes=k)
        timings[f"severity_{s}_s"] = time.perf_counter() - t
    accs = list(metrics["accuracy_by_severity"].values())
    metrics["mean_corruption_accuracy"] = float(sum(accs) / len(accs))
    timings["total_s"] = time.perf_counter() - t0
    prov = provenance(loaded.backend.versions(), cell.device)
    return Record(cell_id=cell.cell_id, cell=cell.to_dict(), status="ok", kind="robustness",
                  classes=list(loaded.classes), metrics=metrics, timings_s=timings,
                  provenance=prov, corruption={**cell.corruption_field(), "n_test_split": n_split},
                  predictions=predictions, task=task_ref,
                  checkpoint=f"checkpoints/{Path(cell.checkpoint).name}")


def _intensity_frames(dataset, indices: Sequence[int], loaded):
    """The clean intensity frames ``(N, F, 1, H, W)`` of a two-input architecture (events and
    frames; corruptions apply to the events only), else ``None``."""
    import torch

    from backends.specs import arch_inputs, get_arch

    try:
        arch = get_arch(str(loaded.checkpoint.get("arch")))
    except Exception:  # noqa: BLE001 (an architecture not in this process's registry: events only)
        return None
    if "frames" not in arch_inputs(arch) or not hasattr(dataset, "intensity_tensor"):
        return None
    _, _, h, w = loaded.input_shape
    return torch.stack([dataset.intensity_tensor(int(i), (h, w)) for i in indices])


# --------------------------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------------------------


@dataclass
class CellsSummary:
    """What a run of claimed evaluation cells did (cell ids; :func:`run_claimed_cells`):
    ``elsewhere`` recorded ok by another process meanwhile; ``missing`` planned cells without
    any record at the end (a hole)."""

    done: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0
    noun: ClassVar[str] = "evaluation"
    """What the cells are, in :meth:`line`, the progress bar and the log."""

    def line(self) -> str:
        return (f"{len(self.done)} {self.noun} cells run, {len(self.resumed)} already recorded, "
                f"{len(self.failed)} failed or skipped"
                + (f", {len(self.elsewhere)} run by other processes" if self.elsewhere else "")
                + (f", {len(self.missing)} MISSING (no record)" if self.missing else "")
                + f" in {self.wall_time_s:.1f} s")


@dataclass
class SweepSummary(CellsSummary):
    """What a sweep did (:class:`CellsSummary`)."""

    noun: ClassVar[str] = "robustness"


def run_claimed_cells(
    cells: Sequence[Any],
    out: Path,
    data_root: Path,
    runner: Callable[..., Record],
    error_record: Callable[[Any, str], Record],
    summary: CellsSummary,
    *,
    command: str,
    executor: Executor | None = None,
    progress: bool = True,
    heartbeat_s: float = DEFAULT_HEARTBEAT_S,
    claim_timeout_s: float | None = None,
) -> CellsSummary:
    """Run every cell of ``cells`` not yet recorded ``ok`` in the folder ``out``, each once even
    when several processes share it (claims, :mod:`benchmarks.runner.claims`), on ``executor``
    (default: in this process); the loop of the robustness sweep and of the deployment
    evaluation (:mod:`benchmarks.deploy.evaluate`).

    The cells' ids are written to ``out``'s plan first (``command`` names who planned them);
    a cell whose worker dies gets ``error_record(cell, message)``; cells held by another live
    process are waited for (a stale claim or a dead worker: run here; recorded failed
    elsewhere: counted failed); planned cells without a record at the end are listed in
    ``summary.missing`` (logged as an error).

    Args:
        cells: objects with a ``cell_id`` (``RobustnessCell``, ``DeployCell``).
        out: the folder of their records (``RUN_DIR/robustness``, ``RUN_DIR/deployment``).
        runner: ``(cell, data_root, progress=...) -> Record``, module-level (picklable).
        summary: filled in place and returned (``wall_time_s`` included).
        heartbeat_s, claim_timeout_s: claim heartbeat interval and timeout, seconds (default
            four heartbeats).

    Raises:
        ExecutorUnavailable: the executor cannot start (before any cell runs).
    """
    from tqdm.auto import tqdm

    noun = summary.noun
    executor = executor or LocalExecutor()
    store = ClaimStore(out, heartbeat_s, claim_timeout_s)
    t0 = time.perf_counter()
    if out.is_dir():
        merge_cell_records(out)
    done_ids = finished_cell_ids(out)
    todo = [c for c in cells if c.cell_id not in done_ids]
    summary.resumed = [c.cell_id for c in cells if c.cell_id in done_ids]
    if summary.resumed:
        log.info("resuming: %d of %d %s cells already recorded in %s",
                 len(summary.resumed), len(cells), noun, out)
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(todo), desc=noun, unit="cell", disable=not progress)
    by_id = {c.cell_id: c for c in todo}

    def on_done(task: CellTask, outcome: Outcome) -> None:
        cid = task.cell.cell_id
        if outcome.status == "died":
            rec = error_record(by_id[cid], outcome.error or "the worker died")
            rec.provenance["executor"] = executor_block(task, new_attempt_id(), outcome.job_id,
                                                        host="unknown", pid=-1)
            write_cell_record(out, rec)
            store.release_if_owner(cid, task.owner)
        if outcome.status in ("ok", "error", "died", "skipped"):
            merge_cell_records(out, store=store)
            (summary.done if outcome.status == "ok" else summary.failed).append(cid)
            bar.update(1)
        elif outcome.status == "done":
            summary.elsewhere.append(cid)
            bar.update(1)
        else:  # "running" (another live worker holds it) or "lost" (taken over): wait for it
            log.info("%s cell %s is being run by another process (%s)", noun, cid,
                     outcome.holder or "?")
            others[cid] = task

    others: dict[str, CellTask] = {}
    started = False
    try:
        if todo:
            executor.start(todo)
            started = True
        write_plan(out, [c.cell_id for c in cells], command=command)
        batch = [CellTask(cell=c, data_root=str(data_root), run_dir=str(out),
                          owner=make_owner(executor.name), executor=executor.name,
                          runner=runner, progress=False,
                          threads=executor.threads(), heartbeat_s=store.heartbeat_s,
                          timeout_s=store.timeout_s)
                 for c in todo]
        while batch:
            executor.run(batch, on_done)
            batch = []
            while others and not batch:
                changed = wait_for_holders(store, others)
                have = recorded_cell_ids(out) if "released" in changed.values() else set()
                for cid, what in changed.items():
                    task = others.pop(cid)
                    if what == "done":
                        summary.elsewhere.append(cid)
                        bar.update(1)
                    elif what == "released" and cid in have:  # recorded as failed elsewhere
                        summary.failed.append(cid)
                        bar.update(1)
                    else:  # stale, dead worker, or released without a record: run it here
                        batch.append(task)
    finally:
        bar.close()
        if started:
            executor.close()
        merge_cell_records(out, store=store)
    have = recorded_cell_ids(out)
    summary.missing = [c.cell_id for c in cells if c.cell_id not in have]
    if summary.missing:
        log.error("%d planned %s cell(s) have no record in %s: %s", len(summary.missing), noun,
                  out, ", ".join(summary.missing))
    summary.wall_time_s = time.perf_counter() - t0
    return summary


def run_sweep(
    cells: Sequence[RobustnessCell],
    run_dir: str | Path,
    data_root: str | Path,
    *,
    executor: Executor | None = None,
    progress: bool = True,
    heartbeat_s: float = DEFAULT_HEARTBEAT_S,
    claim_timeout_s: float | None = None,
) -> SweepSummary:
    """Run every cell of ``cells`` not yet recorded ``ok`` in ``RUN_DIR/robustness``, each once
    even when several processes share the folder (claims), on ``executor`` (default: in this
    process); plan, waiting and holes as in the module docstring (:func:`run_claimed_cells`).

    Args:
        heartbeat_s, claim_timeout_s: claim heartbeat interval and timeout of this sweep's
            claims, seconds (default four heartbeats).

    Returns:
        A :class:`SweepSummary` (planned cells without a record in ``missing``, logged as an
        error).

    Raises:
        ExecutorUnavailable: the executor cannot start (before any cell runs).
    """
    summary = SweepSummary()
    run_claimed_cells(
        cells, Path(run_dir).absolute() / ROBUSTNESS_DIR, Path(data_root).absolute(),
        run_robustness_cell, lambda cell, message: _error(cell, "error", message), summary,
        command="robustness", executor=executor, progress=progress, heartbeat_s=heartbeat_s,
        claim_timeout_s=claim_timeout_s)
    return summary
