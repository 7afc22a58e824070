"""Scores for comparing a mask with the truth: Dice and the 95 % Hausdorff distance in mm.

Used by the simulated user, the engine and interpolation tests, and the benchmarks; both take (k, j, i) bool
masks (any shape for Dice), and the Hausdorff distance takes the (i, j, k) voxel spacing so it is in mm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient 2|A∩B| / (|A| + |B|); 1.0 when both are empty."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1))


def hausdorff95(a: np.ndarray, b: np.ndarray, spacing_ijk: Sequence[float]) -> float:
    """Symmetric 95th percentile of the distances (mm) between the surfaces of two 3D masks.

    ``inf`` when exactly one mask is empty, 0.0 when both are. Works on the crop around both masks.
    """
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return float("inf")
    box = ndimage.find_objects((a | b).astype(np.uint8))[0]
    a = np.pad(a[box], 1)
    b = np.pad(b[box], 1)
    sampling = tuple(float(s) for s in spacing_ijk)[::-1]
    sa, sb = _surface(a), _surface(b)
    to_b = ndimage.distance_transform_edt(~sb, sampling=sampling)[sa]
    to_a = ndimage.distance_transform_edt(~sa, sampling=sampling)[sb]
    return float(np.percentile(np.concatenate([to_b, to_a]), 95))
