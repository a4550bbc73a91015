"""benchmarks.measure.metrics against scikit-learn / numpy references and hand-computed values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from backends.base import LayerActivity
from benchmarks.measure import metrics as M

SEEDS = [0, 1, 2, 3, 4]


def _random_labels(seed: int, n: int = 200, k: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, k, size=n)
    # predictions correct ~60 % of the time, so recalls vary between classes
    preds = np.where(rng.random(n) < 0.6, target, rng.integers(0, k, size=n))
    return preds, target


def _sk_balanced(preds: np.ndarray, target: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        return skm.balanced_accuracy_score(target, preds)


# ------------------------------------------------------------------ classification vs sklearn


def _war_reference(preds: np.ndarray, target: np.ndarray) -> float:
    """WAR from its definition: sum over classes c of (n_c / N) * recall_c, with each class's recall
    from scikit-learn and the class counts n_c of the test samples (classes absent from the target
    have weight 0)."""
    labels = np.unique(target)
    recall = skm.recall_score(target, preds, labels=labels, average=None)
    n_c = np.array([np.sum(target == c) for c in labels])
    return float(np.sum(n_c / target.size * recall))


@pytest.mark.parametrize("seed", SEEDS)
def test_war_is_class_share_weighted_recall(seed: int) -> None:
    preds, target = _random_labels(seed)
    war = M.war(preds, target)
    assert war == pytest.approx(_war_reference(preds, target))
    assert war == pytest.approx(skm.accuracy_score(target, preds))


def test_war_by_hand() -> None:
    target = np.array([0, 0, 0, 1, 2, 2])
    preds = np.array([0, 0, 1, 1, 2, 0])
    # recalls: class 0: 2/3, class 1: 1/1, class 2: 1/2; class shares 3/6, 1/6, 2/6
    # WAR = 3/6 * 2/3 + 1/6 * 1 + 2/6 * 1/2 = 1/3 + 1/6 + 1/6 = 2/3 (= 4 correct of 6)
    assert M.war(preds, target) == pytest.approx(2 / 3)
    # UAR = (2/3 + 1 + 1/2) / 3 = 13/18: the two averages differ when classes are unbalanced
    assert M.uar(preds, target) == pytest.approx(13 / 18)


@pytest.mark.parametrize("seed", SEEDS)
def test_classification_metrics_match_sklearn(seed: int) -> None:
    preds, target = _random_labels(seed)
    k = 7
    assert M.accuracy(preds, target) == pytest.approx(skm.accuracy_score(target, preds))
    assert M.war(preds, target) == pytest.approx(_war_reference(preds, target))
    assert M.uar(preds, target) == pytest.approx(_sk_balanced(preds, target))
    np.testing.assert_allclose(
        M.per_class_recall(preds, target, k),
        skm.recall_score(target, preds, labels=list(range(k)), average=None, zero_division=np.nan),
    )
    np.testing.assert_array_equal(
        M.confusion_matrix(preds, target, k), skm.confusion_matrix(target, preds, labels=range(k))
    )


def test_class_absent_from_predictions() -> None:
    target = np.array([0, 0, 1, 1, 2, 2, 2])
    preds = np.array([0, 1, 1, 1, 0, 1, 0])  # class 2 never predicted
    assert M.accuracy(preds, target) == pytest.approx(3 / 7)
    # recalls: class 0: 1/2, class 1: 2/2, class 2: 0/3  -> UAR = 0.5
    assert M.uar(preds, target) == pytest.approx(0.5)
    assert M.uar(preds, target) == pytest.approx(_sk_balanced(preds, target))
    np.testing.assert_allclose(M.per_class_recall(preds, target, 3), [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(
        M.confusion_matrix(preds, target, 3), skm.confusion_matrix(target, preds, labels=[0, 1, 2])
    )


def test_class_absent_from_target() -> None:
    target = np.array([0, 0, 1, 1])
    preds = np.array([0, 2, 1, 2])  # class 2 predicted but never true
    # recalls: class 0: 1/2, class 1: 1/2; class 2 undefined and left out -> UAR = 0.5
    assert M.uar(preds, target) == pytest.approx(0.5)
    assert M.uar(preds, target) == pytest.approx(_sk_balanced(preds, target))
    recall = M.per_class_recall(preds, target, 4)
    np.testing.assert_allclose(recall[:2], [0.5, 0.5])
    assert np.isnan(recall[2]) and np.isnan(recall[3])
    np.testing.assert_allclose(
        recall,
        skm.recall_score(target, preds, labels=[0, 1, 2, 3], average=None, zero_division=np.nan),
    )
    cm = M.confusion_matrix(preds, target, 4)
    assert cm.sum() == 4 and cm[2].sum() == 0 and cm[:, 2].sum() == 2


def test_single_class() -> None:
    target = np.zeros(5, dtype=int)
    assert M.accuracy(target, target) == 1.0
    assert M.uar(target, target) == 1.0
    preds = np.array([0, 0, 1, 0, 1])
    assert M.uar(preds, target) == pytest.approx(_sk_balanced(preds, target)) == pytest.approx(0.6)
    np.testing.assert_array_equal(M.confusion_matrix(preds, target, 2), [[3, 2], [0, 0]])


@pytest.mark.parametrize(
    "fn", [M.accuracy, M.uar, lambda p, t: M.per_class_recall(p, t, 3),
           lambda p, t: M.confusion_matrix(p, t, 3)]
)
def test_empty_input_is_an_error(fn) -> None:
    with pytest.raises(ValueError, match="N = 0"):
        fn(np.array([], dtype=int), np.array([], dtype=int))


def test_label_validation_messages() -> None:
    with pytest.raises(ValueError, match=r"same shape.*\(3,\) and \(2,\)"):
        M.accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match=r"preds: expected shape \(N,\)"):
        M.accuracy([[0, 1]], [0, 1])
    with pytest.raises(ValueError, match="target: expected class indices >= 0, got -1"):
        M.accuracy([0, 1], [0, -1])
    with pytest.raises(ValueError, match="preds: expected integer class indices, got value 0.5"):
        M.accuracy([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="expected class indices < num_classes = 2, got 2"):
        M.confusion_matrix([0, 2], [0, 1], 2)
    with pytest.raises(ValueError, match="num_classes: expected a positive int, got 0"):
        M.per_class_recall([0], [0], 0)
    with pytest.raises(ValueError, match="dtype <U1"):
        M.accuracy(["a"], ["a"])
    assert M.accuracy(np.array([1.0, 2.0]), [1, 1]) == 0.5  # integral floats are accepted


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_per_group_metrics_match_sklearn_on_subsets(seed: int) -> None:
    preds, target = _random_labels(seed, n=300)
    rng = np.random.default_rng(100 + seed)
    groups = rng.choice(["normal", "overexposure", "low_light", "hdr"], size=300)
    acc = M.per_group_accuracy(preds, target, groups)
    uar = M.per_group_uar(preds, target, groups, num_classes=7)
    assert list(acc) == sorted(["normal", "overexposure", "low_light", "hdr"]) == list(uar)
    for g in acc:
        m = groups == g
        assert acc[g] == pytest.approx(skm.accuracy_score(target[m], preds[m]))
        assert uar[g] == pytest.approx(_sk_balanced(preds[m], target[m]))
    with pytest.raises(ValueError, match=r"groups: expected shape \(300,\)"):
        M.per_group_accuracy(preds, target, groups[:-1])
    with pytest.raises(ValueError, match="num_classes = 5"):
        M.per_group_uar(preds, target, groups, num_classes=5)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_accuracy_per_step(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, steps, k = 50, 6, 4
    logits = rng.normal(size=(n, steps, k))
    target = rng.integers(0, k, size=n)
    got = M.accuracy_per_step(logits, target)
    assert got.shape == (steps,)
    for t in range(steps):
        assert got[t] == pytest.approx(skm.accuracy_score(target, logits[:, t].argmax(axis=1)))
    with pytest.raises(ValueError, match=r"target: expected shape \(50,\)"):
        M.accuracy_per_step(logits, target[:-1])
    with pytest.raises(ValueError, match=r"expected shape \(N, T, K\)"):
        M.accuracy_per_step(logits[:, 0], target)
    with pytest.raises(ValueError, match="num_classes = 4"):
        M.accuracy_per_step(logits, np.full(n, 4))


def test_accuracy_per_step_takes_torch_tensors_with_grad() -> None:
    torch = pytest.importorskip("torch")
    logits = torch.tensor([[[0.9, 0.1], [0.2, 0.8]], [[0.3, 0.7], [0.4, 0.6]]], requires_grad=True)
    # step 1: argmax (0, 1) vs target (1, 1) -> 1/2; step 2: (1, 1) -> 2/2
    np.testing.assert_allclose(M.accuracy_per_step(logits, torch.tensor([1, 1])), [0.5, 1.0])


# ------------------------------------------------------------------ latency


def test_latency_stats_hand_values() -> None:
    s = M.latency_stats([5.0, 1.0, 4.0, 2.0, 3.0])
    # linear interpolation: p95 at rank (5 - 1) * 0.95 = 3.8 -> 4 + 0.8 * (5 - 4) = 4.8
    assert s == {"latency_ms_p50": 3.0, "latency_ms_p95": pytest.approx(4.8),
                 "latency_ms_mean": 3.0}
    assert M.latency_stats([7.5]) == {"latency_ms_p50": 7.5, "latency_ms_p95": 7.5,
                                      "latency_ms_mean": 7.5}
    with pytest.raises(ValueError, match="M >= 1"):
        M.latency_stats([])
    with pytest.raises(ValueError, match="got -1.0"):
        M.latency_stats([1.0, -1.0])


# ------------------------------------------------------------------ valence-arousal


def _ccc_by_definition(x: np.ndarray, y: np.ndarray) -> float:
    # Lin (1989): 2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2), moments with 1/N
    s_xy = np.cov(x, y, bias=True)[0, 1]
    return 2 * s_xy / (np.var(x) + np.var(y) + (np.mean(x) - np.mean(y)) ** 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_regression_metrics_match_references(seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = rng.uniform(-1, 1, size=(120, 2))  # valence, arousal
    preds = 0.7 * target + rng.normal(0.1, 0.3, size=target.shape)
    for d in range(2):
        p, t = preds[:, d], target[:, d]
        assert M.rmse(p, t) == pytest.approx(math.sqrt(skm.mean_squared_error(t, p)))
        assert M.pcc(p, t) == pytest.approx(np.corrcoef(p, t)[0, 1])
        assert M.ccc(p, t) == pytest.approx(_ccc_by_definition(p, t))
        assert M.sagr(p, t) == pytest.approx(np.mean((p > 0) == (t > 0)))
    # (N, D) input gives one value per output
    np.testing.assert_allclose(M.rmse(preds, target),
                               np.sqrt(skm.mean_squared_error(target, preds,
                                                              multioutput="raw_values")))
    np.testing.assert_allclose(M.ccc(preds, target),
                               [_ccc_by_definition(preds[:, d], target[:, d]) for d in range(2)])
    np.testing.assert_allclose(M.pcc(preds, target),
                               [np.corrcoef(preds[:, d], target[:, d])[0, 1] for d in range(2)])


def test_regression_hand_values_and_edges() -> None:
    # x = [1, 2, 3], y = [2, 4, 6]: s_x^2 = 2/3, s_y^2 = 8/3, s_xy = 4/3, (2 - 4)^2 = 4
    # CCC = (8/3) / (2/3 + 8/3 + 4) = 8/22; PCC = 1 (perfectly linear)
    assert M.ccc([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(8 / 22)
    assert M.pcc([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert M.rmse([0.0, 0.0], [3.0, 4.0]) == pytest.approx(math.sqrt(12.5))
    # signs: (+,+) agree, (-,+) no, (+,+) agree, (-,-) agree, (0, 0) agree -> 4/5
    assert M.sagr([0.5, -0.2, 0.1, -0.3, 0.0], [0.4, 0.3, 0.2, -0.1, 0.0]) == pytest.approx(0.8)
    assert math.isnan(M.pcc([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(M.ccc([2.0, 2.0], [2.0, 2.0]))
    assert M.ccc([1.0, 1.0], [2.0, 2.0]) == 0.0  # constant but different: defined, 0
    with pytest.raises(ValueError, match="N = 0"):
        M.rmse([], [])
    with pytest.raises(ValueError, match="same shape"):
        M.ccc([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        M.pcc([1.0, float("nan")], [1.0, 2.0])


# ------------------------------------------------------------------ activity


def _layers(scale: float = 1.0) -> list[LayerActivity]:
    return [
        # conv1: 100 neurons x 4 steps; binary input -> ACs
        LayerActivity("conv1", "conv", time_steps=4, neurons=100, spikes=80 * scale,
                      effective_acs=1000 * scale, dense_ops=4000 * scale),
        # fc1: 10 neurons x 4 steps; real-valued input -> MACs
        LayerActivity("fc1", "linear", time_steps=4, neurons=10, spikes=20 * scale,
                      effective_macs=300 * scale, dense_ops=800 * scale),
        # readout: no neuron, ops only
        LayerActivity("fc_out", "linear", time_steps=0, neurons=0,
                      effective_acs=50 * scale, dense_ops=200 * scale),
    ]


def test_activity_summary_hand_values() -> None:
    s = M.activity_summary(_layers(), n_samples=2)
    assert s["spikes_per_sample"] == 50.0  # (80 + 20) / 2
    assert s["spikes_per_sample_per_layer"] == {"conv1": 40.0, "fc1": 10.0}
    # firing rate = 100 spikes / ((100 * 4 + 10 * 4) neurons*steps * 2 samples) = 100 / 880
    assert s["firing_rate"] == pytest.approx(100 / 880)
    assert s["activation_sparsity"] == pytest.approx(780 / 880)
    assert s["effective_acs_per_sample"] == 525.0  # (1000 + 50) / 2
    assert s["effective_macs_per_sample"] == 150.0  # 300 / 2
    assert s["synops_per_sample"] == 675.0
    assert s["dense_ops_per_sample"] == 2500.0  # (4000 + 800 + 200) / 2


def test_activity_summary_without_outputs_and_validation() -> None:
    s = M.activity_summary([_layers()[2]], n_samples=1)
    assert s["firing_rate"] is None and s["activation_sparsity"] is None
    assert s["synops_per_sample"] == 50.0
    with pytest.raises(ValueError, match="n_samples: expected a positive int, got 0"):
        M.activity_summary(_layers(), 0)
    bad = LayerActivity("x", "conv", time_steps=1, neurons=1, spikes=-1.0)
    with pytest.raises(ValueError, match="layer 'x': spikes"):
        M.activity_summary([bad], 1)


def test_accumulate_activity_sums_counts_over_batches() -> None:
    total = M.accumulate_activity([_layers(1.0), _layers(2.0)])
    assert [la.name for la in total] == ["conv1", "fc1", "fc_out"]
    assert total[0].spikes == 240.0 and total[0].effective_acs == 3000.0
    assert total[0].time_steps == 4 and total[0].neurons == 100  # per pass, not summed
    assert total[1].effective_macs == 900.0 and total[2].dense_ops == 600.0
    # summary over 3 + 3 samples equals the summary of one batch scaled
    s = M.activity_summary(total, n_samples=6)
    assert s["firing_rate"] == pytest.approx(300 / (440 * 6))
    first = _layers(1.0)
    M.accumulate_activity([first, first])
    assert first[0].spikes == 80.0  # inputs untouched
    other = [LayerActivity("conv1", "conv", time_steps=5, neurons=100)]
    with pytest.raises(ValueError, match="layer 'conv1' has time_steps = 5, expected 4"):
        M.accumulate_activity([_layers(), other])
