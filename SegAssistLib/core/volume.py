"""The volume model: voxels in (k, j, i) order plus the IJK->RAS matrix that places them in the patient.

Everything in SegAssist that touches geometry goes through :class:`Volume`, so the three conventions of
the project (kji arrays, RAS millimetres, 4x4 matrices) live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from SegAssistLib.errors import GeometryError, OptionError

#: Flips L->R and P->A: multiplies an LPS matrix into RAS and back (it is its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def ijk_to_ras_matrix(spacing: Sequence[float], origin: Sequence[float], direction: np.ndarray) -> np.ndarray:
    """Compose the 4x4 IJK->RAS matrix from spacing (i, j, k), RAS origin and 3x3 RAS direction columns."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(direction, dtype=float).reshape(3, 3) * np.asarray(spacing, dtype=float)[None, :]
    m[:3, 3] = np.asarray(origin, dtype=float)
    return m


@dataclass
class Volume:
    """A scalar volume: ``array`` is (k, j, i); ``ijk_to_ras`` maps voxel centres (i, j, k, 1) to RAS mm.

    ``metadata`` carries what a reader learnt that is not geometry (modality, series UID, file path).
    """

    array: np.ndarray
    ijk_to_ras: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ijk_to_ras = np.asarray(self.ijk_to_ras, dtype=float)
        if self.array.ndim != 3:
            raise GeometryError(f"A volume needs a 3D (k, j, i) array; got shape {self.array.shape}.")
        if self.ijk_to_ras.shape != (4, 4):
            raise GeometryError(f"IJK->RAS must be a 4x4 matrix; got shape {self.ijk_to_ras.shape}.")
        if not np.isfinite(self.ijk_to_ras).all():
            raise GeometryError("IJK->RAS matrix holds NaN or infinite values (damaged spacing, origin or directions).")
        if abs(np.linalg.det(self.ijk_to_ras[:3, :3])) < 1e-12:
            raise GeometryError("IJK->RAS matrix is singular (zero spacing or degenerate directions).")

    # ---- geometry -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (k, j, i)."""
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def size_ijk(self) -> tuple[int, int, int]:
        """Number of voxels along i, j, k (the order files and Slicer's GUI report)."""
        k, j, i = self.array.shape
        return (i, j, k)

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size in mm along i, j, k."""
        return np.linalg.norm(self.ijk_to_ras[:3, :3], axis=0)

    @property
    def origin(self) -> np.ndarray:
        """RAS position (mm) of voxel (0, 0, 0)."""
        return self.ijk_to_ras[:3, 3].copy()

    @property
    def direction(self) -> np.ndarray:
        """3x3 matrix whose columns are the unit RAS directions of the i, j, k axes."""
        return self.ijk_to_ras[:3, :3] / self.spacing[None, :]

    @property
    def ras_to_ijk(self) -> np.ndarray:
        """Inverse of :attr:`ijk_to_ras`."""
        return np.linalg.inv(self.ijk_to_ras)

    def with_array(self, array: np.ndarray, **metadata: Any) -> "Volume":
        """A volume on the same grid holding ``array`` (e.g. a mask or a filtered copy)."""
        if array.shape != self.array.shape:
            raise GeometryError(f"Array shape {array.shape} does not match the volume grid {self.array.shape}.")
        return Volume(array, self.ijk_to_ras.copy(), {**self.metadata, **metadata})

    def same_grid(self, other: "Volume", tol: float = 1e-4) -> bool:
        """True when ``other`` has the same shape and (within ``tol`` mm) the same IJK->RAS matrix."""
        return self.shape == other.shape and np.allclose(self.ijk_to_ras, other.ijk_to_ras, atol=tol)

    def require_same_grid(self, other: "Volume", what: str = "labelmap") -> None:
        """Raise a :class:`GeometryError` that names the mismatch unless ``other`` shares this grid."""
        if self.shape != other.shape:
            raise GeometryError(
                f"The {what} has {other.size_ijk} voxels (i, j, k) but the volume has {self.size_ijk}: "
                "resample it onto the volume first (SegAssistLib.core.volume.resample_to_reference)."
            )
        if not np.allclose(self.ijk_to_ras, other.ijk_to_ras, atol=1e-4):
            raise GeometryError(
                f"The {what}'s geometry differs from the volume's (spacing {np.round(other.spacing, 4)} vs "
                f"{np.round(self.spacing, 4)}, origin {np.round(other.origin, 3)} vs {np.round(self.origin, 3)}): "
                "resample it onto the volume first (SegAssistLib.core.volume.resample_to_reference)."
            )

    # ---- coordinates ----------------------------------------------------------------------------
    def ras_to_ijk_points(self, ras: np.ndarray) -> np.ndarray:
        """Continuous (i, j, k) indices of RAS points, shape (..., 3)."""
        ras = np.asarray(ras, dtype=float)
        h = np.concatenate([ras, np.ones(ras.shape[:-1] + (1,))], axis=-1)
        return (h @ self.ras_to_ijk.T)[..., :3]

    def ijk_to_ras_points(self, ijk: np.ndarray) -> np.ndarray:
        """RAS positions (mm) of continuous (i, j, k) indices, shape (..., 3)."""
        ijk = np.asarray(ijk, dtype=float)
        h = np.concatenate([ijk, np.ones(ijk.shape[:-1] + (1,))], axis=-1)
        return (h @ self.ijk_to_ras.T)[..., :3]

    def ras_to_kji_index(self, ras: np.ndarray) -> np.ndarray:
        """Nearest voxel (k, j, i) integer index of RAS points; may lie outside the array (see :meth:`contains`)."""
        ijk = np.rint(self.ras_to_ijk_points(ras)).astype(int)
        return ijk[..., ::-1]

    def kji_to_ras(self, kji: np.ndarray) -> np.ndarray:
        """RAS positions of (k, j, i) voxel indices (integer or continuous)."""
        return self.ijk_to_ras_points(np.asarray(kji, dtype=float)[..., ::-1])

    def contains(self, kji: np.ndarray) -> np.ndarray:
        """Whether (k, j, i) indices lie inside the array."""
        kji = np.asarray(kji)
        return np.all((kji >= 0) & (kji < np.asarray(self.shape)), axis=-1)

    def bounds_ras(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned RAS bounding box of the voxel centres, as (min, max)."""
        k, j, i = self.shape
        corners = np.array([[a, b, c] for a in (0, i - 1) for b in (0, j - 1) for c in (0, k - 1)], dtype=float)
        ras = self.ijk_to_ras_points(corners)
        return ras.min(axis=0), ras.max(axis=0)

    def anatomical_axes(self) -> dict[str, int]:
        """Which volume axis (0=i, 1=j, 2=k) is closest to R, A and S, as {'R': a, 'A': b, 'S': c}.

        Each axis is used once (the permutation that best matches the direction cosines), so oblique
        acquisitions still get three distinct planes.
        """
        from itertools import permutations

        d = np.abs(self.direction)  # rows: R, A, S; columns: i, j, k
        best = max(permutations(range(3)), key=lambda p: sum(d[r, p[r]] for r in range(3)))
        return {"R": best[0], "A": best[1], "S": best[2]}

    def summary(self) -> dict[str, Any]:
        """Plain-data description (sizes, spacing, origin, direction, intensity range, plane axes)."""
        axes = self.anatomical_axes()
        names = "ijk"
        arr = self.array
        return {
            "size_ijk": list(self.size_ijk),
            "spacing_mm": [round(float(x), 9) for x in self.spacing],
            "origin_ras": [round(float(x), 9) for x in self.origin],
            "direction_ras": [[round(float(x), 12) + 0.0 for x in row] for row in self.direction],
            "dtype": str(arr.dtype),
            "intensity_range": [float(arr.min()), float(arr.max())] if arr.size else [0.0, 0.0],
            "planes": {
                "axial": names[axes["S"]],
                "coronal": names[axes["A"]],
                "sagittal": names[axes["R"]],
            },
            **{k: v for k, v in self.metadata.items() if isinstance(v, (str, int, float))},
        }

    # ---- SimpleITK bridge (LPS lives only here and in SegAssistLib.io) ---------------------------
    @classmethod
    def from_sitk(cls, image: Any, **metadata: Any) -> "Volume":
        """Wrap a 3D SimpleITK image (LPS) as a RAS volume. The array is a copy owned by the volume."""
        import SimpleITK as sitk

        if image.GetDimension() == 2:
            image = sitk.JoinSeries(image)
        if image.GetDimension() != 3:
            raise GeometryError(f"Expected a 3D image, got {image.GetDimension()}D.")
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise GeometryError(
                f"Expected a scalar image, got {image.GetNumberOfComponentsPerPixel()} components per voxel."
            )
        direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
        ijk_to_lps = ijk_to_ras_matrix(image.GetSpacing(), image.GetOrigin(), direction)
        return cls(sitk.GetArrayFromImage(image), LPS_TO_RAS @ ijk_to_lps, dict(metadata))

    def to_sitk(self) -> Any:
        """This volume as a SimpleITK image in LPS (array copied)."""
        import SimpleITK as sitk

        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        ijk_to_lps = LPS_TO_RAS @ self.ijk_to_ras
        spacing = np.linalg.norm(ijk_to_lps[:3, :3], axis=0)
        image.SetSpacing([float(s) for s in spacing])
        image.SetOrigin([float(o) for o in ijk_to_lps[:3, 3]])
        image.SetDirection([float(x) for x in (ijk_to_lps[:3, :3] / spacing[None, :]).ravel()])
        return image


def resample_to_reference(
    moving: Volume, reference: Volume, interpolation: str = "linear", default_value: float = 0.0
) -> Volume:
    """Resample ``moving`` onto ``reference``'s grid (``"nearest"`` for labels, ``"linear"`` for images)."""
    import SimpleITK as sitk

    interp = {"nearest": sitk.sitkNearestNeighbor, "linear": sitk.sitkLinear, "label": sitk.sitkLabelGaussian}
    if interpolation not in interp:
        raise OptionError(f"interpolation must be one of {sorted(interp)}, not {interpolation!r}")
    out = sitk.Resample(
        moving.to_sitk(), reference.to_sitk(), sitk.Transform(), interp[interpolation], default_value,
        sitk.sitkUnknown,
    )
    return Volume(sitk.GetArrayFromImage(out), reference.ijk_to_ras.copy(), dict(moving.metadata))


def resample_to_spacing(volume: Volume, spacing: Sequence[float], interpolation: str = "linear") -> Volume:
    """Resample ``volume`` to a new (i, j, k) spacing in mm, covering the same physical extent."""

    spacing = np.asarray(spacing, dtype=float)
    old_extent = np.asarray(volume.size_ijk) * volume.spacing
    new_size = np.maximum(1, np.round(old_extent / spacing)).astype(int)
    # Keep the outer edge of the first voxel fixed, so the extent is centred on the same region.
    first_edge = -0.5 * np.ones(3)
    new_first_centre = first_edge + 0.5 * spacing / volume.spacing
    origin = volume.ijk_to_ras_points(new_first_centre)
    m = ijk_to_ras_matrix(spacing, origin, volume.direction)
    k, j, i = new_size[::-1]
    reference = Volume(np.zeros((k, j, i), dtype=np.uint8), m)
    out = resample_to_reference(volume, reference, interpolation)
    out.array = out.array.astype(volume.array.dtype, copy=False)
    return out
