"""The region the engine computes on: boxes around the keyframes, a cropped volume, and the way back.

Memory should follow the object, not the volume (issue 18): the engine keeps each slice's result as a
small patch (:class:`Patch`, a display-oriented box of one plane's slice), builds its float arrays only
on the 3D box that all patches span (:class:`Region`), and writes the final bool mask back into the full
grid. A cropped :class:`~SegAssistLib.core.volume.Volume` is a *view* of the original voxels (no copy)
with its origin moved, so plane views and the keyframe interpolation work on it unchanged; because the
direction matrix is the same, a cropped plane view shows the same orientation, shifted by a constant
offset (:meth:`Region.display_offset`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.volume import Volume


@dataclass(frozen=True)
class Box2D:
    """Rows ``r0:r1`` and columns ``c0:c1`` of a display-oriented slice of one plane."""

    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.r0, self.r1), slice(self.c0, self.c1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.r1 - self.r0, self.c1 - self.c0

    def grow(self, rows: int, cols: int, slice_shape: tuple[int, int]) -> "Box2D":
        """The box widened by ``rows``/``cols`` pixels on each side, clipped to the slice."""
        nr, nc = slice_shape
        return Box2D(max(0, self.r0 - rows), min(nr, self.r1 + rows), max(0, self.c0 - cols), min(nc, self.c1 + cols))

    def union(self, other: "Box2D | None") -> "Box2D":
        if other is None:
            return self
        return Box2D(min(self.r0, other.r0), max(self.r1, other.r1), min(self.c0, other.c0), max(self.c1, other.c1))


def mask_box(mask2d: np.ndarray) -> Box2D | None:
    """The tight box of a 2D mask, or None when it is empty."""
    rows = np.flatnonzero(np.any(mask2d, axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(np.any(mask2d, axis=0))
    return Box2D(int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


def margin_pixels(view: PlaneView, mm: float) -> tuple[int, int]:
    """``mm`` as whole pixels along rows and columns of ``view`` (at least one)."""
    sr, sc = view.pixel_spacing
    return max(1, int(np.ceil(mm / sr))), max(1, int(np.ceil(mm / sc)))


@dataclass
class Patch:
    """One slice's result for one plane: probability ``prob`` (float32) on ``box`` of the display slice."""

    box: Box2D
    prob: np.ndarray


def array_box(view: PlaneView, n0: int, n1: int, box: Box2D) -> tuple[slice, slice, slice]:
    """The (k, j, i) array slices holding slices ``n0:n1`` of ``view`` restricted to the display ``box``."""
    nr, nc = view.slice_shape
    rows = (nr - box.r1, nr - box.r0) if view.flip_rows else (box.r0, box.r1)
    cols = (nc - box.c1, nc - box.c0) if view.flip_cols else (box.c0, box.c1)
    out: list[slice] = [slice(0, 0)] * 3
    out[2 - view.normal_ijk] = slice(n0, n1)
    out[2 - view.row_ijk] = slice(*rows)
    out[2 - view.col_ijk] = slice(*cols)
    return tuple(out)  # type: ignore[return-value]


def crop_volume(volume: Volume, kji: tuple[slice, slice, slice]) -> Volume:
    """``volume`` restricted to the array box ``kji``: a view of its voxels with the origin moved there."""
    corner = np.array([kji[2].start, kji[1].start, kji[0].start, 1.0])
    matrix = volume.ijk_to_ras.copy()
    matrix[:, 3] = volume.ijk_to_ras @ corner
    return Volume(volume.array[kji], matrix, dict(volume.metadata))


class Region:
    """A 3D array box (k, j, i) of the volume and plane views of the cropped volume on it."""

    def __init__(self, volume: Volume, kji: tuple[slice, slice, slice]):
        self.volume = volume
        self.kji = kji
        self.cropped = crop_volume(volume, kji)
        self.shape = self.cropped.shape
        self._views: dict[str, PlaneView] = {}

    @classmethod
    def spanning(cls, volume: Volume, boxes: list[tuple[slice, slice, slice]]) -> "Region":
        """The smallest region holding every array box in ``boxes`` (one voxel at the origin if none)."""
        if not boxes:
            return cls(volume, (slice(0, 1), slice(0, 1), slice(0, 1)))
        kji = tuple(
            slice(min(b[ax].start for b in boxes), max(b[ax].stop for b in boxes)) for ax in range(3)
        )
        return cls(volume, kji)  # type: ignore[arg-type]

    @classmethod
    def whole(cls, volume: Volume) -> "Region":
        return cls(volume, tuple(slice(0, s) for s in volume.shape))  # type: ignore[arg-type]

    @property
    def nbytes_per_float(self) -> int:
        return int(np.prod(self.shape)) * 4

    def view(self, plane: str) -> PlaneView:
        if plane not in self._views:
            self._views[plane] = PlaneView(self.cropped, plane)
        return self._views[plane]

    def display_offset(self, full: PlaneView) -> tuple[int, int, int]:
        """(slice, row, column) offsets: full-view coordinates minus cropped-view coordinates."""
        crop = self.view(full.plane)
        nr, nc = full.slice_shape
        cr, cc = crop.slice_shape
        rows = self.kji[2 - full.row_ijk].start
        cols = self.kji[2 - full.col_ijk].start
        d_row = nr - rows - cr if full.flip_rows else rows
        d_col = nc - cols - cc if full.flip_cols else cols
        return self.kji[2 - full.normal_ijk].start, d_row, d_col

    def write_patch(self, full: PlaneView, target: np.ndarray, n: int, patch: np.ndarray, box: Box2D) -> None:
        """Write ``patch`` (on ``box`` of full-view slice ``n``) into ``target`` (an array on this region)."""
        n0, dr, dc = self.display_offset(full)
        self.view(full.plane).slice(n - n0, target)[box.r0 - dr:box.r1 - dr, box.c0 - dc:box.c1 - dc] = patch

    def normal_range(self, full: PlaneView) -> tuple[int, int]:
        """The full-view slice indices ``n0:n1`` this region spans along ``full``'s normal."""
        s = self.kji[2 - full.normal_ijk]
        return s.start, s.stop

    def expand(self, crop_array: np.ndarray, fill: float | bool = 0) -> np.ndarray:
        """A full-grid array holding ``crop_array`` on this region and ``fill`` elsewhere. A zero fill uses
        ``np.zeros`` (pages the operating system maps lazily), so only the region's pages become resident."""
        if fill == 0 and not (isinstance(fill, float) and np.isnan(fill)):
            out = np.zeros(self.volume.shape, dtype=crop_array.dtype)
        else:
            out = np.full(self.volume.shape, fill, dtype=crop_array.dtype)
        out[self.kji] = crop_array
        return out
