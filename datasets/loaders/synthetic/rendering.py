"""Drawing the cartoon faces (expression over time, blinks, head motion) and lighting the scene,
in linear light."""

from __future__ import annotations

import math

import numpy as np

from datasets.base import (
    LIGHTING_CONDITIONS,
)
from datasets.loaders.synthetic.identities import (
    AU_NAMES,
    EXPRESSION_APEX,
    EXPRESSION_PX,
    FPS,
    SYNTHETIC_CLASSES,
    Identity,
    SequenceSpec,
)

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


