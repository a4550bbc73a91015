"""Fold files and fold assignments: the Spiking-FER ``folds.csv`` and subject-independent k folds.

The ``folds.csv`` format is that of Spiking-FER (Barchid et al., "Spiking-Fer: Spiking Neural
Network for Facial Expression Recognition With Event Cameras", CBMI 2023; repository
``Barchid/spiking-fer``, ``data/FerDVS/<Name>DVS/folds.csv``, read by
``project/datamodules/fer_dvs.py``):

* separator ``;``, no header, CRLF line ends;
* columns ``subject;sequence;label;fold0;...;fold9``;
* ``label`` is 1-based (upstream uses ``label - 1``): 1..6 = happy, fear, surprise, anger, disgust,
  sadness for the four FerDVS datasets;
* a ``1`` in column ``foldK`` means the row is in the **test** split of fold K, a ``0`` that it is
  in the training split. The upstream folds are ~20 % random hold-outs, not a partition, and not
  subject-independent.

The reader keeps ``subject`` and ``sequence`` as written (``001`` stays ``001``; upstream parses it
as an int and re-pads it with ``zfill(3)``, which gives the same file name for the published files).
It accepts CRLF and LF line ends and any number (>= 1) of fold columns, the same in every row.

:func:`subject_folds` builds a subject-independent assignment (every subject's sequences lie in
exactly one test fold) and :func:`validation_split` takes a validation set from the training
subjects, whole subjects at a time, never from the test split.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.common import DatasetError, atomic_write_text

log = logging.getLogger(__name__)

SPIKING_FER_CLASSES = ("happy", "fear", "surprise", "anger", "disgust", "sadness")
"""Class names of the four FerDVS datasets; ``folds.csv`` label ``i`` is ``SPIKING_FER_CLASSES[i-1]``
(order of ``FerDVS.classes`` in Barchid/spiking-fer ``project/datamodules/fer_dvs.py``)."""

SEPARATOR = ";"
"""Field separator of ``folds.csv`` (upstream reads it with ``pd.read_csv(delimiter=";")``)."""

LINE_END = "\r\n"
"""Line end of the published ``folds.csv`` files (CRLF)."""

N_META_COLUMNS = 3
"""Leading columns before the fold columns: ``subject``, ``sequence``, ``label``."""


@dataclass(frozen=True)
class FoldRow:
    """One row of a ``folds.csv`` file.

    Attributes:
        subject: subject identifier as written (e.g. ``S005``).
        sequence: sequence identifier as written (e.g. ``001``); the event file is
            ``<subject>/<sequence>.h5``.
        label: the 1-based label as written in the file (``label - 1`` is the class index).
        test_folds: one flag per fold column, ``True`` where the row is in that fold's test split.
        line: 1-based line number in the file it was read from (0 for rows built in memory).
    """

    subject: str
    sequence: str
    label: int
    test_folds: tuple[bool, ...]
    line: int = 0

    @property
    def class_index(self) -> int:
        """0-based class index (``label - 1``, as upstream)."""
        return self.label - 1


def _parse_int(text: str, path: Path, line: int, field: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DatasetError(
            f"{path}, line {line}: field '{field}' must be an integer, got {text!r}"
            + (" (folds.csv has no header row)" if line == 1 else "")
        ) from None


def parse_folds_csv(
    text: str, *, source: str | Path = "<folds.csv>", n_classes: int | None = None
) -> list[FoldRow]:
    """Parse the text of a ``folds.csv`` file (see the module docstring for the format).

    Args:
        text: the file contents (CRLF or LF line ends; trailing blank lines are ignored).
        source: the file name used in error messages.
        n_classes: if given, labels must lie in ``1..n_classes``; otherwise they must be >= 1.

    Returns:
        The rows in file order, ``len == number of non-blank lines``.

    Raises:
        DatasetError: naming ``source``, the 1-based line number, the field and the bad value, for
            an empty file, a blank line inside the file, a wrong number of fields (or a fold count
            that differs from the first row's), an empty subject or sequence, a non-integer or
            out-of-range label, a fold flag other than ``0``/``1``, or a duplicate
            ``(subject, sequence)`` pair.
    """
    path = Path(source)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DatasetError(f"{path}: the fold file is empty (expected subject;sequence;label;fold0;...)")
    rows: list[FoldRow] = []
    seen: dict[tuple[str, str], int] = {}
    n_fields_expected: int | None = None
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            raise DatasetError(f"{path}, line {lineno}: blank line inside the fold file")
        fields = raw.split(SEPARATOR)
        if n_fields_expected is None:
            if len(fields) < N_META_COLUMNS + 1:
                raise DatasetError(
                    f"{path}, line {lineno}: expected subject;sequence;label;fold0;... "
                    f"(at least {N_META_COLUMNS + 1} fields separated by {SEPARATOR!r}), "
                    f"got {len(fields)} field(s): {raw!r}"
                )
            n_fields_expected = len(fields)
        elif len(fields) != n_fields_expected:
            raise DatasetError(
                f"{path}, line {lineno}: expected {n_fields_expected} fields "
                f"(subject;sequence;label and {n_fields_expected - N_META_COLUMNS} fold columns, "
                f"as on line 1), got {len(fields)}: {raw!r}"
            )
        subject, sequence, label_text = (f.strip() for f in fields[:N_META_COLUMNS])
        if not subject:
            raise DatasetError(f"{path}, line {lineno}: field 'subject' is empty: {raw!r}")
        if not sequence:
            raise DatasetError(f"{path}, line {lineno}: field 'sequence' is empty: {raw!r}")
        label = _parse_int(label_text, path, lineno, "label")
        if label < 1 or (n_classes is not None and label > n_classes):
            rng = f"1..{n_classes}" if n_classes is not None else ">= 1"
            raise DatasetError(
                f"{path}, line {lineno}: field 'label' = {label} is out of range (expected {rng})"
            )
        flags: list[bool] = []
        for k, flag in enumerate(fields[N_META_COLUMNS:]):
            flag = flag.strip()
            if flag not in ("0", "1"):
                raise DatasetError(
                    f"{path}, line {lineno}: field 'fold{k}' must be 0 or 1, got {flag!r}"
                )
            flags.append(flag == "1")
        key = (subject, sequence)
        if key in seen:
            raise DatasetError(
                f"{path}, line {lineno}: duplicate (subject, sequence) = {key} "
                f"(first on line {seen[key]})"
            )
        seen[key] = lineno
        rows.append(FoldRow(subject, sequence, label, tuple(flags), lineno))
    return rows


def read_folds_csv(path: str | os.PathLike, *, n_classes: int | None = None) -> list[FoldRow]:
    """Read and validate a ``folds.csv`` file (see :func:`parse_folds_csv`).

    Args:
        path: the file.
        n_classes: if given, labels must lie in ``1..n_classes``.

    Returns:
        The rows in file order.

    Raises:
        DatasetError: the file is missing, not UTF-8 text, or malformed (message names the file,
            line, field and value).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the fold file ({exc})") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: the fold file is not UTF-8 text ({exc})") from exc
    rows = parse_folds_csv(text, source=path, n_classes=n_classes)
    log.debug("read %d rows, %d folds from %s", len(rows), len(rows[0].test_folds), path)
    return rows


def format_folds_csv(rows: Iterable[FoldRow]) -> str:
    """Format rows in the ``folds.csv`` format: ``;``-separated, no header, CRLF after every row.

    Raises:
        ValueError: a row has a field containing ``;`` or a line break, a label < 1, or a
            different number of fold flags from the first row.
    """
    out: list[str] = []
    n_folds: int | None = None
    for i, row in enumerate(rows):
        for name in ("subject", "sequence"):
            value = getattr(row, name)
            if not value or any(c in value for c in (SEPARATOR, "\r", "\n")):
                raise ValueError(f"row {i}: field '{name}' = {value!r} is empty or contains ';'/newline")
        if row.label < 1:
            raise ValueError(f"row {i}: field 'label' = {row.label} must be >= 1 (1-based)")
        if n_folds is None:
            n_folds = len(row.test_folds)
            if n_folds < 1:
                raise ValueError(f"row {i}: at least one fold column is needed")
        elif len(row.test_folds) != n_folds:
            raise ValueError(f"row {i}: {len(row.test_folds)} fold flags, expected {n_folds}")
        flags = SEPARATOR.join("1" if f else "0" for f in row.test_folds)
        out.append(f"{row.subject}{SEPARATOR}{row.sequence}{SEPARATOR}{row.label}{SEPARATOR}{flags}")
    return "".join(line + LINE_END for line in out)


def write_folds_csv(path: str | os.PathLike, rows: Iterable[FoldRow]) -> Path:
    """Write rows as a ``folds.csv`` file, atomically (temporary file, then rename).

    Returns:
        The path written.

    Raises:
        ValueError: see :func:`format_folds_csv`.
    """
    path = Path(path)
    text = format_folds_csv(rows)
    return atomic_write_text(path, text)


def fold_split(rows: Sequence[FoldRow], fold: int) -> tuple[list[int], list[int]]:
    """``(train_indices, test_indices)`` into ``rows`` for fold ``fold`` of the file's own folds.

    A row is in the test split where its ``fold<fold>`` flag is 1 (upstream:
    ``folds[f"fold{k}"] == (not train)``), and in the training split otherwise.

    Raises:
        ValueError: ``fold`` outside ``0..n_folds-1``.
    """
    n_folds = len(rows[0].test_folds) if rows else 0
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in 0..{n_folds - 1}, got {fold}")
    test = [i for i, r in enumerate(rows) if r.test_folds[fold]]
    train = [i for i, r in enumerate(rows) if not r.test_folds[fold]]
    return train, test


def subject_folds(subjects: Iterable[str], k: int = 10, seed: int = 0) -> dict[str, int]:
    """Subject-independent k-fold assignment: each subject's sequences go to one test fold.

    ``subjects`` may list one entry per sequence (repeats count as the subject's number of
    sequences) or each subject once. Subjects are taken in sorted order, shuffled with
    ``numpy.random.default_rng(seed)``, stably sorted by decreasing sequence count, and each is
    assigned to the fold with the fewest sequences so far (ties: fewest subjects, then lowest
    fold index). This greedy "longest processing time first" rule (Graham, "Bounds on
    multiprocessing timing anomalies", SIAM J. Appl. Math. 1969) keeps the folds' sequence counts
    within the largest subject's count of each other; with equal counts it deals the subjects
    round-robin, so fold sizes differ by at most one subject.

    Args:
        subjects: subject identifiers, shape ``(N,)``.
        k: number of folds, ``2 <= k <= number of distinct subjects``.
        seed: seed of the shuffle; the same subjects, ``k`` and ``seed`` give the same assignment
            whatever the input order.

    Returns:
        ``{subject: fold}`` with folds in ``0..k-1``, every fold non-empty.

    Raises:
        ValueError: ``k < 2`` or ``k`` exceeds the number of distinct subjects.
    """
    counts = Counter(subjects)
    names = sorted(counts)
    if k < 2:
        raise ValueError(f"k must be >= 2 folds, got {k}")
    if k > len(names):
        raise ValueError(f"k = {k} folds need at least {k} subjects, got {len(names)}")
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    order.sort(key=lambda s: -counts[s])  # stable: ties keep the shuffled order
    load = [0] * k
    members = [0] * k
    assignment: dict[str, int] = {}
    for s in order:
        f = min(range(k), key=lambda j: (load[j], members[j], j))
        assignment[s] = f
        load[f] += counts[s]
        members[f] += 1
    log.debug("subject folds (k=%d, seed=%d): sequences per fold %s", k, seed, load)
    return assignment


def subject_fold_split(
    subjects: Sequence[str], fold: int, k: int = 10, seed: int = 0
) -> tuple[list[int], list[int]]:
    """``(train_indices, test_indices)`` into ``subjects`` (one entry per sequence) for ``fold`` of
    the :func:`subject_folds` assignment.

    Raises:
        ValueError: ``fold`` outside ``0..k-1``, or see :func:`subject_folds`.
    """
    if not 0 <= fold < k:
        raise ValueError(f"fold must be in 0..{k - 1}, got {fold}")
    assignment = subject_folds(subjects, k, seed)
    test = [i for i, s in enumerate(subjects) if assignment[s] == fold]
    train = [i for i, s in enumerate(subjects) if assignment[s] != fold]
    return train, test


def validation_split(
    train_indices: Sequence[int],
    subjects: Sequence[str],
    fraction: float = 0.2,
    seed: int = 0,
) -> tuple[list[int], list[int]]:
    """Hold whole training subjects out as a validation set (never touching the test split).

    ``n_val = max(1, round(fraction * S))`` (Python's round, half to even; at most ``S - 1``) of
    the ``S`` distinct training subjects are drawn with ``numpy.random.default_rng(seed)`` from
    the sorted subject list; every training sequence of those subjects goes to validation.

    Args:
        train_indices: dataset indices of the training sequences, shape ``(N_train,)``.
        subjects: the subject of each training sequence, aligned with ``train_indices``
            (``subjects[j]`` is the subject of sequence ``train_indices[j]``), shape ``(N_train,)``.
        fraction: share of the training subjects to hold out, ``0 < fraction < 1``.
        seed: seed of the draw.

    Returns:
        ``(train, val)``: disjoint lists of dataset indices whose union is ``train_indices``,
        each in the order of ``train_indices``; no subject appears in both.

    Raises:
        ValueError: ``fraction`` outside (0, 1), ``subjects`` not as long as ``train_indices``,
            or fewer than two training subjects.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    idx = list(train_indices)
    subj = list(subjects)
    if len(subj) != len(idx):
        raise ValueError(
            f"subjects must be aligned with train_indices: got {len(subj)} subjects for "
            f"{len(idx)} training indices"
        )
    names = sorted(set(subj))
    if len(names) < 2:
        raise ValueError(
            f"a subject-level validation split needs >= 2 training subjects, got {len(names)}"
        )
    n_val = min(len(names) - 1, max(1, round(fraction * len(names))))
    chosen = np.random.default_rng(seed).choice(len(names), size=n_val, replace=False)
    val_subjects = {names[j] for j in chosen}
    train = [i for i, s in zip(idx, subj, strict=True) if s not in val_subjects]
    val = [i for i, s in zip(idx, subj, strict=True) if s in val_subjects]
    return train, val
