"""Tests of datasets.conversion.standardize: geometry helpers (pure numpy) and the dlib-based recipe.

The recipe tests use the public-domain photos of ``../shared/real/faces`` (astronaut.png,
grace_hopper_512x512.jpg) and need the ``convert`` extra (dlib-bin, face_recognition_models);
they skip with the reason otherwise. A short "video" is made from a photo by a known synthetic
head motion (rotation about the nose tip plus translation, per frame).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest

from datasets.conversion.standardize import (
    ALIGN_INDICES,
    CropSpec,
    FaceNotFoundError,
    StandardizeError,
    apply_transform,
    box_iou,
    crop_to_source_matrix,
    estimate_similarity,
    eye_distance,
    nose_length,
    to_gray,
    warp_frame,
)

FACES = Path(__file__).resolve().parents[2] / "shared" / "real" / "faces"
ASTRONAUT = FACES / "astronaut.png"
HOPPER = FACES / "grace_hopper_512x512.jpg"

_HAVE_DLIB = importlib.util.find_spec("dlib") is not None
_HAVE_MODEL = importlib.util.find_spec("face_recognition_models") is not None
needs_faces = pytest.mark.skipif(
    not ASTRONAUT.is_file() or not HOPPER.is_file(),
    reason=f"public-domain face photos not found in {FACES} (../shared/real is absent)",
)
needs_dlib = pytest.mark.skipif(
    not (_HAVE_DLIB and _HAVE_MODEL),
    reason="dlib / face_recognition_models not installed (pip install -e '.[convert]')",
)


# ------------------------------------------------------------------------------- pure helpers


def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    m = np.eye(3)
    m[:2, :2] = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m[:2, 2] = (tx, ty)
    return m


def test_estimate_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, size=(13, 2))
    truth = _similarity(7.0, 1.1, 12.5, -3.0)
    dst = src @ truth[:2, :2].T + truth[:2, 2]
    np.testing.assert_allclose(estimate_similarity(src, dst), truth, atol=1e-9)
    rigid = estimate_similarity(src, dst, with_scale=False)
    np.testing.assert_allclose(np.linalg.det(rigid[:2, :2]), 1.0, atol=1e-12)  # rotation only


def test_estimate_similarity_never_reflects():
    src = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 5.0], [7.0, 3.0]])
    dst = src * np.array([-1.0, 1.0])  # a mirror image: the best *proper* rotation is returned
    m = estimate_similarity(src, dst)
    assert np.linalg.det(m[:2, :2]) > 0


def test_estimate_similarity_rejects_bad_input():
    with pytest.raises(ValueError, match="coincide"):
        estimate_similarity(np.ones((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(N>=2, 2\)"):
        estimate_similarity(np.zeros((3, 2)), np.zeros((4, 2)))


def test_crop_to_source_matrix_tiles_the_box():
    # box centred at (100, 50), 40 x 20 px, onto 200 x 200: one output pixel = 0.2 x 0.1 px.
    m = crop_to_source_matrix((100.0, 50.0, 40.0, 20.0), (200, 200))
    corners = apply_transform(m, np.array([[0.0, 0.0], [199.0, 199.0]]))
    # output pixel 0's centre is 0.5 output px = 0.1 source px inside the left edge x = 80.
    np.testing.assert_allclose(corners, [[80.1, 40.05], [119.9, 59.95]])


def test_warp_frame_integer_shift_is_exact():
    img = np.arange(64 * 48, dtype=np.int64).reshape(48, 64) % 251
    img = img.astype(np.uint8)
    shift = np.eye(3)
    shift[:2, 2] = (5, 3)  # output (u, v) samples source (u + 5, v + 3)
    out = warp_frame(img, shift, (20, 10))
    np.testing.assert_array_equal(out, img[3:13, 5:25])


def test_to_gray_matches_pil_luma():
    from PIL import Image

    rgb = np.random.default_rng(1).integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(to_gray(rgb), expected)
    np.testing.assert_array_equal(to_gray(rgb[..., 0]), rgb[..., 0])
    with pytest.raises(StandardizeError, match=r"clip\.png: frame shape"):
        to_gray(np.zeros((4, 4, 2), np.uint8), source="clip.png")
    with pytest.raises(StandardizeError, match=r"\[0, 1\]"):
        to_gray(np.full((4, 4), 2.0))


def test_facial_lengths_on_hand_made_landmarks():
    lm = np.zeros((68, 2))
    lm[27] = (50, 40)
    lm[33] = (50, 70)  # nose 30 px
    lm[36:42] = (30, 45)
    lm[42:48] = (74, 45)  # eye centres 44 px apart
    assert nose_length(lm) == pytest.approx(30.0)
    assert eye_distance(lm) == pytest.approx(44.0)


def test_box_iou():
    assert box_iou((0, 0, 9, 9), (0, 0, 9, 9)) == 1.0
    assert box_iou((0, 0, 9, 9), (10, 10, 19, 19)) == 0.0
    assert box_iou((0, 0, 9, 9), (5, 0, 14, 9)) == pytest.approx(50 / 150)


def test_cropspec_validation():
    with pytest.raises(ValueError, match="height_factor"):
        CropSpec(height_factor=0)
    with pytest.raises(ValueError, match="align_indices"):
        CropSpec(align_indices=(3, 70))


# ------------------------------------------------------------------------------ dlib recipe


def _gray(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("L"))


def _moving_head(photo: np.ndarray, centre, n: int, deg: float, dx: float, dy: float):
    """Frames of ``photo`` moved by frame-k motion ``M_k`` (rotation ``k * deg`` about ``centre``
    and translation ``k * (dx, dy)``); returns ``(frames, [M_k])`` with ``M_k``: photo -> frame."""
    frames, motions = [], []
    c = np.asarray(centre, dtype=np.float64)
    for k in range(n):
        m = _similarity(k * deg, 1.0, 0.0, 0.0)
        m[:2, 2] = c - m[:2, :2] @ c + (k * dx, k * dy)
        frames.append(warp_frame(photo, np.linalg.inv(m), (photo.shape[1], photo.shape[0])))
        motions.append(m)
    return frames, motions


@pytest.fixture(scope="module")
def detector():
    from datasets.conversion.standardize import LandmarkDetector

    return LandmarkDetector()


@needs_faces
@needs_dlib
def test_landmark_model_is_found():
    from datasets.conversion.standardize import LANDMARK_MODEL_FILE, landmark_model_path

    path = landmark_model_path()
    assert path.name == LANDMARK_MODEL_FILE and path.stat().st_size > 50_000_000  # ~99.7 MB


@needs_faces
@needs_dlib
def test_head_motion_is_corrected(detector):
    from datasets.conversion.standardize import standardize_sequence

    photo = _gray(ASTRONAUT)
    lm_photo = detector(photo)
    assert lm_photo is not None
    # 10 frames, 1.5 degrees and (2, -1) px more per frame: up to 13.5 degrees and (18, -9) px.
    frames, motions = _moving_head(photo, lm_photo[30], 10, 1.5, 2.0, -1.0)
    seq = standardize_sequence(frames, detector=detector, source="astronaut-video")
    assert seq.frames.shape == (10, 200, 200) and seq.frames.dtype == np.uint8
    assert seq.reused_landmarks == []

    # (a) against the known motion: correction_k o motion_k must be the identity on the face.
    for k in range(10):
        err = apply_transform(seq.transforms[k] @ motions[k], lm_photo) - lm_photo
        assert np.linalg.norm(err, axis=1).max() < 1.5, f"frame {k}"

    # (b) re-detected on the standardized frames, the landmarks stay where frame 0's are
    # (output pixels; the uncorrected motion moves them by up to ~20 px).
    ref = detector(seq.frames[0])
    assert ref is not None
    for k in range(1, 10):
        lm = detector(seq.frames[k])
        assert lm is not None, f"no face re-detected in standardized frame {k}"
        dist = np.linalg.norm(lm - ref, axis=1)
        assert np.median(dist) <= 2.0, f"frame {k}: median {np.median(dist):.2f} px"
        assert dist[list(ALIGN_INDICES)].mean() <= 3.0, f"frame {k}"
    moved = np.linalg.norm(apply_transform(motions[9], lm_photo) - lm_photo, axis=1)
    assert moved.max() > 20.0  # the test would catch a missing correction


@needs_faces
@needs_dlib
@pytest.mark.parametrize("photo_path", [ASTRONAUT, HOPPER], ids=["astronaut", "hopper"])
def test_crop_follows_facial_proportions(detector, photo_path):
    from PIL import Image

    from datasets.conversion.standardize import standardize_sequence

    photo = _gray(photo_path)
    lm = detector(photo)
    assert lm is not None
    # lengths measured here, independently of the module's helpers
    nose = float(np.hypot(*(lm[33] - lm[27])))
    eyes = float(np.hypot(*(lm[42:48].mean(axis=0) - lm[36:42].mean(axis=0))))
    # default: 2 x 2/3 x length on each side of the nose; then the literal full-size reading
    for spec, factor in ((CropSpec(), 2 * 2 * 2 / 3),
                         (CropSpec(height_factor=4 / 3, width_factor=4 / 3), 4 / 3)):
        seq = standardize_sequence([photo], spec, detector=detector)
        cx, cy, w, h = seq.box
        assert (cx, cy) == (lm[30, 0], lm[30, 1])
        assert h == pytest.approx(factor * nose) and w == pytest.approx(factor * eyes)
        # the frame is that box of the photo resampled to 200x200: compare with PIL's EXTENT
        # transform of the same box (bilinear point sampling; PIL's continuous coordinates put
        # pixel centres at +0.5; PIL truncates where we round, hence differences of 1)
        box = (cx + 0.5 - w / 2, cy + 0.5 - h / 2, cx + 0.5 + w / 2, cy + 0.5 + h / 2)
        ref = Image.fromarray(photo).transform((200, 200), Image.EXTENT, box, Image.BILINEAR)
        diff = np.abs(np.asarray(ref).astype(int) - seq.frames[0].astype(int))
        assert seq.frames.shape == (1, 200, 200)
        assert diff.max() <= 1 and diff.mean() < 0.75  # a 1-px crop offset gives a mean > 5


@needs_faces
@needs_dlib
def test_frames_without_face(detector, caplog):
    from datasets.conversion.standardize import standardize_sequence

    photo = _gray(ASTRONAUT)
    blank = np.full_like(photo, 128)
    with caplog.at_level(logging.WARNING, logger="datasets.conversion.standardize"):
        seq = standardize_sequence(
            [("f0.png", photo), ("f1.png", blank), ("f2.png", photo)], detector=detector,
            source="seq-A",
        )
    assert seq.reused_landmarks == [1]
    np.testing.assert_array_equal(seq.landmarks[1], seq.landmarks[0])
    assert "seq-A: no face in 1 of 3 frames" in caplog.text
    with pytest.raises(FaceNotFoundError, match=r"f0\.png: no face found in the first frame"):
        standardize_sequence([("f0.png", blank), ("f1.png", photo)], detector=detector)
    with pytest.raises(StandardizeError, match="differs from the first frame"):
        standardize_sequence([photo, photo[:100]], detector=detector)
