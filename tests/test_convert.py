"""Tests of datasets.conversion.convert and the ``convert`` subcommand (datasets.convert_cli).

Emulator tests run on synthetic frames (eventcv only). Conversion tests use the public-domain
photos of ``../shared/real/faces`` and the ``convert`` extra (dlib-bin, face_recognition_models,
av); they skip with the reason otherwise. The CK+ batch is tested end to end on a tiny tree in the
CK+ distribution layout made by the test.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from datasets.conversion.convert import (
    CKPLUS_EMOTIONS,
    CKPLUS_TO_SPIKING_FER,
    ConvertError,
    EmulatorParams,
    event_image,
    frames_to_events,
    list_frame_files,
    read_ckplus_emotion,
)
from datasets.folds import SPIKING_FER_CLASSES, read_folds_csv
from datasets.io.events import EVENTS_DTYPE, read_v2e_h5

FACES = Path(__file__).resolve().parents[2] / "shared" / "real" / "faces"
ASTRONAUT = FACES / "astronaut.png"
HOPPER = FACES / "grace_hopper_512x512.jpg"
SENSOR = (200, 200, 2)

needs_faces = pytest.mark.skipif(
    not ASTRONAUT.is_file() or not HOPPER.is_file(),
    reason=f"public-domain face photos not found in {FACES} (../shared/real is absent)",
)
needs_dlib = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None
    or importlib.util.find_spec("face_recognition_models") is None,
    reason="dlib / face_recognition_models not installed (pip install -e '.[convert]')",
)
needs_av = pytest.mark.skipif(
    importlib.util.find_spec("av") is None, reason="PyAV not installed (convert extra)"
)


# ----------------------------------------------------------------------------- no dlib needed


def test_emulator_defaults_are_the_spiking_fer_v2e_command():
    # README of Barchid/spiking-fer: --pos_thres 0.2 --neg_thres 0.2 --sigma_thres 0.02
    # --cutoff_hz 0 --leak_rate_hz 0 --shot_noise_rate_hz 0 --input_frame_rate 30
    kw = EmulatorParams().simulate_kwargs()
    assert {k: kw[k] for k in ("fps", "pos_thres", "neg_thres", "sigma_thres", "cutoff_hz",
                               "leak_rate_hz", "shot_noise_rate_hz")} == {
        "fps": 30.0, "pos_thres": 0.2, "neg_thres": 0.2, "sigma_thres": 0.02,
        "cutoff_hz": 0.0, "leak_rate_hz": 0.0, "shot_noise_rate_hz": 0.0,
    }
    assert "upsample" not in kw  # left to eventcv
    with pytest.raises(ValueError, match="pos_thres must be > 0"):
        EmulatorParams(pos_thres=0)
    with pytest.raises(ValueError, match="upsample"):
        EmulatorParams(upsample="fast")


def test_frames_to_events_polarity_and_time():
    # a bright bar (200) on a dark background (50) moves 4 px right per frame, 30 fps:
    # between frames k-1 and k, columns [4k+4, 4k+8) brighten (ON) and [4k-4, 4k) darken (OFF).
    n, fps = 5, 30.0
    frames = np.full((n, 12, 40), 50, dtype=np.uint8)
    for k in range(n):
        frames[k, :, 4 * k:4 * k + 8] = 200
    ev = frames_to_events(frames, EmulatorParams(fps=fps, sigma_thres=0.0))
    assert ev.dtype == EVENTS_DTYPE and ev.shape[0] > 0
    assert np.all(np.diff(ev["t"]) >= 0)
    dt_us = 1e6 / fps
    assert ev["t"].min() >= 0 and ev["t"].max() <= (n - 1) * dt_us + 1
    on, off = ev[ev["p"] == 1], ev[ev["p"] == 0]
    assert on.size and off.size and on.size + off.size == ev.size
    for k in range(1, n):
        win_on = on[(on["x"] >= 4 * k + 4) & (on["x"] < 4 * k + 8)]
        win_off = off[(off["x"] >= 4 * k - 4) & (off["x"] < 4 * k)]
        for sel in (win_on, win_off):
            assert sel.size, f"no events for the step to frame {k}"
            assert np.all(sel["t"] > (k - 1) * dt_us) and np.all(sel["t"] <= k * dt_us + 1)
    # ON only where the bar arrives, OFF only where it leaves
    assert np.all((on["x"] >= 8) & (on["x"] < 4 * (n - 1) + 8))
    assert np.all(off["x"] < 4 * (n - 1))


def test_frames_to_events_rejects_bad_frames():
    with pytest.raises(ConvertError, match="uint8"):
        frames_to_events(np.zeros((3, 10, 10), np.float32))


def test_event_image_colours():
    ev = np.zeros(3, dtype=EVENTS_DTYPE)
    ev["x"], ev["y"], ev["p"] = (1, 2, 2), (0, 0, 0), (1, 0, 1)
    img = event_image(ev, (4, 1, 2), pct=0)  # full opacity from the smallest non-zero count
    assert img.shape == (1, 4, 3)
    assert tuple(img[0, 0]) == (255, 255, 255)  # no event: white
    assert tuple(img[0, 1]) == (255, 0, 0)  # ON: red
    assert tuple(img[0, 2]) == (128, 0, 128)  # one ON + one OFF: purple


@pytest.mark.parametrize(
    ("text", "code"), [("   3.0000000e+00\n", 3), ("7.0000000e+00", 7), ("0", 0)]
)
def test_read_ckplus_emotion(tmp_path, text, code):
    f = tmp_path / "S005_001_00000011_emotion.txt"
    f.write_text(text)
    assert read_ckplus_emotion(f) == code


@pytest.mark.parametrize(
    ("text", "match"),
    [("2.5", "not an integer in 0..7"), ("8.0", "not an integer in 0..7"), ("", "0 token"),
     ("1 2", "2 token"), ("happy", "not a number")],
)
def test_read_ckplus_emotion_errors(tmp_path, text, match):
    f = tmp_path / "x_emotion.txt"
    f.write_text(text)
    with pytest.raises(ConvertError, match=match) as info:
        read_ckplus_emotion(f)
    assert str(f) in str(info.value)


def test_ckplus_code_mapping_matches_the_class_names():
    # every CK+ emotion with a Spiking-FER class maps onto the class of the same name
    names = {"happy": "happy", "fear": "fear", "surprise": "surprise", "anger": "anger",
             "disgust": "disgust", "sadness": "sadness"}
    expected = {CKPLUS_EMOTIONS.index(ck): SPIKING_FER_CLASSES.index(sf) + 1
                for ck, sf in names.items()}
    assert CKPLUS_TO_SPIKING_FER == expected
    assert expected == {5: 1, 4: 2, 7: 3, 1: 4, 3: 5, 6: 6}  # and by hand
    assert 0 not in CKPLUS_TO_SPIKING_FER and 2 not in CKPLUS_TO_SPIKING_FER


def test_list_frame_files_natural_order(tmp_path):
    for name in ("f10.png", "f2.png", "f1.jpg", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_frame_files(tmp_path)] == ["f1.jpg", "f2.png", "f10.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConvertError, match="empty: no frame images"):
        list_frame_files(tmp_path / "empty")
    with pytest.raises(ConvertError, match="missing: not a folder"):
        list_frame_files(tmp_path / "missing")


# ------------------------------------------------------------------------ conversion (dlib)


def _photo(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("L"))


def _moving_frames(photo: np.ndarray, n: int, deg: float = 1.0, dx: float = 1.5, dy: float = -1.0):
    """``n`` frames of ``photo`` rotated by ``k * deg`` about the image centre and shifted by
    ``k * (dx, dy)`` px (frame k)."""
    from datasets.conversion.standardize import warp_frame

    h, w = photo.shape
    c = np.array([w / 2.0, h / 2.0])
    out = []
    for k in range(n):
        a = np.deg2rad(k * deg)
        m = np.eye(3)
        m[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
        m[:2, 2] = c - m[:2, :2] @ c + (k * dx, k * dy)
        out.append(warp_frame(photo, np.linalg.inv(m), (w, h)))
    return out


def _write_pngs(folder: Path, frames, prefix: str = "frame") -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{prefix}_{i + 1:08d}.png")


def _check_v2e_file(path: Path, n_frames: int, fps: float) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        assert list(f.keys()) == ["events"]
        ds = f["events"]
        assert ds.ndim == 2 and ds.shape[1] == 4 and ds.dtype == np.uint32
        assert ds.compression == "gzip"
    ev = read_v2e_h5(path, SENSOR)
    assert ev.shape[0] > 0
    assert ev["t"].max() <= (n_frames - 1) * 1e6 / fps + 1
    return ev


@pytest.fixture(scope="module")
def detector():
    from datasets.conversion.standardize import LandmarkDetector

    return LandmarkDetector()


@needs_faces
@needs_dlib
def test_convert_frame_folder(tmp_path, detector):
    from PIL import Image

    from datasets.conversion.convert import convert_sequence

    frames = _moving_frames(_photo(ASTRONAUT), 8)
    _write_pngs(tmp_path / "seq", frames)
    res = convert_sequence(
        tmp_path / "seq", tmp_path / "out" / "seq.h5", detector=detector,
        frames_dir=tmp_path / "out" / "seq_frames", preview_path=tmp_path / "out" / "seq.png",
    )
    ev = _check_v2e_file(res.path, 8, 30.0)
    assert (res.n_frames, res.n_events, res.fps) == (8, ev.shape[0], 30.0)
    assert res.n_on == int((ev["p"] == 1).sum()) and res.n_off == int((ev["p"] == 0).sum())
    saved = sorted((tmp_path / "out" / "seq_frames").glob("*.png"))
    assert len(saved) == 8
    with Image.open(saved[0]) as img:
        assert img.size == (200, 200) and img.mode == "L"
    with Image.open(res.preview) as img:
        assert img.size == (3 * 200 + 2 * 4, 200)


@needs_faces
@needs_dlib
@needs_av
def test_convert_video_uses_its_frame_rate(tmp_path, detector):
    import av

    from datasets.conversion.convert import convert_sequence

    frames = _moving_frames(_photo(HOPPER), 8)
    video = tmp_path / "clip.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 512, 512, "yuv420p"
        stream.options = {"crf": "12"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="gray")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    res = convert_sequence(video, tmp_path / "clip.h5", detector=detector)
    assert res.fps == 25.0 and res.n_frames == 8
    _check_v2e_file(res.path, 8, 25.0)
    with pytest.raises(ConvertError, match="cannot open the video"):
        bad = tmp_path / "bad.mp4"
        bad.write_bytes(b"not a video")
        convert_sequence(bad, tmp_path / "bad.h5", detector=detector)


# ----------------------------------------------------------------------------- CK+ batch


def _emotion(root: Path, subject: str, seq: str, code: int) -> None:
    d = root / "Emotion" / subject / seq
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{subject}_{seq}_00000004_emotion.txt").write_text(f"   {code:.7e}\n")


@pytest.fixture(scope="module")
def ckplus_tree(tmp_path_factory):
    """A tiny CK+ distribution: 4 frames per sequence, every case of the batch."""
    root = tmp_path_factory.mktemp("ckplus") / "CK+"
    astro, hopper = _photo(ASTRONAUT), _photo(HOPPER)
    img = root / "cohn-kanade-images"
    _write_pngs(img / "S010" / "001", _moving_frames(astro, 4), "S010_001")
    _emotion(root, "S010", "001", 5)  # happy -> label 1
    _write_pngs(img / "S010" / "002", _moving_frames(astro, 4), "S010_002")
    _emotion(root, "S010", "002", 2)  # contempt: no Spiking-FER class
    _write_pngs(img / "S011" / "001", _moving_frames(hopper, 4), "S011_001")
    _emotion(root, "S011", "001", 7)  # surprise -> label 3
    _write_pngs(img / "S011" / "002", _moving_frames(hopper, 4), "S011_002")  # no emotion file
    (root / "Emotion" / "S011" / "002").mkdir(parents=True)  # CK+ has such empty folders
    _write_pngs(img / "S012" / "001", _moving_frames(astro, 3), "S012_001")
    (img / "S012" / "001" / "S012_001_00000002.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _emotion(root, "S012", "001", 3)  # disgust, but a corrupt frame
    _write_pngs(img / "S012" / "002", [np.full((120, 160), 90, np.uint8)] * 3, "S012_002")
    _emotion(root, "S012", "002", 1)  # anger, but no face
    return root


@needs_faces
@needs_dlib
def test_ckplus_batch_end_to_end(ckplus_tree, tmp_path, detector):
    from datasets.conversion.convert import convert_ckplus

    out = tmp_path / "data"
    s = convert_ckplus(ckplus_tree, out, detector=detector, progress=False)
    d = out / "CKPlusDVS"
    assert s.out_dir == d
    assert sorted(s.converted) == ["S010/001", "S011/001"] and s.existing == []
    assert sorted(p.relative_to(d).as_posix() for p in d.rglob("*.h5")) == [
        "S010/001.h5", "S011/001.h5"]
    for p in d.rglob("*.h5"):
        _check_v2e_file(p, 4, 30.0)
    skipped = dict(s.skipped)
    assert sorted(skipped) == ["S010/002", "S011/002"]
    assert "contempt" in skipped["S010/002"] and "no CK+ emotion file" in skipped["S011/002"]
    failed = dict(s.failed)
    assert sorted(failed) == ["S012/001", "S012/002"]
    assert "S012_001_00000002.png" in failed["S012/001"]
    assert "FaceNotFoundError" in failed["S012/002"] and "S012_002_00000001.png" in failed["S012/002"]
    # folds: subject-independent, 2 subjects -> 2 folds, labels mapped from CK+ codes
    rows = read_folds_csv(d / "folds.csv")
    assert [(r.subject, r.sequence, r.label) for r in rows] == [("S010", "001", 1), ("S011", "001", 3)]
    assert sorted(r.test_folds for r in rows) == [(False, True), (True, False)]
    assert any("2 folds instead of 10" in n for n in s.notes)
    text = s.format()
    assert "converted 2, existing 0 (resumed), skipped 2, failed 2" in text
    assert "S010/002: CK+ code 2 (contempt) has no Spiking-FER class" in text

    # resume: nothing converted again, the files are untouched
    mtimes = {p: p.stat().st_mtime_ns for p in d.rglob("*.h5")}
    s2 = convert_ckplus(ckplus_tree, out, detector=detector, progress=False)
    assert s2.converted == [] and sorted(s2.existing) == ["S010/001", "S011/001"]
    assert (len(s2.skipped), len(s2.failed)) == (2, 2)
    assert {p: p.stat().st_mtime_ns for p in d.rglob("*.h5")} == mtimes

    # the suite's FerDVS loader reads the result
    ferdvs = pytest.importorskip("datasets.loaders.ferdvs")
    ds = ferdvs.CKPlusDVS(out)
    assert len(ds) == 2 and [si.label for si in ds.sequences] == [0, 2]
    assert ds.load_events(0).shape[0] > 0


@needs_faces
@needs_dlib
def test_ckplus_batch_with_folds_file(ckplus_tree, tmp_path, detector):
    from datasets.conversion.convert import convert_ckplus

    folds = tmp_path / "folds.csv"
    # S011/002 has no emotion file but is listed; S010/001 listed with label 1 (as CK+ says);
    # S099/001 is not in the tree
    folds.write_bytes(b"S010;001;1;1;0\r\nS011;002;6;0;1\r\nS099;001;2;1;0\r\n")
    out = tmp_path / "data"
    s = convert_ckplus(ckplus_tree, out, detector=detector, folds_file=folds, progress=False)
    assert sorted(s.converted) == ["S010/001", "S011/002"]
    assert dict(s.failed).keys() == {"S099/001"}
    assert all("not listed in" in reason for _, reason in s.skipped) and len(s.skipped) == 4
    assert (out / "CKPlusDVS" / "folds.csv").read_bytes() == folds.read_bytes()
    assert any("1 row(s) of the copied folds.csv have no event file" in n for n in s.notes)


@needs_faces
@needs_dlib
@pytest.mark.slow
def test_cli_convert(ckplus_tree, tmp_path, capsys):
    import run_bench

    parser = run_bench.build_parser()

    args = parser.parse_args(["convert", "--ckplus", str(ckplus_tree), str(tmp_path), "-q"])
    assert args.func(args) == 1  # two sequences failed, the others were converted
    out = capsys.readouterr().out
    assert "converted 2, existing 0 (resumed), skipped 2, failed 2" in out

    seq = ckplus_tree / "cohn-kanade-images" / "S010" / "001"
    args = parser.parse_args(["convert", str(seq), str(tmp_path / "one"), "--preview", "-q",
                              "--pos-thres", "0.3", "--fps", "60"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "at 60 fps" in out and (tmp_path / "one" / "001.h5").is_file()
    assert (tmp_path / "one" / "001_preview.png").is_file()
    assert args.func(args) == 2  # exists, no --overwrite
    assert "--overwrite" in capsys.readouterr().err
