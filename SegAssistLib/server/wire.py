"""The wire format shared by the SegAssist server and its torch-free client (numpy + stdlib only).

One binary *envelope* carries one array and its JSON header::

    b"SGA1" | uint32 big-endian header length | UTF-8 JSON header | zlib-compressed array bytes

The header says ``dtype``, ``shape`` and ``codec`` and carries whatever else the message needs (the volume's
IJK->RAS geometry on upload, the changed bounding box on a reply). Bool arrays travel bit-packed, so a mask
costs 1 bit per voxel before compression. zlib (stdlib) keeps the client free of compiled extras; level 1
compresses a CT about 2x at several hundred MB/s, and a mask's bounding box to a few hundred bytes.

:func:`content_hash` names a volume by its voxels *and* geometry, so a client can ask whether the server
already holds it and skip the upload.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from typing import Any

import numpy as np

from SegAssistLib.errors import WireError

MAGIC = b"SGA1"
#: Element types a volume or mask may have on the wire (anything else is refused with a message).
DTYPES = ("bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")
#: Upper bound of a decompressed array (4 GiB), so a small malicious body cannot exhaust memory.
MAX_ARRAY_BYTES = 4 << 30


def pack(array: np.ndarray, header: dict[str, Any] | None = None, level: int = 1) -> bytes:
    """One envelope holding ``array`` (C order) and ``header`` (JSON-serialisable)."""
    array = np.asarray(array)
    dtype = "bool" if array.dtype == bool else array.dtype.name
    if dtype not in DTYPES:
        raise WireError(f"dtype {array.dtype} cannot be sent; use one of {', '.join(DTYPES)}.")
    raw = np.packbits(array, axis=None).tobytes() if dtype == "bool" else np.ascontiguousarray(array).astype(
        array.dtype.newbyteorder("<"), copy=False).tobytes()
    head = dict(header or {})
    head.update(dtype=dtype, shape=[int(s) for s in array.shape], codec="zlib")
    hbytes = json.dumps(head, separators=(",", ":")).encode()
    return MAGIC + struct.pack(">I", len(hbytes)) + hbytes + zlib.compress(raw, level)


def unpack(data: bytes) -> tuple[np.ndarray, dict[str, Any]]:
    """(array, header) of an envelope; a :class:`WireError` that says what is wrong otherwise."""
    if len(data) < 8 or data[:4] != MAGIC:
        raise WireError("Body is not a SegAssist array envelope (it must start with b'SGA1'); "
                        "send arrays with SegAssistLib.server.wire.pack.")
    (n,) = struct.unpack(">I", data[4:8])
    if 8 + n > len(data):
        raise WireError(f"Envelope header claims {n} bytes but the body has only {len(data) - 8}.")
    try:
        head = json.loads(data[8:8 + n].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"Envelope header is not JSON: {exc}.") from None
    if not isinstance(head, dict):
        raise WireError("Envelope header must be a JSON object.")
    dtype, shape = head.get("dtype"), head.get("shape")
    if dtype not in DTYPES:
        raise WireError(f"Envelope dtype {dtype!r} is not one of {', '.join(DTYPES)}.")
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape) or len(shape) > 4:
        raise WireError(f"Envelope shape {shape!r} must be a list of at most 4 non-negative integers.")
    if head.get("codec") != "zlib":
        raise WireError(f"Envelope codec {head.get('codec')!r} is not supported (only 'zlib').")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    nbytes = (count + 7) // 8 if dtype == "bool" else count * np.dtype(dtype).itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise WireError(f"Array of {nbytes} bytes exceeds the {MAX_ARRAY_BYTES} byte limit.")
    try:
        d = zlib.decompressobj()
        raw = d.decompress(data[8 + n:], nbytes + 1)
    except zlib.error as exc:
        raise WireError(f"Array bytes are not zlib data: {exc}.") from None
    if len(raw) != nbytes:
        raise WireError(f"Array bytes decompress to {len(raw)} bytes; dtype {dtype} and shape {shape} need {nbytes}.")
    if dtype == "bool":
        arr = np.unpackbits(np.frombuffer(raw, np.uint8), count=count).astype(bool).reshape(shape)
    else:
        arr = np.frombuffer(raw, np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)
    return arr, head


def content_hash(array: np.ndarray, ijk_to_ras: np.ndarray) -> str:
    """SHA-256 of a volume's dtype, shape, geometry (rounded to 1e-6 mm) and voxels: its name on the server."""
    array = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(f"{array.dtype.str}|{array.shape}|".encode())
    h.update(np.round(np.asarray(ijk_to_ras, dtype=float), 6).astype("<f8").tobytes())
    h.update(memoryview(array).cast("B"))
    return h.hexdigest()


def bounding_box(changed: np.ndarray) -> list[int] | None:
    """[k0, j0, i0, k1, j1, i1] (end exclusive) of the True voxels of a 3D bool array; None when none."""
    if not changed.any():
        return None
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(changed.any(axis=other))
        box.append((int(idx[0]), int(idx[-1]) + 1))
    return [box[0][0], box[1][0], box[2][0], box[0][1], box[1][1], box[2][1]]


def crop(array: np.ndarray, box: list[int]) -> np.ndarray:
    """The part of a (k, j, i) array inside ``box`` (see :func:`bounding_box`)."""
    k0, j0, i0, k1, j1, i1 = box
    return array[k0:k1, j0:j1, i0:i1]


def paste(target: np.ndarray, box: list[int] | None, part: np.ndarray) -> None:
    """Write ``part`` into ``target`` at ``box`` (in place); nothing when ``box`` is None."""
    if box is None:
        return
    k0, j0, i0, k1, j1, i1 = box
    if part.shape != (k1 - k0, j1 - j0, i1 - i0):
        raise WireError(f"Patch shape {part.shape} does not match its box {box}.")
    target[k0:k1, j0:j1, i0:i1] = part
