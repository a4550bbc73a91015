"""NEFER's annotation index: reads and cross-checks the annotation CSVs of a NEFER tree (the layout
is described in :mod:`datasets.loaders.nefer`), pairs event and RGB sequences, locates their frame
folders and raw recordings, and collects every problem found with its file, line, field and value
(for the dataset's constructor and ``check nefer``).
"""

from __future__ import annotations

import csv
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from datasets.base import DatasetError
from datasets.io.tbr import png_header

NEFER_EMOTIONS: tuple[str, ...] = (
    "Anger", "Contempt", "Disgust", "Fear", "Happiness", "Sadness", "Surprise",
)
"""The seven emotions of NEFER's annotation files, as spelled there (class index = position)."""

LABEL_SETS: dict[str, tuple[str, ...]] = {
    "expected": NEFER_EMOTIONS,
    "reported": (*NEFER_EMOTIONS, "None"),
    "reported_without_none": NEFER_EMOTIONS,
}
"""Label set -> class names: ``expected`` (``expected_emotions/``), ``reported``
(``reported_emotions/``, with ``None``) and ``reported_without_none`` (``reported_emotions/``,
``None`` sequences left out)."""

LABEL_FOLDERS = {"expected": "expected_emotions", "reported": "reported_emotions",
                 "reported_without_none": "reported_emotions"}
"""Label set -> its annotation folder."""

SPLITS = ("train", "validation")
"""The repository's two user splits (``validation`` = the test set of the ``official`` protocol)."""

PROTOCOLS = ("official", "subject")
"""``official`` (aliases ``folds``, ``fixed``) and ``subject``; see the module docstring."""

FRAMES_PER_SEQUENCE = 51
"""Frames per sequence in every annotation file (``frame_00.png`` .. ``frame_50.png``)."""

EVENT_FRAME_FOLDERS = ("event_frame_NEW", "event_frames")
"""Event-frame folder names: as in the CSV paths, as in the repository README."""

RGB_FRAME_FOLDERS = ("rgb_frames", "gopro_frame")
"""RGB-frame folder names: README and training CSVs, validation CSVs."""

RAW_FOLDER = "event_raw"
"""Folder of the raw event recordings (repository README)."""

RAW_SUFFIXES = (".raw", ".dat")
"""Raw recording suffixes tried, in order (Prophesee EVT ``.raw`` and DAT ``_cd.dat``)."""

NEFER_URL = "https://github.com/miccunifi/NEFER"


FRAME_NAME = re.compile(r"frame_(\d+)\.png")
"""A frame file name as the annotation files write it (``frame_NN.png``; group 1 = NN)."""


class NEFERError(DatasetError):
    """NEFER's annotations or frames are broken; ``problems`` lists every problem found (the
    message names the first few and the count)."""

    def __init__(self, message: str, problems: list[NEFERProblem]):
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class NEFERProblem:
    """One problem of a NEFER tree.

    Attributes:
        file: the annotation file, frame or folder at fault.
        line: 1-based line of the annotation file, or ``None``.
        field: what is wrong: ``"file"`` (missing or unreadable annotation file), ``"columns"``,
            ``"label"``, ``"frame path"``, ``"frames"`` (frame count or names of a sequence),
            ``"frame"`` (a missing or unreadable frame), ``"folder"`` (a missing sequence
            folder), ``"pairing"`` (an event sequence without its RGB sequence or the reverse,
            or their labels disagree), ``"user"`` (a user in both splits), ``"format"`` (a frame
            whose size or bit depth differs from the others).
        value: the bad value (JSON scalar).
        message: a full sentence naming the file (and line), field and value.
    """

    file: Path
    line: int | None
    field: str
    value: Any
    message: str


def escape_invisible(text: str) -> str:
    """``text`` with every character that does not print escaped as Python's ``repr`` escapes it
    (``\\ufeff``, ``\\u200b``, ``\\xa0``, ``\\t``; :meth:`str.isprintable`): two values that
    differ only by an invisible character read differently in a message.

    >>> escape_invisible("\\ufeffuser_01 ok")
    '\\\\ufeffuser_01 ok'
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def make_problem(file: Path, line: int | None, fld: str, value: Any, what: str) -> NEFERProblem:
    """A :class:`NEFERProblem` whose message names ``file`` (and ``line``), the field ``fld``
    and ``value``, then says ``what`` is wrong; invisible characters anywhere in the message are
    escaped (:func:`escape_invisible`)."""
    where = f"{file}, line {line}" if line is not None else f"{file}"
    return NEFERProblem(Path(file), line, fld, value,
                        escape_invisible(f"{where}: field {fld!r} = {value!r}: {what}"))



@dataclass
class _Row:
    line: int
    user: str
    sequence: str
    folder: str
    frame: str
    label: str


@dataclass
class _Seq:
    user: str
    sequence: str
    file: Path
    first_line: int
    folder: str
    rows: list[_Row] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.rows[0].label


def annotation_files(directory: Path, label_set: str) -> dict[tuple[str, str], Path]:
    """``{(split, "event" | "gopro"): path}`` of ``label_set``'s four annotation files under
    ``directory/annotations/<label folder>/`` (or ``directory/<label folder>/`` when that folder
    exists and the former does not). The paths are returned whether or not they exist."""
    folder = LABEL_FOLDERS[label_set]
    base = directory / "annotations" / folder
    if not base.is_dir() and (directory / folder).is_dir():
        base = directory / folder
    suffix = "_subjective" if folder == "reported_emotions" else ""
    return {(split, kind): base / f"{split}_{kind}{suffix}.csv"
            for split in SPLITS for kind in ("event", "gopro")}


def _read_annotation_file(path: Path, labels: tuple[str, ...],
                          problems: list[NEFERProblem]) -> list[_Seq]:
    """The sequences of one annotation file in file order; every malformed row is a problem.
    The file is read as UTF-8 with an optional byte-order mark (``utf-8-sig``: spreadsheet tools
    write one), which is not part of the first row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        problems.append(make_problem(path, None, "file", "missing", "annotation file not found"))
        return []
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(make_problem(path, None, "file", "unreadable", f"cannot read it ({exc})"))
        return []
    seqs: OrderedDict[tuple[str, str], _Seq] = OrderedDict()
    for line, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 4:
            problems.append(make_problem(
                path, line, "columns", len(row),
                f"expected 4 columns (user, sequence, frame path, label) in "
                f"{','.join(row)!r}"))
            continue
        user, sequence, frame_path, label = (c.strip() for c in row)
        if label not in labels:
            problems.append(make_problem(path, line, "label", label,
                                         f"not in the label set ({', '.join(labels)})"))
            continue
        parts = PurePosixPath(frame_path.replace("\\", "/")).parts
        parts = tuple(p for p in parts if p not in ("..", "."))
        if (len(parts) < 4 or parts[-3] != user or parts[-2] != sequence
                or FRAME_NAME.fullmatch(parts[-1]) is None):
            problems.append(make_problem(path, line, "frame path", frame_path,
                                         f"expected <folder>/{user}/{sequence}/frame_NN.png"))
            continue
        r = _Row(line, user, sequence, "/".join(parts[:-3]), parts[-1], label)
        key = (user, sequence)
        if key not in seqs:
            seqs[key] = _Seq(user, sequence, path, line, r.folder)
        seqs[key].rows.append(r)
    wanted = [f"frame_{i:02d}.png" for i in range(FRAMES_PER_SEQUENCE)]
    for s in seqs.values():
        names = [r.frame for r in s.rows]
        if len(names) != FRAMES_PER_SEQUENCE or sorted(names) != wanted:
            problems.append(make_problem(
                path, s.first_line, "frames", len(names),
                f"sequence {s.sequence!r} of {s.user} has {len(names)} frame "
                f"rows, expected the {FRAMES_PER_SEQUENCE} frames "
                f"frame_00.png .. frame_{FRAMES_PER_SEQUENCE - 1}.png once each"))
        distinct = list(dict.fromkeys(r.label for r in s.rows))
        if len(distinct) > 1:
            bad = next(r for r in s.rows if r.label != distinct[0])
            problems.append(make_problem(path, bad.line, "label", bad.label,
                                         f"sequence {s.sequence!r} of {s.user} is labelled "
                                         f"{distinct[0]!r} on line {s.first_line}"))
    return list(seqs.values())


def _pair(ev: list[_Seq], rgb: list[_Seq], ev_file: Path, rgb_file: Path,
          problems: list[NEFERProblem]) -> list[tuple[_Seq, _Seq | None]]:
    """Pair event and RGB sequences by position within each user; unpaired sequences and label
    disagreements are problems. Returns ``(event, rgb or None)`` in event-file order."""
    by_user_rgb: OrderedDict[str, list[_Seq]] = OrderedDict()
    for s in rgb:
        by_user_rgb.setdefault(s.user, []).append(s)
    by_user_ev: OrderedDict[str, list[_Seq]] = OrderedDict()
    for s in ev:
        by_user_ev.setdefault(s.user, []).append(s)
    out: list[tuple[_Seq, _Seq | None]] = []
    for user, evs in by_user_ev.items():
        rgbs = by_user_rgb.get(user, [])
        for i, e in enumerate(evs):
            r = rgbs[i] if i < len(rgbs) else None
            if r is None:
                problems.append(make_problem(
                    ev_file, e.first_line, "pairing", e.sequence,
                    f"event sequence {i + 1} of {user} has no RGB sequence "
                    f"at that position in {rgb_file.name} ({len(rgbs)} "
                    f"listed for {user})"))
            elif r.label != e.label:
                problems.append(make_problem(
                    ev_file, e.first_line, "pairing", e.label,
                    f"event sequence {e.sequence!r} is labelled {e.label!r} "
                    f"but its RGB sequence {r.sequence!r} ({rgb_file.name}, "
                    f"line {r.first_line}) is labelled {r.label!r}"))
            out.append((e, r))
        for r in rgbs[len(evs):]:
            problems.append(make_problem(rgb_file, r.first_line, "pairing", r.sequence,
                                         f"RGB sequence of {user} has no event sequence at that "
                                         f"position in {ev_file.name} ({len(evs)} listed)"))
    for user, rgbs in by_user_rgb.items():
        if user not in by_user_ev:
            for r in rgbs:
                problems.append(make_problem(
                    rgb_file, r.first_line, "pairing", r.sequence,
                    f"RGB sequence of {user}, who has no event sequence in "
                    f"{ev_file.name}"))
    return out


def _sequence_dir(directory: Path, written: str, user: str, sequence: str,
                  variants: tuple[str, ...]) -> Path:
    """The folder of a sequence's frames: under the folder named in the CSV, else the first
    variant whose folder exists, else (missing) the one named in the CSV."""
    names = list(dict.fromkeys([written, *variants]))
    candidates = [directory / n / user / sequence for n in names if n]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def _raw_path(directory: Path, user: str, sequence: str) -> Path | None:
    for base in (directory / RAW_FOLDER / user, directory / RAW_FOLDER):
        for suffix in RAW_SUFFIXES:
            p = base / f"{sequence}{suffix}"
            if p.is_file():
                return p
    return None


def _frame_problems(seq_dir: Path, rows: list[_Row], kind: str, verify: bool,
                    formats: dict[str, dict], source: Path) -> list[NEFERProblem]:
    """Missing (and with ``verify``, unreadable or inconsistent) frames of one sequence."""
    if not seq_dir.is_dir():
        return [make_problem(seq_dir, None, "folder", "missing",
                             f"no {kind} frame folder for the sequence named in {source.name}")]
    out = []
    for r in rows:
        p = seq_dir / r.frame
        if not p.is_file():
            out.append(make_problem(
                p, None, "frame", "missing",
                f"no such {kind} frame (named in {source.name}, line {r.line})"))
            continue
        if not verify:
            continue
        try:
            head = png_header(p)
            from PIL import Image

            with Image.open(p) as img:
                img.verify()  # chunk CRCs and the end of the stream, without decoding pixels
        except Exception as exc:  # noqa: BLE001 - any decoder failure is an unreadable frame
            out.append(make_problem(p, None, "frame", "unreadable", f"cannot read the {kind} frame "
                                    f"({exc})"))
            continue
        ref = formats.setdefault(kind, head)
        for key in ("width", "height", "bit_depth", "color_type"):
            if head[key] != ref[key]:
                out.append(make_problem(p, None, "format", f"{key}={head[key]}",
                                        f"differs from the other {kind} frames ({key}={ref[key]})"))
                break
    return out


def index_nefer(directory: Path, label_set: str, *, frames: str = "exist"
                ) -> tuple[list[dict[str, Any]], list[NEFERProblem], dict[tuple[str, str], Path]]:
    """Read and cross-check NEFER's annotations under ``directory``; collect every problem.

    Args:
        directory: the NEFER folder.
        label_set: a key of :data:`LABEL_SETS`.
        frames: ``"none"`` (annotations only), ``"exist"`` (every frame file must exist) or
            ``"verify"`` (also read every PNG's header and check its chunks, and compare sizes
            and bit depths).

    Returns:
        ``(sequences, problems, files)``: one dict per usable event sequence (``user``,
        ``sequence``, ``label`` (string), ``split``, ``event_dir``, ``rgb_sequence``,
        ``rgb_dir``, ``raw``, ``frames`` (names)), every problem in file then line order, and
        the annotation files read.

    Raises:
        ValueError: an unknown ``label_set`` or ``frames`` mode.
    """
    if label_set not in LABEL_SETS:
        raise ValueError(f"label_set must be one of {', '.join(LABEL_SETS)}, got {label_set!r}")
    if frames not in ("none", "exist", "verify"):
        raise ValueError(f"frames must be 'none', 'exist' or 'verify', got {frames!r}")
    labels = LABEL_SETS["reported"] if LABEL_FOLDERS[label_set] == "reported_emotions" else (
        LABEL_SETS[label_set])
    files = annotation_files(directory, label_set)
    problems: list[NEFERProblem] = []
    users: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    formats: dict[str, dict] = {}
    for split in SPLITS:
        ev_file, rgb_file = files[(split, "event")], files[(split, "gopro")]
        ev = _read_annotation_file(ev_file, labels, problems)
        rgb = _read_annotation_file(rgb_file, labels, problems)
        for s in ev:
            other = users.setdefault(s.user, split)
            if other != split:
                problems.append(make_problem(ev_file, s.first_line, "user", s.user,
                                             f"the user is also in the {other} split"))
        for e, r in _pair(ev, rgb, ev_file, rgb_file, problems):
            event_dir = _sequence_dir(directory, e.folder, e.user, e.sequence, EVENT_FRAME_FOLDERS)
            rgb_dir = (_sequence_dir(directory, r.folder, r.user, r.sequence, RGB_FRAME_FOLDERS)
                       if r is not None else None)
            if frames != "none":
                problems += _frame_problems(event_dir, e.rows, "event", frames == "verify",
                                            formats, ev_file)
                if r is not None and rgb_dir is not None:
                    problems += _frame_problems(rgb_dir, r.rows, "rgb", frames == "verify",
                                                formats, rgb_file)
            if label_set == "reported_without_none" and e.label == "None":
                continue
            out.append({
                "user": e.user, "sequence": e.sequence, "label": e.label, "split": split,
                "event_dir": event_dir, "rgb_sequence": r.sequence if r is not None else None,
                "rgb_dir": rgb_dir, "raw": _raw_path(directory, e.user, e.sequence),
                "frames": [row.frame for row in sorted(e.rows, key=lambda q: q.frame)],
            })
    return out, problems, files
