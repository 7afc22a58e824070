"""Placing a mask read from a file onto a reference grid.

Segmentation files often store a cropped or shifted labelmap (Slicer's ``.seg.nrrd`` with an extent offset,
a DICOM SEG holding only the frames that contain segments). When the file's grid is the reference grid shifted
by whole voxels, the voxels are pasted exactly; otherwise they are resampled (nearest neighbour) with
SimpleITK. Shared by the segmentation readers in :mod:`SegAssistLib.io`.
"""

from __future__ import annotations

import numpy as np

from SegAssistLib.core.volume import Volume, resample_to_reference


def integer_offset(src_ijk_to_ras: np.ndarray, ref_ijk_to_ras: np.ndarray, tol: float = 1e-3) -> np.ndarray | None:
    """(k, j, i) index of the source grid's first voxel in the reference grid, or None when the two grids
    differ in spacing/direction or are not shifted by whole voxels."""
    if not np.allclose(src_ijk_to_ras[:3, :3], ref_ijk_to_ras[:3, :3], atol=tol):
        return None
    ijk = (np.linalg.inv(ref_ijk_to_ras) @ np.append(src_ijk_to_ras[:3, 3], 1.0))[:3]
    if np.abs(ijk - np.rint(ijk)).max() > tol:
        return None
    return np.rint(ijk[::-1]).astype(int)


def place_on_grid(
    mask: np.ndarray, src_ijk_to_ras: np.ndarray, ref_shape: tuple[int, int, int], ref_ijk_to_ras: np.ndarray
) -> np.ndarray:
    """``mask`` (k, j, i on the source grid) as a bool array on the reference grid; voxels outside are dropped
    only when they fall outside the reference grid."""
    offset = integer_offset(src_ijk_to_ras, ref_ijk_to_ras)
    out = np.zeros(ref_shape, dtype=bool)
    if offset is not None:
        src_lo = np.maximum(0, -offset)
        dst_lo = np.maximum(0, offset)
        n = np.minimum(np.asarray(mask.shape) - src_lo, np.asarray(ref_shape) - dst_lo)
        if np.any(n <= 0):
            return out
        out[tuple(slice(d, d + m) for d, m in zip(dst_lo, n))] = mask[tuple(slice(s, s + m) for s, m in zip(src_lo, n))]
        return out
    moving = Volume(mask.astype(np.uint8), src_ijk_to_ras)
    reference = Volume(np.zeros(ref_shape, dtype=np.uint8), ref_ijk_to_ras)
    return resample_to_reference(moving, reference, "nearest").array > 0
