"""Issue 20 items 2, 3 and 6 and issue 19's headless scene, on Slicer's real MRML nodes (slicer-core):

* an unplaced ROI (``vtkMRMLMarkupsROINode`` starts with no control point and size 0) is not a prompt;
* SegAssist's own undo stack reverts exactly its last step, even with the scene's undo on and the user
  placing points and moving slice views in between, and never touches the scene's undo;
* closing the scene (``reset()``) during a propagation cancels it safely;
* views are found by the plane they show, not by the name "Red";
* ``headless_workflow()`` is a ready scene and the README's scripting example runs verbatim.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.engine.segmentation_engine import Cancelled
from SegAssistLib.errors import PromptError, SegAssistError
from SegAssistLib.evaluation.simulated_user import first_click, largest_slice

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def wf(mrml_scene):
    from SegAssistLib.slicer.workflow import SegAssistWorkflow

    workflow = SegAssistWorkflow(mrml_scene.scene)
    yield workflow
    workflow.reset()


@pytest.fixture
def slice_node(mrml_scene):
    """Adds slice nodes (views) and removes them afterwards: a slice node with a layout name is a scene
    singleton, which ``scene.Clear(False)`` keeps, so it would leak into the next test."""
    added = []

    def add(orientation: str, layout: str | None = None):
        node = mrml_scene.scene.AddNewNodeByClass("vtkMRMLSliceNode")
        if layout:
            node.SetLayoutName(layout)
        getattr(node, f"SetOrientationTo{orientation}")()
        added.append(node)
        return node

    yield add
    for node in added:
        mrml_scene.scene.RemoveNode(node)


@pytest.fixture
def lesion(wf, mrml_scene, lung2):
    """lung2 in a volume node, a segmentation with "Tumor", and a RAS point inside the lesion's largest slice."""
    image, label = lung2
    gt = label.array > 0
    volume_node = mrml_scene.add_volume(image, "lung2")
    seg_node = wf.create_segmentation(volume_node)
    tumor = wf.add_segment(seg_node, "Tumor")
    view = PlaneView(image, "axial")
    n = largest_slice(view, gt)
    point = view.pixel_to_ras(n, *first_click(view.slice(n, gt)))
    return volume_node, seg_node, tumor, point, n


def test_new_unplaced_roi_is_not_a_prompt(wf, lesion):
    from SegAssistLib.slicer.prompts import has_placed_prompt

    volume_node, seg_node, tumor, point, n = lesion
    positive = wf.create_prompt_node("Tumor")
    negative = wf.create_prompt_node("Tumor", negative=True)
    roi = wf.create_box_node("Tumor")  # what "New prompts for this segment" creates
    assert roi.GetNumberOfControlPoints() == 0 and list(roi.GetSize()) == [0.0, 0.0, 0.0]
    assert not has_placed_prompt([positive, negative, roi])
    with pytest.raises(PromptError, match="no placed"):
        wf.segment_slice(volume_node, seg_node, tumor, [positive, negative, roi])
    positive.AddControlPoint(*point)
    assert has_placed_prompt([positive, negative, roi])
    k, mask = wf.segment_slice(volume_node, seg_node, tumor, [positive, negative, roi])  # "Apply"
    assert k == n and mask.sum() > 50


def test_undo_reverts_segassist_steps_not_clicks_and_leaves_scene_undo_alone(wf, mrml_scene, lesion, slice_node):
    volume_node, seg_node, tumor, point, n = lesion
    scene = mrml_scene.scene
    scene.SetUndoOn()  # as a user (or another module) may have it
    points = wf.create_prompt_node("Tumor")
    points.AddControlPoint(*point)
    before = wf.segment_mask(seg_node, tumor, volume_node)
    wf.segment_slice(volume_node, seg_node, tumor, [points])
    after_slice = wf.segment_mask(seg_node, tumor, volume_node)
    assert after_slice.sum() > before.sum()
    step = wf.history._undo[-1]
    (state,) = step.states
    i0, i1, j0, j1, k0, k1 = state.extent
    assert (k0, k1) == (n, n) and state.voxels.shape == (1, j1 - j0 + 1, i1 - i0 + 1)  # only the changed region
    assert scene.GetNumberOfUndoLevels() == 0  # SegAssist saved no scene state

    # The user places another point and moves a slice view: neither is a SegAssist step.
    points.AddControlPoint(*(np.asarray(point) + [2.0, 0.0, 0.0]))
    slice_node("Axial").JumpSlice(*point)
    assert wf.undo()
    assert np.array_equal(wf.segment_mask(seg_node, tumor, volume_node), before)
    assert points.GetNumberOfControlPoints() == 2  # the click stays
    assert wf.redo()
    assert np.array_equal(wf.segment_mask(seg_node, tumor, volume_node), after_slice)
    assert wf.undo()
    assert wf.undo()  # adding "Tumor"
    assert seg_node.GetSegmentation().GetSegment(tumor) is None
    assert not wf.undo()
    assert wf.redo() and seg_node.GetSegmentation().GetSegment(tumor).GetName() == "Tumor"
    assert scene.GetUndoFlag()  # left as it was


def test_scene_close_during_propagation_cancels_and_writes_nothing(wf, lesion):
    volume_node, seg_node, tumor, point, n = lesion
    points = wf.create_prompt_node("Tumor")
    points.AddControlPoint(*point)
    wf.segment_slice(volume_node, seg_node, tumor, [points])
    before = wf.segment_mask(seg_node, tumor, volume_node)
    levels = wf.undo_levels
    calls = []

    def progress(done, total):
        calls.append(done)
        assert wf.busy
        if len(calls) == 2:
            wf.reset()  # what the panel does on the scene's StartCloseEvent
            assert wf._engines  # deferred: the engine is not closed under the running propagation

    with pytest.raises(Cancelled):
        wf.propagate(volume_node, seg_node, tumor, progress=progress)
    assert len(calls) == 2
    assert not wf.busy and not wf._engines and wf.undo_levels == 0 < levels  # reset done after the run
    assert np.array_equal(wf.segment_mask(seg_node, tumor, volume_node), before)


def test_views_are_found_by_plane_not_by_name(wf, mrml_scene, lesion, slice_node):
    from SegAssistLib.slicer import views

    volume_node, seg_node, tumor, point, n = lesion
    scene = mrml_scene.scene
    assert views.slice_node_for_plane(scene, "axial") is None  # no view in this "layout"
    with pytest.raises(SegAssistError, match="No slice view shows the axial plane"):
        wf.lock_slice_in_view(volume_node, seg_node, tumor, "axial")
    other = slice_node("Axial", "Slice4")  # a layout without "Red"
    other.JumpSlice(*point)
    assert views.slice_node_for_plane(scene, "axial") is other
    assert views.slice_node_for_plane(scene, "coronal") is None
    assert wf.lock_slice_in_view(volume_node, seg_node, tumor, "axial") == n


def test_headless_workflow_is_ready():
    from SegAssistLib.slicer.scene import headless_workflow
    from SegAssistLib.operations.demo import SAMPLE_DIR

    wf = headless_workflow()
    volume = wf.load_volume(SAMPLE_DIR / "lung2_crop.nrrd")
    seg = wf.create_segmentation(volume)
    assert seg.GetSegmentation().GetSegment(wf.add_segment(seg, "Tumor")) is not None


def test_readme_scripting_example_runs_verbatim(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    example = next(b for b in blocks if "headless_workflow" in b)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    wf, seg, tumor, volume = namespace["wf"], namespace["seg"], namespace["tumor"], namespace["volume"]
    assert (tmp_path / "tumor.seg.nrrd").exists()
    import slicerio

    data = slicerio.read_segmentation(str(tmp_path / "tumor.seg.nrrd"))
    assert [s["name"] for s in data["segments"]] == ["Tumor"]
    exported = int((data["voxels"] > 0).sum())
    assert exported > 100  # propagated before export
    # The example ends with undo(): the propagation is reverted, the segmented slice kept.
    assert 0 < wf.segment_mask(seg, tumor, volume).sum() < exported


def test_undo_skips_removed_nodes_and_keeps_a_bounded_history(mrml_scene, lesion):
    from SegAssistLib.slicer.workflow import SegAssistWorkflow

    volume_node, seg_node, tumor, point, n = lesion
    wf = SegAssistWorkflow(mrml_scene.scene, undo_limit=3)
    other = wf.create_segmentation(volume_node, "other")
    names = [wf.add_segment(other, f"S{i}") for i in range(5)]
    assert wf.undo_levels == 3 and wf.history.labels == ["Add segment S2", "Add segment S3", "Add segment S4"]
    doomed = wf.create_segmentation(volume_node, "doomed")
    wf.add_segment(doomed, "Gone")
    mrml_scene.scene.RemoveNode(doomed)
    assert wf.undo()  # the removed node's step is dropped; the newest live step (S4) is undone
    assert other.GetSegmentation().GetSegment(names[4]) is None
    assert other.GetSegmentation().GetSegment(names[3]) is not None
    wf.reset()


def test_show_slice_moves_the_view_of_that_plane_to_the_slice(wf, mrml_scene, lesion, slice_node):
    from SegAssistLib.slicer import views

    volume_node, seg_node, tumor, point, n = lesion
    view = wf.engine(volume_node).view("coronal")
    assert views.show_slice(mrml_scene.scene, view, 5) is None  # no coronal view in the layout
    green = slice_node("Coronal", "Green")
    for k in (0, 17, view.n_slices - 1):
        assert views.show_slice(mrml_scene.scene, view, k) is green
        assert views.slice_index_in_view(view, green) == k
    with pytest.raises(SegAssistError, match="outside the volume"):
        views.show_slice(mrml_scene.scene, view, view.n_slices)


def test_slices_to_review_after_propagation_and_jump_there(wf, mrml_scene, lesion, slice_node):
    volume_node, seg_node, tumor, point, n = lesion
    assert wf.slices_to_review() == []  # nothing propagated yet
    points = wf.create_prompt_node("Tumor")
    points.AddControlPoint(*point)
    wf.segment_slice(volume_node, seg_node, tumor, [points])
    result = wf.propagate(volume_node, seg_node, tumor)
    review = wf.slices_to_review(limit=5)
    queue = result.review_queue  # the engine's order: most likely wrong first, hand-drawn slices last
    assert len(review) == min(5, len(queue)) > 0
    assert [(plane, k) for plane, k, _ in review] == [(i.plane, int(i.slice_index)) for i in queue[: len(review)]]
    assert all(why for _, _, why in review)  # each entry says why it is listed
    risks = [i.risk for i in queue]
    assert risks == sorted(risks, reverse=True)
    plane, k, _ = review[0]
    axial = slice_node("Axial", "Red")
    assert wf.show_slice(volume_node, plane, k)
    from SegAssistLib.slicer.views import slice_index_in_view

    assert slice_index_in_view(wf.engine(volume_node).view(plane), axial) == k
