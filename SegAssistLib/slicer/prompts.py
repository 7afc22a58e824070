"""Markups nodes as prompts: point lists and ROIs in, :class:`MarkupPrompt` (RAS) out.

Same conventions as ``.mrk.json`` files (:mod:`SegAssistLib.io.markups`): a point is negative when its label
starts with ``-`` or its description says "negative"/"exclude", or when the list's name ends with ``-`` /
``(negative)``; an ROI is a box given by its world-space bounds. Points not yet placed are ignored, and so is
an ROI that has not been placed: ``vtkMRMLMarkupsROINode`` starts with no control point and size (0, 0, 0),
so its bounds are all zero, which would otherwise be read as a box at RAS (0, 0, 0).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from SegAssistLib.errors import PromptError
from SegAssistLib.io.markups import MarkupPrompt, is_negative_list_name, point_is_negative, segment_name_of_list


def roi_is_placed(node: Any) -> bool:
    """True when an ROI node has a defined centre control point (it was placed or given a position and size).

    A new ``vtkMRMLMarkupsROINode`` has no control point at all; setting its size (``SetRadiusXYZ``/``SetSize``)
    or placing it in a view adds the centre point.
    """
    n = node.GetNumberOfControlPoints()
    return any(node.GetNthControlPointPositionStatus(i) == node.PositionDefined for i in range(n))


def _roi_prompt(node: Any, name: str) -> MarkupPrompt:
    source = node.GetID() or name
    if not roi_is_placed(node):
        return MarkupPrompt(segment_name_of_list(name), np.zeros((0, 3)), np.zeros((0,), dtype=int), None, source)
    bounds = [0.0] * 6
    node.GetRASBounds(bounds)
    lo, hi = np.array(bounds[0::2]), np.array(bounds[1::2])
    if not np.all(np.isfinite(bounds)) or np.any(hi < lo):
        raise PromptError(f"ROI {name!r} is not placed yet: drag it over the object in a slice view.")
    if np.count_nonzero(hi - lo > 0) < 2:
        raise PromptError(f"ROI {name!r} has no size yet: drag its handles so it covers the object in the slice.")
    return MarkupPrompt(segment_name_of_list(name), box_ras=(lo, hi), source=source)


def markups_from_node(node: Any) -> MarkupPrompt:
    """A :class:`MarkupPrompt` (RAS, world coordinates) from a point-list or ROI markups node.

    An unplaced ROI gives a prompt with no box and no points (it is not a prompt).
    """
    if node is None:
        raise PromptError("No markups node given: place points or an ROI first.")
    name = node.GetName() or "Segment_1"
    if node.IsA("vtkMRMLMarkupsROINode"):
        return _roi_prompt(node, name)
    if not node.IsA("vtkMRMLMarkupsFiducialNode"):
        raise PromptError(f"Node {name!r} ({node.GetClassName()}) is not a point list or an ROI; use those as prompts.")
    negative_list = is_negative_list_name(name)
    points, labels = [], []
    for n in range(node.GetNumberOfControlPoints()):
        if node.GetNthControlPointPositionStatus(n) != node.PositionDefined:
            continue
        pos = [0.0, 0.0, 0.0]
        node.GetNthControlPointPositionWorld(n, pos)
        negative = negative_list or point_is_negative(
            node.GetNthControlPointLabel(n) or "", node.GetNthControlPointDescription(n) or ""
        )
        points.append(pos)
        labels.append(0 if negative else 1)
    return MarkupPrompt(
        segment_name_of_list(name), np.array(points, dtype=float).reshape(-1, 3), np.array(labels, dtype=int),
        None, node.GetID() or name,
    )


def has_placed_prompt(nodes: Sequence[Any]) -> bool:
    """True when any of ``nodes`` (point lists, ROIs, None) holds a placed positive point or a placed ROI:
    what the panel checks before enabling "Apply"."""
    for node in nodes:
        if node is None:
            continue
        try:
            prompt = markups_from_node(node)
        except PromptError:
            return True  # a placed but faulty ROI: let Apply say what is wrong
        if prompt.box_ras is not None or (np.asarray(prompt.labels) == 1).any():
            return True
    return False


def combine_prompts(prompts: Iterable[MarkupPrompt]) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Points (N, 3), labels (N,) and the box of several markups, for one slice of one segment."""
    points, labels, boxes = [], [], []
    for p in prompts:
        if len(p.points_ras):
            points.append(np.asarray(p.points_ras, dtype=float).reshape(-1, 3))
            labels.append(np.asarray(p.labels, dtype=int).reshape(-1))
        if p.box_ras is not None:
            boxes.append(p.box_ras)
    if len(boxes) > 1:
        raise PromptError(f"{len(boxes)} ROIs given; a slice takes one box prompt. Remove the extra ROIs.")
    pts = np.concatenate(points) if points else np.zeros((0, 3))
    labs = np.concatenate(labels) if labels else np.zeros((0,), dtype=int)
    if len(pts) == 0 and not boxes:
        raise PromptError("The markups hold no placed points and no placed ROI: place a point or an ROI on the object.")
    if len(pts) and not (labs == 1).any() and not boxes:
        raise PromptError("Only negative points were given: place at least one positive point (or an ROI) on the object.")
    return pts, labs, (boxes[0] if boxes else None)
