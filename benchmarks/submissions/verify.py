"""The verifier of submission bundles: every problem of a bundle, each naming the file, record and
field, a verdict per record and per bundle, and ``BUNDLE/verification.json``.

Checks (:func:`verify_bundle`), all run, every problem reported:

1. **manifest** (``manifest.json``): a JSON object of :data:`benchmarks.submissions.bundle.BUNDLE_FORMAT`
   version :data:`~benchmarks.submissions.bundle.BUNDLE_VERSION` with every field of
   :data:`MANIFEST_FIELDS` of the right type and the mandatory metadata non-empty;
2. **files and digests**: every file listed exists with its size and sha256; no file of the
   bundle is unlisted (``manifest.json`` and ``verification.json`` aside); an external
   checkpoint has a URL and digest;
3. **records** (``results.jsonl``): each line a record of the schema
   (:class:`benchmarks.results.records.Record`), every check of ``validate``
   (:func:`benchmarks.results.validate.validate_record`: provenance, cell id, every metric
   recomputed from the predictions, energy, timing; for a deployment record its target, fit
   verdict and the chip-precision and float accuracies), ``status`` ``"ok"`` (or a skipped
   deployment record with its reason and fit, :func:`benchmarks.submissions.bundle.bundled_status`,
   :func:`check_skipped_deployment`), no cell twice, the checkpoint and plugin paths inside the
   bundle's ``checkpoints/`` and ``plugins/``;
4. **task** (:func:`task_reference`): the record's task id and version are known (a skipped
   deployment record scores no task);
5. **replay** (:func:`benchmarks.submissions.replay.replay_record`): the checkpoint run on the
   test samples, compared with the stored outputs (a deployment record: evaluated again at the
   target's precision, the fit recomputed, :func:`benchmarks.submissions.replay.replay_deployment`);
6. **replicate** (opt-in, :func:`replicate_record`): the cell trained again from its recipe and
   seed, its accuracy compared with the stored one (:data:`REPLICATE_REL_TOL`);
7. **several bundles at once** (:func:`verify_bundles`): two bundles claiming the same cell with
   different predictions are both rejected (unless one supersedes the other).

Verdicts: a record is ``rejected`` with any problem, ``verified`` when replayed and matching,
otherwise ``consistent`` with the reasons it was not replayed. A bundle is ``rejected`` with any
bundle-level problem or rejected record, ``verified`` when every record is, else ``consistent``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.submissions.bundle import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    CHECKPOINTS_DIR,
    MANDATORY_META,
    MANIFEST,
    PLUGINS_DIR,
    RESULTS,
    VERIFICATION,
    BundleError,
    bundle_id,
    bundled_status,
    sha256_file,
)

log = logging.getLogger(__name__)

MANIFEST_FIELDS: dict[str, tuple[type, ...]] = {
    "bundle_format": (str,), "bundle_version": (int,), "title": (str,), "authors": (list,),
    "contact": (str,), "licence": (str,), "url": (str, type(None)), "notes": (str, type(None)),
    "supersedes": (str, type(None)), "withdrawn": (bool,), "suite_version": (str, type(None)),
    "code_versions": (list,), "environment": (dict,), "datasets": (list,), "files": (list,),
    "external_checkpoints": (list,),
}
"""Every field of ``manifest.json`` and its JSON types (see :mod:`benchmarks.submissions.bundle`)."""

REPLICATE_REL_TOL = 0.05
"""Tolerance of a replicated accuracy on another machine class: NeuroBench's system-track rule
(the mean of 5 trials within 5 % of the reported result), adapted to one re-run, since a re-run
costs a full training. On the same machine class (same torch version, CPU model, thread count
and device) training is deterministic (seeded, deterministic kernels), so the accuracy must be
equal (:data:`REPLICATE_SAME_MACHINE_TOL`)."""
REPLICATE_SAME_MACHINE_TOL = 1e-12
"""Tolerance of a replicated accuracy on the same machine class (equal up to float rounding)."""
SAME_MACHINE_KEYS = ("torch", "cpu", "threads", "device")
"""Provenance keys that must match this machine's for the same-machine rule."""


def task_reference(rec: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str], list[str]]:
    """The record's task reference and the task check (:mod:`benchmarks.results.tasks`).

    The task is derived again from the record's cell (its id) and, for a record holding the whole
    test split (trained and published records), from its predictions' ids and labels (its
    version); a robustness or deployment record may hold a subset, so its stored digests are
    resolved instead. A skipped deployment record scores no task: ``(None, [], [])``.

    Returns:
        ``(task or None, reasons, problems)``: a problem for a record without a task, a task
        version that matches no known version, or a stored ``task`` whose id, version or
        ids/labels digest differs from the derived one.
    """
    from benchmarks.results import tasks

    stored = rec.get("task") if isinstance(rec.get("task"), dict) else None
    if rec.get("kind") == "deployment" and rec.get("status") == "skipped":
        return None, [], []
    whole_split = rec.get("kind") not in ("robustness", "deployment")
    derived = tasks.task_reference(rec.get("cell") or {},
                                   predictions=(rec.get("predictions") or None) if whole_split
                                   else None)
    problems: list[str] = []
    if derived is None:
        problems.append("task: the record's cell names no dataset, so no task")
        return stored, [], problems
    if stored is None:
        stored = derived if whole_split else None
    if stored is None:
        problems.append("task: the record names no task")
        return None, [], problems
    if stored.get("id") != derived["id"]:
        problems.append(f"task.id: stored {stored.get('id')!r}, but its cell is of task "
                        f"{derived['id']!r}")
    if whole_split:
        for key in ("ids_labels_digest", "version"):
            if stored.get(key) != derived.get(key):
                problems.append(f"task.{key}: stored {stored.get(key)!r}, but the record's "
                                f"predictions give {derived.get(key)!r}")
    else:
        v = tasks.resolve(str(stored.get("id")), stored.get("ids_labels_digest"),
                          stored.get("content_digest"))
        if v is None or v.version != stored.get("version"):
            problems.append(f"task.version: stored {stored.get('version')!r}, but its digests "
                            f"resolve to {v.version if v else tasks.UNKNOWN_VERSION!r}")
    if stored.get("version") in (None, tasks.UNKNOWN_VERSION) and not problems:
        problems.append(f"task: {stored.get('id')!r}: the test split matches no known version "
                        "of the task (unknown version)")
    return stored, [], problems


def _machine() -> dict[str, Any]:
    from benchmarks.results.provenance import provenance

    return provenance(None, "cpu")


def replicate_record(rec: dict[str, Any], bundle_dir: Path, data_root: str | Path, *,
                     trust_plugins: bool = False) -> tuple[list[str], list[str], dict | None]:
    """Train the record's cell again from its recipe and seed on this machine (CPU) and compare
    the test accuracy with the stored one: on the same machine class equal, and the per-sample
    test outputs equal within :data:`benchmarks.submissions.replay.REPLAY_REL_TOL` (two seeds can
    share an accuracy, near chance above all, but not their logits); else within
    :data:`REPLICATE_REL_TOL` relative.

    Returns:
        ``(problems, reasons, info)``; ``info`` = ``{"accuracy", "stored_accuracy", "rule"}`` or
        ``None`` when not replicated (the reasons say why).
    """
    import dataclasses

    from benchmarks.runner.cell import run_cell
    from benchmarks.submissions.replay import _cell, bundle_plugins

    if rec.get("kind") != "trained":
        return [], [f"replicate applies to trained records, not {rec.get('kind')!r}"], None
    cell = _cell(rec.get("cell") or {})
    if (cell.plugins or rec.get("model")) and not trust_plugins:
        return [], ["not replicated: plugin not run (give --trust-plugins)"], None
    plugins = list(cell.plugins)
    cell = dataclasses.replace(cell, plugins=tuple(str(bundle_dir / p) for p in plugins))
    stored = (rec.get("metrics") or {}).get("accuracy")
    if stored is None:
        return [], ["not replicated: the record has no accuracy"], None
    prov = rec.get("provenance") or {}
    here = _machine()
    same = all(prov.get(k) == here.get(k) for k in SAME_MACHINE_KEYS)
    with bundle_plugins(bundle_dir, plugins):
        again = run_cell(cell, data_root, progress=False).to_dict()
    new = again["metrics"]["accuracy"]
    problems: list[str] = []
    if same:
        ok = abs(new - stored) <= REPLICATE_SAME_MACHINE_TOL
        rule = "same machine class: equal accuracy and test outputs"
        _compare_outputs(rec, again, problems)
    else:
        ok = abs(new - stored) <= REPLICATE_REL_TOL * abs(stored)
        rule = f"another machine class: within {REPLICATE_REL_TOL:.0%} relative"
    info = {"accuracy": new, "stored_accuracy": stored, "rule": rule}
    if not ok:
        problems.insert(0, f"metrics.accuracy: replicated {new:.6f}, stored {stored:.6f} ({rule})")
    return problems, [], info


def _compare_outputs(rec: dict[str, Any], again: dict[str, Any], problems: list[str]) -> None:
    """The re-run's per-sample test outputs against the stored ones (same machine class:
    training is deterministic, so they agree within the replay tolerance,
    :func:`benchmarks.submissions.replay.compare`); problems appended."""
    import numpy as np

    from benchmarks.submissions.replay import _outputs, compare

    def say(fld: str, msg: str) -> None:
        problems.append(f"{fld}: {msg}")

    stored = list(rec.get("predictions") or [])
    mine = {str(p.get("sequence_id")): _outputs(p, None) for p in again.get("predictions") or []}
    ids = [str(p.get("sequence_id")) for p in stored]
    if sorted(ids) != sorted(mine) or any(mine[i] is None for i in ids):
        say("predictions", "the re-run's test samples are not the stored ones")
        return
    task = ((rec.get("cell") or {}).get("recipe") or {}).get("task", "classification")
    k = 0 if task == "va_regression" else len(rec.get("classes") or [])
    compare(say, "logits of the re-run on the same machine class", ids, stored, np.array([mine[i] for i in ids]), k)


def _check_manifest(bundle: Path, say) -> dict[str, Any] | None:
    path = bundle / MANIFEST
    where = f"{path}"
    if not path.is_file():
        say(f"{where}: missing (a bundle needs its manifest)")
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        say(f"{where}: not valid JSON ({exc})")
        return None
    if not isinstance(manifest, dict):
        say(f"{where}: not a JSON object")
        return None
    for key, types in MANIFEST_FIELDS.items():
        if key not in manifest:
            say(f"{where}: field {key!r}: missing")
        elif not isinstance(manifest[key], types) or (bool not in types and isinstance(
                manifest[key], bool)):
            say(f"{where}: field {key!r} = {manifest[key]!r:.60}; expected "
                f"{' or '.join(t.__name__ for t in types)}")
    for key in MANDATORY_META:
        if key in manifest and not manifest[key]:
            say(f"{where}: field {key!r}: empty (mandatory)")
    if manifest.get("bundle_format", BUNDLE_FORMAT) != BUNDLE_FORMAT:
        say(f"{where}: field 'bundle_format' = {manifest['bundle_format']!r}; expected "
            f"{BUNDLE_FORMAT!r}")
    version = manifest.get("bundle_version", BUNDLE_VERSION)
    if isinstance(version, int) and version > BUNDLE_VERSION:
        say(f"{where}: field 'bundle_version' = {version}; this verifier reads <= {BUNDLE_VERSION}")
    for key in set(manifest) - set(MANIFEST_FIELDS):
        say(f"{where}: field {key!r}: unknown")
    return manifest


def _entries(manifest: dict[str, Any], key: str, say, where: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    entries = manifest.get(key)
    for i, e in enumerate(entries if isinstance(entries, list) else []):
        p = e.get("path") if isinstance(e, dict) else None
        if not isinstance(p, str) or not p or p.startswith("/") or ".." in Path(p).parts:
            say(f"{where}: field '{key}[{i}].path' = {p!r}; expected a relative path inside the "
                "bundle")
            continue
        sha, size = e.get("sha256"), e.get("size")
        if not (isinstance(sha, str) and len(sha) == 64) or not isinstance(size, int):
            say(f"{where}: field '{key}[{i}]' ({p}): expected sha256 (64 hex digits) and size")
        if p in out:
            say(f"{where}: field '{key}' lists {p} twice")
        out[p] = e
    return out


def _check_files(bundle: Path, manifest: dict[str, Any], say) -> dict[str, dict[str, Any]]:
    """Listed files present with their size and digest; nothing unlisted. Returns the external
    checkpoints by path."""
    where = str(bundle / MANIFEST)
    listed = _entries(manifest, "files", say, where)
    external = _entries(manifest, "external_checkpoints", say, where)
    for p, e in sorted(external.items()):
        if not isinstance(e.get("url"), str) or not e.get("url"):
            say(f"{where}: field 'external_checkpoints' ({p}): url: missing")
        if p in listed:
            say(f"{where}: field 'external_checkpoints' ({p}): also listed in 'files'")
    present = {f.relative_to(bundle).as_posix() for f in bundle.rglob("*")
               if f.is_file() or f.is_symlink()} - {MANIFEST, VERIFICATION}
    for p in sorted(present - set(listed)):
        say(f"{bundle / p}: extra file, not listed in {MANIFEST} 'files'")
    for p, e in sorted(listed.items()):
        f = bundle / p
        if p not in present:
            say(f"{f}: missing (listed in {MANIFEST} 'files')")
            continue
        if f.is_symlink():
            say(f"{f}: a symbolic link; a bundle holds plain files")
            continue
        if f.stat().st_size != e.get("size"):
            say(f"{f}: size {f.stat().st_size} != {MANIFEST} 'files' size {e.get('size')!r}")
        if sha256_file(f) != e.get("sha256"):
            say(f"{f}: sha256 does not match {MANIFEST} 'files' (digest mismatch)")
    if RESULTS not in listed:
        say(f"{where}: field 'files': {RESULTS} not listed")
    return external


def _read_records(bundle: Path, say) -> list[tuple[str, dict[str, Any]]]:
    from benchmarks.results.records import Record, RecordSchemaError

    path = bundle / RESULTS
    if not path.is_file():
        return []
    out = []
    seen: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        where = f"{path}:{lineno}"
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            rec = Record.from_dict(raw).to_dict()
        except (json.JSONDecodeError, RecordSchemaError, TypeError, AttributeError) as exc:
            say(f"{where}: breaks the record schema: {exc}")
            continue
        cid = rec["cell_id"]
        where = f"{where} ({cid})"
        if not bundled_status(rec):
            say(f"{where}: status: {rec['status']!r}; a bundle holds ok records (and skipped "
                "deployment records with their reason) only")
            continue
        if cid in seen:
            say(f"{where}: cell_id: recorded twice (also {seen[cid]})")
            continue
        seen[cid] = where
        out.append((where, rec))
    if not out:
        say(f"{path}: no ok record")
    return out


def check_skipped_deployment(rec: dict[str, Any], say) -> None:
    """The static checks of a skipped deployment record (``validate`` checks ok records only):
    a target, the cell id ``deployment/<target>/.../<trained cell id>``, a fit verdict and a
    reason, and no scores (no predictions, no metrics)."""
    dep = rec.get("deployment") or {}
    target, src, cid = dep.get("target"), dep.get("cell_id"), str(rec.get("cell_id"))
    if not isinstance(target, str) or not target:
        say("deployment.target", f"= {target!r}; expected the target's name")
    if not isinstance(src, str) or not cid.startswith(f"deployment/{target}/") \
            or not cid.endswith(f"/{src}"):
        say("cell_id", f"{cid!r} is not deployment/<target>/.../<trained cell id {src!r}>")
    if not isinstance((dep.get("fit") or {}).get("verdict"), str) or not rec.get("error"):
        say("deployment.fit", "a skipped record needs the fit verdict and its reason (error)")
    if rec.get("predictions") or rec.get("metrics"):
        say("predictions", "a skipped record holds no predictions or metrics")


def _record_paths(rec: dict[str, Any], say) -> None:
    ck = rec.get("checkpoint")
    if ck is not None and not (isinstance(ck, str) and ck.startswith(f"{CHECKPOINTS_DIR}/")):
        say("checkpoint", f"= {ck!r}; expected {CHECKPOINTS_DIR}/<file>")
    for i, p in enumerate((rec.get("cell") or {}).get("plugins") or ()):
        if not (isinstance(p, str) and p.startswith(f"{PLUGINS_DIR}/") and ".." not in p):
            say(f"cell.plugins[{i}]", f"= {p!r}; expected {PLUGINS_DIR}/<file>")


def verify_bundle(bundle: str | Path, *, replay_n: int | None = None, replicate: bool = False,
                  trust_plugins: bool = False, data_root: str | Path = "data") -> dict[str, Any]:
    """Check one bundle (see the module docstring); return its verification report.

    Args:
        bundle: the bundle folder.
        replay_n: replay a deterministic subset of this many samples per record (``None``: all).
        replicate: also train every trained record's cell again (costly).
        trust_plugins: import the bundle's plugin files to replay native models.
        data_root: where the datasets are (the built-in data is generated there).

    Returns:
        The ``verification.json`` object (not written; see :func:`verify_bundles`).

    Raises:
        BundleError: ``bundle`` is not a folder.
    """
    from benchmarks.results.provenance import code_version
    from benchmarks.results.validate import validate_record
    from benchmarks.submissions.bundle import suite_version
    from benchmarks.submissions.replay import replay_record, split_sample_problems

    bundle = Path(bundle)
    if not bundle.is_dir():
        raise BundleError(f"{bundle}: not a bundle folder")
    problems: list[str] = []
    manifest = _check_manifest(bundle, problems.append)
    external = _check_files(bundle, manifest, problems.append) if manifest is not None else {}
    records = []
    for where, rec in _read_records(bundle, problems.append):
        rp: list[str] = []

        def say(fld: str, msg: str, rp=rp, where=where) -> None:
            rp.append(f"{where}: {fld}: {msg}")

        _record_paths(rec, say)
        checked = dict(rec, checkpoint=None) if rec.get("checkpoint") in external else rec
        rp.extend(validate_record(checked, bundle, where=where))
        if rec["status"] == "skipped":
            check_skipped_deployment(rec, say)
        task, reasons, tp = task_reference(rec)
        rp.extend(f"{where}: {p}" for p in tp)
        replay = None
        if not rp:  # replay only what passes the static checks (a broken record is rejected)
            res = replay_record(rec, bundle, data_root, n=replay_n, trust_plugins=trust_plugins,
                                external=frozenset(external))
            rp.extend(f"{where}: {p}" for p in res.problems)
            reasons += res.reasons
            replay = res.replay
            verdict = res.status
            if replicate and not rp:
                p2, r2, info = replicate_record(rec, bundle, data_root, trust_plugins=trust_plugins)
                rp.extend(f"{where}: {p}" for p in p2)
                reasons += r2
                if info is not None:
                    replay = {**(replay or {}), "replicate": info}
        else:
            rp.extend(f"{where}: {p}" for p in split_sample_problems(rec, data_root))
        verdict = "rejected" if rp else verdict
        records.append({"cell_id": rec["cell_id"], "kind": rec.get("kind"), "task": task,
                        "verdict": verdict, "reasons": reasons, "problems": rp, "replay": replay})
    if problems or any(r["verdict"] == "rejected" for r in records) or not records:
        verdict = "rejected"
    elif all(r["verdict"] == "verified" for r in records):
        verdict = "verified"
    else:
        verdict = "consistent"
    try:
        bid = bundle_id(bundle)
    except BundleError:
        bid = None
    return {"bundle_id": bid, "verdict": verdict, "date": date.today().isoformat(),
            "suite_version": suite_version(), "code_version": code_version(),
            "records": records, "problems": problems,
            "supersedes": (manifest or {}).get("supersedes")}


def _fingerprint(bundle: Path, cell_id: str) -> str | None:
    """The stored result of a cell in a bundle (its status, a deployment's fit, and per sample the
    id, predictions and logits) as a string."""
    path = bundle / RESULTS
    if not path.is_file():
        return None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and rec.get("cell_id") == cell_id:
            preds = [(p.get("sequence_id"), p.get("pred"), p.get("logits"), p.get("va_pred"),
                      p.get("corrupted"), p.get("float"), p.get("decision_step"))
                     for p in rec.get("predictions") or [] if isinstance(p, dict)]
            fit = (rec.get("deployment") or {}).get("fit") if isinstance(
                rec.get("deployment"), dict) else None
            return json.dumps([rec.get("status"), fit, preds], sort_keys=True)
    return None


def verify_bundles(bundles: Sequence[str | Path], *, write: bool = True, **kwargs: Any
                   ) -> list[dict[str, Any]]:
    """:func:`verify_bundle` on each bundle, then the check across bundles: a cell claimed by two
    bundles with different stored predictions rejects both (unless one bundle's ``supersedes``
    names the other); writes each ``BUNDLE/verification.json`` (sorted keys, indent 2) when
    ``write``.

    Returns:
        The reports, in the order of ``bundles``.
    """
    from datasets.common import atomic_write_bytes

    paths = [Path(b) for b in bundles]
    reports = [verify_bundle(b, **kwargs) for b in paths]
    claims: dict[str, list[int]] = {}
    for i, rep in enumerate(reports):
        for r in rep["records"]:
            claims.setdefault(r["cell_id"], []).append(i)
    for cid, who in sorted(claims.items()):
        for a in who:
            for b in who:
                if a >= b:
                    continue
                ra, rb = reports[a], reports[b]
                if ra.get("supersedes") == rb["bundle_id"] or rb.get("supersedes") == ra["bundle_id"]:
                    continue
                if _fingerprint(paths[a], cid) != _fingerprint(paths[b], cid):
                    for x, y in ((a, b), (b, a)):
                        reports[x]["problems"].append(
                            f"{paths[x] / RESULTS} ({cid}): predictions: the same record is claimed "
                            f"by bundle {paths[y]} with different results")
                        reports[x]["verdict"] = "rejected"
    for path, rep in zip(paths, reports, strict=True):
        rep.pop("supersedes", None)
        if write:
            text = json.dumps(_finite(rep), sort_keys=True, indent=2, default=str,
                              allow_nan=False) + "\n"
            atomic_write_bytes(path / VERIFICATION, text.encode())
    return reports


def _finite(obj: Any) -> Any:
    """``obj`` with every non-finite float as ``None`` (JSON has no inf or NaN)."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
