"""Seeded segmentation algorithms that need no trained weights, on plain 2D or 3D arrays.

Every method has the same signature ``method(image, seeds, spacing) -> bool mask``: ``image`` is a float
array already cropped to the region of interest, ``seeds`` an int array of the same shape with
0 = unknown, 1 = object, 2 = background, ``spacing`` the pixel size in mm per array axis (so anisotropic
CT voxels are weighted correctly). The classical backend builds the seeds from the user's prompts
(:mod:`SegAssistLib.backends.classical.seeds`) and picks the method; the benchmark
(``Testing/Benchmarks/bench_interactive.py``) measured them against each other and against Slicer's GrowCut
to choose the default: marker-controlled watershed, which had the best Dice after 3 and 5 clicks and the
fewest clicks to Dice 0.85/0.90 on lung2 and brain1, and is the fastest.

The algorithms themselves come from scikit-image; this module only normalises intensities, derives the
edge costs they need and unifies the call.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np
from scipy import ndimage

from SegAssistLib.errors import OptionError

#: Seed label values shared by the seed builder, the methods and the GrowCut peer.
UNKNOWN, OBJECT, BACKGROUND = 0, 1, 2

SeededMethod = Callable[[np.ndarray, np.ndarray, Sequence[float]], np.ndarray]


def normalise(image: np.ndarray) -> np.ndarray:
    """Scale intensities to about [0, 1] by the 1st and 99th percentiles (robust to CT air and metal)."""
    image = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(image, (1, 99))
    if hi - lo < 1e-6:
        return np.zeros_like(image)
    return np.clip((image - lo) / (hi - lo), -0.5, 1.5)


def gradient_magnitude(image: np.ndarray, spacing: Sequence[float], sigma_mm: float = 1.0) -> np.ndarray:
    """Gaussian gradient magnitude in intensity units per mm (edges for watershed and geodesic costs)."""
    spacing = np.asarray(spacing, dtype=float)
    return ndimage.gaussian_gradient_magnitude(image, sigma=np.maximum(sigma_mm / spacing, 0.5)).astype(np.float32)


def _check(seeds: np.ndarray) -> bool:
    """True when both an object and a background seed exist (else the answer is trivial)."""
    return bool((seeds == OBJECT).any() and (seeds == BACKGROUND).any())


def random_walker(image: np.ndarray, seeds: np.ndarray, spacing: Sequence[float], beta: float = 1000.0) -> np.ndarray:
    """Grady's random walker (scikit-image): each pixel goes to the seed label a random walk most likely
    reaches first, with edge weights falling off with intensity difference (``beta``).

    ``beta`` is high because scikit-image divides it by 10x the data's spread and our intensities are
    normalised to [0, 1] with gradients per mm: at its default (130) edges barely stop the walk and a
    small object seed loses to the background (measured: Dice 0.57 vs 0.93 on lung2's first click).
    Up to 300k unknowns the linear system is solved directly (exact and about as fast in 2D);
    larger 3D problems use Jacobi-preconditioned conjugate gradients with a tight tolerance (a loose one
    stops before probabilities have spread from the seeds).
    """
    from skimage.segmentation import random_walker as rw

    if not _check(seeds):
        return seeds == OBJECT
    # Isolated unknown pixels with no path to any seed would make the linear system singular: skimage
    # handles them (they stay 0), and we treat them as background.
    direct = int((seeds == UNKNOWN).sum()) <= 300_000
    with warnings.catch_warnings():
        # With a high beta, probabilities overshoot [0, 1] by round-off; only their argmax is used.
        warnings.filterwarnings("ignore", message="The probability range is outside", category=UserWarning)
        labels = rw(normalise(image), seeds.astype(np.int32), beta=beta, mode="bf" if direct else "cg_j",
                    tol=1e-5, spacing=np.asarray(spacing, dtype=float))
    return labels == OBJECT


def watershed(image: np.ndarray, seeds: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Marker-controlled watershed on the gradient magnitude (scikit-image): regions flood from the seeds
    and meet on the strongest edges."""
    from skimage.segmentation import watershed as ws

    if not _check(seeds):
        return seeds == OBJECT
    grad = gradient_magnitude(normalise(image), spacing)
    return ws(grad, markers=seeds.astype(np.int32)) == OBJECT


def geodesic(image: np.ndarray, seeds: np.ndarray, spacing: Sequence[float], edge_weight: float = 50.0) -> np.ndarray:
    """Geodesic distance segmentation: a pixel belongs to the object when its cheapest path (cost =
    length in mm x (1 + edge_weight x gradient)) to an object seed is shorter than to a background seed.
    Uses scikit-image's minimum-cost-path solver."""
    from skimage.graph import MCP_Geometric

    if not _check(seeds):
        return seeds == OBJECT
    spacing = np.asarray(spacing, dtype=float)
    img = normalise(image)
    cost = 1.0 + edge_weight * gradient_magnitude(img, spacing)
    dist = []
    for label in (OBJECT, BACKGROUND):
        mcp = MCP_Geometric(cost, sampling=tuple(spacing))
        d, _ = mcp.find_costs(np.argwhere(seeds == label))
        dist.append(d)
    return dist[0] < dist[1]


def slicer_growcut(image: np.ndarray, seeds: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Slicer's own GrowCut ("Grow from seeds", ``vtkImageGrowCutSegment``) from slicer-core, on the same
    seeds: the peer the benchmark compares with, also usable as a method. It needs at least 3 voxels along
    every axis, so a 2D slice is given as three identical slices and the middle result is kept."""
    try:
        import slicer
        import vtk
        from vtk.util import numpy_support
    except ImportError as exc:  # pragma: no cover - slicer-core is a test/extra dependency
        from SegAssistLib.errors import BackendError

        raise BackendError(
            f"Slicer's GrowCut needs slicer-core ({exc}): pip install 'segassist[slicer]'."
        ) from exc
    if image.ndim == 2:
        return slicer_growcut(np.stack([image] * 3), np.stack([seeds] * 3), (min(spacing), *spacing))[1]
    if not _check(seeds):
        return seeds == OBJECT

    def to_vtk(arr: np.ndarray, vtk_type: int):
        data = vtk.vtkImageData()
        data.SetDimensions(arr.shape[2], arr.shape[1], arr.shape[0])
        data.SetSpacing(float(spacing[2]), float(spacing[1]), float(spacing[0]))
        data.GetPointData().SetScalars(numpy_support.numpy_to_vtk(np.ascontiguousarray(arr).ravel(), deep=True,
                                                                  array_type=vtk_type))
        return data

    # GrowCut does not grow from seeds on the outermost voxel layer (measured: a background seed border
    # alone is ignored), and our ROI border is such a layer: pad by one replicated voxel.
    padded_image = np.pad(np.asarray(image, np.float32), 1, mode="edge")
    padded_seeds = np.pad(seeds.astype(np.int16), 1, mode="edge")
    grow = slicer.vtkImageGrowCutSegment()
    grow.SetIntensityVolume(to_vtk(padded_image, vtk.VTK_FLOAT))
    grow.SetSeedLabelVolume(to_vtk(padded_seeds, vtk.VTK_SHORT))
    grow.Update()
    scalars = grow.GetOutput().GetPointData().GetScalars()
    if scalars is None:
        from SegAssistLib.errors import BackendError

        raise BackendError("Slicer's GrowCut returned no result (see the VTK messages above).")
    out = numpy_support.vtk_to_numpy(scalars).reshape(padded_seeds.shape)[1:-1, 1:-1, 1:-1]
    return out == OBJECT


#: Methods by name; ``ClassicalBackend(method=...)`` takes a name or any callable with this signature.
METHODS: dict[str, SeededMethod] = {
    "random_walker": random_walker,
    "watershed": watershed,
    "geodesic": geodesic,
    "slicer_growcut": slicer_growcut,
}


def get_method(method: str | SeededMethod) -> SeededMethod:
    """Resolve a method name (or pass a callable through); unknown names raise a ValueError listing them."""
    if callable(method):
        return method
    try:
        return METHODS[method]
    except KeyError:
        raise OptionError(f"Unknown classical method {method!r}; use one of {', '.join(METHODS)}.") from None
