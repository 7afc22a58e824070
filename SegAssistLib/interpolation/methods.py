"""The interpolation methods by name, with one-line descriptions: light (no numpy/scipy), so that
``segassist --help`` can list them without importing the algorithms."""

METHODS = {
    "sdf": "shape-based (signed distances in mm) with region correspondence, centroid alignment, a smooth "
    "area profile per object and both readings of ambiguous pairs",
    "sdf-basic": "plain shape-based interpolation with region correspondence (no alignment, no area profile)",
    "itk-mci": "ITK's MorphologicalContourInterpolator (Slicer's Fill between slices; needs "
    "itk-morphologicalcontourinterpolation)",
}
DEFAULT_METHOD = "sdf"
