"""Reading submission bundles for the site: manifest, records, verification, and which are shown.

A bundle (written by ``run_bench.py submit``, checked by ``run_bench.py verify``; the layout is
documented in ``docs/guides/submitting.md``) is a folder with ``manifest.json``, ``results.jsonl``
and, once verified, ``verification.json``. The site reads these files only (data flows to the
reports through files): :func:`read_bundle` checks what the site relies on and refuses a bundle
that cannot be trusted to be what it says, with a one-line :class:`SiteError` naming the bundle,
file and field:

- ``manifest.json``: JSON, ``bundle_format`` ``"neurofer-bundle"``, ``bundle_version`` 1, the
  mandatory card fields (``title``, ``authors``, ``contact``, ``licence``);
- every file the manifest lists exists with its ``sha256`` (so the records shown are the records
  that were packed, and verified when ``verification.json`` says so);
- ``verification.json`` (optional): a verdict of ``"verified"`` or ``"consistent"`` for this very
  manifest (its ``bundle_id``); ``"rejected"`` refuses the bundle; one written for another
  manifest (the manifest changed after verifying) leaves the bundle "not verified".

The bundle id is the first 16 hex digits of sha256 of the ``manifest.json`` bytes, the id that
``supersedes`` names. :func:`active_bundles` drops withdrawn bundles (``withdrawn: true``) and
bundles another bundle supersedes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from benchmarks.results.records import read_records
from datasets.common import InputError

log = logging.getLogger(__name__)

__all__ = ["SiteError", "Bundle", "bundle_id", "find_bundles", "read_bundle", "active_bundles",
           "NOT_VERIFIED", "BUNDLE_FORMAT", "BUNDLE_VERSION"]

BUNDLE_FORMAT = "neurofer-bundle"
"""The manifest's ``bundle_format`` the site reads."""
BUNDLE_VERSION = 1
"""The newest manifest ``bundle_version`` the site reads."""
MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
VERIFICATION = "verification.json"
MANDATORY_CARD = ("title", "authors", "contact", "licence")
"""Manifest fields every bundle has (title, authors or team, contact, licence)."""
SHOWN_VERDICTS = ("verified", "consistent")
"""Verdicts of ``verification.json`` the site shows; ``"rejected"`` refuses the bundle."""
NOT_VERIFIED = "not verified"
"""The verdict shown for a bundle without a ``verification.json`` of its manifest."""


class SiteError(InputError, ValueError):
    """A bundle the site refuses (rejected, unreadable, digests that do not match, two bundles
    claiming one record with different results); the message names the bundle, file and field."""


@dataclass(frozen=True)
class Bundle:
    """One submission bundle as the site reads it.

    Attributes:
        path: the bundle folder.
        id: first 16 hex digits of sha256(``manifest.json`` bytes).
        manifest: the parsed manifest.
        records: the ok records of ``results.jsonl``
            (:func:`benchmarks.results.records.read_records`: validated and migrated).
        verdict: ``"verified"``, ``"consistent"`` or :data:`NOT_VERIFIED`.
        verification: the parsed ``verification.json`` of this manifest, or ``None``.
        verification_note: why the bundle reads as not verified (``""`` otherwise).
        record_verdicts: ``cell_id`` -> the verifier's verdict of that record.
    """

    path: Path
    id: str
    manifest: dict[str, Any]
    records: tuple[dict[str, Any], ...]
    verdict: str
    verification: dict[str, Any] | None = None
    verification_note: str = ""
    record_verdicts: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The manifest's title (the bundle id when it has none)."""
        return str(self.manifest.get("title") or self.id)

    @property
    def withdrawn(self) -> bool:
        """``True`` when the manifest says ``"withdrawn": true``."""
        return self.manifest.get("withdrawn") is True

    @property
    def supersedes(self) -> str | None:
        """The id of the bundle this one replaces, or ``None``."""
        s = self.manifest.get("supersedes")
        return str(s) if s else None


def bundle_id(manifest_bytes: bytes) -> str:
    """The bundle id of a manifest: first 16 hex digits of sha256 of its bytes."""
    return hashlib.sha256(manifest_bytes).hexdigest()[:16]


def find_bundles(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The bundle folders of ``inputs``: each input is a bundle (a folder with ``manifest.json``)
    or a folder whose sub-folders (at any depth) are bundles.

    Returns:
        Bundle folders, in input order, each folder's bundles sorted by path, each once.

    Raises:
        SiteError: an input that does not exist, or a folder holding no bundle.
    """
    out: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if not p.is_dir():
            raise SiteError(f"{p}: not a folder (expected a bundle or a folder of bundles)")
        found = [p] if (p / MANIFEST).is_file() else sorted(m.parent for m in p.rglob(MANIFEST))
        if not found:
            raise SiteError(f"{p}: no bundle ({MANIFEST}) in this folder or below it")
        out += [b for b in found if b not in out]
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SiteError(f"{path}: not readable JSON ({exc})") from exc


def _check_manifest(path: Path, m: Any) -> None:
    if not isinstance(m, dict):
        raise SiteError(f"{path}: expected a JSON object")
    if m.get("bundle_format") != BUNDLE_FORMAT:
        raise SiteError(f"{path}: field 'bundle_format' = {m.get('bundle_format')!r}; expected "
                        f"{BUNDLE_FORMAT!r}")
    v = m.get("bundle_version")
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= BUNDLE_VERSION:
        raise SiteError(f"{path}: field 'bundle_version' = {v!r}; this site reads 1 to "
                        f"{BUNDLE_VERSION}")
    for k in MANDATORY_CARD:
        if not m.get(k):
            raise SiteError(f"{path}: field {k!r} is missing or empty")
    if not isinstance(m.get("files"), list):
        raise SiteError(f"{path}: field 'files' = {m.get('files')!r:.60}; expected a list")


def _check_files(bundle: Path, m: dict[str, Any]) -> None:
    listed = set()
    for i, f in enumerate(m["files"]):
        rel = f.get("path") if isinstance(f, dict) else None
        if not isinstance(rel, str) or PurePosixPath(rel).is_absolute() or ".." in PurePosixPath(rel).parts:
            raise SiteError(f"{bundle / MANIFEST}: field 'files[{i}].path' = {rel!r}; expected a "
                            "relative path inside the bundle")
        listed.add(rel)
        p = bundle / rel
        if not p.is_file():
            raise SiteError(f"{bundle}: file {rel} listed in {MANIFEST} is missing")
        if _sha256(p) != f.get("sha256"):
            raise SiteError(f"{bundle}: file {rel}: sha256 differs from {MANIFEST} field "
                            f"'files[{i}].sha256' (edited after packing)")
    if RESULTS not in listed:
        raise SiteError(f"{bundle / MANIFEST}: field 'files' does not list {RESULTS}")


def _verification(bundle: Path, bid: str) -> tuple[str, dict[str, Any] | None, str]:
    path = bundle / VERIFICATION
    if not path.is_file():
        return NOT_VERIFIED, None, f"no {VERIFICATION}"
    v = _json(path)
    if not isinstance(v, dict):
        raise SiteError(f"{path}: expected a JSON object")
    verdict = v.get("verdict")
    if verdict == "rejected":
        problems = [str(p) for p in v.get("problems") or []]
        problems += [str(p) for r in v.get("records") or [] if isinstance(r, dict)
                     for p in r.get("problems") or []]
        why = problems[0] if problems else "no reason given"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise SiteError(f"{bundle}: rejected by the verifier ({VERIFICATION}): {why}{more}")
    if verdict not in SHOWN_VERDICTS:
        raise SiteError(f"{path}: field 'verdict' = {verdict!r}; expected one of "
                        f"{(*SHOWN_VERDICTS, 'rejected')}")
    if v.get("bundle_id") != bid:
        log.warning("%s: written for bundle %s, not for this manifest (%s): shown as not verified",
                    path, v.get("bundle_id"), bid)
        return NOT_VERIFIED, None, f"{VERIFICATION} is for bundle {v.get('bundle_id')}, not {bid}"
    return str(verdict), v, ""


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read and check one bundle folder (see the module docstring).

    Raises:
        SiteError: no or a malformed manifest, a listed file missing or with another digest,
            a rejected or malformed ``verification.json``, a ``results.jsonl`` without an ok
            record.
        RecordSchemaError: a record of a newer schema than this code reads.
    """
    bundle = Path(path)
    mpath = bundle / MANIFEST
    if not mpath.is_file():
        raise SiteError(f"{bundle}: no {MANIFEST}")
    raw = mpath.read_bytes()
    bid = bundle_id(raw)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SiteError(f"{mpath}: not readable JSON ({exc})") from exc
    _check_manifest(mpath, manifest)
    _check_files(bundle, manifest)
    verdict, verification, note = _verification(bundle, bid)
    records = tuple(r for r in read_records(bundle / RESULTS) if r.get("status") == "ok")
    if not records:
        raise SiteError(f"{bundle / RESULTS}: no ok record")
    per_record = {}
    if verification is not None:
        per_record = {str(r.get("cell_id")): str(r.get("verdict")) for r in
                      verification.get("records") or [] if isinstance(r, dict)}
        bad = sorted(c for c, v in per_record.items() if v not in SHOWN_VERDICTS)
        if bad:
            raise SiteError(f"{bundle / VERIFICATION}: record {bad[0]}: verdict "
                            f"{per_record[bad[0]]!r}; the site shows only {SHOWN_VERDICTS}")
    return Bundle(bundle, bid, manifest, records, verdict, verification, note, per_record)


def active_bundles(bundles: Sequence[Bundle]) -> tuple[list[Bundle], dict[str, str]]:
    """The bundles whose rows are shown, and why each other bundle is not.

    A bundle is hidden when its manifest says ``withdrawn: true``, or when another bundle (shown
    or not) names its id in ``supersedes``; a chain A <- B <- C shows C only.

    Returns:
        ``(shown bundles in input order, {hidden bundle id: "withdrawn" | "superseded by <id>"})``.
    """
    superseded = {b.supersedes: b.id for b in bundles if b.supersedes}
    hidden: dict[str, str] = {}
    for b in bundles:
        if b.withdrawn:
            hidden[b.id] = "withdrawn"
        elif b.id in superseded:
            hidden[b.id] = f"superseded by {superseded[b.id]}"
    return [b for b in bundles if b.id not in hidden], hidden
