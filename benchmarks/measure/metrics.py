"""Evaluation metrics: pure functions on numpy arrays (or anything ``numpy.asarray`` accepts).

Classification (``preds: (N,)`` and ``target: (N,)`` integer class indices in ``[0, K)``):

* :func:`accuracy` (= WAR, weighted average recall), :func:`uar` (unweighted average recall),
  :func:`per_class_recall`, :func:`confusion_matrix`;
* :func:`per_group_accuracy` / :func:`per_group_uar` (e.g. per lighting condition);
* :func:`accuracy_per_step` (accuracy of the readout after ``t = 1..T`` time steps).

Timing: :func:`latency_stats`. Valence-arousal regression: :func:`rmse`, :func:`ccc`, :func:`pcc`,
:func:`sagr`, and all four per dimension at once: :func:`va_metrics`. Each is computed over the
whole set (never per batch and averaged, which is what FER-Zoo's ``validate`` does for RMSE and
which differs from the RMSE of the set whenever batch errors differ). **One ddof convention:**
every moment (mean, variance, covariance) is normalised by ``N`` (ddof = 0, Lin's estimator,
numpy's ``np.var`` / ``np.cov(..., bias=True)``); PCC does not depend on it, CCC does, and mixing
the two (FER-Zoo's ``np.cov`` with ddof = 1 over ``np.std`` with ddof = 0 in its CCC, or
``torch.std`` with ddof = 1 under a mean of products in its PCC/CCC loss) scales the result by
``N/(N-1)`` or its inverse. Activity: :func:`accumulate_activity`, :func:`activity_summary` (spikes, firing rate,
synaptic operations and activation sparsity as NeuroBench defines them).

Every function validates its arguments first (``_check_*`` helpers) and raises ``ValueError`` (or
``TypeError`` for a wrong type) whose message says what was expected and what was got. Empty input
is an error for every metric: a metric of zero samples is undefined.

Formulas follow scikit-learn 1.x where a counterpart exists (the tests compare against it).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from backends.base import LayerActivity

log = logging.getLogger(__name__)

__all__ = [
    "va_metrics",
    "VA_DIMENSIONS",
    "accuracy",
    "war",
    "uar",
    "per_class_recall",
    "confusion_matrix",
    "per_group_accuracy",
    "per_group_uar",
    "accuracy_per_step",
    "latency_stats",
    "rmse",
    "ccc",
    "pcc",
    "sagr",
    "accumulate_activity",
    "activity_summary",
]


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """``x`` as a numpy array; torch tensors (on any device, with or without grad) included."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch.Tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as exc:  # ragged lists, objects numpy cannot convert
        raise TypeError(f"{name}: expected an array-like, got {type(x).__name__} ({exc})") from exc


def _check_indices(a: np.ndarray, name: str, num_classes: int | None) -> np.ndarray:
    """Validate one array of class indices of shape ``(N,)``; return it as int64."""
    if a.ndim != 1:
        raise ValueError(f"{name}: expected shape (N,), got shape {a.shape}")
    if a.dtype == bool or not (
        np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
    ):
        raise ValueError(f"{name}: expected integer class indices, got dtype {a.dtype}")
    if a.size == 0:
        raise ValueError(f"{name}: expected at least one sample, got N = 0")
    if np.issubdtype(a.dtype, np.floating):
        ok = np.isfinite(a) & (a == np.round(a))
        if not np.all(ok):
            bad = a[~ok][0].item()
            raise ValueError(f"{name}: expected integer class indices, got value {bad!r}")
    if a.min() < 0:
        raise ValueError(f"{name}: expected class indices >= 0, got {a.min().item()!r}")
    if num_classes is not None and a.max() >= num_classes:
        raise ValueError(
            f"{name}: expected class indices < num_classes = {num_classes}, "
            f"got {a.max().item()!r}"
        )
    return a.astype(np.int64)


def _check_labels(
    preds: Any, target: Any, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate class-index inputs; return them as int64 arrays of shape ``(N,)``.

    Raises:
        ValueError: not 1-D, different lengths, empty (N = 0), not integer-valued, negative, or
            ``>= num_classes``; ``num_classes`` not a positive int.
    """
    if num_classes is not None:
        num_classes = _check_num_classes(num_classes)
    p = _to_numpy(preds, "preds")
    t = _to_numpy(target, "target")
    if p.ndim == 1 and t.ndim == 1 and p.shape != t.shape:
        raise ValueError(
            f"preds and target: expected the same shape (N,), got {p.shape} and {t.shape}"
        )
    return _check_indices(p, "preds", num_classes), _check_indices(t, "target", num_classes)


def _check_num_classes(num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(f"num_classes: expected a positive int, got {num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes: expected a positive int, got {num_classes!r}")
    return int(num_classes)


def _check_groups(groups: Any, n: int) -> np.ndarray:
    g = _to_numpy(groups, "groups")
    if g.ndim != 1 or g.shape[0] != n:
        raise ValueError(f"groups: expected shape ({n},) like preds, got shape {g.shape}")
    return g


def _check_regression(preds: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate regression inputs: same shape ``(N,)`` or ``(N, D)``, N >= 1, finite floats."""
    p = _to_numpy(preds, "preds")
    t = _to_numpy(target, "target")
    for name, a in (("preds", p), ("target", t)):
        if a.ndim not in (1, 2):
            raise ValueError(f"{name}: expected shape (N,) or (N, D), got shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise ValueError(f"{name}: expected real numbers, got dtype {a.dtype}")
    if p.shape != t.shape:
        raise ValueError(f"preds and target: expected the same shape, got {p.shape} and {t.shape}")
    if p.shape[0] == 0:
        raise ValueError("preds and target: expected at least one sample, got N = 0")
    p = p.astype(np.float64)
    t = t.astype(np.float64)
    for name, a in (("preds", p), ("target", t)):
        if not np.all(np.isfinite(a)):
            bad = a[~np.isfinite(a)][0].item()
            raise ValueError(f"{name}: expected finite values, got {bad!r}")
    return p, t


def _per_output(values: np.ndarray) -> float | np.ndarray:
    """A ``(D,)`` result for ``(N, D)`` input, or a float for ``(N,)`` input (values is 1-D)."""
    return float(values[0]) if values.shape == (1,) else values


def _as_2d(a: np.ndarray) -> tuple[np.ndarray, bool]:
    return (a[:, None], True) if a.ndim == 1 else (a, False)


# --------------------------------------------------------------------------------------------
# classification
# --------------------------------------------------------------------------------------------


def accuracy(preds: Any, target: Any) -> float:
    """Accuracy, also called WAR (weighted average recall): the fraction of correct predictions.

    .. math:: \\mathrm{acc} = \\frac{1}{N} \\sum_{i=1}^{N} [\\hat y_i = y_i]

    It equals the mean of the per-class recalls weighted by the class frequencies in ``target``,
    hence "weighted average recall" (SEEN, SIGGRAPH 2023). Same as
    ``sklearn.metrics.accuracy_score``.

    Args:
        preds: ``(N,)`` predicted class indices.
        target: ``(N,)`` true class indices.

    Returns:
        A float in ``[0, 1]``.

    Raises:
        ValueError: see :func:`_check_labels` (shapes differ, N = 0, non-integer or negative).

    Example:
        >>> accuracy([0, 1, 1, 2], [0, 1, 2, 2])
        0.75
    """
    p, t = _check_labels(preds, target)
    return float(np.mean(p == t))


war = accuracy
"""Alias: WAR (weighted average recall) is the accuracy."""


def per_class_recall(preds: Any, target: Any, num_classes: int) -> np.ndarray:
    """Recall of each class: correct predictions of class k over true samples of class k.

    .. math:: R_k = \\frac{|\\{i : \\hat y_i = k, y_i = k\\}|}{|\\{i : y_i = k\\}|}

    A class absent from ``target`` has an undefined recall (0/0) and gets ``NaN``; a class absent
    from ``preds`` but present in ``target`` gets 0. Same as
    ``sklearn.metrics.recall_score(target, preds, labels=range(K), average=None,
    zero_division=np.nan)``.

    Args:
        preds: ``(N,)`` predicted class indices in ``[0, num_classes)``.
        target: ``(N,)`` true class indices in ``[0, num_classes)``.
        num_classes: ``K``.

    Returns:
        ``(K,)`` float64 array, ``NaN`` for the classes absent from ``target``.

    Raises:
        ValueError: invalid inputs (see :func:`_check_labels`) or an index ``>= num_classes``.

    Example:
        >>> per_class_recall([0, 1, 1, 1], [0, 0, 1, 1], num_classes=3).tolist()
        [0.5, 1.0, nan]
    """
    p, t = _check_labels(preds, target, num_classes)
    cm = _confusion(p, t, int(num_classes))
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)
    return recall.astype(np.float64)


def uar(preds: Any, target: Any, num_classes: int | None = None) -> float:
    """UAR (unweighted average recall, macro recall, balanced accuracy).

    .. math:: \\mathrm{UAR} = \\frac{1}{|C_y|} \\sum_{k \\in C_y} R_k

    where ``C_y`` is the set of classes **present in** ``target`` and ``R_k`` the recall of class
    ``k`` (:func:`per_class_recall`). A class absent from ``target`` has no recall and is left out
    of the mean (it neither counts as 0 nor as 1); predictions of such a class still count as
    errors for the true classes they were made on. This is exactly
    ``sklearn.metrics.balanced_accuracy_score(target, preds)`` (``adjusted=False``), which takes
    the mean over the classes with non-zero support after warning that ``y_pred`` contains classes
    not in ``y_true``.

    Args:
        preds: ``(N,)`` predicted class indices.
        target: ``(N,)`` true class indices.
        num_classes: optional ``K``, only to check that every index is ``< K``.

    Returns:
        A float in ``[0, 1]``.

    Raises:
        ValueError: invalid inputs (see :func:`_check_labels`).

    Example:
        >>> uar([0, 0, 0, 1], [0, 0, 1, 1])  # recalls 1.0 and 0.5
        0.75
    """
    p, t = _check_labels(preds, target, num_classes)
    k = int(max(p.max(), t.max())) + 1
    recall = per_class_recall(p, t, k)
    return float(np.nanmean(recall))


def _confusion(p: np.ndarray, t: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.int64)


def confusion_matrix(preds: Any, target: Any, num_classes: int) -> np.ndarray:
    """Confusion matrix: ``C[i, j]`` = number of samples of true class ``i`` predicted as ``j``.

    Rows are the true classes, columns the predicted classes, as
    ``sklearn.metrics.confusion_matrix(target, preds, labels=range(K))``.

    Args:
        preds: ``(N,)`` predicted class indices in ``[0, num_classes)``.
        target: ``(N,)`` true class indices in ``[0, num_classes)``.
        num_classes: ``K``.

    Returns:
        ``(K, K)`` int64 array of counts; it sums to ``N``.

    Raises:
        ValueError: invalid inputs (see :func:`_check_labels`) or an index ``>= num_classes``.

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 0, 1], num_classes=2).tolist()
        [[1, 1], [0, 1]]
    """
    p, t = _check_labels(preds, target, num_classes)
    return _confusion(p, t, int(num_classes))


def _group_keys(g: np.ndarray) -> list[Hashable]:
    """Distinct values of ``g`` sorted by their string form (groups may mix types)."""
    return sorted(set(g.tolist()), key=lambda v: (str(v), repr(v)))


def per_group_accuracy(
    preds: Any, target: Any, groups: Any, num_classes: int | None = None
) -> dict[str, float]:
    """Accuracy within each group of samples (e.g. each lighting condition of SEE).

    .. math:: \\mathrm{acc}_g = \\frac{1}{|I_g|} \\sum_{i \\in I_g} [\\hat y_i = y_i],
        \\quad I_g = \\{i : \\mathrm{groups}_i = g\\}

    Args:
        preds: ``(N,)`` predicted class indices.
        target: ``(N,)`` true class indices.
        groups: ``(N,)`` group of each sample (strings or ints).
        num_classes: optional ``K``, only to check that every index is ``< K``.

    Returns:
        ``{str(g): accuracy}`` for every group present, keys sorted; only groups with samples
        appear (so no value is undefined).

    Raises:
        ValueError: invalid labels (see :func:`_check_labels`) or ``groups`` not of shape ``(N,)``.

    Example:
        >>> per_group_accuracy([0, 1, 1, 0], [0, 1, 0, 0], ["hdr", "hdr", "normal", "normal"])
        {'hdr': 1.0, 'normal': 0.5}
    """
    p, t = _check_labels(preds, target, num_classes)
    g = _check_groups(groups, p.shape[0])
    out: dict[str, float] = {}
    for key in _group_keys(g):
        m = g == key
        out[str(key)] = float(np.mean(p[m] == t[m]))
    return out


def per_group_uar(
    preds: Any, target: Any, groups: Any, num_classes: int | None = None
) -> dict[str, float]:
    """UAR within each group of samples (see :func:`uar` for classes absent from a group's target).

    Args:
        preds: ``(N,)`` predicted class indices.
        target: ``(N,)`` true class indices.
        groups: ``(N,)`` group of each sample (strings or ints).
        num_classes: optional ``K``, only to check that every index is ``< K``.

    Returns:
        ``{str(g): UAR over the samples of g}`` for every group present, keys sorted.

    Raises:
        ValueError: invalid labels (see :func:`_check_labels`) or ``groups`` not of shape ``(N,)``.

    Example:
        >>> per_group_uar([0, 0, 1, 1], [0, 1, 1, 1], ["a", "a", "b", "b"])
        {'a': 0.5, 'b': 1.0}
    """
    p, t = _check_labels(preds, target, num_classes)
    g = _check_groups(groups, p.shape[0])
    return {str(key): uar(p[g == key], t[g == key]) for key in _group_keys(g)}


def accuracy_per_step(logits_per_step: Any, target: Any) -> np.ndarray:
    """Accuracy of the readout taken after ``t = 1..T`` time steps.

    .. math:: \\mathrm{acc}[t] = \\frac{1}{N} \\sum_i [\\arg\\max_k L_{i,t,k} = y_i]

    where ``L[:, t]`` is the (cumulative) readout after ``t + 1`` steps, as backends return it in
    ``ForwardOutput.logits_per_step``. Ties in ``argmax`` go to the lowest class index (numpy and
    torch agree on this).

    Args:
        logits_per_step: ``(N, T, K)`` class scores.
        target: ``(N,)`` true class indices in ``[0, K)``.

    Returns:
        ``(T,)`` float64 array of accuracies in ``[0, 1]``.

    Raises:
        ValueError: ``logits_per_step`` not 3-D with ``N, T, K >= 1``, not finite, or ``target``
            invalid / not of length ``N`` / an index ``>= K``.

    Example:
        >>> logits = [[[0.9, 0.1], [0.2, 0.8]], [[0.3, 0.7], [0.4, 0.6]]]  # N=2, T=2, K=2
        >>> accuracy_per_step(logits, [1, 1]).tolist()
        [0.5, 1.0]
    """
    x = _to_numpy(logits_per_step, "logits_per_step")
    if x.ndim != 3 or min(x.shape) == 0:
        raise ValueError(
            f"logits_per_step: expected shape (N, T, K) with N, T, K >= 1, got shape {x.shape}"
        )
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise ValueError("logits_per_step: expected finite real scores, got NaN/inf or non-numbers")
    n, _, k = x.shape
    t = _check_indices(_to_numpy(target, "target"), "target", k)
    if t.shape[0] != n:
        raise ValueError(
            f"target: expected shape ({n},) to match logits_per_step (N, T, K) = {x.shape}, "
            f"got shape {t.shape}"
        )
    pred = x.argmax(axis=2)  # (N, T)
    return (pred == t[:, None]).mean(axis=0).astype(np.float64)


# --------------------------------------------------------------------------------------------
# latency
# --------------------------------------------------------------------------------------------


def latency_stats(samples_ms: Any) -> dict[str, float]:
    """Summary of per-inference latencies.

    Percentiles use numpy's default ``method="linear"`` (Hyndman & Fan 1996, definition 7: linear
    interpolation between the order statistics at rank ``(n - 1) * q``).

    Args:
        samples_ms: ``(M,)`` latencies in milliseconds, one per timed inference (after warm-up).

    Returns:
        ``{"latency_ms_p50", "latency_ms_p95", "latency_ms_mean"}`` in milliseconds.

    Raises:
        ValueError: not 1-D, empty, non-finite or negative values.

    Example:
        >>> latency_stats([1.0, 2.0, 3.0, 4.0, 5.0])
        {'latency_ms_p50': 3.0, 'latency_ms_p95': 4.8, 'latency_ms_mean': 3.0}
    """
    s = _to_numpy(samples_ms, "samples_ms")
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"samples_ms: expected shape (M,) with M >= 1, got shape {s.shape}")
    if not np.issubdtype(s.dtype, np.number):
        raise ValueError(f"samples_ms: expected numbers in ms, got dtype {s.dtype}")
    s = s.astype(np.float64)
    if not np.all(np.isfinite(s)) or s.min() < 0:
        bad = s[~np.isfinite(s) | (s < 0)][0].item()
        raise ValueError(f"samples_ms: expected finite latencies >= 0 ms, got {bad!r}")
    return {
        "latency_ms_p50": float(np.percentile(s, 50, method="linear")),
        "latency_ms_p95": float(np.percentile(s, 95, method="linear")),
        "latency_ms_mean": float(np.mean(s)),
    }


# --------------------------------------------------------------------------------------------
# valence-arousal regression
# --------------------------------------------------------------------------------------------


def rmse(preds: Any, target: Any) -> float | np.ndarray:
    """Root mean squared error.

    .. math:: \\mathrm{RMSE} = \\sqrt{\\frac{1}{N} \\sum_i (\\hat y_i - y_i)^2}

    Args:
        preds: ``(N,)`` or ``(N, D)`` predictions (e.g. D = 2: valence, arousal).
        target: same shape as ``preds``.

    Returns:
        A float for ``(N,)`` input, a ``(D,)`` array (one value per output) for ``(N, D)``.

    Raises:
        ValueError: shapes differ, N = 0, or non-finite values.

    Example:
        >>> rmse([0.0, 0.0], [3.0, 4.0])  # sqrt((9 + 16) / 2)
        3.5355339059327378
    """
    p, t = _check_regression(preds, target)
    (p2, _), (t2, _) = _as_2d(p), _as_2d(t)
    return _per_output(np.sqrt(np.mean((p2 - t2) ** 2, axis=0)))


def pcc(preds: Any, target: Any) -> float | np.ndarray:
    """Pearson correlation coefficient.

    .. math:: \\rho = \\frac{s_{xy}}{s_x s_y}

    with ``s`` the (co)variances (the normalisation cancels). Undefined (``NaN``, with a logged
    warning) when ``preds`` or ``target`` is constant.

    Args:
        preds: ``(N,)`` or ``(N, D)`` predictions.
        target: same shape as ``preds``.

    Returns:
        A float in ``[-1, 1]`` (or ``NaN``) for ``(N,)`` input, a ``(D,)`` array for ``(N, D)``.

    Raises:
        ValueError: shapes differ, N = 0, or non-finite values.

    Example:
        >>> round(pcc([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]), 4)
        0.9934
    """
    p, t = _check_regression(preds, target)
    (x, _), (y, _) = _as_2d(p), _as_2d(t)
    dx = x - x.mean(axis=0)
    dy = y - y.mean(axis=0)
    num = (dx * dy).sum(axis=0)
    den = np.sqrt((dx**2).sum(axis=0) * (dy**2).sum(axis=0))
    if np.any(den == 0):
        log.warning("pcc: preds or target is constant; Pearson correlation undefined (NaN)")
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return _per_output(r)


def ccc(preds: Any, target: Any) -> float | np.ndarray:
    """Lin's concordance correlation coefficient (Lin, Biometrics 45(1), 1989, eq. 3).

    .. math:: \\rho_c = \\frac{2 s_{xy}}{s_x^2 + s_y^2 + (\\bar x - \\bar y)^2}

    with the moments normalised by ``N`` (Lin's estimator: ``s_x^2 = 1/N sum (x_i - x_bar)^2``,
    ``s_xy = 1/N sum (x_i - x_bar)(y_i - y_bar)``). Equals the PCC scaled down by the location and
    scale shifts between ``preds`` and ``target``. Undefined (``NaN``, with a logged warning) only
    when both are the same constant.

    Args:
        preds: ``(N,)`` or ``(N, D)`` predictions.
        target: same shape as ``preds``.

    Returns:
        A float in ``[-1, 1]`` (or ``NaN``) for ``(N,)`` input, a ``(D,)`` array for ``(N, D)``.

    Raises:
        ValueError: shapes differ, N = 0, or non-finite values.

    Example:
        >>> ccc([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
        1.0
        >>> round(ccc([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]), 6)  # 2*(2/3) / (2/3 + 2/3 + 1) = 4/7
        0.571429
    """
    p, t = _check_regression(preds, target)
    (x, _), (y, _) = _as_2d(p), _as_2d(t)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    sxy = ((x - mx) * (y - my)).mean(axis=0)
    sx2 = ((x - mx) ** 2).mean(axis=0)
    sy2 = ((y - my) ** 2).mean(axis=0)
    den = sx2 + sy2 + (mx - my) ** 2
    if np.any(den == 0):
        log.warning("ccc: preds and target are the same constant; CCC undefined (NaN)")
    r = np.where(den > 0, 2.0 * sxy / np.where(den > 0, den, 1.0), np.nan)
    return _per_output(r)


def sagr(preds: Any, target: Any) -> float | np.ndarray:
    """Sign agreement (SAGR): the fraction of samples whose prediction has the target's sign.

    .. math:: \\mathrm{SAGR} = \\frac{1}{N} \\sum_i [\\mathrm{sign}(\\hat y_i)
        = \\mathrm{sign}(y_i)]

    as defined for valence and arousal in AffectNet (Mollahosseini et al., IEEE Trans. Affective
    Computing 2017, Sec. 5) and used by FER-Zoo. ``sign(0) = 0``, so a zero matches only a zero.

    Args:
        preds: ``(N,)`` or ``(N, D)`` predictions (valence/arousal in ``[-1, 1]``).
        target: same shape as ``preds``.

    Returns:
        A float in ``[0, 1]`` for ``(N,)`` input, a ``(D,)`` array for ``(N, D)``.

    Raises:
        ValueError: shapes differ, N = 0, or non-finite values.

    Example:
        >>> sagr([0.5, -0.2, 0.1, -0.3], [0.4, 0.3, 0.2, -0.1])
        0.75
    """
    p, t = _check_regression(preds, target)
    (x, _), (y, _) = _as_2d(p), _as_2d(t)
    return _per_output(np.mean(np.sign(x) == np.sign(y), axis=0))


VA_DIMENSIONS = ("valence", "arousal")
"""Column order of valence-arousal arrays ``(N, 2)`` throughout the suite."""


def va_metrics(preds: Any, target: Any) -> dict[str, float]:
    """RMSE, CCC, PCC and SAGR of valence and arousal over the whole set.

    Args:
        preds: ``(N, 2)`` predicted (valence, arousal), e.g. ``tanh`` of the model's VA outputs.
        target: ``(N, 2)`` true (valence, arousal) in ``[-1, 1]``.

    Returns:
        ``{"va_rmse_valence", "va_rmse_arousal", "va_ccc_valence", "va_ccc_arousal",
        "va_pcc_valence", "va_pcc_arousal", "va_sagr_valence", "va_sagr_arousal"}``, floats
        (``NaN`` where PCC/CCC is undefined, see :func:`pcc`, :func:`ccc`), plus
        ``"va_ccc_mean"`` (the mean of the two CCCs, the usual single VA figure).

    Raises:
        ValueError: not ``(N, 2)``, N = 0, or non-finite values.

    Example:
        >>> m = va_metrics([[0.5, -0.5], [-0.5, 0.5]], [[0.5, -0.5], [-0.5, 0.5]])
        >>> m["va_rmse_valence"], m["va_ccc_arousal"], m["va_sagr_valence"]
        (0.0, 1.0, 1.0)
    """
    p, t = _check_regression(preds, target)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"preds and target: expected shape (N, 2) (valence, arousal), got {p.shape}")
    out: dict[str, float] = {}
    for name, fn in (("rmse", rmse), ("ccc", ccc), ("pcc", pcc), ("sagr", sagr)):
        values = np.asarray(fn(p, t), dtype=np.float64)
        for d, dim in enumerate(VA_DIMENSIONS):
            out[f"va_{name}_{dim}"] = float(values[d])
    out["va_ccc_mean"] = float(np.mean([out["va_ccc_valence"], out["va_ccc_arousal"]]))
    return out


# --------------------------------------------------------------------------------------------
# activity: spikes, firing rate, synaptic operations
# --------------------------------------------------------------------------------------------


def accumulate_activity(batches: Iterable[Sequence[LayerActivity]]) -> list[LayerActivity]:
    """Sum per-layer activity over batches (one list of :class:`LayerActivity` per forward pass).

    ``spikes``, ``effective_acs``, ``effective_macs`` and ``dense_ops`` are summed per layer
    ``name``; ``kind``, ``neurons`` and ``time_steps`` describe one forward pass of the layer and
    must agree between batches (they are per-sample and per-pass quantities, not counts).
    Layers keep their first-seen order. The inputs are not modified.

    Args:
        batches: e.g. ``[out.activity for out in outputs]``.

    Returns:
        One :class:`LayerActivity` per layer name, summed over the batches.

    Raises:
        TypeError: an element is not a :class:`LayerActivity`.
        ValueError: a layer's ``kind``, ``neurons`` or ``time_steps`` differs between batches, or
            a layer name appears twice in one batch.

    Example:
        >>> a = LayerActivity("conv1", "conv", time_steps=4, neurons=10, spikes=3.0)
        >>> b = LayerActivity("conv1", "conv", time_steps=4, neurons=10, spikes=5.0)
        >>> accumulate_activity([[a], [b]])[0].spikes
        8.0
    """
    out: dict[str, LayerActivity] = {}
    for bi, batch in enumerate(batches):
        seen: set[str] = set()
        for la in batch:
            if not isinstance(la, LayerActivity):
                raise TypeError(
                    f"batch {bi}: expected LayerActivity elements, got {type(la).__name__}"
                )
            if la.name in seen:
                raise ValueError(f"batch {bi}: layer {la.name!r} appears twice in one batch")
            seen.add(la.name)
            if la.name not in out:
                out[la.name] = replace(la)
                continue
            acc = out[la.name]
            for attr in ("kind", "neurons", "time_steps"):
                if getattr(acc, attr) != getattr(la, attr):
                    raise ValueError(
                        f"batch {bi}: layer {la.name!r} has {attr} = {getattr(la, attr)!r}, "
                        f"expected {getattr(acc, attr)!r} as in the earlier batches"
                    )
            acc.spikes += la.spikes
            acc.effective_acs += la.effective_acs
            acc.effective_macs += la.effective_macs
            acc.dense_ops += la.dense_ops
            acc.input_nonzeros += la.input_nonzeros
    return list(out.values())


def activity_summary(layers: Sequence[LayerActivity], n_samples: int) -> dict[str, Any]:
    """Per-sample activity figures from per-layer counts summed over ``n_samples`` samples.

    Definitions (per-layer counts as in :class:`backends.base.LayerActivity`; "output layers" are
    the layers with recorded outputs, ``neurons > 0`` and ``time_steps > 0``; the readout, which
    has no neuron, has none):

    * ``spikes_per_sample`` = sum over layers of ``spikes`` / ``n_samples``, and
      ``spikes_per_sample_per_layer`` = ``{name: spikes / n_samples}`` for the output layers;
    * ``firing_rate`` = sum spikes / sum ``neurons * time_steps * n_samples`` over the output
      layers: the probability that a neuron emits a spike at a time step (for an ANN, the
      fraction of non-zero activations); ``None`` when no layer has recorded outputs;
    * ``activation_sparsity`` = ``1 - firing_rate`` = zero activations / all activations over
      all output layers, time steps and samples: NeuroBench's ``ActivationSparsity`` (Yik et al.,
      Nature Communications 2025; neurobench 2.3.0 ``metrics/workload/activation_sparsity.py``);
    * ``effective_acs_per_sample``, ``effective_macs_per_sample``, ``dense_ops_per_sample``:
      NeuroBench's ``SynapticOperations`` ("Effective_ACs", "Effective_MACs", "Dense") per sample,
      summed over all layers (the readout included);
    * ``synops_per_sample`` = ``effective_acs_per_sample + effective_macs_per_sample``.

    Args:
        layers: per-layer activity summed over ``n_samples`` samples (see
            :func:`accumulate_activity`).
        n_samples: number of samples the counts cover, ``>= 1``.

    Returns:
        A dict with the keys above (floats; ``spikes_per_sample_per_layer`` a dict of floats).

    Raises:
        ValueError: ``n_samples`` not a positive int, or a negative count in a layer.
        TypeError: an element of ``layers`` is not a :class:`LayerActivity`.

    Example:
        >>> la = LayerActivity("conv1", "conv", time_steps=2, neurons=10, spikes=8.0,
        ...                    effective_acs=100.0, dense_ops=400.0)
        >>> s = activity_summary([la], n_samples=2)
        >>> s["spikes_per_sample"], s["firing_rate"], s["synops_per_sample"]
        (4.0, 0.2, 50.0)
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples: expected a positive int, got {n_samples!r}")
    total_spikes = acs = macs = dense = 0.0
    active = total_outputs = 0.0
    per_layer: dict[str, float] = {}
    for la in layers:
        if not isinstance(la, LayerActivity):
            raise TypeError(f"layers: expected LayerActivity elements, got {type(la).__name__}")
        for attr in ("spikes", "effective_acs", "effective_macs", "dense_ops", "neurons",
                     "time_steps"):
            v = getattr(la, attr)
            if not math.isfinite(float(v)) or v < 0:
                raise ValueError(f"layer {la.name!r}: {attr} must be finite and >= 0, got {v!r}")
        total_spikes += la.spikes
        acs += la.effective_acs
        macs += la.effective_macs
        dense += la.dense_ops
        if la.neurons > 0 and la.time_steps > 0:
            per_layer[la.name] = la.spikes / n_samples
            active += la.spikes
            total_outputs += float(la.neurons) * la.time_steps * n_samples
    firing_rate = active / total_outputs if total_outputs > 0 else None
    if firing_rate is not None and firing_rate > 1.0:
        log.warning("activity_summary: firing rate %.3f > 1 (spikes exceed neurons x T x samples); "
                    "check the neurons/time_steps the backend recorded", firing_rate)
    return {
        "spikes_per_sample": total_spikes / n_samples,
        "spikes_per_sample_per_layer": per_layer,
        "firing_rate": firing_rate,
        "activation_sparsity": None if firing_rate is None else 1.0 - firing_rate,
        "effective_acs_per_sample": acs / n_samples,
        "effective_macs_per_sample": macs / n_samples,
        "dense_ops_per_sample": dense / n_samples,
        "synops_per_sample": (acs + macs) / n_samples,
    }
