"""Face standardization of a video sequence, the Spiking-FER recipe (before video-to-events).

Spiking-FER (Barchid et al., "Spiking-Fer: Spiking Neural Network for Facial Expression Recognition
With Event Cameras", CBMI 2023; README of ``Barchid/spiking-fer``, section "Standardization of
frames") standardizes every frame of a sequence in four steps, which this module implements:

1. **68 facial landmarks** per frame: dlib's HOG frontal face detector
   (``dlib.get_frontal_face_detector``) and its 68-point shape predictor (Kazemi & Sullivan, "One
   Millisecond Face Alignment with an Ensemble of Regression Trees", CVPR 2014), model file
   ``shape_predictor_68_face_landmarks.dat`` from the ``face_recognition_models`` package. Points
   follow the iBUG 300-W markup (0-based): 0-16 jaw, 17-26 eyebrows, 27-30 nose bridge (27 at the
   top, between the eyes; 30 the nose tip), 31-35 lower nose (33 its centre, the subnasale),
   36-41 the subject's right eye (image left), 42-47 the left eye, 48-67 mouth.
2. **Head-pose correction**: every frame is warped so that its landmarks match those of the first
   frame. The warp is the least-squares similarity transform (rotation, uniform scale, translation;
   Umeyama, "Least-squares estimation of transformation parameters between two point patterns",
   IEEE TPAMI 13(4), 1991, eqs. 40-42) from the frame's landmarks to the first frame's, fitted on
   the expression-stable points :data:`ALIGN_INDICES` (nose and eye corners), so that mouth and
   eyebrow motion - the expression itself - is not "corrected" away.
3. **Crop from facial proportions**, centred on the nose (landmark :data:`NOSE_CENTRE_INDEX`, the
   nose tip) of the first frame, sized from two lengths measured on the first frame's landmarks:

   * ``nose = |p27 - p33|``: nose length, top of the nose bridge (nasion) to the base of the nose
     (subnasale), pixels;
   * ``eyes = |mean(p36..p41) - mean(p42..p47)|``: distance between the two eye centres, pixels.

   The README says "height of the crop is 2 x 2/3 nose" and "width of the crop is 2 x 2/3 eyes".
   It names neither the landmarks of "the length of the nose" and "the distance between the eyes"
   nor the exact nose landmark (the definitions above are ours), and there is no reference code
   (the repository has none for this step). Read as the *full* height and width, the box is
   ``1.33 nose`` tall: on the public-domain test photos it spans from just below the eyes to the
   upper lip (astronaut.png: nose 32 px, eyebrows 40 px above the nose tip, chin 51 px below it;
   the box keeps 21 px either side), which contradicts the README's aim "to only keep the face".
   We therefore read ``2 x 2/3 x nose`` as the extent on *each side* of the centre: by default the
   box is ``cx +- (4/3) eyes`` by ``cy +- (4/3) nose``, i.e. width ``(8/3) eyes`` and height
   ``(8/3) nose`` (:class:`CropSpec` defaults), which on both test photos keeps the face from the
   eyebrows to just above the chin tip (8-10 px of chin are cut) and from cheek to cheek. ``CropSpec(height_factor=4/3, width_factor=4/3)`` gives the literal reading.
   The crop box is measured once, on the first frame, and reused for every (pose-corrected) frame,
   so the output has no crop jitter. The box is generally not square; the resize stretches it.
4. **Resize** the crop to 200x200 (bilinear). Steps 2-4 are one resampling: each output pixel is
   mapped back through the resize, the crop and the inverse pose correction into the source frame
   (``scipy.ndimage.affine_transform``, order 1, border pixels replicated so that the border of a
   rotated frame does not create artificial edges, hence no artificial events).

Frames are converted to grey levels (ITU-R BT.601 luma, PIL's ``"L"`` mode, the conversion OpenCV's
``COLOR_BGR2GRAY`` and therefore v2e apply) before detection; the output is ``uint8`` grey.

**No face in a frame**: the last landmarks found are reused (logged; counted in
:attr:`StandardizedSequence.reused_landmarks`). No face in the **first** frame is an error
(:class:`FaceNotFoundError`, naming the frame), since the reference pose and the crop come from it.

**Licence of the landmark model.** ``face_recognition_models`` (0.3.0) declares the MIT licence in
its metadata and ships a CC0 ``LICENSE``, stating the models are Davis King's and public domain.
But ``shape_predictor_68_face_landmarks.dat`` was trained on the iBUG 300-W dataset, and dlib's
model page (``davisking/dlib-models`` README) states that the dataset's licence excludes commercial
use and, at the request of one of its creators, that the trained model therefore cannot be used in
a commercial product. Treat the landmarks (and the model) as non-commercial / research-only. dlib
itself (``dlib-bin``) is under the Boost Software License.

dlib is imported lazily (inside :class:`LandmarkDetector`), so this module imports without the
``convert`` extra; only detection needs it.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasets.common import InputError

log = logging.getLogger(__name__)

N_LANDMARKS = 68
"""Points of the iBUG 300-W markup predicted by dlib's 68-point shape predictor."""

LANDMARK_MODEL_PACKAGE = "face_recognition_models"
LANDMARK_MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
"""The 68-point model, at ``face_recognition_models/models/`` (package 0.3.0)."""

NOSE_TOP_INDEX = 27
"""Top of the nose bridge (nasion, between the eyes), iBUG 300-W markup, 0-based."""
NOSE_TIP_INDEX = 30
"""Tip of the nose (pronasale), iBUG 300-W markup, 0-based."""
NOSE_BASE_INDEX = 33
"""Centre of the base of the nose (subnasale), iBUG 300-W markup, 0-based."""
NOSE_CENTRE_INDEX = NOSE_TIP_INDEX
"""Landmark the crop is centred on ("the facial landmark that corresponds to the nose")."""
RIGHT_EYE_INDICES = tuple(range(36, 42))
"""The subject's right eye (left in the image), 6 points, iBUG 300-W markup."""
LEFT_EYE_INDICES = tuple(range(42, 48))
"""The subject's left eye (right in the image), 6 points, iBUG 300-W markup."""
ALIGN_INDICES = (27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45)
"""Points fitted by the head-pose correction: the nose (27-35) and the four eye corners (36, 39,
42, 45), which expressions move little, unlike the mouth, the eyebrows and the eyelids."""

OUTPUT_SIZE = (200, 200)
"""``(W, H)`` of the standardized frames (Spiking-FER README, step 4; v2e ``--output_width=200
--output_height=200``)."""


class StandardizeError(InputError, ValueError):
    """A frame or sequence cannot be standardized; the message names the frame or file."""


class FaceNotFoundError(StandardizeError):
    """No face was found in the first frame of a sequence (the message names the frame)."""


class LandmarkModelMissingError(ImportError):
    """dlib or the 68-point model (the ``convert`` extra) is not installed."""


def landmark_model_path() -> Path:
    """Path of ``shape_predictor_68_face_landmarks.dat`` inside the installed
    ``face_recognition_models`` package.

    Located with :func:`importlib.util.find_spec` (the package's own helper needs
    ``pkg_resources``, absent from recent setuptools). See the module docstring for its licence.

    Raises:
        LandmarkModelMissingError: the package is not installed or lacks the model file.
    """
    spec = importlib.util.find_spec(LANDMARK_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LandmarkModelMissingError(
            f"package '{LANDMARK_MODEL_PACKAGE}' (which ships {LANDMARK_MODEL_FILE}) is not "
            "installed; install the convert extra: pip install -e '.[convert]'"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "models" / LANDMARK_MODEL_FILE
        if path.is_file():
            return path
    raise LandmarkModelMissingError(
        f"{LANDMARK_MODEL_FILE} not found under {list(spec.submodule_search_locations)}/models; "
        f"reinstall '{LANDMARK_MODEL_PACKAGE}'"
    )


def to_gray(frame: np.ndarray, *, source: str = "<frame>") -> np.ndarray:
    """Grey levels of a frame: ITU-R BT.601 luma ``(299 R + 587 G + 114 B) / 1000``, rounded.

    Args:
        frame: ``(H, W)`` grey or ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA (alpha ignored); uint8,
            or float in ``[0, 1]``.
        source: frame name for messages.

    Returns:
        ``(H, W)`` uint8.

    Raises:
        StandardizeError: unsupported shape or dtype, or float values outside ``[0, 1]``.
    """
    a = np.asarray(frame)
    if a.dtype.kind == "f":
        if a.size and (np.nanmin(a) < 0.0 or np.nanmax(a) > 1.0 or np.isnan(a).any()):
            raise StandardizeError(f"{source}: float frame values must lie in [0, 1]")
        a = np.round(a * 255.0).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise StandardizeError(f"{source}: frame dtype must be uint8 or float, got {a.dtype}")
    if a.ndim == 2:
        return a
    if a.ndim == 3 and a.shape[2] in (3, 4):
        rgb = a[..., :3].astype(np.uint32)
        luma = (rgb[..., 0] * 299 + rgb[..., 1] * 587 + rgb[..., 2] * 114 + 500) // 1000
        return luma.astype(np.uint8)
    raise StandardizeError(
        f"{source}: frame shape must be (H, W), (H, W, 3) or (H, W, 4), got {a.shape}"
    )


@dataclass(frozen=True)
class FaceDetection:
    """One detected face.

    Attributes:
        landmarks: ``(68, 2)`` float64 ``(x, y)`` pixel indices, iBUG 300-W markup.
        box: detector box ``(left, top, right, bottom)``, pixels (dlib rectangle, inclusive).
        score: HOG detector score (higher is more confident).
    """

    landmarks: np.ndarray
    box: tuple[int, int, int, int]
    score: float


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two inclusive pixel boxes ``(left, top, right, bottom)``."""
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return inter / (area - inter)


class LandmarkDetector:
    """dlib's frontal face detector + 68-point shape predictor (loaded on first use).

    Args:
        upsample_times: most image upsamplings of the HOG detector (dlib's
            ``detector.run(img, n)``). The detector runs with 0 upsamplings first (faces from
            ~80 px wide; ~35 ms on a 512x512 frame here) and only where that finds no suitable
            face retries with 1, 2, ... up to ``upsample_times`` (1: faces from ~40 px, ~140 ms).
        model_path: the 68-point model file; default :func:`landmark_model_path`.

    Which face is kept, when the detector returns several (false positives happen, e.g. on
    round badges): without ``near``, the highest detector score; with ``near`` (the previous
    frame's box), the box overlapping it most (largest IoU), and none if no box overlaps it -
    a face does not jump across the frame between two video frames.

    Raises (on first call):
        LandmarkModelMissingError: dlib or the model is not installed.
    """

    def __init__(self, upsample_times: int = 1, model_path: str | Path | None = None):
        if upsample_times < 0:
            raise ValueError(f"upsample_times must be >= 0, got {upsample_times}")
        self.upsample_times = int(upsample_times)
        self.model_path = Path(model_path) if model_path is not None else None
        self._detector = None
        self._predictor = None

    def load(self) -> None:
        """Import dlib and load the detector and the 68-point model (done on first use).

        Raises:
            LandmarkModelMissingError: dlib or the model is not installed.
        """
        if self._predictor is not None:
            return
        try:
            import dlib
        except ImportError as exc:
            raise LandmarkModelMissingError(
                f"dlib is not installed ({exc}); install the convert extra: "
                "pip install -e '.[convert]'"
            ) from exc
        path = self.model_path or landmark_model_path()
        if not path.is_file():
            raise LandmarkModelMissingError(f"{path}: landmark model file not found")
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(path))
        log.debug("loaded dlib %s, landmark model %s", dlib.__version__, path)

    def detect(
        self, gray: np.ndarray, near: tuple[int, int, int, int] | None = None
    ) -> FaceDetection | None:
        """Landmarks of one face in a grey ``(H, W)`` uint8 frame, or ``None`` if none is found.

        Args:
            gray: the frame.
            near: box ``(left, top, right, bottom)`` of the face in the previous frame, or None.
        """
        if self._predictor is None:
            self.load()
        img = np.ascontiguousarray(gray, dtype=np.uint8)
        for upsample in range(self.upsample_times + 1):
            rects, scores, _ = self._detector.run(img, upsample, 0.0)
            if len(rects) == 0:
                continue
            boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
            if near is None:
                best = int(np.argmax(scores))
                break
            ious = [box_iou(b, near) for b in boxes]
            best = int(np.argmax(ious))
            if ious[best] > 0.0:
                break
        else:
            return None
        shape = self._predictor(img, rects[best])
        lm = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        return FaceDetection(lm, boxes[best], float(scores[best]))

    def __call__(self, gray: np.ndarray) -> np.ndarray | None:
        """``(68, 2)`` landmarks of the highest-scoring face in ``gray``, or ``None``."""
        det = self.detect(gray)
        return None if det is None else det.landmarks


def _check_landmarks(lm: np.ndarray) -> np.ndarray:
    lm = np.asarray(lm, dtype=np.float64)
    if lm.shape != (N_LANDMARKS, 2):
        raise ValueError(f"landmarks must have shape ({N_LANDMARKS}, 2), got {lm.shape}")
    return lm


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(x, y)`` of the subject's right eye (mean of points 36-41) and left eye (42-47).

    Args:
        landmarks: ``(68, 2)``, iBUG 300-W markup, pixels.
    """
    lm = _check_landmarks(landmarks)
    return lm[list(RIGHT_EYE_INDICES)].mean(axis=0), lm[list(LEFT_EYE_INDICES)].mean(axis=0)


def eye_distance(landmarks: np.ndarray) -> float:
    """Distance between the eye centres (see :func:`eye_centres`), pixels."""
    right, left = eye_centres(landmarks)
    return float(np.linalg.norm(left - right))


def nose_length(landmarks: np.ndarray) -> float:
    """Nose length ``|p27 - p33|`` (nasion to subnasale), pixels."""
    lm = _check_landmarks(landmarks)
    return float(np.linalg.norm(lm[NOSE_BASE_INDEX] - lm[NOSE_TOP_INDEX]))


@dataclass(frozen=True)
class CropSpec:
    """Parameters of the standardization (defaults: the Spiking-FER README recipe).

    Attributes:
        output_size: ``(W, H)`` of the output frames, pixels (README step 4: 200x200).
        height_factor: crop height = ``height_factor * nose_length``. Default ``8/3``: the
            README's ``2 x 2/3 x nose`` on each side of the nose (see the module docstring;
            ``4/3`` is the literal full-height reading).
        width_factor: crop width = ``width_factor * eye_distance``; default ``8/3``, likewise.
        centre_index: landmark the crop is centred on (nose tip, 30).
        align_indices: landmarks fitted by the head-pose correction; ``None`` uses all 68.
        with_scale: fit a similarity (rotation + uniform scale + translation), which also undoes
            a head moving towards or away from the camera; ``False`` fits a rigid motion
            (rotation + translation, the README's "rotation of the frame").
    """

    output_size: tuple[int, int] = OUTPUT_SIZE
    height_factor: float = 2.0 * 2.0 * 2.0 / 3.0
    width_factor: float = 2.0 * 2.0 * 2.0 / 3.0
    centre_index: int = NOSE_CENTRE_INDEX
    align_indices: tuple[int, ...] | None = ALIGN_INDICES
    with_scale: bool = True

    def __post_init__(self) -> None:
        w, h = self.output_size
        if w < 1 or h < 1:
            raise ValueError(f"CropSpec.output_size must be positive, got {self.output_size}")
        for name in ("height_factor", "width_factor"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"CropSpec.{name} must be > 0, got {value}")
        if not 0 <= self.centre_index < N_LANDMARKS:
            raise ValueError(f"CropSpec.centre_index must be in 0..67, got {self.centre_index}")
        if self.align_indices is not None:
            bad = [i for i in self.align_indices if not 0 <= i < N_LANDMARKS]
            if bad or len(set(self.align_indices)) < 2:
                raise ValueError(
                    "CropSpec.align_indices must name >= 2 distinct landmarks in 0..67, "
                    f"got {self.align_indices}"
                )


def crop_box(landmarks: np.ndarray, spec: CropSpec = CropSpec()) -> tuple[float, float, float, float]:
    """Crop box ``(cx, cy, width, height)`` in pixels from the landmarks (see module docstring).

    ``(cx, cy)`` is landmark ``spec.centre_index``; ``height = spec.height_factor *``
    :func:`nose_length`; ``width = spec.width_factor *`` :func:`eye_distance`.

    Raises:
        StandardizeError: the nose length or the eye distance is below one pixel (degenerate
            landmarks).
    """
    lm = _check_landmarks(landmarks)
    nose, eyes = nose_length(lm), eye_distance(lm)
    if nose < 1.0 or eyes < 1.0:
        raise StandardizeError(
            f"degenerate landmarks: nose length {nose:.2f} px, eye distance {eyes:.2f} px"
        )
    cx, cy = lm[spec.centre_index]
    return float(cx), float(cy), spec.width_factor * eyes, spec.height_factor * nose


def estimate_similarity(src: np.ndarray, dst: np.ndarray, *, with_scale: bool = True) -> np.ndarray:
    """Least-squares similarity transform mapping ``src`` points onto ``dst`` points.

    Umeyama (IEEE TPAMI 1991), eqs. 40-42: with centred points ``S``, ``D`` and the SVD
    ``U diag(d) V^T = D^T S / n``, ``R = U C V^T`` where ``C = diag(1, sign(det U det V))``
    (a proper rotation, no reflection), ``s = trace(diag(d) C) / var(S)`` (``s = 1`` when
    ``with_scale`` is False) and ``t = mean(dst) - s R mean(src)``.

    Args:
        src, dst: ``(N, 2)`` points ``(x, y)``, ``N >= 2``.
        with_scale: fit the scale (similarity) or keep it 1 (rigid motion).

    Returns:
        ``(3, 3)`` homogeneous matrix ``M`` with ``dst ~ (M @ [x, y, 1]^T)[:2]``.

    Raises:
        ValueError: shapes differ, fewer than 2 points, or the source points coincide.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError(f"src and dst must both be (N>=2, 2), got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s_c, d_c = src - mu_s, dst - mu_d
    var_s = float((s_c**2).sum(axis=1).mean())
    if var_s <= 1e-12:
        raise ValueError("the source points coincide; no transform can be estimated")
    cov = d_c.T @ s_c / src.shape[0]
    u, d, vt = np.linalg.svd(cov)
    c = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        c[1, 1] = -1.0
    rot = u @ c @ vt
    scale = float(np.trace(np.diag(d) @ c) / var_s) if with_scale else 1.0
    m = np.eye(3)
    m[:2, :2] = scale * rot
    m[:2, 2] = mu_d - scale * rot @ mu_s
    return m


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a ``(3, 3)`` homogeneous affine ``matrix`` to ``(N, 2)`` points; returns ``(N, 2)``."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:2, :2].T + matrix[:2, 2]


def crop_to_source_matrix(
    box: tuple[float, float, float, float], output_size: tuple[int, int]
) -> np.ndarray:
    """``(3, 3)`` matrix mapping output pixel indices ``(u, v)`` to reference-frame pixel indices.

    Pixel ``(u, v)`` of a ``(W, H)`` output covers ``[u, u+1)`` in continuous coordinates; its
    centre maps to ``x = cx - w/2 + (u + 1/2) w / W`` (and likewise ``y``), so the output tiles
    the box ``[cx - w/2, cx + w/2] x [cy - h/2, cy + h/2]`` exactly.
    """
    cx, cy, w, h = box
    out_w, out_h = output_size
    sx, sy = w / out_w, h / out_h
    m = np.eye(3)
    m[0, 0], m[1, 1] = sx, sy
    m[0, 2] = cx - w / 2.0 + 0.5 * sx
    m[1, 2] = cy - h / 2.0 + 0.5 * sy
    return m


def warp_frame(gray: np.ndarray, out_to_src: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """Resample a grey frame: output pixel ``(u, v)`` takes the source value at
    ``out_to_src @ [u, v, 1]`` (bilinear; outside the frame, the nearest border pixel).

    Args:
        gray: ``(H, W)`` uint8 source frame.
        out_to_src: ``(3, 3)`` affine matrix from output to source pixel indices ``(x, y)``.
        output_size: ``(W_out, H_out)``.

    Returns:
        ``(H_out, W_out)`` uint8.
    """
    from scipy.ndimage import affine_transform

    # scipy indexes (row, col) = (y, x): swap the axes of the matrix.
    perm = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=np.float64)
    m_yx = perm @ out_to_src @ perm
    out_w, out_h = output_size
    res = affine_transform(
        np.asarray(gray, dtype=np.float32),
        m_yx[:2, :2],
        offset=m_yx[:2, 2],
        output_shape=(out_h, out_w),
        order=1,
        mode="nearest",
    )
    return np.clip(np.rint(res), 0, 255).astype(np.uint8)


@dataclass
class StandardizedSequence:
    """Result of :func:`standardize_sequence`.

    Attributes:
        frames: ``(N, H_out, W_out)`` uint8 standardized grey frames.
        landmarks: ``(N, 68, 2)`` float64 landmarks in each source frame's pixels (for frames
            without a face, the reused landmarks).
        transforms: ``(N, 3, 3)`` pose corrections, source frame ``i`` -> first frame pixels.
        box: crop box ``(cx, cy, width, height)`` in first-frame pixels.
        source_size: ``(W, H)`` of the source frames.
        reused_landmarks: indices of the frames where no face was found and the previous
            landmarks were reused.
        source: name of the sequence (file or folder) for messages.
    """

    frames: np.ndarray
    landmarks: np.ndarray
    transforms: np.ndarray
    box: tuple[float, float, float, float]
    source_size: tuple[int, int]
    reused_landmarks: list[int] = field(default_factory=list)
    source: str = "<frames>"

    @property
    def output_to_source(self) -> np.ndarray:
        """``(N, 3, 3)``: output pixel indices -> source frame ``i`` pixel indices."""
        w_out, h_out = self.frames.shape[2], self.frames.shape[1]
        c = crop_to_source_matrix(self.box, (w_out, h_out))
        return np.stack([np.linalg.inv(t) @ c for t in self.transforms])


def standardize_sequence(
    frames: Iterable[np.ndarray | tuple[str, np.ndarray]],
    spec: CropSpec = CropSpec(),
    *,
    detector: LandmarkDetector | None = None,
    source: str = "<frames>",
) -> StandardizedSequence:
    """Standardize a sequence of frames (Spiking-FER recipe; see the module docstring).

    Args:
        frames: the frames in temporal order, each ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``
            (uint8, or float in ``[0, 1]``), all of the same ``(H, W)``; or ``(name, frame)``
            pairs, whose names appear in messages. Consumed once (an iterator is fine).
        spec: crop and alignment parameters.
        detector: landmark detector (default: a new :class:`LandmarkDetector`). In the first
            frame the highest-scoring face is taken; in later frames the face whose box overlaps
            the previous frame's face box most (a frame where no box overlaps it counts as a
            frame without a face).
        source: name of the sequence for messages.

    Returns:
        A :class:`StandardizedSequence` with ``N`` frames of ``spec.output_size``.

    Raises:
        StandardizeError: no frames, frames of different sizes, or bad frame shape/dtype.
        FaceNotFoundError: no face in the first frame (message names it).
        LandmarkModelMissingError: dlib or the model is not installed.
    """
    detector = detector or LandmarkDetector()
    idx = list(spec.align_indices) if spec.align_indices is not None else list(range(N_LANDMARKS))
    out_frames: list[np.ndarray] = []
    all_lm: list[np.ndarray] = []
    transforms: list[np.ndarray] = []
    reused: list[int] = []
    ref_lm: np.ndarray | None = None
    last_lm: np.ndarray | None = None
    last_box: tuple[int, int, int, int] | None = None
    crop_m: np.ndarray | None = None
    box: tuple[float, float, float, float] | None = None
    size: tuple[int, int] | None = None
    for i, item in enumerate(frames):
        name, frame = item if isinstance(item, tuple) else (f"{source}[frame {i}]", item)
        gray = to_gray(frame, source=name)
        hw = (gray.shape[1], gray.shape[0])
        if size is None:
            size = hw
        elif hw != size:
            raise StandardizeError(
                f"{name}: frame size {hw[0]}x{hw[1]} differs from the first frame's "
                f"{size[0]}x{size[1]} in {source}"
            )
        det = detector.detect(gray, near=last_box)
        lm = None if det is None else det.landmarks
        if det is not None:
            last_box = det.box
        if lm is None:
            if last_lm is None:
                raise FaceNotFoundError(
                    f"{name}: no face found in the first frame of {source}; the first frame "
                    "defines the reference pose and the crop, so the sequence cannot be "
                    "standardized"
                )
            log.info("%s: no face found, reusing the landmarks of the previous frame", name)
            reused.append(i)
            lm = last_lm
        if ref_lm is None:
            ref_lm = lm
            box = crop_box(lm, spec)
            crop_m = crop_to_source_matrix(box, spec.output_size)
            t = np.eye(3)
        else:
            t = estimate_similarity(lm[idx], ref_lm[idx], with_scale=spec.with_scale)
        out_frames.append(warp_frame(gray, np.linalg.inv(t) @ crop_m, spec.output_size))
        all_lm.append(lm)
        transforms.append(t)
        last_lm = lm
    if not out_frames:
        raise StandardizeError(f"{source}: the sequence has no frames")
    if reused:
        log.warning(
            "%s: no face in %d of %d frames (frames %s); their landmarks were reused from the "
            "previous frame",
            source, len(reused), len(out_frames), _short_list(reused),
        )
    return StandardizedSequence(
        frames=np.stack(out_frames),
        landmarks=np.stack(all_lm),
        transforms=np.stack(transforms),
        box=box,
        source_size=size,
        reused_landmarks=reused,
        source=source,
    )


def _short_list(items: Sequence[int], n: int = 10) -> str:
    s = ", ".join(str(i) for i in items[:n])
    return s + (f", ... ({len(items)} in all)" if len(items) > n else "")
