"""The ``convert`` subcommand of ``run_bench.py``: video/frames -> standardized face -> events.

Usage (see ``run_bench.py convert --help``)::

    # one sequence: a video file or a folder of frames -> one v2e-layout .h5
    python run_bench.py convert clip.mp4 out/clip.h5 --preview
    python run_bench.py convert frames_dir/ out/ --save-frames     # -> out/frames_dir.h5

    # CK+ batch: <CK+>/cohn-kanade-images + <CK+>/Emotion -> <data>/CKPlusDVS/<subject>/<seq>.h5
    python run_bench.py convert --ckplus /data/CK+ data/
    python run_bench.py convert --ckplus /data/CK+ data/ --folds-file spiking-fer/CKPlusDVS/folds.csv

The lead wires it in with ``add_convert_parser(subparsers)``; the handler is stored as
``args.func`` (``set_defaults(func=cmd_convert)``) and returns the exit status.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets.convert import EmulatorParams
    from datasets.standardize import CropSpec

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED_SEQUENCES = 1
"""Batch mode: at least one sequence failed (the others were converted)."""
EXIT_ERROR = 2
"""Nothing converted: bad arguments, unreadable input, missing dlib/model."""


def add_convert_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``convert`` subcommand on ``subparsers`` (from ``add_subparsers``).

    Sets ``func=cmd_convert`` on the parsed namespace. Adds ``-v/--verbose`` and ``-q/--quiet``
    like the other subcommands.
    """
    from datasets.convert import EmulatorParams
    from datasets.standardize import CropSpec

    emu, crop = EmulatorParams(), CropSpec()
    p = subparsers.add_parser(
        "convert",
        help="convert a video / frame folder / the CK+ dataset to events (Spiking-FER recipe)",
        description="Standardize the face in every frame (dlib 68 landmarks, head-pose "
        "correction, crop from facial proportions, 200x200) and convert the frames to DVS "
        "events with eventcv (v2e pixel model), written in the v2e HDF5 layout. Needs the "
        "'convert' extra (dlib-bin, face_recognition_models, av). The 68-point landmark model "
        "was trained on iBUG 300-W, whose licence excludes commercial use.",
    )
    p.add_argument("input", type=Path,
                   help="a video file or a folder of frames; with --ckplus, the CK+ folder "
                   "holding cohn-kanade-images/ and Emotion/")
    p.add_argument("output", type=Path,
                   help="the .h5 to write (or a folder: <folder>/<input name>.h5); with "
                   "--ckplus, the data root that receives CKPlusDVS/")
    p.add_argument("--ckplus", action="store_true",
                   help="batch mode: convert the CK+ distribution to the FerDVS layout")
    p.add_argument("--save-frames", action="store_true",
                   help="also write the standardized frames as PNGs next to the events")
    p.add_argument("--preview", action="store_true",
                   help="also write a preview PNG (first/last frame, events: ON red, OFF blue)")
    p.add_argument("--overwrite", action="store_true",
                   help="single sequence: replace an existing output file")

    b = p.add_argument_group("CK+ batch")
    b.add_argument("--folds-file", type=Path, default=None,
                   help="a Spiking-FER folds.csv to follow (its rows choose sequences and "
                   "labels) and copy; default: write subject-independent folds")
    b.add_argument("--n-folds", type=int, default=10, help="subject-independent folds (10)")
    b.add_argument("--fold-seed", type=int, default=0, help="seed of the fold assignment (0)")

    e = p.add_argument_group("DVS emulator (defaults: the Spiking-FER v2e command)")
    e.add_argument("--fps", type=float, default=None,
                   help=f"frame rate of the input, Hz (default: {emu.fps:g} for frames, the "
                   "container's rate for a video)")
    e.add_argument("--pos-thres", type=float, default=emu.pos_thres, help="ON threshold (0.2)")
    e.add_argument("--neg-thres", type=float, default=emu.neg_thres, help="OFF threshold (0.2)")
    e.add_argument("--sigma-thres", type=float, default=emu.sigma_thres,
                   help="threshold spread (0.02)")
    e.add_argument("--cutoff-hz", type=float, default=emu.cutoff_hz,
                   help="photoreceptor cut-off, 0 = off (0)")
    e.add_argument("--leak-rate-hz", type=float, default=emu.leak_rate_hz, help="leak rate (0)")
    e.add_argument("--shot-noise-rate-hz", type=float, default=emu.shot_noise_rate_hz,
                   help="shot noise rate (0)")
    e.add_argument("--refractory-us", type=int, default=emu.refractory_us,
                   help="refractory period, µs (500, v2e's default)")
    e.add_argument("--seed", type=int, default=emu.seed, help="emulator seed (0)")
    e.add_argument("--upsample", default=emu.upsample,
                   help="frame-interval subdivision: adaptive (eventcv default), off, or N")
    e.add_argument("--max-upsample", type=int, default=emu.max_upsample,
                   help="cap of the adaptive subdivision (eventcv default 64)")
    e.add_argument("--interpolate", default=emu.interpolate,
                   help="frame-interpolation ONNX model (RIFE-like), as v2e's SuperSloMo")
    e.add_argument("--interpolate-factor", type=int, default=emu.interpolate_factor,
                   help="intervals per source frame pair when interpolating (2)")
    e.add_argument("--emulator-device", default=emu.device, help="eventcv device: cpu or gpu")

    c = p.add_argument_group("standardization")
    c.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), default=crop.output_size,
                   help="output frame size = sensor size (200 200)")
    c.add_argument("--height-factor", type=float, default=crop.height_factor,
                   help="crop height / nose length (8/3: README's 2 x 2/3 on each side of the "
                   "nose; 4/3 is the literal full-height reading)")
    c.add_argument("--width-factor", type=float, default=crop.width_factor,
                   help="crop width / eye-centre distance (8/3)")
    c.add_argument("--rigid", action="store_true",
                   help="head-pose correction without scale (rotation + translation only)")
    c.add_argument("--detector-upsample", type=int, default=1,
                   help="most HOG upsamplings for small faces (1)")

    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings only, no progress bars")
    p.set_defaults(func=cmd_convert)


def _params_from_args(args: argparse.Namespace) -> tuple[EmulatorParams, CropSpec]:
    from datasets.convert import EmulatorParams
    from datasets.standardize import CropSpec

    emu = EmulatorParams(
        fps=args.fps if args.fps is not None else EmulatorParams().fps,
        pos_thres=args.pos_thres,
        neg_thres=args.neg_thres,
        sigma_thres=args.sigma_thres,
        cutoff_hz=args.cutoff_hz,
        leak_rate_hz=args.leak_rate_hz,
        shot_noise_rate_hz=args.shot_noise_rate_hz,
        refractory_us=args.refractory_us,
        seed=args.seed,
        upsample=args.upsample,
        max_upsample=args.max_upsample,
        interpolate=args.interpolate,
        interpolate_factor=args.interpolate_factor,
        device=args.emulator_device,
    )
    spec = CropSpec(
        output_size=(int(args.size[0]), int(args.size[1])),
        height_factor=args.height_factor,
        width_factor=args.width_factor,
        with_scale=not args.rigid,
    )
    return emu, spec


def cmd_convert(args: argparse.Namespace) -> int:
    """Run the ``convert`` subcommand; print the result on stdout and return the exit status.

    Returns:
        0 on success; 1 if a batch finished with failed sequences; 2 on an error that stopped
        the conversion (the message is printed on stderr).
    """
    from datasets.convert import convert_ckplus, convert_sequence
    from datasets.standardize import LandmarkDetector, LandmarkModelMissingError

    progress = not getattr(args, "quiet", False)
    try:
        emu, spec = _params_from_args(args)
        detector = LandmarkDetector(upsample_times=args.detector_upsample)
        if args.ckplus:
            summary = convert_ckplus(
                args.input, args.output, params=emu, spec=spec, folds_file=args.folds_file,
                n_folds=args.n_folds, fold_seed=args.fold_seed, save_frames=args.save_frames,
                preview=args.preview, progress=progress, detector=detector,
            )
            print(summary.format())
            return EXIT_FAILED_SEQUENCES if summary.failed else EXIT_OK
        if args.folds_file is not None:
            raise ValueError("--folds-file is only meaningful with --ckplus")
        out = args.output
        if out.is_dir() or out.suffix.lower() not in (".h5", ".hdf5"):
            out = out / f"{args.input.stem if args.input.is_file() else args.input.name}.h5"
        if out.exists() and not args.overwrite:
            raise FileExistsError(f"{out}: exists; pass --overwrite to replace it")
        stem = out.with_suffix("")
        result = convert_sequence(
            args.input, out, params=emu, spec=spec, detector=detector,
            use_video_fps=args.fps is None,
            frames_dir=Path(f"{stem}_frames") if args.save_frames else None,
            preview_path=Path(f"{stem}_preview.png") if args.preview else None,
            progress=progress,
        )
        print(result.line())
        for extra in (result.frames_dir, result.preview):
            if extra is not None:
                print(extra)
        return EXIT_OK
    except (LandmarkModelMissingError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
