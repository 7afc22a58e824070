"""What one engine run returns: the mask on the full grid, the maps on the cropped region, per-slice
confidence and flags, and a review queue that puts the slices most likely wrong first.

The float maps (probability, disagreement, each plane's probability) are computed on the region the
keyframes span only; the full-grid versions are built on first access, so a caller that needs only the
mask never pays for full-volume float arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from SegAssistLib.engine.crop import Region


#: Below this edge agreement a slice's reasons say its contour follows the image weakly.
WEAK_EDGE = 0.6
#: Below this tissue support a slice's reasons say what was written there does not look like the keyframes'.
WEAK_TISSUE = 0.6


@dataclass
class SliceInfo:
    """Per-slice facts the review queue is built from.

    ``kind``: "keyframe" (prompted), "locked" (drawn by hand), "between" (between two keyframes) or
    "extrapolated"; ``agreement``: Dice between the backend's mask and the keyframe interpolation
    (None where there is no interpolation or the backend said nothing); ``distance``: slices to the
    nearest keyframe; ``gap``: slices between the two keyframes around it (0 for keyframes);
    ``supported``: the area (pixels) the keyframes support on this slice; ``edge``: how well the contour
    written on this slice follows image edges (:func:`~SegAssistLib.core.contour_evidence.edge_agreement`;
    None before the result is assembled, or where nothing was written); ``tissue``: between two keyframes,
    the fraction of what was written that looks like the tissue under them
    (:func:`~SegAssistLib.core.tissue_evidence.tissue_support`; None elsewhere); ``review_weight``: how much
    ``score`` counts in the risk of a prompted slice (the backend's
    :attr:`~SegAssistLib.backends.base.Backend.review_weight`)."""

    kind: str
    score: float
    agreement: float | None = None
    distance: int = 0
    gap: int = 0
    flags: list[str] = field(default_factory=list)
    supported: float = 0.0
    edge: float | None = None
    review_weight: float = 0.0
    tissue: float | None = None


@dataclass
class ReviewItem:
    """One slice in the review queue: ``risk`` in [0, 1] (higher: check it sooner), ``confidence`` = 1 - risk
    (as in :attr:`EngineResult.confidence`), and why."""

    plane: str
    slice_index: int
    risk: float
    confidence: float
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"plane": self.plane, "slice": self.slice_index, "risk": round(self.risk, 4),
                "confidence": round(self.confidence, 4), "reasons": self.reasons}


def slice_risk(info: SliceInfo) -> tuple[float, list[str]]:
    """How likely a slice is wrong, from what the engine knows about it (not from the truth).

    ``1 - edge``: how poorly the contour written on the slice follows the image's edges (0.5 where nothing
    was written). Of the facts the engine has, this one ranks the slices of one segment by Dice best on the
    development set's tuning half (Spearman within a segment: 0.25 for the classical backend, 0.39 for
    MobileSAM; docs/BENCHMARKS.md). On a prompted slice the backend's score counts too, as much as its
    ``review_weight`` says (MobileSAM's predicted IoU half and half: tuning 0.39 -> 0.42, held-out
    0.28 -> 0.36; the classical backend's score and LiteMedSAM's did not help and count 0). Between
    keyframes no score counts: the written mask is mostly the interpolation, which the score does not
    speak for. Instead, a slice's risk there is at least the fraction of its written region that does not
    look like the tissue under the two keyframes around it (``1 - tissue``): keyframes on two pieces of one
    structure interpolated through the tissue between them (tuning half: classical 0.29 -> 0.32, MobileSAM
    0.41 -> 0.44; held-out in docs/BENCHMARKS.md).
    Flags (the backend was overruled and the interpolation written instead), the backend's confidence,
    its agreement with the interpolation and the distance to a keyframe are given as reasons but do not
    rank: ranking overruled slices first put slices whose written interpolation is fine ahead of real
    errors (MobileSAM 0.32 with them first). Hand-drawn slices are exact."""
    if info.kind == "locked":
        return 0.0, ["drawn by hand"]
    reasons = list(info.flags)
    if info.edge is None:
        risk = 0.5
    else:
        risk = 1.0 - float(np.clip(info.edge, 0.0, 1.0))
        if info.edge < WEAK_EDGE:
            reasons.append(f"the contour follows the image's edges weakly ({info.edge:.2f})")
    if info.kind == "keyframe":
        w = float(np.clip(info.review_weight, 0.0, 1.0))
        risk = (1 - w) * risk + w * (1.0 - float(np.clip(info.score, 0.0, 1.0)))
        reasons.append(f"prompted slice, backend confidence {info.score:.2f}")
        return risk, reasons
    if info.tissue is not None:
        risk = max(risk, 1.0 - float(np.clip(info.tissue, 0.0, 1.0)))
        if info.tissue < WEAK_TISSUE:
            reasons.append(f"only {info.tissue:.0%} of it looks like the keyframes' tissue")
    if info.score < 0.5:
        reasons.append(f"backend confidence {info.score:.2f}")
    if info.agreement is not None and info.agreement < 0.8:
        reasons.append(f"backend and interpolation agree only {info.agreement:.2f} (Dice)")
    if info.kind == "extrapolated":
        reasons.append(f"extrapolated {info.distance} slice(s) past the last keyframe")
    elif info.distance:
        reasons.append(f"{info.distance} slice(s) from the nearest keyframe")
    return risk, reasons


def written_confidence(info: SliceInfo) -> float:
    """In [0, 1]: how far to trust what was written on a slice, ``1 - risk`` (:func:`slice_risk`), so the
    confidence plot and the review queue tell the same story. On the development set's tuning half it
    follows slice Dice better than the backends' own scores (Spearman over all slices: classical 0.32
    against 0.16, MobileSAM 0.55 against 0.34; docs/BENCHMARKS.md); the backend's score stays in
    ``slice_info[plane][slice].score``."""
    return 1.0 - slice_risk(info)[0]


@dataclass
class EngineResult:
    """The fused 3D result of one segment.

    ``mask`` bool (k, j, i) on the full grid; ``region`` the cropped box the engine computed on;
    ``flags[plane][slice]`` why a slice was not written as the backend gave it; ``slice_info`` the facts
    behind :attr:`confidence` and :attr:`review_queue` (one entry per computed slice: keyframes, the slices
    between them and extrapolated ones); ``supported_voxels`` the object size the keyframes support (the size bound is :func:`~SegAssistLib.engine.guards.size_bound`
    of it); ``stops[plane]`` why extrapolation stopped at each end.
    """

    mask: np.ndarray
    region: Region
    crop_probability: np.ndarray
    crop_disagreement: np.ndarray
    crop_plane_probability: dict[str, np.ndarray] = field(default_factory=dict)
    flags: dict[str, dict[int, list[str]]] = field(default_factory=dict)
    slice_info: dict[str, dict[int, SliceInfo]] = field(default_factory=dict)
    supported_voxels: float = 0.0
    stops: dict[str, list[str]] = field(default_factory=dict)
    _full: dict[str, Any] = field(default_factory=dict, repr=False)

    # ---- full-grid maps, built on demand -----------------------------------------------------------
    @property
    def probability(self) -> np.ndarray:
        """Fused probability on the full grid (float32; 0 outside the region)."""
        if "probability" not in self._full:
            self._full["probability"] = self.region.expand(self.crop_probability, 0.0)
        return self._full["probability"]

    @property
    def disagreement(self) -> np.ndarray:
        """Cross-plane disagreement on the full grid (float32 in [0, 1])."""
        if "disagreement" not in self._full:
            self._full["disagreement"] = self.region.expand(self.crop_disagreement, 0.0)
        return self._full["disagreement"]

    @property
    def plane_probability(self) -> dict[str, np.ndarray]:
        """Each plane's own probability on the full grid (NaN where that plane said nothing)."""
        if "planes" not in self._full:
            self._full["planes"] = {p: self.region.expand(a, np.nan) for p, a in self.crop_plane_probability.items()}
        return self._full["planes"]

    @property
    def flagged(self) -> list[tuple[str, int]]:
        """(plane, slice) of every slice the engine overruled the backend on."""
        return [(p, n) for p, per in self.flags.items() for n in sorted(per)]

    # ---- review -------------------------------------------------------------------------------------
    @property
    def confidence(self) -> dict[str, dict[int, float]]:
        """``[plane][slice]``: how far to trust each computed slice, :func:`written_confidence` (from the
        contour written there, not the backend's own score, which is ``slice_info[plane][slice].score``)."""
        return {p: {n: written_confidence(i) for n, i in per.items()} for p, per in self.slice_info.items()}

    @property
    def review_queue(self) -> list[ReviewItem]:
        """Every computed slice, the most likely wrong first (ties: further from the keyframes first)."""
        items = []
        for plane, per in self.slice_info.items():
            for n, info in per.items():
                risk, reasons = slice_risk(info)
                items.append((risk, info.distance, ReviewItem(plane, n, risk, 1.0 - risk, reasons)))
        items.sort(key=lambda t: (-t[0], -t[1], t[2].plane, t[2].slice_index))
        return [t[2] for t in items]

    def qc_summary(self, top: int | None = None) -> dict[str, Any]:
        """A JSON-ready summary: size, the size bound, flagged slices, extrapolation stops and the review
        queue (``top`` first items, or all)."""
        from SegAssistLib.engine.guards import size_bound

        queue = self.review_queue
        voxels = int(np.count_nonzero(self.mask[self.region.kji]))
        return {
            "voxels": voxels,
            "supported_voxels": int(round(self.supported_voxels)),
            "size_bound_voxels": int(round(size_bound(self.supported_voxels))),
            "flagged": [{"plane": p, "slice": n, "reasons": self.flags[p][n]} for p, n in self.flagged],
            "extrapolation_stops": self.stops,
            "review_queue": [i.as_dict() for i in (queue if top is None else queue[:top])],
        }
