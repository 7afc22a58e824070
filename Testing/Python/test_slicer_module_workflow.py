"""The SegAssist Logic's whole workflow on Slicer's real MRML nodes (slicer-core), on real CT (lung2).

volume node from a DICOM series of lung2 -> markups prompts placed inside the lesion (from the ground truth)
-> segment one slice -> propagate -> interpolate hand-drawn keyframes -> export .seg.nrrd and DICOM SEG ->
undo; the saved files are checked with slicerio and highdicom. The Slicer module's ``SegAssistLogic`` holds a
:class:`SegAssistWorkflow` (``logic.workflow``), so this is the panel's code path minus the Qt widgets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from SegAssistLib.engine.segmentation_engine import Cancelled
from SegAssistLib.errors import PromptError, SegAssistError
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.segmentation import Code, Terminology
from SegAssistLib.evaluation.simulated_user import dice, first_click, largest_slice

TUMOR_TERMINOLOGY = Terminology(
    category=Code("SCT", "49755003", "Morphologically Altered Structure"),
    type=Code("SCT", "108369006", "Neoplasm"),
    anatomic_region=Code("SCT", "39607008", "Lung"),
)
TUMOR_COLOR = (0.85, 0.25, 0.2)


@pytest.fixture(scope="module")
def lung2_dicom(lung2, tmp_path_factory):
    """lung2 written as a DICOM CT series (the workflow loads it like a clinician's series)."""
    from SegAssistLib.io.volumes import write_dicom_series

    folder = tmp_path_factory.mktemp("lung2_dicom")
    write_dicom_series(lung2[0], folder)
    return folder


@pytest.fixture
def wf(mrml_scene):
    from SegAssistLib.slicer.workflow import SegAssistWorkflow

    workflow = SegAssistWorkflow(mrml_scene.scene)
    yield workflow
    workflow.reset()


def _point_node(wf, name, view, n, pixels):
    node = wf.create_prompt_node(name)
    for r, c in pixels:
        node.AddControlPoint(*view.pixel_to_ras(n, r, c))
    return node


def _scene_with_true_tumour(wf, mrml_scene, lung2):
    """lung2 in a volume node and a segmentation whose "Tumor" segment is the true lesion:
    (truth, volume node, segmentation node)."""
    image, label = lung2
    gt = label.array > 0
    volume_node = mrml_scene.add_volume(image, "lung2")
    seg_node = wf.create_segmentation(volume_node)
    tumor = wf.add_segment(seg_node, "Tumor", TUMOR_COLOR)
    seg = wf.read_segmentation(seg_node, volume_node)
    seg.set_mask(tumor, gt)
    wf.write_segmentation(seg, seg_node, volume_node, [tumor])
    return gt, volume_node, seg_node


def test_workflow_lung2_segment_propagate_interpolate_export_undo(wf, mrml_scene, lung2, lung2_dicom, tmp_path):
    import highdicom as hd
    import slicerio

    image, label = lung2
    gt = label.array > 0

    # Volume node from the DICOM series: same voxels and geometry as the NRRD the series was written from.
    volume_node = wf.load_volume(lung2_dicom, "lung2")
    volume = wf.volume(volume_node)
    assert volume.same_grid(image, tol=1e-3)
    assert np.array_equal(volume.array, image.array.astype(volume.array.dtype))
    assert volume_node.GetAttribute("SegAssist.DICOMFolder") == str(lung2_dicom.resolve())

    seg_node = wf.create_segmentation(volume_node, "lung2 segmentation")
    tumor = wf.add_segment(seg_node, "Tumor", TUMOR_COLOR, TUMOR_TERMINOLOGY)
    assert seg_node.GetSegmentation().GetSegment(tumor).GetName() == "Tumor"

    # Prompts: two positive points inside the lesion on its largest axial slice, one negative point outside.
    view = PlaneView(image, "axial")
    n = largest_slice(view, gt)
    gt2d = view.slice(n, gt)
    r, c = first_click(gt2d)
    rows, cols = np.nonzero(gt2d)
    far = int(np.argmax((rows - r) ** 2 + (cols - c) ** 2))
    inner = (int(round((r + rows[far]) / 2)), int(round((c + cols[far]) / 2)))
    assert gt2d[inner]
    points = _point_node(wf, "Tumor", view, n, [(r, c), inner])
    negative = _point_node(wf, "Tumor (negative)", view, n, [(r, 20)])  # lung/air far left of the slice
    assert not gt2d[r, 20]

    levels = wf.undo_levels
    k, mask2d = wf.segment_slice(volume_node, seg_node, tumor, [points, negative], plane="axial")
    assert k == n
    assert dice(mask2d, gt2d) > 0.8
    assert not mask2d[r, 20]
    node_mask = wf.segment_mask(seg_node, tumor, volume_node)
    assert np.array_equal(view.slice(n, node_mask), mask2d)
    assert node_mask.sum() == mask2d.sum()  # only the prompted slice was written
    assert wf.undo_levels == levels + 1

    # Propagate: progress reaches total, the mask spreads over several slices, ONE undo step for all of it.
    calls = []
    levels = wf.undo_levels
    result = wf.propagate(volume_node, seg_node, tumor, progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] and len(calls) > 5
    assert wf.undo_levels == levels + 1
    propagated = wf.segment_mask(seg_node, tumor, volume_node)
    assert np.array_equal(propagated, result.mask)
    assert np.count_nonzero(propagated.any(axis=(1, 2))) > 3
    assert dice(propagated, gt) > 0.6
    assert np.array_equal(view.slice(n, propagated), mask2d)  # the prompted slice is kept

    # Interpolate: a second segment drawn on three slices of the ground truth, gaps filled.
    drawn = wf.add_segment(seg_node, "Drawn", (0.2, 0.5, 0.9))
    ks = np.flatnonzero(gt.any(axis=(1, 2)))
    keys = [int(ks[0]), int(ks[len(ks) // 2]), int(ks[-1])]
    sparse = np.zeros_like(gt)
    sparse[keys] = gt[keys]
    seg = wf.read_segmentation(seg_node, volume_node)
    seg.set_mask(drawn, sparse)
    wf.write_segmentation(seg, seg_node, volume_node, [drawn])
    used = wf.interpolate(volume_node, seg_node, drawn, plane="axial")
    assert list(used) == keys
    filled = wf.segment_mask(seg_node, drawn, volume_node)
    hidden = [k for k in range(keys[0], keys[-1] + 1) if k not in keys]
    assert dice(filled[hidden], gt[hidden]) > 0.75
    assert np.array_equal(filled[keys], gt[keys])
    assert np.array_equal(wf.segment_mask(seg_node, tumor, volume_node), propagated)  # other segment untouched

    # Export .seg.nrrd and check it with slicerio: names, colours, terminology, voxels.
    seg_path = tmp_path / "lung2.seg.nrrd"
    wf.export_segmentation(seg_node, seg_path, volume_node)
    data = slicerio.read_segmentation(str(seg_path))
    by_name = {s["name"]: s for s in data["segments"]}
    assert set(by_name) == {"Tumor", "Drawn"}
    assert np.allclose(by_name["Tumor"]["color"], TUMOR_COLOR, atol=1e-3)
    assert np.allclose(by_name["Drawn"]["color"], (0.2, 0.5, 0.9), atol=1e-3)
    term = by_name["Tumor"]["terminology"]
    assert term["category"] == ["SCT", "49755003", "Morphologically Altered Structure"]
    assert term["type"] == ["SCT", "108369006", "Neoplasm"]
    assert term["anatomicRegion"] == ["SCT", "39607008", "Lung"]
    extracted = slicerio.extract_segments(data, [("Tumor", 1)])
    assert int((extracted["voxels"] > 0).sum()) == int(propagated.sum())
    assert "SegAssist.Keyframes" not in str(data.get("segments"))

    # Export DICOM SEG referencing the series the volume was loaded from; highdicom reads it back.
    dcm_path = tmp_path / "lung2_seg.dcm"
    wf.export_segmentation(seg_node, dcm_path, volume_node)
    dseg = hd.seg.segread(str(dcm_path))
    labels = {d.SegmentLabel: d for d in dseg.SegmentSequence}
    assert set(labels) == {"Tumor", "Drawn"}
    assert labels["Tumor"].SegmentedPropertyTypeCodeSequence[0].CodeValue == "108369006"
    from SegAssistLib.io.dicom_seg import read_dicom_seg

    back = read_dicom_seg(dcm_path, volume)
    back_tumor = next(s for s in back if s.name == "Tumor")
    assert np.array_equal(back.mask(back_tumor.id), propagated)

    # Undo: interpolation, then the drawing, then the propagation are reverted one step each.
    assert wf.undo()
    assert np.array_equal(wf.segment_mask(seg_node, drawn, volume_node), sparse)
    assert wf.undo()
    assert not wf.segment_mask(seg_node, drawn, volume_node).any()
    wf.undo()  # adding the "Drawn" segment
    assert wf.undo()  # the propagation
    assert np.array_equal(wf.segment_mask(seg_node, tumor, volume_node), node_mask)


def test_roi_box_prompt_and_cancelled_propagation_writes_nothing(wf, mrml_scene, lung2):
    image, label = lung2
    gt = label.array > 0
    volume_node = mrml_scene.add_volume(image, "lung2")
    seg_node = wf.create_segmentation(volume_node)
    tumor = wf.add_segment(seg_node, "Tumor")
    view = PlaneView(image, "axial")
    n = largest_slice(view, gt)
    rows, cols = np.nonzero(view.slice(n, gt))
    roi = wf.create_box_node("Tumor")
    corners = view.pixel_to_ras(n, np.array([rows.min() - 3, rows.max() + 3]), np.array([cols.min() - 3, cols.max() + 3]))
    roi.SetXYZ(*corners.mean(axis=0))
    roi.SetRadiusXYZ(*(np.abs(corners[1] - corners[0]) / 2 + [0, 0, 1.0]))
    k, mask2d = wf.segment_slice(volume_node, seg_node, tumor, [roi])
    assert k == n
    assert dice(mask2d, view.slice(n, gt)) > 0.7

    before = wf.segment_mask(seg_node, tumor, volume_node)
    levels = wf.undo_levels
    with pytest.raises(Cancelled):
        wf.propagate(volume_node, seg_node, tumor, should_stop=lambda: True)
    assert np.array_equal(wf.segment_mask(seg_node, tumor, volume_node), before)
    assert wf.undo_levels == levels


def test_bad_inputs_give_clear_errors_and_write_nothing(wf, mrml_scene, lung2, tmp_path):
    image, _ = lung2
    volume_node = mrml_scene.add_volume(image, "lung2")
    seg_node = wf.create_segmentation(volume_node)
    tumor = wf.add_segment(seg_node, "Tumor")

    only_negative = wf.create_prompt_node("Tumor (negative)")
    only_negative.AddControlPoint(*image.kji_to_ras(np.array([30, 256, 256])))
    with pytest.raises(PromptError, match="positive"):
        wf.segment_slice(volume_node, seg_node, tumor, [only_negative])
    outside = wf.create_prompt_node("Tumor")
    outside.AddControlPoint(*(image.bounds_ras()[1] + 500.0))
    with pytest.raises(PromptError, match="outside"):
        wf.segment_slice(volume_node, seg_node, tumor, [outside])
    with pytest.raises(SegAssistError, match="No segment"):
        wf.segment_slice(volume_node, seg_node, "nope", [outside])
    with pytest.raises(SegAssistError, match="empty"):
        wf.interpolate(volume_node, seg_node, tumor)
    assert not wf.segment_mask(seg_node, tumor, volume_node).any()

    # DICOM SEG needs the series the volume came from; this volume was not loaded from DICOM.
    target = tmp_path / "seg.dcm"
    with pytest.raises(SegAssistError, match="DICOM folder"):
        wf.export_segmentation(seg_node, target, volume_node)
    with pytest.raises(SegAssistError, match="unknown segmentation format"):
        wf.export_segmentation(seg_node, tmp_path / "seg.txt", volume_node)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SegAssistError, match="No input volume"):
        wf.engine(None)


def test_ontology_import_export_and_segmentation_import(wf, mrml_scene, lung2, tmp_path):
    from SegAssistLib.formats.ontology import read_ontology

    image, label = lung2
    volume_node = mrml_scene.add_volume(image, "lung2")
    seg_node = wf.create_segmentation(volume_node)
    tumor = wf.add_segment(seg_node, "Tumor", TUMOR_COLOR, TUMOR_TERMINOLOGY)
    seg = wf.read_segmentation(seg_node, volume_node)
    seg.set_mask(tumor, label.array > 0)
    wf.write_segmentation(seg, seg_node, volume_node, [tumor])

    ctbl = tmp_path / "classes.ctbl"
    wf.export_ontology(seg_node, ctbl)
    onto = read_ontology(ctbl)
    assert onto.names == ["Tumor"]

    other = wf.create_segmentation(volume_node, "other")
    wf.add_segment(other, "Tumor", (0.1, 0.1, 0.1))
    (tmp_path / "coco.json").write_text(
        '{"categories": [{"id": 1, "name": "Tumor", "color": [0, 255, 0], "isthing": 1},'
        ' {"id": 2, "name": "Lung", "color": [0, 0, 255], "isthing": 0}]}'
    )
    added = wf.import_ontology(tmp_path / "coco.json", other)
    assert len(added) == 1
    names = {other.GetSegmentation().GetSegment(s).GetName(): other.GetSegmentation().GetSegment(s) for s in
             [other.GetSegmentation().GetNthSegmentID(i) for i in range(other.GetSegmentation().GetNumberOfSegments())]}
    assert set(names) == {"Tumor", "Lung"}
    assert np.allclose(names["Tumor"].GetColor(), (0, 1, 0))

    path = tmp_path / "t.seg.nrrd"
    wf.export_segmentation(seg_node, path)
    imported = wf.import_segmentation(path, volume_node)
    back = wf.read_segmentation(imported, volume_node)
    assert [s.name for s in back] == ["Tumor"]
    assert back.segment(back.segment_ids[0]).terminology == TUMOR_TERMINOLOGY
    assert np.array_equal(back.mask(back.segment_ids[0]), label.array > 0)


def test_2d_dataset_round_trip_and_plane_of_clicked_view(wf, mrml_scene, lung2, tmp_path):
    import json

    from pycocotools import mask as mask_utils

    image = lung2[0]
    gt, volume_node, seg_node = _scene_with_true_tumour(wf, mrml_scene, lung2)

    written = wf.export_2d_dataset(volume_node, seg_node, tmp_path / "coco.json", plane="axial")
    path = written[0]
    assert path == tmp_path / "coco.json"
    doc = json.loads(path.read_text())
    view = PlaneView(image, "axial")
    annotated = [n for n in range(view.n_slices) if view.slice(n, gt).any()]
    assert len(doc["images"]) == len(annotated)
    areas = sorted(int(mask_utils.area(a["segmentation"])) for a in doc["annotations"])
    assert areas == sorted(int(view.slice(n, gt).sum()) for n in annotated)
    names = {p.name for p in written}
    assert all(Path(im["file_name"]).name in names for im in doc["images"])

    vol2, seg2 = wf.import_2d_dataset(path)
    back = wf.read_segmentation(seg2, vol2)
    assert [s.name for s in back] == ["Tumor"]
    assert int(back.mask(back.segment_ids[0]).sum()) == int(gt.sum())

    # The view the user clicked in: a coronal slice node through the point gives "coronal".
    import slicer

    point = image.kji_to_ras(np.array([20, 300, 200]))
    red = mrml_scene.scene.AddNewNodeByClass("vtkMRMLSliceNode")
    red.SetOrientationToAxial()
    green = mrml_scene.scene.AddNewNodeByClass("vtkMRMLSliceNode")
    green.SetOrientationToCoronal()
    green.JumpSlice(*point)
    assert isinstance(green, slicer.vtkMRMLSliceNode)
    assert wf.plane_of_slice_node(red) == "axial"
    assert wf.plane_at_point(point) == "coronal"
    assert wf.plane_at_point(point + [500.0, 500.0, 500.0], default="sagittal") == "sagittal"


def test_markups_nodes_follow_the_prompt_conventions(mrml_scene):
    """Negative points: label starting with '-', description 'negative'/'exclude', or a '(negative)' list;
    unplaced points are skipped; an ROI is a box with its world bounds."""
    from SegAssistLib.slicer.prompts import combine_prompts, markups_from_node

    scene = mrml_scene.scene
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Liver")
    node.AddControlPoint(1.0, 2.0, 3.0, "Liver-1")
    node.AddControlPoint(4.0, 5.0, 6.0, "-Liver-2")
    node.AddControlPoint(7.0, 8.0, 9.0, "Liver-3")
    node.SetNthControlPointDescription(2, "Exclude this vessel")
    node.AddControlPoint(0.0, 0.0, 0.0, "pending")
    node.UnsetNthControlPointPosition(3)
    prompt = markups_from_node(node)
    assert prompt.segment_name == "Liver"
    assert prompt.points_ras.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert prompt.labels.tolist() == [1, 0, 0]

    negatives = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Liver (negative)")
    negatives.AddControlPoint(10.0, 11.0, 12.0)
    neg = markups_from_node(negatives)
    assert neg.segment_name == "Liver" and neg.labels.tolist() == [0]

    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "Liver box")
    roi.SetXYZ(10.0, 20.0, 30.0)
    roi.SetRadiusXYZ(5.0, 6.0, 7.0)
    box = markups_from_node(roi).box_ras
    assert np.allclose(box[0], [5, 14, 23]) and np.allclose(box[1], [15, 26, 37])

    pts, labels, combined_box = combine_prompts([prompt, neg, markups_from_node(roi)])
    assert len(pts) == 4 and labels.tolist() == [1, 0, 0, 0] and combined_box is not None
    with pytest.raises(PromptError, match="ROIs"):
        combine_prompts([markups_from_node(roi), markups_from_node(roi)])
    with pytest.raises(PromptError, match="not a point list"):
        markups_from_node(scene.AddNewNodeByClass("vtkMRMLMarkupsLineNode", "line"))


@pytest.mark.parametrize("name, picked", [("lung2_panoptic.json", None), ("lung2_tasks.json", None),
                                          ("semantic", "classes.json"), ("lung2_cityscapes", "classes.json")])
def test_panel_2d_formats_round_trip_like_the_cli(wf, mrml_scene, lung2, tmp_path, name, picked):
    """Every 2D format ``segassist convert`` writes, exported from the scene and imported back (a folder
    dataset is picked in the file dialog by its classes.json)."""
    gt, volume_node, seg_node = _scene_with_true_tumour(wf, mrml_scene, lung2)

    written = wf.export_2d_dataset(volume_node, seg_node, tmp_path / name, plane="axial")
    assert written and all(p.exists() for p in written)
    source = tmp_path / name / picked if picked else tmp_path / name
    vol2, seg2 = wf.import_2d_dataset(source)
    back = wf.read_segmentation(seg2, vol2)
    tumor_back = [s for s in back if s.name.split(" ")[0] == "Tumor"]  # per-slice instances: "Tumor 3"
    assert len(tumor_back) >= 1, [s.name for s in back]
    total = sum(int(back.mask(s.id).sum()) for s in tumor_back)
    assert total == int(gt.sum())
