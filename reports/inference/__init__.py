"""Statistical inference for the leaderboards: intervals, bootstraps, paired and exact tests, Holm's
correction and rankings, as pure functions of arrays (the record-level comparisons that use them
are :mod:`reports.stats`). Each module's docstring gives its methods and sources, each function's
its formula:

* :mod:`reports.inference.intervals`: the percentile bootstrap over test samples
  (:func:`~reports.inference.intervals.bootstrap_ci`, 2,000 resamples, seed 0), its paired form
  for a difference, and the Student-t interval of a mean over cells
  (:func:`~reports.inference.intervals.t_interval`);
* :mod:`reports.inference.clusters`: the same over subjects when the test samples come several
  per subject (:func:`~reports.inference.clusters.cluster_bootstrap_ci`), and the exact
  sign-flip test over subjects (:func:`~reports.inference.clusters.cluster_sign_flip_test`);
* :mod:`reports.inference.paired`: the Wilcoxon signed-rank and paired t-tests over cells
  (:func:`~reports.inference.paired.paired_tests`, at least 6 pairs), the exact McNemar test
  (:func:`~reports.inference.paired.mcnemar_exact`) and Holm's correction
  (:func:`~reports.inference.paired.holm`);
* :mod:`reports.inference.ranking`: average ranks, the Friedman test and the Nemenyi critical
  difference across datasets (Demsar, JMLR 7, 2006).

This package re-exports every name of the four, so ``from reports.inference import holm``
works. Everything here is deterministic: the bootstrap is seeded, nothing reads a clock.
"""


from reports.inference.clusters import (
    ClusteredPairedResult,
    cluster_bootstrap_ci,
    cluster_bootstrap_diff_ci,
    cluster_sign_flip_test,
)
from reports.inference.intervals import (
    BOOTSTRAP_SEED,
    CONFIDENCE,
    N_RESAMPLES,
    Interval,
    bootstrap_ci,
    bootstrap_diff_ci,
    t_interval,
)
from reports.inference.paired import (
    ALPHA,
    MIN_PAIRS,
    SMALL_N_REASON,
    McNemarResult,
    PairedResult,
    holm,
    mcnemar_exact,
    paired_tests,
    rank_biserial,
)
from reports.inference.ranking import (
    NEMENYI_Q,
    FriedmanResult,
    average_ranks,
    cd_cliques,
    friedman,
    friedman_from_ranks,
    nemenyi_cd,
)

__all__ = [
    "CONFIDENCE",
    "N_RESAMPLES",
    "BOOTSTRAP_SEED",
    "MIN_PAIRS",
    "ALPHA",
    "NEMENYI_Q",
    "Interval",
    "bootstrap_ci",
    "bootstrap_diff_ci",
    "cluster_bootstrap_ci",
    "cluster_bootstrap_diff_ci",
    "ClusteredPairedResult",
    "cluster_sign_flip_test",
    "t_interval",
    "rank_biserial",
    "PairedResult",
    "paired_tests",
    "McNemarResult",
    "mcnemar_exact",
    "holm",
    "average_ranks",
    "FriedmanResult",
    "friedman_from_ranks",
    "friedman",
    "nemenyi_cd",
    "cd_cliques",
    "SMALL_N_REASON",
]
