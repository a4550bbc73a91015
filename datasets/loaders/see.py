"""SEE: the Single-eye Event-based Emotion dataset of SEEN (Zhang et al., "In the Blink of an Eye:
Event-based Emotion Recognition", SIGGRAPH 2023; repository zhanghaiwei1234/Single-eye-Emotion-
Recognition, ``Dataset_Instructions.md`` and ``code/Videodataset.py``).

111 volunteers, a DAVIS346 in front of the right eye, 7 emotions, 4 lighting conditions, 2,405
sequences split 1,638 / 767 into training / testing. SEE is distributed as **frames**, not event
streams::

    <root>/SEE/frame/<emotion>/<sequence>/NNNNN.jpg   intensity (APS) frames, 00000.jpg, 00001.jpg ...
    <root>/SEE/event/<emotion>/<sequence>/NNNNN.jpg   event frames: events accumulated over 33 ms
                                                      (the APS frame period, 30 FPS), same indices
    <root>/SEE/emotion.json                           the training/testing split (below)

``<emotion>`` is one of ``angry, disgust, fear, happiness, neutraL, sadness, surprise`` (the
release spells ``neutraL`` with a capital L; folders are matched case-insensitively).
``<sequence>`` is ``[seq#]_[subjectID]_[sex]_[age]_[degree]_[lighting]_[emotion]_[length]_[take#]``,
e.g. ``1_001_man_24_Master_normal_angry_45_take000``, with lighting in ``normal``,
``Overexposed``, ``Low``, ``HDR`` (see :func:`parse_sequence_name`).

The split file (``emotion.json``; upstream's code reads ``emotion_new_adjust2.json``) holds::

    {"labels": [...],                                  (optional; upstream's class order)
     "database": {"<sequence>": {"subset": "training" | "testing",
                                 "annotations": {"label": "angry", "segment": [0, 63]}}}}

``segment`` is ``[start, end)`` in frame indices: upstream loads ``range(start, end)`` and skips a
sequence whose ``end`` is 0. Upstream also skips, silently, sequences whose folders are missing and
frames whose files are missing; this loader reports them instead (see :class:`SEEDataset`).

Obtaining SEE: request it from the authors' site http://www.dluticcd.com/ (linked from the SEEN
repository's README), then unpack it so that ``SEE/frame``, ``SEE/event`` and the split file lie
under the data root.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
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
from datasets.common import InputError
from datasets.folds import subject_fold_split, subject_folds

log = logging.getLogger(__name__)

SEE_CLASSES: tuple[str, ...] = (
    "angry", "disgust", "fear", "happiness", "neutral", "sadness", "surprise",
)
"""SEE's seven emotions (class index = position; alphabetical, as the release's folders)."""

SEE_LIGHTING: dict[str, str] = {
    "normal": "normal",
    "overexposed": "overexposure",
    "low": "low_light",
    "hdr": "hdr",
}
"""Lighting field of a sequence name (lower-cased) -> the suite's canonical lighting condition
(:data:`datasets.base.LIGHTING_CONDITIONS`). The names as released: ``normal``, ``Overexposed``,
``Low``, ``HDR``."""

PROTOCOLS = ("fixed", "subject")
"""``"fixed"``: the published training/testing split (``"folds"`` is accepted as an alias, the
dataset's own split as for the FerDVS datasets); ``"subject"``: subject-independent k folds."""

SUBSETS = {"training": "train", "testing": "test"}
"""Values of ``subset`` in the split file."""

SEE_URL = "http://www.dluticcd.com/"
SEEN_REPO_URL = "https://github.com/zhanghaiwei1234/Single-eye-Emotion-Recognition"
SENSOR_SIZE_DAVIS346 = (346, 260, 2)

NAME_FIELDS = ("seq#", "subjectID", "sex", "age", "degree", "lighting", "emotion", "length", "take#")
"""The ``_``-separated fields of a SEE sequence name (Dataset_Instructions.md)."""

_TAKE = re.compile(r"take(\d+)", re.IGNORECASE)


class SequenceNameError(InputError, ValueError):
    """A SEE sequence name does not follow the documented format; the message names the sequence,
    the field and the bad value."""


@dataclass(frozen=True)
class SEESequenceName:
    """The fields of a SEE sequence name.

    Attributes:
        name: the name as written.
        number: ``seq#`` (running sequence number).
        subject: volunteer ID as written (e.g. ``"001"``).
        sex: ``man`` / ``woman`` as written.
        age: age in years.
        degree: highest educational degree as written (``undergraduate``, ``Master``, ``Doctor``).
        lighting: canonical lighting condition (``normal``, ``overexposure``, ``low_light``,
            ``hdr``; see :data:`SEE_LIGHTING`).
        emotion: the true emotion, lower case, one of :data:`SEE_CLASSES`.
        length: number of frames of the sequence.
        take: the take number (``take003`` -> 3).
    """

    name: str
    number: int
    subject: str
    sex: str
    age: int
    degree: str
    lighting: str
    emotion: str
    length: int
    take: int

    @property
    def label(self) -> int:
        """Class index of :attr:`emotion` in :data:`SEE_CLASSES`."""
        return SEE_CLASSES.index(self.emotion)


def canonical_emotion(value: str) -> str | None:
    """``value`` matched case-insensitively to :data:`SEE_CLASSES` (``"neutraL"`` -> ``"neutral"``),
    or ``None`` when it is not a SEE emotion."""
    v = value.strip().lower() if isinstance(value, str) else ""
    return v if v in SEE_CLASSES else None


def canonical_lighting(value: str) -> str | None:
    """A sequence name's lighting field mapped to the suite's name (``"Overexposed"`` ->
    ``"overexposure"``, ``"Low"`` -> ``"low_light"``; case-insensitive), or ``None``."""
    return SEE_LIGHTING.get(value.strip().lower()) if isinstance(value, str) else None


def _int_field(name: str, field: str, text: str) -> int:
    if not text.isdigit():
        raise SequenceNameError(
            f"sequence {name!r}: field {field!r} = {text!r} is not a non-negative integer "
            f"(expected {'_'.join(f'[{f}]' for f in NAME_FIELDS)})"
        )
    return int(text)


def parse_sequence_name(name: str) -> SEESequenceName:
    """Parse ``[seq#]_[subjectID]_[sex]_[age]_[degree]_[lighting]_[emotion]_[length]_[take#]``.

    Source: SEEN's ``Dataset_Instructions.md`` ("Sequence Name Format"); its evaluation script
    ``read_20json_result.py`` reads the lighting as field 5 and the emotion as field 6.
    Lighting and emotion are matched case-insensitively.

    Args:
        name: e.g. ``"1087_038_man_19_undergraduate_normal_angry_51_take002"``.

    Returns:
        The parsed fields.

    Raises:
        SequenceNameError: not 9 fields, a numeric field (``seq#``, ``age``, ``length``) that is
            not an integer, ``take#`` not ``take<digits>``, an unknown lighting condition or
            emotion; the message names the sequence, the field and the value.
    """
    if not isinstance(name, str):
        raise SequenceNameError(f"sequence name must be a string, got {type(name).__name__}")
    parts = name.split("_")
    if len(parts) != len(NAME_FIELDS):
        raise SequenceNameError(
            f"sequence {name!r}: expected {len(NAME_FIELDS)} '_'-separated fields "
            f"{'_'.join(f'[{f}]' for f in NAME_FIELDS)}, got {len(parts)}"
        )
    number, subject, sex, age, degree, lighting, emotion, length, take = parts
    light = canonical_lighting(lighting)
    if light is None:
        raise SequenceNameError(
            f"sequence {name!r}: field 'lighting' = {lighting!r} is not a SEE lighting condition "
            f"(expected one of normal, Overexposed, Low, HDR, any case)"
        )
    emo = canonical_emotion(emotion)
    if emo is None:
        raise SequenceNameError(
            f"sequence {name!r}: field 'emotion' = {emotion!r} is not a SEE emotion "
            f"(expected one of {', '.join(SEE_CLASSES)}, any case)"
        )
    m = _TAKE.fullmatch(take)
    if m is None:
        raise SequenceNameError(
            f"sequence {name!r}: field 'take#' = {take!r} is not of the form take<digits>"
        )
    if not subject:
        raise SequenceNameError(f"sequence {name!r}: field 'subjectID' is empty")
    return SEESequenceName(
        name=name,
        number=_int_field(name, "seq#", number),
        subject=subject,
        sex=sex,
        age=_int_field(name, "age", age),
        degree=degree,
        lighting=light,
        emotion=emo,
        length=_int_field(name, "length", length),
        take=int(m.group(1)),
    )


class MissingSequenceFoldersError(DatasetError):
    """Sequence folders named by the split file are absent; ``missing`` lists every folder."""

    def __init__(self, message: str, missing: list[Path]):
        super().__init__(message)
        self.missing = missing


def _how_to_get() -> str:
    return (
        f"SEE (SEEN, SIGGRAPH 2023) is obtained from the authors ({SEE_URL}; see {SEEN_REPO_URL}"
        "/blob/main/Dataset_Instructions.md): unpack it so that the data root holds SEE/frame/"
        "<emotion>/<sequence>/NNNNN.jpg, SEE/event/<emotion>/<sequence>/NNNNN.jpg and the "
        "split file SEE/emotion.json."
    )


def _emotion_folders(parent: Path) -> dict[str, Path]:
    """``{canonical emotion: folder}`` of the emotion folders directly under ``parent``
    (names matched case-insensitively; other folders are ignored).

    Raises:
        DatasetError: two folders map to the same emotion (e.g. ``neutral`` and ``neutraL``).
    """
    out: dict[str, Path] = {}
    if not parent.is_dir():
        return out
    for child in sorted(parent.iterdir()):
        emo = canonical_emotion(child.name)
        if emo is None or not child.is_dir():
            continue
        if emo in out:
            raise DatasetError(
                f"{parent}: folders {out[emo].name!r} and {child.name!r} are both emotion {emo!r}"
            )
        out[emo] = child
    return out


def _read_image(path: Path, mode: str | None) -> np.ndarray:
    """One JPG as uint8 ``(H, W)`` (``mode="L"``) or ``(H, W, 3)`` (``mode="RGB"``); ``None``
    keeps grey images grey and converts everything else to RGB."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            target = mode or ("L" if img.mode in ("L", "1", "I;16", "I", "F") else "RGB")
            return np.asarray(img.convert(target), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"{path}: cannot read image ({exc})") from exc


def _stack(images: list[np.ndarray], paths: list[Path]) -> np.ndarray:
    """Stack frames of one folder, checking that they share a shape."""
    first = images[0].shape
    for img, p in zip(images, paths, strict=True):
        if img.shape != first:
            raise DatasetError(
                f"{p}: image shape {img.shape} differs from {first} of {paths[0].name} in the "
                "same sequence"
            )
    return np.stack(images)


def _resize_area(a: np.ndarray, size: tuple[int, int]) -> Any:
    """``(N, C, h, w)`` uint8 array -> ``(N, C, H, W)`` float32 torch tensor in [0, 1], area
    interpolation."""
    import torch

    t = torch.from_numpy(a).float().div_(255.0)
    return torch.nn.functional.interpolate(t, size=tuple(size), mode="area")


@register_dataset
class SEEDataset(EventDataset):
    """The SEE dataset (frames layout; see the module docstring).

    Class attributes: ``name`` ``"see"``, ``folder`` ``"SEE"``, ``classes`` :data:`SEE_CLASSES`,
    ``sensor_size`` ``(346, 260, 2)`` (the DAVIS346 that recorded SEE; the frames are read at the
    size they are stored), ``frame_period_ms`` 33 (event accumulation period of the event frames).

    Attributes:
        root: as passed.
        directory: the SEE folder (``root/SEE``, or ``root`` itself when it directly holds
            ``frame/`` and ``event/``).
        split_path: the split file used.
        sequences: one :class:`SequenceInfo` per usable split-file entry, in file order:
            ``subject`` = subject ID, ``sequence`` = full sequence name, ``label`` = index into
            ``classes``, ``path`` = event-frame folder, ``lighting`` = canonical lighting,
            ``extra`` = ``{"frame_dir", "subset" ("train"/"test"), "segment" [start, end),
            "sex", "age", "degree", "take", "length", "seq_number"}``.
        skipped: names of split-file entries left out because their segment is empty
            (``end <= start``, upstream skips ``end == 0``); each is logged.
        subject_k, subject_seed: k and seed of the ``"subject"`` protocol.

    ``load_events`` is not available: SEE ships frames, not event streams (use
    :meth:`load_frames`).
    """

    name: ClassVar[str] = "see"
    provides: ClassVar[tuple[str, ...]] = ("frames",)
    folder: ClassVar[str] = "SEE"
    classes: ClassVar[tuple[str, ...]] = SEE_CLASSES
    sensor_size: ClassVar[tuple[int, int, int]] = SENSOR_SIZE_DAVIS346
    frame_period_ms: ClassVar[float] = 33.0
    corruption_skip_reason: ClassVar[str] = (
        "SEE's event frames are JPG renderings (33 ms each) whose pixel values are not event "
        "counts and whose polarity coding is undocumented: no count frames for a corruption's "
        "frame form to act on")
    """Why the robustness sweep skips every corruption for SEE
    (:func:`benchmarks.robustness.sweep.corruption_skip_reason`)."""

    def __init__(
        self,
        root: str | Path,
        *,
        split_file: str | Path = "emotion.json",
        frame_folder: str = "frame",
        event_folder: str = "event",
        subject_k: int = 10,
        subject_seed: int = 0,
        check_files: bool = True,
        missing_frames: str = "error",
    ):
        """Index SEE under ``root``.

        Args:
            root: the data root holding ``SEE/`` (or the SEE folder itself).
            split_file: the split file; a relative path is looked up in the SEE folder, then in
                ``root``.
            frame_folder, event_folder: names of the intensity- and event-frame folders
                (upstream's code defaults to ``frame`` and ``event_30``; the release uses
                ``frame`` and ``event``).
            subject_k, subject_seed: folds and seed of the ``"subject"`` protocol.
            check_files: check that every sequence has both folders (all missing folders are
                reported in one :class:`MissingSequenceFoldersError`).
            missing_frames: what :meth:`load_frames` does when a frame of the segment is absent in
                either folder: ``"error"`` (raise) or ``"skip"`` (drop that index from both, with
                a warning; upstream drops missing frames silently).

        Raises:
            DatasetNotFoundError: no SEE folder, no ``frame``/``event`` folder or no split file;
                the message names the searched paths and how to obtain SEE.
            DatasetError: the split file is malformed (file, sequence, field and value named),
                a sequence name does not parse, an annotation label disagrees with the name, or
                (with ``check_files``) sequence folders are missing.
            ValueError: ``missing_frames`` is not ``"error"`` or ``"skip"``.
        """
        super().__init__(root)
        if missing_frames not in ("error", "skip"):
            raise ValueError(f"missing_frames must be 'error' or 'skip', got {missing_frames!r}")
        self.missing_frames = missing_frames
        self.subject_k = subject_k
        self.subject_seed = subject_seed
        candidates = [self.root / self.folder, self.root]
        directory = next(
            (c for c in candidates if (c / frame_folder).is_dir() and (c / event_folder).is_dir()),
            None,
        )
        if directory is None:
            raise DatasetNotFoundError(
                f"{self.name}: no SEE folder with {frame_folder}/ and {event_folder}/ found "
                f"(searched {', '.join(str(c) for c in candidates)}). {_how_to_get()}"
            )
        self.directory = directory
        self.frame_root = directory / frame_folder
        self.event_root = directory / event_folder
        split = Path(split_file)
        tried = [split] if split.is_absolute() else [directory / split, self.root / split]
        found = next((p for p in tried if p.is_file()), None)
        if found is None:
            raise DatasetNotFoundError(
                f"{self.name}: split file not found (searched {', '.join(str(p) for p in tried)}). "
                f"{_how_to_get()}"
            )
        self.split_path = found
        self.skipped: list[str] = []
        self.sequences = self._index(self._read_split())
        if check_files:
            self.check_files()
        n_train = sum(s.extra["subset"] == "train" for s in self.sequences)
        log.info(
            "%s: %d sequences (%d train, %d test), %d subjects in %s; %d skipped (empty segment)",
            self.name, len(self.sequences), n_train, len(self.sequences) - n_train,
            len(self.subjects()), self.directory, len(self.skipped),
        )

    # -- indexing --------------------------------------------------------------------------

    def _read_split(self) -> dict[str, Any]:
        path = self.split_path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{path}: cannot read the split file as JSON ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
            got = type(data.get("database")).__name__ if isinstance(data, dict) else type(data).__name__
            raise DatasetError(
                f"{path}: field 'database' must be an object {{sequence: entry}}, got {got}"
            )
        labels = data.get("labels")
        if labels is not None:
            bad = [v for v in (labels if isinstance(labels, list) else [labels])
                   if not isinstance(v, str) or canonical_emotion(v) is None]
            if not isinstance(labels, list) or bad:
                raise DatasetError(
                    f"{path}: field 'labels' must list SEE emotions, got bad value(s) {bad!r}"
                )
        return data["database"]

    def _index(self, database: dict[str, Any]) -> list[SequenceInfo]:
        path = self.split_path
        frame_dirs = _emotion_folders(self.frame_root)
        event_dirs = _emotion_folders(self.event_root)
        out: list[SequenceInfo] = []
        for seq, entry in database.items():
            where = f"{path}: sequence {seq!r}"
            try:
                parsed = parse_sequence_name(seq)
            except SequenceNameError as exc:
                raise DatasetError(f"{path}: {exc}") from exc
            if not isinstance(entry, dict):
                raise DatasetError(f"{where}: entry must be an object, got {type(entry).__name__}")
            subset = entry.get("subset")
            if subset not in SUBSETS:
                raise DatasetError(
                    f"{where}: field 'subset' = {subset!r}, expected 'training' or 'testing'"
                )
            ann = entry.get("annotations")
            if not isinstance(ann, dict):
                raise DatasetError(f"{where}: field 'annotations' must be an object, got {ann!r}")
            label = ann.get("label")
            emo = canonical_emotion(label) if isinstance(label, str) else None
            if emo is None:
                raise DatasetError(
                    f"{where}: field 'annotations.label' = {label!r} is not a SEE emotion "
                    f"({', '.join(SEE_CLASSES)})"
                )
            if emo != parsed.emotion:
                raise DatasetError(
                    f"{where}: field 'annotations.label' = {label!r} disagrees with the emotion "
                    f"field {parsed.emotion!r} of the sequence name"
                )
            seg = ann.get("segment")
            if (not isinstance(seg, list) or len(seg) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                               for v in seg)):
                raise DatasetError(
                    f"{where}: field 'annotations.segment' = {seg!r}, expected [start, end] "
                    "with integers 0 <= start <= end"
                )
            start, end = seg
            if end <= start:
                log.warning("%s: empty segment %s; sequence skipped (as upstream does)", where, seg)
                self.skipped.append(seq)
                continue
            emotion_folder = (event_dirs.get(emo), frame_dirs.get(emo))
            event_dir = (emotion_folder[0] or self.event_root / emo) / seq
            frame_dir = (emotion_folder[1] or self.frame_root / emo) / seq
            out.append(SequenceInfo(
                subject=parsed.subject,
                sequence=seq,
                label=parsed.label,
                path=event_dir,
                lighting=parsed.lighting,
                extra={
                    "frame_dir": str(frame_dir),
                    "subset": SUBSETS[subset],
                    "segment": [start, end],
                    "sex": parsed.sex,
                    "age": parsed.age,
                    "degree": parsed.degree,
                    "take": parsed.take,
                    "length": parsed.length,
                    "seq_number": parsed.number,
                },
            ))
        if not out:
            raise DatasetError(f"{path}: the split file lists no usable sequence")
        return out

    def check_files(self) -> None:
        """Check that every sequence has its event-frame and intensity-frame folder.

        Raises:
            MissingSequenceFoldersError: listing every missing folder at once.
        """
        missing: list[Path] = []
        for s in self.sequences:
            for d in (s.path, Path(s.extra["frame_dir"])):
                if not d.is_dir():
                    missing.append(d)
        if missing:
            shown = ", ".join(str(p) for p in missing[:20])
            more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise MissingSequenceFoldersError(
                f"{self.directory}: {len(missing)} sequence folders named in {self.split_path.name} "
                f"are missing: {shown}{more}. {_how_to_get()}",
                missing,
            )

    def subjects(self) -> list[str]:
        """Distinct subject IDs, sorted."""
        return sorted({s.subject for s in self.sequences})

    # -- data ------------------------------------------------------------------------------

    def frame_indices(self, index: int) -> list[int]:
        """Frame indices of sequence ``index``: ``range(start, end)`` of its segment."""
        start, end = self.sequences[index].extra["segment"]
        return list(range(start, end))

    def load_frames(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Intensity and event frames of sequence ``index`` over its segment.

        Frame ``i`` is ``<folder>/<i:05d>.jpg`` (upstream's ``image_name_formatter``); frame ``i``
        of both folders covers the same 33 ms.

        Returns:
            ``(intensity, events)``: ``intensity`` uint8 ``(N, H, W)`` (converted to grey);
            ``events`` uint8 ``(N, H, W)`` when every event frame is stored grey, else
            ``(N, H, W, 3)`` RGB. ``N`` = segment length (minus skipped indices with
            ``missing_frames="skip"``).

        Raises:
            DatasetError: frames missing (``missing_frames="error"``; all missing files named),
                no frame left, an unreadable image, or frames of different shapes in a folder.
        """
        s = self.sequences[index]
        frame_dir, event_dir = Path(s.extra["frame_dir"]), s.path
        wanted = self.frame_indices(index)
        names = [f"{i:05d}.jpg" for i in wanted]
        missing = [d / n for n in names for d in (frame_dir, event_dir) if not (d / n).is_file()]
        if missing:
            shown = ", ".join(str(p) for p in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            if self.missing_frames == "error":
                raise DatasetError(
                    f"sequence {s.sequence!r}: {len(missing)} frame files of segment "
                    f"{s.extra['segment']} are missing: {shown}{more}"
                )
            log.warning("sequence %r: skipping %d missing frame files: %s%s", s.sequence,
                        len(missing), shown, more)
            gone = {p.name for p in missing}
            names = [n for n in names if n not in gone]
            if not names:
                raise DatasetError(f"sequence {s.sequence!r}: no frame of segment "
                                   f"{s.extra['segment']} exists in {frame_dir} and {event_dir}")
        fpaths = [frame_dir / n for n in names]
        epaths = [event_dir / n for n in names]
        intensity = _stack([_read_image(p, "L") for p in fpaths], fpaths)
        events = [_read_image(p, None) for p in epaths]
        if any(e.ndim == 3 for e in events):
            events = [np.repeat(e[..., None], 3, axis=2) if e.ndim == 2 else e for e in events]
        return intensity, _stack(events, epaths)

    def check_inputs(self, spec: SampleSpec) -> None:
        """Check that the architecture of ``spec`` takes SEE's samples (event and intensity
        frames).

        Raises:
            ValueError: the architecture takes events only (no ``"frames"`` in ``spec.inputs``).
        """
        if not spec.wants_frames:
            raise ValueError(
                f"architecture {spec.arch!r} takes events only (inputs {tuple(spec.inputs)}) but "
                f"dataset {self.name!r} provides event and intensity frames, not event streams; "
                "use a two-input architecture such as 'seen'"
            )

    def sample_key(self, index: int, spec: SampleSpec) -> tuple:
        """See :meth:`EventDataset.sample_key`; SEE's sample depends on ``spec``'s
        ``n_time_bins`` and ``size`` (:meth:`sample_tensors`)."""
        return (self.name, str(self.root), index, "load_frames", int(spec.n_time_bins),
                tuple(spec.size))

    def sample_tensors(self, index: int, spec: SampleSpec, store: Any = None) -> tuple[Any, Any]:
        """Event frames ``(T, 2, H, W)`` and intensity frames ``(2, 1, H, W)`` (float32 torch
        tensors in [0, 1]) of sequence ``index``, the sample of a two-input architecture, with
        ``T = spec.n_time_bins`` and ``(H, W) = spec.size`` (``store`` is unused: SEE has no
        event streams).

        Choices (reference: SEEN's ``code/Videodataset.py``, ``temporal_transforms.py``,
        ``train.py``, ``model_snn_cnn.py``):

        * Time: ``T`` frame indices evenly spaced over the segment, first and last included
          (``round(linspace(0, N - 1, T))``; repeated indices when ``N < T``, as the reference
          loop-pads short clips). The reference takes a *random* window of ``T`` consecutive
          frames (``TemporalRandomCrop(sample_duration)``), a training augmentation; a cached,
          deterministic sample needs one fixed choice, and evenly spaced frames cover the whole
          expression rather than an arbitrary 4 x 33 ms of it.
        * Intensity frames: the first and last of those same indices (the segment's first and
          last frame), as the reference's frame branch uses ``frame[:, :, 0]`` and
          ``frame[:, :, -1]`` of the clip it loaded with the event frames.
        * Size: resized to ``size`` (the arch's ``input_size``) with area interpolation
          (averaging, so downsizing a 346x260 crop does not alias sparse event pixels); the
          reference uses torchvision's bilinear ``Resize(90)``. Aspect ratio is not kept (SEE
          crops are near-square).
        * Channels: SEE does not document how polarity is drawn in its event JPGs and the
          reference feeds them as RGB. Colour event frames give channel 0 = red, channel 1 =
          blue (green is dropped; if polarity is drawn in red/blue, this separates it); grey
          event frames give the grey value in both channels. Values are scaled to [0, 1]
          (``/ 255``; the reference's ``ScaleValue(1)`` with its mean/std normalisation off).

        Raises:
            DatasetError: as :meth:`load_frames`.
        """
        size = tuple(spec.size)
        intensity, events = self.load_frames(index)
        n = len(events)
        pick = np.rint(np.linspace(0, n - 1, int(spec.n_time_bins))).astype(int)
        ev = events[pick]
        ev = ev[..., [0, 2]] if ev.ndim == 4 else np.repeat(ev[..., None], 2, axis=3)
        x = _resize_area(np.ascontiguousarray(ev.transpose(0, 3, 1, 2)), size)
        f = _resize_area(np.ascontiguousarray(intensity[[pick[0], pick[-1]]][:, None]), size)
        return x.contiguous(), f.contiguous()

    def load_events(self, index: int) -> np.ndarray:
        """Not available for SEE.

        Raises:
            NotImplementedError: always; SEE distributes intensity frames and 33 ms event frames
                (JPGs), not event streams ``(t, x, y, p)``. Use :meth:`load_frames`.
        """
        raise NotImplementedError(
            f"{self.name}: SEE ships intensity frames and event frames accumulated over 33 ms "
            f"(JPG), not event streams (t, x, y, p); use SEEDataset.load_frames({index}) "
            f"(sequence {self.sequences[index].sequence!r})"
        )

    # -- protocols -------------------------------------------------------------------------

    @property
    def n_folds(self) -> int:
        """1: the published split is a single training/testing split."""
        return 1

    def folds_for(self, protocol: str) -> int:
        """Number of folds of ``protocol`` (``"fixed"``/``"folds"``: 1; ``"subject"``: k).

        Raises:
            ValueError: unknown protocol.
        """
        if protocol in ("fixed", "folds"):
            return 1
        if protocol == "subject":
            return self.subject_k
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")

    def subject_assignment(self) -> dict[str, int]:
        """``{subject: fold}`` of the ``"subject"`` protocol (see :func:`subject_folds`)."""
        return subject_folds([s.subject for s in self.sequences], self.subject_k, self.subject_seed)

    def split(self, fold: int = 0, protocol: str = "fixed") -> tuple[list[int], list[int]]:
        """``(train_indices, test_indices)`` into ``sequences``.

        ``"fixed"`` (alias ``"folds"``): the split file's ``training`` / ``testing`` subsets
        (1,638 / 767 in the release; NOT subject-independent: most subjects appear in both).
        ``"subject"``: subject-independent folds of :func:`subject_folds` (``subject_k`` folds,
        ``subject_seed``).

        Raises:
            ValueError: unknown protocol, or ``fold`` out of range (``fixed``: only fold 0).
        """
        if protocol in ("fixed", "folds"):
            if fold != 0:
                raise ValueError(f"protocol {protocol!r} of {self.name} has only fold 0, got {fold}")
            train = [i for i, s in enumerate(self.sequences) if s.extra["subset"] == "train"]
            test = [i for i, s in enumerate(self.sequences) if s.extra["subset"] == "test"]
            return train, test
        if protocol == "subject":
            subjects = [s.subject for s in self.sequences]
            return subject_fold_split(subjects, fold, self.subject_k, self.subject_seed)
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
