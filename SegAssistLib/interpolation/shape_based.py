"""Shape-based interpolation between two keyframe slices: signed distances in mm, blended per region.

Each keyframe mask becomes a signed distance map (negative inside, in millimetres, computed with the
in-plane pixel spacing so anisotropic pixels are handled), and a slice a fraction ``w`` of the way from the
first keyframe to the second is ``(1 - w) * D_first + w * D_second < 0`` (Raya & Udupa's shape-based
interpolation). These refinements make it robust where plain blending fails:

* regions are blended group by group (:func:`~SegAssistLib.interpolation.correspondence.match_regions`), so
  splits, merges, and regions that begin or end between keyframes do not bleed into each other; a region
  with no partner (it begins or ends between the keyframes) shrinks about its centroid to nothing at the
  other keyframe, as a rounded end (:func:`_shrink`);
* a group of one region on each side that share less than half of the smaller one (:data:`AMBIGUOUS_OVERLAP`)
  may be one region that moved and changed shape, or one region ending while another begins; the filled slice is the
  union of both readings (the blend, plus each side's rounded end), instead of betting on one;
* with ``align=True`` the two sides of a group are first brought onto each other by the shift between their
  centroids, blended, and moved a fraction ``w`` of that shift, so a region that drifts sideways between
  slices (a tilted structure, a lesion crossing the slices obliquely) keeps its size instead of thinning to
  the overlap of its two ends;
* with ``area_limit_mm`` the level set of each track (one 3D object, followed through the keyframes by
  :func:`~SegAssistLib.interpolation.correspondence.region_tracks`) is moved slightly so its area follows a
  monotone cubic through that track's own keyframe areas (blending loses area between differing shapes, and
  rounded structures bulge between keyframes); a per-slice profile would let one object that ends pull
  down or swell another.

Work is done on a crop around the two keyframes' union, so cost scales with the structure, not the slice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from scipy import ndimage

from SegAssistLib.interpolation.correspondence import (
    RegionGroup,
    label_regions,
    match_regions,
    region_tracks,
)

#: Pixels of background kept around the keyframes' union when cropping (room for the distance maps).
_MARGIN = 2
#: Exponent of the scale profile of a region that ends between keyframes: sqrt gives a rounded end.
_END_EXPONENT = 0.5
#: Two overlapping regions whose overlap is less than this fraction of the smaller one are ambiguous: one
#: region that moved, or one ending while another begins (see the module docstring).
AMBIGUOUS_OVERLAP = 0.5


def signed_distance(mask: np.ndarray, pixel_spacing: tuple[float, float]) -> np.ndarray:
    """Signed distance in mm (negative inside, positive outside, never zero) of a 2D bool mask.

    ``mask`` must have background on its border (callers pad), so inside distances are finite.
    """
    out = ndimage.distance_transform_edt(~mask, sampling=pixel_spacing).astype(np.float32)
    # Inside distances only on the mask's box grown by one pixel: that ring is background, and clamping any
    # farther background pixel onto the ring brings it closer, so the distances are exact (and cheaper).
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size:
        box = (slice(max(0, rows[0] - 1), rows[-1] + 2), slice(max(0, cols[0] - 1), cols[-1] + 2))
        inside = ndimage.distance_transform_edt(mask[box], sampling=pixel_spacing)
        out[box] -= inside.astype(np.float32)
    return out


def _centroid(mask: np.ndarray) -> np.ndarray:
    """(row, col) centroid of a non-empty 2D bool mask (cheaper than ``ndimage.center_of_mass`` on small
    regions, which multiplies whole index grids)."""
    return np.array([idx.mean() for idx in np.nonzero(mask)], dtype=float)


def _crop_box(union: np.ndarray) -> tuple[slice, slice]:
    rows = np.flatnonzero(union.any(axis=1))
    cols = np.flatnonzero(union.any(axis=0))
    nr, nc = union.shape
    return (
        slice(max(0, rows[0] - _MARGIN), min(nr, rows[-1] + 1 + _MARGIN)),
        slice(max(0, cols[0] - _MARGIN), min(nc, cols[-1] + 1 + _MARGIN)),
    )


class _GroupBlend:
    """The blended signed distance of one region group at any fraction ``w`` between its keyframes.

    ``whole`` holds the signed distances of the two complete keyframes, reused when the group is all of a
    keyframe (the common case), so each keyframe's distance map is computed once.
    """

    def __init__(self, group: RegionGroup, pixel_spacing: tuple[float, float], align: bool, whole: tuple):
        self.empty_first = not group.first.any()
        self.empty_second = not group.second.any()
        (mask1, dist1), (mask2, dist2) = whole
        self.d_first = self.d_second = None
        self.c_first = self.c_second = None
        if not self.empty_first:
            self.d_first = dist1 if np.array_equal(group.first, mask1) else signed_distance(group.first, pixel_spacing)
            self.c_first = _centroid(group.first)
        if not self.empty_second:
            self.d_second = dist2 if np.array_equal(group.second, mask2) else signed_distance(group.second, pixel_spacing)
            self.c_second = _centroid(group.second)
        paired = not (self.empty_first or self.empty_second)
        # Only a one-to-one pair is ambiguous: a split or merge is already a statement about how regions go on.
        one_to_one = len(group.ids_first) == 1 and len(group.ids_second) == 1
        self.ambiguous = paired and one_to_one and bool(
            np.count_nonzero(group.first & group.second)
            < AMBIGUOUS_OVERLAP * min(np.count_nonzero(group.first), np.count_nonzero(group.second))
        )
        self.shift = np.zeros(2)
        if align and paired:
            shift = self.c_second - self.c_first
            if np.abs(shift).max() >= 0.5:
                self.shift = shift

    def at(self, w: float) -> np.ndarray:
        """Blended signed distance at fraction ``w`` (0 = first keyframe, 1 = second)."""
        if self.empty_first:
            return _shrink(self.d_second, 1.0 - w, self.c_second)
        if self.empty_second:
            return _shrink(self.d_first, w, self.c_first)
        d1, d2 = self.d_first, self.d_second
        if self.shift.any():
            d1 = ndimage.shift(d1, w * self.shift, order=1, mode="nearest")
            d2 = ndimage.shift(d2, -(1.0 - w) * self.shift, order=1, mode="nearest")
        return (1.0 - w) * d1 + w * d2

    def ends(self, w: float) -> np.ndarray | None:
        """For an ambiguous pair, the union of both sides ending as rounded caps at fraction ``w``; else None."""
        if not self.ambiguous:
            return None
        return np.minimum(_shrink(self.d_first, w, self.c_first), _shrink(self.d_second, 1.0 - w, self.c_second))


def _shrink(distance: np.ndarray, f: float, centre: np.ndarray) -> np.ndarray:
    """Signed distance of a region without partner, a fraction ``f`` of the way towards where it ends.

    The region is scaled about its centroid ``centre`` (row, col pixels) by ``sqrt(1 - f)``: a rounded end
    that closes at the other keyframe, keeping its outline (an erosion would first delete its thin parts),
    and whose position stays where the region was drawn. Area falls linearly to zero, half of it left
    midway.
    """
    scale = float(max(0.0, 1.0 - f) ** _END_EXPONENT)
    if scale < 1e-3:
        return np.full(distance.shape, np.float32(np.finfo(np.float32).max))
    if scale == 1.0:
        return distance
    # Output pixel x samples the original at centre + (x - centre) / scale; distances scale with the shape.
    sampled = ndimage.affine_transform(
        distance, np.full(2, 1.0 / scale), offset=centre - centre / scale, order=1, mode="nearest"
    )
    return scale * sampled


def _area_profile(keys: Sequence[int], areas: np.ndarray):
    """Target cross-section area (pixels) at any slice: monotone cubic (PCHIP) through the keyframes' areas,
    linear with only two keyframes. PCHIP follows the bulge of rounded structures between keyframes without
    overshooting."""
    if len(keys) < 3:
        return lambda n: float(np.interp(n, keys, areas))
    from scipy.interpolate import PchipInterpolator

    spline = PchipInterpolator(np.asarray(keys, dtype=float), areas)
    return lambda n: float(max(0.0, spline(n)))


def _track_profiles(keys: Sequence[int], labelled: Sequence[tuple[np.ndarray, int]], tracks: Sequence[np.ndarray]):
    """One area profile (:func:`_area_profile`) per track, through that track's own keyframe areas.

    A track's area at a keyframe is the area of its components there; keyframes where it is absent (before
    it begins, after it ends) are left out, so a region ending does not pull down the profile of another.
    """
    n_tracks = 1 + max((int(t.max()) for t in tracks if t.size > 1), default=-1)
    areas = np.zeros((len(keys), n_tracks))
    for i, ((labels, count), track) in enumerate(zip(labelled, tracks)):
        if count:
            sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
            np.add.at(areas[i], track[1:], sizes)
    profiles = []
    for t in range(n_tracks):
        present = np.flatnonzero(areas[:, t] > 0)
        profiles.append(_area_profile([keys[i] for i in present], areas[present, t]) if present.size > 1 else None)
    return profiles


def _area_offset(score: np.ndarray, target: float, limit: float) -> float:
    """The level (mm, within +-``limit``) at which ``score < level`` covers ``target`` pixels."""
    count = round(target)
    flat = score.ravel()
    if count <= 0 or count >= flat.size:
        return 0.0
    below, above = np.partition(flat, (count - 1, count))[count - 1 : count + 1]
    return float(np.clip(0.5 * (below + above), -limit, limit))


def interpolate_between(
    keyframes: Sequence[tuple[int, np.ndarray]],
    pixel_spacing: tuple[float, float],
    align: bool = True,
    area_limit_mm: float = 0.0,
) -> Iterator[tuple[int, tuple[slice, slice], np.ndarray]]:
    """Fill the slices between consecutive keyframes.

    ``keyframes`` are ``(slice index, 2D bool mask)`` in increasing index order, all of one plane;
    ``pixel_spacing`` is (row, column) mm. Yields ``(n, (rows, cols), score)`` for every slice ``n`` strictly
    between two keyframes: the crop of the slice it covers and the blended signed distance (mm, float32)
    on that crop; negative is inside, and everything outside the crop is outside. Slices between two empty
    keyframes are not yielded.

    With ``area_limit_mm > 0`` the level set of each track (:func:`~.correspondence.region_tracks`: one 3D
    object of the segment) is moved, by at most that many mm, so that the track's area follows a monotone
    cubic through its own keyframe areas: blending distance maps of shapes that differ loses area between
    them, and rounded structures bulge between keyframes. Regions that begin or end between two keyframes
    keep the area of their rounded end (:func:`_shrink`).
    """
    union = np.zeros_like(keyframes[0][1], dtype=bool)
    for _, m in keyframes:
        union |= m
    if not union.any():
        return
    box = _crop_box(union)
    keys = [n for n, _ in keyframes]
    masks = [np.pad(m[box], 1) for _, m in keyframes]
    gaps = [i for i in range(len(keys) - 1) if keys[i + 1] - keys[i] > 1 and (masks[i].any() or masks[i + 1].any())]
    if not gaps:
        return
    labelled = [label_regions(m) for m in masks]
    tracks = region_tracks(labelled) if area_limit_mm > 0 else None
    profiles = _track_profiles(keys, labelled, tracks) if tracks is not None else None
    distances: dict[int, np.ndarray | None] = {}

    def whole(i: int) -> tuple[np.ndarray, np.ndarray | None]:
        if i not in distances:
            distances[i] = signed_distance(masks[i], pixel_spacing) if labelled[i][1] else None
        return masks[i], distances[i]

    for i in gaps:
        a, b = keys[i], keys[i + 1]
        groups = match_regions(masks[i], masks[i + 1], labelled[i], labelled[i + 1])
        blends = [_GroupBlend(g, pixel_spacing, align, (whole(i), whole(i + 1))) for g in groups]
        # Groups of one track share its area correction; a track is corrected where it spans both keyframes.
        by_track: dict[int, list[int]] = {}
        corrected: set[int] = set()
        for g, group in enumerate(groups):
            t = int(tracks[i][group.ids_first[0]] if group.ids_first else tracks[i + 1][group.ids_second[0]]) \
                if tracks is not None else 0
            by_track.setdefault(t, []).append(g)
            if group.ids_first and group.ids_second and profiles is not None and profiles[t] is not None:
                corrected.add(t)
        for n in range(a + 1, b):
            w = (n - a) / (b - a)
            score = None
            for t, members in by_track.items():
                part = blends[members[0]].at(w)
                for g in members[1:]:
                    part = np.minimum(part, blends[g].at(w))
                part = np.asarray(part[1:-1, 1:-1], dtype=np.float32)
                if t in corrected:
                    part = part - np.float32(_area_offset(part, profiles[t](n), area_limit_mm))
                for g in members:  # ambiguous pairs: also the reading "one region ends, another begins"
                    ends = blends[g].ends(w)
                    if ends is not None:
                        part = np.minimum(part, np.asarray(ends[1:-1, 1:-1], dtype=np.float32))
                score = part if score is None else np.minimum(score, part)
            yield n, box, score
