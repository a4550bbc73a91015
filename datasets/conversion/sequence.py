"""One sequence, video or frame folder -> standardized face -> events in a v2e-layout ``.h5``
(:func:`convert_sequence`), with what it did (:class:`ConversionResult`): the steps of
:mod:`datasets.conversion.convert` run in order.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.conversion.emulator import EmulatorParams, frames_to_events
from datasets.conversion.previews import write_frames, write_preview
from datasets.conversion.sources import (
    IMAGE_SUFFIXES,
    ConvertError,
    iter_image_files,
    list_frame_files,
    open_video,
)
from datasets.conversion.standardize import (
    CropSpec,
    LandmarkDetector,
    StandardizedSequence,
    standardize_sequence,
)
from datasets.io.events import write_v2e_h5

log = logging.getLogger(__name__)

__all__ = ["ConversionResult", "convert_sequence"]


@dataclass
class ConversionResult:
    """Outcome of :func:`convert_sequence`.

    Attributes:
        path: the ``.h5`` written.
        n_frames: frames standardized.
        n_events, n_on, n_off: events written (all, ON, OFF).
        fps: frame rate used, Hz.
        reused_landmarks: indices of frames without a detected face (landmarks reused).
        box: crop box ``(cx, cy, width, height)`` in first-frame pixels.
        seconds_standardize, seconds_simulate: wall-clock time of the two stages, s.
        frames_dir, preview: inspection outputs, if written.
    """

    path: Path
    n_frames: int
    n_events: int
    n_on: int
    n_off: int
    fps: float
    reused_landmarks: list[int]
    box: tuple[float, float, float, float]
    seconds_standardize: float
    seconds_simulate: float
    frames_dir: Path | None = None
    preview: Path | None = None

    @property
    def seconds(self) -> float:
        """Total conversion time, s."""
        return self.seconds_standardize + self.seconds_simulate

    def line(self) -> str:
        """One-line plain-text summary."""
        s = (
            f"{self.path}: {self.n_events} events (ON {self.n_on}, OFF {self.n_off}) from "
            f"{self.n_frames} frames at {self.fps:g} fps in {self.seconds:.1f} s "
            f"(standardize {self.seconds_standardize:.1f} s, simulate "
            f"{self.seconds_simulate:.1f} s)"
        )
        if self.reused_landmarks:
            s += f"; no face in {len(self.reused_landmarks)} frame(s), landmarks reused"
        return s


def _progress(
    it: Iterable, *, total: int | None, desc: str, enabled: bool, unit: str = "frame"
) -> Iterable:
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, unit=unit, leave=unit != "frame")


def convert_sequence(
    source: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    params: EmulatorParams = EmulatorParams(),  # a frozen dataclass: immutable  # noqa: B008
    spec: CropSpec | None = None,
    detector: LandmarkDetector | None = None,
    use_video_fps: bool = True,
    frames_dir: str | os.PathLike | None = None,
    preview_path: str | os.PathLike | None = None,
    progress: bool = False,
) -> ConversionResult:
    """Convert one sequence (a video file or a folder of frames) to a v2e-layout ``.h5``.

    Args:
        source: a video file (any format FFmpeg/PyAV decodes) or a folder of frame images
            (:func:`~datasets.conversion.sources.list_frame_files`).
        out_path: the ``.h5`` to write (atomically; parents created).
        params: emulator parameters; ``params.fps`` is the frame rate of a frame folder.
        spec: standardization parameters (output size = sensor size); default ``CropSpec()``.
        detector: landmark detector (shared across calls to load dlib's model once).
        use_video_fps: for a video file, use the container's frame rate instead of
            ``params.fps`` (as v2e does for video input).
        frames_dir: if given, write the standardized frames there as PNGs.
        preview_path: if given, write a preview PNG there
            (:func:`~datasets.conversion.previews.write_preview`).
        progress: show a per-frame progress bar.

    Returns:
        A :class:`ConversionResult`.

    Raises:
        ConvertError: unreadable source (the message names the file).
        datasets.conversion.standardize.StandardizeError: standardization failed (its subclass
            datasets.conversion.standardize.FaceNotFoundError: no face in the first frame; frames of
            different sizes, ...).
        datasets.conversion.standardize.LandmarkModelMissingError: dlib or its model is not installed.
        datasets.io.events.EventFileError: the events cannot be written.
    """
    spec = spec or CropSpec()
    source = Path(source)
    if source.is_dir():
        files = list_frame_files(source)
        frames: Iterable = iter_image_files(files)
        total: int | None = len(files)
    elif source.is_file():
        if source.suffix.lower() in IMAGE_SUFFIXES:
            raise ConvertError(
                f"{source}: a single image is not a sequence; pass the folder of frames"
            )
        rate, total, frames = open_video(source)
        if use_video_fps and rate != params.fps:
            log.info("%s: using the video's frame rate %g fps", source, rate)
            params = dataclasses.replace(params, fps=rate)
    else:
        raise ConvertError(f"{source}: no such video file or frame folder")
    t0 = time.perf_counter()
    try:
        std: StandardizedSequence = standardize_sequence(
            _progress(frames, total=total, desc=source.name, enabled=progress),
            spec,
            detector=detector,
            source=str(source),
        )
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()  # release the video file even when standardization stopped early
    t1 = time.perf_counter()
    events = frames_to_events(std.frames, params)
    t2 = time.perf_counter()
    if events.shape[0] == 0:
        log.warning("%s: the emulator produced no events (static sequence?)", source)
    out_path = write_v2e_h5(out_path, events)
    w, h = spec.output_size
    sensor = (w, h, 2)
    result = ConversionResult(
        path=out_path,
        n_frames=int(std.frames.shape[0]),
        n_events=int(events.shape[0]),
        n_on=int(np.count_nonzero(events["p"] == 1)),
        n_off=int(np.count_nonzero(events["p"] == 0)),
        fps=float(params.fps),
        reused_landmarks=list(std.reused_landmarks),
        box=std.box,
        seconds_standardize=t1 - t0,
        seconds_simulate=t2 - t1,
    )
    if frames_dir is not None:
        result.frames_dir = write_frames(frames_dir, std.frames)
    if preview_path is not None:
        result.preview = write_preview(preview_path, events, sensor, std.frames)
    log.info("%s", result.line())
    return result
