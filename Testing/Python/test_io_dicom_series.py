"""DICOM input: series round trip, several series in a folder, missing and duplicated slices,
single- and multi-frame files (real files from pydicom and pydicom-data)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from SegAssistLib.errors import VolumeReadError
from SegAssistLib.io.dicom_series import list_series
from SegAssistLib.io.volumes import read_volume, write_dicom_series


@pytest.fixture(scope="module")
def lung2_series(tmp_path_factory, case_path):
    vol = read_volume(case_path("lung2", "image"))
    folder = tmp_path_factory.mktemp("lung2_dicom")
    write_dicom_series(vol, folder)
    return vol, folder


def test_series_round_trip(lung2_series):
    vol, folder = lung2_series
    back = read_volume(folder)
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.ijk_to_ras, vol.ijk_to_ras, atol=1e-4)
    assert back.metadata["modality"] == "CT"


def test_order_by_position_not_file_name(lung2_series, tmp_path):
    vol, folder = lung2_series
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    files = sorted(folder.iterdir())
    rng = np.random.default_rng(3)
    for new_index, src in zip(rng.permutation(len(files)), files):
        shutil.copy(src, shuffled / f"IM{new_index:05d}")  # no extension, names unrelated to position
    back = read_volume(shuffled)
    np.testing.assert_array_equal(back.array, vol.array)


def test_two_series_in_one_folder(lung2_series, tmp_path, case_path):
    _, folder = lung2_series
    mixed = tmp_path / "mixed"
    shutil.copytree(folder, mixed / "a")
    brain = read_volume(case_path("brain1", "image"))
    write_dicom_series(brain, mixed / "b", modality="MR")
    series = list_series(mixed)
    assert [len(s.files) for s in series] == [61, 25]
    assert read_volume(mixed).shape == (61, 512, 512)  # default: the largest
    chosen = read_volume(mixed, series_uid=series[1].uid)
    # brain1's frame is left-handed (j flipped); DICOM stacks slices along row x column cosines, so the
    # series reads back with k reversed. Same voxel values at the same RAS positions is what matters.
    np.testing.assert_array_equal(chosen.array, brain.array[::-1])
    kji = np.array([[0, 0, 0], [24, 10, 200], [12, 255, 3]])
    np.testing.assert_allclose(chosen.kji_to_ras(kji), brain.kji_to_ras(kji * [-1, 1, 1] + [24, 0, 0]), atol=1e-4)
    with pytest.raises(VolumeReadError, match="no series with UID 1.2.3"):
        read_volume(mixed, series_uid="1.2.3")


def test_missing_slice_is_reported(lung2_series, tmp_path):
    _, folder = lung2_series
    broken = tmp_path / "missing"
    shutil.copytree(folder, broken)
    (broken / "slice_0030.dcm").unlink()
    with pytest.raises(VolumeReadError, match="1 slice\\(s\\) missing"):
        read_volume(broken)


def test_duplicated_position_is_reported(lung2_series, tmp_path):
    _, folder = lung2_series
    dup = tmp_path / "dup"
    shutil.copytree(folder, dup)
    ds = pydicom.dcmread(dup / "slice_0010.dcm")
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(dup / "slice_0010_copy.dcm")
    with pytest.raises(VolumeReadError, match="share the position"):
        read_volume(dup)


def test_single_frame_file():
    path = pydicom.data.get_testdata_file("CT_small.dcm")
    vol = read_volume(path)
    ds = pydicom.dcmread(path)
    assert vol.shape == (1, ds.Rows, ds.Columns)
    np.testing.assert_array_equal(vol.array[0], ds.pixel_array * int(ds.RescaleSlope) + int(ds.RescaleIntercept))
    lps = np.array([float(v) for v in ds.ImagePositionPatient])
    np.testing.assert_allclose(vol.origin, lps * [-1, -1, 1], atol=1e-4)


def _pydicom_data_file(name: str) -> Path:
    data_store = pytest.importorskip("data_store", reason="pydicom-data (test extra) is not installed")
    path = Path(data_store.__file__).parent / "data" / name
    if not path.exists():
        pytest.fail(f"{name} is not shipped by this pydicom-data version; pin one that ships it (pyproject test extra)")
    return path


def test_enhanced_multiframe_ct():
    path = _pydicom_data_file("eCT_Supplemental.dcm")
    ds = pydicom.dcmread(path)
    vol = read_volume(path)
    assert vol.shape == (int(ds.NumberOfFrames), ds.Rows, ds.Columns)
    frames = ds.PerFrameFunctionalGroupsSequence
    lps = np.array([[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient] for f in frames])
    iop = np.array([float(v) for v in ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient])
    along = lps @ np.cross(iop[:3], iop[3:])
    order = np.argsort(along)
    # Frames are ordered along the slice normal and each lies at its own position.
    for k, f in enumerate(order):
        np.testing.assert_allclose(vol.kji_to_ras(np.array([k, 0, 0])), lps[f] * [-1, -1, 1], atol=1e-4)
    t = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    raw = ds.pixel_array[order[0]]
    np.testing.assert_array_equal(vol.array[0], raw * float(t.RescaleSlope) + float(t.RescaleIntercept))


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: (p / "notes.txt").write_text("hello"), "unsupported file type"),
        (lambda p: (p / "fake.nrrd").write_text("not an image"), "could not be read"),
        (lambda p: (p / "empty").mkdir(), "no DICOM image series"),
    ],
)
def test_bad_input_names_file(tmp_path, make, expected):
    make(tmp_path)
    target = next(tmp_path.iterdir())
    with pytest.raises(VolumeReadError, match=expected) as info:
        read_volume(target)
    assert str(target) in str(info.value)


def test_truncated_nrrd(tmp_path, case_path):
    data = case_path("brain1", "image").read_bytes()
    truncated = tmp_path / "truncated.nrrd"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(VolumeReadError, match="truncated.nrrd"):
        read_volume(truncated)


def test_spacing_tag_true_after_gdcm_has_read(lung2_series, tmp_path):
    vol, folder = lung2_series
    read_volume(folder)  # GDCM now holds state that made later writes claim 1 mm between slices
    from SegAssistLib.core.volume import Volume

    crop = Volume(np.ascontiguousarray(vol.array[:4, :32, :32]), vol.ijk_to_ras)
    paths = write_dicom_series(crop, tmp_path / "again")
    ds = pydicom.dcmread(paths[0], stop_before_pixels=True)
    assert float(ds.get("SpacingBetweenSlices", 5.0)) == pytest.approx(5.0)
