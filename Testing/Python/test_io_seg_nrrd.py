"""Slicer .seg.nrrd output: round trips on the real lung2 and brain1 masks, checked with slicerio and with
Slicer's own vtkMRMLSegmentationStorageNode (slicer-core), overlap kept as layers, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from SegAssistLib.errors import FormatError, SegAssistError
from SegAssistLib.io.seg_nrrd import read_seg_nrrd, write_seg_nrrd
from SegAssistLib.core.segmentation import Code, Segment, Segmentation, Terminology
from SegAssistLib.core.volume import LPS_TO_RAS

MASS = Terminology(Code("SCT", "49755003", "Morphologically Altered Structure"), Code("SCT", "4147007", "Mass"),
                   anatomic_region=Code("SCT", "39607008", "Lung"), anatomic_region_modifier=Code("SCT", "24028007", "Right"))
EDEMA = Terminology(Code("SCT", "49755003", "Morphologically Altered Structure"), Code("SCT", "79654002", "Edema"),
                    type_modifier=Code("SCT", "255604002", "Mild"))


def lesion_segmentation(case, overlap: bool = True) -> Segmentation:
    """The case's real lesion mask, plus (optionally) a rim around it that overlaps it."""
    image, label = case
    seg = Segmentation.like(image)
    lesion = label.array > 0
    seg.add_segment(Segment("lesion", "Lesion", (0.9, 0.2, 0.1), MASS, {"Segmentation.Status": "completed", "rater": "A"}), lesion)
    if overlap:
        rim = ndimage.binary_dilation(lesion, structure=np.ones((1, 3, 3), bool), iterations=2)
        seg.add_segment(Segment("rim", "Peritumoral rim", (0.1, 0.4, 0.95), EDEMA), rim)
    return seg


def assert_same(a: Segmentation, b: Segmentation, color_tol: float = 1e-6) -> None:
    assert a.shape == b.shape
    np.testing.assert_allclose(a.ijk_to_ras, b.ijk_to_ras, atol=1e-4)
    assert [s.id for s in a] == [s.id for s in b]
    for s in a:
        t = b.segment(s.id)
        assert t.name == s.name
        np.testing.assert_allclose(t.color, s.color, atol=color_tol)
        assert t.terminology == s.terminology
        np.testing.assert_array_equal(b.mask(s.id), a.mask(s.id))


@pytest.mark.parametrize("case_name", ["lung2", "brain1"])
def test_round_trip_read_by_slicerio(case_name, request, tmp_path):
    from slicerio.segmentation import read_segmentation, segment_mask, terminology_entry_to_string

    case = request.getfixturevalue(case_name)
    seg = lesion_segmentation(case)
    assert seg.overlaps()
    path = write_seg_nrrd(seg, tmp_path / f"{case_name}.seg.nrrd")

    peer = read_segmentation(str(path))
    assert peer["voxels"].ndim == 4 and peer["voxels"].shape[0] == 2  # overlap -> two layers
    np.testing.assert_allclose(LPS_TO_RAS @ peer["ijkToLPS"], seg.ijk_to_ras, atol=1e-6)
    for s, info in zip(seg, peer["segments"]):
        assert (info["id"], info["name"]) == (s.id, s.name)
        np.testing.assert_allclose(info["color"], s.color)
        assert terminology_entry_to_string(info["terminology"]) == s.terminology.to_slicer_string()
        assert info.get("status") == s.attributes.get("Segmentation.Status")
        # slicerio's own mask extraction, (i, j, k) -> (k, j, i)
        np.testing.assert_array_equal(segment_mask(peer, info).transpose(2, 1, 0) > 0, seg.mask(s.id))

    back = read_seg_nrrd(path)
    assert_same(seg, back)
    assert back.segment("lesion").attributes == {"Segmentation.Status": "completed", "rater": "A"}


def test_slicerio_written_file_reads_back(lung2, tmp_path):
    """A file slicerio builds by itself (create_segmentation/add_segment) reads with names and voxels."""
    from slicerio.segmentation import add_segment, create_segmentation, write_segmentation

    image, label = lung2
    peer = create_segmentation(label.array.shape[::-1], LPS_TO_RAS @ image.ijk_to_ras)
    add_segment(peer, label.array.transpose(2, 1, 0) > 0, {"id": "s1", "name": "tumour", "color": [1.0, 1.0, 0.0]})
    write_segmentation(str(tmp_path / "peer.seg.nrrd"), peer)
    seg = read_seg_nrrd(tmp_path / "peer.seg.nrrd")
    assert seg.segment("s1").name == "tumour"
    assert seg.segment("s1").color == (1.0, 1.0, 0.0)
    np.testing.assert_array_equal(seg.mask("s1"), label.array > 0)
    np.testing.assert_allclose(seg.ijk_to_ras, image.ijk_to_ras, atol=1e-6)


@pytest.mark.parametrize("case_name", ["lung2", "brain1"])
def test_slicer_storage_node_reads_our_file(case_name, request, mrml_scene, tmp_path):
    import slicer

    from SegAssistLib.slicer.nodes import read_segmentation_from_node

    image, _ = case = request.getfixturevalue(case_name)
    seg = lesion_segmentation(case)
    path = write_seg_nrrd(seg, tmp_path / "ours.seg.nrrd")
    node = mrml_scene.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "loaded")
    storage = slicer.vtkMRMLSegmentationStorageNode()
    mrml_scene.scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1
    assert node.GetSegmentation().GetNumberOfSegments() == 2
    volume_node = mrml_scene.add_volume(image, case_name)
    assert_same(seg, read_segmentation_from_node(node, volume_node))
    # slicer.util's own extraction agrees, voxel for voxel
    util = slicer.util.arrayFromSegmentBinaryLabelmap(node, "rim", volume_node)
    np.testing.assert_array_equal(util > 0, seg.mask("rim"))


@pytest.mark.parametrize("case_name", ["lung2", "brain1"])
def test_file_saved_by_slicer_storage_node_reads_identically(case_name, request, mrml_scene, tmp_path):
    import slicer

    from SegAssistLib.slicer.nodes import write_segmentation_to_node

    image, _ = case = request.getfixturevalue(case_name)
    seg = lesion_segmentation(case)
    volume_node = mrml_scene.add_volume(image, case_name)
    node = mrml_scene.add_segmentation_node(volume_node)
    write_segmentation_to_node(seg, node, volume_node)
    storage = slicer.vtkMRMLSegmentationStorageNode()
    mrml_scene.scene.AddNode(storage)
    storage.SetFileName(str(tmp_path / "by_slicer.seg.nrrd"))
    assert storage.WriteData(node) == 1
    back = read_seg_nrrd(tmp_path / "by_slicer.seg.nrrd")
    assert_same(seg, back)
    assert back.segment("lesion").attributes["rater"] == "A"


def test_slicer_cropped_file_lands_on_reference_grid(brain1, mrml_scene, tmp_path):
    """Slicer can save only the occupied extent; the reader puts it back on the full reference grid."""
    import slicer

    from SegAssistLib.slicer.nodes import write_segmentation_to_node

    image, _ = brain1
    seg = lesion_segmentation(brain1, overlap=False)
    volume_node = mrml_scene.add_volume(image)
    node = mrml_scene.add_segmentation_node(volume_node)
    write_segmentation_to_node(seg, node, volume_node)
    storage = slicer.vtkMRMLSegmentationStorageNode()
    mrml_scene.scene.AddNode(storage)
    storage.SetCropToMinimumExtent(True)
    storage.SetFileName(str(tmp_path / "cropped.seg.nrrd"))
    assert storage.WriteData(node) == 1
    from slicerio.segmentation import read_segmentation

    assert read_segmentation(str(tmp_path / "cropped.seg.nrrd"))["voxels"].shape != image.size_ijk  # really cropped
    back = read_seg_nrrd(tmp_path / "cropped.seg.nrrd")
    assert back.shape == image.shape
    np.testing.assert_array_equal(back.mask("lesion"), seg.mask("lesion"))
    # an explicit reference gives the same answer
    np.testing.assert_array_equal(read_seg_nrrd(tmp_path / "cropped.seg.nrrd", reference=image).mask("lesion"), seg.mask("lesion"))


def test_failed_write_leaves_previous_file_intact(brain1, tmp_path, monkeypatch):
    import slicerio.segmentation

    path = tmp_path / "keep.seg.nrrd"
    write_seg_nrrd(lesion_segmentation(brain1), path)
    before = path.read_bytes()

    def broken(file, *args, **kwargs):
        with open(file, "wb") as f:
            f.write(b"NRRD0004\n# half")
        raise OSError("disk full")

    monkeypatch.setattr(slicerio.segmentation, "write_segmentation", broken)
    with pytest.raises(OSError, match="disk full"):
        write_seg_nrrd(lesion_segmentation(brain1, overlap=False), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.seg.nrrd"]


def test_bad_inputs_give_clear_errors(brain1, tmp_path):
    seg = lesion_segmentation(brain1, overlap=False)
    with pytest.raises(SegAssistError, match=r"\.seg\.nrrd"):
        write_seg_nrrd(seg, tmp_path / "x.nrrd")
    with pytest.raises(SegAssistError, match="no segments"):
        write_seg_nrrd(Segmentation.like(brain1[0]), tmp_path / "empty.seg.nrrd")
    bad = tmp_path / "truncated.seg.nrrd"
    write_seg_nrrd(seg, bad)
    bad.write_bytes(bad.read_bytes()[:400])
    with pytest.raises(FormatError, match="truncated.seg.nrrd"):
        read_seg_nrrd(bad)
    seg.segment("lesion").attributes["a|b"] = "x"
    with pytest.raises(SegAssistError, match="cannot be stored as a Slicer tag"):
        write_seg_nrrd(seg, tmp_path / "tags.seg.nrrd")
    assert not (tmp_path / "tags.seg.nrrd").exists()
