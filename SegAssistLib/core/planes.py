"""Plane views: 2D slices of a volume oriented as Slicer displays them, and the way back to voxels.

A :class:`PlaneView` picks the volume axis closest to S (axial), A (coronal) or R (sagittal) and presents
slice ``n`` (the voxel index along that axis) as a (rows, cols) image in Slicer's screen orientation:

==========  =========================  ==================
plane       columns increase towards    rows increase towards
==========  =========================  ==================
axial       patient left (L)           posterior (P)
coronal     patient left (L)           inferior (I)
sagittal    posterior (P)              inferior (I)
==========  =========================  ==================

so that row 0 is the top of the screen (anterior or superior) and column 0 its left. Slices are views of
the volume's array (no copies). For models that want square pixels, :meth:`PlaneView.model_slice` resamples
the slice to the finest in-plane spacing and :meth:`PlaneView.mask_from_model` maps a model-resolution
mask back onto the original pixels.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
from scipy import ndimage

from SegAssistLib.errors import GeometryError, OptionError, PromptError
from SegAssistLib.core.volume import Volume

from SegAssistLib.core.plane_names import PLANES  # noqa: E402  (re-exported; light for --help)

# For each plane: the anatomical axis normal to it, then (anatomical axis, sign) for columns and rows;
# sign +1 means the index increases towards the positive RAS direction of that axis.
_LAYOUT = {
    "axial": ("S", ("R", -1), ("A", -1)),  # cols -> L, rows -> P
    "coronal": ("A", ("R", -1), ("S", -1)),  # cols -> L, rows -> I
    "sagittal": ("R", ("A", -1), ("S", -1)),  # cols -> P, rows -> I
}
_RAS_INDEX = {"R": 0, "A": 1, "S": 2}


def check_plane(plane: str) -> str:
    """Normalise a plane name or raise an OptionError (a ValueError) listing the valid ones."""
    p = str(plane).lower()
    if p not in PLANES:
        raise OptionError(f"Unknown plane {plane!r}: use one of {', '.join(PLANES)}.")
    return p


class PlaneView:
    """Slices of ``volume`` along ``plane`` in display orientation, with exact pixel <-> voxel mapping."""

    def __init__(self, volume: Volume, plane: str):
        self.volume = volume
        self.plane = check_plane(plane)
        axes = volume.anatomical_axes()  # anatomical letter -> ijk axis
        normal, (col_anat, col_sign), (row_anat, row_sign) = _LAYOUT[self.plane]
        direction = volume.direction
        self.normal_ijk = axes[normal]
        self.col_ijk = axes[col_anat]
        self.row_ijk = axes[row_anat]
        # Flip an in-plane axis when increasing its index moves the wrong way on screen.
        self.flip_cols = bool(np.sign(direction[_RAS_INDEX[col_anat], self.col_ijk]) != col_sign)
        self.flip_rows = bool(np.sign(direction[_RAS_INDEX[row_anat], self.row_ijk]) != row_sign)
        # Array axes are kji: ijk axis a is array axis 2 - a.
        self._normal_ax = 2 - self.normal_ijk
        self._row_ax = 2 - self.row_ijk
        self._col_ax = 2 - self.col_ijk
        shape = volume.shape
        self.n_slices = shape[self._normal_ax]
        self.slice_shape = (shape[self._row_ax], shape[self._col_ax])
        sp = volume.spacing
        #: Pixel size in mm as (row spacing, column spacing).
        self.pixel_spacing = (float(sp[self.row_ijk]), float(sp[self.col_ijk]))
        #: Distance between slices in mm.
        self.slice_spacing = float(sp[self.normal_ijk])

    def __len__(self) -> int:
        return self.n_slices

    def __repr__(self) -> str:
        return f"PlaneView({self.plane}, {self.n_slices} slices of {self.slice_shape[0]}x{self.slice_shape[1]})"

    # ---- slices --------------------------------------------------------------------------------
    def _orient(self, arr2d_axes_rc: np.ndarray) -> np.ndarray:
        out = arr2d_axes_rc
        if self.flip_rows:
            out = out[::-1, :]
        if self.flip_cols:
            out = out[:, ::-1]
        return out

    def check_slice(self, n: int, what: str = "slice") -> int:
        """``n`` as an int, or a PromptError naming the plane and its range when a user's slice (a prompt's,
        a drawn keyframe's, a propagation start) is outside the volume."""
        if not 0 <= int(n) < self.n_slices:
            raise PromptError(f"{self.plane} {what} {n} is outside the volume (0..{self.n_slices - 1}).")
        return int(n)

    def _check_index(self, n: int) -> int:
        n = int(n)
        if not 0 <= n < self.n_slices:
            raise IndexError(f"{self.plane} slice {n} is outside the volume (0..{self.n_slices - 1}).")
        return n

    def slice(self, n: int, array: np.ndarray | None = None) -> np.ndarray:
        """Slice ``n`` of ``array`` (default: the volume's voxels) as a display-oriented (rows, cols) view."""
        arr = self.volume.array if array is None else array
        n = self._check_index(n)
        s = _index_axis(arr, self._normal_ax, n)
        # Remaining two array axes keep their relative order; put rows first.
        remaining = [a for a in range(3) if a != self._normal_ax]
        if remaining.index(self._row_ax) == 1:
            s = s.T
        return self._orient(s)

    def __iter__(self) -> Iterator[np.ndarray]:
        for n in range(self.n_slices):
            yield self.slice(n)

    def write_slice(self, target: np.ndarray, n: int, mask2d: np.ndarray) -> None:
        """Write a display-oriented 2D array into slice ``n`` of a 3D (k, j, i) array on the volume's grid."""
        if target.shape != self.volume.shape:
            raise GeometryError(f"Target shape {target.shape} is not the volume's {self.volume.shape}.")
        if mask2d.shape != self.slice_shape:
            raise GeometryError(f"2D mask shape {mask2d.shape} is not the {self.plane} slice shape {self.slice_shape}.")
        self.slice(n, target)[...] = mask2d

    # ---- coordinates ---------------------------------------------------------------------------
    def pixel_to_ijk(self, n: float, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """Continuous (i, j, k) of pixel (row, col) of slice ``n``; works on arrays and fractional pixels."""
        row = np.asarray(row, dtype=float)
        col = np.asarray(col, dtype=float)
        nr, nc = self.slice_shape
        r = (nr - 1) - row if self.flip_rows else row
        c = (nc - 1) - col if self.flip_cols else col
        out = np.empty(np.broadcast(row, col).shape + (3,))
        out[..., self.normal_ijk] = n
        out[..., self.row_ijk] = r
        out[..., self.col_ijk] = c
        return out

    def pixel_to_voxel(self, n: int, row: int, col: int) -> tuple[int, int, int]:
        """The exact voxel (k, j, i) shown at pixel (row, col) of slice ``n``."""
        i, j, k = self.pixel_to_ijk(n, row, col).astype(int)
        return int(k), int(j), int(i)

    def ijk_to_pixel(self, ijk: np.ndarray) -> np.ndarray:
        """(n, row, col) of continuous (i, j, k) indices, shape (..., 3)."""
        ijk = np.asarray(ijk, dtype=float)
        nr, nc = self.slice_shape
        n = ijk[..., self.normal_ijk]
        r = ijk[..., self.row_ijk]
        c = ijk[..., self.col_ijk]
        if self.flip_rows:
            r = (nr - 1) - r
        if self.flip_cols:
            c = (nc - 1) - c
        return np.stack([n, r, c], axis=-1)

    def voxel_to_pixel(self, k: int, j: int, i: int) -> tuple[int, int, int]:
        """(n, row, col) where voxel (k, j, i) is displayed."""
        n, r, c = np.rint(self.ijk_to_pixel(np.array([i, j, k], dtype=float))).astype(int)
        return int(n), int(r), int(c)

    def ras_to_pixel(self, ras: np.ndarray) -> np.ndarray:
        """Continuous (n, row, col) of RAS points (mm), shape (..., 3)."""
        return self.ijk_to_pixel(self.volume.ras_to_ijk_points(ras))

    def pixel_to_ras(self, n: float, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """RAS (mm) of pixel (row, col) of slice ``n``."""
        return self.volume.ijk_to_ras_points(self.pixel_to_ijk(n, row, col))

    def ras_to_slice_pixel(self, ras: Sequence[float], what: str = "point") -> tuple[int, float, float]:
        """Slice index (nearest) and continuous (row, col) of one RAS point, or a PromptError if outside."""
        n, r, c = self.ras_to_pixel(np.asarray(ras, dtype=float))
        ni = int(np.rint(n))
        nr, nc = self.slice_shape
        if not (0 <= ni < self.n_slices and -0.5 <= r <= nr - 0.5 and -0.5 <= c <= nc - 0.5):
            lo, hi = self.volume.bounds_ras()
            raise PromptError(
                f"The {what} at RAS {np.round(ras, 2).tolist()} mm lies outside the volume "
                f"(RAS bounds {np.round(lo, 1).tolist()} to {np.round(hi, 1).tolist()} mm). "
                "Place it on the volume being segmented."
            )
        return ni, float(r), float(c)

    # ---- square pixels for models --------------------------------------------------------------
    @property
    def model_pixel_mm(self) -> float:
        """Square pixel size used by :meth:`model_slice`: the finest in-plane spacing."""
        return min(self.pixel_spacing)

    @property
    def model_shape(self) -> tuple[int, int]:
        """Shape of :meth:`model_slice` output: the slice's physical extent in square pixels."""
        sr, sc = self.pixel_spacing
        nr, nc = self.slice_shape
        p = self.model_pixel_mm
        return max(1, int(round(nr * sr / p))), max(1, int(round(nc * sc / p)))

    def _model_scale(self) -> tuple[float, float]:
        mr, mc = self.model_shape
        nr, nc = self.slice_shape
        return nr / mr, nc / mc  # original pixels per model pixel

    def pixel_to_model(self, row: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Continuous model-pixel coordinates of original pixel coordinates (pixel centres align)."""
        fr, fc = self._model_scale()
        return (np.asarray(row) + 0.5) / fr - 0.5, (np.asarray(col) + 0.5) / fc - 0.5

    def model_to_pixel(self, mrow: np.ndarray, mcol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Continuous original-pixel coordinates of model-pixel coordinates."""
        fr, fc = self._model_scale()
        return (np.asarray(mrow) + 0.5) * fr - 0.5, (np.asarray(mcol) + 0.5) * fc - 0.5

    def model_slice(self, n: int, array: np.ndarray | None = None, order: int = 1) -> np.ndarray:
        """Slice ``n`` resampled to square pixels of :attr:`model_pixel_mm` (a new float32 array)."""
        s = self.slice(n, array)
        if self.model_shape == self.slice_shape:
            return np.asarray(s, dtype=np.float32)
        mr, mc = self.model_shape
        rr, cc = self.model_to_pixel(np.arange(mr, dtype=float), np.arange(mc, dtype=float))
        coords = np.meshgrid(rr, cc, indexing="ij")
        return ndimage.map_coordinates(np.asarray(s, dtype=np.float32), coords, order=order, mode="nearest")

    def mask_from_model(self, model_values: np.ndarray, threshold: float | None = 0.5) -> np.ndarray:
        """Map a model-resolution mask or score map back to the slice's pixels.

        Scores (logits, probabilities) are linearly sampled at the original pixel centres and then
        thresholded (pass ``threshold=None`` to keep the sampled scores). Binary masks are sampled as
        float, so a pixel is inside when at least half of its interpolated neighbourhood is.
        """
        model_values = np.asarray(model_values)
        if model_values.shape != self.model_shape:
            raise GeometryError(f"Model mask shape {model_values.shape} is not {self.model_shape}.")
        if self.model_shape == self.slice_shape:
            values = model_values.astype(np.float32)
        else:
            nr, nc = self.slice_shape
            mr, mc = self.pixel_to_model(np.arange(nr, dtype=float), np.arange(nc, dtype=float))
            coords = np.meshgrid(mr, mc, indexing="ij")
            values = ndimage.map_coordinates(model_values.astype(np.float32), coords, order=1, mode="nearest")
        return values if threshold is None else values > threshold


def _index_axis(arr: np.ndarray, axis: int, n: int) -> np.ndarray:
    """``arr`` indexed at ``n`` along ``axis`` as a view (np.take would copy)."""
    index = [slice(None)] * arr.ndim
    index[axis] = n
    return arr[tuple(index)]
