"""ITK's MorphologicalContourInterpolator (the algorithm behind Slicer's "Fill between slices").

Offered as the ``itk-mci`` method and used as the reference in the benchmark. It comes from the optional
package ``itk-morphologicalcontourinterpolation`` (SimpleITK does not wrap it); ITK arrays are (k, j, i)
like ours, and ITK's axis numbering is (i, j, k).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

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
    image = itk.image_from_array(np.ascontiguousarray(mask, dtype=np.uint8))
    image.SetSpacing([float(s) for s in spacing])
    interpolator = itk.MorphologicalContourInterpolator[type(image)].New()
    interpolator.SetInput(image)
    interpolator.SetAxis(int(axis_ijk))
    interpolator.Update()
    return np.asarray(itk.array_from_image(interpolator.GetOutput())) > 0
