"""CK+ -> the FerDVS event dataset ``CKPlusDVS``, in batch (:func:`convert_ckplus`).

CK+ (Lucey et al., "The Extended Cohn-Kanade Dataset (CK+)", CVPRW 2010) is distributed as
``cohn-kanade-images/<subject>/<sequence>/*.png`` with labels in
``Emotion/<subject>/<sequence>/*_emotion.txt`` (one float, e.g. ``   3.0000000e+00``), codes
0-7 = neutral, anger, contempt, disgust, fear, happy, sadness, surprise (:data:`CKPLUS_EMOTIONS`).
:func:`convert_ckplus` writes the FerDVS layout ``<out>/CKPlusDVS/<subject>/<sequence>.h5`` plus
``folds.csv``, mapping CK+ codes to the six Spiking-FER classes (:data:`CKPLUS_TO_SPIKING_FER`);
each sequence is converted by :func:`datasets.conversion.sequence.convert_sequence`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from datasets.common import atomic_write
from datasets.conversion.emulator import EmulatorParams
from datasets.conversion.sequence import _progress, convert_sequence
from datasets.conversion.sources import CKPLUS_IMAGES_DIR, ConvertError
from datasets.conversion.standardize import CropSpec, LandmarkDetector, LandmarkModelMissingError

log = logging.getLogger(__name__)

__all__ = ["FERDVS_CKPLUS_FOLDER", "CKPLUS_EMOTION_DIR", "CKPLUS_EMOTIONS", "CKPLUS_TO_SPIKING_FER",
           "CKPlusSequence", "read_ckplus_emotion", "find_ckplus_sequences", "BatchSummary",
           "convert_ckplus"]

FERDVS_CKPLUS_FOLDER = "CKPlusDVS"
"""Folder of the CK+ event dataset in the FerDVS layout (``datasets.loaders.ferdvs.CKPlusDVS.folder``)."""

CKPLUS_EMOTION_DIR = "Emotion"
"""Folder of the CK+ distribution that holds the labels (``Emotion/<subject>/<sequence>``)."""

CKPLUS_EMOTIONS = ("neutral", "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
"""CK+ emotion codes: ``CKPLUS_EMOTIONS[code]`` (Lucey et al. 2010, Table 1 / the CK+ ReadMe)."""

CKPLUS_TO_SPIKING_FER = {5: 1, 4: 2, 7: 3, 1: 4, 3: 5, 6: 6}
"""CK+ code -> Spiking-FER ``folds.csv`` label (1..6 = happy, fear, surprise, anger, disgust,
sadness; ``datasets.folds.SPIKING_FER_CLASSES``). Neutral (0) and contempt (2) have no class.
Checked on the published CKPlusDVS ``folds.csv``: S005/001, CK+ code 3 (disgust), has label 5."""


@dataclass(frozen=True)
class CKPlusSequence:
    """One CK+ sequence of the distribution layout.

    Attributes:
        subject: e.g. ``S005``. sequence: e.g. ``001``.
        frames_dir: ``cohn-kanade-images/<subject>/<sequence>``.
        emotion_file: ``Emotion/<subject>/<sequence>/*_emotion.txt``, or ``None`` if absent.
    """

    subject: str
    sequence: str
    frames_dir: Path
    emotion_file: Path | None

    @property
    def key(self) -> str:
        """``<subject>/<sequence>``."""
        return f"{self.subject}/{self.sequence}"


def read_ckplus_emotion(path: str | os.PathLike) -> int:
    """Read a CK+ ``*_emotion.txt`` file: one float such as ``   3.0000000e+00``.

    Returns:
        The emotion code, ``0..7`` (:data:`CKPLUS_EMOTIONS`).

    Raises:
        ConvertError: the file cannot be read, does not hold exactly one number, or the number
            is not an integer in ``0..7`` (the message names the file and the value).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConvertError(f"{path}: cannot read the CK+ emotion file ({exc})") from exc
    tokens = text.split()
    if len(tokens) != 1:
        raise ConvertError(
            f"{path}: a CK+ emotion file holds one number, got {len(tokens)} token(s): "
            f"{text.strip()[:60]!r}"
        )
    try:
        value = float(tokens[0])
    except ValueError:
        raise ConvertError(f"{path}: emotion code {tokens[0]!r} is not a number") from None
    if not value.is_integer() or not 0 <= value <= 7:
        raise ConvertError(f"{path}: emotion code {tokens[0]!r} is not an integer in 0..7")
    return int(value)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_ckplus_sequences(root: str | os.PathLike) -> list[CKPlusSequence]:
    """Sequences of a CK+ distribution folder (``root/cohn-kanade-images``, ``root/Emotion``),
    sorted by subject then sequence.

    Raises:
        ConvertError: ``root/cohn-kanade-images`` is absent, holds no sequence folder, or a
            sequence has more than one ``*_emotion.txt``.
    """
    root = Path(root)
    images = root / CKPLUS_IMAGES_DIR
    if not images.is_dir():
        raise ConvertError(
            f"{root}: no '{CKPLUS_IMAGES_DIR}' folder; expected the CK+ distribution layout "
            f"{CKPLUS_IMAGES_DIR}/<subject>/<sequence>/*.png and "
            f"{CKPLUS_EMOTION_DIR}/<subject>/<sequence>/*_emotion.txt"
        )
    emotions = root / CKPLUS_EMOTION_DIR
    if not emotions.is_dir():
        log.warning("%s: no '%s' folder; every sequence lacks a label", root, CKPLUS_EMOTION_DIR)
    out: list[CKPlusSequence] = []
    for subject_dir in _subdirs(images):
        for seq_dir in _subdirs(subject_dir):
            emo_dir = emotions / subject_dir.name / seq_dir.name
            emo_files = sorted(emo_dir.glob("*_emotion.txt")) if emo_dir.is_dir() else []
            if len(emo_files) > 1:
                raise ConvertError(
                    f"{emo_dir}: {len(emo_files)} emotion files, expected at most one: "
                    f"{[p.name for p in emo_files]}"
                )
            out.append(
                CKPlusSequence(
                    subject_dir.name, seq_dir.name, seq_dir, emo_files[0] if emo_files else None
                )
            )
    if not out:
        raise ConvertError(f"{images}: no <subject>/<sequence> folders")
    return out


@dataclass
class BatchSummary:
    """Outcome of :func:`convert_ckplus`.

    Attributes:
        out_dir: ``<out>/CKPlusDVS``.
        converted: ``subject/sequence`` keys converted in this run.
        existing: keys whose ``.h5`` already existed (resumed; not converted again).
        skipped: ``(key, reason)`` for sequences without a Spiking-FER label.
        failed: ``(key, error message)`` for sequences whose conversion raised.
        folds_file: the ``folds.csv`` written or copied, or ``None``.
        notes: other remarks (label disagreements, fold count reduced, ...).
        n_events: events written in this run. seconds: wall-clock time of the run, s.
        n_frames: frames converted in this run.
    """

    out_dir: Path
    converted: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    folds_file: Path | None = None
    notes: list[str] = field(default_factory=list)
    n_events: int = 0
    n_frames: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """``converted N, existing N, skipped N, failed N`` plus time."""
        return (
            f"converted {len(self.converted)}, existing {len(self.existing)} (resumed), "
            f"skipped {len(self.skipped)}, failed {len(self.failed)} in {self.seconds:.1f} s "
            f"-> {self.out_dir}"
        )

    def format(self) -> str:
        """Multi-line plain-text summary with every skip and failure and its reason."""
        lines = [self.line()]
        if self.converted:
            lines.append(f"  {self.n_frames} frames -> {self.n_events} events")
        for title, items in (("skipped", self.skipped), ("failed", self.failed)):
            if items:
                lines.append(f"{title}:")
                lines += [f"  {key}: {reason}" for key, reason in items]
        if self.notes:
            lines.append("notes:")
            lines += [f"  {n}" for n in self.notes]
        lines.append(f"folds file: {self.folds_file}" if self.folds_file else "folds file: none")
        return "\n".join(lines)


def _copy_atomic(src: Path, dst: Path) -> Path:
    return atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))


def _convert_all(
    todo: list[tuple[CKPlusSequence, int]],
    out_dir: Path,
    summary: BatchSummary,
    done: list[tuple[CKPlusSequence, int]],
    *,
    params: EmulatorParams,
    spec: CropSpec,
    detector: LandmarkDetector,
    save_frames: bool,
    preview: bool,
    progress: bool,
) -> None:
    """Convert (or find existing) every sequence of ``todo``; update ``summary`` and ``done``."""
    bar = _progress(todo, total=len(todo), desc="CK+ -> events", enabled=progress, unit="seq")
    for seq, label in bar:
        out_path = out_dir / seq.subject / f"{seq.sequence}.h5"
        if out_path.is_file():
            summary.existing.append(seq.key)
            done.append((seq, label))
            continue
        stem = out_dir / seq.subject / seq.sequence
        try:
            res = convert_sequence(
                seq.frames_dir,
                out_path,
                params=params,
                spec=spec,
                detector=detector,
                frames_dir=Path(f"{stem}_frames") if save_frames else None,
                preview_path=Path(f"{stem}_preview.png") if preview else None,
            )
        except LandmarkModelMissingError:
            raise  # not the sequence's fault: every other one would fail the same way
        except Exception as exc:  # one bad sequence must not stop the batch
            msg = f"{type(exc).__name__}: {exc}"
            log.error("%s: conversion failed: %s", seq.key, msg)
            summary.failed.append((seq.key, msg))
            continue
        summary.converted.append(seq.key)
        summary.n_events += res.n_events
        summary.n_frames += res.n_frames
        if res.reused_landmarks:
            summary.notes.append(
                f"{seq.key}: no face in {len(res.reused_landmarks)} of {res.n_frames} frames "
                "(landmarks of the previous frame reused)"
            )
        done.append((seq, label))


def convert_ckplus(
    ckplus_root: str | os.PathLike,
    out_root: str | os.PathLike,
    *,
    params: EmulatorParams = EmulatorParams(),  # noqa: B008 (a frozen dataclass)
    spec: CropSpec | None = None,
    folds_file: str | os.PathLike | None = None,
    n_folds: int = 10,
    fold_seed: int = 0,
    save_frames: bool = False,
    preview: bool = False,
    progress: bool = True,
    detector: LandmarkDetector | None = None,
) -> BatchSummary:
    """Convert CK+ to the FerDVS layout ``<out_root>/CKPlusDVS/<subject>/<sequence>.h5``.

    Labels: without ``folds_file``, from the CK+ emotion files mapped by
    :data:`CKPLUS_TO_SPIKING_FER`; sequences labelled neutral (0) or contempt (2), and sequences
    without an emotion file, are skipped with that reason. With ``folds_file`` (e.g. the
    published Spiking-FER ``CKPlusDVS/folds.csv``), its rows decide which sequences are converted
    and their labels; CK+ sequences it does not list are skipped, a listed sequence missing from
    the CK+ tree is a failure, and an emotion file that disagrees with the file's label is noted.

    Resumable: a sequence whose ``.h5`` exists is not converted again (files are written
    atomically, so an existing file is complete). A sequence that fails (unreadable frame, no
    face in its first frame, ...) is reported and the batch goes on.

    Folds: ``folds_file`` is validated (:func:`datasets.folds.read_folds_csv`, 6 classes) and
    copied to ``CKPlusDVS/folds.csv``; otherwise a subject-independent ``folds.csv`` is written
    from :func:`datasets.folds.subject_folds` (``n_folds`` folds, reduced to the number of
    subjects if fewer, ``fold_seed``) over every sequence with an ``.h5`` (converted or existing).

    Args:
        ckplus_root: folder holding ``cohn-kanade-images/`` and ``Emotion/``.
        out_root: data root; ``CKPlusDVS/`` is created in it.
        params, spec: emulator and standardization parameters (CK+ frames: ``params.fps``).
        folds_file: a ``folds.csv`` to follow and copy, or ``None``.
        n_folds, fold_seed: subject-independent folds when ``folds_file`` is ``None``.
        save_frames: also write the standardized frames to ``<subject>/<sequence>_frames/``.
        preview: also write ``<subject>/<sequence>_preview.png``.
        progress: show a progress bar over sequences.
        detector: landmark detector (default: a new one, loaded once for the batch).

    Returns:
        A :class:`BatchSummary` (also logged).

    Raises:
        ConvertError: the CK+ layout is not found (see :func:`find_ckplus_sequences`).
        datasets.common.DatasetError: ``folds_file`` is malformed.
        datasets.conversion.standardize.LandmarkModelMissingError: dlib or its model is not installed.
        ValueError: ``n_folds < 2``.
    """
    from datasets.folds import read_folds_csv

    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    spec = spec or CropSpec()
    t_start = time.perf_counter()
    sequences = find_ckplus_sequences(ckplus_root)
    out_dir = Path(out_root) / FERDVS_CKPLUS_FOLDER
    summary = BatchSummary(out_dir=out_dir)
    detector = detector or LandmarkDetector()
    detector.load()  # fail now, not once per sequence, if the convert extra is missing
    fold_rows = None
    if folds_file is not None:
        fold_rows = read_folds_csv(folds_file, n_classes=len(CKPLUS_TO_SPIKING_FER))
    todo = _ckplus_labels(sequences, fold_rows, folds_file, ckplus_root, summary)
    done: list[tuple[CKPlusSequence, int]] = []
    with contextlib.ExitStack() as stack:
        if progress:
            from tqdm.contrib.logging import logging_redirect_tqdm

            stack.enter_context(logging_redirect_tqdm())
        _convert_all(todo, out_dir, summary, done, params=params, spec=spec, detector=detector,
                     save_frames=save_frames, preview=preview, progress=progress)
    _ckplus_folds(done, fold_rows, folds_file, out_dir / "folds.csv", n_folds, fold_seed,
                  summary)
    summary.seconds = time.perf_counter() - t_start
    log.info("%s", summary.line())
    return summary


def _ckplus_labels(sequences: list[CKPlusSequence], fold_rows: list | None,
                   folds_file: str | os.PathLike | None, ckplus_root: str | os.PathLike,
                   summary: BatchSummary) -> list[tuple[CKPlusSequence, int]]:
    """Step 1 of :func:`convert_ckplus`: the label of every sequence to convert, from the folds
    file's rows (``fold_rows``) when given, else from the CK+ emotion files; a sequence left out
    goes to ``summary.skipped`` (or ``failed``) with its reason, a disagreement to ``notes``."""
    listed = {(r.subject, r.sequence): r.label for r in fold_rows or ()}
    todo: list[tuple[CKPlusSequence, int]] = []
    for seq in sequences:
        code: int | None = None
        emotion_error: str | None = None
        if seq.emotion_file is not None:
            try:
                code = read_ckplus_emotion(seq.emotion_file)
            except ConvertError as exc:
                emotion_error = str(exc)
        if fold_rows is not None:
            label = listed.get((seq.subject, seq.sequence))
            if label is None:
                summary.skipped.append((seq.key, f"not listed in {folds_file}"))
                continue
            mapped = CKPLUS_TO_SPIKING_FER.get(code) if code is not None else None
            if code is not None and mapped != label:
                summary.notes.append(
                    f"{seq.key}: {folds_file} gives label {label}, the CK+ emotion file "
                    f"{seq.emotion_file.name} gives code {code} ({CKPLUS_EMOTIONS[code]}) -> "
                    f"{mapped}; the folds file's label is used"
                )
            if emotion_error is not None:
                summary.notes.append(f"{emotion_error} (ignored: the folds file gives the label)")
            todo.append((seq, label))
            continue
        if emotion_error is not None:
            summary.failed.append((seq.key, emotion_error))
        elif code is None:
            summary.skipped.append((seq.key, "no CK+ emotion file (unlabelled sequence)"))
        elif code not in CKPLUS_TO_SPIKING_FER:
            summary.skipped.append(
                (seq.key, f"CK+ code {code} ({CKPLUS_EMOTIONS[code]}) has no Spiking-FER class")
            )
        else:
            todo.append((seq, CKPLUS_TO_SPIKING_FER[code]))
    if fold_rows is not None:
        present = {(s.subject, s.sequence) for s in sequences}
        for r in fold_rows:
            if (r.subject, r.sequence) not in present:
                summary.failed.append(
                    (f"{r.subject}/{r.sequence}",
                     f"listed in {folds_file} (line {r.line}) but no frames folder "
                     f"{Path(ckplus_root) / CKPLUS_IMAGES_DIR / r.subject / r.sequence}")
                )
    return todo


def _ckplus_folds(done: list[tuple[CKPlusSequence, int]], fold_rows: list | None,
                  folds_file: str | os.PathLike | None, folds_path: Path, n_folds: int,
                  fold_seed: int, summary: BatchSummary) -> None:
    """Step 3 of :func:`convert_ckplus`: copy the folds file to ``folds_path`` (noting rows
    without an event file yet), or write subject-independent folds over the converted sequences
    ``done`` (``n_folds``, reduced to the number of subjects, ``fold_seed``; none under 2
    subjects); sets ``summary.folds_file``."""
    from datasets.folds import FoldRow, subject_folds, write_folds_csv

    if fold_rows is not None:
        summary.folds_file = _copy_atomic(Path(folds_file), folds_path)
        have = {(s.subject, s.sequence) for s, _ in done}
        missing = [r for r in fold_rows if (r.subject, r.sequence) not in have]
        if missing:
            summary.notes.append(
                f"{len(missing)} row(s) of the copied folds.csv have no event file yet "
                f"(first: {missing[0].subject}/{missing[0].sequence})"
            )
        return
    subjects = sorted({s.subject for s, _ in done})
    if len(subjects) < 2:
        summary.notes.append(
            f"folds.csv not written: subject-independent folds need >= 2 subjects with "
            f"event files, got {len(subjects)}"
        )
        return
    k = min(n_folds, len(subjects))
    if k < n_folds:
        summary.notes.append(
            f"only {len(subjects)} subjects: folds.csv has {k} folds instead of {n_folds}"
        )
    assignment = subject_folds([s.subject for s, _ in done], k=k, seed=fold_seed)
    rows = [
        FoldRow(s.subject, s.sequence, label,
                tuple(assignment[s.subject] == f for f in range(k)))
        for s, label in sorted(done, key=lambda d: (d[0].subject, d[0].sequence))
    ]
    summary.folds_file = write_folds_csv(folds_path, rows)
