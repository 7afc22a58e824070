"""ITK's MorphologicalContourInterpolator (the algorithm behind Slicer's "Fill between slices").

Offered as the ``itk-mci`` method and used as the reference in the benchmark. It comes from the optional
package ``itk-morphologicalcontourinterpolation`` (SimpleITK does not wrap it); ITK arrays are (k, j, i)
like ours, and ITK's axis numbering is (i, j, k).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from SegAssistLib.errors import SegAssistError


def morphological_contour_interpolation(mask: np.ndarray, spacing: Sequence[float], axis_ijk: int) -> np.ndarray:
    """Interpolate a sparse bool (k, j, i) mask along ijk axis ``axis_ijk`` with ITK; returns a bool mask."""
    try:
        import itk
    except ImportError:
        raise SegAssistError(
            "The itk-mci method needs ITK's MorphologicalContourInterpolator: "
            "pip install itk-morphologicalcontourinterpolation (or use method 'sdf')."
        ) from None
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros(mask.shape, dtype=bool)
    if not mask.any():
        return out
    # Work on the mask's bounding box (+1 voxel): faster, and the 5.4.7 wheels corrupt the heap (abort at
    # exit) on some uncropped inputs such as pyradiomics lung2.
    box = tuple(slice(max(0, s.start - 1), s.stop + 1) for s in ndimage.find_objects(mask.astype(np.uint8))[0])
    image = itk.image_from_array(np.ascontiguousarray(mask[box], dtype=np.uint8))
    image.SetSpacing([float(s) for s in spacing])
    interpolator = itk.MorphologicalContourInterpolator[type(image)].New()
    interpolator.SetInput(image)
    interpolator.SetAxis(int(axis_ijk))
    interpolator.Update()
    out[box] = np.asarray(itk.array_from_image(interpolator.GetOutput())) > 0
    return out
