"""The GPU bundle: the project's own dependencies that the lent GPU machine's image lacks, as wheels
for CPython 3.12 on x86-64 Linux, in one folder that travels with the source tree.

    python -m tools.gpu.gpu_bundle --out gpu-bundle      # what `make gpu-bundle` runs
    python -m tools.gpu.gpu_bundle --out gpu-bundle --check

The image (listed in ``tools/gpu/gpu_image.txt``) has Python 3.12.3, torch 2.11.0+cu130,
numpy, scipy, pandas, h5py, pytest and the other packages of that list, and no network; a call to
the device carries the working tree plus at most :data:`CARRY_LIMIT_BYTES` in all. So the bundle
holds only what the project imports beyond the image (:data:`ENTRIES`, each with its reason, found
by importing everything the GPU check runs in a fresh Python 3.12 environment holding only the
image's packages: ``make gpu-rehearsal``), and:

* norse 1.1.0 is published only as a source package: its wheel is built here (pure Python);
* lava-dl 0.6.0's wheel (65 MiB) is repacked without its ``tests/`` folder (test data, and a
  top-level package named ``tests`` that would shadow ours) and without
  ``lava/lib/dl/slayer/object_detection`` (two trained YOLO ``network.pt`` files of 36 and 14 MiB;
  it needs torchvision and OpenCV; the adapter, :func:`backends.adapters.lava_dl.slayer.import_slayer`, registers
  an empty module under that name), which leaves 0.15 MiB;
* packages whose declared requirements are stale (lava-dl's Python < 3.11) install with
  ``--no-deps --ignore-requires-python`` (:func:`tools.gpu.gpu_check.install_command`).

``MANIFEST.json`` in the folder lists every wheel: file, requirement, size in bytes and why it is
there, the source tree's size and the total against the limit; the GPU check reads it to report a
missing wheel.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from datasets.common import InputError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]

CARRY_LIMIT_BYTES = 64 * 2**20
"""What one call to the lent device carries at most: the working tree and the bundle together
(64 MiB, the device tool's limit)."""

PYTHON_VERSION = "3.12"
"""The image's Python (3.12.3)."""

PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64")
"""Platform tags a wheel may carry to install on the image (glibc 2.39, x86-64)."""

MANIFEST = "MANIFEST.json"

LAVA_DROP = ("tests/", "lava/lib/dl/slayer/object_detection/")
"""Path prefixes removed from lava-dl's wheel: its test suite and data (a top-level ``tests``
package too) and object detection (two trained YOLO models of 36 and 14 MiB, needs torchvision and
OpenCV, stubbed by the adapter). Without them the wheel fits the 64 MiB a device call carries."""


class BundleError(InputError):
    """A bundle that cannot travel: over the size limit, a wheel missing, or a manifest that
    does not match the folder."""


@dataclass(frozen=True)
class Entry:
    """One package of the bundle.

    Attributes:
        requirement: ``name==version`` as pip takes it.
        why: which import of the project needs it.
        source: ``"wheel"`` (downloaded as a CPython 3.12 wheel), ``"sdist"`` (built into a wheel
            here from its source package) or ``"repack"`` (lava-dl: downloaded, then repacked
            without :data:`LAVA_DROP`).
    """

    requirement: str
    why: str
    source: str = "wheel"

    @property
    def name(self) -> str:
        """The distribution name (``"lava-dl"``)."""
        return self.requirement.split("==")[0]

    @property
    def version(self) -> str:
        """The pinned version."""
        return self.requirement.split("==")[1]


ENTRIES: tuple[Entry, ...] = (
    Entry("snntorch==1.0.0", "backend snntorch (and neurobench's dependency)"),
    Entry("spikingjelly==2.0.0", "backend spikingjelly"),
    Entry("norse==1.1.0", "backend norse; published only as a source package", "sdist"),
    Entry("sinabs==3.1.3", "backend sinabs"),
    Entry("lava-dl==0.6.0", "backend lava-dl (SLAYER); declares Python < 3.11", "repack"),
    Entry("neurobench==2.3.0", "the SynOps / activation-sparsity metrics (benchmarks.measure.metrics)"),
    Entry("tonic==1.7.0", "event transforms of datasets.transforms.binning; test modules import it"),
    Entry("importRosbag==1.0.4", "imported by tonic's package __init__"),
    Entry("eventcv==1.0.8", "the built-in data generator (datasets.loaders.synthetic) and convert"),
    Entry("nir==1.0.8", "imported by norse and sinabs at import time; the NIR exchange"),
    Entry("nirtorch==2.6", "imported by norse and sinabs at import time; the NIR exchange"),
    Entry("loguru==0.7.3", "imported by spikingjelly"),
    Entry("pbr==7.1.3", "imported by sinabs for its version"),
)
"""What the image lacks, pinned to the versions the project is tested with (``make setup``)."""


def download_command(python: str, entries, dest: Path) -> list[str]:
    """The ``pip download`` command line fetching ``entries`` as CPython 3.12 manylinux wheels
    (no dependencies: each one needed is listed; ``--ignore-requires-python`` for lava-dl's stale
    ``Requires-Python``)."""
    cmd = [python, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--ignore-requires-python", "--python-version", PYTHON_VERSION,
           "--implementation", "cp", "--abi", "cp" + PYTHON_VERSION.replace(".", ""),
           "--abi", "abi3", "--abi", "none"]
    for p in PLATFORMS + ("any",):
        cmd += ["--platform", p]
    return cmd + ["-d", str(dest), *(e.requirement for e in entries)]


def repack_without(wheel: Path, out_dir: Path, drop: tuple[str, ...]) -> Path:
    """Write ``wheel`` again into ``out_dir`` (same file name) without the members whose path
    starts with one of ``drop``; its ``RECORD`` loses their lines, so pip installs it cleanly.

    Returns:
        The new wheel's path.

    Raises:
        BundleError: ``wheel`` has no ``*.dist-info/RECORD``.
    """
    out = out_dir / wheel.name
    with zipfile.ZipFile(wheel) as src:
        records = [n for n in src.namelist() if n.endswith(".dist-info/RECORD")]
        if not records:
            raise BundleError(f"{wheel}: no .dist-info/RECORD in the wheel")
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                if info.filename.startswith(drop):
                    continue
                data = src.read(info)
                if info.filename == records[0]:
                    lines = data.decode().splitlines()
                    data = ("\n".join(ln for ln in lines if not ln.startswith(drop)) + "\n").encode()
                dst.writestr(info, data)
    return out


def source_tree_bytes(root: Path = ROOT) -> int:
    """Bytes of the files a device call carries from the working tree: tracked files and
    untracked ones git does not ignore (``git ls-files -co --exclude-standard``)."""
    res = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=root,
                         capture_output=True, check=True)
    names = [n for n in res.stdout.decode().split("\0") if n]
    return sum((root / n).stat().st_size for n in names if (root / n).is_file())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_manifest(folder: Path, entries, source_bytes: int,
                  limit: int = CARRY_LIMIT_BYTES) -> dict:
    """The manifest of a bundle folder: one item per entry (``file``, ``requirement``, ``bytes``,
    ``sha256``, ``why``, ``source``) and ``wheels_bytes``, ``source_bytes``, ``total_bytes``,
    ``limit_bytes``.

    Raises:
        BundleError: an entry has no wheel in ``folder`` (or more than one).
    """
    wheels = sorted(folder.glob("*.whl"))
    items = []
    for e in entries:
        norm = e.name.replace("-", "_").lower()
        found = [w for w in wheels if w.name.lower().startswith(f"{norm}-{e.version}-")]
        if len(found) != 1:
            raise BundleError(f"{folder}: {len(found)} wheels for {e.requirement} (expected 1)")
        w = found[0]
        items.append({"file": w.name, "requirement": e.requirement, "bytes": w.stat().st_size,
                      "sha256": _sha256(w), "why": e.why, "source": e.source})
    wheels_bytes = sum(i["bytes"] for i in items)
    return {"python": PYTHON_VERSION, "wheels": items, "wheels_bytes": wheels_bytes,
            "source_bytes": source_bytes, "total_bytes": wheels_bytes + source_bytes,
            "limit_bytes": limit}


def check_manifest(manifest: dict, folder: Path | None = None) -> None:
    """Check a manifest (and, given ``folder``, that its wheels are there with their sizes).

    Raises:
        BundleError: the total (wheels + source tree) is over ``limit_bytes``, a listed wheel is
            missing or has another size, or the folder holds a wheel the manifest does not list.
    """
    total = manifest["wheels_bytes"] + manifest["source_bytes"]
    if total > manifest["limit_bytes"]:
        raise BundleError(
            f"bundle: wheels {manifest['wheels_bytes'] / 2**20:.1f} MiB + source tree "
            f"{manifest['source_bytes'] / 2**20:.1f} MiB = {total / 2**20:.1f} MiB, over the "
            f"{manifest['limit_bytes'] / 2**20:.0f} MiB a device call carries")
    if folder is None:
        return
    listed = {i["file"]: i for i in manifest["wheels"]}
    for name, item in listed.items():
        path = folder / name
        if not path.is_file():
            raise BundleError(f"{folder / MANIFEST}: wheel {name} ({item['requirement']}) is missing")
        if path.stat().st_size != item["bytes"]:
            raise BundleError(f"{path}: {path.stat().st_size} bytes, the manifest says {item['bytes']}")
    extra = sorted(p.name for p in folder.glob("*.whl") if p.name not in listed)
    if extra:
        raise BundleError(f"{folder}: wheels not in {MANIFEST}: {', '.join(extra)}")


def build(out: Path, python: str = sys.executable, entries=ENTRIES) -> dict:
    """Build the bundle in ``out`` (emptied of wheels first): download, build norse's wheel,
    repack lava-dl, write ``MANIFEST.json`` and check the size.

    Returns:
        The manifest.

    Raises:
        BundleError: see :func:`check_manifest`.
        subprocess.CalledProcessError: pip failed (no network, a version gone).
    """
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="gpu-bundle-") as tmp:
        tmp = Path(tmp)
        binary = [e for e in entries if e.source in ("wheel", "repack")]
        subprocess.run(download_command(python, binary, tmp), check=True)
        for e in entries:
            if e.source == "sdist":
                subprocess.run([python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-binary",
                                e.name, "-w", str(tmp), e.requirement], check=True)
        for w in tmp.glob("*.whl"):
            if w.name.lower().startswith("lava_dl-"):
                repack_without(w, out, LAVA_DROP)
            else:
                shutil.copy2(w, out / w.name)
    manifest = make_manifest(out, entries, source_tree_bytes())
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    check_manifest(manifest, out)
    return manifest


def summary(manifest: dict) -> str:
    """A few lines: each wheel's size and reason, then the total against the limit."""
    rows = [f"  {i['bytes'] / 2**20:7.2f} MiB  {i['requirement']:<22} {i['why']}"
            for i in manifest["wheels"]]
    rows.append(f"  wheels {manifest['wheels_bytes'] / 2**20:.1f} MiB + source tree "
                f"{manifest['source_bytes'] / 2**20:.1f} MiB = "
                f"{manifest['total_bytes'] / 2**20:.1f} MiB of {manifest['limit_bytes'] / 2**20:.0f} MiB")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command line: build (or ``--check``) the bundle folder; exit 2 on a bundle that cannot
    travel."""
    ap = argparse.ArgumentParser(prog="python -m tools.gpu.gpu_bundle",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "gpu-bundle")
    ap.add_argument("--check", action="store_true", help="only check an existing bundle")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.check:
            path = args.out / MANIFEST
            if not path.is_file():
                raise BundleError(f"{path}: no manifest (run `make gpu-bundle`)")
            manifest = json.loads(path.read_text())
            manifest["source_bytes"] = source_tree_bytes()
            manifest["total_bytes"] = manifest["wheels_bytes"] + manifest["source_bytes"]
            check_manifest(manifest, args.out)
        else:
            manifest = build(args.out)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"GPU bundle {args.out}:\n{summary(manifest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
