"""Keyframe interpolation: fill the slices between drawn slices of a segment, on any plane.

``interpolate_keyframes`` handles one bool mask, ``interpolate_labelmap`` a labelmap with segments 1..N kept
disjoint. See :mod:`~SegAssistLib.interpolation.interpolate` for the rules, :mod:`.shape_based` and
:mod:`.correspondence` for the algorithm; scores live in :mod:`SegAssistLib.evaluation.metrics`.
"""

from SegAssistLib.interpolation.interpolate import (
    DEFAULT_METHOD,
    METHODS,
    InterpolationError,
    choose_plane,
    interpolate_keyframes,
    interpolate_labelmap,
    occupied_slices,
)

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "InterpolationError",
    "choose_plane",
    "interpolate_keyframes",
    "interpolate_labelmap",
    "occupied_slices",
]
