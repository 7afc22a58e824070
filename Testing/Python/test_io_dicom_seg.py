"""DICOM SEG output: written against a real DICOM series (a crop of lung2 written with write_dicom_series),
read back by highdicom identical and aligned with the source; overlap kept; pydicom-data's foreign
liver.dcm imports with its segment name and frames at their positions; atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from SegAssistLib.errors import FormatError, GeometryError, SegAssistError
from SegAssistLib.io.dicom_seg import read_dicom_seg, write_dicom_seg
from SegAssistLib.io.volumes import read_volume, write_dicom_series
from SegAssistLib.core.segmentation import DEFAULT_TERMINOLOGY, Code, Segment, Segmentation, Terminology
from SegAssistLib.core.volume import LPS_TO_RAS, Volume

NODULE = Terminology(Code("SCT", "49755003", "Morphologically Altered Structure"), Code("SCT", "27925004", "Nodule"),
                     type_modifier=Code("SCT", "255604002", "Mild"),
                     anatomic_region=Code("SCT", "39607008", "Lung"), anatomic_region_modifier=Code("SCT", "24028007", "Right"))


def crop(volume: Volume, k: slice, j: slice, i: slice) -> Volume:
    """A sub-volume with its IJK->RAS moved to the crop's first voxel."""
    m = volume.ijk_to_ras.copy()
    m[:3, 3] = volume.ijk_to_ras_points(np.array([i.start, j.start, k.start], dtype=float))
    return Volume(np.ascontiguousarray(volume.array[k, j, i]), m)


@pytest.fixture(scope="module")
def lung2_series(lung2, tmp_path_factory):
    """(DICOM folder, source Volume read back from it, lesion mask on its grid): lung2 k 12..27 around the lesion."""
    image, label = lung2
    box = (slice(12, 28), slice(150, 406), slice(100, 356))
    folder = tmp_path_factory.mktemp("lung2_dicom")
    write_dicom_series(crop(image, *box), folder)
    source = read_volume(folder)
    return folder, source, crop(label, *box).array > 0


def lesion_and_box(source: Volume, lesion: np.ndarray) -> Segmentation:
    seg = Segmentation.like(source)
    seg.add_segment(Segment("nodule-1", "Nodule", (1.0, 0.5, 0.0), NODULE), lesion)
    box = np.zeros(source.shape, bool)
    k, j, i = (np.flatnonzero(lesion.any(axis=a)) for a in ((1, 2), (0, 2), (0, 1)))
    jc, ic = (j[0] + j[-1]) // 2, (i[0] + i[-1]) // 2
    box[k[0] + 2 : k[-1] + 3, jc : jc + 40, ic : ic + 40] = True  # overlaps the nodule, and one slice past it
    seg.add_segment(Segment("roi", "Region of interest", (0.0, 0.8, 0.3)), box)
    return seg


def test_round_trip_identical_and_aligned(lung2_series, tmp_path):
    import highdicom as hd

    folder, source, lesion = lung2_series
    seg = lesion_and_box(source, lesion)
    assert seg.overlaps()
    path = write_dicom_seg(seg, tmp_path / "seg.dcm", folder)

    # Peer: highdicom reads the file; it references the source series and every frame sits on a source slice.
    peer = hd.seg.segread(str(path))
    import pydicom

    src_uids = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in source.metadata["files"]}
    assert peer.ReferencedSeriesSequence[0].SeriesInstanceUID == source.metadata["series_uid"]
    referenced = {str(r.ReferencedSOPInstanceUID) for r in peer.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced and referenced <= src_uids
    assert [d.segment_label for d in peer.SegmentSequence] == ["Nodule", "Region of interest"]
    vol = peer.get_volume()  # highdicom's own geometry: (slices, rows, columns, segments), affine in LPS
    ijk_to_lps = vol.affine[:, [2, 1, 0, 3]]  # array axes (slice, row, column) -> (i, j, k) columns
    # highdicom's grid must be the source grid up to axis flips and a whole-voxel shift.
    m = np.linalg.inv(LPS_TO_RAS @ source.ijk_to_ras) @ ijk_to_lps
    np.testing.assert_allclose(np.abs(m[:3, :3]), np.eye(3), atol=1e-4)
    arr = vol.array
    start = np.rint(m[:3, 3]).astype(int)  # (i, j, k) of highdicom's first voxel in the source grid
    for axis in range(3):  # 0=i, 1=j, 2=k; array axis is 2 - axis
        if m[axis, axis] < 0:
            arr = np.flip(arr, axis=2 - axis)
            start[axis] -= arr.shape[2 - axis] - 1
    placed = np.zeros(source.shape + (arr.shape[3],), dtype=bool)
    k0, j0, i0 = start[::-1]
    placed[k0 : k0 + arr.shape[0], j0 : j0 + arr.shape[1], i0 : i0 + arr.shape[2]] = arr > 0
    for n, sid in enumerate(seg.segment_ids):
        np.testing.assert_array_equal(placed[..., n], seg.mask(sid))

    # Ours: identical voxels, names, colours (via CIELab, to 1/255), terminology with modifiers, ids.
    back = read_dicom_seg(path, reference=folder)
    assert back.shape == source.shape
    np.testing.assert_allclose(back.ijk_to_ras, source.ijk_to_ras, atol=1e-6)
    assert back.segment_ids == seg.segment_ids
    for s in seg:
        b = back.segment(s.id)
        assert b.name == s.name
        np.testing.assert_allclose(b.color, s.color, atol=1 / 255)
        assert b.terminology == (s.terminology or DEFAULT_TERMINOLOGY)
        np.testing.assert_array_equal(back.mask(s.id), seg.mask(s.id))


def test_read_without_reference_uses_frame_positions(lung2_series, tmp_path):
    folder, source, lesion = lung2_series
    seg = lesion_and_box(source, lesion)
    path = write_dicom_seg(seg, tmp_path / "seg.dcm", folder)
    own = read_dicom_seg(path)  # only the slices holding frames, placed by ImagePositionPatient
    k = np.flatnonzero(np.logical_or(seg.mask("nodule-1"), seg.mask("roi")).any(axis=(1, 2)))
    assert own.shape == (k[-1] - k[0] + 1,) + source.shape[1:]
    np.testing.assert_allclose(own.ijk_to_ras, source.ijk_to_ras @ _shift_k(k[0]), atol=1e-4)
    for sid in seg.segment_ids:
        np.testing.assert_array_equal(own.mask(sid), seg.mask(sid)[k[0] : k[-1] + 1])


def _shift_k(k0: int) -> np.ndarray:
    t = np.eye(4)
    t[2, 3] = k0
    return t


def test_liver_dcm_imports_with_name_and_positions():
    import pydicom
    import data_store

    path = Path(data_store.__file__).parent / "data" / "liver.dcm"
    if not path.exists():
        pytest.fail("pydicom-data's liver.dcm is not installed (test extra: pip install -e '.[test]')")
    seg = read_dicom_seg(path)
    (segment,) = list(seg)
    assert segment.name == "Liver"
    assert segment.terminology.type.meaning == "Liver"
    ds = pydicom.dcmread(str(path))
    frames = ds.pixel_array
    assert seg.shape == (3, int(ds.Rows), int(ds.Columns))
    for f, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        lps = np.array([float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient])
        k, j, i = seg.geometry.ras_to_kji_index((LPS_TO_RAS[:3, :3] @ lps))
        assert (j, i) == (0, 0)
        np.testing.assert_array_equal(seg.mask(segment.id)[k], frames[f] > 0)
    # slices are ordered along the slice normal, 1 mm apart, as the SEG says
    assert seg.geometry.spacing[2] == pytest.approx(float(ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SpacingBetweenSlices))


def test_failed_write_leaves_previous_file_intact(lung2_series, tmp_path, monkeypatch):
    import highdicom as hd

    folder, source, lesion = lung2_series
    path = write_dicom_seg(lesion_and_box(source, lesion), tmp_path / "seg.dcm", folder)
    before = path.read_bytes()

    def broken(self, filename, *args, **kwargs):
        Path(filename).write_bytes(b"\0" * 200)
        raise OSError("disk full")

    monkeypatch.setattr(hd.seg.Segmentation, "save_as", broken)
    with pytest.raises(OSError, match="disk full"):
        write_dicom_seg(lesion_and_box(source, lesion), path, folder)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.dcm"]


def test_bad_inputs(lung2_series, lung2, tmp_path):
    folder, source, lesion = lung2_series
    seg = lesion_and_box(source, lesion)
    with pytest.raises(SegAssistError, match="--reference"):
        write_dicom_seg(seg, tmp_path / "seg.dcm", tmp_path / "missing")
    wrong = Segmentation.like(lung2[0])
    wrong.add_segment(Segment("a", "A"), lung2[1].array > 0)
    with pytest.raises(GeometryError, match="seg.dcm"):
        write_dicom_seg(wrong, tmp_path / "seg.dcm", folder)
    with pytest.raises(FormatError, match="not a DICOM Segmentation"):
        read_dicom_seg(source.metadata["files"][0])
    assert not (tmp_path / "seg.dcm").exists()
