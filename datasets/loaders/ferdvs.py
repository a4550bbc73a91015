"""The FerDVS datasets of Spiking-FER: CK+, ADFES, CASIA and MMI converted to events with v2e.

Layout (Barchid et al., "Spiking-Fer", CBMI 2023; repository Barchid/spiking-fer, ``data/FerDVS``)::

    <root>/<Name>DVS/folds.csv                  the published fold file (see datasets.folds)
    <root>/<Name>DVS/<subject>/<sequence>.h5    v2e --dvs_h5 output, 200x200, one per row

with ``<Name>`` in ``CKPlus``, ``ADFES``, ``CASIA``, ``MMI``. The event versions are not
redistributable: the original videos must be requested from their owners, standardised (68
landmarks, head-pose correction, crop from facial proportions, resize to 200x200) and converted
with v2e (``--pos_thres 0.2 --neg_thres 0.2 --sigma_thres 0.02 --cutoff_hz 0 --leak_rate_hz 0
--shot_noise_rate_hz 0 --input_frame_rate 30``), as the Spiking-FER README describes.

Protocols of :meth:`FerDVSDataset.split`:

* ``"folds"``: the fold file's own test columns (upstream protocol; ~20 % random hold-outs, NOT
  subject-independent);
* ``"subject"``: subject-independent k folds from :func:`datasets.folds.subject_folds`
  (k = 10, seed 0 by default).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

from datasets.base import (
    DatasetError,
    DatasetNotFoundError,
    EventDataset,
    SequenceInfo,
    register_dataset,
)
from datasets.folds import (
    SPIKING_FER_CLASSES,
    FoldRow,
    fold_split,
    read_folds_csv,
    subject_fold_split,
    subject_folds,
)

log = logging.getLogger(__name__)

PROTOCOLS = ("folds", "subject")
"""Evaluation protocols of the FerDVS datasets (see the module docstring)."""

FOLDS_FILE = "folds.csv"
SPIKING_FER_URL = "https://github.com/Barchid/spiking-fer"


class MissingEventFilesError(DatasetError):
    """Event files named by ``folds.csv`` are absent; ``missing`` lists every ``(subject, sequence)``."""

    def __init__(self, message: str, missing: list[tuple[str, str]]):
        super().__init__(message)
        self.missing = missing


class FerDVSDataset(EventDataset):
    """A FerDVS dataset: ``<root>/<folder>/folds.csv`` plus one v2e h5 file per row.

    Class attributes: ``name`` (registry name), ``folder`` (``<Name>DVS``), ``classes`` (upstream
    order; ``folds.csv`` label ``i`` is ``classes[i-1]``), ``sensor_size`` ``(200, 200, 2)`` (v2e
    output width and height of the Spiking-FER recipe), ``source_url`` (where to request the
    original videos).

    Attributes:
        root: the folder containing ``<folder>`` (as passed).
        directory: ``root / folder``.
        rows: the parsed ``folds.csv`` rows, one per sequence, same order as ``sequences``.
        sequences: one :class:`SequenceInfo` per row (``label`` is ``folds.csv`` label - 1;
            ``extra["folds_csv_line"]`` is the row's line number).
        subject_k, subject_seed: k and seed of the ``"subject"`` protocol.
    """

    name: ClassVar[str] = "ferdvs"
    folder: ClassVar[str] = ""
    classes: ClassVar[tuple[str, ...]] = SPIKING_FER_CLASSES
    sensor_size: ClassVar[tuple[int, int, int]] = (200, 200, 2)
    source_url: ClassVar[str] = ""

    def __init__(
        self,
        root: str | Path,
        *,
        subject_k: int = 10,
        subject_seed: int = 0,
        check_files: bool = True,
    ):
        """Index the dataset under ``root``.

        Args:
            root: the folder that contains ``<folder>`` (e.g. ``data`` for ``data/CKPlusDVS``).
            subject_k: number of folds of the ``"subject"`` protocol.
            subject_seed: seed of the ``"subject"`` protocol's assignment.
            check_files: check that every event file exists (all missing files are reported in one
                :class:`MissingEventFilesError`).

        Raises:
            DatasetNotFoundError: ``root/<folder>`` or its ``folds.csv`` is absent; the message
                names the searched path and how to obtain the data.
            DatasetError: ``folds.csv`` is malformed (file, line, field, value named), or (with
                ``check_files``) event files are missing (:class:`MissingEventFilesError`).
        """
        super().__init__(root)
        if not self.folder:
            raise TypeError(f"{type(self).__name__} has no 'folder'; use a concrete subclass")
        self.subject_k = subject_k
        self.subject_seed = subject_seed
        self.directory = self.root / self.folder
        folds_path = self.directory / FOLDS_FILE
        if not self.directory.is_dir():
            raise DatasetNotFoundError(
                f"{self.name}: dataset folder {self.directory} not found. {self._how_to_get()}"
            )
        if not folds_path.is_file():
            raise DatasetNotFoundError(
                f"{self.name}: fold file {folds_path} not found. {self._how_to_get()}"
            )
        self.folds_path = folds_path
        self.rows: list[FoldRow] = read_folds_csv(folds_path, n_classes=len(self.classes))
        self.sequences = [
            SequenceInfo(
                subject=r.subject,
                sequence=r.sequence,
                label=r.class_index,
                path=self.directory / r.subject / f"{r.sequence}.h5",
                extra={"folds_csv_line": r.line},
            )
            for r in self.rows
        ]
        if check_files:
            self.check_files()
        log.info(
            "%s: %d sequences, %d subjects, %d folds in %s",
            self.name,
            len(self.sequences),
            len(self.subjects()),
            self.n_folds,
            self.directory,
        )

    # -- metadata --------------------------------------------------------------------------

    @classmethod
    def _how_to_get(cls) -> str:
        """How to obtain the data (used in not-found messages)."""
        origin = f" from {cls.source_url}" if cls.source_url else ""
        return (
            f"The event version of this dataset is not redistributable: request the original "
            f"videos{origin}, then convert them with v2e at 200x200 following the Spiking-FER "
            f"recipe ({SPIKING_FER_URL}#reproduction-of-the-video-to-events-converted-datasets; "
            f"the suite's `python run_bench.py convert {cls.name} ...` command does it), and place "
            f"<subject>/<sequence>.h5 and the published {FOLDS_FILE} (Barchid/spiking-fer "
            f"data/FerDVS/{cls.folder}/{FOLDS_FILE}) in {cls.folder}/ under the data root."
        )

    def subjects(self) -> list[str]:
        """Distinct subjects, sorted."""
        return sorted({s.subject for s in self.sequences})

    def check_files(self) -> None:
        """Check that every sequence's event file exists.

        Raises:
            MissingEventFilesError: listing every missing ``subject/sequence`` pair at once.
        """
        missing = [(s.subject, s.sequence) for s in self.sequences if not s.path.is_file()]
        if missing:
            listing = ", ".join(f"{sub}/{seq}.h5" for sub, seq in missing)
            raise MissingEventFilesError(
                f"{self.directory}: {len(missing)} of {len(self.sequences)} event files named in "
                f"{self.folds_path.name} are missing: {listing}. {self._how_to_get()}",
                missing,
            )

    # -- protocols -------------------------------------------------------------------------

    @property
    def n_folds(self) -> int:
        """Number of fold columns of ``folds.csv`` (the ``"folds"`` protocol)."""
        return len(self.rows[0].test_folds)

    def folds_for(self, protocol: str) -> int:
        """Number of folds of ``protocol`` (``"folds"``: fold columns; ``"subject"``: ``subject_k``).

        Raises:
            ValueError: unknown protocol.
        """
        if protocol == "folds":
            return self.n_folds
        if protocol == "subject":
            return self.subject_k
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")

    def subject_assignment(self) -> dict[str, int]:
        """``{subject: fold}`` of the ``"subject"`` protocol (see :func:`subject_folds`)."""
        return subject_folds([s.subject for s in self.sequences], self.subject_k, self.subject_seed)

    def split(self, fold: int, protocol: str = "folds") -> tuple[list[int], list[int]]:
        """``(train_indices, test_indices)`` into ``sequences`` for ``fold`` of ``protocol``.

        ``"folds"``: test = rows with a 1 in column ``fold<fold>`` of ``folds.csv``.
        ``"subject"``: test = the sequences of the subjects assigned to ``fold`` by
        :func:`subject_folds` (``subject_k`` folds, ``subject_seed``).

        Raises:
            ValueError: unknown protocol or ``fold`` out of range.
        """
        if protocol == "folds":
            return fold_split(self.rows, fold)
        if protocol == "subject":
            subjects = [s.subject for s in self.sequences]
            return subject_fold_split(subjects, fold, self.subject_k, self.subject_seed)
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


@register_dataset
class CKPlusDVS(FerDVSDataset):
    """CK+ (Lucey et al., CVPRW 2010) converted with v2e: 357 sequences, 99 subjects."""

    name = "ckplus-dvs"
    folder = "CKPlusDVS"
    aliases = ("CKPlusDVS",)  # the upstream name (Spiking-FER train.py --dataset)
    source_url = "http://www.jeffcohn.net/Resources/"


@register_dataset
class ADFESDVS(FerDVSDataset):
    """ADFES (van der Schalk et al., Emotion 2011) converted with v2e: 131 sequences, 22 subjects."""

    name = "adfes-dvs"
    folder = "ADFESDVS"
    aliases = ("ADFESDVS",)  # the upstream name (Spiking-FER train.py --dataset)
    source_url = "https://aice.uva.nl/research-tools/adfes-stimulus-set/adfes-stimulus-set.html"


@register_dataset
class CASIADVS(FerDVSDataset):
    """Oulu-CASIA NIR&VIS (Zhao et al., IVC 2011) converted with v2e: 478 sequences, 80 subjects."""

    name = "casia-dvs"
    folder = "CASIADVS"
    aliases = ("CASIADVS",)  # the upstream name (Spiking-FER train.py --dataset)
    source_url = (
        "https://www.oulu.fi/en/university/faculties-and-units/"
        "faculty-information-technology-and-electrical-engineering/"
        "center-machine-vision-and-signal-analysis"
    )


@register_dataset
class MMIDVS(FerDVSDataset):
    """MMI (Pantic et al., ICME 2005) converted with v2e: 207 sequences, 31 subjects."""

    name = "mmi-dvs"
    folder = "MMIDVS"
    aliases = ("MMIDVS",)  # the upstream name (Spiking-FER train.py --dataset)
    source_url = "https://mmifacedb.eu/"


FERDVS_DATASETS: tuple[type[FerDVSDataset], ...] = (CKPlusDVS, ADFESDVS, CASIADVS, MMIDVS)
"""The four Spiking-FER datasets, in the paper's order."""
