"""The merged leaderboard site: submission bundles -> static, multi-page HTML plus
machine-readable tables, built by the ``site`` command of ``run_bench.py``.

- :mod:`reports.site.bundles`: reading and checking bundles (manifest, digests, verification),
  withdrawn and superseded ones;
- :mod:`reports.site.rows`: the rows of each task version (mean over cells, intervals, seeds
  and folds, verification), the pairwise tests, ``leaderboard.json`` and the CSVs;
- :mod:`reports.site.pages`: the HTML pages (index, task version, submission, model);
- :mod:`reports.site.build`: :func:`build_site`, which writes them all.

The site reads the bundles' files only; it never imports ``benchmarks.submissions``. The guide
is ``docs/guides/site.md``.
"""

from reports.site.build import SiteSummary, build_site
from reports.site.bundles import SiteError

__all__ = ["build_site", "SiteSummary", "SiteError"]
