"""The classical backend: promptable segmentation with no trained weights (the offline default).

Behind the same protocol as SAM 2 (:mod:`SegAssistLib.backends.base`):

* ``add_prompt`` turns the points / box accumulated on one slice into seeds
  (:mod:`~SegAssistLib.backends.classical.seeds`) and runs a seeded method
  (:mod:`~SegAssistLib.backends.classical.methods`; marker-controlled watershed by default, chosen with
  the simulated-user benchmark over random walker, geodesic distance and Slicer's GrowCut) on a region
  of interest around them, so one interaction on a 512x512 slice stays well under half a second;
* ``propagate`` makes a 3D mask. Between the first and last prompted slices (keyframes) it solves one 3D
  seeded problem (same method) whose seeds are the keyframe masks (eroded = object, outside the dilated mask =
  background), which interpolates the shape through the unprompted slices following the image; beyond
  the keyframes it continues slice by slice from the previous mask and stops when the tissue under that
  mask no longer looks like the object.

It is the backend used whenever no SAM 2 checkpoint is configured, and the baseline SAM 2 is compared with.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
from scipy import ndimage

from SegAssistLib.backends.base import (
    Backend, BackendSession, Direction, SliceResult, check_direction,
)
from SegAssistLib.backends.classical.boundary import snap_boundary
from SegAssistLib.backends.classical.confidence import slice_confidence
from SegAssistLib.backends.classical.methods import BACKGROUND, OBJECT, UNKNOWN, SeededMethod, get_method
from SegAssistLib.backends.classical.seeds import SeedOptions, build_seeds, keep_prompted_components
from SegAssistLib.errors import PromptError
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt


class ClassicalBackend(Backend):
    """Weight-free promptable segmentation.

    ``method``: ``"watershed"`` (default: best Dice and NoC on lung2 and brain1 in
    ``Testing/Benchmarks/bench_interactive.py``, and the fastest), ``"random_walker"``, ``"geodesic"``,
    ``"slicer_growcut"`` (needs slicer-core), or any callable ``(image, seeds, spacing) -> bool mask`` (the benchmark plugs Slicer's
    GrowCut in this way). ``extrapolate``: whether ``propagate`` continues past the first/last prompted
    slice (keyframe workflows that prompt the object's end slices turn it off).
    """

    name = "classical"

    def __init__(self, method: str | SeededMethod = "watershed", seed_options: SeedOptions | None = None,
                 extrapolate: bool = False):
        self.method = get_method(method)
        self.seed_options = seed_options or SeedOptions()
        self.extrapolate = bool(extrapolate)

    def open_session(self, view: PlaneView) -> "ClassicalSession":
        return ClassicalSession(view, self.method, self.seed_options, self.extrapolate)


class ClassicalSession(BackendSession):
    """Prompts and masks per object and slice of one plane view."""

    def __init__(self, view: PlaneView, method: SeededMethod, seed_options: SeedOptions, extrapolate: bool = False):
        super().__init__(view)
        self.method = method
        self.seed_options = seed_options
        self.extrapolate = extrapolate
        self.fill_holes = True
        self.band_mm = 5.0  # between keyframes, background beyond this distance of the two keyframes' masks
        self.max_growth = 1.1  # beyond the keyframes a slice's mask may be at most this much larger
        self._prompts: dict[int, dict[int, SlicePrompt]] = {}  # object -> slice -> accumulated prompt
        self._masks: dict[int, dict[int, np.ndarray]] = {}  # object -> slice -> 2D mask
        self._floods: dict[int, dict[int, np.ndarray | None]] = {}  # ... the same before the boundary snap
        self._last_roi: tuple[slice, slice] | None = None  # ROI of the last solved slice (for the confidence)

    # ---- one slice ------------------------------------------------------------------------------
    def add_prompt(self, slice_index: int, prompt: SlicePrompt, object_id: int = 1) -> SliceResult:
        n = self.view.check_slice(slice_index)
        if prompt.is_empty:
            raise PromptError("No prompt given: place at least one positive point or a box on the slice.")
        prompt.check_inside(self.view.slice_shape)
        merged = _merge(self._prompts.get(object_id, {}).get(n), prompt)
        mask, flood = self._segment(n, merged)
        self._prompts.setdefault(object_id, {})[n] = merged
        self._masks.setdefault(object_id, {})[n] = mask
        self._floods.setdefault(object_id, {})[n] = flood
        score = slice_confidence(self.view.slice(n), mask, self.view.pixel_spacing, roi=self._last_roi)
        return SliceResult(n, mask, score, object_id)

    def segment_slice(self, n: int, prompt: SlicePrompt) -> np.ndarray:
        """The mask of slice ``n`` for ``prompt`` alone (no session state is changed)."""
        return self._segment(n, prompt)[0]

    def _segment(self, n: int, prompt: SlicePrompt) -> tuple[np.ndarray, np.ndarray | None]:
        """The mask of slice ``n`` for ``prompt``, and the seeded method's own mask before the boundary snap
        (the continuation past the keyframes starts from that one: its growth test compares one flood with
        the next, and a snapped start made it stop at once on the README's lung2 lesion); None when the snap
        is off."""
        image = np.asarray(self.view.slice(n), dtype=np.float32)
        s = build_seeds(image, prompt, self.view.pixel_spacing, self.seed_options)
        self._last_roi = s.roi
        flood = _solve_limited(self.method, image[s.roi], s.seeds, self.view.pixel_spacing, MAX_SOLVE_PIXELS)
        roi_mask = flood
        if self.seed_options.snap_boundary:
            # The flood's boundary runs through partial-volume pixels: give them to the nearer tissue.
            roi_mask = snap_boundary(flood, image[s.roi], keep=s.seeds == OBJECT, exclude=s.seeds == BACKGROUND)
        return self._finish(roi_mask, s, prompt), (self._finish(flood, s, prompt) if roi_mask is not flood else None)

    def _finish(self, roi_mask: np.ndarray, s, prompt: SlicePrompt) -> np.ndarray:
        """The prompted parts of a ROI mask, holes filled except where a negative click is, on the whole slice."""
        roi_mask = keep_prompted_components(roi_mask, s.object_points)
        if self.fill_holes:
            # Holes the user did not ask for (negative clicks) are noise: fill the rest.
            filled = ndimage.binary_fill_holes(roi_mask)
            neg = prompt.points[prompt.labels == 0] - np.array([s.roi[0].start, s.roi[1].start])
            holes = ndimage.label(filled & ~roi_mask)[0]
            keep_open = {int(holes[r, c]) for r, c in np.rint(neg).astype(int)
                         if 0 <= r < holes.shape[0] and 0 <= c < holes.shape[1]} - {0}
            roi_mask = filled & ~np.isin(holes, list(keep_open)) if keep_open else filled
        mask = np.zeros(self.view.slice_shape, dtype=bool)
        mask[s.roi] = roi_mask
        return mask

    def clear_object(self, object_id: int) -> None:
        self._prompts.pop(object_id, None)
        self._masks.pop(object_id, None)
        self._floods.pop(object_id, None)

    def close(self) -> None:
        self._prompts.clear()
        self._masks.clear()
        self._floods.clear()

    # ---- 3D ------------------------------------------------------------------------------------
    def propagate(
        self,
        direction: Direction = "both",
        start: int | None = None,
        max_slices: int | None = None,
        object_ids: list[int] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[SliceResult]:
        check_direction(direction)
        ids = object_ids if object_ids is not None else sorted(self._masks)
        if not ids or not any(self._masks.get(o) for o in ids):
            raise PromptError("Nothing to propagate: add a prompt on at least one slice first.")
        stop = should_stop or (lambda: False)
        for obj in ids:
            keyed = self._masks.get(obj, {})
            if not keyed:
                continue
            keys = sorted(keyed)
            lo, hi = keys[0], keys[-1]
            emitted = 0
            if start is not None:  # continue from one prompted slice only
                if int(start) not in keyed:
                    raise PromptError(f"Slice {start} has no prompt for object {obj}; start from one of {keys}.")
                lo = hi = int(start)
                inner = {lo: keyed[lo]}
            else:  # keyframes and the slices between them (one 3D solve)
                inner = self._between_keyframes(obj) if len(keys) > 1 else {lo: keyed[lo]}
            order = sorted(inner) if direction != "backward" else sorted(inner, reverse=True)
            for n in order:
                if stop() or (max_slices is not None and emitted >= max_slices):
                    return
                emitted += 1
                yield SliceResult(n, inner[n], self._confidence(obj, n, inner[n]), obj)
            if not self.extrapolate and start is None:
                continue
            for step, edge in ((1, hi), (-1, lo)):
                if (step == 1 and direction == "backward") or (step == -1 and direction == "forward"):
                    continue
                # Both ends are keyframes: continue from the seeded method's own mask there (see _segment).
                prev = self._floods.get(obj, {}).get(edge)
                if prev is None:
                    prev = keyed[edge]
                stats = _object_stats(self.view, {edge: prev})
                n = edge + step
                while 0 <= n < self.view.n_slices:
                    if stop() or (max_slices is not None and emitted >= max_slices):
                        return
                    nxt = self._follow(prev, n, stats)
                    if nxt is None:
                        break
                    emitted += 1
                    yield SliceResult(n, nxt, self._confidence(obj, n, nxt), obj)
                    prev, n = nxt, n + step

    def _confidence(self, obj: int, n: int, mask: np.ndarray) -> float:
        """Confidence of a propagated slice: image cues plus its area against the keyframes' (interpolated
        between the two keyframes around it, the nearest one's beyond them)."""
        keyed = self._masks.get(obj, {})
        keys = sorted(keyed)
        areas = [float(keyed[k].sum()) for k in keys]
        expected = float(np.interp(n, keys, areas)) if keys else None
        return slice_confidence(self.view.slice(n), mask, self.view.pixel_spacing, expected_area=expected)

    def _between_keyframes(self, obj: int) -> dict[int, np.ndarray]:
        """3D seeded solve over the slices from the first to the last keyframe of ``obj``."""
        keyed = self._masks[obj]
        keys = sorted(keyed)
        lo, hi = keys[0], keys[-1]
        union = np.zeros(self.view.slice_shape, dtype=bool)
        for m in keyed.values():
            union |= m
        out = {k: keyed[k] for k in keys}
        if not union.any():
            return {n: np.zeros(self.view.slice_shape, bool) for n in range(lo, hi + 1)}
        sp_r, sp_c = self.view.pixel_spacing
        rows, cols = np.flatnonzero(union.any(1)), np.flatnonzero(union.any(0))
        margin = np.ceil(np.array([10.0 / sp_r, 10.0 / sp_c])).astype(int)
        nr, nc = self.view.slice_shape
        r0, r1 = max(rows[0] - margin[0], 0), min(rows[-1] + margin[0] + 1, nr)
        c0, c1 = max(cols[0] - margin[1], 0), min(cols[-1] + margin[1] + 1, nc)
        stack = np.stack([np.asarray(self.view.slice(n), np.float32)[r0:r1, c0:c1] for n in range(lo, hi + 1)])
        seeds = np.zeros(stack.shape, dtype=np.int8)
        mu, sigma = _object_stats(self.view, keyed)
        smooth = ndimage.gaussian_filter(stack, sigma=(0, 1, 1))
        seeds[np.abs(smooth - mu) > self.seed_options.far_sigmas * sigma] = BACKGROUND
        seeds[:, [0, -1], :] = BACKGROUND
        seeds[:, :, [0, -1]] = BACKGROUND
        er = np.maximum(np.rint(1.5 / np.array([sp_r, sp_c])).astype(int), 1)
        if self.band_mm > 0:
            # Between two keyframes the object lies near both of their masks: background beyond ``band_mm``
            # of their union, so a leak cannot spread through the unprompted slices (issue 14: 150x runaway).
            band = np.ceil(self.band_mm / np.array([sp_r, sp_c])).astype(int)
            near = {k: ndimage.binary_dilation(keyed[k][r0:r1, c0:c1], np.ones(2 * band + 1, bool)) for k in keys}
            for a, b in zip(keys[:-1], keys[1:]):
                allowed = near[a] | near[b]
                for n in range(a + 1, b):
                    seeds[n - lo][~allowed] = BACKGROUND
        for k in keys:
            m = keyed[k][r0:r1, c0:c1]
            inner = ndimage.binary_erosion(m, np.ones(2 * er + 1, bool))
            outer = ndimage.binary_dilation(m, np.ones(2 * er + 1, bool))
            seeds[k - lo][~outer] = BACKGROUND
            seeds[k - lo][outer & ~m] = UNKNOWN
            seeds[k - lo][inner if inner.any() else m] = OBJECT
        if not (seeds == OBJECT).any():
            return out
        spacing = (self.view.slice_spacing, sp_r, sp_c)
        solved = np.asarray(self.method(stack, seeds, spacing), dtype=bool)
        # Keep what is connected (in 3D) to the keyframes' object seeds, without holes on any slice.
        lab, _ = ndimage.label(solved)
        solved = np.isin(lab, np.unique(lab[(seeds == OBJECT) & solved]))
        if self.fill_holes:
            solved = np.stack([ndimage.binary_fill_holes(s) for s in solved])
        for n in range(lo, hi + 1):
            if n in keyed:
                continue
            m = np.zeros(self.view.slice_shape, dtype=bool)
            m[r0:r1, c0:c1] = solved[n - lo]
            out[n] = m
        return out

    def _follow(self, prev: np.ndarray, n: int, stats: tuple[float, float]) -> np.ndarray | None:
        """Mask of slice ``n`` continuing ``prev`` from the neighbouring slice, or None when the object ends."""
        if prev is None or prev.sum() < 4:
            return None
        mu, sigma = stats
        sp = np.asarray(self.view.pixel_spacing)
        image = np.asarray(self.view.slice(n), np.float32)
        smooth = ndimage.gaussian_filter(image, sigma=np.maximum(1.0 / sp, 0.5))
        er = np.maximum(np.rint(2.0 / sp).astype(int), 1)
        inner = ndimage.binary_erosion(prev, np.ones(2 * er + 1, bool))
        if not inner.any():
            inner = prev
        alike = inner & (np.abs(smooth - mu) <= self.seed_options.similar_sigmas * sigma)
        # The object has ended when most of the tissue under the previous mask stopped looking like it.
        if alike.sum() < 0.3 * inner.sum() or alike.sum() < 2:
            return None
        prompt = SlicePrompt(mask=alike)
        rows, cols = np.flatnonzero(prev.any(1)), np.flatnonzero(prev.any(0))
        margin = np.ceil(8.0 / sp).astype(int)
        nr, nc = self.view.slice_shape
        r0, r1 = max(rows[0] - margin[0], 0), min(rows[-1] + margin[0] + 1, nr)
        c0, c1 = max(cols[0] - margin[1], 0), min(cols[-1] + margin[1] + 1, nc)
        seeds = np.zeros((r1 - r0, c1 - c0), dtype=np.int8)
        seeds[np.abs(smooth[r0:r1, c0:c1] - mu) > self.seed_options.far_sigmas * sigma] = BACKGROUND
        seeds[[0, -1], :] = BACKGROUND
        seeds[:, [0, -1]] = BACKGROUND
        outer = ndimage.binary_dilation(prev, np.ones(4 * er + 1, bool))[r0:r1, c0:c1]
        seeds[~outer] = BACKGROUND
        seeds[prompt.mask[r0:r1, c0:c1]] = OBJECT
        roi_mask = np.asarray(self.method(image[r0:r1, c0:c1], seeds, tuple(sp)), dtype=bool)
        roi_mask = keep_prompted_components(roi_mask, np.argwhere(seeds == OBJECT).astype(float))
        mask = np.zeros(self.view.slice_shape, dtype=bool)
        mask[r0:r1, c0:c1] = roi_mask
        # Objects taper towards their ends: a mask that grows past the previous slice's is leaking into
        # neighbouring tissue of similar intensity, and a vanishing one has ended.
        if mask.sum() < 0.15 * prev.sum() or mask.sum() > self.max_growth * prev.sum():
            return None
        return mask


#: Larger 2D regions of interest are solved at reduced resolution, keeping an interaction under ~0.5 s.
MAX_SOLVE_PIXELS = 200 * 200


def _solve_limited(method: SeededMethod, image: np.ndarray, seeds: np.ndarray, spacing, max_pixels: int) -> np.ndarray:
    """Run ``method`` on a 2D ROI, downsampled first when it has more than ``max_pixels`` pixels."""
    if image.size <= max_pixels:
        return np.asarray(method(image, seeds, spacing), dtype=bool)
    f = float(np.sqrt(max_pixels / image.size))
    small_shape = tuple(max(3, int(round(n * f))) for n in image.shape)
    zoom = [a / b for a, b in zip(small_shape, image.shape)]
    small_img = ndimage.zoom(image, zoom, order=1)
    # Seeds: every seed pixel marks the small pixel it falls in (object wins ties), so no seed is lost,
    # however small (a one-click negative disk must still count after downsampling).
    small_seeds = np.zeros(small_img.shape, dtype=np.int8)
    for label in (BACKGROUND, OBJECT):
        idx = np.rint(np.argwhere(seeds == label) * np.asarray(zoom)).astype(int)
        idx = np.minimum(idx, np.asarray(small_img.shape) - 1)
        small_seeds[idx[:, 0], idx[:, 1]] = label
    small_spacing = tuple(s / z for s, z in zip(spacing, zoom))
    small = np.asarray(method(small_img, small_seeds, small_spacing), dtype=np.float32)
    back = ndimage.zoom(small, [a / b for a, b in zip(image.shape, small.shape)], order=1) > 0.5
    out = np.zeros(image.shape, dtype=bool)
    h, w = min(back.shape[0], image.shape[0]), min(back.shape[1], image.shape[1])
    out[:h, :w] = back[:h, :w]
    out[seeds == OBJECT] = True  # the user's own seeds stay exact
    out[seeds == BACKGROUND] = False
    return out


def _merge(old: SlicePrompt | None, new: SlicePrompt) -> SlicePrompt:
    """Accumulate prompts on one slice: points add up, a new box or mask replaces the old one."""
    if old is None:
        return new
    return SlicePrompt(
        points=np.concatenate([old.points, new.points]),
        labels=np.concatenate([old.labels, new.labels]),
        box=new.box if new.box is not None else old.box,
        mask=new.mask if new.mask is not None else old.mask,
    )


def _object_stats(view: PlaneView, masks: dict[int, np.ndarray]) -> tuple[float, float]:
    """Median and (floored) spread of the smoothed intensity under the given slice masks."""
    values, spreads = [], []
    sp = np.asarray(view.pixel_spacing)
    for n, m in masks.items():
        if m is None or not m.any():
            continue
        img = ndimage.gaussian_filter(np.asarray(view.slice(n), np.float32), sigma=np.maximum(1.0 / sp, 0.5))
        values.append(img[m])
        lo, hi = np.percentile(img, (1, 99))
        spreads.append(hi - lo)
    if not values:
        return 0.0, 1.0
    v = np.concatenate(values)
    return float(np.median(v)), max(float(v.std()), 0.04 * float(np.mean(spreads)) or 1.0)
