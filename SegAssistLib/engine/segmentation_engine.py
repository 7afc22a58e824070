"""The keyframe engine: prompts and hand-drawn slices in any of the three planes become one 3D mask.

For one segment the user leaves *keyframes*: slices with prompts (points, a box) that a backend turns into
a mask, or slices drawn by hand (locked: never overwritten). Then, per plane that has keyframes:

1. between two neighbouring keyframes ``a < b`` the backend propagates forwards from ``a`` and backwards
   from ``b``; the two are blended by distance (``w = (b - n) / (b - a)``), and mixed with the
   shape-based interpolation of the two keyframe masks in proportion to how unsure the backend is
   (``p = s * backend + (1 - s) * interpolation`` with ``s`` the backend's score);
2. before the first and after the last keyframe the backend propagates outwards until the object is gone.

The planes' probability maps are fused by averaging where more than one plane covers a voxel; the
disagreement between planes is kept as a map that shows the user where to look. Hand-drawn slices are
written last, exactly. Results are cached per gap between keyframes, so a new prompt recomputes only the
gaps it touches.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from SegAssistLib.backends.base import Backend, BackendSession
from SegAssistLib.errors import Cancelled, PromptError  # noqa: F401  (Cancelled is re-exported)
from SegAssistLib.core.planes import PLANES, PlaneView, check_plane
from SegAssistLib.core.prompts import SlicePrompt, slice_prompt_from_ras
from SegAssistLib.core.volume import Volume

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

#: How much a fully confident backend counts against the interpolation prior between two keyframes.
#: Below 0.5, the backend moves the interpolated boundary by up to ~1.6 soft-edge widths either way
#: (see :func:`_soft_mask`) but cannot invent or erase shapes far from it.
BACKEND_WEIGHT = 0.4

#: Weight in the fusion of a plane's slices beyond its first/last keyframe (extrapolated by the backend
#: alone), relative to slices on or between keyframes. Bounded evidence outvotes extrapolation.
EXTRAPOLATION_WEIGHT = 0.25


@dataclass
class Keyframe:
    """A slice the user acted on: ``prompt`` for the backend, or ``locked`` for a hand-drawn mask.
    ``mask`` is the slice's current 2D result (the drawing itself when locked)."""

    plane: str
    slice_index: int
    mask: np.ndarray
    prompt: SlicePrompt | None = None
    locked: bool = False
    score: float = 1.0

    def signature(self) -> str:
        return hashlib.sha1(np.packbits(self.mask).tobytes() + bytes([self.locked])).hexdigest()


@dataclass
class EngineResult:
    """The fused 3D result of one segment.

    ``mask`` bool (k, j, i); ``probability`` float32 fused probability; ``disagreement`` float32 in [0, 1]
    (0 where planes agree or only one plane speaks); ``confidence[plane][slice]`` the per-slice score;
    ``plane_probability[plane]`` each plane's own map (NaN where that plane said nothing).
    """

    mask: np.ndarray
    probability: np.ndarray
    disagreement: np.ndarray
    confidence: dict[str, dict[int, float]] = field(default_factory=dict)
    plane_probability: dict[str, np.ndarray] = field(default_factory=dict)


class SegmentationEngine:
    """Keyframes, backend sessions and cached propagation for the segments of one volume."""

    def __init__(
        self,
        volume: Volume,
        backend: str | Backend = "classical",
        backend_options: dict | None = None,
        interpolation_method: str | None = None,
        max_extent_slices: int | None = None,
    ):
        self.volume = volume
        if isinstance(backend, str):
            from SegAssistLib.backends.registry import get_backend

            backend = get_backend(backend, **(backend_options or {}))
        self.backend: Backend = backend
        self.interpolation_method = interpolation_method
        self.max_extent_slices = max_extent_slices
        self._views = {p: PlaneView(volume, p) for p in PLANES}
        self._sessions: dict[str, BackendSession] = {}
        self._object_ids: dict[str, int] = {}
        self._keyframes: dict[str, dict[str, dict[int, Keyframe]]] = {}
        self._gap_cache: dict[tuple, dict[int, tuple[np.ndarray, float]]] = {}

    # ---- keyframes -----------------------------------------------------------------------------
    def view(self, plane: str) -> PlaneView:
        return self._views[check_plane(plane)]

    def _session(self, plane: str) -> BackendSession:
        if plane not in self._sessions:
            self._sessions[plane] = self.backend.open_session(self._views[plane])
        return self._sessions[plane]

    def _object_id(self, segment_id: str) -> int:
        return self._object_ids.setdefault(segment_id, len(self._object_ids) + 1)

    def keyframes(self, segment_id: str, plane: str | None = None) -> list[Keyframe]:
        """The segment's keyframes (of one plane, or all), ordered by plane and slice."""
        planes = [check_plane(plane)] if plane else list(PLANES)
        per = self._keyframes.get(segment_id, {})
        return [per[p][n] for p in planes for n in sorted(per.get(p, {}))]

    def add_prompt(self, segment_id: str, plane: str, slice_index: int, prompt: SlicePrompt) -> np.ndarray:
        """Add ``prompt`` on a slice (accumulating with earlier prompts there); returns the slice's mask."""
        plane = check_plane(plane)
        view = self._views[plane]
        view.check_slice(slice_index)
        prompt.check_inside(view.slice_shape)
        if prompt.is_empty:
            raise PromptError("The prompt is empty: place a point, a box or draw on the slice.")
        existing = self._keyframes.get(segment_id, {}).get(plane, {}).get(slice_index)
        if existing is not None and existing.locked:
            raise PromptError(
                f"{plane} slice {slice_index} of {segment_id!r} was drawn by hand and is locked; "
                "unlock it (remove the keyframe) before prompting there."
            )
        result = self._session(plane).add_prompt(slice_index, prompt, self._object_id(segment_id))
        self._keyframes.setdefault(segment_id, {}).setdefault(plane, {})[slice_index] = Keyframe(
            plane, slice_index, np.asarray(result.mask, dtype=bool), prompt, False, float(result.score)
        )
        return np.asarray(result.mask, dtype=bool)

    def add_points(
        self,
        segment_id: str,
        points_ras: Sequence[Sequence[float]],
        labels: Sequence[int] | None = None,
        plane: str = "axial",
        slice_index: int | None = None,
    ) -> tuple[int, np.ndarray]:
        """Positive (1) / negative (0) points in RAS mm on one slice of ``plane``; returns (slice, mask)."""
        view = self.view(plane)
        pts = np.asarray(points_ras, dtype=float).reshape(-1, 3)
        _explain_outside(self.volume, pts)
        labels = np.ones(len(pts), dtype=int) if labels is None else labels
        n, prompt = slice_prompt_from_ras(view, pts, labels, None, slice_index)
        return n, self.add_prompt(segment_id, view.plane, n, prompt)

    def add_box(
        self, segment_id: str, corner1_ras: Sequence[float], corner2_ras: Sequence[float], plane: str = "axial",
        slice_index: int | None = None,
    ) -> tuple[int, np.ndarray]:
        """A box given by two opposite RAS corners, on the slice through its centre (or ``slice_index``)."""
        view = self.view(plane)
        corners = np.asarray([corner1_ras, corner2_ras], dtype=float)
        _explain_outside(self.volume, corners.mean(axis=0, keepdims=True))
        n, prompt = slice_prompt_from_ras(view, (), (), (corners[0], corners[1]), slice_index)
        return n, self.add_prompt(segment_id, view.plane, n, prompt)

    def set_keyframe_mask(self, segment_id: str, plane: str, slice_index: int, mask2d: np.ndarray) -> None:
        """A slice drawn by hand: locked, written exactly into the result, and given to the backend."""
        plane = check_plane(plane)
        view = self._views[plane]
        mask2d = np.asarray(mask2d, dtype=bool)
        if mask2d.shape != view.slice_shape:
            raise PromptError(f"Drawn mask shape {mask2d.shape} is not the {plane} slice shape {view.slice_shape}.")
        view.check_slice(slice_index)
        if mask2d.any():
            self._session(plane).add_prompt(slice_index, SlicePrompt(mask=mask2d), self._object_id(segment_id))
        self._keyframes.setdefault(segment_id, {}).setdefault(plane, {})[slice_index] = Keyframe(
            plane, slice_index, mask2d.copy(), None, True, 1.0
        )

    def remove_keyframe(self, segment_id: str, plane: str, slice_index: int) -> None:
        """Forget a keyframe. Backend sessions keep no per-slice undo, so the plane's session restarts."""
        plane = check_plane(plane)
        self._keyframes.get(segment_id, {}).get(plane, {}).pop(slice_index, None)
        session = self._sessions.pop(plane, None)
        if session is not None:
            session.close()
        # Re-seed the new session with every remaining keyframe of that plane (all segments).
        for seg, planes in self._keyframes.items():
            for n, kf in planes.get(plane, {}).items():
                prompt = SlicePrompt(mask=kf.mask) if kf.locked else kf.prompt
                if prompt is not None and not prompt.is_empty:
                    self._session(plane).add_prompt(n, prompt, self._object_id(seg))
        self._gap_cache = {k: v for k, v in self._gap_cache.items() if k[1] != plane}

    # ---- propagation and fusion ----------------------------------------------------------------
    def run(
        self,
        segment_id: str,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> EngineResult:
        """Propagate every plane with keyframes of ``segment_id`` and fuse them into one 3D mask."""
        per_plane = self._keyframes.get(segment_id, {})
        planes = [p for p in PLANES if per_plane.get(p)]
        if not planes:
            raise PromptError(f"Segment {segment_id!r} has no keyframes: add a prompt or draw a slice first.")
        stop = should_stop or (lambda: False)
        plans = {p: self._plan(segment_id, p) for p in planes}
        total = sum(len(gap) for work in plans.values() for gap in work.values()) or 1
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            if progress:
                progress(done, total)
            if stop():
                raise Cancelled("Propagation cancelled; the segmentation was left as it was.")

        shape = self.volume.shape
        plane_prob: dict[str, np.ndarray] = {}
        plane_weight: dict[str, np.ndarray] = {}
        confidence: dict[str, dict[int, float]] = {}
        for plane in planes:
            prob = np.full(shape, np.nan, dtype=np.float32)
            conf: dict[int, float] = {}
            view = self._views[plane]
            weight = np.ones(view.n_slices, dtype=np.float32)
            for key, gap in plans[plane].items():
                if key[2] is None or key[3] is None:
                    weight[list(gap)] = EXTRAPOLATION_WEIGHT
                slices = self._gap_cache.get(key)
                if slices is None:
                    slices = self._compute_gap(segment_id, plane, key, tick, stop)
                    self._gap_cache[key] = slices
                else:
                    for _ in range(len(gap)):
                        tick()
                for n, (p2d, score) in slices.items():
                    view.write_slice(prob, n, p2d)
                    conf[n] = score
            for kf in self.keyframes(segment_id, plane):
                view.write_slice(prob, kf.slice_index, kf.mask.astype(np.float32))
                conf[kf.slice_index] = kf.score
            plane_prob[plane] = prob
            plane_weight[plane] = weight
            confidence[plane] = dict(sorted(conf.items()))
        return self._fuse(segment_id, plane_prob, plane_weight, confidence)

    def _plan(self, segment_id: str, plane: str) -> dict[tuple, range]:
        """Gaps to fill for one plane, keyed by everything their result depends on."""
        kfs = self._keyframes[segment_id][plane]
        keys = sorted(kfs)
        n_slices = self._views[plane].n_slices
        limit = self.max_extent_slices or n_slices
        sig = {n: kfs[n].signature() for n in keys}
        plan: dict[tuple, range] = {}
        first, last = keys[0], keys[-1]
        if first > 0:
            plan[(segment_id, plane, None, first, None, sig[first])] = range(max(0, first - limit), first)
        for a, b in zip(keys[:-1], keys[1:]):
            if b - a > 1:
                plan[(segment_id, plane, a, b, sig[a], sig[b])] = range(a + 1, b)
        if last < n_slices - 1:
            plan[(segment_id, plane, last, None, sig[last], None)] = range(last + 1, min(n_slices, last + 1 + limit))
        return plan

    def _propagate(self, plane: str, segment_id: str, direction: str, start: int, wanted: range, stop) -> dict:
        out: dict[int, tuple[np.ndarray, float]] = {}
        session = self._session(plane)
        obj = self._object_id(segment_id)
        # +1: some backends count the start slice itself against max_slices.
        for res in session.propagate(direction, start=start, max_slices=len(wanted) + 1, object_ids=[obj], should_stop=stop):
            if res.object_id == obj and res.slice_index in wanted:
                out[res.slice_index] = (np.asarray(res.mask, dtype=np.float32), float(res.score))
        return out

    def _compute_gap(self, segment_id: str, plane: str, key: tuple, tick, stop) -> dict[int, tuple[np.ndarray, float]]:
        _, _, a, b, _, _ = key
        view = self._views[plane]
        zeros = np.zeros(view.slice_shape, dtype=np.float32)
        if a is None or b is None:  # open end: propagate outwards until the object is gone
            start, direction = (b, "backward") if a is None else (a, "forward")
            wanted = range(0, b) if a is None else range(a + 1, view.n_slices)
            got = self._propagate(plane, segment_id, direction, start, wanted, stop)
            for _ in wanted:
                tick()
            # Slices past where the backend stopped: the plane says "no object" there.
            return {n: got.get(n, (zeros, 1.0)) for n in wanted}
        wanted = range(a + 1, b)
        fwd = self._propagate(plane, segment_id, "forward", a, wanted, stop)
        bwd = self._propagate(plane, segment_id, "backward", b, wanted, stop)
        interp = self._interpolate_gap(segment_id, plane, a, b)
        out = {}
        for n in wanted:
            w = (b - n) / (b - a)
            pf, sf = fwd.get(n, (zeros, 0.0))
            pb, sb = bwd.get(n, (zeros, 0.0))
            backend = w * pf + (1 - w) * pb
            s = float(np.clip(w * sf + (1 - w) * sb, 0.0, 1.0))
            # The interpolation is surest near keyframes: its soft edge widens with the distance to them.
            tau_mm = max(1.0, 0.5 * min(n - a, b - n) * view.slice_spacing)
            prior = _soft_mask(view.slice(n, interp), view.pixel_spacing, tau_mm)
            weight = BACKEND_WEIGHT * s
            out[n] = (weight * backend + (1 - weight) * prior, s)
            tick()
        return out

    def _interpolate_gap(self, segment_id: str, plane: str, a: int, b: int) -> np.ndarray:
        """Shape-based interpolation between keyframes ``a`` and ``b`` of ``plane`` (a 3D bool array)."""
        from SegAssistLib.interpolation import interpolate_keyframes

        view = self._views[plane]
        kfs = self._keyframes[segment_id][plane]
        sparse = np.zeros(self.volume.shape, dtype=bool)
        view.write_slice(sparse, a, kfs[a].mask)
        view.write_slice(sparse, b, kfs[b].mask)
        if not sparse.any():
            return sparse
        options = {"method": self.interpolation_method} if self.interpolation_method else {}
        return np.asarray(interpolate_keyframes(sparse, self.volume, plane=plane, keyframes=[a, b], **options), dtype=bool)

    def _fuse(self, segment_id: str, plane_prob: dict[str, np.ndarray], plane_weight: dict[str, np.ndarray],
              confidence) -> EngineResult:
        """Weighted mean of the planes' probabilities where they cover a voxel; locked slices win."""
        shape = self.volume.shape
        total = np.zeros(shape, dtype=np.float32)
        wsum = np.zeros(shape, dtype=np.float32)
        for plane, prob in plane_prob.items():
            covered = ~np.isnan(prob)
            w = self._along_normal(plane, plane_weight[plane]) * covered
            total += np.where(covered, prob, 0.0) * w
            wsum += w
        fused = np.divide(total, wsum, out=np.zeros(shape, dtype=np.float32), where=wsum > 0)
        dev = np.zeros(shape, dtype=np.float32)
        n_cover = np.zeros(shape, dtype=np.uint8)
        for prob in plane_prob.values():
            covered = ~np.isnan(prob)
            dev += np.where(covered, np.abs(prob - fused), 0.0)
            n_cover += covered
        # Mean absolute deviation from the fused value, scaled so two planes saying 0 and 1 give 1.
        disagreement = np.where(n_cover > 1, 2.0 * dev / np.maximum(n_cover, 1), 0.0).astype(np.float32)
        mask = fused >= 0.5
        if len(plane_prob) > 1:
            # Keyframes in several planes bound the object in several directions: a voxel beyond the
            # keyframes of every plane (only extrapolations speak for it) is left out.
            bounded = np.zeros(shape, dtype=bool)
            for plane, prob in plane_prob.items():
                bounded |= (self._along_normal(plane, plane_weight[plane]) == 1.0) & ~np.isnan(prob)
            mask &= bounded
        # Hand-drawn slices are the truth on their own voxels, whatever other planes say.
        for kf in self.keyframes(segment_id):
            if kf.locked:
                self._views[kf.plane].write_slice(mask, kf.slice_index, kf.mask)
        return EngineResult(mask, fused, np.clip(disagreement, 0, 1), confidence, plane_prob)

    def _along_normal(self, plane: str, per_slice: np.ndarray) -> np.ndarray:
        """A per-slice value of ``plane`` broadcast to the (k, j, i) grid."""
        axis = 2 - self._views[plane].normal_ijk
        shape = [1, 1, 1]
        shape[axis] = len(per_slice)
        return per_slice.reshape(shape)

    def close(self) -> None:
        for s in self._sessions.values():
            s.close()
        self._sessions.clear()


def _soft_mask(mask2d: np.ndarray, pixel_spacing: tuple[float, float], tau_mm: float) -> np.ndarray:
    """A probability from a binary slice: a logistic of the signed distance (mm) to its boundary."""
    from scipy import ndimage

    mask2d = np.asarray(mask2d, dtype=bool)
    if not mask2d.any():
        return np.zeros(mask2d.shape, dtype=np.float32)
    inside = ndimage.distance_transform_edt(mask2d, sampling=pixel_spacing)
    outside = ndimage.distance_transform_edt(~mask2d, sampling=pixel_spacing)
    signed = np.where(mask2d, inside - 0.5 * min(pixel_spacing), -(outside - 0.5 * min(pixel_spacing)))
    return (1.0 / (1.0 + np.exp(-signed / tau_mm))).astype(np.float32)


def _explain_outside(volume: Volume, points_ras: np.ndarray) -> None:
    """Raise a PromptError for points outside the volume, saying so when LPS/RAS were probably mixed up."""
    kji = volume.ras_to_kji_index(points_ras)
    inside = volume.contains(kji)
    if inside.all():
        return
    bad = points_ras[~inside][0]
    flipped_inside = volume.contains(volume.ras_to_kji_index(points_ras * [-1, -1, 1]))
    lo, hi = volume.bounds_ras()
    hint = (
        " Read as LPS instead of RAS they would all lie inside: the markups file's coordinateSystem is probably "
        "wrong (Slicer writes LPS by default)."
        if flipped_inside.all()
        else " Place prompts on the volume being segmented."
    )
    raise PromptError(
        f"Prompt at RAS {np.round(bad, 2).tolist()} mm lies outside the volume "
        f"(RAS bounds {np.round(lo, 1).tolist()} to {np.round(hi, 1).tolist()} mm).{hint}"
    )
