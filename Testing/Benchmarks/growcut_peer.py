"""Slicer's "Grow from seeds" (GrowCut, ``vtkImageGrowCutSegment`` from slicer-core) as a Slicer user runs it:
the benchmark's peer for the classical backend (issue 14).

A Slicer user paints a stroke on the object at each click and a ring of background around the object,
then presses "Initialize". The peer gets exactly the clicks (and boxes) our backend gets, plus a
background ring painted from the ground truth (pixels :data:`RING_MM` to ``RING_MM + 1.5`` mm outside the
object on the prompted slice) — the ring is the user's extra work that our backend does not need. A box
becomes an object stroke at its centre and a background ring just outside the box. In 3D the same seeds
on the keyframes are grown in one 3D GrowCut over the slab between the first and last keyframe.

It speaks the backend protocol (``open_session`` / ``add_prompt`` / ``propagate``) so the benchmark drives
it like any registered backend; it is benchmark-only because it needs the ground truth for the ring.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from SegAssistLib.backends.base import SliceResult
from SegAssistLib.backends.classical.methods import BACKGROUND, OBJECT, slicer_growcut
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt

RING_MM = 3.0
STROKE_MM = 1.5


def background_ring(gt2d: np.ndarray, spacing) -> np.ndarray:
    """The background a Slicer user paints around the object: pixels ``RING_MM`` to ``RING_MM + 1.5`` mm
    (at least one pixel) outside the true mask ``gt2d``."""
    sp = np.asarray(spacing, float)
    dist = ndimage.distance_transform_edt(~np.asarray(gt2d, bool), sampling=sp)
    return (dist > RING_MM) & (dist <= RING_MM + max(1.5, float(sp.max()) * 1.01))


def ring_clicks(gt2d: np.ndarray, spacing, click_radius_mm: float = 1.5) -> np.ndarray:
    """The same ring as negative clicks for a backend that takes points: (N, 2) (row, col) centres on the
    line ``RING_MM + click_radius_mm`` outside the object, about one per ``click_radius_mm``, so the clicks'
    disks (radius ``click_radius_mm``) cover the ring and come no nearer the object than the painted ring."""
    sp = np.asarray(spacing, float)
    dist = ndimage.distance_transform_edt(~np.asarray(gt2d, bool), sampling=sp)
    at = RING_MM + click_radius_mm
    line = np.argwhere((dist > at - 0.5 * sp.max()) & (dist <= at + 0.5 * sp.max()))
    if not len(line):
        return np.zeros((0, 2))
    step = np.maximum(click_radius_mm / sp, 1.0)
    _, keep = np.unique(np.floor(line / step).astype(int), axis=0, return_index=True)
    return line[np.sort(keep)].astype(float)


def _disk(shape, centre, radius_px) -> np.ndarray:
    rr, cc = np.ogrid[: shape[0], : shape[1]]
    return ((rr - centre[0]) / radius_px[0]) ** 2 + ((cc - centre[1]) / radius_px[1]) ** 2 <= 1.0


class GrowCutPeer:
    """Backend-like factory: ``GrowCutPeer(gt3d).open_session(view)``."""

    name = "slicer_growcut"

    def __init__(self, gt3d: np.ndarray):
        self.gt3d = np.asarray(gt3d, bool)

    def open_session(self, view: PlaneView) -> "GrowCutPeerSession":
        return GrowCutPeerSession(view, self.gt3d)


class GrowCutPeerSession:
    def __init__(self, view: PlaneView, gt3d: np.ndarray):
        self.view = view
        self.gt3d = gt3d
        self.seeds: dict[int, np.ndarray] = {}
        self.masks: dict[int, np.ndarray] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def _ring(self, n: int) -> np.ndarray:
        return background_ring(self.view.slice(n, self.gt3d), self.view.pixel_spacing)

    def add_prompt(self, n: int, prompt: SlicePrompt, object_id: int = 1) -> SliceResult:
        shape = self.view.slice_shape
        sp = np.asarray(self.view.pixel_spacing)
        stroke = np.maximum(STROKE_MM / sp, 1.0)
        seeds = self.seeds.get(n)
        if seeds is None:
            seeds = np.zeros(shape, np.int8)
        for (r, c), label in zip(prompt.points, prompt.labels):
            seeds[_disk(shape, (r, c), stroke)] = OBJECT if label else BACKGROUND
        if prompt.box is not None:
            r0, c0, r1, c1 = prompt.box
            seeds[_disk(shape, ((r0 + r1) / 2, (c0 + c1) / 2), stroke)] = OBJECT
            rr, cc = np.ogrid[: shape[0], : shape[1]]
            outline = ((rr >= r0 - 2) & (rr <= r1 + 2) & (cc >= c0 - 2) & (cc <= c1 + 2)
                       & ~((rr >= r0 - 1) & (rr <= r1 + 1) & (cc >= c0 - 1) & (cc <= c1 + 1)))
            seeds[outline & (seeds == 0)] = BACKGROUND
        else:
            seeds[self._ring(n) & (seeds == 0)] = BACKGROUND
        self.seeds[n] = seeds
        mask = self._solve({n: seeds})[n]
        self.masks[n] = mask
        return SliceResult(n, mask, 1.0 if mask.any() else 0.0, object_id)

    def _solve(self, seeds_by_slice: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        keys = sorted(seeds_by_slice)
        lo, hi = keys[0], keys[-1]
        union = np.zeros(self.view.slice_shape, bool)
        for s in seeds_by_slice.values():
            union |= s > 0
        rows, cols = np.flatnonzero(union.any(1)), np.flatnonzero(union.any(0))
        nr, nc = self.view.slice_shape
        r0, r1 = max(rows[0] - 2, 0), min(rows[-1] + 3, nr)
        c0, c1 = max(cols[0] - 2, 0), min(cols[-1] + 3, nc)
        stack = np.stack([np.asarray(self.view.slice(n), np.float32)[r0:r1, c0:c1] for n in range(lo, hi + 1)])
        seeds = np.zeros(stack.shape, np.int8)
        for k, s in seeds_by_slice.items():
            seeds[k - lo] = s[r0:r1, c0:c1]
        sp = self.view.pixel_spacing
        if len(keys) == 1:
            solved = slicer_growcut(stack[0], seeds[0], sp)[None]
        else:
            solved = slicer_growcut(stack, seeds, (self.view.slice_spacing, *sp))
        out = {}
        for n in range(lo, hi + 1):
            m = np.zeros(self.view.slice_shape, bool)
            m[r0:r1, c0:c1] = solved[n - lo]
            out[n] = m
        return out

    def propagate(self, direction="both", start=None, max_slices=None, object_ids=None, should_stop=None):
        for n, m in sorted(self._solve(self.seeds).items()):
            yield SliceResult(n, m, 1.0 if m.any() else 0.0, 1)

    def close(self) -> None:
        self.seeds.clear()
