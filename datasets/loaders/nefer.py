"""NEFER: Neuromorphic Event-based Facial Expression Recognition (Berlincioni et al., CVPRW 2023;
repository miccunifi/NEFER), read from the archive as distributed.

26 annotated users watched the same 21 clips (3 per emotion) in front of a Prophesee event camera
and a GoPro. The release ships, per clip, 51 event frames (Temporal Binary Representation images,
Innocenti et al., "Temporal Binary Representation for Event-Based Action Recognition", ICPR
2020), 51 RGB frames, the raw event recording, and four annotation CSVs per label version::

    <root>/NEFER/annotations/expected_emotions/{train,validation}_{event,gopro}.csv
    <root>/NEFER/annotations/reported_emotions/{train,validation}_{event,gopro}_subjective.csv
    <root>/NEFER/event_frame_NEW/user_XX/<event sequence>/frame_NN.png   (README: event_frames/)
    <root>/NEFER/rgb_frames/user_XX/GOPRnnnn/frame_NN.png               (validation CSVs:
                                                                         gopro_frame/)
    <root>/NEFER/event_raw/user_XX/<event sequence>.{raw,dat}           (optional)

(``annotations/`` may be left out: the two label folders may lie directly under ``NEFER/``, and
``NEFER/`` itself may be the data root.) A CSV row is ``user, sequence, frame path, label``, no
header, LF line ends; every sequence has 51 rows ``frame_00.png`` .. ``frame_50.png`` with one
label. The frame paths as written (``../event_frame_NEW/...``, ``rgb_frames/...``,
``../gopro_frame/...``) disagree with the repository README's folder names; both are accepted:
a frame is looked up as ``<folder>/user_XX/<sequence>/frame_NN.png`` under the folder named in
the CSV (leading ``../`` dropped), then under the README's name, then the other variant.

Label sets (:data:`LABEL_SETS`): ``expected`` (the emotion the clip was meant to elicit, 7
classes), ``reported`` (what the user reported: the 7 plus ``None``, 8 classes) and
``reported_without_none`` (7 classes; sequences reported as ``None`` left out). ``None`` is a
label string, never a missing value.

Protocols: ``official`` (aliases ``folds``, ``fixed``: the repository's split, the 20 training
users train and the 6 validation users are the test set; model selection uses a validation split
of whole training users, :meth:`EventDataset.validation_split`) and ``subject`` (``subject_k``
= 5 subject-independent folds over the 26 users).

Event and RGB sequences pair by position within a user (the two files of a user list the same
clips in the same order). What the release does not document is read from the files when the
dataset is opened and recorded in :attr:`NEFERDataset.data_format`: the frames' PNG size, bit
depth and colour type (from the PNG header), the TBR bit count, and, when raw recordings are
present, their format and sensor size (through :mod:`datasets.io.prophesee`).

Obtaining NEFER: download the archive linked from https://github.com/miccunifi/NEFER (about
8.5 GB) and unpack it so that ``NEFER/`` lies under the data root.
"""

from __future__ import annotations

import csv
import logging
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import numpy as np

from datasets.base import (
    DatasetError,
    DatasetNotFoundError,
    EventDataset,
    SequenceInfo,
    register_dataset,
)
from datasets.folds import subject_fold_split, subject_folds

log = logging.getLogger(__name__)

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

_FRAME_NAME = re.compile(r"frame_(\d+)\.png")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPES = {0: "grey", 2: "rgb", 3: "palette", 4: "grey+alpha", 6: "rgba"}
_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


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


def _problem(file: Path, line: int | None, fld: str, value: Any, what: str) -> NEFERProblem:
    where = f"{file}, line {line}" if line is not None else f"{file}"
    return NEFERProblem(Path(file), line, fld, value, f"{where}: field {fld!r} = {value!r}: {what}")


# --------------------------------------------------------------------------------------------
# PNG header and Temporal Binary Representation decoding
# --------------------------------------------------------------------------------------------


def png_header(path: str | Path) -> dict[str, Any]:
    """Width, height, bit depth and colour type of a PNG, read from its IHDR chunk (PNG
    specification, W3C 2003, section 11.2.2: signature, then the IHDR chunk with width and height
    as big-endian uint32, bit depth and colour type as bytes).

    Returns:
        ``{"width", "height", "bit_depth", "color_type", "color"}`` (``color`` = ``"grey"``,
        ``"rgb"``, ``"palette"``, ``"grey+alpha"`` or ``"rgba"``).

    Raises:
        DatasetError: not a PNG, or the file is shorter than its header (file named).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(29)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the frame ({exc})") from exc
    if len(head) < 29 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise DatasetError(f"{path}: field 'header' = {head[:16]!r}: not a PNG image (or truncated)")
    width, height, depth, color = struct.unpack(">IIBB", head[16:26])
    return {"width": int(width), "height": int(height), "bit_depth": int(depth),
            "color_type": int(color), "color": _PNG_COLOR_TYPES.get(int(color), str(color))}


def read_tbr(path: str | Path) -> tuple[np.ndarray, int]:
    """One Temporal Binary Representation image as its integer codes and bit count.

    The bit count ``N`` is the PNG's sample bit depth (IHDR), then checked against the values
    present: Pillow scales 1-, 2- and 4-bit grey samples to 0..255, so each value must be a
    multiple of ``255 / (2^N - 1)`` (and is divided back); 8- and 16-bit samples are the codes
    themselves. Colour PNGs are accepted when their colour channels are equal (grey stored as
    RGB); an alpha channel is ignored.

    Returns:
        ``(codes, N)``: ``codes`` ``(H, W)`` uint8 (``N <= 8``) or uint16 (``N = 16``), each
        pixel's N-bit code ``sum_i b_i 2^i`` (Innocenti et al., ICPR 2020, Eq. 1, with binary
        frame ``i`` of the N weighted by ``2^i``).

    Raises:
        DatasetError: not a readable PNG, a palette image, colour channels that differ, or values
            that are not N-bit codes (file, field and value named).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    head = png_header(path)
    n = head["bit_depth"]
    if head["color"] == "palette":
        raise DatasetError(f"{path}: field 'color_type' = 3 (palette): a TBR frame must be grey")
    try:
        with Image.open(path) as img:
            a = np.asarray(img)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot decode the frame ({exc})") from exc
    if a.ndim == 3:
        colour = a[..., :3] if a.shape[2] >= 3 else a[..., :1]
        if colour.shape[2] == 3 and not (np.array_equal(colour[..., 0], colour[..., 1])
                                         and np.array_equal(colour[..., 0], colour[..., 2])):
            raise DatasetError(f"{path}: field 'color_type' = {head['color_type']}: the colour "
                               "channels differ, so the image is not a grey TBR frame")
        a = colour[..., 0]
    if n < 8:
        scale = 255 // (2**n - 1)
        if np.any(a % scale):
            bad = int(a[a % scale != 0][0])
            raise DatasetError(f"{path}: field 'value' = {bad}: not a {n}-bit code (the PNG "
                               f"declares {n}-bit samples, read as multiples of {scale})")
        a = (a // scale).astype(np.uint8)
    elif n == 8:
        a = a.astype(np.uint8, copy=False)
    else:
        a = a.astype(np.uint16, copy=False)
    if int(a.max(initial=0)) >= 2**n:
        raise DatasetError(f"{path}: field 'value' = {int(a.max())}: exceeds the {n}-bit codes "
                           "the PNG declares")
    return np.ascontiguousarray(a), n


def tbr_binary_frames(codes: np.ndarray, n_bits: int) -> np.ndarray:
    """Decode TBR codes into their binary frames.

    Args:
        codes: ``(..., H, W)`` unsigned integer codes of ``n_bits`` bits.
        n_bits: ``N``.

    Returns:
        bool ``(..., N, H, W)``: binary frame ``i`` is bit ``i`` of the code (least significant
        bit = the earliest frame; Innocenti et al., ICPR 2020, Eq. 1, weights frame ``i`` by
        ``2^i``).

    Raises:
        ValueError: ``n_bits`` not in 1..16 or a code with a bit at or above ``n_bits``.

    >>> tbr_binary_frames(np.array([[5]], dtype=np.uint8), 3)[:, 0, 0].tolist()
    [True, False, True]
    """
    if not 1 <= int(n_bits) <= 16:
        raise ValueError(f"n_bits must be in 1..16, got {n_bits}")
    codes = np.asarray(codes)
    if codes.size and int(codes.max()) >= 2**n_bits:
        raise ValueError(f"codes: value {int(codes.max())} has a bit at or above n_bits={n_bits}")
    shifts = np.arange(n_bits, dtype=codes.dtype).reshape((n_bits,) + (1,) * codes.ndim)
    bits = (codes[None] >> shifts) & 1  # (N, ..., H, W)
    return np.moveaxis(bits.astype(bool), 0, -3)


def binary_time_bins(binary: np.ndarray, n_time_bins: int) -> np.ndarray:
    """Count binary frames ``(K, H, W)`` (0/1, in time order) in ``n_time_bins`` equal time bins:
    frame ``k`` goes to bin ``k * T // K``, as :func:`tbr_time_bins` (which does the same from
    the TBR codes without decoding them).

    Returns:
        uint16 ``(T, H, W)``.

    Raises:
        ValueError: no frame or ``n_time_bins < 1``.

    >>> binary_time_bins(np.ones((5, 1, 1), dtype=np.uint8), 2)[:, 0, 0].tolist()
    [3, 2]
    """
    k = int(binary.shape[0])
    if k == 0 or n_time_bins < 1:
        raise ValueError(f"need >= 1 frame and n_time_bins >= 1, got {k}, {n_time_bins}")
    which = np.arange(k) * int(n_time_bins) // k
    out = np.zeros((int(n_time_bins), *binary.shape[1:]), dtype=np.uint16)
    for b in range(int(n_time_bins)):
        out[b] = binary[which == b].sum(axis=0, dtype=np.uint16)
    return out


def _popcount(codes: np.ndarray) -> np.ndarray:
    if codes.dtype == np.uint8:
        return np.take(_POPCOUNT8, codes)
    return np.take(_POPCOUNT8, codes & 0xFF) + np.take(_POPCOUNT8, codes >> 8)


def tbr_time_bins(frames: list[np.ndarray], n_bits: int, n_time_bins: int) -> np.ndarray:
    """Count the binary frames of a TBR sequence in ``n_time_bins`` equal time bins.

    The ``F`` images hold ``F * N`` binary frames of equal duration, in time order (image ``f``,
    bit ``i`` is binary frame ``f * N + i``); binary frame ``k`` goes to bin
    ``k * T // (F * N)``. Each image adds, to every bin its N frames touch, the population count
    of its code masked to that bin's bits (one table look-up per bin touched, not one pass per
    bit).

    Args:
        frames: ``F`` code images ``(H, W)`` (see :func:`read_tbr`).
        n_bits: ``N``.
        n_time_bins: ``T >= 1``.

    Returns:
        uint16 ``(T, H, W)``: per pixel, the number of binary frames of each bin with a 1.

    Raises:
        ValueError: no frame or ``n_time_bins < 1``.
    """
    if not frames or n_time_bins < 1:
        raise ValueError(f"need >= 1 frame and n_time_bins >= 1, got {len(frames)}, {n_time_bins}")
    total = len(frames) * n_bits
    h, w = frames[0].shape
    acc = np.zeros((n_time_bins, h, w), dtype=np.uint16)
    for f, codes in enumerate(frames):
        masks: dict[int, int] = {}
        for i in range(n_bits):
            b = (f * n_bits + i) * n_time_bins // total
            masks[b] = masks.get(b, 0) | (1 << i)
        for b, mask in masks.items():
            acc[b] += _popcount(codes if len(masks) == 1 else codes & codes.dtype.type(mask))
    return acc


_MALLOC_TRIM: Any = None


def _release_heap() -> None:
    """Return the C heap's free pages to the system (glibc ``malloc_trim(0)``; a no-op where
    there is none). Decoding a 1280x720 sequence allocates and frees ~80 MB of buffers; with
    glibc's dynamic mmap threshold they come from the heap, and the small tensors a cache keeps
    between them leave those pages resident: measured +3.7 to +28 MB per cached sequence
    without this call, flat with it (``tools/measure/nefer_loading.py``)."""
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        import ctypes
        import ctypes.util

        try:
            _MALLOC_TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


def _resize_area(a: np.ndarray, size: tuple[int, int]) -> Any:
    """``(N, C, h, w)`` array -> ``(N, C, H, W)`` float32 torch tensor, area interpolation."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(a)).float()
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    return torch.nn.functional.interpolate(t, size=tuple(size), mode="area")


# --------------------------------------------------------------------------------------------
# annotations
# --------------------------------------------------------------------------------------------


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
    """The sequences of one annotation file in file order; every malformed row is a problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(_problem(path, None, "file", "missing", "annotation file not found"))
        return []
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(_problem(path, None, "file", "unreadable", f"cannot read it ({exc})"))
        return []
    seqs: OrderedDict[tuple[str, str], _Seq] = OrderedDict()
    for line, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 4:
            problems.append(_problem(path, line, "columns", len(row),
                                     f"expected 4 columns (user, sequence, frame path, label) in "
                                     f"{','.join(row)!r}"))
            continue
        user, sequence, frame_path, label = (c.strip() for c in row)
        if label not in labels:
            problems.append(_problem(path, line, "label", label,
                                     f"not in the label set ({', '.join(labels)})"))
            continue
        parts = PurePosixPath(frame_path.replace("\\", "/")).parts
        parts = tuple(p for p in parts if p not in ("..", "."))
        if (len(parts) < 4 or parts[-3] != user or parts[-2] != sequence
                or _FRAME_NAME.fullmatch(parts[-1]) is None):
            problems.append(_problem(path, line, "frame path", frame_path,
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
            problems.append(_problem(path, s.first_line, "frames", len(names),
                                     f"sequence {s.sequence!r} of {s.user} has {len(names)} frame "
                                     f"rows, expected the {FRAMES_PER_SEQUENCE} frames "
                                     f"frame_00.png .. frame_{FRAMES_PER_SEQUENCE - 1}.png once each"))
        distinct = list(dict.fromkeys(r.label for r in s.rows))
        if len(distinct) > 1:
            bad = next(r for r in s.rows if r.label != distinct[0])
            problems.append(_problem(path, bad.line, "label", bad.label,
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
                problems.append(_problem(ev_file, e.first_line, "pairing", e.sequence,
                                         f"event sequence {i + 1} of {user} has no RGB sequence "
                                         f"at that position in {rgb_file.name} ({len(rgbs)} "
                                         f"listed for {user})"))
            elif r.label != e.label:
                problems.append(_problem(ev_file, e.first_line, "pairing", e.label,
                                         f"event sequence {e.sequence!r} is labelled {e.label!r} "
                                         f"but its RGB sequence {r.sequence!r} ({rgb_file.name}, "
                                         f"line {r.first_line}) is labelled {r.label!r}"))
            out.append((e, r))
        for r in rgbs[len(evs):]:
            problems.append(_problem(rgb_file, r.first_line, "pairing", r.sequence,
                                     f"RGB sequence of {user} has no event sequence at that "
                                     f"position in {ev_file.name} ({len(evs)} listed)"))
    for user, rgbs in by_user_rgb.items():
        if user not in by_user_ev:
            for r in rgbs:
                problems.append(_problem(rgb_file, r.first_line, "pairing", r.sequence,
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
        return [_problem(seq_dir, None, "folder", "missing",
                         f"no {kind} frame folder for the sequence named in {source.name}")]
    out = []
    for r in rows:
        p = seq_dir / r.frame
        if not p.is_file():
            out.append(_problem(p, None, "frame", "missing",
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
            out.append(_problem(p, None, "frame", "unreadable", f"cannot read the {kind} frame "
                                f"({exc})"))
            continue
        ref = formats.setdefault(kind, head)
        for key in ("width", "height", "bit_depth", "color_type"):
            if head[key] != ref[key]:
                out.append(_problem(p, None, "format", f"{key}={head[key]}",
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
                problems.append(_problem(ev_file, s.first_line, "user", s.user,
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


def _how_to_get() -> str:
    return (f"NEFER is a public download (about 8.5 GB) linked from {NEFER_URL}: unpack it so "
            "that the data root holds NEFER/annotations/{expected,reported}_emotions/*.csv and "
            "NEFER/event_frame_NEW/ (or event_frames/), NEFER/rgb_frames/.")


def _find_directory(root: Path) -> Path | None:
    """The NEFER folder under ``root`` (``root/NEFER`` or ``root`` itself): the first that holds
    an annotation folder."""
    for d in (root / "NEFER", root):
        for sub in ("annotations", "expected_emotions", "reported_emotions"):
            if (d / sub).is_dir():
                return d
    return None


def _summary(problems: list[NEFERProblem], limit: int = 5) -> str:
    shown = "; ".join(p.message for p in problems[:limit])
    more = f"; and {len(problems) - limit} more (run `check nefer` to list them all)" if (
        len(problems) > limit) else ""
    return f"{len(problems)} problem{'s' if len(problems) != 1 else ''}: {shown}{more}"


@register_dataset
class NEFERDataset(EventDataset):
    """NEFER as distributed (see the module docstring for the layout and the choices).

    Class attributes: ``name`` ``"nefer"`` (alias ``"NEFER"``), ``folder`` ``"NEFER"``,
    ``provides`` ``("binary_frames", "intensity")`` (TBR frames decoded into polarity-free binary
    frames, :meth:`event_tensor`; RGB frames as intensity input, :meth:`intensity_tensor`),
    ``in_channels`` 1.

    Attributes:
        root, directory: the data root and the NEFER folder.
        label_set: the label set (:data:`LABEL_SETS`); ``classes`` follows it.
        sequences: one :class:`SequenceInfo` per event sequence: ``subject`` = user
            (``user_01``), ``sequence`` = event sequence name, ``label`` = class index, ``path``
            = event-frame folder, ``extra`` = ``{"split", "rgb_sequence", "rgb_dir", "raw",
            "frames", "emotion"}``.
        sensor_size: ``(W, H, 1)`` of the event frames (read from the first frame).
        data_format: what was read from the files (see :meth:`describe_format`).
        raw_sensor_size: ``(W, H, 2)`` of the raw recordings once one has been read, else None.
        subject_k, subject_seed: folds and seed of the ``subject`` protocol.
    """

    name: ClassVar[str] = "nefer"
    aliases: ClassVar[tuple[str, ...]] = ("NEFER",)
    folder: ClassVar[str] = "NEFER"
    provides: ClassVar[tuple[str, ...]] = ("binary_frames", "intensity")
    in_channels: ClassVar[int] = 1
    frame_us: ClassVar[float | None] = None
    """Duration of one binary frame (µs): not stated by NEFER's release or paper (51 TBR images
    per clip, N binary frames each, over a clip of unstated length), so ``None``; corruptions
    whose frame form needs it (a rate, a window) are skipped for NEFER with that reason."""
    classes: tuple[str, ...] = NEFER_EMOTIONS
    sensor_size: tuple[int, int, int] = (0, 0, 1)

    def __init__(self, root: str | Path, *, label_set: str = "expected", subject_k: int = 5,
                 subject_seed: int = 0, check_files: bool = True):
        """Index NEFER under ``root``.

        Args:
            root: the data root holding ``NEFER/`` (or the NEFER folder itself).
            label_set: ``"expected"`` (default), ``"reported"`` or ``"reported_without_none"``.
            subject_k, subject_seed: folds and seed of the ``subject`` protocol.
            check_files: check that every frame file named by the annotations exists (event and
                RGB; all missing ones are counted in one error).

        Raises:
            DatasetNotFoundError: no NEFER folder with annotations under ``root``.
            NEFERError: any problem of the annotations (a missing file, a row without 4 columns,
                a label outside the set, a bad frame path, a wrong frame count, an unpaired
                sequence, an event/RGB label mismatch) or, with ``check_files``, a missing
                frame; the message names the first problems (file, line, field, value) and the
                count; ``problems`` holds them all.
            ValueError: an unknown ``label_set``.
        """
        super().__init__(root)
        if label_set not in LABEL_SETS:
            raise ValueError(f"{self.name}: label_set must be one of {', '.join(LABEL_SETS)}, "
                             f"got {label_set!r}")
        directory = _find_directory(self.root)
        if directory is None:
            raise DatasetNotFoundError(f"{self.name}: no NEFER folder with annotations under "
                                       f"{self.root}. {_how_to_get()}")
        self.directory = directory
        self.label_set = label_set
        self.classes = LABEL_SETS[label_set]
        self.subject_k, self.subject_seed = int(subject_k), int(subject_seed)
        found, problems, files = index_nefer(directory, label_set,
                                             frames="exist" if check_files else "none")
        if problems:
            raise NEFERError(f"{self.name}: {_summary(problems)}", problems)
        if not found:
            raise NEFERError(f"{self.name}: the annotation files list no sequence", [])
        self.annotation_files = files
        self.sequences = [
            SequenceInfo(subject=s["user"], sequence=s["sequence"],
                         label=self.classes.index(s["label"]), path=s["event_dir"],
                         extra={"split": s["split"], "rgb_sequence": s["rgb_sequence"],
                                "rgb_dir": str(s["rgb_dir"]) if s["rgb_dir"] else None,
                                "raw": str(s["raw"]) if s["raw"] else None,
                                "frames": s["frames"], "emotion": s["label"]})
            for s in found
        ]
        self.raw_sensor_size: tuple[int, ...] | None = None
        self.data_format = self.describe_format()
        ev = self.data_format.get("event_frames")
        if ev is not None:
            self.sensor_size = (ev["width"], ev["height"], 1)
        log.info("%s (%s): %d sequences of %d users in %s; event frames %s", self.name,
                 label_set, len(self.sequences), len(self.subjects()), directory, ev)

    @classmethod
    def dataset_problems(cls, root: str | Path, *, label_set: str = "expected"
                         ) -> tuple[Path, int, list[NEFERProblem]]:
        """Every problem of the NEFER tree under ``root`` in one pass (for ``check nefer``):
        annotations as the constructor checks them, and every frame read (PNG header and chunk
        check, sizes and bit depths compared), without decoding pixels.

        Returns:
            ``(directory, n_frames_named, problems)``.

        Raises:
            DatasetNotFoundError: no NEFER folder under ``root``.
        """
        root = Path(root)
        directory = _find_directory(root)
        if directory is None:
            raise DatasetNotFoundError(f"{cls.name}: no NEFER folder with annotations under "
                                       f"{root}. {_how_to_get()}")
        found, problems, _ = index_nefer(directory, label_set, frames="verify")
        n = sum(len(s["frames"]) * (2 if s["rgb_dir"] is not None else 1) for s in found)
        return directory, n, problems

    # -- what the files say ----------------------------------------------------------------

    def describe_format(self) -> dict[str, Any]:
        """What the files say about themselves, read from the first sequence's frames (every
        frame is compared with it when read): ``{"label_set", "annotation_files",
        "event_frames": PNG header + ``tbr_bits`` (= its bit depth, :func:`read_tbr`) or None,
        "rgb_frames": PNG header or None, "raw": {"files", "format", "sensor_size"} or None}``."""
        out: dict[str, Any] = {
            "label_set": self.label_set,
            "annotation_files": sorted(str(p.relative_to(self.directory))
                                       for p in self.annotation_files.values()),
            "event_frames": None, "rgb_frames": None, "raw": None,
        }
        s = self.sequences[0]
        first = Path(s.path) / s.extra["frames"][0]
        if first.is_file():
            head = png_header(first)
            out["event_frames"] = {**head, "format": "PNG", "tbr_bits": head["bit_depth"]}
        if s.extra["rgb_dir"]:
            rgb = Path(s.extra["rgb_dir"]) / s.extra["frames"][0]
            if rgb.is_file():
                out["rgb_frames"] = {**png_header(rgb), "format": "PNG"}
        raws = [q.extra["raw"] for q in self.sequences if q.extra["raw"]]
        if raws:
            out["raw"] = {"files": len(raws), "format": Path(raws[0]).suffix.lstrip("."),
                          "sensor_size": None}
        return out

    def subjects(self) -> list[str]:
        """Distinct users, sorted."""
        return sorted({s.subject for s in self.sequences})

    # -- data ------------------------------------------------------------------------------

    def _frame_paths(self, index: int, rgb: bool = False) -> list[Path]:
        s = self.sequences[index]
        base = Path(s.extra["rgb_dir"]) if rgb else Path(s.path)
        if rgb and not s.extra["rgb_dir"]:
            raise DatasetError(f"{self.name}: sequence {s.sequence!r} has no RGB sequence")
        return [base / n for n in s.extra["frames"]]

    def load_tbr(self, index: int) -> tuple[list[np.ndarray], int]:
        """The TBR images of sequence ``index`` as codes (:func:`read_tbr`), in frame order.

        Returns:
            ``(frames, N)``: ``F`` (51) arrays ``(H, W)`` and the bit count.

        Raises:
            DatasetError: an unreadable frame, or frames whose size or bit count differs from
                the dataset's first frame (:attr:`data_format`).
        """
        ref = self.data_format.get("event_frames") or {}
        frames, bits = [], None
        for p in self._frame_paths(index):
            codes, n = read_tbr(p)
            want = (ref.get("height"), ref.get("width"), ref.get("tbr_bits"))
            if ref and (codes.shape[0], codes.shape[1], n) != want:
                raise DatasetError(f"{p}: field 'format' = {codes.shape[1]}x{codes.shape[0]}, "
                                   f"{n} bits: differs from the dataset's event frames "
                                   f"({want[1]}x{want[0]}, {want[2]} bits)")
            bits = n
            frames.append(codes)
        return frames, int(bits)

    def load_frames(self, index: int) -> np.ndarray:
        """The binary event frames of sequence ``index``: every TBR image decoded into its N
        binary frames (:func:`tbr_binary_frames`), polarity-free, 1 channel.

        Returns:
            bool ``(F * N, 1, H, W)`` in time order (e.g. 51 x 8 = 408 frames).

        Raises:
            DatasetError: see :meth:`load_tbr`.
        """
        frames, n = self.load_tbr(index)
        bits = tbr_binary_frames(np.stack(frames), n)  # (F, N, H, W)
        return bits.reshape(-1, 1, *bits.shape[-2:])

    def event_tensor(self, index: int, n_time_bins: int, size: tuple[int, int],
                     binarize: bool = False, frame_transform: Any = None) -> Any:
        """The model input of sequence ``index``: float32 torch tensor ``(T, 1, H, W)``.

        The ``F * N`` binary frames are counted in ``T`` equal bins (:func:`tbr_time_bins`: the
        binary frames are equal time slices, so this is binning in time), resized to ``size``
        with area interpolation (the mean count over the pixels each output pixel covers), then,
        with ``binarize``, set to 1 where non-zero.

        Args:
            frame_transform: ``None``, or a function of the binary frames as counts, uint8
                ``(F * N, 1, H, W)`` in time order, returning counts of that shape (an event
                corruption's frame form: :mod:`datasets.transforms.corruptions`); its result is
                set back to presence (``min(count, 1)``: a TBR binary frame records whether a
                pixel fired, not how often) and binned like the frames it replaces. ``None``
                takes the direct path from the TBR codes (equal to the identity transform).

        Raises:
            DatasetError: see :meth:`load_tbr`.
        """
        import torch

        # the (small) result is allocated before the large transient arrays (51 decoded frames,
        # full-size counts, one bin's float copy), and the heap is trimmed after them
        # (_release_heap): results kept by a cache must not pin the transients' pages
        out = torch.empty((int(n_time_bins), 1, *size), dtype=torch.float32)
        frames, n = self.load_tbr(index)
        if frame_transform is None:
            counts = tbr_time_bins(frames, n, int(n_time_bins))
        else:
            bits = tbr_binary_frames(np.stack(frames), n)  # (F, N, H, W)
            binary = bits.reshape(-1, 1, *bits.shape[-2:]).astype(np.uint8)
            del bits
            binary = np.minimum(np.asarray(frame_transform(binary)), 1).astype(np.uint16)
            counts = binary_time_bins(binary[:, 0], int(n_time_bins))
            del binary
        del frames
        for t in range(counts.shape[0]):  # one bin at a time: a float copy of 1 bin, not T
            out[t] = _resize_area(counts[t][None, None], tuple(size))[0]
        del counts
        _release_heap()
        if binarize:
            out.copy_((out > 0).float())
        return out

    def load_rgb(self, index: int) -> np.ndarray:
        """The RGB frames of sequence ``index``: uint8 ``(F, H, W, 3)``.

        Raises:
            DatasetError: no RGB sequence, or an unreadable frame.
        """
        from PIL import Image, UnidentifiedImageError

        out = []
        for p in self._frame_paths(index, rgb=True):
            try:
                with Image.open(p) as img:
                    out.append(np.asarray(img.convert("RGB")))
            except (OSError, UnidentifiedImageError) as exc:
                raise DatasetError(f"{p}: cannot read the RGB frame ({exc})") from exc
        return np.stack(out)

    def intensity_tensor(self, index: int, size: tuple[int, int]) -> Any:
        """Intensity frames ``(2, 1, H, W)`` float32 in [0, 1] of sequence ``index`` for two-input
        architectures: its first and last RGB frame (``frame_00``, ``frame_50``) converted to
        grey (Pillow's ``L``: ITU-R 601-2 luma), resized to ``size`` with area interpolation.

        Raises:
            DatasetError: no RGB sequence, or an unreadable frame.
        """
        from PIL import Image, UnidentifiedImageError

        paths = self._frame_paths(index, rgb=True)
        grey = []
        for p in (paths[0], paths[-1]):
            try:
                with Image.open(p) as img:
                    grey.append(np.asarray(img.convert("L"), dtype=np.float32) / 255.0)
            except (OSError, UnidentifiedImageError) as exc:
                raise DatasetError(f"{p}: cannot read the RGB frame ({exc})") from exc
        return _resize_area(np.stack(grey)[:, None], tuple(size)).contiguous()

    def load_events(self, index: int) -> np.ndarray:
        """The raw events ``(t, x, y, p)`` of sequence ``index``, read with
        :func:`datasets.io.prophesee.read_prophesee` (sensor size from the recording's header or
        camera plugin); that sensor size is recorded in :attr:`data_format` (``raw.sensor_size``)
        and in :attr:`raw_sensor_size`.

        Raises:
            DatasetError: no raw recording for the sequence, or no Prophesee reader installed.
        """
        s = self.sequences[index]
        raw = s.extra["raw"]
        if not raw:
            raise DatasetError(f"{self.name}: sequence {s.sequence!r} has no raw recording under "
                               f"{self.directory / RAW_FOLDER} (tried {', '.join(RAW_SUFFIXES)})")
        try:
            from datasets.io.prophesee import read_prophesee
        except ImportError as exc:
            raise DatasetError(f"{raw}: no Prophesee reader available ({exc})") from exc
        rec = read_prophesee(raw, sensor_size=None)
        self.raw_sensor_size = tuple(int(v) for v in rec.sensor_size)
        if self.data_format.get("raw") is not None:
            self.data_format["raw"]["sensor_size"] = list(self.raw_sensor_size)
        return rec.events

    # -- protocols -------------------------------------------------------------------------

    @property
    def n_folds(self) -> int:
        """1: the official split is one train/test split."""
        return 1

    def folds_for(self, protocol: str) -> int:
        """Folds of ``protocol`` (``official``/``folds``/``fixed``: 1; ``subject``: k).

        Raises:
            ValueError: unknown protocol.
        """
        if protocol in ("official", "folds", "fixed"):
            return 1
        if protocol == "subject":
            return self.subject_k
        raise ValueError(f"unknown protocol {protocol!r} for {self.name}; known: "
                         f"{', '.join(PROTOCOLS)} (folds = official)")

    def subject_assignment(self) -> dict[str, int]:
        """``{user: fold}`` of the ``subject`` protocol (:func:`subject_folds`)."""
        return subject_folds([s.subject for s in self.sequences], self.subject_k, self.subject_seed)

    def split(self, fold: int = 0, protocol: str = "official") -> tuple[list[int], list[int]]:
        """``(train_indices, test_indices)`` into ``sequences``.

        ``official`` (aliases ``folds``, ``fixed``): the training users train, the validation
        users are the test set (fold 0 only). ``subject``: fold ``fold`` of ``subject_k``
        subject-independent folds over all users.

        Raises:
            ValueError: unknown protocol or fold out of range.
        """
        if protocol in ("official", "folds", "fixed"):
            if fold != 0:
                raise ValueError(f"protocol {protocol!r} of {self.name} has only fold 0, got {fold}")
            train = [i for i, s in enumerate(self.sequences) if s.extra["split"] == "train"]
            test = [i for i, s in enumerate(self.sequences) if s.extra["split"] == "validation"]
            return train, test
        if protocol == "subject":
            return subject_fold_split([s.subject for s in self.sequences], fold, self.subject_k,
                                      self.subject_seed)
        raise ValueError(f"unknown protocol {protocol!r} for {self.name}; known: "
                         f"{', '.join(PROTOCOLS)} (folds = official)")


# --------------------------------------------------------------------------------------------
# a NEFER tree in the published layout, with generated frames (tests, benchmarks, demos)
# --------------------------------------------------------------------------------------------


def synthetic_annotations(train_users: list[str], validation_users: list[str], clips: int = 3,
                          seed: int = 0) -> dict[str, dict[str, list[str]]]:
    """Annotation rows of a small NEFER-like set, in the release's format: ``{label folder:
    {file name: lines}}`` for both label versions. Clip ``c`` of every user has expected emotion
    ``NEFER_EMOTIONS[c % 7]`` (as in NEFER, every user sees the same clips in the same order); the
    reported emotion is the expected one, or ``None`` for every third (user, clip) pair.
    Event sequences are named ``userNN_2022-06-08_12-00-<cc>_cd``, RGB ones ``GOPR<nnnn>``."""
    del seed  # the set is fully determined by its arguments
    out: dict[str, dict[str, list[str]]] = {"expected_emotions": {}, "reported_emotions": {}}
    gopro = 700
    for split, users in (("train", train_users), ("validation", validation_users)):
        rows = {k: {"event": [], "gopro": []} for k in out}
        for u, user in enumerate(users):
            num = user.split("_")[-1]
            for c in range(clips):
                gopro += 1
                ev_seq, rgb_seq = f"user{num}_2022-06-08_12-00-{c:02d}_cd", f"GOPR{gopro:04d}"
                expected = NEFER_EMOTIONS[c % len(NEFER_EMOTIONS)]
                reported = "None" if (u + c) % 3 == 2 else expected
                rgb_folder = "rgb_frames" if split == "train" else "../gopro_frame"
                for k, label in (("expected_emotions", expected), ("reported_emotions", reported)):
                    for f in range(FRAMES_PER_SEQUENCE):
                        rows[k]["event"].append(f"{user},{ev_seq},../event_frame_NEW/{user}/"
                                                f"{ev_seq}/frame_{f:02d}.png,{label}")
                        rows[k]["gopro"].append(f"{user},{rgb_seq},{rgb_folder}/{user}/"
                                                f"{rgb_seq}/frame_{f:02d}.png,{label}")
        for k in out:
            suffix = "_subjective" if k == "reported_emotions" else ""
            for kind in ("event", "gopro"):
                out[k][f"{split}_{kind}{suffix}.csv"] = rows[k][kind]
    return out


def write_nefer_tree(root: str | Path, *, annotations: dict[str, dict[str, list[str]]] | None = None,
                     annotation_dir: str | Path | None = None, users: set[str] | None = None,
                     frame_size: tuple[int, int] = (32, 24), tbr_bits: int = 8,
                     rgb_size: tuple[int, int] | None = (16, 12), distinct_frames: int = 0,
                     density: float = 0.1, link_copies: bool = False, seed: int = 0) -> Path:
    """Write a NEFER tree in the published layout under ``root/NEFER`` with generated frames.

    Annotations come from ``annotation_dir`` (a folder holding ``expected_emotions/`` and
    ``reported_emotions/`` as in the repository, e.g. the real files) or from ``annotations``
    (:func:`synthetic_annotations`); ``users`` keeps only those users' rows. Every frame named by
    the event and RGB files is written: event frames as grey PNGs with ``tbr_bits``-bit samples
    (each bit set with probability ``density`` inside a central face ellipse, 2 % of that
    outside, more often in the middle of the sequence), RGB
    frames as 8-bit RGB PNGs (``rgb_size`` ``(W, H)``; ``None`` writes none).
    ``distinct_frames > 0`` generates that many distinct event images and writes copies of their
    bytes (for large trees, where encoding each PNG would dominate); with ``link_copies`` the
    copies are hard links to files in ``NEFER/.frame_pool/`` (no disk space per copy).

    Returns:
        The NEFER folder.
    """
    from PIL import Image

    root = Path(root)
    directory = root / "NEFER"
    if annotations is None:
        if annotation_dir is None:
            raise ValueError("pass annotations or annotation_dir")
        annotations = {}
        for folder in ("expected_emotions", "reported_emotions"):
            src = Path(annotation_dir) / folder
            annotations[folder] = {p.name: p.read_text(encoding="utf-8").splitlines()
                                   for p in sorted(src.glob("*.csv"))}
    rng = np.random.default_rng(seed)
    w, h = frame_size
    yy, xx = np.mgrid[0:h, 0:w]
    # events concentrate on a face: an ellipse of half-axes w/5, h/3 in the middle (full rate),
    # sensor noise elsewhere (2 % of the rate)
    face = np.where(((xx - w / 2) / (w / 5)) ** 2 + ((yy - h / 2) / (h / 3)) ** 2 <= 1, 1.0, 0.02)

    def tbr_png(frame: int) -> bytes:
        import io

        p = density * (0.5 + np.sin(np.pi * frame / (FRAMES_PER_SEQUENCE - 1)))
        bits = rng.random((tbr_bits, h, w)) < np.minimum(p * face, 1.0)
        codes = (bits * (1 << np.arange(tbr_bits)).reshape(-1, 1, 1)).sum(0)
        buf = io.BytesIO()
        if tbr_bits == 16:
            Image.fromarray(codes.astype(np.uint16)).save(buf, format="PNG", compress_level=1)
        elif tbr_bits == 8:
            Image.fromarray(codes.astype(np.uint8), mode="L").save(buf, format="PNG",
                                                                   compress_level=1)
        else:
            Image.fromarray(codes.astype(np.uint8), mode="L").save(buf, format="PNG",
                                                                   bits=tbr_bits)
        return buf.getvalue()

    pool = [tbr_png(i % FRAMES_PER_SEQUENCE) for i in range(distinct_frames)]
    pool_files: list[Path] = []
    if link_copies and pool:
        (directory / ".frame_pool").mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(pool):
            pool_files.append(directory / ".frame_pool" / f"{i}.png")
            pool_files[-1].write_bytes(data)
    rgb_png = None
    for folder, files in annotations.items():
        out = directory / "annotations" / folder
        out.mkdir(parents=True, exist_ok=True)
        for name, lines in files.items():
            kept = [ln for ln in lines if users is None or ln.split(",")[0] in users]
            (out / name).write_text("".join(f"{ln}\n" for ln in kept), encoding="utf-8")
            if folder != "expected_emotions":
                continue  # both label versions name the same frames
            for n, ln in enumerate(kept):
                cols = ln.split(",")
                rel = PurePosixPath(cols[2]).parts
                path = directory.joinpath(*(p for p in rel if p not in ("..", ".")))
                if path.exists():
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                frame = int(_FRAME_NAME.fullmatch(rel[-1]).group(1))
                if "_event" in name and pool_files:
                    import os

                    os.link(pool_files[n % len(pool_files)], path)
                elif "_event" in name:
                    path.write_bytes(pool[n % len(pool)] if pool else tbr_png(frame))
                elif rgb_size is not None:
                    if rgb_png is None:
                        import io

                        buf = io.BytesIO()
                        img = rng.integers(0, 256, (rgb_size[1], rgb_size[0], 3), dtype=np.uint8)
                        Image.fromarray(img, mode="RGB").save(buf, format="PNG")
                        rgb_png = buf.getvalue()
                    path.write_bytes(rgb_png)
    return directory


@register_dataset
class NEFERRawDataset(NEFERDataset):
    """NEFER's raw event recordings (``event_raw/``), binned like every event dataset
    (2 polarity channels), with the same annotations, label sets, protocols and RGB intensity
    input as :class:`NEFERDataset`.

    Class attributes: ``name`` ``"nefer-raw"``, ``provides`` ``("events", "intensity")``,
    ``in_channels`` 2. The recordings are read with :func:`datasets.io.prophesee.read_prophesee`;
    the sensor size is the first recording's (read when the dataset is opened), and every later
    recording must have the same.

    Raises (constructor, besides :class:`NEFERDataset`'s):
        NEFERError: sequences without a raw recording (all counted, the first named), or no
            Prophesee reader installed.
    """

    name: ClassVar[str] = "nefer-raw"
    aliases: ClassVar[tuple[str, ...]] = ("NEFER-raw",)
    provides: ClassVar[tuple[str, ...]] = ("events", "intensity")
    in_channels: ClassVar[int] = 2

    def __init__(self, root: str | Path, **params: Any):
        super().__init__(root, **params)
        problems = _raw_problems(self.sequences)
        if problems:
            raise NEFERError(f"{self.name}: {_summary(problems)}", problems)
        self.raw_sensor_size: tuple[int, ...] | None = None
        self.load_events(0)  # the sensor size, from the first recording's header or plugin
        self.sensor_size = tuple(self.raw_sensor_size)

    @classmethod
    def dataset_problems(cls, root: str | Path, *, label_set: str = "expected"
                         ) -> tuple[Path, int, list[NEFERProblem]]:
        """As :meth:`NEFERDataset.dataset_problems`, plus every sequence without a raw recording
        and every recording the Prophesee reader refuses (its one-line message)."""
        directory, n, problems = super().dataset_problems(root, label_set=label_set)
        found, _, _ = index_nefer(directory, label_set, frames="none")
        seqs = [SequenceInfo(s["user"], s["sequence"], 0, s["event_dir"],
                             extra={"raw": str(s["raw"]) if s["raw"] else None}) for s in found]
        problems += _raw_problems(seqs)
        try:
            from datasets.io.prophesee import read_prophesee
        except ImportError as exc:
            return directory, n, problems + [_problem(directory / RAW_FOLDER, None, "reader",
                                                      "missing", f"no Prophesee reader ({exc})")]
        for s in seqs:
            if s.extra["raw"]:
                try:
                    read_prophesee(s.extra["raw"], sensor_size=None)
                except Exception as exc:  # noqa: BLE001 - the reader's own one-line message
                    problems.append(_problem(Path(s.extra["raw"]), None, "recording",
                                             "unreadable", str(exc)))
        return directory, n + sum(1 for s in seqs if s.extra["raw"]), problems

    def load_events(self, index: int) -> np.ndarray:
        """The events of sequence ``index`` (see :meth:`NEFERDataset.load_events`).

        Raises:
            DatasetError: as :meth:`NEFERDataset.load_events`, or a recording whose sensor size
                differs from the first's.
        """
        before = self.raw_sensor_size
        events = super().load_events(index)
        if before is not None and self.raw_sensor_size != before:
            raw = self.sequences[index].extra["raw"]
            got, self.raw_sensor_size = self.raw_sensor_size, before
            if self.data_format.get("raw") is not None:
                self.data_format["raw"]["sensor_size"] = list(before)
            raise DatasetError(f"{raw}: field 'sensor_size' = {got}: differs from the dataset's "
                               f"{before} (the first recording's)")
        return events


def _raw_problems(sequences: list[SequenceInfo]) -> list[NEFERProblem]:
    return [_problem(Path(s.path).parents[2] / RAW_FOLDER / s.subject, None, "raw", "missing",
                     f"sequence {s.sequence!r} of {s.subject} has no raw recording "
                     f"({RAW_FOLDER}/{s.subject}/{s.sequence}{{{','.join(RAW_SUFFIXES)}}})")
            for s in sequences if not s.extra.get("raw")]
