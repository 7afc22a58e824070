"""Volume model and readers against SimpleITK on the five real pyradiomics volumes."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from SegAssistLib.io.volumes import read_volume, write_volume
from SegAssistLib.core.volume import Volume, resample_to_reference, resample_to_spacing

CASES = ["lung1", "lung2", "brain1", "brain2", "breast1"]


@pytest.mark.parametrize("case", CASES)
def test_geometry_matches_simpleitk(case, case_path):
    path = case_path(case, "image")
    vol = read_volume(path)
    img = sitk.ReadImage(str(path))
    # Same voxels, in (k, j, i) order.
    np.testing.assert_array_equal(vol.array, sitk.GetArrayFromImage(img))
    np.testing.assert_allclose(vol.spacing, img.GetSpacing(), atol=1e-9)
    # RAS = LPS with x and y negated; voxel (i, j, k) -> same physical point.
    for ijk in [(0, 0, 0), (5, 7, 3), tuple(s - 1 for s in img.GetSize())]:
        lps = np.array(img.TransformIndexToPhysicalPoint([int(v) for v in ijk]))
        ras = vol.ijk_to_ras_points(np.array(ijk, dtype=float))
        np.testing.assert_allclose(ras, lps * [-1, -1, 1], atol=1e-6)
    d_lps = np.array(img.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(vol.direction, np.diag([-1, -1, 1]) @ d_lps, atol=1e-9)


def test_brain1_flipped_j_axis(brain1):
    vol, _ = brain1
    # The j axis of brain1 runs towards anterior (LPS direction -1 on y): RAS direction +A.
    assert vol.direction[1, 1] == pytest.approx(1.0)
    assert vol.anatomical_axes() == {"R": 0, "A": 1, "S": 2}


def test_ras_ijk_round_trip(lung2):
    vol, _ = lung2
    rng = np.random.default_rng(0)
    kji = rng.integers(0, vol.shape, size=(100, 3))
    ras = vol.kji_to_ras(kji)
    np.testing.assert_array_equal(vol.ras_to_kji_index(ras), kji)
    assert vol.contains(kji).all()
    assert not vol.contains(np.array([[-1, 0, 0], [0, 0, vol.shape[2]]])).any()


def test_sitk_round_trip_and_write(tmp_path, brain1):
    vol, _ = brain1
    back = Volume.from_sitk(vol.to_sitk())
    assert back.same_grid(vol)
    np.testing.assert_array_equal(back.array, vol.array)
    out = write_volume(vol, tmp_path / "brain1.nii.gz")
    again = read_volume(out)
    assert again.same_grid(vol)
    np.testing.assert_array_equal(again.array, vol.array)


def test_resampling_helpers(brain1):
    vol, label = brain1
    iso = resample_to_spacing(label, (1.5, 1.5, 1.5), interpolation="nearest")
    np.testing.assert_allclose(iso.spacing, 1.5)
    # Same physical extent (within one new voxel), and the lesion volume is preserved to within 10 %.
    extent_old = np.array(vol.size_ijk) * vol.spacing
    extent_new = np.array(iso.size_ijk) * iso.spacing
    assert np.all(np.abs(extent_old - extent_new) <= 1.5)
    v_old = label.array.astype(bool).sum() * np.prod(label.spacing)
    v_new = iso.array.astype(bool).sum() * np.prod(iso.spacing)
    assert abs(v_new - v_old) / v_old < 0.10
    back = resample_to_reference(iso, vol, "nearest")
    assert back.same_grid(vol)
    dice = 2 * (back.array.astype(bool) & label.array.astype(bool)).sum() / (
        back.array.astype(bool).sum() + label.array.astype(bool).sum()
    )
    assert dice > 0.85


def test_mismatched_grid_error(lung2, brain1):
    from SegAssistLib.errors import GeometryError

    with pytest.raises(GeometryError, match="resample"):
        lung2[0].require_same_grid(brain1[1])
