"""One gap of one plane: the slices between two keyframes, or beyond the first/last one (extrapolation).

Between keyframes ``a < b`` the backend propagates forwards from ``a`` and backwards from ``b``; the two
are blended by distance (``w = (b - n) / (b - a)``) and mixed with the shape-based interpolation of the two
keyframe masks in proportion to how sure the backend is (``p = 0.4 s * backend + (1 - 0.4 s) * prior``).
The guards of :mod:`SegAssistLib.engine.guards` decide whether the backend may speak at all on a slice,
and clip every slice to the band around the interpolation. Beyond the outermost keyframes the backend
propagates outwards only when extrapolation is asked for, and stops by the guards' rules.

Every slice comes back as a small :class:`~SegAssistLib.engine.crop.Patch` (never a full slice).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.engine import guards
from SegAssistLib.engine.crop import Box2D, Patch, Region, array_box, mask_box, margin_pixels
from SegAssistLib.engine.result import SliceInfo

#: How much a fully confident backend counts against the interpolation prior between two keyframes.
#: Below 0.5, the backend moves the interpolated boundary by up to ~1.6 soft-edge widths either way
#: (see :func:`soft_mask`) but cannot invent or erase shapes far from it.
BACKEND_WEIGHT = 0.4

SliceOut = tuple["Patch | None", SliceInfo]


def soft_mask(mask2d: np.ndarray, pixel_spacing: tuple[float, float], tau_mm: float) -> np.ndarray:
    """A probability from a binary slice: a logistic of the signed distance (mm) to its boundary."""
    from scipy import ndimage

    mask2d = np.asarray(mask2d, dtype=bool)
    if not mask2d.any():
        return np.zeros(mask2d.shape, dtype=np.float32)
    inside = ndimage.distance_transform_edt(mask2d, sampling=pixel_spacing)
    outside = ndimage.distance_transform_edt(~mask2d, sampling=pixel_spacing)
    signed = np.where(mask2d, inside - 0.5 * min(pixel_spacing), -(outside - 0.5 * min(pixel_spacing)))
    return (1.0 / (1.0 + np.exp(-signed / tau_mm))).astype(np.float32)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def interpolate_patch(view: PlaneView, a: int, b: int, mask_a: np.ndarray, mask_b: np.ndarray, box: Box2D,
                      method: str | None) -> dict[int, np.ndarray]:
    """Shape-based interpolation of two keyframe masks on ``box`` only: slice -> bool patch."""
    from SegAssistLib.interpolation import interpolate_keyframes

    region = Region(view.volume, array_box(view, a, b + 1, box))
    crop = region.view(view.plane)
    sparse = np.zeros(region.shape, dtype=bool)
    region.write_patch(view, sparse, a, mask_a[box.slices], box)
    region.write_patch(view, sparse, b, mask_b[box.slices], box)
    if not sparse.any():
        return {n: np.zeros(box.shape, bool) for n in range(a + 1, b)}
    options = {"method": method} if method else {}
    filled = np.asarray(interpolate_keyframes(sparse, region.cropped, plane=view.plane, keyframes=[0, b - a], **options),
                        dtype=bool)
    n0, dr, dc = region.display_offset(view)
    return {n: np.array(crop.slice(n - n0, filled)[box.r0 - dr:box.r1 - dr, box.c0 - dc:box.c1 - dc])
            for n in range(a + 1, b)}


def fill_from_neighbours(view: PlaneView, n: int, mask: np.ndarray, a: int, mask_a: np.ndarray, b: int,
                         mask_b: np.ndarray, box_prompt: tuple[float, float, float, float] | None,
                         method: str | None) -> np.ndarray | None:
    """Keyframe ``n``'s mask with the shape interpolation of keyframes ``a < n < b`` added (within the
    user's box, when the prompt had one), as :func:`guards.keyframe_shrunk` asks for; None when the
    keyframe's mask lies mostly outside that interpolation (:func:`guards.same_object`): then the
    neighbours interpolate through something else (keyframes on different pieces of one structure)."""
    tight = mask_box(mask_a | mask_b)
    if tight is None:
        return None
    box = tight.grow(1, 1, view.slice_shape)
    shape = np.zeros(view.slice_shape, dtype=bool)
    shape[box.slices] = interpolate_patch(view, a, b, mask_a, mask_b, box, method)[n]
    mask = np.asarray(mask, dtype=bool)
    if not guards.same_object(mask, shape):
        return None
    if box_prompt is not None:
        r0, c0, r1, c1 = box_prompt
        inside = np.zeros_like(shape)
        inside[max(0, int(np.floor(r0))):int(np.ceil(r1)) + 1, max(0, int(np.floor(c0))):int(np.ceil(c1)) + 1] = True
        shape &= inside
    return mask | shape


def between(view: PlaneView, a: int, b: int, mask_a: np.ndarray, mask_b: np.ndarray, fwd: dict, bwd: dict,
            method: str | None, tick: Callable[[], None]) -> dict[int, SliceOut]:
    """The slices strictly between keyframes ``a`` and ``b``, guarded (see the module doc).

    ``fwd``/``bwd``: slice -> (full-slice bool mask, score) from the backend's propagation."""
    union = mask_a | mask_b
    tight = mask_box(union)
    area_a, area_b = float(mask_a.sum()), float(mask_b.sum())
    radius_kf = guards.equivalent_radius_mm(max(area_a, area_b), view.pixel_spacing)
    out: dict[int, SliceOut] = {}
    if tight is None:  # both keyframes empty: nothing may be between them
        for n in range(a + 1, b):
            out[n] = (None, SliceInfo("between", 1.0, None, min(n - a, b - n), b - a))
            tick()
        return out
    max_radius = guards.band_radius_mm((b - a) // 2 + 1, view.slice_spacing, radius_kf)
    box = tight.grow(*margin_pixels(view, max_radius + 1.0), view.slice_shape)
    interp = interpolate_patch(view, a, b, mask_a, mask_b, box, method)
    empty = np.zeros(view.slice_shape, dtype=bool)
    for n in range(a + 1, b):
        w = (b - n) / (b - a)
        mf, sf = fwd.get(n, (empty, 0.0))
        mb, sb = bwd.get(n, (empty, 0.0))
        spoke = n in fwd or n in bwd
        s = float(np.clip(w * sf + (1 - w) * sb, 0.0, 1.0))
        backend = (w * mf[box.slices] + (1 - w) * mb[box.slices]).astype(np.float32)
        binary = backend >= 0.5
        # Backend pixels outside the box are outside the band by construction.
        outside_box = int(np.count_nonzero(w * mf + (1 - w) * mb >= 0.5)) - int(binary.sum()) if spoke else 0
        shape = interp[n]
        distance = min(n - a, b - n)
        band = guards.band(shape, view.pixel_spacing, guards.band_radius_mm(distance, view.slice_spacing, radius_kf))
        supported = max(float(shape.sum()), area_a, area_b)
        flags = guards.check_between(binary, band, supported, outside_box) if spoke else []
        tau_mm = max(1.0, 0.5 * distance * view.slice_spacing)
        prior = soft_mask(shape, view.pixel_spacing, tau_mm)
        if flags or not spoke:
            prob = prior
        else:
            weight = BACKEND_WEIGHT * s
            prob = weight * backend + (1 - weight) * prior
        prob = np.where(band, prob, 0.0).astype(np.float32)  # nothing outside the band is ever written
        agreement = _dice(binary, shape) if spoke else None
        out[n] = (Patch(box, prob), SliceInfo("between", s, agreement, distance, b - a, flags, supported))
        tick()
    return out


def extrapolate(view: PlaneView, end: int, step: int, end_mask: np.ndarray, previous_area: float | None,
                results: list[tuple[int, np.ndarray, float]], limit: int) -> tuple[dict[int, SliceOut], str]:
    """Slices beyond the end keyframe ``end`` (``step`` +1 forwards, -1 backwards) from the backend's
    ``results`` [(slice, full mask, score)] in propagation order; stops by the guards' rules. Returns the
    kept slices and why it stopped."""
    area_limit = guards.extrapolation_area_limit(float(end_mask.sum()), previous_area)
    prev = end_mask
    got = {n: (m, s) for n, m, s in results}
    out: dict[int, SliceOut] = {}
    reason = f"reached the limit of {limit} slice(s) (about the object's diameter)"
    for d in range(1, limit + 1):
        n = end + step * d
        if not 0 <= n < view.n_slices:
            reason = "reached the end of the volume"
            break
        if n not in got:
            reason = "object gone"
            break
        mask, score = got[n]
        mask = np.asarray(mask, dtype=bool)
        why = guards.extrapolation_stop(mask, score, prev, area_limit)
        if why is not None:
            reason = why
            break
        # The shape may drift by the band's base width per slice, no further.
        mask = mask & guards.band(prev, view.pixel_spacing, guards.BAND_BASE_MM)
        box = mask_box(mask)
        if box is None:
            reason = "object gone"
            break
        out[n] = (Patch(box, mask[box.slices].astype(np.float32)), SliceInfo("extrapolated", float(score), None, d, 0, [], area_limit))
        prev = mask
    return out, f"slice {end + step * (len(out) + 1)}: {reason}"
