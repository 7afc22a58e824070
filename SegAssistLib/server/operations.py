"""Session operations: a prompt, a drawn keyframe, propagation, interpolation, fusion and undo.

Each operation changes one segment's labels in the session and returns a :class:`Change`: the bounding box
of the voxels that changed and the new labels inside it, so the reply is a few hundred bytes for a click on
a 512x512x300 CT rather than the whole volume (MONAI Label's cost per click). Every change is pushed on the
session's undo stack. Requests are plain JSON validated here; anything wrong is a :class:`ServerError`
(4xx) whose message says which field and what is expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from SegAssistLib.core.planes import PLANES, PlaneView
from SegAssistLib.core.prompts import slice_prompt_from_ras
from SegAssistLib.errors import ServerError
from SegAssistLib.server import wire
from SegAssistLib.server.sessions import Session, SessionManager, UndoStep


@dataclass
class Change:
    """What the client applies: ``box`` ([k0, j0, i0, k1, j1, i1], end exclusive, or None) and the labels
    inside it; ``info`` goes into the reply header (slice, score, ...)."""

    segment: str
    box: list[int] | None
    part: np.ndarray
    info: dict[str, Any]

    def envelope(self) -> bytes:
        return wire.pack(self.part, {"segment": self.segment, "box": self.box, **self.info})


# ---- validation ---------------------------------------------------------------------------------
def _get(body: dict, name: str, kind: type | tuple, required: bool = True, default: Any = None) -> Any:
    if not isinstance(body, dict):
        raise ServerError("The request body must be a JSON object.", 422)
    if name not in body or body[name] is None:
        if required:
            raise ServerError(f"Field {name!r} is required.", 422)
        return default
    value = body[name]
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ServerError(f"Field {name!r} must be a number, not a boolean.", 422)
    if not isinstance(value, kind):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ServerError(f"Field {name!r} must be a {want}, not {type(value).__name__}.", 422)
    return value


def _segment(body: dict) -> str:
    seg = _get(body, "segment", str)
    if not seg or len(seg) > 200:
        raise ServerError("Field 'segment' must be a non-empty name of at most 200 characters.", 422)
    return seg


def _plane(body: dict) -> str:
    plane = _get(body, "plane", str, required=False, default="axial")
    if plane not in PLANES:
        raise ServerError(f"Field 'plane' must be one of {', '.join(PLANES)}, not {plane!r}.", 422)
    return plane


def _points(body: dict, name: str, count: int | None = None) -> np.ndarray:
    raw = _get(body, name, list, required=False, default=[])
    try:
        pts = np.asarray(raw, dtype=float).reshape(-1, 3) if raw else np.zeros((0, 3))
    except (TypeError, ValueError):
        raise ServerError(f"Field {name!r} must be a list of [x, y, z] number triples.", 422) from None
    if raw and (np.asarray(raw, dtype=object).ndim != 2 or not np.isfinite(pts).all()):
        raise ServerError(f"Field {name!r} must be a list of finite [x, y, z] number triples.", 422)
    if count is not None and len(pts) not in (0, count):
        raise ServerError(f"Field {name!r} must hold exactly {count} corners.", 422)
    return pts


def _to_ras(s: Session, pts: np.ndarray, space: str) -> np.ndarray:
    if space == "ras" or len(pts) == 0:
        return pts
    return s.require_volume().ijk_to_ras_points(pts)


# ---- helpers ------------------------------------------------------------------------------------
def _slice_box(view: PlaneView, n: int, changed2d: np.ndarray) -> list[int] | None:
    """3D box of the changed pixels of slice ``n`` (mapping the 2D box's corners to voxels)."""
    rows = np.flatnonzero(changed2d.any(axis=1))
    cols = np.flatnonzero(changed2d.any(axis=0))
    if len(rows) == 0:
        return None
    corners = np.array([view.pixel_to_voxel(n, r, c) for r in (rows[0], rows[-1]) for c in (cols[0], cols[-1])])
    lo, hi = corners.min(axis=0), corners.max(axis=0) + 1
    return [int(v) for v in (*lo, *hi)]


def _keyframe_list(mgr: SessionManager, s: Session, segment: str) -> list[list]:
    """[[plane, slice, locked], ...] of the segment's keyframes (the client mirrors them)."""
    return [[kf.plane, kf.slice_index, kf.locked] for kf in mgr.engine(s).keyframes(segment)]


def _commit(mgr: SessionManager, s: Session, segment: str, box: list[int] | None, before: np.ndarray | None,
            info: dict, keyframe: tuple | None = None) -> Change:
    s.undo.append(UndoStep(segment, box, before, keyframe))
    del s.undo[:-mgr.max_undo]
    info = {**info, "keyframes": _keyframe_list(mgr, s, segment)}
    part = wire.crop(s.labels[segment], box).copy() if box else np.zeros((0, 0, 0), dtype=bool)
    return Change(segment, box, part, info)


def _replace(mgr: SessionManager, s: Session, segment: str, new: np.ndarray, info: dict) -> Change:
    """Set a segment's whole labels to ``new``; the change is the box of the voxels that differ."""
    old = s.label(segment)
    box = wire.bounding_box(old ^ new)
    before = wire.crop(old, box).copy() if box else None
    s.labels[segment] = np.asarray(new, dtype=bool)
    return _commit(mgr, s, segment, box, before, info)


def _keyframe_of(engine, segment: str, plane: str, n: int):
    return next((kf for kf in engine.keyframes(segment, plane) if kf.slice_index == n), None)


def _write_slice(mgr: SessionManager, s: Session, segment: str, plane: str, n: int, mask2d: np.ndarray,
                 info: dict, previous_kf: Any) -> Change:
    label = s.label(segment)
    view = mgr.engine(s).view(plane)
    old2d = view.slice(n, label)
    box = _slice_box(view, n, old2d ^ mask2d)
    before = wire.crop(label, box).copy() if box else None
    view.write_slice(label, n, mask2d)
    return _commit(mgr, s, segment, box, before, info, (plane, n, previous_kf))


# ---- operations ---------------------------------------------------------------------------------
def segment(mgr: SessionManager, s: Session, body: dict) -> Change:
    """Points and/or a box (RAS mm or IJK voxel indices, ``space``) on one slice of ``plane``."""
    seg, plane = _segment(body), _plane(body)
    space = _get(body, "space", str, required=False, default="ras")
    if space not in ("ras", "ijk"):
        raise ServerError(f"Field 'space' must be 'ras' or 'ijk', not {space!r}.", 422)
    pts = _to_ras(s, _points(body, "points"), space)
    labels = _get(body, "labels", list, required=False, default=[1] * len(pts))
    if len(labels) != len(pts) or not all(v in (0, 1) and not isinstance(v, bool) for v in labels):
        raise ServerError(f"Field 'labels' must hold one 1 (inside) or 0 (outside) per point ({len(pts)}).", 422)
    box_pts = _to_ras(s, _points(body, "box", count=2), space)
    n_req = _get(body, "slice", int, required=False)
    if len(pts) == 0 and len(box_pts) == 0:
        raise ServerError("Give at least one point ('points') or a box ('box': two opposite corners).", 422)
    engine = mgr.engine(s)
    view = engine.view(plane)
    box = (box_pts[0], box_pts[1]) if len(box_pts) else None
    n, prompt = slice_prompt_from_ras(view, pts, labels, box, n_req)
    previous = _keyframe_of(engine, seg, plane, n)
    with mgr.compute():
        mask2d = engine.add_prompt(seg, plane, n, prompt)
    score = float(_keyframe_of(engine, seg, plane, n).score)
    return _write_slice(mgr, s, seg, plane, n, mask2d, {"op": "segment", "plane": plane, "slice": n,
                                                          "score": score}, previous)


def keyframe(mgr: SessionManager, s: Session, header: dict, crop2d: np.ndarray) -> Change:
    """A slice drawn by hand, sent cropped: ``crop2d`` goes at rows r0.., cols c0.. (``header['box']`` =
    [r0, c0, r1, c1], end exclusive) of slice ``header['slice']``; the rest of the slice is empty."""
    seg, plane = _segment(header), _plane(header)
    n = _get(header, "slice", int)
    rc = _get(header, "box", list)
    engine = mgr.engine(s)
    view = engine.view(plane)
    nr, nc = view.slice_shape
    if len(rc) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in rc):
        raise ServerError("Field 'box' of a keyframe must be [row0, col0, row1, col1] integers (end exclusive).", 422)
    r0, c0, r1, c1 = rc
    if not (0 <= r0 <= r1 <= nr and 0 <= c0 <= c1 <= nc):
        raise ServerError(f"Keyframe box {rc} is outside the {nr}x{nc} {plane} slice.", 422)
    if crop2d.ndim != 2 or crop2d.shape != (r1 - r0, c1 - c0):
        raise ServerError(f"Keyframe mask shape {crop2d.shape} does not match its box {rc}.", 422)
    if not 0 <= n < view.n_slices:
        raise ServerError(f"Field 'slice' {n} is outside the {plane} slices 0..{view.n_slices - 1}.", 422)
    mask2d = np.zeros((nr, nc), dtype=bool)
    mask2d[r0:r1, c0:c1] = crop2d.astype(bool)
    previous = _keyframe_of(engine, seg, plane, n)
    with mgr.compute():
        engine.set_keyframe_mask(seg, plane, n, mask2d)
    return _write_slice(mgr, s, seg, plane, n, mask2d, {"op": "keyframe", "plane": plane, "slice": n}, previous)


def propagate(mgr: SessionManager, s: Session, body: dict) -> Change:
    """Propagate the segment's keyframes through the volume and fuse the planes (the engine's run).
    ``extrapolate`` (default false): continue past the outermost keyframes, as the Slicer panel does."""
    seg = _segment(body)
    engine = mgr.engine(s)
    engine.extrapolate = _get(body, "extrapolate", bool, required=False, default=False)
    if not engine.keyframes(seg):
        raise ServerError(f"Segment {seg!r} has no keyframes in this session: segment or draw a slice first.", 422)
    with mgr.compute():
        result = engine.run(seg)
    s.results[seg] = result
    confidence = {p: {str(n): round(float(v), 4) for n, v in c.items()} for p, c in result.confidence.items()}
    return _replace(mgr, s, seg, result.mask, {"op": "propagate", "planes": sorted(result.plane_probability),
                                               "confidence": confidence,
                                               "review": [i.as_dict() for i in result.review_queue]})


def fuse(mgr: SessionManager, s: Session, body: dict) -> Change:
    """Re-fuse the last propagation's plane maps: mean probability of ``planes`` (default all) >= ``threshold``.

    No backend call: lets a user drop a plane that went astray or tighten the threshold at once."""
    seg = _segment(body)
    result = s.results.get(seg)
    if result is None:
        raise ServerError(f"Segment {seg!r} has not been propagated in this session: propagate first.", 409)
    planes = _get(body, "planes", list, required=False, default=sorted(result.plane_probability))
    unknown = [p for p in planes if p not in result.plane_probability]
    if unknown or not planes:
        raise ServerError(f"Field 'planes' must be a non-empty subset of {sorted(result.plane_probability)}.", 422)
    threshold = float(_get(body, "threshold", (int, float), required=False, default=0.5))
    if not 0.0 < threshold <= 1.0:
        raise ServerError("Field 'threshold' must lie in (0, 1].", 422)
    with mgr.compute():
        total = np.zeros(s.require_volume().shape, np.float32)
        count = np.zeros_like(total)
        for p in planes:
            prob = result.plane_probability[p]
            covered = ~np.isnan(prob)
            total += np.where(covered, prob, 0)
            count += covered
        mask = np.divide(total, count, out=np.zeros_like(total), where=count > 0) >= threshold
        for kf in mgr.engine(s).keyframes(seg):
            if kf.locked:
                mgr.engine(s).view(kf.plane).write_slice(mask, kf.slice_index, kf.mask)
    return _replace(mgr, s, seg, mask, {"op": "fuse", "planes": planes, "threshold": threshold})


def interpolate(mgr: SessionManager, s: Session, body: dict) -> Change:
    """Fill the slices between the segment's keyframe slices on ``plane`` (default: auto), by the operations
    layer's rule (:func:`~SegAssistLib.operations.interpolate.interpolate_segmentation`): no drawn voxel of
    any segment of the session changes, disjoint segments stay disjoint."""
    from SegAssistLib.core.colors import segment_color
    from SegAssistLib.core.segmentation import DEFAULT_TERMINOLOGY, Segment, Segmentation
    from SegAssistLib.operations.interpolate import interpolate_segmentation

    seg = _segment(body)
    plane = _get(body, "plane", str, required=False, default="auto")
    if plane not in (*PLANES, "auto"):
        raise ServerError(f"Field 'plane' must be auto, {', '.join(PLANES)}; not {plane!r}.", 422)
    s.label(seg)
    with mgr.compute():
        whole = Segmentation.like(s.require_volume())
        ids = {}
        for index, (name, lab) in enumerate(s.labels.items()):
            ids[name] = whole.new_segment_id()
            whole.add_segment(Segment(ids[name], name, segment_color(index), DEFAULT_TERMINOLOGY), lab)
        interpolate_segmentation(whole, plane, [ids[seg]], require_keyframes=True)
        new = whole.mask(ids[seg])
    return _replace(mgr, s, seg, new, {"op": "interpolate", "plane": plane})


def undo(mgr: SessionManager, s: Session, body: dict) -> Change:
    """Revert the session's last change (labels, and the keyframe it set)."""
    if not s.undo:
        raise ServerError("Nothing to undo in this session.", 409)
    step = s.undo.pop()
    label = s.label(step.segment)
    part_before = wire.crop(label, step.box).copy() if step.box else None
    if step.box:
        wire.paste(label, step.box, step.before)
    if step.keyframe is not None:
        plane, n, previous = step.keyframe
        engine = mgr.engine(s)
        with mgr.compute():
            engine.remove_keyframe(step.segment, plane, n)
            if previous is not None and previous.locked:
                engine.set_keyframe_mask(step.segment, plane, n, previous.mask)
            elif previous is not None and previous.prompt is not None:
                engine.add_prompt(step.segment, plane, n, previous.prompt)
    s.results.pop(step.segment, None)
    part = wire.crop(label, step.box).copy() if step.box else np.zeros((0, 0, 0), dtype=bool)
    del part_before
    return Change(step.segment, step.box, part, {"op": "undo", "remaining": len(s.undo),
                                                 "keyframes": _keyframe_list(mgr, s, step.segment)})


def labels(mgr: SessionManager, s: Session, segment: str) -> Change:
    """The segment's whole labels as a change (box = the bounding box of its voxels): a client's resync."""
    label = s.label(segment)
    box = wire.bounding_box(label)
    part = wire.crop(label, box).copy() if box else np.zeros((0, 0, 0), dtype=bool)
    return Change(segment, box, part, {"op": "labels", "full": True})


OPERATIONS = {"segment": segment, "propagate": propagate, "fuse": fuse, "interpolate": interpolate, "undo": undo}
