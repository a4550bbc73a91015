"""Score released predictions with the suite's own metrics (:mod:`benchmarks.measure.metrics`).

Format ``seen``: the prediction files of SEEN (Zhang et al., SIGGRAPH 2023; repository
zhanghaiwei1234/Single-eye-Emotion-Recognition, ``ours_results/<run>/test_epoch_<E>_<k>.json``,
written by ``code/inference.py``)::

    {"results": {"<sequence name>": [{"label": "<emotion>", "score": <float>}, ...]}}

one entry per test sequence, its classes sorted by decreasing softmax score (top-1 first). A run
folder holds one file per inference pass (SEEN evaluates 20 passes with random temporal crops and
reports their mean). The true emotion and the lighting condition come from the sequence name (see
:func:`datasets.loaders.see.parse_sequence_name`); emotions and lighting are matched case-insensitively.

Per pass (``preds: (N,)`` top-1 class indices, ``target: (N,)`` true indices, ``N`` = number of
sequences): WAR (accuracy), UAR, per-class recall, per-lighting accuracy and UAR, confusion matrix.
Over passes: mean and sample standard deviation (``ddof = 1``, the leaderboard's convention; NaN,
stored as null, for a single pass). UAR here is the suite's (mean recall over the classes present in
the test set); with all 7 emotions present, as in SEE's test set, it equals SEEN's ``sum / 7``
(``read_20json_result.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import metrics as M
from benchmarks.results.records import Record, append_record
from datasets.base import LIGHTING_CONDITIONS
from datasets.common import InputError
from datasets.loaders.see import (
    SEE_CLASSES,
    SequenceNameError,
    canonical_emotion,
    parse_sequence_name,
)

log = logging.getLogger(__name__)

FORMATS = ("seen",)
"""Prediction formats :func:`score_predictions` reads."""

DEFAULT_METHOD = "SEEN (released predictions, {run})"
"""Leaderboard name of a scored run; ``{run}`` is the run folder's name."""


class PredictionFileError(InputError, ValueError):
    """A prediction file is malformed; the message names the file, the field and the bad value."""


@dataclass(frozen=True)
class PassScore:
    """The metrics of one inference pass (one prediction file).

    Attributes:
        path: the prediction file.
        sha256: its SHA-256 (hex).
        sequences: sequence names, sorted, shape ``(N,)``.
        preds, target: top-1 and true class indices into :data:`SEE_CLASSES`, shape ``(N,)``.
        lighting: canonical lighting condition of each sequence, shape ``(N,)``.
        metrics: ``war``, ``uar`` (floats in [0, 1]), ``per_class_recall`` ``{emotion: recall}``
            (NaN for an emotion absent from the test set), ``per_lighting_accuracy`` and
            ``per_lighting_uar`` ``{condition: value}`` (conditions present only),
            ``confusion_matrix`` ``(7, 7)`` counts (rows true, columns predicted).
    """

    path: Path
    sha256: str
    sequences: tuple[str, ...]
    preds: np.ndarray
    target: np.ndarray
    lighting: tuple[str, ...]
    metrics: dict[str, Any]


@dataclass
class RunScore:
    """All passes of one run folder and their mean / std.

    Attributes:
        run_dir: the run folder; ``run`` its name.
        passes: one :class:`PassScore` per file, in natural order of the file names.
        summary: ``{metric: mean}`` and ``{metric_std: std}`` for ``war``, ``uar`` and the dicts
            ``per_class_recall``, ``per_lighting_accuracy``, ``per_lighting_uar``;
            ``confusion_matrix`` (mean counts over passes, ``(7, 7)`` floats summing to N),
            ``n_passes``, ``n_test``.
        elapsed_s: wall time of reading and scoring the files, in seconds.
    """

    run_dir: Path
    passes: list[PassScore]
    summary: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def run(self) -> str:
        return self.run_dir.name


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def _natural_key(path: Path) -> list[Any]:
    """Sort key putting ``..._2.json`` before ``..._10.json``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def prediction_files(run_dir: str | os.PathLike) -> list[Path]:
    """The ``*.json`` files of ``run_dir`` (one per pass), in natural order of their names.

    Raises:
        FileNotFoundError: ``run_dir`` is not a folder or holds no ``.json`` file.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such prediction folder")
    files = sorted((p for p in run_dir.glob("*.json") if p.is_file()), key=_natural_key)
    if not files:
        raise FileNotFoundError(f"{run_dir}: no .json prediction file in this folder")
    return files


def find_runs(pred_dir: str | os.PathLike) -> list[Path]:
    """The run folders under ``pred_dir``: ``pred_dir`` itself when it holds ``.json`` files,
    else its immediate subfolders that do (sorted by name).

    Raises:
        FileNotFoundError: ``pred_dir`` is not a folder, or neither it nor a subfolder holds a
            ``.json`` file.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"{pred_dir}: no such prediction folder")
    if any(p.is_file() for p in pred_dir.glob("*.json")):
        return [pred_dir]
    runs = sorted(d for d in pred_dir.iterdir()
                  if d.is_dir() and any(p.is_file() for p in d.glob("*.json")))
    if not runs:
        raise FileNotFoundError(
            f"{pred_dir}: no .json prediction file in this folder or its subfolders"
        )
    return runs


def read_seen_predictions(path: str | os.PathLike) -> dict[str, str]:
    """Read one SEEN prediction file: ``{sequence name: top-1 emotion}``.

    Validation: the file is JSON; ``results`` is a non-empty object; each value is a non-empty
    list of ``{"label": <SEE emotion, any case>, "score": <finite number>}`` with non-increasing
    scores (top-1 first), no emotion listed twice.

    Args:
        path: a ``test_epoch_*_<k>.json`` file.

    Returns:
        ``{sequence: emotion}`` with the emotion in lower case (one of :data:`SEE_CLASSES`), in
        file order. Sequence names are not parsed here (see :func:`score_pass`).

    Raises:
        FileNotFoundError: no such file.
        PredictionFileError: unreadable JSON or a malformed field; names the file, the sequence,
            the field and the value.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such prediction file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PredictionFileError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or "results" not in data:
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise PredictionFileError(f"{path}: expected an object with field 'results', got {got}")
    results = data["results"]
    if not isinstance(results, dict) or not results:
        raise PredictionFileError(
            f"{path}: field 'results' must be a non-empty object {{sequence: [...]}}, got "
            f"{type(results).__name__} of length {len(results) if hasattr(results, '__len__') else '?'}"
        )
    out: dict[str, str] = {}
    for seq, entries in results.items():
        where = f"{path}: results[{seq!r}]"
        if not isinstance(entries, list) or not entries:
            raise PredictionFileError(
                f"{where}: expected a non-empty list of {{'label', 'score'}}, got {entries!r:.80}"
            )
        seen: set[str] = set()
        prev = math.inf
        for j, e in enumerate(entries):
            if not isinstance(e, dict):
                raise PredictionFileError(f"{where}[{j}]: expected an object, got {e!r:.80}")
            label = e.get("label")
            emo = canonical_emotion(label) if isinstance(label, str) else None
            if emo is None:
                raise PredictionFileError(
                    f"{where}[{j}]: field 'label' = {label!r} is not a SEE emotion "
                    f"({', '.join(SEE_CLASSES)}, any case)"
                    + ("; per-segment output (inference_no_average) is not supported"
                       if "result" in e else "")
                )
            score = e.get("score")
            if (isinstance(score, bool) or not isinstance(score, (int, float))
                    or not math.isfinite(score)):
                raise PredictionFileError(
                    f"{where}[{j}]: field 'score' = {score!r} is not a finite number"
                )
            if score > prev:
                raise PredictionFileError(
                    f"{where}[{j}]: field 'score' = {score!r} exceeds the previous entry's "
                    f"{prev!r}; entries must be sorted by decreasing score (top-1 first)"
                )
            if emo in seen:
                raise PredictionFileError(f"{where}[{j}]: field 'label' = {label!r} listed twice")
            seen.add(emo)
            prev = float(score)
        out[seq] = canonical_emotion(entries[0]["label"])  # type: ignore[assignment]
    return out


# --------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def score_pass(path: str | os.PathLike) -> PassScore:
    """Read and score one SEEN prediction file with :mod:`benchmarks.measure.metrics`.

    Returns:
        The pass's :class:`PassScore` (sequences sorted by name).

    Raises:
        FileNotFoundError: no such file.
        PredictionFileError: malformed file, or a sequence name that does not parse (the
            message names the file and the sequence).
    """
    path = Path(path)
    top1 = read_seen_predictions(path)
    k = len(SEE_CLASSES)
    names = tuple(sorted(top1))
    target, lighting = [], []
    for name in names:
        try:
            parsed = parse_sequence_name(name)
        except SequenceNameError as exc:
            raise PredictionFileError(f"{path}: {exc}") from exc
        target.append(parsed.label)
        lighting.append(parsed.lighting)
    t = np.asarray(target, dtype=np.int64)
    p = np.asarray([SEE_CLASSES.index(top1[n]) for n in names], dtype=np.int64)
    recall = M.per_class_recall(p, t, num_classes=k)
    absent = [SEE_CLASSES[i] for i in np.flatnonzero(np.isnan(recall))]
    if absent:
        log.warning("%s: no test sequence of %s; UAR averages the %d emotions present", path,
                    ", ".join(absent), k - len(absent))
    metrics = {
        "war": M.accuracy(p, t),
        "uar": M.uar(p, t, num_classes=k),
        "per_class_recall": dict(zip(SEE_CLASSES, recall.tolist(), strict=True)),
        "per_lighting_accuracy": M.per_group_accuracy(p, t, list(lighting), num_classes=k),
        "per_lighting_uar": M.per_group_uar(p, t, list(lighting), num_classes=k),
        "confusion_matrix": M.confusion_matrix(p, t, num_classes=k),
    }
    log.debug("%s: %d sequences, WAR %.4f, UAR %.4f", path, len(names), metrics["war"],
              metrics["uar"])
    return PassScore(path=path, sha256=_sha256(path), sequences=names, preds=p, target=t,
                     lighting=tuple(lighting), metrics=metrics)


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (ddof = 1; NaN for one value) ignoring NaN entries (absent classes)."""
    a = np.asarray(values, dtype=np.float64)
    a = a[~np.isnan(a)]
    if a.size == 0:
        return math.nan, math.nan
    std = float(np.std(a, ddof=1)) if a.size >= 2 else math.nan
    return float(np.mean(a)), std


def _ordered(keys: set[str]) -> list[str]:
    known = [c for c in LIGHTING_CONDITIONS if c in keys]
    return known + sorted(keys - set(known))


def summarize(passes: list[PassScore]) -> dict[str, Any]:
    """Mean and std over passes of every metric of :class:`PassScore` (see :class:`RunScore`).

    Raises:
        ValueError: no pass.
    """
    if not passes:
        raise ValueError("summarize: no pass to summarize")
    out: dict[str, Any] = {}
    for key in ("war", "uar"):
        out[key], out[f"{key}_std"] = _mean_std([ps.metrics[key] for ps in passes])
    for key in ("per_class_recall", "per_lighting_accuracy", "per_lighting_uar"):
        names = (list(SEE_CLASSES) if key == "per_class_recall"
                 else _ordered({n for ps in passes for n in ps.metrics[key]}))
        mean, std = {}, {}
        for n in names:
            mean[n], std[n] = _mean_std([ps.metrics[key].get(n, math.nan) for ps in passes])
        out[key], out[f"{key}_std"] = mean, std
    out["accuracy"], out["accuracy_std"] = out["war"], out["war_std"]
    out["confusion_matrix"] = np.mean(
        [ps.metrics["confusion_matrix"] for ps in passes], axis=0
    ).tolist()
    out["n_passes"] = len(passes)
    out["n_test"] = len(passes[0].sequences)
    return out


def score_seen_run(run_dir: str | os.PathLike) -> RunScore:
    """Score every pass of a SEEN run folder and summarize them.

    Args:
        run_dir: a folder of SEEN prediction files (e.g. ``ours_results/E4_S3``).

    Returns:
        The :class:`RunScore`.

    Raises:
        FileNotFoundError: no such folder or no ``.json`` file in it.
        PredictionFileError: a malformed file, or passes that cover different sequences (the
            message names the file and up to five sequences that differ from the first pass).
    """
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    files = prediction_files(run_dir)
    passes = [score_pass(f) for f in files]
    ref = set(passes[0].sequences)
    for ps in passes[1:]:
        cur = set(ps.sequences)
        if cur != ref:
            only_here = sorted(cur - ref)[:5]
            only_first = sorted(ref - cur)[:5]
            raise PredictionFileError(
                f"{ps.path}: field 'results' covers {len(cur)} sequences, {passes[0].path.name} "
                f"{len(ref)}; only in this file: {only_here}, missing here: {only_first}"
            )
    log.info("%s: %d passes x %d sequences", run_dir, len(passes), len(ref))
    return RunScore(run_dir=run_dir, passes=passes, summary=summarize(passes),
                    elapsed_s=time.perf_counter() - t0)


def score_predictions(pred_dir: str | os.PathLike, fmt: str = "seen") -> list[RunScore]:
    """Score the run folder(s) under ``pred_dir`` (see :func:`find_runs`).

    Raises:
        ValueError: unknown format.
        FileNotFoundError, PredictionFileError: see :func:`score_seen_run`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown prediction format {fmt!r}; known: {', '.join(FORMATS)}")
    return [score_seen_run(r) for r in find_runs(pred_dir)]


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------


def _pct(mean: float, std: float) -> tuple[str, str]:
    m = "—" if math.isnan(mean) else f"{100 * mean:.2f}"
    s = "—" if math.isnan(std) else f"{100 * std:.2f}"
    return m, s


def format_run(score: RunScore) -> str:
    """A plain-text table of a run: WAR, UAR, per-lighting accuracy and UAR, per-class recall,
    each as mean and std (%) over the passes."""
    from tabulate import tabulate

    s = score.summary
    rows: list[list[str]] = []
    rows.append(["WAR (accuracy)", *_pct(s["war"], s["war_std"])])
    rows.append(["UAR", *_pct(s["uar"], s["uar_std"])])
    for c in s["per_lighting_accuracy"]:
        rows.append([f"accuracy, {c}", *_pct(s["per_lighting_accuracy"][c],
                                             s["per_lighting_accuracy_std"][c])])
    for c in s["per_lighting_uar"]:
        rows.append([f"UAR, {c}", *_pct(s["per_lighting_uar"][c], s["per_lighting_uar_std"][c])])
    for e in SEE_CLASSES:
        rows.append([f"recall, {e}", *_pct(s["per_class_recall"][e],
                                           s["per_class_recall_std"][e])])
    head = (f"{score.run_dir}: {s['n_passes']} passes x {s['n_test']} test sequences "
            "(mean and sample std over passes, %)")
    table = tabulate(rows, headers=["metric", "mean (%)", "std (%)"], tablefmt="simple",
                     disable_numparse=True, colalign=("left", "right", "right"))
    return f"{head}\n{table}"


def published_record(score: RunScore, method: str | None = None,
                     *, provenance: dict[str, Any] | None = None) -> Record:
    """The result record of a scored run (schema of :mod:`benchmarks.results.records`).

    ``kind`` ``"published"`` with ``method`` as the leaderboard's row name; ``cell`` =
    ``{dataset: "see", protocol: "fixed", fold: 0}`` and ``None`` for backend, arch, seed, device
    and recipe (nothing was trained or timed here); ``task`` = SEE's task with no digests (the
    released files name sequences, not the suite's ``<subject>/<sequence>`` ids); ``metrics`` =
    :attr:`RunScore.summary` (means, ``*_std``, ``n_passes``, ``n_test``; no latency or energy); ``source`` names the
    files, their SHA-256 and per-pass WAR / UAR.

    Args:
        score: the scored run.
        method: row name; default :data:`DEFAULT_METHOD` with the run folder's name.
        provenance: the record's provenance block (default: :func:`benchmarks.results.provenance.provenance`
            of this machine, i.e. of the scoring, not of the predictions).
    """
    if provenance is None:
        from benchmarks.results.provenance import provenance as _provenance

        provenance = _provenance(None, "cpu")
    from benchmarks.results.tasks import task_reference

    method = (method or DEFAULT_METHOD).format(run=score.run)
    cell = {"dataset": "see", "protocol": "fixed", "fold": 0, "backend": None,
            "arch": None, "seed": None, "device": None, "recipe": None}
    return Record(
        cell_id=f"see/fixed/f0/published/{method}",
        status="ok",
        kind="published",
        method=method,
        cell=cell,
        task=task_reference(cell),
        classes=list(SEE_CLASSES),
        metrics=score.summary,
        source={
            "format": "seen",
            "run_dir": str(score.run_dir.resolve()),
            "files": [{"name": ps.path.name, "sha256": ps.sha256, "war": ps.metrics["war"],
                       "uar": ps.metrics["uar"]} for ps in score.passes],
        },
        timings_s={"score_s": score.elapsed_s},
        provenance=provenance,
    )


def record_run(run_dir: str | os.PathLike, score: RunScore, method: str | None = None) -> Path:
    """Append :func:`published_record` of ``score`` to ``run_dir/results.jsonl``.

    Returns:
        The results file.
    """
    rec = published_record(score, method)
    path = append_record(run_dir, rec)
    log.info("appended %s to %s", rec.cell_id, path)
    return path
