"""Readers refuse data they would otherwise get silently wrong (issue 18): a ``.seg.nrrd`` whose
LabelValue is not in its voxels, DICOM slices with NaN/inf geometry, a DICOM SEG placed on a series of
another frame of reference. Real files: pyradiomics brain1/lung2 written by slicerio and as DICOM series,
then altered the way a broken exporter would."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from SegAssistLib.cli.main import main
from SegAssistLib.core.segmentation import Segment, Segmentation
from SegAssistLib.core.volume import Volume
from SegAssistLib.errors import FormatError, GeometryError, VolumeReadError
from SegAssistLib.io.dicom_seg import read_dicom_seg, write_dicom_seg
from SegAssistLib.io.seg_nrrd import read_seg_nrrd, write_seg_nrrd
from SegAssistLib.io.volumes import read_volume, write_dicom_series


def test_seg_nrrd_label_value_not_in_data_is_refused(brain1, tmp_path, capsys):
    import nrrd

    image, label = brain1
    seg = Segmentation.like(image)
    seg.add_segment(Segment("lesion", "Lesion", (1.0, 0.0, 0.0)), label.array > 0)
    path = write_seg_nrrd(seg, tmp_path / "s.seg.nrrd")
    data, header = nrrd.read(str(path))
    header["Segment0_LabelValue"] = "2"  # the voxels still hold 1
    nrrd.write(str(tmp_path / "bad.seg.nrrd"), data, header)
    with pytest.raises(FormatError, match="LabelValue"):
        read_seg_nrrd(tmp_path / "bad.seg.nrrd")
    assert main(["convert", str(tmp_path / "bad.seg.nrrd"), str(tmp_path / "out.seg.nrrd")]) == 2
    assert "no segment names" in capsys.readouterr().err and not (tmp_path / "out.seg.nrrd").exists()
    # The untouched file still reads with every voxel.
    back = read_seg_nrrd(path)
    assert int(back.mask(next(iter(back)).id).sum()) == int((label.array > 0).sum())


@pytest.fixture(scope="module")
def small_series(brain1, tmp_path_factory):
    image, _ = brain1
    vol = Volume(np.ascontiguousarray(image.array[:6, 100:140, 100:140]), image.ijk_to_ras)
    folder = tmp_path_factory.mktemp("series")
    return folder, write_dicom_series(vol, folder)


def _damaged_copy(paths, tmp_path, tag, value, index=3):
    out = tmp_path / "damaged"
    out.mkdir()
    for n, p in enumerate(paths):
        ds = pydicom.dcmread(p)
        if n == index:
            # Write the raw text a broken exporter would (pydicom would refuse to format NaN itself).
            ds[tag].value = value
        if int(pydicom.__version__.split(".")[0]) >= 3:
            ds.save_as(out / p.name, enforce_file_format=True)
        else:  # pydicom 2.x (Python 3.9): the same meaning, older name
            ds.save_as(out / p.name, write_like_original=False)
    return out


@pytest.mark.parametrize("tag,value", [
    ("ImagePositionPatient", ["nan", "0", "0"]),
    ("ImagePositionPatient", ["0", "inf", "0"]),
    ("ImageOrientationPatient", ["1", "0", "0", "0", "nan", "0"]),
    ("PixelSpacing", ["nan", "1"]),
])
def test_dicom_non_finite_geometry_is_refused(small_series, tmp_path, capsys, tag, value):
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    pydicom.config.settings.writing_validation_mode = pydicom.config.IGNORE
    try:
        folder = _damaged_copy(small_series[1], tmp_path, tag, value)
        with pytest.raises(VolumeReadError, match="non-finite"):
            read_volume(folder)
        assert main(["info", str(folder)]) == 2
        assert "non-finite" in capsys.readouterr().err
    finally:
        pydicom.config.settings.reading_validation_mode = pydicom.config.WARN
        pydicom.config.settings.writing_validation_mode = pydicom.config.WARN
    assert read_volume(small_series[0]).shape == (6, 40, 40)  # the intact series still reads


def test_volume_with_non_finite_geometry_is_refused():
    m = np.eye(4)
    m[0, 3] = np.nan
    with pytest.raises(GeometryError, match="NaN"):
        Volume(np.zeros((2, 2, 2)), m)


def test_dicom_seg_on_another_frame_of_reference_is_refused(lung2, tmp_path, capsys):
    image, label = lung2
    box = (slice(14, 26), slice(320, 410), slice(310, 410))
    sub = Volume(np.ascontiguousarray(image.array[box]), image.ijk_to_ras.copy())
    sub.ijk_to_ras[:3, 3] = image.ijk_to_ras_points(np.array([310.0, 320.0, 14.0]))
    mask = np.ascontiguousarray(label.array[box] > 0)
    assert mask.any()
    write_dicom_series(sub, tmp_path / "source")
    write_dicom_series(sub, tmp_path / "other")  # same pixels, a new FrameOfReferenceUID
    source = read_volume(tmp_path / "source")
    seg = Segmentation.like(source)
    seg.add_segment(Segment("n", "Nodule", (1.0, 0.5, 0.0)), mask)
    path = write_dicom_seg(seg, tmp_path / "seg.dcm", tmp_path / "source")
    assert int(read_dicom_seg(path, tmp_path / "source").mask("n").sum()) == int(mask.sum())
    with pytest.raises(GeometryError, match="FrameOfReferenceUID"):
        read_dicom_seg(path, tmp_path / "other")
    assert main(["convert", str(path), str(tmp_path / "o.seg.nrrd"), "--reference", str(tmp_path / "other")]) == 2
    assert "--ignore-frame-of-reference" in capsys.readouterr().err and not (tmp_path / "o.seg.nrrd").exists()
    assert main(["convert", str(path), str(tmp_path / "o.seg.nrrd"), "--reference", str(tmp_path / "other"),
                 "--ignore-frame-of-reference"]) == 0
