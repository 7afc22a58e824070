"""The engine's guarantees whatever the backend (issue 14, item 2), on the real lung2 lesion (CT).

The misbehaving backends here are stand-ins for a model that runs away or leaks (a real one would need
weights and a GPU): they answer prompts with the real classical backend and propagate with a scripted
answer (the whole slice, or the true lesion with a falling score). Everything else is real: the volume,
the label, the engine, the interpolation.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from SegAssistLib.engine import SegmentationEngine, guards
from SegAssistLib.evaluation.metrics import dice
from scripted_backend import ScriptedBackend


@pytest.fixture(scope="module")
def lesion(lung2):
    vol, label = lung2
    gt = label.array.astype(bool)
    eng = SegmentationEngine(vol, "classical")
    view = eng.view("axial")
    occ = [n for n in range(view.n_slices) if view.slice(n, gt).any()]
    return vol, gt, view, occ


def click_centre(eng, view, gt, n):
    """One positive click at the deepest point of the lesion on axial slice ``n`` (as a user would)."""
    m = view.slice(n, gt)
    r, c = np.unravel_index(np.argmax(ndimage.distance_transform_edt(m)), m.shape)
    eng.add_points("lesion", [view.pixel_to_ras(n, r, c)], [1], plane="axial")


def slices_with(view, mask):
    return [n for n in range(view.n_slices) if view.slice(n, mask).any()]


def test_no_voxel_past_the_outermost_keyframes(lesion):
    vol, gt, view, occ = lesion
    assert len(occ) >= 9
    # Keyframes inside the lesion: it continues for 2 slices past each end keyframe.
    keys = list(range(occ[2], occ[-3] + 1, 3))
    eng = SegmentationEngine(vol, "classical")
    for n in keys:
        click_centre(eng, view, gt, n)
    result = eng.run("lesion")
    got = slices_with(view, result.mask)
    assert got and min(got) >= keys[0] and max(got) <= keys[-1], (got[:3], got[-3:], keys[0], keys[-1])
    # Only slices the engine computed carry a confidence: nothing outside the keyframes either.
    assert set(result.confidence["axial"]) == set(range(keys[0], keys[-1] + 1))
    assert dice(result.mask[:, :, :], gt) > 0.5


def test_leaking_backend_is_clipped_to_the_band_and_flagged(lesion):
    vol, gt, view, occ = lesion
    everything = np.ones(view.slice_shape, dtype=bool)
    eng = SegmentationEngine(vol, ScriptedBackend(lambda v, n: (everything, 0.95)))
    keys = list(range(occ[1], occ[-2] + 1, 4))
    for n in keys:
        eng.set_keyframe_mask("lesion", "axial", n, view.slice(n, gt))
    result = eng.run("lesion")
    between = [n for n in range(keys[0], keys[-1] + 1) if n not in keys]
    # Every slice the backend flooded was overruled and flagged, and comes first in the review queue (what
    # was written there instead follows the image's edges least).
    assert sorted(result.flags["axial"]) == between
    assert all(guards.LEAVES_BAND in result.flags["axial"][n] for n in between)
    queue = result.review_queue
    assert {(i.plane, i.slice_index) for i in queue[: len(between)]} == {("axial", n) for n in between}
    # What was written is the interpolation inside its band: close to the lesion, nowhere near the slice.
    for n in between:
        area = view.slice(n, result.mask).sum()
        assert area < 3 * max(view.slice(n, gt).sum(), 20), n
    assert result.mask.sum() < 1.5 * gt.sum()
    assert dice(result.mask, gt) > 0.7
    assert min(slices_with(view, result.mask)) >= keys[0] and max(slices_with(view, result.mask)) <= keys[-1]


def test_size_bound_implied_by_the_keyframes(lesion):
    vol, gt, view, occ = lesion
    everything = np.ones(view.slice_shape, dtype=bool)
    eng = SegmentationEngine(vol, ScriptedBackend(lambda v, n: (everything, 1.0)), extrapolate=True)
    for n in (occ[2], occ[len(occ) // 2], occ[-3]):
        eng.set_keyframe_mask("lesion", "axial", n, view.slice(n, gt))
    result = eng.run("lesion")
    voxels = int(result.mask.sum())
    # The keyframes describe an object about the lesion's size, and the result stays within the bound.
    assert 0.3 * gt.sum() < result.supported_voxels < 3 * gt.sum()
    assert voxels <= guards.size_bound(result.supported_voxels)
    assert voxels < 2 * gt.sum()
    assert result.qc_summary()["size_bound_voxels"] >= voxels


def test_extrapolation_stops_when_area_grows_or_confidence_drops(lesion):
    vol, gt, view, occ = lesion
    keys = [occ[2], occ[len(occ) // 2], occ[-3]]
    # 1. A flooding backend: the first slice past each end already grows too much -> nothing added.
    everything = np.ones(view.slice_shape, dtype=bool)
    eng = SegmentationEngine(vol, ScriptedBackend(lambda v, n: (everything, 1.0)), extrapolate=True)
    for n in keys:
        eng.set_keyframe_mask("lesion", "axial", n, view.slice(n, gt))
    result = eng.run("lesion")
    got = slices_with(view, result.mask)
    assert min(got) == keys[0] and max(got) == keys[-1]
    assert all("grew past" in s for s in result.stops["axial"]), result.stops
    # 2. A backend that returns the true lesion, sure on the slice past the last keyframe, then unsure:
    #    extrapolation follows it for exactly that slice and stops when the confidence drops.
    last = keys[-1]
    assert view.slice(last + 2, gt).any()

    def fading(v, n):
        return v.slice(n, gt), (0.9 if n == last + 1 else 0.2)

    eng = SegmentationEngine(vol, ScriptedBackend(fading), extrapolate=True)
    for n in keys:
        eng.set_keyframe_mask("lesion", "axial", n, view.slice(n, gt))
    result = eng.run("lesion")
    got = slices_with(view, result.mask)
    assert max(got) == last + 1, (max(got), last)
    assert all("confidence dropped" in s for s in result.stops["axial"]), result.stops
    assert dice(view.slice(last + 1, result.mask), view.slice(last + 1, gt)) > 0.8
    # Before the first keyframe the score is low at once: nothing is added there.
    assert min(got) == keys[0]


def test_a_slice_drawn_empty_ends_the_object(lesion):
    """A user marks where the lesion ends by drawing an empty slice: the engine accepts it (it used to
    refuse: "Slice N has no prompt"), shrinks the gap towards it, and writes nothing on it. Here the drawn
    slices are the true lesion three slices before its end and the first slice past it."""
    vol, gt, view, occ = lesion
    start, end = occ[-4], occ[-1] + 1
    assert end < view.n_slices and not view.slice(end, gt).any()
    eng = SegmentationEngine(vol, "classical")
    eng.set_keyframe_mask("lesion", "axial", start, np.asarray(view.slice(start, gt), bool))
    eng.set_keyframe_mask("lesion", "axial", end, np.zeros(view.slice_shape, bool))
    result = eng.run("lesion")
    areas = {n: int(view.slice(n, result.mask).sum()) for n in range(start, end + 1)}
    assert areas[start] == int(view.slice(start, gt).sum())
    assert areas[end] == 0
    # Between them the backend follows the lesion within the keyframes' size bound, and it is found.
    between = [areas[n] for n in range(start + 1, end)]
    assert any(between) and max(between) <= guards.AREA_FACTOR * areas[start]
    part = np.zeros_like(gt)
    for n in range(start, end + 1):
        view.slice(n, part)[...] = view.slice(n, gt)
    assert dice(result.mask, part) > 0.8  # 0.87 measured
    assert slices_with(view, result.mask) == [n for n in range(start, end) if areas[n]]
