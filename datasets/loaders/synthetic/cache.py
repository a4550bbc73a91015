"""The dataset on disk: generation parameters, the manifest and its cache key, cached and
resumable generation, folds and metadata."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from datasets.base import (
    LIGHTING_CONDITIONS,
    DatasetError,
)
from datasets.common import atomic_write_text, is_temp_file
from datasets.conversion.pixel_model import SIMULATOR_SETTINGS
from datasets.folds import FoldRow, subject_folds, write_folds_csv
from datasets.io.events import EventFileError, read_v2e_h5, write_v2e_h5
from datasets.loaders.synthetic.events import generate_sequence
from datasets.loaders.synthetic.identities import (
    DEFAULTS,
    FOLDER,
    FPS,
    GENERATOR_VERSION,
    LOW_LIGHT_SHOT_NOISE_HZ,
    MANIFEST_FILE,
    METADATA_FILE,
    METADATA_VERSION,
    NAME,
    SYNTHETIC_CLASSES,
    SequenceSpec,
    draw_identity,
    make_spec,
    sequence_va,
)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# The dataset on disk
# ---------------------------------------------------------------------------------------------


def _params(**params: Any) -> dict[str, Any]:
    """Validated generation parameters (defaults from :data:`DEFAULTS`).

    Raises:
        TypeError: an unknown parameter name. ValueError: a value out of range.
    """
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown synthetic-fer-dvs parameter(s) {unknown}; known: {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    for key in DEFAULTS:
        if not isinstance(p[key], (int, np.integer)) or isinstance(p[key], bool):
            raise ValueError(f"parameter {key} must be an integer, got {p[key]!r}")
        p[key] = int(p[key])
    limits = {"n_subjects": 2, "takes": 1, "size": 16, "n_frames": 8, "n_folds": 2,
              "test_subjects": 0, "test_takes": 1}
    for key, lo in limits.items():
        if p[key] < lo:
            raise ValueError(f"parameter {key} must be >= {lo}, got {p[key]}")
    if p["n_folds"] > p["n_subjects"]:
        raise ValueError(f"n_folds = {p['n_folds']} exceeds n_subjects = {p['n_subjects']}")
    return p


def _manifest(params: Mapping[str, Any], *, complete: bool, n_sequences: int,
              n_events: int | None = None) -> dict[str, Any]:
    import eventcv

    return {
        "dataset": NAME,
        "generator_version": GENERATOR_VERSION,
        "params": dict(params),
        "classes": list(SYNTHETIC_CLASSES),
        "lighting_conditions": list(LIGHTING_CONDITIONS),
        "fps": FPS,
        "simulator": {"package": "eventcv", "version": eventcv.__version__, **SIMULATOR_SETTINGS,
                      "low_light_shot_noise_rate_hz": LOW_LIGHT_SHOT_NOISE_HZ},
        "environment": {"numpy": np.__version__},
        "n_sequences": n_sequences,
        "n_events": n_events,
        "complete": complete,
        "metadata_version": METADATA_VERSION,
    }


def _cache_key(manifest: Mapping[str, Any]) -> tuple:
    """The parts of a manifest that determine the data (compared to decide on regeneration)."""
    return (
        manifest.get("generator_version"),
        json.dumps(manifest.get("params"), sort_keys=True),
        json.dumps(manifest.get("simulator"), sort_keys=True),
    )


def _read_manifest(path: Path) -> dict[str, Any]:
    """Read the manifest.

    Raises:
        DatasetError: not valid JSON or not an object (message names the file).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the manifest ({exc})") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: the manifest must be a JSON object, got {type(data).__name__}")
    return data


_OWN_FILE = re.compile(r"^\d{3,}\.h5$|^\.\d{3,}\.h5\..*\.tmp$")
"""Files the generator writes in a subject folder: ``<digits>.h5`` and its temporary files
(:func:`datasets.common.atomic_write`'s ``.<name>.<random>.tmp``)."""


def _clear(directory: Path) -> None:
    """Remove a previous generation: subject folders ``S<digits>`` holding only ``<digits>.h5``
    files (and temporary files), ``folds.csv``, ``metadata.csv``, ``manifest.json``. Anything
    else is left alone."""
    for name in ("folds.csv", METADATA_FILE, MANIFEST_FILE):
        (directory / name).unlink(missing_ok=True)
    for sub in directory.iterdir():
        if sub.is_dir() and re.fullmatch(r"S\d{3,}", sub.name):
            if all(_OWN_FILE.match(f.name) for f in sub.iterdir()):
                shutil.rmtree(sub)
            else:
                log.warning("%s holds files not written by the generator; left in place", sub)
        elif sub.is_file() and is_temp_file(sub.name):
            sub.unlink()


def is_test_subject(subject_index: int, params: Mapping[str, Any]) -> bool:
    """Whether the subject of 0-based index ``subject_index`` is a held-out test subject: the
    ``test_subjects`` subjects after the first ``n_subjects`` (``S<n_subjects+1>`` on)."""
    return subject_index >= params["n_subjects"]


def all_specs(params: Mapping[str, Any]) -> list[SequenceSpec]:
    """The specifications of every sequence for validated ``params``, in file order
    (subject, class, take): the ``n_subjects`` fold subjects with ``takes`` takes per class,
    then the ``test_subjects`` held-out test subjects with ``test_takes`` takes per class. A
    subject's face and sequences depend only on the seed and its indices (not on how many
    subjects there are), so a held-out subject is a new identity drawn like any other."""
    specs = []
    for si in range(params["n_subjects"] + params["test_subjects"]):
        identity = draw_identity(np.random.default_rng(np.random.SeedSequence([params["seed"], si])))
        takes = params["test_takes"] if is_test_subject(si, params) else params["takes"]
        for label in range(len(SYNTHETIC_CLASSES)):
            for take in range(takes):
                specs.append(make_spec(params["seed"], si, label, take, takes=takes,
                                       n_frames=params["n_frames"], identity=identity))
    return specs


def fold_rows(params: Mapping[str, Any], specs: list[SequenceSpec]) -> list[FoldRow]:
    """The rows of ``folds.csv`` for validated ``params`` and their :func:`all_specs`: labels
    1..7; the ``n_subjects`` fold subjects in ``n_folds`` subject-independent folds
    (:func:`datasets.folds.subject_folds` with ``seed``, over those subjects only, so the folds
    do not depend on ``test_subjects``); every held-out test subject in the test split of every
    fold."""
    assignment = subject_folds([s.subject for s in specs
                                if not is_test_subject(s.subject_index, params)],
                               params["n_folds"], params["seed"])
    return [FoldRow(s.subject, s.sequence, s.label + 1,
                    tuple(is_test_subject(s.subject_index, params) or assignment[s.subject] == k
                          for k in range(params["n_folds"])))
            for s in specs]


def generate_synthetic_fer_dvs(
    root: str | os.PathLike,
    *,
    n_subjects: int = DEFAULTS["n_subjects"],
    takes: int = DEFAULTS["takes"],
    seed: int = DEFAULTS["seed"],
    size: int = DEFAULTS["size"],
    n_frames: int = DEFAULTS["n_frames"],
    n_folds: int = DEFAULTS["n_folds"],
    test_subjects: int = DEFAULTS["test_subjects"],
    test_takes: int = DEFAULTS["test_takes"],
    progress: bool | None = None,
    folder: str = FOLDER,
) -> Path:
    """Generate ``synthetic-fer-dvs`` under ``root/<folder>`` (default ``SyntheticFerDVS``;
    cached, resumable). Variants with other parameters use another ``folder`` so that they never
    overwrite each other.

    Writes ``<subject>/<sequence>.h5`` (v2e layout, one per sequence: ``n_subjects x 7 x takes
    + test_subjects x 7 x test_takes``), ``folds.csv`` (Spiking-FER format; labels 1..7 in
    :data:`SYNTHETIC_CLASSES` order; ``n_folds`` subject-independent folds of the
    ``n_subjects`` fold subjects from :func:`datasets.folds.subject_folds` with ``seed``; the
    held-out test subjects are in the test split of every fold, so no fold trains on them),
    ``metadata.csv`` (one row per sequence: subject, sequence, label, class, take, lighting,
    amplitude, onset/apex/blink frames, n_events) and ``manifest.json`` (parameters, generator and
    eventcv versions, ``complete``).

    Caching: if the manifest is complete and records the same generator version, parameters and
    simulator settings, and every file is present, nothing is done. If it records other
    parameters, the previous generation is removed first. If it is incomplete (an interrupted run)
    with the same parameters, the files already written (each written atomically) are kept and
    the rest generated.

    Args:
        root: data root; the dataset goes to ``root/SyntheticFerDVS``.
        n_subjects: subjects (>= 2). takes: repetitions per subject and class (>= 1).
        seed: seed of every random draw.
        size: sensor side ``S`` in pixels (>= 16); sensor size ``(S, S, 2)``.
        n_frames: frames per sequence at 30 fps (>= 8).
        n_folds: subject-independent folds in ``folds.csv`` (2..n_subjects).
        test_subjects: held-out test subjects (>= 0), after the fold subjects
            (``S<n_subjects+1>``...): new identities tested in every fold, never trained on.
        test_takes: repetitions per held-out subject and class (>= 1).
        progress: show a tqdm progress bar; default: when this module logs INFO (``run -v``),
            so that a quiet ``run`` shows only its grid bar.

    Returns:
        ``root`` as a Path (the folder to pass to :class:`SyntheticFerDVS`).

    Raises:
        TypeError, ValueError: bad parameters. RuntimeError: eventcv returned an unexpected
        layout, or a sequence produced no events. DatasetError: an unreadable manifest.
    """
    from tqdm import tqdm

    if progress is None:
        progress = log.isEnabledFor(logging.INFO)
    params = _params(n_subjects=n_subjects, takes=takes, seed=seed, size=size,
                     n_frames=n_frames, n_folds=n_folds, test_subjects=test_subjects,
                     test_takes=test_takes)
    root = Path(root)
    directory = root / folder
    manifest_path = directory / MANIFEST_FILE
    specs = all_specs(params)
    wanted = _manifest(params, complete=False, n_sequences=len(specs))
    if manifest_path.is_file():
        try:
            old = _read_manifest(manifest_path)
        except DatasetError as exc:
            log.warning("%s; regenerating", exc)
            old = {}
        if _cache_key(old) == _cache_key(wanted):
            files_ok = all((directory / s.subject / f"{s.sequence}.h5").is_file() for s in specs)
            if old.get("complete") and files_ok and (directory / "folds.csv").is_file() \
                    and (directory / METADATA_FILE).is_file():
                if not _upgrade_metadata(directory, params, specs, old):
                    log.info("%s: up to date in %s", NAME, directory)
                return root
            log.info("%s: resuming an incomplete generation in %s", NAME, directory)
        else:
            log.warning("%s: %s was made with other parameters; regenerating", NAME, directory)
            _clear(directory)
    elif directory.is_dir():
        _clear(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest_path, json.dumps(wanted, indent=2, sort_keys=True) + "\n")

    sensor = (params["size"], params["size"], 2)
    counts: list[int] = []
    for spec in tqdm(specs, desc=NAME, unit="seq", disable=not progress):
        path = directory / spec.subject / f"{spec.sequence}.h5"
        if path.is_file():
            try:
                counts.append(int(read_v2e_h5(path, sensor).shape[0]))
                continue
            except EventFileError as exc:
                log.warning("%s; regenerating it", exc)
        events = generate_sequence(spec, params["size"], params["n_frames"])
        if events.shape[0] == 0:
            raise RuntimeError(f"{path}: the sequence produced no events ({spec})")
        write_v2e_h5(path, events)
        counts.append(int(events.shape[0]))

    write_folds_csv(directory / "folds.csv", fold_rows(params, specs))
    _write_metadata(directory, params, specs, counts)
    log.info("%s: %d sequences, %d events in %s", NAME, len(specs), sum(counts), directory)
    return root


def _write_metadata(directory: Path, params: Mapping[str, Any], specs: list[SequenceSpec],
                    counts: list[int]) -> None:
    """Write ``metadata.csv`` (:data:`METADATA_COLUMNS`), then the complete manifest."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(METADATA_COLUMNS)
    for s, n in zip(specs, counts, strict=True):
        v, a = sequence_va(s, params["n_frames"], params["seed"])
        writer.writerow([s.subject, s.sequence, s.label + 1, SYNTHETIC_CLASSES[s.label], s.take,
                         s.lighting, f"{s.amplitude:.4f}", s.onset_frame, s.apex_frame,
                         s.blink_frame, n, f"{v:.4f}", f"{a:.4f}"])
    atomic_write_text(directory / METADATA_FILE, buf.getvalue())
    done = _manifest(params, complete=True, n_sequences=len(specs), n_events=int(sum(counts)))
    atomic_write_text(directory / MANIFEST_FILE, json.dumps(done, indent=2, sort_keys=True) + "\n")


def _upgrade_metadata(directory: Path, params: Mapping[str, Any], specs: list[SequenceSpec],
                      old: Mapping[str, Any]) -> bool:
    """Rewrite ``metadata.csv`` and the manifest of a complete tree whose metadata is of an older
    :data:`METADATA_VERSION` (no valence/arousal). The event counts come from the old
    ``metadata.csv`` when it lists every sequence (else from the event files, read, never
    written). Returns whether anything was rewritten."""
    if int(old.get("metadata_version", 1)) >= METADATA_VERSION:
        return False
    counts: dict[tuple[str, str], int] = {}
    try:
        with open(directory / METADATA_FILE, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                counts[(row["subject"], row["sequence"])] = int(row["n_events"])
    except (OSError, KeyError, ValueError) as exc:
        log.warning("%s: old metadata unreadable (%s); counting events from the files",
                    directory / METADATA_FILE, exc)
        counts = {}
    sensor = (params["size"], params["size"], 2)
    n = [counts[(s.subject, s.sequence)] if (s.subject, s.sequence) in counts
         else int(read_v2e_h5(directory / s.subject / f"{s.sequence}.h5", sensor).shape[0])
         for s in specs]
    _write_metadata(directory, params, specs, n)
    log.info("%s: metadata of %s upgraded to version %d (valence, arousal); event files "
             "untouched", NAME, directory, METADATA_VERSION)
    return True


METADATA_COLUMNS = ("subject", "sequence", "label", "class", "take", "lighting", "amplitude",
                    "onset_frame", "apex_frame", "blink_frame", "n_events", "valence", "arousal")
"""Columns of ``metadata.csv`` (comma-separated, header row, LF line ends); ``label`` is 1-based
as in ``folds.csv``; ``valence`` and ``arousal`` (4 decimals, in [-1, 1]; :func:`sequence_va`)
since :data:`METADATA_VERSION` 2."""

VA_COLUMNS = ("valence", "arousal")
_REQUIRED_METADATA = tuple(c for c in METADATA_COLUMNS if c not in VA_COLUMNS)


def ensure_synthetic_fer_dvs(data_root: str | os.PathLike, **params: Any) -> Path:
    """Make sure ``synthetic-fer-dvs`` with ``params`` exists under ``data_root``; generate it if
    not (see :func:`generate_synthetic_fer_dvs` for the parameters and the caching rules).

    Returns:
        ``data_root`` as a Path: the dataset root to pass to :class:`SyntheticFerDVS`.

    Raises:
        TypeError: an unknown parameter (the message lists the known ones). ValueError: a value
        out of range.
    """
    _params(**{k: v for k, v in params.items() if k not in ("progress", "folder")})  # typo check
    return generate_synthetic_fer_dvs(data_root, **params)


