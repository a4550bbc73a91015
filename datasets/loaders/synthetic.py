"""``synthetic-fer-dvs``: the suite's built-in, procedurally generated event FER dataset.

What it is
    Cartoon faces drawn with numpy (an ellipse face, brows, eyes, nose and a mouth with soft,
    anti-aliased edges) that move from a neutral face to the apex of one of seven expressions
    (the six Spiking-FER classes happy, fear, surprise, anger, disgust, sadness, then neutral),
    rendered as grey video at 30 fps and converted to events with eventcv's v2e-style pixel model
    using the Spiking-FER v2e settings (Barchid et al., CBMI 2023, README: ``--pos_thres 0.2
    --neg_thres 0.2 --sigma_thres 0.02 --cutoff_hz 0 --leak_rate_hz 0 --shot_noise_rate_hz 0``),
    under four lighting conditions (:data:`datasets.base.LIGHTING_CONDITIONS`) applied to the
    scene's linear light before conversion. It is written in the FerDVS layout
    (``<root>/SyntheticFerDVS/<subject>/<sequence>.h5`` + ``folds.csv``) so that the same loader,
    binning and protocols run on it as on the real datasets, and the default benchmark needs no
    download. The default: 16 subjects x 7 classes x 2 takes = 224 sequences in four
    subject-independent folds, plus 36 held-out test subjects x 7 classes x 1 take = 252
    sequences in the test split of every fold (new identities no fold trains on, so that a test
    accuracy is an estimate over 40 people, not 4: :data:`TEST_PANEL_NOTE`); 476 sequences of
    24 frames at 64x64, ~3.3 M events, ~18 MB, generated in about 20 s on two idle CPU cores.

    Learnability (measured on the default, fold 0 of its subject-independent folds, chance 14 %):
    a logistic regression on 4x16x16 event-count histograms reaches ~47 % (mean of 4 folds) and a
    3-layer CNN on binary T=8 frames ~60 % after 15 epochs (normal ~85 %, low light ~35 %).

    Expressions follow FACS prototypes (Ekman, Friesen & Hager, "Facial Action Coding System",
    2002; the EMFACS prototype table): happy AU6+12, fear AU1+2+4+5+20+26, surprise AU1+2+5+26,
    anger AU4+5+7+23, disgust AU9+15+16, sadness AU1+4+15, reduced to seven drawing parameters
    (brow raise, inner-brow raise, eye opening, mouth-corner lift, mouth opening, mouth stretch,
    nose wrinkle; :data:`EXPRESSION_APEX`). What varies, so that the task is learnable but not
    trivial: the identity per subject (face ellipse axes and position, eye/brow/nose/mouth
    geometry, skin/background/feature contrast, shading, and an idiosyncratic gain per drawing
    parameter), and per sequence the amplitude, onset frame and rise time of the expression, a
    random blink, small head motion (sinusoidal translation of amplitude 0.3-1.2 px, i.e. a
    displacement of up to ~2 px, and rotation of amplitude 0.5-2 degrees, at 64x64), the lighting
    and the emulator's threshold mismatch. Fear and surprise share most action units, as they do
    in real faces, and are the expected confusion.

What it is not
    It is not a substitute for real faces: there is no texture, hair, skin deformation, 3-D pose,
    talking, or real sensor noise beyond the emulator's. Accuracies on it say nothing about
    accuracy on people. It measures the pipeline (that data, binning, training and metrics work
    end to end) and the *relative* behaviour of backends (accuracy, spikes, synaptic operations,
    latency) on a fixed, reproducible event workload with known lighting effects.

Valence and arousal (metadata only; the event streams do not depend on them)
    Every sequence has a valence and an arousal in ``[-1, 1]`` (:func:`sequence_va`), in
    ``metadata.csv`` and ``SequenceInfo.extra``, so that the built-in data serves the
    valence-arousal task (:mod:`benchmarks.runner.methods`). They come from the circumplex model of
    affect (Russell, "A circumplex model of affect", J. Pers. Soc. Psychol. 39(6), 1980): each
    class sits at the angle Russell's direct circular scaling gives its emotion word
    (:data:`CIRCUMPLEX_DEG`), at a radius set by the sequence's expression amplitude; a faster
    onset (a shorter rise from onset to apex) raises arousal, and each subject has its own
    (valence, arousal) bias, drawn from a stream of its own (:data:`VA_STREAM`), so that
    regression is not classification in disguise (on the default dataset the class alone
    explains only part of the variance: see ``tests/test_va.py``). Neutral sits at the centre
    (plus the subject's bias). Old trees without these columns get their ``metadata.csv`` (and
    manifest) rewritten on open; no event file is touched (:data:`METADATA_VERSION`).

Determinism: every random draw comes from a ``numpy.random.SeedSequence`` keyed by the seed and
the indices (``[seed, subject]`` for the face, ``[seed, subject, class, take, 1]`` for the sequence,
``[..., 2]`` for its lighting) and eventcv is seeded from the sequence's stream, so a seed gives the same bytes in every h5 file (h5py writes no
creation times by default and the HDF5 deflate filter stores no timestamp), whatever the
generation order or an interrupted run. Across machines, numpy's vectorised ``power`` may differ
in the last bit on some CPUs; the manifest records the numpy and eventcv versions.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from datasets.base import (
    LIGHTING_CONDITIONS,
    DatasetError,
    DatasetNotFoundError,
    register_dataset,
)
from datasets.common import atomic_write_text, is_temp_file
from datasets.conversion.pixel_model import SIMULATOR_SETTINGS
from datasets.folds import SPIKING_FER_CLASSES, FoldRow, subject_folds, write_folds_csv
from datasets.io.events import EVENTS_DTYPE, EventFileError, read_v2e_h5, write_v2e_h5
from datasets.loaders.ferdvs import FerDVSDataset

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1.1"
"""Version of the generator; a change of the drawing, of the conversion or of what a tree holds
bumps it (cache key). 1.0: ``n_subjects`` subjects only; 1.1: plus the held-out test subjects
(``test_subjects``, ``test_takes``). The sequences of the first ``n_subjects`` subjects are
byte-identical in both."""

METADATA_VERSION = 2
"""Version of ``metadata.csv``'s content (not a cache key of the events): 1 = version 0.1.0 (no
valence/arousal), 2 = with ``valence`` and ``arousal``. A tree of an older version has its
metadata (and manifest) rewritten, never its event files."""

NAME = "synthetic-fer-dvs"
FOLDER = "SyntheticFerDVS"
MANIFEST_FILE = "manifest.json"
METADATA_FILE = "metadata.csv"

SYNTHETIC_CLASSES: tuple[str, ...] = (*SPIKING_FER_CLASSES, "neutral")
"""The six Spiking-FER classes in upstream order, then neutral; ``folds.csv`` labels are 1..7."""

FPS = 30.0
"""Frame rate of the rendered video (Hz), as the Spiking-FER conversion (``--input_frame_rate 30``)."""

LOW_LIGHT_SHOT_NOISE_HZ = 5.0
"""Shot-noise rate per pixel (Hz) in low light: v2e's ``--dvs_params noisy`` preset value
(Hu et al., CVPRW 2021; v2e ``v2ecore/emulator.py``, ``set_dvs_params("noisy")``); 0 in the
other conditions, as in the Spiking-FER conversion."""

AU_NAMES = (
    "brow_raise",
    "inner_brow",
    "eye_open",
    "mouth_corner",
    "mouth_open",
    "mouth_stretch",
    "nose_wrinkle",
)
"""Drawing parameters of an expression (unitless, about -1..1; 0 = neutral)."""

EXPRESSION_APEX: dict[str, tuple[float, ...]] = {
    # brow_raise, inner_brow, eye_open, mouth_corner, mouth_open, mouth_stretch, nose_wrinkle
    "happy": (0.0, 0.0, -0.35, 1.0, 0.15, 0.35, 0.0),  # AU6 cheek raise narrows eyes + AU12
    "fear": (0.5, 0.6, 0.9, -0.2, 0.4, 0.7, 0.0),  # AU1+2+4 brows, AU5 lids, AU20 stretch, AU26
    "surprise": (1.0, 0.1, 0.7, 0.0, 1.0, -0.35, 0.0),  # AU1+2 brows, AU5 lids, AU26 jaw drop
    "anger": (-0.8, -1.0, -0.25, -0.25, 0.0, -0.45, 0.15),  # AU4 lowerer, AU7 lids, AU23 press
    "disgust": (-0.35, -0.2, -0.45, -0.6, 0.2, 0.1, 1.0),  # AU9 nose wrinkle, AU15, AU16
    "sadness": (-0.15, 0.85, -0.3, -0.9, 0.0, -0.1, 0.0),  # AU1+4 inner brows, AU15 corners down
    "neutral": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
}
"""Apex drawing parameters per class: which parameters move, and in which direction, follow the
FACS prototypes named in the module docstring (comments: the action units); the magnitudes are
chosen by hand, not measured."""

EXPRESSION_PX: dict[str, float] = {
    "brow_raise": 4.0,  # brow lift, px at 64x64 per unit
    "inner_brow": 3.0,  # inner-end lift, px
    "eye_open": 0.8,  # relative change of the eye height per unit
    "mouth_corner": 4.0,  # corner lift relative to the centre, px
    "mouth_open": 4.5,  # opening half height, px
    "mouth_stretch": 0.3,  # relative change of the mouth width per unit
    "nose_wrinkle": 1.5,  # nostril lift, px
}
"""Geometric effect of one unit of each drawing parameter at 64x64 (scaled with the size). Chosen by
eye so that an apex is clearly visible at 64x64 (a few pixels) yet smaller than the face features;
not measured on real faces."""

DEFAULTS: dict[str, Any] = {
    "n_subjects": 16,
    "takes": 2,
    "seed": 0,
    "size": 64,
    "n_frames": 24,
    "n_folds": 4,
    "test_subjects": 36,
    "test_takes": 1,
}
"""Default generation parameters: 16 subjects x 7 classes x 2 takes = 224 sequences in four
subject-independent folds (4 subjects each), plus 36 held-out test subjects x 7 classes x 1 take
= 252 sequences in the test split of every fold (never trained on); 476 sequences of 24 frames
(0.77 s) at 64x64. Fold 0 trains on 12 subjects (168 sequences, of which the validation split
holds out whole subjects) and tests on 4 + 36 = 40 subjects (56 + 252 = 308 sequences). Why 36
test subjects of one take each: see :data:`TEST_PANEL_NOTE`."""

TEST_PANEL_NOTE = (
    "A test accuracy on 4 subjects is an estimate over 4 people: its sequences are not "
    "independent (a model that fails on a face fails on most of its sequences), so its 95% "
    "interval over subjects spans about +-12 points and no two backends differed significantly "
    "in the default grid. The interval of a mean over K subjects shrinks as "
    "sqrt((s_b^2 + p(1-p)/m) / K) for a between-subject spread s_b and m sequences per subject: "
    "at a fixed number of test sequences K m, one take per class (m = 7) and more subjects give "
    "the narrowest interval. 36 held-out subjects (252 sequences, about 10 s to generate and a "
    "few seconds of inference per cell) bring the interval to about +-6 points."
)
"""Why the default dataset has a held-out test panel (see ``docs/guides/default-benchmark.md``)."""


# ---------------------------------------------------------------------------------------------
# Identity, sequence specification
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """A subject's face. Lengths are fractions of the image side ``S``; intensities are
    display (sRGB-encoded) reflectances in 0..1.

    Attributes:
        cx, cy: face centre offset from the image centre.
        ax, ay: face ellipse semi-axes (horizontal, vertical).
        skin, background, feature: intensities of skin, background and dark features.
        shade_angle, shade_amp: direction (rad) and relative amplitude of a linear shading across
            the face.
        eye_y, eye_dx, eye_rx, eye_ry: eye centre height (below centre, > 0 is down) and half
            spacing, eye semi-axes.
        brow_gap, brow_len, brow_th: brow height above the eye centre, length, thickness.
        nose_top, nose_len, nose_w: nose start below the eye line, length, nostril half spacing.
        mouth_y, mouth_hw, mouth_th: mouth height below centre, half width, lip line thickness.
        style: per drawing parameter gain (the subject's way of making expressions), shape (7,).
    """

    cx: float
    cy: float
    ax: float
    ay: float
    skin: float
    background: float
    feature: float
    shade_angle: float
    shade_amp: float
    eye_y: float
    eye_dx: float
    eye_rx: float
    eye_ry: float
    brow_gap: float
    brow_len: float
    brow_th: float
    nose_top: float
    nose_len: float
    nose_w: float
    mouth_y: float
    mouth_hw: float
    mouth_th: float
    style: tuple[float, ...]


def draw_identity(rng: np.random.Generator) -> Identity:
    """Draw a random face (ranges chosen so that every face fits a square image and stays
    recognisable as a face at 16x16 and up).

    Skin is brighter than the background for about two thirds of the subjects and darker for the
    rest, with a contrast of 0.15-0.4; features are 35-60 % of the skin intensity.
    """
    u = rng.uniform
    skin = u(0.45, 0.75)
    contrast = u(0.15, 0.4)
    background = skin - contrast if rng.random() < 0.65 else min(0.95, skin + contrast)
    return Identity(
        cx=u(-0.03, 0.03),
        cy=u(-0.02, 0.03),
        ax=u(0.29, 0.36),
        ay=u(0.38, 0.45),
        skin=skin,
        background=background,
        feature=skin * u(0.35, 0.6),
        shade_angle=u(0.0, 2 * math.pi),
        shade_amp=u(0.0, 0.15),
        eye_y=u(-0.09, -0.04),
        eye_dx=u(0.11, 0.15),
        eye_rx=u(0.045, 0.065),
        eye_ry=u(0.022, 0.034),
        brow_gap=u(0.06, 0.085),
        brow_len=u(0.09, 0.13),
        brow_th=u(0.022, 0.032),
        nose_top=u(0.03, 0.06),
        nose_len=u(0.10, 0.14),
        nose_w=u(0.025, 0.04),
        mouth_y=u(0.18, 0.24),
        mouth_hw=u(0.08, 0.12),
        mouth_th=u(0.018, 0.028),
        style=tuple(float(g) for g in u(0.75, 1.25, size=len(AU_NAMES))),
    )


@dataclass(frozen=True)
class SequenceSpec:
    """Everything that defines one sequence (deterministic given these fields).

    Attributes:
        subject: subject id (``S001``...); subject_index, its 0-based index.
        label: class index into :data:`SYNTHETIC_CLASSES`; take: 0-based repetition index.
        sequence: sequence id (``001``...), the file name stem.
        lighting: one of :data:`datasets.base.LIGHTING_CONDITIONS`.
        identity: the subject's face.
        amplitude: expression strength at apex, 0.6..1.
        au_jitter: per-sequence additive jitter of the apex parameters, shape (7,).
        onset_frame, apex_frame: the expression starts moving at ``onset_frame`` and reaches the
            apex at ``apex_frame`` (smoothstep in between), frame indices.
        blink_frame: frame index of the middle of a blink, or -1 for none.
        motion: head motion ``(ax_px, fx_hz, phx, ay_px, fy_hz, phy, rot_deg, frot_hz, phrot)``:
            sinusoidal translation amplitudes in pixels at 64x64 (scaled with the size),
            frequencies, phases, and rotation amplitude in degrees.
        light: lighting parameters (see :func:`illumination`).
        sim_seed: seed of eventcv.simulate.
    """

    subject: str
    subject_index: int
    label: int
    take: int
    sequence: str
    lighting: str
    identity: Identity
    amplitude: float
    au_jitter: tuple[float, ...]
    onset_frame: int
    apex_frame: int
    blink_frame: int
    motion: tuple[float, ...]
    light: tuple[float, ...]
    sim_seed: int


def lighting_for(subject_index: int, label: int, take: int, takes: int) -> str:
    """Lighting condition of a sequence: ``LIGHTING_CONDITIONS[(subject*takes + take + label) % 4]``.

    For each class the index runs over consecutive integers, so the four conditions are balanced
    within each class (counts differ by at most one; exactly equal when ``n_subjects * takes`` is a
    multiple of 4), and each subject meets all conditions across its classes.
    """
    n = len(LIGHTING_CONDITIONS)
    return LIGHTING_CONDITIONS[(subject_index * takes + take + label) % n]


def _light_params(lighting: str, rng: np.random.Generator) -> tuple[float, ...]:
    """Draw the lighting parameters ``(gain, angle, log2_span)`` (see :func:`illumination`)."""
    if lighting == "normal":
        return (float(rng.uniform(0.8, 1.25)), 0.0, 0.0)
    if lighting == "overexposure":
        return (float(rng.uniform(3.0, 5.0)), 0.0, 0.0)
    if lighting == "low_light":
        return (float(rng.uniform(0.05, 0.1)), 0.0, 0.0)
    if lighting == "hdr":
        return (float(rng.uniform(0.6, 1.2)), float(rng.uniform(0.0, 2 * math.pi)),
                float(rng.uniform(5.0, 7.0)))
    raise ValueError(f"unknown lighting {lighting!r}; known: {', '.join(LIGHTING_CONDITIONS)}")


def make_spec(
    seed: int,
    subject_index: int,
    label: int,
    take: int,
    *,
    takes: int,
    n_frames: int,
    identity: Identity | None = None,
    lighting: str | None = None,
) -> SequenceSpec:
    """Build the specification of one sequence from its seed and indices.

    Args:
        seed: dataset seed.
        subject_index, label, take: indices of the subject, class and repetition.
        takes: repetitions per (subject, class); the sequence id is ``label*takes + take + 1``.
        n_frames: frames per sequence (>= 8).
        identity: the subject's face; drawn from ``SeedSequence([seed, subject_index])`` if None.
        lighting: override the balanced assignment of :func:`lighting_for` (for tests).

    Raises:
        ValueError: ``n_frames < 8`` or an unknown lighting.
    """
    if n_frames < 8:
        raise ValueError(f"n_frames must be >= 8, got {n_frames}")
    if identity is None:
        identity = draw_identity(np.random.default_rng(np.random.SeedSequence([seed, subject_index])))
    rng = np.random.default_rng(np.random.SeedSequence([seed, subject_index, label, take, 1]))
    light = lighting or lighting_for(subject_index, label, take, takes)
    onset = int(rng.integers(1, max(2, n_frames // 3) + 1))
    rise = int(rng.integers(max(3, n_frames // 4), max(4, n_frames // 2) + 1))
    apex = min(onset + rise, n_frames - 2)
    blink = int(rng.integers(1, n_frames - 1)) if rng.random() < 0.3 else -1
    motion = (
        float(rng.uniform(0.3, 1.2)), float(rng.uniform(0.4, 1.5)), float(rng.uniform(0, 2 * math.pi)),
        float(rng.uniform(0.3, 1.2)), float(rng.uniform(0.4, 1.5)), float(rng.uniform(0, 2 * math.pi)),
        float(rng.uniform(0.5, 2.0)), float(rng.uniform(0.3, 1.2)), float(rng.uniform(0, 2 * math.pi)),
    )
    sim_seed = int(rng.integers(0, 2**31 - 1))
    # the lighting parameters come from their own stream, so that overriding the lighting
    # changes nothing else in the sequence
    light_rng = np.random.default_rng(np.random.SeedSequence([seed, subject_index, label, take, 2]))
    return SequenceSpec(
        subject=f"S{subject_index + 1:03d}",
        subject_index=subject_index,
        label=label,
        take=take,
        sequence=f"{label * takes + take + 1:03d}",
        lighting=light,
        identity=identity,
        amplitude=float(rng.uniform(0.6, 1.0)),
        au_jitter=tuple(float(v) for v in rng.normal(0.0, 0.08, size=len(AU_NAMES))),
        onset_frame=onset,
        apex_frame=apex,
        blink_frame=blink,
        motion=motion,
        light=_light_params(light, light_rng),
        sim_seed=sim_seed,
    )


# ---------------------------------------------------------------------------------------------
# Valence and arousal (metadata)
# ---------------------------------------------------------------------------------------------

CIRCUMPLEX_DEG: dict[str, float | None] = {
    "happy": 7.8,  # "happy"
    "fear": 116.5,  # "afraid"
    "surprise": 69.8,  # "astonished"
    "anger": 99.0,  # "angry"
    "disgust": 137.6,  # not among Russell's 28 words: "distressed" (negative, moderately aroused)
    "sadness": 207.5,  # "sad"
    "neutral": None,  # the centre of the circumplex
}
"""Angle (degrees, counter-clockwise from the pleasure axis: valence = cos, arousal = sin) of each
class on the circumplex: the direct circular scaling of Russell (1980, Table 3; the comments name
the emotion word used). Disgust has no word of its own there; "distressed" stands for it."""

VA_STREAM = 0x5641
"""Last entry of the ``SeedSequence`` key ``[seed, subject, VA_STREAM]`` of a subject's VA bias:
a stream no event-generating draw uses, so the events are unchanged."""

VA_RADIUS = (0.15, 0.95)
"""Radius on the circumplex at the smallest and largest expression amplitude (0.6 and 1.0)."""

VA_ONSET_GAIN = 0.3
"""Arousal term of the onset speed: ``VA_ONSET_GAIN * (speed - 0.5)`` with ``speed`` in [0, 1]
(1 = the shortest rise), i.e. +0.15 for the fastest onset, -0.15 for the slowest
(:func:`sequence_va`)."""

VA_SUBJECT_SD = 0.15
"""Standard deviation of a subject's valence and arousal bias (clipped at +-2 sd)."""


def subject_va_bias(seed: int, subject_index: int) -> tuple[float, float]:
    """The (valence, arousal) bias of a subject: ``N(0, VA_SUBJECT_SD)`` each, clipped at 2 sd,
    from ``SeedSequence([seed, subject_index, VA_STREAM])``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, subject_index, VA_STREAM]))
    b = np.clip(rng.normal(0.0, VA_SUBJECT_SD, size=2), -2 * VA_SUBJECT_SD, 2 * VA_SUBJECT_SD)
    return float(b[0]), float(b[1])


def sequence_va(spec: SequenceSpec, n_frames: int, seed: int) -> tuple[float, float]:
    """Valence and arousal of a sequence, rounded to 4 decimals, in ``[-1, 1]``.

    ``r = VA_RADIUS[0] + (VA_RADIUS[1] - VA_RADIUS[0]) (amplitude - 0.6) / 0.4``;
    ``(v, a) = r (cos theta, sin theta)`` with ``theta = CIRCUMPLEX_DEG[class]`` (neutral:
    ``(0, 0)``); ``a += VA_ONSET_GAIN (speed - 0.5)``, ``speed = 1 - (rise - rise_min) /
    (rise_max - rise_min)`` with ``rise = apex_frame - onset_frame`` and the rise range of
    :func:`make_spec` (neutral: no onset term, nothing moves); then the subject's bias
    (:func:`subject_va_bias`) is added and the result clipped to ``[-1, 1]``.
    """
    theta = CIRCUMPLEX_DEG[SYNTHETIC_CLASSES[spec.label]]
    v = a = 0.0
    if theta is not None:
        lo, hi = VA_RADIUS
        r = lo + (hi - lo) * (spec.amplitude - 0.6) / 0.4
        v, a = r * math.cos(math.radians(theta)), r * math.sin(math.radians(theta))
        rise_min, rise_max = max(3, n_frames // 4), max(4, n_frames // 2)
        rise = spec.apex_frame - spec.onset_frame
        speed = 1.0 - (rise - rise_min) / max(1, rise_max - rise_min)
        a += VA_ONSET_GAIN * (min(1.0, max(0.0, speed)) - 0.5)
    bv, ba = subject_va_bias(seed, spec.subject_index)
    v, a = v + bv, a + ba
    return (round(min(1.0, max(-1.0, v)), 4), round(min(1.0, max(-1.0, a)), 4))


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------


def _coverage(d: np.ndarray, thickness: float = 1.0) -> np.ndarray:
    """Anti-aliased coverage of a shape from its signed distance ``d`` (pixels, < 0 inside): a
    1-pixel linear ramp, scaled by ``min(1, thickness)`` so that a shape thinner than a pixel
    covers a proportional fraction (area conservation)."""
    return np.clip(0.5 - d, 0.0, 1.0) * min(1.0, thickness)


def _ellipse_sd(x: np.ndarray, y: np.ndarray, rx: float, ry: float) -> np.ndarray:
    """First-order signed distance to an axis-aligned ellipse centred at 0: ``f / |grad f|`` with
    ``f = (x/rx)^2 + (y/ry)^2 - 1`` (Taubin, IEEE TPAMI 1991, eq. 2); exact on the boundary."""
    f = (x / rx) ** 2 + (y / ry) ** 2 - 1.0
    g = 2.0 * np.sqrt((x / rx**2) ** 2 + (y / ry**2) ** 2) + 1e-9
    return np.maximum(f / g, -np.minimum(rx, ry))


def _segment_sd(x: np.ndarray, y: np.ndarray, p0: tuple[float, float], p1: tuple[float, float],
                radius: float) -> np.ndarray:
    """Signed distance to a capsule (segment ``p0``-``p1`` of half thickness ``radius``), exact."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    length2 = dx * dx + dy * dy + 1e-12
    h = np.clip(((x - p0[0]) * dx + (y - p0[1]) * dy) / length2, 0.0, 1.0)
    return np.sqrt((x - p0[0] - h * dx) ** 2 + (y - p0[1] - h * dy) ** 2) - radius


def _smoothstep(x: float) -> float:
    """``3x^2 - 2x^3`` on [0, 1] (Hermite ease)."""
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


def expression_at(spec: SequenceSpec, frame: int) -> np.ndarray:
    """Drawing parameters of ``spec`` at ``frame``, shape (7,): apex x subject style x amplitude
    (+ jitter), eased in with a smoothstep from ``onset_frame`` to ``apex_frame``."""
    apex = np.asarray(EXPRESSION_APEX[SYNTHETIC_CLASSES[spec.label]])
    if not apex.any():  # neutral stays neutral: no jitter-driven expression
        return np.zeros(len(AU_NAMES))
    target = apex * np.asarray(spec.identity.style) * spec.amplitude + np.asarray(spec.au_jitter)
    span = max(1, spec.apex_frame - spec.onset_frame)
    return target * _smoothstep((frame - spec.onset_frame) / span)


def render_reflectance(spec: SequenceSpec, size: int, n_frames: int) -> np.ndarray:
    """Draw the face video before lighting: display (sRGB-encoded) reflectance in 0..1.

    The head pose per frame is ``t(f) = A sin(2 pi f_hz f / FPS + phi) - A sin(phi)`` for x, y
    (pixels, scaled by ``size / 64``) and rotation (degrees), so frame 0 is the rest pose. Every
    pixel centre is mapped into the head frame (inverse rotation and translation) and the face is
    evaluated analytically there, so sub-pixel motion changes intensities smoothly.

    Args:
        spec: the sequence.
        size: image side ``S`` in pixels (>= 16).
        n_frames: number of frames.

    Returns:
        float64 array, shape ``(n_frames, S, S)``.
    """
    idt = spec.identity
    s = float(size)
    k = s / 64.0  # pixel lengths below are given at 64x64
    c = (s - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    m = spec.motion
    out = np.empty((n_frames, size, size))
    for f in range(n_frames):
        tau = f / FPS
        tx = k * (m[0] * math.sin(2 * math.pi * m[1] * tau + m[2]) - m[0] * math.sin(m[2]))
        ty = k * (m[3] * math.sin(2 * math.pi * m[4] * tau + m[5]) - m[3] * math.sin(m[5]))
        rot = math.radians(m[6] * math.sin(2 * math.pi * m[7] * tau + m[8]) - m[6] * math.sin(m[8]))
        cr, sr = math.cos(rot), math.sin(rot)
        # head-frame coordinates (pixels, origin at the face centre, y down)
        px = xx - (c + idt.cx * s + tx)
        py = yy - (c + idt.cy * s + ty)
        x = cr * px + sr * py
        y = -sr * px + cr * py
        out[f] = _draw_face(x, y, idt, expression_at(spec, f), _blink_factor(spec, f), s, k)
    return out


def _blink_factor(spec: SequenceSpec, frame: int) -> float:
    """Eye opening multiplier of a 5-frame blink centred at ``blink_frame`` (1 = open)."""
    if spec.blink_frame < 0:
        return 1.0
    d = abs(frame - spec.blink_frame)
    return (0.1, 0.45, 0.85)[d] if d < 3 else 1.0


def _draw_face(x: np.ndarray, y: np.ndarray, idt: Identity, au: np.ndarray, blink: float,
               s: float, k: float) -> np.ndarray:
    """One frame of the face in head coordinates ``x, y`` (pixels). ``au``: drawing parameters
    (see :data:`AU_NAMES`); ``s``: image side; ``k = s / 64``. Returns reflectance, same shape."""
    brow_raise, inner_brow, eye_open, corner, mouth_open, stretch, wrinkle = (float(v) for v in au)
    ax, ay = idt.ax * s, idt.ay * s
    # face: shaded skin inside the ellipse over the background
    face = _coverage(_ellipse_sd(x, y, ax, ay))
    shade = 1.0 + idt.shade_amp * (x * math.cos(idt.shade_angle) + y * math.sin(idt.shade_angle)) / ax
    img = idt.background + face * (idt.skin * shade - idt.background)
    feat = idt.feature

    def paint(cov: np.ndarray, value: float) -> None:
        nonlocal img
        img = img + cov * (value - img)

    # nose: a faint bridge line, wrinkle lines (AU9) and nostrils lifted by the wrinkle
    ey = idt.eye_y * s
    n0 = ey + idt.nose_top * s
    n1 = n0 + idt.nose_len * s - wrinkle * EXPRESSION_PX["nose_wrinkle"] * k
    paint(_coverage(_segment_sd(x, y, (0.0, n0), (0.0, n1), 0.5 * k), 0.6 * k) * 0.35, feat)
    if wrinkle > 0.0:
        for j in (0, 1):
            yw = n0 + (0.2 + 0.25 * j) * idt.nose_len * s
            w = (1.6 + 0.6 * j) * k
            paint(_coverage(_segment_sd(x, y, (-w, yw), (w, yw), 0.45 * k), 0.9 * k)
                  * min(1.0, wrinkle), feat)
    nw = idt.nose_w * s * (1.0 + 0.3 * max(0.0, wrinkle))
    for side in (-1.0, 1.0):
        paint(_coverage(_ellipse_sd(x - side * nw, y - n1, 1.1 * k, 0.8 * k)) * 0.8, feat)

    # eyes (AU5 widen / AU6-7 narrow, blink) and brows (AU1 inner raise, AU2 raise, AU4 lower)
    ry = max(0.15, idt.eye_ry * s * (1.0 + EXPRESSION_PX["eye_open"] * eye_open) * blink)
    for side in (-1.0, 1.0):
        ex = side * idt.eye_dx * s
        paint(_coverage(_ellipse_sd(x - ex, y - ey, idt.eye_rx * s, ry), 2 * ry), feat)
        by = ey - idt.brow_gap * s - brow_raise * EXPRESSION_PX["brow_raise"] * k
        half = idt.brow_len * s / 2
        inner = (ex - side * half + side * max(0.0, -inner_brow) * 1.0 * k,
                 by - inner_brow * EXPRESSION_PX["inner_brow"] * k)
        outer = (ex + side * half, by)
        th = idt.brow_th * s
        paint(_coverage(_segment_sd(x, y, inner, outer, th / 2), th), feat)

    # mouth: lip line curved by the corners (AU12 up / AU15 down), stretched (AU20) or
    # pressed (AU23), and an opening (AU25-26)
    my = idt.mouth_y * s
    hw = idt.mouth_hw * s * (1.0 + EXPRESSION_PX["mouth_stretch"] * stretch)
    th = idt.mouth_th * s
    yc = my - corner * EXPRESSION_PX["mouth_corner"] * k * (x / hw) ** 2
    d_line = np.maximum(np.abs(y - yc) - th / 2, np.abs(x) - hw)
    paint(_coverage(d_line, th), feat)
    if mouth_open > 0.0:
        ro = max(0.15, mouth_open * EXPRESSION_PX["mouth_open"] * k)
        paint(_coverage(_ellipse_sd(x, y - (my + ro * 0.6), hw * 0.75, ro), 2 * ro), feat * 0.7)
    return img


# ---------------------------------------------------------------------------------------------
# Lighting and conversion
# ---------------------------------------------------------------------------------------------


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """sRGB decoding (IEC 61966-2-1:1999): ``v/12.92`` below 0.04045, else ``((v+0.055)/1.055)^2.4``."""
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    """sRGB encoding (IEC 61966-2-1:1999), inverse of :func:`srgb_to_linear`; input clipped to 0..1."""
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def illumination(lighting: str, light: tuple[float, ...], size: int) -> np.ndarray:
    """Illumination gain field in linear light, shape ``(S, S)``.

    * ``normal``: uniform gain 0.8-1.25;
    * ``overexposure``: uniform gain 3-5 (skin and bright background clip at 1);
    * ``low_light``: uniform gain 0.05-0.1 (a dim scene: most pixels fall in the linear part of v2e's
      lin-log response, which keeps about 25-60 % of the normal-light signal events, plus the
      emulator's shot noise);
    * ``hdr``: ``gain * 2^(span * r)`` with ``r`` in -0.5..0.5 along a random direction: a 32-128x
      (5-7 stops) illumination ramp across the image, one side dark and the other clipped.

    Raises:
        ValueError: unknown lighting.
    """
    gain = light[0]
    if lighting in ("normal", "overexposure", "low_light"):
        return np.full((size, size), gain)
    if lighting == "hdr":
        angle, span = light[1], light[2]
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
        r = ((xx - (size - 1) / 2) * math.cos(angle) + (yy - (size - 1) / 2) * math.sin(angle))
        r = r / (size * (abs(math.cos(angle)) + abs(math.sin(angle))))  # in -0.5..0.5
        return gain * np.exp2(span * r)
    raise ValueError(f"unknown lighting {lighting!r}; known: {', '.join(LIGHTING_CONDITIONS)}")


def render_frames(spec: SequenceSpec, size: int, n_frames: int) -> np.ndarray:
    """The grey video the event camera sees: reflectance x illumination in linear light, clipped
    at the sensor's white level and sRGB-encoded (eventcv linearises sRGB before its lin-log
    mapping, so the gain acts on light, as a real exposure change does).

    Returns:
        float32 array in 0..1, shape ``(n_frames, S, S)``.
    """
    refl = render_reflectance(spec, size, n_frames)
    lin = srgb_to_linear(refl) * illumination(spec.lighting, spec.light, size)[None]
    return linear_to_srgb(np.minimum(lin, 1.0)).astype(np.float32)


def simulate_events(frames: np.ndarray, *, lighting: str, seed: int) -> np.ndarray:
    """Convert grey video to events with ``eventcv.simulate`` (v2e pixel model).

    Settings: :data:`SIMULATOR_SETTINGS`, ``fps = 30``, shot noise :data:`LOW_LIGHT_SHOT_NOISE_HZ`
    in ``low_light`` and 0 otherwise. eventcv returns an ``EventStream`` whose ``numpy()`` is an
    ``(N, 4)`` uint64 array with columns ``stream.columns == ('x', 'y', 't', 'p')``, ``t`` in units
    of ``timestamp_scale_ms = 0.001`` ms (= µs) from the first frame, and ``p`` 1 for ON
    (brightening) and 0 for OFF; both conventions are checked at run time.

    Args:
        frames: float array in 0..1, shape ``(N_frames, H, W)``.
        lighting: the lighting condition (selects the shot noise).
        seed: eventcv seed.

    Returns:
        Events (:data:`datasets.io.events.EVENTS_DTYPE`), sorted by ``t`` (µs), shape ``(N,)``.

    Raises:
        RuntimeError: eventcv's columns or time unit are not the ones above.
    """
    import eventcv

    noise = LOW_LIGHT_SHOT_NOISE_HZ if lighting == "low_light" else 0.0
    stream = eventcv.simulate(
        np.ascontiguousarray(frames, dtype=np.float32),
        fps=FPS,
        shot_noise_rate_hz=noise,
        seed=seed,
        **SIMULATOR_SETTINGS,
    )
    cols = tuple(stream.columns)
    if cols != ("x", "y", "t", "p") or not math.isclose(stream.timestamp_scale_ms, 0.001):
        raise RuntimeError(
            f"eventcv.simulate returned columns {cols} with timestamp_scale_ms="
            f"{stream.timestamp_scale_ms}; expected ('x', 'y', 't', 'p') in µs (0.001 ms)"
        )
    raw = stream.numpy()
    ev = np.empty(raw.shape[0], dtype=EVENTS_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3]
    order = np.argsort(ev["t"], kind="stable")
    return ev[order]


def generate_sequence(spec: SequenceSpec, size: int, n_frames: int) -> np.ndarray:
    """Render and convert one sequence; returns its events (µs, sensor ``(S, S, 2)``)."""
    return simulate_events(render_frames(spec, size, n_frames), lighting=spec.lighting,
                           seed=spec.sim_seed)


# ---------------------------------------------------------------------------------------------
# The dataset on disk
# ---------------------------------------------------------------------------------------------


def _params(**params: Any) -> dict[str, Any]:
    """Validated generation parameters (defaults from :data:`DEFAULTS`).

    Raises:
        TypeError: an unknown parameter name. ValueError: a value out of range.
    """
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown synthetic-fer-dvs parameter(s) {unknown}; known: {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    for key in DEFAULTS:
        if not isinstance(p[key], (int, np.integer)) or isinstance(p[key], bool):
            raise ValueError(f"parameter {key} must be an integer, got {p[key]!r}")
        p[key] = int(p[key])
    limits = {"n_subjects": 2, "takes": 1, "size": 16, "n_frames": 8, "n_folds": 2,
              "test_subjects": 0, "test_takes": 1}
    for key, lo in limits.items():
        if p[key] < lo:
            raise ValueError(f"parameter {key} must be >= {lo}, got {p[key]}")
    if p["n_folds"] > p["n_subjects"]:
        raise ValueError(f"n_folds = {p['n_folds']} exceeds n_subjects = {p['n_subjects']}")
    return p


def _manifest(params: Mapping[str, Any], *, complete: bool, n_sequences: int,
              n_events: int | None = None) -> dict[str, Any]:
    import eventcv

    return {
        "dataset": NAME,
        "generator_version": GENERATOR_VERSION,
        "params": dict(params),
        "classes": list(SYNTHETIC_CLASSES),
        "lighting_conditions": list(LIGHTING_CONDITIONS),
        "fps": FPS,
        "simulator": {"package": "eventcv", "version": eventcv.__version__, **SIMULATOR_SETTINGS,
                      "low_light_shot_noise_rate_hz": LOW_LIGHT_SHOT_NOISE_HZ},
        "environment": {"numpy": np.__version__},
        "n_sequences": n_sequences,
        "n_events": n_events,
        "complete": complete,
        "metadata_version": METADATA_VERSION,
    }


def _cache_key(manifest: Mapping[str, Any]) -> tuple:
    """The parts of a manifest that determine the data (compared to decide on regeneration)."""
    return (
        manifest.get("generator_version"),
        json.dumps(manifest.get("params"), sort_keys=True),
        json.dumps(manifest.get("simulator"), sort_keys=True),
    )


def _read_manifest(path: Path) -> dict[str, Any]:
    """Read the manifest.

    Raises:
        DatasetError: not valid JSON or not an object (message names the file).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the manifest ({exc})") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: the manifest must be a JSON object, got {type(data).__name__}")
    return data


_OWN_FILE = re.compile(r"^\d{3,}\.h5$|^\.\d{3,}\.h5\..*\.tmp$")
"""Files the generator writes in a subject folder: ``<digits>.h5`` and its temporary files
(:func:`datasets.common.atomic_write`'s ``.<name>.<random>.tmp``)."""


def _clear(directory: Path) -> None:
    """Remove a previous generation: subject folders ``S<digits>`` holding only ``<digits>.h5``
    files (and temporary files), ``folds.csv``, ``metadata.csv``, ``manifest.json``. Anything
    else is left alone."""
    for name in ("folds.csv", METADATA_FILE, MANIFEST_FILE):
        (directory / name).unlink(missing_ok=True)
    for sub in directory.iterdir():
        if sub.is_dir() and re.fullmatch(r"S\d{3,}", sub.name):
            if all(_OWN_FILE.match(f.name) for f in sub.iterdir()):
                shutil.rmtree(sub)
            else:
                log.warning("%s holds files not written by the generator; left in place", sub)
        elif sub.is_file() and is_temp_file(sub.name):
            sub.unlink()


def is_test_subject(subject_index: int, params: Mapping[str, Any]) -> bool:
    """Whether the subject of 0-based index ``subject_index`` is a held-out test subject: the
    ``test_subjects`` subjects after the first ``n_subjects`` (``S<n_subjects+1>`` on)."""
    return subject_index >= params["n_subjects"]


def all_specs(params: Mapping[str, Any]) -> list[SequenceSpec]:
    """The specifications of every sequence for validated ``params``, in file order
    (subject, class, take): the ``n_subjects`` fold subjects with ``takes`` takes per class,
    then the ``test_subjects`` held-out test subjects with ``test_takes`` takes per class. A
    subject's face and sequences depend only on the seed and its indices (not on how many
    subjects there are), so a held-out subject is a new identity drawn like any other."""
    specs = []
    for si in range(params["n_subjects"] + params["test_subjects"]):
        identity = draw_identity(np.random.default_rng(np.random.SeedSequence([params["seed"], si])))
        takes = params["test_takes"] if is_test_subject(si, params) else params["takes"]
        for label in range(len(SYNTHETIC_CLASSES)):
            for take in range(takes):
                specs.append(make_spec(params["seed"], si, label, take, takes=takes,
                                       n_frames=params["n_frames"], identity=identity))
    return specs


def fold_rows(params: Mapping[str, Any], specs: list[SequenceSpec]) -> list[FoldRow]:
    """The rows of ``folds.csv`` for validated ``params`` and their :func:`all_specs`: labels
    1..7; the ``n_subjects`` fold subjects in ``n_folds`` subject-independent folds
    (:func:`datasets.folds.subject_folds` with ``seed``, over those subjects only, so the folds
    do not depend on ``test_subjects``); every held-out test subject in the test split of every
    fold."""
    assignment = subject_folds([s.subject for s in specs
                                if not is_test_subject(s.subject_index, params)],
                               params["n_folds"], params["seed"])
    return [FoldRow(s.subject, s.sequence, s.label + 1,
                    tuple(is_test_subject(s.subject_index, params) or assignment[s.subject] == k
                          for k in range(params["n_folds"])))
            for s in specs]


def generate_synthetic_fer_dvs(
    root: str | os.PathLike,
    *,
    n_subjects: int = DEFAULTS["n_subjects"],
    takes: int = DEFAULTS["takes"],
    seed: int = DEFAULTS["seed"],
    size: int = DEFAULTS["size"],
    n_frames: int = DEFAULTS["n_frames"],
    n_folds: int = DEFAULTS["n_folds"],
    test_subjects: int = DEFAULTS["test_subjects"],
    test_takes: int = DEFAULTS["test_takes"],
    progress: bool | None = None,
    folder: str = FOLDER,
) -> Path:
    """Generate ``synthetic-fer-dvs`` under ``root/<folder>`` (default ``SyntheticFerDVS``;
    cached, resumable). Variants with other parameters use another ``folder`` so that they never
    overwrite each other.

    Writes ``<subject>/<sequence>.h5`` (v2e layout, one per sequence: ``n_subjects x 7 x takes
    + test_subjects x 7 x test_takes``), ``folds.csv`` (Spiking-FER format; labels 1..7 in
    :data:`SYNTHETIC_CLASSES` order; ``n_folds`` subject-independent folds of the
    ``n_subjects`` fold subjects from :func:`datasets.folds.subject_folds` with ``seed``; the
    held-out test subjects are in the test split of every fold, so no fold trains on them),
    ``metadata.csv`` (one row per sequence: subject, sequence, label, class, take, lighting,
    amplitude, onset/apex/blink frames, n_events) and ``manifest.json`` (parameters, generator and
    eventcv versions, ``complete``).

    Caching: if the manifest is complete and records the same generator version, parameters and
    simulator settings, and every file is present, nothing is done. If it records other
    parameters, the previous generation is removed first. If it is incomplete (an interrupted run)
    with the same parameters, the files already written (each written atomically) are kept and
    the rest generated.

    Args:
        root: data root; the dataset goes to ``root/SyntheticFerDVS``.
        n_subjects: subjects (>= 2). takes: repetitions per subject and class (>= 1).
        seed: seed of every random draw.
        size: sensor side ``S`` in pixels (>= 16); sensor size ``(S, S, 2)``.
        n_frames: frames per sequence at 30 fps (>= 8).
        n_folds: subject-independent folds in ``folds.csv`` (2..n_subjects).
        test_subjects: held-out test subjects (>= 0), after the fold subjects
            (``S<n_subjects+1>``...): new identities tested in every fold, never trained on.
        test_takes: repetitions per held-out subject and class (>= 1).
        progress: show a tqdm progress bar; default: when this module logs INFO (``run -v``),
            so that a quiet ``run`` shows only its grid bar.

    Returns:
        ``root`` as a Path (the folder to pass to :class:`SyntheticFerDVS`).

    Raises:
        TypeError, ValueError: bad parameters. RuntimeError: eventcv returned an unexpected
        layout, or a sequence produced no events. DatasetError: an unreadable manifest.
    """
    from tqdm import tqdm

    if progress is None:
        progress = log.isEnabledFor(logging.INFO)
    params = _params(n_subjects=n_subjects, takes=takes, seed=seed, size=size,
                     n_frames=n_frames, n_folds=n_folds, test_subjects=test_subjects,
                     test_takes=test_takes)
    root = Path(root)
    directory = root / folder
    manifest_path = directory / MANIFEST_FILE
    specs = all_specs(params)
    wanted = _manifest(params, complete=False, n_sequences=len(specs))
    if manifest_path.is_file():
        try:
            old = _read_manifest(manifest_path)
        except DatasetError as exc:
            log.warning("%s; regenerating", exc)
            old = {}
        if _cache_key(old) == _cache_key(wanted):
            files_ok = all((directory / s.subject / f"{s.sequence}.h5").is_file() for s in specs)
            if old.get("complete") and files_ok and (directory / "folds.csv").is_file() \
                    and (directory / METADATA_FILE).is_file():
                if not _upgrade_metadata(directory, params, specs, old):
                    log.info("%s: up to date in %s", NAME, directory)
                return root
            log.info("%s: resuming an incomplete generation in %s", NAME, directory)
        else:
            log.warning("%s: %s was made with other parameters; regenerating", NAME, directory)
            _clear(directory)
    elif directory.is_dir():
        _clear(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest_path, json.dumps(wanted, indent=2, sort_keys=True) + "\n")

    sensor = (params["size"], params["size"], 2)
    counts: list[int] = []
    for spec in tqdm(specs, desc=NAME, unit="seq", disable=not progress):
        path = directory / spec.subject / f"{spec.sequence}.h5"
        if path.is_file():
            try:
                counts.append(int(read_v2e_h5(path, sensor).shape[0]))
                continue
            except EventFileError as exc:
                log.warning("%s; regenerating it", exc)
        events = generate_sequence(spec, params["size"], params["n_frames"])
        if events.shape[0] == 0:
            raise RuntimeError(f"{path}: the sequence produced no events ({spec})")
        write_v2e_h5(path, events)
        counts.append(int(events.shape[0]))

    write_folds_csv(directory / "folds.csv", fold_rows(params, specs))
    _write_metadata(directory, params, specs, counts)
    log.info("%s: %d sequences, %d events in %s", NAME, len(specs), sum(counts), directory)
    return root


def _write_metadata(directory: Path, params: Mapping[str, Any], specs: list[SequenceSpec],
                    counts: list[int]) -> None:
    """Write ``metadata.csv`` (:data:`METADATA_COLUMNS`), then the complete manifest."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(METADATA_COLUMNS)
    for s, n in zip(specs, counts, strict=True):
        v, a = sequence_va(s, params["n_frames"], params["seed"])
        writer.writerow([s.subject, s.sequence, s.label + 1, SYNTHETIC_CLASSES[s.label], s.take,
                         s.lighting, f"{s.amplitude:.4f}", s.onset_frame, s.apex_frame,
                         s.blink_frame, n, f"{v:.4f}", f"{a:.4f}"])
    atomic_write_text(directory / METADATA_FILE, buf.getvalue())
    done = _manifest(params, complete=True, n_sequences=len(specs), n_events=int(sum(counts)))
    atomic_write_text(directory / MANIFEST_FILE, json.dumps(done, indent=2, sort_keys=True) + "\n")


def _upgrade_metadata(directory: Path, params: Mapping[str, Any], specs: list[SequenceSpec],
                      old: Mapping[str, Any]) -> bool:
    """Rewrite ``metadata.csv`` and the manifest of a complete tree whose metadata is of an older
    :data:`METADATA_VERSION` (no valence/arousal). The event counts come from the old
    ``metadata.csv`` when it lists every sequence (else from the event files, read, never
    written). Returns whether anything was rewritten."""
    if int(old.get("metadata_version", 1)) >= METADATA_VERSION:
        return False
    counts: dict[tuple[str, str], int] = {}
    try:
        with open(directory / METADATA_FILE, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                counts[(row["subject"], row["sequence"])] = int(row["n_events"])
    except (OSError, KeyError, ValueError) as exc:
        log.warning("%s: old metadata unreadable (%s); counting events from the files",
                    directory / METADATA_FILE, exc)
        counts = {}
    sensor = (params["size"], params["size"], 2)
    n = [counts[(s.subject, s.sequence)] if (s.subject, s.sequence) in counts
         else int(read_v2e_h5(directory / s.subject / f"{s.sequence}.h5", sensor).shape[0])
         for s in specs]
    _write_metadata(directory, params, specs, n)
    log.info("%s: metadata of %s upgraded to version %d (valence, arousal); event files "
             "untouched", NAME, directory, METADATA_VERSION)
    return True


METADATA_COLUMNS = ("subject", "sequence", "label", "class", "take", "lighting", "amplitude",
                    "onset_frame", "apex_frame", "blink_frame", "n_events", "valence", "arousal")
"""Columns of ``metadata.csv`` (comma-separated, header row, LF line ends); ``label`` is 1-based
as in ``folds.csv``; ``valence`` and ``arousal`` (4 decimals, in [-1, 1]; :func:`sequence_va`)
since :data:`METADATA_VERSION` 2."""

VA_COLUMNS = ("valence", "arousal")
_REQUIRED_METADATA = tuple(c for c in METADATA_COLUMNS if c not in VA_COLUMNS)


def ensure_synthetic_fer_dvs(data_root: str | os.PathLike, **params: Any) -> Path:
    """Make sure ``synthetic-fer-dvs`` with ``params`` exists under ``data_root``; generate it if
    not (see :func:`generate_synthetic_fer_dvs` for the parameters and the caching rules).

    Returns:
        ``data_root`` as a Path: the dataset root to pass to :class:`SyntheticFerDVS`.

    Raises:
        TypeError: an unknown parameter (the message lists the known ones). ValueError: a value
        out of range.
    """
    _params(**{k: v for k, v in params.items() if k not in ("progress", "folder")})  # typo check
    return generate_synthetic_fer_dvs(data_root, **params)


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


def spec_dict(spec: SequenceSpec) -> dict[str, Any]:
    """A JSON-serialisable view of a spec (for logs and debugging)."""
    return asdict(spec)


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
