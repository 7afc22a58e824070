"""SegAssist's own undo stack: each step keeps, per segment it changed, the segment's metadata and the old
voxels of the rewritten region only (segment id, extent, old voxels).

Why not the scene's undo: Slicer's scene-wide undo (``vtkMRMLScene::SetUndoOn``) also records every point the
user places, every window/level drag and every slice-intersection move, each as a deep copy of every
undo-enabled node, so "Undo last SegAssist step" would revert a mouse drag instead of the segmentation (and
after one more point, the second ``Undo()`` would remove the mask). SegAssist leaves the scene's undo
setting alone and never saves scene undo states.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

#: Steps kept; older ones are dropped (each holds only the changed regions' voxels).
DEFAULT_LIMIT = 30


def _region(extent: list[int]) -> tuple[slice, slice, slice]:
    i0, i1, j0, j1, k0, k1 = extent
    return slice(k0, k1 + 1), slice(j0, j1 + 1), slice(i0, i1 + 1)


@dataclass
class SegmentState:
    """What one segment held before a change: absent (``present=False``), or its metadata (a
    :class:`~SegAssistLib.core.segmentation.Segment` without voxels) and the voxels of ``extent``
    (i0, i1, j0, j1, k0, k1); ``extent`` None means only metadata changed."""

    segment_id: str
    present: bool = True
    metadata: Any = None
    extent: list[int] | None = None
    voxels: np.ndarray | None = None

    @classmethod
    def capture(cls, segment_id: str, metadata: Any, mask: np.ndarray, extent: list[int] | None) -> "SegmentState":
        voxels = None if extent is None else np.array(mask[_region(extent)], dtype=bool)
        return cls(segment_id, True, copy.deepcopy(metadata), None if extent is None else list(extent), voxels)


@dataclass
class UndoStep:
    """One SegAssist action on one segmentation node: the states to restore to undo it."""

    label: str
    segmentation_node: Any
    volume_node: Any
    states: list[SegmentState] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        """False once the nodes were removed from their scene (nothing left to undo)."""
        return self.segmentation_node.GetScene() is not None and self.volume_node.GetScene() is not None


class UndoStack:
    """Undo/redo of SegAssist's writes into segmentation nodes.

    :meth:`record` wraps a write (``write(previous)`` fills ``previous`` with the segments' old states, as
    :func:`SegAssistLib.slicer.nodes.write_segmentation_to_node` does) and keeps one step when something
    changed; :meth:`undo` restores the newest step and keeps its inverse for :meth:`redo`.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = int(limit)
        self._undo: list[UndoStep] = []
        self._redo: list[UndoStep] = []

    def __len__(self) -> int:
        return len(self._undo)

    @property
    def redo_levels(self) -> int:
        return len(self._redo)

    @property
    def labels(self) -> list[str]:
        """What each undoable step did, oldest first (e.g. ["Add segment Tumor", "Propagate Tumor"])."""
        return [s.label for s in self._undo]

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    def record(self, label: str, segmentation_node: Any, volume_node: Any,
               write: Callable[[dict], dict]) -> dict:
        """Run ``write(previous)`` and keep one undo step for the segments it changed; returns its result."""
        previous: dict[str, SegmentState] = {}
        written = write(previous)
        states = [previous[sid] for sid in written if sid in previous]
        if states:
            self._undo.append(UndoStep(label, segmentation_node, volume_node, states))
            del self._undo[: max(0, len(self._undo) - self.limit)]
            self._redo.clear()
        return written

    def undo(self) -> str | None:
        """Restore the newest step; its label, or None when there is nothing (left) to undo."""
        return self._move(self._undo, self._redo)

    def redo(self) -> str | None:
        """Re-apply the newest undone step; its label, or None."""
        return self._move(self._redo, self._undo)

    @staticmethod
    def _move(source: list[UndoStep], target: list[UndoStep]) -> str | None:
        while source:
            step = source.pop()
            if step.alive:
                target.append(restore(step))
                return step.label
        return None


def restore(step: UndoStep) -> UndoStep:
    """Put the step's segments back as they were; returns the inverse step (what they held just before)."""
    from SegAssistLib.core.segmentation import Segmentation
    from SegAssistLib.slicer.nodes import (
        bounding_extent,
        grid_of,
        read_segment_mask,
        read_segment_metadata,
        write_segmentation_to_node,
    )

    node, volume_node = step.segmentation_node, step.volume_node
    vtk_seg = node.GetSegmentation()
    shape, ijk_to_ras = grid_of(volume_node)
    inverse = UndoStep(step.label, node, volume_node)
    for state in reversed(step.states):
        sid = state.segment_id
        if vtk_seg.GetSegment(sid) is not None:
            current = read_segment_mask(node, sid, volume_node)
            extent = state.extent if state.present else bounding_extent(current)
            inverse.states.append(SegmentState.capture(sid, read_segment_metadata(node, sid), current, extent))
        else:
            current = np.zeros(shape, dtype=bool)
            inverse.states.append(SegmentState(sid, present=False))
        if not state.present:
            vtk_seg.RemoveSegment(sid)
            continue
        if state.extent is not None:
            current[_region(state.extent)] = state.voxels
        seg = Segmentation(shape, ijk_to_ras)
        seg.add_segment(copy.deepcopy(state.metadata), current)
        write_segmentation_to_node(seg, node, volume_node, [sid], undo=False)
    inverse.states.reverse()
    return inverse
