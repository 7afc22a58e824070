"""Whether what was written on a slice looks like the tissue the user's keyframes hold: evidence about a
segmentation between two keyframes that any backend's result can be checked against.

Keyframes on two pieces of one structure (neighbouring intervertebral discs) make the engine interpolate
through the bone between them; the contour written there can follow that bone's edges well, but its pixels
are not the discs' tissue. :func:`tissue_support` says what fraction of a written region is within
:data:`TISSUE_SIGMAS` robust standard deviations of the keyframes' median intensity
(:func:`tissue_model`). The engine's review queue uses it to raise such slices (docs/BENCHMARKS.md); it is
not used to erase them: as a mask rule it gained on the development set's tuning half and lost on the
held-out half, where a keyframe that holds only part of a heterogeneous lesion makes the rest of it look
foreign.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: The keyframes' tissue: within this many robust standard deviations of the median under their masks.
TISSUE_SIGMAS = 2.0


def tissue_model(images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> tuple[float, float] | None:
    """The intensity of the tissue under ``masks`` (2D, one per keyframe, over the matching ``images``):
    (median, robust standard deviation), or None when every mask is empty. The spread is the scaled median
    absolute deviation, never below 1e-3 of the pixels' range (or 1e-6 for a uniform region)."""
    pix = np.concatenate([np.asarray(im, dtype=np.float64)[np.asarray(m, dtype=bool)] for im, m in zip(images, masks)])
    if pix.size == 0:
        return None
    med = float(np.median(pix))
    sigma = 1.4826 * float(np.median(np.abs(pix - med)))
    return med, max(sigma, 1e-3 * float(np.ptp(pix)), 1e-6)


def tissue_support(image: np.ndarray, mask: np.ndarray, model: tuple[float, float] | None) -> float | None:
    """The fraction of ``mask``'s pixels in ``image`` that look like the tissue ``model`` describes; None
    when there is nothing to judge (an empty mask, or no model)."""
    mask = np.asarray(mask, dtype=bool)
    n = int(np.count_nonzero(mask))
    if n == 0 or model is None:
        return None
    med, sigma = model
    values = np.asarray(image, dtype=np.float64)[mask]
    return float(np.count_nonzero(np.abs(values - med) <= TISSUE_SIGMAS * sigma)) / n
