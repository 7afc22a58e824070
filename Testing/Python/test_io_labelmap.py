"""Labelmap output (NRRD/NIfTI + Slicer colour table): round trips on real masks, colour tables checked with
Slicer's own vtkMRMLColorTableStorageNode, overlap refused instead of dropping voxels, atomic writes."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk

from SegAssistLib.errors import FormatError, SegAssistError
from SegAssistLib.io.labelmap import read_color_table, read_labelmap, write_labelmap
from SegAssistLib.core.segmentation import Code, Segment, Segmentation, Terminology

MASS = Terminology(Code("SCT", "49755003", "Morphologically Altered Structure"), Code("SCT", "4147007", "Mass"),
                   anatomic_region=Code("SCT", "12738006", "Brain"))


def two_segments(case, overlap: bool) -> Segmentation:
    """Lesion + a second real-shaped segment: the lesion shifted 4 voxels (overlapping) or mirrored (disjoint)."""
    image, label = case
    lesion = label.array > 0
    seg = Segmentation.like(image)
    seg.add_segment(Segment("lesion", "Lesion core", (0.9, 0.2, 0.1), MASS), lesion)
    if overlap:
        other = np.roll(lesion, 4, axis=2)
    else:
        other = lesion[:, :, ::-1] & ~lesion
    seg.add_segment(Segment("other", "Other", (0.2, 0.6, 1.0)), other)
    return seg


@pytest.mark.parametrize("suffix,table", [(".nii.gz", "csv"), (".nrrd", "ctbl"), (".nii", "csv")])
def test_round_trip(brain1, tmp_path, suffix, table):
    seg = two_segments(brain1, overlap=False)
    image_path, table_path = write_labelmap(seg, tmp_path / f"labels{suffix}", table_format=table)
    assert table_path.suffix == f".{table}"
    # The labelmap itself, read by SimpleITK: label n where segment n is, geometry of the volume.
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(image_path)))
    np.testing.assert_array_equal(labels == 1, seg.mask("lesion"))
    np.testing.assert_array_equal(labels == 2, seg.mask("other"))
    back = read_labelmap(image_path)
    np.testing.assert_allclose(back.ijk_to_ras, seg.ijk_to_ras, atol=1e-4)
    for s, b in zip(seg, back):
        assert b.name == s.name
        np.testing.assert_allclose(b.color, s.color, atol=1 / 255)
        np.testing.assert_array_equal(back.mask(b.id), seg.mask(s.id))
    assert back.find("Lesion core").terminology == (MASS if table == "csv" else None)  # .ctbl has no terminology


@pytest.mark.parametrize("table", ["csv", "ctbl"])
def test_slicer_reads_our_colour_table(brain1, mrml_scene, tmp_path, table):
    import slicer

    seg = two_segments(brain1, overlap=False)
    _, table_path = write_labelmap(seg, tmp_path / "labels.nrrd", table_format=table)
    node = mrml_scene.scene.AddNewNodeByClass("vtkMRMLColorTableNode", "table")
    storage = slicer.vtkMRMLColorTableStorageNode()
    mrml_scene.scene.AddNode(storage)
    storage.SetFileName(str(table_path))
    assert storage.ReadData(node) == 1
    rgba = [0.0] * 4
    for label, s in enumerate(seg, start=1):
        node.GetColor(label, rgba)
        np.testing.assert_allclose(rgba[:3], s.color, atol=1 / 255)
        assert node.GetColorName(label) == s.name
    if table == "csv":
        assert node.GetTerminologyType(1).GetCodeMeaning() == "Mass"
        assert node.GetTerminologyRegion(1).GetCodeValue() == "12738006"


def test_we_read_slicer_written_colour_table(lung2, mrml_scene, tmp_path):
    import slicer

    image, label = lung2
    node = mrml_scene.scene.AddNewNodeByClass("vtkMRMLColorTableNode", "table")
    node.SetTypeToUser()
    node.SetNumberOfColors(2)
    node.SetColor(0, "Background", 0, 0, 0, 0)
    node.SetColor(1, "Right lung nodule", 1.0, 0.5, 0.0, 1.0)
    node.SetTerminology(1, "SCT", "49755003", "Morphologically Altered Structure", "SCT", "27925004", "Nodule",
                        "", "", "", "SCT", "39607008", "Lung", "SCT", "24028007", "Right")
    storage = slicer.vtkMRMLColorTableStorageNode()
    mrml_scene.scene.AddNode(storage)
    storage.SetFileName(str(tmp_path / "lung2.csv"))
    assert storage.WriteData(node) == 1
    sitk.WriteImage(label.to_sitk(), str(tmp_path / "lung2.nrrd"))
    seg = read_labelmap(tmp_path / "lung2.nrrd")  # finds lung2.csv beside it
    (s,) = list(seg)
    assert s.name == "Right lung nodule"
    np.testing.assert_allclose(s.color, (1.0, 128 / 255, 0.0), atol=1e-6)
    assert s.terminology.type.meaning == "Nodule"
    assert s.terminology.anatomic_region_modifier == Code("SCT", "24028007", "Right")
    np.testing.assert_array_equal(seg.mask(s.id), label.array > 0)
    np.testing.assert_allclose(seg.ijk_to_ras, image.ijk_to_ras, atol=1e-4)


def test_overlap_is_refused_and_nothing_written(brain1, tmp_path):
    seg = two_segments(brain1, overlap=True)
    with pytest.raises(SegAssistError, match="overlap"):
        write_labelmap(seg, tmp_path / "labels.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_overlap_allowed_warns_with_count(brain1, tmp_path, caplog):
    seg = two_segments(brain1, overlap=True)
    lost = int((seg.mask("lesion") & seg.mask("other")).sum())
    with caplog.at_level(logging.WARNING):
        path, _ = write_labelmap(seg, tmp_path / "labels.nii.gz", allow_overlap=True)
    assert f"{lost} voxel" in caplog.text
    back = read_labelmap(path)
    assert back.find("Lesion core").terminology == MASS
    # later segment wins: the lesion keeps only voxels outside the other segment
    np.testing.assert_array_equal(back.mask(back.find("Lesion core").id), seg.mask("lesion") & ~seg.mask("other"))


def test_failed_write_leaves_previous_files_intact(brain1, tmp_path, monkeypatch):
    import SegAssistLib.io.labelmap as labelmap

    image_path, table_path = write_labelmap(two_segments(brain1, overlap=False), tmp_path / "labels.nii.gz")
    before = image_path.read_bytes(), table_path.read_bytes()

    def broken(entries, tmp, suffix):
        tmp.write_text("LabelValue,Na")
        raise OSError("disk full")

    monkeypatch.setattr(labelmap, "_write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_labelmap(two_segments(brain1, overlap=False), tmp_path / "labels.nii.gz")
    assert (image_path.read_bytes(), table_path.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.nii.gz", "labels.nii.gz.csv"]


def test_bad_inputs(brain1, tmp_path):
    seg = two_segments(brain1, overlap=False)
    with pytest.raises(SegAssistError, match="nrrd, .nii or .nii.gz"):
        write_labelmap(seg, tmp_path / "labels.png")
    with pytest.raises(SegAssistError, match=".csv or .ctbl"):
        write_labelmap(seg, tmp_path / "labels.nrrd", color_table=tmp_path / "labels.txt")
    image, _ = brain1
    sitk.WriteImage(sitk.Cast(image.to_sitk(), sitk.sitkFloat32) * 0.5 + 0.25, str(tmp_path / "float.nrrd"))
    with pytest.raises(FormatError, match="not a labelmap"):
        read_labelmap(tmp_path / "float.nrrd")
    (tmp_path / "bad.ctbl").write_text("1 onlyname\n")
    with pytest.raises(FormatError, match="line 1"):
        read_color_table(tmp_path / "bad.ctbl")
