"""Where a sequence's frames come from: a folder of frame images in natural order
(:func:`list_frame_files`, :func:`iter_image_files`, read with Pillow as BT.601 luma) or a video
file (:func:`open_video`, decoded with PyAV); and :class:`ConvertError`, the error every step of
the conversion raises for a source it cannot convert.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from datasets.common import InputError

__all__ = ["ConvertError", "IMAGE_SUFFIXES", "CKPLUS_IMAGES_DIR", "list_frame_files",
           "iter_image_files", "open_video"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""File suffixes (case-insensitive) read as frames from a folder."""

CKPLUS_IMAGES_DIR = "cohn-kanade-images"
"""Folder of the CK+ distribution that holds the frames
(``cohn-kanade-images/<subject>/<sequence>``; :mod:`datasets.conversion.ckplus` reads that
layout); a frame folder holding it gets a hint."""


class ConvertError(InputError, ValueError):
    """A source cannot be converted; the message names the file or folder and the problem."""


def _natural_key(path: Path) -> list:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", path.name)]


def list_frame_files(folder: str | os.PathLike) -> list[Path]:
    """Image files of a frame folder, in natural order (``f2.png`` before ``f10.png``).

    Hidden files (``.*``) are ignored; suffixes :data:`IMAGE_SUFFIXES`.

    Raises:
        ConvertError: the folder does not exist or holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConvertError(f"{folder}: not a folder")
    files = [
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        hint = ""
        if (folder / CKPLUS_IMAGES_DIR).is_dir():
            hint = f" (it holds {CKPLUS_IMAGES_DIR}/: for the CK+ batch mode use --ckplus)"
        raise ConvertError(
            f"{folder}: no frame images ({', '.join(IMAGE_SUFFIXES)}) in the folder{hint}"
        )
    return sorted(files, key=_natural_key)


def iter_image_files(files: Iterable[Path]) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(file name, (H, W) uint8 grey frame)`` for each image file (BT.601 luma).

    Raises:
        ConvertError: a file cannot be read or decoded (the message names it).
    """
    from PIL import Image, UnidentifiedImageError

    for path in files:
        try:
            with Image.open(path) as img:
                gray = np.asarray(img.convert("L"))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise ConvertError(f"{path}: cannot read the image ({exc})") from exc
        yield str(path), gray


def open_video(path: str | os.PathLike) -> tuple[float, int | None, Iterator[tuple[str, np.ndarray]]]:
    """Open a video file with PyAV.

    Returns:
        ``(fps, n_frames or None, frames)``: the stream's average frame rate (Hz), its frame
        count if the container records it, and an iterator of ``(name, (H, W) uint8 grey)``
        (the decoder's grey conversion, i.e. the luma plane).

    Raises:
        ConvertError: PyAV is not installed, or the file is missing, not a video, or has no
            video stream or frame rate (the message names the file).
    """
    try:
        import av
    except ImportError as exc:
        raise ConvertError(
            f"{path}: reading video files needs PyAV ({exc}); install the convert extra"
        ) from exc
    path = Path(path)
    if not path.is_file():
        raise ConvertError(f"{path}: no such video file")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise ConvertError(f"{path}: cannot open the video ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise ConvertError(f"{path}: the file has no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate
    if not rate or float(rate) <= 0:
        container.close()
        raise ConvertError(f"{path}: the video stream has no frame rate; pass fps explicitly")
    n_frames = int(stream.frames) if stream.frames else None

    def frames() -> Iterator[tuple[str, np.ndarray]]:
        try:
            for i, frame in enumerate(container.decode(stream)):
                yield f"{path}[frame {i}]", frame.to_ndarray(format="gray")
        except av.error.FFmpegError as exc:
            raise ConvertError(f"{path}: cannot decode the video ({exc})") from exc
        finally:
            container.close()

    return float(rate), n_frames, frames()
