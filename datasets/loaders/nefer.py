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

Where the parts live: the TBR image codec in :mod:`datasets.io.tbr`, the annotation index and its
checks in :mod:`datasets.loaders.nefer_index`, the writer of generated NEFER trees (tests,
benchmarks, demos) in :mod:`datasets.loaders.nefer_fixture`; this module holds the datasets and
re-exports the names of the other three that callers import from here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from datasets.base import (
    DatasetError,
    DatasetNotFoundError,
    EventDataset,
    SampleSpec,
    SequenceInfo,
    register_dataset,
)
from datasets.folds import subject_fold_split, subject_folds
from datasets.io.tbr import (
    binary_time_bins,
    png_header,
    read_tbr,
    tbr_binary_frames,
    tbr_time_bins,
)
from datasets.loaders.nefer_fixture import synthetic_annotations, write_nefer_tree
from datasets.loaders.nefer_index import (
    EVENT_FRAME_FOLDERS,
    FRAMES_PER_SEQUENCE,
    LABEL_FOLDERS,
    LABEL_SETS,
    NEFER_EMOTIONS,
    NEFER_URL,
    PROTOCOLS,
    RAW_FOLDER,
    RAW_SUFFIXES,
    RGB_FRAME_FOLDERS,
    SPLITS,
    NEFERError,
    NEFERProblem,
    annotation_files,
    index_nefer,
    make_problem,
)

__all__ = [
    "EVENT_FRAME_FOLDERS", "FRAMES_PER_SEQUENCE", "LABEL_FOLDERS", "LABEL_SETS", "NEFER_EMOTIONS",
    "NEFER_URL", "PROTOCOLS", "RAW_FOLDER", "RAW_SUFFIXES", "RGB_FRAME_FOLDERS", "SPLITS",
    "NEFERDataset", "NEFERError", "NEFERProblem", "NEFERRawDataset", "annotation_files",
    "binary_time_bins", "index_nefer", "png_header", "read_tbr", "synthetic_annotations",
    "tbr_binary_frames", "tbr_time_bins", "write_nefer_tree",
]

log = logging.getLogger(__name__)


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


@register_dataset
class NEFERDataset(EventDataset):
    """NEFER as distributed (see the module docstring for the layout and the choices).

    Class attributes: ``name`` ``"nefer"`` (alias ``"NEFER"``), ``folder`` ``"NEFER"``,
    ``provides`` ``("binary_frames", "intensity")`` (TBR frames decoded into polarity-free binary
    frames, :meth:`event_tensor`; RGB frames as intensity input, :meth:`intensity_tensor`),
    ``in_channels`` 1. A model's event input is :meth:`event_tensor` (:meth:`event_input`).

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
    def dataset_problems(cls, root: str | Path, *, label_set: str | None = None
                         ) -> tuple[Path, int, list[NEFERProblem]]:
        """Every problem of the NEFER tree under ``root`` in one pass (for ``check nefer``):
        the annotations of every label folder (``expected_emotions/`` and
        ``reported_emotions/``, so that no ``--label-set`` fails on files the check passed) as
        the constructor checks them, and every frame they name read (PNG header and chunk check,
        sizes and bit depths compared, once) without decoding pixels; a frame problem is listed
        once even when both label folders name the frame.

        Args:
            label_set: ``None`` (every label set) or one key of :data:`LABEL_SETS`.

        Returns:
            ``(directory, n_frames_named, problems)``: ``n_frames_named`` counts distinct frame
            files (event and RGB) over the label sets checked.

        Raises:
            DatasetNotFoundError: no NEFER folder under ``root``.
            ValueError: an unknown ``label_set``.
        """
        root = Path(root)
        directory = _find_directory(root)
        if directory is None:
            raise DatasetNotFoundError(f"{cls.name}: no NEFER folder with annotations under "
                                       f"{root}. {_how_to_get()}")
        # one label set per folder ("reported" reads reported_emotions/ with all its labels);
        # the frames are read in the first pass and only looked up in the second
        checked = ["expected", "reported"] if label_set is None else [label_set]
        problems: list[NEFERProblem] = []
        seen: set[tuple[Path, int | None, str, str]] = set()
        frames: set[Path] = set()
        for i, k in enumerate(checked):
            found, found_problems, _ = index_nefer(directory, k,
                                                   frames="verify" if i == 0 else "exist")
            for q in found_problems:
                key = (q.file, q.line, q.field, repr(q.value))
                if key not in seen:
                    seen.add(key)
                    problems.append(q)
            for s in found:
                dirs = [s["event_dir"]] + ([s["rgb_dir"]] if s["rgb_dir"] is not None else [])
                frames.update(Path(d) / f for d in dirs for f in s["frames"])
        return directory, len(frames), problems

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

    def sample_key(self, index: int, spec: SampleSpec) -> tuple:
        """See :meth:`EventDataset.sample_key`; the event tensor depends on ``spec``'s
        ``n_time_bins``, ``size`` and ``binarize`` (:meth:`event_input`)."""
        return (self.name, str(self.root), self.label_set, index, "event_tensor",
                int(spec.n_time_bins), tuple(spec.size), bool(spec.binarize), spec.wants_frames)

    def event_input(self, index: int, spec: SampleSpec, store: Any = None) -> Any:
        """The event tensor of sequence ``index``: :meth:`event_tensor` float32 ``(T, 1, H, W)``
        with ``spec``'s ``n_time_bins``, ``size`` and ``binarize`` (``store`` is unused: NEFER's
        samples are TBR frames, not event streams).

        Raises:
            DatasetError: see :meth:`load_tbr`.
        """
        return self.event_tensor(index, int(spec.n_time_bins), tuple(spec.size),
                                 bool(spec.binarize))

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
    sample_key = EventDataset.sample_key  # event streams, binned like every event dataset's
    event_input = EventDataset.event_input

    def __init__(self, root: str | Path, **params: Any):
        super().__init__(root, **params)
        problems = _raw_problems(self.sequences)
        if problems:
            raise NEFERError(f"{self.name}: {_summary(problems)}", problems)
        self.raw_sensor_size: tuple[int, ...] | None = None
        self.load_events(0)  # the sensor size, from the first recording's header or plugin
        self.sensor_size = tuple(self.raw_sensor_size)

    @classmethod
    def dataset_problems(cls, root: str | Path, *, label_set: str | None = None
                         ) -> tuple[Path, int, list[NEFERProblem]]:
        """As :meth:`NEFERDataset.dataset_problems`, plus every sequence without a raw recording
        and every recording the Prophesee reader refuses (its one-line message)."""
        directory, n, problems = super().dataset_problems(root, label_set=label_set)
        found, _, _ = index_nefer(directory, label_set or "expected", frames="none")
        seqs = [SequenceInfo(s["user"], s["sequence"], 0, s["event_dir"],
                             extra={"raw": str(s["raw"]) if s["raw"] else None}) for s in found]
        problems += _raw_problems(seqs)
        try:
            from datasets.io.prophesee import read_prophesee
        except ImportError as exc:
            return directory, n, problems + [make_problem(
                directory / RAW_FOLDER, None, "reader",
                "missing", f"no Prophesee reader ({exc})")]
        for s in seqs:
            if s.extra["raw"]:
                try:
                    read_prophesee(s.extra["raw"], sensor_size=None)
                except Exception as exc:  # noqa: BLE001 - the reader's own one-line message
                    problems.append(make_problem(Path(s.extra["raw"]), None, "recording",
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
    return [make_problem(Path(s.path).parents[2] / RAW_FOLDER / s.subject, None, "raw", "missing",
                         f"sequence {s.sequence!r} of {s.subject} has no raw recording "
                         f"({RAW_FOLDER}/{s.subject}/{s.sequence}{{{','.join(RAW_SUFFIXES)}}})")
            for s in sequences if not s.extra.get("raw")]
