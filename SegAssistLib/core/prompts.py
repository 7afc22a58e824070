"""Prompts: what the user placed (RAS points with a positive/negative flag, a box, a mask) and their
conversion to pixels of one slice of a plane view.

Slicer markups give RAS millimetres; backends work on slice pixels. The conversion happens here, once,
and rejects prompts outside the volume or a box of zero size with a :class:`PromptError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from SegAssistLib.errors import PromptError
from SegAssistLib.core.planes import PlaneView


@dataclass
class SlicePrompt:
    """Prompts on one slice, in display pixels of a plane view (row, col), for one object.

    ``points`` is (N, 2) as (row, col); ``labels`` is (N,) with 1 = positive (inside), 0 = negative;
    ``box`` is (row0, col0, row1, col1) with row0 <= row1, col0 <= col1; ``mask`` is a 2D bool array of the
    slice's shape.
    """

    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=int))
    box: tuple[float, float, float, float] | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=float).reshape(-1, 2)
        self.labels = np.asarray(self.labels, dtype=int).reshape(-1)
        if len(self.points) != len(self.labels):
            raise PromptError(f"{len(self.points)} points but {len(self.labels)} labels: give one label per point.")
        if np.any((self.labels != 0) & (self.labels != 1)):
            raise PromptError("Point labels must be 1 (positive, inside) or 0 (negative, outside).")
        if self.box is not None:
            r0, c0, r1, c1 = (float(v) for v in self.box)
            r0, r1 = min(r0, r1), max(r0, r1)
            c0, c1 = min(c0, c1), max(c0, c1)
            if r1 - r0 < 1 or c1 - c0 < 1:
                raise PromptError(
                    f"The box ({r0:.1f}, {c0:.1f})-({r1:.1f}, {c1:.1f}) px has zero size on this slice: "
                    "drag a box that covers the object."
                )
            self.box = (r0, c0, r1, c1)
        if self.mask is not None:
            self.mask = np.asarray(self.mask, dtype=bool)

    @property
    def is_empty(self) -> bool:
        """True when the prompt carries no information at all."""
        return len(self.points) == 0 and self.box is None and (self.mask is None or not self.mask.any())

    def check_inside(self, shape: tuple[int, int]) -> None:
        """Raise a PromptError when a point or the box lies outside a slice of ``shape``."""
        nr, nc = shape
        for (r, c) in self.points:
            if not (-0.5 <= r <= nr - 0.5 and -0.5 <= c <= nc - 0.5):
                raise PromptError(f"Point at pixel ({r:.1f}, {c:.1f}) is outside the {nr}x{nc} slice.")
        if self.box is not None:
            r0, c0, r1, c1 = self.box
            if r1 < -0.5 or c1 < -0.5 or r0 > nr - 0.5 or c0 > nc - 0.5:
                raise PromptError(f"The box {self.box} lies outside the {nr}x{nc} slice.")
        if self.mask is not None and self.mask.shape != tuple(shape):
            raise PromptError(f"Mask prompt shape {self.mask.shape} is not the slice shape {tuple(shape)}.")


def slice_prompt_from_ras(
    view: PlaneView,
    points_ras: Sequence[Sequence[float]] = (),
    labels: Sequence[int] = (),
    box_ras: tuple[Sequence[float], Sequence[float]] | None = None,
    slice_index: int | None = None,
    tolerance_slices: float = 0.5,
) -> tuple[int, SlicePrompt]:
    """Convert RAS points/box to (slice index, SlicePrompt) on ``view``.

    All points and both box corners must lie on one slice of the plane (within ``tolerance_slices``);
    ``slice_index`` forces the slice (e.g. the one shown in Slicer) and the points are projected onto it.
    """
    points_ras = np.asarray(points_ras, dtype=float).reshape(-1, 3)
    if len(points_ras) == 0 and box_ras is None:
        raise PromptError("No prompt given: place at least one point or a box.")
    pix = []
    for p in points_ras:
        pix.append(view.ras_to_slice_pixel(p, "point"))
    box_pix = []
    if box_ras is not None:
        corners = np.asarray(box_ras, dtype=float).reshape(2, 3)
        # A box from an ROI spans the slice; only its in-plane extent matters, clamp it to the slice.
        for corner in corners:
            n, r, c = view.ras_to_pixel(corner)
            box_pix.append((n, r, c))
    slices = [n for n, _, _ in pix]
    if slice_index is None:
        if slices:
            slice_index = slices[0]
        else:
            centre = view.ras_to_pixel(np.asarray(box_ras, dtype=float).reshape(2, 3).mean(axis=0))
            slice_index = int(np.rint(centre[0]))
    slice_index = view.check_slice(slice_index)
    continuous = [view.ras_to_pixel(p)[0] for p in points_ras]
    off = [abs(n - slice_index) for n in continuous]
    if off and max(off) > tolerance_slices:
        raise PromptError(
            f"The points lie on different {view.plane} slices ({sorted(set(slices))}); a prompt belongs to one "
            "slice. Put each slice's points in a point list of their own (one markup per slice in a .mrk.json; "
            "from Python, slice_index= projects them onto one slice)."
        )
    box = None
    if box_pix:
        (_, r0, c0), (_, r1, c1) = box_pix
        nr, nc = view.slice_shape
        box = (
            float(np.clip(min(r0, r1), -0.5, nr - 0.5)), float(np.clip(min(c0, c1), -0.5, nc - 0.5)),
            float(np.clip(max(r0, r1), -0.5, nr - 0.5)), float(np.clip(max(c0, c1), -0.5, nc - 0.5)),
        )
    prompt = SlicePrompt(
        points=np.array([[r, c] for _, r, c in pix]).reshape(-1, 2),
        labels=np.asarray(labels, dtype=int) if len(labels) else np.ones(len(pix), dtype=int),
        box=box,
    )
    prompt.check_inside(view.slice_shape)
    return int(slice_index), prompt
