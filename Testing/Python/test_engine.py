"""The keyframe engine on real data with the classical backend (no mocks): locked keyframes, locality of
new prompts, cross-plane fusion, cancel, and prompt errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from SegAssistLib.engine.segmentation_engine import Cancelled, SegmentationEngine
from SegAssistLib.errors import PromptError
from SegAssistLib.evaluation.metrics import dice
from SegAssistLib.evaluation.simulated_user import keyframes


def occupied(view, mask):
    return [n for n in range(view.n_slices) if view.slice(n, mask).any()]


def draw_keyframes(engine, segment, plane, mask, step):
    view = engine.view(plane)
    picks = keyframes(view, mask, step)
    for n in picks:
        engine.set_keyframe_mask(segment, plane, n, view.slice(n, mask))
    return picks


@pytest.fixture(scope="module")
def lung2_lesion(lung2):
    vol, label = lung2
    return vol, label.array.astype(bool)


def test_locked_keyframes_exact_in_two_planes(lung2_lesion):
    vol, gt = lung2_lesion
    eng = SegmentationEngine(vol, "classical")
    axial = draw_keyframes(eng, "lesion", "axial", gt, 3)
    coronal = draw_keyframes(eng, "lesion", "coronal", gt, 12)
    result = eng.run("lesion")
    for plane, picks in (("axial", axial), ("coronal", coronal)):
        view = eng.view(plane)
        for n in picks:
            np.testing.assert_array_equal(view.slice(n, result.mask), view.slice(n, gt))
    # The fused result is a real segmentation of the lesion, not the keyframes alone.
    assert result.mask.sum() > 1.3 * sum(eng.view("axial").slice(n, gt).sum() for n in axial)
    assert dice(result.mask, gt) > 0.85


def test_fusion_at_least_best_single_plane(lung2_lesion):
    vol, gt = lung2_lesion
    scores = {}
    for planes in (("axial",), ("coronal",), ("axial", "coronal")):
        eng = SegmentationEngine(vol, "classical")
        for p in planes:
            draw_keyframes(eng, "lesion", p, gt, 3 if p == "axial" else 12)
        r = eng.run("lesion")
        scores[planes] = dice(r.mask, gt)
        if len(planes) == 2:
            # With two planes the disagreement map is exactly how far apart their probabilities are.
            pa, pc = r.plane_probability["axial"], r.plane_probability["coronal"]
            both = ~np.isnan(pa) & ~np.isnan(pc)
            np.testing.assert_allclose(r.disagreement[both], np.abs(pa - pc)[both], atol=1e-5)
            assert r.disagreement.max() > 0.5
    assert scores[("axial", "coronal")] >= max(scores[("axial",)], scores[("coronal",)])


def test_new_prompt_changes_only_its_gap(lung2_lesion):
    vol, gt = lung2_lesion
    eng = SegmentationEngine(vol, "classical")
    view = eng.view("axial")
    occ = occupied(view, gt)
    a, b = occ[0], occ[-1]
    for n in (a, a + 4, b):
        eng.set_keyframe_mask("lesion", "axial", n, view.slice(n, gt))
    before = eng.run("lesion")
    calls = []
    session = eng._session("axial")
    original = session.propagate
    session.propagate = lambda *args, **kw: (calls.append(kw.get("start")), original(*args, **kw))[1]
    # A click inside the lesion on a slice between the 2nd and 3rd keyframes.
    m = view.slice(a + 6, gt)
    r, c = np.unravel_index(np.argmax(ndimage.distance_transform_edt(m)), m.shape)
    n, _ = eng.add_points("lesion", [view.pixel_to_ras(a + 6, r, c)], [1], plane="axial")
    assert n == a + 6
    after = eng.run("lesion")
    changed = occupied(view, before.mask ^ after.mask)
    assert changed, "the new prompt should change the slices around it"
    assert min(changed) > a + 4 and max(changed) < b
    # Only the gap that was split was recomputed (forward + backward for each of its two halves).
    assert sorted(calls) == sorted([a + 4, a + 6, a + 6, b])


def test_cancel_raises_and_progress_counts(brain1):
    vol, label = brain1
    gt = label.array.astype(bool)
    eng = SegmentationEngine(vol, "classical")
    draw_keyframes(eng, "tumour", "axial", gt, 3)
    seen = []
    with pytest.raises(Cancelled):
        eng.run("tumour", progress=lambda d, t: seen.append((d, t)), should_stop=lambda: len(seen) >= 2)
    assert seen[0][0] == 1 and seen[-1][1] >= 2
    done = []
    eng.run("tumour", progress=lambda d, t: done.append((d, t)))
    assert done[-1][0] == done[-1][1]


def test_prompt_errors(brain1):
    vol, _ = brain1
    eng = SegmentationEngine(vol, "classical")
    lo, hi = vol.bounds_ras()
    with pytest.raises(PromptError, match="outside the volume"):
        eng.add_points("s", [hi + 50], [1])
    # A point given in LPS while declared RAS: inside only when flipped -> the message says so.
    # (brain1 is centred on the origin, where a flip stays inside; shift it 150 mm to the right.)
    shifted = vol.with_array(vol.array)
    shifted.ijk_to_ras[0, 3] += 150.0
    inside = shifted.kji_to_ras(np.array([12, 40, 30]))
    with pytest.raises(PromptError, match="coordinateSystem is probably wrong"):
        SegmentationEngine(shifted, "classical").add_points("s", [inside * [-1, -1, 1]], [1])
    centre = vol.kji_to_ras(np.array([12, 128, 128]))
    with pytest.raises(PromptError, match="zero size"):
        eng.add_box("s", centre, centre + [0.1, 0.1, 0])
    with pytest.raises(PromptError, match="no keyframes"):
        eng.run("nothing")
    view = eng.view("axial")
    eng.set_keyframe_mask("s", "axial", 12, np.zeros(view.slice_shape, bool))
    with pytest.raises(PromptError, match="locked"):
        eng.add_points("s", [centre], [1])
