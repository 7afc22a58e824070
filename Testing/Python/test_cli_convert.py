"""``segassist convert`` between .seg.nrrd, labelmaps and DICOM SEG on real data, run through the real CLI
entry point (main) as a user would; bad input exits with status 2, a clear message, and no file written."""

from __future__ import annotations

import numpy as np
import pytest

from SegAssistLib.cli.main import main
from SegAssistLib.io.seg_nrrd import read_seg_nrrd, write_seg_nrrd
from SegAssistLib.io.segmentation_files import read_segmentation
from SegAssistLib.io.volumes import read_volume, write_dicom_series
from SegAssistLib.core.segmentation import Code, Segment, Segmentation, Terminology
from SegAssistLib.core.volume import Volume

MASS = Terminology(Code("SCT", "49755003", "Morphologically Altered Structure"), Code("SCT", "4147007", "Mass"))


@pytest.fixture
def brain_seg_nrrd(brain1, tmp_path):
    image, label = brain1
    seg = Segmentation.like(image)
    lesion = label.array > 0
    seg.add_segment(Segment("lesion", "Lesion core", (1.0, 0.0, 0.0), MASS), lesion)
    seg.add_segment(Segment("mirror", "Mirror", (0.0, 0.0, 1.0), MASS), lesion[:, :, ::-1] & ~lesion)
    return seg, write_seg_nrrd(seg, tmp_path / "brain.seg.nrrd")


def test_seg_nrrd_to_labelmap_and_back(brain_seg_nrrd, tmp_path, capsys):
    seg, path = brain_seg_nrrd
    assert main(["convert", str(path), str(tmp_path / "labels.nii.gz")]) == 0
    assert "2 segment(s)" in capsys.readouterr().out
    assert (tmp_path / "labels.nii.gz.csv").is_file()
    assert main(["convert", str(tmp_path / "labels.nii.gz"), str(tmp_path / "again.seg.nrrd")]) == 0
    back = read_seg_nrrd(tmp_path / "again.seg.nrrd")
    for s in seg:
        b = back.find(s.name)
        assert b is not None and b.terminology == s.terminology
        np.testing.assert_allclose(b.color, s.color, atol=1 / 255)
        np.testing.assert_array_equal(back.mask(b.id), seg.mask(s.id))


def test_to_dicom_seg_needs_reference_then_round_trips(lung2, tmp_path, capsys):
    image, label = lung2
    m = image.ijk_to_ras.copy()
    m[:3, 3] = image.ijk_to_ras_points(np.array([120.0, 160.0, 14.0]))
    sub = (slice(14, 26), slice(160, 400), slice(120, 360))
    folder = tmp_path / "dicom"
    write_dicom_series(Volume(np.ascontiguousarray(image.array[sub]), m), folder)
    source = read_volume(folder)
    labels = Volume((label.array[sub] > 0).astype(np.uint8), source.ijk_to_ras)
    from SegAssistLib.io.volumes import write_volume

    write_volume(labels, tmp_path / "lesion.nrrd")

    assert main(["convert", str(tmp_path / "lesion.nrrd"), str(tmp_path / "seg.dcm")]) == 2
    assert "--reference" in capsys.readouterr().err
    assert not (tmp_path / "seg.dcm").exists()

    assert main(["convert", str(tmp_path / "lesion.nrrd"), str(tmp_path / "seg.dcm"), "--reference", str(folder)]) == 0
    assert main(["convert", str(tmp_path / "seg.dcm"), str(tmp_path / "back.seg.nrrd"), "--reference", str(folder)]) == 0
    back = read_segmentation(tmp_path / "back.seg.nrrd")
    (segment,) = list(back)
    assert segment.name == "Label 1"
    np.testing.assert_array_equal(back.mask(segment.id), label.array[sub] > 0)
    np.testing.assert_allclose(back.ijk_to_ras, source.ijk_to_ras, atol=1e-4)


def test_overlap_refused_unless_allowed(brain1, tmp_path, capsys):
    image, label = brain1
    seg = Segmentation.like(image)
    lesion = label.array > 0
    seg.add_segment(Segment("a", "A"), lesion)
    seg.add_segment(Segment("b", "B"), np.roll(lesion, 3, axis=2))
    path = write_seg_nrrd(seg, tmp_path / "overlap.seg.nrrd")
    assert main(["convert", str(path), str(tmp_path / "labels.nrrd")]) == 2
    assert "overlap" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overlap.seg.nrrd"]
    assert main(["convert", str(path), str(tmp_path / "labels.nrrd"), "--allow-overlap", "--table-format", "ctbl"]) == 0
    assert (tmp_path / "labels.nrrd.ctbl").is_file()


def test_slicer_segmentation_saved_as_plain_nrrd_keeps_segments(brain_seg_nrrd, tmp_path):
    """Slicer can save a segmentation as .nrrd: its Segment fields are recognised, not read as a labelmap."""
    seg, path = brain_seg_nrrd
    plain = tmp_path / "segmentation.nrrd"
    plain.write_bytes(path.read_bytes())
    assert main(["convert", str(plain), str(tmp_path / "out.seg.nrrd")]) == 0
    back = read_seg_nrrd(tmp_path / "out.seg.nrrd")
    assert [s.name for s in back] == [s.name for s in seg]
    assert back.segment("lesion").terminology == MASS


def test_unknown_format_and_missing_input(brain_seg_nrrd, tmp_path, capsys):
    _, path = brain_seg_nrrd
    assert main(["convert", str(path), str(tmp_path / "out.png")]) == 2
    assert "unknown segmentation format" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing.seg.nrrd"), str(tmp_path / "out.nrrd")]) == 2
    assert "missing.seg.nrrd" in capsys.readouterr().err
