"""3D instances from per-slice 2D instances: each region continues the region of the slice before it that
it overlaps best.

2D instance annotations of a volume (COCO or panoptic files made slice by slice, a cell-segmentation tool
run per slice) number their instances independently on every slice. Stacking them gives one segment per
region per slice. Linking by overlap, as Cellpose does with its ``stitch_threshold``, rebuilds the 3D
instances: between two neighbouring slices, regions are paired one-to-one so the summed intersection over
union (IoU) is largest (``scipy.optimize.linear_sum_assignment``); a pair with an IoU of at least
``min_iou`` continues the same instance, and every other region starts a new one.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from SegAssistLib.errors import OptionError

#: Default IoU a region needs with its predecessor to continue its instance (Cellpose's usual stitch value).
from SegAssistLib.formats.datasets2d.defaults import DEFAULT_MIN_IOU  # noqa: E402  (re-exported)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def iou_matrix(previous: Sequence[np.ndarray], current: Sequence[np.ndarray]) -> np.ndarray:
    """IoU of every pair (previous region, current region) of two same-shaped slices."""
    out = np.zeros((len(previous), len(current)))
    boxes_p = [_bbox(m) for m in previous]
    boxes_c = [_bbox(m) for m in current]
    areas_p = [int(m.sum()) for m in previous]
    areas_c = [int(m.sum()) for m in current]
    for i, (a, bp) in enumerate(zip(previous, boxes_p)):
        if bp is None:
            continue
        for j, (b, bc) in enumerate(zip(current, boxes_c)):
            if bc is None:
                continue
            r0, r1 = max(bp[0], bc[0]), min(bp[1], bc[1])
            c0, c1 = max(bp[2], bc[2]), min(bp[3], bc[3])
            if r0 >= r1 or c0 >= c1:
                continue  # boxes apart: no overlap
            inter = int(np.count_nonzero(a[r0:r1, c0:c1] & b[r0:r1, c0:c1]))
            if inter:
                out[i, j] = inter / (areas_p[i] + areas_c[j] - inter)
    return out


def link_slices(regions: Sequence[Sequence[np.ndarray]], min_iou: float = DEFAULT_MIN_IOU) -> list[list[int]]:
    """Instance numbers (0, 1, ...) for the 2D masks of consecutive slices, ``regions[k]`` being slice k's.

    A region gets the number of the previous slice's region it is paired with (one-to-one, largest total
    IoU, at least ``min_iou``), or a new number. A slice without regions ends every instance.
    """
    if not 0.0 < min_iou <= 1.0:
        raise OptionError(f"min_iou must be in (0, 1], got {min_iou}.")
    ids: list[list[int]] = []
    next_id = 0
    previous: Sequence[np.ndarray] = []
    previous_ids: list[int] = []
    for masks in regions:
        current_ids = [-1] * len(masks)
        if len(previous) and len(masks):
            iou = iou_matrix(previous, masks)
            from scipy.optimize import linear_sum_assignment  # here: keeps `segassist --help` fast

            rows, cols = linear_sum_assignment(iou, maximize=True)
            for i, j in zip(rows, cols):
                if iou[i, j] >= min_iou:
                    current_ids[j] = previous_ids[i]
        for j, value in enumerate(current_ids):
            if value < 0:
                current_ids[j] = next_id
                next_id += 1
        ids.append(current_ids)
        previous, previous_ids = masks, current_ids
    return ids
