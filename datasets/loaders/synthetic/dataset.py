"""The registered loaders of the built-in dataset: ``synthetic-fer-dvs`` and its CI variant
``synthetic-fer-dvs-mini``."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from datasets.base import (
    LIGHTING_CONDITIONS,
    DatasetError,
    DatasetNotFoundError,
    register_dataset,
)
from datasets.loaders.ferdvs import FerDVSDataset
from datasets.loaders.synthetic.cache import (
    _REQUIRED_METADATA,
    VA_COLUMNS,
    _read_manifest,
    ensure_synthetic_fer_dvs,
)
from datasets.loaders.synthetic.identities import (
    DEFAULTS,
    FOLDER,
    MANIFEST_FILE,
    METADATA_FILE,
    NAME,
    SYNTHETIC_CLASSES,
)


@register_dataset
class SyntheticFerDVS(FerDVSDataset):
    """Loader of ``synthetic-fer-dvs`` (see the module docstring): the FerDVS loader plus the
    lighting condition of every sequence (from ``metadata.csv``) and the sensor size recorded in
    the manifest.

    Attributes (besides :class:`FerDVSDataset`'s): ``manifest`` (the parsed manifest dict);
    ``sensor_size`` is set per instance to ``(S, S, 2)``; each ``SequenceInfo.lighting`` is set and
    ``extra`` holds the metadata row.
    """

    name = NAME
    folder = FOLDER
    aliases = ()
    provides = ("events", "valence_arousal")
    generation_params: dict[str, Any] = {}
    """Parameters of :func:`generate_synthetic_fer_dvs` for this variant (defaults if empty)."""
    loader_options = ("subject_k", "subject_seed", "check_files")
    """Keyword arguments of the constructor; :meth:`open`'s other ones go to the generator."""

    @classmethod
    def open(cls, root: str | Path, **params: Any) -> SyntheticFerDVS:
        """Generate the dataset under ``root`` if absent or made with other parameters (cached;
        ``params`` other than :attr:`loader_options` are :func:`generate_synthetic_fer_dvs`'s
        keyword arguments, none meaning this variant's :attr:`generation_params`), then load it.

        Raises:
            ValueError: an unknown generation parameter; DatasetError: a malformed tree.
        """
        loader = {k: params.pop(k) for k in cls.loader_options if k in params}
        ensure_synthetic_fer_dvs(root, **{**cls.generation_params, **params, "folder": cls.folder})
        return cls(root, **loader)
    classes = SYNTHETIC_CLASSES
    sensor_size = (DEFAULTS["size"], DEFAULTS["size"], 2)

    def __init__(self, root: str | Path, *, subject_k: int | None = None, subject_seed: int = 0,
                 check_files: bool = True):
        """Load the generated dataset under ``root``.

        Args:
            root: the folder containing ``SyntheticFerDVS``.
            subject_k: folds of the ``"subject"`` protocol; default: the manifest's ``n_folds``.
            subject_seed: seed of the ``"subject"`` protocol.
            check_files: check that every event file exists.

        Raises:
            DatasetNotFoundError: the folder, fold file or manifest is absent.
            DatasetError: the generation is incomplete, the manifest or ``metadata.csv`` is
                malformed, or they disagree with ``folds.csv``; event files missing.
        """
        directory = Path(root) / self.folder
        manifest_path = directory / MANIFEST_FILE
        if directory.is_dir() and not manifest_path.is_file():
            raise DatasetNotFoundError(f"{NAME}: manifest {manifest_path} not found. {self._how_to_get()}")
        manifest = _read_manifest(manifest_path) if manifest_path.is_file() else {}
        if manifest and not manifest.get("complete"):
            raise DatasetError(
                f"{manifest_path}: the generation is incomplete (field 'complete' = "
                f"{manifest.get('complete')!r}); run generate_synthetic_fer_dvs again to finish it"
            )
        params = manifest.get("params", {}) if manifest else {}
        if manifest:
            for key in ("size", "n_folds"):
                value = params.get(key)
                if not isinstance(value, int) or value < 1:
                    raise DatasetError(f"{manifest_path}: field 'params.{key}' must be a positive "
                                       f"integer, got {value!r}")
        k = subject_k if subject_k is not None else int(params.get("n_folds", 4))
        super().__init__(root, subject_k=k, subject_seed=subject_seed, check_files=check_files)
        self.manifest = manifest
        self.sensor_size = (params["size"], params["size"], 2)  # type: ignore[misc]
        self._attach_metadata(directory / METADATA_FILE)

    @classmethod
    def _how_to_get(cls) -> str:
        return (
            f"Generate it with datasets.loaders.synthetic.generate_synthetic_fer_dvs(<data root>) or "
            f"open it with datasets.registry.open_dataset('{NAME}', <data root>), which "
            f"generates it when absent."
        )

    def _attach_metadata(self, path: Path) -> None:
        """Set ``lighting`` and ``extra`` of every sequence from ``metadata.csv``.

        Raises:
            DatasetError: missing/malformed file, a bad lighting value, a label that disagrees
                with ``folds.csv``, or a sequence missing from either file (file and line named).
        """
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read the metadata file ({exc})") from exc
        reader = csv.DictReader(io.StringIO(text))
        missing_cols = [c for c in _REQUIRED_METADATA if c not in (reader.fieldnames or [])]
        if missing_cols:
            raise DatasetError(f"{path}, line 1: missing column(s) {missing_cols}; "
                               f"got {reader.fieldnames}")
        meta: dict[tuple[str, str], tuple[int, dict[str, str]]] = {}
        for row in reader:
            line = reader.line_num
            if row["lighting"] not in LIGHTING_CONDITIONS:
                raise DatasetError(f"{path}, line {line}: field 'lighting' = {row['lighting']!r} "
                                   f"is not one of {LIGHTING_CONDITIONS}")
            for col in VA_COLUMNS:
                if col not in row:
                    continue  # a 0.1.0 file: no VA targets (open() upgrades it)
                try:
                    value = float(row[col])
                except (TypeError, ValueError):
                    value = math.nan
                if not -1.0 <= value <= 1.0:
                    raise DatasetError(f"{path}, line {line}: field {col!r} = {row[col]!r} is not "
                                       "a number in [-1, 1]")
                row[col] = value  # type: ignore[assignment]
            meta[(row["subject"], row["sequence"])] = (line, row)
        by_key = {(s.subject, s.sequence): i for i, s in enumerate(self.sequences)}
        absent = sorted(set(by_key) - set(meta))
        if absent:
            raise DatasetError(f"{path}: no metadata for {len(absent)} sequence(s) of folds.csv: "
                               + ", ".join(f"{a}/{b}" for a, b in absent))
        extra_rows = sorted(set(meta) - set(by_key))
        if extra_rows:
            raise DatasetError(f"{path}: {len(extra_rows)} row(s) not in folds.csv: "
                               + ", ".join(f"{a}/{b}" for a, b in extra_rows))
        for key, i in by_key.items():
            line, row = meta[key]
            seq = self.sequences[i]
            if row["label"] != str(seq.label + 1):
                raise DatasetError(f"{path}, line {line}: field 'label' = {row['label']!r} "
                                   f"disagrees with folds.csv label {seq.label + 1} for "
                                   f"{key[0]}/{key[1]}")
            self.sequences[i] = replace(seq, lighting=row["lighting"],
                                        extra={**seq.extra, **row, "metadata_line": line})


@register_dataset
class SyntheticFerDVSMini(SyntheticFerDVS):
    """``synthetic-fer-dvs-mini``: a tiny variant for CI, tests and the performance gate (like
    timm's ``test_*`` models): 4 subjects x 7 classes x 2 takes = 56 sequences of 12 frames at
    32x32, 2 subject-independent folds, no held-out test subjects; generates in a few seconds.
    Its sequences are those of generator version 1.0 (same bytes)."""

    name = "synthetic-fer-dvs-mini"
    folder = "SyntheticFerDVSMini"
    generation_params = {"n_subjects": 4, "takes": 2, "size": 32, "n_frames": 12, "n_folds": 2,
                         "test_subjects": 0}
