"""MRML glue on Slicer's real nodes (slicer-core, headless): volume nodes, writing a Segmentation into a
vtkMRMLSegmentationNode (only changed segments/region, overlap, one undo step) and reading it back."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from SegAssistLib.errors import GeometryError, SegAssistError
from SegAssistLib.core.segmentation import Code, Segment, Segmentation, Terminology

pytest.importorskip("slicer.util", reason="slicer-core is not installed")

from SegAssistLib.slicer.nodes import (  # noqa: E402
    read_segmentation_from_node,
    volume_from_volume_node,
    volume_node_from_volume,
    write_segmentation_to_node,
)

MASS = Terminology(Code("SCT", "49755003", "Morphologically Altered Structure"), Code("SCT", "4147007", "Mass"),
                   anatomic_region=Code("SCT", "12738006", "Brain"))


def brain_segmentation(brain1) -> Segmentation:
    image, label = brain1
    lesion = label.array > 0
    seg = Segmentation.like(image)
    seg.add_segment(Segment("lesion", "Lesion", (1.0, 0.1, 0.1), MASS, {"rater": "A"}), lesion)
    seg.add_segment(Segment("rim", "Rim", (0.1, 0.3, 1.0), MASS),
                    ndimage.binary_dilation(lesion, structure=np.ones((1, 3, 3), bool), iterations=3))
    far = np.zeros(image.shape, bool)
    far[2:5, 20:40, 20:40] = True
    seg.add_segment(Segment("far", "Far away", (0.2, 0.9, 0.2)), far)
    return seg


@pytest.fixture
def brain_nodes(brain1, mrml_scene):
    image, _ = brain1
    volume_node = mrml_scene.add_volume(image, "brain1")
    node = mrml_scene.add_segmentation_node(volume_node)
    seg = brain_segmentation(brain1)
    write_segmentation_to_node(seg, node, volume_node)
    return mrml_scene, volume_node, node, seg


def test_volume_node_round_trip(brain1, mrml_scene):
    import slicer

    image, _ = brain1
    node = volume_node_from_volume(mrml_scene.scene, image, "brain1")
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), image.array)
    back = volume_from_volume_node(node)
    np.testing.assert_allclose(back.ijk_to_ras, image.ijk_to_ras)
    np.testing.assert_array_equal(back.array, image.array)
    # Slicer's RAS of voxel (i, j, k) = (10, 20, 5) agrees with ours
    import vtk

    mat = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(mat)
    np.testing.assert_allclose(mat.MultiplyPoint((10, 20, 5, 1))[:3], image.kji_to_ras(np.array([5, 20, 10])))


def test_write_then_read_back(brain_nodes):
    import slicer

    ctx, volume_node, node, seg = brain_nodes
    vtk_seg = node.GetSegmentation()
    assert [vtk_seg.GetNthSegmentID(n) for n in range(vtk_seg.GetNumberOfSegments())] == seg.segment_ids
    assert vtk_seg.GetSegment("lesion").GetName() == "Lesion"
    assert vtk_seg.GetSegment("lesion").GetTerminology() == MASS.to_slicer_string()
    assert vtk_seg.GetNumberOfLayers() >= 2  # lesion and rim overlap: Slicer keeps them in separate layers
    back = read_segmentation_from_node(node, volume_node)
    for s in seg:
        b = back.segment(s.id)
        assert (b.name, b.color, b.terminology, b.attributes) == (s.name, s.color, s.terminology, s.attributes)
        np.testing.assert_array_equal(back.mask(s.id), seg.mask(s.id))
        # Peer: slicer.util's own export agrees
        util = slicer.util.arrayFromSegmentBinaryLabelmap(node, s.id, volume_node)
        np.testing.assert_array_equal(util > 0, seg.mask(s.id), err_msg=f"{s.id} {util.sum()} {seg.mask(s.id).sum()}")
    # without a volume node: the reference geometry stored on the node
    np.testing.assert_allclose(read_segmentation_from_node(node).ijk_to_ras, seg.ijk_to_ras, atol=1e-6)


def test_only_changed_segment_and_region_are_rewritten(brain_nodes):
    ctx, volume_node, node, seg = brain_nodes
    vtk_seg = node.GetSegmentation()
    mtimes = {sid: vtk_seg.GetSegment(sid).GetMTime() for sid in ("rim", "far")}
    # rim overlaps the lesion, so it lives in its own layer: that layer's image must not be touched at all
    # ("far" shares the lesion's layer, so only its voxels, not the shared image, can stay untouched).
    rim_labelmap = node.GetBinaryLabelmapInternalRepresentation("rim")
    assert rim_labelmap is not node.GetBinaryLabelmapInternalRepresentation("lesion")
    rim_mtime = rim_labelmap.GetMTime()

    lesion = seg.mask("lesion").copy()
    lesion[12, 100:110, 100:110] = True  # add a patch
    lesion[14, :, 190:] = False  # erase part of one slice
    seg.set_mask("lesion", lesion)
    written = write_segmentation_to_node(seg, node, volume_node)

    assert list(written) == ["lesion"]
    i0, i1, j0, j1, k0, k1 = written["lesion"]
    assert (k0, k1) == (12, 14) and i0 == 100 and j0 <= 100  # only the bounding box of the change
    assert {sid: vtk_seg.GetSegment(sid).GetMTime() for sid in ("rim", "far")} == mtimes
    assert rim_labelmap.GetMTime() == rim_mtime
    back = read_segmentation_from_node(node, volume_node)
    for sid in seg.segment_ids:
        np.testing.assert_array_equal(back.mask(sid), seg.mask(sid))

    assert write_segmentation_to_node(seg, node, volume_node) == {}  # nothing changed, nothing written
    seg.segment("far").name = "Renamed"
    assert write_segmentation_to_node(seg, node, volume_node) == {"far": None}  # metadata only
    assert vtk_seg.GetSegment("far").GetName() == "Renamed"


def test_write_is_one_undo_step(brain_nodes):
    ctx, volume_node, node, seg = brain_nodes
    scene = ctx.scene
    before = read_segmentation_from_node(node, volume_node)
    scene.SetUndoOn()
    levels = scene.GetNumberOfUndoLevels()

    changed = seg.mask("lesion").copy()
    changed[10:13, 80:120, 80:120] = True
    seg.set_mask("lesion", changed)
    seg.set_mask("far", np.zeros(seg.shape, bool))
    seg.segment("rim").color = (1.0, 1.0, 0.0)
    seg.add_segment(Segment("new", "New", (0.5, 0.5, 0.5)), np.roll(changed, 30, axis=2))
    write_segmentation_to_node(seg, node, volume_node)
    assert scene.GetNumberOfUndoLevels() == levels + 1
    after = read_segmentation_from_node(node, volume_node)
    np.testing.assert_array_equal(after.mask("lesion"), changed)
    assert "new" in after

    scene.Undo()
    restored = read_segmentation_from_node(node, volume_node)
    assert restored.segment_ids == before.segment_ids
    for s in before:
        assert restored.segment(s.id).color == s.color
        np.testing.assert_array_equal(restored.mask(s.id), before.mask(s.id))


def test_bad_inputs(brain1, lung2, mrml_scene):
    image, _ = brain1
    volume_node = mrml_scene.add_volume(image)
    node = mrml_scene.add_segmentation_node(volume_node)
    other = Segmentation.like(lung2[0])
    other.add_segment(Segment("x", "X"), lung2[1].array > 0)
    with pytest.raises(GeometryError, match="brain|grid"):
        write_segmentation_to_node(other, node, volume_node)
    seg = brain_segmentation(brain1)
    with pytest.raises(SegAssistError, match="nope"):
        write_segmentation_to_node(seg, node, volume_node, segment_ids=["lesion", "nope"])
    seg.segment("rim").attributes["bad|key"] = "1"
    with pytest.raises(SegAssistError, match="Slicer tag"):
        write_segmentation_to_node(seg, node, volume_node)
    assert node.GetSegmentation().GetNumberOfSegments() == 0  # nothing written half-way
