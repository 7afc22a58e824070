"""Slice views and planes: which plane a slice view shows, which view the user clicked in, which slice of a
volume a view shows. The panel asks these functions instead of doing geometry itself.

Only MRML slice nodes are used (no Qt), so the answers are the same inside Slicer and on a headless
slicer-core scene. A layout need not contain the Red/Green/Yellow views (``layoutManager().sliceWidget("Red")``
returns None then): views are found by what they show, not by name.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from SegAssistLib.core.planes import PLANES

#: Slicer's default view for each plane (slice node layout names), tried first when several views show it.
DEFAULT_VIEW = {"axial": "Red", "coronal": "Green", "sagittal": "Yellow"}


def _slice_to_ras(slice_node: Any) -> np.ndarray:
    m = slice_node.GetSliceToRAS()
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])


def plane_of_slice_node(slice_node: Any) -> str:
    """"axial", "coronal" or "sagittal": the plane a slice view shows (by its normal, so rotated views too)."""
    normal = np.abs(_slice_to_ras(slice_node)[:3, 2])
    return ("sagittal", "coronal", "axial")[int(np.argmax(normal))]


def slice_nodes(scene: Any) -> list[Any]:
    """Every slice node of the scene (one per slice view of the layout, plus hidden ones)."""
    return [scene.GetNthNodeByClass(n, "vtkMRMLSliceNode") for n in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceNode"))]


def plane_at_point(scene: Any, ras: Sequence[float], default: str = "axial", tolerance_mm: float = 0.5) -> str:
    """The plane of the slice view whose displayed slice passes through ``ras`` (the view the user clicked
    in); ``default`` when none does."""
    best = None
    for node in slice_nodes(scene):
        m = _slice_to_ras(node)
        distance = abs(float(np.dot(np.asarray(ras, dtype=float) - m[:3, 3], m[:3, 2])))
        if best is None or distance < best[0]:
            best = (distance, node)
    if best is None or best[0] > tolerance_mm:
        return default
    return plane_of_slice_node(best[1])


def slice_node_for_plane(scene: Any, plane: str) -> Any:
    """A slice node showing ``plane``: Slicer's default view for it when that shows the plane, else any view
    that does; None when no view of the layout shows that plane."""
    if plane not in PLANES:
        from SegAssistLib.errors import SegAssistError

        raise SegAssistError(f"Unknown plane {plane!r}; choose one of {', '.join(PLANES)}.")
    showing = [n for n in slice_nodes(scene) if plane_of_slice_node(n) == plane]
    preferred = [n for n in showing if n.GetLayoutName() == DEFAULT_VIEW[plane]]
    return (preferred or showing or [None])[0]


def slice_index_in_view(view: Any, slice_node: Any) -> int:
    """The index of the slice of ``view`` (a :class:`~SegAssistLib.core.planes.PlaneView`) that ``slice_node``
    shows: its centre's position mapped to the plane's slice axis, rounded, checked against the volume."""
    centre = _slice_to_ras(slice_node)[:3, 3]
    k = int(np.round(view.ras_to_pixel(centre)[0]))
    view.check_slice(k)
    return k


def show_slice(scene: Any, view: Any, slice_index: int) -> Any:
    """Move a slice view of ``view.plane`` to slice ``slice_index`` of ``view`` (a
    :class:`~SegAssistLib.core.planes.PlaneView`), centred on the slice; returns the slice node moved, or
    None when no view of the layout shows that plane. Used to jump to slices to review."""
    node = slice_node_for_plane(scene, view.plane)
    if node is None:
        return None
    k = view.check_slice(int(slice_index))
    rows, cols = view.slice_shape
    centre = np.asarray(view.pixel_to_ras(k, (rows - 1) / 2.0, (cols - 1) / 2.0), dtype=float).reshape(-1)[:3]
    node.JumpSliceByCentering(*centre)
    return node


def review_slices(result: Any, limit: int = 20, threshold: float = 0.5) -> list[tuple[str, int, str]]:
    """(plane, slice index, why) of a propagation's slices to check first: the engine's review queue when it
    has one, else the slices whose confidence is below ``threshold``, least confident first."""
    if result is None:
        return []
    queue = getattr(result, "review_queue", None)
    if queue is not None:
        return [(i.plane, int(i.slice_index), ", ".join(i.reasons) or f"confidence {i.confidence:.2f}")
                for i in queue[:limit]]
    low = sorted((score, plane, int(n)) for plane, scores in result.confidence.items()
                 for n, score in scores.items() if score < threshold)
    return [(plane, n, f"confidence {score:.2f}") for score, plane, n in low[:limit]]
