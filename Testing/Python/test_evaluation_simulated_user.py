"""The simulated user on real masks (lung2, brain1, the MNI152 brain mask from nilearn)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from SegAssistLib.evaluation import simulated_user as su
from SegAssistLib.backends.classical.backend import ClassicalBackend
from SegAssistLib.errors import PromptError
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import slice_prompt_from_ras


def _largest(case):
    image, label = case
    gt = label.array > 0
    view = PlaneView(image, "axial")
    n = su.largest_slice(view, gt)
    return view, gt, n, np.asarray(view.slice(n, gt), bool)


def test_first_click_is_the_deepest_interior_point(lung2, brain1):
    for case in (lung2, brain1):
        _, _, _, gt2d = _largest(case)
        r, c = su.first_click(gt2d)
        edt = ndimage.distance_transform_edt(gt2d)
        assert gt2d[r, c]
        assert edt[r, c] == edt.max() > 3


def test_first_click_on_the_mni_brain(mni152_brain_mask):
    view = PlaneView(mni152_brain_mask, "axial")
    n = su.largest_slice(view, mni152_brain_mask.array)
    gt2d = np.asarray(view.slice(n, mni152_brain_mask.array), bool)
    r, c = su.first_click(gt2d)
    # Deep inside a brain-sized object: tens of mm from its edge, near the middle of its extent.
    assert ndimage.distance_transform_edt(gt2d)[r, c] > 30
    rows, cols = np.flatnonzero(gt2d.any(1)), np.flatnonzero(gt2d.any(0))
    assert abs(r - (rows[0] + rows[-1]) / 2) < 0.25 * (rows[-1] - rows[0])
    assert abs(c - (cols[0] + cols[-1]) / 2) < 0.25 * (cols[-1] - cols[0])


def test_next_click_targets_the_largest_error(brain1):
    _, _, _, gt2d = _largest(brain1)
    # Nothing predicted: a positive click in the object.
    (r, c), label = su.next_click(gt2d, np.zeros_like(gt2d))
    assert label == 1 and gt2d[r, c]
    # The object plus a large false blob and a small missed bite: the blob is larger, so a negative click in it.
    pred = gt2d.copy()
    rows, cols = np.flatnonzero(gt2d.any(1)), np.flatnonzero(gt2d.any(0))
    blob = np.zeros_like(gt2d)
    blob[rows[-1] + 5: rows[-1] + 25, cols[0]: cols[0] + 20] = True
    pred |= blob
    bite = np.argwhere(gt2d)[0]
    pred[bite[0], bite[1]] = False
    (r, c), label = su.next_click(gt2d, pred)
    assert label == 0 and blob[r, c]
    assert 8 <= r - (rows[-1] + 5) <= 11 and 8 <= c - cols[0] <= 11  # the blob's centre
    assert su.next_click(gt2d, gt2d) is None


def test_box_and_keyframes(lung2):
    view, gt, _, gt2d = _largest(lung2)
    r0, c0, r1, c1 = su.box_from_mask(gt2d)
    inside = np.zeros_like(gt2d)
    inside[int(r0): int(r1) + 1, int(c0): int(c1) + 1] = True
    assert gt2d[inside].sum() == gt2d.sum()
    assert gt2d[int(r0)].any() and gt2d[int(r1)].any() and gt2d[:, int(c0)].any() and gt2d[:, int(c1)].any()
    assert su.keyframes(view, gt, 3) == [15, 18, 21, 24, 25]
    assert su.keyframes(view, gt, 1) == list(range(15, 26))
    with pytest.raises(PromptError):
        su.keyframes(view, np.zeros_like(gt), 2)
    with pytest.raises(PromptError):
        su.first_click(np.zeros_like(gt2d))


def test_click_run_metrics():
    run = su.ClickRun(dices=[0.5, 0.86, 0.88, 0.91])
    assert run.dice_at(1) == 0.5 and run.dice_at(3) == 0.88 and run.dice_at(10) == 0.91
    assert run.noc(0.85, 5) == 2 and run.noc(0.90, 5) == 4 and run.noc(0.95, 5) == 6
    assert su.dice(np.ones((3, 3), bool), np.zeros((3, 3), bool)) == 0.0
    assert su.dice(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0


def test_simulated_clicks_drive_a_backend(brain1):
    view, _, n, gt2d = _largest(brain1)
    run = su.simulate_clicks(ClassicalBackend().open_session(view), n, gt2d, max_clicks=4)
    assert len(run.dices) == len(run.seconds) == len(run.clicks) == 4
    assert run.clicks[0][2] == 1 and all(0.0 <= d <= 1.0 for d in run.dices)
    # Every click after the first lands where the previous mask was wrong.
    assert len({(r, c) for r, c, _ in run.clicks}) == 4


def test_clicks_as_ras_round_trip(brain1):
    view, _, n, gt2d = _largest(brain1)  # brain1 has a flipped j axis: a real orientation test
    clicks = [(*su.first_click(gt2d), 1), (10, 20, 0)]
    stored = su.clicks_to_ras(view, n, clicks)
    n2, prompt = slice_prompt_from_ras(view, [p["ras"] for p in stored], [int(p["positive"]) for p in stored])
    assert n2 == n
    np.testing.assert_allclose(prompt.points, [[r, c] for r, c, _ in clicks], atol=1e-2)
    assert prompt.labels.tolist() == [1, 0]
