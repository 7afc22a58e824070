"""Reading and writing plain 2D images: PNG, JPEG, TIFF and single-frame DICOM.

Pillow reads PNG/JPEG, tifffile reads TIFF (16-bit and float microscopy images that Pillow mishandles),
pydicom reads DICOM (with rescale slope/intercept applied and the pixel spacing kept). Images are numpy
arrays (rows, cols) or (rows, cols, channels); metadata has ``pixel_spacing`` (row, col) in mm when known.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from SegAssistLib.errors import FormatError, import_optional
from SegAssistLib.io.atomic import atomic_output

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".bmp")


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Pixels and metadata of a 2D image file; a FormatError names the file when it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise FormatError(f"{p}: no such image file.")
    suffix = p.suffix.lower()
    meta: dict[str, Any] = {"source": str(p)}
    try:
        if suffix in (".tif", ".tiff"):
            tifffile = import_optional("tifffile", "formats", "TIFF images")

            arr = tifffile.imread(p)
        elif suffix == ".dcm" or _is_dicom(p):
            arr, meta = _read_dicom(p, meta)
        else:
            Image = import_optional("PIL.Image", "formats", "PNG/JPEG images")

            with Image.open(p) as im:
                if im.mode == "P":
                    meta["palette"] = im.getpalette()
                arr = np.asarray(im)
    except FormatError:
        raise
    except Exception as exc:  # Pillow/tifffile raise many types for damaged files
        raise FormatError(f"{p}: could not be read as an image ({exc}).") from None
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim not in (2, 3):
        raise FormatError(f"{p}: holds an array of shape {arr.shape}; SegAssist reads single 2D images here.")
    return arr, meta


def _is_dicom(p: Path) -> bool:
    with open(p, "rb") as f:
        return f.read(132)[128:132] == b"DICM"


def _read_dicom(p: Path, meta: dict) -> tuple[np.ndarray, dict]:
    import pydicom

    ds = pydicom.dcmread(p)
    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        raise FormatError(
            f"{p}: is a multi-frame DICOM ({ds.NumberOfFrames} frames); read it as a volume with "
            "SegAssistLib.io.volumes.read_volume instead."
        )
    arr = ds.pixel_array
    slope, intercept = float(getattr(ds, "RescaleSlope", 1) or 1), float(getattr(ds, "RescaleIntercept", 0) or 0)
    if slope != 1 or intercept != 0:
        arr = arr * slope + intercept
    if "PixelSpacing" in ds:
        meta["pixel_spacing"] = tuple(float(x) for x in ds.PixelSpacing)
    meta["modality"] = str(getattr(ds, "Modality", ""))
    return arr, meta


def write_image(array: np.ndarray, path: str | os.PathLike, palette: list[int] | None = None) -> Path:
    """Write a 2D image atomically: PNG (8/16-bit grey, RGB, or palette when ``palette`` is given), JPEG
    (8-bit only) or TIFF (any dtype)."""
    p = Path(path)
    array = np.asarray(array)
    suffix = p.suffix.lower()
    with atomic_output(p) as tmp:
        if suffix in (".tif", ".tiff"):
            tifffile = import_optional("tifffile", "formats", "TIFF images")

            tifffile.imwrite(tmp, array)
        elif suffix in (".png", ".jpg", ".jpeg"):
            Image = import_optional("PIL.Image", "formats", "PNG/JPEG images")

            if suffix != ".png" and array.dtype != np.uint8:
                raise FormatError(f"{p}: JPEG holds 8-bit images only; convert the {array.dtype} pixels or write PNG/TIFF.")
            if array.dtype not in (np.uint8, np.uint16) or (array.dtype == np.uint16 and array.ndim == 3):
                raise FormatError(f"{p}: PNG holds 8-bit or 16-bit grey and 8-bit colour; got {array.dtype} "
                                  f"{array.shape}. Write TIFF or rescale first (SegAssistLib.formats.datasets2d.images.to_uint8).")
            if palette is not None:
                if array.dtype != np.uint8 or array.ndim != 2:
                    raise FormatError(f"{p}: a palette PNG holds one 8-bit index per pixel; got {array.dtype} {array.shape}.")
                im = Image.frombytes("P", (array.shape[1], array.shape[0]), np.ascontiguousarray(array).tobytes())
                im.putpalette(list(palette))
            else:
                im = Image.fromarray(array)
            im.save(tmp, format="PNG" if suffix == ".png" else "JPEG", **({"quality": 95} if suffix != ".png" else {}))
        else:
            raise FormatError(f"{p}: unsupported image type; write .png, .jpg or .tif.")
    return p


def to_uint8(array: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Scale an image to 0..255 (between ``low`` and ``high``, default its 0.5 and 99.5 percentiles)."""
    a = np.asarray(array, dtype=float)
    lo = np.percentile(a, 0.5) if low is None else low
    hi = np.percentile(a, 99.5) if high is None else high
    if hi <= lo:
        hi = lo + 1
    return (np.clip((a - lo) / (hi - lo), 0, 1) * 255 + 0.5).astype(np.uint8)
