"""ITK's MorphologicalContourInterpolator (the algorithm behind Slicer's "Fill between slices").

Offered as the ``itk-mci`` method and used as the reference in the benchmark. It comes from the optional
package ``itk-morphologicalcontourinterpolation`` (SimpleITK does not wrap it); ITK arrays are (k, j, i)
like ours, and ITK's axis numbering is (i, j, k).

The 5.4.7 wheels corrupt the heap on some inputs (pyradiomics lung2): results are right, but the
interpreter may abort when it exits. By default the filter therefore runs in a forked child process that
leaves with ``os._exit``; ``isolate=False`` runs it in this process (the benchmark does, to time the filter
alone, and then exits with ``os._exit`` itself).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence

import numpy as np

from SegAssistLib.errors import DependencyError, InterpolationError, SegAssistError


def _load_itk():
    """Import ITK and load the filter's wrapping (lazy in ITK; ~10 s the first time in a process)."""
    try:
        import itk

        itk.MorphologicalContourInterpolator  # noqa: B018 - triggers ITK's lazy loading
    except (ImportError, AttributeError):
        raise DependencyError(
            "The itk-mci method needs ITK's MorphologicalContourInterpolator: "
            "pip install itk-morphologicalcontourinterpolation (or use method 'sdf')."
        ) from None
    return itk


def _run_itk(mask: np.ndarray, spacing: Sequence[float], axis_ijk: int) -> np.ndarray:
    itk = _load_itk()
    image = itk.image_from_array(np.ascontiguousarray(mask, dtype=np.uint8))
    image.SetSpacing([float(s) for s in spacing])
    interpolator = itk.MorphologicalContourInterpolator[type(image)].New()
    interpolator.SetInput(image)
    interpolator.SetAxis(int(axis_ijk))
    interpolator.Update()
    return np.asarray(itk.array_from_image(interpolator.GetOutput())) > 0


def _child(conn, mask: np.ndarray, spacing: Sequence[float], axis_ijk: int) -> None:
    try:
        conn.send(("ok", _run_itk(mask, spacing, axis_ijk)))
    except BaseException as exc:  # report anything to the parent, then leave without ITK's destructors
        conn.send(("error", f"{type(exc).__name__}: {exc}" if not isinstance(exc, SegAssistError) else str(exc)))
    finally:
        conn.close()
        os._exit(0)


def _run_isolated(mask: np.ndarray, spacing: Sequence[float], axis_ijk: int) -> np.ndarray:
    if "fork" not in multiprocessing.get_all_start_methods():
        return _run_itk(mask, spacing, axis_ijk)
    _load_itk()  # once in this process, so each forked child starts with the wrapping loaded
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(sender, mask, spacing, axis_ijk), daemon=True)
    child.start()
    sender.close()
    try:
        status, payload = receiver.recv()
    except EOFError:
        raise InterpolationError(
            "ITK's MorphologicalContourInterpolator crashed (its process ended without a result); "
            "use method 'sdf'."
        ) from None
    finally:
        receiver.close()
        child.join()
    if status != "ok":
        raise InterpolationError(f"ITK's MorphologicalContourInterpolator failed: {payload}")
    return payload


def _bounding_box(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    """The box around a non-empty mask grown by ``margin`` voxels, from its projections on each axis (much
    cheaper than ``ndimage.find_objects`` on a converted copy of a whole volume)."""
    box = []
    for axis in range(mask.ndim):
        idx = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        box.append(slice(max(0, int(idx[0]) - margin), int(idx[-1]) + 1 + margin))
    return tuple(box)


def morphological_contour_interpolation(
    mask: np.ndarray, spacing: Sequence[float], axis_ijk: int, isolate: bool = True
) -> np.ndarray:
    """Interpolate a sparse bool (k, j, i) mask along ijk axis ``axis_ijk`` with ITK; returns a bool mask.

    ITK works on the mask's bounding box (+1 voxel), which is faster and gives the same result.
    """
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros(mask.shape, dtype=bool)
    if not mask.any():
        return out
    box = _bounding_box(mask, margin=1)
    run = _run_isolated if isolate else _run_itk
    out[box] = run(np.ascontiguousarray(mask[box]), spacing, axis_ijk)
    return out
