"""Keyframe interpolation: fill the slices between drawn slices of a segment, on any plane.

``interpolate_keyframes`` handles one bool mask, ``interpolate_labelmap`` a labelmap with segments 1..N kept
disjoint. See :mod:`~SegAssistLib.interpolation.interpolate` for the rules, :mod:`.shape_based` and
:mod:`.correspondence` for the algorithm; scores live in :mod:`SegAssistLib.evaluation.metrics`.
"""

from SegAssistLib.interpolation.methods import DEFAULT_METHOD, METHODS

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "InterpolationError",
    "choose_plane",
    "interpolate_keyframes",
    "interpolate_labelmap",
    "occupied_slices",
]


def __getattr__(name: str):
    # The algorithms (scipy) load on first use, so the command line's --help stays fast.
    if name in __all__:
        from SegAssistLib.interpolation import interpolate

        return getattr(interpolate, name)
    raise AttributeError(name)
