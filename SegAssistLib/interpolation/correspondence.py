"""Which regions of one keyframe continue which regions of the next: the correspondence step of keyframe
interpolation.

Between two drawn slices a shape may keep one region, split in two, merge, or a region may begin or end.
Interpolating the two masks as wholes would smear a region that ends into a neighbour that goes on, so the
regions (8-connected components) are first grouped:

1. components that overlap (share a pixel) belong to the same group, transitively, so one region that
   splits into two forms one group of three components;
2. a component that overlaps nothing on the other slice is a region that begins or ends between the
   slices; it gets a group with one empty side.

Pairing non-overlapping components by proximity was tried and measured worse on real lesions (pyradiomics
brain1: two lobes that look like one drifting region are really separate ends), so, like ITK's
MorphologicalContourInterpolator, only overlap links regions.

The same overlap links, followed through all keyframes, give the *tracks* (:func:`region_tracks`): the 3D
objects a segment is made of (a lesion and a separate satellite, two lobes). The area correction of
:mod:`.shape_based` follows each track's own area profile, so one object ending does not shrink or swell
another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass
class RegionGroup:
    """Corresponding regions of two keyframes: ``first`` and ``second`` are bool masks (either may be empty).

    ``ids_first`` / ``ids_second`` are the component labels (1-based, as :func:`label_regions` numbers them)
    the group is made of on each side.
    """

    first: np.ndarray
    second: np.ndarray
    ids_first: tuple[int, ...] = field(default=())
    ids_second: tuple[int, ...] = field(default=())


def _find(parent: list[int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def label_regions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The 8-connected components of a 2D bool mask: (label image, count), as :func:`scipy.ndimage.label`."""
    return ndimage.label(mask, structure=_EIGHT)


def _overlap_pairs(la: np.ndarray, lb: np.ndarray, nb: int) -> list[tuple[int, int]]:
    """(component of ``la``, component of ``lb``) pairs that share at least one pixel (1-based labels)."""
    both = (la > 0) & (lb > 0)
    if not both.any():
        return []
    codes = la[both].astype(np.int64) * (nb + 1) + lb[both]
    present = np.unique(codes)
    return [(int(a), int(b)) for a, b in zip(*np.divmod(present, nb + 1))]


def match_regions(
    first: np.ndarray,
    second: np.ndarray,
    labelled_first: tuple[np.ndarray, int] | None = None,
    labelled_second: tuple[np.ndarray, int] | None = None,
) -> list[RegionGroup]:
    """Group the connected components of two 2D bool masks into corresponding :class:`RegionGroup` s.

    ``labelled_first`` / ``labelled_second`` may pass :func:`label_regions` results already computed.
    """
    la, na = labelled_first if labelled_first is not None else label_regions(first)
    lb, nb = labelled_second if labelled_second is not None else label_regions(second)
    # Nodes 0..na-1 are components of `first`, na..na+nb-1 those of `second`.
    parent = list(range(na + nb))
    for a, b in _overlap_pairs(la, lb, nb):
        ra, rb = _find(parent, a - 1), _find(parent, na + b - 1)
        parent[ra] = rb
    groups: dict[int, RegionGroup] = {}
    roots_a = np.array([_find(parent, a) for a in range(na)], dtype=int)
    roots_b = np.array([_find(parent, na + b) for b in range(nb)], dtype=int)
    for root in sorted(set(roots_a.tolist()) | set(roots_b.tolist())):
        ids_a = np.flatnonzero(roots_a == root) + 1
        ids_b = np.flatnonzero(roots_b == root) + 1
        groups[root] = RegionGroup(
            _select(la, na, ids_a) if ids_a.size else np.zeros_like(first, dtype=bool),
            _select(lb, nb, ids_b) if ids_b.size else np.zeros_like(second, dtype=bool),
            tuple(ids_a.tolist()),
            tuple(ids_b.tolist()),
        )
    return list(groups.values())


def _select(labels: np.ndarray, count: int, ids: np.ndarray) -> np.ndarray:
    """Bool mask of the components ``ids`` of a label image (all of it when ``ids`` is every component)."""
    if ids.size == count:
        return labels > 0
    if ids.size == 1:
        return labels == ids[0]
    return np.isin(labels, ids)


def region_tracks(labelled: Sequence[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    """Follow regions through a sequence of keyframes: the track (3D object) of every component.

    ``labelled`` holds :func:`label_regions` results of consecutive keyframes (same crop). Components of
    neighbouring keyframes that overlap belong to the same track, transitively. Returns, per keyframe, an
    int array ``track[c]`` for its components ``c = 1..count`` (``track[0]`` is unused, -1); track ids are
    0..T-1.
    """
    offsets = np.cumsum([0] + [n for _, n in labelled])
    parent = list(range(int(offsets[-1])))
    for i in range(len(labelled) - 1):
        (la, _), (lb, nb) = labelled[i], labelled[i + 1]
        for a, b in _overlap_pairs(la, lb, nb):
            ra, rb = _find(parent, int(offsets[i]) + a - 1), _find(parent, int(offsets[i + 1]) + b - 1)
            parent[ra] = rb
    roots = [_find(parent, x) for x in range(len(parent))]
    ids = {r: t for t, r in enumerate(sorted(set(roots)))}
    out = []
    for i, (_, n) in enumerate(labelled):
        track = np.full(n + 1, -1, dtype=int)
        track[1:] = [ids[roots[int(offsets[i]) + c]] for c in range(n)]
        out.append(track)
    return out
