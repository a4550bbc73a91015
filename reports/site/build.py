""":func:`build_site`: submission bundles -> the static site (pages, ``leaderboard.json``, CSVs)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reports.site import pages as G
from reports.site.bundles import active_bundles, find_bundles, read_bundle
from reports.site.rows import leaderboard_json, slug, task_csv, task_tables

log = logging.getLogger(__name__)

__all__ = ["SiteSummary", "build_site"]


@dataclass(frozen=True)
class SiteSummary:
    """What :func:`build_site` wrote.

    Attributes:
        out: the site folder.
        files: the files written, relative to ``out`` (sorted).
        n_bundles: bundles read; n_shown: of those, shown in the tables.
        n_tasks: task versions with a table; n_rows: rows over all of them.
        total_bytes: the size of all files written.
    """

    out: Path
    files: tuple[str, ...]
    n_bundles: int
    n_shown: int
    n_tasks: int
    n_rows: int
    total_bytes: int


def build_site(inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]
               ) -> SiteSummary:
    """Build the static site of the bundles in ``inputs`` into the folder ``out``.

    Args:
        inputs: bundle folders, or folders with bundles in them (any depth).
        out: the site folder; replaced as a whole when the build succeeds (the site is assembled
            in a temporary folder beside it, so a failed build leaves ``out`` as it was).

    Writes ``index.html``, ``task-<slug>.html`` and ``task-<slug>.csv`` per task version,
    ``submission-<bundle id>.html`` per bundle (withdrawn and superseded ones too, marked),
    ``model-<slug>.html`` per model, and ``leaderboard.json``
    (:func:`reports.site.rows.leaderboard_json`). Same bundles, same bytes.

    Returns:
        A :class:`SiteSummary`.

    Raises:
        SiteError: no bundle in an input; a bundle the verifier rejected, with a malformed
            manifest or files that do not match their digests; two shown bundles claiming one
            record with different results. Each message names the bundle and why.
        RecordSchemaError: a record of a newer schema version.
    """
    bundles = [read_bundle(p) for p in find_bundles(inputs)]
    seen: dict[str, Path] = {}
    for b in bundles:
        if b.id in seen:  # the same manifest bytes twice: one submission, listed once
            log.warning("%s: the same bundle as %s (id %s); read once", b.path, seen[b.id], b.id)
        seen.setdefault(b.id, b.path)
    bundles = [b for b in bundles if seen[b.id] == b.path]
    shown, why = active_bundles(bundles)
    hidden = [b for b in bundles if b.id in why]
    tables = task_tables(shown)
    model_rows: dict[str, list] = {}
    for t in tables:
        for r in t.rows:
            model_rows.setdefault(r.model, []).append((t, r))
    model_pages = {m: f"model-{slug(m)}.html" for m in model_rows}
    superseded_by = {b.supersedes: b.id for b in bundles if b.supersedes}

    files: dict[str, str] = {"index.html": G.index_page(tables, shown, hidden, why, model_pages),
                             "leaderboard.json": leaderboard_json(tables, hidden, why, model_pages)}
    for t in tables:
        files[t.page] = G.task_page(t, model_pages)
        files[t.csv_name] = task_csv(t)
    for b in bundles:
        files[G.submission_file(b)] = G.submission_page(
            b, tables, model_pages, why.get(b.id),
            superseded_by.get(b.id) if why.get(b.id, "").startswith("superseded") else None)
    for m, rows in model_rows.items():
        files[model_pages[m]] = G.model_page(m, tables, rows)

    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / "site")
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    total = sum((target / n).stat().st_size for n in files)
    log.info("site: %d page(s) and data files in %s from %d bundle(s) (%d shown), %d task "
             "version(s), %d bytes", len(files), target, len(bundles), len(shown), len(tables),
             total)
    return SiteSummary(target, tuple(sorted(files)), len(bundles), len(shown), len(tables),
                       sum(len(t.rows) for t in tables), total)
