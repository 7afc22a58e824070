"""Plane views against an independent reorientation (SimpleITK DICOMOrient) on real volumes."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.volume import Volume, ijk_to_ras_matrix

# DICOMOrient codes (letters = where x, y, z point) that put Slicer's display orientation in (z, y, x):
# rows = y, cols = x. Axial: cols->L, rows->P; coronal: cols->L, rows->I; sagittal: cols->P, rows->I.
DISPLAY = {"axial": ("LPS", 2, +1), "coronal": ("LIP", 1, -1), "sagittal": ("PIL", 0, -1)}


@pytest.mark.parametrize("case", ["lung2", "brain1"])
@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_slices_equal_dicomorient(case, plane, case_path):
    img = sitk.ReadImage(str(case_path(case, "image")))
    vol = Volume.from_sitk(img)
    view = PlaneView(vol, plane)
    code, ras_axis, ras_sign = DISPLAY[plane]
    oriented = sitk.GetArrayFromImage(sitk.DICOMOrient(img, code))
    assert oriented.shape[0] == view.n_slices
    assert oriented.shape[1:] == view.slice_shape
    # Slice n is the voxel index along the volume's own axis; DICOMOrient may run the other way.
    same_way = np.sign(vol.direction[ras_axis, view.normal_ijk]) == ras_sign
    for n in sorted({0, 1, view.n_slices // 2, view.n_slices - 1}):
        m = n if same_way else view.n_slices - 1 - n
        np.testing.assert_array_equal(view.slice(n), oriented[m])


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_pixel_voxel_ras_round_trip(plane, brain1):
    vol, _ = brain1
    view = PlaneView(vol, plane)
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(view.n_slices))
        r, c = (int(rng.integers(s)) for s in view.slice_shape)
        k, j, i = view.pixel_to_voxel(n, r, c)
        assert view.slice(n)[r, c] == vol.array[k, j, i]
        assert view.voxel_to_pixel(k, j, i) == (n, r, c)
        ras = view.pixel_to_ras(n, r, c)
        np.testing.assert_allclose(view.ras_to_pixel(ras), [n, r, c], atol=1e-9)
        assert tuple(vol.ras_to_kji_index(ras)) == (k, j, i)


def test_display_orientation_anatomy(lung2):
    """Axial: patient right on the screen's left, anterior up. Coronal/sagittal: superior up."""
    vol, _ = lung2
    ax = PlaneView(vol, "axial")
    left = ax.pixel_to_ras(0, 10, 0)
    right = ax.pixel_to_ras(0, 10, ax.slice_shape[1] - 1)
    assert left[0] > right[0]  # column 0 is further Right (R is +x in RAS)
    top = ax.pixel_to_ras(0, 0, 10)
    bottom = ax.pixel_to_ras(0, ax.slice_shape[0] - 1, 10)
    assert top[1] > bottom[1]  # anterior up
    for plane in ("coronal", "sagittal"):
        v = PlaneView(vol, plane)
        assert v.pixel_to_ras(3, 0, 5)[2] > v.pixel_to_ras(3, v.slice_shape[0] - 1, 5)[2]
    sag = PlaneView(vol, "sagittal")
    assert sag.pixel_to_ras(3, 5, 0)[1] > sag.pixel_to_ras(3, 5, sag.slice_shape[1] - 1)[1]  # anterior left


def test_oblique_volume_planes_are_distinct():
    # 20 degrees about S: i is mostly R, j mostly A; the planes still pick three different axes.
    a = np.deg2rad(20)
    direction = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    vol = Volume(np.zeros((4, 5, 6), np.int16), ijk_to_ras_matrix((1, 1, 3), (0, 0, 0), direction))
    axes = {p: PlaneView(vol, p).normal_ijk for p in ("axial", "coronal", "sagittal")}
    assert axes == {"axial": 2, "coronal": 1, "sagittal": 0}


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_write_slice_round_trip(plane, lung2):
    vol, label = lung2
    view = PlaneView(vol, plane)
    target = np.zeros(vol.shape, dtype=bool)
    mask = label.array.astype(bool)
    for n in range(view.n_slices):
        s = view.slice(n, mask)
        if s.any():
            view.write_slice(target, n, s)
    np.testing.assert_array_equal(target, mask)


@pytest.mark.parametrize("plane", ["coronal", "sagittal"])
def test_square_pixels_round_trip(plane, lung2):
    vol, label = lung2
    view = PlaneView(vol, plane)
    mr, mc = view.model_shape
    # 5 mm slices become ~8 rows of 0.63 mm: the model image is square-pixelled and as wide as before.
    assert mc == view.slice_shape[1]
    assert mr == pytest.approx(view.slice_shape[0] * 5.0 / 0.627, abs=1)
    mask = label.array.astype(bool)
    n = int(np.argmax([view.slice(i, mask).sum() for i in range(view.n_slices)]))
    up = view.model_slice(n, mask.astype(np.float32), order=0)
    assert up.shape == view.model_shape
    np.testing.assert_array_equal(view.mask_from_model(up), view.slice(n, mask))
    # Model pixel <-> original pixel maps are inverse.
    r, c = view.model_to_pixel(*view.pixel_to_model(np.array([3.0, 40.0]), np.array([7.0, 100.0])))
    np.testing.assert_allclose(r, [3, 40])
    np.testing.assert_allclose(c, [7, 100])


def test_slice_index_errors(brain1):
    view = PlaneView(brain1[0], "axial")
    with pytest.raises(IndexError, match="outside"):
        view.slice(view.n_slices)
    with pytest.raises(ValueError, match="Unknown plane"):
        PlaneView(brain1[0], "transverse")
