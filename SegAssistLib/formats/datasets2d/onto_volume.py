"""2D slices exported from a volume, imported back onto that volume's grid (``convert --reference VOLUME``).

Slices exported with ``--plane``/``--slices`` (sparse, any plane) carry their plane and slice index
(COCO/panoptic ``segassist`` image metadata). Stacking them as a new volume fails for sparse slices (not
equally spaced) and loses the grid; here each slice goes back to where it came from, through the same
:class:`~SegAssistLib.core.planes.PlaneView` that exported it, so a round trip is exact. The segments are
built by :func:`~SegAssistLib.formats.datasets2d.volume_slices.import_stack` (same rules: source
segments, stuff classes, optional instance linking).
"""

from __future__ import annotations

import numpy as np

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.segmentation import Segmentation
from SegAssistLib.core.volume import Volume
from SegAssistLib.errors import GeometryError


def import_onto(dataset, reference: Volume, link_instances: float | None = None) -> Segmentation:
    """A segmentation on ``reference``'s grid from a 2D dataset whose samples record plane and slice."""
    from SegAssistLib.formats.datasets2d.volume_slices import import_stack

    places = []
    for s in dataset.samples:
        plane, n = s.metadata.get("plane"), s.metadata.get("slice")
        if plane is None or n is None:
            raise GeometryError(
                f"Image {s.name} does not record which slice of a volume it is (no 'segassist' plane/slice "
                "metadata): only slices exported by segassist convert can go back onto --reference; "
                "leave --reference out to stack the images as a new volume."
            )
        view = PlaneView(reference, str(plane))
        n = view.check_slice(int(n), f"slice of image {s.name}")
        if tuple(view.slice(n).shape) != tuple(s.shape):
            raise GeometryError(
                f"Image {s.name} is {s.shape[0]}x{s.shape[1]} but {plane} slice {n} of the reference is "
                f"{view.slice(n).shape[0]}x{view.slice(n).shape[1]}: it was exported from another volume."
            )
        places.append((view, n))
    _, stacked = import_stack(dataset, spacing=(1.0, 1.0, 1.0), use_positions=False, link_instances=link_instances)
    out = Segmentation.like(reference)
    for sid in stacked.segment_ids:
        mask = np.zeros(reference.shape, dtype=bool)
        source = stacked.mask(sid)
        for k, (view, n) in enumerate(places):
            if source[k].any():
                view.write_slice(mask, n, source[k])
        out.add_segment(stacked.segment(sid), mask)
    return out
