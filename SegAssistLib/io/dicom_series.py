"""DICOM series discovery and validation: list the series in a folder, pick one, check its geometry.

Pixel data is read by SimpleITK (GDCM); headers by pydicom with only the tags needed, so a folder of
hundreds of slices is checked in a fraction of the pixel read time. A series with a missing slice,
duplicated positions, mixed orientations or uneven spacing raises a :class:`VolumeReadError` instead of
becoming a silently wrong volume.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from SegAssistLib.errors import VolumeReadError

_HEADER_TAGS = [
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
    "SeriesDescription",
    "Modality",
    "NumberOfFrames",
    "InstanceNumber",
]


@dataclass
class SeriesInfo:
    """One series found in a folder: its UID, description, modality and files (unsorted)."""

    uid: str
    description: str = ""
    modality: str = ""
    files: list[str] = field(default_factory=list)
    headers: list = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        return f"{self.uid} ({self.modality or '?'}, {len(self.files)} files, {self.description or 'no description'})"


def _read_header(path: str):
    import pydicom

    try:
        return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
    except Exception:  # not DICOM (README, DICOMDIR, thumbnails): ignored by the folder scan
        return None


def list_series(folder: str | os.PathLike) -> list[SeriesInfo]:
    """Every image series in ``folder`` (recursively), largest first."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VolumeReadError(f"{folder}: not a folder.")
    series: dict[str, SeriesInfo] = {}
    paths = sorted(str(p) for p in folder.rglob("*") if p.is_file())
    # Header parsing is pure Python but file reads release the GIL: two threads overlap them.
    with ThreadPoolExecutor(max_workers=2) as pool:
        headers = list(pool.map(_read_header, paths))
    for path, ds in zip(paths, headers):
        if ds is None or "SeriesInstanceUID" not in ds or "ImagePositionPatient" not in ds:
            continue
        info = series.setdefault(
            str(ds.SeriesInstanceUID),
            SeriesInfo(str(ds.SeriesInstanceUID), str(ds.get("SeriesDescription", "")), str(ds.get("Modality", ""))),
        )
        info.files.append(path)
        info.headers.append(ds)
    if not series:
        raise VolumeReadError(f"{folder}: no DICOM image series found (is it the right folder?).")
    return sorted(series.values(), key=lambda s: -len(s.files))


def choose_series(folder: str | os.PathLike, series_uid: str | None = None) -> SeriesInfo:
    """The series with ``series_uid``, or the largest one when no UID is given."""
    all_series = list_series(folder)
    if series_uid is None:
        return all_series[0]
    for s in all_series:
        if s.uid == series_uid:
            return s
    listing = "\n  ".join(str(s) for s in all_series)
    raise VolumeReadError(f"{folder}: no series with UID {series_uid}. Series found:\n  {listing}")


def sort_and_validate(series: SeriesInfo, folder: str = "", rel_tol: float = 0.05) -> list[str]:
    """Files of one series ordered by position along the slice normal, after checking that they form one
    regular volume (same orientation and pixel grid, no duplicated position, no gap)."""
    files, headers = series.files, series.headers
    where = folder or os.path.dirname(files[0])
    try:
        iops = np.array([[float(v) for v in h.ImageOrientationPatient] for h in headers])
        positions = np.array([[float(v) for v in h.ImagePositionPatient] for h in headers])
        spacings = np.array([[float(v) for v in h.get("PixelSpacing", [1, 1])] for h in headers])
    except (TypeError, ValueError) as exc:
        raise VolumeReadError(f"{where}: unreadable slice geometry ({exc}).") from None
    check_geometry(iops, positions, spacings, where, [os.path.basename(f) for f in files])
    if len(files) < 2:
        return list(files)
    if np.abs(iops - iops[0]).max() > 1e-3:
        raise VolumeReadError(f"{where}: the series mixes slice orientations; it is not one volume.")
    grids = {(int(h.Rows), int(h.Columns), tuple(float(v) for v in h.get("PixelSpacing", [1, 1]))) for h in headers}
    if len(grids) > 1:
        raise VolumeReadError(f"{where}: slices differ in size or pixel spacing {sorted(grids)}; not one volume.")
    order, _ = order_slices(positions, iops[0], where, [os.path.basename(f) for f in files], rel_tol)
    return [files[i] for i in order]


def check_geometry(iops: np.ndarray, positions: np.ndarray, spacings: np.ndarray, where: str,
                   names: list[str]) -> None:
    """Refuse non-finite (NaN, inf) or degenerate slice geometry before it reaches a reader: a NaN
    ImagePositionPatient otherwise passes every comparison and yields a wrong spacing and extent."""
    for what, values, shape in (("ImageOrientationPatient", iops, 6), ("ImagePositionPatient", positions, 3),
                                ("PixelSpacing", spacings, 2)):
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.shape[1] != shape:
            raise VolumeReadError(f"{where}: {what} must hold {shape} numbers per slice.")
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            raise VolumeReadError(f"{where}: {names[int(np.flatnonzero(bad)[0])]} has a non-finite {what} "
                                  f"({values[bad][0].tolist()}); the file is damaged, export the series again.")
    if (np.asarray(spacings) <= 0).any():
        raise VolumeReadError(f"{where}: PixelSpacing must be positive; the series is damaged.")
    iops = np.asarray(iops, dtype=float)
    if (np.abs(np.linalg.norm(iops[:, :3], axis=1) - 1) > 0.01).any() or \
            (np.abs(np.linalg.norm(iops[:, 3:], axis=1) - 1) > 0.01).any():
        raise VolumeReadError(f"{where}: ImageOrientationPatient does not hold unit vectors; the series is damaged.")


def order_slices(
    positions: np.ndarray, iop: np.ndarray, where: str, names: list[str], rel_tol: float = 0.05
) -> tuple[np.ndarray, float]:
    """Order slices by position along the normal of orientation ``iop`` (row cosines, column cosines).

    Returns (order, spacing in mm); raises VolumeReadError on a duplicated position or a gap.
    """
    iop = np.asarray(iop, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    along_all = np.asarray(positions, dtype=float) @ normal
    order = np.argsort(along_all, kind="stable")
    if len(order) < 2:
        return order, 1.0
    along = along_all[order]
    gaps = np.diff(along)
    if np.any(gaps < 1e-3):
        i = int(np.flatnonzero(gaps < 1e-3)[0])
        raise VolumeReadError(
            f"{where}: {names[order[i]]} and {names[order[i + 1]]} share the position {along[i]:.2f} mm: the "
            "series probably holds two acquisitions. Separate them, or remove the duplicates."
        )
    step = float(np.median(gaps))
    bad = np.flatnonzero(np.abs(gaps - step) > rel_tol * step)
    if bad.size:
        i = int(bad[0])
        missing = int(round(gaps[i] / step)) - 1
        hint = f"about {missing} slice(s) missing" if missing >= 1 else "uneven slice spacing"
        raise VolumeReadError(
            f"{where}: slice spacing is not regular ({hint} between positions {along[i]:.2f} and "
            f"{along[i + 1]:.2f} mm; usual spacing {step:.2f} mm). Reading it as one volume would misplace "
            "slices; export the complete series again."
        )
    return order, step
