"""Keyframe interpolation of segments: fill the slices between drawn slices of one plane.

The public entry points are :func:`interpolate_keyframes` (one bool mask) and :func:`interpolate_labelmap`
(labels 1..N, kept disjoint). Keyframes are slices of a :class:`~SegAssistLib.core.planes.PlaneView` (axial,
coronal or sagittal), found automatically as the slices holding the segment or given explicitly. Slices
outside the first and last keyframe are never touched, keyframe slices are returned voxel for voxel, and the
slices in between are replaced by the interpolation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from SegAssistLib.errors import GeometryError, InterpolationError
from SegAssistLib.interpolation.shape_based import interpolate_between
from SegAssistLib.core.planes import PLANES, PlaneView, check_plane
from SegAssistLib.core.volume import Volume


#: Interpolation methods: name -> one-line description. "sdf" is the default (best in the benchmark).
from SegAssistLib.interpolation.methods import DEFAULT_METHOD, METHODS  # noqa: E402  (re-exported)

# A fill yields (slice index, crop of the display-oriented slice, score on that crop; < 0 means inside).
_Fill = Iterator[tuple[int, tuple[slice, slice], np.ndarray]]


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise InterpolationError(f"Unknown interpolation method {method!r}: use one of {', '.join(METHODS)}.")
    return method


def _check_geometry(mask: np.ndarray, geometry: Volume, what: str = "mask") -> None:
    if not isinstance(geometry, Volume):
        raise TypeError(f"geometry must be a SegAssistLib Volume, not {type(geometry).__name__}")
    shape = np.shape(mask)
    if shape != geometry.shape:
        size = tuple(shape[::-1]) if len(shape) == 3 else shape
        raise GeometryError(
            f"The {what} has {size} voxels (i, j, k) but the volume has {geometry.size_ijk}: "
            "resample it onto the volume first (SegAssistLib.core.volume.resample_to_reference)."
        )


def occupied_slices(mask: np.ndarray, view: PlaneView) -> np.ndarray:
    """Indices of the ``view`` slices holding at least one voxel of ``mask``."""
    normal_axis = 2 - view.normal_ijk  # kji array axis of the plane normal
    others = tuple(a for a in range(3) if a != normal_axis)
    return np.flatnonzero(np.asarray(mask, dtype=bool).any(axis=others))


def choose_plane(mask: np.ndarray, geometry: Volume) -> str | None:
    """The plane whose occupied slices have gaps (the plane the keyframes were drawn on), or None.

    A segment drawn on every k-th axial slice occupies a contiguous run of coronal and sagittal slices but a
    gappy run of axial ones. When several planes have gaps, the one with the largest fraction of empty
    slices between its first and last occupied slice wins. None means no plane has gaps: nothing to fill.
    """
    _check_geometry(mask, geometry)
    best, best_key = None, (0.0, 0)
    for plane in PLANES:
        occ = occupied_slices(mask, PlaneView(geometry, plane))
        if occ.size < 2:
            continue
        span = int(occ[-1] - occ[0] + 1)
        empty = span - occ.size
        key = (empty / span, empty)
        if empty and key > best_key:
            best, best_key = plane, key
    return best


def _resolve_plane(mask: np.ndarray, geometry: Volume, plane: str) -> str | None:
    if str(plane).lower() == "auto":
        return choose_plane(mask, geometry)
    try:
        return check_plane(plane)
    except ValueError as exc:
        raise InterpolationError(f"{exc} (or 'auto')") from None


def _resolve_keyframes(
    mask: np.ndarray, view: PlaneView, keyframes: Iterable[int] | None, occupied: np.ndarray | None = None
) -> list[int]:
    if keyframes is None:
        return (occupied_slices(mask, view) if occupied is None else occupied).tolist()
    keys = sorted({int(k) for k in keyframes})
    bad = [k for k in keys if not 0 <= k < view.n_slices]
    if bad:
        raise InterpolationError(
            f"Keyframes {bad} are outside the {view.plane} slices 0..{view.n_slices - 1} of this volume."
        )
    if len(keys) < 2:
        raise InterpolationError(
            f"Interpolation needs at least two keyframes; got {keys}. Draw the segment on two or more "
            f"{view.plane} slices, or list them."
        )
    return keys


def _shape_based_fill(mask: np.ndarray, view: PlaneView, keys: Sequence[int], refined: bool) -> _Fill:
    frames = [(n, np.asarray(view.slice(n, mask), dtype=bool)) for n in keys]
    # The area correction may move a filled slice's outline by at most the distance between two slices.
    limit = view.slice_spacing if refined else 0.0
    return interpolate_between(frames, view.pixel_spacing, align=refined, area_limit_mm=limit)


def _itk_fill(mask: np.ndarray, view: PlaneView, keys: Sequence[int]) -> _Fill:
    from SegAssistLib.interpolation.itk_mci import morphological_contour_interpolation

    sparse = np.zeros(mask.shape, dtype=bool)
    for n in keys:
        view.slice(n, sparse)[...] = view.slice(n, mask)
    filled = morphological_contour_interpolation(sparse, view.volume.spacing, view.normal_ijk)
    full = (slice(None), slice(None))
    keyset = set(keys)
    for n in range(keys[0] + 1, keys[-1]):
        if n not in keyset:
            yield n, full, np.where(view.slice(n, filled), -1.0, 1.0).astype(np.float32)


def _fill(mask: np.ndarray, view: PlaneView, keys: Sequence[int], method: str) -> _Fill:
    if method == "itk-mci":
        return _itk_fill(mask, view, keys)
    return _shape_based_fill(mask, view, keys, refined=(method == "sdf"))


def _copy_occupied(mask: np.ndarray, view: PlaneView, occupied: np.ndarray) -> np.ndarray:
    """A copy of ``mask`` that only touches its occupied run of ``view`` slices: the rest of a fresh zeroed
    array is never written (a whole-volume copy dominated the time of small masks in large volumes)."""
    out = np.zeros(mask.shape, dtype=bool)
    if occupied.size:
        index = [slice(None)] * 3
        index[2 - view.normal_ijk] = slice(int(occupied[0]), int(occupied[-1]) + 1)
        out[tuple(index)] = mask[tuple(index)]
    return out


def interpolate_keyframes(
    mask: np.ndarray,
    geometry: Volume,
    plane: str = "auto",
    keyframes: Iterable[int] | None = None,
    method: str = DEFAULT_METHOD,
) -> np.ndarray:
    """Fill the slices between the keyframes of one segment; returns a new bool (k, j, i) mask.

    ``geometry`` is the reference volume (only its grid is used). ``plane`` is ``"axial"``, ``"coronal"``,
    ``"sagittal"`` or ``"auto"`` (:func:`choose_plane`). ``keyframes`` are slice indices of that plane
    (default: every slice holding the segment). Keyframe slices and slices outside the first..last keyframe
    are returned unchanged; slices strictly between are replaced by the interpolation. A mask with fewer
    than two keyframes (or, with ``plane="auto"``, no gaps) comes back unchanged.
    """
    _check_method(method)
    _check_geometry(mask, geometry)
    mask = np.asarray(mask, dtype=bool)
    resolved = _resolve_plane(mask, geometry, plane)
    if resolved is None:
        if keyframes is not None:
            raise InterpolationError("Explicit keyframes need an explicit plane (axial, coronal or sagittal).")
        return mask.copy()
    view = PlaneView(geometry, resolved)
    occupied = occupied_slices(mask, view)
    keys = _resolve_keyframes(mask, view, keyframes, occupied)
    if len(keys) < 2:
        return mask.copy()
    out = _copy_occupied(mask, view, occupied)
    keyset = set(keys)
    for n in range(keys[0] + 1, keys[-1]):
        if n not in keyset:
            view.slice(n, out)[...] = False
    for n, box, score in _fill(mask, view, keys, method):
        view.slice(n, out)[box] = score < 0
    return out


def whole_number_labels(labels: np.ndarray) -> np.ndarray:
    """``labels`` as an integer array: float labels are accepted when they hold whole numbers only."""
    labels = np.asarray(labels)
    if np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool:
        return labels
    rounded = np.rint(labels)
    if not np.array_equal(rounded, labels):
        raise InterpolationError(
            f"A labelmap holds whole numbers (0 = background, 1..N = segments); this one holds "
            f"{labels.dtype} values such as {labels[labels != rounded].flat[0]!r}. Pass a label image."
        )
    return rounded.astype(np.int64)


def interpolate_labelmap(
    labels: np.ndarray | Volume,
    geometry: Volume,
    plane: str = "auto",
    segments: Iterable[int] | None = None,
    method: str = DEFAULT_METHOD,
    progress: Callable[[int, str | None], None] | None = None,
) -> np.ndarray:
    """Interpolate every segment (label value) of a labelmap between its keyframes; returns a new array.

    ``labels`` is an integer (k, j, i) array or a label :class:`Volume` (which must share ``geometry``'s grid).
    ``segments`` limits the work to some label values (others are copied). Each segment's keyframes are the
    slices holding it; with ``plane="auto"`` each segment gets its own plane. Drawn voxels are never changed;
    interpolation only fills background, and where two segments would fill the same voxel, the one reaching
    deeper (more negative signed distance) gets it, so segments stay disjoint. ``progress(label, plane)`` is
    called before each segment.
    """
    _check_method(method)
    if isinstance(labels, Volume):
        geometry.require_same_grid(labels, "labelmap")
        labels = labels.array
    labels = np.asarray(labels)
    _check_geometry(labels, geometry, "labelmap")
    labels = whole_number_labels(labels)
    present = np.unique(labels)
    present = present[present != 0]
    if segments is None:
        values = present.tolist()
    else:
        values = sorted({int(s) for s in segments})
        missing = [v for v in values if v not in set(present.tolist())]
        if missing:
            raise InterpolationError(
                f"Segments {missing} are not in the labelmap, which holds labels {present.tolist()}."
            )
    out = labels.copy()
    best = np.full(labels.shape, np.inf, dtype=np.float32) if len(values) > 1 else None
    for value in values:
        mask = labels == value
        resolved = _resolve_plane(mask, geometry, plane)
        if progress is not None:
            progress(int(value), resolved)
        if resolved is None:
            continue
        view = PlaneView(geometry, resolved)
        keys = _resolve_keyframes(mask, view, None)
        if len(keys) < 2:
            continue
        for n, box, score in _fill(mask, view, keys, method):
            drawn = view.slice(n, labels)[box]
            target = view.slice(n, out)[box]
            claim = (score < 0) & (drawn == 0)
            if best is not None:
                depth = view.slice(n, best)[box]
                claim &= score < depth
                depth[claim] = score[claim]
            target[claim] = value
    return out
