"""Check the sizes a file *declares* against the bytes it *holds*, before any reader allocates memory.

A 1 KB NRRD header may claim 2000x2000x600 voxels, a 300-byte COCO file a 40000x40000 image: a reader that
believes them allocates gigabytes before it notices. A truncated ``.nii``/``.nii.gz`` is worse: SimpleITK
reads it with the missing voxels as zeros and no error. This module reads only headers (pynrrd for NRRD,
the fixed NIfTI-1/2 header layout) and streams compressed data without keeping it, so a check costs a
fraction of the read it protects.

Rules: the data must hold at least the declared bytes (raw data: by file size; gzip/bzip2: by
decompressing the stream and counting); the declared voxel count is capped (``SEGASSIST_MAX_VOXELS``,
default 2^31) and so is a 2D image's pixel count (``SEGASSIST_MAX_PIXELS_2D``, default 2^28).
"""

from __future__ import annotations

import bz2
import gzip
import os
import struct
import zlib
from pathlib import Path

from SegAssistLib.errors import FormatError

_NRRD_TYPE_BYTES = {
    "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8,
    "float": 4, "double": 8, "block": 1,
}
#: NIfTI datatype code -> bytes per voxel (complex and RGB types included so their sizes are checked too).
_NIFTI_TYPE_BYTES = {2: 1, 4: 2, 8: 4, 16: 4, 32: 8, 64: 8, 128: 3, 256: 1, 512: 2, 768: 4, 1024: 8, 1280: 8,
                     1536: 16, 1792: 16, 2048: 32, 2304: 4}
_CHUNK = 1 << 20
_DEFLATE_MAX_RATIO = 1100


def max_voxels() -> int:
    """The largest voxel count a volume file may declare (``SEGASSIST_MAX_VOXELS``, default 2^31)."""
    return int(os.environ.get("SEGASSIST_MAX_VOXELS", 2**31))


def max_pixels_2d() -> int:
    """The largest pixel count a 2D image may declare (``SEGASSIST_MAX_PIXELS_2D``, default 2^28)."""
    return int(os.environ.get("SEGASSIST_MAX_PIXELS_2D", 2**28))


def check_image_size(height, width, where: str) -> tuple[int, int]:
    """Check a 2D image size declared in a data file: whole numbers >= 1, at most :func:`max_pixels_2d` pixels."""
    if isinstance(height, bool) or isinstance(width, bool) or not isinstance(height, int) or not isinstance(width, int):
        raise FormatError(f"{where}: height and width must be whole numbers, not {height!r} x {width!r}.")
    if height < 1 or width < 1:
        raise FormatError(f"{where}: image size {height} x {width} is empty.")
    if height * width > max_pixels_2d():
        raise FormatError(f"{where}: the declared image size {height} x {width} ({height * width} pixels) exceeds the "
                          f"limit of {max_pixels_2d()}; the file is damaged (or set SEGASSIST_MAX_PIXELS_2D).")
    return height, width


def _check_count(shape, where: str) -> int:
    n = 1
    for s in shape:
        if not isinstance(s, (int,)) and not hasattr(s, "__index__"):
            raise FormatError(f"{where}: declared size {list(shape)} is not whole numbers.")
        if int(s) < 1:
            raise FormatError(f"{where}: declared size {list(shape)} has an empty axis.")
        n *= int(s)
    if n > max_voxels():
        raise FormatError(f"{where}: declares {list(int(s) for s in shape)} = {n} voxels, over the limit of "
                          f"{max_voxels()}; the header is damaged (or set SEGASSIST_MAX_VOXELS).")
    return n


def _stream_length(fh, decompressor, limit: int) -> tuple[int, bool]:
    """Bytes a compressed stream yields (stopping once past ``limit``) and whether the stream ended properly."""
    total = 0
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            return total, bool(getattr(decompressor, "eof", False))
        try:
            total += len(decompressor.decompress(chunk))
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise FormatError(f"corrupt compressed data ({exc})") from None
        if getattr(decompressor, "eof", False):
            return total, True
        if total > limit:
            return total, True


def _check_stream(fh, encoding: str, need: int, where: str) -> None:
    if encoding in ("gzip", "gz"):
        dec = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
    elif encoding in ("bzip2", "bz2"):
        dec = bz2.BZ2Decompressor()
    else:
        return
    try:
        got, ended = _stream_length(fh, dec, need)
    except FormatError as exc:
        raise FormatError(f"{where}: {exc}; the file is damaged or incomplete.") from None
    if got < need:
        raise FormatError(f"{where}: the data holds {got} of the {need} bytes its header declares: the file is "
                          "truncated. Copy or export it again.")


def _read_nrrd_header(fh) -> tuple[dict, int | None]:
    """The parsed header of a NRRD file object and the offset of its attached data (None when detached)."""
    import nrrd

    lines, offset = [], None
    for _ in range(10000):
        raw = fh.readline(1 << 16)
        if not raw:
            break
        line = raw.decode("ascii").rstrip("\r\n")
        if line == "":
            offset = fh.tell()
            break
        lines.append(line)
    return nrrd.read_header(lines), offset


def check_nrrd(path: str | os.PathLike) -> None:
    """Refuse a NRRD/NHDR whose header declares more data than the file (or its detached data file) holds."""
    import nrrd
    from nrrd.reader import _determine_datatype

    p = Path(path)
    where = str(p)
    try:
        with open(p, "rb") as fh:
            header, offset = _read_nrrd_header(fh)
        sizes = header.get("sizes")
        if sizes is None:
            raise FormatError(f"{where}: the NRRD header has no 'sizes' field.")
        n = _check_count(list(sizes), where)
        # The byte order does not change the size; pynrrd only insists on it for multi-byte types.
        per = int(_determine_datatype({"endian": "little", **header}).itemsize)
    except FormatError:
        raise
    except (nrrd.NRRDError, ValueError, TypeError, UnicodeDecodeError, KeyError, IndexError) as exc:
        raise FormatError(f"{where}: could not be read as NRRD (bad header: {exc}).") from None
    need = n * per
    encoding = str(header.get("encoding", "raw")).lower()
    data_file = header.get("data file") or header.get("datafile")
    if data_file:
        if not isinstance(data_file, str) or data_file.startswith("LIST") or "%" in data_file:
            return  # multi-file data: SimpleITK checks each part
        target = Path(data_file) if Path(data_file).is_absolute() else p.parent / data_file
        if not target.is_file():
            raise FormatError(f"{where}: its data file {data_file} is missing.")
        start = max(int(header.get("byte skip", 0) or 0), 0)
    elif offset is None:
        raise FormatError(f"{where}: the NRRD header never ends (no blank line before the data): truncated.")
    else:
        target, start = p, offset
    if encoding == "raw":
        have = target.stat().st_size - start
        if have < need:
            raise FormatError(f"{where}: the data holds {have} of the {need} bytes its header declares: the file is "
                              "truncated. Copy or export it again.")
    elif encoding in ("gzip", "gz"):
        # Deflate expands at most 1032:1, so a short stream cannot hold a huge image. (A truncated gzip
        # NRRD is reported by ITK itself; streaming it here would add half a read's time.)
        have = target.stat().st_size - start
        if need > _DEFLATE_MAX_RATIO * max(have, 1):
            raise FormatError(f"{where}: {have} compressed bytes cannot hold the {need} bytes its header declares "
                              "(deflate expands at most 1032:1): the header is damaged or the file truncated.")
    elif encoding in ("bzip2", "bz2"):
        with open(target, "rb") as fh:
            fh.seek(start)
            _check_stream(fh, encoding, need, where)


def check_nifti(path: str | os.PathLike) -> None:
    """Refuse a ``.nii``/``.nii.gz`` whose declared image is larger than the data it holds (a truncated file
    SimpleITK would read with zeros in place of the missing voxels)."""
    p = Path(path)
    where = str(p)
    gz = p.name.lower().endswith(".gz")
    opener = gzip.open if gz else open
    try:
        with opener(p, "rb") as fh:
            head = fh.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        raise FormatError(f"{where}: not a readable NIfTI file ({exc}).") from None
    if len(head) < 348:
        raise FormatError(f"{where}: {len(head)} bytes, shorter than a NIfTI header (348): the file is truncated.")
    for endian in ("<", ">"):
        size = struct.unpack(endian + "i", head[:4])[0]
        if size in (348, 540):
            break
    else:
        raise FormatError(f"{where}: not a NIfTI-1/2 header (sizeof_hdr {struct.unpack('<i', head[:4])[0]}).")
    if size == 348:
        dims = struct.unpack(endian + "8h", head[40:56])
        datatype, bitpix = struct.unpack(endian + "hh", head[70:74])
        vox_offset = struct.unpack(endian + "f", head[108:112])[0]
    else:
        if len(head) < 540:
            raise FormatError(f"{where}: truncated NIfTI-2 header.")
        datatype, bitpix = struct.unpack(endian + "hh", head[12:16])
        dims = struct.unpack(endian + "8q", head[16:80])
        vox_offset = struct.unpack(endian + "q", head[168:176])[0]
    ndim = dims[0]
    if not 1 <= ndim <= 7:
        raise FormatError(f"{where}: NIfTI dim[0] = {ndim}; the header is damaged.")
    n = _check_count(list(dims[1:ndim + 1]), where)
    per = _NIFTI_TYPE_BYTES.get(datatype, max(bitpix, 8) // 8)
    if not vox_offset == vox_offset or vox_offset < 0:  # NaN or negative
        raise FormatError(f"{where}: NIfTI vox_offset {vox_offset} is damaged.")
    need = int(vox_offset) + n * per
    if not gz:
        have = p.stat().st_size
    else:
        with open(p, "rb") as raw:
            try:
                have, _ = _stream_length(raw, zlib.decompressobj(zlib.MAX_WBITS | 16), need)
            except FormatError as exc:
                raise FormatError(f"{where}: {exc}; the file is damaged or incomplete.") from None
    if have < need:
        raise FormatError(f"{where}: the file holds {have} of the {need} bytes its header declares: it is "
                          "truncated. Copy or export it again.")


def check_declared_size(path: str | os.PathLike) -> None:
    """Run the check that fits the file name (NRRD/NHDR or NIfTI); other files pass unchecked."""
    name = Path(path).name.lower()
    if name.endswith((".nrrd", ".nhdr")):
        check_nrrd(path)
    elif name.endswith((".nii", ".nii.gz")):
        check_nifti(path)
