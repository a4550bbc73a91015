"""Tasks and training methods: what a cell learns (``recipe.task``) and how (``recipe.method``).

Tasks (:data:`benchmarks.results.spec.TASKS`)
    * ``classification``: the expression class; the model has ``K`` outputs (the class logits).
    * ``va_regression``: valence and arousal; the model has 2 outputs, and the prediction is
      ``tanh`` of them, in ``[-1, 1]`` like the targets.
    * ``multitask``: both; ``K + 2`` outputs, the first ``K`` the class logits, the last two the
      valence-arousal outputs.

    The readout is built with :func:`task_outputs` outputs by every backend, and, like the class
    logits, the VA outputs are the readout averaged over time. ``tanh`` is applied here, in the
    task head (:func:`task_heads`), never in a backend, so that every backend and architecture
    supports every task with no change.

Methods (registered in :data:`benchmarks.results.spec.METHODS`), usable with any backend
    * ``standard``: the suite's loss: cross-entropy on the class logits; ``MSE_v + MSE_a`` on
      valence-arousal.
    * ``baseline``: FER-Zoo's Baseline (kdhht2334/Facial-Expression-Recognition-Zoo,
      ``archs/baseline.py``) as its code implements it: ``MSE_v + MSE_a + 0.5 (L_PCC + L_CCC)``
      with ``L_PCC = 1 - (PCC_v + PCC_a) / 2`` and ``L_CCC = 1 - (CCC_v + CCC_a) / 2`` per batch,
      trained with Adam (lr 1e-4, betas (0.5, 0.99): :data:`FER_ZOO_RECIPE`). Differences from
      the paper it cites (Mollahosseini et al., "AffectNet", IEEE TAC 2017): the paper's
      baseline regresses valence and arousal with an AlexNet trained on a Euclidean (L2) loss
      alone (no correlation terms), with SGD, on AffectNet's images; FER-Zoo adds the PCC/CCC
      terms (as the CAF/ELIM papers of its authors do) and trains with Adam. Here the network is
      the cell's architecture in the cell's backend, the correlation terms use one ddof
      convention (see :func:`pcc_ccc`), whereas FER-Zoo's ``pcc_ccc_loss`` divides a mean of
      products (ddof = 0) by ``torch.std`` (ddof = 1), which scales its PCC by ``(N-1)/N``; and
      FER-Zoo's call passes an undefined ``all_scores`` instead of its predictions. With a
      class head (``multitask``) the cross-entropy is added.
    * ``elim``: ELIM (Kim & Song, "Optimal Transport-based Identity Matching for
      Identity-invariant Facial Expression Recognition", NeurIPS 2022; FER-Zoo ``archs/elim.py``):
      the baseline loss plus an identity-matching term on the pre-readout features
      (:attr:`backends.base.ForwardOutput.features`): in each batch the samples are grouped by
      subject, an anchor identity and up to ``max_identities - 1`` others are drawn, the
      "identity shift" of each other identity is estimated from an optimal-transport matching of
      its features to the anchor's (:func:`identity_shift`, POT's unbalanced Sinkhorn), removed
      from its features, and the model's own readout (``model.apply_readout``) must still predict
      that identity's targets from the shifted features (an ERM loss over identities), weighted
      by ``0.5 x`` FER-Zoo's warm-up ramp. It needs identity labels: it runs where a dataset has
      subjects (the built-in data, the Spiking-FER datasets, SEE) and refuses where it has none
      (:func:`check_task_data`). FER-Zoo takes the identity from the first path component of the
      image path, which in DiffusionFER's layout is the expression folder: that would make the
      "identities" the classes, and is not done here.

    CAF (Kim & Song, AAAI 2021) and AVCE (ECCV 2022) are not implemented. CAF's code imports
    modules absent from the published repository (``common/caf_networks.py``,
    ``common/caf_utils.py``, ``common/aknn_alg.py``: its discriminator, MINE estimator,
    cumulative thresholding and adaptive k-NN), so its method cannot be read off the code, and
    it trains a separate discriminator with its own optimiser on pairs of strong and weak
    emotions. AVCE needs a 32-d bottleneck between the features and the readout (sparsemax and
    softmax "views" of it, with two extra regressors and a second optimiser step), which no
    architecture spec of the suite has; its learnable ``ALPHA``/``BETA``/``GAMMA`` are given
    to no optimiser in FER-Zoo's code. Both would need new architecture parts, not a loss.

Per-sample targets come from the dataset's sequence metadata: valence and arousal from
``SequenceInfo.extra["valence"]`` / ``["arousal"]`` (datasets that declare ``"valence_arousal"``
in ``provides``), identities from ``SequenceInfo.subject`` (datasets whose ``has_identities`` is
not False).

Differences of ``elim`` from FER-Zoo's code, each deliberate: one optimiser step per batch on the
sum of the two losses (FER-Zoo steps twice, with gradient clipping on the second); the identity
shift is a vector, the OT-weighted mean displacement between matched samples (FER-Zoo subtracts
the first element of a per-sample transport-cost vector, a scalar, from every feature); the
matching uses POT's unbalanced Sinkhorn to convergence (FER-Zoo: 5 balanced Sinkhorn
iterations; with exact balanced marginals the weighted mean displacement would not depend on the
matching at all); the shifted features are not re-normalised (the readout here also sees
unnormalised features in the main loss); anchors and identities are drawn with a generator
seeded by (seed, epoch, batch), so that a resumed cell draws the same.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from benchmarks.results.spec import METHODS, TASKS, method_names

log = logging.getLogger(__name__)

__all__ = [
    "FER_ZOO_RECIPE", "TASKS", "METHODS", "task_outputs", "task_heads", "TaskOutput",
    "TaskTargets", "StepContext", "sequence_va", "split_va", "identity_ids", "has_identities",
    "check_task_data", "pcc_ccc", "standard_va_loss", "fer_zoo_va_loss", "identity_shift",
    "elim_warmup", "get_method", "register_method", "Method", "StandardMethod", "BaselineMethod", "ElimMethod",
    "selection_score", "va_test_metrics", "va_sample_fields",
]

FER_ZOO_RECIPE: dict[str, Any] = {
    "optimizer": "adam",
    "lr": 1e-4,
    "adam_betas": (0.5, 0.99),
    "weight_decay": 0.0,
    "schedule": "constant",
}
"""Recipe fields of FER-Zoo's training (``archs/baseline.py``, ``archs/elim.py``: Adam, lr
``e_lr = r_lr = 1e-4``, betas (0.5, 0.99), no weight decay). FER-Zoo also decays the lr by 0.8
at iterations 500, 1k, 2k, 5k, 10k (``MultiStepLR``); a constant lr stands for it here."""

VA_KEYS = ("valence", "arousal")
"""The ``SequenceInfo.extra`` keys of the valence-arousal targets."""

IDENTITY_DATASET_ATTR = "has_identities"
"""A dataset class attribute; ``False`` says its ``subject`` field is not a person (e.g.
DiffusionFER, whose images carry no identity): :func:`has_identities`."""


# --------------------------------------------------------------------------------------------
# task heads
# --------------------------------------------------------------------------------------------


def _check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return task


def task_outputs(task: str, num_classes: int) -> int:
    """Readout size of ``task``: ``K`` (classification), 2 (va_regression), ``K + 2`` (multitask).

    Raises:
        ValueError: unknown task or ``num_classes < 1``.
    """
    _check_task(task)
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
    return {"classification": int(num_classes), "va_regression": 2,
            "multitask": int(num_classes) + 2}[task]


@dataclass
class TaskOutput:
    """The task head's view of the model outputs.

    Attributes:
        class_logits: ``(B, K)`` class scores, or ``None`` (va_regression).
        va: ``(B, 2)`` predicted (valence, arousal) = ``tanh`` of the VA outputs, or ``None``
            (classification).
    """

    class_logits: Any
    va: Any


def task_heads(logits, task: str, num_classes: int) -> TaskOutput:
    """Split the model's outputs ``(B, task_outputs(task, K))`` into class logits and ``tanh``
    valence-arousal (see :class:`TaskOutput`).

    Raises:
        ValueError: unknown task, or ``logits`` not ``(B, task_outputs(task, K))``.
    """
    import torch

    width = task_outputs(task, num_classes)
    if logits.dim() != 2 or logits.shape[1] != width:
        raise ValueError(f"logits: expected shape (B, {width}) for task {task!r} with "
                         f"{num_classes} classes, got {tuple(logits.shape)}")
    if task == "classification":
        return TaskOutput(logits, None)
    if task == "va_regression":
        return TaskOutput(None, torch.tanh(logits))
    k = int(num_classes)
    return TaskOutput(logits[:, :k], torch.tanh(logits[:, k:k + 2]))


# --------------------------------------------------------------------------------------------
# targets from the dataset's metadata
# --------------------------------------------------------------------------------------------


@dataclass
class TaskTargets:
    """Per-sample targets of a batch: ``y`` ``(B,)`` int64 class indices, ``va`` ``(B, 2)``
    float32 (valence, arousal) or ``None``, ``identity`` ``(B,)`` int64 identity ids or ``None``."""

    y: Any
    va: Any = None
    identity: Any = None

    def subset(self, idx) -> TaskTargets:
        """The targets of the samples ``idx`` (an index tensor)."""
        return TaskTargets(
            y=self.y[idx] if self.y is not None else None,
            va=self.va[idx] if self.va is not None else None,
            identity=self.identity[idx] if self.identity is not None else None,
        )


@dataclass(frozen=True)
class StepContext:
    """Where a training step is: ``seed`` (the cell's), ``epoch``, ``batch`` (index within the
    epoch) and ``step`` (global, ``epoch * batches_per_epoch + batch``)."""

    seed: int
    epoch: int
    batch: int
    step: int


def has_identities(dataset) -> bool:
    """Whether ``dataset``'s ``SequenceInfo.subject`` names a person (True unless the dataset
    declares ``has_identities = False``)."""
    return bool(getattr(dataset, IDENTITY_DATASET_ATTR, True))


def provides_va(dataset) -> bool:
    """Whether ``dataset`` declares valence-arousal targets (``"valence_arousal"`` in
    ``provides``)."""
    return "valence_arousal" in tuple(getattr(dataset, "provides", ()))


def sequence_va(dataset, index: int) -> tuple[float, float]:
    """(valence, arousal) of sequence ``index`` from ``sequences[index].extra``.

    Raises:
        ValueError: the dataset declares no VA targets, a value is missing, not a number, not
            finite, or outside ``[-1, 1]`` (the message names the dataset, sequence and field).
    """
    name = getattr(dataset, "name", type(dataset).__name__)
    if not provides_va(dataset):
        raise ValueError(f"dataset {name!r} has no valence-arousal targets (provides "
                         f"{tuple(getattr(dataset, 'provides', ()))}); use task 'classification'")
    s = dataset.sequences[index]
    out = []
    for key in VA_KEYS:
        raw = s.extra.get(key)
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"dataset {name!r}, sequence {s.subject}/{s.sequence}: field "
                             f"{key!r} = {raw!r} is not a number") from None
        if not math.isfinite(v) or not -1.0 <= v <= 1.0:
            raise ValueError(f"dataset {name!r}, sequence {s.subject}/{s.sequence}: field "
                             f"{key!r} = {v!r} is outside [-1, 1]")
        out.append(v)
    return out[0], out[1]


def split_va(dataset, indices: Sequence[int], dtype=None):
    """``(N, 2)`` tensor of (valence, arousal) of the sequences ``indices``: float32 (training)
    unless ``dtype`` says otherwise (``torch.float64`` keeps the published values exactly, for
    evaluation and records)."""
    import torch

    return torch.tensor([sequence_va(dataset, i) for i in indices],
                        dtype=dtype or torch.float32).reshape(-1, 2)


def identity_ids(subjects: Sequence[str]):
    """``(N,)`` int64 tensor: the index of each subject in the sorted distinct subjects."""
    import torch

    names = {s: i for i, s in enumerate(sorted(set(subjects)))}
    return torch.tensor([names[s] for s in subjects], dtype=torch.long)


def check_task_data(dataset, task: str, method: str) -> None:
    """Check that ``dataset`` has what ``task`` and ``method`` need.

    Raises:
        ValueError: a VA task on a dataset without VA targets, or ``elim`` on a dataset without
            identities (or an unknown task / method).
    """
    _check_task(task)
    if method not in method_names():
        raise ValueError(f"method must be one of {method_names()}, got {method!r}")
    name = getattr(dataset, "name", type(dataset).__name__)
    if task != "classification" and not provides_va(dataset):
        raise ValueError(f"task {task!r} needs valence-arousal targets; dataset {name!r} "
                         f"provides {tuple(getattr(dataset, 'provides', ()))}")
    if method == "elim" and not has_identities(dataset):
        raise ValueError(
            f"method 'elim' matches identities and needs identity labels, but dataset {name!r} "
            "has none (its subject field is not a person). FER-Zoo would group by the first "
            "path component, which in DiffusionFER's layout is the expression folder: the "
            "'identities' would be the classes. Use method 'baseline' or 'standard'.")
    if method == "baseline" and task == "classification":
        raise ValueError("method 'baseline' is FER-Zoo's valence-arousal loss; task "
                         "'classification' has no VA outputs (use 'va_regression' or 'multitask', "
                         "or method 'standard')")


# --------------------------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------------------------


def pcc_ccc(preds, target, eps: float = 1e-8):
    """Per-dimension PCC and CCC of a batch, every moment normalised by ``N`` (ddof = 0, as
    :func:`benchmarks.measure.metrics.ccc`; Lin, Biometrics 1989, eq. 3), differentiable.

    .. math:: \\rho = \\frac{s_{xy}}{\\sqrt{s_x^2 s_y^2 + \\epsilon}}, \\quad
        \\rho_c = \\frac{2 s_{xy}}{s_x^2 + s_y^2 + (\\bar x - \\bar y)^2 + \\epsilon}

    Args:
        preds, target: ``(N, D)`` tensors, ``N >= 2``.
        eps: added to the denominators (a constant batch gives 0, not NaN).

    Returns:
        ``(pcc (D,), ccc (D,))``.
    """
    mp, mt = preds.mean(dim=0), target.mean(dim=0)
    dp, dt = preds - mp, target - mt
    sxy = (dp * dt).mean(dim=0)
    sp2, st2 = (dp * dp).mean(dim=0), (dt * dt).mean(dim=0)
    pcc = sxy / (sp2 * st2 + eps).sqrt()  # eps inside the root: a finite gradient at 0
    ccc = 2.0 * sxy / (sp2 + st2 + (mp - mt) ** 2 + eps)
    return pcc, ccc


def standard_va_loss(va, target):
    """``MSE_v + MSE_a``: the squared error of each dimension averaged over the batch, summed.

    Args:
        va, target: ``(B, 2)`` predicted and true (valence, arousal).
    """
    return ((va - target) ** 2).mean(dim=0).sum()


def fer_zoo_va_loss(va, target):
    """FER-Zoo's Baseline loss: ``MSE_v + MSE_a + 0.5 (L_PCC + L_CCC)``, ``L_PCC = 1 -
    mean(PCC_v, PCC_a)``, ``L_CCC = 1 - mean(CCC_v, CCC_a)`` (:func:`pcc_ccc`, ddof = 0). A batch
    of one sample has no correlation: only the MSE terms count.

    Args:
        va, target: ``(B, 2)`` predicted and true (valence, arousal).

    Example (hand-checked in ``tests/test_methods.py``): perfect predictions give 0.
    """
    loss = standard_va_loss(va, target)
    if va.shape[0] < 2:
        return loss
    pcc, ccc = pcc_ccc(va, target)
    return loss + 0.5 * ((1.0 - pcc.mean()) + (1.0 - ccc.mean()))


def _class_loss(class_logits, y):
    import torch.nn.functional as F

    return F.cross_entropy(class_logits, y)


def identity_shift(anchor, other, *, reg: float = 0.2, reg_m: float = 1.0):
    """ELIM's identity shift of ``other``'s features relative to the ``anchor`` identity's.

    Cost ``M_ik = 1 - cos(anchor_i, other_k)`` (cosine distance, FER-Zoo's ``Sinkhorn_Knopp``);
    marginals: the relevance weights ``a_i = relu(anchor_i . mean(other))`` and
    ``b_k = relu(other_k . mean(anchor))``, each normalised to sum 1 (uniform where all are 0;
    FER-Zoo's ``relevance_weighting = 1``; samples of weight 0 are left out of the matching); plan ``P`` = POT's entropic unbalanced optimal
    transport (``ot.unbalanced.sinkhorn_unbalanced``, entropic ``reg`` = 1/5 as FER-Zoo's
    lambda = 5, KL marginal relaxation ``reg_m``), so that samples without a good match (an
    expression the anchor does not show) carry less mass. The shift is the OT-weighted mean
    displacement of the matched pairs:

    .. math:: \\delta = \\frac{\\sum_{ik} P_{ik} (z^{o}_k - z^{a}_i)}{\\sum_{ik} P_{ik}}

    Args:
        anchor: ``(n_a, F)`` features of the anchor identity.
        other: ``(n_o, F)`` features of another identity.
        reg: entropic regularisation (> 0).
        reg_m: marginal relaxation (> 0; large values approach balanced OT).

    Returns:
        ``(F,)`` tensor, detached (as FER-Zoo's shift), on ``other``'s device and dtype.
    """
    import ot
    import torch

    za = anchor.detach().double().cpu()
    zo = other.detach().double().cpu()
    cos = torch.nn.functional.cosine_similarity(za[:, None, :], zo[None, :, :], dim=-1, eps=1e-8)
    cost = (1.0 - cos).clamp_min(0.0).numpy()

    def relevance(z, towards):
        w = torch.relu(z @ towards.mean(dim=0)).numpy()
        s = w.sum()
        return w / s if s > 0 else np.full(len(w), 1.0 / len(w))

    a, b = relevance(za, zo), relevance(zo, za)
    ia, io = np.flatnonzero(a > 0), np.flatnonzero(b > 0)  # samples of zero weight carry no mass
    plan = ot.unbalanced.sinkhorn_unbalanced(a[ia], b[io], cost[np.ix_(ia, io)], reg, reg_m)
    plan = torch.from_numpy(np.asarray(plan, dtype=np.float64))
    za, zo = za[torch.from_numpy(ia)], zo[torch.from_numpy(io)]
    mass = plan.sum()
    if not torch.isfinite(mass) or mass <= 0:
        shift = zo.mean(dim=0) - za.mean(dim=0)
    else:
        shift = (plan.sum(dim=0) @ zo - plan.sum(dim=1) @ za) / mass
    return shift.to(device=other.device, dtype=other.dtype)


def elim_warmup(step: int, start: int = 10, full: int = 200) -> float:
    """FER-Zoo's warm-up of the ELIM term (``archs/elim.py``: ``warmup_coef1 = 10``,
    ``warmup_coef2 = 200``): 0 before step ``start``, ``step / full`` until ``full``, then 1."""
    if step < start:
        return 0.0
    return min(1.0, step / full)


# --------------------------------------------------------------------------------------------
# methods
# --------------------------------------------------------------------------------------------


class Method:
    """A training method: :meth:`loss` of one batch (see the module docstring); subclasses are
    registered by their :attr:`name` with :func:`register_method`."""

    name = ""
    needs_identity = False

    def task_loss(self, heads: TaskOutput, targets: TaskTargets):
        """The loss of the task heads on ``targets`` (cross-entropy and/or the VA loss)."""
        raise NotImplementedError

    def loss(self, model, out, targets: TaskTargets, task: str, num_classes: int,
             ctx: StepContext) -> tuple[Any, dict[str, float]]:
        """The batch loss (a scalar tensor) and named parts of it (floats, for logging)."""
        heads = task_heads(out.logits.float(), task, num_classes)
        loss = self.task_loss(heads, targets)
        return loss, {"task_loss": float(loss.detach())}


M = TypeVar("M", bound=type[Method])


def register_method(cls: M) -> M:
    """Class decorator registering a :class:`Method` subclass in
    :data:`benchmarks.results.spec.METHODS` under its ``name`` attribute; returns the class.

    Raises:
        ValueError: the name is empty or already registered.
    """
    if not cls.name:
        raise ValueError(f"method class {cls.__qualname__} has no name")
    return METHODS.register(cls.name, cls)


@register_method
class StandardMethod(Method):
    """``standard``: cross-entropy on the class logits + ``MSE_v + MSE_a`` on valence-arousal."""

    name = "standard"

    def task_loss(self, heads: TaskOutput, targets: TaskTargets):
        parts = []
        if heads.class_logits is not None:
            parts.append(_class_loss(heads.class_logits, targets.y))
        if heads.va is not None:
            parts.append(standard_va_loss(heads.va, targets.va))
        return sum(parts[1:], parts[0])


@register_method
class BaselineMethod(Method):
    """``baseline``: FER-Zoo's Baseline loss (:func:`fer_zoo_va_loss`), + cross-entropy in
    ``multitask``."""

    name = "baseline"

    def task_loss(self, heads: TaskOutput, targets: TaskTargets):
        parts = []
        if heads.class_logits is not None:
            parts.append(_class_loss(heads.class_logits, targets.y))
        if heads.va is not None:
            parts.append(fer_zoo_va_loss(heads.va, targets.va))
        return sum(parts[1:], parts[0])


@register_method
class ElimMethod(BaselineMethod):
    """``elim``: the baseline loss + ``0.5 x warm-up x`` the identity-matching ERM loss.

    ERM loss of a batch: draw an anchor identity and up to ``max_identities - 1`` other
    identities among those present (a generator seeded by (seed, epoch, batch)); the anchor's
    features go through the readout as they are, each other identity's after removing its
    :func:`identity_shift`; the loss is the sum over these identities of the squared VA error
    (``MSE`` over both dimensions, FER-Zoo's ``erm_loss``) and, with a class head, the
    cross-entropy. A batch with fewer than two identities adds nothing.
    """

    name = "elim"
    needs_identity = True

    def __init__(self, max_identities: int = 5, warmup: tuple[int, int] = (10, 200),
                 reg: float = 0.2, reg_m: float = 1.0) -> None:
        self.max_identities = max_identities
        self.warmup = warmup
        self.reg = reg
        self.reg_m = reg_m

    def erm_loss(self, model, features, targets: TaskTargets, task: str, num_classes: int,
                 rng: np.random.Generator):
        """The identity-matching ERM loss (``None`` when the batch has < 2 identities).

        Args:
            model: the model; ``model.apply_readout(features (n, F)) -> (n, outputs)``.
            features: ``(B, F)`` :attr:`ForwardOutput.features`.
            targets: the batch's targets (``identity`` required).
        """
        import torch
        import torch.nn.functional as F

        ids = targets.identity
        present = sorted(set(int(i) for i in ids.tolist()))
        if len(present) < 2:
            return None
        chosen = rng.choice(present, size=min(self.max_identities, len(present)), replace=False)
        groups = [torch.nonzero(ids == int(c), as_tuple=False).flatten() for c in chosen]
        anchor = features[groups[0]]
        total = features.new_zeros(())
        for j, idx in enumerate(groups):
            z = features[idx]
            if j > 0:
                z = z - identity_shift(anchor, z, reg=self.reg, reg_m=self.reg_m)
            heads = task_heads(model.apply_readout(z).float(), task, num_classes)
            sub = targets.subset(idx)
            if heads.va is not None:
                total = total + F.mse_loss(heads.va, sub.va)
            if heads.class_logits is not None:
                total = total + _class_loss(heads.class_logits, sub.y)
        return total

    def loss(self, model, out, targets: TaskTargets, task: str, num_classes: int,
             ctx: StepContext) -> tuple[Any, dict[str, float]]:
        loss, info = super().loss(model, out, targets, task, num_classes, ctx)
        temperature = elim_warmup(ctx.step, *self.warmup)
        if temperature == 0.0:
            return loss, info
        if out.features is None:
            raise ValueError("method 'elim' needs the pre-readout features "
                             "(ForwardOutput.features); this backend does not provide them")
        if targets.identity is None:
            raise ValueError("method 'elim' needs identity labels for every training sample")
        rng = np.random.default_rng([int(ctx.seed), int(ctx.epoch), int(ctx.batch), 0xE11])
        erm = self.erm_loss(model, out.features.float(), targets, task, num_classes, rng)
        if erm is None:
            return loss, info
        info["erm_loss"] = float(erm.detach())
        return loss + 0.5 * temperature * erm, info


def get_method(name: str) -> Method:
    """The method registered as ``name`` (a fresh instance).

    Raises:
        ValueError: unknown name.
    """
    if name not in method_names():
        raise ValueError(f"method must be one of {method_names()}, got {name!r}")
    return METHODS[name]()


# --------------------------------------------------------------------------------------------
# selection and evaluation
# --------------------------------------------------------------------------------------------


def selection_score(logits, targets: TaskTargets, task: str, num_classes: int) -> dict[str, float]:
    """Model-selection figures of a split: ``accuracy`` (with a class head), ``va_ccc_mean``
    (with a VA head; NaN counts as -1) and ``score``: the accuracy (classification), the mean
    CCC (va_regression) or their mean (multitask). Higher is better."""
    from benchmarks.measure import metrics as M

    heads = task_heads(logits.float(), task, num_classes)
    out: dict[str, float] = {}
    if heads.class_logits is not None:
        out["accuracy"] = float((heads.class_logits.argmax(1) == targets.y).float().mean())
    if heads.va is not None:
        ccc = M.va_metrics(heads.va.numpy(), targets.va.numpy())["va_ccc_mean"]
        out["va_ccc_mean"] = ccc if math.isfinite(ccc) else -1.0
    parts = [out[k] for k in ("accuracy", "va_ccc_mean") if k in out]
    out["score"] = float(np.mean(parts))
    return out


def va_test_metrics(logits, va_target, task: str, num_classes: int) -> dict[str, float]:
    """VA metrics (:func:`benchmarks.measure.metrics.va_metrics`) of the test predictions, ``{}`` for
    classification.

    Args:
        logits: ``(N, task_outputs(task, K))`` the model's test outputs.
        va_target: ``(N, 2)`` true (valence, arousal).
    """
    from benchmarks.measure import metrics as M

    heads = task_heads(logits.float(), task, num_classes)
    if heads.va is None:
        return {}
    return M.va_metrics(heads.va.numpy(), np.asarray(va_target, dtype=np.float64))


def va_sample_fields(logits, va_target, task: str, num_classes: int) -> list[dict[str, Any]]:
    """Per-sample fields to add to each record prediction: ``va_pred`` (the float32 predictions
    with 9 significant digits, exact for float32, like the logits) and ``va_target`` (as given;
    pass float64 targets, :func:`split_va` with ``dtype=torch.float64``), ``[valence, arousal]``
    each; ``[]`` for classification."""
    heads = task_heads(logits.float(), task, num_classes)
    if heads.va is None:
        return []
    pred = [[float(f"{v:.9g}") for v in row] for row in heads.va.numpy().tolist()]
    tgt = np.asarray(va_target, dtype=np.float64).tolist()
    return [{"va_pred": p, "va_target": t} for p, t in zip(pred, tgt, strict=True)]


def class_predictions(logits, task: str, num_classes: int):
    """``(N,)`` predicted class indices, or ``None`` for va_regression."""
    heads = task_heads(logits, task, num_classes)
    return heads.class_logits.argmax(1) if heads.class_logits is not None else None
