"""The classical (weight-free) backend on real CT (lung2) and MR (brain1) with simulated clicks.

Every quality check would fail for an empty, full or box-shaped mask: masks are compared with the real
ground truth (Dice), their area with the object's, and their fill of their own bounding box with a
rectangle's. Bad prompts must raise a PromptError that says what to do.
"""

from __future__ import annotations

import numpy as np
import pytest

from SegAssistLib.backends import get_backend
from SegAssistLib.backends.classical.backend import ClassicalBackend
from SegAssistLib.errors import PromptError
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt, slice_prompt_from_ras
from SegAssistLib.evaluation import simulated_user as su


def _case(case):
    image, label = case
    gt = label.array > 0
    view = PlaneView(image, "axial")
    n = su.largest_slice(view, gt)
    return view, gt, n, np.asarray(view.slice(n, gt), bool)


def assert_plausible(mask: np.ndarray, gt2d: np.ndarray, min_dice: float) -> None:
    """Fails for an empty, full, or box-shaped mask, and for one that misses the object."""
    assert mask.dtype == bool and mask.shape == gt2d.shape
    assert mask.any(), "empty mask"
    assert mask.mean() < 0.5, "mask covers most of the slice"
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    box_area = (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)
    assert mask.sum() / box_area < 0.9, "mask fills its bounding box like a rectangle"
    assert 0.5 < mask.sum() / gt2d.sum() < 2.0
    assert su.dice(mask, gt2d) >= min_dice


def test_registry_gives_the_classical_backend():
    backend = get_backend("classical")
    assert isinstance(backend, ClassicalBackend) and backend.name == "classical"


@pytest.mark.parametrize("case_name, min_dice", [("lung2", 0.8), ("brain1", 0.6)])
def test_one_click_at_the_object_centre(case_name, min_dice, request):
    view, _, n, gt2d = _case(request.getfixturevalue(case_name))
    session = ClassicalBackend().open_session(view)
    r, c = su.first_click(gt2d)
    result = session.add_prompt(n, SlicePrompt(points=[[r, c]], labels=[1]))
    assert result.slice_index == n and 0.0 < result.score <= 1.0  # a confidence (issue 14), not 1/0
    assert_plausible(result.mask, gt2d, min_dice)


def test_corrections_reach_high_dice_on_lung2(lung2):
    view, _, n, gt2d = _case(lung2)
    run = su.simulate_clicks(ClassicalBackend().open_session(view), n, gt2d, max_clicks=5)
    assert max(run.dices) >= 0.9
    assert run.noc(0.85, 5) <= 3


def test_corrections_improve_brain1(brain1):
    view, _, n, gt2d = _case(brain1)
    run = su.simulate_clicks(ClassicalBackend().open_session(view), n, gt2d, max_clicks=5)
    assert run.dice_at(5) > run.dice_at(1)
    assert run.dice_at(5) >= 0.85


def test_negative_click_removes_what_it_lands_on(lung2):
    image, label = lung2
    gt = label.array > 0
    view = PlaneView(image, "axial")
    for n in range(15, 26):  # the first slice where the simulated user's second click is a negative one
        gt2d = np.asarray(view.slice(n, gt), bool)
        session = ClassicalBackend().open_session(view)
        first = session.add_prompt(n, SlicePrompt(points=[su.first_click(gt2d)], labels=[1])).mask
        (r2, c2), label2 = su.next_click(gt2d, first)
        if label2 == 0:
            break
    else:
        pytest.fail("no slice of lung2 needed a negative correction")
    assert first[r2, c2]
    second = session.add_prompt(n, SlicePrompt(points=[[r2, c2]], labels=[0])).mask
    assert not second[r2, c2]
    assert (second & ~gt2d).sum() < (first & ~gt2d).sum()  # fewer false pixels
    assert su.dice(second, gt2d) >= su.dice(first, gt2d) - 0.02


def test_positive_correction_adds_what_it_lands_on(brain1):
    view, _, n, gt2d = _case(brain1)
    session = ClassicalBackend().open_session(view)
    first = session.add_prompt(n, SlicePrompt(points=[su.first_click(gt2d)], labels=[1])).mask
    (r2, c2), label2 = su.next_click(gt2d, first)
    assert label2 == 1 and not first[r2, c2]
    second = session.add_prompt(n, SlicePrompt(points=[[r2, c2]], labels=[1])).mask
    assert second[r2, c2]
    assert (second & gt2d).sum() > (first & gt2d).sum()


def test_box_prompt(lung2):
    view, _, n, gt2d = _case(lung2)
    r0, c0, r1, c1 = su.box_from_mask(gt2d)
    mask = ClassicalBackend().open_session(view).add_prompt(n, SlicePrompt(box=(r0 - 2, c0 - 2, r1 + 2, c1 + 2))).mask
    assert_plausible(mask, gt2d, 0.8)
    assert not mask[: int(r0) - 3].any() and not mask[:, int(c1) + 3:].any()  # nothing outside the box


def test_box_whose_centre_misses_the_object(brain1):
    """brain1 slice 12 holds the tumour in two parts; the box around both has normal brain at its centre.
    A seed at the box centre segmented that brain (Dice 0.03); seeding what the box holds and its
    surroundings do not finds the tumour."""
    image, label = brain1
    view = PlaneView(image, "axial")
    gt2d = np.asarray(view.slice(12, label.array > 0), bool)
    box = su.box_from_mask(gt2d)
    r, c = int((box[0] + box[2]) / 2), int((box[1] + box[3]) / 2)
    assert not gt2d[r, c]  # the premise: the centre is not tumour
    mask = ClassicalBackend().open_session(view).add_prompt(12, SlicePrompt(box=box)).mask
    assert su.dice(mask, gt2d) >= 0.6  # the larger, brighter part; the darker one looks like its surroundings
    assert 0.4 < mask.sum() / gt2d.sum() < 2.0


@pytest.mark.parametrize("method", ["random_walker", "geodesic", "slicer_growcut"])
def test_other_methods_are_real_segmentations(method, lung2):
    view, _, n, gt2d = _case(lung2)
    mask = ClassicalBackend(method).open_session(view).add_prompt(
        n, SlicePrompt(points=[su.first_click(gt2d)], labels=[1])).mask
    assert_plausible(mask, gt2d, 0.7)


@pytest.mark.slow
@pytest.mark.parametrize("case_name", ["lung2", "brain1"])
def test_beats_slicer_growcut_with_the_same_seeds(case_name, request):
    """The issue's target: higher Dice than Slicer's GrowCut at equal clicks (3), same seeds, every slice."""
    pytest.importorskip("slicer")
    image, label = request.getfixturevalue(case_name)
    gt = label.array > 0
    view = PlaneView(image, "axial")
    ours, peer = [], []
    for n in [n for n in range(view.n_slices) if view.slice(n, gt).any()]:
        gt2d = np.asarray(view.slice(n, gt), bool)
        ours.append(su.simulate_clicks(ClassicalBackend().open_session(view), n, gt2d, 3).dice_at(3))
        peer.append(su.simulate_clicks(ClassicalBackend("slicer_growcut").open_session(view), n, gt2d, 3).dice_at(3))
    assert np.mean(ours) > np.mean(peer)
    assert min(ours) > 0.5


def test_keyframes_make_a_3d_mask(lung2):
    image, label = lung2
    gt = label.array > 0
    view = PlaneView(image, "axial")
    mask, keys = su.simulate_keyframes(ClassicalBackend().open_session(view), view, gt, every=3,
                                       clicks_per_keyframe=2)
    assert keys[0] == 15 and keys[-1] == 25
    filled = np.flatnonzero(mask.any(axis=(1, 2)))
    assert filled.tolist() == list(range(15, 26))  # every slice between the keyframes, none outside
    assert su.dice(mask, gt) >= 0.8
    for n in (16, 20, 23):  # unprompted slices are real segmentations too
        assert n not in keys
        assert_plausible(view.slice(n, mask).copy(), np.asarray(view.slice(n, gt), bool), 0.7)


def test_propagate_streams_and_stops(lung2):
    image, label = lung2
    gt = label.array > 0
    view = PlaneView(image, "axial")
    session = ClassicalBackend().open_session(view)
    for n in (16, 22):
        su.simulate_clicks(session, n, np.asarray(view.slice(n, gt), bool), 1)
    got = [r.slice_index for r in session.propagate("forward", max_slices=3)]
    assert got == [16, 17, 18]
    calls = []
    got = [r.slice_index for r in session.propagate("backward", should_stop=lambda: len(calls.append(1) or calls) > 2)]
    assert got == [22, 21]


def test_extrapolation_past_keyframes_stays_near_the_object(lung2):
    image, label = lung2
    gt = label.array > 0
    view = PlaneView(image, "axial")
    session = ClassicalBackend(extrapolate=True).open_session(view)
    su.simulate_clicks(session, 22, np.asarray(view.slice(22, gt), bool), 1)
    results = {r.slice_index: r.mask for r in session.propagate("both")}
    got = sorted(results)
    assert 22 in got and len(got) > 1 and got == list(range(got[0], got[-1] + 1))
    key_area = results[22].sum()
    for n, m in results.items():
        assert m.sum() <= 1.1 ** abs(n - 22) * key_area + 1  # never floods the slice
    for n in (21, 23):  # the neighbours of the prompted slice are the lesion
        assert su.dice(results[n], np.asarray(view.slice(n, gt), bool)) > 0.7


# ---- bad input ------------------------------------------------------------------------------------
def test_empty_prompt_is_refused(lung2):
    view = PlaneView(lung2[0], "axial")
    session = ClassicalBackend().open_session(view)
    with pytest.raises(PromptError, match="No prompt"):
        session.add_prompt(20, SlicePrompt())


def test_points_outside_the_slice_or_volume_are_refused(lung2):
    image = lung2[0]
    view = PlaneView(image, "axial")
    session = ClassicalBackend().open_session(view)
    with pytest.raises(PromptError, match="outside"):
        session.add_prompt(20, SlicePrompt(points=[[600.0, 10.0]], labels=[1]))
    with pytest.raises(PromptError, match="outside"):
        session.add_prompt(61, SlicePrompt(points=[[100.0, 100.0]], labels=[1]))
    lo, hi = image.bounds_ras()
    with pytest.raises(PromptError, match="outside the volume"):
        slice_prompt_from_ras(view, [hi + 50.0], [1])


def test_negative_points_alone_are_refused(lung2):
    view = PlaneView(lung2[0], "axial")
    session = ClassicalBackend().open_session(view)
    with pytest.raises(PromptError, match="positive point"):
        session.add_prompt(20, SlicePrompt(points=[[100.0, 100.0]], labels=[0]))


def test_propagate_without_prompts_is_refused(lung2):
    session = ClassicalBackend().open_session(PlaneView(lung2[0], "axial"))
    with pytest.raises(PromptError, match="Nothing to propagate"):
        list(session.propagate())


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="random_walker"):
        ClassicalBackend("magic")


# ---- a large, mixed-tissue object (MNI152 whole brain: grey + white matter + CSF) ------------------
@pytest.fixture(scope="module")
def mni_brain(mni152_t1, mni152_brain_mask):
    """(T1 template, bool brain mask array)."""
    return mni152_t1, mni152_brain_mask.array


@pytest.mark.parametrize("n", [70, 89])
def test_corrections_reach_the_whole_brain_and_do_not_collapse(n, mni_brain):
    """Positive corrections across the brain widen the ROI to the whole object; a later (negative)
    correction must not wipe the mask out (a whole-slice ROI is downsampled: no seed may be lost)."""
    image, gt = mni_brain
    view = PlaneView(image, "axial")
    gt2d = np.asarray(view.slice(n, gt), bool)
    run = su.simulate_clicks(ClassicalBackend().open_session(view), n, gt2d, max_clicks=5)
    assert run.dice_at(5) >= 0.9
    best = 0.0
    for d in run.dices:  # once good, a correction never destroys the mask
        assert d >= best - 0.1
        best = max(best, d)


@pytest.mark.parametrize("n", [31, 89])
def test_a_box_around_the_whole_brain_gives_the_brain(n, mni_brain):
    """One click cannot tell a whole brain from the tissue clicked in it; a box can: its contents unlike
    the ring around it seed the object."""
    image, gt = mni_brain
    view = PlaneView(image, "axial")
    gt2d = np.asarray(view.slice(n, gt), bool)
    mask = ClassicalBackend().open_session(view).add_prompt(n, SlicePrompt(box=su.box_from_mask(gt2d))).mask
    assert su.dice(mask, gt2d) >= 0.95


def test_downsampled_solve_keeps_a_one_pixel_seed(lung2):
    """A whole-slice ROI is solved at reduced resolution; a tiny background seed must still count."""
    from SegAssistLib.backends.classical.backend import MAX_SOLVE_PIXELS, _solve_limited
    from SegAssistLib.backends.classical.methods import BACKGROUND, OBJECT, watershed

    view, _, n, gt2d = _case(lung2)
    image = np.asarray(view.slice(n), np.float32)
    assert image.size > MAX_SOLVE_PIXELS
    seeds = np.zeros(image.shape, np.int8)
    r, c = su.first_click(gt2d)
    seeds[r - 2:r + 3, c - 2:c + 3] = OBJECT
    seeds[0, 0] = BACKGROUND  # the only background seed: one pixel in a corner
    mask = _solve_limited(watershed, image, seeds, view.pixel_spacing, MAX_SOLVE_PIXELS)
    assert mask.sum() > 25  # grew beyond its own seed: the method saw both labels
    assert not mask[0, 0]


def test_first_click_in_textured_tumour_is_not_swamped(brain1):
    """One click at the centre of brain1's tumour on each of its slices: the first click's object seed is at
    least ``first_seed_mm`` wide, so watershed does far better than with the old few-pixel seed
    (``first_seed_mm=0``), and is on par with Slicer's GrowCut on the same seeds. (It led GrowCut by 0.03 on
    this case with similar_sigmas 2.5; 1.5, chosen on the development set's tuning half where brain1 is not,
    puts it 0.006 behind here while it leads on the tuning half: docs/BENCHMARKS.md.)"""
    pytest.importorskip("slicer")
    from SegAssistLib.backends.classical.seeds import SeedOptions

    image, label = brain1
    gt = label.array > 0
    view = PlaneView(image, "axial")
    backends = {"ours": ClassicalBackend(), "growcut": ClassicalBackend("slicer_growcut"),
                "small_seed": ClassicalBackend(seed_options=SeedOptions(first_seed_mm=0.0))}
    dices = {k: [] for k in backends}
    for n in [n for n in range(view.n_slices) if view.slice(n, gt).any()]:
        gt2d = np.asarray(view.slice(n, gt), bool)
        prompt = SlicePrompt(points=[su.first_click(gt2d)], labels=[1])
        for k, backend in backends.items():
            dices[k].append(su.dice(backend.open_session(view).add_prompt(n, prompt).mask, gt2d))
    assert np.mean(dices["ours"]) > np.mean(dices["growcut"]) - 0.02
    assert np.mean(dices["ours"]) > np.mean(dices["small_seed"]) + 0.1
    # The single-click size bound (issue 14, chosen on the development set's tuning half, where brain1 is
    # not) cuts one small peripheral slice of this tumour to Dice 0.25 (0.3+ before): a known cost.
    assert min(dices["ours"]) > 0.2
