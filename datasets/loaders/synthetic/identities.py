"""The generator's constants (versions, classes, FACS action units, defaults) and what each
sequence is: a subject's identity, the sequence's specification and lighting, and its valence
and arousal."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from datasets.base import (
    LIGHTING_CONDITIONS,
)
from datasets.folds import SPIKING_FER_CLASSES

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


def spec_dict(spec: SequenceSpec) -> dict[str, Any]:
    """A JSON-serialisable view of a spec (for logs and debugging)."""
    return asdict(spec)

