"""Static images -> events: the sensor makes three saccades in front of the image.

The standard way to turn an image dataset into an event dataset is to move an event sensor in
front of each image: N-MNIST and N-Caltech101 were recorded with an ATIS on a pan-tilt unit that
made three saccades in front of a monitor showing the image (Orchard, Jayawant, Cohen & Thakor,
"Converting Static Image Datasets to Spiking Neuromorphic Datasets Using Saccades", Front.
Neurosci. 9:437, 2015, Sec. 2: three saccades of 100 ms each, tracing a triangle, 300 ms per
recording). Here the motion is rendered, not recorded:

1. the image is converted to grey (PIL ``"L"``), resized to the sensor (``size x size``, area
   averaging) and shown as 8-bit values, as on a monitor;
2. the view moves along the triangle ``P0 -> P1 -> P2 -> P0`` with ``P0 = (0, 0)``,
   ``P1 = (A/2, A)``, ``P2 = (A, 0)`` (pixels, ``A`` = :attr:`SaccadeParams.amplitude_px`; an
   isosceles triangle, base ``A``, height ``A``), each leg a constant-velocity saccade of
   :attr:`SaccadeParams.saccade_ms`, rendered at :attr:`SaccadeParams.frames_per_saccade` frames
   per leg (bilinear sub-pixel shifts, ``scipy.ndimage.shift(order=1, mode="nearest")``: the
   image's border pixels extend beyond it, so that, unlike N-Caltech101's monitor, the image's
   own border does not sweep through the view);
3. the frames are converted with eventcv's v2e pixel model (:func:`datasets.conversion.emulator.frames_to_events`)
   with the built-in dataset's settings (:data:`datasets.conversion.pixel_model.SIMULATOR_SETTINGS`: thresholds
   0.2, sigma 0.02, no cut-off, no leak, 500 µs refractory period, adaptive upsampling; no shot
   noise) at the render rate, seeded per image;
4. the events are written in the v2e HDF5 layout (:func:`datasets.io.events.write_v2e_h5`).

What differs from Orchard et al.: their vertices and the pan-tilt unit's speed profile (they
report the saccade timing, not the motor trajectory used here), the ATIS's own pixel circuit, and
the monitor's refresh; the triangle's vertices are this suite's choice. A conversion is
deterministic for a given image, :class:`SaccadeParams` and seed (eventcv seeds its threshold
spread), and is cached (:func:`convert_images`: a manifest of the parameters, one atomically
written file per image, resumable).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datasets.common import InputError, atomic_write_text
from datasets.io.events import EventFileError, read_v2e_h5, write_v2e_h5

log = logging.getLogger(__name__)

CONVERSION_VERSION = "1"
"""Version of this conversion; a change of the rendering bumps it (it is part of the cache key)."""

MANIFEST_FILE = "conversion.json"


class ImageConversionError(InputError, ValueError):
    """An image cannot be read or converted; the message names the file."""


@dataclass(frozen=True)
class SaccadeParams:
    """Parameters of the saccade conversion (see the module docstring).

    Attributes:
        size: sensor side in pixels (the sensor is ``(size, size, 2)``), >= 8.
        amplitude_px: triangle side ``A`` in sensor pixels, > 0 (default 3: about 5 % of a
            64-pixel view, as 6 px of N-MNIST's 34 px view are motion margin).
        saccade_ms: duration of each of the three saccades, ms (Orchard et al.: 100).
        frames_per_saccade: rendered frames per saccade (>= 2); the render rate is
            ``frames_per_saccade / saccade_ms`` kHz. At the defaults a frame moves the view
            by at most ``A / 12`` px, so eventcv's linear blending between frames stays close
            to a moving edge.
    """

    size: int = 64
    amplitude_px: float = 3.0
    saccade_ms: float = 100.0
    frames_per_saccade: int = 12

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"SaccadeParams.size must be an int >= 8, got {self.size!r}")
        if not self.amplitude_px > 0:
            raise ValueError(f"SaccadeParams.amplitude_px must be > 0, got {self.amplitude_px!r}")
        if not self.saccade_ms > 0:
            raise ValueError(f"SaccadeParams.saccade_ms must be > 0, got {self.saccade_ms!r}")
        if not isinstance(self.frames_per_saccade, int) or self.frames_per_saccade < 2:
            raise ValueError("SaccadeParams.frames_per_saccade must be an int >= 2, got "
                             f"{self.frames_per_saccade!r}")

    @property
    def fps(self) -> float:
        """Render rate, Hz."""
        return self.frames_per_saccade / (self.saccade_ms / 1000.0)

    @property
    def duration_us(self) -> int:
        """Length of a recording (three saccades), µs."""
        return int(round(3 * self.saccade_ms * 1000))

    def digest(self) -> str:
        """Short hash of the parameters, the conversion version and the emulator settings (the
        cache folder's name)."""
        key = {"params": asdict(self), "version": CONVERSION_VERSION, "emulator": _emulator_settings()}
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]


def _emulator_settings() -> dict[str, Any]:
    from datasets.conversion.pixel_model import SIMULATOR_SETTINGS

    return {**SIMULATOR_SETTINGS, "shot_noise_rate_hz": 0.0}


def saccade_path(params: SaccadeParams) -> np.ndarray:
    """View offsets ``(dx, dy)`` in pixels of every rendered frame, shape
    ``(3 * frames_per_saccade + 1, 2)``: frame 0 at rest at ``P0``, then the three legs
    ``P0 -> P1 -> P2 -> P0`` at constant velocity (the last frame back at ``P0``)."""
    a = float(params.amplitude_px)
    vertices = np.array([[0.0, 0.0], [a / 2, a], [a, 0.0], [0.0, 0.0]])
    n = params.frames_per_saccade
    legs = [vertices[i] + (vertices[i + 1] - vertices[i]) * (np.arange(1, n + 1)[:, None] / n)
            for i in range(3)]
    return np.concatenate([vertices[:1], *legs])


def load_grey(path: str | os.PathLike, size: int) -> np.ndarray:
    """The image at ``path`` as grey float32 ``(size, size)`` in [0, 1] (PIL ``"L"``, resized
    with area averaging, ``Image.BOX``; the aspect ratio is not kept).

    Raises:
        ImageConversionError: the file cannot be read as an image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            grey = img.convert("L").resize((size, size), Image.BOX)
            return np.asarray(grey, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise ImageConversionError(f"{path}: cannot read image ({exc})") from exc


def render_saccades(image: np.ndarray, params: SaccadeParams) -> np.ndarray:
    """The frames the sensor sees: ``image`` ``(S, S)`` in [0, 1] shifted along
    :func:`saccade_path`, quantised to 8 bits (a monitor's values).

    Returns:
        uint8 ``(3 * frames_per_saccade + 1, S, S)``.
    """
    from scipy import ndimage

    img = np.asarray(image, dtype=np.float64)
    frames = np.empty((len(saccade_path(params)), *img.shape), dtype=np.uint8)
    for i, (dx, dy) in enumerate(saccade_path(params)):
        shifted = ndimage.shift(img, (dy, dx), order=1, mode="nearest")
        frames[i] = np.clip(np.rint(shifted * 255.0), 0, 255).astype(np.uint8)
    return frames


def image_to_events(image: np.ndarray, params: SaccadeParams, seed: int) -> np.ndarray:
    """Events of one grey image ``(S, S)`` in [0, 1] (see the module docstring).

    Returns:
        Events (:data:`datasets.io.events.EVENTS_DTYPE`, µs from the first frame, sensor
        ``(S, S, 2)``), sorted by ``t``; times within ``[0, params.duration_us]``.
    """
    from datasets.conversion.convert import EmulatorParams, frames_to_events

    emu = EmulatorParams(fps=params.fps, seed=int(seed), **_emulator_settings())
    return frames_to_events(render_saccades(image, params), emu)


def image_seed(seed: int, key: str) -> int:
    """The emulator seed of the image named ``key`` (its path relative to the dataset): from
    ``SeedSequence([seed, crc32(key)])``, so that it does not depend on the conversion order."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(key.encode("utf-8"))])
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


def convert_images(
    items: Iterable[tuple[str, str | os.PathLike]],
    out_dir: str | os.PathLike,
    params: SaccadeParams,
    *,
    seed: int = 0,
    progress: bool = True,
    desc: str = "images -> events",
) -> dict[str, Path]:
    """Convert images to v2e h5 files under ``out_dir``, cached.

    Args:
        items: ``(key, image path)`` pairs; ``key`` (e.g. ``"happy/0001"``, ``/``-separated, no
            suffix) names the output ``out_dir/<key>.h5`` and seeds the image
            (:func:`image_seed`).
        out_dir: the cache folder of these ``params`` and ``seed`` (its ``conversion.json``
            records them; a folder made with other parameters is refused, not overwritten).
        params: the conversion.
        seed: the conversion's seed.
        progress: show a tqdm progress bar.

    Returns:
        ``{key: h5 path}``.

    Raises:
        ImageConversionError: an unreadable image, a key that is empty or leaves ``out_dir``,
            or an ``out_dir`` made with other parameters.
    """
    from tqdm import tqdm

    out = Path(out_dir)
    items = list(items)
    manifest = {"conversion_version": CONVERSION_VERSION, "params": asdict(params),
                "emulator": _emulator_settings(), "seed": int(seed)}
    mpath = out / MANIFEST_FILE
    if mpath.is_file():
        try:
            old = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ImageConversionError(f"{mpath}: unreadable conversion manifest ({exc})") from exc
        old = {k: old.get(k) for k in manifest}
        if json.dumps(old, sort_keys=True) != json.dumps(manifest, sort_keys=True):
            raise ImageConversionError(f"{mpath}: this folder holds a conversion with other "
                                       f"parameters ({old}); expected {manifest}")
    else:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(mpath, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    sensor = (params.size, params.size, 2)
    done: dict[str, Path] = {}
    for key, src in tqdm(items, desc=desc, unit="img", disable=not progress):
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise ImageConversionError(f"{src}: bad output key {key!r}")
        dst = out.joinpath(*parts[:-1], parts[-1] + ".h5")
        if dst.is_file():
            try:
                read_v2e_h5(dst, sensor)
                done[key] = dst
                continue
            except EventFileError as exc:
                log.warning("%s; converting again", exc)
        events = image_to_events(load_grey(src, params.size), params, image_seed(seed, key))
        write_v2e_h5(dst, events)
        done[key] = dst
    return done


def conversion_folder(base: str | os.PathLike, variant: str, params: SaccadeParams,
                      seed: int) -> Path:
    """``base/<variant>_<size>px_s<seed>_<digest>``: the cache folder of one conversion."""
    return Path(base) / f"{variant}_{params.size}px_s{int(seed)}_{params.digest()}"


def params_from(mapping: Mapping[str, Any] | None) -> SaccadeParams:
    """:class:`SaccadeParams` from a dict (unknown keys are an error)."""
    mapping = dict(mapping or {})
    known = set(SaccadeParams.__dataclass_fields__)
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ValueError(f"unknown saccade parameter(s) {unknown}; known: {sorted(known)}")
    return SaccadeParams(**mapping)
