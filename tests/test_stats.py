"""reports.stats: every statistic against an independent reference.

References: scipy functions called directly here (binomial quantiles, ``scipy.stats.bootstrap``,
``t.interval``, ``wilcoxon``, ``ttest_rel``, ``binomtest``, ``friedmanchisquare``,
``studentized_range``), small examples worked out by hand in the comments, and the published
worked example of Demsar (JMLR 7, 2006, Sec. 3.2.2 and Table 6).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from benchmarks.measure import metrics as M
from reports import stats as S

# ------------------------------------------------------------------ bootstrap intervals


def test_bootstrap_accuracy_matches_the_binomial_quantiles() -> None:
    # The bootstrap distribution of an accuracy is exactly Binomial(N, acc) / N, so with many
    # resamples the percentile interval tends to its 2.5% and 97.5% quantiles.
    n, k = 56, 40
    target = np.zeros(n, dtype=int)
    preds = np.r_[np.zeros(k, dtype=int), np.ones(n - k, dtype=int)]
    lo_ref, hi_ref = sps.binom.ppf([0.025, 0.975], n, k / n) / n
    iv = S.bootstrap_ci(preds, target, n_resamples=20_000)
    assert iv.method == "bootstrap" and iv.n == n and iv.confidence == 0.95
    assert iv.low == pytest.approx(lo_ref, abs=1 / n + 1e-12)
    assert iv.high == pytest.approx(hi_ref, abs=1 / n + 1e-12)
    # the default 2,000 resamples: within one sample of the same quantiles
    d = S.bootstrap_ci(preds, target)
    assert abs(d.low - lo_ref) <= 1 / n + 1e-12 and abs(d.high - hi_ref) <= 1 / n + 1e-12
    # the interval in the brief: about +-12 points around 71.4 % for N = 56
    assert 0.20 < d.high - d.low < 0.28


def test_bootstrap_uar_agrees_with_scipy_bootstrap() -> None:
    rng = np.random.default_rng(1)
    target = rng.integers(0, 4, size=120)
    preds = np.where(rng.random(120) < 0.6, target, rng.integers(0, 4, size=120))

    def uar(p, t):
        return M.uar(p, t)

    ref = sps.bootstrap((preds, target), uar, paired=True, vectorized=False,
                        n_resamples=4000, method="percentile", confidence_level=0.95,
                        random_state=np.random.default_rng(7)).confidence_interval
    ours = S.bootstrap_ci(preds, target, "uar", n_resamples=4000)
    # two independent Monte Carlo estimates of the same percentiles
    assert ours.low == pytest.approx(ref.low, abs=0.02)
    assert ours.high == pytest.approx(ref.high, abs=0.02)
    assert ours.low < M.uar(preds, target) < ours.high


def test_bootstrap_by_hand_seeded_and_validated() -> None:
    assert S.bootstrap_ci([2, 2, 2], [2, 2, 2]).format(scale=100) == "[100.0, 100.0]"
    assert S.bootstrap_ci([0, 0, 0], [1, 1, 1], "uar").format(scale=100) == "[0.0, 0.0]"
    a = S.bootstrap_ci([0, 1, 1, 0, 1], [0, 1, 0, 0, 0], "uar")
    assert a == S.bootstrap_ci([0, 1, 1, 0, 1], [0, 1, 0, 0, 0], "uar")  # seeded: same numbers
    with pytest.raises(ValueError, match="statistic"):
        S.bootstrap_ci([0], [0], "f1")
    with pytest.raises(ValueError, match="same shape"):
        S.bootstrap_ci([0, 1], [0])
    with pytest.raises(ValueError, match="N >= 1"):
        S.bootstrap_ci([], [])


def test_paired_bootstrap_of_a_difference() -> None:
    # A right on 30 of 40, B on 20; the interval of acc_A - acc_B contains 0.25 and is
    # narrower than for independent samples when the errors are correlated
    a = np.r_[np.ones(30, bool), np.zeros(10, bool)]
    b = np.r_[np.ones(20, bool), np.zeros(20, bool)]
    iv = S.bootstrap_diff_ci(a, b, n_resamples=5000)
    assert iv.low < 0.25 < iv.high
    # here every discordant sample favours A: the difference is b / N with b ~ Bin(40, 0.25)
    lo, hi = sps.binom.ppf([0.025, 0.975], 40, 0.25) / 40
    assert iv.low == pytest.approx(lo, abs=1 / 40 + 1e-12)
    assert iv.high == pytest.approx(hi, abs=1 / 40 + 1e-12)


def test_t_interval_against_scipy_and_by_hand() -> None:
    # [1, 3]: mean 2, s = sqrt(2), s / sqrt(2) = 1, t(0.975, 1) = 12.706
    iv = S.t_interval([1.0, 3.0])
    assert (iv.low, iv.high) == pytest.approx((2 - 12.7062, 2 + 12.7062), abs=1e-4)
    x = [0.61, 0.70, 0.65, 0.58, 0.72]
    ref = sps.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=sps.sem(x))
    iv = S.t_interval(x)
    assert (iv.low, iv.high) == pytest.approx(ref, rel=1e-12)
    assert iv.method == "t" and iv.n == 5
    assert S.t_interval([0.5]) is None
    with pytest.raises(ValueError, match="finite"):
        S.t_interval([0.5, float("nan")])


# ------------------------------------------------------------------ paired tests over cells


def test_rank_biserial_by_hand() -> None:
    # |d| ranks 1..6; negative: the 4 -> R- = 4, R+ = 1 + 2 + 3 + 5 + 6 = 17; r = 13 / 21
    assert S.rank_biserial([1, 2, 3, -4, 5, 6]) == pytest.approx(13 / 21)
    # ties: |d| = 1, 1, 2 -> ranks 1.5, 1.5, 3; R+ = 1.5 + 3, R- = 1.5 -> r = 3 / 6
    assert S.rank_biserial([1, -1, 2]) == pytest.approx(0.5)
    assert S.rank_biserial([0, 0, 3]) == 1.0  # zeros dropped
    assert S.rank_biserial([0, 0]) == 0.0
    # Kerby's identity with scipy's Wilcoxon statistic (the smaller rank sum, here R- = 4)
    t = sps.wilcoxon([1, 2, 3, -4, 5, 6]).statistic
    assert S.rank_biserial([1, 2, 3, -4, 5, 6]) == pytest.approx(1 - 2 * t / 21)


def test_paired_tests_need_six_pairs() -> None:
    # with 5 pairs all in one direction the exact two-sided Wilcoxon p is 2 / 2**5 = 0.0625
    assert sps.wilcoxon([1, 2, 3, 4, 5], method="exact").pvalue == pytest.approx(0.0625)
    r = S.paired_tests([0.9, 0.8, 0.7, 0.6, 0.5], [0.5, 0.5, 0.5, 0.5, 0.4])
    assert r.reason is not None and "n too small for a paired test" in r.reason
    assert "n = 5 < 6" in r.reason
    assert r.wilcoxon_p is None and r.t_p is None
    assert r.mean_diff == pytest.approx(0.22)
    assert r.diff_ci is not None  # the difference and its interval are still given


def test_paired_tests_against_scipy() -> None:
    a = [0.71, 0.64, 0.69, 0.75, 0.62, 0.70, 0.66]
    b = [0.60, 0.66, 0.61, 0.70, 0.55, 0.69, 0.57]  # d = .11, -.02, .08, .05, .07, .01, .09
    d = np.subtract(a, b)
    r = S.paired_tests(a, b)
    assert r.reason is None and r.n == 7
    w = sps.wilcoxon(a, b, method="exact")  # no ties, no zeros: exact
    t = sps.ttest_rel(a, b)
    assert r.wilcoxon_method == "exact"
    assert r.wilcoxon_p == pytest.approx(w.pvalue) and r.wilcoxon_stat == pytest.approx(w.statistic)
    assert r.t_p == pytest.approx(t.pvalue) and r.t_stat == pytest.approx(t.statistic)
    ci = t.confidence_interval()
    assert (r.diff_ci.low, r.diff_ci.high) == pytest.approx((ci.low, ci.high))
    assert r.mean_diff == pytest.approx(d.mean())
    assert r.rank_biserial == pytest.approx(S.rank_biserial(d))
    # six pairs all favouring A: the smallest exact two-sided p, 2 / 64, is below 0.05
    six = S.paired_tests([2, 3, 4, 5, 6, 7], [1, 1, 1, 1, 1, 1])
    assert six.wilcoxon_p == pytest.approx(2 / 64) and six.rank_biserial == 1.0
    # ties among |d|: the normal approximation, as scipy would pick
    tied = S.paired_tests([2, 2, 3, 3, 4, 4], [1, 1, 1, 1, 1, 1])
    assert tied.wilcoxon_method == "approx"
    assert tied.wilcoxon_p == pytest.approx(
        sps.wilcoxon([2, 2, 3, 3, 4, 4], [1] * 6, method="approx").pvalue)
    same = S.paired_tests([0.5] * 6, [0.5] * 6)
    assert same.wilcoxon_p == 1.0 and same.t_p is None and same.rank_biserial == 0.0


# ------------------------------------------------------------------ McNemar, Holm


def test_mcnemar_exact_by_hand_and_against_binomtest() -> None:
    # b = 2, c = 8: p = 2 * P(X <= 2), X ~ Bin(10, 1/2) = 2 * (1 + 10 + 45) / 1024
    a = [1] * 2 + [0] * 8 + [1] * 5 + [0] * 3
    b = [0] * 2 + [1] * 8 + [1] * 5 + [0] * 3
    r = S.mcnemar_exact(a, b)
    assert (r.b, r.c, r.n) == (2, 8, 18)
    assert r.p == pytest.approx(112 / 1024)
    assert r.p == pytest.approx(sps.binomtest(2, 10, 0.5).pvalue)
    assert r.diff == pytest.approx((2 - 8) / 18)
    # b = 0, c = 6: p = 2 / 64
    assert S.mcnemar_exact([0] * 6, [1] * 6).p == pytest.approx(2 / 64)
    # no discordant pair: nothing against H0
    assert S.mcnemar_exact([1, 0], [1, 0]).p == 1.0


def test_holm_by_hand() -> None:
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> max 0.06;
    # at 0.05 Holm rejects the hypotheses with p = 0.005 and 0.01 only
    assert S.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert S.holm([0.01, None, 0.02]) == [0.02, None, 0.02]  # m = 2 tests made
    assert S.holm([0.6, 0.9]) == [1.0, 1.0]  # capped at 1
    # a tiny p-value keeps its size: 3 x 4.2e-17 and 2 x 1e-14, not rounded to 0
    assert S.holm([4.2e-17, 1e-14, 0.5]) == pytest.approx([1.26e-16, 2e-14, 0.5], rel=1e-9, abs=0)
    assert S.holm([]) == []
    with pytest.raises(ValueError, match=r"pvalues\[0\]"):
        S.holm([1.5])


# ------------------------------------------------------------------ ranking (Demsar 2006)

# Demsar (2006), Sec. 3.2.2, Table 6: C4.5 and three variants on 14 data sets; published average
# ranks 3.143, 2.000, 2.893, 1.964; chi2_F = 9.28, F_F = 3.69; Nemenyi CD (alpha 0.05) = 1.25.
DEMSAR_RANKS = [3.143, 2.000, 2.893, 1.964]


def test_friedman_reproduces_demsars_worked_example() -> None:
    r = S.friedman_from_ranks(DEMSAR_RANKS, n=14)
    assert r.chi2 == pytest.approx(9.28, abs=0.01)
    assert r.ff == pytest.approx(3.69, abs=0.01)
    assert r.p_ff == pytest.approx(sps.f.sf(r.ff, 3, 39))  # df (k - 1, (k - 1)(N - 1))
    assert r.p_ff < 0.05  # Demsar: "we can reject the null hypothesis"
    assert S.nemenyi_cd(4, 14) == pytest.approx(1.25, abs=0.005)


def test_friedman_equals_scipy_without_ties_and_ranks_by_hand() -> None:
    rng = np.random.default_rng(3)
    scores = rng.random((8, 4))
    r = S.friedman(scores)
    ref = sps.friedmanchisquare(*scores.T)
    assert r.chi2 == pytest.approx(ref.statistic) and r.p_chi2 == pytest.approx(ref.pvalue)
    # ranks with a tie: (0.9, 0.8, 0.8) -> 1, 2.5, 2.5; (0.7, 0.9, 0.6) -> 2, 1, 3
    assert S.average_ranks([[0.9, 0.8, 0.8], [0.7, 0.9, 0.6]]).tolist() == [1.5, 1.75, 2.75]
    assert S.average_ranks([[1.0, 2.0]], higher_is_better=False).tolist() == [1.0, 2.0]
    # perfect agreement over N = 3: ranks 1, 2, 3; chi2 = N (k - 1) = 6, F_F undefined
    perfect = S.friedman([[3, 2, 1]] * 3)
    assert perfect.chi2 == pytest.approx(6.0) and perfect.ff is None


def test_nemenyi_q_table_is_the_studentized_range_over_sqrt2() -> None:
    for alpha, row in S.NEMENYI_Q.items():
        for k, q in row.items():
            ref = sps.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
            assert q == pytest.approx(ref, abs=0.0015), (alpha, k)
    # k > 10 falls back to scipy: q_0.05(11) = 3.219 / Demsar's formula
    assert S.nemenyi_cd(11, 5) == pytest.approx(
        sps.studentized_range.ppf(0.95, 11, np.inf) / math.sqrt(2) * math.sqrt(11 * 12 / 30))


def test_cd_cliques_by_hand() -> None:
    # CD = 1: 1.0 and 1.5 connected, 3.0 and 3.2 connected, 1.5 -> 3.0 is 1.5 >= CD
    assert S.cd_cliques([1.0, 1.5, 3.0, 3.2], 1.0) == [(0, 1), (2, 3)]
    # overlapping groups: 1-1.8 (0, 1), 1.8-2.6 (1, 2)
    assert S.cd_cliques([1.0, 1.8, 2.6], 1.0) == [(0, 1), (1, 2)]
    assert S.cd_cliques([2.0, 1.0], 0.5) == []  # every pair significantly different
    assert S.cd_cliques([3.0, 1.0, 2.0], 5.0) == [(1, 2, 0)]  # one group, in rank order


# ------------------------------------------------------------------ from records


def _rec(fold: int, seed: int, correct: list[bool], *, ids=None, lighting=None) -> dict:
    ids = ids or [f"s{fold}/{i:03d}" for i in range(len(correct))]
    preds = [{"sequence_id": i, "label": 0, "pred": 0 if c else 1, "logits": [0.0, 0.0]}
             for i, c in zip(ids, correct, strict=True)]
    if lighting:
        for p, g in zip(preds, lighting, strict=True):
            p["lighting"] = g
    acc = float(np.mean(correct))
    return {"cell": {"fold": fold, "seed": seed}, "metrics": {"war": acc, "accuracy": acc},
            "predictions": preds}


def test_group_interval_picks_t_over_cells_or_bootstrap_over_samples() -> None:
    one = _rec(0, 0, [True] * 20 + [False] * 8)
    iv = S.group_interval([one], "war")
    assert iv.method == "bootstrap" and iv.n == 28
    assert iv == S.bootstrap_ci([0] * 20 + [1] * 8, [0] * 28)
    two = [one, _rec(1, 0, [True] * 10 + [False] * 18)]
    iv2 = S.group_interval(two, "war")
    assert iv2.method == "t" and iv2 == S.t_interval([20 / 28, 10 / 28])
    bare = {"cell": {}, "metrics": {"war": 0.5}}
    assert S.group_interval([bare], "war") is None  # one cell, no predictions
    lit = _rec(0, 0, [True, False, True, True], lighting=["hdr", "hdr", "normal", None])
    lit["metrics"]["per_lighting_accuracy"] = {"hdr": 0.5, "normal": 1.0}
    assert S.group_interval([lit], "per_lighting_accuracy", "hdr").n == 2


def test_compare_rows_chooses_the_test() -> None:
    # one common cell with predictions: exact McNemar on its 28 samples (b = 6, c = 1)
    a = _rec(0, 0, [True] * 6 + [False] * 1 + [True] * 11 + [False] * 10)
    b = _rec(0, 0, [False] * 6 + [True] * 1 + [True] * 11 + [False] * 10)
    c = S.compare_rows("A", [a], "B", [b])
    assert c.test == "McNemar exact" and c.n == 1 and c.n_samples == 28
    assert c.p == pytest.approx(sps.binomtest(6, 7, 0.5).pvalue)
    assert c.diff == pytest.approx(5 / 28) and c.effect == ("discordant b/c", "6/1")
    # the same samples in another order pair by sequence id
    b_shuffled = dict(b, predictions=b["predictions"][::-1])
    assert S.compare_rows("A", [a], "B", [b_shuffled]).p == c.p
    # two seeds of one fold share their samples: no pooled McNemar, n too small
    a2, b2 = _rec(0, 1, [True] * 28), _rec(0, 1, [False] * 28)
    c2 = S.compare_rows("A", [a, a2], "B", [b, b2])
    assert c2.test is None and "n too small" in c2.reason and "share test samples" in c2.reason
    # no common (fold, seed)
    assert S.compare_rows("A", [a], "B", [_rec(1, 0, [True])]).reason.startswith("no common")
    # 6 folds: Wilcoxon over cells
    ra = [_rec(f, 0, [True] * (20 + f) + [False] * (8 - f)) for f in range(6)]
    rb = [_rec(f, 0, [True] * (10 + 2 * f) + [False] * (18 - 2 * f)) for f in range(6)]
    cw = S.compare_rows("A", ra, "B", rb)
    assert cw.test == "Wilcoxon signed-rank (exact)" and cw.n == 6
    assert cw.p == pytest.approx(2 / 64) and cw.diff == pytest.approx(7.5 / 28)  # mean of 10..5
    assert cw.effect == ("rank-biserial r", 1.0)
    holmed = S.holm_table([c, cw])
    assert [h.p_holm for h in holmed] == pytest.approx(S.holm([c.p, cw.p]))
    assert holmed[1].significant() is (holmed[1].p_holm <= 0.05)


# ------------------------------------------------------------------ clustered samples (subjects)


def _by_loop_cluster_bootstrap(correct, clusters, n_resamples, seed):
    """Reference: draw K cluster labels per resample from the same generator call as the
    module, then concatenate the drawn clusters' samples one by one and average them."""
    names = sorted(set(clusters))
    members = {c: [i for i, x in enumerate(clusters) if x == c] for c in names}
    idx = np.random.default_rng(seed).integers(0, len(names), size=(n_resamples, len(names)))
    values = []
    for row in idx:
        pooled = [correct[i] for j in row for i in members[names[j]]]
        values.append(sum(pooled) / len(pooled))
    return np.percentile(values, [2.5, 97.5])


def test_cluster_bootstrap_by_hand_two_subjects() -> None:
    # subject a: 4 of 4 right, b: 0 of 4. Two draws of two subjects: (a, a) -> 1 with p 1/4,
    # (a, b) or (b, a) -> 1/2 with p 1/2, (b, b) -> 0 with p 1/4; so the 2.5th percentile is 0
    # and the 97.5th is 1 (each extreme has far more than 2.5 % of the mass)
    preds, target = [1] * 8, [1] * 4 + [0] * 4
    iv = S.cluster_bootstrap_ci(preds, target, list("aaaabbbb"))
    assert (iv.low, iv.high) == (0.0, 1.0)
    assert iv.method == "cluster bootstrap" and iv.n == 8 and iv.n_clusters == 2
    # the same 8 samples as independent draws: Binomial(8, 1/2) / 8 -> [1/8, 7/8]
    iid = S.bootstrap_ci(preds, target)
    assert (iid.low, iid.high) == (0.125, 0.875)
    # unequal sizes: a has 1 sample (right), b has 3 (wrong): the ratio estimator gives
    # (a, a) -> 1, (a, b) -> 1 / 4, (b, b) -> 0; P(1/4) = 1/2 and the median is 1/4
    iv2 = S.cluster_bootstrap_ci([1, 1, 1, 1], [1, 0, 0, 0], list("abbb"), n_resamples=4000)
    assert (iv2.low, iv2.high) == (0.0, 1.0)
    values = np.array([1.0, 0.25, 0.25, 0.0])
    assert np.median(values) == 0.25


def test_cluster_bootstrap_matches_a_loop_and_is_wider_when_subjects_are_correlated() -> None:
    # 30 subjects x 8 sequences; each subject has its own accuracy (a face the model reads
    # well or badly): a strong between-subject spread
    rng = np.random.default_rng(3)
    p_subject = rng.choice([0.15, 0.5, 0.9], size=30)
    clusters = [f"S{k:03d}" for k in range(30) for _ in range(8)]
    correct = np.concatenate([rng.random(8) < p for p in p_subject])
    target = np.zeros(correct.size, dtype=int)
    preds = np.where(correct, 0, 1)
    ours = S.cluster_bootstrap_ci(preds, target, clusters, n_resamples=500, seed=11)
    ref = _by_loop_cluster_bootstrap(list(correct), clusters, 500, 11)
    np.testing.assert_allclose([ours.low, ours.high], ref, rtol=0, atol=1e-12)
    iid = S.bootstrap_ci(preds, target)
    clustered = S.cluster_bootstrap_ci(preds, target, clusters)
    assert clustered.low < correct.mean() < clustered.high
    # sequences of one subject are not independent here: the interval over subjects is wider
    # (the design effect 1 + (m - 1) ICC is large with m = 8 and this spread)
    assert clustered.high - clustered.low > 1.5 * (iid.high - iid.low)
    # subjects that do not differ: no wider than the iid interval (up to Monte Carlo noise)
    flat = rng.random(240) < 0.6
    a = S.cluster_bootstrap_ci(np.where(flat, 0, 1), target, clusters)
    b = S.bootstrap_ci(np.where(flat, 0, 1), target)
    assert (a.high - a.low) < 1.25 * (b.high - b.low)


def test_cluster_bootstrap_of_singletons_is_the_iid_bootstrap_and_uar() -> None:
    rng = np.random.default_rng(5)
    target = rng.integers(0, 3, size=50)
    preds = np.where(rng.random(50) < 0.7, target, rng.integers(0, 3, size=50))
    ids = [f"s{i:03d}" for i in range(50)]  # sorted in sample order: the same draws
    for stat in ("accuracy", "uar"):
        a = S.cluster_bootstrap_ci(preds, target, ids, stat)
        b = S.bootstrap_ci(preds, target, stat)
        assert a.low == pytest.approx(b.low, abs=1e-12) and a.high == pytest.approx(b.high, abs=1e-12)
    # UAR over subjects by a loop: mean recall over the classes present in each resample
    clusters = [f"S{i // 5:02d}" for i in range(50)]
    names = sorted(set(clusters))
    idx = np.random.default_rng(0).integers(0, 10, size=(300, 10))
    vals = []
    for row in idx:
        take = np.concatenate([np.flatnonzero(np.array(clusters) == names[j]) for j in row])
        vals.append(M.uar(preds[take], target[take]))
    ref = np.percentile(vals, [2.5, 97.5])
    ours = S.cluster_bootstrap_ci(preds, target, clusters, "uar", n_resamples=300)
    np.testing.assert_allclose([ours.low, ours.high], ref, atol=1e-12)
    with pytest.raises(ValueError, match="clusters"):
        S.cluster_bootstrap_ci(preds, target, clusters[:-1])
    with pytest.raises(ValueError, match="n_resamples"):
        S.cluster_bootstrap_ci(preds, target, clusters, n_resamples=10)


def test_cluster_bootstrap_diff_by_loop() -> None:
    rng = np.random.default_rng(9)
    clusters = [f"S{k:02d}" for k in range(12) for _ in range(7)]
    a = rng.random(84) < 0.7
    b = rng.random(84) < 0.5
    ours = S.cluster_bootstrap_diff_ci(a, b, clusters, n_resamples=400, seed=2)
    names = sorted(set(clusters))
    idx = np.random.default_rng(2).integers(0, 12, size=(400, 12))
    vals = []
    for row in idx:
        take = np.concatenate([np.flatnonzero(np.array(clusters) == names[j]) for j in row])
        vals.append(a[take].mean() - b[take].mean())
    np.testing.assert_allclose([ours.low, ours.high], np.percentile(vals, [2.5, 97.5]),
                               atol=1e-12)
    assert ours.n_clusters == 12 and ours.n == 84


def test_cluster_sign_flip_test_by_hand_and_as_mcnemar() -> None:
    # d = (b_k - c_k) = (2, -1, 3), S = 4. The 8 sign patterns give S* = +-2 +-1 +-3:
    # 6, 4, 0, -2, 2, 0, -4, -6; |S*| >= 4 for 4 of them: p = 1/2
    a = [1, 1, 0, 1, 1, 1]
    b = [0, 0, 1, 0, 0, 0]
    r = S.cluster_sign_flip_test(a, b, list("aabccc"))
    assert (r.b, r.c, r.n, r.n_clusters) == (5, 1, 6, 3)
    assert r.p == 0.5 and r.diff == pytest.approx(4 / 6)
    # ... whereas McNemar on the 6 samples as if independent: b = 5, c = 1 -> p = 14 / 64
    assert S.mcnemar_exact(a, b).p == pytest.approx(14 / 64)
    # clusters of one sample: the exact McNemar (binomial) test
    rng = np.random.default_rng(4)
    for _ in range(5):
        x, y = rng.random(40) < 0.7, rng.random(40) < 0.5
        one = S.cluster_sign_flip_test(x, y, [f"{i:02d}" for i in range(40)])
        assert one.p == pytest.approx(S.mcnemar_exact(x, y).p, rel=1e-9)
    # identical models: every d_k = 0, p = 1
    assert S.cluster_sign_flip_test(a, a, list("aabccc")).p == 1.0
    # against brute-force enumeration of the 2^K sign patterns (K = 10)
    clusters = [f"S{k}" for k in range(10) for _ in range(6)]
    x, y = rng.random(60) < 0.75, rng.random(60) < 0.45
    d = np.array([int(np.sum(x[6 * k:6 * k + 6] & ~y[6 * k:6 * k + 6]))
                  - int(np.sum(~x[6 * k:6 * k + 6] & y[6 * k:6 * k + 6])) for k in range(10)])
    signs = np.array([[1 if (m >> k) & 1 else -1 for k in range(10)] for m in range(1024)])
    brute = np.mean(np.abs(signs @ d) >= abs(d.sum()))
    assert S.cluster_sign_flip_test(x, y, clusters).p == pytest.approx(brute, rel=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        S.cluster_sign_flip_test([1], [1, 0], ["a"])


def _subject_rec(fold: int, seed: int, correct: list[bool], subjects: list[str]) -> dict:
    rec = _rec(fold, seed, correct, ids=[f"{s}/{i:03d}" for i, s in enumerate(subjects)])
    for p, s in zip(rec["predictions"], subjects, strict=True):
        p["subject"] = s
    return rec


def test_records_with_subjects_use_the_subject_bootstrap_and_test() -> None:
    subjects = [f"S{k:02d}" for k in range(6) for _ in range(4)]
    ca = [True] * 4 + [True] * 4 + [True, True, False, False] + [False] * 4 + [True] * 8
    cb = [False] * 4 + [True] * 4 + [False] * 4 + [False] * 4 + [True] * 4 + [True, False] * 2
    a, b = _subject_rec(0, 0, ca, subjects), _subject_rec(0, 0, cb, subjects)
    iv = S.group_interval([a], "war")
    assert iv == S.cluster_bootstrap_ci(np.where(ca, 0, 1), [0] * 24, subjects)
    assert iv.n_clusters == 6
    c = S.compare_rows("A", [a], "B", [b])
    assert c.test == S.SUBJECT_TEST and c.n_subjects == 6 and c.n_samples == 24
    # d_k = (4, 0, 2, 0, 0, 2): the zeros flip to themselves; of the 8 sign patterns of
    # (4, 2, 2) only all-plus and all-minus reach |S*| >= S = 8: p = 2/8
    assert c.p == pytest.approx(2 / 8) and c.effect == ("discordant b/c", "8/0")
    assert c.diff_ci == S.cluster_bootstrap_diff_ci(ca, cb, subjects)
    # records without the field: the iid bootstrap and McNemar
    plain_a = _rec(0, 0, ca, ids=[p["sequence_id"] for p in a["predictions"]])
    plain_b = _rec(0, 0, cb, ids=[p["sequence_id"] for p in b["predictions"]])
    assert S.group_interval([plain_a], "war").method == "bootstrap"
    assert S.compare_rows("A", [plain_a], "B", [plain_b]).test == "McNemar exact"
    # cells that share samples (two seeds) pool over subjects: one cluster per subject
    a2, b2 = _subject_rec(0, 1, ca, subjects), _subject_rec(0, 1, cb, subjects)
    c2 = S.compare_rows("A", [a, a2], "B", [b, b2])
    assert c2.test == S.SUBJECT_TEST and c2.n_samples == 48 and c2.n_subjects == 6
    assert c2.p == pytest.approx(2 / 8)  # every d_k doubled: the same sign-flip p


# ------------------------------------------------------------------ pinned by loops and enumeration


def _sign_flip_by_enumeration(correct_a, correct_b, clusters):
    """Reference: every one of the 2^K sign patterns of the per-subject ``d_k = b_k - c_k``
    enumerated; p = the fraction whose |sum| reaches the observed |sum|."""
    import itertools

    names = sorted(set(clusters))
    d = []
    for name in names:
        k = [i for i, c in enumerate(clusters) if c == name]
        d.append(sum(bool(correct_a[i]) and not correct_b[i] for i in k)
                 - sum(bool(correct_b[i]) and not correct_a[i] for i in k))
    s_obs = abs(sum(d))
    hits = sum(abs(sum(s * v for s, v in zip(signs, d, strict=True))) >= s_obs
               for signs in itertools.product((1, -1), repeat=len(d)))
    return hits / 2 ** len(d)


def test_cluster_sign_flip_test_is_symmetric_and_exact_when_b_is_below_c() -> None:
    # the by-hand case with the models swapped: d = (-2, 1, -3), S = -4; |S*| >= 4 for the
    # same 4 of the 8 patterns: p = 1/2 (a one-sided or sign-losing statistic gives 1 here)
    a = [1, 1, 0, 1, 1, 1]
    b = [0, 0, 1, 0, 0, 0]
    ab = S.cluster_sign_flip_test(a, b, list("aabccc"))
    ba = S.cluster_sign_flip_test(b, a, list("aabccc"))
    assert (ba.b, ba.c) == (1, 5) and ba.diff == pytest.approx(-4 / 6)
    assert ba.p == ab.p == 0.5
    # unequal subjects, B better: d = (0 - 2, 1 - 0, 0 - 3, 0 - 1) = (-2, 1, -3, -1), S = -5.
    # Of the 16 patterns of +-2 +-1 +-3 +-1, the sums >= 5 are 2+1+3+1 = 7, 2+1+3-1 = 5 and
    # 2-1+3+1 = 5 (every pattern with -3 or -2 is <= 3); with their negations 6 of 16 = 3/8
    a2 = [0, 0, 1, 0, 0, 0, 0, 1, 1]
    b2 = [1, 1, 0, 1, 1, 1, 1, 1, 1]
    sub2 = list("aabcccdee")  # e: both right, d_e = 0
    r = S.cluster_sign_flip_test(a2, b2, sub2)
    assert (r.b, r.c, r.n_clusters) == (1, 6, 5)
    assert r.p == pytest.approx(6 / 16)
    assert r.p == pytest.approx(_sign_flip_by_enumeration(a2, b2, sub2))
    assert S.cluster_sign_flip_test(b2, a2, sub2).p == r.p
    # random cases in both directions, against the enumeration and swapped
    rng = np.random.default_rng(12)
    for trial in range(8):
        sizes = rng.integers(1, 7, size=7)
        clusters = [f"S{k}" for k, m in enumerate(sizes) for _ in range(m)]
        pa, pb = (0.4, 0.7) if trial % 2 else (0.7, 0.4)  # B better in half of the cases
        x = rng.random(len(clusters)) < pa
        y = rng.random(len(clusters)) < pb
        p = S.cluster_sign_flip_test(x, y, clusters).p
        assert p == pytest.approx(_sign_flip_by_enumeration(x, y, clusters), rel=1e-12)
        assert S.cluster_sign_flip_test(y, x, clusters).p == pytest.approx(p, rel=1e-12)
    # the one-sample-per-subject case with b < c is McNemar's exact test: b = 1, c = 6
    # -> 2 * P(X <= 1), X ~ Bin(7, 1/2) = 2 * 8 / 128
    one = S.cluster_sign_flip_test(a2, b2, [str(i) for i in range(9)])
    assert one.p == pytest.approx(16 / 128)


def test_mcnemar_is_symmetric() -> None:
    a = [1] * 2 + [0] * 8 + [1] * 5 + [0] * 3
    b = [0] * 2 + [1] * 8 + [1] * 5 + [0] * 3
    assert S.mcnemar_exact(b, a).p == S.mcnemar_exact(a, b).p == pytest.approx(112 / 1024)
    r = S.mcnemar_exact(b, a)
    assert (r.b, r.c) == (8, 2) and r.diff == pytest.approx(6 / 18)


def test_cluster_bootstrap_pools_samples_over_unequal_subjects() -> None:
    # subjects of 1 to 12 sequences whose accuracy falls with their size: the pooled ratio
    # sum hits / sum sizes differs from the mean of the per-subject accuracies
    rng = np.random.default_rng(21)
    sizes = [1, 1, 2, 3, 5, 8, 12, 12, 2, 1]
    clusters = [f"S{k:02d}" for k, m in enumerate(sizes) for _ in range(m)]
    correct = np.concatenate([rng.random(m) < (0.95 if m <= 2 else 0.3) for m in sizes])
    target = np.zeros(correct.size, dtype=int)
    preds = np.where(correct, 0, 1)
    for conf in (0.95, 0.5):
        ours = S.cluster_bootstrap_ci(preds, target, clusters, n_resamples=700, seed=4,
                                      confidence=conf)
        names = sorted(set(clusters))
        idx = np.random.default_rng(4).integers(0, len(names), size=(700, len(names)))
        values = []
        for row in idx:
            hits = sum(int(correct[i]) for j in row for i, c in enumerate(clusters)
                       if c == names[j])
            n = sum(1 for j in row for c in clusters if c == names[j])
            values.append(hits / n)
        q = 100 * (1 - conf) / 2
        ref = np.percentile(values, [q, 100 - q])
        np.testing.assert_allclose([ours.low, ours.high], ref, rtol=0, atol=1e-12)
    # paired difference with the same unequal subjects, by the same loop
    other = np.concatenate([rng.random(m) < 0.6 for m in sizes])
    ours = S.cluster_bootstrap_diff_ci(correct, other, clusters, n_resamples=500, seed=8)
    idx = np.random.default_rng(8).integers(0, len(names), size=(500, len(names)))
    vals = []
    for row in idx:
        take = [i for j in row for i, c in enumerate(clusters) if c == names[j]]
        vals.append((correct[take].sum() - other[take].sum()) / len(take))
    np.testing.assert_allclose([ours.low, ours.high], np.percentile(vals, [2.5, 97.5]),
                               atol=1e-12)


def test_cluster_bootstrap_exact_quantiles_of_a_known_distribution() -> None:
    # a: 1 sequence, right; b: 3 sequences, wrong. The pooled accuracy of a resample of two
    # subjects is (a, a) -> 1 (prob 1/4), (a, b) or (b, a) -> 1/4 (prob 1/2), (b, b) -> 0
    # (prob 1/4). The 40th and 60th percentiles (confidence 0.2) lie inside the middle half of
    # the mass: both are exactly 1/4 (the mean of the subjects' accuracies would give 1/2).
    # The 10th and 90th (confidence 0.8) lie inside the outer quarters: exactly 0 and 1.
    args = ([1, 1, 1, 1], [1, 0, 0, 0], list("abbb"))
    mid = S.cluster_bootstrap_ci(*args, confidence=0.2)
    assert (mid.low, mid.high) == (0.25, 0.25)
    outer = S.cluster_bootstrap_ci(*args, confidence=0.8)
    assert (outer.low, outer.high) == (0.0, 1.0)
    # the paired difference: A right on a only, B right on b only: d = (1, -3) over sizes
    # (1, 3): (a, a) -> 1, (a, b) -> -2/4, (b, b) -> -1; the middle half is exactly -1/2
    d = S.cluster_bootstrap_diff_ci([1, 0, 0, 0], [0, 1, 1, 1], list("abbb"), confidence=0.2)
    assert (d.low, d.high) == (-0.5, -0.5)
    # UAR with one class per subject: a (class 0, 1 of 1 right), b (class 1, 0 of 3 right):
    # (a, b) -> mean(1, 0) = 1/2; (a, a) -> 1 (only class 0 present); (b, b) -> 0
    u = S.cluster_bootstrap_ci([0, 0, 0, 0], [0, 1, 1, 1], list("abbb"), "uar", confidence=0.2)
    assert (u.low, u.high) == (0.5, 0.5)


def test_bootstrap_over_samples_matches_a_loop_on_the_same_draws() -> None:
    # the module's documented draws: one rng.integers(0, N, size=(B, N)) of default_rng(seed)
    rng = np.random.default_rng(2)
    target = rng.integers(0, 3, size=37)
    preds = np.where(rng.random(37) < 0.6, target, rng.integers(0, 3, size=37))
    idx = np.random.default_rng(5).integers(0, 37, size=(300, 37))
    acc = [float(np.mean(preds[row] == target[row])) for row in idx]
    uar = [M.uar(preds[row], target[row]) for row in idx]
    for stat, vals in (("accuracy", acc), ("uar", uar)):
        for conf in (0.95, 0.8):
            q = 100 * (1 - conf) / 2
            ours = S.bootstrap_ci(preds, target, stat, n_resamples=300, seed=5, confidence=conf)
            np.testing.assert_allclose([ours.low, ours.high], np.percentile(vals, [q, 100 - q]),
                                       atol=1e-12, err_msg=f"{stat} {conf}")
    a, b = rng.random(37) < 0.7, rng.random(37) < 0.5
    diff = [float(a[row].mean() - b[row].mean()) for row in idx]
    ours = S.bootstrap_diff_ci(a, b, n_resamples=300, seed=5)
    np.testing.assert_allclose([ours.low, ours.high], np.percentile(diff, [2.5, 97.5]),
                               atol=1e-12)
    # exact quantiles of a known distribution: one sample out of two right, resampled
    # twice: 0 (1/4), 1/2 (1/2), 1 (1/4); confidence 0.2 -> the 40th and 60th percentiles = 1/2
    mid = S.bootstrap_ci([0, 1], [0, 0], confidence=0.2)
    assert (mid.low, mid.high) == (0.5, 0.5)


def test_t_interval_other_levels_and_holm_by_hand() -> None:
    # [0.2, 0.4, 0.6]: mean 0.4, s = 0.2, s / sqrt(3) = 0.11547; t(0.95, 2) = 2.919986
    iv = S.t_interval([0.2, 0.4, 0.6], confidence=0.9)
    half = 2.919986 * 0.2 / math.sqrt(3)
    assert (iv.low, iv.high) == pytest.approx((0.4 - half, 0.4 + half), abs=1e-6)
    # Holm's running maximum: sorted (0.001, 0.015, 0.02) -> 3 x 0.001 = 0.003,
    # 2 x 0.015 = 0.03, 1 x 0.02 = 0.02 -> adjusted 0.003, 0.03, max(0.03, 0.02) = 0.03
    assert S.holm([0.02, 0.001, 0.015]) == pytest.approx([0.03, 0.003, 0.03])
    # ties keep their order of input and the same adjusted value: 0.01 x 2 = 0.02 both
    assert S.holm([0.01, 0.01]) == pytest.approx([0.02, 0.02])
