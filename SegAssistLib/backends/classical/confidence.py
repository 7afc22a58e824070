"""A per-slice confidence for the classical backend's masks, from the image alone (issue 14, item 3).

The seeded methods give no probability, and the old score (1 for any non-empty mask) told a user
nothing about which slice to check. This score looks at what a person checks when judging a contour:

* **boundary contrast**: the tissue just inside the mask differs from the tissue just outside (median
  difference over the pooled robust spread). A leak into similar tissue has a low contrast;
* **edge agreement**: the mask's boundary runs along image edges (mean gradient magnitude on the
  boundary, relative to the gradient inside the mask; :func:`~SegAssistLib.core.contour_evidence.edge_agreement`,
  which the engine's review queue uses for every backend);
* **shape**: leaks are ragged (isoperimetric quotient 4 pi A / P^2 is low) and run into the region of
  interest's border (the backend passes the ROI; a mask that touches its inner border was cut there);
* **size plausibility**: where an expected area is known (between keyframes, from their areas), a mask
  much larger or smaller than it is suspect.

Each cue maps to [0, 1] and the score is their weighted geometric mean, so one bad cue pulls it down.
The weights were chosen on the tuning half of ``Testing/Benchmarks/devset.py`` (re-chosen in the fourth
session of 2026-12-03: edge agreement, shape and size count; contrast and ROI-border contact do not); the
benchmark reports the Spearman correlation with Dice on the held-out half (``docs/BENCHMARKS.md``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from SegAssistLib.core.contour_evidence import CONTOUR_BAND_MM, contour_window, edge_agreement_on_crop

#: Exponents of the cues in the geometric mean, chosen on the tuning half (``bench_interactive.py --half
#: tuning --quick --measures clicks,click3d``, Spearman with Dice 2D / 3D). The first weights (contrast 0.5,
#: edge 0.5, shape 2, border 2, size 2; 0.45 when chosen) had gone stale as the seeding rules changed: 0.13 /
#: -0.15 on 2026-12-03. Edge alone 0.28 / 0.23; edge 2, size 1 0.28 / 0.28; edge 2, shape 1, size 1 0.30 /
#: 0.35; edge, shape and size alike 0.34 / 0.34 (kept; edge 2, shape 2, size 1 the same); adding contrast
#: 0.5 took 3D to -0.19, border 0.5 took 2D to 0.17. Contrast and border are still computed by :func:`cues`.
WEIGHTS = {"contrast": 0.0, "edge": 1.0, "shape": 1.0, "border": 0.0, "size": 1.0}


def _spread(v: np.ndarray) -> float:
    return 1.4826 * float(np.median(np.abs(v - np.median(v)))) if v.size else 0.0


def boundary_full(mask: np.ndarray) -> np.ndarray:
    """The mask's own boundary pixels (on the full slice)."""
    return mask & ~ndimage.binary_erosion(mask)


def cues(image: np.ndarray, mask: np.ndarray, spacing: Sequence[float], roi: tuple[slice, slice] | None = None,
         expected_area: float | None = None) -> dict[str, float]:
    """The cues in [0, 1] for one 2D ``mask`` on ``image`` (pixel size ``spacing`` mm); see the module doc."""
    mask = np.asarray(mask, bool)
    area = int(mask.sum())
    if area == 0:
        return {"contrast": 0.0, "edge": 0.0, "shape": 0.0, "border": 0.0, "size": 0.0}
    sp = np.asarray(spacing, float)
    win = contour_window(mask, sp)
    m = mask[win]
    img = np.asarray(image, np.float32)[win]
    outside_d = ndimage.distance_transform_edt(~m, sampling=sp)
    inside_d = ndimage.distance_transform_edt(m, sampling=sp)
    ring_out = (outside_d > 0) & (outside_d <= CONTOUR_BAND_MM)
    ring_in = m & (inside_d <= CONTOUR_BAND_MM)
    a, b = img[ring_in], img[ring_out]
    pooled = np.sqrt((_spread(a) ** 2 + _spread(b) ** 2) / 2)
    floor = 0.02 * (float(np.percentile(image, 99) - np.percentile(image, 1)) or 1.0)
    c = abs(float(np.median(a)) - float(np.median(b))) / max(pooled, floor) if b.size else 0.0
    contrast = c / (c + 1.0)
    edge = edge_agreement_on_crop(img, m, sp, inside_d, outside_d)
    boundary = m & ~ndimage.binary_erosion(m)
    perimeter = float(boundary.sum()) * float(np.sqrt(sp[0] * sp[1]))
    q = 4 * np.pi * area * sp[0] * sp[1] / max(perimeter, 1e-6) ** 2
    shape = float(np.clip(q * 1.5, 0.0, 1.0))
    border = 1.0
    if roi is not None:
        inner = np.zeros(mask.shape, bool)
        rs, cs = roi
        if rs.start > 0:
            inner[rs.start, cs] = True
        if rs.stop < mask.shape[0]:
            inner[rs.stop - 1, cs] = True
        if cs.start > 0:
            inner[rs, cs.start] = True
        if cs.stop < mask.shape[1]:
            inner[rs, cs.stop - 1] = True
        # The ROI border itself is a background seed, so a leak stops just inside it: count the mask's
        # boundary within 2 pixels of it.
        inner = ndimage.binary_dilation(inner, iterations=2)
        touching = float((boundary_full(mask) & inner).sum()) / max(float(boundary.sum()), 1.0)
        border = float(np.clip(1.0 - 4.0 * touching, 0.05, 1.0))
    size = 1.0
    if expected_area is not None and expected_area > 0:
        ratio = area / float(expected_area)
        size = float(np.exp(-abs(np.log(ratio)) / np.log(2.0)))  # 0.5 at half or double the expected area
    return {"contrast": contrast, "edge": edge, "shape": shape, "border": border, "size": size}


def slice_confidence(image: np.ndarray, mask: np.ndarray, spacing: Sequence[float],
                     roi: tuple[slice, slice] | None = None, expected_area: float | None = None) -> float:
    """Confidence in [0, 1] that ``mask`` is a correct contour of a structure on ``image`` (0 when empty)."""
    c = cues(image, mask, spacing, roi, expected_area)
    total = sum(WEIGHTS.values())
    return float(np.prod([max(c[k], 1e-3) ** (w / total) for k, w in WEIGHTS.items()])) if np.any(mask) else 0.0
