"""Training of one cell's model: seeding and the training loop with model selection.

Model selection uses the validation split taken from the training subjects (never the test
split), except the labelled legacy protocol ``best_on_test_legacy`` of Spiking-FER.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

from benchmarks.inference import batches, forward_kwargs, predict
from benchmarks.spec import Cell


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


def train(backend, model, data, cell: Cell, *, progress: bool = True) -> dict[str, Any]:
    """Train ``model`` on ``data.train`` and select the epoch by ``cell.recipe.selection``.

    Returns:
        dict with ``best_epoch``, ``val_accuracy`` (of the selected epoch), ``history`` (per-epoch
        train loss, train and validation accuracy) and ``train_time_s``; the model holds the
        selected weights on return.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    r = cell.recipe
    device = cell.device
    if r.optimizer == "sgd":
        opt = torch.optim.SGD(
            model.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay
        )
    else:
        opt = torch.optim.Adam(model.parameters(), lr=r.lr, weight_decay=r.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=r.epochs) if r.schedule == "cosine" else None
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(cell.seed)
    select_on = {"val": data.val, "best_on_test_legacy": data.test}.get(r.selection)
    best = (-1.0, -1, None)
    history = []
    t0 = time.perf_counter()
    bar = tqdm(range(r.epochs), desc=f"train {cell.backend}/{cell.arch} f{cell.fold} s{cell.seed}",
               leave=False, disable=not progress)
    for epoch in bar:
        model.train()
        losses, correct, seen = [], 0, 0
        for idx in batches(len(data.train.y), r.batch_size, rng):
            x = data.train_batch(idx, rng).to(device)
            y = data.train.y[idx].to(device)
            out = backend.forward(model, x, **forward_kwargs(data.train.frames, idx, device))
            loss = loss_fn(out.logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            correct += int((out.logits.argmax(1) == y).sum().item())
            seen += len(idx)
        if sched is not None:
            sched.step()
        entry = {"epoch": epoch, "train_loss": float(np.mean(losses)), "train_accuracy": correct / seen}
        if select_on is not None and len(select_on.y):
            logits, _, _ = predict(backend, model, select_on.x, r.batch_size, device,
                                   frames=select_on.frames)
            acc = _accuracy(logits, select_on.y)
            entry["selection_accuracy"] = acc
            if acc > best[0]:
                best = (acc, epoch, copy.deepcopy(model.state_dict()))
        history.append(entry)
        bar.set_postfix(loss=f"{entry['train_loss']:.3f}", sel=f"{entry.get('selection_accuracy', math.nan):.2f}")
        if not math.isfinite(entry["train_loss"]):
            raise FloatingPointError(f"training diverged at epoch {epoch}: loss {entry['train_loss']}")
    train_time = time.perf_counter() - t0
    if best[2] is not None:
        model.load_state_dict(best[2])
        best_epoch, sel_acc = best[1], best[0]
    else:
        best_epoch, sel_acc = r.epochs - 1, math.nan
    return {"best_epoch": best_epoch, "val_accuracy": sel_acc, "history": history, "train_time_s": train_time}
