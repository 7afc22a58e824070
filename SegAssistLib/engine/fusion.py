"""Fusing the planes' probability maps on the engine's region into one mask.

Where more than one plane covers a voxel the planes' probabilities are averaged, weighted per slice (slices
a plane extrapolated, or whose backend mask was overruled, count less than slices on or between its
keyframes). Rule ``"union"`` (the default) then also keeps a voxel that a plane's own evidence (a slice on
or between its keyframes, written as the backend gave it) puts inside: one click on a coronal slice of a long
structure covers part of it, and its 0 should not outvote the axial keyframes' 1 (issue 14; the development
set's tuning half chose it, docs/BENCHMARKS.md). Rule ``"mean"`` is the weighted mean alone. The
disagreement between planes is kept as a map that shows the user where to look. With keyframes in several
planes, a voxel only extrapolations speak for is left out. Everything here is on the region (see
:mod:`SegAssistLib.engine.crop`), never on the full grid.
"""

from __future__ import annotations

import numpy as np

from SegAssistLib.engine.crop import Region

#: Fusion rules :func:`fuse` knows; the first is the engine's default.
RULES = ("union", "mean")
#: A slice of at least this fusion weight is the plane's own evidence (on or between its keyframes, not
#: overruled); under rule "union" its "inside" counts whatever the other planes say.
TRUSTED_WEIGHT = 1.0


def check_rule(rule: str) -> str:
    """``rule`` if :func:`fuse` knows it, else a ValueError that lists the rules."""
    if rule not in RULES:
        raise ValueError(f"Unknown fusion rule {rule!r}: use one of {', '.join(RULES)}.")
    return rule


def along_normal(region: Region, plane: str, per_slice: np.ndarray) -> np.ndarray:
    """A per-slice value of ``plane`` (indexed on the region) broadcast to the region's (k, j, i) grid."""
    axis = 2 - region.view(plane).normal_ijk
    shape = [1, 1, 1]
    shape[axis] = len(per_slice)
    return per_slice.reshape(shape)


def fuse(region: Region, plane_prob: dict[str, np.ndarray], plane_weight: dict[str, np.ndarray],
         plane_bounded: dict[str, np.ndarray], rule: str = RULES[0]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask, fused probability, disagreement) on ``region`` from each plane's map (NaN: not covered),
    per-slice fusion weights and per-slice bool "on or between the plane's keyframes", by ``rule`` (see the
    module doc). The fused probability is >= 0.5 exactly where the mask is, before the bound to the planes'
    keyframes."""
    check_rule(rule)
    shape = region.shape
    total = np.zeros(shape, dtype=np.float32)
    wsum = np.zeros(shape, dtype=np.float32)
    for plane, prob in plane_prob.items():
        covered = ~np.isnan(prob)
        w = along_normal(region, plane, plane_weight[plane]) * covered
        total += np.where(covered, prob, 0.0) * w
        wsum += w
    fused = np.divide(total, wsum, out=np.zeros(shape, dtype=np.float32), where=wsum > 0)
    del total
    dev = np.zeros(shape, dtype=np.float32)
    n_cover = np.zeros(shape, dtype=np.uint8)
    for prob in plane_prob.values():
        covered = ~np.isnan(prob)
        dev += np.where(covered, np.abs(prob - fused), 0.0)
        n_cover += covered
    # Mean absolute deviation from the fused value, scaled so two planes saying 0 and 1 give 1.
    disagreement = np.where(n_cover > 1, 2.0 * dev / np.maximum(n_cover, 1), 0.0).astype(np.float32)
    if rule == "union" and len(plane_prob) > 1:
        for plane, prob in plane_prob.items():
            trusted = along_normal(region, plane, (plane_weight[plane] >= TRUSTED_WEIGHT) & plane_bounded[plane])
            np.maximum(fused, np.where(trusted & ~np.isnan(prob), prob, 0.0), out=fused)
    mask = fused >= 0.5
    if len(plane_prob) > 1:
        bounded = np.zeros(shape, dtype=bool)
        for plane, prob in plane_prob.items():
            bounded |= along_normal(region, plane, plane_bounded[plane]) & ~np.isnan(prob)
        mask &= bounded
    return mask, fused, np.clip(disagreement, 0, 1)


def enforce_size_bound(mask: np.ndarray, fused: np.ndarray, bound: float) -> bool:
    """Keep at most ``bound`` voxels of ``mask`` (the most probable ones); True if any were dropped."""
    count = int(np.count_nonzero(mask))
    if count <= bound:
        return False
    values = fused[mask]
    cut = np.partition(values, count - int(bound))[count - int(bound)]
    mask &= fused > cut
    return True
