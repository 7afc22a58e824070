"""What the engine guarantees whatever the backend does (issue 14, item 2).

A backend (classical, SAM 2, a third-party model) may run away past the object or leak into its
surroundings. The engine does not trust it further than the keyframes the user placed:

* **No voxel beyond the outermost keyframes** unless extrapolation is asked for. Extrapolation stops at
  the first slice whose area grows past what the last keyframes support (:func:`extrapolation_area_limit`),
  whose confidence drops (:data:`EXTRAP_MIN_SCORE`), that no longer touches the slice before it, or after
  about one object diameter (:func:`extrapolation_limit_slices`).
* **Between two keyframes**, every slice must stay inside a band around the shape interpolation of the
  two keyframes (:func:`band`): a slice whose backend mask leaves it (or is much larger than the keyframes
  support) is replaced by the interpolation and flagged (:func:`check_between`); whatever is written is
  clipped to the band, so nothing outside it is ever written.
* **A keyframe far smaller than both its neighbours** (:func:`keyframe_shrunk`) is a prompt the backend
  under-answered (a click whose region stopped at the first texture edge): when it lies inside the
  interpolation of the neighbouring keyframes (:func:`same_object`), that interpolation is added to it and
  the slice is flagged, so one such slice does not pinch the shape between three keyframes. A hand-drawn
  slice is never changed.
* **A size bound implied by the keyframes**: every slice's area is bounded by ``AREA_FACTOR`` times the
  area the keyframes support there, so the 3D result cannot be an order of magnitude larger than the
  object the prompts describe (:func:`size_bound` states the bound for the whole result).

The band grows with the distance to the nearest keyframe because the interpolation is surest next to the
keyframes. Its constants are defaults, not tuned on the development benchmark: of five settings tried, with
the true lesion masks of lung2 and brain1 standing in for a perfect backend (keyframes every 2nd, 3rd,
5th slice), this one overruled the fewest true slices (1 of 31; 3 mm / 0.5 mm / 2% overruled 5).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

#: Band half-width next to a keyframe (mm), and how fast it widens per mm away from the nearest keyframe.
BAND_BASE_MM = 5.0
BAND_PER_MM = 1.0
#: Fraction of a slice's mask that may fall outside the band and be clipped without flagging the slice.
OUTSIDE_TOLERANCE = 0.05
#: A slice may be at most this many times larger than the area the keyframes support there.
AREA_FACTOR = 2.0
#: Beyond the last keyframe a slice may grow at most this much over the last keyframe's area.
EXTRAP_GROWTH = 1.1
#: Extrapolation stops at the first slice whose backend score is below this.
EXTRAP_MIN_SCORE = 0.5
#: Reasons a slice is flagged or extrapolation stopped (keys of ``EngineResult.flags`` values).
LEAVES_BAND = "left the band the keyframes allow; replaced by the interpolation"
TOO_LARGE = "larger than the keyframes support; replaced by the interpolation"
SHRUNK = "far smaller than both neighbouring keyframes; their interpolation was added"
#: A prompted keyframe whose area is under 1/SHRUNK_FACTOR of both neighbouring keyframes' is filled from them
#: (0 = off) ...
SHRUNK_FACTOR = 2.0
#: ... when at least this fraction of it lies inside their interpolation (it is the same object, cut short).
SAME_OBJECT_INSIDE = 0.5


def band_radius_mm(distance_slices: int, slice_spacing: float, keyframe_radius_mm: float) -> float:
    """Half-width of the band ``distance_slices`` away from the nearest keyframe: grows with the distance,
    never past the keyframes' own equivalent radius (a shape cannot drift further than its size)."""
    grow = BAND_BASE_MM + BAND_PER_MM * distance_slices * slice_spacing
    return float(min(grow, max(BAND_BASE_MM, keyframe_radius_mm)))


def equivalent_radius_mm(area_pixels: float, pixel_spacing: tuple[float, float]) -> float:
    """Radius (mm) of the disc with the area of ``area_pixels`` pixels."""
    return math.sqrt(max(area_pixels, 0.0) * pixel_spacing[0] * pixel_spacing[1] / math.pi)


def band(shape2d: np.ndarray, pixel_spacing: tuple[float, float], radius_mm: float) -> np.ndarray:
    """Pixels within ``radius_mm`` of ``shape2d`` (bool); empty when the shape is empty."""
    shape2d = np.asarray(shape2d, dtype=bool)
    if not shape2d.any():
        return np.zeros(shape2d.shape, dtype=bool)
    return ndimage.distance_transform_edt(~shape2d, sampling=pixel_spacing) <= radius_mm


def check_between(mask2d: np.ndarray, band2d: np.ndarray, supported_area: float, outside_extra: int = 0) -> list[str]:
    """Why a between-keyframes slice must not be written as the backend gave it (empty list: it may).

    ``outside_extra`` counts mask pixels the caller already knows lie outside ``band2d``'s box."""
    area = int(mask2d.sum()) + int(outside_extra)
    if area == 0:
        return []
    flags = []
    outside = int((mask2d & ~band2d).sum()) + int(outside_extra)
    if outside > OUTSIDE_TOLERANCE * area:
        flags.append(LEAVES_BAND)
    if area > AREA_FACTOR * max(supported_area, 1.0):
        flags.append(TOO_LARGE)
    return flags


def keyframe_shrunk(area: float, previous_area: float, next_area: float) -> bool:
    """Whether a prompted keyframe is far smaller than both keyframes around it (see the module doc)."""
    if SHRUNK_FACTOR <= 0 or previous_area <= 0 or next_area <= 0:
        return False
    return SHRUNK_FACTOR * area < min(previous_area, next_area)


def same_object(keyframe2d: np.ndarray, interpolation2d: np.ndarray) -> bool:
    """Whether a keyframe's mask lies mostly inside the interpolation of its neighbouring keyframes."""
    area = int(np.count_nonzero(keyframe2d))
    return area > 0 and np.count_nonzero(keyframe2d & interpolation2d) >= SAME_OBJECT_INSIDE * area


def extrapolation_area_limit(last_area: float, previous_area: float | None) -> float:
    """The largest area a slice beyond the last keyframe may have: a little over the last keyframe's when
    the keyframes grow towards the end, no more than it when they shrink (the object is closing)."""
    if previous_area is not None and previous_area > last_area:
        return float(last_area)
    return float(EXTRAP_GROWTH * last_area)


def extrapolation_limit_slices(end_mask: np.ndarray, pixel_spacing: tuple[float, float], slice_spacing: float) -> int:
    """How many slices extrapolation may run past the end keyframe at most: about the object's diameter
    there (a shape does not extend past its last cross-section by more than its own width)."""
    radius = equivalent_radius_mm(float(np.count_nonzero(end_mask)), pixel_spacing)
    return max(1, int(math.ceil(2.0 * radius / max(slice_spacing, 1e-6))))


def extrapolation_stop(mask2d: np.ndarray, score: float, previous: np.ndarray, area_limit: float) -> str | None:
    """The reason extrapolation stops at this slice, or None if the slice may be kept."""
    area = int(np.count_nonzero(mask2d))
    if area == 0:
        return "object gone"
    if score < EXTRAP_MIN_SCORE:
        return f"confidence dropped to {score:.2f}"
    if area > area_limit:
        return f"area {area} px grew past the {area_limit:.0f} px the last keyframes support"
    if not np.any(mask2d & previous):
        return "no longer touches the previous slice"
    return None


def size_bound(supported_voxels: float) -> float:
    """The most voxels a result may hold given the keyframes' supported volume (see the module doc)."""
    return AREA_FACTOR * max(float(supported_voxels), 1.0)
