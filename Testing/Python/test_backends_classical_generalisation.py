"""The classical backend on anatomy nobody tuned for (issue 14, items 3 and 4), on real data.

* a click on the small first or last cross-section of a real structure stays local (no leak);
* a single click's region is bounded, while a box still reaches the whole object, and so does a click
  whose negative clicks surround the object (they say where it ends); one-sided negatives keep the bound;
* the per-slice confidence is not constant, and is higher for a correct mask than for a leak;
* between keyframes nothing leaves the band around the two keyframes' masks;
* 1,000 prompt points on one slice give the seeds each point asks for (issue 18; the speed itself is
  measured by ``Testing/Benchmarks/bench_interactive.py``, not timed here).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Benchmarks"))
import devset  # noqa: E402

from SegAssistLib.backends.classical.backend import ClassicalBackend  # noqa: E402
from SegAssistLib.backends.classical.confidence import slice_confidence  # noqa: E402
from SegAssistLib.backends.classical.methods import BACKGROUND, OBJECT  # noqa: E402
from SegAssistLib.backends.classical.seeds import build_seeds  # noqa: E402
from SegAssistLib.core.planes import PlaneView  # noqa: E402
from SegAssistLib.core.prompts import SlicePrompt  # noqa: E402
from SegAssistLib.evaluation import simulated_user as su  # noqa: E402
from SegAssistLib.evaluation.metrics import dice  # noqa: E402


def _structure(sid: str):
    s = {x.id: x for x in devset.structures()}[sid]
    image, gt = s.load()
    return PlaneView(image, "axial"), gt


@pytest.mark.parametrize("sid", ["ts_ct/kidney_right", "ts_ct/stomach", "pyradiomics/lung1"])
def test_click_on_small_end_slices_does_not_leak(sid):
    view, gt = _structure(sid)
    present = [n for n in range(view.n_slices) if view.slice(n, gt).any()]
    for n in (present[0], present[-1]):
        gt2d = np.asarray(view.slice(n, gt), bool)
        with ClassicalBackend().open_session(view) as session:
            res = session.add_prompt(n, SlicePrompt(points=[list(su.first_click(gt2d))], labels=[1]))
        # A leak is a region many times the cross-section (issue 14 saw 50x and Dice 0.02).
        # (kidney_right's last slice was 5.2x before the single-click bound.)
        assert res.mask.sum() <= 3 * gt2d.sum(), (sid, n, int(res.mask.sum()), int(gt2d.sum()))
        assert res.mask[su.first_click(gt2d)]


@pytest.mark.parametrize("sid", ["ts_ct/gallbladder", "pyradiomics/breast1"])
def test_click_on_a_tiny_last_slice_stays_bounded(sid):
    """Cross-sections of 8-40 pixels grew 38-232x without the single-click bound; it keeps them under 20x
    (still an over-segmentation: listed as open in docs/BENCHMARKS.md)."""
    view, gt = _structure(sid)
    n = [k for k in range(view.n_slices) if view.slice(k, gt).any()][-1]
    gt2d = np.asarray(view.slice(n, gt), bool)
    with ClassicalBackend().open_session(view) as session:
        res = session.add_prompt(n, SlicePrompt(points=[list(su.first_click(gt2d))], labels=[1]))
    assert res.mask.sum() <= 20 * gt2d.sum(), (sid, int(res.mask.sum()), int(gt2d.sum()))


def test_single_click_is_bounded_but_a_box_reaches_the_object():
    view, gt = _structure("ts_ct/liver")
    n = su.largest_slice(view, gt)
    gt2d = np.asarray(view.slice(n, gt), bool)
    with ClassicalBackend().open_session(view) as session:
        click = session.add_prompt(n, SlicePrompt(points=[list(su.first_click(gt2d))], labels=[1])).mask
    with ClassicalBackend().open_session(view) as session:
        r0, c0, r1, c1 = su.box_from_mask(gt2d)
        box = session.add_prompt(n, SlicePrompt(box=(r0, c0, r1, c1))).mask
    assert click.sum() <= 1.5 * gt2d.sum()
    assert dice(box, gt2d) > 0.6


def _ring_of_negatives(gt2d: np.ndarray, spacing, mm: float = 4.5) -> np.ndarray:
    """Negative clicks on the line ``mm`` outside the true mask, about one per 1.5 mm (as a user outlines
    the background around an organ)."""
    dist = ndimage.distance_transform_edt(~gt2d, sampling=spacing)
    line = np.argwhere(np.abs(dist - mm) <= 0.5 * max(spacing))
    step = np.maximum(1.5 / np.asarray(spacing), 1.0)
    _, keep = np.unique(np.floor(line / step).astype(int), axis=0, return_index=True)
    return line[np.sort(keep)].astype(float)


def test_negatives_around_a_click_replace_its_size_bound():
    """Liver, largest slice: one click is bounded to a fraction of the organ (Dice ~0.2); the same click
    with negative clicks all around the liver reaches it (Dice ~0.7, issue 14: "negative clicks are used
    as a user would expect"), and stays inside the ring. Negatives on one side only do not lift the bound."""
    view, gt = _structure("ts_ct/liver")
    n = su.largest_slice(view, gt)
    gt2d = np.asarray(view.slice(n, gt), bool)
    click = list(su.first_click(gt2d))
    ring = _ring_of_negatives(gt2d, view.pixel_spacing)
    one_side = ring[ring[:, 1] > click[1]]

    def run(neg):
        prompt = SlicePrompt(points=np.vstack([[click], neg]) if len(neg) else [click],
                             labels=np.r_[1, np.zeros(len(neg), int)])
        with ClassicalBackend().open_session(view) as session:
            return session.add_prompt(n, prompt).mask

    alone, surrounded, sided = run(np.zeros((0, 2))), run(ring), run(one_side)
    assert dice(alone, gt2d) < 0.4 and alone.sum() < 0.5 * gt2d.sum()
    assert dice(surrounded, gt2d) > dice(alone, gt2d) + 0.3
    inside_ring = ndimage.distance_transform_edt(~gt2d, sampling=view.pixel_spacing) < 4.5
    assert not (surrounded & ~inside_ring).any()
    assert sided.sum() <= 1.2 * alone.sum()


def test_negatives_enclose_needs_all_directions():
    from SegAssistLib.backends.classical.seeds import negatives_enclose

    sp = np.array([1.0, 1.0])
    angles = np.radians(np.arange(0, 360, 30))
    ring = np.c_[50 + 20 * np.sin(angles), 50 + 20 * np.cos(angles)]
    p = np.array([50.0, 50.0])
    assert negatives_enclose(p, ring, sp, 90.0)
    assert not negatives_enclose(p, ring[:7], sp, 90.0)  # 0-180 degrees: a half ring
    assert not negatives_enclose(p, ring[::6], sp, 90.0)  # two points
    assert not negatives_enclose(p, ring, sp, 0.0)  # the rule switched off
    # Anisotropic pixels: a ring in mm, not in pixels, decides.
    assert negatives_enclose(p, np.c_[50 + 10 * np.sin(angles), 50 + 20 * np.cos(angles)], np.array([2.0, 1.0]), 90.0)


def test_confidence_varies_and_ranks_a_correct_mask_above_a_leak():
    from SegAssistLib.backends.classical.seeds import SeedOptions

    # A real leak: what the backend gave on breast1's tiny last slice before the single-click bound and with
    # the old similar_sigmas 2.5 (38x). (Since the weights were re-chosen on the tuning half, a 232x leak on
    # the gallbladder's 8-pixel last slice scores above the truth, 0.86 against 0.81: so small a section
    # on 3 mm CT barely has an edge. A 5x leak on ts_ct/kidney_right scores the same as the truth. See
    # docs/BENCHMARKS.md.)
    for sid in ("pyradiomics/breast1",):
        view, gt = _structure(sid)
        n = [k for k in range(view.n_slices) if view.slice(k, gt).any()][-1]
        gt2d = np.asarray(view.slice(n, gt), bool)
        with ClassicalBackend(seed_options=SeedOptions(single_click_reach=0, similar_sigmas=2.5)).open_session(view) as session:
            leak = session.add_prompt(n, SlicePrompt(points=[list(su.first_click(gt2d))], labels=[1])).mask
        assert leak.sum() > 4 * gt2d.sum()
        assert slice_confidence(view.slice(n), gt2d, view.pixel_spacing) > slice_confidence(
            view.slice(n), leak, view.pixel_spacing), sid
    view, gt = _structure("ts_ct/kidney_left")
    n = su.largest_slice(view, gt)
    image = view.slice(n)
    gt2d = np.asarray(view.slice(n, gt), bool)
    sp = view.pixel_spacing
    rows = np.arange(gt2d.shape[0])[:, None]
    half = gt2d & (rows < np.flatnonzero(gt2d.any(1)).mean())
    assert slice_confidence(image, np.zeros_like(gt2d), sp) == 0.0
    # Between keyframes the expected area counts: half the object is less plausible than all of it.
    assert slice_confidence(image, half, sp, expected_area=gt2d.sum()) < slice_confidence(
        image, gt2d, sp, expected_area=gt2d.sum())
    with ClassicalBackend().open_session(view) as session:
        for k in su.keyframes(view, gt, 3):
            session.add_prompt(k, SlicePrompt(points=[list(su.first_click(view.slice(k, gt)))], labels=[1]))
        scores = [r.score for r in session.propagate("both")]
    assert len(set(np.round(scores, 4))) > 1
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_between_keyframes_nothing_leaves_the_keyframes_band():
    view, gt = _structure("ts_ct/stomach")
    backend = ClassicalBackend()
    with backend.open_session(view) as session:
        keys = su.keyframes(view, gt, 3)
        for k in keys:
            session.add_prompt(k, SlicePrompt(points=[list(su.first_click(view.slice(k, gt)))], labels=[1]))
        results = {r.slice_index: r.mask for r in session.propagate("both")}
        keyed = {k: session._masks[1][k] for k in keys}
    assert min(results) == keys[0] and max(results) == keys[-1]
    sp = np.asarray(view.pixel_spacing)
    for a, b in zip(keys[:-1], keys[1:]):
        band = np.ceil(session.band_mm / sp).astype(int)
        near = ndimage.binary_dilation(keyed[a] | keyed[b], np.ones(2 * band + 1, bool))
        for n in range(a + 1, b):
            assert not (results[n] & ~near).any(), n


def test_a_thousand_points_give_the_seeds_each_point_asks_for(lung2):
    image, label = lung2
    view = PlaneView(image, "axial")
    gt3 = np.asarray(label.array) > 0
    n = su.largest_slice(view, gt3)
    gt = np.asarray(view.slice(n, gt3), bool)
    rng = np.random.default_rng(1)
    inside, outside = np.argwhere(ndimage.binary_erosion(gt, iterations=3)), np.argwhere(~gt)
    pos = inside[rng.choice(len(inside), 500)]
    neg = outside[rng.choice(len(outside), 500)]
    prompt = SlicePrompt(points=np.concatenate([pos, neg]).astype(float),
                         labels=np.r_[np.ones(500), np.zeros(500)].astype(int))
    s = build_seeds(view.slice(n), prompt, view.pixel_spacing)
    off = np.array([s.roi[0].start, s.roi[1].start])
    p = pos - off
    q = neg - off
    assert (s.seeds[p[:, 0], p[:, 1]] == OBJECT).all()
    # Every negative click inside the ROI is background unless a positive click's seed covers it.
    ok = (q >= 0).all(1) & (q < s.seeds.shape).all(1)
    assert ok.all()
    assert (s.seeds[q[:, 0], q[:, 1]] == BACKGROUND).mean() > 0.95
    with ClassicalBackend().open_session(view) as session:
        mask = session.add_prompt(n, prompt).mask
    assert mask[pos[:, 0], pos[:, 1]].mean() > 0.95
    assert dice(mask, gt) > 0.6
