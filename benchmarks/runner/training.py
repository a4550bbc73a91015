"""Training of one cell's model: seeding and the training loop with model selection.

Model selection uses the validation split taken from the training subjects (never the test
split), except the labelled legacy protocol ``best_on_test_legacy`` of Spiking-FER.

The loss and targets are pluggable per task and method (``recipe.task``, ``recipe.method``;
:mod:`benchmarks.runner.methods`): the per-sample targets (class, valence-arousal, identity) are
gathered once per cell from the dataset's sequence metadata, indexed like the training split,
and each batch's are taken by the batch's positions. Selection: validation accuracy
(classification), mean CCC of valence and arousal (va_regression), or the mean of
the two (multitask).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from typing import Any

from benchmarks.results.spec import Cell
from benchmarks.runner.checkpoints import fit_neuron_state
from benchmarks.runner.inference import predict


def set_seed(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) RNGs."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _accuracy(logits, y) -> float:
    return float((logits.argmax(1) == y).float().mean().item()) if len(y) else math.nan


def effective_amp(backend, amp: str) -> str:
    """The mixed precision ``backend`` really runs for the recipe's ``amp``: ``amp`` itself, or
    ``"off"`` for a backend whose ``amp_support`` is ``(False, reason)`` (lava-dl: SLAYER's CUDA
    kernels take float32 only). ``backend=None``: ``amp``."""
    ok, _why = getattr(backend, "amp_support", (True, ""))
    return amp if ok else "off"


def autocast(device: str, amp: str, backend=None):
    """``torch.autocast`` for the recipe's ``amp`` (``"bf16"`` / ``"fp16"``) on ``device``, or a
    no-op context for ``"off"`` and for a ``backend`` without mixed precision
    (:func:`effective_amp`)."""
    import contextlib

    import torch

    if effective_amp(backend, amp) == "off":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def prepare_model(backend, model, cell: Cell):
    """Apply the recipe's ``channels_last`` and ``compile`` to ``model`` (already on the device).

    Returns:
        The model to train (compiled if asked: ``torch.compile`` wraps it; its ``state_dict``
        keys gain an ``_orig_mod.`` prefix, so checkpoints save the wrapped module's).

    Raises:
        ValueError: ``compile`` asked for a backend that cannot be compiled (its reason), or
            ``amp = "fp16"`` on a device without CUDA.
    """
    import torch

    r = cell.recipe
    if r.amp == "fp16" and not cell.device.startswith("cuda"):
        raise ValueError("recipe.amp = 'fp16' needs a CUDA device (loss scaling); use 'bf16' on CPU")
    if r.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if r.compile:
        ok, why = getattr(backend, "compile_support", (True, ""))
        if not ok:
            raise ValueError(f"recipe.compile: backend {cell.backend!r} cannot be compiled: {why}")
        model = torch.compile(model)
    return model


def _state_path(state_dir, cell: Cell):
    from pathlib import Path

    from benchmarks.runner.checkpoints import checkpoint_filename

    return Path(state_dir) / checkpoint_filename(cell.cell_id)


def _save_state(path, state: dict) -> None:
    import torch

    from datasets.common import atomic_write

    atomic_write(path, lambda tmp: torch.save(state, tmp))


def _load_state(path, cell: Cell):
    """The saved training state of ``cell`` at ``path``, or ``None`` if absent or of another
    cell (then training starts at epoch 0; a corrupt file is logged and ignored)."""
    import logging

    import torch

    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a torn or foreign file: start again rather than fail the cell
        logging.getLogger(__name__).warning("%s: unreadable training state (%s); starting at epoch 0",
                                            path, exc)
        return None
    if not isinstance(state, dict) or state.get("cell_id") != cell.cell_id:
        return None
    return state


class _TaskSetup:
    """What the loop needs to know of the task and method of a cell: the method, ``K``, the
    training split's targets (:class:`benchmarks.runner.methods.TaskTargets` on the CPU, indexed by
    position in the split) and the selection split's."""

    def __init__(self, data, cell: Cell, select_on) -> None:
        from benchmarks.runner.methods import (
            TaskTargets,
            check_task_data,
            get_method,
            identity_ids,
            split_va,
        )

        r = cell.recipe
        self.task = r.task
        self.num_classes = data.num_classes
        self.method = get_method(r.method)
        dataset = getattr(data, "dataset", None)
        if dataset is not None:
            check_task_data(dataset, r.task, r.method)
        elif r.task != "classification" or self.method.needs_identity:
            raise ValueError(f"task {r.task!r} / method {r.method!r} need the dataset's "
                             "metadata (CellData.dataset is None)")
        needs_va = r.task != "classification"
        self.train = TaskTargets(
            y=data.train.y,
            va=split_va(dataset, data.train.indices) if needs_va else None,
            identity=identity_ids(data.train.subjects) if self.method.needs_identity else None,
        )
        self.select = None
        if select_on is not None and len(select_on.y):
            self.select = TaskTargets(
                y=select_on.y, va=split_va(dataset, select_on.indices) if needs_va else None)
        n = len(data.train.y)
        self.batches_per_epoch = max(1, math.ceil(n / cell.recipe.batch_size))

    def batch_targets(self, idx, y, device: str):
        """The targets of the batch at positions ``idx`` (``y`` as the loader gave it)."""
        from benchmarks.runner.methods import TaskTargets

        cpu = idx.cpu()
        return TaskTargets(
            y=y,
            va=self.train.va[cpu].to(device) if self.train.va is not None else None,
            identity=(self.train.identity[cpu].to(device)
                      if self.train.identity is not None else None),
        )


def _train_epoch(backend, model, data, cell: Cell, rng, epoch: int, opt, sched, scaler,
                 setup: _TaskSetup, select_on, history: list, best: tuple) -> tuple:
    """One epoch: the batches of :meth:`benchmarks.runner.data.CellData.train_batches` (shuffled by
    ``rng``, the cell's order generator; augmented with per-(seed, epoch, sample) streams), an
    optimiser step each on the loss of the cell's method (``setup.method``), then model selection
    on ``select_on``. Appends the epoch's entry to ``history`` and returns the new ``best`` =
    (selection score, epoch, state dict).

    Raises:
        FloatingPointError: the epoch's mean loss is not finite.
    """
    import numpy as np

    from benchmarks.runner.methods import StepContext, class_predictions, selection_score

    r, device = cell.recipe, cell.device
    model.train()
    losses, correct, seen = [], 0, 0
    for b, (idx, x, y, frames) in enumerate(data.train_batches(rng, epoch, cell.seed,
                                                               r.batch_size, workers=r.workers,
                                                               device=device)):
        kw = {"frames": frames} if frames is not None else {}
        targets = setup.batch_targets(idx, y, device)
        ctx = StepContext(seed=cell.seed, epoch=epoch, batch=b,
                          step=epoch * setup.batches_per_epoch + b)
        with autocast(device, r.amp, backend):
            out = backend.forward(model, x, **kw)
            card_loss = getattr(backend, "loss", None)  # a native model's card loss
            if callable(card_loss) and setup.task == "classification":
                loss = card_loss(out, y)
            else:
                loss, _parts = setup.method.loss(model, out, targets, setup.task,
                                                 setup.num_classes, ctx)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        losses.append(loss.item())
        pred = class_predictions(out.logits.detach(), setup.task, setup.num_classes)
        if pred is not None:
            correct += int((pred == y).sum().item())
        seen += len(idx)
    if sched is not None:
        sched.step()
    entry: dict[str, Any] = {"epoch": epoch, "train_loss": float(np.mean(losses))}
    if setup.task != "va_regression":
        entry["train_accuracy"] = correct / seen
    if select_on is not None and len(select_on.y):
        with autocast(device, r.amp, backend):
            logits, _, _ = predict(backend, model, select_on.x, r.batch_size, device,
                                   frames=select_on.frames)
        if setup.task == "classification":
            score = _accuracy(logits, select_on.y)
            entry["selection_accuracy"] = score
        else:
            sel = selection_score(logits.float(), setup.select, setup.task, setup.num_classes)
            score = sel["score"]
            if "accuracy" in sel:
                entry["selection_accuracy"] = sel["accuracy"]
            entry["selection_va_ccc_mean"] = sel["va_ccc_mean"]
            entry["selection_score"] = score
        if score > best[0]:
            best = (score, epoch, copy.deepcopy(model.state_dict()))
    history.append(entry)
    if not math.isfinite(entry["train_loss"]):
        raise FloatingPointError(f"training diverged at epoch {epoch}: loss {entry['train_loss']}")
    return best


def train(
    backend, model, data, cell: Cell, *, progress: bool = True, state_dir=None
) -> dict[str, Any]:
    """Train ``model`` on ``data.train`` and select the epoch by ``cell.recipe.selection``.

    Args:
        backend, model: the backend and its compiled model (on ``cell.device``).
        data: the cell's :class:`benchmarks.runner.data.CellData`.
        cell: the cell (its recipe: optimiser, schedule, ``amp``, ``channels_last``, ``compile``,
            ``checkpoint_every``).
        progress: show a progress bar.
        state_dir: a folder for the training state. Every ``checkpoint_every`` epochs the whole
            state (model, optimiser, scheduler, loss scaler, the shuffle generator's and torch's RNG
            states, history and the best epoch so far) is saved there atomically, and a later
            call for the same cell resumes from it: the result equals an uninterrupted run's (CPU,
            fixed seed). The file is removed when training ends. ``None``: no checkpoints.

    Returns:
        dict with ``best_epoch``, ``val_accuracy`` (validation accuracy of the selected epoch;
        NaN without a class head), ``val_score`` and ``selection_metric`` (the figure selection
        maximised: ``"accuracy"``, ``"va_ccc_mean"`` or ``"mean(accuracy, va_ccc_mean)"``),
        ``history`` (per-epoch train loss, train and validation accuracy, and for VA tasks
        ``selection_va_ccc_mean`` / ``selection_score``), ``train_time_s`` (this call's) and
        ``resumed_from_epoch`` (``None`` or the epoch training resumed at); the model holds the
        selected weights on return.

    Raises:
        FloatingPointError: the loss diverged.
        ValueError: see :func:`prepare_model`; a task or method the dataset cannot serve
            (:func:`benchmarks.runner.methods.check_task_data`).
    """
    import random

    import numpy as np
    import torch
    from tqdm.auto import tqdm

    r = cell.recipe
    own = getattr(backend, "make_optimizer", None)  # a native model card's optimiser
    own = own(model.parameters(), r) if callable(own) else None
    if own is not None:
        opt, sched = own
    elif r.optimizer == "sgd":
        opt = torch.optim.SGD(
            model.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay
        )
    else:
        opt = torch.optim.Adam(model.parameters(), lr=r.lr, betas=tuple(r.adam_betas),
                               weight_decay=r.weight_decay)
    if own is None:
        sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=r.epochs)
                 if r.schedule == "cosine" else None)
    scaler = torch.amp.GradScaler("cuda") if effective_amp(backend, r.amp) == "fp16" else None
    rng = np.random.default_rng(cell.seed)
    select_on = {"val": data.val, "best_on_test_legacy": data.test}.get(r.selection)
    setup = _TaskSetup(data, cell, select_on)
    best = (-1.0, -1, None)
    history: list[dict[str, Any]] = []
    start, resumed = 0, None
    path = _state_path(state_dir, cell) if state_dir is not None else None
    state = _load_state(path, cell) if path is not None else None
    if state is not None:
        model.load_state_dict(fit_neuron_state(model, state["model"]))
        opt.load_state_dict(state["optimizer"])
        if sched is not None:
            sched.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        rng.bit_generator.state = state["order_rng"]
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        np.random.set_state(state["numpy_global_rng"])
        history, best = state["history"], tuple(state["best"])
        start = resumed = state["epoch"] + 1
        logging.getLogger(__name__).info("%s: resuming training at epoch %d from %s",
                                         cell.cell_id, start, path)
    t0 = time.perf_counter()
    bar = tqdm(range(start, r.epochs), desc=f"train {cell.backend}/{cell.arch} f{cell.fold} s{cell.seed}",
               leave=False, disable=not progress, initial=start, total=r.epochs)
    try:
        for epoch in bar:
            best = _train_epoch(backend, model, data, cell, rng, epoch, opt, sched, scaler,
                                setup, select_on, history, best)
            entry = history[-1]
            sel = entry.get("selection_score", entry.get("selection_accuracy", math.nan))
            bar.set_postfix(loss=f"{entry['train_loss']:.3f}", sel=f"{sel:.2f}")
            if path is not None and (epoch + 1) % r.checkpoint_every == 0 and epoch + 1 < r.epochs:
                _save_state(path, {
                    "cell_id": cell.cell_id, "epoch": epoch, "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "scaler": scaler.state_dict() if scaler is not None else None,
                    "order_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                    "python_rng": random.getstate(), "numpy_global_rng": np.random.get_state(),
                    "history": history, "best": list(best),
                })
    finally:
        close = getattr(data, "close", None)
        if callable(close):
            close()  # stops the DataLoader's persistent workers
    train_time = time.perf_counter() - t0
    if path is not None:
        path.unlink(missing_ok=True)
    if best[2] is not None:
        model.load_state_dict(fit_neuron_state(model, best[2]))
        best_epoch, score = best[1], best[0]
    else:
        best_epoch, score = r.epochs - 1, math.nan
    selected = next((e for e in history if e["epoch"] == best_epoch), {})
    sel_acc = score if r.task == "classification" else selected.get("selection_accuracy", math.nan)
    metric = {"classification": "accuracy", "va_regression": "va_ccc_mean",
              "multitask": "mean(accuracy, va_ccc_mean)"}[r.task]
    return {"best_epoch": best_epoch, "val_accuracy": sel_acc, "val_score": score,
            "selection_metric": metric, "history": history,
            "train_time_s": train_time, "resumed_from_epoch": resumed}
