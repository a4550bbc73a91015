"""A NEFER tree in the published layout with generated frames, for tests, benchmarks and demos:
annotation rows in the release's format (:func:`synthetic_annotations`, or the real annotation
files) and TBR event frames and RGB frames written where the annotations name them
(:func:`write_nefer_tree`). Read back by :class:`datasets.loaders.nefer.NEFERDataset`.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

from datasets.loaders.nefer_index import FRAME_NAME, FRAMES_PER_SEQUENCE, NEFER_EMOTIONS


def synthetic_annotations(train_users: list[str], validation_users: list[str], clips: int = 3,
                          seed: int = 0) -> dict[str, dict[str, list[str]]]:
    """Annotation rows of a small NEFER-like set, in the release's format: ``{label folder:
    {file name: lines}}`` for both label versions. Clip ``c`` of every user has expected emotion
    ``NEFER_EMOTIONS[c % 7]`` (as in NEFER, every user sees the same clips in the same order); the
    reported emotion is the expected one, or ``None`` for every third (user, clip) pair.
    Event sequences are named ``userNN_2022-06-08_12-00-<cc>_cd``, RGB ones ``GOPR<nnnn>``."""
    del seed  # the set is fully determined by its arguments
    out: dict[str, dict[str, list[str]]] = {"expected_emotions": {}, "reported_emotions": {}}
    gopro = 700
    for split, users in (("train", train_users), ("validation", validation_users)):
        rows = {k: {"event": [], "gopro": []} for k in out}
        for u, user in enumerate(users):
            num = user.split("_")[-1]
            for c in range(clips):
                gopro += 1
                ev_seq, rgb_seq = f"user{num}_2022-06-08_12-00-{c:02d}_cd", f"GOPR{gopro:04d}"
                expected = NEFER_EMOTIONS[c % len(NEFER_EMOTIONS)]
                reported = "None" if (u + c) % 3 == 2 else expected
                rgb_folder = "rgb_frames" if split == "train" else "../gopro_frame"
                for k, label in (("expected_emotions", expected), ("reported_emotions", reported)):
                    for f in range(FRAMES_PER_SEQUENCE):
                        rows[k]["event"].append(f"{user},{ev_seq},../event_frame_NEW/{user}/"
                                                f"{ev_seq}/frame_{f:02d}.png,{label}")
                        rows[k]["gopro"].append(f"{user},{rgb_seq},{rgb_folder}/{user}/"
                                                f"{rgb_seq}/frame_{f:02d}.png,{label}")
        for k in out:
            suffix = "_subjective" if k == "reported_emotions" else ""
            for kind in ("event", "gopro"):
                out[k][f"{split}_{kind}{suffix}.csv"] = rows[k][kind]
    return out


def write_nefer_tree(root: str | Path, *, annotations: dict[str, dict[str, list[str]]] | None = None,
                     annotation_dir: str | Path | None = None, users: set[str] | None = None,
                     frame_size: tuple[int, int] = (32, 24), tbr_bits: int = 8,
                     rgb_size: tuple[int, int] | None = (16, 12), distinct_frames: int = 0,
                     density: float = 0.1, link_copies: bool = False, seed: int = 0) -> Path:
    """Write a NEFER tree in the published layout under ``root/NEFER`` with generated frames.

    Annotations come from ``annotation_dir`` (a folder holding ``expected_emotions/`` and
    ``reported_emotions/`` as in the repository, e.g. the real files) or from ``annotations``
    (:func:`synthetic_annotations`); ``users`` keeps only those users' rows. Every frame named by
    the event and RGB files is written: event frames as grey PNGs with ``tbr_bits``-bit samples
    (each bit set with probability ``density`` inside a central face ellipse, 2 % of that
    outside, more often in the middle of the sequence), RGB
    frames as 8-bit RGB PNGs (``rgb_size`` ``(W, H)``; ``None`` writes none).
    ``distinct_frames > 0`` generates that many distinct event images and writes copies of their
    bytes (for large trees, where encoding each PNG would dominate); with ``link_copies`` the
    copies are hard links to files in ``NEFER/.frame_pool/`` (no disk space per copy).

    Returns:
        The NEFER folder.
    """
    from PIL import Image

    root = Path(root)
    directory = root / "NEFER"
    if annotations is None:
        if annotation_dir is None:
            raise ValueError("pass annotations or annotation_dir")
        annotations = {}
        for folder in ("expected_emotions", "reported_emotions"):
            src = Path(annotation_dir) / folder
            annotations[folder] = {p.name: p.read_text(encoding="utf-8").splitlines()
                                   for p in sorted(src.glob("*.csv"))}
    rng = np.random.default_rng(seed)
    w, h = frame_size
    yy, xx = np.mgrid[0:h, 0:w]
    # events concentrate on a face: an ellipse of half-axes w/5, h/3 in the middle (full rate),
    # sensor noise elsewhere (2 % of the rate)
    face = np.where(((xx - w / 2) / (w / 5)) ** 2 + ((yy - h / 2) / (h / 3)) ** 2 <= 1, 1.0, 0.02)

    def tbr_png(frame: int) -> bytes:
        import io

        p = density * (0.5 + np.sin(np.pi * frame / (FRAMES_PER_SEQUENCE - 1)))
        bits = rng.random((tbr_bits, h, w)) < np.minimum(p * face, 1.0)
        codes = (bits * (1 << np.arange(tbr_bits)).reshape(-1, 1, 1)).sum(0)
        buf = io.BytesIO()
        if tbr_bits == 16:
            Image.fromarray(codes.astype(np.uint16)).save(buf, format="PNG", compress_level=1)
        elif tbr_bits == 8:
            Image.fromarray(codes.astype(np.uint8), mode="L").save(buf, format="PNG",
                                                                   compress_level=1)
        else:
            Image.fromarray(codes.astype(np.uint8), mode="L").save(buf, format="PNG",
                                                                   bits=tbr_bits)
        return buf.getvalue()

    pool = [tbr_png(i % FRAMES_PER_SEQUENCE) for i in range(distinct_frames)]
    pool_files: list[Path] = []
    if link_copies and pool:
        (directory / ".frame_pool").mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(pool):
            pool_files.append(directory / ".frame_pool" / f"{i}.png")
            pool_files[-1].write_bytes(data)
    rgb_png = None
    for folder, files in annotations.items():
        out = directory / "annotations" / folder
        out.mkdir(parents=True, exist_ok=True)
        for name, lines in files.items():
            kept = [ln for ln in lines if users is None or ln.split(",")[0] in users]
            (out / name).write_text("".join(f"{ln}\n" for ln in kept), encoding="utf-8")
            if folder != "expected_emotions":
                continue  # both label versions name the same frames
            for n, ln in enumerate(kept):
                cols = ln.split(",")
                rel = PurePosixPath(cols[2]).parts
                path = directory.joinpath(*(p for p in rel if p not in ("..", ".")))
                if path.exists():
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                frame = int(FRAME_NAME.fullmatch(rel[-1]).group(1))
                if "_event" in name and pool_files:
                    import os

                    os.link(pool_files[n % len(pool_files)], path)
                elif "_event" in name:
                    path.write_bytes(pool[n % len(pool)] if pool else tbr_png(frame))
                elif rgb_size is not None:
                    if rgb_png is None:
                        import io

                        buf = io.BytesIO()
                        img = rng.integers(0, 256, (rgb_size[1], rgb_size[0], 3), dtype=np.uint8)
                        Image.fromarray(img, mode="RGB").save(buf, format="PNG")
                        rgb_png = buf.getvalue()
                    path.write_bytes(rgb_png)
    return directory

