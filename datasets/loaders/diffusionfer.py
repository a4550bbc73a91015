"""DiffusionFER: FER-Zoo's Stable-Diffusion face images with expression, valence and arousal.

Source: the DiffusionFER dataset card (huggingface.co/datasets/FER-Universe/DiffusionFER, CC0
1.0; linked from kdhht2334/Facial-Expression-Recognition-Zoo). Its small version
``DiffusionEmotion_S`` has about 2.6k images in seven expression folders and one annotation
sheet. Published layout (folders matched case-insensitively)::

    <root>/DiffusionFER/DiffusionEmotion_S/<expression>/<file>.png           original images
    <root>/DiffusionFER/DiffusionEmotion_S_cropped/<expression>/<file>.png   face crops
    <root>/DiffusionFER/DiffusionEmotion_S/dataset_sheet.csv                 annotations

(the sheet is also looked up in the variant folder and in ``DiffusionFER/``; ``<root>`` may be
the ``DiffusionFER`` folder itself). ``dataset_sheet.csv`` has a header row and the columns

* ``subDirectory_filePath``: the image, e.g. ``DiffusionEmotion_S_cropped/happy/<file>.png``
  (the sheet names the cropped folder; the original folder holds the same file names: a leading
  ``DiffusionEmotion_S[_cropped]/``, ``original/`` or ``cropped/`` component is dropped and the
  rest, ``<expression>/<file>``, is looked up in the chosen variant);
* ``expression``: the class code 0..6 = neutral, happy, sad, surprise, fear, disgust, angry
  (AffectNet's order; :data:`DIFFUSIONFER_CLASSES`), which must agree with the folder;
* ``valence``, ``arousal``: continuous, in ``[-1, 1]`` (AffectNet's convention, which FER-Zoo
  follows).

These column names are those read by public code using the release (e.g. scripts that read
``row['subDirectory_filePath']``, ``row['expression']``, ``row['valence']``, ``row['arousal']``
from ``DiffusionFER/DiffusionEmotion_S/dataset_sheet.csv``); FER-Zoo's own ``FaceDataset`` reads
the sheet by position (column 0 the path, 1 valence, 2 arousal), so this loader reads by name
and checks the header.

Identity: the card says the dataset's "virtual subjects" open privacy-related uses, but the
published metadata has no identity column and file names carry none, so there is no notion of
subject: folds are stratified by expression over images (:func:`stratified_folds`), not
grouped, and each image is its own ``subject`` for splitting only (``has_identities = False``:
ELIM refuses to run on it). If a sheet carries a ``subject`` column, folds are grouped by it and
the dataset has identities.

Events: the images are converted to event streams by moving a simulated sensor in front of
each (three saccades, :mod:`datasets.conversion.image_events`), cached under
``DiffusionFER/events/<variant>_<size>px_s<seed>_<digest>/<expression>/<stem>.h5`` on
:meth:`DiffusionFERDataset.open`; the still image itself is available for two-input
architectures (:meth:`DiffusionFERDataset.intensity_tensor`).

Validation: every problem of the tree is reported at once, naming the file and line: a missing
column, a row whose image is missing, an image with no row, a duplicate row, an unknown or
disagreeing expression code, a valence or arousal that is not a number in ``[-1, 1]``.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from datasets.base import (
    DatasetError,
    DatasetNotFoundError,
    EventDataset,
    SequenceInfo,
    register_dataset,
)
from datasets.folds import subject_folds

log = logging.getLogger(__name__)

DIFFUSIONFER_CLASSES: tuple[str, ...] = (
    "neutral", "happy", "sad", "surprise", "fear", "disgust", "angry",
)
"""Expression codes of ``dataset_sheet.csv``: ``DIFFUSIONFER_CLASSES[code]`` (the folder names)."""

FOLDER = "DiffusionFER"
VARIANTS = {"original": "DiffusionEmotion_S", "cropped": "DiffusionEmotion_S_cropped"}
SHEET = "dataset_sheet.csv"
COLUMNS = ("subDirectory_filePath", "expression", "valence", "arousal")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CARD_URL = "https://huggingface.co/datasets/FER-Universe/DiffusionFER"
PROTOCOLS = ("folds",)
_MAX_LISTED = 40


def _how_to_get() -> str:
    return (f"DiffusionFER (CC0) is published at {CARD_URL}: unpack DiffusionEmotion_S (and/or "
            "DiffusionEmotion_S_cropped) with its <expression>/<file>.png folders and "
            f"{SHEET} into <data root>/{FOLDER}/.")


def stratified_folds(labels: list[int], k: int, seed: int = 0) -> list[int]:
    """Stratified k-fold assignment: the fold of each sample.

    Within each class (in sorted order) the samples are shuffled with
    ``numpy.random.default_rng(seed)`` and dealt round-robin, the deal continuing from class to
    class, so that every fold's class counts differ by at most one and fold sizes by at most one.

    Args:
        labels: ``(N,)`` class of each sample.
        k: folds, ``2 <= k <= N``.
        seed: seed of the shuffles.

    Raises:
        ValueError: ``k`` out of range.
    """
    n = len(labels)
    if not 2 <= k <= max(2, n):
        raise ValueError(f"k must be in 2..{n}, got {k}")
    rng = np.random.default_rng(seed)
    folds = [0] * n
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(labels):
        by_class[int(c)].append(i)
    nxt = 0
    for c in sorted(by_class):
        members = by_class[c]
        for j in rng.permutation(len(members)):
            folds[members[j]] = nxt % k
            nxt += 1
    return folds


@register_dataset
class DiffusionFERDataset(EventDataset):
    """DiffusionFER (see the module docstring).

    Class attributes: ``name`` ``"diffusionfer"`` (alias ``DiffusionFER``), ``classes``
    :data:`DIFFUSIONFER_CLASSES`, ``provides`` ``("events", "valence_arousal", "intensity")``,
    ``has_identities`` False (no identity in the published metadata).

    Attributes:
        directory: the ``DiffusionFER`` folder; ``image_dir`` the variant's folder;
            ``sheet_path`` the annotation sheet used.
        sequences: one :class:`SequenceInfo` per sheet row, in sheet order: ``subject`` =
            ``"<expression>/<stem>"`` (no identity: each image its own group), ``sequence`` = the
            file stem, ``label`` = the expression code, ``path`` = the event file (set by
            :meth:`open`; the image for a dataset built without it), ``extra`` = ``{"image", "valence", "arousal",
            "sheet_line", "variant"}``.
        fold_of: the fold of each sequence (``"folds"`` protocol).
    """

    name: ClassVar[str] = "diffusionfer"
    aliases: ClassVar[tuple[str, ...]] = ("DiffusionFER",)
    classes: ClassVar[tuple[str, ...]] = DIFFUSIONFER_CLASSES
    provides: ClassVar[tuple[str, ...]] = ("events", "valence_arousal", "intensity")
    has_identities: bool = False
    sensor_size = (64, 64, 2)

    @classmethod
    def open(cls, root: str | Path, **params: Any) -> DiffusionFERDataset:
        """Index the tree, then convert its images to events (cached; see
        :func:`datasets.conversion.image_events.convert_images`).

        Keyword args: ``variant``, ``k``, ``fold_seed`` (the constructor's); ``saccade`` (a
        dict of :class:`datasets.conversion.image_events.SaccadeParams`), ``seed`` (of the conversion,
        default 0), ``progress`` (default True); ``check_files`` is accepted like every
        dataset's (the dataset check passes it) and has no effect: the index validates every
        image and row at construction, reporting all problems at once.

        Raises:
            DatasetNotFoundError, DatasetError: see the constructor;
            datasets.conversion.image_events.ImageConversionError: an image cannot be converted.
        """
        from datasets.conversion.image_events import params_from

        params.pop("check_files", None)
        saccade = params_from(params.pop("saccade", None))
        seed = int(params.pop("seed", 0))
        progress = bool(params.pop("progress", True))
        ds = cls(root, **params)
        ds.convert(saccade, seed=seed, progress=progress)
        return ds

    def __init__(self, root: str | Path, *, variant: str = "cropped", k: int = 5,
                 fold_seed: int = 0):
        """Index DiffusionFER under ``root`` (no conversion; see :meth:`open`).

        Args:
            root: the data root holding ``DiffusionFER/`` (or that folder itself).
            variant: ``"cropped"`` (``DiffusionEmotion_S_cropped``, the face crops the sheet
                names) or ``"original"`` (``DiffusionEmotion_S``).
            k: folds of the ``"folds"`` protocol (stratified by expression).
            fold_seed: seed of the fold assignment.

        Raises:
            DatasetNotFoundError: no ``DiffusionFER`` folder, variant folder or sheet.
            DatasetError: every problem of the sheet and the image folders, at once.
            ValueError: an unknown variant.
        """
        super().__init__(root)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        self.variant = variant
        self.k = int(k)
        self.fold_seed = int(fold_seed)
        candidates = [self.root / FOLDER, self.root]
        directory = next((c for c in candidates if (c / VARIANTS[variant]).is_dir()), None)
        if directory is None:
            raise DatasetNotFoundError(
                f"{self.name}: folder {VARIANTS[variant]}/ not found (searched "
                f"{', '.join(str(c) for c in candidates)}). {_how_to_get()}")
        self.directory = directory
        self.image_dir = directory / VARIANTS[variant]
        sheets = [self.image_dir / SHEET, directory / VARIANTS["original"] / SHEET, directory / SHEET]
        self.sheet_path = next((p for p in sheets if p.is_file()), None)
        if self.sheet_path is None:
            raise DatasetNotFoundError(
                f"{self.name}: {SHEET} not found (searched {', '.join(str(p) for p in sheets)}). "
                f"{_how_to_get()}")
        self.sequences = self._index()
        self._identity_column = bool(self.sequences and self.sequences[0].extra.get("identity"))
        if self._identity_column:
            self.has_identities = True
        self.fold_of = self._assign_folds()
        self.converted = False
        log.info("%s (%s): %d images in %s", self.name, variant, len(self.sequences), self.image_dir)

    # -- indexing --------------------------------------------------------------------------

    def _images_on_disk(self) -> dict[str, Path]:
        """``{"<expression>/<file name>" (lower-case expression): path}`` of every image."""
        out: dict[str, Path] = {}
        for sub in sorted(self.image_dir.iterdir()):
            if not sub.is_dir() or sub.name.lower() not in DIFFUSIONFER_CLASSES:
                continue
            for f in sorted(sub.iterdir()):
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                    out[f"{sub.name.lower()}/{f.name}"] = f
        return out

    @staticmethod
    def _relative(raw: str) -> str:
        """``<expression>/<file>`` of a sheet path (leading variant folder dropped)."""
        parts = [p for p in raw.replace("\\", "/").split("/") if p]
        return "/".join(parts[-2:])

    def _index(self) -> list[SequenceInfo]:
        path = self.sheet_path
        problems: list[str] = []
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{path}: cannot read the annotation sheet ({exc})") from exc
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise DatasetError(f"{path}, line 1: missing column(s) {missing}; got {header} "
                               f"(expected {list(COLUMNS)})")
        has_subject = "subject" in header
        on_disk = self._images_on_disk()
        seen: dict[str, int] = {}
        out: list[SequenceInfo] = []
        for row in reader:
            line = reader.line_num
            where = f"{path}, line {line}"
            raw = (row.get("subDirectory_filePath") or "").strip()
            rel = self._relative(raw)
            parts = rel.split("/")
            if len(parts) != 2 or not parts[1]:
                problems.append(f"{where}: field 'subDirectory_filePath' = {raw!r} is not "
                                "<expression>/<file>")
                continue
            folder, fname = parts[0].lower(), parts[1]
            key = f"{folder}/{fname}"
            code_raw = (row.get("expression") or "").strip()
            try:
                code = int(float(code_raw))
                ok = float(code_raw) == code and 0 <= code < len(DIFFUSIONFER_CLASSES)
            except ValueError:
                code, ok = -1, False
            if not ok:
                problems.append(f"{where}: field 'expression' = {code_raw!r} is not a class code "
                                f"0..{len(DIFFUSIONFER_CLASSES) - 1} ({', '.join(DIFFUSIONFER_CLASSES)})")
            elif folder in DIFFUSIONFER_CLASSES and DIFFUSIONFER_CLASSES[code] != folder:
                problems.append(f"{where}: field 'expression' = {code} "
                                f"({DIFFUSIONFER_CLASSES[code]}) disagrees with the folder "
                                f"{parts[0]!r} of {raw!r}")
            va: dict[str, float] = {}
            for col in ("valence", "arousal"):
                text_v = (row.get(col) or "").strip()
                try:
                    v = float(text_v)
                except ValueError:
                    v = math.nan
                if not -1.0 <= v <= 1.0:
                    problems.append(f"{where}: field {col!r} = {text_v!r} is not a number in "
                                    "[-1, 1]")
                va[col] = v
            if key in seen:
                problems.append(f"{where}: image {raw!r} already listed on line {seen[key]}")
                continue
            seen[key] = line
            image = on_disk.get(key)
            if image is None:
                problems.append(f"{where}: image {raw!r} not found (expected "
                                f"{self.image_dir / folder / fname})")
                continue
            if not ok:
                continue
            stem = Path(fname).stem
            identity = (row.get("subject") or "").strip() if has_subject else ""
            out.append(SequenceInfo(
                subject=identity or f"{folder}/{stem}",
                sequence=stem,
                label=code,
                path=image,
                extra={"image": str(image), "valence": va["valence"], "arousal": va["arousal"],
                       "sheet_line": line, "variant": self.variant,
                       **({"identity": identity} if identity else {})},
            ))
        orphans = sorted(set(on_disk) - set(seen))
        for key in orphans:
            problems.append(f"{on_disk[key]}: image without a row in {path.name}")
        if problems:
            shown = "\n  ".join(problems[:_MAX_LISTED])
            more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
            raise DatasetError(f"{self.name}: {len(problems)} problem(s) in {self.directory}:\n  "
                               f"{shown}{more}")
        if not out:
            raise DatasetError(f"{path}: the sheet lists no image")
        return out

    def _assign_folds(self) -> list[int]:
        if len(self.sequences) < self.k:
            raise DatasetError(f"{self.name}: {len(self.sequences)} images cannot fill {self.k} folds")
        if self._identity_column:
            assignment = subject_folds([s.subject for s in self.sequences], self.k, self.fold_seed)
            return [assignment[s.subject] for s in self.sequences]
        return stratified_folds([s.label for s in self.sequences], self.k, self.fold_seed)

    # -- events ----------------------------------------------------------------------------

    def convert(self, saccade=None, *, seed: int = 0, progress: bool = True) -> None:
        """Convert (or find in the cache) every image's events and point ``sequences[i].path``
        at them; ``sensor_size`` becomes ``(saccade.size, saccade.size, 2)``."""
        from datasets.conversion.image_events import (
            SaccadeParams,
            conversion_folder,
            convert_images,
        )

        saccade = saccade or SaccadeParams()
        out = conversion_folder(self.directory / "events", self.variant, saccade, seed)
        keys = [f"{DIFFUSIONFER_CLASSES[s.label]}/{s.sequence}" for s in self.sequences]
        paths = convert_images(zip(keys, [s.extra["image"] for s in self.sequences], strict=True),
                               out, saccade, seed=seed, progress=progress, desc=self.name)
        self.sequences = [replace(s, path=paths[k]) for s, k in zip(self.sequences, keys, strict=True)]
        self.sensor_size = (saccade.size, saccade.size, 2)  # type: ignore[misc]
        self.event_dir = out
        self.converted = True

    def load_events(self, index: int) -> np.ndarray:
        """Events of image ``index`` (after :meth:`open` / :meth:`convert`).

        Raises:
            DatasetError: the images were not converted yet.
        """
        if not self.converted:
            raise DatasetError(f"{self.name}: images not converted to events yet; open the "
                               "dataset with DiffusionFERDataset.open (or call convert())")
        return super().load_events(index)

    def intensity_tensor(self, index: int, size: tuple[int, int]):
        """The still image of ``index`` as intensity frames ``(2, 1, H, W)`` float32 in [0, 1]
        (the same frame twice: the first and last frame a two-input architecture such as
        ``seen`` takes), resized to ``size`` with area averaging."""
        import torch

        from datasets.conversion.image_events import load_grey

        h, w = size
        img = load_grey(self.sequences[index].extra["image"], max(h, w))
        t = torch.from_numpy(img)[None, None]
        t = torch.nn.functional.interpolate(t, size=(h, w), mode="area")
        return t.repeat(2, 1, 1, 1).contiguous()

    # -- protocols -------------------------------------------------------------------------

    @property
    def n_folds(self) -> int:
        """``k`` of the stratified folds."""
        return self.k

    def folds_for(self, protocol: str) -> int:
        """Number of folds of ``protocol`` (only ``"folds"``).

        Raises:
            ValueError: another protocol.
        """
        if protocol == "folds":
            return self.k
        raise self._protocol_error(protocol)

    def _protocol_error(self, protocol: str) -> ValueError:
        if protocol == "subject" and not self.has_identities:
            return ValueError(f"{self.name}: protocol 'subject' needs identities, which the "
                              "published metadata does not have; use protocol 'folds' "
                              "(stratified by expression)")
        if protocol == "subject":
            return ValueError(f"{self.name}: with a subject column the 'folds' protocol is "
                              "already subject-independent; use protocol 'folds'")
        return ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")

    def split(self, fold: int, protocol: str = "folds") -> tuple[list[int], list[int]]:
        """``(train_indices, test_indices)``: test = the images of fold ``fold``.

        Raises:
            ValueError: another protocol, or ``fold`` outside ``0..k-1``.
        """
        if protocol != "folds":
            raise self._protocol_error(protocol)
        if not 0 <= fold < self.k:
            raise ValueError(f"fold must be in 0..{self.k - 1}, got {fold}")
        test = [i for i, f in enumerate(self.fold_of) if f == fold]
        train = [i for i, f in enumerate(self.fold_of) if f != fold]
        return train, test
