"""What a benchmark cell is: its training and measurement recipe and its place in a grid.

A cell is (dataset, protocol, fold, backend, architecture, seed, recipe, device); its
``cell_id`` identifies it in a run folder for resume. Pure configuration: nothing here trains or
imports a framework.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from datasets.common import InputError, Registry


class RecipeError(InputError, ValueError):
    """An invalid recipe value or key; the message names the field and the value."""


SELECTION_MODES = ("val", "last", "best_on_test_legacy")
AMP_MODES = ("off", "bf16", "fp16")
TASKS = ("classification", "va_regression", "multitask")
"""What a cell learns: the expression class (``classification``, K outputs), valence and arousal
(``va_regression``, 2 outputs), or both (``multitask``, K + 2 outputs); see
:mod:`benchmarks.runner.methods`."""
METHODS: Registry[type] = Registry(
    "method", package="benchmarks.runner", include="method*",
    entry_point_group="neurofer_bench.methods",
)
"""Registry: training method name -> :class:`benchmarks.runner.methods.Method` subclass, in
registration order: ``standard`` (the suite's loss: cross-entropy, and MSE for valence-arousal),
``baseline`` (FER-Zoo's Baseline: MSE + 0.5 (PCC + CCC) loss on valence-arousal) and ``elim``
(FER-Zoo's ELIM: optimal-transport identity matching; needs identity labels), all in
:mod:`benchmarks.runner.methods`. A method of one's own is one new module
``benchmarks/runner/method_<name>.py`` (imported on the first lookup) or a third-party package's
``neurofer_bench.methods`` entry point, either calling
:func:`benchmarks.runner.methods.register_method`."""


def method_names() -> tuple[str, ...]:
    """The registered training methods' names, in registration order (exact names: a recipe
    stores the name, so aliases and other spellings are refused)."""
    return tuple(METHODS.names())


# the recipe fields of suite version 0.1.0: always hashed, so that its records keep their cell ids
_ID_FIELDS = ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule",
                  "val_fraction", "selection", "augment", "binarize", "latency_runs", "warmup_runs",
                  "throughput_batch_size", "codecarbon")
_HOW_NOT_WHAT = ("workers", "checkpoint_every", "early_bin_ms")


@dataclass(frozen=True)
class Recipe:
    """Training and measurement recipe of a cell.

    Defaults follow Spiking-FER (Barchid et al., CBMI 2023, ``train.py`` and ``fer_module.py`` of
    its repository): SGD with momentum 0.9, weight decay 5e-4, cosine learning-rate schedule,
    cross-entropy loss. Epochs (30), batch size (16) and learning rate (0.01; upstream 5e-3 at
    batch 32 over 500 epochs) are sized for a CPU run of the ``tiny`` architecture on the built-in
    dataset; the paper-scale grids set their own. Measured on the built-in dataset: lr 0.05 made
    the ANN diverge in its first epoch (loss 9.6, 20% test accuracy) while lr 0.01 trains all
    three backends (ANN 70%, SNNs 62%).

    Attributes:
        epochs: training epochs.
        batch_size: training and evaluation batch size.
        optimizer: ``"sgd"`` or ``"adam"``.
        lr: initial learning rate.
        momentum: SGD momentum.
        weight_decay: L2 weight decay.
        schedule: ``"cosine"`` (CosineAnnealingLR over all epochs) or ``"constant"``.
        val_fraction: fraction of the training subjects held out for model selection.
        selection: ``"val"`` (best validation accuracy), ``"last"`` (last epoch), or
            ``"best_on_test_legacy"`` (Spiking-FER's reported protocol: best *test* accuracy over
            epochs; optimistic, labelled as such in records and reports).
        augment: apply the Spiking-FER event data augmentations to training samples.
        binarize: binarise the event frames. Spiking-FER feeds binary frames (its grids set
            this); the default keeps event counts, because on the built-in dataset binary
            frames left every backend near chance (measured: ANN 27% vs 54% with counts, same
            recipe), as low-light shot noise fills binary frames as much as the face does.
        latency_runs: timed batch-1 forward passes (after ``warmup_runs``).
        warmup_runs: untimed batch-1 passes before timing.
        throughput_batch_size: batch size of the throughput measurement.
        codecarbon: estimate the cell's energy with codecarbon (offline mode).
        amp: mixed precision of training and inference: ``"off"``, ``"bf16"`` or ``"fp16"``
            (``torch.autocast`` on the cell's device; ``"fp16"`` also scales the loss with
            ``torch.amp.GradScaler``, CUDA only).
        channels_last: put the model's conv weights in ``torch.channels_last`` memory format
            (faster convolutions on recent GPUs with mixed precision).
        compile: ``torch.compile`` the model (off by default; a backend that cannot be compiled
            says why, and its cell is recorded as an error with that reason).
        workers: DataLoader worker processes that prepare training batches (0: the main process).
        checkpoint_every: with a training-state folder (``run_cell(..., train_state_dir=...)``),
            save the whole training state every this many epochs so that a killed or preempted
            cell resumes from its last checkpoint instead of epoch 0.
        task: ``"classification"`` (default), ``"va_regression"`` or ``"multitask"`` (see
            :data:`TASKS`); the model is built with :func:`benchmarks.runner.methods.task_outputs`
            outputs and its valence-arousal outputs go through ``tanh`` in the task head.
        method: the training method, one of :data:`METHODS` (default ``"standard"``).
        adam_betas: Adam's ``(beta1, beta2)`` (torch's default ``(0.9, 0.999)``; FER-Zoo trains
            with ``(0.5, 0.99)``, see :data:`benchmarks.runner.methods.FER_ZOO_RECIPE`).
        label_set: the dataset's label set, for datasets that have several (NEFER:
            ``"expected"``, ``"reported"``, ``"reported_without_none"``; see
            :data:`datasets.loaders.nefer_index.LABEL_SETS`); ``None`` (default) is the dataset's own
            default. Part of the cell id (through :meth:`digest`) when set.
        early_bin_ms: bin width (ms) of the fixed-duration time bins of the early-decision
            evaluation (:mod:`benchmarks.robustness.early`); it changes no trained cell, so it
            never enters :meth:`digest`. Default 100 ms: the tiny architecture's 8 bins then
            span 0.8 s, the length of a built-in recording (24 frames at 30 fps).

    :meth:`digest` hashes the fields up to ``codecarbon`` always and the later ones only where
    they differ from their defaults (``workers``, ``checkpoint_every`` and ``early_bin_ms``
    never), so that a record made before a field existed keeps its cell id.
    """

    epochs: int = 30
    batch_size: int = 16
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    val_fraction: float = 0.15
    selection: str = "val"
    augment: bool = False
    binarize: bool = False
    latency_runs: int = 30
    warmup_runs: int = 5
    throughput_batch_size: int = 32
    codecarbon: bool = True
    amp: str = "off"
    channels_last: bool = False
    compile: bool = False
    workers: int = 0
    checkpoint_every: int = 5
    task: str = "classification"
    method: str = "standard"
    adam_betas: tuple[float, float] = (0.9, 0.999)
    label_set: str | None = None
    early_bin_ms: float = 100.0

    def __post_init__(self) -> None:
        if self.label_set is not None and (not isinstance(self.label_set, str)
                                           or not self.label_set):
            raise RecipeError(f"recipe.label_set must be a non-empty name or None, got "
                              f"{self.label_set!r}")
        if self.task not in TASKS:
            raise RecipeError(f"recipe.task must be one of {TASKS}, got {self.task!r}")
        if self.method not in method_names():
            raise RecipeError(f"recipe.method must be one of {method_names()}, got "
                              f"{self.method!r}")
        betas = tuple(self.adam_betas) if isinstance(self.adam_betas, (list, tuple)) else ()
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                                      and 0.0 <= b < 1.0 for b in betas):
            raise RecipeError(f"recipe.adam_betas must be two numbers in [0, 1), got "
                              f"{self.adam_betas!r}")
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in betas))  # TOML gives lists
        if self.amp not in AMP_MODES:
            raise RecipeError(f"recipe.amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.workers < 0:
            raise RecipeError(f"recipe.workers must be >= 0, got {self.workers}")
        if self.checkpoint_every < 1:
            raise RecipeError(f"recipe.checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if not (isinstance(self.early_bin_ms, (int, float)) and self.early_bin_ms > 0):
            raise RecipeError(f"recipe.early_bin_ms must be > 0 ms, got {self.early_bin_ms!r}")
        if self.epochs < 1:
            raise RecipeError(f"recipe.epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise RecipeError(f"recipe.batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in ("sgd", "adam"):
            raise RecipeError(f"recipe.optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise RecipeError(f"recipe.schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.selection not in SELECTION_MODES:
            raise RecipeError(f"recipe.selection must be one of {SELECTION_MODES}, got {self.selection!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise RecipeError(f"recipe.val_fraction must be in [0, 1), got {self.val_fraction}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        """Build from a dict (a grid file's ``[recipe]`` table).

        Raises:
            ValueError: an unknown key (lists the known ones) or an invalid value.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise RecipeError(f"unknown recipe key(s) {unknown}; known: {sorted(known)}")
        return cls(**d)

    def digest(self) -> str:
        """Short stable hash of the recipe (part of the cell id): SHA-1 of the sorted JSON of the
        fields of version 0.1.0 plus every later field that differs from its default, so that the
        cell ids of earlier versions stay valid. ``workers`` and ``checkpoint_every`` never enter
        it: they change how a cell runs, not what it computes."""
        d = asdict(self)
        d["adam_betas"] = list(self.adam_betas)
        defaults = {f.name: f.default for f in fields(self)}
        defaults["adam_betas"] = list(defaults["adam_betas"])
        keep = {k: v for k, v in d.items()
                if k in _ID_FIELDS or (k not in _HOW_NOT_WHAT and v != defaults[k])}
        return hashlib.sha1(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Cell:
    """One cell of a grid; ``cell_id`` identifies it for resume.

    ``run_backend``: train in ``backend``, then transfer the trained model to ``run_backend``
    (through NIR or the suite's canonical state, ``transfer_via``:
    :func:`backends.nir_exchange.transfer`) and evaluate and measure it there; ``None`` (default) evaluates where it trained.
    The backend part of the id is then ``"<backend>><run_backend>@<via>"``; ids of ordinary cells
    are unchanged.

    Raises (on construction):
        RecipeError: an unknown ``transfer_via``.
    """

    dataset: str
    backend: str
    arch: str
    fold: int = 0
    seed: int = 0
    protocol: str = "folds"
    device: str = "cpu"
    recipe: Recipe = field(default_factory=Recipe)
    run_backend: str | None = None
    transfer_via: str = "canonical"
    plugins: tuple[str, ...] = ()
    """Plugin files (absolute paths) whose native models the cell needs; every process that runs
    the cell imports them first (:func:`backends.native.card.load_plugins`). Not part of the id."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "plugins", tuple(self.plugins or ()))
        if self.transfer_via not in ("canonical", "nir"):
            raise RecipeError(f"cell.transfer_via must be 'canonical' or 'nir', got {self.transfer_via!r}")

    @property
    def transferred(self) -> bool:
        """Whether the cell evaluates in another backend than the one it trains in."""
        return self.run_backend not in (None, self.backend)

    @property
    def cell_id(self) -> str:
        backend = (f"{self.backend}>{self.run_backend}@{self.transfer_via}" if self.transferred
                   else self.backend)
        return "/".join(
            [
                self.dataset,
                self.protocol,
                f"f{self.fold}",
                backend,
                self.arch,
                f"s{self.seed}",
                self.recipe.digest(),
                self.device,
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["recipe"] = asdict(self.recipe)
        return d
